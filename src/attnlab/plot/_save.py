"""Writing figures and the data they are drawn from.

A figure is written as ``<stem>.<fmt>`` per format (PNG, PDF with embedded TrueType fonts, SVG
with text as text) and its data as ``<stem>.data.csv``: the tidy table the figure was drawn
from, so that it can be redrawn in any tool. A plot function names that table with
:func:`with_data`; a figure without one gets the run's table. Tables longer than
:data:`MAX_CSV_ROWS` rows are written as ``<stem>.data.parquet`` instead (CSV of that size is
slow to write and to read).
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from attnlab.plot._options import FORMATS
from attnlab.plot._style import get_style

__all__ = [
    "MAX_CSV_ROWS",
    "figure_bytes",
    "figure_data",
    "save_figure",
    "save_figure_data",
    "with_data",
]

MAX_CSV_ROWS = 100_000
_DATA_ATTR = "_attnlab_data"


def with_data(fig: Any, table: Any) -> Any:
    """Attach to ``fig`` the tidy table it is drawn from; returns ``fig``.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    table : pandas.DataFrame or mapping of column name to 1-d array
        One row per plotted point (long format: a column per coordinate, a column per
        grouping such as ``curve``, ``panel`` or ``seed``).

    Returns
    -------
    matplotlib.figure.Figure
        ``fig`` itself, so a plot function can ``return {"name": with_data(fig, table)}``.
    """
    import pandas as pd

    if isinstance(table, Mapping):
        table = pd.DataFrame(dict(table))
    if not isinstance(table, pd.DataFrame):
        from attnlab._validate import ParameterError

        raise ParameterError(
            f"table = {type(table).__name__}: must be a pandas DataFrame or a mapping of columns"
        )
    setattr(fig, _DATA_ATTR, table)
    return fig


def figure_data(fig: Any, default: Any = None) -> Any:
    """The table attached with :func:`with_data`, else ``default``."""
    return getattr(fig, _DATA_ATTR, default)


def save_figure_data(table: Any, stem: Path | str) -> str:
    """Write ``table`` next to the figure ``stem``, atomically; return the file name.

    ``<stem>.data.csv`` (all columns, full float precision, no index), or
    ``<stem>.data.parquet`` for more than :data:`MAX_CSV_ROWS` rows.
    """
    from attnlab._atomic import atomic_write_parquet, atomic_write_text

    stem = Path(stem)
    if len(table) > MAX_CSV_ROWS:
        target = stem.with_name(f"{stem.name}.data.parquet")
        atomic_write_parquet(target, table)
    else:
        target = stem.with_name(f"{stem.name}.data.csv")
        atomic_write_text(target, table.to_csv(index=False))
    return target.name


def figure_bytes(
    fig: Any, fmt: str, *, dpi: int | None = None, style_name: str | None = None
) -> bytes:
    """The figure encoded as ``fmt`` (``png``, ``pdf`` or ``svg``), in the style's rcParams.

    PDF and SVG are vector; PDF embeds TrueType (Type 42) fonts, mathtext included. ``dpi``
    applies to PNG (default: the style's). The PDF carries no creation date.
    """
    import matplotlib

    from attnlab._validate import check_choice

    check_choice("format", fmt, FORMATS)
    st = get_style(style_name)
    buf = io.BytesIO()
    metadata = {"CreationDate": None} if fmt == "pdf" else None
    with matplotlib.rc_context(st.rc_params()):
        fig.savefig(
            buf,
            format=fmt,
            dpi=(dpi or st.dpi) if fmt == "png" else None,
            metadata=metadata,
        )
    return buf.getvalue()


def save_figure(
    fig: Any,
    stem: Any,
    *,
    formats: Sequence[str] = ("png", "pdf"),
    dpi: int | None = None,
    style_name: str | None = None,
) -> list[str]:
    """Write ``fig`` as ``<stem>.<fmt>`` for each format, atomically; return the file names.

    Panel legends that cover data are moved first (:func:`attnlab.plot.place_legends`).
    """
    from attnlab._atomic import atomic_write_bytes
    from attnlab.plot._draw import place_legends

    place_legends(fig)
    stem = Path(stem)
    names = []
    for fmt in dict.fromkeys(formats):
        target = stem.with_name(f"{stem.name}.{fmt}")
        atomic_write_bytes(target, figure_bytes(fig, fmt, dpi=dpi, style_name=style_name))
        names.append(target.name)
    return names
