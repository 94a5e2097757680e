"""PyTorch's own optimizer test suite run against descentlab's classes, beside torch's own classes.

    pip install expecttest                      # torch's test utilities import it; nothing else is needed
    python benchmarks/torch_optim_suite.py path/to/pytorch/test/test_optim.py
    python benchmarks/torch_optim_suite.py test_optim.py --against ours -- -x    # after --: more pytest arguments

``test_optim.py`` is the file of that name in the ``test/`` folder of PyTorch's source, at the release of the
installed torch (its wheel has the helpers, ``torch/testing/_internal/common_optimizers.py``, but not the file):
you supply it, this script downloads nothing. Its class ``TestOptimRenewed`` runs every test over torch's
``optim_db``, one ``OptimizerInfo`` per optimizer with torch's inputs, error inputs and skips.

For ``ours``, every ``OptimizerInfo`` whose class shares a name with one of ``descentlab.optim`` (SGD, Adam, AdamW,
Adagrad, RMSprop, Adadelta, Adamax, NAdam, RAdam, Muon) gets ours as its ``optim_cls``, keeping torch's inputs and
skips; the few lines that name torch's classes directly (``SGD`` beside each optimizer in the step-hook test,
``torch.optim.Adam``/``AdamW`` in the AdamW serialization test) name ours. The imports of the other test files of
``test/optim/`` are dropped (other suites). Both runs select the same tests: those of the shared names, on CPU.
The script prints passed/failed/skipped for each and every test that fails with ours but not with torch's; the
README ("What drop-in covers") says which differ on purpose and why. Exit status: 0 when nothing fails with ours
that passes with torch's, 1 otherwise.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

# The imports of test/optim/*.py that test_optim.py re-exports (the LR scheduler, SWA and differentiable suites).
_SIBLING_IMPORT = re.compile(r"^from optim\.test_\w+ import (\([^)]*\)|.*)\n", re.M)

_SWAP = '''import torch.testing._internal.common_optimizers as _common_optimizers
import descentlab.optim as _ours

for _info in _common_optimizers.optim_db:
    if hasattr(_ours, _info.optim_cls.__name__):
        _info.optim_cls = getattr(_ours, _info.optim_cls.__name__)
'''


def shared_names() -> tuple[list[str], list[str]]:
    """The names of torch's optim_db classes that descentlab.optim has, and the others."""
    from torch.testing._internal.common_optimizers import optim_db

    import descentlab.optim as ours

    names = [info.optim_cls.__name__ for info in optim_db]
    return [n for n in names if hasattr(ours, n)], [n for n in names if not hasattr(ours, n)]


def prepare(source: str, against: str) -> str:
    """The test file as run: sibling imports dropped; for ``ours``, optim_db and the direct uses pointed at ours."""
    text = _SIBLING_IMPORT.sub("", source)
    if against == "ours":
        text = text.replace("from torch.optim import Optimizer, SGD\n",
                            "from torch.optim import Optimizer\nfrom descentlab.optim import SGD\n")
        text = text.replace("torch.optim.AdamW(", "_ours.AdamW(").replace("torch.optim.Adam(", "_ours.Adam(")
        text = _SWAP + text
    return text


def selection(shared: list[str], others: list[str]) -> str:
    """A ``-k`` expression for the tests of the shared names (pytest's -k is case-insensitive: ``SGD`` would
    match ``ASGD``, ``Adam`` ``SparseAdam``, hence the exclusions), on CPU."""
    return f"cpu and ({' or '.join([*shared, 'adamw_serialization'])}) and not ({' or '.join(others)})"


def run(test_file: Path, against: str, keyword: str, extra: list[str], workdir: Path) -> dict[str, str]:
    """Each selected test's outcome (passed, failed, skipped), from pytest's JUnit XML."""
    module = workdir / f"test_optim_against_{against}.py"
    module.write_text(prepare(test_file.read_text(), against))
    report = workdir / f"{against}.xml"
    cmd = [sys.executable, "-m", "pytest", str(module), "-k", keyword, "-q", "-p", "no:cacheprovider",
           f"--junitxml={report}", *extra]
    print(f"[{against}] {' '.join(cmd)}", flush=True)
    subprocess.run(cmd, cwd=workdir, check=False)
    outcomes = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        kinds = {child.tag for child in case}
        outcome = "failed" if kinds & {"failure", "error"} else "skipped" if "skipped" in kinds else "passed"
        outcomes[case.get("name", "")] = outcome
    return outcomes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("test_optim", type=Path, help="PyTorch's test/test_optim.py, of the installed torch's release")
    parser.add_argument("--against", choices=["both", "ours", "torch"], default="both")
    args, extra = parser.parse_known_args(argv)
    extra = [a for a in extra if a != "--"]
    try:
        import expecttest  # noqa: F401  (torch.testing._internal.common_utils imports it)
    except ImportError:
        parser.exit(2, "error: torch's test utilities need the package expecttest: pip install expecttest\n")
    if not args.test_optim.is_file() or "class TestOptimRenewed" not in args.test_optim.read_text():
        parser.exit(2, f"error: {args.test_optim} is not PyTorch's test/test_optim.py (no class TestOptimRenewed)\n")
    shared, others = shared_names()
    keyword = selection(shared, others)
    sides = ["torch", "ours"] if args.against == "both" else [args.against]
    with tempfile.TemporaryDirectory(prefix="torch_optim_suite_") as tmp:
        results = {side: run(args.test_optim.resolve(), side, keyword, extra, Path(tmp)) for side in sides}
    print(f"\nTestOptimRenewed on CPU, the tests of {', '.join(shared)}:")
    for side, outcomes in results.items():
        counts = {k: sum(1 for v in outcomes.values() if v == k) for k in ("passed", "failed", "skipped")}
        print(f"  {side + ' classes:':16} {counts['passed']} passed, {counts['failed']} failed, "
              f"{counts['skipped']} skipped")
    if "ours" not in results:
        return 0
    theirs = results.get("torch", {})
    only_ours = sorted(n for n, v in results["ours"].items() if v == "failed" and theirs.get(n) != "failed")
    print(f"\nfailing with ours{' but not with torch' if theirs else ''}: {len(only_ours)}")
    for name in only_ours:
        print(f"  {name}")
    return 1 if only_ours else 0


if __name__ == "__main__":
    sys.exit(main())
