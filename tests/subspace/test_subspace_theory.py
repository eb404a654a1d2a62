"""Theory: closed forms vs exact Monte-Carlo, φ''(0), ODE, fixed points."""

import math

import numpy as np
import pytest

from attnlab._jax import jax
from attnlab.subspace import (
    closed_form_function,
    fixed_points,
    phi_closed_form,
    phi_monte_carlo,
    phi_prime_closed_form,
    phi_prime_zeros,
    phi_second_at_zero,
    phi_second_at_zero_closed_form,
    solve_ode,
    stationary_misalignment,
)


@pytest.mark.parametrize("sign", ["token", "gaussian"])
def test_closed_form_matches_monte_carlo(sign):
    """|φ_MC − φ_CF| ≤ 4 SE + O(1/N_eff) bound at N = 2000, d = 200 (the leading d/N term, ≈ 0.27,
    is large). Bound: 2e^{β²}(1+β²+θ_d²)·ratio/N, twice the ratio-estimator variance scale of the
    softmax averages: N_eff = 1/Σa² = N/(e^{β²} ratio) and the tilted spread of a token is at most
    1+β²+θ_d² (signal and noise tokens mixed). For φ′ the bound is multiplied by (1 + 2βθ_d), the
    log-derivative scale of the ratio. An earlier version used ρθ_d² instead of θ_d² and failed at
    K = 40, m ≥ 0.9: there the softmax is dominated by the K informative tokens, so the
    corrections are O(1/K), not O(1/N) — a real limit of the closed form, documented in _theory.
    See the m = 0 test for the exact leading correction."""
    P = dict(d=200, K=100, M=1900, theta=0.25, sign=sign)
    # Gaussian signs: the closed form needs the LLN for Σ e^{2xε_i} (lognormal weights), valid
    # only for 2βθ_d|m| < √(2 ln K) ≈ 3.03 here, i.e. m < 0.43 (see the next test and _theory)
    m = np.array([0.0, 0.3, 0.6, 0.9, 1.0]) if sign == "token" else np.array([0.0, 0.2, 0.4])
    est = phi_monte_carlo(m, key=jax.random.key(0), n_samples=1024, **P)
    N = 2000
    rho, td = 100 / N, 0.25 * math.sqrt(200)
    x = td * m
    mgf = np.cosh if sign == "token" else (lambda v: np.exp(v * v / 2))
    ratio = (rho * mgf(2 * x) + 1 - rho) / (rho * mgf(x) + 1 - rho) ** 2
    bound = 2 * math.e * (2 + td**2) * ratio / N
    cf = phi_closed_form(m, **P)
    assert np.all(np.abs(est.phi - cf) <= 4 * est.phi_se + bound), (est.phi - cf, est.phi_se)
    dcf = phi_prime_closed_form(m, **P)
    assert np.all(np.abs(est.dphi - dcf) <= 4 * est.dphi_se + bound * (1 + 2 * td)), (
        est.dphi - dcf,
        est.dphi_se,
    )


def test_gaussian_closed_form_fails_beyond_lln_threshold():
    """Beyond 2βθ_d m > √(2 ln K) the Gaussian-sign closed form overshoots the exact φ by orders
    of magnitude (the softmax condenses on the largest ε_i, e^{2x²} is never reached)."""
    P = dict(d=200, K=100, M=1900, theta=0.25, sign="gaussian")
    from attnlab.subspace import closed_form_valid

    assert list(closed_form_valid([0.4, 0.9], **P)) == [True, False]
    est = phi_monte_carlo([0.9], key=jax.random.key(0), n_samples=256, **P)
    assert phi_closed_form(0.9, **P)[0] > 100 * est.phi[0]


def test_closed_form_leading_correction_at_equator():
    """At m = 0 the exact leading correction is φ − φ_CF = e^{β²}(ρθ_d² − β²)/N + O(N⁻²)
    (delta method on y1 = Σ e^{βg}g / Σ e^{βg}: bias −βe^{β²}/N, variance (1+β²)e^{β²}/N;
    θ_d²E(Σ_{i<K} a_i ε_i)² = ρθ_d² e^{β²}/N; (d−1) vs d Σa²: −e^{β²}/N). At N = 300 the
    correction is ≈ −0.0064, resolved with 4 SE ≈ 0.0012; the O(N⁻²) remainder is ~1e-4."""
    P = dict(d=10, K=30, M=270, theta=0.3, beta=1.0)
    N, rho, td = 300, 0.1, 0.3 * math.sqrt(10)
    est = phi_monte_carlo([0.0], key=jax.random.key(2), n_samples=40_000, chunk=2000, **P)
    corr = math.e * (rho * td**2 - 1.0) / N
    diff = est.phi[0] - phi_closed_form(0.0, **P)[0]
    np.testing.assert_allclose(diff, corr, atol=4 * est.phi_se[0] + 5 / N**2)
    assert abs(diff) > 4 * est.phi_se[0]  # the correction is really resolved


@pytest.mark.parametrize("sign", ["token", "gaussian", "sequence"])
def test_phi2_explicit_formula_matches_autodiff(sign):
    P = dict(d=100, K=100, M=10_000, theta=0.25, sign=sign)
    np.testing.assert_allclose(
        phi_second_at_zero(**P), phi_second_at_zero_closed_form(**P), rtol=1e-10
    )


def test_phi2_matches_monte_carlo_finite_difference():
    """φ''(0) ≈ φ'(h)/h from the exact MC (CRN) agrees with the closed form to O(1/N) + 4 SE."""
    P = dict(d=100, K=100, M=4000, theta=0.25)
    h = 0.05
    est = phi_monte_carlo([h], key=jax.random.key(1), n_samples=2048, **P)
    phi2 = phi_second_at_zero(**P)
    # O(h²) Taylor term φ''''(0)h²/6 is < 1% here; O(1/N) relative correction ~ e(1+β²)/(2N)·...
    np.testing.assert_allclose(
        est.dphi[0] / h, phi2, atol=4 * est.dphi_se[0] / h + 0.01 * phi2 + 5 / 4100
    )


def test_ode_solution_is_oja_logistic():
    """With φ'(m) = 2κm, m(t)² = m0² e^{4κt} / (1 − m0² + m0² e^{4κt}) (Oja / small-β limit)."""
    kappa, m0 = 0.7, np.array([0.05, -0.2, 0.6])
    t = np.linspace(0, 5, 11)
    sol = solve_ode(m0, t, phi_prime=lambda m: 2 * kappa * m)
    e = np.exp(4 * kappa * t)
    exact = np.sign(m0)[:, None] * np.sqrt(
        m0[:, None] ** 2 * e / (1 - m0[:, None] ** 2 + m0[:, None] ** 2 * e)
    )
    np.testing.assert_allclose(sol, exact, rtol=1e-6, atol=1e-9)


def test_fixed_points_headline_has_no_spurious_zero():
    P = dict(d=100, K=100, M=10_000, theta=0.25)
    fps = fixed_points(closed_form_function(**P, order=1))
    kinds = {f.kind: f for f in fps}
    assert set(kinds) == {"equator", "pole"}
    assert not kinds["equator"].stable and kinds["pole"].stable
    np.testing.assert_allclose(kinds["equator"].slope, phi_second_at_zero(**P), rtol=1e-3)


def test_fixed_points_detect_spurious_zero():
    # φ'(m) = m (m − 0.5)(m + 0.5): zero at 0.5 with φ'' > 0 there -> unstable spurious point
    fps = fixed_points(lambda m: np.asarray(m) * (np.asarray(m) ** 2 - 0.25))
    spur = [f for f in fps if f.kind == "spurious"]
    assert len(spur) == 1
    np.testing.assert_allclose(spur[0].m, 0.5, atol=1e-3)
    assert not spur[0].stable
    assert [f.stable for f in fps if f.kind == "equator"] == [True]


def test_phi_prime_zeros_ignores_insignificant_noise():
    m = np.linspace(0, 1, 11)
    dphi = np.array([0, 1e-4, -1e-4, 2e-4, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7])
    assert len(phi_prime_zeros(m, dphi)) >= 2
    assert len(phi_prime_zeros(m, dphi, np.full(11, 1e-3))) == 0


def test_stationary_misalignment_formula():
    # a E_g / (2(2φ'(1) − p/(a(n+n0)))) / 1, with a = c/(n+n0): 0.01*3/(2*(2 − 0.1)) ...
    got = stationary_misalignment(0.01, noise=3.0, phi_prime_pole=1.0, c=10, n=990, n0=10)
    np.testing.assert_allclose(got, 0.5 * 0.01 * 3.0 / (2.0 - 0.1))
    assert math.isinf(stationary_misalignment(0.01, noise=3, phi_prime_pole=0.01, c=1, n=90, n0=10))
