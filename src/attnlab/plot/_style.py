"""Figure styles, scoped: attnlab never changes matplotlib's global state.

A style is a set of rcParams plus a panel size. Everything attnlab draws is drawn inside
``matplotlib.rc_context(style)``; figures are ``matplotlib.figure.Figure`` objects made without
pyplot, so drawing needs no backend and leaves ``matplotlib.get_backend()`` and
``matplotlib.rcParams`` as the user set them.

Styles:

- ``"paper"``: 9 pt text, 3.4 × 2.6 in panels (one column of a two-column paper), PNG at 200 dpi;
- ``"talk"``: 14 pt text, thicker lines, 5 × 3.75 in panels.

Both use DejaVu Sans for text and mathtext (shipped with matplotlib: the same glyphs on every
machine), embed TrueType (Type 42) fonts in PDF and PS output (no Type 3 fonts, which some
venues reject), keep text as text in SVG, and trim the saved figure to its content. Colours
come from the Okabe–Ito palette, which stays distinguishable under the common colour-vision
deficiencies; images use viridis.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = ["PALETTE", "STYLES", "THEORY_COLOR", "Style", "current_style", "get_style", "style"]

# Okabe & Ito (2008), "Color Universal Design": blue, vermillion, bluish green, reddish purple,
# orange, sky blue, yellow; theory curves are black.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442")
THEORY_COLOR = "black"

_COMMON: dict[str, Any] = {
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.prop_cycle": None,  # filled below (needs matplotlib's cycler)
    "axes.formatter.use_mathtext": True,  # offsets and powers as 10⁻³, not 1e-3
    "legend.frameon": False,
    "legend.handlelength": 1.8,
    "errorbar.capsize": 2,
    "image.cmap": "viridis",  # perceptually uniform, readable in grey and by colour-blind eyes
    # one font everywhere, shipped with matplotlib, so a figure looks the same on every machine
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],
    "mathtext.fontset": "dejavusans",
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
    "svg.fonttype": "none",
    "svg.hashsalt": "attnlab",  # stable element ids in SVG output
    "savefig.bbox": "tight",
    "savefig.pad_inches": 0.03,
}


@dataclass(frozen=True)
class Style:
    """A named figure style: rcParams, the size of one panel (inches) and the PNG dpi."""

    name: str
    rc: dict[str, Any] = field(default_factory=dict)
    panel_width: float = 3.4
    panel_height: float = 2.6
    dpi: int = 200

    def rc_params(self) -> dict[str, Any]:
        """The rcParams of this style (colour cycle included)."""
        from cycler import cycler

        rc = {**_COMMON, **self.rc}
        rc["axes.prop_cycle"] = cycler(color=list(PALETTE))
        return rc


STYLES: dict[str, Style] = {
    "paper": Style(
        "paper",
        {
            "font.size": 9,
            "axes.titlesize": 9,
            "axes.labelsize": 9,
            "xtick.labelsize": 8,
            "ytick.labelsize": 8,
            "legend.fontsize": 7.5,
            "lines.linewidth": 1.4,
            "lines.markersize": 4,
            "figure.titlesize": 10,
        },
        panel_width=3.4,
        panel_height=2.6,
        dpi=200,
    ),
    "talk": Style(
        "talk",
        {
            "font.size": 14,
            "axes.titlesize": 14,
            "axes.labelsize": 14,
            "xtick.labelsize": 12,
            "ytick.labelsize": 12,
            "legend.fontsize": 11,
            "lines.linewidth": 2.2,
            "lines.markersize": 6,
            "figure.titlesize": 16,
        },
        panel_width=5.0,
        panel_height=3.75,
        dpi=150,
    ),
}

_CURRENT: contextvars.ContextVar[str] = contextvars.ContextVar("attnlab_style", default="paper")


def get_style(name: str | None = None) -> Style:
    """The style called ``name`` (default: the current one); one-line error if unknown."""
    from attnlab._validate import check_choice

    name = _CURRENT.get() if name is None else name
    check_choice("style", name, tuple(STYLES))
    return STYLES[name]


def current_style() -> Style:
    """The style in effect (``"paper"`` unless inside :func:`style`)."""
    return get_style(None)


@contextlib.contextmanager
def style(name: str = "paper") -> Iterator[Style]:
    """Draw inside the block with style ``name`` (rcParams scoped with ``rc_context``)."""
    import matplotlib

    st = get_style(name)
    token = _CURRENT.set(st.name)
    try:
        with matplotlib.rc_context(st.rc_params()):
            yield st
    finally:
        _CURRENT.reset(token)
