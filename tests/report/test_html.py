"""The HTML and Markdown report: self-contained, complete, escaped — and, where Chromium is installed, it renders."""

from __future__ import annotations

import base64
import os
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from descentlab.report import html
from tests.report import synthetic as syn

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
CHROMIUM = "/usr/bin/chromium"
DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.fixture(scope="session")
def compare_report(experiments):
    return html.build_report(experiments[0])


@pytest.fixture(scope="session")
def compare_html(compare_report, tmp_path_factory) -> Path:
    return html.write_html(compare_report, tmp_path_factory.mktemp("html") / "report.html")


def test_html_is_self_contained_and_complete(compare_report, compare_html):
    text = compare_html.read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", text, re.I)
    assert "<script" not in text.lower() and "<link" not in text.lower()
    for name in syn.OPTIMIZERS:
        assert f"</span>{name}</td>" in text
    for library, version in syn.ENV["versions"].items():
        assert f"<td>{library}</td><td>{version}</td>" in text
    assert syn.ENV["cpu"] in text
    diverged = "<td>rmsprop</td><td>1</td><td>batch 32</td><td>0.001</td><td>diverged</td><td>530</td>"
    assert diverged in text
    images = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)
    assert len(images) == len(compare_report.figures) == 3  # curves vs epoch, vs time, state memory
    assert base64.b64decode(images[0])[:8] == PNG_MAGIC
    assert "Tuning budget" in text and "Resolved hyperparameters" in text and "seeds: 0, 1, 2" in text


def test_text_is_escaped(experiments, tmp_path):
    import dataclasses

    compare = experiments[0]
    evil = dataclasses.replace(compare.experiment, name="<b>x</b> & 'y'")
    report = html.build_report(dataclasses.replace(compare, experiment=evil), figures=False)
    text = html.render_html(report)
    assert "<img" not in text and "<b>x</b>" not in text and "&lt;b&gt;x&lt;/b&gt; &amp; &#x27;y&#x27;" in text


def test_sweep_report_in_markdown_with_pngs_beside_it(experiments, tmp_path):
    report = html.build_report(experiments[1])
    assert [f.title for f in report.figures][0] == "Learning-rate sensitivity"
    md = html.write_markdown(report, tmp_path / "out.md")
    text = md.read_text(encoding="utf-8")
    assert "## Tuning budget and chosen learning rate" in text
    assert "| sgd | 32 | 5 | 15 | 0.001 … 1 | 0.1 |" in text
    pngs = sorted((tmp_path / "out_files").iterdir())
    assert len(pngs) == len(report.figures) and all(p.read_bytes()[:8] == PNG_MAGIC for p in pngs)
    assert all(f"](out_files/{p.name})" in text for p in pngs)


def test_unwritable_paths_are_user_errors(compare_report, tmp_path):
    from descentlab.errors import UserError

    with pytest.raises(UserError, match="does not exist"):
        html.write_html(compare_report, tmp_path / "no" / "such" / "r.html")
    with pytest.raises(UserError, match="is a folder"):
        html.write_html(compare_report, tmp_path)


def _chromium(*args: str, tmp: Path) -> subprocess.CompletedProcess:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
             f"--user-data-dir={tmp / 'profile'}", "--enable-logging=stderr", "--v=0"]
    return subprocess.run([CHROMIUM, *flags, *args], capture_output=True, text=True, timeout=120)


def decoded_images(page: Path, tmp: Path) -> tuple[int, str]:
    """How many images of the HTML file ``page`` headless Chromium decodes (counted by a tiny script in a copy:
    the report itself has none), and the DOM it ends with."""
    probe = tmp / "probe.html"
    script = ("<script>window.addEventListener('load', () => document.body.setAttribute('data-decoded', "
              "Array.from(document.images).filter(i => i.complete && i.naturalWidth > 0).length));</script>")
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", script + "</body>"), encoding="utf-8")
    dom = _chromium("--dump-dom", probe.as_uri(), tmp=tmp)
    match = re.search(r'data-decoded="(\d+)"', dom.stdout)
    assert match, dom.stderr[-2000:]
    return int(match.group(1)), dom.stdout


def _crop_blank_bottom(image: np.ndarray, margin: int = 24) -> np.ndarray:
    rows = np.flatnonzero((image[..., :3] < 0.98).any(axis=(1, 2)))
    return image[: min(len(image), rows[-1] + margin)] if len(rows) else image


@pytest.mark.skipif(not os.access(CHROMIUM, os.X_OK), reason="no /usr/bin/chromium (Debian: apt-get install chromium)")
def test_report_renders_in_headless_chromium(compare_report, compare_html, tmp_path):
    from matplotlib import image as mpimg

    shot = tmp_path / "shot.png"
    result = _chromium(f"--screenshot={shot}", "--window-size=1280,4000", compare_html.as_uri(), tmp=tmp_path)
    assert shot.is_file(), result.stderr[-2000:]
    pixels = mpimg.imread(shot)
    assert pixels.shape[1] == 1280 and pixels[..., :3].var() > 1e-3  # not blank

    assert decoded_images(compare_html, tmp_path)[0] == len(compare_report.figures)

    if os.environ.get("DESCENTLAB_UPDATE_SCREENSHOT"):  # refresh the README's picture
        DOCS.mkdir(exist_ok=True)
        mpimg.imsave(DOCS / "report.png", _crop_blank_bottom(pixels))

