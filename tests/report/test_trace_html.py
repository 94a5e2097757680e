"""The interactive trace page: self-contained, its data the traced paths, and, in a headless Chromium, moving a
slider redraws the path (read back from the canvas's data attributes and seen in screenshots)."""

import io
import json
import re
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from descentlab.experiments import trace_page as tp
from descentlab.report import trace_html as th
from descentlab.report.trace import drawn_xy

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    paths = tp.page_paths(("quadratic", "rosenbrock"), {"sgd": None, "momentum": tp.PAGE_OPTIMIZERS["momentum"]},
                          lrs=(1e-3, 0.03, 0.1), steps=40)
    data = th.page_data(paths.functions, paths.lrs, dict(paths.knobs), paths.steps, paths.paths)
    path = th.write_page(data, tmp_path_factory.mktemp("page") / "paths.html")
    return paths, data, path


def embedded(path):
    text = path.read_text(encoding="utf-8")
    return text, json.loads(re.search(r'<script type="application/json" id="paths-data">(.*?)</script>', text,
                                      re.S).group(1))


def test_the_page_is_one_offline_file_whose_data_are_the_traced_paths(page):
    paths, data, path = page
    text, data_read = embedded(path)
    assert data_read == data
    assert not re.search(r"(src|href)\s*=\s*[\"'](?!data:)", text) and "http" not in text  # nothing fetched
    f = paths.functions[0]
    png, ax, affine = th.landscape(f, paths.paths[f.name]["sgd"][0][0])
    t = paths.paths["quadratic"]["momentum"][1][2]  # lr 0.03, μ = 0.9
    encoded = data["functions"][0]["paths"]["momentum"][1][2]
    x, y = drawn_xy(ax, f, t)
    xy = np.reshape(encoded["xy"], (-1, 2)) / 10
    assert np.allclose(xy[:, 0], affine[0, 0] * x + affine[0, 1], atol=0.05)
    assert np.allclose(xy[:, 1], affine[1, 0] * y + affine[1, 1], atol=0.05)
    assert encoded["f"] == [float(f"{v:.3g}") for v in t.values] and encoded["div"] is None
    # the start (-4.5, 1.5) is where the picture's start disc is: find its black ring in the image
    with Image.open(io.BytesIO(png)) as im:
        rgb = np.asarray(im.convert("RGB")).astype(int)
    sx, sy = xy[0]
    ring = rgb[int(sy) - 8:int(sy) + 9, int(sx) - 8:int(sx) + 9]
    assert (ring.sum(axis=2) < 100).any()  # black pixels of the start's ring around the path's first point
    diverged = data["functions"][0]["paths"]["sgd"][2][0]  # lr 0.1 leaves the narrow valley at step 1
    assert diverged["div"] == 1 and diverged["why"] == "left the plot" and len(diverged["xy"]) == 4
    assert len(text.encode()) < 1_000_000


def test_the_default_page_stays_small():
    paths = tp.page_paths()
    assert paths.n_points <= 4 * 13 * 10 * 201
    data = th.page_data(paths.functions, paths.lrs, dict(paths.knobs), paths.steps, paths.paths)
    assert len(th.render_page(data).encode()) < 3_000_000


def browser(path, hash_, *args):
    out = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
         f"--user-data-dir={path.parent / ('profile' + str(abs(hash(hash_ + str(args)))))}",
         "--virtual-time-budget=5000", "--window-size=1100,700", *args, f"{path.as_uri()}#{hash_}"],
        capture_output=True, text=True, timeout=60, check=True)
    return out.stdout


def canvas_attributes(path, hash_):
    tag = re.search(r"<canvas[^>]*>", browser(path, hash_, "--dump-dom")).group(0)
    return dict(re.findall(r'data-([a-z]+)="([^"]*)"', tag))


@pytest.mark.skipif(CHROMIUM is None, reason="needs a Chromium to run the page's script")
def test_moving_a_slider_redraws_the_path_in_a_browser(page):
    _, data, path = page
    slow = canvas_attributes(path, "function=quadratic&optimizer=momentum&lr=0&knob=2&step=40")
    fast = canvas_attributes(path, "function=quadratic&optimizer=momentum&lr=1&knob=2&step=40")
    early = canvas_attributes(path, "function=quadratic&optimizer=momentum&lr=1&knob=2&step=5")
    assert (slow["optimizer"], slow["lr"], slow["knob"], slow["step"]) == ("momentum", "0.001", "0.9", "40")
    assert fast["lr"] == "0.03" and early["step"] == "5" and early["points"] == "6"
    for attrs, (i, k) in ((slow, (0, 40)), (fast, (1, 40)), (early, (1, 5))):  # the drawn end is the data's step k
        xy = data["functions"][0]["paths"]["momentum"][i][2]["xy"]
        assert attrs["last"] == f"{xy[2 * k] / 10:.1f},{xy[2 * k + 1] / 10:.1f}"
    diverged = canvas_attributes(path, "function=quadratic&optimizer=sgd&lr=2&step=40")
    assert diverged["diverged"] == "true" and diverged["knob"] == ""


@pytest.mark.skipif(CHROMIUM is None, reason="needs a Chromium to run the page's script")
def test_screenshots_differ_in_the_plot_when_the_learning_rate_slider_moves(page):
    _, _, path = page
    shots = []
    for lr in (0, 1):
        hash_ = f"function=rosenbrock&optimizer=momentum&lr={lr}&knob=2&step=40"
        box = [int(v) for v in canvas_attributes(path, hash_)["box"].split(",")]
        shot = path.parent / f"lr{lr}.png"
        browser(path, hash_, f"--screenshot={shot}")
        with Image.open(shot) as im:
            rgb = np.asarray(im.convert("RGB")).astype(int)
        left, top, width, height = box
        shots.append(rgb[top:top + height, left:left + width])
    changed = np.abs(shots[0] - shots[1]).sum(axis=2) > 60
    assert changed.sum() > 200  # the path moved: hundreds of pixels of the plot changed
    red = (shots[1][..., 0] > 200) & (shots[1][..., 1] < 80) & (shots[1][..., 2] < 120)  # the path's colour
    assert red.sum() > 100
