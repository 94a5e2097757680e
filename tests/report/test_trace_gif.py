import numpy as np
from PIL import Image

from descentlab.experiments import trace as search
from descentlab.report.trace_gif import frame_steps, render_frames, save_gif
from descentlab.tasks.functions import get_function


def test_frame_steps_cover_the_path_with_at_most_the_asked_frames():
    steps = frame_steps(500, 60)
    assert steps[0] == 0 and steps[-1] == 500 and len(steps) <= 60 and np.all(np.diff(steps) > 0)
    assert np.diff(steps)[0] < np.diff(steps)[-1]  # denser at the start
    assert frame_steps(3, 60).tolist() == [0, 1, 2, 3]


def test_gif_is_written_with_several_frames(tmp_path):
    f = get_function("rosenbrock")
    traced = search.trace(f, ["sgd", "adam"], steps=30, lr=1e-2)
    path = save_gif(f, traced, tmp_path / "paths.gif", frames=10)
    assert path.read_bytes()[:6] == b"GIF89a"
    with Image.open(path) as im:
        assert im.n_frames > 1


def test_frames_differ_as_the_paths_advance():
    f = get_function("square")
    frames = render_frames(f, search.trace(f, ["sgd"], steps=10, lr=0.1), frames=5)
    assert len(frames) == 5
    assert np.any(np.asarray(frames[0]) != np.asarray(frames[-1]))


def test_a_diverged_path_is_marked_where_it_leaves_the_picture_from_the_frame_of_its_divergence_on():
    """The × (with the path's head, which stops there too) is at the exit point from step 1; nothing is at step 0."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import to_rgb

    from descentlab.report import style
    from descentlab.report.trace import draw_landscape, exit_point, new_figure

    f = get_function("quadratic")
    (t,) = search.trace(f, ["sgd"], steps=3, lr=0.1)  # leaves the window at step 1, through its bottom edge
    frames = render_frames(f, [t], frames=4, dpi=80)
    fig, ax = new_figure(f, 1, 80)  # the same layout, to find the exit point's pixel
    canvas = FigureCanvasAgg(fig)
    draw_landscape(ax, f)
    fig.legend(handles=[ax.plot([], [], label=t.label)[0], ax.plot([], [], label="start")[0]],
               loc="outside right upper", fontsize=style.LEGEND, frameon=False)
    canvas.draw()
    px, py = ax.transData.transform(exit_point(ax, f, t))
    row, col = canvas.get_width_height()[1] - int(round(py)), int(round(px))
    color = np.array([round(255 * c) for c in to_rgb(style.PATH_COLORS[0])])

    def red_near(im):
        patch = np.asarray(im).astype(int)[row - 4:row + 5, col - 4:col + 5]
        return int((np.abs(patch - color).sum(axis=2) < 60).sum())

    assert red_near(frames[0]) == 0 and red_near(frames[1]) > 10 and red_near(frames[3]) > 10
