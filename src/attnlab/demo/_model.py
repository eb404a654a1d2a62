"""The demo model: i.i.d. Gaussian draws with an unknown mean."""

from __future__ import annotations

from pydantic import Field

from attnlab.config import Params

__all__ = ["DemoModel"]


class DemoModel(Params):
    """Draws x ~ N(μ, 1), i.i.d.

    Parameters
    ----------
    mu : float
        The mean μ (finite).
    """

    mu: float = Field(0.0, ge=-1e6, le=1e6, description="true mean μ")
