import pytest
from PIL import Image

from descentlab.cli import main


def test_verbose_prints_the_tutorials_iterations(capsys):
    assert main(["trace", "--function", "square", "--optimizers", "sgd", "--lr", "0.1", "--steps", "5",
                 "--verbose"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Iteration 1: x = 2.4, f(x) = 5.76"
    assert lines[4] == "Iteration 5: x = 0.98304, f(x) = 0.966368"


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


@pytest.mark.parametrize("args, message", [
    (["--function", "banana"], "valid names: square, quadratic, rosenbrock"),
    (["--optimizers", "sgd,adamm"], "unknown optimizer 'adamm'"),
    (["--start", "1,2,3"], "--start has 3 coordinate(s) but rosenbrock takes 2"),
    (["--function", "square", "--start", "1,2"], "square takes 1"),
    (["--steps", "0"], "--steps 0 must be ≥ 1"),
    (["--steps", "ten"], "not a whole number"),
    (["--lr", "-1"], "--lr -1 must be > 0"),
    (["--start", "a,b"], "not a number"),
])
def test_bad_input_is_one_line_and_exit_code_2(args, message, capsys):
    assert main(["trace", "--steps", "1", *args]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and message in captured.err
