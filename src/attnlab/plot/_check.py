"""Checks of a finished figure for the defects a reader notices (used by the store and tests).

:func:`figure_problems` lists, one line each:

- a legend entry that draws nothing (no finite point; a line through one point without a
  marker) or that is drawn exactly under a later entry (the same pixels, and neither another
  or larger marker, nor a wider line, nor a solid line showing through a dashed one);
- a legend drawn over data (a marker, or a stretch of a curve or error bar, inside the legend
  box: put the legend elsewhere, or one legend for the figure with
  :func:`attnlab.plot.figure_legend`);
- the same title on several panels (give it once with :func:`attnlab.plot.suptitle`), or
  the titles of two panels running into each other;
- more than :data:`MAX_COLS` panels in one row (wrap them with :func:`attnlab.plot.panel_grid`);
- an axis about a count (its label says count, number of, runs, …) with non-integer ticks
  (use :func:`attnlab.plot.integer_ticks`);
- text smaller than :data:`MIN_FONT_PT` points.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

__all__ = [
    "MAX_COLS",
    "MIN_FONT_PT",
    "covered_by",
    "draws_something",
    "figure_problems",
    "legend_covers",
]

MAX_COLS = 3
MIN_FONT_PT = 6.0
_COUNT_LABEL = re.compile(r"(?i)\b(count|counts|number of|runs|trials|#)(\b|\s|$)")
_NO_MARKER = (None, "None", "none", "", " ")
_NO_LINE = ("None", "none", "", " ")


def _finite_points(line: Any) -> int:
    x = np.asarray(line.get_xdata(orig=False), dtype=float)
    y = np.asarray(line.get_ydata(orig=False), dtype=float)
    if x.shape != y.shape:
        return 0
    return int(np.count_nonzero(np.isfinite(x) & np.isfinite(y)))


def _line_draws(line: Any) -> bool:
    if not line.get_visible() or line.get_alpha() == 0:
        return False
    n = _finite_points(line)
    has_marker = line.get_marker() not in _NO_MARKER
    has_line = line.get_linestyle() not in _NO_LINE and line.get_linewidth() > 0
    return (has_marker and n >= 1) or (has_line and n >= 2)


def draws_something(handle: Any) -> bool:
    """Whether a legend handle's artist shows anything on the axes."""
    from matplotlib.collections import Collection
    from matplotlib.container import Container, ErrorbarContainer
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    if isinstance(handle, Line2D):
        return _line_draws(handle)
    if isinstance(handle, ErrorbarContainer):
        data_line, _, bar_cols = handle.lines
        if data_line is not None and _line_draws(data_line):
            return True
        return any(len(c.get_segments()) > 0 for c in bar_cols)
    if isinstance(handle, Container):
        return any(draws_something(child) for child in handle)
    if isinstance(handle, Patch):
        verts = handle.get_path().vertices
        return handle.get_visible() and bool(np.isfinite(verts).all(axis=1).any())
    if isinstance(handle, Collection):
        return handle.get_visible() and (
            len(handle.get_paths()) > 0 or len(handle.get_offsets()) > 0
        )
    return True


def _display_xy(line: Any) -> np.ndarray:
    """A line's points in display (pixel) coordinates, non-finite points dropped."""
    xy = np.asarray(line.get_xydata(), dtype=float)
    if xy.size == 0:
        return xy.reshape(0, 2)
    xy = xy[np.isfinite(xy).all(axis=1)]
    with np.errstate(all="ignore"):  # a log axis maps non-positive data to nan
        out = np.asarray(line.get_transform().transform(xy), dtype=float)
    return out[np.isfinite(out).all(axis=1)]


def _solid(line: Any) -> bool:
    return line.get_linestyle() in ("-", "solid")


def _shows_beside(a: Any, b: Any) -> bool:
    """Whether line ``a``, drawn under ``b`` on the same points, still shows: a marker of its
    own (another shape, or larger), a wider stroke, or a solid stroke seen through the gaps of
    a dashed ``b``."""
    marker_a = a.get_marker()
    if marker_a not in _NO_MARKER and (
        marker_a != b.get_marker() or a.get_markersize() > 1.3 * b.get_markersize()
    ):
        return True
    if a.get_linestyle() in _NO_LINE:
        return False
    if b.get_linestyle() in _NO_LINE or a.get_linewidth() > 1.5 * b.get_linewidth():
        return True
    return _solid(a) and not _solid(b)


def _hidden_under(lines: list[tuple[Any, str]]) -> list[str]:
    """Legend lines drawn exactly under a later one: the same pixels (to half a pixel, so a
    log axis tells 1e-15 from 3e-15), and nothing of the earlier one showing beside it."""
    out = []
    for i, (a, label_a) in enumerate(lines):
        pa = _display_xy(a)
        for b, label_b in lines[i + 1 :]:
            pb = _display_xy(b)
            if pa.shape != pb.shape or pa.size == 0:
                continue
            if np.allclose(pa, pb, rtol=0, atol=0.5) and not _shows_beside(a, b):
                out.append(f"legend entry {label_a!r} is drawn exactly under {label_b!r}")
                break
    return out


def _sampled(points: np.ndarray, step: float = 2.0) -> np.ndarray:
    """``points`` (pixels) and points every ``step`` pixels along the segments between
    consecutive ones."""
    if len(points) < 2:
        return points
    delta = np.diff(points, axis=0)
    counts = (np.hypot(delta[:, 0], delta[:, 1]) // step).astype(int)
    pieces = [points]
    for i in np.nonzero(counts > 1)[0]:  # only segments longer than two steps need points
        t = np.linspace(0.0, 1.0, counts[i] + 1)[1:-1, None]
        pieces.append(points[i] + t * delta[i])
    return np.concatenate(pieces)


def covered_by(ax: Any, box: Any) -> list[str]:
    """Labels (or kinds) of the data drawn inside ``box`` (pixels): markers and curves of the
    axes' lines, error-bar segments, scatter points. Filled areas (bands) are not counted."""
    from matplotlib.collections import LineCollection, PathCollection

    def inside(points: np.ndarray) -> bool:
        if points.size == 0:
            return False
        x, y = points[:, 0], points[:, 1]
        return bool(np.any((x > box.x0) & (x < box.x1) & (y > box.y0) & (y < box.y1)))

    found: list[str] = []
    for line in ax.get_lines():
        if not line.get_visible() or line.get_alpha() == 0:
            continue
        pts = _display_xy(line)
        joined = line.get_linestyle() not in _NO_LINE
        marked = line.get_marker() not in _NO_MARKER
        if (marked and inside(pts)) or (joined and inside(_sampled(pts))):
            label = line.get_label()
            found.append(label if label and not label.startswith("_") else "a curve")
    for coll in ax.collections:
        if not coll.get_visible():
            continue
        if isinstance(coll, LineCollection):
            segments = [
                np.asarray(coll.get_transform().transform(seg))
                for seg in coll.get_segments()
                if len(seg)
            ]
            if any(inside(_sampled(seg)) for seg in segments):
                found.append("error bars")
        elif isinstance(coll, PathCollection):
            offsets = np.asarray(coll.get_offsets(), dtype=float)
            if offsets.size and inside(np.asarray(coll.get_offset_transform().transform(offsets))):
                found.append("scatter points")
    return list(dict.fromkeys(found))


def legend_covers(ax: Any) -> list[str]:
    """:func:`covered_by` the box of the axes' legend; ``[]`` without a visible legend."""
    legend = ax.get_legend()
    if legend is None or not legend.get_visible():
        return []
    return covered_by(ax, legend.get_window_extent())


def _legend_over_data(ax: Any, name: str) -> list[str]:
    under = legend_covers(ax)
    if not under:
        return []
    shown = ", ".join(repr(u) for u in under[:3]) + (" …" if len(under) > 3 else "")
    return [f"{name}: the legend covers data ({shown}): place it elsewhere"]


def _legend_problems(ax: Any, name: str) -> list[str]:
    from matplotlib.lines import Line2D

    handles, labels = ax.get_legend_handles_labels()
    out = [
        f"{name}: legend entry {label!r} draws nothing (no finite point, or one point "
        "without a marker)"
        for h, label in zip(handles, labels, strict=True)
        if not draws_something(h)
    ]
    lines = [(h, lab) for h, lab in zip(handles, labels, strict=True) if isinstance(h, Line2D)]
    out += [f"{name}: {text}" for text in _hidden_under(lines)]
    return out


def _tick_problems(ax: Any, name: str) -> list[str]:
    out = []
    for axis_name, axis in (("x", ax.xaxis), ("y", ax.yaxis)):
        label = axis.get_label().get_text()
        if not label or not _COUNT_LABEL.search(label):
            continue
        lo, hi = sorted(ax.get_xlim() if axis_name == "x" else ax.get_ylim())
        ticks = [t for t in axis.get_ticklocs() if lo - 1e-9 <= t <= hi + 1e-9]
        if any(abs(t - round(t)) > 1e-9 for t in ticks):
            out.append(
                f"{name}: {axis_name} axis {label!r} counts but has non-integer ticks "
                "(plot.integer_ticks)"
            )
    return out


def _font_problems(ax: Any, name: str) -> list[str]:
    texts = [ax.title, ax.xaxis.get_label(), ax.yaxis.get_label()]
    texts += list(ax.get_xticklabels()) + list(ax.get_yticklabels())
    legend = ax.get_legend()
    if legend is not None:
        texts += list(legend.get_texts())
    small = sorted({t.get_fontsize() for t in texts if t.get_text()} - {None})
    if small and small[0] < MIN_FONT_PT:
        return [f"{name}: text of {small[0]:g} pt (smaller than {MIN_FONT_PT:g} pt)"]
    return []


def figure_problems(fig: Any) -> list[str]:
    """The reader-visible defects of ``fig`` (module docstring), one line each; ``[]`` if none.

    Parameters
    ----------
    fig : matplotlib.figure.Figure

    Returns
    -------
    list of str
    """
    out: list[str] = []
    # lay the figure out (legend boxes, transforms), unless drawn since its last change
    if fig.stale:
        fig.draw_without_rendering()
    axes = [ax for ax in fig.axes if ax.get_visible() and ax.get_label() != "<colorbar>"]
    titles: dict[str, int] = {}
    widest = 0
    for i, ax in enumerate(axes):
        title = ax.get_title()
        name = f"panel {i + 1}" + (f" ({title!r})" if title else "")
        if title:
            titles[title] = titles.get(title, 0) + 1
        spec = ax.get_subplotspec()
        if spec is not None:
            widest = max(widest, spec.get_gridspec().ncols)
        out += _legend_problems(ax, name) + _legend_over_data(ax, name)
        out += _tick_problems(ax, name) + _font_problems(ax, name)
    out += [
        f"the same title {t!r} on {k} panels (give it once with plot.suptitle)"
        for t, k in titles.items()
        if k > 1
    ]
    boxes = [(i, ax.title.get_window_extent()) for i, ax in enumerate(axes) if ax.get_title()]
    for k, (i, a) in enumerate(boxes):
        for j, b in boxes[k + 1 :]:
            if a.overlaps(b):
                out.append(f"the titles of panels {i + 1} and {j + 1} run into each other")
    if widest > MAX_COLS:
        out.append(
            f"{widest} panels in one row (at most {MAX_COLS}: wrap them with plot.panel_grid)"
        )
    return out
