"""SLR part B: ERM and the replica-symmetric fixed point (spec slr.md B.4)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from attnlab._jax import jax
from attnlab._validate import ParameterError
from attnlab.gslr._data import sample_slr, sample_teacher
from attnlab.gslr._erm import fit_erm, overlaps, test_error
from attnlab.gslr._replica import ReplicaNotConverged, ReplicaSolver, replica_fixed_point

KEY = jax.random.key(3)


def _ridge_fixed_point(alpha, r, delta):
    """RS fixed point of ridge regression y = x.v*/sqrt(D) + noise (textbook closed system):
    V = 1/(r + a/(1+V)), m = V a/(1+V), q = V^2 (mh^2 + a E/(1+V)^2), E = 1 + delta - 2m + q."""
    V, m, q = 1.0, 0.0, 1.0
    for _ in range(5000):
        vh = alpha / (1 + V)
        qh = alpha * (1 + delta - 2 * m + q) / (1 + V) ** 2
        V, m, q = 1 / (r + vh), vh / (r + vh), (vh**2 + qh) / (r + vh) ** 2
    return m, q, V, 1 + delta - 2 * m + q


def test_replica_reduces_to_ridge_for_one_token():
    """L = 1 softmax attention is sigma = 1, f = z: ridge regression in v. The solver's v-side
    must reproduce the closed ridge fixed point; the only error is Monte-Carlo over n_mc = 4000
    effective examples (relative error ~ 1/sqrt(n_mc) ~ 1.6e-2 on q̂): tolerance 3e-2."""
    alpha, r, delta = 3.0, 0.2, 0.25
    solver = ReplicaSolver("softmax", nu=1.0, L=1, delta=delta, n_mc=4000, seed=1)
    p = solver.solve(alpha=alpha, r=r, start="uninformed")
    m, q, V, err = _ridge_fixed_point(alpha, r, delta)
    np.testing.assert_allclose([p.m_v, p.q_v, p.V_v], [m, q, V], rtol=3e-2)
    np.testing.assert_allclose(p.test_error, err, rtol=3e-2)
    assert p.converged and p.residual < solver.tol
    # the k-side is inert (sigma does not depend on chi): V_k = 1/r, m_k = q_k = 0
    np.testing.assert_allclose([p.m_k, p.q_k, p.V_k], [0.0, 0.0, 1 / r], atol=1e-8)


def test_replica_refuses_unconverged_points():
    solver = ReplicaSolver("softmax", nu=1.0, L=2, n_mc=300, max_iter=2)
    with pytest.raises(ReplicaNotConverged, match="did not converge"):
        solver.solve(alpha=2.0, r=0.5)
    p = solver.solve(alpha=2.0, r=0.5, raise_on_failure=False)
    assert not p.converged and math.isnan(p.test_error)


@pytest.mark.parametrize(
    "call",
    [
        lambda: replica_fixed_point(alpha=0.0, r=0.1, n_mc=200),
        lambda: replica_fixed_point(alpha=1.0, r=-0.1, n_mc=200),
        lambda: replica_fixed_point("relu", alpha=1.0, r=0.1, n_mc=200),
        lambda: replica_fixed_point(alpha=1.0, r=0.1, nu=-1.0, n_mc=200),
        lambda: replica_fixed_point(alpha=1.0, r=0.1, delta=-1.0, n_mc=200),
    ],
)
def test_invalid_replica_inputs(call):
    with pytest.raises(ParameterError) as err:
        call()
    assert "\n" not in str(err.value)


def test_erm_invalid_inputs():
    T = sample_teacher(KEY, dim=5)
    d = sample_slr(KEY, n=10, teacher=T)
    with pytest.raises(ParameterError, match="r = -1"):
        fit_erm(d, r=-1.0, key=KEY)
    with pytest.raises(ParameterError, match="activation"):
        fit_erm(d, activation="tanh", key=KEY)


def test_erm_informed_start_beats_zero_predictor_and_ridge_limit():
    """ERM at alpha = 20, strong signal: the fit recovers the teacher directions (m_v near
    its population optimum a/b > 0.5) and its test error lies below the trivial risk 1."""
    D = 60
    T = sample_teacher(jax.random.fold_in(KEY, 1), dim=D)
    d = sample_slr(jax.random.fold_in(KEY, 2), n=20 * D, teacher=T, nu=4.0, L=2)
    fit = fit_erm(d, activation="softmax", r=0.5, init="informed", teacher=T, nu=4.0)
    assert fit.converged
    err, se = test_error(fit.k, fit.v, KEY, teacher=T, nu=4.0, L=2, n_test=5000)
    assert err < 0.5
    o = overlaps(fit.k, fit.v, T)
    assert o.m_v > 0.5 and o.m_k > 0.5


@pytest.mark.slow
@pytest.mark.parametrize("activation", ["softmax", "linear"])
def test_replica_matches_erm_at_large_d(activation):
    """Replica test error vs mean ERM test error over 4 seeds at D = 800, alpha = 5, r = 0.5.
    Tolerance: 3 standard errors over seeds + 0.03 (finite-size O(1/sqrt(D)) bias of the
    cross overlaps, plus replica MC error with n_mc = 6000). Orthonormal teacher, as in the
    experiments (see experiments_attention.py for the teacher-norm finite-size effect)."""
    nu, alpha, r, D = 2.0, 5.0, 0.5, 800
    p = replica_fixed_point(activation, alpha=alpha, r=r, nu=nu, L=3, n_mc=6000, start="informed")
    errs = []
    for s in range(4):
        key = jax.random.fold_in(KEY, 100 + s)
        T = sample_teacher(key, dim=D, orthonormal=True)
        d = sample_slr(jax.random.fold_in(key, 1), n=int(alpha * D), teacher=T, nu=nu, L=3)
        fit = fit_erm(d, activation=activation, r=r, init="informed", teacher=T, nu=nu)
        test_key = jax.random.fold_in(key, 2)  # disjoint from the training stream
        errs.append(test_error(fit.k, fit.v, test_key, teacher=T, activation=activation, nu=nu)[0])
    errs = np.array(errs)
    assert abs(errs.mean() - p.test_error) < 3 * errs.std(ddof=1) / 2 + 0.03
