"""Plot pieces shared by the family's experiments (matplotlib only inside the calls)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

BAYES_STYLE = {"color": "0.55", "lw": 5, "alpha": 0.35, "solid_capstyle": "butt", "zorder": 1}


def bayes_band(ax: Any, x: Sequence[float] | None, y: Any, label: str = "Bayes risk") -> None:
    """The Bayes risk as a wide grey band under the curves (a curve on it stays visible):
    a horizontal band when ``x`` is None, else a curve."""
    if x is None:
        y = float(y)
        ax.axhline(y, label=label, **BAYES_STYLE)
        low, high = ax.get_ylim()
        ax.set_ylim(min(low, y - 0.05 * (high - y)), high)  # keep the band inside the axes
    elif len(x) == 1:  # one point: a short bar, a one-point line would not show
        ax.plot(x, y, marker="_", ms=18, mew=5, ls="none", label=label, **BAYES_STYLE)
    else:
        ax.plot(x, y, label=label, **BAYES_STYLE)


LABEL_GAP = 0.11  # least distance between two tick labels, as a fraction of the axis span


def alpha_axis(ax: Any, alphas: Sequence[float]) -> None:
    """A log α axis with a tick at each α of the data, no minor labels; a tick closer than
    :data:`LABEL_GAP` of the span (in log α) to the last labelled one keeps no label, so the
    labels of a dense grid (8, 10, 12) do not run into each other."""
    from matplotlib.ticker import NullFormatter

    alphas = sorted(set(float(a) for a in alphas))
    if len(alphas) > 1:
        ax.set_xscale("log")
    logs = np.log10(alphas)
    gap = LABEL_GAP * (logs[-1] - logs[0])
    labels, last = [], -np.inf
    for a, x in zip(alphas, logs, strict=True):
        keep = x - last >= gap - 1e-12
        labels.append(f"{a:g}" if keep else "")
        last = x if keep else last
    ax.set_xticks(alphas, labels)
    ax.xaxis.set_minor_formatter(NullFormatter())
