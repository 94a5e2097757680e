"""The classic Keras/TensorFlow program on Fashion-MNIST, as the reference of ``keras_side_by_side.py``.

Runs in its own virtual environment (TensorFlow is a benchmark-only dependency, never in the project's venv):

    .venv-keras/bin/python benchmarks/keras_program.py --data-dir /usr/share/datasets/fashion-mnist \
        --split split.npz --optimizers sgd,adam,rmsprop --seeds 3 --epochs 5 --json out.json

For every optimizer and seed: ``keras.utils.set_random_seed(seed)``, then the program of the TensorFlow beginner
tutorial, unchanged apart from the data it trains on::

    model = keras.Sequential([Input((28, 28)), Flatten(), Dense(128, activation="relu"), Dense(10)])
    model.compile(optimizer=name, loss=SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    model.fit(x_train / 255, y_train, epochs=5, batch_size=32, validation_data=(x_val / 255, y_val))
    model.evaluate(x_test / 255, y_test)

``--split`` names an ``.npz`` with ``train_idx`` and ``val_idx`` (indices into the 60 000 training images):
the harness writes descentlab's own split there, so both sides train on the same 54 000 images and validate
on the same 6 000. Without it, Keras trains on all 60 000 (no validation). The IDX files are parsed with
numpy here; nothing is downloaded.

Prints (and with ``--json`` writes) one JSON object: versions, thread settings, and per run the training
seconds of every epoch (from ``on_epoch_begin`` to the start of the epoch's validation), the epoch's wall
seconds including validation, and the final test accuracy and loss.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import sys
import time
from pathlib import Path

T_START = time.perf_counter()


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--split", help="npz with train_idx / val_idx (descentlab's validation split)")
    p.add_argument("--optimizers", default="sgd,adam,rmsprop")
    p.add_argument("--seeds", type=int, default=3, help="seeds 0 .. N-1")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--threads", type=int, help="TensorFlow intra- and inter-op threads (default: TF's)")
    p.add_argument("--json", help="also write the result here")
    return p.parse_args(argv)


def read_idx(path: Path):
    import numpy as np

    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if raw[:2] != b"\0\0" or raw[2] != 0x08:
        raise SystemExit(f"{path}: not a uint8 IDX file")
    ndim = raw[3]
    shape = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(shape)


def find(data_dir: Path, stem: str) -> Path:
    for name in (stem + ".gz", stem):
        if (data_dir / name).is_file():
            return data_dir / name
    raise SystemExit(f"{stem}(.gz) not found in {data_dir}")


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads:
        os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import numpy as np
    import tensorflow as tf

    if args.threads:  # must happen before the runtime starts
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    import keras

    t_import = time.perf_counter() - T_START
    d = Path(args.data_dir)
    x_all = read_idx(find(d, "train-images-idx3-ubyte"))
    y_all = read_idx(find(d, "train-labels-idx1-ubyte"))
    x_test = read_idx(find(d, "t10k-images-idx3-ubyte")) / 255.0
    y_test = read_idx(find(d, "t10k-labels-idx1-ubyte"))
    if args.split:
        with np.load(args.split) as f:
            train_idx, val_idx = f["train_idx"], f["val_idx"]
        x_train, y_train = x_all[train_idx] / 255.0, y_all[train_idx]
        validation = (x_all[val_idx] / 255.0, y_all[val_idx])
    else:
        x_train, y_train, validation = x_all / 255.0, y_all, None
    t_data = time.perf_counter() - T_START

    class Timer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.train_s, self.epoch_s = [], []

        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.perf_counter()
            self.t_val = None

        def on_test_begin(self, logs=None):  # the epoch's validation starts: training is over
            if self.t_val is None:
                self.t_val = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            end = time.perf_counter()
            self.train_s.append((self.t_val or end) - self.t0)
            self.epoch_s.append(end - self.t0)

    runs = []
    for name in args.optimizers.split(","):
        for seed in range(args.seeds):
            keras.utils.set_random_seed(seed)
            model = keras.Sequential([
                keras.Input(shape=(28, 28)),
                keras.layers.Flatten(),
                keras.layers.Dense(128, activation="relu"),
                keras.layers.Dense(10),
            ])
            model.compile(optimizer=name,
                          loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                          metrics=["accuracy"])
            timer = Timer()
            t0 = time.perf_counter()
            hist = model.fit(x_train, y_train, epochs=args.epochs, batch_size=args.batch_size,
                             validation_data=validation, callbacks=[timer], verbose=0)
            t_fit = time.perf_counter() - t0
            test_loss, test_acc = model.evaluate(x_test, y_test, batch_size=args.batch_size, verbose=0)
            opt = model.optimizer
            run = {"optimizer": name, "seed": seed, "train_seconds": timer.train_s,
                   "epoch_seconds": timer.epoch_s, "fit_seconds": t_fit,
                   "test_acc": float(test_acc), "test_loss": float(test_loss),
                   "val_acc": [float(v) for v in hist.history.get("val_accuracy", [])],
                   "train_loss": [float(v) for v in hist.history["loss"]],
                   "optimizer_config": {k: (v if isinstance(v, (int, float, str, bool, type(None))) else str(v))
                                        for k, v in opt.get_config().items()},
                   "jit_compile": bool(getattr(model, "jit_compile", False))}
            runs.append(run)
            print(f"keras {name} seed {seed}: test acc {test_acc:.4f}, train s/epoch "
                  + " ".join(f"{s:.2f}" for s in timer.train_s), file=sys.stderr, flush=True)

    out = {
        "python": platform.python_version(), "tensorflow": tf.__version__, "keras": keras.__version__,
        "numpy": np.__version__, "threads": args.threads,
        "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
        "n_train": int(len(y_train)), "n_val": int(len(validation[1])) if validation else 0,
        "n_test": int(len(y_test)), "import_seconds": t_import, "data_seconds": t_data - t_import,
        "total_seconds": time.perf_counter() - T_START, "runs": runs,
    }
    text = json.dumps(out)
    if args.json:
        Path(args.json).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
