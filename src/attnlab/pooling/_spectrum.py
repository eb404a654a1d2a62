"""Empirical spectra of pooled data (spec ``pooling.md`` §1, §5).

``C_hat = (1/N) X^T X`` for the (centred) ``N x d`` pooled data. All eigenvalues come from the
smaller of the ``d x d`` and ``N x N`` Gram matrices (the other ``|d - N|`` are zero); the top
eigenpairs, when only outliers are needed, from Lanczos (``scipy.sparse.linalg.eigsh``) on the
operator ``v -> X^T (X v) / N`` — ``O(N d)`` per product, never forming ``C_hat``.
:func:`simulate_outliers` runs trials x an ``ell`` grid and returns the top eigenvalue of
``C_hat/kappa`` with its squared overlaps on ``mu_hat`` and ``m_hat`` (kept apart, §4), plus the
same at population level (``N = inf``: ``Sigma/kappa = W + rho m m^T`` computed from the table).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla
from scipy.sparse.linalg import LinearOperator, eigsh

from attnlab._validate import ParameterError, check_choice, check_int
from attnlab.pooling._data import LabelModel, sample_pooled

__all__ = [
    "OutlierSimulation",
    "covariance_eigenvalues",
    "population_top_eigenpair",
    "simulate_outliers",
    "squared_overlap",
    "top_eigenpairs",
]


def covariance_eigenvalues(X: np.ndarray) -> np.ndarray:
    """All ``d`` eigenvalues of ``C_hat = X^T X / N`` (descending), via the smaller Gram matrix.

    ``X`` is used as given (centre it first if wanted).
    """
    X = np.asarray(X, dtype=float)
    if X.ndim != 2:
        raise ParameterError(f"X must be an N x d matrix, got shape {X.shape}")
    N, d = X.shape
    if N >= d:
        ev = sla.eigh(X.T @ X / N, eigvals_only=True, check_finite=False)
    else:
        ev = np.concatenate(
            [sla.eigh(X @ X.T / N, eigvals_only=True, check_finite=False), np.zeros(d - N)]
        )
    return np.sort(np.maximum(ev, 0.0))[::-1]


def top_eigenpairs(
    X: np.ndarray,
    k: int = 1,
    *,
    method: str = "lanczos",
    tol: float = 1e-10,
    v0: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` eigenpairs ``(values (k,), vectors (d, k))`` of ``C_hat = X^T X / N``, descending.

    ``method="lanczos"``: ARPACK on ``v -> X^T (X v)/N`` (cost ``O(N d)`` per iteration);
    ``method="full"``: dense ``eigh`` of the ``d x d`` matrix (the straightforward baseline).
    ``v0``: Lanczos start vector (default: the normalised all-ones vector — deterministic); a
    sweep over ``ell`` passes the previous top eigenvector (warm start, fewer iterations).
    """
    X = np.asarray(X, dtype=float)
    N, d = X.shape
    k = check_int("k", k, lo=1, hi=max(1, min(N, d) - 1))
    check_choice("method", method, ("lanczos", "full"))
    if method == "full" or d <= 3 * k + 2:
        vals, vecs = sla.eigh(X.T @ X / N, check_finite=False, subset_by_index=(d - k, d - 1))
    else:
        op = LinearOperator((d, d), matvec=lambda v: X.T @ (X @ v) / N, dtype=float)
        if v0 is None:
            v0 = np.ones(d) / np.sqrt(d)  # deterministic start vector: reproducible results
        vals, vecs = eigsh(op, k=k, which="LA", tol=tol, v0=np.asarray(v0, dtype=float))
    order = np.argsort(vals)[::-1]
    return vals[order], vecs[:, order]


def squared_overlap(u: np.ndarray, direction: np.ndarray) -> float:
    """``<u/||u||, direction/||direction||>^2``."""
    u, direction = np.asarray(u, float), np.asarray(direction, float)
    return float((u @ direction) ** 2 / ((u @ u) * (direction @ direction)))


def population_top_eigenpair(
    eps: np.ndarray, m: np.ndarray, rho: float, *, tol: float = 1e-10, v0: np.ndarray | None = None
) -> tuple[float, np.ndarray]:
    """Top eigenpair of ``Sigma/kappa = W + rho m m^T``, ``W = eps^T eps / V`` (exact N = inf).

    ``eps`` (V x d) are the within-class token deviations; Lanczos on the implicit operator.
    """
    V, d = eps.shape
    op = LinearOperator(
        (d, d), matvec=lambda v: eps.T @ (eps @ v) / V + rho * m * (m @ v), dtype=float
    )
    start = np.ones(d) / np.sqrt(d) if v0 is None else np.asarray(v0, dtype=float)
    vals, vecs = eigsh(op, k=1, which="LA", tol=tol, v0=start)
    return float(vals[0]), vecs[:, 0]


@dataclass(frozen=True)
class OutlierSimulation:
    """Arrays of shape ``(trials, len(ells))``: top eigenvalue of ``C_hat/kappa``
    (``lam``), its squared overlaps with ``mu_hat`` (``overlap_mu``) and ``m_hat``
    (``overlap_m``), and the population counterparts (``lam_pop``, ``overlap_pop_mu``,
    ``overlap_pop_m``; NaN when not computed). ``delta``/``gamma`` are the realised ``d/V``,
    ``d/N``; ``rho`` and ``kappa`` those of the weights."""

    ells: np.ndarray
    lam: np.ndarray
    overlap_mu: np.ndarray
    overlap_m: np.ndarray
    lam_pop: np.ndarray
    overlap_pop_mu: np.ndarray
    overlap_pop_m: np.ndarray
    delta: float
    gamma: float
    rho: float
    kappa: float


def simulate_outliers(
    rngs,
    *,
    d: int,
    V: int,
    N: int,
    weights,
    label_model: LabelModel,
    ells,
    center: bool = True,
    population: bool = False,
    method: str = "lanczos",
) -> OutlierSimulation:
    """Top eigenpair of ``C_hat`` over trials (one ``numpy`` Generator each in ``rngs``) and a grid
    of ``ell`` (common random numbers across ``ell`` within a trial)."""
    ells = np.atleast_1d(np.asarray(ells, dtype=float))
    if np.any(ells < 0) or not np.all(np.isfinite(ells)):
        raise ParameterError(f"ell = {ells.min()!r} is out of range: must be in [0, inf)")
    rngs = list(rngs)
    T, K = len(rngs), ells.size
    out = {k: np.full((T, K), np.nan) for k in ("lam", "om", "omm", "lp", "opm", "opmm")}
    kap = rho = np.nan
    for i, rng in enumerate(rngs):
        smp = sample_pooled(
            rng, d=d, V=V, N=N, weights=weights, label_model=label_model, center=center
        )
        kap, rho = smp.kappa, smp.rho
        xi = smp.table.class_mean_noise()
        eps = smp.table.within_class_noise() if population else None
        u = v = None  # warm starts along the ell sweep
        for j, ell in enumerate(ells):
            X = smp.data(ell)
            vals, vecs = top_eigenpairs(X, 1, method=method, v0=u)
            u = vecs[:, 0]
            m = np.sqrt(ell) * smp.table.mu_direction + xi
            out["lam"][i, j] = vals[0] / kap
            out["om"][i, j] = squared_overlap(u, smp.table.mu_direction)
            out["omm"][i, j] = squared_overlap(u, m)
            if population:
                lp, v = population_top_eigenpair(eps, m, rho, v0=v)
                out["lp"][i, j] = lp
                out["opm"][i, j] = squared_overlap(v, smp.table.mu_direction)
                out["opmm"][i, j] = squared_overlap(v, m)
    return OutlierSimulation(
        ells=ells,
        lam=out["lam"],
        overlap_mu=out["om"],
        overlap_m=out["omm"],
        lam_pop=out["lp"],
        overlap_pop_mu=out["opm"],
        overlap_pop_m=out["opmm"],
        delta=d / V,
        gamma=d / N,
        rho=float(rho),
        kappa=float(kap),
    )
