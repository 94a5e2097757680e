"""The house style of every figure: colours, fonts, sizes and the white, grid-lined axes.

Training curves, the learning-rate and memory figures (:mod:`.plots`), the LR range test (:mod:`.lr_find_plot`)
and the optimizer paths and their GIF (:mod:`.trace`, :mod:`.trace_gif`) take their looks from here and nowhere
else, so that a change of style is one edit and every figure of a report matches.

Colours: one per optimizer, from matplotlib's ``tab10`` (``tab20`` beyond ten names), the same in every figure
and table of a report (:func:`with_colors`); batch sizes their own ``BATCH_PALETTE``; optimizer paths on a test
function the high-contrast ``PATH_COLORS`` with a marker each.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from matplotlib.axes import Axes
from matplotlib.figure import Figure

# -- colours ------------------------------------------------------------------------------------------------------
GRID = "#e5e5e5"
MUTED = "#888888"  # "no data", "not measured" notes
INK = "#444444"  # legend markers that stand for every colour, notes
SEED_LINE = "#555555"  # thin per-seed lines
FALLBACK = "#333333"
DIVERGED = "#d62728"
PEAK_BAR = "#bbbbbb"
BAR = "#4c72b0"
MEDIAN = "#1f77b4"  # the LR range test's median curve and band
RANGE = "#2ca02c"  # the suggested learning-rate range
MINIMUM = "#9467bd"
LANDSCAPE = "0.55"  # a 1-D function's curve
MINIMUM_STAR = "gold"
BATCH_PALETTE = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666")
LINESTYLES = ("-", "--", ":", "-.")
PATH_COLORS = ("#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#9a6324", "#000075",
               "#808000")
# One marker more than colours (11 and 10 are coprime): path i and i + 10 differ in marker, so that the first 110
# paths all look different (with ten of each, sgd and adamax, the 1st and 11th of all optimizers, were identical).
PATH_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "h", "<", ">", "p")

# -- fonts (points) and line weights --------------------------------------------------------------------------------
SUPTITLE = 13
TITLE = 12  # a figure with one axes
AXES_TITLE = 11
SUBTITLE = 10
LEGEND = 9
SMALL = 8  # bar labels, notes, the LR range test's legend
TINY = 7
LINE = 1.8  # a mean curve
BAND_ALPHA = 0.18  # ± std bands


def figure(width: float, height: float, dpi: float | None = None) -> Figure:
    """A white figure with constrained layout (room for a legend outside the axes), made without pyplot."""
    fig = Figure(figsize=(width, height), layout="constrained", **({"dpi": dpi} if dpi else {}))
    fig.set_facecolor("white")
    return fig


def axes_style(ax: Axes, axis: str = "both") -> None:
    """Light grid behind the data, no top and right frame lines."""
    ax.grid(True, axis=axis, color=GRID, lw=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def optimizer_colors(names: Sequence[str]) -> dict[str, str]:
    """A colour per name, in order, from matplotlib's ``tab10`` (``tab20`` beyond ten names)."""
    return with_colors(names, None)


def with_colors(names: Sequence[str], given: Mapping[str, str] | None) -> dict[str, str]:
    """``given`` (the report's colour per optimizer) kept, and every other name of ``names`` (a variant, an
    optimizer at one batch size) given a colour that no given name uses, so two lines never share one."""
    import matplotlib

    out = dict(given or {})
    fresh = [n for n in dict.fromkeys(names) if n not in out]
    if fresh:  # the palette in order, skipping the colours already given
        cmap = matplotlib.colormaps["tab10" if len(out) + len(fresh) <= 10 else "tab20"]
        taken = set(out.values())
        palette = [matplotlib.colors.to_hex(cmap(i)) for i in range(cmap.N)]
        free = [c for c in palette if c not in taken] or palette
        out.update({n: free[i % len(free)] for i, n in enumerate(fresh)})
    return out


def path_style(i: int) -> dict:
    """Colour, marker and line style of the ``i``-th optimizer path. Every other path is dashed, and earlier paths
    are drawn above later ones, so that two paths that coincide (momentum and nesterov often do) both show."""
    return {"color": PATH_COLORS[i % len(PATH_COLORS)], "marker": PATH_MARKERS[i % len(PATH_MARKERS)],
            "ls": "--" if i % 2 else "-", "zorder": 3 - i / 100}
