"""custom_task and data_task: a user's network and data checked before training, split like the built-ins, and
identified by fingerprints of their code and content."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from descentlab.data import stratified_split
from descentlab.errors import UserError
from descentlab.tasks import custom_task, data_task
from descentlab.tasks.registry import mse


def blobs(n: int = 120, classes: int = 3, features: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    x = rng.normal(size=(n, features)).astype(np.float32) + y[:, None].astype(np.float32)
    return x, y


def net(features: int = 4, out: int = 3):
    return lambda: nn.Sequential(nn.Linear(features, 8), nn.ReLU(), nn.Linear(8, out))


def arrays(**overrides):
    x, y = blobs()
    a = {"x_train": x[:100], "y_train": y[:100], "x_test": x[100:], "y_test": y[100:]}
    a.update(overrides)
    return a


def test_classification_task_splits_like_the_builtins() -> None:
    task = custom_task("My_Blobs", model=net(), data=arrays(), target=0.8, epochs=3, batch_size=16)
    assert task.name == "my-blobs" and task.loss == "cross_entropy" and task.metric == "accuracy"
    assert (task.target_val_acc, task.target_val_loss) == (0.8, None)
    assert (task.default_epochs, task.default_batch_size) == (3, 16)
    splits = task.load(val_fraction=0.2, seed=3)
    keep, held = stratified_split(arrays()["y_train"], 0.2, 3)  # the built-in datasets' split
    assert torch.equal(splits.y_val, torch.from_numpy(arrays()["y_train"][held]))
    assert torch.equal(splits.x_train, torch.from_numpy(arrays()["x_train"][keep]))
    assert splits.num_classes == 3 and splits.input_shape == (4,) and len(splits.y_test) == 20
    assert splits.x_train.dtype == torch.float32 and splits.y_train.dtype == torch.int64
    # the same seed gives the same split; the model is seeded like the built-ins' (same seed, same weights)
    assert torch.equal(task.load(val_fraction=0.2, seed=3).y_val, splits.y_val)
    a, b = task.build_model(1), task.build_model(1)
    assert torch.equal(a[0].weight, b[0].weight) and not torch.equal(a[0].weight, task.build_model(2)[0].weight)


def test_given_validation_split_is_used_as_is_and_tensors_are_accepted() -> None:
    x, y = blobs(150)
    task = custom_task("v", model=net(), x_train=torch.from_numpy(x[:100]), y_train=torch.from_numpy(y[:100]),
                       x_val=x[100:120], y_val=y[100:120], x_test=x[120:], y_test=y[120:])
    splits = task.load(val_fraction=0.5, seed=9)
    assert len(splits.y_train) == 100 and torch.equal(splits.y_val, torch.from_numpy(y[100:120]))


def test_float_targets_are_regression_with_the_loss_as_metric() -> None:
    x, _ = blobs()
    y = x.sum(1, keepdims=True)
    task = custom_task("r", model=net(out=1), x_train=x[:100], y_train=y[:100], x_test=x[100:], y_test=y[100:],
                       target=0.1)
    assert (task.loss, task.metric, task.target_val_loss, task.target_val_acc) == ("mse", "loss", 0.1, None)
    assert task.load().num_classes == 0 and task.load().y_train.dtype == torch.float32
    assert task.identity()["task_metric"] == "loss" and task.identity()["target_val_loss"] == 0.1


def test_mse_matches_torch_for_one_and_several_outputs() -> None:
    out, target = torch.randn(5, 3), torch.randn(5, 3)
    assert torch.allclose(mse(out, target), F.mse_loss(out, target))
    per = ((out - target) ** 2).mean(1)
    assert torch.allclose(mse(out, target, reduction="none"), per)
    assert torch.allclose(mse(out, target, reduction="sum"), per.sum())
    assert torch.allclose(mse(out[:, :1], target[:, 0]), F.mse_loss(out[:, 0], target[:, 0]))  # [N] targets


def test_a_module_instance_is_redrawn_per_seed() -> None:
    task = custom_task("m", model=nn.Linear(4, 3), data=arrays())
    assert not torch.equal(task.build_model(0).weight, task.build_model(1).weight)
    assert torch.equal(task.build_model(0).weight, task.build_model(0).weight)


class OwnWeights(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.randn(4, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.w


def test_an_instance_whose_weights_cannot_be_redrawn_is_refused_not_shared_by_every_seed() -> None:
    with pytest.raises(UserError, match=r"parameter\(s\) w cannot be drawn again per seed .*pass the class"):
        custom_task("m", model=OwnWeights(), data=arrays())
    assert not torch.equal(*(custom_task("m", model=OwnWeights, data=arrays()).build_model(s).w for s in (0, 1)))
    attention = custom_task("m", model=nn.Sequential(nn.Linear(4, 4), nn.Unflatten(1, (1, 4)),
                                                     nn.TransformerEncoderLayer(4, 2, 8, batch_first=True),
                                                     nn.Flatten(), nn.Linear(4, 3)), data=arrays())
    first, second = (attention.build_model(s)[2].self_attn.in_proj_weight for s in (0, 1))
    assert not torch.equal(first, second)  # drawn by MultiheadAttention's _reset_parameters


def test_fingerprint_follows_the_data_and_the_network() -> None:
    base = custom_task("f", model=net(), data=arrays())
    assert custom_task("f", model=net(), data=arrays()).fingerprint == base.fingerprint
    changed = arrays()
    changed["x_test"] = changed["x_test"] + 1
    assert custom_task("f", model=net(), data=changed).data_fingerprint["sha256"] != base.data_fingerprint["sha256"]
    assert custom_task("f", model=net(), data=changed).fingerprint != base.fingerprint
    wider = lambda: nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))  # noqa: E731
    assert custom_task("f", model=wider, data=arrays()).fingerprint != base.fingerprint
    assert base.data_fingerprint["shapes"]["x_train"] == [100, 4]


class TanhNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Linear(4, 8), nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(torch.tanh(self.a(x)))


class ReluNet(TanhNet):  # the same layers, so the same repr; another forward
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(torch.relu(self.a(x)))


def test_fingerprint_follows_the_networks_code_not_only_its_layers() -> None:
    """A notebook that edits forward (same layers, same repr) must not resume the old network's runs."""
    tanh, relu = (custom_task("f", model=m, data=arrays()) for m in (TanhNet, ReluNet))
    assert tanh.structure.replace("TanhNet", "ReluNet") == relu.structure
    assert tanh.fingerprint != relu.fingerprint
    assert custom_task("f", model=TanhNet(), data=arrays()).fingerprint != \
        custom_task("f", model=ReluNet(), data=arrays()).fingerprint  # instances too
    cell = ("class Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
            "        self.a = nn.Linear(4, 3)\n    def forward(self, x):\n        return self.a(x).{}()\n")
    executed = []  # code run by exec, as some notebook front-ends do: its classes' __module__ is "builtins"
    for activation in ("tanh", "relu"):
        space = {"nn": nn}
        exec(cell.format(activation), space)  # noqa: S102 - the test's own code
        executed.append(custom_task("f", model=space["Net"], data=arrays()).fingerprint)
    assert executed[0] != executed[1]
    first = lambda: nn.Sequential(nn.Linear(4, 3), nn.Tanh())  # noqa: E731
    again = lambda: nn.Sequential(nn.Linear(4, 3), nn.Tanh())  # noqa: E731 - the same code on another line
    assert custom_task("f", model=first, data=arrays()).fingerprint == \
        custom_task("f", model=again, data=arrays()).fingerprint  # (a cell run again or moved): the same task

    def zero_bias() -> nn.Module:  # the same layers as nn.Linear(4, 3): another initialisation
        layer = nn.Linear(4, 3)
        nn.init.zeros_(layer.bias)
        return layer

    assert custom_task("f", model=zero_bias, data=arrays()).fingerprint != \
        custom_task("f", model=lambda: nn.Linear(4, 3), data=arrays()).fingerprint


@pytest.mark.parametrize(("change", "message"), [
    ({"x_test": None}, r"missing x_test"),
    ({"y_train": np.zeros(99, dtype=np.int64)}, r"x_train has 100 examples but y_train has 99"),
    ({"x_test": np.zeros((20, 5), np.float32)}, r"x_test has examples of shape \(5,\), x_train of \(4,\)"),
    ({"y_train": np.full(100, -1)}, r"y_train must be class labels"),
    ({"y_train": np.zeros(100, dtype=np.int64), "y_test": np.zeros(20, dtype=np.int64)}, "one class only"),
    ({"y_train": np.ones(100, dtype=np.int64), "y_test": np.ones(20, dtype=np.int64)}, "one class only"),
    ({"y_train": np.ones(100, dtype=np.int64)}, "one class only"),
    ({"x_train": np.full((100, 4), np.nan, np.float32)}, "x_train holds NaN"),
    ({"x_test": np.where(np.arange(80).reshape(20, 4) == 13, np.inf, 0.0)},
     r"x_test holds NaN or infinite values \(the first: example 3, feature 1: inf\)"),
    ({"x_val": np.zeros((3, 4), np.float32)}, "give both x_val and y_val"),
    ({"x_train": np.array(["a"] * 100)}, "must hold numbers"),
])
def test_bad_arrays_are_one_line_user_errors(change, message) -> None:
    with pytest.raises(UserError, match=message):
        custom_task("bad", model=net(), data=arrays(**change))


def test_classes_never_seen_in_training_are_named_and_must_fit_the_network(caplog) -> None:
    x, y = blobs(160, classes=3)
    y_val, y_test = y[100:130].copy(), y[130:].copy()
    y_val[:2], y_test[:5] = 3, 4  # classes 3 and 4: validation and test only
    data = {"x_train": x[:100], "y_train": np.where(y[:100] == 2, 0, y[:100]), "x_val": x[100:130], "y_val": y_val,
            "x_test": x[130:], "y_test": y_test}  # class 2 only outside training too
    seen_2 = {k: int((data[k] == 2).sum()) for k in ("y_val", "y_test")}
    with caplog.at_level("WARNING", logger="descentlab"):
        task = custom_task("unseen", model=net(out=5), data=data)
    assert task.load().num_classes == 5
    assert [r.getMessage() for r in caplog.records] == [
        f"task 'unseen': y_val has class(es) 2, 3 ({seen_2['y_val'] + 2} of its 30 examples); y_test has class(es) "
        f"2, 4 ({seen_2['y_test'] + 5} of its 30 examples) that y_train never has: no training example teaches "
        "them, so each counts as an error in the accuracy"]
    with pytest.raises(UserError, match=r"at least 5 classes \(label 4 is in y_test, never in y_train\)$"):
        custom_task("unseen", model=net(out=4), data=data)
    caplog.clear()
    with caplog.at_level("WARNING", logger="descentlab"):
        custom_task("seen", model=net(), data=arrays())
        custom_task("floats", model=net(out=1), data=arrays(y_train=np.linspace(0, 1, 100),
                                                             y_test=np.zeros(20)))  # true regression targets
        custom_task("said", model=net(out=1), data=arrays(y_train=np.ones(100), y_test=np.zeros(20)), loss="mse")
    assert caplog.records == []  # nothing to say: every class seen; float targets; mse asked for


def test_bad_models_are_caught_before_training() -> None:
    with pytest.raises(UserError, match=r"model raised RuntimeError on two training examples"):
        custom_task("bad", model=lambda: nn.Linear(7, 3), data=arrays())
    with pytest.raises(UserError, match=r"output has shape \(2, 2\).*at least 3 classes"):
        custom_task("bad", model=net(out=2), data=arrays())
    with pytest.raises(UserError, match="not a torch.nn.Module"):
        custom_task("bad", model=lambda: "a network", data=arrays())
    with pytest.raises(UserError, match="the network's 0.weight is float64; the data are float32"):
        custom_task("bad", model=lambda: net()().double(), data=arrays())
    with pytest.raises(UserError, match="model must be"):
        custom_task("bad", model=3, data=arrays())
    with pytest.raises(UserError, match="unknown loss 'hinge'"):
        custom_task("bad", model=net(), data=arrays(), loss="hinge")
    with pytest.raises(UserError, match=r"loss is a name, one of cross_entropy, mse, not a function \(nll_loss\)"):
        custom_task("bad", model=net(), data=arrays(), loss=F.nll_loss)


def test_npz_file_on_the_default_mlp(tmp_path) -> None:
    path = tmp_path / "my_data.npz"
    np.savez(path, **arrays())
    task = data_task(path)
    assert task.name == "my-data" and task.source == str(path) and task.loss == "cross_entropy"
    model = task.build_model(0)
    assert [m.out_features for m in model if isinstance(m, nn.Linear)] == [32, 3]  # H = max(32, 2 · 4)
    x = task.load().x_train
    train = torch.cat([x, task.load().x_val])
    assert torch.allclose(train.mean(0), torch.zeros(4), atol=1e-5)  # standardized with the training data
    np.savez(tmp_path / "short.npz", x_train=arrays()["x_train"], y_train=arrays()["y_train"])
    with pytest.raises(UserError, match=r"short.npz: missing array\(s\) x_test, y_test"):
        data_task(tmp_path / "short.npz")
    (tmp_path / "junk.npz").write_text("not a zip")
    with pytest.raises(UserError, match="not a readable .npz"):
        data_task(tmp_path / "junk.npz")
    with pytest.raises(UserError, match="not found"):
        data_task(tmp_path / "none.npz")


def test_csv_file_label_column_and_test_split(tmp_path) -> None:
    x, y = blobs(100)
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    rows = ["a,b,kind,c,d"] + [f"{r[0]},{r[1]},{n},{r[2]},{r[3]}" for r, n in zip(x, names)]
    path = tmp_path / "flowers.csv"
    path.write_text("\n".join(rows) + "\n")
    task = data_task(path, label_column="kind")
    splits = task.load(val_fraction=0.1, seed=0)
    assert len(splits.y_test) == 20 and len(splits.y_train) + len(splits.y_val) == 80  # 20 % of the rows
    assert splits.num_classes == 3 and splits.input_shape == (4,)
    assert "seed 0" in task.source
    with pytest.raises(UserError, match=r"no column 'species'; the columns are a, b, kind, c, d"):
        data_task(path, label_column="species")
    (tmp_path / "bad.csv").write_text("a,label\n1,0\nx,1\n")
    with pytest.raises(UserError, match=r"bad.csv, line 3: feature value 'x' is not a number"):
        data_task(tmp_path / "bad.csv")
    (tmp_path / "ragged.csv").write_text("a,label\n1,0\n2\n")
    with pytest.raises(UserError, match=r"line 3: 1 values for 2 columns"):
        data_task(tmp_path / "ragged.csv")


def _write_csv(path, x: np.ndarray, labels) -> None:
    path.write_text("a,b,species\n" + "".join(f"{r[0]},{r[1]},{n}\n" for r, n in zip(x, labels)))


def test_csv_test_file_class_names_are_numbered_as_the_training_files(tmp_path) -> None:
    # The test file lacks a class of the training file: 'virginica' is still class 2, as in training (numbering
    # each file's names on its own made it 1, and the test accuracy of a perfect network ~50 %).
    x, y = blobs(60, features=2)
    names = np.array(["setosa", "versicolor", "virginica"])
    _write_csv(tmp_path / "train.csv", x, names[y])
    keep = y != 1
    _write_csv(tmp_path / "test.csv", x[keep], names[y[keep]])
    task = data_task(tmp_path / "train.csv", test=tmp_path / "test.csv")
    splits = task.load(val_fraction=0.1, seed=0)
    assert splits.num_classes == 3
    assert splits.y_test.tolist() == y[keep].tolist()
    _write_csv(tmp_path / "other.csv", x[:3], ["setosa", "daisy", "setosa"])
    with pytest.raises(UserError, match=r"other.csv, line 3: label 'daisy' is no class of .*train.csv; its classes "
                                        r"are setosa, versicolor, virginica"):
        data_task(tmp_path / "train.csv", test=tmp_path / "other.csv")
    _write_csv(tmp_path / "numbers.csv", x[:3], [0, 1, 0])
    with pytest.raises(UserError, match=r"numbers.csv, line 2: label '0' is no class of .*train.csv"):
        data_task(tmp_path / "train.csv", test=tmp_path / "numbers.csv")
    _write_csv(tmp_path / "numeric.csv", x, y)
    _write_csv(tmp_path / "names.csv", x[:3], ["setosa"] * 3)
    with pytest.raises(UserError, match=r"names.csv, line 2: label 'setosa' is not a number, as the labels of "
                                        r".*numeric.csv are"):
        data_task(tmp_path / "numeric.csv", test=tmp_path / "names.csv")


def test_csv_empty_label_is_an_error_not_a_class(tmp_path) -> None:
    x, y = blobs(20, features=2)
    labels = [str(v) for v in y]
    labels[4] = " "
    _write_csv(tmp_path / "gap.csv", x, labels)
    with pytest.raises(UserError, match=r"gap.csv, line 6: the label \(column 'species'\) is empty"):
        data_task(tmp_path / "gap.csv")


def test_a_semicolon_csv_and_a_folder_say_what_is_wrong(tmp_path) -> None:
    (tmp_path / "semi.csv").write_text("a;b;label\n1;2;0\n3;4;1\n")
    with pytest.raises(UserError, match=r"semi.csv: the header 'a;b;label' is one column; descentlab reads "
                                        r"comma-separated files \(this one looks separated by ';'\)"):
        data_task(tmp_path / "semi.csv")
    (tmp_path / "folder.csv").mkdir()
    with pytest.raises(UserError, match=r"data file '.*folder.csv' is a folder, not a file"):
        data_task(tmp_path / "folder.csv")


def test_the_networks_code_fingerprint_is_the_same_in_every_process() -> None:
    """A set literal in forward is a frozenset constant whose repr's order follows PYTHONHASHSEED: the same
    notebook run in another process must resume, not start a new experiment."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    import descentlab

    code = (
        "import numpy as np, torch\nfrom torch import nn\nfrom descentlab.tasks import custom_task\n"
        "class Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.a = nn.Linear(4, 3)\n        self.act = 'th'\n"
        "    def forward(self, x):\n"
        "        return self.a(x).tanh() if self.act in {'tanh', 'th', 'hyperbolic', 't'} else self.a(x)\n"
        "x = np.arange(40, dtype=np.float32).reshape(10, 4); y = np.arange(10) % 2\n"
        "print(custom_task('f', model=Net, x_train=x, y_train=y, x_test=x, y_test=y).fingerprint)\n")
    src = str(Path(descentlab.__file__).parents[1])
    printed = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                              env={**os.environ, "PYTHONPATH": src, "PYTHONHASHSEED": seed}).stdout
               for seed in ("1", "2", "3")}
    assert len(printed) == 1 and len(printed.pop().strip()) == 64


def test_a_lazy_network_is_materialized_per_seed_before_training() -> None:
    """nn.LazyLinear has no weights until a first forward: each build runs one (on two training examples, seeded,
    in evaluation mode), so the optimizer sees real parameters, seeds differ and a seed repeats."""
    from descentlab.train import RunConfig, train

    def lazy() -> nn.Module:
        return nn.Sequential(nn.LazyLinear(8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))

    task = custom_task("lazy", model=lazy, data=arrays(), epochs=2)
    a, b, again = task.build_model(0), task.build_model(1), task.build_model(0)
    assert a[0].weight.shape == (8, 4) and not torch.equal(a[0].weight, b[0].weight)
    assert torch.equal(a[0].weight, again[0].weight) and a.training
    assert torch.equal(a[1].running_mean, torch.zeros(8))  # the materializing pass moved no statistics
    result = train(RunConfig.build(task, "adam", {"lr": 1e-2}), task=task)
    assert result.status == "completed" and result.epochs[-1]["train_loss"] < result.epochs[0]["train_loss"]


class _MapDataset(torch.utils.data.Dataset):
    """Map-style, numpy items and int labels; indexing past len works (so plain iteration would read too far)."""

    def __init__(self, x: np.ndarray, y: np.ndarray, n: int) -> None:
        self.x, self.y, self.n = x, y, n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int):
        return self.x[i], int(self.y[i])


class _Stream(torch.utils.data.IterableDataset):
    def __init__(self, x: np.ndarray, y: np.ndarray) -> None:
        self.x, self.y = x, y

    def __iter__(self):
        for xi, yi in zip(self.x, self.y):
            yield torch.from_numpy(xi), torch.tensor(yi)


def test_torch_datasets_of_pairs_are_the_same_task_as_their_arrays() -> None:
    from torch.utils.data import DataLoader, TensorDataset

    x, y = blobs()
    reference = custom_task("d", model=net(), data=arrays())
    test = TensorDataset(torch.from_numpy(x[100:]), torch.from_numpy(y[100:]))
    tensors = TensorDataset(torch.from_numpy(x[:100]), torch.from_numpy(y[:100]))
    for train in (tensors, _MapDataset(x, y, 100), _Stream(x[:100], y[:100]), DataLoader(tensors, batch_size=32)):
        task = custom_task("d", model=net(), x_train=train, x_test=test)
        assert task.data_fingerprint == reference.data_fingerprint, type(train).__name__
        assert task.fingerprint == reference.fingerprint


@pytest.mark.parametrize(("given", "message"), [
    ({"x_train": "loader-shuffled"}, "x_train is a shuffling DataLoader; pass its dataset"),
    ({"x_train": "tensors", "y_train": np.zeros(100)}, "x_train is a dataset of \\(x, y\\) pairs; give no y_train"),
    ({"x_train": "singles"}, "x_train yields Tensor items; a dataset given as x_train must yield \\(x, y\\) pairs"),
])
def test_bad_datasets_are_one_line_user_errors(given, message) -> None:
    from torch.utils.data import DataLoader, TensorDataset

    x, y = blobs()
    class Singles(torch.utils.data.IterableDataset):  # yields x alone, no labels
        def __iter__(self):
            return iter([torch.zeros(4)] * 3)

    made = {"loader-shuffled": DataLoader(TensorDataset(torch.from_numpy(x), torch.from_numpy(y)), shuffle=True),
            "tensors": TensorDataset(torch.from_numpy(x[:100]), torch.from_numpy(y[:100])), "singles": Singles()}
    kwargs = {k: made[v] if isinstance(v, str) else v for k, v in given.items()}
    with pytest.raises(UserError, match=message):
        custom_task("d", model=net(), x_test=x[100:], y_test=y[100:], **kwargs)


def test_a_training_set_too_small_to_hold_out_validation_is_one_line() -> None:
    """5 examples × 10 % rounds to none: every table's validation column and a sweep's choice would be empty."""
    x, y = blobs(n=9, classes=2)
    task = custom_task("tiny", model=net(out=2), x_train=x[:5], y_train=y[:5], x_test=x[5:], y_test=y[5:],
                       batch_size="full")
    with pytest.raises(UserError, match="holding out 0.1 of its 5 training examples for validation leaves none to "
                                        "validate on; give x_val and y_val"):
        task.load()
    assert len(task.load(val_fraction=0.2).y_val) == 1
    given = custom_task("tiny", model=net(out=2), x_train=x[:5], y_train=y[:5], x_val=x[5:7], y_val=y[5:7],
                        x_test=x[5:], y_test=y[5:], batch_size="full")
    assert len(given.load().y_val) == 2


def test_a_csv_missing_value_names_its_line_and_a_dataframe_its_text_columns(tmp_path) -> None:
    import pandas as pd

    path = tmp_path / "nan.csv"
    path.write_text("a,b,label\n" + "".join(f"{i},{'nan' if i == 3 else i},{i % 2}\n" for i in range(20)))
    with pytest.raises(UserError, match=r"nan.csv, line 5: feature value nan is not a finite number"):
        data_task(path)
    x, y = blobs()
    frame = pd.DataFrame(x[:100], columns=list("abcd")).assign(city="x")
    with pytest.raises(UserError, match=r"x_train must hold numbers, got dtype object \(column\(s\) city\)"):
        custom_task("f", model=net(), data=arrays(x_train=frame))
