"""K copies of one network with their parameters stacked along a leading axis, and their batched forward.

:func:`stack_models` turns K models of one architecture into ``{name: Tensor[K, ...]}`` leaves (row ``k`` is
model ``k``'s tensor, same layout: a Linear weight stays ``[out, in]``, so shape-aware rules such as Muon see
the same matrices). :func:`stacked_forward` returns ``forward(params, x, per_config) -> [K, B, classes]`` where
``x`` is one batch shared by every configuration, ``[B, ...]`` (same seed, or evaluation; ``per_config=False``),
or one batch per configuration, ``[K, B, ...]`` (``per_config=True``).

Two paths, picked by :func:`stacked_forward` (``mode="auto"``):

- ``"bmm"``: the model is traced with ``torch.fx`` and replayed with batched matrix products: a ``Linear`` is
  :func:`descentlab.train.mlp_gradients.linear`, the explicit engine's own stacked kernel (``baddbmm`` over the
  K copies, a shared input broadcast to them without a copy). Activations, ``Flatten`` and sums are applied as
  they are (with the flattened dimensions shifted past K). Used when every node of the graph is one of those.
- ``"vmap"``: ``torch.func.vmap`` over ``torch.func.functional_call`` — any architecture (convolutions: vmap's
  batching rule turns them into grouped convolutions), with more per-operation overhead.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from descentlab.train.mlp_gradients import linear

Forward = Callable[[dict[str, Tensor], Tensor, bool], Tensor]

# Modules and functions that act elementwise (or on the last axis only): applied to [K, B, ...] as they are.
_ELEMENTWISE_MODULES = (nn.ReLU, nn.Tanh, nn.Sigmoid, nn.GELU, nn.SiLU, nn.ELU, nn.LeakyReLU, nn.Identity,
                        nn.Softplus)
_ELEMENTWISE_FUNCTIONS = {operator.add, operator.sub, operator.mul, operator.truediv, torch.add, torch.sub,
                          torch.mul, torch.relu, torch.tanh, torch.sigmoid, F.relu, F.gelu, F.silu, F.elu,
                          F.leaky_relu, F.softplus}
_ELEMENTWISE_METHODS = {"relu", "tanh", "sigmoid", "add", "sub", "mul", "__add__", "__mul__"}


def stack_models(models: Sequence[nn.Module]) -> dict[str, Tensor]:
    """``{name: Tensor[K, ...]}`` of the models' parameters and buffers, in ``state_dict`` order (copies)."""
    states = [m.state_dict() for m in models]
    return {name: torch.stack([s[name] for s in states]) for name in states[0]}


def unstack(stacked: dict[str, Tensor], k: int) -> dict[str, Tensor]:
    """Model ``k``'s ``state_dict`` (cloned rows)."""
    return {name: t[k].detach().clone() for name, t in stacked.items()}


def stacked_forward(model: nn.Module, mode: str = "auto") -> tuple[Forward, str]:
    """``(forward, path)`` for stacked copies of ``model``; ``path`` is ``"bmm"`` or ``"vmap"``."""
    if mode not in ("auto", "bmm", "vmap"):
        raise ValueError(f"forward mode must be 'auto', 'bmm' or 'vmap', got {mode!r}")
    if mode != "vmap":
        graph = _bmm_graph(model)
        if graph is not None:
            return _BmmForward(graph), "bmm"
        if mode == "bmm":
            raise ValueError(f"{type(model).__name__} has layers the batched-matmul path does not handle; "
                             "use mode='vmap'")
    return _vmap_forward(model), "vmap"


# --- the vmap path -------------------------------------------------------------------------------------------


def _vmap_forward(model: nn.Module) -> Forward:
    def one(params: dict[str, Tensor], x: Tensor) -> Tensor:
        return torch.func.functional_call(model, params, (x,))  # the model's own tensors are never read

    each = torch.func.vmap(one, in_dims=(0, 0))
    shared = torch.func.vmap(one, in_dims=(0, None))

    def forward(params: dict[str, Tensor], x: Tensor, per_config: bool) -> Tensor:
        return (each if per_config else shared)(params, x)

    return forward


# --- the batched-matmul path ---------------------------------------------------------------------------------


def _bmm_graph(model: nn.Module) -> torch.fx.GraphModule | None:
    """The traced model if every node is handled by :class:`_BmmForward`, else ``None``."""
    if any(True for _ in model.buffers()):
        return None
    try:
        traced = torch.fx.symbolic_trace(model)
    except Exception:  # noqa: BLE001 - any tracing failure means "use vmap"
        return None
    modules = dict(traced.named_modules())
    covered: set[str] = set()
    for node in traced.graph.nodes:
        if node.op in ("placeholder", "output"):
            continue
        if node.op == "call_module":
            m = modules[node.target]
            if isinstance(m, nn.Linear):
                covered.update(f"{node.target}.{n}" for n, _ in m.named_parameters())
            elif not isinstance(m, (*_ELEMENTWISE_MODULES, nn.Flatten)):
                return None
        elif node.op == "call_function":
            if node.target not in _ELEMENTWISE_FUNCTIONS and node.target is not torch.flatten:
                return None
        elif node.op == "call_method":
            if node.target not in _ELEMENTWISE_METHODS and node.target != "flatten":
                return None
        else:
            return None
    if covered != {n for n, _ in model.named_parameters()}:
        return None  # a parameter used twice, or outside a Linear
    return traced


class _BmmForward:
    """Replays a traced graph on stacked parameters; values carry whether they have the K axis."""

    def __init__(self, graph: torch.fx.GraphModule) -> None:
        self.graph = graph
        self.modules = dict(graph.named_modules())
        self.nodes = list(graph.graph.nodes)

    def __call__(self, params: dict[str, Tensor], x: Tensor, per_config: bool) -> Tensor:
        k = next(iter(params.values())).shape[0]
        env: dict[torch.fx.Node, tuple[Tensor, bool]] = {}

        def load(a):
            if isinstance(a, torch.fx.Node):
                return env[a][0]
            return a

        def batched(args) -> bool:
            return any(isinstance(a, torch.fx.Node) and env[a][1] for a in args)

        for node in self.nodes:
            if node.op == "placeholder":
                env[node] = (x, per_config)
            elif node.op == "output":
                out, is_batched = env[node.args[0]]
                return out if is_batched else out.expand(k, *out.shape)
            elif node.op == "call_module":
                m = self.modules[node.target]
                v, b = env[node.args[0]]
                if isinstance(m, nn.Linear):
                    env[node] = (linear(v, b, params[f"{node.target}.weight"], params.get(f"{node.target}.bias"),
                                        k), True)
                elif isinstance(m, nn.Flatten):
                    env[node] = (_flatten(v, b, m.start_dim, m.end_dim), b)
                else:
                    env[node] = (m(v), b)
            else:
                args = [load(a) for a in node.args]
                kwargs = {key: load(a) for key, a in node.kwargs.items()}
                b = batched([*node.args, *node.kwargs.values()])
                if node.target in ("flatten", torch.flatten):
                    env[node] = (_flatten(args[0], b, *args[1:], **kwargs), b)
                elif node.op == "call_method":
                    env[node] = (getattr(args[0], node.target)(*args[1:], **kwargs), b)
                else:
                    env[node] = (node.target(*args, **kwargs), b)
        raise AssertionError("graph without output")


def _flatten(x: Tensor, batched: bool, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    if batched:
        start_dim = start_dim + 1 if start_dim >= 0 else start_dim
        end_dim = end_dim + 1 if end_dim >= 0 else end_dim
    return torch.flatten(x, start_dim, end_dim)
