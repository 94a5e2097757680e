"""An animated GIF of optimizer paths advancing together on a test function: the picture of
:func:`descentlab.report.trace.plot_paths`, drawn step by step (a diverged path's × appears at its step).

The landscape (contours, legend, axes) is drawn once; each frame restores it and draws only the moving paths
(matplotlib blitting on the Agg canvas), which is ~10× faster than redrawing the figure per frame
(``FuncAnimation`` + ``PillowWriter`` do that). Frames share one palette, so colors do not flicker.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgb
from PIL import Image

from descentlab.errors import UserError
from descentlab.files import atomic_path
from descentlab.report import style
from descentlab.report.trace import (
    add_legend,
    cross_style,
    draw_landscape,
    drawn_xy,
    exit_point,
    mark_start,
    new_figure,
)
from descentlab.tasks.functions import TestFunction
from descentlab.trajectories import Traced

MAX_FRAMES = 60


def frame_steps(steps: int, frames: int = MAX_FRAMES) -> np.ndarray:
    """At most ``frames`` step indices from 0 to ``steps``, denser at the start where paths move most."""
    if steps + 1 <= frames:
        return np.arange(steps + 1)
    u = np.linspace(0.0, 1.0, frames)
    return np.unique(np.round((u + u**2) / 2 * steps).astype(int))


def render_frames(function: TestFunction, traced: Sequence[Traced], frames: int = MAX_FRAMES,
                  dpi: int = 80) -> list[Image.Image]:
    """One RGB image per entry of :func:`frame_steps` over the longest path."""
    fig, ax = new_figure(function, len(traced), dpi)
    canvas = FigureCanvasAgg(fig)
    draw_landscape(ax, function)
    moving, crosses = [], []
    for i, t in enumerate(traced):
        s = style.path_style(i)
        ax.plot([], [], lw=1.6, ms=6, label=t.label, **s)  # legend entry only
        trail = ax.plot([], [], lw=1.6, color=s["color"], ls=s["ls"], animated=True)[0]
        head = ax.plot([], [], ms=9, color=s["color"], marker=s["marker"], mec="black", mew=0.8, ls="none",
                       animated=True)[0]
        moving.append((t, trail, head))
        exit_at = exit_point(ax, function, t)
        if exit_at is not None:  # shown from the frame of its divergence step on
            crosses.append((t.diverged_at, ax.plot(*exit_at, animated=True, **cross_style(i))[0]))
    mark_start(ax, function, traced)
    add_legend(fig)
    counter = ax.text(0.02, 0.97, "", transform=ax.transAxes, va="top", fontsize=style.SUBTITLE, animated=True,
                      zorder=7, bbox={"boxstyle": "round", "fc": "white", "ec": "0.7", "alpha": 0.85})
    canvas.draw()  # everything that does not move, laid out once
    background = canvas.copy_from_bbox(fig.bbox)
    longest = max((t.trajectory.positions.shape[0] - 1 for t, _, _ in moving), default=0)
    images = []
    for k in frame_steps(longest, frames):
        canvas.restore_region(background)
        for t, trail, head in reversed(moving):  # the first path on top, as in plot_paths
            x, y = drawn_xy(ax, function, t, k + 1)
            trail.set_data(x, y)
            head.set_data(x[-1:], y[-1:])
            ax.draw_artist(trail)
        for _, _, head in reversed(moving):
            ax.draw_artist(head)
        for step, cross in crosses:
            if k >= step:
                ax.draw_artist(cross)
        counter.set_text(f"step {k}")
        ax.draw_artist(counter)
        images.append(Image.fromarray(np.asarray(canvas.buffer_rgba())[..., :3].copy()))
    return images


def _palette() -> Image.Image:
    """Greys for the landscape, and each path color (and the minima's gold) pure and half-blended with grey
    and white for anti-aliased edges: a generic adaptive palette spends its entries on the greys."""
    colors = [tuple(round(255 * c) for c in to_rgb(name)) for name in (*style.PATH_COLORS, style.MINIMUM_STAR)]
    entries = [(v, v, v) for v in np.linspace(0, 255, 256 - 7 * len(colors)).round().astype(int)]
    for c in colors:
        for base in (255, 200, 128):
            for t in (1.0, 0.6, 0.3) if base == 255 else (0.6, 0.3):
                entries.append(tuple(round(t * ci + (1 - t) * base) for ci in c))
    palette = Image.new("P", (1, 1))
    palette.putpalette([v for rgb in entries[:256] for v in rgb])
    return palette


def save_gif(function: TestFunction, traced: Sequence[Traced], path: str | Path, frames: int = MAX_FRAMES,
             fps: int = 12, hold_s: float = 1.5, dpi: int = 80) -> Path:
    """Write the animation (looping, the last frame held ``hold_s`` seconds) and return ``path``."""
    images = render_frames(function, traced, frames, dpi)
    palette = _palette()
    frames_p = [im.quantize(palette=palette, dither=Image.Dither.NONE) for im in images]
    durations = [round(1000 / fps)] * len(frames_p)
    durations[-1] += round(1000 * hold_s)
    path = Path(path)
    try:
        with atomic_path(path) as part:  # whole or not at all
            frames_p[0].save(part, format="GIF", save_all=True, append_images=frames_p[1:], duration=durations,
                             loop=0, optimize=True, disposal=1)
    except OSError as e:  # a full disk, a folder that vanished: one line, as plots.save says it
        raise UserError(f"cannot write {path}: {e.strerror or e}") from None
    return path
