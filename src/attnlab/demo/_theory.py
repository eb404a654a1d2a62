"""Exact law of the sample mean."""

from __future__ import annotations

import math

from attnlab._validate import check_int
from attnlab.demo._model import DemoModel

__all__ = ["mean_law"]


def mean_law(model: DemoModel, *, n: int) -> tuple[float, float]:
    r"""Mean and standard deviation of the sample mean of ``n`` draws.

    .. math:: \bar x \sim \mathcal N(\mu, 1/n).

    Returns
    -------
    mean, sd : float
        :math:`\mu` and :math:`1/\sqrt n`.
    """
    n = check_int("n", n, lo=1)
    return float(model.mu), 1.0 / math.sqrt(n)
