"""Closed-form excess risk of erf attention against independent routes, and its input checks."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, special

from attnlab._jax import jax
from attnlab._validate import ParameterError
from attnlab.erf_slr import (
    ErfSLRModel,
    ManifoldInit,
    best_linear_excess_risk,
    draw_problem,
    excess_risk,
    excess_risk_gradient,
    excess_risk_on_manifold,
    excess_risk_reference,
    monte_carlo_excess_risk,
    oracle_excess_risk,
    overlaps,
    zeta,
    zeta_at_zero,
)

GAMMA = math.sqrt(0.5)
REF = ErfSLRModel()  # d = 400, L = 10, γ = √½


def test_zeta_quadrature_and_integral_agree():
    # both routes are deterministic quadratures; for s <= 2 both are accurate to ~1e-15
    t = np.linspace(-25, 25, 41)[:, None]
    s = np.array([0.0, 0.05, 0.3, 0.7, 1.4, 2.0])[None, :]
    np.testing.assert_allclose(zeta(t, s, method="quadrature"), zeta(t, s), atol=1e-12)
    np.testing.assert_allclose(zeta(0.0, s), zeta_at_zero(s), atol=1e-14)


def test_zeta_short_rule_matches_a_long_one():
    """The ∂ζ/∂t integral with the module's Gauss–Legendre rule equals the same integral with a
    256-point rule to rounding (1e-14 absolute, ζ ≤ 1) over |t| ≤ 40 and s from 0 to 1e5."""
    from attnlab.erf_slr import _risk

    t = np.linspace(-40.0, 40.0, 801)[:, None]
    s = np.concatenate([np.linspace(0.0, 3.0, 31), [10.0, 1e2, 1e3, 1e5]])[None, :]
    x, w = np.polynomial.legendre.leggauss(256)
    long_rule = {"_GL_X": 0.5 * (x + 1.0), "_GL_W": 0.5 * w}
    short = zeta(t, s)
    with pytest.MonkeyPatch.context() as mp:
        for name, value in long_rule.items():
            mp.setattr(_risk, name, value)
        long = zeta(t, s)
    assert _risk.GL_POINTS < 256
    np.testing.assert_allclose(short, long, rtol=0, atol=1e-14)


@pytest.mark.parametrize(("t", "s"), [(0.0, 0.1), (1.3, 0.9), (4.0, 3.0), (0.5, 6.0)])
def test_zeta_integral_matches_adaptive_quadrature(t, s):
    # scipy's adaptive quadrature is an independent route (error estimate < 1e-12)
    def integrand(z):
        return special.erf(t + s * z) ** 2 * np.exp(-z * z / 2) / np.sqrt(2 * np.pi)

    exact, _ = integrate.quad(integrand, -40, 40, points=[-t / s], limit=400, epsabs=1e-14)
    np.testing.assert_allclose(float(zeta(t, s)), exact, atol=1e-11)


def _unit_pair(data):
    """Overlaps of real unit vectors k, v in R^4 with k* = e1, v* = e2."""
    coords = st.floats(-1, 1, allow_nan=False)
    k = np.array(data.draw(st.lists(coords, min_size=4, max_size=4)))
    v = np.array(data.draw(st.lists(coords, min_size=4, max_size=4)))
    if min(np.linalg.norm(k), np.linalg.norm(v)) < 1e-3:
        k, v = np.eye(4)[2], np.eye(4)[3]
    k, v = k / np.linalg.norm(k), v / np.linalg.norm(v)
    return k[0], v[1], v[0], k[1], k @ v  # kappa, nu, theta, eta, rho


@settings(max_examples=40, deadline=None)
@given(
    data=st.data(),
    d=st.integers(2, 2000),
    L=st.integers(1, 30),
    gamma=st.floats(0, 1.3),
    lam=st.floats(0.01, 1.5),
)
def test_closed_form_equals_conditional_quadrature(data, d, L, gamma, lam):
    # the reference integrates the conditional Gaussian moments without Stein reductions; its
    # Gauss-Hermite rule is exact to ~1e-12 for lam*gamma <= 2, so agreement to 1e-9 (relative)
    model = ErfSLRModel(d=d, L=L, gamma=gamma)
    ov = _unit_pair(data)
    a = float(excess_risk(model, ov, lam=lam))
    b = float(excess_risk_reference(model, ov, lam=lam))
    np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


@settings(max_examples=20, deadline=None)
@given(
    kappa=st.floats(-1, 1), nu=st.floats(-1, 1), lam=st.floats(0.01, 3.0), d=st.integers(2, 10**5)
)
def test_on_manifold_form_and_symmetry(kappa, nu, lam, d):
    model = ErfSLRModel(d=d)
    general = excess_risk(model, (kappa, nu, 0.0, 0.0, 0.0), lam=lam)
    manifold = excess_risk_on_manifold(model, kappa, nu, lam=lam)
    np.testing.assert_allclose(float(general), float(manifold), rtol=1e-12, atol=1e-13)
    flipped = excess_risk(model, (-kappa, -nu, 0.0, 0.0, 0.0), lam=lam)
    np.testing.assert_allclose(float(flipped), float(general), rtol=1e-12, atol=1e-13)


def _points(model):
    """(label, k, v) at on- and off-manifold points built from real vectors, and the teacher."""
    d = model.d
    pr = draw_problem(model, jax.random.key(11), init=ManifoldInit())
    ks, vs, km, vm = pr
    g = np.asarray(jax.random.normal(jax.random.key(13), (4, d)))

    def unit(x):
        return x / np.linalg.norm(x)

    return (
        [
            ("oracle", ks, vs),
            ("manifold", unit(km + 0.4 * ks), unit(vm + 0.8 * vs)),
            (
                "off-manifold",
                unit(0.6 * ks + 0.5 * vs + 0.4 * g[0]),
                unit(0.5 * vs + 0.4 * ks + 0.3 * g[1]),
            ),
            ("swapped", unit(vs + 0.1 * g[2]), unit(0.6 * ks + 0.2 * vs + 0.5 * g[3])),
            ("correlated k,v", unit(g[0] + 0.3 * ks), unit(g[0] + 0.5 * g[1] + 0.3 * vs)),
        ],  # fmt: skip
        ks,
        vs,
    )


@pytest.mark.parametrize("lam", [0.25, 1.0])
def test_closed_form_against_monte_carlo(lam):
    # Monte-Carlo of the data law itself (sampler + predictor); 4 standard errors of the mean
    # of (T - <x_J, v*>)^2 over n samples: a false failure has probability ~6e-5 per point
    model = ErfSLRModel(d=24)
    points, ks, vs = _points(model)
    for i, (label, k, v) in enumerate(points):
        theory = float(excess_risk(model, overlaps(k, v, ks, vs), lam=lam))
        mc, se = monte_carlo_excess_risk(model, jax.random.key(100 + i), k, v, k_star=ks,
                                         v_star=vs, lam=lam, n=30_000)  # fmt: skip
        assert abs(mc - theory) <= 4 * se, (label, theory, mc, se)


def test_gradient_matches_finite_differences():
    ov = (0.5, 0.4, 0.2, -0.3, 0.25)
    grad = excess_risk_gradient(REF, ov, lam=0.3)
    h = 1e-6
    for i in range(5):
        up, dn = list(ov), list(ov)
        up[i] += h
        dn[i] -= h
        fd = (float(excess_risk(REF, up, lam=0.3)) - float(excess_risk(REF, dn, lam=0.3))) / (2 * h)
        # central differences: error O(h²·f''') + rounding O(1e-16/h) ~ 1e-10
        np.testing.assert_allclose(float(grad[i]), fd, rtol=1e-6, atol=1e-7)


def test_best_linear_matches_population_least_squares():
    # population normal equations for beta in R^{Ld}: E[x x^T] beta = E[x <x_J, v*>]
    d, L = 6, 4
    ks, vs = np.eye(d)[0], np.eye(d)[1]
    p = 1 / L
    block = np.eye(d) + p * ((GAMMA**2 - 1) * np.eye(d) + (d / 2) * np.outer(ks, ks))
    cov = np.kron(np.eye(L), block)
    cross = np.tile(p * GAMMA**2 * vs, L)
    excess = GAMMA**2 - cross @ np.linalg.solve(cov, cross)
    model = ErfSLRModel(d=d, L=L, gamma=GAMMA)
    np.testing.assert_allclose(best_linear_excess_risk(model), excess, rtol=1e-12)


def test_oracle_vanishes_along_scaling():
    # d -> inf with lam = d^-1/4: lam sqrt(d) -> inf and lam sqrt(L) -> 0
    ds = (10**2, 10**4, 10**6, 10**8)
    risks = [oracle_excess_risk(ErfSLRModel(d=d), lam=d**-0.25) for d in ds]
    assert np.all(np.diff(risks) < 0)
    assert risks[-1] < 0.05 * best_linear_excess_risk(REF)


@pytest.mark.parametrize("lam", [0.0, -1.0, math.nan, math.inf, 1e300, "x"])
def test_invalid_temperature_one_line(lam):
    with pytest.raises(ParameterError) as err:
        excess_risk(REF, (1.0, 1.0, 0.0, 0.0, 0.0), lam=lam)
    msg = str(err.value)
    assert msg.startswith("lam") and "\n" not in msg


def test_unrealisable_overlaps_rejected():
    with pytest.raises(ParameterError, match="kappa"):
        excess_risk(REF, (1.2, 0.0, 0.0, 0.0, 0.0), lam=0.1)
    # kappa = eta = 0.8 is impossible for a unit k with k* orthogonal to v*
    with pytest.raises(ParameterError, match="not realisable"):
        excess_risk(REF, (0.8, 0.0, 0.0, 0.8, 0.0), lam=0.1)
    with pytest.raises(ParameterError, match="method"):
        zeta(0.0, 1.0, method="simpson")
    with pytest.raises(ParameterError, match="overlaps"):
        excess_risk(REF, (0.1, 0.2), lam=0.1)


_NON_FINITE = [math.nan, math.inf, -math.inf]
_BAD_OVERLAP = st.sampled_from([*_NON_FINITE, 1e300, -1e300, 2.0, -1.5])
_BAD_LAM = st.sampled_from([*_NON_FINITE, 0.0, -1.0, 1e4, 1e300])
_BAD_S = st.sampled_from([*_NON_FINITE, -1.0, 1e300])


@settings(max_examples=80, deadline=None)
@given(which=st.integers(0, 7), overlap=_BAD_OVERLAP, lam=_BAD_LAM, s=_BAD_S,
       t=st.sampled_from(_NON_FINITE))  # fmt: skip
def test_theory_functions_refuse_non_finite_or_out_of_range(which, overlap, lam, s, t):
    # any NaN, infinity or out-of-range input is a one-line ParameterError, never a number
    calls = [
        lambda: excess_risk(REF, (overlap, 0.0, 0.0, 0.0, 0.0), lam=0.1),
        lambda: excess_risk(REF, (0.0, 0.0, 0.0, 0.0, overlap), lam=0.1),
        lambda: excess_risk_on_manifold(REF, 0.5, overlap, lam=0.1),
        lambda: excess_risk(REF, (0.5, 0.5, 0.0, 0.0, 0.0), lam=lam),
        lambda: excess_risk_gradient(REF, (0.5, 0.5, 0.0, 0.0, 0.0), lam=lam),
        lambda: zeta(t, 1.0),
        lambda: zeta(0.0, s),
        lambda: oracle_excess_risk(REF, lam=lam),
    ]
    with pytest.raises(ParameterError) as err:
        calls[which]()
    assert "\n" not in str(err.value)


def test_oracle_curve_equals_the_oracle_at_each_temperature():
    from attnlab.erf_slr._risk import oracle_excess_risk_curve

    model = ErfSLRModel(d=400)
    lams = np.array([0.05, 0.1, 0.9, 2.0])
    expected = [oracle_excess_risk(model, lam=lam) for lam in lams]
    np.testing.assert_allclose(oracle_excess_risk_curve(model, lams), expected, rtol=1e-14)
    with pytest.raises(ParameterError, match="lam"):
        oracle_excess_risk_curve(model, [0.1, -1.0])
