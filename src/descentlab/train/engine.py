"""Which code computes a run's gradients: autograd (the reference) or the explicit engine, checked against it.

``engine="autograd"`` always uses ``torch.autograd``. ``engine="explicit"`` requires
:class:`~descentlab.train.mlp_gradients.MLPGradients` (explicit back-propagation of MLP-shaped networks with the
kernels autograd itself runs, without its per-step bookkeeping) and fails with a one-line error on a network it
does not handle. ``engine="auto"`` (the default) uses the explicit engine where it applies and autograd elsewhere
(a network with frozen parameters, ``requires_grad=False``, is autograd's: the engine computes every gradient).

The explicit engine calls ATen kernels by their positional signatures (``nll_loss_backward``,
``threshold_backward``…), which a torch release could change. So before it trains anything in a process it
checks itself: on a tiny batch (4 examples of the run's own data) the loss and every parameter gradient of one
copy, and of two stacked copies, must match autograd's to ``rtol = 1e-4``, ``atol = 1e-6`` (float32; on CPU they
are in fact bitwise equal). On any mismatch, or any error, it is not used: ``"auto"`` falls back to autograd and
says so once per process (a warning of the ``descentlab.train.engine`` logger); ``"explicit"`` fails. The check
runs once per network structure and dtype per process. Which engine trained a run is recorded with it
(``RunResult.engine``).
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch import Tensor, nn

from descentlab.errors import UserError
from descentlab.tasks import Task
from descentlab.train.mlp_gradients import MLPGradients

ENGINES = ("auto", "explicit", "autograd")
RTOL, ATOL = 1e-4, 1e-6
_checked: dict[Any, str | None] = {}  # (graph, dtype) -> None when it agreed, else why not
log = logging.getLogger(__name__)


def gradient_engine(model: nn.Module, task: Task, engine: str, sample: tuple[Tensor, Tensor] | None = None
                    ) -> MLPGradients | None:
    """The explicit engine for ``model`` when ``engine`` asks for it and it passes its check, else ``None``
    (autograd). ``sample``: a few training examples ``(x, y)`` for the self-check (see the module docstring)."""
    if engine not in ENGINES:
        raise UserError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if engine == "autograd":
        return None
    frozen = [name for name, p in model.named_parameters() if not p.requires_grad]
    found = None if frozen else MLPGradients.of(model, task.loss)  # it computes every parameter's gradient
    if found is None:
        if engine == "explicit":
            raise UserError(f"task {task.name!r}: its network or loss is not one the explicit engine handles "
                            "(Linear, ReLU/LeakyReLU/Tanh/Sigmoid, flatten, residual sums; cross-entropy; no "
                            "frozen parameters); "
                            "use engine='autograd'")
        return None
    if sample is not None:
        problem = self_check(found, model, task, sample)
        if problem is not None:
            if engine == "explicit":
                raise UserError(f"the explicit gradient engine disagrees with autograd here ({problem}); "
                                "use engine='autograd'")
            return None
    return found


def engine_name(engine: MLPGradients | None) -> str:
    return "autograd" if engine is None else "explicit"


def self_check(found: MLPGradients, model: nn.Module, task: Task, sample: tuple[Tensor, Tensor]) -> str | None:
    """``None`` when ``found`` agrees with autograd on ``sample`` (cached per structure and dtype), else why not."""
    params = [p for _, p in model.named_parameters()]
    key = (tuple(found.ops), tuple((tuple(p.shape), p.dtype, p.device.type) for p in params))
    if key not in _checked:
        _checked[key] = _compare(found, model, task, params, sample)
        if _checked[key] is not None:
            log.warning("the explicit gradient engine disagrees with autograd on this torch %s (%s); training "
                        "with autograd instead", torch.__version__, _checked[key])
    return _checked[key]


def _compare(found: MLPGradients, model: nn.Module, task: Task, params: list[Tensor],
             sample: tuple[Tensor, Tensor]) -> str | None:
    x, y = sample[0][:4], sample[1][:4]
    try:
        with torch.enable_grad():
            reference_loss = task.loss_fn(model(x), y)
            reference = torch.autograd.grad(reference_loss, params)
        weights = [p.detach() for p in params]
        loss, _, grads = found.single(weights, x, y)
        stacked = [torch.stack([w, w]) for w in weights]
        losses, _, stacked_grads = found(stacked, x, y, False)
        pairs = [("loss", loss, reference_loss.detach())]
        pairs += [(f"stacked loss {k}", losses[k], reference_loss.detach()) for k in range(2)]
        for name, g, r, sg in zip((n for n, _ in model.named_parameters()), grads, reference, stacked_grads):
            pairs += [(f"gradient of {name}", g, r)] + [(f"stacked gradient of {name}", sg[k], r) for k in range(2)]
        for what, got, want in pairs:
            if got.shape != want.shape or not torch.allclose(got, want, rtol=RTOL, atol=ATOL):
                err = (got - want).abs().max().item() if got.shape == want.shape else float("nan")
                return f"{what} differs by {err:.3g}"
    except Exception as exc:  # noqa: BLE001 - a changed kernel signature shows up as any error: use autograd
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return None
