"""Plot helpers shared by every family: one consistent style, no global side effects.

Theory is a solid line, simulation a marker with a mean ± sd band or error bars over seeds,
thresholds dashed vertical lines, histograms step-filled under a density. Figures are
``matplotlib.figure.Figure`` objects created without pyplot, and every helper draws inside the
current style's ``rc_context`` (:mod:`attnlab.plot._style`), so importing attnlab or drawing a
figure changes neither matplotlib's backend nor its rcParams. matplotlib is imported only when a
helper is called.

Experiments' plot functions return ``{name: Figure}``; :func:`save_figure` writes a figure in
any of the formats ``png``, ``pdf``, ``svg`` (PDF with embedded TrueType fonts).
"""

from __future__ import annotations

import functools
import io
import math
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np

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
    "FigureOptions",
    "PALETTE",
    "STYLES",
    "THEORY_COLOR",
    "Style",
    "close_figure",
    "color",
    "current_style",
    "figure_bytes",
    "finish",
    "get_style",
    "histogram_vs_density",
    "integer_ticks",
    "panel_grid",
    "save_figure",
    "simulation_band",
    "simulation_points",
    "style",
    "subplots",
    "suptitle",
    "theory_line",
    "threshold_lines",
]

FORMATS = ("png", "pdf", "svg")
F = TypeVar("F", bound=Callable[..., Any])


def _figure_options_cls() -> type:
    from typing import Literal

    from pydantic import Field

    from attnlab.config import Params

    class FigureOptions(Params):
        """How the figures of a run are written: formats, PNG resolution and style.

        Parameters
        ----------
        formats : list of {"png", "pdf", "svg"}
            One file per format for every figure.
        dpi : int, optional
            PNG resolution (default: the style's).
        style : {"paper", "talk"}
            The figure style (:mod:`attnlab.plot._style`).
        """

        formats: list[Literal["png", "pdf", "svg"]] = Field(
            default_factory=lambda: ["png", "pdf"], min_length=1
        )
        dpi: int | None = Field(None, ge=50, le=1200)
        style: Literal["paper", "talk"] = "paper"

    return FigureOptions


FigureOptions = _figure_options_cls()


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
    """The theory curve: a solid line."""
    return ax.plot(np.asarray(x), np.asarray(y), "-", color=color, label=label, **kwargs)


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
    """Simulation mean over seeds (axis 0 of ``samples``) with a ± sd (or 95 % quantile) band.

    Parameters
    ----------
    samples : array, shape (n_seeds, len(x))
    band : {"sd", "q95"}
        Mean ± one standard deviation, or the 2.5–97.5 % quantiles over seeds.
    clip : (lo, hi), optional
        Range of the quantity (e.g. ``(0, 1)`` for an alignment): the band is clipped to it.
    """
    x = np.asarray(x)
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
    return ax.plot(x, mean, "o-" if markers else "-", ms=3, color=color, label=label)


@_styled
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
    kwargs.setdefault("ms", 4)
    return ax.errorbar(
        np.asarray(x),
        np.asarray(mean),
        yerr=None if sd is None else np.asarray(sd),
        fmt="o",
        color=color,
        label=label,
        **kwargs,
    )


@_styled
def threshold_lines(
    ax: Any,
    xs: Sequence[float | None],
    labels: Sequence[str] | None = None,
    *,
    colors: Sequence[str] = ("#7f7f7f", PALETTE[4], PALETTE[5]),
) -> None:
    """Dashed vertical lines at thresholds (labelled in the legend); non-finite ones skipped."""
    for i, x in enumerate(xs):
        if x is None or not np.isfinite(x):
            continue
        lab = labels[i] if labels is not None else None
        ax.axvline(float(x), ls="--", lw=1, color=colors[i % len(colors)], label=lab)


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


@_styled
def integer_ticks(ax: Any, axis: str = "y") -> None:
    """Only integer ticks on ``axis`` (``"x"``, ``"y"`` or ``"both"``), e.g. for counts."""
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
    """Axis labels, title and legend in the common style."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if legend and ax.get_legend_handles_labels()[0]:
        ax.legend(**kwargs)


def figure_bytes(
    fig: Any, fmt: str, *, dpi: int | None = None, style_name: str | None = None
) -> bytes:
    """The figure encoded as ``fmt`` (``png``, ``pdf`` or ``svg``), in the style's rcParams.

    PDF and SVG are vector; PDF embeds TrueType (Type 42) fonts. ``dpi`` applies to PNG
    (default: the style's).
    """
    import matplotlib

    from attnlab._validate import check_choice

    check_choice("format", fmt, FORMATS)
    st = get_style(style_name)
    buf = io.BytesIO()
    with matplotlib.rc_context(st.rc_params()):
        fig.savefig(buf, format=fmt, dpi=(dpi or st.dpi) if fmt == "png" else None)
    return buf.getvalue()


def save_figure(
    fig: Any,
    stem: Any,
    *,
    formats: Sequence[str] = ("png", "pdf"),
    dpi: int | None = None,
    style_name: str | None = None,
) -> list[str]:
    """Write ``fig`` as ``<stem>.<fmt>`` for each format, atomically; return the file names."""
    from pathlib import Path

    from attnlab._atomic import atomic_write_bytes

    stem = Path(stem)
    names = []
    for fmt in formats:
        target = stem.with_name(f"{stem.name}.{fmt}")
        atomic_write_bytes(target, figure_bytes(fig, fmt, dpi=dpi, style_name=style_name))
        names.append(target.name)
    return names
