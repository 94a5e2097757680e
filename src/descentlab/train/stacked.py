"""K copies of one network with their parameters stacked along a leading axis, and their batched forward.

:func:`stack_models` turns K models of one architecture into ``{name: Tensor[K, ...]}`` leaves (row ``k`` is
model ``k``'s tensor, same layout: a Linear weight stays ``[out, in]``, so shape-aware rules such as Muon see
the same matrices). :func:`stacked_forward` returns ``forward(params, x, per_config) -> [K, B, classes]`` where
``x`` is one batch shared by every configuration, ``[B, ...]`` (same seed, or evaluation; ``per_config=False``),
or one batch per configuration, ``[K, B, ...]`` (``per_config=True``).

Two paths, picked by :func:`stacked_forward` (``mode="auto"``):

- ``"bmm"``: the model's program (:meth:`descentlab.train.mlp_gradients.MLPGradients.trace`, the same traced
  program the explicit engine trains with) replayed forward on the stacked parameters: a ``Linear`` is
  :func:`~descentlab.train.mlp_gradients.linear` (``baddbmm`` over the K copies, a shared input broadcast to them
  without a copy), activations, ``Flatten``, sums and other elementwise ops as they are. Autograd differentiates
  it when the explicit engine does not apply. Used when every node of the graph is one the program replays.
- ``"vmap"``: ``torch.func.vmap`` over ``torch.func.functional_call`` — any architecture (convolutions: vmap's
  batching rule turns them into grouped convolutions), with more per-operation overhead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from descentlab.train.mlp_gradients import MLPGradients

Forward = Callable[[dict[str, Tensor], Tensor, bool], Tensor]

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
        program = MLPGradients.trace(model)
        if program is not None:
            return _program_forward(program), "bmm"
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


# --- the batched-matmul path: the model's program ------------------------------------------------------------


def _program_forward(program: MLPGradients) -> Forward:
    def forward(params: dict[str, Tensor], x: Tensor, per_config: bool) -> Tensor:
        return program.forward([params[n] for n in program.names], x, per_config)

    return forward
