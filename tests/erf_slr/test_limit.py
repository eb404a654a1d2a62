"""The high-dimensional limit of online SGD: the exact on-ℳ terms, the slow ODE, its checks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from attnlab._jax import jax, jnp
from attnlab._validate import ParameterError
from attnlab.erf_slr import (
    DecayingTemperature,
    ErfSLRModel,
    LimitNotSolved,
    manifold_stability,
    manifold_terms,
    sgd_limit,
    sgd_limit_general,
)
from attnlab.erf_slr._limit_general import _sample_terms
from attnlab.precision import uses_jax

MODEL = ErfSLRModel(d=80)
REFERENCE = dict(temperature=DecayingTemperature(lam0=2.0, decay=0.008), step_scale=0.08, batch=5)


@uses_jax
def _monte_carlo(nu, lam, n=400_000):
    """Per-sample (4/B)(T − y)² Σσ²φ_v² and (2/B)(T − y)²|φ_J|² on ℳ at the fast point."""
    terms = manifold_terms(MODEL, nu, lam, 5)
    fast = jnp.array([terms["kappa_tilde"], 0.0])
    slow = jnp.array([nu, 0.0, 0.0])
    normals = jax.random.normal(jax.random.key(7), (n, 2 * MODEL.L + 3))
    cov, hidden = jax.vmap(
        lambda x: _sample_terms(x, fast, slow, MODEL.gamma, MODEL.eps, lam, MODEL.L)
    )(normals)
    return terms, np.asarray(cov[:, 1, 1]) * 4 / 5, np.asarray(hidden) * 2 / 5


@pytest.mark.parametrize(("nu", "lam"), [(0.3, 1.5), (0.8, 0.5)])
def test_manifold_quadratures_match_monte_carlo(nu, lam):
    # Q_vv and tr Σ by 1-D Gauss–Hermite against per-sample Monte-Carlo: 4 standard errors
    terms, q_samples, floor_samples = _monte_carlo(nu, lam)
    for exact, samples in ((terms["q_vv"], q_samples), (terms["floor_trace"], floor_samples)):
        se = samples.std() / math.sqrt(samples.size)
        np.testing.assert_allclose(samples.mean(), exact, atol=4 * se)
    # the fast point is the critical point of the risk at fixed ν: erf(A/√E) = ν
    E = 1 + 4 * lam**2 * MODEL.gamma**2
    np.testing.assert_allclose(math.erf(terms["A"] / math.sqrt(E)), nu, rtol=1e-12)


def test_slow_ode_escapes_then_balances_the_renormalisation():
    times = np.arange(0, 501, 50.0)
    sol = sgd_limit(MODEL, times=times, nu0=0.05, **REFERENCE)
    assert np.all(np.diff(sol.nu) > 0) and sol.nu[-1] < 1
    # late: quasi-static balance, 1 − ν² ≈ c ν Q_vv / (4γ² erf(A)) (the drift is small there)
    late = manifold_terms(MODEL, float(sol.nu[-1]), float(REFERENCE["temperature"].at(500)), 5)
    balance = 0.08 * sol.nu[-1] * late["q_vv"] / (4 * MODEL.gamma**2 * math.erf(late["A"]))
    np.testing.assert_allclose(1 - sol.nu[-1] ** 2, balance, rtol=0.05)
    # the escape does not depend on d except through ν₀: later the trajectories coincide
    other = sgd_limit(MODEL, times=times, nu0=0.01, **REFERENCE)
    np.testing.assert_allclose(other.nu[-3:], sol.nu[-3:], atol=1e-4)


def test_slow_ode_input_checks():
    times = np.arange(0, 101, 50.0)
    for bad, name in [({"nu0": 1.0}, "nu0"), ({"nu0": math.nan}, "nu0"),
                      ({"step_scale": math.inf}, "step_scale"), ({"times": [1.0, 2.0]}, "times"),
                      ({"times": [0.0, math.nan]}, "times"), ({"batch": 0}, "batch")]:  # fmt: skip
        kw = {**REFERENCE, "times": times, "nu0": 0.1, **bad}
        with pytest.raises(ParameterError) as err:
            sgd_limit(MODEL, **kw)
        assert str(err.value).startswith(name) and "\n" not in str(err.value)
    assert issubclass(LimitNotSolved, ParameterError)


@pytest.mark.slow
def test_general_path_agrees_on_the_manifold_and_finds_it_attracting():
    # the Monte-Carlo/Newton/BDF path started on ℳ stays there and reproduces the exact ODE
    # (its Q_vv is exact on ℳ by the control variate); off ℳ it returns to ℳ
    times = np.arange(0, 301, 50.0)
    exact = sgd_limit(MODEL, times=times, nu0=0.05, **REFERENCE)
    general = sgd_limit_general(MODEL, jax.random.key(0), times=times, initial=(0.05, 0.0, 0.0),
                                n_mc=2000, **REFERENCE)  # fmt: skip
    np.testing.assert_allclose(general.nu, exact.nu, atol=1e-4)
    np.testing.assert_allclose(general.kappa_tilde, exact.kappa_tilde, rtol=1e-3)
    rates = manifold_stability(MODEL, jax.random.key(0), general, n_mc=2000, **REFERENCE)
    assert np.all(rates < 0)
    off = sgd_limit_general(MODEL, jax.random.key(0), times=times, initial=(0.3, 0.05, 0.02),
                            n_mc=2000, **REFERENCE)  # fmt: skip
    assert abs(off.eta[-1]) < 1e-3 and abs(off.rho[-1]) < 1e-3
