r"""The generated fused step: any rule's own ``update``, compiled by ``torch.compile`` over chunks of tensors.

A rule's readable ``update(p, g, state, h)`` is a sequence of tensor operations, each one pass over memory.
:func:`fused_step` turns it, unchanged, into a fused kernel: ``torch.compile`` (the inductor backend, C++ on the
CPU, Triton on CUDA) traces ``update`` for :data:`CHUNK` tensors at a time (``dynamic=True``: one compiled
program serves every size) and fuses its operations into one loop per tensor that reads and writes each array
once. Nothing of the math is written here: a new rule gets the path for free, and the equivalence tests
(``tests/optim/test_equivalence.py``, ``tests/rules/test_generated.py``) prove it equal to the readable rule.

How the rule is traced, so that one program serves every step:

- Hyperparameters that are non-zero floats (and the members of tuples such as ``betas``) are handed over as 0-d
  float64 tensors on the CPU, so a learning rate that a schedule changes every step is an input, not a constant
  (no recompilation), and the scalar arithmetic (bias corrections, step sizes) stays in double precision as
  with Python floats. Zeros stay Python ``0.0`` so that ``nonzero(...)`` skips the same terms as the readable
  rule; flags, integers and other values stay as they are (dynamo guards on them).
- ``step_count`` (``rules/base.py``) returns the step counter as a 0-d tensor while tracing instead of reading
  it with ``.item()``; the rules' scalar arithmetic takes either.
- Tensors are taken :data:`CHUNK` at a time in the group's order, and each (rule, dtype, device, flags, the
  chunk's numbers of dimensions) gets a compiled function of its own (its own dynamo cache entries).
- A rule that declares ``elementwise`` (``Rule.elementwise``: every rule but Muon) is handed 1-D views
  (``t.view(-1)``) of each contiguous parameter of two or more dimensions, of its gradient and of its state
  tensors of the parameter's shape (0-d counters as they are): the views share the tensors' memory, so the
  program's in-place updates are the real tensors', and a state tensor the update creates (SGD's momentum
  buffer, made from the first gradient) is stored back in the parameter's shape. A
  network's chunks, mixing 4-d convolution weights, 1-d biases and 2-d linear weights, then all read "1-d": one
  program per chunk length instead of one per pattern of dimensions (each 15–30 s to compile on a cold cache).
  A tensor that cannot be viewed so (non-contiguous, channels-last, sparse) keeps its shape and its number of
  dimensions in the key. Two details make "one program" one compilation: the views are detached (dynamo guards
  a view on its base's sizes), and dynamo gives each size its own symbol while compiling (by default equal sizes
  share one, and every chunk with another pattern of equal sizes recompiled).

Cost and cache: the first compilation of a program takes seconds to tens of seconds (inductor generates C++
and runs the system's compiler); inductor keeps what it generated in its on-disk caches (FX graph cache and
compiled kernels, under ``torch._inductor.codecache.cache_dir()``: ``$TORCHINDUCTOR_CACHE_DIR``, by default
``/tmp/torchinductor_$USER``), so later processes on the machine pay only dynamo's tracing (≈ 1–2 s per program).

Safety: when compiling or running a program fails (no C++ compiler, an unsupported operation, a graph break),
that program is marked failed, one warning is given, and the readable rule runs instead — the same numbers.
``DESCENTLAB_COMPILE=0`` turns the generated path off everywhere (``1``: on for every group it can take,
whatever its size; unset or ``auto``: on for groups of at least :data:`AUTO_MIN_NUMEL` elements, where it is
faster once compiled).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import types
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from descentlab.rules.base import Hyper, Rule

ENV_VAR = "DESCENTLAB_COMPILE"
MODES = ("0", "1", "auto")
# Tensors per compiled call: enough that dynamo's per-call cost (guards, ≈ 20–40 µs) is small against the
# kernels, small enough that a program compiles in seconds.
CHUNK = 16
# The automatic choice (``fused=None``): a group smaller than this keeps the readable rule, where compiling
# (seconds once per process) costs more than the steps it would save. Measured in benchmarks/optimizer_step.py.
AUTO_MIN_NUMEL = 1 << 20

log = logging.getLogger(__name__)


def mode() -> str:
    """The ``DESCENTLAB_COMPILE`` setting: ``"0"`` (off), ``"1"`` (every group) or ``"auto"`` (the default)."""
    value = os.environ.get(ENV_VAR, "auto").strip().lower() or "auto"
    if value not in MODES:
        _warn_once(("mode", value), f"{ENV_VAR}={value!r} is not one of {', '.join(MODES)}; using 'auto'")
        return "auto"
    return value


def wanted(params: Sequence[Tensor], required: bool, by_default: bool = True) -> bool:
    """Whether these tensors (of one group) take the generated path: never with ``DESCENTLAB_COMPILE=0``, always
    when ``required`` (``fused=True``) or with ``DESCENTLAB_COMPILE=1``, else when the rule compiles by default
    (``by_default``: its ``Rule.compile_by_default``) and they hold at least :data:`AUTO_MIN_NUMEL` elements."""
    m = mode()
    if m == "0" or not available():
        return False
    return required or m == "1" or (by_default and sum(p.numel() for p in params) >= AUTO_MIN_NUMEL)


@functools.cache
def available() -> bool:
    """Whether ``torch.compile`` can run in this Python at all (dynamo's own check, when torch has it)."""
    check = getattr(getattr(torch, "_dynamo", None), "is_dynamo_supported", None)
    try:
        return bool(check()) if callable(check) else hasattr(torch, "compile")
    except Exception:  # noqa: BLE001 — a private check that changed: do not compile
        return False


_WARNED: set[Any] = set()


def _warn_once(key: Any, message: str) -> None:
    if key not in _WARNED:
        _WARNED.add(key)
        log.warning(message)
        warnings.warn(message, RuntimeWarning, stacklevel=3)


def _traced_value(v: Any) -> Any:
    """A hyperparameter as the compiled program takes it (see the module docstring)."""
    if isinstance(v, float) and v != 0.0:
        return torch.tensor(v, dtype=torch.float64)
    if isinstance(v, tuple) and any(isinstance(x, float) for x in v):
        return tuple(_traced_value(x) for x in v)
    return v


def _signature(v: Any) -> Any:
    """What of a hyperparameter shapes the program: its value unless it is handed over as a tensor."""
    if isinstance(v, float):
        return v == 0.0
    if isinstance(v, tuple):
        return tuple(_signature(x) for x in v)
    if isinstance(v, (bool, str, type(None), torch.dtype)):
        return v
    return type(v).__name__


def _options() -> dict[str, Any]:
    """Inductor's options, each only where this torch has the private piece it needs:

    - ``emulate_precision_casts``: round every reduced-precision intermediate as eager does. Without it inductor
      keeps fused bfloat16/float16 intermediates in float32: Muon's bfloat16 Newton–Schulz iteration, compiled,
      then differed from the readable rule by 8e-3 after 100 steps; with it, by < 1e-10 (float64 parameters);
    - ``post_grad_custom_post_pass``: :func:`_scalars_once` (below); without it the program is slower, not
      different."""
    try:
        from torch._inductor import config
        from torch._inductor.custom_graph_pass import CustomGraphPass
    except ImportError:
        return {}
    options: dict[str, Any] = {}
    if hasattr(config, "emulate_precision_casts"):
        options["emulate_precision_casts"] = True
    if hasattr(config, "post_grad_custom_post_pass") and isinstance(_scalars_once(CustomGraphPass), CustomGraphPass):
        options["post_grad_custom_post_pass"] = _scalars_once(CustomGraphPass)
    return options


_PASS: list[Any] = []


def _scalars_once(base: type) -> Any:
    """One instance of the pass below, built on inductor's ``CustomGraphPass`` (its ``uuid`` keys the disk cache).

    Why: inductor inlines a computation on 0-d tensors into every loop that reads its result, so the scalar
    arithmetic of a rule (bias corrections ``1 − βᵗ``, NAdam's ``0.96^(tψ)``…) ran once per vector of 16 elements:
    NAdam's generated step took 38 ms on 10M parameters instead of 6. The pass puts an ``as_strided`` view (which
    inductor lowers by realizing its input) between every 0-d result and its non-0-d users, so each scalar is
    computed once per call into a buffer of one element, and the loops read it."""
    if not _PASS:
        aten = torch.ops.aten

        class ScalarsOnce(base):  # type: ignore[misc, valid-type]
            def __call__(self, graph: torch.fx.Graph) -> None:
                for node in list(graph.nodes):
                    val = node.meta.get("val")
                    if node.op != "call_function" or not isinstance(val, Tensor) or val.ndim != 0:
                        continue
                    big = [u for u in node.users if isinstance(u.meta.get("val"), Tensor) and u.meta["val"].ndim]
                    if not big:
                        continue
                    with graph.inserting_after(node):
                        once = graph.call_function(aten.as_strided.default, (node, [], []))
                    once.meta["val"] = val
                    for user in big:
                        user.replace_input_with(node, once)

            def uuid(self) -> Any:
                return "descentlab.rules.generated.ScalarsOnce/1"

        _PASS.append(ScalarsOnce())
    return _PASS[0]


def _no_duck_shapes() -> Any:
    """A context in which dynamo gives every size a symbol of its own: by default ("duck shapes") equal sizes
    share one, and the program is guarded on which of a chunk's sizes are equal, so each chunk of a network
    (biases of 256, weights of 4,000 elements, in another order) recompiled its program (≈ 6 s each, cold)."""
    try:
        from torch.fx.experimental import _config
    except ImportError:
        return contextlib.nullcontext()
    return _config.patch(use_duck_shape=False) if hasattr(_config, "use_duck_shape") else contextlib.nullcontext()


def _chunk_step(update: Callable[..., None]) -> Callable[..., None]:
    def step(params: Sequence[Tensor], grads: Sequence[Tensor], states: Sequence[dict[str, Any]], h: Hyper) -> None:
        for p, g, s in zip(params, grads, states):
            update(p, g, s, h)

    return step


def _flat(p: Tensor, g: Tensor, state: dict[str, Any]) -> tuple[Tensor, Tensor, dict[str, Any]] | None:
    """1-D views of ``p``, ``g`` and the state tensors of ``p``'s shape (other entries as they are), or ``None``
    where ``p`` is already at most 1-D or one of them cannot be viewed without a copy (a copy would not be
    updated in place)."""
    if p.ndim < 2:
        return None
    shaped = {k: v for k, v in state.items() if isinstance(v, Tensor) and v.shape == p.shape}
    if not all(t.layout == torch.strided and t.is_contiguous() for t in (p, g, *shaped.values())):
        return None
    return _flat_view(p), _flat_view(g), {k: _flat_view(v) if k in shaped else v for k, v in state.items()}


def _flat_view(t: Tensor) -> Tensor:
    """``t`` as 1-D, sharing its memory and version counter. Detached so that it has no ``_base``: dynamo guards
    a view on its base's sizes and strides, which would key the program by the base's dimensions again."""
    return t.view(-1).detach()


def _store_back(p: Tensor, given: dict[str, Any], flat: dict[str, Any], state: dict[str, Any]) -> None:
    """What the program did to the flat state dict (``given``: its entries as handed over), on the real one:
    entries it (re)assigned — a new tensor of the parameter's number of elements is stored in the parameter's
    shape — or removed. The views it updated in place already are the real tensors."""
    for k, v in flat.items():
        if k in given and given[k] is v:
            continue
        if isinstance(v, Tensor) and v.ndim == 1 and v.numel() == p.numel():
            v = v.view(p.shape)
        state[k] = v
    for k in set(state) - set(flat):
        del state[k]


class GeneratedStep:
    """The fused step of ``rule``, with the signature of ``Rule.fused``: returns ``False`` (nothing done) where
    it cannot take the call, and the caller then runs the readable rule."""

    def __init__(self, rule: Rule) -> None:
        self.rule = rule
        self._programs: dict[Any, Callable[..., None] | None] = {}  # None: failed, the readable rule runs
        self.compiles = 0  # programs created (each compiles, or loads from the disk cache, on its first call)
        self.compiled_calls = 0  # chunks stepped by a compiled program

    @property
    def failed(self) -> list[Any]:
        """The keys of the programs that could not be compiled (their chunks take the readable rule)."""
        return [k for k, v in self._programs.items() if v is None]

    def _program(self, key: Any) -> Callable[..., None] | None:
        if key not in self._programs:
            base = _chunk_step(self.rule.update)
            # A code object of its own per key: dynamo keeps its cache (and its recompile limit) per code object.
            code = base.__code__.replace(co_name=f"descentlab_{self.rule.name.replace('-', '_')}_{len(self._programs)}")
            fn = types.FunctionType(code, base.__globals__, code.co_name, base.__defaults__, base.__closure__)
            self._programs[key] = torch.compile(fn, dynamic=True, fullgraph=True, options=_options())
            self.compiles += 1
        return self._programs[key]

    def __call__(self, params: list[Tensor], grads: list[Tensor], states: list[dict[str, Any]], h: Hyper, *,
                 grad_scale: Tensor | None = None, found_inf: Tensor | None = None) -> bool:
        if grad_scale is not None or found_inf is not None or torch.is_grad_enabled():
            return False  # GradScaler's unscale-and-skip and autograd recording: the readable rule does them
        traced = {k: _traced_value(v) for k, v in h.items()}
        flags = tuple((k, _signature(v)) for k, v in h.items())
        # One context for the whole call: entering it costs ≈ 14 µs, once per chunk that was 6 % of a step on
        # 1,000 small tensors.
        with _no_duck_shapes():
            self._chunks(params, grads, states, h, traced, flags)
        return True

    def _chunks(self, params: list[Tensor], grads: list[Tensor], states: list[dict[str, Any]], h: Hyper,
                traced: dict[str, Any], flags: tuple[Any, ...]) -> None:
        first = params[0]
        for start in range(0, len(params), CHUNK):
            ps, gs, ss = params[start:start + CHUNK], grads[start:start + CHUNK], states[start:start + CHUNK]
            flat = [_flat(p, g, s) if self.rule.elementwise else None for p, g, s in zip(ps, gs, ss)]
            given = [None if f is None else dict(f[2]) for f in flat]
            args = ([p if f is None else f[0] for p, f in zip(ps, flat)],
                    [g if f is None else f[1] for g, f in zip(gs, flat)],
                    [s if f is None else f[2] for s, f in zip(ss, flat)])
            key = (first.dtype, first.device.type, tuple(p.ndim for p in args[0]), flags)
            program = self._program(key)
            if program is not None:
                try:
                    program(*args, traced)
                    for p, s, f, d in zip(ps, ss, flat, given):
                        if f is not None:
                            _store_back(p, d, f[2], s)
                    self.compiled_calls += 1
                except Exception as e:  # noqa: BLE001 — any failure of the compiler: the readable rule instead
                    self._programs[key] = None
                    _warn_once(("failed", self.rule.name), f"descentlab: the generated fused step of "
                               f"{self.rule.name} could not be compiled ({type(e).__name__}: "
                               f"{str(e).splitlines()[0][:200] if str(e) else ''}); using the readable rule")
                    program = None
            if program is None:
                for p, g, s in zip(ps, gs, ss):
                    self.rule.update(p, g, s, h)


_GENERATED: dict[int, tuple[Rule, GeneratedStep]] = {}


def fused_step(rule: Rule) -> GeneratedStep:
    """The generated fused step of ``rule`` (one per rule object and process, so compiled programs are shared)."""
    found = _GENERATED.get(id(rule))
    if found is None or found[0] is not rule:
        found = _GENERATED[id(rule)] = (rule, GeneratedStep(rule))
    return found[1]


__all__ = ["AUTO_MIN_NUMEL", "CHUNK", "ENV_VAR", "GeneratedStep", "available", "fused_step", "mode", "wanted"]
