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
