"""The figure of an LR range test: the zero-phase smoothed loss (:func:`descentlab.lr_range.zero_phase`, the
curve the suggestion is made from) against the learning rate (log axis).

The median over seeds is the thick line, the min–max over seeds the band around it, each seed a thin line ending
in × where the stop rule fired; the suggested range is shaded, the suggested lr (the steepest descent) a solid line, the
minimum of the median dotted. The y axis shows the curves up to their stops: the blow-up that
ends a test is above the top edge, where its × is drawn. With a check, a second panel below shows its short runs:
per constant rate each seed's training loss over the last quarter of its run, their mean and the mean with its
neighbours (the pick is its lowest); the suggested lr is then the checked rate, and the range test's steepest
descent a dashed line in both panels.
"""

from __future__ import annotations

import textwrap

import numpy as np
from matplotlib.figure import Figure

from descentlab.lr_range import HALF_WIDTH_DECADES, LRFindResult
from descentlab.report import style


def _y_limits(result: LRFindResult) -> tuple[float, float]:
    """From a little below the lowest smoothed loss to as far above the highest first value as that lowest point
    is below it: the descent fills the axes, the blow-up leaves through the top."""
    used = [np.asarray(c.zero_phase or c.losses[:1], dtype=float) for c in result.curves]
    used = [u for u in used if len(u)]  # a seed that failed before its first update has no curve
    if not used:
        return 0.0, 1.0
    values = np.concatenate(used)
    values = values[np.isfinite(values)]
    if not len(values):
        return 0.0, 1.0
    first = max(float(u[0]) for u in used if np.isfinite(u[0])) if any(np.isfinite(u[0]) for u in used) else None
    lo, hi = float(values.min()), float(values.max())
    if first is not None:
        hi = min(hi, first + max(first - lo, 0.05 * abs(first) or 1.0))
    span = hi - lo or abs(hi) or 1.0
    return lo - 0.08 * span, hi + 0.04 * span


def lr_find_figure(result: LRFindResult, *, title: str | None = None) -> Figure:
    """Zero-phase loss vs lr: median (thick) with min–max band, seeds (thin), stops (×), suggested range shaded."""
    checked = bool(result.checked)
    fig = style.figure(10.0, 7.2 if checked else 4.8)
    if checked:
        ax, cax = fig.subplots(2, 1, sharex=True, height_ratios=(3, 2))
    else:
        ax, cax = fig.add_subplot(), None
    style.axes_style(ax)
    ax.set_xscale("log")
    lrs = np.asarray(result.lrs)
    y0, y1 = _y_limits(result)

    table = np.full((len(result.curves), len(lrs)), np.nan)
    for i, c in enumerate(result.curves):
        table[i, : len(c.zero_phase)] = c.zero_phase
    some = np.isfinite(table).any(axis=0)
    if some.any():
        lo, hi = np.nanmin(table[:, some], axis=0), np.nanmax(table[:, some], axis=0)
        ax.fill_between(lrs[some], lo, hi, color=style.MEDIAN, alpha=0.15, lw=0, label="min–max over seeds")
    for i, c in enumerate(result.curves):
        ax.plot(c.lrs[: len(c.zero_phase)], c.zero_phase, color=style.SEED_LINE, lw=0.7, alpha=0.6,
                label="each seed" if i == 0 else None)
        if c.stop_step is not None:
            y = c.losses[c.stop_step]
            shown = np.isfinite(y) and y <= y1
            ax.plot(c.lrs[c.stop_step], y if shown else y1, "x", color=style.DIVERGED, ms=8, mew=2, clip_on=False,
                    zorder=5, label="stop (EMA-smoothed > 4× best)" if i == next(
                        j for j, d in enumerate(result.curves) if d.stop_step is not None) else None)
    med = np.asarray(result.median, dtype=float)
    ax.plot(lrs, med, color=style.MEDIAN, lw=2.4, label=f"median of {len(result.curves)} seed(s)")

    s = result.suggestion
    if s.lr is not None and s.lower is not None and s.upper is not None:
        ax.axvspan(s.lower, s.upper, color=style.RANGE, alpha=0.18, lw=0,
                   label=f"suggested range {s.lower:.2g} … {s.upper:.2g}")
        how = "checked" if s.checked else "steepest descent"
        ax.axvline(s.lr, color=style.RANGE, lw=1.8, label=f"suggested lr {s.lr:.2g} ({how})")
        if s.checked and s.steepest_lr is not None:
            ax.axvline(s.steepest_lr, color=style.RANGE, lw=1.2, ls="--",
                       label=f"range test's steepest descent {s.steepest_lr:.2g}")
        ax.axvline(s.min_lr, color=style.MINIMUM, ls=":", lw=1.4, label=f"minimum {s.min_lr:.2g}")
    ax.set_ylim(y0, y1)
    reached = max(c.lrs[-1] for c in result.curves) if result.curves else lrs[-1]
    lo, hi = lrs[0], min(lrs[-1], reached * 1.5)  # what no seed reached is not shown …
    shown = [c.lr for c in result.checked] + ([s.lower, s.upper] if s.lower is not None else [])
    if shown:  # … but every checked rate and the suggested range are, also where the check went past the ramp
        lo, hi = min(lo, min(shown) / 1.5), max(hi, max(shown) * 1.5)
    ax.set_xlim(lo, hi)
    (cax or ax).set_xlabel("learning rate (log scale)")
    ax.set_ylabel(f"training loss (centred mean, ±{HALF_WIDTH_DECADES:g} decade)")
    if cax is not None:
        _check_panel(cax, result)
    spec = result.spec
    what = f"batch {result.batch_size}, {len(result.curves)} seed(s), ≤ {spec.get('steps', len(lrs))} steps"
    check = f"check: {len(result.checked)} constant rates × {spec.get('check_steps')} updates" if checked else ""
    fig.suptitle(title or _wrapped(f"LR range test: {result.optimizer} on {spec.get('task', '?')}", what, check),
                 x=0.01, ha="left", fontsize=style.AXES_TITLE)
    if s.note:
        ax.set_title(f"note: {s.note}", loc="left", fontsize=style.SMALL, color=style.INK)
    fig.legend(loc="outside right upper", fontsize=style.SMALL, frameon=False)
    return fig


TITLE_CHARACTERS = 64  # a title line that fits beside the legend (10 in wide, the legend on its right)


def _wrapped(*lines: str) -> str:
    """The title's lines, each wrapped to :data:`TITLE_CHARACTERS` (a long path is cut anywhere): one line ran
    under the legend and off the figure."""
    return "\n".join(part for line in lines
                     for part in textwrap.wrap(line, TITLE_CHARACTERS, break_on_hyphens=False))


def _check_panel(ax, result: LRFindResult) -> None:
    """The check: per constant rate each seed's loss over the last quarter of its short run (dots), their mean
    (line), the mean with its neighbours (dashed; the lowest is the pick), a diverged rate as × on the top edge."""
    style.axes_style(ax)
    lrs = np.array([c.lr for c in result.checked])
    finite = [x for c in result.checked for x in c.scores if np.isfinite(x)]
    top = max(finite) if finite else 1.0
    for i, c in enumerate(result.checked):
        ys = [x for x in c.scores if np.isfinite(x)]
        ax.plot([c.lr] * len(ys), ys, "o", color=style.SEED_LINE, ms=3.5, alpha=0.8,
                label="check: each seed" if i == 0 else None)
    means = np.array([c.mean for c in result.checked])
    smooth = np.array([c.smoothed for c in result.checked])
    ok = np.isfinite(means)
    ax.plot(lrs[ok], means[ok], "-", color=style.MEDIAN, lw=2.0, label="check: mean over seeds")
    ok_s = np.isfinite(smooth)
    ax.plot(lrs[ok_s], smooth[ok_s], "--", color=style.INK, lw=1.2,
            label="check: mean with its neighbours (lowest: the pick)")
    bad = ~ok
    if bad.any():
        ax.plot(lrs[bad], [top] * int(bad.sum()), "x", color=style.DIVERGED, ms=8, mew=2, clip_on=False,
                label="check: diverged")
    s = result.suggestion
    if s.checked and s.lr is not None:
        ax.axvspan(s.lower, s.upper, color=style.RANGE, alpha=0.18, lw=0)
        ax.axvline(s.lr, color=style.RANGE, lw=1.8)
    if result.range_test.lr is not None:
        ax.axvline(result.range_test.lr, color=style.RANGE, lw=1.2, ls="--")
    ax.set_ylabel(f"loss after {result.spec.get('check_steps')} updates\n(mean of the last quarter)")
    ax.set_title("check: short runs at constant rates", loc="left", fontsize=style.SMALL, color=style.INK)
