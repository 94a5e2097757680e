"""The model program: a network traced once, replayed for one copy or K stacked copies, forward for training and
evaluation and, for MLP-shaped networks, backward too (cross-entropy loss and gradients without autograd).

:meth:`MLPGradients.trace` turns a model into one program (a fixed list of ops) that every stacked and single
forward of the project runs: the explicit engine's training step, the vectorized trainer's evaluation, and the
batched-matmul forward that autograd differentiates for stacked models (:mod:`descentlab.train.stacked`). Ops
that have an explicit backward are listed below; elementwise ops without one (GELU, SiLU, ELU, Softplus, ``x + c``,
``x * y``…) are replayed forward as they are (``"apply"``), which leaves the gradients of such a program to
autograd. :meth:`MLPGradients.of` is the program when it can also compute its own gradients.

For a small network the work of a training step is a handful of matrix products; autograd's bookkeeping around
them (recording the graph, ``AccumulateGrad``, gradients of the input, freeing and reallocating ``.grad``) is
most of the step on a CPU. :class:`MLPGradients` traces the model once with ``torch.fx`` and replays it as a
fixed list of kernels, forward and then backward, for **K stacked copies at once** (the single-run loop is the
case K = 1). The backward of every node calls the kernel autograd itself would call, so gradients agree with
``torch.autograd`` to float rounding (``tests/train/test_mlp_gradients.py`` proves it node kind by node kind).

Supported graphs (anything else: :meth:`MLPGradients.of` returns ``None`` and callers use autograd):
``nn.Linear``; ``ReLU``, ``LeakyReLU``, ``Tanh``, ``Sigmoid``, ``Identity`` as modules, functions or methods;
``flatten``; the sum of two values (a residual connection); and the loss ``cross_entropy`` on 2-D logits.

Shapes: parameters are stacked ``[K, *shape]`` (row ``k`` is copy ``k``, a Linear weight stays ``[out, in]``).
``x`` is one batch shared by every copy, ``[B, ...]`` (``per_config=False``), or one per copy, ``[K, B, ...]``.
A Linear is a ``baddbmm`` over the K copies, a shared input broadcast to them without a copy (on this CPU that
runs ≈ 1.8× faster than one wide product ``[B, in] × [in, K·out]``).

Math, for logits ``z = f(x; θ)`` of a batch of ``B`` and targets ``y``, per copy:
``L = −(1/B) Σ_b log softmax(z_b)[y_b]``, ``∂L/∂z = (softmax(z) − onehot(y)) / B``; a Linear ``u = v Wᵀ + b``
passes back ``∂W = (∂u)ᵀ v``, ``∂b = Σ_b ∂u``, ``∂v = ∂u W``; an activation ``u = σ(v)`` passes back
``∂v = ∂u ⊙ σ'(v)``, read off its output (``u > 0`` for ReLU, ``1 − u²`` for tanh, ``u(1 − u)`` for sigmoid);
a sum passes ``∂u`` to both terms, and a value used twice receives the sum of its gradients.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

_aten = torch.ops.aten

# Activation kinds; each backward is the aten kernel autograd uses for it, fed the activation's output.
_MODULES: dict[type, str] = {nn.ReLU: "relu", nn.Tanh: "tanh", nn.Sigmoid: "sigmoid", nn.Identity: "identity",
                             nn.LeakyReLU: "leaky_relu"}
_FUNCTIONS: dict[Any, str] = {torch.relu: "relu", F.relu: "relu", torch.tanh: "tanh", torch.sigmoid: "sigmoid",
                              F.leaky_relu: "leaky_relu"}
_METHODS = {"relu": "relu", "tanh": "tanh", "sigmoid": "sigmoid"}
_ADDS = {operator.add, torch.add}
_SEEDS: dict[tuple[int, int, torch.dtype, torch.device], Tensor] = {}


@dataclass(frozen=True)
class _Ref:
    """In an ``"apply"`` op's arguments: the value of op ``index``."""

    index: int


@dataclass(frozen=True)
class _Op:
    kind: str                      # "input" | "linear" | activation kind | "add" | "flatten" | "output" | "apply"
    args: tuple[int, ...] = ()     # indices of the ops whose values it reads
    weight: int = -1               # parameter indices of a linear (bias -1 when it has none)
    bias: int = -1
    slope: float = 0.01            # leaky_relu's negative slope
    start: int = 1                 # flatten's dims, as written in the model (unstacked)
    end: int = -1
    fn: Any = None                 # "apply": the module or function, applied elementwise (forward only)
    method: str | None = None      # "apply": or the name of the tensor method called
    template: tuple[Any, ...] = ()  # "apply": its positional arguments, _Ref for values, constants as they are
    kwargs: tuple[tuple[str, Any], ...] = ()


# Modules, functions and methods that act elementwise (or broadcast): replayed on [K, B, ...] values as they are.
_ELEMENTWISE_MODULES = (nn.ReLU, nn.Tanh, nn.Sigmoid, nn.GELU, nn.SiLU, nn.ELU, nn.LeakyReLU, nn.Identity,
                        nn.Softplus)
_ELEMENTWISE_FUNCTIONS = {operator.add, operator.sub, operator.mul, operator.truediv, torch.add, torch.sub,
                          torch.mul, torch.relu, torch.tanh, torch.sigmoid, F.relu, F.gelu, F.silu, F.elu,
                          F.leaky_relu, F.softplus}
_ELEMENTWISE_METHODS = {"relu", "tanh", "sigmoid", "add", "sub", "mul", "__add__", "__mul__"}


def _apply_op(node: torch.fx.Node, modules: dict[str, nn.Module], index: dict[torch.fx.Node, int]) -> _Op | None:
    """A forward-only elementwise op, or ``None`` when the node is not one."""
    fn, method = None, None
    if node.op == "call_module" and isinstance(modules[node.target], _ELEMENTWISE_MODULES):
        fn = modules[node.target]
    elif node.op == "call_function" and node.target in _ELEMENTWISE_FUNCTIONS:
        fn = node.target
    elif node.op == "call_method" and node.target in _ELEMENTWISE_METHODS:
        method = node.target
    else:
        return None
    if any(isinstance(v, (torch.fx.Node, list, tuple, dict)) for v in node.kwargs.values()) or any(
            isinstance(a, (list, tuple, dict)) for a in node.args):
        return None  # nested arguments: not replayed
    template = tuple(_Ref(index[a]) if isinstance(a, torch.fx.Node) else a for a in node.args)
    args = tuple(index[a] for a in node.args if isinstance(a, torch.fx.Node))
    return _Op("apply", args, fn=fn, method=method, template=template, kwargs=tuple(sorted(node.kwargs.items())))


def _node_op(node: torch.fx.Node, modules: dict[str, nn.Module], index: dict[torch.fx.Node, int],
             names: dict[str, int]) -> _Op | None:
    """The op of one traced node, or ``None`` when the node is not supported."""
    nodes = [a for a in node.args if isinstance(a, torch.fx.Node)]
    args = tuple(index[a] for a in nodes)
    if node.op == "call_module":
        m = modules[node.target]
        if isinstance(m, nn.Linear):
            return _Op("linear", args, names[f"{node.target}.weight"],
                       names[f"{node.target}.bias"] if m.bias is not None else -1)
        if isinstance(m, nn.Flatten):
            return _Op("flatten", args, start=m.start_dim, end=m.end_dim)
        kind = _MODULES.get(type(m))
        slope = getattr(m, "negative_slope", 0.01)
        if kind is None or slope <= 0:
            return None  # leaky_relu's backward reads the sign of the output: valid for a positive slope only
        return _Op(kind, args, slope=float(slope))
    if node.op == "call_function" and node.target in _ADDS:
        if len(nodes) != 2 or len(node.args) != 2 or node.kwargs:
            return None  # a + constant, or add with alpha: not supported
        return _Op("add", args)
    if node.op == "call_method" and node.target in ("add", "__add__"):
        return _Op("add", args) if len(nodes) == 2 and len(node.args) == 2 and not node.kwargs else None
    if node.target is torch.flatten or (node.op == "call_method" and node.target == "flatten"):
        rest = list(node.args[1:]) + [node.kwargs.get(k) for k in ("start_dim", "end_dim") if k in node.kwargs]
        if len(nodes) != 1 or not all(isinstance(v, int) for v in rest):
            return None
        start, end = (rest + [0, -1][len(rest):])[:2]
        return _Op("flatten", args, start=start, end=end)
    kind = _FUNCTIONS.get(node.target) if node.op == "call_function" else None
    if kind is None and node.op == "call_method":
        kind = _METHODS.get(node.target)
    if kind is None or len(nodes) != 1 or node.args[0] is not nodes[0]:
        return None
    slope = node.kwargs.get("negative_slope", node.args[1] if len(node.args) > 1 else 0.01)
    if kind == "leaky_relu" and (not isinstance(slope, (int, float)) or slope <= 0):
        return None
    return _Op(kind, args, slope=float(slope))


class MLPGradients:
    """The program of one network (see the module docstring): forward for one copy or K stacked copies, and loss,
    logits and gradients when :attr:`explicit`."""

    def __init__(self, ops: list[_Op], names: list[str]) -> None:
        self.ops = ops
        self.names = names  # parameter order of ``params`` in :meth:`__call__`: ``model.named_parameters()``
        self.explicit = all(op.kind != "apply" for op in ops)  # every op has its backward here
        # needs[i]: value i depends on a parameter, so the gradient flows back through it
        self.needs: list[bool] = []
        for op in ops:
            self.needs.append(op.kind == "linear" or any(self.needs[a] for a in op.args))
        # stacked[per_config][i]: value i carries the K axis in front (a stacked pass); one copy: never.
        self._stacked: dict[bool, list[bool]] = {}
        for per_config in (False, True):
            flags: list[bool] = []
            for op in ops:
                flags.append(per_config if op.kind == "input"
                             else op.kind == "linear" or any(flags[a] for a in op.args))
            self._stacked[per_config] = flags
        self._unstacked = [False] * len(ops)

    @classmethod
    def of(cls, model: nn.Module, loss: str = "cross_entropy") -> MLPGradients | None:
        """The explicit engine for ``model`` and ``loss``: its program when that computes its own gradients (every
        op has a backward here, and the loss is cross-entropy), else ``None``."""
        if loss != "cross_entropy":
            return None
        program = cls.trace(model)
        return program if program is not None and program.explicit else None

    @classmethod
    def trace(cls, model: nn.Module) -> MLPGradients | None:
        """The program of ``model``, or ``None`` when it has buffers, does not trace, or has an op that is neither
        listed in the module docstring nor elementwise (a convolution, say: use ``vmap``), or uses a parameter
        outside a Linear or twice."""
        if any(True for _ in model.buffers()):
            return None
        names = [n for n, _ in model.named_parameters()]
        try:
            traced = torch.fx.symbolic_trace(model)
        except Exception:  # noqa: BLE001 - any tracing failure means "not supported"
            return None
        modules = dict(traced.named_modules())
        position = {n: i for i, n in enumerate(names)}
        index: dict[torch.fx.Node, int] = {}
        ops: list[_Op] = []
        used: list[int] = []
        for node in traced.graph.nodes:
            if node.op == "placeholder":
                if ops:
                    return None  # a second input
                op = _Op("input")
            elif node.op == "output":
                out = node.args[0]
                if not isinstance(out, torch.fx.Node):
                    return None
                op = _Op("output", (index[out],))
            else:
                try:
                    op = _node_op(node, modules, index, position) or _apply_op(node, modules, index)
                except KeyError:  # a parameter outside named_parameters (shared module, …)
                    return None
                if op is None:
                    return None
            if op.kind == "linear":
                used += [op.weight] + ([op.bias] if op.bias >= 0 else [])
            index[node] = len(ops)
            ops.append(op)
        if sorted(used) != list(range(len(names))) or ops[-1].kind != "output":
            return None  # a parameter used twice, or not at all
        return cls(ops, names)

    def __call__(self, params: Sequence[Tensor], x: Tensor, y: Tensor,
                 per_config: bool) -> tuple[Tensor, Tensor, list[Tensor]]:
        """``(losses [K], logits [K, B, classes], grads)`` with ``grads[i]`` shaped like ``params[i]``.

        ``params`` are plain tensors (no autograd), stacked ``[K, ...]`` in :attr:`names` order; ``y`` is
        ``[B]`` (shared) or ``[K, B]``."""
        return self._run(params, x, y, params[0].shape[0], per_config, None)

    def single(self, params: Sequence[Tensor], x: Tensor, y: Tensor,
               into: Sequence[Tensor] | None = None) -> tuple[Tensor, Tensor, list[Tensor]]:
        """One copy, unstacked: ``(loss [], logits [B, classes], grads)``; ``params`` as ``named_parameters()``.

        ``into``: tensors shaped like ``params`` (their ``.grad``, say) that receive the gradients in place and
        are returned as ``grads``; the training loop passes the same ones every step, which saves allocating
        and attaching new gradients (≈ 10 % of a small MLP's step)."""
        return self._run(params, x, y, None, False, into)

    def forward(self, params: Sequence[Tensor], x: Tensor, per_config: bool) -> Tensor:
        """The logits ``[K, B, classes]`` of the stacked copies, by the same kernels as their training step (the
        vectorized trainer evaluates with this, so training and evaluation logits come from one program)."""
        k = params[0].shape[0]
        values, stacked = self._forward(params, x, k, per_config)
        logits = values[-1]
        return logits if stacked[-1] else logits.expand(k, *logits.shape)

    def _forward(self, params: Sequence[Tensor], x: Tensor, k: int | None,
                 per_config: bool) -> tuple[list[Tensor], list[bool]]:
        # k is None: one unstacked copy, plain 2-D products (the single-run loop). Otherwise values that depend
        # on the parameters carry the K axis in front; ``stacked[i]`` says whether value i has it.
        stacked = self._unstacked if k is None else self._stacked[per_config]
        values: list[Tensor] = []
        for op in self.ops:
            kind = op.kind
            if kind == "input":
                values.append(x)
            elif kind == "linear":
                src = op.args[0]
                values.append(linear(values[src], stacked[src], params[op.weight],
                                     params[op.bias] if op.bias >= 0 else None, k))
            elif kind == "output":
                values.append(values[op.args[0]])
            elif kind == "add":
                values.append(values[op.args[0]] + values[op.args[1]])
            elif kind == "flatten":
                src = op.args[0]
                shift = int(stacked[src])
                values.append(torch.flatten(values[src], op.start + shift if op.start >= 0 else op.start,
                                            op.end + shift if op.end >= 0 else op.end))
            elif kind == "apply":
                args = [values[a.index] if isinstance(a, _Ref) else a for a in op.template]
                kwargs = dict(op.kwargs)
                values.append(op.fn(*args, **kwargs) if op.method is None
                              else getattr(args[0], op.method)(*args[1:], **kwargs))
            else:
                values.append(_activate(op, values[op.args[0]]))
        return values, stacked

    def _run(self, params: Sequence[Tensor], x: Tensor, y: Tensor, k: int | None, per_config: bool,
             into: Sequence[Tensor] | None) -> tuple[Tensor, Tensor, list[Tensor]]:
        if not self.explicit:
            raise ValueError("this program has ops without an explicit backward; differentiate its forward with "
                             "autograd")
        values, stacked = self._forward(params, x, k, per_config)
        logits = values[-1]
        if logits.ndim != (2 if k is None else 3) or (k is not None and not stacked[-1]):
            raise ValueError(f"cross_entropy here needs logits of shape [B, classes], got {list(logits.shape)}")
        losses, grad = _cross_entropy(logits, y)

        needs = self.needs
        grads: list[Tensor | None] = [None] * len(params)
        upstream: list[Tensor | None] = [None] * len(self.ops)
        upstream[-1] = grad
        for i in range(len(self.ops) - 1, 0, -1):
            op, g = self.ops[i], upstream[i]
            upstream[i] = None  # free as we go
            if g is None:
                continue
            src = op.args[0]
            if op.kind == "output":
                _accumulate(upstream, src, g)
            elif op.kind == "linear":
                gw, gb, gv = _linear_backward(g, values[src], stacked[src], params[op.weight], op.bias >= 0, k,
                                              needs[src], into[op.weight] if into is not None else None,
                                              into[op.bias] if into is not None and op.bias >= 0 else None)
                grads[op.weight] = gw
                if op.bias >= 0:
                    grads[op.bias] = gb
                if gv is not None:
                    _accumulate(upstream, src, gv)
            elif op.kind == "add":
                for a in op.args:
                    if needs[a]:
                        _accumulate(upstream, a, g)
            elif needs[src]:
                back = g.reshape(values[src].shape) if op.kind == "flatten" else _activation_backward(op, g, values[i])
                _accumulate(upstream, src, back)
        return losses, logits, grads  # type: ignore[return-value]


def _accumulate(upstream: list[Tensor | None], i: int, g: Tensor) -> None:
    upstream[i] = g if upstream[i] is None else upstream[i] + g


def linear(v: Tensor, stacked: bool, weight: Tensor, bias: Tensor | None, k: int | None) -> Tensor:
    """``v @ W.T + b``: one copy (``k`` None), or every copy ``k`` of a stacked ``[K, out, in]`` weight on a shared
    ``[*lead, in]`` or stacked ``[K, *lead, in]`` input, giving ``[K, *lead, out]``. The one stacked-linear
    kernel of the project: the explicit engine and the autograd/evaluation forward of stacked MLPs
    (:mod:`descentlab.train.stacked`) both run it. Where the batched product would not give each copy the single
    copy's bits (:func:`stack_agrees`), each copy takes the single copy's product."""
    if k is None:
        if v.ndim == 2:  # what F.linear runs for a matrix, without its extra dispatch (≈ 4 µs a call)
            return torch.addmm(bias, v, weight.t()) if bias is not None else v.mm(weight.t())
        return F.linear(v, weight, bias)
    out_features, in_features = weight.shape[-2:]
    lead = v.shape[1:-1] if stacked else v.shape[:-1]
    rows = v.reshape(k, -1, in_features) if stacked else v.reshape(-1, in_features)
    if not stack_agrees(rows.shape[-2], in_features, out_features, k, stacked, v.dtype, v.device,
                        "forward" if bias is not None else "forward, no bias"):
        # each copy's own product on fresh (aligned) copies of its rows, as the single copy has them: the library's
        # small-matrix kernels round by the operands' memory alignment too
        return torch.stack([linear(rows[i].clone() if stacked else rows, False, weight[i].clone(),
                                   None if bias is None else bias[i].clone(), None) for i in range(k)]
                           ).view(k, *lead, out_features)
    # a shared input is broadcast over K without a copy: batched products beat one wide mm here
    v3 = rows if stacked else rows.unsqueeze(0).expand(k, -1, -1)
    return _batched_linear(v3, weight, bias).view(k, *lead, out_features)


def _batched_linear(v3: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """``[K, rows, in]`` × the stacked ``[K, out, in]`` weight (+ bias): the batched forward product."""
    return torch.bmm(v3, weight.mT) if bias is None else torch.baddbmm(bias.unsqueeze(1), v3, weight.mT)


def _linear_backward(g: Tensor, v: Tensor, stacked: bool, weight: Tensor, has_bias: bool, k: int | None,
                     needs_input: bool, gw_into: Tensor | None = None,
                     gb_into: Tensor | None = None) -> tuple[Tensor, Tensor | None, Tensor | None]:
    """``(∂W, ∂b, ∂v)`` of :func:`_linear` given ``g = ∂u``; ``∂v`` only when ``needs_input``. One copy (``k``
    None) may write ``∂W`` and ``∂b`` into ``gw_into`` / ``gb_into``. Copies of a stack take the single copy's
    products where the batched ones would round otherwise (:func:`stack_agrees`)."""
    if k is None:
        g2 = g if g.ndim == 2 else g.reshape(-1, g.shape[-1])
        v2 = v if v.ndim == 2 else v.reshape(-1, v.shape[-1])
        gw = torch.mm(g2.t(), v2, out=gw_into) if gw_into is not None else g2.t().mm(v2)
        gb = None
        if has_bias:
            gb = torch.sum(g2, 0, out=gb_into) if gb_into is not None else g2.sum(0)
        gv = None
        if needs_input:
            gv = g2.mm(weight)
            if g.ndim != 2:
                gv = gv.view(*g.shape[:-1], weight.shape[1])
        return gw, gb, gv
    out_features, in_features = weight.shape[-2:]
    g3 = g.reshape(k, -1, out_features)
    if not stack_agrees(g3.shape[1], in_features, out_features, k, stacked, g.dtype, g.device, "backward"):
        v2 = v.reshape(k, -1, in_features) if stacked else v.reshape(-1, in_features)
        parts = [_linear_backward(g3[i].clone(), v2[i].clone() if stacked else v2, False, weight[i].clone(), has_bias,
                                  None, needs_input) for i in range(k)]  # fresh copies: see linear()
        gw = torch.stack([p[0] for p in parts])
        gb = torch.stack([p[1] for p in parts]) if has_bias else None  # type: ignore[misc]
        gv = torch.stack([p[2] for p in parts]).view(*g.shape[:-1], in_features) if needs_input else None  # type: ignore[misc]
        return gw, gb, gv
    v3 = v.reshape(k, -1, in_features) if stacked else v.reshape(1, -1, in_features).expand(k, -1, -1)
    gw, gb, gv = _batched_linear_backward(g3, v3, weight, has_bias, needs_input)
    return gw, gb, None if gv is None else gv.view(*g.shape[:-1], in_features)


def _batched_linear_backward(g3: Tensor, v3: Tensor, weight: Tensor, has_bias: bool, needs_input: bool
                             ) -> tuple[Tensor, Tensor | None, Tensor | None]:
    """The batched backward products of :func:`_batched_linear`: ``(∂W, ∂b, ∂v)`` as ``[K, …]`` stacks."""
    return (torch.bmm(g3.mT, v3), g3.sum(1) if has_bias else None,
            torch.bmm(g3, weight) if needs_input else None)


# (products, rows, in, out, K, stacked input, dtype, device) → whether the batched kernels give each copy the bits
# of the single copy's own products (see stack_agrees; probed at one thread only)
_AGREES: dict[tuple[Any, ...], bool] = {}


def stack_agrees(rows: int, in_features: int, out_features: int, k: int, stacked: bool, dtype: torch.dtype,
                 device: torch.device, products: str = "backward") -> bool:
    """Whether, for this shape of a linear layer, the batched products (``baddbmm``/``bmm`` over K and the sum over
    rows) give every copy exactly what the single copy's ``addmm``/``mm``/``sum`` give it.

    The matrix library picks its kernel by shape, K and thread count, not by the numbers: on this CPU a thin
    product (few rows, inputs or outputs; e.g. a 13 → 5 layer on batches of 7) is computed by another kernel
    when batched, an ulp away, and a small product even rounds by its operands' memory alignment (a copy's rows
    inside a stack sit where a tensor of its own would not). So it is probed once per shape on random numbers,
    against the single copy's products on fresh tensors, and where it disagrees the copies take those products one
    by one on fresh copies of their rows (cheap there: the products are tiny). Only on a CPU with
    one thread, where the project promises the same bits whatever shares a pass (README, "What the store
    guarantees"); elsewhere the batched kernels are kept as they are, for speed. ``products``: ``"forward"``
    (``baddbmm``), ``"forward, no bias"`` (``bmm``) or ``"backward"`` (the weight's, bias's and input's
    gradients): only those a call runs are probed (an evaluation's large batches run only the forward)."""
    if device.type != "cpu" or torch.get_num_threads() != 1:
        return True
    key = (products, rows, in_features, out_features, k, stacked, dtype, device)
    agrees = _AGREES.get(key)
    if agrees is None:
        agrees = _AGREES[key] = _probe(products, rows, in_features, out_features, k, stacked, dtype, device)
    return agrees


def _probe(products: str, rows: int, in_features: int, out_features: int, k: int, stacked: bool,
           dtype: torch.dtype, device: torch.device) -> bool:
    """The batched products :func:`linear` / :func:`_linear_backward` run, against the single copy's (``k`` None)
    on each copy's own fresh (aligned) tensors, on random numbers."""
    gen = torch.Generator(device=device).manual_seed(0)

    def draw(*shape: int) -> Tensor:
        return torch.randn(*shape, generator=gen, device=device, dtype=dtype)

    v = draw(k, rows, in_features) if stacked else draw(rows, in_features)
    weight, bias, g = draw(k, out_features, in_features), draw(k, out_features), draw(k, rows, out_features)
    v3 = v if stacked else v.unsqueeze(0).expand(k, -1, -1)
    backward = products == "backward"
    bias = bias if products == "forward" else None
    batched = (_batched_linear_backward(g, v3, weight, True, True) if backward
               else (_batched_linear(v3, weight, bias),))
    for i in range(k):
        vi, wi = (v[i].clone() if stacked else v), weight[i].clone()
        single = (_linear_backward(g[i].clone(), vi, False, wi, True, None, True) if backward
                  else (linear(vi, False, wi, None if bias is None else bias[i].clone(), None),))
        if not all(torch.equal(a[i], b) for a, b in zip(batched, single)):
            return False
    return True


def _activate(op: _Op, v: Tensor) -> Tensor:
    if op.kind == "relu":
        return torch.relu(v)
    if op.kind == "tanh":
        return torch.tanh(v)
    if op.kind == "sigmoid":
        return torch.sigmoid(v)
    if op.kind == "leaky_relu":
        return F.leaky_relu(v, op.slope)
    return v  # identity


def _activation_backward(op: _Op, g: Tensor, out: Tensor) -> Tensor:
    if op.kind == "relu":
        return _aten.threshold_backward(g, out, 0)
    if op.kind == "tanh":
        return _aten.tanh_backward(g, out)
    if op.kind == "sigmoid":
        return _aten.sigmoid_backward(g, out)
    if op.kind == "leaky_relu":
        return _aten.leaky_relu_backward(g, out, op.slope, True)
    return g  # identity


def _cross_entropy(logits: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """Mean cross-entropy (``[]`` for logits ``[B, C]``, per copy ``[K]`` for ``[K, B, C]``) and its gradient with
    respect to the logits, by the kernels autograd runs for ``F.cross_entropy``: log-softmax, NLL, and their
    backwards. One copy is computed as a stack of one: per-example losses, then each copy's mean, so that a run
    trained alone and the same run in a stack give the same loss bit for bit (NLL's own mean sums in another
    order)."""
    logp = torch.log_softmax(logits, -1)
    if logits.ndim == 2:  # one copy: already the [B, C] and [B] that the kernels take
        flat, targets = logp, y
        k, b = 1, logits.shape[0]
    else:
        targets = (y if y.ndim == logits.ndim - 1 else y.expand(logits.shape[:-1])).reshape(-1)
        flat = logp.reshape(-1, logits.shape[-1])
        k, b = logits.shape[:2]
    per_example, total = _aten.nll_loss_forward(flat, targets, None, 0, -100)  # 0: no reduction
    loss = per_example.view(k, b).mean(1)
    seed = _SEEDS.get((k, b, logits.dtype, logits.device))
    if seed is None:  # read-only for nll_loss_backward, so one per shape, dtype and device serves every step
        seed = _SEEDS[k, b, logits.dtype, logits.device] = torch.full((k * b,), 1.0 / b, dtype=logits.dtype,
                                                                      device=logits.device)
    g = _aten.nll_loss_backward(seed, flat, targets, None, 0, -100, total)
    grad = torch._log_softmax_backward_data(g, flat, -1, flat.dtype)
    if logits.ndim == 2:
        return loss[0], grad
    return loss, grad.view(logits.shape)
