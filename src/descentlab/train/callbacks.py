"""The trainer reports through callbacks only (progress bars, the results store): three no-op hooks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from descentlab.train.config import RunConfig
    from descentlab.train.loop import RunResult


class Callback:
    """Subclass and override what you need. An exception raised in a hook stops the run (and propagates)."""

    def on_run_start(self, config: RunConfig) -> None:
        """Before the first epoch (also when resuming from a checkpoint)."""

    def on_epoch_end(self, epoch: int, metrics: dict[str, Any]) -> None:
        """After each completed epoch (1-based), with that epoch's metrics (see ``descentlab.train.loop``)."""

    def on_run_end(self, result: RunResult) -> None:
        """After the last epoch, or after divergence."""
