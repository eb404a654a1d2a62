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
