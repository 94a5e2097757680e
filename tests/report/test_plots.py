"""Plot functions: the right series and labels, NaN/diverged runs, PNG and SVG files."""

from __future__ import annotations

from descentlab.report import plots, style, summary
from descentlab.report.data import batch_label
from tests.report import synthetic as syn

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _legend_texts(fig) -> list[str]:
    return [t.get_text() for legend in fig.legends for t in legend.get_texts()]


def test_training_curves_one_line_per_optimizer_per_axes(experiments):
    compare, _, _ = experiments
    colors = style.optimizer_colors(compare.optimizers)
    for x in ("epoch", "seconds"):
        fig = plots.training_curves(compare.runs, x, colors=colors)
        axes = fig.get_axes()
        assert len(axes) == 6
        for ax in axes:
            lines = ax.get_lines()
            assert [line.get_label() for line in lines] == list(syn.OPTIMIZERS)
            assert [line.get_color() for line in lines] == [colors[o] for o in syn.OPTIMIZERS]
        legend = _legend_texts(fig)
        assert legend[:4] == list(syn.OPTIMIZERS) and "diverged" in legend[4]
        assert "epoch" in axes[3].get_xlabel() or "s" in axes[3].get_xlabel()


def test_diverged_run_is_marked_where_it_stopped_and_nan_is_not_plotted(experiments):
    compare, _, _ = experiments
    fig = plots.training_curves(compare.runs, "epoch")
    train_loss = fig.get_axes()[0]
    markers = [c.get_offsets() for c in train_loss.collections if c.get_offsets().shape == (1, 2)]
    assert any(off[0][0] == 5 for off in markers)  # epochs 6–7 of the diverged run have NaN loss: stopped at 5
    rmsprop = train_loss.get_lines()[3]
    assert len(rmsprop.get_xdata()) == syn.EPOCHS  # the other seeds go on; no NaN in the mean
    assert all(y == y for y in rmsprop.get_ydata())


def test_run_without_any_epoch_is_marked_at_the_top_edge(experiments):
    _, sweep, _ = experiments
    diverged = [r for r in sweep.runs if r.optimizer == "adam" and r.lr == 1.0]
    fig = plots.training_curves(diverged, "epoch")
    ax = fig.get_axes()[0]
    assert len(ax.get_lines()) == 1 and len(ax.get_lines()[0].get_xdata()) == 0
    assert len(ax.collections) == 1 and len(ax.collections[0].get_offsets()) == 3


def test_lr_sensitivity_lines_log_axis_chosen_circle_and_diverged(experiments):
    _, sweep, _ = experiments
    sweeps = summary.sweep_summaries(sweep)
    fig = plots.lr_sensitivity(sweeps)
    ax = fig.get_axes()[0]
    assert ax.get_xscale() == "log"
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == ["sgd", "adam"]
    assert list(lines[0].get_xdata()) == list(syn.SWEEP_LRS["sgd"])
    assert list(lines[1].get_xdata()) == [0.0001, 0.001, 0.01]  # lr 1 diverged for every seed: no mean
    legend = _legend_texts(fig)
    assert "chosen lr (best on validation)" in legend and any("diverged" in t for t in legend)
    circled = [c.get_offsets()[0] for c in ax.collections if c.get_facecolors().size == 0]
    assert sorted(float(x) for x, _ in circled) == [0.001, 0.1]


def test_batch_size_comparison_and_memory_bars(experiments):
    _, _, batches = experiments
    fig = plots.batch_size_comparison(batches.runs)
    loss_epoch, loss_time, memory = fig.get_axes()
    labels = [batch_label(b) for b in syn.BATCH_SIZES]
    assert [line.get_label() for line in loss_epoch.get_lines()] == labels
    assert [line.get_label() for line in loss_time.get_lines()] == labels
    assert len(memory.patches) == 3
    assert _legend_texts(fig) == labels

    fig = plots.memory_bars({"sgd": 0, "adam": 200_008}, {"sgd": 1e6, "adam": None})
    ax = fig.get_axes()[0]
    assert len(ax.patches) == 4  # state and peak, side by side
    texts = [t.get_text() for t in ax.texts]
    assert "195.3 KiB" in texts and "0 B" in texts
    assert ax.get_ylabel() == "memory (KiB)"


def test_save_png_and_svg(tmp_path, experiments):
    _, _, batches = experiments
    fig = plots.memory_bars({"sgd": 0, "adam": 2048})
    png = plots.save(fig, tmp_path / "m.png")
    svg = plots.save(fig, tmp_path / "m.svg")
    assert png.read_bytes()[:8] == PNG_MAGIC
    assert svg.stat().st_size > 0 and b"<svg" in svg.read_bytes()[:2000]
    assert plots.png_bytes(fig)[:8] == PNG_MAGIC


def test_save_refuses_other_suffixes_and_unwritable_paths(tmp_path):
    import pytest

    from descentlab.errors import UserError

    fig = plots.memory_bars({"sgd": 0})
    with pytest.raises(UserError, match=r"\.png or \.svg"):
        plots.save(fig, tmp_path / "m.pdf")
    with pytest.raises(UserError, match="cannot write"):
        plots.save(fig, tmp_path / "missing" / "m.png")
