"""Result types of the population theory."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Estimate", "Overlaps", "PopulationOptimum"]


@dataclass(frozen=True)
class Estimate:
    """A theory value and its standard error (0 for quadrature)."""

    value: float
    stderr: float

    def __float__(self) -> float:
        return float(self.value)


@dataclass(frozen=True)
class Overlaps:
    r"""Overlaps of a student :math:`(k, v)` with the teacher, all divided by :math:`D`:
    :math:`m_k = k\cdot k^*/D`, :math:`q_k = |k|^2/D`, :math:`m_v`, :math:`q_v`, and the cross
    overlaps :math:`k\cdot v^*/D`, :math:`v\cdot k^*/D`, :math:`k\cdot v/D` (zero on the
    invariant manifold; the population risk ignores them)."""

    m_k: float
    q_k: float
    m_v: float
    q_v: float
    k_vstar: float = 0.0
    v_kstar: float = 0.0
    k_v: float = 0.0


@dataclass(frozen=True)
class PopulationOptimum:
    """Optimal population risk of an activation and the overlaps that reach it.

    ``converged`` is False when the optimiser stopped at its iteration cap (``message`` says
    why); ``at_boundary`` when the optimum sits on the edge of the search box.
    """

    risk: float
    stderr: float
    overlaps: Overlaps
    at_boundary: bool
    converged: bool
    message: str
