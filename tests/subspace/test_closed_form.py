"""Closed forms against the exact Monte-Carlo φ, their domain, and their stability."""

import math

import jax
import numpy as np
import pytest

from attnlab import ParameterError
from attnlab.subspace import (
    SubspaceModel,
    beta_limit,
    closed_form_bound,
    closed_form_function,
    closed_form_valid,
    escape_time,
    phi_closed_form,
    phi_monte_carlo,
    phi_prime_closed_form,
    phi_second_at_zero,
    phi_second_at_zero_closed_form,
    phi_small_beta,
)

P = SubspaceModel(d=200, K=100, M=1900, theta=0.25)


@pytest.mark.parametrize("sign", ["token", "gaussian"])
def test_closed_form_matches_monte_carlo(sign):
    """|φ_MC − φ_CF| ≤ 4 SE + the O(1/N_eff) bound 2e^{β²}(1+β²+θ_d²)·ratio/N at N = 2000, d = 200
    (the leading d/N term, ≈ 0.27, is large); for φ′ the bound times (1 + 2βθ_d). Gaussian signs:
    only where the closed form applies, m < 0.43 here (2βθ_d|m| < √(2 ln K))."""
    model = P.replace(sign=sign)
    m = np.array([0.0, 0.3, 0.6, 0.9, 1.0]) if sign == "token" else np.array([0.0, 0.2, 0.4])
    est = phi_monte_carlo(model, m, key=jax.random.key(0), n_samples=1024)
    bound, dbound = closed_form_bound(model, m)
    # the bound as written in the derivation, recomputed here from its definition
    td, rho = model.theta_d, model.rho
    mgf = np.cosh if sign == "token" else (lambda v: np.exp(v * v / 2))
    ratio = (rho * mgf(2 * td * m) + 1 - rho) / (rho * mgf(td * m) + 1 - rho) ** 2
    np.testing.assert_allclose(bound, 2 * math.e * (2 + td**2) * ratio / model.N, rtol=1e-10)
    cf, dcf = phi_closed_form(model, m), phi_prime_closed_form(model, m)
    assert np.all(np.abs(est.phi - cf) <= 4 * est.phi_se + bound), (est.phi - cf, est.phi_se)
    assert np.all(np.abs(est.dphi - dcf) <= 4 * est.dphi_se + dbound), est.dphi - dcf


def test_gaussian_closed_form_fails_beyond_lln_threshold():
    """Beyond 2βθ_d m > √(2 ln K) the Gaussian-sign closed form overshoots the exact φ by orders
    of magnitude (the softmax condenses on the largest ε_i); the public functions refuse it."""
    from attnlab.subspace._closed_form import _cf_program

    model = P.replace(sign="gaussian")
    assert list(closed_form_valid(model, [0.4, 0.9])) == [True, False]
    est = phi_monte_carlo(model, [0.9], key=jax.random.key(0), n_samples=256)
    with jax.enable_x64(True):
        raw = float(
            _cf_program("gaussian", 0)(np.array([0.9]), 200.0, 2000.0, 0.05, model.theta_d, 1.0)[0]
        )
    assert raw > 100 * est.phi[0]
    with pytest.raises(ParameterError, match="^m = 0.9 is outside"):
        phi_closed_form(model, 0.9)
    assert np.isnan(phi_closed_form(model, [0.2, 0.9], outside="nan")[1])


def test_closed_form_leading_correction_at_equator():
    """At m = 0 the exact leading correction is φ − φ_CF = e^{β²}(ρθ_d² − β²)/N + O(N⁻²)
    (delta method on y1 = Σ e^{βg}g / Σ e^{βg}: bias −βe^{β²}/N, variance (1+β²)e^{β²}/N;
    θ_d²E(Σ_{i<K} a_i ε_i)² = ρθ_d² e^{β²}/N; (d−1) vs d Σa²: −e^{β²}/N). At N = 300 the
    correction is ≈ −0.0064, resolved with 4 SE ≈ 0.0012; the O(N⁻²) remainder is ~1e-4."""
    model = SubspaceModel(d=10, K=30, M=270, theta=0.3)
    est = phi_monte_carlo(model, [0.0], key=jax.random.key(2), n_samples=40_000, chunk=2000)
    corr = math.e * (model.rho * model.theta_d**2 - 1.0) / model.N
    diff = est.phi[0] - phi_closed_form(model, 0.0)[0]
    np.testing.assert_allclose(diff, corr, atol=4 * est.phi_se[0] + 5 / model.N**2)
    assert abs(diff) > 4 * est.phi_se[0]  # the correction is really resolved


@pytest.mark.parametrize("sign", ["token", "gaussian", "sequence"])
def test_phi2_explicit_formula_matches_autodiff(sign):
    model = SubspaceModel(sign=sign)
    np.testing.assert_allclose(
        phi_second_at_zero(model), phi_second_at_zero_closed_form(model), rtol=1e-10
    )


def test_phi2_matches_monte_carlo_finite_difference():
    """φ″(0) ≈ φ′(h)/h from the exact MC (CRN) agrees with the closed form to O(1/N) + 4 SE."""
    model = SubspaceModel(M=4000)
    h = 0.05
    est = phi_monte_carlo(model, [h], key=jax.random.key(1), n_samples=2048)
    phi2 = phi_second_at_zero(model)
    # O(h²) Taylor term φ''''(0)h²/6 is < 1% here; O(1/N) relative correction
    np.testing.assert_allclose(
        est.dphi[0] / h, phi2, atol=4 * est.dphi_se[0] / h + 0.01 * phi2 + 5 / 4100
    )


def test_small_beta_limit_matches_closed_form():
    """At β = 0.05 the O(β⁴) remainder of the small-β limit is ≪ its β² terms."""
    model = SubspaceModel(beta=0.05)
    m = np.linspace(0, 1, 5)
    exact, small = phi_closed_form(model, m), phi_small_beta(model, m)
    np.testing.assert_allclose(small - small[0], exact - exact[0], rtol=0.02, atol=1e-9)


@pytest.mark.parametrize("over", [{"theta": 20.0}, {"theta": 200.0}, {"M": 0}, {"sign": "fixed"}])
def test_closed_form_is_finite_at_strong_signal(over):
    """cosh(βθ_d m) overflows for θ_d ≳ 350; the log-space evaluation does not."""
    model = SubspaceModel(**over)
    m = np.linspace(-1 if over.get("sign") == "fixed" else 0, 1, 11)
    for order in (0, 1, 2):
        assert np.all(np.isfinite(closed_form_function(model, order=order)(m)))


@pytest.mark.parametrize("beta", [30.0, 1e6, beta_limit(SubspaceModel())])
def test_closed_form_refuses_beta_outside_its_domain(beta):
    """beta = 30 made e^{β²} overflow to NaN theory; phi_closed_form(beta=1e6) returned NaN."""
    model = SubspaceModel(beta=beta)
    assert not closed_form_valid(model, 0.5)[0]
    for fn in (phi_closed_form, phi_prime_closed_form, closed_form_bound):
        with pytest.raises(ParameterError, match="^beta = .* outside the large-N closed form"):
            fn(model, 0.5)
    with pytest.raises(ParameterError, match="^beta"):
        escape_time(model)


def test_escape_time():
    model = SubspaceModel()
    np.testing.assert_allclose(escape_time(model), math.log(100) / (2 * phi_second_at_zero(model)))
    with pytest.raises(ParameterError, match="fixed"):
        escape_time(model.replace(sign="fixed"))
