"""Optimizers from anywhere (optim/external.py, optim/registry.py): references, hyperparameters, identity,
plugins, and what the workbench does with them."""

from __future__ import annotations

import contextlib
import io
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from descentlab import optim
from descentlab.cli import main
from descentlab.errors import UserError
from descentlab.experiments.compare import CompareSpec
from descentlab.experiments.runner import open_experiment, train_stored
from descentlab.optim import external
from descentlab.optim import registry as optim_registry
from descentlab.store import Store
from descentlab.train import RunConfig, train
from descentlab.train.vectorized import train_vectorized, unsupported_reason
from tests.plugin_site import install_plugin
from tests.train.conftest import synthetic_splits

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def splits():
    return synthetic_splits()


@pytest.fixture
def task():
    from functools import partial

    from descentlab.tasks import Task
    from descentlab.tasks.models import mlp

    return Task("synthetic-mlp", "synthetic", partial(mlp, 8, 16, 3), 3, 16, 0.8, "blobs for tests")


def test_items_split_at_top_level_commas_and_parse_literals():
    assert external.split_items("adam(lr=1e-3,betas=(0.9,0.99)),sgd, x.py:Y") == [
        "adam(lr=1e-3,betas=(0.9,0.99))", "sgd", "x.py:Y"]
    assert external.parse_item("sgd(lr=0.1, momentum=0.9, nesterov=True)") == (
        "sgd", {"lr": 0.1, "momentum": 0.9, "nesterov": True})
    assert external.parse_item("pkg.mod:Opt(betas=(0.9, 0.95), name='x')") == (
        "pkg.mod:Opt", {"betas": (0.9, 0.95), "name": "x"})
    assert external.format_item("sgd", {"momentum": 0.9, "lr": 0.1}) == "sgd(lr=0.1,momentum=0.9)"


@pytest.mark.parametrize("text, message", [
    ("adam(lr=", "unbalanced '\\('"), ("adam)", "unbalanced '\\)'"), ("adam(3e-3)", "key=value"),
    ("adam(lr=x)", "must be a Python literal"), ("adam(lr=1e400)", "not a finite number"),
    ("(lr=1)", "no name before"), ("adam(lr=1)x", "parentheses at the end"), ("adam(**d)", "'\\*\\*' is not"),
])
def test_bad_items_are_one_line_user_errors(text, message):
    with pytest.raises(UserError, match=message):
        external.parse_item(external.split_items(text)[0])


def test_an_optimizer_given_what_it_needs_is_built(tmp_path):
    path = _write(tmp_path, "opts.py", FACTORY)
    entry = optim.get(f"{path}:needs_lr_and_scale")
    with pytest.raises(UserError, match=r"needs scale \(no default in its signature\); give it"):
        entry.hyperparameters({"lr": 0.1})
    assert entry.hyperparameters({"lr": 0.1, "scale": 2.0}) == {"lr": 0.1, "scale": 2.0, "mode": "a"}


def test_a_torch_class_by_module_reference_with_signature_defaults():
    entry = optim.get("torch.optim:Adam")
    assert entry.name == "torch.optim:Adam" and entry.source == "module torch.optim" and not entry.is_rule
    h = entry.hyperparameters({"lr": 3e-3})
    assert h["lr"] == 3e-3 and h["betas"] == (0.9, 0.999) and h["eps"] == 1e-8 and h["amsgrad"] is False
    with pytest.raises(UserError, match="takes no hyperparameter 'momentum'; it takes: .*amsgrad"):
        entry.hyperparameters({"momentum": 0.9})
    with pytest.raises(UserError, match="refused .*ValueError: Invalid learning rate"):
        entry.hyperparameters({"lr": -1.0})


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


FACTORY = """
    import torch

    def heavy_ball(params, lr=0.05, momentum=0.5):
        return torch.optim.SGD(params, lr=lr, momentum=momentum)

    not_an_optimizer = 3

    def returns_junk(params, lr=0.1):
        return "junk"

    def needs_lr_and_scale(params, lr, scale, *, mode="a"):
        return torch.optim.SGD(params, lr=lr * scale)

    class Exploding(torch.optim.Optimizer):
        def __init__(self, params, lr=0.1):
            super().__init__(params, {"lr": lr})

        def step(self, closure=None):
            raise RuntimeError("kaboom in step")
    """


def test_a_factory_from_a_file_trains_like_the_class_it_builds(tmp_path, task, splits):
    path = _write(tmp_path, "opts.py", FACTORY)
    entry = optim.get(f"{path}:heavy_ball")
    assert entry.hyperparameters({}) == {"lr": 0.05, "momentum": 0.5} and entry.source.startswith("file ")
    mine = train(RunConfig.build(task, f"{path}:heavy_ball", {"lr": 0.1}, epochs=2), task=task, splits=splits)
    ref = train(RunConfig.build(task, "torch.optim:SGD", {"lr": 0.1, "momentum": 0.5}, epochs=2), task=task,
                splits=splits)
    assert [e["train_loss"] for e in mine.epochs] == [e["train_loss"] for e in ref.epochs]


@pytest.mark.parametrize("ref, message", [
    ("{path}:not_an_optimizer", "is a int, not a torch.optim.Optimizer"),
    ("{path}:missing", "has no 'missing'"),
    ("{dir}/nope.py:X", "no file"),
    ("no_such_module_xyz:X", "cannot import module 'no_such_module_xyz'"),
    ("{path}:returns_junk", "returned a str, not a torch.optim.Optimizer"),
    ("{path}:needs_lr_and_scale", r"needs lr, scale \(no default in its signature\); give them: "
                                  r"'.*opts.py:needs_lr_and_scale\(lr=..., scale=...\)'"),
])
def test_bad_references_are_one_line_user_errors(tmp_path, ref, message):
    path = _write(tmp_path, "opts.py", FACTORY)
    with pytest.raises(UserError, match=message):
        optim.get(ref.format(path=path, dir=tmp_path)).hyperparameters({})


def test_a_file_that_fails_to_import_names_the_file_and_the_error(tmp_path):
    path = _write(tmp_path, "broken.py", "import torch\nraise ImportError('needs flash-attn')\n")
    with pytest.raises(UserError, match=r"broken.py failed to import: ImportError: needs flash-attn"):
        optim.get(f"{path}:X")


def test_editing_the_code_changes_every_runs_identity(tmp_path, task, monkeypatch):
    path = _write(tmp_path, "opts.py", FACTORY)
    before = RunConfig.build(task, f"{path}:heavy_ball", {})
    assert before.to_dict()["code"] == {"optimizer": optim.get(f"{path}:heavy_ball").fingerprint}
    path.write_text(path.read_text() + "\n# tuned\n")
    monkeypatch.setattr(optim_registry, "_references", {})  # a new process would load it afresh
    for name in [n for n in sys.modules if n.startswith("descentlab_user_")]:
        monkeypatch.delitem(sys.modules, name)
    after = RunConfig.build(task, f"{path}:heavy_ball", {})
    assert before.digest() != after.digest()
    assert RunConfig.build(task, "adam", {}).to_dict()["descentlab"]  # the library's version is in every identity


def test_a_rule_from_a_file_is_vectorized_and_equals_its_loop(task, splits):
    ref = f"{EXAMPLES / 'signum_rule.py'}:Signum"
    configs = [RunConfig.build(task, ref, {"lr": lr}, epochs=2) for lr in (0.01, 0.03)]
    assert unsupported_reason(configs[0]) is None
    stacked = train_vectorized(configs, task=task, splits=splits)
    for c, many in zip(configs, stacked):
        one = train(c, task=task, splits=splits)
        for a, b in zip(one.model.parameters(), many.model.parameters()):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
    foreign = RunConfig.build(task, f"{EXAMPLES / 'my_optimizer.py'}:SignSGD", {})
    assert "not a descentlab rule" in unsupported_reason(foreign)


def test_signum_rule_matches_the_papers_update():
    from importlib import import_module

    sys.path.insert(0, str(EXAMPLES))
    try:
        signum = import_module("signum_rule")
    finally:
        sys.path.remove(str(EXAMPLES))
    p = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64, requires_grad=True)
    opt = signum.Signum([p], lr=0.1, momentum=0.8)
    expected, m = p.detach().clone(), torch.zeros(3, dtype=torch.float64)
    for g in ([0.3, -0.1, 0.0], [-1.0, 0.2, 0.4], [0.5, 0.5, -2.0]):
        g = torch.tensor(g, dtype=torch.float64)
        p.grad = g.clone()
        opt.step()
        m = 0.8 * m + 0.2 * g
        expected -= 0.1 * torch.sign(m)
    torch.testing.assert_close(p.detach(), expected, rtol=0, atol=1e-15)


def test_compare_gives_each_item_its_own_hyperparameters_and_label(task):
    spec = CompareSpec(task="digits-mlp", optimizers=("sgd(lr=0.1,momentum=0.9)", "sgd", "torch.optim:Adam(lr=0.01)"),
                       lr=0.05)
    configs = spec.configs()
    assert [c.hyperparameters["lr"] for c in configs] == [0.1, 0.05, 0.01]  # the item's value beats --lr
    assert [c.display_name for c in configs] == ["sgd(lr=0.1,momentum=0.9)", "sgd", "torch.optim:Adam(lr=0.01)"]
    assert configs[0].hyperparameters["momentum"] == 0.9 and configs[1].hyperparameters["momentum"] == 0


def test_a_run_whose_optimizer_raises_is_stored_failed_and_the_others_go_on(tmp_path):
    path = _write(tmp_path, "opts.py", FACTORY)
    configs = [RunConfig.build("digits-mlp", f"{path}:Exploding", {}, epochs=1),
               RunConfig.build("digits-mlp", "sgd", {}, epochs=1)]
    with Store(tmp_path / "s.sqlite") as store:
        eid, todo, _ = open_experiment(store, "compare", {"t": 1}, configs, env={})
        results = [train_stored(t, store=store, experiment_id=eid, splits=None) for t in todo]
        assert [r.status for r in results] == ["failed", "completed"]
        assert results[0].error == "RuntimeError: kaboom in step"
        runs = store.runs(eid)
        assert [r.status for r in runs] == ["failed", "completed"]
        assert runs[0].summary["error"] == "RuntimeError: kaboom in step"


def test_an_optimizer_that_returns_nan_diverges_and_is_reported(tmp_path, task, splits):
    path = _write(tmp_path, "nan_opt.py", """
        import torch

        class NaNOpt(torch.optim.Optimizer):
            def __init__(self, params, lr=0.1):
                super().__init__(params, {"lr": lr})

            @torch.no_grad()
            def step(self, closure=None):
                for group in self.param_groups:
                    for p in group["params"]:
                        p.fill_(float("nan"))
        """)
    result = train(RunConfig.build(task, f"{path}:NaNOpt", {}, epochs=2), task=task, splits=splits)
    assert result.status == "diverged" and result.diverged_step == 2 and result.epochs == []


PLUGIN = """
    import torch

    class PluginSGD(torch.optim.SGD):
        '''Plain SGD, shipped by a plugin.'''
    """


def test_plugins_register_through_entry_points(tmp_path, monkeypatch):
    install_plugin(tmp_path / "site", monkeypatch, package="descentlab_test_plugin", dist="descentlab-test-plugin",
                   version="1.2.3", code=PLUGIN,
                   entry_points="[descentlab.optimizers]\nplugin-sgd = descentlab_test_plugin:PluginSGD\n")
    monkeypatch.setattr(optim_registry, "_plugins_loaded", False)
    monkeypatch.setattr(optim_registry.REGISTRY, "_items", dict(optim_registry.REGISTRY._items))
    monkeypatch.setattr(optim_registry.REGISTRY, "_sources", dict(optim_registry.REGISTRY._sources))
    assert "plugin-sgd" in optim.names()
    entry = optim.get("Plugin-SGD")
    assert entry.source.startswith("plugin descentlab-test-plugin 1.2.3")
    assert entry.summary == "Plain SGD, shipped by a plugin."
    assert entry.hyperparameters({"lr": 0.2})["lr"] == 0.2 and entry.fingerprint
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["list", "optimizers"]) == 0
    line = next(line for line in out.getvalue().splitlines() if "plugin-sgd" in line)
    assert "plugin" in line and "descentlab_test_plugin.PluginSGD" in line


def test_the_report_shows_a_foreign_optimizers_hyperparameters_and_code(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(EXAMPLES.parent)
    store, md = tmp_path / "s.sqlite", tmp_path / "r.md"
    assert main(["compare", "--task", "digits-mlp", "--epochs", "1", "--quiet", "--store", str(store),
                 "--optimizers", "adam,examples/my_optimizer.py:SignSGD(lr=0.02)"]) == 0
    assert main(["report", "last", "--store", str(store), "--md", str(md)]) == 0
    capsys.readouterr()
    text = md.read_text()
    table = text[text.index("## Resolved hyperparameters"):].split("\n\n")[1].splitlines()
    assert table[0].split("|")[-2].strip() == "code"
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]] for line in table[2:]}
    fingerprint = optim.get("examples/my_optimizer.py:SignSGD").fingerprint
    assert rows["examples/my_optimizer.py:SignSGD(lr=0.02)"][-1] == f"sha256 {fingerprint[:12]}"
    assert rows["adam"][-1] == "descentlab"
