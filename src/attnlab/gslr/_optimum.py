"""The population optimum of an activation: a 2-parameter search over :math:`(m_k, q_k)`."""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from attnlab._jax import jax, jnp
from attnlab._validate import check_int
from attnlab.gslr._activations import Activation
from attnlab.gslr._types import Overlaps, PopulationOptimum

__all__ = ["search_optimum"]

GRID_M, GRID_S = 17, 7


def _neg_ratio(fn: Any, sigma: Activation, p: Any, shift: Any, arrays: Any) -> Any:
    a, b, _ = fn(sigma, p[0], p[1], shift, arrays)
    return -(a**2) / b


@functools.partial(jax.jit, static_argnums=(0, 1))
def _value_and_grad(fn: Any, sigma: Activation, p: Any, shift: Any, arrays: Any) -> Any:
    return jax.value_and_grad(lambda x: _neg_ratio(fn, sigma, x, shift, arrays))(p)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _on_grid(fn: Any, sigma: Activation, grid: Any, shift: Any, arrays: Any) -> Any:
    return jax.lax.map(lambda p: _neg_ratio(fn, sigma, p, shift, arrays), grid)


def _projected_gradient(fun: Any, x: np.ndarray, m_max: float, s_max: float) -> float:
    """Largest component of the gradient that points into the box at ``x``."""
    g = fun(x)[1]
    lo, hi = np.array([-m_max, 0.0]), np.array([m_max, s_max])
    g = np.where((x <= lo) & (g > 0), 0.0, g)
    g = np.where((x >= hi) & (g < 0), 0.0, g)
    return float(np.max(np.abs(g)))


def search_optimum(
    fn: Any,
    sigma: Activation,
    shift: Any,
    arrays: Any,
    signal_scale: float,
    *,
    max_iter: int,
    grid_arrays: Any = None,
) -> PopulationOptimum:
    r"""Minimise :math:`-a^2/b` over :math:`m_k \in [-m_{\max}, m_{\max}]`,
    :math:`s_k = \sqrt{q_k - m_k^2} \in [0, 4]`: a 17 × 7 grid, then L-BFGS-B (at most
    ``max_iter`` iterations) from the two best grid points; :math:`m_{\max} = \max(6, 1.5
    c_\nu)` (30 at :math:`\nu = \infty`).

    The grid only ranks the start points, so it may be evaluated on a subsample of the data
    (``grid_arrays``, e.g. the first draws of a Monte-Carlo sample); the local searches and
    the returned optimum always use ``arrays``.

    Parameters
    ----------
    fn : callable
        The compiled moments ``fn(sigma, m_k, s_k, shift, arrays) -> (a, b, cov)``.
    sigma : callable
    shift, arrays
        Its data (quadrature grids or Monte-Carlo draws).
    signal_scale : float
        :math:`c_\nu`.
    max_iter : int
    grid_arrays : optional
        Data for the grid's evaluations (default ``arrays``).

    Returns
    -------
    PopulationOptimum
        Its ``risk`` is :math:`-a^2/b` at the optimum (the caller adds :math:`\Delta + 1` and
        the standard error); the :math:`v` overlaps are left at 0.
    """
    from scipy.optimize import minimize

    max_iter = check_int("max_iter", max_iter, lo=1, hi=100_000)
    c = signal_scale
    m_max = max(6.0, 1.5 * c) if math.isfinite(c) else 30.0
    s_max = 4.0
    ms = np.linspace(-m_max, m_max, GRID_M)
    ss = np.linspace(0.0, s_max, GRID_S)
    grid = np.array([(m, s) for m in ms for s in ss])
    on_grid = arrays if grid_arrays is None else grid_arrays
    values = np.asarray(_on_grid(fn, sigma, jnp.asarray(grid), shift, on_grid))

    def fun(p: np.ndarray) -> tuple[float, np.ndarray]:
        v, g = _value_and_grad(fn, sigma, jnp.asarray(p), shift, arrays)
        return float(v), np.asarray(g, dtype=float)

    best = None
    for i in np.argsort(values)[:2]:
        res = minimize(
            fun,
            np.array(grid[i]),
            jac=True,
            method="L-BFGS-B",
            bounds=[(-m_max, m_max), (0.0, s_max)],
            options={"maxiter": max_iter, "ftol": 1e-15, "gtol": 1e-10},
        )
        if best is None or res.fun < best.fun:
            best = res
    m_k, s_k = float(best.x[0]), float(best.x[1])
    at_edge = abs(abs(m_k) - m_max) < 1e-6 * m_max or abs(s_k - s_max) < 1e-6
    # L-BFGS-B stops on its iteration cap with status 1; a line search that cannot improve at
    # ftol = 1e-15 (status 2) is converged when the projected gradient is ~0 there
    converged = best.status == 0 or (
        best.status == 2 and _projected_gradient(fun, best.x, m_max, s_max) < 1e-7
    )
    return PopulationOptimum(
        risk=float(best.fun),
        stderr=0.0,
        overlaps=Overlaps(m_k, m_k**2 + s_k**2, 0.0, 0.0),
        at_boundary=bool(at_edge),
        converged=bool(converged),
        message=str(best.message),
    )
