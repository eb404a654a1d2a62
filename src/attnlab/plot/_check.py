"""Checks of a finished figure for the defects a reader notices (used by the store and tests).

:func:`figure_problems` lists, one line each:

- a legend entry that draws nothing (no finite point; a line through one point without a
  marker) or that is drawn exactly under a later entry (same data, no distinguishing marker);
- the same title on several panels (give it once with :func:`attnlab.plot.suptitle`);
- more than :data:`MAX_COLS` panels in one row (wrap them with :func:`attnlab.plot.panel_grid`);
- an axis about a count (its label says count, number of, runs, …) with non-integer ticks
  (use :func:`attnlab.plot.integer_ticks`);
- text smaller than :data:`MIN_FONT_PT` points.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

__all__ = ["MAX_COLS", "MIN_FONT_PT", "draws_something", "figure_problems"]

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


def _hidden_under(lines: list[tuple[Any, str]]) -> list[str]:
    """Legend lines drawn exactly under a later one (same data, no distinguishing marker)."""
    out = []
    for i, (a, label_a) in enumerate(lines):
        xa, ya = (np.asarray(d, dtype=float) for d in a.get_data(orig=False))
        for b, label_b in lines[i + 1 :]:
            xb, yb = (np.asarray(d, dtype=float) for d in b.get_data(orig=False))
            if xa.shape != xb.shape or ya.shape != yb.shape or xa.size == 0:
                continue
            same = np.allclose(xa, xb, equal_nan=True) and np.allclose(ya, yb, equal_nan=True)
            marker_a = a.get_marker()
            if same and (marker_a in _NO_MARKER or marker_a == b.get_marker()):
                out.append(f"legend entry {label_a!r} is drawn exactly under {label_b!r}")
                break
    return out


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
        out += _legend_problems(ax, name) + _tick_problems(ax, name) + _font_problems(ax, name)
    out += [
        f"the same title {t!r} on {k} panels (give it once with plot.suptitle)"
        for t, k in titles.items()
        if k > 1
    ]
    if widest > MAX_COLS:
        out.append(
            f"{widest} panels in one row (at most {MAX_COLS}: wrap them with plot.panel_grid)"
        )
    return out
