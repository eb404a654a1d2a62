"""Random-matrix theory of attention pooling (spec ``pooling.md`` §3–§4), vectorised numpy.

All functions are plain numpy functions of ``(delta, gamma, ell, rho)`` that broadcast over
arrays (grids), with no per-point Python loops; eigenvalues are in units of ``kappa = ||w||^2``.

Bulk (§3). The eigenvalue law of ``C_hat / kappa`` is ``MP_delta ⊠ MP_gamma``, with S-transform
``S(z) = 1/((1 + delta z)(1 + gamma z))``. Writing ``omega = lambda g(lambda) - 1`` (``g`` the
Cauchy transform), ``omega = psi(1/lambda)`` solves ``lambda omega = (1+omega)(1+delta omega)
(1+gamma omega)``, i.e. the cubic
``delta gamma omega^3 + (delta + gamma + delta gamma) omega^2 + (1 + delta + gamma - lambda)
omega + 1 = 0``; the density is ``-Im omega(lambda + i0) / (pi lambda)`` on the Herglotz root
(``Im g < 0`` above the real axis). Edges are ``Lambda(omega) = (1+omega)(1+delta omega)
(1+gamma omega)/omega`` at the critical points ``Lambda'(omega) = 0``, i.e. the real roots of
``2 delta gamma omega^3 + (delta + gamma + delta gamma) omega^2 - 1 = 0``; the right edge comes
from the positive root, the left edge from the negative root in ``(-1/max(1, delta, gamma), 0)``
(where ``Lambda`` is the inverse of the moment generating function); the atom at 0 has mass
``max(0, 1 - 1/delta, 1 - 1/gamma)``.

Outliers (§4). Effective spike ``s = rho (ell + delta) - delta``. Population level (N = inf):
outlier iff ``s > sqrt(delta)`` at ``(s+1)(s+delta)/s``, overlap ``<v, mu_hat>^2 = (1 - delta/s^2)
ell/(ell+delta)``. Sample level: ``P(s) = s^3 - (delta+gamma+delta gamma) s - 2 delta gamma``,
outlier iff ``s > s*`` (largest root of ``P``), at ``(s+1)(s+delta)(s+gamma)/s^2``, overlaps
``<u, m_hat>^2 = P(s)/(s^2 (s+gamma))`` and ``<u, mu_hat>^2 = <u, m_hat>^2 ell/(ell+delta)``.

Where these come from (checked, see tests): the pooled noise has covariance ``kappa W`` with
``W = (1/V) sum_v eps_v eps_v^T`` (``eps_v`` = token minus its class mean), a Wishart matrix
*independent* of the class-mean direction ``m = mu + xi`` (``xi = (1/V) sum_v y_v z_v``, Gaussian,
``||xi||^2 -> delta``), so the population covariance is ``kappa (W + rho m m^T)``: an additive
rank-one spike of strength ``theta = rho (ell + delta)`` on ``MP_delta``, whose BBP point and
outlier ``theta + theta/(theta - delta)`` give exactly ``s = theta - delta`` above. The sample
level is a Baik–Silverstein spiked sample covariance on top of that population.

Units (checked against simulation, spec is right as written): ``ell = ||mu||^2`` with
``z_v ~ N(0, I_d)`` is O(1) while ``||z_v||^2 ~ d``; the spike competes with the per-direction
noise variance 1, so ``ell``, ``delta``, ``s`` and eigenvalues of ``C_hat / kappa`` are all O(1)
and no extra factor of ``d`` or ``L`` appears. Token repetitions inside a sequence do not change
the population covariance (independent uniform draws already include them).

Finite-``L`` caveat (found by us; the spec is silent): the law ``MP_delta ⊠ MP_gamma`` requires
the pooling vectors ``a_i`` (``x_i = E a_i``) to behave like dense Gaussian vectors. With fixed
``L`` the token/sequence incidence is a sparse bipartite graph; the first two moments of the
bulk are exact for every ``L`` (``1`` and ``1 + delta + gamma``), but higher moments carry
corrections proportional to the inverse participation ratio ``sum w^4 / kappa^2`` (``1/L`` for
mean pooling); for ``L = 1`` the second factor is a (classical) Poisson law instead of MP
(4th moment ``1 + 6c + 7c^2 + c^3`` instead of ``1 + 6c + 6c^2 + c^3``, ``c = gamma/delta``), and
the simulated histogram visibly departs from the density. Measured at d = 600, delta = gamma =
0.5: 4th moment 16.11 (L = 1), 15.93 (L = 4), 15.86 (L = 16) vs 15.75; experiments use L = 16.
"""

from __future__ import annotations

import numpy as np

from attnlab._validate import ParameterError, check_range

__all__ = [
    "alignment_thresholds",
    "effective_spike",
    "kappa",
    "mp_product_atom",
    "mp_product_density",
    "mp_product_edges",
    "mp_product_moments",
    "overlap_population",
    "overlap_population_m",
    "overlap_sample_m",
    "overlap_sample_mu",
    "outlier_population",
    "outlier_sample",
    "rho",
    "s_star",
    "sample_polynomial",
    "validate_correlation",
    "validate_weights",
]


# -- checks ---------------------------------------------------------------------------------------
def _positive(name: str, x) -> np.ndarray:
    a = np.asarray(x, dtype=float)
    if a.size == 0 or not np.all(np.isfinite(a)) or np.any(a <= 0):
        bad = a[~(np.isfinite(a) & (a > 0))] if a.size else a
        val = bad.flat[0] if bad.size else x
        raise ParameterError(f"{name} = {val!r} is out of range: must be in (0, inf)")
    return a


def _nonneg(name: str, x) -> np.ndarray:
    a = np.asarray(x, dtype=float)
    if not np.all(np.isfinite(a)) or np.any(a < 0):
        bad = a[~(np.isfinite(a) & (a >= 0))]
        raise ParameterError(f"{name} = {bad.flat[0]!r} is out of range: must be in [0, inf)")
    return a


def validate_weights(w) -> np.ndarray:
    """Return ``w`` as a finite 1-d float array with ``||w|| > 0`` (else one-line error)."""
    a = np.asarray(w, dtype=float)
    if a.ndim != 1 or a.size == 0:
        raise ParameterError(f"weights must be a non-empty 1-d array, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ParameterError("weights contain non-finite entries")
    if not np.any(a != 0):
        raise ParameterError("weights have zero norm: ||w|| must be > 0")
    return a


def validate_correlation(R, *, atol: float = 1e-8) -> np.ndarray:
    """Return ``R`` if it is a correlation matrix (square, symmetric, unit diagonal, PSD)."""
    a = np.asarray(R, dtype=float)
    if a.ndim != 2 or a.shape[0] != a.shape[1] or a.shape[0] == 0:
        raise ParameterError(f"R must be a square L x L matrix, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ParameterError("R contains non-finite entries")
    if not np.allclose(a, a.T, atol=atol):
        raise ParameterError("R is not a correlation matrix: not symmetric")
    diag = np.diag(a)
    if not np.allclose(diag, 1.0, atol=atol):
        i = int(np.argmax(np.abs(diag - 1)))
        raise ParameterError(
            f"R is not a correlation matrix: R[{i},{i}] = {diag[i]:g}, diagonal must be 1"
        )
    lam_min = float(np.linalg.eigvalsh((a + a.T) / 2)[0])
    if lam_min < -1e-8 * a.shape[0]:
        raise ParameterError(
            f"R is not a correlation matrix: smallest eigenvalue {lam_min:.3g} < 0 (not PSD)"
        )
    return (a + a.T) / 2


# -- weights functionals (§2) ---------------------------------------------------------------------
def kappa(w) -> float:
    """``kappa = ||w||^2`` (the bulk scale)."""
    w = validate_weights(w)
    return float(w @ w)


def rho(w, R) -> float:
    """``rho = alpha / kappa = w^T R w / ||w||^2`` (the only weight functional that matters)."""
    w = validate_weights(w)
    R = validate_correlation(R)
    if R.shape[0] != w.size:
        raise ParameterError(f"R is {R.shape[0]}x{R.shape[0]} but weights have length {w.size}")
    return float(w @ R @ w / (w @ w))


def effective_spike(ell, delta, rho):
    """``s = rho (ell + delta) - delta`` (§4)."""
    ell, delta, rho = _nonneg("ell", ell), _positive("delta", delta), _positive("rho", rho)
    return rho * (ell + delta) - delta


# -- bulk (§3) ------------------------------------------------------------------------------------
def _companion_roots(c3, c2, c1, c0) -> np.ndarray:
    comp = np.zeros((*c3.shape, 3, 3), dtype=complex)
    comp[..., 0, 0] = -c2 / c3
    comp[..., 0, 1] = -c1 / c3
    comp[..., 0, 2] = -c0 / c3
    comp[..., 1, 0] = 1.0
    comp[..., 2, 1] = 1.0
    return np.linalg.eigvals(comp)


def _cubic_roots(c3, c2, c1, c0) -> np.ndarray:
    """All roots of ``c3 x^3 + c2 x^2 + c1 x + c0`` (arrays broadcast), shape ``(..., 3)``.

    Vectorised closed form (Cardano in complex arithmetic, the larger of the two square-root
    branches to avoid cancellation) followed by three Newton steps on the original cubic. Where
    the cubic is nearly degenerate (``|c3|`` tiny relative to the other coefficients, e.g.
    ``delta gamma -> 0``) the roots come from batched companion-matrix eigenvalues instead.
    """
    c3, c2, c1, c0 = np.broadcast_arrays(*(np.asarray(c, dtype=complex) for c in (c3, c2, c1, c0)))
    B, C, D = c2 / c3, c1 / c3, c0 / c3
    p = C - B**2 / 3
    q = 2 * B**3 / 27 - B * C / 3 + D
    disc = np.sqrt(q**2 / 4 + p**3 / 27)
    w = np.where(np.abs(-q / 2 + disc) >= np.abs(-q / 2 - disc), -q / 2 + disc, -q / 2 - disc)
    u0 = w ** (1 / 3)
    unity = np.exp(2j * np.pi * np.arange(3) / 3)
    u = u0[..., None] * unity
    safe = np.abs(u) > 0
    t = np.where(safe, u - p[..., None] / (3 * np.where(safe, u, 1)), 0)
    roots = t - B[..., None] / 3
    scale = np.maximum.reduce([np.abs(c2), np.abs(c1), np.abs(c0)])
    degenerate = np.abs(c3) < 1e-6 * scale
    if np.any(degenerate):
        roots[degenerate] = _companion_roots(
            c3[degenerate], c2[degenerate], c1[degenerate], c0[degenerate]
        )
    for _ in range(3):  # Newton polishing on the original coefficients
        val = ((c3[..., None] * roots + c2[..., None]) * roots + c1[..., None]) * roots + c0[
            ..., None
        ]
        der = (3 * c3[..., None] * roots + 2 * c2[..., None]) * roots + c1[..., None]
        ok = np.abs(der) > 0
        roots = np.where(ok, roots - val / np.where(ok, der, 1), roots)
    return roots


def mp_product_atom(delta, gamma):
    """Mass of the atom at 0 of ``MP_delta ⊠ MP_gamma``: ``max(0, 1 - 1/delta, 1 - 1/gamma)``."""
    delta, gamma = _positive("delta", delta), _positive("gamma", gamma)
    return np.maximum(0.0, np.maximum(1 - 1 / delta, 1 - 1 / gamma))


def _edge_lambda(omega, delta, gamma):
    return (1 + omega) * (1 + delta * omega) * (1 + gamma * omega) / omega


def mp_product_edges(delta, gamma):
    """Support edges ``(lambda_minus, lambda_plus)`` of the continuous part of ``MP_delta ⊠ MP_gamma``.

    ``lambda_pm = Lambda(omega_pm)`` with ``omega_pm`` the real roots of
    ``2 delta gamma w^3 + (delta + gamma + delta gamma) w^2 - 1 = 0``: ``omega_+ > 0`` and
    ``omega_-`` the negative root closest to 0 (``lambda_- = 0`` when ``delta = 1`` or
    ``gamma = 1``, the hard edge).
    """
    delta, gamma = _positive("delta", delta), _positive("gamma", gamma)
    delta, gamma = np.broadcast_arrays(delta, gamma)
    b = delta + gamma + delta * gamma
    roots = _cubic_roots(2 * delta * gamma, b, 0.0, -1.0)
    re = roots.real
    real = np.abs(roots.imag) <= 1e-9 * (1 + np.abs(roots.real))
    w_plus = np.max(np.where(real & (re > 0), re, -np.inf), axis=-1)
    w_minus = np.max(np.where(real & (re < 0), re, -np.inf), axis=-1)
    lam_plus = _edge_lambda(w_plus, delta, gamma)
    lam_minus = np.maximum(_edge_lambda(w_minus, delta, gamma), 0.0)
    return lam_minus, lam_plus


def mp_product_density(lam, *, delta: float, gamma: float) -> np.ndarray:
    """Density ``f(lambda)`` of the continuous part of ``MP_delta ⊠ MP_gamma`` (§3).

    ``f(lambda) = -Im omega(lambda + i0) / (pi lambda)`` with ``omega`` the root of
    ``delta gamma w^3 + (delta+gamma+delta gamma) w^2 + (1+delta+gamma-lambda) w + 1 = 0`` on the
    Herglotz branch (``Im g = Im omega / lambda < 0``); for real ``lambda`` that is the root with
    the most negative imaginary part; where all three roots are real the density is 0.
    Vectorised: ``lambda``, ``delta`` and ``gamma`` broadcast; integrates to ``1 - atom``.
    """
    delta, gamma = _positive("delta", delta), _positive("gamma", gamma)
    lam = np.asarray(lam, dtype=float)
    lam, delta, gamma = np.broadcast_arrays(lam, delta, gamma)
    b = delta + gamma + delta * gamma
    roots = _cubic_roots(delta * gamma, b, 1 + delta + gamma - lam, 1.0)
    im = roots.imag.min(axis=-1)  # Herglotz root: Im omega < 0 just above the real axis
    lo, hi = mp_product_edges(delta, gamma)
    inside = (lam > 0) & (lam >= lo) & (lam <= hi)
    with np.errstate(divide="ignore", invalid="ignore"):
        f = np.where(inside & (im < 0), -im / (np.pi * np.where(lam > 0, lam, 1.0)), 0.0)
    return f


def mp_product_moments(k: int, *, delta: float, gamma: float) -> np.ndarray:
    """Moments ``m_1..m_k`` of ``MP_delta ⊠ MP_gamma`` from its S-transform (series reversion).

    ``psi(z) = sum_j m_j z^j`` solves ``psi = z (1 + psi)(1 + delta psi)(1 + gamma psi)``
    (the inverse of ``chi(w) = S(w) w/(1+w)``); ``m_1 = 1``, ``m_2 = 1 + delta + gamma``.
    """
    delta = check_range("delta", delta, lo=0, lo_open=True)
    gamma = check_range("gamma", gamma, lo=0, lo_open=True)
    psi = np.zeros(k + 1)
    for _ in range(k + 1):
        p = np.polynomial.polynomial
        prod = p.polymul(
            p.polymul([1.0, *psi[1:]], [1.0, *(delta * psi[1:])]), [1.0, *(gamma * psi[1:])]
        )
        new = np.zeros(k + 1)
        new[1:] = prod[:k]
        psi = new
    return psi[1:]


# -- thresholds and outliers (§4) -----------------------------------------------------------------
def sample_polynomial(s, delta, gamma):
    """``P(s) = s^3 - (delta + gamma + delta gamma) s - 2 delta gamma``."""
    s = np.asarray(s, dtype=float)
    delta, gamma = _positive("delta", delta), _positive("gamma", gamma)
    return s**3 - (delta + gamma + delta * gamma) * s - 2 * delta * gamma


def s_star(delta, gamma):
    """Largest root ``s*`` of ``P(s)`` (trigonometric formula for the depressed cubic).

    ``P(s) = s^3 - p s - q`` with ``p = delta + gamma + delta gamma``, ``q = 2 delta gamma``;
    ``4 p^3 >= 27 q^2`` (AM-GM) so all roots are real and
    ``s* = 2 sqrt(p/3) cos(arccos((3q/2p) sqrt(3/p)) / 3)``; ``s* > sqrt(delta)``.
    """
    delta, gamma = _positive("delta", delta), _positive("gamma", gamma)
    p = delta + gamma + delta * gamma
    q = 2 * delta * gamma
    arg = np.clip(1.5 * q / p * np.sqrt(3 / p), -1.0, 1.0)
    return 2 * np.sqrt(p / 3) * np.cos(np.arccos(arg) / 3)


def alignment_thresholds(delta, gamma, rho):
    """Thresholds in ``ell``: ``(ell_1, ell_2) = ((delta + sqrt(delta))/rho - delta,
    (delta + s*)/rho - delta)`` (may be negative: then every ``ell >= 0`` is above)."""
    delta, gamma, rho = _positive("delta", delta), _positive("gamma", gamma), _positive("rho", rho)
    return (delta + np.sqrt(delta)) / rho - delta, (delta + s_star(delta, gamma)) / rho - delta


def outlier_population(ell, delta, rho):
    """Population outlier ``(s+1)(s+delta)/s`` for ``s > sqrt(delta)``, else the MP_delta edge
    ``(1 + sqrt(delta))^2`` (units of kappa)."""
    s = effective_spike(ell, delta, rho)
    delta = np.asarray(delta, dtype=float)
    edge = (1 + np.sqrt(delta)) ** 2
    above = s > np.sqrt(delta)
    ss = np.where(above, s, 1.0)
    return np.where(above, (ss + 1) * (ss + delta) / ss, edge)


def overlap_population(ell, delta, rho):
    """``<v_pop, mu_hat>^2 = (1 - delta/s^2) ell/(ell + delta)`` above ``s = sqrt(delta)``, else 0."""
    s = effective_spike(ell, delta, rho)
    ell, delta = np.asarray(ell, dtype=float), np.asarray(delta, dtype=float)
    above = s > np.sqrt(delta)
    ss = np.where(above, s, 1.0)
    return np.where(above, (1 - delta / ss**2) * ell / (ell + delta), 0.0)


def overlap_population_m(ell, delta, rho):
    """``<v_pop, m_hat>^2 = 1 - delta/s^2`` above ``s = sqrt(delta)``, else 0 (additive rank-one
    spike of strength ``theta = s + delta`` on ``MP_delta``)."""
    s = effective_spike(ell, delta, rho)
    delta = np.asarray(delta, dtype=float)
    above = s > np.sqrt(delta)
    ss = np.where(above, s, 1.0)
    return np.where(above, 1 - delta / ss**2, 0.0)


def outlier_sample(ell, delta, gamma, rho):
    """Sample outlier of ``C_hat/kappa``: ``(s+1)(s+delta)(s+gamma)/s^2`` for ``s > s*``, else the
    bulk edge ``lambda_+``."""
    s = effective_spike(ell, delta, rho)
    delta, gamma = _positive("delta", delta), _positive("gamma", gamma)
    above = s > s_star(delta, gamma)
    ss = np.where(above, s, 1.0)
    return np.where(
        above, (ss + 1) * (ss + delta) * (ss + gamma) / ss**2, mp_product_edges(delta, gamma)[1]
    )


def overlap_sample_m(ell, delta, gamma, rho):
    """``<u_hat, m_hat>^2 = P(s)/(s^2 (s + gamma))`` above ``s*``, else 0."""
    s = effective_spike(ell, delta, rho)
    delta, gamma = _positive("delta", delta), _positive("gamma", gamma)
    above = s > s_star(delta, gamma)
    ss = np.where(above, s, 1.0)
    return np.where(above, sample_polynomial(ss, delta, gamma) / (ss**2 * (ss + gamma)), 0.0)


def overlap_sample_mu(ell, delta, gamma, rho):
    """``<u_hat, mu_hat>^2 = <u_hat, m_hat>^2 ell/(ell + delta)``."""
    ell = _nonneg("ell", ell)
    return overlap_sample_m(ell, delta, gamma, rho) * ell / (ell + np.asarray(delta, dtype=float))
