"""Generate docs/optimizers.md, a trace figure per optimizer on Rosenbrock, and the README's docs/trace.gif.

The math and the papers are taken from each rule module's docstring (reStructuredText, converted to GitHub
Markdown here), never retyped; only the "when to use it" sentences are written in this script.

    python scripts/make_optimizer_docs.py            # writes docs/optimizers.md, docs/trace.{png,gif}, docs/traces/
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

from descentlab import optim
from descentlab.experiments import trace as search
from descentlab.report import trace as tr
from descentlab.report.trace_gif import save_gif
from descentlab.tasks.functions import get_function
from descentlab.trajectories import Traced

DOCS = Path(__file__).resolve().parent.parent / "docs"
FUNCTION = "rosenbrock"
README_SET = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam")

WHEN = {
    "sgd": "Convex or well-conditioned problems, and as the baseline; with a tuned schedule it still generalizes "
           "well on vision models.",
    "momentum": "The default SGD for deep vision models (ResNets): damps zig-zagging across narrow valleys and "
                "speeds up along them.",
    "nesterov": "Where you would use momentum; the look-ahead gradient reacts a step earlier and is often "
                "slightly more stable.",
    "adam": "The safe default for most networks (transformers, RNNs, MLPs): little tuning, lr ≈ 1e-3.",
    "amsgrad": "Adam that diverges or oscillates late in training (its step size can only shrink).",
    "adamw": "Adam with weight decay — what to use instead of Adam + L2 whenever you regularize (transformers, "
             "fine-tuning).",
    "adagrad": "Sparse features (embeddings, linear models on text); steps keep shrinking, so not for long "
               "non-convex runs.",
    "rmsprop": "Non-stationary objectives (RNNs, reinforcement learning); Adam without the first moment.",
    "rmsprop-centered": "RMSprop that is unstable: normalizing by the gradient's variance rather than its raw "
                        "second moment.",
    "adadelta": "When you do not want to pick a learning rate at all (lr = 1 works as a scale); rarely the fastest.",
    "adamax": "Adam with very heavy-tailed or spiky gradients (embeddings): the ∞-norm is more robust.",
    "nadam": "Adam with Nesterov momentum: often a little faster than Adam for the same tuning.",
    "radam": "Adam without a warmup schedule: the rectification plays warmup's role in the first steps.",
    "lion": "Large models under memory pressure (one state tensor); use a 3–10× smaller lr than AdamW.",
    "sgd-schedulefree": "SGD when you do not know the training length in advance: no schedule to tune.",
    "adamw-schedulefree": "AdamW without a learning-rate schedule or a fixed step budget.",
    "muon": "Hidden-layer weight matrices of transformers and CNNs (AdamW on the rest); fast in wall-clock terms.",
}


def rst_to_md(text: str) -> str:
    """The few reStructuredText constructs our docstrings use, as GitHub Markdown."""
    text = re.sub(r":math:`([^`]*)`", r"$\1$", text)
    text = re.sub(r":(?:class|func|data|mod|meth):`~?([^`]*)`", r"`\1`", text)
    return re.sub(r"``([^`]*)``", r"`\1`", text)


def paragraphs(doc: str) -> list[str]:
    return [p for p in re.split(r"\n\s*\n", doc.strip("\n"))]


def rule_math(doc: str) -> str:
    """The docstring's first paragraph, the paragraph that names the symbols and the first math block."""
    paras = paragraphs(doc)
    out = [rst_to_md(" ".join(paras[0].split()))]
    for i, p in enumerate(paras):
        if p.strip() == ".. math::":
            if i > 1:
                out.append(rst_to_md(" ".join(paras[i - 1].split())))
            lines = [line.strip() for line in paras[i + 1].splitlines()]
            out.append("```math\n\\begin{aligned}\n" + "\n".join(lines) + "\n\\end{aligned}\n```")
            break
    return "\n\n".join(out)


def papers(doc: str, fallback: str) -> str:
    for p in paragraphs(doc):
        if re.match(r"\s*Papers?:", p):
            return rst_to_md(" ".join(p.split()))
    return f"Paper: {fallback}" if fallback else ""


def fmt(value: object) -> str:
    return f"`{value!r}`" if not isinstance(value, tuple) else "`(" + ", ".join(map(str, value)) + ")`"


def section(name: str, first_of_rule: dict[str, str], figure: str, traced: Traced) -> str:
    entry = optim.get(name)
    rule = entry.cls.rule
    module = sys.modules[rule.update.__module__]
    doc = module.__doc__ or ""
    lines = [f"## {name}", "", f"*{entry.summary}* — `descentlab.optim.{entry.cls.__name__}`"
             + (f" with {', '.join(f'`{k}={v!r}`' for k, v in entry.implied.items())}" if entry.implied else ""),
             ""]
    if module.__name__ in first_of_rule:
        other = first_of_rule[module.__name__]
        lines += [f"Rule: as [{other}](#{other}) (`{module.__name__}`).", ""]
    else:
        first_of_rule[module.__name__] = name
        lines += [rule_math(doc), "", papers(doc, rule.paper), ""]
    lines += [f"**When to use it.** {WHEN.get(name, '—')}", "", "| hyperparameter | default |", "|---|---|"]
    lines += [f"| `{k}` | {fmt(v)}{' (implied by the name)' if k in entry.implied else ''} |"
              for k, v in entry.hyperparameters().items()]
    reached = "" if traced.diverged else f", final f = {traced.final_value:.3g}"
    lines += ["", f"![{name} on {FUNCTION}]({figure})", "",
              f"*{FUNCTION} from {get_function(FUNCTION).start}, {len(traced.positions) - 1} steps, "
              f"lr = {traced.lr:.3g} (best of the grid){reached}.*", ""]
    return "\n".join(lines)


def main() -> int:
    f = get_function(FUNCTION)
    (DOCS / "traces").mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    traced = {name: search.pick_lr(f, name, search.DEFAULT_STEPS) for name in optim.names()}
    order = [*README_SET, *(n for n in optim.names() if n not in README_SET)]
    sections, first_of_rule = [], {}
    for name in order:
        figure = f"traces/{name}.png"
        tr.plot_paths(f, [traced[name]], dpi=80).savefig(DOCS / figure)
        sections.append(section(name, first_of_rule, figure, traced[name]))
    combined = [traced[n] for n in README_SET]
    tr.plot_paths(f, combined).savefig(DOCS / "trace.png")
    save_gif(f, combined, DOCS / "trace.gif")
    grid = ", ".join(f"{v:g}" for v in search.LR_GRID)
    head = [
        "# Optimizers", "",
        "<!-- generated by scripts/make_optimizer_docs.py; edit the rule docstrings or the script, not this file -->",
        "",
        "Every optimizer that `descentlab.optim.names()` knows: its update rule (from the rule module's "
        "docstring, the single source of the math), its paper, when to use it, its defaults, and its path on "
        f"{FUNCTION} ({f.description}) from {f.start} in {search.DEFAULT_STEPS} steps. Each path uses the learning "
        f"rate from {{{grid}}} with the lowest final value (`descentlab trace`'s rule).", "",
        "![sgd, momentum, nesterov, adagrad, rmsprop and adam on rosenbrock](trace.gif)", "",
        "Contents: " + ", ".join(f"[{n}](#{n})" for n in order), "",
    ]
    (DOCS / "optimizers.md").write_text("\n".join(head + sections))
    print(f"wrote {DOCS / 'optimizers.md'} and {len(order) + 2} images in {time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
