"""The drawing helpers: figures without pyplot, drawn inside the current style's rc_context."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np

from attnlab.plot._style import PALETTE, THEORY_COLOR, current_style

__all__ = [
    "close_figure",
    "color",
    "figure_legend",
    "finish",
    "histogram_vs_density",
    "integer_ticks",
    "panel_grid",
    "place_legends",
    "simulation_band",
    "simulation_points",
    "subplots",
    "suptitle",
    "theory_line",
    "threshold_lines",
]

F = TypeVar("F", bound=Callable[..., Any])


def _styled(fn: F) -> F:
    """Run a helper inside the current style's ``rc_context`` (a no-op if already inside)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        import matplotlib

        with matplotlib.rc_context(current_style().rc_params()):
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def color(i: int) -> str:
    """The ``i``-th colour of the palette (wrapping around)."""
    return PALETTE[i % len(PALETTE)]


@_styled
def subplots(
    nrows: int = 1,
    ncols: int = 1,
    *,
    width: float | None = None,
    height: float | None = None,
    **kwargs: Any,
) -> tuple[Any, Any]:
    """A new ``Figure`` and its axes, sized per panel (like ``plt.subplots``, without pyplot).

    Parameters
    ----------
    nrows, ncols : int
        Panel grid.
    width, height : float, optional
        Size of one panel in inches (default: the current style's panel size).
    **kwargs
        Passed to ``Figure.subplots`` (``sharex``, ``squeeze``, ...).

    Returns
    -------
    fig : matplotlib.figure.Figure
    axes : Axes or array of Axes
    """
    from matplotlib.figure import Figure

    st = current_style()
    w = st.panel_width if width is None else width
    h = st.panel_height if height is None else height
    fig = Figure(figsize=(w * ncols, h * nrows), layout="constrained")
    return fig, fig.subplots(nrows, ncols, **kwargs)


def panel_grid(
    n_panels: int,
    *,
    max_cols: int = 3,
    width: float | None = None,
    height: float | None = None,
    **kwargs: Any,
) -> tuple[Any, list[Any]]:
    """A figure with ``n_panels`` panels wrapped into rows of at most ``max_cols``.

    Unused cells of the last row are removed. Returns ``(fig, [ax_0, ..., ax_{n-1}])``.
    """
    n_panels = max(int(n_panels), 1)
    ncols = min(n_panels, max_cols)
    nrows = math.ceil(n_panels / ncols)
    fig, axes = subplots(nrows, ncols, width=width, height=height, squeeze=False, **kwargs)
    flat = list(np.asarray(axes).ravel())
    for ax in flat[n_panels:]:
        fig.delaxes(ax)
    return fig, flat[:n_panels]


def close_figure(fig: Any) -> None:
    """Release a figure's artists (figures made here are not registered with pyplot)."""
    fig.clear()


@_styled
def theory_line(
    ax: Any, x: Any, y: Any, *, label: str = "theory", color: str = THEORY_COLOR, **kwargs: Any
) -> Any:
    """The theory curve: a solid line (with markers when it has fewer than two finite points,
    which a line alone would not show).

    Parameters
    ----------
    ax : matplotlib Axes
    x, y : array_like
        The curve.
    label, color : str
        Legend label and colour (default black).
    **kwargs
        Passed to ``Axes.plot``.

    Returns
    -------
    list of Line2D
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if np.count_nonzero(np.isfinite(x) & np.isfinite(y)) < 2:
        kwargs.setdefault("marker", "o")
    return ax.plot(x, y, "-", color=color, label=label, **kwargs)


@_styled
def simulation_band(
    ax: Any,
    x: Any,
    samples: Any,
    *,
    label: str = "simulation",
    color: str = PALETTE[0],
    band: str = "sd",
    markers: bool = True,
    clip: tuple[float | None, float | None] | None = None,
) -> Any:
    r"""Simulation mean over seeds with a band: mean ± sd, or the 2.5–97.5 % quantiles.

    With :math:`s_{ij}` the value of seed :math:`i` at :math:`x_j`, the line is
    :math:`\bar s_j = \frac1n \sum_i s_{ij}` and the band
    :math:`[\bar s_j - \sigma_j, \bar s_j + \sigma_j]` (``sd``, :math:`\sigma_j` the sample
    standard deviation) or the empirical quantiles (``q95``), clipped to ``clip``.

    Parameters
    ----------
    ax : matplotlib Axes
    x : array_like, shape (m,)
    samples : array_like, shape (n_seeds, m)
    label, color : str
        Legend label and colour of the mean.
    band : {"sd", "q95"}
    markers : bool
        Markers on the mean (always on for a single ``x``).
    clip : (lo, hi), optional
        The range of the quantity (``(0, 1)`` for a squared overlap, ``(-1, 1)`` for a
        cosine, ``(0, None)`` for a risk): the band never leaves it.

    Returns
    -------
    list of Line2D
        The mean line.
    """
    from attnlab._validate import check_choice

    check_choice("band", band, ("sd", "q95"))
    x = np.asarray(x, dtype=float)
    s = np.atleast_2d(np.asarray(samples, dtype=float))
    mean = s.mean(axis=0)
    if band == "q95":
        lo, hi = np.quantile(s, [0.025, 0.975], axis=0)
    else:
        sd = s.std(axis=0, ddof=1) if s.shape[0] > 1 else np.zeros_like(mean)
        lo, hi = mean - sd, mean + sd
    if clip is not None:
        lo = np.clip(lo, clip[0], clip[1])
        hi = np.clip(hi, clip[0], clip[1])
    ax.fill_between(x, lo, hi, color=color, alpha=0.2, lw=0)
    fmt = "o-" if markers or x.size < 2 else "-"
    return ax.plot(x, mean, fmt, color=color, label=label)


@_styled
def simulation_points(
    ax: Any,
    x: Any,
    mean: Any,
    sd: Any = None,
    *,
    label: str = "simulation",
    color: str = PALETTE[0],
    clip: tuple[float | None, float | None] | None = None,
    **kwargs: Any,
) -> Any:
    """Simulation means as markers with ± sd error bars (clipped to ``clip``).

    Parameters
    ----------
    ax : matplotlib Axes
    x, mean : array_like
    sd : array_like, optional
        Half-length of the error bars, the shape of ``mean``; or ``(below, above)``, shape
        ``(2,) + mean.shape``, for asymmetric bars.
    label, color : str
    clip : (lo, hi), optional
        The range of the quantity: error bars never leave it.
    **kwargs
        Passed to ``Axes.errorbar``.

    Returns
    -------
    matplotlib.container.ErrorbarContainer
    """
    kwargs.setdefault("capsize", 2)
    mean = np.asarray(mean, dtype=float)
    yerr = None
    if sd is not None:
        sd = np.asarray(sd, dtype=float)
        below, above = sd if sd.shape == (2, *mean.shape) and mean.ndim else (sd, sd)
        lo = mean - np.broadcast_to(below, mean.shape)
        hi = mean + np.broadcast_to(above, mean.shape)
        if clip is not None:
            lo, hi = np.clip(lo, clip[0], clip[1]), np.clip(hi, clip[0], clip[1])
        yerr = np.vstack([mean - lo, hi - mean])
    kwargs.setdefault("marker", "o")
    kwargs.setdefault("linestyle", "none")
    return ax.errorbar(np.asarray(x), mean, yerr=yerr, color=color, label=label, **kwargs)


@_styled
def threshold_lines(
    ax: Any,
    xs: Sequence[float | None],
    labels: Sequence[str] | None = None,
    *,
    colors: Sequence[str] = ("#7f7f7f", PALETTE[4], PALETTE[5]),
    axis: str = "x",
) -> None:
    """Dashed reference lines at thresholds, each named in the legend (an unlabelled line is
    a line the reader cannot explain); non-finite positions are skipped.

    Parameters
    ----------
    ax : matplotlib Axes
    xs : sequence of float or None
        Positions.
    labels : sequence of str
        One legend label per position.
    colors : sequence of str
        Cycled over the lines.
    axis : {"x", "y"}
        ``"x"``: vertical lines at ``x = xs``; ``"y"``: horizontal lines at ``y = xs``.
    """
    from attnlab._validate import check_choice

    check_choice("axis", axis, ("x", "y"))
    draw = ax.axvline if axis == "x" else ax.axhline
    for i, x in enumerate(xs):
        if x is None or not np.isfinite(x):
            continue
        lab = labels[i] if labels is not None else None
        draw(float(x), ls="--", lw=1, color=colors[i % len(colors)], label=lab)


@_styled
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
    """Normalised histogram of ``samples`` (step-filled) under a theoretical density.

    Parameters
    ----------
    ax : matplotlib Axes
    samples : array_like
        Flattened.
    grid, density : array_like
        The theoretical density on a grid (drawn with :func:`theory_line`).
    bins : int
    label, density_label, color : str
    range : (lo, hi), optional
        Histogram range.
    """
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


@_styled
def integer_ticks(ax: Any, axis: str = "y") -> None:
    """Only integer ticks on ``axis`` (``"x"``, ``"y"`` or ``"both"``): for counts."""
    from matplotlib.ticker import MaxNLocator

    for name in ("x", "y") if axis == "both" else (axis,):
        getattr(ax, f"{name}axis").set_major_locator(MaxNLocator(integer=True))


@_styled
def suptitle(fig: Any, text: str) -> None:
    """One title for the whole figure (instead of the same title on every panel)."""
    fig.suptitle(text)


@_styled
def finish(
    ax: Any,
    *,
    xlabel: str = "",
    ylabel: str = "",
    title: str = "",
    legend: bool = True,
    **kwargs: Any,
) -> None:
    """Axis labels, title and a legend of what is drawn, in the common style.

    The legend lists only entries that draw something (a curve with no finite point, or a
    line through a single point without a marker, shows nothing and is left out;
    :func:`attnlab.plot.figure_problems` reports such artists).

    Parameters
    ----------
    ax : matplotlib Axes
    xlabel, ylabel, title : str
        Mathtext (``$\\alpha$``) is typeset.
    legend : bool
    **kwargs
        Passed to ``Axes.legend``.
    """
    from attnlab.plot._check import draws_something

    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if not legend:
        return
    handles, labels = ax.get_legend_handles_labels()
    shown = [(h, lab) for h, lab in zip(handles, labels, strict=True) if draws_something(h)]
    if shown:
        ax.legend(*zip(*shown, strict=True), **kwargs)


@_styled
def figure_legend(fig: Any, axes: Sequence[Any] | None = None, *, ncols: int | None = None,
                  **kwargs: Any) -> Any:  # fmt: skip
    """One legend for the whole figure, below its panels, instead of one per panel.

    Collects the labelled artists of ``axes`` (default: every panel of ``fig``) that draw
    something, each label once (its first artist), and places them centred under the panels
    (the figure's constrained layout makes room). Call :func:`finish` with ``legend=False`` on
    the panels.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    axes : sequence of Axes, optional
    ncols : int, optional
        Columns of entries (default: up to 4).
    **kwargs
        Passed to ``Figure.legend``.

    Returns
    -------
    matplotlib.legend.Legend or None
        ``None`` when no panel has a labelled artist that draws something.
    """
    from attnlab.plot._check import draws_something

    entries: dict[str, Any] = {}
    for ax in fig.axes if axes is None else axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            if label not in entries and draws_something(handle):
                entries[label] = handle
    if not entries:
        return None
    ncols = min(len(entries), 4) if ncols is None else ncols
    return fig.legend(list(entries.values()), list(entries), loc="outside lower center",
                      ncols=ncols, **kwargs)  # fmt: skip


_LEGEND_PLACES = (
    "upper right",
    "upper left",
    "lower left",
    "lower right",
    "center right",
    "center left",
    "lower center",
    "upper center",
)


def _box_at(place: str, axes_box: Any, width: float, height: float, pad: float) -> Any:
    """The pixel box a legend of ``width`` × ``height`` takes at ``place`` inside the axes."""
    from matplotlib.transforms import Bbox

    vertical, horizontal = place.split(" ")
    x0 = {
        "left": axes_box.x0 + pad,
        "right": axes_box.x1 - pad - width,
        "center": (axes_box.x0 + axes_box.x1 - width) / 2,
    }[horizontal]
    y0 = {
        "lower": axes_box.y0 + pad,
        "upper": axes_box.y1 - pad - height,
        "center": (axes_box.y0 + axes_box.y1 - height) / 2,
    }[vertical]
    return Bbox.from_bounds(x0, y0, width, height)


@_styled
def place_legends(fig: Any) -> list[str]:
    """Move every panel legend that covers data to a corner or side where it covers none, or,
    when there is no such place, just outside the panel on its right.

    "Covers data" is :func:`attnlab.plot.figure_problems`' test (a marker, or a stretch of a
    curve or error bar, inside the legend box); matplotlib's ``loc="best"`` looks at the
    curves' vertices only, so it can put a legend across a straight line or a vertical marker
    line. :func:`attnlab.plot.save_figure` calls this before writing.

    Returns
    -------
    list of str
        One line per legend moved, saying where to.
    """
    from attnlab.plot._check import covered_by, legend_covers

    moved: list[str] = []
    if fig.stale:  # lay the figure out, unless drawn since its last change
        fig.draw_without_rendering()
    for i, ax in enumerate(fig.axes):
        if not legend_covers(ax):
            continue
        legend = ax.get_legend()
        box = legend.get_window_extent()
        size = legend.get_texts()[0].get_fontsize() if legend.get_texts() else 10.0
        pad = legend.borderaxespad * size * fig.dpi / 72.0
        axes_box = ax.get_window_extent()
        free = [
            place
            for place in _LEGEND_PLACES
            if not covered_by(ax, _box_at(place, axes_box, box.width, box.height, pad))
        ]
        if free:
            legend.set_loc(free[0])
            moved.append(f"panel {i + 1}: legend to {free[0]}")
        else:
            legend.set_bbox_to_anchor((1.02, 0.5), transform=ax.transAxes)
            legend.set_loc("center left")
            moved.append(f"panel {i + 1}: legend outside, right")
        fig.draw_without_rendering()
    return moved
