import pytest
from PIL import Image

from descentlab.cli import main


def test_verbose_prints_the_tutorials_iterations(capsys):
    assert main(["trace", "--function", "square", "--optimizers", "sgd", "--lr", "0.1", "--steps", "5",
                 "--verbose"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Start: x = 3, f(x) = 9"
    assert lines[1] == "Iteration 1: x = 2.4, f(x) = 5.76 | gradient 6, update -0.6"
    assert lines[5].startswith("Iteration 5: x = 0.98304, f(x) = 0.966368 | gradient 2.4576, update -0.24576")


def test_several_learning_rates_are_overlaid_and_divergence_is_marked(tmp_path, capsys):
    png = tmp_path / "lrs.png"
    assert main(["trace", "--function", "square", "--optimizers", "sgd", "--lr", "0.01,0.1,0.5,1.05", "--steps",
                 "30", "--png", str(png)]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("│ sgd")]
    assert [row.split("│")[2].strip() for row in rows] == ["0.01", "0.1", "0.5", "1.05"]
    assert "diverged at step 2 (left the plot)" in rows[3] and "diverged at" not in "".join(rows[:3])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_path_running_down_to_minus_infinity_is_marked_diverged(capsys):
    # the saddle x² − y² is unbounded below: SGD at lr 0.1 runs off to y ≈ 4e36 (f ≈ −1.5e73); at 0.01 it ends
    # at y ≈ 20, just past the picture, and is an ordinary path
    assert main(["trace", "--function", "saddle", "--optimizers", "sgd", "--lr", "0.01,0.1", "--verbose"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("│ sgd")]
    assert "diverged at step 55 (left the plot)" in rows[1] and "-1.518e+73" not in rows[1]
    assert rows[0].rstrip("│ ").endswith("no") and "-398.3" in rows[0]
    assert "Diverged at step 55 (left the plot, f falling)" in out


def test_a_pick_at_the_edge_of_the_grid_is_warned_about(capsys):
    assert main(["trace", "--function", "rosenbrock", "--optimizers", "adagrad", "--steps", "50"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert ("warning: adagrad's learning rate 1 is the largest of the searched grid 0.0001 … 1; a larger one may be "
            "better: compare with --optimizers adagrad --lr 1,3,10,30") in out


def test_writes_png_and_gif(tmp_path, capsys):
    png, gif = tmp_path / "p.png", tmp_path / "p.gif"
    assert main(["trace", "--function", "himmelblau", "--optimizers", "sgd,adam", "--lr", "0.01", "--steps", "20",
                 "--start=-0.5,0", "--png", str(png), "--gif", str(gif)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert gif.read_bytes()[:6] == b"GIF89a"
    with Image.open(gif) as im:
        assert im.n_frames > 1
    out = capsys.readouterr().out
    assert "sgd" in out and "adam" in out and str(gif) in out


def test_html_writes_the_interactive_page(tmp_path, capsys):
    page = tmp_path / "paths.html"
    assert main(["trace", "--function", "beale", "--optimizers", "sgd", "--lr", "0.01", "--steps", "10", "--html",
                 str(page)]) == 0
    text = page.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and '"steps":10' in text
    assert text.index('"name":"beale"') < text.index('"name":"rosenbrock"')  # the asked function comes first
    assert f"wrote {page}" in capsys.readouterr().out


@pytest.mark.parametrize("args, message", [
    (["--html", "/nonexistent-folder/paths.html"], "folder /nonexistent-folder does not exist"),
    (["--function", "banana"], "valid names: square, quadratic, rosenbrock"),
    (["--optimizers", "sgd,adamm"], "unknown optimizer 'adamm'"),
    (["--start", "1,2,3"], "--start has 3 coordinate(s) but rosenbrock takes 2"),
    (["--function", "square", "--start", "1,2"], "square takes 1"),
    (["--steps", "0"], "--steps 0 must be ≥ 1"),
    (["--steps", "ten"], "not a whole number"),
    (["--lr", "-1"], "--lr -1 must be a finite number > 0"),
    (["--lr", "0.1,inf"], "--lr inf must be a finite number > 0"),
    (["--start", "a,b"], "not a number"),
    # x² overflows float64 there: f is inf at the start, so there is no path to trace (was a traceback with -v)
    (["--function", "square", "--start", "1e200", "-v"], "--start 1e+200: f(x) = inf there"),
    (["--start", "1e160,0"], "f(x) = inf there"),
])
def test_bad_input_is_one_line_and_exit_code_2(args, message, capsys):
    assert main(["trace", "--steps", "1", *args]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and message in captured.err


def test_a_users_optimizer_that_raises_is_one_line_and_exit_code_2(tmp_path, capsys):
    (tmp_path / "boom.py").write_text(
        "import torch\n\n"
        "class Boom(torch.optim.SGD):\n"
        "    def step(self, closure=None):\n"
        "        raise RuntimeError('boom in step')\n")
    for lr in (["--lr", "0.1"], []):  # a given rate, and the grid search
        assert main(["trace", "--function", "rosenbrock", "--optimizers", f"sgd,{tmp_path / 'boom.py'}:Boom",
                     "--steps", "5", *lr]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1, err
        assert "Boom" in err and "RuntimeError: boom in step" in err and "rosenbrock" in err


def test_a_figure_cut_short_leaves_the_old_one_whole(tmp_path, capsys):
    """``trace --png`` saved the figure in place: cut short (a full disk, a Ctrl-C) it left half a PNG."""
    import resource

    png = tmp_path / "p.png"
    args = ["trace", "--function", "rosenbrock", "--optimizers", "adam", "--steps", "20", "--png", str(png)]
    assert main(args) == 0
    before = png.read_bytes()
    capsys.readouterr()
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (len(before) // 2, hard))
    try:
        code = main(args)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and f"cannot write {png}" in err
    assert png.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["p.png"]


def test_a_gif_that_cannot_be_written_is_one_line_and_leaves_no_part_file(tmp_path, capsys, monkeypatch):
    """A full disk while the animation is written: one line naming the file, exit 2, no temporary file left."""
    from PIL import Image as PILImage

    def full(self, *args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(PILImage.Image, "save", full)
    gif = tmp_path / "p.gif"
    assert main(["trace", "--function", "rosenbrock", "--optimizers", "sgd", "--steps", "5", "--gif", str(gif)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"cannot write {gif}: No space left on device" in err, err
    assert list(tmp_path.iterdir()) == []
