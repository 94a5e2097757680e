"""The trainer reports through callbacks only (progress bars, the results store, the learning-rate range test)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from descentlab.train.config import RunConfig
    from descentlab.train.loop import RunResult


class Callback:
    """Subclass and override what you need. An exception raised in a hook stops the run (and propagates).

    ``per_step``: a callback that sets it ``True`` also receives :meth:`on_step` for every update (which costs
    one device synchronisation per update to read the loss); the others never do.
    """

    per_step: bool = False

    def on_step(self, step: int, lr: float | None, loss: float) -> bool | None:
        """After the forward pass of the 0-based update ``step`` (learning rate ``lr``, batch loss ``loss``), before
        the update itself. Return ``True`` to end the run here: the update is not made, the unfinished epoch is not
        reported, and the run counts as completed."""
        return None

    def on_run_start(self, config: RunConfig) -> None:
        """Before the first epoch (also when resuming from a checkpoint)."""

    def on_epoch_end(self, epoch: int, metrics: dict[str, Any]) -> None:
        """After each completed epoch (1-based), with that epoch's metrics (see ``descentlab.train.loop``)."""

    def on_run_end(self, result: RunResult) -> None:
        """After the last epoch, or after divergence."""
