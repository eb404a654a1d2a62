"""How the figures of a run are written: :class:`FigureOptions` (formats, dpi, style)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from attnlab.config import Params

__all__ = ["FORMATS", "FigureOptions"]

FORMATS = ("png", "pdf", "svg")


class FigureOptions(Params):
    """How the figures of a run are written: formats, PNG resolution and style.

    Parameters
    ----------
    formats : list of {"png", "pdf", "svg"}
        One file per format for every figure. PDF and SVG are vector (PDF with embedded
        TrueType fonts, SVG with text kept as text); PNG is what the HTML report shows
        (the report falls back to SVG when no PNG was written).
    dpi : int, optional
        PNG resolution in dots per inch, in ``[50, 1200]`` (default: the style's, 200 for
        ``paper`` and 150 for ``talk``).
    style : {"paper", "talk"}
        The figure style (:mod:`attnlab.plot._style`).
    """

    formats: list[Literal["png", "pdf", "svg"]] = Field(
        default_factory=lambda: ["png", "pdf"], min_length=1
    )
    dpi: int | None = Field(None, ge=50, le=1200)
    style: Literal["paper", "talk"] = "paper"
