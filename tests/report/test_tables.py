"""One table model, three renderings: the console shows the same rows as the HTML, its brief columns only."""

from __future__ import annotations

import io

from rich.console import Console

from descentlab.report import summary, tables
from descentlab.report.html import build_report, render_html, render_markdown


def _text(renderable, width: int) -> str:
    console = Console(width=width, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


def test_the_console_prints_the_reports_summary_rows_in_its_brief_columns(experiments):
    compare, _, _ = experiments
    table = tables.summary_table(summary.summarize(compare))
    text = _text(tables.rich_table(table, width=160), 160)
    for row in table.rows:
        for i in table.brief:
            assert row[i] in text  # every cell on one line
    assert "steps / s" not in text and "steps / s" in _text(tables.rich_table(table, brief=False), 400)
    assert max(len(line) for line in text.splitlines()) <= 160
    report = build_report(compare, figures=False)
    html, md = render_html(report), render_markdown(report, "figures")
    for row in table.rows:
        assert row[4] in html and row[4] in md


def test_a_narrow_console_wraps_headers_and_never_cells():
    table = tables.Table("T", ("name", "a long header of many words"), (("x", "1.000 ± 0.001"),))
    wide = _text(tables.rich_table(table, width=200), 200)
    narrow = _text(tables.rich_table(table, width=30), 30)
    assert "a long header of many words" in wide and "1.000 ± 0.001" in narrow
    assert "a long header of many words" not in narrow and max(len(line) for line in narrow.splitlines()) <= 30
