"""Closed-form excess risk of erf attention (spec slr.md §A.2) against independent routes."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, special

from attnlab._jax import jax, jnp
from attnlab._validate import ParameterError
from attnlab.erf_slr import (
    best_linear_excess_risk,
    excess_risk,
    excess_risk_on_manifold,
    excess_risk_reference,
    initial_directions,
    monte_carlo_excess_risk,
    oracle_excess_risk,
    overlaps,
    teacher_directions,
    zeta,
    zeta_at_zero,
)

GAMMA = math.sqrt(0.5)


def test_zeta_quadrature_and_integral_agree():
    # both routes are deterministic quadratures; for s <= 2 both are accurate to ~1e-15
    t = np.linspace(-25, 25, 41)[:, None]
    s = np.array([0.0, 0.05, 0.3, 0.7, 1.4, 2.0])[None, :]
    np.testing.assert_allclose(zeta(t, s, method="quadrature"), zeta(t, s), atol=1e-12)
    np.testing.assert_allclose(zeta(0.0, s), zeta_at_zero(s), atol=1e-14)


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
    d=st.floats(2, 2000),
    L=st.integers(1, 30),
    gamma=st.floats(0, 1.3),
    lam=st.floats(0.01, 1.5),
)
def test_closed_form_equals_conditional_quadrature(data, d, L, gamma, lam):
    # the reference integrates the conditional Gaussian moments without Stein reductions; its
    # Gauss-Hermite rule is exact to ~1e-12 for lam*gamma <= 2, so agreement to 1e-9 (relative)
    ov = _unit_pair(data)
    a = float(excess_risk(*ov, d=d, L=L, gamma=gamma, lam=lam))
    b = float(excess_risk_reference(*ov, d=d, L=L, gamma=gamma, lam=lam))
    np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


@settings(max_examples=20, deadline=None)
@given(kappa=st.floats(-1, 1), nu=st.floats(-1, 1), lam=st.floats(0.01, 3.0), d=st.floats(2, 1e5))
def test_on_manifold_form_and_symmetry(kappa, nu, lam, d):
    general = excess_risk(kappa, nu, 0.0, 0.0, 0.0, d=d, L=10, gamma=GAMMA, lam=lam)
    manifold = excess_risk_on_manifold(kappa, nu, d=d, L=10, gamma=GAMMA, lam=lam)
    np.testing.assert_allclose(float(general), float(manifold), rtol=1e-12, atol=1e-13)
    flipped = excess_risk(-kappa, -nu, 0.0, 0.0, 0.0, d=d, L=10, gamma=GAMMA, lam=lam)
    np.testing.assert_allclose(float(flipped), float(general), rtol=1e-12, atol=1e-13)


def _points(d):
    """(label, k, v, k*, v*) at on- and off-manifold points built from real vectors."""
    key = jax.random.key(11)
    ks, vs = teacher_directions(key, d=d)
    km, vm = initial_directions(jax.random.key(12), k_star=ks, v_star=vs, init="manifold")
    g = jax.random.normal(jax.random.key(13), (4, d))
    unit = lambda x: x / jnp.linalg.norm(x)  # noqa: E731
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
        ],
        ks,
        vs,
    )


@pytest.mark.parametrize("lam", [0.25, 1.0])
def test_closed_form_against_monte_carlo(lam):
    # Monte-Carlo of the data law itself (sample_slr + erf_attention); 4 standard errors of the
    # mean of (T - <x_J, v*>)^2 over n samples: a false failure has probability ~6e-5 per point
    d, n = 24, 30_000
    points, ks, vs = _points(d)
    for i, (label, k, v) in enumerate(points):
        theory = float(excess_risk(*overlaps(k, v, ks, vs), d=d, L=10, gamma=GAMMA, lam=lam))
        mc, se = monte_carlo_excess_risk(
            jax.random.key(100 + i), k, v, k_star=ks, v_star=vs, L=10, gamma=GAMMA, lam=lam, n=n
        )
        assert abs(mc - theory) <= 4 * se, (label, theory, mc, se)


def test_gradient_matches_finite_differences():
    ov = (0.5, 0.4, 0.2, -0.3, 0.25)
    f = lambda *o: excess_risk(*o, d=400, L=10, gamma=GAMMA, lam=0.3)  # noqa: E731
    grad = jax.grad(f, argnums=(0, 1, 2, 3, 4))(*ov)
    h = 1e-6
    for i in range(5):
        up = list(ov)
        dn = list(ov)
        up[i] += h
        dn[i] -= h
        fd = (float(f(*up)) - float(f(*dn))) / (2 * h)
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
    np.testing.assert_allclose(best_linear_excess_risk(L=L, gamma=GAMMA), excess, rtol=1e-12)


def test_oracle_vanishes_along_scaling():
    # d -> inf with lam = d^-1/4: lam sqrt(d) -> inf and lam sqrt(L) -> 0
    risks = [oracle_excess_risk(d=d, L=10, gamma=GAMMA, lam=d**-0.25) for d in (1e2, 1e4, 1e6, 1e8)]
    assert np.all(np.diff(risks) < 0)
    assert risks[-1] < 0.05 * best_linear_excess_risk(L=10, gamma=GAMMA)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"lam": 0.0}, "lam"),
        ({"lam": -1.0}, "lam"),
        ({"L": 0}, "L"),
        ({"L": 2.5}, "L"),
        ({"d": 1}, "d"),
        ({"gamma": -0.1}, "gamma"),
    ],
)
def test_invalid_parameters_one_line(kwargs, name):
    params = {"d": 400, "L": 10, "gamma": GAMMA, "lam": 0.1, **kwargs}
    with pytest.raises(ParameterError) as err:
        excess_risk(1.0, 1.0, 0.0, 0.0, 0.0, **params)
    msg = str(err.value)
    assert msg.startswith(name) and "\n" not in msg


def test_unrealisable_overlaps_rejected():
    with pytest.raises(ParameterError, match="kappa"):
        excess_risk(1.2, 0.0, 0.0, 0.0, 0.0, d=400, L=10, gamma=GAMMA, lam=0.1)
    # kappa = eta = 0.8 is impossible for a unit k with k* orthogonal to v*
    with pytest.raises(ParameterError, match="not realisable"):
        excess_risk(0.8, 0.0, 0.0, 0.8, 0.0, d=400, L=10, gamma=GAMMA, lam=0.1)
    with pytest.raises(ParameterError, match="method"):
        zeta(0.0, 1.0, method="simpson")
