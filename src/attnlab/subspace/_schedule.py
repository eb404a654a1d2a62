"""Step-size schedules of projected SGA and the choice of simulator (strategy objects).

A schedule maps the step index n = 0, 1, ... to a step a_n; the ODE time of step n is
t_n = Σ_{k<n} a_k. :class:`RobbinsMonro` is the schedule of the convergence theory
(Σ a_n = ∞, Σ a_n² < ∞); :class:`Constant` is the contrast case (no convergence, a noise floor
∝ a). A simulator object says how the m-chain is simulated: :class:`Full` (the tokens themselves,
O(N·d) per step) or :class:`Reduced` (the exact reduced chain, O(N) per step, same law).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from attnlab._validate import ParameterError, check_int
from attnlab.config import Params

__all__ = ["Constant", "Full", "Reduced", "RobbinsMonro", "Schedule", "Simulator"]


class _StepSchedule(Params):
    """A schedule a_n = c / (n + n0)^p given by its :meth:`coefficients` (c, n0, p)."""

    def coefficients(self) -> tuple[float, float, float]:  # pragma: no cover - abstract
        raise NotImplementedError

    def step_sizes(self, n: object) -> np.ndarray:
        """a_n = c / (n + n0)^p at the step indices ``n``, (c, n0, p) = :meth:`coefficients`.

        Parameters
        ----------
        n : int or array
            Step indices, finite and ``>= 0``.

        Returns
        -------
        numpy.ndarray
        """
        c, n0, p = self.coefficients()
        n = np.asarray(n, dtype=float)
        if not np.all(np.isfinite(n)) or np.any(n < 0):
            raise ParameterError(f"n = {n!r}: step indices must be finite and >= 0")
        return c / (n + n0) ** p

    def times(self, steps: int) -> np.ndarray:
        """ODE times t_n = Σ_{k<n} a_k for n = 0, ..., ``steps`` (t_n = n a for a constant step).

        Parameters
        ----------
        steps : int

        Returns
        -------
        numpy.ndarray
            Length ``steps + 1``.
        """
        steps = check_int("steps", steps, lo=0)
        return np.concatenate([[0.0], np.cumsum(self.step_sizes(np.arange(steps)))])


class RobbinsMonro(_StepSchedule):
    """Robbins–Monro steps a_n = c / (n + n0)^p, p ∈ (1/2, 1].

    Parameters
    ----------
    c : float
        Step constant, ``> 0``.
    n0 : float
        Offset, ``> 0`` (the first step is c / n0^p).
    p : float
        Exponent in (1/2, 1].

    Notes
    -----
    The defaults (c = 9, n0 = 30, p = 1) are the headline experiment's schedule.
    """

    c: float = Field(9.0, gt=0, description="step constant c in a_n = c/(n+n0)^p")
    n0: float = Field(30.0, gt=0, description="step offset n0")
    p: float = Field(1.0, gt=0.5, le=1.0, description="step exponent p ∈ (1/2, 1]")

    def coefficients(self) -> tuple[float, float, float]:
        """(c, n0, p) such that a_n = c / (n + n0)^p.

        Returns
        -------
        tuple of float
        """
        return self.c, self.n0, self.p

    def relaxation_correction(self, n: float) -> float:
        """p / (a_n (n + n0)): the decay rate of a_n relative to a_n (it enters the
        quasi-stationary noise floor; 1/c for p = 1).

        Parameters
        ----------
        n : float
            Step index.

        Returns
        -------
        float
        """
        return self.p / (float(self.step_sizes(n)) * (n + self.n0))


class Constant(_StepSchedule):
    """Constant steps a_n = a (no convergence: the contrast case).

    Parameters
    ----------
    a : float
        The step, ``> 0``.
    """

    a: float = Field(0.01, gt=0, description="constant step a")

    def coefficients(self) -> tuple[float, float, float]:
        """(a, 1, 0): a_n = a / (n + 1)^0.

        Returns
        -------
        tuple of float
        """
        return self.a, 1.0, 0.0

    def relaxation_correction(self, n: float) -> float:
        """0: a constant step does not decay.

        Parameters
        ----------
        n : float
            Step index (unused).

        Returns
        -------
        float
        """
        return 0.0


Schedule = RobbinsMonro | Constant


class Full(Params):
    """Simulate the tokens themselves: O(N·d) per step and seed (the reference).

    Parameters
    ----------
    dtype : {"float32", "float64"}, optional
        Precision of the draws and the updates (default: attnlab's precision).
    """

    dtype: Literal["float32", "float64"] | None = Field(None, description="simulation precision")


class Reduced(Params):
    """Simulate the exact reduced chain of m_n: O(N) per step and seed, any d, same law as
    :class:`Full`.

    Parameters
    ----------
    dtype : {"float32", "float64"}, optional
        Precision of the draws and the updates (default: attnlab's precision).
    """

    dtype: Literal["float32", "float64"] | None = Field(None, description="simulation precision")


Simulator = Full | Reduced
