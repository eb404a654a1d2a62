"""The replicon (de Almeida–Thouless) stability of the replica-symmetric fixed point."""

from __future__ import annotations

import numpy as np
import pytest

from attnlab._jax import jnp
from attnlab.gslr import GSLRModel, ReplicaNotConverged, ReplicaOptions, ReplicaSolver
from attnlab.gslr._stability import _per_example, hill_tail_index
from attnlab.precision import uses_jax
from attnlab.rng import root_key


@uses_jax
def _per_example_np(J: np.ndarray, L: int) -> np.ndarray:
    return np.asarray(_per_example(jnp.asarray(J), L))


def test_per_example_map_is_the_block_trace_of_J_delta_J():
    # T(δ)_ab = tr(J (δ ⊗ I_L) J)_ab, checked against the explicit 2L x 2L product for a
    # random symmetric J and a random symmetric δ (exact linear algebra: float64 rounding only)
    rng = np.random.default_rng(0)
    L = 3
    A = rng.normal(size=(2 * L, 2 * L))
    J = A + A.T
    delta = np.array([[0.7, -0.3], [-0.3, 1.9]])
    M = J @ np.kron(delta, np.eye(L)) @ J
    blocks = [
        [np.trace(M[a * L : (a + 1) * L, b * L : (b + 1) * L]) for b in (0, 1)] for a in (0, 1)
    ]
    expected = np.array([blocks[0][0], blocks[1][1], blocks[0][1]])
    got = _per_example_np(J, L) @ np.array([delta[0, 0], delta[1, 1], delta[0, 1]])
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_ridge_case_is_stable_with_its_closed_form():
    # L = 1: softmax is the constant 1, so f(X) = z and ERM is ridge regression of y on the
    # tokens. The prox is linear, ∂f/∂ω = -1/(1 + V_v) exactly, and the replicon eigenvalue is
    # α V_v² / (1 + V_v)² = (1 - r V_v) V_v / (1 + V_v) < 1 with no Monte-Carlo error; the k
    # side does not enter the loss and contributes 0. The second form uses the fixed-point
    # equation V_v = 1 / (r + α / (1 + V_v)), met to the solver's relative tolerance 1e-4.
    alpha, r = 2.0, 0.1
    solver = ReplicaSolver(
        GSLRModel(nu=1.0, L=1), "softmax", root_key(1), options=ReplicaOptions(n_mc=500)
    )
    point = solver.solve(alpha=alpha, r=r)
    rep = solver.replicon(point)
    V = rep.state[5]
    np.testing.assert_allclose(V, point.V_v, rtol=1e-3)  # re-solved from itself, tol 1e-4
    np.testing.assert_allclose(rep.eigenvalue, alpha * V**2 / (1 + V) ** 2, rtol=1e-10)
    np.testing.assert_allclose(rep.eigenvalue, (1 - r * V) * V / (1 + V), rtol=1e-3)
    np.testing.assert_allclose(rep.matrix[0], 0.0, atol=1e-12)
    assert rep.eigenvalue_se == pytest.approx(0.0, abs=1e-12)
    assert rep.n_excluded == 0
    assert rep.stable


def test_strong_regularisation_is_stable():
    # With r = 5 the prox is close to convex (V_k, V_v ≤ 1/r = 0.2): the replicon eigenvalue
    # is far below 1 and its per-example contributions are light-tailed (Hill κ well above 1)
    solver = ReplicaSolver(
        GSLRModel(nu=1.0, L=3), "softmax", root_key(2), options=ReplicaOptions(n_mc=2000)
    )
    point = solver.solve(alpha=2.0, r=5.0)
    rep = solver.replicon(point)
    assert rep.eigenvalue + 5 * rep.eigenvalue_se < 1.0
    assert rep.tail_index > 2.0
    assert rep.stable


def test_replicon_refuses_a_point_that_did_not_converge():
    solver = ReplicaSolver(
        GSLRModel(nu=1.0, L=1), "softmax", root_key(1), options=ReplicaOptions(n_mc=200)
    )
    point = solver.solve(alpha=2.0, r=0.1)
    bad = type(point)(**{**point.to_dict(), "converged": False})
    with pytest.raises(ValueError, match="did not converge"):
        solver.replicon(bad)


def test_replicon_restores_a_point_from_its_named_start_when_the_re_solve_fails():
    # the re-solve from the point itself is made to fail (as a fresh solver's cold prox points
    # can at weak regularisation): the point is reached again from its named start and the
    # replicon is the one of the same point (ridge closed form as above); a point that the
    # named start does not reach again (its state moved by 50 %) is refused with a reason
    solver = ReplicaSolver(
        GSLRModel(nu=1.0, L=1), "softmax", root_key(1), options=ReplicaOptions(n_mc=500)
    )
    point = solver.solve(alpha=2.0, r=0.1)
    solve = solver.solve

    def failing_from_points(*, alpha, r, start, raise_on_failure=True):
        if not isinstance(start, str):
            return type(point)(**{**point.to_dict(), "converged": False, "reason": "made to fail"})
        return solve(alpha=alpha, r=r, start=start, raise_on_failure=raise_on_failure)

    solver.solve = failing_from_points
    rep = solver.replicon(point)
    V = rep.state[5]
    np.testing.assert_allclose(V, point.V_v, rtol=1e-3)
    np.testing.assert_allclose(rep.eigenvalue, alpha_v(2.0, V), rtol=1e-10)
    moved = type(point)(**{**point.to_dict(), "q_v": 1.5 * point.q_v})
    with pytest.raises(ReplicaNotConverged, match="reached another fixed point"):
        solver.replicon(moved)


def alpha_v(alpha, V):
    """The ridge replicon α V² / (1 + V)² (test above)."""
    return alpha * V**2 / (1 + V) ** 2


@pytest.mark.parametrize("kappa", [0.5, 2.0])
def test_hill_tail_index_recovers_a_pareto_exponent(kappa):
    # Pareto P(x > t) = t^-κ: with k = 1000 top values the Hill estimate of 1/κ has relative
    # standard error 1/√k ≈ 3 %; 15 % is five standard errors
    rng = np.random.default_rng(3)
    x = rng.uniform(size=100_000) ** (-1.0 / kappa)
    np.testing.assert_allclose(hill_tail_index(x), kappa, rtol=0.15)


def test_init_experiment_adds_the_replicon_to_converged_replica_rows():
    # the slr-init table gets the replicon of each converged replica row, recomputed on the
    # solver's own effective examples (same key): for L = 1 it is the ridge closed form
    import pandas as pd

    from attnlab.gslr.experiments.init import InitConfig, add_replicon, stability_summary
    from attnlab.rng import stream

    config = InitConfig(model=GSLRModel(L=1), replica=ReplicaOptions(n_mc=300))
    key = stream(stream(root_key(config.seed), "case spiked:1"), "replica")
    solver = ReplicaSolver(GSLRModel(nu=1.0, L=1), "softmax", key, options=config.replica)
    point = solver.solve(alpha=2.0, r=config.r)
    failed = {**point.to_dict(), "alpha": 3.0, "converged": False}
    rows = [
        {"case": "spiked:1", "activation": "softmax", "kind": "replica", "kept": kept, **p}
        for p, kept in ((point.to_dict(), True), (failed, False))
    ]
    table = add_replicon(pd.DataFrame(rows), config)
    V = point.V_v  # the replicon is evaluated at the point re-solved from itself (tol 1e-4)
    np.testing.assert_allclose(table["replicon"].iloc[0], 2.0 * V**2 / (1 + V) ** 2, rtol=1e-3)
    assert bool(table["rs_stable"].iloc[0]) and not bool(table["rs_stable"].iloc[1])
    assert np.isnan(table["replicon"].iloc[1])
    summary = stability_summary(table)
    assert summary["rs_unstable_alphas"] == []
    assert summary["max_replicon"] == table["replicon"].iloc[0]


def test_init_conclusion_follows_the_stability():
    from attnlab.gslr.experiments.init import conclusion

    assert "stable at every alpha" in conclusion([])
    text = conclusion([3.0, 8.0])
    assert "unstable at alpha = 3, 8" in text and "replica-symmetry breaking" in text


@uses_jax
def test_compiled_jacobian_pass_equals_a_fresh_closure_and_fresh_solver_restarts_it():
    # the replicon's per-example terms, compiled once per activation, equal those of a closure
    # jitted afresh (the straightforward form) up to rounding: the two compilations round
    # differently (constants folded or not) and the prox Newton iteration, stopped at
    # stationarity 1e-6, carries that to ~1e-9 relative (allowed 1e-6); and a fresh solver warm-started from a point of
    # another solver (its own prox points still zero) reaches the same replicon: same effective
    # examples, same fixed point to the solver's tolerance 1e-4, so λ_R within a few 1e-4
    import jax

    from attnlab.gslr._prox import channel_jacobian
    from attnlab.gslr._stability import _per_example_terms

    # (the point of test_strong_regularisation_is_stable: the compiled code is reused)
    model, options = GSLRModel(nu=1.0, L=3), ReplicaOptions(n_mc=2000)
    solver = ReplicaSolver(model, "softmax", root_key(2), options=options)
    point = solver.solve(alpha=2.0, r=5.0)
    state, chi = jnp.asarray(point.state()), solver._chi

    def one(sample, c):
        J, ok = channel_jacobian(solver.sigma, state, sample, c, 24, 1e-6)
        return _per_example(J, 3), ok

    ref = jax.jit(jax.vmap(one))(solver._samples, chi)
    got = _per_example_terms(solver.sigma, 24, state, solver._samples, chi, 1e-6)
    np.testing.assert_array_equal(np.asarray(got[1]), np.asarray(ref[1]))
    np.testing.assert_allclose(np.asarray(got[0]), np.asarray(ref[0]), rtol=1e-6, atol=1e-9)
    fresh = ReplicaSolver(model, "softmax", root_key(2), options=options)
    a, b = solver.replicon(point), fresh.replicon(point)
    np.testing.assert_allclose(b.eigenvalue, a.eigenvalue, rtol=2e-3)


@uses_jax
def test_replicon_program_factorises_each_matrix_once():
    """The per-example Jacobian pass takes P⁻¹ and P's definiteness from one Cholesky factor: a
    single chain of dependent LAPACK calls (potrf, then the triangular solves). With an LU
    inverse and an eigvalsh beside it, the two batched LAPACK calls ran at once on XLA's CPU
    pool and deadlocked on 2 cores (each waiting for batch tasks queued behind the other)."""
    import re

    from attnlab.gslr._stability import _per_example_terms

    # L = 4: the 8 x 8 matrices go to LAPACK (up to 6 x 6 they are unrolled, no LAPACK call)
    solver = ReplicaSolver(
        GSLRModel(L=4, nu=2.0), "softmax", root_key(0), options=ReplicaOptions(n_mc=100)
    )
    state = jnp.asarray(solver.initial_state("informed"))
    text = _per_example_terms.lower(
        solver.sigma, 24, state, solver._samples, solver._chi, 1e-6
    ).as_text()
    calls = set(re.findall(r"custom_call @(\w+)", text))
    # the names are LAPACK's: potrf (Cholesky), trsm (triangular solve); no getrf, no syevd
    assert calls and {re.sub(r"lapack_[sd](\w+)_ffi", r"\1", c) for c in calls} <= {"potrf", "trsm"}
