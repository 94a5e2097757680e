"""Figures of stored results. Each function takes plain data and returns a ``matplotlib.figure.Figure``.

Their looks (colours, fonts, sizes) come from :mod:`.style`. Figures are built without ``pyplot`` (no global figure
registry, no GUI backend, nothing to close), so they render headless anywhere; :func:`save` writes PNG or SVG by
the path's suffix and :func:`png_bytes` gives the PNG for embedding. Pass one ``colors`` mapping
(:func:`.style.optimizer_colors`) to every figure of a report so that an optimizer keeps its colour throughout.

Curves are the mean over seeds at each epoch with a ±1 std band; against wall-clock time the mean is drawn at
the seeds' mean cumulative training seconds. A diverged run contributes up to the last epoch whose training loss
is finite and is marked × there (at the top edge of the axes when it has no finite value at all).
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, MaxNLocator
from matplotlib.transforms import blended_transform_factory

from descentlab.errors import UserError
from descentlab.files import atomic_path
from descentlab.report import style
from descentlab.report.data import RunData, batch_label
from descentlab.report.style import with_colors
from descentlab.report.summary import SweepSummary, format_bytes

SPLITS = (("train", "train"), ("val", "validation"), ("test", "test"))


def _stop(run: RunData) -> int:
    """Index of the last usable epoch: all of them for a finished run; for a diverged one, the last finite loss."""
    if run.status != "diverged":
        return len(run.epochs) - 1
    loss = run.values("train_loss")
    finite = np.flatnonzero(np.isfinite(loss))
    return int(finite[-1]) if len(finite) else -1


def _x(run: RunData, x: str) -> np.ndarray:
    if x == "epoch":
        return run.epoch_numbers()
    if x == "seconds":
        return run.elapsed()
    raise UserError(f"x must be 'epoch' or 'seconds', got {x!r}")


def _mean_band(runs: Sequence[RunData], metric: str, x: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, mean, std) at each epoch number any run has, over the runs with a usable finite value there."""
    by_epoch: dict[float, tuple[list[float], list[float]]] = {}
    for run in runs:
        stop = _stop(run)
        for i, (epoch, xv, yv) in enumerate(zip(run.epoch_numbers(), _x(run, x), run.values(metric))):
            if i <= stop and math.isfinite(yv) and math.isfinite(epoch):
                xs, ys = by_epoch.setdefault(epoch, ([], []))
                xs.append(xv)
                ys.append(yv)
    epochs = sorted(by_epoch)
    xs = np.array([np.mean(by_epoch[e][0]) for e in epochs], dtype=float)
    ys = [np.array(by_epoch[e][1]) for e in epochs]
    mean = np.array([v.mean() for v in ys], dtype=float)
    std = np.array([v.std(ddof=1) if len(v) > 1 else 0.0 for v in ys], dtype=float)
    return xs, mean, std


def _mark_diverged(ax, runs: Sequence[RunData], metric: str, x: str, color: str) -> int:
    """× at the last usable point of each diverged run; returns how many were marked."""
    inside, edge = [], []
    for run in runs:
        if run.status != "diverged":
            continue
        stop = _stop(run)
        xs, ys = _x(run, x), run.values(metric)
        if stop >= 0 and math.isfinite(ys[stop]):
            inside.append((xs[stop], ys[stop]))
        else:  # diverged before any finite value: mark it where it stopped, at the top edge
            edge.append(xs[stop] if stop >= 0 else (0.0 if x == "seconds" else 1.0))
    cross = {"marker": "x", "s": 70, "linewidths": 2.2, "color": color, "zorder": 5}
    if inside:
        ax.scatter(*zip(*inside), **cross)
    if edge:
        ax.scatter(edge, [0.97] * len(edge), transform=blended_transform_factory(ax.transData, ax.transAxes),
                   clip_on=False, **cross)
    return len(inside) + len(edge)


def _draw_curves(ax, groups: Mapping[str, Sequence[RunData]], metric: str, x: str,
                 colors: Mapping[str, str], styles: Mapping[str, str] | None = None) -> int:
    """One mean line (+ band) per group; returns the number of diverged runs marked."""
    marked = 0
    for label, runs in groups.items():
        xs, mean, std = _mean_band(runs, metric, x)
        color = colors[label]
        ax.plot(xs, mean, color=color, lw=style.LINE, label=label, ls=(styles or {}).get(label, "-"),
                marker="o" if len(xs) == 1 else None)
        if len(xs):
            ax.fill_between(xs, mean - std, mean + std, color=color, alpha=style.BAND_ALPHA, lw=0)
        marked += _mark_diverged(ax, runs, metric, x, color)
    _mark_empty(ax)
    return marked


def _mark_empty(ax) -> None:
    """"no data" in the middle of axes that have no line with a point."""
    if not any(len(line.get_xdata()) for line in ax.get_lines()):
        ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center", va="center", color=style.MUTED)


def _group(runs: Sequence[RunData], by: Callable[[RunData], str]) -> dict[str, list[RunData]]:
    groups: dict[str, list[RunData]] = {}
    for run in runs:
        groups.setdefault(by(run), []).append(run)
    return groups


def _legend(fig: Figure, handles: list, labels: list[str], title: str | None = None,
            loc: str = "outside right center") -> None:
    # Beside the axes, centred: at the upper corner, long labels (variants, schedules) ran into the title.
    fig.legend(handles, labels, loc=loc, frameon=False, title=title)


def _handles(ax, diverged: bool) -> tuple[list, list[str]]:
    handles, labels = ax.get_legend_handles_labels()
    if diverged:
        handles.append(Line2D([], [], ls="none", marker="x", color=style.INK, markersize=8, mew=2))
        labels.append("diverged (where it stopped)")
    return handles, labels


def _x_label(x: str) -> str:
    return "epoch" if x == "epoch" else "training time (s, cumulative)"


def training_curves(runs: Sequence[RunData], x: str = "epoch", *, by: Callable[[RunData], str] | None = None,
                    colors: Mapping[str, str] | None = None, title: str | None = None) -> Figure:
    """Loss (top row) and accuracy (bottom row) on train / validation / test against ``x`` ("epoch" or "seconds").

    One colour per group (``by``, default the optimizer name): mean over seeds ± std, diverged runs marked ×.
    Each of the six axes has one line per group.
    """
    by = by or (lambda r: r.optimizer)
    groups = _group(runs, by)
    colors = with_colors(list(groups), colors)
    # a task whose metric is the loss (regression) records no accuracy: its figure is the loss row alone
    kinds = (("loss", "loss"), ("acc", "accuracy"))
    if not any(np.isfinite(r.values(f"{split}_acc")).any() for r in runs for split, _ in SPLITS):
        kinds = kinds[:1]
    fig = style.figure(13, 7 if len(kinds) > 1 else 3.8)
    axes = fig.subplots(len(kinds), 3, sharex=True, squeeze=False)
    marked = 0
    for row, (kind, unit) in enumerate(kinds):
        for col, (split, name) in enumerate(SPLITS):
            ax = axes[row][col]
            style.axes_style(ax)
            marked += _draw_curves(ax, groups, f"{split}_{kind}", x, colors)
            ax.set_title(f"{name} {unit}", fontsize=style.AXES_TITLE)
            if kind == "loss":
                _log_if_wide(ax)
                if len(kinds) == 1:
                    ax.set_xlabel(_x_label(x))
            else:
                ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.0%}"))
                ax.set_xlabel(_x_label(x))
            if col == 0:
                ax.set_ylabel(unit if kind == "loss" else "accuracy (%)")
    what = "Loss and accuracy" if len(kinds) > 1 else "Loss"
    fig.suptitle(title or f"{what} vs {'epoch' if x == 'epoch' else 'wall-clock time'}", fontsize=style.SUPTITLE)
    _legend(fig, *_handles(axes[0][0], marked > 0))
    return fig


def schedule_points(run: RunData) -> tuple[np.ndarray, np.ndarray]:
    """(update, lr) of a run: its logged updates (0-based steps), else the lr of each epoch's last update."""
    if run.steps:
        pairs = [(s.get("step"), s.get("lr")) for s in run.steps]
    else:
        pairs = [(e.get("steps") - 1 if isinstance(e.get("steps"), int) else None, e.get("lr"))
                 for e in run.trained_epochs]
    pairs = [(float(x), float(y)) for x, y in pairs
             if isinstance(x, (int, float)) and isinstance(y, (int, float)) and math.isfinite(y)]
    return np.array([x for x, _ in pairs], dtype=float), np.array([y for _, y in pairs], dtype=float)


def lr_schedules(runs: Sequence[RunData], *, by: Callable[[RunData], str] | None = None,
                 colors: Mapping[str, str] | None = None) -> Figure:
    """The learning rate each group's runs actually used, against the update (0-based): one line per group
    (``by``, default the optimizer), from its first run with logged updates (the seeds of a group share their
    schedule); a group with none shows the lr of each epoch's last update as points. Groups whose learning rates
    are the same at every update share one line, labelled with all their names (``sgd (cosine) = adam (cosine)``)."""
    by = by or (lambda r: r.optimizer)
    groups = _group(runs, by)
    colors = with_colors(list(groups), colors)
    fig = style.figure(10, 3.6 + 0.25 * len(groups))
    ax = fig.subplots()
    style.axes_style(ax)
    curves: dict[tuple, list[str]] = {}  # identical (updates, lrs) → the labels that share them
    logged: dict[tuple, bool] = {}
    for label, members in groups.items():
        run = next((r for r in members if r.steps), members[0])
        xs, ys = schedule_points(run)
        key = (tuple(xs), tuple(ys))
        curves.setdefault(key, []).append(label)
        logged[key] = bool(run.steps)
    for (xs, ys), labels in curves.items():
        ax.plot(xs, ys, color=colors[labels[0]], lw=style.LINE, label=" = ".join(labels),
                marker=None if logged[(xs, ys)] else "o", ms=4)
    _mark_empty(ax)
    ax.set_xlabel("update (0-based)")
    ax.set_ylabel("learning rate")
    ax.set_title("Learning rate vs update", fontsize=style.AXES_TITLE)
    _legend(fig, *ax.get_legend_handles_labels(), loc="outside lower center")  # long labels: below, not beside
    return fig


def loss_points(run: RunData) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(update, epoch, loss) of a run's logged updates: the batch's training loss before each logged update, its
    0-based update, and the same update in epochs (update / updates per epoch, read off the first epoch's record);
    empty when the run logged none."""
    pairs = [(s.get("step"), s.get("loss")) for s in run.steps]
    pairs = [(float(x), float(y)) for x, y in pairs
             if isinstance(x, (int, float)) and isinstance(y, (int, float)) and math.isfinite(y)]
    xs = np.array([x for x, _ in pairs], dtype=float)
    first = next((e.get("steps") for e in run.trained_epochs if isinstance(e.get("steps"), int)), None)
    epochs = xs / first if first else np.full(len(xs), np.nan)
    return xs, epochs, np.array([y for _, y in pairs], dtype=float)


def update_seconds(run: RunData, updates: np.ndarray) -> np.ndarray:
    """Training seconds spent before each of ``updates`` (0-based): the cumulative training seconds at the end of
    each epoch (:meth:`RunData.elapsed`) placed at its cumulative updates (``steps``), linearly interpolated within
    an epoch (its updates are taken to cost the same time each); NaN when the run stored no such timings.
    Evaluation time is not counted, as on the per-epoch curves against wall-clock time."""
    steps, ends = run.values("steps"), run.elapsed()
    ok = np.isfinite(steps) & np.isfinite(ends) & (steps > 0)  # epoch 0 (before any update) is the origin below
    if not ok.any():
        return np.full(len(updates), np.nan)
    steps, ends = np.concatenate(([0.0], steps[ok])), np.concatenate(([0.0], ends[ok]))
    return np.interp(np.asarray(updates, dtype=float), steps, ends, right=np.nan)


def loss_per_update(runs: Sequence[RunData], *, by: Callable[[RunData], str] | None = None,
                    colors: Mapping[str, str] | None = None) -> Figure:
    """The training loss of each logged update (the batch's, before the update), against the update, against
    epochs and against training seconds (:func:`update_seconds`): one line per group (``by``, default the
    optimizer) from its first run with logged updates. Unlike the per-epoch means, this shows the noise of
    stochastic and mini-batch steps against full-batch descent, and which of them is ahead per second."""
    by = by or (lambda r: r.optimizer)
    groups = _group(runs, by)
    colors = with_colors(list(groups), colors)
    fig = style.figure(15, 4.2)
    axes = fig.subplots(1, 3)
    for label, members in groups.items():
        run = next((r for r in members if r.steps), None)
        if run is None:
            continue
        updates, epochs, losses = loss_points(run)
        few = len(updates) <= 50  # full-batch descent makes one update an epoch: dots, or its line is lost
        for ax, xs in zip(axes, (updates, epochs, update_seconds(run, updates))):
            ax.plot(xs, losses, color=colors[label], lw=0.9, alpha=0.85, label=label, marker="o" if few else None,
                    ms=3)
    spans = [float(np.nanmax(line.get_xdata())) for line in axes[0].get_lines() if len(line.get_xdata())]
    if spans and min(spans) > 0 and max(spans) / min(spans) > 30:
        axes[0].set_xscale("symlog", linthresh=1)  # 10 full-batch updates beside 10 000 stochastic ones
    for ax, xlabel in zip(axes, ("update (0-based)", "epoch", _x_label("seconds"))):
        style.axes_style(ax)
        _mark_empty(ax)
        _log_if_wide(ax)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("training loss of the batch")
    fig.suptitle("Training loss per update", fontsize=style.AXES_TITLE)
    _legend(fig, *axes[0].get_legend_handles_labels())
    return fig


def _log_if_wide(ax) -> None:
    ys = np.concatenate([np.asarray(line.get_ydata(), dtype=float) for line in ax.get_lines()] or [np.array([])])
    ys = ys[np.isfinite(ys) & (ys > 0)]
    if len(ys) and ys.max() / ys.min() > 30:
        ax.set_yscale("log")


def batch_size_comparison(runs: Sequence[RunData], metric: str = "train_loss") -> Figure:
    """Batch vs stochastic vs mini-batch GD: ``metric`` against epoch and against seconds, one line per batch
    size (line style per optimizer when there are several), and the optimizer-state / peak memory per group."""
    optimizers = list(dict.fromkeys(r.optimizer for r in runs))
    batches = list(dict.fromkeys(batch_label(r.batch_size) for r in runs))
    several = len(optimizers) > 1

    def label(r: RunData) -> str:
        return f"{r.optimizer} · {batch_label(r.batch_size)}" if several else batch_label(r.batch_size)

    groups = _group(runs, label)
    colors, styles = {}, {}
    for name, group in groups.items():
        colors[name] = style.BATCH_PALETTE[batches.index(batch_label(group[0].batch_size)) % len(style.BATCH_PALETTE)]
        styles[name] = style.LINESTYLES[optimizers.index(group[0].optimizer) % len(style.LINESTYLES)]
    fig = style.figure(13, 4.2)
    axes = fig.subplots(1, 3, width_ratios=(1, 1, 0.8))
    marked = 0
    for ax, x in zip(axes[:2], ("epoch", "seconds")):
        style.axes_style(ax)
        marked += _draw_curves(ax, groups, metric, x, colors, styles)
        _log_if_wide(ax)
        ax.set_xlabel(_x_label(x))
        ax.set_ylabel(metric.replace("_", " "))
        ax.set_title(f"{metric.replace('_', ' ')} vs {'epoch' if x == 'epoch' else 'time'}", fontsize=style.AXES_TITLE)
    state = {name: _last_finite(g, "state_bytes") for name, g in groups.items()}
    peak = {name: _last_finite(g, "peak_memory_bytes") for name, g in groups.items()}
    _bars(axes[2], state, peak, colors)
    axes[2].set_title("memory per configuration", fontsize=style.AXES_TITLE)
    fig.suptitle("Batch vs stochastic vs mini-batch gradient descent", fontsize=style.SUPTITLE)
    _legend(fig, *_handles(axes[0], marked > 0))
    return fig


def _last_finite(runs: Sequence[RunData], metric: str) -> float:
    values = [v for r in runs for v in r.values(metric) if math.isfinite(v)]
    return max(values) if values else math.nan


def _bars(ax, state: Mapping[str, float], peak: Mapping[str, float | None] | None,
          colors: Mapping[str, str]) -> None:
    names = list(state)
    has_peak = bool(peak) and any(v is not None and math.isfinite(v) for v in peak.values())
    width = 0.4 if has_peak else 0.7
    pos = np.arange(len(names), dtype=float)
    values = [state[n] if math.isfinite(state[n]) else 0.0 for n in names]
    bars = ax.bar(pos - (width / 2 if has_peak else 0), values, width, color=[colors.get(n, style.BAR) for n in names],
                  label="optimizer state")
    for bar, name in zip(bars, names):
        ax.annotate(format_bytes(state[name]), (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    ha="center", va="bottom", fontsize=style.SMALL, xytext=(0, 2), textcoords="offset points")
    if has_peak:
        pv = [peak.get(n) if peak.get(n) is not None and math.isfinite(peak[n]) else 0.0 for n in names]
        pbars = ax.bar(pos + width / 2, pv, width, color=style.PEAK_BAR,
                       label="peak memory (GPU allocator; process RSS on CPU)")
        for bar, v in zip(pbars, pv):
            ax.annotate(format_bytes(v), (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                        ha="center", va="bottom", fontsize=style.SMALL, xytext=(0, 2), textcoords="offset points")
        ax.legend(frameon=False, fontsize=style.SMALL, loc="upper left")
    else:
        ax.text(0.99, 0.99, "peak memory: not measured here", transform=ax.transAxes, ha="right", va="top",
                fontsize=style.TINY, color=style.MUTED)
    ax.set_xticks(pos, names, rotation=30 if len(names) > 6 else 0, ha="right" if len(names) > 6 else "center")
    unit, scale = _byte_unit(max([*values, *(pv if has_peak else [])], default=0.0))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v / scale:g}"))
    ax.yaxis.set_major_locator(MaxNLocator(nbins=5, steps=[1, 2, 2.5, 5, 10]) if scale == 1 else _ScaledLocator(scale))
    ax.set_ylabel(f"memory ({unit})")
    ax.margins(y=0.15)
    if has_peak:  # room above the bars for the legend, which otherwise covers their labels
        ax.set_ylim(0, max([*values, *pv, 1.0]) * 1.45)
    style.axes_style(ax, axis="y")


def _byte_unit(largest: float) -> tuple[str, float]:
    for power, unit in enumerate(("B", "KiB", "MiB", "GiB")):
        if largest < 1024 ** (power + 1) or unit == "GiB":
            return unit, float(1024**power)
    raise AssertionError("unreachable")


class _ScaledLocator(MaxNLocator):
    """Round ticks in a unit of ``scale`` bytes (KiB, MiB, …) rather than in bytes."""

    def __init__(self, scale: float) -> None:
        super().__init__(nbins=5, steps=[1, 2, 2.5, 5, 10])
        self.scale = scale

    def tick_values(self, vmin: float, vmax: float):
        return super().tick_values(vmin / self.scale, vmax / self.scale) * self.scale


def memory_bars(state: Mapping[str, float], peak: Mapping[str, float | None] | None = None, *,
                colors: Mapping[str, str] | None = None, title: str = "Optimizer-state memory") -> Figure:
    """One bar per name (``state`` bytes, labelled human-readably), and a grey peak-memory bar where measured."""
    colors = with_colors(list(state), colors)
    fig = style.figure(max(5.0, 1.1 * len(state) + 2.5), 3.8)
    ax = fig.subplots()
    _bars(ax, state, peak, colors)
    ax.set_title(title, fontsize=style.TITLE)
    return fig


def lr_sensitivity(sweeps: Sequence[SweepSummary], *, metric: str = "val_acc",
                   colors: Mapping[str, str] | None = None) -> Figure:
    """Final ``metric`` ("val_acc", "test_acc", or for a task whose metric is the loss "val_loss", "test_loss")
    against learning rate (log axis), one line per optimizer:
    mean ± std over seeds, diverged learning rates marked × (at the top edge when no seed finished), the chosen
    (best on validation) learning rate circled."""
    several_batches = len({str(s.batch_size) for s in sweeps}) > 1
    names = [f"{s.label} · {batch_label(s.batch_size)}" if several_batches else s.label for s in sweeps]
    colors = with_colors(names, colors)
    fig = style.figure(9, 5)
    ax = fig.subplots()
    style.axes_style(ax)
    any_diverged = False
    for name, sweep in zip(names, sweeps):
        color = colors.get(name) or colors.get(sweep.optimizer, style.FALLBACK)
        pts = [(p.lr, getattr(p, metric).mean, getattr(p, metric).std) for p in sweep.points
               if getattr(p, metric).n > 0]
        lrs, mean, std = (np.array(v, dtype=float) for v in zip(*pts)) if pts else (np.array([]),) * 3
        ax.plot(lrs, mean, color=color, marker="o", ms=4, lw=style.LINE, label=name)
        if len(lrs):
            ax.fill_between(lrs, mean - std, mean + std, color=color, alpha=style.BAND_ALPHA, lw=0)
        for p in sweep.points:
            if p.diverged or p.failed:
                any_diverged = True
                stat = getattr(p, metric)
                if stat.n:
                    ax.scatter([p.lr], [stat.mean], marker="x", s=80, linewidths=2.2, color=color, zorder=6)
                else:
                    ax.scatter([p.lr], [0.97], marker="x", s=80, linewidths=2.2, color=color, zorder=6,
                               transform=blended_transform_factory(ax.transData, ax.transAxes), clip_on=False)
        best = next((p for p in sweep.points if p.lr == sweep.best_lr), None)
        if best is not None and getattr(best, metric).n:
            ax.scatter([best.lr], [getattr(best, metric).mean], s=260, facecolors="none", edgecolors=color,
                       linewidths=2.2, zorder=7)
    swept = [p.lr for sweep in sweeps for p in sweep.points if p.lr and p.lr > 0]
    if swept and not any(getattr(p, metric).n for sweep in sweeps for p in sweep.points):
        # no point in data coordinates (every one diverged or failed: × marks at the top edge only): the log axis
        # gets the swept rates' span, which matplotlib cannot find from an empty plot
        ax.set_xlim(min(swept) / 2, max(swept) * 2)
        if not metric.endswith("loss"):
            ax.set_ylim(0, 1)  # an accuracy's whole range, not matplotlib's ±4 % around nothing
    ax.set_xscale("log")
    ax.set_xlabel("learning rate (log scale)")
    split = "validation" if metric.startswith("val") else "test"
    what = "loss" if metric.endswith("loss") else "accuracy"
    ax.set_ylabel(f"final {split} {what}" + (" (%)" if what == "accuracy" else ""))
    if what == "accuracy":
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.0%}"))
    fig.suptitle(f"Learning-rate sensitivity: final {split} {what} (mean ± std over seeds)", fontsize=style.SUPTITLE)
    handles, labels = ax.get_legend_handles_labels()
    handles.append(Line2D([], [], ls="none", marker="o", ms=12, mfc="none", mec=style.INK, mew=2))
    labels.append("chosen lr (best on validation)")
    if any_diverged:
        handles.append(Line2D([], [], ls="none", marker="x", color=style.INK, markersize=8, mew=2))
        labels.append("a seed diverged (top edge: all did)")
    _legend(fig, handles, labels, loc="outside right center")  # upper: long variant names run into the title
    return fig


def png_bytes(fig: Figure, dpi: int = 100) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, facecolor="white")
    return buffer.getvalue()


def svg_text(fig: Figure) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", facecolor="white")
    return buffer.getvalue()


def save(fig: Figure, path: str | Path, dpi: int = 120) -> Path:
    """Write ``fig`` as PNG or SVG, chosen by the suffix of ``path``; UserError for another suffix or a path that
    cannot be written."""
    path = Path(path)
    kind = path.suffix.lower().lstrip(".")
    if kind not in ("png", "svg"):
        raise UserError(f"cannot save a figure as {path.name!r}: use a .png or .svg file name")
    try:
        with atomic_path(path) as part:  # whole or not at all: a Ctrl-C mid-write leaves no half figure
            fig.savefig(part, format=kind, dpi=dpi, facecolor="white")
    except OSError as e:
        raise UserError(f"cannot write {path}: {e.strerror or e}") from None
    return path
