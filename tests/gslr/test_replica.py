"""The replica fixed point: the L = 1 ridge limit, reported non-convergence, input checks, and
(slow) agreement with ERM at large D."""

from __future__ import annotations

import math

import numpy as np
import pytest

from attnlab._jax import jax, jnp
from attnlab._validate import ParameterError
from attnlab.gslr import (
    GSLRModel,
    InformedInit,
    ReplicaNotConverged,
    ReplicaOptions,
    ReplicaSolver,
    fit_erm,
    generalisation_error,
    replica_fixed_point,
    sample_data,
    sample_teacher,
)
from attnlab.gslr._prox import channel_statistics
from attnlab.precision import uses_jax
from attnlab.rng import replicate_keys, root_key

KEY = jax.random.key(3)
RIDGE = GSLRModel(nu=1.0, L=1, delta=0.25)


def _ridge_fixed_point(alpha, r, delta):
    """RS fixed point of ridge regression y = x.v*/sqrt(D) + noise (textbook closed system):
    V = 1/(r + a/(1+V)), m = V a/(1+V), q = V^2 (mh^2 + a E/(1+V)^2), E = 1 + delta - 2m + q."""
    V, m, q = 1.0, 0.0, 1.0
    for _ in range(5000):
        vh = alpha / (1 + V)
        qh = alpha * (1 + delta - 2 * m + q) / (1 + V) ** 2
        V, m, q = 1 / (r + vh), vh / (r + vh), (vh**2 + qh) / (r + vh) ** 2
    return m, q, V, 1 + delta - 2 * m + q


@pytest.fixture(scope="module")
def ridge_solver():
    return ReplicaSolver(RIDGE, "softmax", jax.random.fold_in(KEY, 1))


def test_replica_reduces_to_ridge_for_one_token(ridge_solver):
    """L = 1 softmax attention is σ = 1, f = z: ridge regression in v. The solver's v-side
    must reproduce the closed ridge fixed point; the only error is Monte-Carlo over n_mc = 4000
    effective examples (relative error ~ 1/sqrt(n_mc) ~ 1.6e-2 on q̂): tolerance 3e-2."""
    alpha, r = 3.0, 0.2
    p = ridge_solver.solve(alpha=alpha, r=r, start="uninformed")
    m, q, V, err = _ridge_fixed_point(alpha, r, RIDGE.delta)
    np.testing.assert_allclose([p.m_v, p.q_v, p.V_v], [m, q, V], rtol=3e-2)
    np.testing.assert_allclose(p.test_error, err, rtol=3e-2)
    assert p.converged and p.residual < ridge_solver.options.tol
    assert p.prox_residual < ridge_solver.options.prox_tol
    # the k-side is inert (σ does not depend on χ): V_k = 1/r, m_k = q_k = 0
    np.testing.assert_allclose([p.m_k, p.q_k, p.V_k], [0.0, 0.0, 1 / r], atol=1e-8)


def test_unconverged_points_are_reported_never_returned_as_numbers():
    solver = ReplicaSolver(RIDGE, "softmax", KEY, options=ReplicaOptions(max_iter=2))
    with pytest.raises(ReplicaNotConverged, match="iteration cap reached after 2 iterations"):
        solver.solve(alpha=2.0, r=0.5)
    p = solver.solve(alpha=2.0, r=0.5, raise_on_failure=False)
    assert not p.converged and math.isnan(p.test_error) and math.isnan(p.train_objective)
    assert "did not converge" in p.reason


def test_continuation_in_r_reaches_the_same_fixed_point_and_reports_where_it_fails():
    """Ridge (L = 1) at r = 0.05: the cold start and the continuation path from r = 0.5 end at
    the same fixed point (the iteration's tolerance, 1e-4 relative, on the order parameters:
    5e-4) and the path's iterations are all counted. A cap of 2
    iterations fails on the path's first point, and the reason says so."""
    opts = ReplicaOptions(n_mc=500)
    cold = ReplicaSolver(RIDGE, "softmax", KEY, options=opts).solve(alpha=3.0, r=0.05)
    path = ReplicaSolver(
        RIDGE, "softmax", KEY, options=opts.model_copy(update={"r_continuation": 0.5})
    )
    p = path.solve(alpha=3.0, r=0.05)
    assert p.converged and p.r == 0.05 and p.start == "uninformed"
    np.testing.assert_allclose(p.state()[3:], cold.state()[3:], rtol=5e-4)
    assert p.n_iter > cold.n_iter  # the five points on the way are counted
    capped = ReplicaSolver(
        RIDGE, "softmax", KEY, options=ReplicaOptions(n_mc=500, r_continuation=0.5, max_iter=2)
    )
    q = capped.solve(alpha=3.0, r=0.05, raise_on_failure=False)
    assert not q.converged and q.r == 0.05
    assert "r=0.5" in q.reason and "continuation path in r from 0.5" in q.reason


@pytest.fixture(scope="module")
def softmax_solver():
    """Softmax, spiked ν = 2, L = 3, n_mc = 4000 effective examples drawn from root key 0."""
    return ReplicaSolver(
        GSLRModel(nu=2.0, L=3), "softmax", root_key(0), options=ReplicaOptions(n_mc=4000)
    )


@uses_jax
def test_full_prox_pass_reaches_a_strict_minimum_where_the_prox_is_not_convex(softmax_solver):
    """Softmax, L = 3, at order parameters an iteration passes through at α ≈ 1 (V_k ≈ 2.9:
    the prox is not convex). From χ = 0 a full pass must leave every one of the 4000 effective
    examples at a strict local minimum: gradient below prox_tol, Hessian positive definite.
    Raising a negative Newton pivot only to the floor 10⁻²/V_k (the earlier modified Cholesky)
    left 122 of them stuck at a start, with gradients up to 2.1."""
    solver = softmax_solver
    state = jnp.array([0.35129008, 0.72523725, 2.9328172, 0.69246167, 1.0426755, 1.7730665])
    chi = jnp.zeros(solver._samples[1].shape)
    stats, _ = jax.jit(jax.vmap(lambda s, c: channel_statistics(solver.sigma, state, s, c, 3, 6)))(
        solver._samples, chi
    )
    stats = np.asarray(stats)
    assert stats[:, 8].sum() == 0  # every Hessian positive definite
    assert stats[:, 7].max() < solver.options.prox_tol


def test_a_discontinuous_monte_carlo_map_fails_early_and_says_why(softmax_solver):
    """Softmax, L = 3, ν = 2, r = 0.1, n_mc = 4000: from the fixed point at α = 5, the point at
    α = 5.4 has no fixed point at tol 1e-4 for these effective examples. One of them switches
    between two prox minima, so each confirming full pass moves F by ≈ 4·10⁻³ relative. The
    solver reports this after a few such passes, instead of running all three strategies to
    their caps (3000 iterations), and it never returns numbers for the point."""
    solver = softmax_solver
    p = solver.solve(alpha=5.0, r=0.1, start="informed")
    q = solver.solve(alpha=5.4, r=0.1, start=p, raise_on_failure=False)
    assert not q.converged and math.isnan(q.test_error)
    assert "caught between prox minima" in q.reason
    assert q.n_iter < solver.options.max_iter
    assert q.residual > solver.options.tol


def test_where_the_monte_carlo_map_has_two_fixed_points_the_kept_one_continues_the_curve():
    """The same effective examples at r = 0.1: at α = 7.5 the two named starts converge to two
    fixed points 0.011 apart in test error (a map that is only piecewise continuous can have
    several); at α = 7.2 and 7.8 they agree. The rule of ``solve_both`` (the lower predicted
    training objective) keeps the one that continues the curve: its test error lies between
    its neighbours', the other's above both, and a warm start from α = 7.2 (what a curve
    does) reaches the kept one. A fresh solver, so the warm prox points are those of this
    sequence of solves only."""
    solver = ReplicaSolver(
        GSLRModel(nu=2.0, L=3), "softmax", root_key(0), options=ReplicaOptions(n_mc=4000)
    )
    both = {a: solver.solve_both(alpha=a, r=0.1) for a in (7.2, 7.5, 7.8)}
    for a in (7.2, 7.5, 7.8):
        points, kept = both[a]
        assert all(p.converged for p in points.values()), a
        assert kept.train_objective == min(p.train_objective for p in points.values())
    # neighbours: both starts reach one fixed point (within the solver's tolerance 1e-4)
    for a in (7.2, 7.8):
        errors = [p.test_error for p in both[a][0].values()]
        assert abs(errors[0] - errors[1]) < 1e-3, (a, errors)
    points, kept = both[7.5]
    other = next(p for p in points.values() if p.start != kept.start)
    assert abs(other.test_error - kept.test_error) > 5e-3  # two fixed points, not one
    low, high = both[7.8][1].test_error, both[7.2][1].test_error
    assert low < kept.test_error < high, (low, kept.test_error, high)
    assert other.test_error > high
    warm = solver.solve(alpha=7.5, r=0.1, start=both[7.2][1])
    assert abs(warm.test_error - kept.test_error) < 1e-3


def test_a_nan_objective_is_never_convergence():
    """An activation that produces NaN: every iteration is non-finite, reported as such."""

    def broken(chi, mask):
        return jnp.where(mask, jnp.sqrt(chi - 1e3), 0.0)  # NaN for every score below 1000

    solver = ReplicaSolver(RIDGE, broken, KEY, options=ReplicaOptions(n_mc=200))
    p = solver.solve(alpha=2.0, r=0.5, raise_on_failure=False)
    assert not p.converged and "non-finite" in p.reason and math.isnan(p.test_error)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda s: s.solve(alpha=0.0, r=0.1), "alpha = 0"),
        (lambda s: s.solve(alpha=math.nan, r=0.1), "alpha = nan"),
        (lambda s: s.solve(alpha=1.0, r=-0.1), "r = -0.1"),
        (lambda s: s.solve(alpha=1.0, r=math.inf), "r = inf"),
        (lambda s: s.solve(alpha=1.0, r=math.nan), "r = nan"),
        (lambda s: s.solve(alpha=1.0, r=0.1, start="warm"), "start = 'warm'"),
        (lambda s: ReplicaSolver(RIDGE, "relu", KEY), "activation"),
        (lambda s: ReplicaSolver(RIDGE, "softmax", replicate_keys(0, 2)), "one key"),
        (lambda s: ReplicaOptions(n_mc=10), "n_mc = 10"),
        (lambda s: ReplicaOptions(tol=math.nan), "tol = nan"),
    ],
)
def test_invalid_replica_inputs(ridge_solver, call, match):
    with pytest.raises(ParameterError, match=match) as err:
        call(ridge_solver)
    assert "\n" not in str(err.value)


@pytest.mark.slow
@pytest.mark.parametrize("activation", ["softmax", "linear"])
def test_replica_matches_erm_at_large_d(activation):
    """Replica test error vs mean ERM test error over 4 seeds at D = 800, α = 5, r = 0.5.
    Tolerance: 3 standard errors over seeds + 0.03 (finite-size O(1/√D) bias of the cross
    overlaps, plus the replica's Monte-Carlo error with n_mc = 6000); orthonormal teacher."""
    model = GSLRModel(nu=2.0, L=3)
    alpha, r, D = 5.0, 0.5, 800
    p = replica_fixed_point(
        model,
        activation,
        KEY,
        alpha=alpha,
        r=r,
        start="informed",
        options=ReplicaOptions(n_mc=6000),
    )
    errs = []
    for key in replicate_keys(100, 4):
        T = sample_teacher(model, jax.random.fold_in(key, 0), dim=D)
        d = sample_data(model, jax.random.fold_in(key, 1), T, n=int(alpha * D))
        fit = fit_erm(model, d, r=r, activation=activation, init=InformedInit(), teacher=T)
        test_key = jax.random.fold_in(key, 2)  # disjoint from the training stream
        errs.append(
            generalisation_error(
                model, fit.k, fit.v, test_key, teacher=T, activation=activation
            ).value
        )
    errs = np.array(errs)
    assert abs(errs.mean() - p.test_error) < 3 * errs.std(ddof=1) / 2 + 0.03
