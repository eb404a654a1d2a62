r"""The bulk law ``MP_δ ⊠ MP_γ`` of the pooled covariance (eigenvalues in units of ``κ``).

Why this law: given the table, the pooled noise is ``X_0 = A Z`` with a sparse incidence ``A``
(N × V) and a Gaussian table ``Z`` (V × d), so ``X_0ᵀX_0/N`` is a sample covariance (ratio
``γ = d/N``) of a population that is itself a sample covariance of the tokens (ratio
``δ = d/V``): its limit is the free multiplicative convolution of two Marchenko–Pastur laws.

The S-transform is ``S(z) = 1/((1 + δz)(1 + γz))``. With ``g`` the Cauchy transform and
``ω = λ g(λ) − 1``, ``ω`` solves ``λω = (1 + ω)(1 + δω)(1 + γω)``, i.e. the cubic

.. math:: \delta\gamma\,\omega^3 + (\delta + \gamma + \delta\gamma)\,\omega^2
    + (1 + \delta + \gamma - \lambda)\,\omega + 1 = 0,

and the density is ``f(λ) = −Im ω(λ + i0)/(πλ)`` on the Herglotz root (``Im g < 0`` above the
real axis): for real ``λ`` the root with the most negative imaginary part; where all three
roots are real the density vanishes. The edges are ``Λ(ω) = (1 + ω)(1 + δω)(1 + γω)/ω`` at
the critical points ``Λ′(ω) = 0``, the real roots of
``2δγ ω³ + (δ + γ + δγ) ω² − 1 = 0``: the right edge from the positive root, the left edge
from the negative root closest to 0. The atom at 0 has mass ``max(0, 1 − 1/δ, 1 − 1/γ)``.
Moments come independently from the S-transform by series reversion:
``ψ(z) = Σ_j m_j z^j`` solves ``ψ = z (1 + ψ)(1 + δψ)(1 + γψ)``.

Every function is vectorised (``λ``, ``δ``, ``γ`` broadcast; no per-point Python loop) and
refuses NaN, infinities and out-of-range values with a one-line
:class:`~attnlab.ParameterError`. Valid ranges: ``δ, γ ∈ [1e-9, 1e6]``, ``|λ| ≤ 1e12``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from attnlab._validate import ParameterError, check_int

__all__ = [
    "RATIO_RANGE",
    "check_values",
    "marchenko_pastur_density",
    "mp_product_atom",
    "mp_product_cdf",
    "mp_product_density",
    "mp_product_edges",
    "mp_product_moments",
]

RATIO_RANGE = (1e-9, 1e6)


def check_values(name: str, x: Any, lo: float, hi: float, *, lo_open: bool = False) -> np.ndarray:
    """``x`` as a float array whose entries all lie in ``[lo, hi]`` (``(lo, hi]`` if
    ``lo_open``), finite; else a one-line :class:`ParameterError` naming the first bad value.

    Parameters
    ----------
    name : str
    x : array_like
    lo, hi : float
    lo_open : bool

    Returns
    -------
    numpy.ndarray
    """
    try:
        a = np.asarray(x, dtype=float)
    except (TypeError, ValueError):
        raise ParameterError(f"{name} = {x!r} is not a number") from None
    ok = np.isfinite(a) & (a <= hi) & ((a > lo) if lo_open else (a >= lo))
    if not np.all(ok):
        bad = a[~ok].flat[0]
        left = "(" if lo_open else "["
        raise ParameterError(
            f"{name} = {float(bad)!r} is out of range: must be in {left}{lo:g}, {hi:g}]"
        )
    return a


def _ratios(delta: Any, gamma: Any) -> tuple[np.ndarray, np.ndarray]:
    return check_values("delta", delta, *RATIO_RANGE), check_values("gamma", gamma, *RATIO_RANGE)


def _companion_roots(c3, c2, c1, c0) -> np.ndarray:
    comp = np.zeros((*c3.shape, 3, 3), dtype=complex)
    comp[..., 0, 0] = -c2 / c3
    comp[..., 0, 1] = -c1 / c3
    comp[..., 0, 2] = -c0 / c3
    comp[..., 1, 0] = 1.0
    comp[..., 2, 1] = 1.0
    return np.linalg.eigvals(comp)


def _cubic_roots(c3, c2, c1, c0) -> np.ndarray:
    """All roots of ``c3 x³ + c2 x² + c1 x + c0`` (arrays broadcast), shape ``(..., 3)``.

    Cardano in complex arithmetic (the larger of the two square-root branches, against
    cancellation), then three Newton steps on the original cubic; nearly degenerate cubics
    (``|c3|`` tiny relative to the other coefficients) go through batched companion-matrix
    eigenvalues instead.
    """
    c3, c2, c1, c0 = np.broadcast_arrays(*(np.asarray(c, dtype=complex) for c in (c3, c2, c1, c0)))
    B, C, D = c2 / c3, c1 / c3, c0 / c3
    p = C - B**2 / 3
    q = 2 * B**3 / 27 - B * C / 3 + D
    disc = np.sqrt(q**2 / 4 + p**3 / 27)
    w = np.where(np.abs(-q / 2 + disc) >= np.abs(-q / 2 - disc), -q / 2 + disc, -q / 2 - disc)
    u = (w ** (1 / 3))[..., None] * np.exp(2j * np.pi * np.arange(3) / 3)
    safe = np.abs(u) > 0
    roots = np.where(safe, u - p[..., None] / (3 * np.where(safe, u, 1)), 0) - B[..., None] / 3
    scale = np.maximum.reduce([np.abs(c2), np.abs(c1), np.abs(c0)])
    degenerate = np.abs(c3) < 1e-6 * scale
    if np.any(degenerate):
        roots[degenerate] = _companion_roots(
            c3[degenerate], c2[degenerate], c1[degenerate], c0[degenerate]
        )
    a3, a2, a1, a0 = (c[..., None] for c in (c3, c2, c1, c0))
    for _ in range(3):  # Newton polishing on the original coefficients
        val = ((a3 * roots + a2) * roots + a1) * roots + a0
        der = (3 * a3 * roots + 2 * a2) * roots + a1
        ok = np.abs(der) > 0
        roots = np.where(ok, roots - val / np.where(ok, der, 1), roots)
    return roots


def mp_product_atom(delta: Any, gamma: Any) -> np.ndarray:
    """Mass of the atom at 0 of ``MP_δ ⊠ MP_γ``: ``max(0, 1 − 1/δ, 1 − 1/γ)``.

    Parameters
    ----------
    delta, gamma : array_like
        ``d/V`` and ``d/N``, each in ``[1e-9, 1e6]`` (broadcast).

    Returns
    -------
    numpy.ndarray
        The mass, in ``[0, 1)``.
    """
    delta, gamma = _ratios(delta, gamma)
    return np.maximum(0.0, np.maximum(1 - 1 / delta, 1 - 1 / gamma))


def _edge_lambda(omega, delta, gamma):
    return (1 + omega) * (1 + delta * omega) * (1 + gamma * omega) / omega


def mp_product_edges(delta: Any, gamma: Any) -> tuple[np.ndarray, np.ndarray]:
    """Edges ``(λ₋, λ₊)`` of the continuous part of ``MP_δ ⊠ MP_γ``.

    ``λ_± = Λ(ω_±)``, ``Λ(ω) = (1 + ω)(1 + δω)(1 + γω)/ω``, with ``ω_±`` the real roots of
    ``2δγ ω³ + (δ + γ + δγ) ω² − 1 = 0``: ``ω₊ > 0`` and ``ω₋`` the negative root closest to 0
    (``λ₋ = 0`` when ``δ = 1`` or ``γ = 1``, the hard edge).

    Parameters
    ----------
    delta, gamma : array_like
        In ``[1e-9, 1e6]`` (broadcast).

    Returns
    -------
    lambda_minus, lambda_plus : numpy.ndarray
    """
    delta, gamma = np.broadcast_arrays(*_ratios(delta, gamma))
    roots = _cubic_roots(2 * delta * gamma, delta + gamma + delta * gamma, 0.0, -1.0)
    re = roots.real
    real = np.abs(roots.imag) <= 1e-9 * (1 + np.abs(roots.real))
    w_plus = np.max(np.where(real & (re > 0), re, -np.inf), axis=-1)
    w_minus = np.max(np.where(real & (re < 0), re, -np.inf), axis=-1)
    lam_plus = _edge_lambda(w_plus, delta, gamma)
    lam_minus = np.maximum(_edge_lambda(w_minus, delta, gamma), 0.0)
    return lam_minus, lam_plus


def mp_product_density(lam: Any, *, delta: Any, gamma: Any) -> np.ndarray:
    """Density ``f(λ)`` of the continuous part of ``MP_δ ⊠ MP_γ`` (module docstring).

    .. math:: f(\\lambda) = -\\operatorname{Im} \\omega(\\lambda + i0) / (\\pi \\lambda).

    Parameters
    ----------
    lam : array_like
        Points, finite with ``|λ| <= 1e12``.
    delta, gamma : array_like
        In ``[1e-9, 1e6]``; broadcast with ``lam``.

    Returns
    -------
    numpy.ndarray
        Integrates to ``1 − atom``; 0 outside ``[λ₋, λ₊]``.
    """
    lam = check_values("lam", lam, -1e12, 1e12)
    delta, gamma = _ratios(delta, gamma)
    lam, delta, gamma = np.broadcast_arrays(lam, delta, gamma)
    b = delta + gamma + delta * gamma
    roots = _cubic_roots(delta * gamma, b, 1 + delta + gamma - lam, 1.0)
    im = roots.imag.min(axis=-1)  # Herglotz root: Im ω < 0 just above the real axis
    lo, hi = mp_product_edges(delta, gamma)
    inside = (lam > 0) & (lam >= lo) & (lam <= hi) & (im < 0)
    return np.where(inside, -im / (np.pi * np.where(lam > 0, lam, 1.0)), 0.0)


def mp_product_cdf(x: Any, *, delta: float, gamma: float, points: int = 4001) -> np.ndarray:
    """Distribution function ``F(x) = atom·1[x ≥ 0] + ∫_{λ₋}^{x} f`` of ``MP_δ ⊠ MP_γ``.

    The density is integrated by the trapezoid rule on a grid in ``θ`` with
    ``λ = λ₋ + (λ₊ − λ₋) sin⁶θ``, which absorbs the square-root soft edges and the integrable
    ``λ^{−1/2}`` or ``λ^{−2/3}`` divergence at a hard edge ``λ₋ = 0``.

    Parameters
    ----------
    x : array_like
        Points, finite.
    delta, gamma : float
        In ``[1e-9, 1e6]``.
    points : int
        Quadrature points, in ``[101, 10^6]``.

    Returns
    -------
    numpy.ndarray
        Same shape as ``x``; non-decreasing, from 0 to 1.
    """
    x = check_values("x", x, -1e12, 1e12)
    delta, gamma = (float(v) for v in _ratios(delta, gamma))
    points = check_int("points", points, lo=101, hi=10**6)
    lo, hi = (float(e) for e in mp_product_edges(delta, gamma))
    theta = np.linspace(0.0, np.pi / 2, points)
    grid = lo + (hi - lo) * np.sin(theta) ** 6
    jacobian = 6 * (hi - lo) * np.sin(theta) ** 5 * np.cos(theta)
    integrand = mp_product_density(grid, delta=delta, gamma=gamma) * jacobian
    steps = (integrand[1:] + integrand[:-1]) / 2 * np.diff(theta)
    cumulative = np.concatenate([[0.0], np.cumsum(steps)])
    atom = float(mp_product_atom(delta, gamma))
    cont = cumulative / cumulative[-1] * (1 - atom)  # renormalise the O(h²) quadrature error
    return np.where(x >= 0, atom, 0.0) + np.interp(x, grid, cont, left=0.0, right=1 - atom)


def mp_product_moments(k: int, *, delta: float, gamma: float) -> np.ndarray:
    """Moments ``m_1 … m_k`` of ``MP_δ ⊠ MP_γ`` from its S-transform (series reversion).

    ``ψ(z) = Σ_j m_j z^j`` solves ``ψ = z (1 + ψ)(1 + δψ)(1 + γψ)``;
    ``m_1 = 1``, ``m_2 = 1 + δ + γ``.

    Parameters
    ----------
    k : int
        Number of moments, in ``[1, 200]``.
    delta, gamma : float
        In ``[1e-9, 1e6]``.

    Returns
    -------
    numpy.ndarray, shape (k,)
    """
    k = check_int("k", k, lo=1, hi=200)
    delta, gamma = (float(v) for v in _ratios(delta, gamma))
    poly = np.polynomial.polynomial
    psi = np.zeros(k + 1)
    for _ in range(k + 1):
        prod = poly.polymul(
            poly.polymul([1.0, *psi[1:]], [1.0, *(delta * psi[1:])]), [1.0, *(gamma * psi[1:])]
        )
        psi = np.concatenate([[0.0], prod[:k]])
    return psi[1:]


def marchenko_pastur_density(lam: Any, *, gamma: Any) -> np.ndarray:
    """Density of the continuous part of ``MP_γ`` (what i.i.d. Gaussian pooled vectors give).

    .. math:: f(\\lambda) = \\frac{\\sqrt{(\\lambda_+ - \\lambda)(\\lambda - \\lambda_-)}}
        {2\\pi\\gamma\\lambda}, \\qquad \\lambda_\\pm = (1 \\pm \\sqrt\\gamma)^2.

    Parameters
    ----------
    lam : array_like
        Points, finite with ``|λ| <= 1e12``.
    gamma : array_like
        In ``[1e-9, 1e6]``.

    Returns
    -------
    numpy.ndarray
        Integrates to ``min(1, 1/γ)``.
    """
    lam = check_values("lam", lam, -1e12, 1e12)
    gamma = check_values("gamma", gamma, *RATIO_RANGE)
    lo, hi = (1 - np.sqrt(gamma)) ** 2, (1 + np.sqrt(gamma)) ** 2
    inside = (lam > lo) & (lam < hi)
    safe = np.where(inside, lam, 1.0)
    return np.where(
        inside, np.sqrt(np.abs((hi - safe) * (safe - lo))) / (2 * np.pi * gamma * safe), 0.0
    )
