"""Everything a user sees of stored results: numbers, tables, plots and the self-contained HTML report.

The report reads only the results store (docs/design.md, principle 3):

- :mod:`.data` — one experiment's runs with their per-epoch metrics (:class:`~.data.RunData`), read defensively;
- :mod:`.summary` — the numbers: per-group statistics over seeds and, for sweeps, the chosen learning rates;
- :mod:`.tables` — those numbers as rows of text, shared by the HTML, the Markdown and the console;
- :mod:`.plots` — matplotlib figures from plain data (no ``plt.show``), and :func:`~.plots.save`;
- :mod:`.html` — :func:`~.html.build_report`, :func:`~.html.write_html`, :func:`~.html.write_markdown`.

Import the submodules directly; this package imports nothing so that ``matplotlib`` loads only when plotting.
"""
