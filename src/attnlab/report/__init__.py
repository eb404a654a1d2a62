"""The main job: ``attnlab reproduce`` runs every registered experiment and writes one report.

- :func:`reproduce` — run every experiment of every family (``quick`` presets or full
  defaults) into one results root, resumably (complete runs are skipped), one crashing
  experiment never stopping the others; then write the report.
- :func:`write_report` — render ``OUT/report.html`` and ``OUT/report.md`` from any results root:
  per family, the model in two lines, every figure, the theory-vs-simulation table with
  difference, tolerance and PASS/FAIL, headline numbers, configuration, seeds and run time.
- :func:`write_gallery` — copy the figures next to a Markdown gallery (``docs/gallery.md``).
- :func:`collect` — the same content as plain data (:class:`ReportData`).
"""

from attnlab.report._collect import ReportData, RunView, collect, model_summary
from attnlab.report._render import render_html, render_markdown, write_gallery, write_report
from attnlab.report._reproduce import (
    ReproduceOutcome,
    RunRecord,
    default_out,
    reproduce,
    select_experiments,
)

__all__ = [
    "ReportData",
    "ReproduceOutcome",
    "RunRecord",
    "RunView",
    "collect",
    "default_out",
    "model_summary",
    "render_html",
    "render_markdown",
    "reproduce",
    "select_experiments",
    "write_gallery",
    "write_report",
]
