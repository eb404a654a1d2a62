"""Plot helpers shared by every family (matplotlib is imported lazily, Agg backend).

One consistent style: theory is a solid line, simulation a marker with a mean ± sd band or
error bars over seeds, thresholds dashed vertical lines, histograms step-filled under a density.
Plot functions of experiments return ``{name: Figure}``; the store saves PNG + PDF.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

THEORY_COLOR = "black"
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2")
_STYLE = {
    "figure.dpi": 100,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "font.size": 10,
    "legend.fontsize": 8,
    "legend.frameon": False,
}


def pyplot() -> Any:
    """``matplotlib.pyplot`` with the Agg backend and attnlab's style (imported on demand)."""
    import matplotlib

    if matplotlib.get_backend().lower() != "agg":
        matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plt.rcParams.update(_STYLE)
    return plt


def subplots(
    nrows: int = 1, ncols: int = 1, *, width: float = 4.2, height: float = 3.2, **kwargs: Any
) -> tuple[Any, Any]:
    """``plt.subplots`` sized per panel; ``squeeze=False`` semantics left to the caller."""
    plt = pyplot()
    kwargs.setdefault("constrained_layout", True)
    return plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), **kwargs)


def close_figure(fig: Any) -> None:
    pyplot().close(fig)


def theory_line(
    ax: Any, x: Any, y: Any, *, label: str = "theory", color: str = THEORY_COLOR, **kwargs: Any
) -> Any:
    """The theory curve: a solid line."""
    kwargs.setdefault("lw", 1.6)
    return ax.plot(np.asarray(x), np.asarray(y), "-", color=color, label=label, **kwargs)


def simulation_band(
    ax: Any,
    x: Any,
    samples: Any,
    *,
    label: str = "simulation",
    color: str = PALETTE[0],
    band: str = "sd",
    markers: bool = True,
) -> Any:
    """Simulation mean over seeds (axis 0 of ``samples``) with a ± sd (or 95% quantile) band.

    ``samples`` has shape ``(n_seeds, len(x))``; ``band`` is ``"sd"`` or ``"q95"``.
    """
    x = np.asarray(x)
    s = np.atleast_2d(np.asarray(samples, dtype=float))
    mean = s.mean(axis=0)
    if band == "q95":
        lo, hi = np.quantile(s, [0.025, 0.975], axis=0)
    else:
        sd = s.std(axis=0, ddof=1) if s.shape[0] > 1 else np.zeros_like(mean)
        lo, hi = mean - sd, mean + sd
    ax.fill_between(x, lo, hi, color=color, alpha=0.2, lw=0)
    return ax.plot(x, mean, "o-" if markers else "-", ms=3, lw=1, color=color, label=label)


def simulation_points(
    ax: Any,
    x: Any,
    mean: Any,
    sd: Any = None,
    *,
    label: str = "simulation",
    color: str = PALETTE[0],
    **kwargs: Any,
) -> Any:
    """Simulation means with ± sd error bars."""
    kwargs.setdefault("capsize", 2)
    return ax.errorbar(
        np.asarray(x),
        np.asarray(mean),
        yerr=None if sd is None else np.asarray(sd),
        fmt="o",
        ms=4,
        color=color,
        label=label,
        **kwargs,
    )


def threshold_lines(
    ax: Any,
    xs: Sequence[float],
    labels: Sequence[str] | None = None,
    *,
    colors: Sequence[str] = ("#7f7f7f", "#bcbd22", "#17becf"),
) -> None:
    """Dashed vertical lines at thresholds (labelled in the legend)."""
    for i, x in enumerate(xs):
        if x is None or not np.isfinite(x):
            continue
        lab = labels[i] if labels is not None else None
        ax.axvline(float(x), ls="--", lw=1, color=colors[i % len(colors)], label=lab)


def histogram_vs_density(
    ax: Any,
    samples: Any,
    grid: Any,
    density: Any,
    *,
    bins: int = 60,
    label: str = "simulation",
    density_label: str = "theory",
    color: str = PALETTE[0],
    range: tuple[float, float] | None = None,
) -> None:
    """Normalised histogram of ``samples`` under a theoretical density on ``grid``."""
    ax.hist(
        np.asarray(samples).ravel(),
        bins=bins,
        density=True,
        range=range,
        color=color,
        alpha=0.35,
        histtype="stepfilled",
        label=label,
    )
    theory_line(ax, grid, density, label=density_label)


def finish(
    ax: Any,
    *,
    xlabel: str = "",
    ylabel: str = "",
    title: str = "",
    legend: bool = True,
    **kwargs: Any,
) -> None:
    """Axis labels, title and legend in the common style."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=10)
    if legend and ax.get_legend_handles_labels()[0]:
        ax.legend(**kwargs)
