"""Plot helpers draw the expected artists, headless (Agg), matplotlib imported lazily."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from attnlab import plot


@pytest.fixture
def ax():
    fig, ax = plot.subplots()
    yield ax
    plot.close_figure(fig)


def test_backend_is_agg_and_figure_sized_per_panel():
    fig, axes = plot.subplots(2, 3, width=2.0, height=1.5)
    try:
        assert axes.shape == (2, 3)
        np.testing.assert_allclose(fig.get_size_inches(), [6.0, 3.0])
    finally:
        plot.close_figure(fig)


def test_theory_line(ax):
    x = np.linspace(0, 1, 11)
    (line,) = plot.theory_line(ax, x, x**2)
    assert ax.get_lines() == [line]
    assert line.get_linestyle() == "-" and line.get_label() == "theory"
    np.testing.assert_allclose(line.get_ydata(), x**2)


def test_simulation_band_mean_and_sd(ax):
    from matplotlib.collections import PolyCollection

    x = np.arange(4.0)
    samples = np.array([[0.0, 1, 2, 3], [2.0, 3, 4, 5]])
    (line,) = plot.simulation_band(ax, x, samples, label="sim")
    np.testing.assert_allclose(line.get_ydata(), [1, 2, 3, 4])
    bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(bands) == 1
    # the band spans mean +- sd (ddof=1): sd = sqrt(2) at every x
    ys = bands[0].get_paths()[0].vertices[:, 1]
    np.testing.assert_allclose([ys.min(), ys.max()], [1 - np.sqrt(2), 4 + np.sqrt(2)])


def test_simulation_points_error_bars(ax):
    container = plot.simulation_points(ax, [1, 2, 3], [0.1, 0.2, 0.3], [0.01, 0.02, 0.03])
    assert container.has_yerr
    assert len(ax.get_lines()) >= 1


def test_threshold_lines_skip_missing(ax):
    plot.threshold_lines(ax, [0.5, None, float("nan"), 2.0], ["a", "b", "c", "d"])
    vlines = [ln for ln in ax.get_lines() if ln.get_linestyle() == "--"]
    assert sorted(ln.get_xdata()[0] for ln in vlines) == [0.5, 2.0]
    assert {ln.get_label() for ln in vlines} == {"a", "d"}


def test_histogram_vs_density(ax):
    rng = np.random.default_rng(0)
    grid = np.linspace(-4, 4, 50)
    plot.histogram_vs_density(ax, rng.standard_normal(500), grid, np.exp(-(grid**2) / 2), bins=20)
    assert len(ax.patches) >= 1  # stepfilled histogram
    assert [ln.get_label() for ln in ax.get_lines()] == ["theory"]


def test_finish_sets_labels_and_legend(ax):
    plot.theory_line(ax, [0, 1], [0, 1])
    plot.finish(ax, xlabel="x", ylabel="y", title="t")
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == ("x", "y", "t")
    assert ax.get_legend() is not None


def test_matplotlib_and_jax_are_imported_lazily(python, subprocess_env):
    code = (
        "import sys, attnlab, attnlab.plot, attnlab.cli, attnlab.config, attnlab.sweep;"
        "bad = [m for m in ('matplotlib', 'jax', 'pandas', 'distributed') if m in sys.modules];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    res = subprocess.run([python, "-c", code], env=subprocess_env, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def test_simulation_band_clipped_to_the_range(ax):
    from matplotlib.collections import PolyCollection

    # two seeds at 0.9 and 1.0 per x: mean 0.95, sd 0.0707, so mean + sd = 1.0207 > 1
    samples = np.array([[0.9, 0.9], [1.0, 1.0]])
    plot.simulation_band(ax, [0.0, 1.0], samples, clip=(0, 1))
    (band,) = [c for c in ax.collections if isinstance(c, PolyCollection)]
    ys = band.get_paths()[0].vertices[:, 1]
    np.testing.assert_allclose([ys.min(), ys.max()], [0.95 - np.sqrt(0.005), 1.0])


def test_simulation_points_error_bars_clipped(ax):
    container = plot.simulation_points(ax, [1, 2], [0.05, 0.5], [0.1, 0.1], clip=(0, 1))
    segments = container.lines[2][0].get_segments()
    lows = [min(seg[:, 1]) for seg in segments]
    np.testing.assert_allclose(lows, [0.0, 0.4])  # 0.05 - 0.1 < 0 is cut at 0


def test_simulation_points_asymmetric_error_bars(ax):
    # (below, above) rows, as subspace-robustness passes them; clipped to the range too
    container = plot.simulation_points(
        ax, [1, 2], [0.05, 0.5], [[0.1, 0.2], [0.3, 0.6]], clip=(0, 1)
    )
    segments = container.lines[2][0].get_segments()
    np.testing.assert_allclose([min(seg[:, 1]) for seg in segments], [0.0, 0.3])
    np.testing.assert_allclose([max(seg[:, 1]) for seg in segments], [0.35, 1.0])


def test_a_single_point_curve_gets_a_marker(ax):
    (line,) = plot.theory_line(ax, [2.0], [0.3])
    assert line.get_marker() == "o"
    (line,) = plot.simulation_band(ax, [2.0], [[0.3], [0.4]], markers=False)
    assert line.get_marker() == "o"
    assert plot.figure_problems(ax.figure) == []


def test_threshold_lines_horizontal(ax):
    plot.threshold_lines(ax, [0.25], ["best linear"], axis="y")
    (line,) = ax.get_lines()
    np.testing.assert_allclose(line.get_ydata(), [0.25, 0.25])
    with pytest.raises(ValueError, match="axis = 'z'"):
        plot.threshold_lines(ax, [1.0], ["x"], axis="z")


def test_finish_leaves_out_entries_that_draw_nothing(ax):
    ax.plot([1.0], [2.0], "-", label="one point, no marker")  # shows nothing
    ax.plot([np.nan, np.nan], [1.0, 2.0], "o", label="all NaN")
    plot.theory_line(ax, [0, 1], [0, 1], label="theory")
    plot.finish(ax)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["theory"]
    problems = plot.figure_problems(ax.figure)
    assert len(problems) == 2 and all("draws nothing" in p for p in problems), problems


def test_figure_problems_finds_what_a_reader_would_notice():
    fig, axes = plot.subplots(1, 4)
    x = np.linspace(0, 1, 5)
    for ax in axes:
        plot.theory_line(ax, x, x, label="informed")
        plot.theory_line(ax, x, x, label="uninformed")  # drawn exactly on top
        plot.finish(ax, title="same", xlabel="α", ylabel="number of runs")
        ax.set_ylim(0, 1.5)
    axes[0].tick_params(labelsize=4)
    fig.canvas.draw()
    problems = plot.figure_problems(fig)
    text = "\n".join(problems)
    assert "legend entry 'informed' is drawn exactly under 'uninformed'" in text
    assert "the same title 'same' on 4 panels" in text
    assert "4 panels in one row" in text
    assert "counts but has non-integer ticks" in text
    assert "text of 4 pt" in text
    # the fixes: a grid, one shared title, distinct markers, integer ticks, readable text
    fig, axes = plot.panel_grid(4)
    for i, ax in enumerate(axes):
        plot.theory_line(ax, x, x, label="informed", marker="s", ms=7)
        plot.simulation_band(ax, x, [x, x], label="uninformed")
        plot.integer_ticks(ax)
        plot.finish(ax, title=f"δ = {i}", xlabel="α", ylabel="number of runs")
        ax.set_ylim(0, 3)
    plot.suptitle(fig, "same")
    fig.canvas.draw()
    assert plot.figure_problems(fig) == []


def test_panel_grid_wraps_rows():
    fig, axes = plot.panel_grid(5)
    assert len(axes) == 5 and len(fig.axes) == 5
    assert axes[0].get_subplotspec().get_gridspec().get_geometry() == (2, 3)
    plot.close_figure(fig)


def test_figure_data_attached_and_written(tmp_path, monkeypatch):
    import pandas as pd

    from attnlab.plot import _save

    fig, ax = plot.subplots()
    assert plot.figure_data(fig, default="run table") == "run table"
    assert plot.with_data(fig, {"alpha": [0.5, 1.0], "risk": [0.25, 0.125]}) is fig
    table = plot.figure_data(fig)
    assert list(table.columns) == ["alpha", "risk"]
    name = plot.save_figure_data(table, tmp_path / "risk")
    assert name == "risk.data.csv"
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / name), table)
    monkeypatch.setattr(_save, "MAX_CSV_ROWS", 1)  # longer tables go to Parquet
    assert plot.save_figure_data(table, tmp_path / "risk") == "risk.data.parquet"
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "risk.data.parquet"), table)
    with pytest.raises(ValueError, match="must be a pandas DataFrame"):
        plot.with_data(fig, [1, 2, 3])
    plot.close_figure(fig)


def test_png_resolution_and_figure_options():
    from attnlab.config import ConfigError

    fig, ax = plot.subplots(width=2.0, height=1.0)
    ax.plot([0, 1], [0, 1])
    widths = []
    for dpi in (100, 200):
        png = plot.figure_bytes(fig, "png", dpi=dpi)
        widths.append(int.from_bytes(png[16:20], "big"))
    assert abs(widths[1] - 2 * widths[0]) <= 2  # twice the dpi, twice the pixels
    assert b"/CreationDate" not in plot.figure_bytes(fig, "pdf")  # no timestamp
    plot.close_figure(fig)
    opts = plot.FigureOptions(formats=["svg"], dpi=300, style="talk")
    assert opts.to_dict() == {"formats": ["svg"], "dpi": 300, "style": "talk"}
    with pytest.raises(ConfigError, match="dpi"):
        plot.FigureOptions(dpi=10)


def test_curves_apart_on_a_log_axis_are_not_one_curve(ax):
    """Overlap is judged in pixels: 1e-15 and 3e-15 are far apart on a log axis (the data-unit
    comparison with an absolute tolerance called them one curve in the erf training figure)."""
    x = np.arange(5.0)
    plot.theory_line(ax, x, np.full(5, 1e-15), label="floor")
    plot.theory_line(ax, x, np.full(5, 3e-15), label="runs", color=plot.color(1))
    ax.set_yscale("log")
    plot.finish(ax, loc="center")
    assert plot.figure_problems(ax.figure) == []


def test_a_curve_under_a_dashed_or_thinner_one_still_shows(ax):
    x = np.linspace(0, 1, 5)
    plot.theory_line(ax, x, x, label="wide", lw=6, alpha=0.3)
    plot.theory_line(ax, x, x, label="solid", color=plot.color(1))
    ax.plot(x, x, "--", label="dashed", color=plot.color(2))
    plot.finish(ax, loc="lower right")
    assert plot.figure_problems(ax.figure) == []
    ax.plot(x, x, "--", label="dashed again", color=plot.color(3))  # hides 'dashed'
    plot.finish(ax, loc="lower right")
    (problem,) = plot.figure_problems(ax.figure)
    assert "'dashed' is drawn exactly under 'dashed again'" in problem


def test_a_legend_over_data_is_reported_and_moved(ax, tmp_path):
    x = np.linspace(0, 1, 50)
    plot.theory_line(ax, x, 1 - x, label="falling")
    ax.axvline(0.85, ls="--", color="0.5", label="threshold")  # two vertices: 'best' misses it
    plot.finish(ax, loc="upper right")
    (problem,) = plot.figure_problems(ax.figure)
    assert "the legend covers data ('threshold')" in problem
    assert plot.place_legends(ax.figure) == ["panel 1: legend to lower left"]
    assert plot.figure_problems(ax.figure) == []
    # nowhere free inside: just outside the panel, on its right
    for y in np.linspace(0.05, 0.95, 10):
        ax.axhline(y, lw=0.5, color="0.8")
    plot.finish(ax, loc="upper right")
    assert plot.place_legends(ax.figure) == ["panel 1: legend outside, right"]
    assert plot.figure_problems(ax.figure) == []
    # saving places legends first
    plot.finish(ax, loc="upper right")
    assert plot.figure_problems(ax.figure)
    plot.save_figure(ax.figure, tmp_path / "f", formats=("png",))
    assert plot.figure_problems(ax.figure) == []


def test_figure_legend_lists_each_entry_once_below_the_panels():
    fig, axes = plot.panel_grid(3)
    x = np.linspace(0, 1, 5)
    for i, ax in enumerate(axes):
        plot.theory_line(ax, x, x**2, label="theory")
        plot.simulation_points(ax, x, x**2, 0.1 * np.ones(5), label="simulation")
        if i == 2:
            ax.axhline(0.5, ls=":", label="only here")
        ax.plot([], [], label="draws nothing")
        plot.finish(ax, legend=False, title=f"panel {i}")
    legend = plot.figure_legend(fig)
    labels = [t.get_text() for t in legend.get_texts()]
    assert labels == ["theory", "simulation", "only here"]
    fig.draw_without_rendering()
    below = max(ax.get_window_extent().y0 for ax in axes)
    assert legend.get_window_extent().y1 <= min(ax.get_window_extent().y0 for ax in axes) + 1
    assert below > 0
    assert all(ax.get_legend() is None for ax in axes)
    plot.close_figure(fig)


def test_panel_titles_that_run_into_each_other_are_reported():
    fig, axes = plot.panel_grid(2, width=1.5)
    for ax in axes:
        plot.theory_line(ax, [0, 1], [0, 1])
        plot.finish(ax, title="a title far too long for a panel this narrow", legend=False)
    assert "the titles of panels 1 and 2 run into each other" in plot.figure_problems(fig)
    for ax, title in zip(axes, ("left", "right"), strict=True):
        ax.set_title(title)
    assert plot.figure_problems(fig) == []
    plot.close_figure(fig)
