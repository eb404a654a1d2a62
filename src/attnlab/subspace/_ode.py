r"""The limiting ODE of SGA, its solution and its fixed points.

The mean field of SGA on the sphere is φ′(m)(u − mq), and the ODE closes on m:

    dm/dt = F(m) = (1 − m²) φ′(m)

on the SGA time axis t_n = Σ_{k<n} a_k. Fixed points: the equator m = 0 for a symmetric sign law
(unstable iff φ″(0) > 0, the positive-feedback escape), the poles m = ±1 (F′(±1) = ∓2φ′(±1):
stable iff ±φ′(±1) > 0, linear rate 2|φ′(±1)|) and any zero of φ′ in (−1, 1) \ {0} (a *spurious*
fixed point, reported by :func:`fixed_points`). Escape time from the equator ≈ log(d)/(2φ″(0)).

Solution. In the coordinate w = artanh m the ODE reads dw/dt = φ′(tanh w): the poles move to
w = ±∞, approached at the finite speed φ′(±1), so the stiffness of the pole in m (F′(1) = −2φ′(1),
large at strong signal) disappears, and an explicit adaptive Runge–Kutta solver with a step cap
integrates any horizon in few steps. m_0 = ±1 are fixed points and stay there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from attnlab._validate import ParameterError, check_int, check_range
from attnlab.subspace._closed_form import closed_form_function, closed_form_valid
from attnlab.subspace._model import SubspaceModel
from attnlab.subspace._phi import PhiEstimate, check_m, phi_monte_carlo

__all__ = [
    "FixedPoint",
    "ODEError",
    "fixed_points",
    "ode_phi_prime",
    "ode_rhs",
    "phi_prime_interpolant",
    "phi_prime_zeros",
    "solve_ode",
]


class ODEError(RuntimeError):
    """The ODE solver did not reach the requested time within its step cap (one line)."""


def _checked_phi_prime(phi_prime: Callable[[Any], Any], grid: np.ndarray) -> np.ndarray:
    if not callable(phi_prime):
        raise ParameterError(f"phi_prime = {phi_prime!r} must be a callable m -> φ′(m)")
    values = np.asarray(phi_prime(grid), dtype=float)
    if values.shape != grid.shape:
        raise ParameterError(
            f"phi_prime returned shape {values.shape} for {grid.shape[0]} points: it must be "
            "elementwise"
        )
    bad = ~np.isfinite(values)
    if bad.any():
        raise ParameterError(f"phi_prime is not finite at m = {grid[bad][0]:g}: {values[bad][0]}")
    return values


def ode_rhs(m: Any, phi_prime: Callable[[Any], Any]) -> np.ndarray:
    """F(m) = (1 − m²) φ′(m), the right-hand side of the ODE.

    Parameters
    ----------
    m : float or array in [−1, 1]
    phi_prime : callable

    Returns
    -------
    numpy.ndarray
    """
    m_arr = check_m(m)
    return (1 - m_arr**2) * _checked_phi_prime(phi_prime, m_arr)


def _check_times(times: Any) -> np.ndarray:
    try:
        t = np.asarray(times, dtype=float)
    except (TypeError, ValueError):
        raise ParameterError(f"times = {times!r} is not numeric") from None
    if t.ndim != 1 or t.size == 0 or not np.all(np.isfinite(t)) or t[0] < 0:
        raise ParameterError(
            f"times = {times!r}: must be a non-empty 1-d array of finite times >= 0"
        )
    if np.any(np.diff(t) < 0):
        raise ParameterError(f"times = {times!r}: must be sorted")
    return t


def solve_ode(
    m0: Any,
    times: Any,
    *,
    phi_prime: Callable[[Any], Any],
    max_steps: int = 20_000,
    rtol: float = 1e-8,
    atol: float = 1e-10,
) -> np.ndarray:
    r"""Solve :math:`\dot m = (1-m^2)\varphi'(m)` from each entry of ``m0``, as
    :math:`\dot w = \varphi'(\tanh w)`, w = artanh m (module docstring), by an adaptive
    Runge–Kutta (Dormand–Prince 5(4)) solver.

    Parameters
    ----------
    m0 : float or array in [−1, 1]
        Initial overlaps, one per trajectory.
    times : array
        Sorted ODE times >= 0 at which to return m.
    phi_prime : callable
        m ↦ φ′(m), elementwise on numpy arrays (e.g. :func:`closed_form_function` with
        ``order=1``, or :func:`phi_prime_interpolant`).
    max_steps : int
        Cap on the solver's steps; reaching it raises :class:`ODEError`.
    rtol, atol : float
        Tolerances on w.

    Returns
    -------
    numpy.ndarray
        m at ``times``, shape ``(len(m0), len(times))``.
    """
    from scipy.integrate import solve_ivp

    m = check_m(m0, "m0")
    t = _check_times(times)
    max_steps = check_int("max_steps", max_steps, lo=1)
    rtol = check_range("rtol", rtol, lo=1e-14, hi=1e-2)
    atol = check_range("atol", atol, lo=0, lo_open=True, hi=1.0)
    _checked_phi_prime(phi_prime, np.linspace(-1.0, 1.0, 201))
    out = np.repeat(m[:, None], t.size, axis=1)
    moving = np.abs(m) < 1
    if not moving.any() or t[-1] == 0:
        return out
    calls = [0]

    def rhs(_t: float, w: np.ndarray) -> np.ndarray:
        calls[0] += 1
        if calls[0] > 6 * max_steps:
            raise ODEError(
                f"ODE solver stopped after {max_steps} steps at t = {_t:.4g} of {t[-1]:.4g} "
                "(raise max_steps, or the drift is too stiff)"
            )
        return np.asarray(phi_prime(np.tanh(w)), dtype=float)

    t_eval, where = np.unique(t, return_inverse=True)
    sol = solve_ivp(
        rhs, (0.0, float(t[-1])), np.arctanh(m[moving]), "RK45", t_eval, rtol=rtol, atol=atol
    )
    if sol.status != 0:
        raise ODEError(f"ODE solver failed: {sol.message}")
    values = np.tanh(sol.y)[:, where]
    if not np.all(np.isfinite(values)):
        raise ODEError("ODE solution is not finite: phi_prime returned NaN along the way")
    out[moving] = values
    return out


def phi_prime_interpolant(est: PhiEstimate, *, symmetric: bool = True) -> Callable[[Any], Any]:
    """φ′ as a callable from a Monte-Carlo grid: linear interpolation, extended to m < 0 as an
    odd function when ``symmetric`` and the grid covers [0, 1] only.

    Parameters
    ----------
    est : PhiEstimate
    symmetric : bool

    Returns
    -------
    callable
    """
    m, dphi = est.m, est.dphi
    if not np.all(np.isfinite(dphi)):
        raise ParameterError("the Monte-Carlo φ′ has non-finite values")
    if symmetric and m.min() >= 0:
        m = np.concatenate([-m[::-1], m])
        dphi = np.concatenate([-dphi[::-1], dphi])
        m, idx = np.unique(m, return_index=True)
        dphi = dphi[idx]

    def fn(x: Any) -> np.ndarray:
        return np.interp(np.asarray(x, dtype=float), m, dphi)

    return fn


def ode_phi_prime(
    model: SubspaceModel, *, key: Any, n_samples: int, n_grid: int = 41
) -> tuple[Callable[[Any], Any], str]:
    """φ′ for the ODE of ``model``: the closed form where it is valid on all of [−1, 1],
    otherwise the exact Monte-Carlo φ′ on a grid (:func:`phi_prime_interpolant`).

    Parameters
    ----------
    model : SubspaceModel
    key : jax key
        For the Monte-Carlo fallback.
    n_samples, n_grid : int
        Monte-Carlo draws and grid points of the fallback.

    Returns
    -------
    phi_prime : callable
    source : {"closed form", "Monte-Carlo"}
    """
    grid = np.linspace(0.0 if model.symmetric else -1.0, 1.0, check_int("n_grid", n_grid, lo=3))
    if closed_form_valid(model, grid).all():
        return closed_form_function(model, order=1), "closed form"
    est = phi_monte_carlo(model, grid, key=key, n_samples=n_samples)
    return phi_prime_interpolant(est, symmetric=model.symmetric), "Monte-Carlo"


# --------------------------------------------------------------------------- fixed points


@dataclass(frozen=True)
class FixedPoint:
    """A fixed point of dm/dt = F(m): ``kind`` in {"equator", "pole", "spurious"},
    ``slope`` = F′(m) (stable iff < 0)."""

    m: float
    kind: str
    slope: float

    @property
    def stable(self) -> bool:
        """Whether small perturbations decay (F′(m) < 0)."""
        return self.slope < 0


def phi_prime_zeros(m: Any, dphi: Any, dphi_se: Any = None, *, z: float = 3.0) -> np.ndarray:
    """Zeros of φ′ on a grid: sign changes between consecutive points (linear interpolation).

    Parameters
    ----------
    m, dphi : array
        Grid and φ′ on it.
    dphi_se : array, optional
        Standard errors: grid points where |φ′| ≤ z·se are ignored, so Monte-Carlo noise around
        a flat φ′ is not reported as a zero.
    z : float

    Returns
    -------
    numpy.ndarray
        The interpolated zeros.
    """
    m = np.asarray(m, dtype=float)
    dphi = np.asarray(dphi, dtype=float)
    if m.shape != dphi.shape or not np.all(np.isfinite(dphi)) or not np.all(np.isfinite(m)):
        raise ParameterError("m and dphi must be finite arrays of the same shape")
    keep = np.ones_like(m, bool) if dphi_se is None else np.abs(dphi) > z * np.asarray(dphi_se)
    mk, fk = m[keep], dphi[keep]
    zeros = []
    for i in range(len(mk) - 1):
        if fk[i] == 0:
            zeros.append(mk[i])
        elif fk[i] * fk[i + 1] < 0:
            zeros.append(mk[i] - fk[i] * (mk[i + 1] - mk[i]) / (fk[i + 1] - fk[i]))
    return np.asarray(zeros)


def fixed_points(
    phi_prime: Callable[[Any], Any], *, symmetric: bool = True, grid: int = 2001, eps: float = 1e-6
) -> list[FixedPoint]:
    """Fixed points of the ODE and their stability (module docstring).

    Parameters
    ----------
    phi_prime : callable
        m ↦ φ′(m), elementwise; must be finite on [−1, 1].
    symmetric : bool
        A symmetric sign law: report the equator (slope φ″(0) by a central difference) and the
        pole +1, and search zeros in (0, 1); otherwise both poles and zeros in (−1, 1).
    grid : int
        Points of the search grid.
    eps : float
        Half-width of the central difference at a spurious zero (slope (1−m²)φ″(m)).

    Returns
    -------
    list of FixedPoint
        Sorted by m.
    """
    grid = check_int("grid", grid, lo=11)
    eps = check_range("eps", eps, lo=0, lo_open=True, hi=1e-2)
    lo = 0.0 if symmetric else -1.0
    m = np.linspace(lo, 1.0, grid)
    h = (1.0 - lo) / (grid - 1)
    dphi = _checked_phi_prime(phi_prime, m)
    _checked_phi_prime(phi_prime, np.array([-1.0, -h]))
    pts = []
    interior = phi_prime_zeros(m[1:-1], dphi[1:-1])
    if symmetric:
        slope0 = (phi_prime(np.array([h]))[0] - phi_prime(np.array([-h]))[0]) / (2 * h)
        pts.append(FixedPoint(0.0, "equator", float(slope0)))
        interior = interior[np.abs(interior) > 10 * h]
    for z0 in interior:
        z0 = float(np.clip(z0, -1 + eps, 1 - eps))
        dd = (phi_prime(np.array([z0 + eps]))[0] - phi_prime(np.array([z0 - eps]))[0]) / (2 * eps)
        pts.append(FixedPoint(z0, "spurious", float((1 - z0**2) * dd)))
    for p in [1.0] if symmetric else [-1.0, 1.0]:
        pts.append(FixedPoint(p, "pole", float(-2 * p * phi_prime(np.array([p]))[0])))
    return sorted(pts, key=lambda f: f.m)
