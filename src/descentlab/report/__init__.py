"""Everything a user sees of stored results: numbers, tables, plots and the self-contained HTML report.

The report reads only the results store (docs/design.md, principle 3) and never imports the experiments that
wrote it; what it needs beyond the runs (the target, a sweep's grid) is stored with the experiment.

- :mod:`.data` — one experiment's runs with their per-epoch metrics (:class:`~.data.RunData`), read defensively;
- :mod:`.summary` — the numbers: per-group statistics over seeds and, for sweeps, the chosen learning rates;
- :mod:`.sweep` — a sweep read back: a row per variant, the sensitivity table, the JSON summary;
- :mod:`.tables` — the :class:`~.tables.Table` model, built once and rendered to HTML, Markdown and the console;
- :mod:`.style` — the one figure style (colours, fonts, sizes);
- :mod:`.plots` — matplotlib figures from plain data (no ``plt.show``), and :func:`~.plots.save`;
- :mod:`.html` — :func:`~.html.build_report`, :func:`~.html.write_html`, :func:`~.html.write_markdown`;
- :mod:`.lr_find_report`, :mod:`.lr_find_plot` — an ``lr-find`` experiment's report, rebuilt from the store;
- :mod:`.trace`, :mod:`.trace_gif` — optimizer paths already traced, tabulated and drawn (they run nothing).

Import the submodules directly; this package imports nothing so that ``matplotlib`` loads only when plotting.
"""
