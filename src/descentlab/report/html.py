"""The experiment report: one self-contained HTML file (figures as base64 PNG, CSS inline, no scripts, no external
assets — it works offline) and a Markdown twin whose PNGs are written next to it (``out.md`` → ``out_files/``).

:func:`build_report` reads only the store's records (via :class:`~.data.ExperimentData`) and renders the figures
once; :func:`render_html` / :func:`render_markdown` turn a :class:`Report` into text; :func:`write_html` /
:func:`write_markdown` write it (UserError for a path that cannot be written). All text is escaped.
"""

from __future__ import annotations

import base64
import html
import json
from dataclasses import dataclass
from pathlib import Path

from descentlab.data.fingerprint import describe as describe_data
from descentlab.errors import UserError
from descentlab.files import write_atomic
from descentlab.jsonable import to_json_data
from descentlab.report import plots, style, tables
from descentlab.report.data import ExperimentData, RunData, batch_label
from descentlab.report.summary import GroupSummary, SweepSummary, group_labels, summarize, sweep_summaries
from descentlab.report.tables import Table
from descentlab.schedules.spec import scheduled_label
from descentlab.specfile import to_toml
from descentlab.validation import check_output


@dataclass(frozen=True)
class Figure:
    title: str
    caption: str
    png: bytes


@dataclass(frozen=True)
class Report:
    data: ExperimentData
    groups: list[GroupSummary]
    sweeps: list[SweepSummary]
    tables: list[Table]
    figures: list[Figure]
    colors: dict[str, str]

    @property
    def title(self) -> str:
        exp = self.data.experiment
        name = f" — {exp.name}" if exp.name else ""
        return f"descentlab {exp.kind} #{exp.id}{name}"


def _sweep_of(run: RunData, sweeps: list[SweepSummary]) -> SweepSummary | None:
    return next((s for s in sweeps if s.holds(run)), None)


def _best_runs(data: ExperimentData, sweeps: list[SweepSummary]) -> list[RunData]:
    """For a sweep: the runs at each variant's chosen learning rate (all runs when nothing was chosen)."""
    runs = []
    for r in data.runs:
        sweep = _sweep_of(r, sweeps)
        if sweep is None or sweep.best_lr is None or sweep.best_lr == r.lr:
            runs.append(r)
    return runs or data.runs


def build_report(data: ExperimentData, *, dpi: int = 100, figures: bool = True) -> Report:
    """Summaries, tables and (unless ``figures=False``, which is much faster) rendered figures of one experiment."""
    groups = summarize(data)
    sweeps = sweep_summaries(data) if data.is_sweep else []
    # One colour per optimizer; variants of one (a sweep over momentum, say) get their own, the same in every
    # figure and table.
    colors = style.with_colors([s.label for s in sweeps] + group_labels(groups),
                               style.optimizer_colors(data.optimizers))
    several_batches = len(data.batch_sizes) > 1
    rendered: list[Figure] = []

    def add(title: str, caption: str, fig) -> None:
        rendered.append(Figure(title, caption, plots.png_bytes(fig, dpi=dpi)))

    curve_runs = data.runs if figures else []
    if sweeps and figures:
        by_loss = any(s.metric == "loss" for s in sweeps)  # regression: the rate of the lowest val loss
        add("Learning-rate sensitivity", f"Final validation {'loss' if by_loss else 'accuracy'} at each learning "
            "rate, mean ± std over seeds; the circled point is the rate chosen on validation, × marks rates where a "
            "seed diverged.", plots.lr_sensitivity(sweeps, colors=colors, metric="val_loss" if by_loss else "val_acc"))
        curve_runs = _best_runs(data, sweeps)
    def by(r: RunData) -> str:  # a schedule's runs are curves of their own: "adam (cosine)"
        name = scheduled_label(r.optimizer, r.schedule)
        return f"{name} · {batch_label(r.batch_size)}" if several_batches else name
    if any(s.fixed or s.schedule for s in sweeps):  # variants of one optimizer are curves of their own
        def by(r: RunData) -> str:
            sweep = _sweep_of(r, sweeps)
            name = sweep.label if sweep is not None else r.optimizer
            return f"{name} · {batch_label(r.batch_size)}" if several_batches else name
    at = " at the chosen learning rates" if sweeps else ""
    if curve_runs:
        add("Loss and accuracy vs epoch", f"Mean over seeds ± 1 std{at}; × marks where a diverged run stopped.",
            plots.training_curves(curve_runs, "epoch", by=by, colors=colors))
        if any(r.schedule for r in curve_runs):
            add("Learning-rate schedule", f"The learning rate used at each update{at}, as the runs logged it "
                "(every update; for long runs an evenly spaced subset), beside the curves above.",
                plots.lr_schedules(curve_runs, by=by, colors=colors))
        if any(r.steps for r in curve_runs):
            add("Training loss per update", f"The batch's training loss at each logged update{at} (every update; "
                "for long runs an evenly spaced subset of at most 1000), against the update and against epochs: "
                "the noise that the per-epoch means above average away.",
                plots.loss_per_update(curve_runs, by=by, colors=colors))
        add("Loss and accuracy vs wall-clock time", "Against cumulative training seconds (evaluation excluded).",
            plots.training_curves(curve_runs, "seconds", by=by, colors=colors))
    if several_batches and figures:
        add("Batch vs stochastic vs mini-batch gradient descent",
            "The same optimizer with the whole training set, one example, or a mini-batch per step.",
            plots.batch_size_comparison(data.runs))
    state: dict[str, float] = {}
    peak: dict[str, float] = {}
    for g in groups:
        state[g.optimizer] = max(state.get(g.optimizer, 0.0), g.state_bytes.mean if g.state_bytes.n else 0.0)
        if g.peak_memory_bytes.n:
            peak[g.optimizer] = max(peak.get(g.optimizer, 0.0), g.peak_memory_bytes.mean)
    if state and figures:
        add("Optimizer-state memory", "Bytes of the tensors each optimizer keeps per parameter set (e.g. Adam's two "
            "moments).", plots.memory_bars(state, peak or None, colors=colors))

    made = [tables.summary_table(groups)]
    made.append(tables.tuning_table(sweeps) if sweeps else tables.budget_table(data))
    made += [tables.hyperparameter_table(groups), tables.diverged_table(data),
             tables.environment_table(data.experiment.env if isinstance(data.experiment.env, dict) else {})]
    return Report(data, groups, sweeps, made, rendered, colors)


# -- HTML ---------------------------------------------------------------------------------------------------
_CSS = """
:root { --ink: #1f2328; --muted: #656d76; --line: #d8dee4; --band: #f6f8fa; }
* { box-sizing: border-box; }
body { margin: 0; background: #fff; color: var(--ink);
       font: 15px/1.5 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; }
main { max-width: 1280px; margin: 0 auto; padding: 24px 20px 48px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 34px 0 10px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
.meta { color: var(--muted); margin: 0 0 8px; }
.note { color: var(--muted); font-size: 13px; margin: 6px 0 0; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: 13.5px; font-variant-numeric: tabular-nums; }
th, td { padding: 6px 7px; border-bottom: 1px solid var(--line); text-align: right; white-space: nowrap; }
th { background: var(--band); font-weight: 600; white-space: normal; vertical-align: bottom; min-width: 4em; }
th:first-child, td:first-child { text-align: left; }
tbody tr:nth-child(even) td { background: #fbfcfd; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 50%; margin-right: 6px; }
figure { margin: 18px 0 26px; }
figure img { display: block; max-width: 100%; height: auto; border: 1px solid var(--line); border-radius: 6px; }
figcaption { color: var(--muted); font-size: 13.5px; margin-top: 6px; }
.empty { color: var(--muted); font-style: italic; }
pre { background: var(--band); padding: 12px; border-radius: 6px; font-size: 12.5px; overflow-x: auto; }
details summary { cursor: pointer; color: var(--muted); }
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _html_table(table: Table, colors: dict[str, str]) -> str:
    if not table.rows:
        return '<p class="empty">none</p>'
    head = "".join(f"<th>{_e(h)}</th>" for h in table.headers) if any(table.headers) else ""
    body = []
    for row in table.rows:
        first = _e(row[0])
        if row[0] in colors:
            first = f'<span class="swatch" style="background:{_e(colors[row[0]])}"></span>{first}'
        body.append("<tr><td>" + first + "</td>" + "".join(f"<td>{_e(c)}</td>" for c in row[1:]) + "</tr>")
    thead = f"<thead><tr>{head}</tr></thead>" if head else ""
    note = f'<p class="note">{_e(table.note)}</p>' if table.note else ""
    return f'<div class="scroll"><table>{thead}<tbody>{"".join(body)}</tbody></table></div>{note}'


def _meta(report: Report) -> list[str]:
    data = report.data
    exp = data.experiment
    statuses: dict[str, int] = {}
    for r in data.runs:
        statuses[r.run.shown_status] = statuses.get(r.run.shown_status, 0) + 1
    spec = exp.spec if isinstance(exp.spec, dict) else {}
    source = spec.get("task_source")  # a user's task: where its code or data came from, and its fingerprint
    origin = f" (from {source}, sha256 {str(spec.get('task_fingerprint', ''))[:16]})" if source else ""
    return [
        f"task: {', '.join(data.tasks) or '–'}{origin}",
        f"created {exp.created_at}",
        f"{len(data.runs)} runs ({', '.join(f'{n} {s}' for s, n in statuses.items()) or 'none'})",
        f"seeds: {', '.join(str(s) for s in data.seeds) or '–'}",
        *([f"data: {describe_data(exp.spec['data'])}"] if isinstance(exp.spec, dict) and "data" in exp.spec else []),
    ]


def render_html(report: Report) -> str:
    """The whole report as one HTML document (no scripts, no external references)."""
    parts = [f"<h1>{_e(report.title)}</h1>", f'<p class="meta">{_e(" · ".join(_meta(report)))}</p>']
    first, rest = report.tables[:2], report.tables[2:]
    for table in first:
        parts.append(f"<h2>{_e(table.title)}</h2>{_html_table(table, report.colors)}")
    if report.figures:
        parts.append("<h2>Figures</h2>")
    for fig in report.figures:
        data = base64.b64encode(fig.png).decode("ascii")
        parts.append(f'<figure><img src="data:image/png;base64,{data}" alt="{_e(fig.title)}">'
                     f"<figcaption><b>{_e(fig.title)}.</b> {_e(fig.caption)}</figcaption></figure>")
    for table in rest:
        parts.append(f"<h2>{_e(table.title)}</h2>{_html_table(table, report.colors)}")
    exp = report.data.experiment
    spec = json.dumps(to_json_data(exp.spec, default=str), indent=2, sort_keys=True)
    toml = to_toml(exp.kind, exp.spec)
    rerun = (f"<p>The spec file: save it as <code>spec.toml</code> (or write it with <code>descentlab report "
             f"{exp.id} --toml spec.toml</code>) and rerun with <code>descentlab {_e(exp.kind)} --spec spec.toml"
             f"</code>.</p><pre class=\"spec\">{_e(toml)}</pre>") if toml else ""
    parts.append(f"<h2>Specification</h2>{rerun}<details><summary>the experiment as it was stored</summary>"
                 f"<pre>{_e(spec)}</pre></details>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{_e(report.title)}</title><style>{_CSS}</style></head>"
            f"<body><main>{''.join(parts)}</main></body></html>\n")


# -- Markdown -----------------------------------------------------------------------------------------------
def _md_cell(text: str) -> str:
    """Text for Markdown: HTML escaped (values come from the store, like the HTML report's), one line, no ``|``."""
    return html.escape(str(text), quote=False).replace("|", "\\|").replace("\n", " ")


def _md_table(table: Table) -> str:
    if not table.rows:
        return "_none_\n"
    headers = table.headers if any(table.headers) else ("", "")
    lines = ["| " + " | ".join(_md_cell(h) for h in headers) + " |",
             "|" + "|".join(":---" if i == 0 else "---:" for i in range(len(headers))) + "|"]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in table.rows]
    if table.note:
        lines += ["", f"_{_md_cell(table.note)}_"]
    return "\n".join(lines) + "\n"


def render_markdown(report: Report, image_dir: str) -> str:
    """The report as Markdown; figure ``k`` (1-based) is linked as ``{image_dir}/figure-k.png``."""
    m = _md_cell
    out = [f"# {m(report.title)}", "", " · ".join(m(x) for x in _meta(report)), ""]
    for table in report.tables[:2]:
        out += [f"## {m(table.title)}", "", _md_table(table)]
    if report.figures:
        out += ["## Figures", ""]
    for k, fig in enumerate(report.figures, 1):
        out += [f"![{m(fig.title)}]({image_dir}/figure-{k}.png)", "", f"**{m(fig.title)}.** {m(fig.caption)}", ""]
    for table in report.tables[2:]:
        out += [f"## {m(table.title)}", "", _md_table(table)]
    exp = report.data.experiment
    toml = to_toml(exp.kind, exp.spec)
    if toml:
        out += ["## Specification", "", f"Rerun with `descentlab {exp.kind} --spec spec.toml`, this saved as "
                "`spec.toml`:", "", "```toml", toml.rstrip("\n"), "```", ""]
    return "\n".join(out)


# -- writing ------------------------------------------------------------------------------------------------
def check_writable(path: str | Path) -> Path:
    """UserError unless a file can be created at ``path`` (its folder exists and is writable, it is no folder)."""
    return check_output(path)


def write_html(report: Report, path: str | Path) -> Path:
    path = check_writable(path)
    write_atomic(path, render_html(report))
    return path


def write_markdown(report: Report, path: str | Path) -> Path:
    """Write ``path`` and its figures as ``<stem>_files/figure-k.png`` beside it."""
    path = check_writable(path)
    folder = path.with_name(f"{path.stem}_files")
    try:
        folder.mkdir(exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create {folder}: {e.strerror or e}") from None
    for k, fig in enumerate(report.figures, 1):
        write_atomic(folder / f"figure-{k}.png", fig.png)
    write_atomic(path, render_markdown(report, folder.name))
    return path
