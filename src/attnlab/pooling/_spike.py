r"""Outliers, overlaps and the two BBP-type transitions of pooled data (units of ``κ``).

Where the formulas come from. Given the table, the pooled vectors have population covariance
``κ (W + ρ m mᵀ)``: ``W = εᵀε/V`` is the within-class covariance of the tokens (``ε_v`` = token
minus its class mean), a Wishart matrix with law ``MP_δ``, *independent* of the class-mean
direction ``m = μ + ξ`` (``ξ = (1/V) Σ_v y_v z_v`` Gaussian, ``‖ξ‖² → δ``). So the population is
an additive rank-one spike of strength ``θ = ρ(ℓ + δ)`` on ``MP_δ``, whose BBP point and outlier
``θ + θ/(θ − δ)`` are those below with the *effective spike*

.. math:: s = \rho(\ell + \delta) - \delta.

Transition 1 (population, ``N = ∞``): an outlier exists iff ``s > √δ``, at ``(s + 1)(s + δ)/s``,
with ``⟨v, m̂⟩² = 1 − δ/s²`` and ``⟨v, μ̂⟩² = (1 − δ/s²) ℓ/(ℓ + δ)``.

Transition 2 (sample): with ``P(s) = s³ − (δ + γ + δγ)s − 2δγ`` an outlier exists iff
``P(s) > 0`` (``s > s*``, the largest root; ``s* > √δ``), at ``(s + 1)(s + δ)(s + γ)/s²``, with

.. math:: \langle \hat u, \hat m\rangle^2 = \frac{P(s)}{s^2 (s + \gamma)}, \qquad
    \langle \hat u, \hat\mu\rangle^2 = \frac{P(s)}{s^2 (s + \gamma)} \frac{\ell}{\ell + \delta}.

Below ``s*`` the top eigenvalue sticks to the bulk edge ``λ₊`` and the overlaps vanish. In
``ℓ`` the thresholds are ``ℓ₁ = (δ + √δ)/ρ − δ`` and ``ℓ₂ = (δ + s*)/ρ − δ``. Limits: ``δ → 0``
with ``ρ = 1`` gives the classic spiked-covariance BBP (threshold ``ℓ > √γ``, outlier
``(1 + ℓ)(1 + γ/ℓ)``, overlap ``(1 − γ/ℓ²)/(1 + γ/ℓ)``); at ``ρ = 1`` the sample outlier is
symmetric in ``(δ, γ)``. With ``ℓ = 0`` a large ``ρ`` still gives ``s = (ρ − 1)δ > s*``: an
outlier aligned with the vocabulary noise ``ξ``, not with ``μ``.

All functions broadcast over arrays and refuse NaN, infinities and out-of-range values with a
one-line :class:`~attnlab.ParameterError`. Valid ranges: ``δ, γ ∈ [1e-9, 1e6]``,
``ρ ∈ [1e-9, 1e6]``, ``ℓ ∈ [0, 1e8]``, ``|s| ≤ 1e8``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from attnlab.pooling._bulk import RATIO_RANGE, check_values, mp_product_edges

__all__ = [
    "alignment_thresholds",
    "effective_spike",
    "outlier_population",
    "outlier_sample",
    "overlap_population",
    "overlap_population_m",
    "overlap_sample_m",
    "overlap_sample_mu",
    "s_star",
    "sample_polynomial",
]

ELL_RANGE = (0.0, 1e8)
RHO_RANGE = RATIO_RANGE


def _delta_gamma(delta: Any, gamma: Any) -> tuple[np.ndarray, np.ndarray]:
    return check_values("delta", delta, *RATIO_RANGE), check_values("gamma", gamma, *RATIO_RANGE)


def effective_spike(ell: Any, delta: Any, rho: Any) -> np.ndarray:
    """The effective spike ``s = ρ(ℓ + δ) − δ``.

    Parameters
    ----------
    ell : array_like
        Signal strength ``ℓ = ‖μ‖²``, in ``[0, 1e8]``.
    delta : array_like
        ``d/V``, in ``[1e-9, 1e6]``.
    rho : array_like
        ``wᵀRw/‖w‖²``, in ``[1e-9, 1e6]``.

    Returns
    -------
    numpy.ndarray
    """
    ell = check_values("ell", ell, *ELL_RANGE)
    delta = check_values("delta", delta, *RATIO_RANGE)
    rho = check_values("rho", rho, *RHO_RANGE)
    return rho * (ell + delta) - delta


def sample_polynomial(s: Any, delta: Any, gamma: Any) -> np.ndarray:
    """``P(s) = s³ − (δ + γ + δγ) s − 2δγ`` (positive iff the sample outlier exists).

    Parameters
    ----------
    s : array_like
        Effective spike, ``|s| <= 1e8``.
    delta, gamma : array_like
        In ``[1e-9, 1e6]``.

    Returns
    -------
    numpy.ndarray
    """
    s = check_values("s", s, -1e8, 1e8)
    delta, gamma = _delta_gamma(delta, gamma)
    return s**3 - (delta + gamma + delta * gamma) * s - 2 * delta * gamma


def s_star(delta: Any, gamma: Any) -> np.ndarray:
    """Largest root ``s*`` of ``P(s)`` (the sample-level threshold on ``s``).

    ``P(s) = s³ − p s − q`` with ``p = δ + γ + δγ``, ``q = 2δγ``; ``4p³ ≥ 27q²`` (AM–GM), so
    the roots are real and ``s* = 2√(p/3) cos(arccos((3q/2p)√(3/p))/3)``; ``s* > √δ``.

    Parameters
    ----------
    delta, gamma : array_like
        In ``[1e-9, 1e6]``.

    Returns
    -------
    numpy.ndarray
    """
    delta, gamma = _delta_gamma(delta, gamma)
    p = delta + gamma + delta * gamma
    q = 2 * delta * gamma
    arg = np.clip(1.5 * q / p * np.sqrt(3 / p), -1.0, 1.0)
    return 2 * np.sqrt(p / 3) * np.cos(np.arccos(arg) / 3)


def alignment_thresholds(delta: Any, gamma: Any, rho: Any) -> tuple[np.ndarray, np.ndarray]:
    """Thresholds in ``ℓ``: ``ℓ₁ = (δ + √δ)/ρ − δ`` (population), ``ℓ₂ = (δ + s*)/ρ − δ``
    (sample). Negative values mean every ``ℓ ≥ 0`` is above.

    Parameters
    ----------
    delta, gamma, rho : array_like
        In ``[1e-9, 1e6]`` (broadcast).

    Returns
    -------
    ell_1, ell_2 : numpy.ndarray
    """
    delta, gamma = _delta_gamma(delta, gamma)
    rho = check_values("rho", rho, *RHO_RANGE)
    return (delta + np.sqrt(delta)) / rho - delta, (delta + s_star(delta, gamma)) / rho - delta


def _above(s: np.ndarray, threshold: Any) -> tuple[np.ndarray, np.ndarray]:
    """Mask ``s > threshold`` and ``s`` with the masked-out entries set to 1 (safe division)."""
    above = s > threshold
    return above, np.where(above, s, 1.0)


def _population(ell: Any, delta: Any, rho: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(δ, s > √δ, s)`` with ``s`` set to 1 where below (safe division)."""
    s = effective_spike(ell, delta, rho)
    delta = np.asarray(delta, dtype=float)
    above, ss = _above(s, np.sqrt(delta))
    return delta, above, ss


def outlier_population(ell: Any, delta: Any, rho: Any) -> np.ndarray:
    """Population top eigenvalue: ``(s + 1)(s + δ)/s`` for ``s > √δ``, else the ``MP_δ`` edge
    ``(1 + √δ)²``.

    Parameters
    ----------
    ell, delta, rho : array_like
        As in :func:`effective_spike`.

    Returns
    -------
    numpy.ndarray
        Top eigenvalue of ``Σ/κ``.
    """
    delta, above, ss = _population(ell, delta, rho)
    return np.where(above, (ss + 1) * (ss + delta) / ss, (1 + np.sqrt(delta)) ** 2)


def overlap_population_m(ell: Any, delta: Any, rho: Any) -> np.ndarray:
    """``⟨v, m̂⟩² = 1 − δ/s²`` for ``s > √δ``, else 0 (``v`` the population eigenvector).

    Parameters
    ----------
    ell, delta, rho : array_like
        As in :func:`effective_spike`; the overlap is with the class-mean direction.

    Returns
    -------
    numpy.ndarray
    """
    delta, above, ss = _population(ell, delta, rho)
    return np.where(above, 1 - delta / ss**2, 0.0)


def overlap_population(ell: Any, delta: Any, rho: Any) -> np.ndarray:
    """``⟨v, μ̂⟩² = (1 − δ/s²) ℓ/(ℓ + δ)`` for ``s > √δ``, else 0.

    The factor ``ℓ/(ℓ + δ) = ⟨μ̂, m̂⟩²`` in the limit: ``m = μ + ξ`` with ``‖ξ‖² → δ``.

    Parameters
    ----------
    ell, delta, rho : array_like
        ``ℓ``, ``δ`` and ``ρ`` (ranges as in :func:`effective_spike`).

    Returns
    -------
    numpy.ndarray
        In ``[0, 1)``.
    """
    on_m = overlap_population_m(ell, delta, rho)
    ell, delta = np.asarray(ell, dtype=float), np.asarray(delta, dtype=float)
    return on_m * ell / (ell + delta)


def _sample(ell: Any, delta: Any, gamma: Any, rho: Any) -> tuple[np.ndarray, ...]:
    """``(δ, γ, s > s*, s)`` with ``s`` set to 1 where below (safe division)."""
    s = effective_spike(ell, delta, rho)
    delta, gamma = _delta_gamma(delta, gamma)
    above, ss = _above(s, s_star(delta, gamma))
    return delta, gamma, above, ss


def outlier_sample(ell: Any, delta: Any, gamma: Any, rho: Any) -> np.ndarray:
    """Sample top eigenvalue of ``Ĉ/κ``: ``(s + 1)(s + δ)(s + γ)/s²`` for ``s > s*``, else the
    bulk edge ``λ₊``.

    Parameters
    ----------
    ell, delta, rho : array_like
        As in :func:`effective_spike`.
    gamma : array_like
        ``d/N``, in ``[1e-9, 1e6]``.

    Returns
    -------
    numpy.ndarray
    """
    delta, gamma, above, ss = _sample(ell, delta, gamma, rho)
    outlier = (ss + 1) * (ss + delta) * (ss + gamma) / ss**2
    return np.where(above, outlier, mp_product_edges(delta, gamma)[1])


def overlap_sample_m(ell: Any, delta: Any, gamma: Any, rho: Any) -> np.ndarray:
    """``⟨û, m̂⟩² = P(s)/(s²(s + γ))`` for ``s > s*``, else 0 (overlap with the class-mean
    direction ``m``).

    Parameters
    ----------
    ell, delta, gamma, rho : array_like
        As in :func:`outlier_sample`.

    Returns
    -------
    numpy.ndarray
    """
    delta, gamma, above, ss = _sample(ell, delta, gamma, rho)
    # P(s)/(s²(s+γ)) written as 1 − (γs² + (δ+γ+δγ)s + 2δγ)/(s²(s+γ)): equal, and ≤ 1 in
    # floating point too (the direct quotient rounds above 1 at very large s)
    deficit = gamma * ss**2 + (delta + gamma + delta * gamma) * ss + 2 * delta * gamma
    return np.where(above, 1.0 - deficit / (ss**2 * (ss + gamma)), 0.0)


def overlap_sample_mu(ell: Any, delta: Any, gamma: Any, rho: Any) -> np.ndarray:
    """``⟨û, μ̂⟩² = ⟨û, m̂⟩² · ℓ/(ℓ + δ)``: the sample eigenvector sees ``μ`` only through ``m``.

    Parameters
    ----------
    ell, delta, gamma, rho : array_like
        ``ℓ``, ``δ``, ``γ`` and ``ρ``, as in :func:`outlier_sample`.

    Returns
    -------
    numpy.ndarray
        In ``[0, 1)``.
    """
    on_m = overlap_sample_m(ell, delta, gamma, rho)
    ell, delta = np.asarray(ell, dtype=float), np.asarray(delta, dtype=float)
    return on_m * ell / (ell + delta)
