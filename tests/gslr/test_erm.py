"""ERM: the compiled L-BFGS finds the same minimiser as scipy's, reports its iteration cap,
and refuses bad input in one line."""

from __future__ import annotations

import math

import numpy as np
import pytest

from attnlab._jax import jax, jnp
from attnlab._validate import ParameterError
from attnlab.gslr import (
    LBFGS,
    ERMFit,
    GSLRModel,
    InformedInit,
    RandomInit,
    fit_erm,
    generalisation_error,
    overlaps,
    resolve_activation,
    sample_data,
    sample_teacher,
    training_objective,
)
from attnlab.gslr._erm import _value_and_grad
from attnlab.precision import uses_jax

KEY = jax.random.key(3)
MODEL = GSLRModel(nu=2.0, L=3)


@pytest.fixture(scope="module")
def problem():
    T = sample_teacher(MODEL, jax.random.fold_in(KEY, 1), dim=60)
    return T, sample_data(MODEL, jax.random.fold_in(KEY, 2), T, n=300)


@uses_jax
def _scipy_fit(data, activation, r, x0):
    """The reference minimiser: scipy's L-BFGS-B on the same objective (gtol 1e-8, ftol 1e-14,
    20 pairs), as the family used before its compiled L-BFGS."""
    from scipy.optimize import minimize

    vg = jax.jit(_value_and_grad(resolve_activation(activation)))
    args = (jnp.asarray(data.X), jnp.asarray(data.y), jnp.asarray(data.mask), jnp.ones(data.n), r)

    def fun(p):
        value, grad = vg(jnp.asarray(p), *args)
        return float(value), np.asarray(grad, dtype=float)

    res = minimize(
        fun,
        x0,
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": 5000, "gtol": 1e-8, "ftol": 1e-14, "maxcor": 20},
    )
    assert res.success
    return res


@pytest.mark.parametrize("activation", ["softmax", "linear"])
def test_same_minimiser_as_scipy_lbfgs(problem, activation):
    """Same training objective (1e-9 relative: both stop at gradient 1e-8) and the same
    overlaps (1e-5: the minimiser is isolated at r = 0.5, so a gradient of 1e-8 pins it to
    ~1e-8/r) from the same informed start; float32 tokens stop at gradient 1e-6 and agree to
    1e-6 relative on the objective and 1e-3 on the overlaps (the float32 rounding of the
    passes, ~1e-7 relative, limits the gradient to ~1e-6)."""
    T, data = problem
    fit = fit_erm(MODEL, data, r=0.5, activation=activation, init=InformedInit(), teacher=T)
    x0 = np.concatenate([min(MODEL.signal_scale, 5.0) * T.k, T.v])
    ref = _scipy_fit(data, activation, 0.5, x0)
    assert fit.converged and fit.n_eval <= fit.n_iter + 20
    np.testing.assert_allclose(fit.objective, ref.fun, rtol=1e-9)
    o, o_ref = overlaps(fit.k, fit.v, T), overlaps(ref.x[:60], ref.x[60:], T)
    np.testing.assert_allclose(
        [o.m_k, o.q_k, o.m_v, o.q_v], [o_ref.m_k, o_ref.q_k, o_ref.m_v, o_ref.q_v], atol=1e-5
    )
    single = sample_data(MODEL, jax.random.fold_in(KEY, 2), T, n=300, dtype="float32")
    f32 = fit_erm(MODEL, single, r=0.5, activation=activation, init=InformedInit(), teacher=T)
    assert f32.converged
    np.testing.assert_allclose(f32.objective, ref.fun, rtol=1e-6)
    o32 = overlaps(f32.k, f32.v, T)
    np.testing.assert_allclose(
        [o32.m_k, o32.q_k, o32.m_v, o32.q_v],
        [o_ref.m_k, o_ref.q_k, o_ref.m_v, o_ref.q_v],
        atol=1e-3,
    )
    np.testing.assert_allclose(
        training_objective(data, fit.k, fit.v, r=0.5, activation=activation),
        fit.objective,
        rtol=1e-12,
    )


def test_iteration_cap_is_reported(problem):
    T, data = problem
    fit = fit_erm(MODEL, data, r=0.5, init=RandomInit(), key=KEY, solver=LBFGS(max_iter=3))
    assert not fit.converged and fit.n_iter == 3 and fit.status == "iteration cap reached"


def test_warm_start_converges_to_the_same_minimiser_faster(problem):
    T, data = problem
    cold = fit_erm(MODEL, data, r=0.5, init=RandomInit(), key=KEY)
    warm = fit_erm(MODEL, data, r=0.5, init=cold)
    assert warm.init == "warm" and warm.n_iter < 5 and warm.converged
    np.testing.assert_allclose(warm.objective, cold.objective, rtol=1e-12)


def test_erm_informed_start_beats_zero_predictor():
    """ERM at α = 20, strong signal: the fit recovers the teacher directions (m_v near its
    population optimum a/b > 0.5) and its test error is well below the trivial risk 1."""
    model = GSLRModel(nu=4.0, L=2, teacher="gaussian")
    T = sample_teacher(model, jax.random.fold_in(KEY, 1), dim=60)
    d = sample_data(model, jax.random.fold_in(KEY, 2), T, n=20 * 60)
    fit = fit_erm(model, d, r=0.5, init=InformedInit(), teacher=T)
    assert fit.converged
    err = generalisation_error(
        model, fit.k, fit.v, jax.random.fold_in(KEY, 4), teacher=T, n_test=5000
    )
    assert err.value < 0.5 and err.stderr < 0.05
    o = overlaps(fit.k, fit.v, T)
    assert o.m_v > 0.5 and o.m_k > 0.5


def test_erm_invalid_inputs(problem):
    T, data = problem
    for call, match in [
        (lambda: fit_erm(MODEL, data, r=-1.0, key=KEY), "r = -1"),
        (lambda: fit_erm(MODEL, data, r=math.inf, key=KEY), "r = inf"),
        (lambda: fit_erm(MODEL, data, r=math.nan, key=KEY), "r = nan"),
        (lambda: fit_erm(MODEL, data, r=0.1, activation="tanh", key=KEY), "activation"),
        (lambda: fit_erm(MODEL, data, r=0.1, init=RandomInit()), "needs key"),
        (lambda: fit_erm(MODEL, data, r=0.1, init=InformedInit()), "needs teacher"),
        (lambda: fit_erm(MODEL, data, r=0.1, init="random", key=KEY), "must be RandomInit"),
        (lambda: generalisation_error(MODEL, T.k, T.v, KEY, teacher=T, n_test=1), "n_test = 1"),
        (lambda: overlaps(T.k[:3], T.v, T), "shapes"),
    ]:
        with pytest.raises(ParameterError, match=match) as err:
            call()
        assert "\n" not in str(err.value)
    bad = ERMFit(np.full(60, np.nan), T.v, 0.0, 0, 0, True, "", 0.0, "random")
    with pytest.raises(ParameterError, match="finite"):
        fit_erm(MODEL, data, r=0.1, init=bad)
