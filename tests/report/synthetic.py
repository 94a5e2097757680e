"""A temporary store filled with synthetic but realistic experiments, for the report tests.

Every number follows a closed formula (below), so tests can compute the expected summaries by hand:

- ``final_val = BASE_VAL[opt] + 0.01 * seed``; ``val_acc(e) = final_val - (final_val - 0.1) * (1 - e / E) ** 2``
- ``test_acc(e) = val_acc(e) - 0.02``; ``train_acc(e) = val_acc(e) + 0.03``
- ``final_loss = BASE_LOSS[opt] + 0.005 * seed``; ``loss(e) = final_loss + (2.3 - final_loss) * (1 - e / E) ** 2``
  (train; validation and test losses are 1.1× and 1.15× that)
- ``seconds = SECONDS[opt] * (1 + 0.1 * seed)`` per epoch, ``STEPS_PER_EPOCH`` steps per epoch,
  ``state_bytes = STATE_BYTES[opt]``.

Experiments, in order (so ``last`` is the batch-size comparison):

1. compare: sgd, momentum, adam, rmsprop × seeds 0, 1, 2 × 10 epochs; rmsprop seed 1 diverged at step
   ``DIVERGED_STEP`` (epochs 1–5 finite, epochs 6–7 NaN losses, then it stopped).
2. sweep: sgd at 5 learning rates, adam at 4 (adam at lr 1 diverged for every seed, with no epoch stored) × 3 seeds
   × 5 epochs; ``final_val`` there is ``SWEEP_VAL[opt][lr] + 0.01 * seed``.
3. compare: adam with batch sizes "full", 1, 32 × 3 seeds × 10 epochs.
"""

from __future__ import annotations

import math
from pathlib import Path

from descentlab.store import Store, trial_key

OPTIMIZERS = ("sgd", "momentum", "adam", "rmsprop")
SEEDS = (0, 1, 2)
EPOCHS = 10
BASE_VAL = {"sgd": 0.80, "momentum": 0.86, "adam": 0.90, "rmsprop": 0.88}
BASE_LOSS = {"sgd": 0.60, "momentum": 0.40, "adam": 0.30, "rmsprop": 0.35}
SECONDS = {"sgd": 1.0, "momentum": 1.1, "adam": 1.5, "rmsprop": 1.3}
PARAMS = 25_000
STATE_BYTES = {"sgd": 0, "momentum": 4 * PARAMS, "adam": 8 * PARAMS + 8, "rmsprop": 4 * PARAMS}
STEPS_PER_EPOCH = 100
DIVERGED = ("rmsprop", 1)
DIVERGED_STEP = 530
TARGET = 0.8
HYPERPARAMETERS = {
    "sgd": {"lr": 0.1, "momentum": 0.0, "weight_decay": 0.0},
    "momentum": {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.0},
    "adam": {"lr": 0.001, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.0},
    "rmsprop": {"lr": 0.001, "alpha": 0.99, "eps": 1e-8, "centered": False},
}
SWEEP_LRS = {"sgd": (0.001, 0.01, 0.1, 0.3, 1.0), "adam": (0.0001, 0.001, 0.01, 1.0)}
SWEEP_VAL = {"sgd": {0.001: 0.5, 0.01: 0.7, 0.1: 0.84, 0.3: 0.82, 1.0: 0.6},
             "adam": {0.0001: 0.8, 0.001: 0.9, 0.01: 0.86, 1.0: math.nan}}
SWEEP_EPOCHS = 5
BATCH_SIZES = ("full", 1, 32)
ENV = {
    "versions": {"descentlab": "0.1.0", "torch": "2.13.0+cpu", "numpy": "2.3.4"},
    "python": "3.12.3", "platform": "Linux-6.1-x86_64-with-glibc2.36", "cpu": "Synthetic CPU @ 2.0GHz",
    "cpu_count": 2, "torch_threads": 2, "cuda": None, "git": "abc1234",
}


def final_val(opt: str, seed: int) -> float:
    return BASE_VAL[opt] + 0.01 * seed


def val_acc(final: float, epoch: int, epochs: int) -> float:
    return final - (final - 0.1) * (1 - epoch / epochs) ** 2


def loss(final: float, epoch: int, epochs: int) -> float:
    return final + (2.3 - final) * (1 - epoch / epochs) ** 2


def epochs_of(opt: str, seed: int, val_final: float, loss_final: float, epochs: int, batch_size=32) -> list[dict]:
    steps = {"full": 1, 1: 900}.get(batch_size, STEPS_PER_EPOCH)
    seconds = SECONDS[opt] * (1 + 0.1 * seed) * {"full": 0.2, 1: 6.0}.get(batch_size, 1.0)
    rows = []
    for e in range(1, epochs + 1):
        v, tl = val_acc(val_final, e, epochs), loss(loss_final, e, epochs)
        rows.append({
            "epoch": e, "train_loss": tl, "train_acc": v + 0.03, "val_loss": 1.1 * tl, "val_acc": v,
            "test_loss": 1.15 * tl, "test_acc": v - 0.02, "lr": HYPERPARAMETERS[opt]["lr"], "seconds": seconds,
            "eval_seconds": 0.05, "elapsed": e * seconds, "steps": e * steps, "steps_per_s": steps / seconds,
            "state_bytes": STATE_BYTES[opt], "peak_memory_bytes": None,
        })
    return rows


def _config(task: str, opt: str, hp: dict, epochs: int, batch_size, seed: int) -> dict:
    return {"task": task, "optimizer": opt, "hyperparameters": hp, "epochs": epochs, "batch_size": batch_size,
            "seed": seed, "init": "torch", "schedule": None, "val_fraction": 0.1, "data_seed": 0}


def _record(store: Store, exp: int, config: dict, rows: list[dict], status="completed", step=None) -> int:
    return store.record_run(exp, trial_key(config), task=config["task"], optimizer=config["optimizer"],
                            seed=config["seed"], config=config, epochs=rows, status=status, diverged_step=step,
                            summary={"epochs": len(rows)})


def add_compare(store: Store) -> int:
    spec = {"task": "mnist1d-mlp", "optimizers": list(OPTIMIZERS), "seeds": list(SEEDS), "epochs": EPOCHS,
            "target_val_acc": TARGET}
    exp = store.create_experiment("compare", spec, ENV, name="four optimizers")
    for opt in OPTIMIZERS:
        for seed in SEEDS:
            config = _config("mnist1d-mlp", opt, HYPERPARAMETERS[opt], EPOCHS, 32, seed)
            rows = epochs_of(opt, seed, final_val(opt, seed), BASE_LOSS[opt] + 0.005 * seed, EPOCHS)
            if (opt, seed) == DIVERGED:
                rows = rows[:7]
                for row in rows[5:]:
                    row.update(train_loss=math.nan, val_loss=math.nan, test_loss=math.nan, train_acc=0.1,
                               val_acc=0.1, test_acc=0.1)
                _record(store, exp, config, rows, "diverged", DIVERGED_STEP)
            else:
                _record(store, exp, config, rows)
    return exp


def add_sweep(store: Store) -> int:
    spec = {"task": "mnist1d-mlp", "optimizers": list(SWEEP_LRS), "lr": [1e-4, 1.0], "seeds": list(SEEDS),
            "epochs": SWEEP_EPOCHS, "target_val_acc": TARGET}
    exp = store.create_experiment("sweep", spec, ENV)
    for opt, lrs in SWEEP_LRS.items():
        for lr in lrs:
            for seed in SEEDS:
                config = _config("mnist1d-mlp", opt, {**HYPERPARAMETERS[opt], "lr": lr}, SWEEP_EPOCHS, 32, seed)
                if math.isnan(SWEEP_VAL[opt][lr]):
                    _record(store, exp, config, [], "diverged", 3 + seed)
                    continue
                rows = epochs_of(opt, seed, SWEEP_VAL[opt][lr] + 0.01 * seed, BASE_LOSS[opt], SWEEP_EPOCHS)
                _record(store, exp, config, rows)
    return exp


def add_batch_sizes(store: Store) -> int:
    spec = {"task": "mnist1d-mlp", "optimizers": ["adam"], "batch_sizes": list(BATCH_SIZES), "seeds": list(SEEDS),
            "epochs": EPOCHS, "target_val_acc": TARGET}
    exp = store.create_experiment("compare", spec, ENV, name="batch sizes")
    for batch_size in BATCH_SIZES:
        shift = {"full": -0.2, 1: -0.05, 32: 0.0}[batch_size]
        for seed in SEEDS:
            config = _config("mnist1d-mlp", "adam", HYPERPARAMETERS["adam"], EPOCHS, batch_size, seed)
            rows = epochs_of("adam", seed, final_val("adam", seed) + shift, BASE_LOSS["adam"] - shift, EPOCHS,
                             batch_size)
            _record(store, exp, config, rows)
    return exp


def build_store(path: Path) -> Path:
    """Write the three experiments to a new store at ``path`` and return the path."""
    with Store(path) as store:
        add_compare(store)
        add_sweep(store)
        add_batch_sizes(store)
    return path
