r"""Figures of attnlab: one style, no global side effects, and the data next to every figure.

Conventions: theory is a solid black line, simulation a marker with a mean ± sd band or error
bars over seeds, thresholds dashed lines named in the legend, histograms step-filled under a
density; colours from the Okabe–Ito palette (:data:`PALETTE`, safe for colour-blind readers).
Figures are ``matplotlib.figure.Figure`` objects made without pyplot, and every helper draws
inside the current style's ``rc_context`` (:mod:`attnlab.plot._style`), so importing attnlab or
drawing leaves matplotlib's backend and rcParams as the user set them. matplotlib is imported
only when a helper is called.

Writing a plot function
-----------------------
An experiment's plot function takes ``(result, config)`` and returns ``{name: Figure}``; the
store writes each figure in the formats, dpi and style of :class:`FigureOptions` (``attnlab run
--format png,pdf,svg --dpi 300 --style talk``), plus its data. The checklist:

- **Panels**: :func:`panel_grid` (``n`` panels wrapped in rows of at most three) rather than one
  long row; a title shared by every panel goes once, with :func:`suptitle`; panel titles say
  what differs between panels.
- **Ranges**: pass the quantity's range to :func:`simulation_band` / :func:`simulation_points`
  (``clip=(0, 1)`` for a squared overlap, ``(-1, 1)`` for a cosine, ``(0, None)`` for a risk),
  so a ± sd band never shows impossible values.
- **Counts**: an axis that counts (runs, trials) gets :func:`integer_ticks`.
- **Legends**: every entry must show on the plot. A curve through one point needs a marker
  (:func:`theory_line` and :func:`simulation_band` add one); two curves that coincide need
  distinct markers, a wider stroke or a dash; :func:`finish` leaves out entries that draw
  nothing. Every reference line has a label (:func:`threshold_lines`). A legend must not sit on
  data: :func:`save_figure` moves one that does (:func:`place_legends`: a free corner or side,
  else just outside the panel), and panels that share their entries take one legend under the
  figure (:func:`figure_legend`, with ``finish(..., legend=False)``). A legend-only entry (a
  marker shape that stands for every run's colour) is a proxy artist given to ``ax.legend``,
  not an empty curve on the axes.
- **Math**: labels take mathtext, ``r"$\langle u, \hat\mu\rangle^2$"``; it is embedded as
  TrueType in the PDF like the rest of the text (no Type 3 font).
- **Data**: ``return {"overlap": with_data(fig, table)}`` attaches the tidy table the figure is
  drawn from (one row per plotted point, long format: columns for the coordinates and for the
  grouping — ``curve``, ``panel``, ``seed`` — and, for theory curves, the grid they are
  evaluated on). The store writes it as ``<name>.data.csv`` next to ``<name>.png`` and lists it
  in the manifest (``figure_data``); without :func:`with_data` the run's own table
  (``results.parquet``'s content) is written there. Tables over :data:`MAX_CSV_ROWS` rows go
  to ``<name>.data.parquet``.
- **Check**: ``assert plot.figure_problems(fig) == []`` in the family's tests; the store
  records the problems of every figure in the manifest (``figure_problems``) and the report
  shows them under the figure.

Example::

    def _plot(result, config):
        from attnlab import plot

        table = result.table
        fig, axes = plot.panel_grid(len(config.deltas))
        for ax, (delta, sub) in zip(axes, table.groupby("delta")):
            plot.theory_line(ax, sub["alpha"], sub["theory"])
            plot.simulation_points(ax, sub["alpha"], sub["mean"], sub["sd"], clip=(0, 1))
            plot.finish(ax, xlabel=r"$\alpha$", ylabel=r"$m^2$", title=rf"$\delta = {delta:g}$")
        plot.suptitle(fig, f"overlap at d = {config.model.d}")
        return {"overlap": plot.with_data(fig, table[["delta", "alpha", "theory", "mean", "sd"]])}
"""

from __future__ import annotations

from attnlab.plot._check import figure_problems
from attnlab.plot._draw import (
    close_figure,
    color,
    figure_legend,
    finish,
    histogram_vs_density,
    integer_ticks,
    panel_grid,
    place_legends,
    simulation_band,
    simulation_points,
    subplots,
    suptitle,
    theory_line,
    threshold_lines,
)
from attnlab.plot._options import FORMATS, FigureOptions
from attnlab.plot._save import (
    MAX_CSV_ROWS,
    figure_bytes,
    figure_data,
    save_figure,
    save_figure_data,
    with_data,
)
from attnlab.plot._style import (
    PALETTE,
    STYLES,
    THEORY_COLOR,
    Style,
    current_style,
    get_style,
    style,
)

__all__ = [
    "FORMATS",
    "MAX_CSV_ROWS",
    "PALETTE",
    "STYLES",
    "THEORY_COLOR",
    "FigureOptions",
    "Style",
    "close_figure",
    "color",
    "current_style",
    "figure_bytes",
    "figure_data",
    "figure_legend",
    "figure_problems",
    "finish",
    "get_style",
    "histogram_vs_density",
    "integer_ticks",
    "panel_grid",
    "place_legends",
    "save_figure",
    "save_figure_data",
    "simulation_band",
    "simulation_points",
    "style",
    "subplots",
    "suptitle",
    "theory_line",
    "threshold_lines",
    "with_data",
]
