"""``compare``: several optimizers (and batch sizes, schedules, seeds) on one task, each with stated
hyperparameters."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from descentlab import optim
from descentlab.errors import UserError
from descentlab.experiments.presets import get_preset
from descentlab.experiments.scheduling import scheduler
from descentlab.optim import external
from descentlab.schedules.spec import schedule_list
from descentlab.tasks import get_task
from descentlab.train import RunConfig


@dataclass(frozen=True)
class CompareSpec:
    """What the user asked for; :meth:`configs` resolves it into one RunConfig per trial.

    ``schedules``: learning-rate schedules (texts of :mod:`descentlab.schedules.spec`, e.g.
    ``"cosine(warmup_steps=0.05)"``), each crossed with the optimizers and batch sizes and resolved per run
    (:mod:`descentlab.experiments.scheduling`); none: a constant learning rate, as before.
    """

    task: str = "mnist1d-mlp"
    optimizers: tuple[str, ...] = ("sgd", "adam", "rmsprop")
    epochs: int | None = None
    batch_sizes: tuple[int | str, ...] | None = None
    lr: float | None = None
    seeds: int = 1
    preset: str = "torch"
    data_dir: str | None = None
    schedules: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """What is stored with the experiment: the fields, and the task's target, which the report reads from here
        (it never looks the task up)."""
        d = asdict(self)
        d.pop("data_dir")  # where the data lives does not change the experiment
        d["target_val_acc"] = get_task(self.task).target_val_acc
        if not self.schedules:  # the specs of experiments made before schedules existed stay the same
            d.pop("schedules")
        else:
            d["schedules"] = [s.label for s in schedule_list(self.schedules)]
        return d

    def configs(self, n_train: int | None = None) -> list[RunConfig]:
        """One RunConfig per trial, in the order batch size → optimizer → schedule → seed; every name and value
        checked first. ``n_train`` (the training split's size) sets the schedules' horizons; by default it is
        read from the task's data when a schedule needs it."""
        task = get_task(self.task)
        preset = get_preset(self.preset)
        items = [external.parse_item(item) for item in self.optimizers]
        entries = [optim.get(ref) for ref, _ in items]  # every name checked before anything runs
        if self.seeds < 1:
            raise UserError(f"--seeds {self.seeds} must be ≥ 1")
        if self.lr is not None and not self.lr > 0:
            raise UserError(f"--lr {self.lr} must be > 0")
        schedules = schedule_list(self.schedules) or (None,)
        scheduled = scheduler(self.task, self.data_dir, n_train)
        batch_sizes = self.batch_sizes or (preset.batch_size or task.default_batch_size,)
        out = []
        for batch_size in batch_sizes:
            for (_, given), entry in zip(items, entries):
                # the preset's values, then --lr for every optimizer, then what this optimizer was given
                hyper = {**preset.overrides(entry.name), **({"lr": self.lr} if self.lr is not None else {}), **given}
                label = external.format_item(entry.name, given) if given else None
                for schedule in schedules:
                    for seed in range(self.seeds):
                        config = RunConfig.build(task, entry.name, hyper, epochs=self.epochs, batch_size=batch_size,
                                                 seed=seed, init=preset.init, label=label)
                        out.append(scheduled(config, schedule))
        return out
