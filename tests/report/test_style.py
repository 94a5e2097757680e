"""The house style's per-path looks."""

from descentlab import optim
from descentlab.report import style


def test_every_optimizer_path_of_a_trace_looks_different():
    """`descentlab trace --optimizers` with all the built-in optimizers (17) draws 17 paths: no two may share colour,
    marker and line style, or the legend cannot tell them apart (sgd and adamax, the 1st and 11th, were identical)."""
    n = 3 * len(optim.names())
    looks = [tuple(style.path_style(i)[k] for k in ("color", "marker", "ls")) for i in range(n)]
    assert len(set(looks)) == n
