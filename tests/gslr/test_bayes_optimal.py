"""Bayes-optimal learning of generalised SLR: channels, state evolution, GAMP, experiment."""

from __future__ import annotations

import math

import numpy as np
import pytest

from attnlab._jax import jax, jnp
from attnlab._validate import ParameterError
from attnlab.gslr import (
    BayesSEOptions,
    BayesStateEvolution,
    GAMPOptions,
    GSLRModel,
    ReplicaOptions,
    ReplicaSolver,
    StateEvolutionNotConverged,
    bayes_optimal_curve,
    bayes_risk,
    bayes_se_curve,
    recovery_thresholds,
    run_gamp,
)
from attnlab.gslr._bayes_channel import gumbel_gauss_tables as _tables
from attnlab.gslr._bayes_channel import max_channel, position_posterior, spiked_channel
from attnlab.gslr._gamp import _teacher_and_data
from attnlab.precision import _enable_x64
from attnlab.rng import replicate_keys, root_key

KEY = root_key(11)


@pytest.fixture(autouse=True)
def _x64():
    """The channel functions are raw jax (their callers enter attnlab's float64 context):
    the tests that call them directly enter it too."""
    with _enable_x64(True):
        yield


def _model(variant, nu, L, delta):
    return GSLRModel(variant=variant, nu=nu, L=L, delta=delta)


def _se(variant, nu, L, delta, n_mc=20_000, **kw):
    return BayesStateEvolution(
        _model(variant, nu, L, delta), key=KEY, options=BayesSEOptions(n_mc=n_mc, **kw)
    )


# -- channels --------------------------------------------------------------------------------
def test_spiked_channel_is_the_gaussian_integral_and_g_its_gradient():
    """Z against a Monte-Carlo of E_{h ~ N(omega, V)} P(y|h) (10^6 draws: 5 standard errors),
    and g = grad log Z exactly (autodiff of the closed form, 1e-10)."""
    rng = np.random.default_rng(0)
    nu, delta, Vk, Vv = 2.0, 0.3, 0.4, 0.6
    om_k, om_v = rng.normal(size=(2, 3)), rng.normal(size=(2, 3))
    y, mask = rng.normal(size=2), np.ones((2, 3), bool)
    logZ, g_k, g_v = spiked_channel(y, om_k, om_v, Vk, Vv, nu, delta, mask)
    h_k = om_k[0] + math.sqrt(Vk) * rng.normal(size=(10**6, 3))
    h_v = om_v[0] + math.sqrt(Vv) * rng.normal(size=(10**6, 3))
    dens = np.exp(-((y[0] - h_v) ** 2) / (2 * delta)) / math.sqrt(2 * math.pi * delta)
    P = np.mean(np.exp(math.sqrt(nu) * h_k - nu / 2) * dens, axis=1)
    np.testing.assert_allclose(np.exp(logZ[0]), P.mean(), atol=5 * P.std() / 1e3)

    def logz(a, b):
        return spiked_channel(y, a, b, Vk, Vv, nu, delta, mask)[0].sum()

    gk, gv = jax.grad(logz, argnums=(0, 1))(jnp.asarray(om_k), jnp.asarray(om_v))
    np.testing.assert_allclose(g_k, gk, atol=1e-10)
    np.testing.assert_allclose(g_v, gv, atol=1e-10)


@pytest.mark.parametrize("V, nu", [(0.5, 10.0), (0.02, 10.0), (0.9, 0.5)])
def test_position_posterior_matches_monte_carlo(V, nu):
    """p_l = E softmax(nu chi)_l and J = dp/domega (Stein: E[eta softmax]/sqrt(V)) against
    4 * 10^5 draws (5 standard errors); sum_l p_l = 1 to the quadrature accuracy (1e-5)."""
    rng = np.random.default_rng(1)
    om = 0.7 * rng.normal(size=(2, 3))
    mask = np.array([[True, True, True], [True, True, False]])
    p, J = position_posterior(jnp.asarray(om), jnp.asarray(mask), V, nu)
    np.testing.assert_allclose(np.asarray(p).sum(1), 1.0, atol=1e-5)
    assert float(p[1, 2]) == 0.0 and np.all(np.asarray(J)[1, 2] == 0)
    eta = rng.normal(size=(400_000, 3))
    for i in range(2):
        logits = np.where(mask[i], nu * (om[i] + math.sqrt(V) * eta), -np.inf)
        sm = np.exp(logits - logits.max(1, keepdims=True))
        sm /= sm.sum(1, keepdims=True)
        np.testing.assert_allclose(p[i], sm.mean(0), atol=5 * sm.std(0).max() / 632 + 1e-6)
        stein = eta[:, None, :] * sm[:, :, None] / math.sqrt(V)
        tol = 5 * stein.std(0) / 632 + 1e-5
        assert np.all(np.abs(np.asarray(J[i]) - stein.mean(0))[:, mask[i]] <= tol[:, mask[i]])


@pytest.mark.parametrize(
    "V, nu, L", [(0.3, 10.0, 3), (0.01, 10.0, 3), (0.9, 1.0, 4), (1e-4, 10.0, 2)]
)
def test_position_posterior_windows_match_pointwise_interpolation(V, nu, L):
    """The windowed table reads give the trapezoid of f(y) prod_m F(y + d_lm) computed with a
    pointwise linear interpolation (np.interp) of the same table at the same nodes: the fast
    path is the same quadrature, to rounding (1e-12), with and without padded tokens, and for
    differences d far outside the table (saturated F)."""
    rng = np.random.default_rng(3)
    om = rng.normal(size=(40, L)) * np.array([0.5, 3.0, 30.0, 1.0][:L])
    mask = rng.uniform(size=(40, L)) < 0.8
    mask[:, 0] = True
    with _enable_x64(True):
        p, J = position_posterior(jnp.asarray(om), jnp.asarray(mask), V, nu, n_nodes=64)
        k = -(-2047 // 63)
        (lo, h), F, f = (np.asarray(a) for a in _tables(V, nu, 63 * k + 1))
    grid = lo + h * np.arange(F.size)
    y = grid[::k]
    wy = f[::k] * k * h
    wy[[0, -1]] *= 0.5
    for i in range(om.shape[0]):
        for l in range(L):
            others = [m for m in range(L) if m != l and mask[i, m]]
            Fs = [np.interp(y + om[i, l] - om[i, m], grid, F, left=0.0, right=1.0) for m in others]
            fs = [np.interp(y + om[i, l] - om[i, m], grid, f, left=0.0, right=0.0) for m in others]
            expect = np.sum(wy * np.prod(Fs, axis=0)) if mask[i, l] else 0.0
            np.testing.assert_allclose(p[i, l], expect, atol=1e-12)
            for j, m in enumerate(others):
                rest = np.prod([Fs[a] for a in range(len(others)) if a != j], axis=0)
                expect = -np.sum(wy * fs[j] * rest) if mask[i, l] else 0.0
                np.testing.assert_allclose(J[i, l, m], expect, atol=1e-12)


def test_max_channel_value_gradient_is_exact():
    """For max-SLR, g_z = d log Z / d omega_z holds exactly (p does not depend on omega_z)."""
    rng = np.random.default_rng(2)
    om_k, om_v, y = rng.normal(size=(3, 3)), rng.normal(size=(3, 3)), rng.normal(size=3)
    mask = jnp.ones((3, 3), bool)

    @jax.jit
    def logz(b):
        return max_channel(y, jnp.asarray(om_k), b, 0.3, 0.2, 5.0, 0.1, mask)[0].sum()

    g_v = max_channel(y, jnp.asarray(om_k), jnp.asarray(om_v), 0.3, 0.2, 5.0, 0.1, mask)[2]
    np.testing.assert_allclose(g_v, jax.grad(logz)(jnp.asarray(om_v)), atol=1e-10)


# -- state evolution ---------------------------------------------------------------------------
@pytest.mark.parametrize("variant, nu", [("spiked", 2.0), ("max", 5.0)])
def test_nishimori_identities_hold_on_the_effective_examples(variant, nu):
    """The effective examples (omega, y) have the joint law of which Z is the marginal, so
    E[sum_l g_z^2] = -E[sum_l dg_z/domega_z] (the channel is normalised in the omega_z
    direction), spiked E[sum pi^2] = E[pi_eps] (pi is the posterior of the position), and
    max E[g_chi] = 0 (the max channel is normalised). Tolerance: 5 Monte-Carlo standard errors
    of the per-example differences (n = 20 000)."""
    se = _se(variant, nu, 3, 0.2)
    ex = se.effective_examples(0.5, 0.6)
    args = (ex["omega_chi"], ex["omega_z"], 0.5, 0.4, nu, 0.2, ex["mask"])
    chan = spiked_channel if variant == "spiked" else max_channel

    _, g_k, gv = chan(ex["y"], *args)
    # g_z = pi r/s with pi the position posterior: dg_z/domega_z = pi(1 - pi) r^2/s^2 - pi/s
    s = 0.2 + 0.4
    r = ex["y"][:, None] - ex["omega_z"]
    pi = np.asarray(gv) * s / r
    dg = np.sum(pi * (1 - pi) * r**2 / s**2 - pi / s, 1)
    diff = np.sum(np.asarray(gv) ** 2, 1) + np.asarray(dg)
    assert abs(diff.mean()) <= 5 * diff.std() / math.sqrt(diff.size)
    if variant == "spiked":
        pi = np.asarray(g_k) / math.sqrt(nu)
        d = np.sum(pi**2, 1) - pi[np.arange(pi.shape[0]), ex["eps"]]
        assert abs(d.mean()) <= 5 * d.std() / math.sqrt(d.size)
    else:
        gk = np.asarray(g_k)
        assert np.all(np.abs(gk.mean(0)) <= 5 * gk.std(0) / math.sqrt(gk.shape[0]))


@pytest.mark.parametrize("variant, nu", [("spiked", 2.0), ("max", 5.0)])
def test_test_error_formula_against_the_bayes_predictor(variant, nu):
    """Delta + 1 - q_v S(q_k) against a direct Monte-Carlo of (y - yhat)^2 with
    yhat = sum_l p_l omega_zl on the effective examples (20 000 draws; 5 standard errors of
    the direct estimate + 4 of the formula's)."""
    q_k, q_v, delta = 0.6, 0.8, 0.2
    se = _se(variant, nu, 3, delta)
    ex = se.effective_examples(q_k, q_v)
    if variant == "spiked":
        logits = np.where(ex["mask"], math.sqrt(nu) * ex["omega_chi"], -np.inf)
        p = np.exp(logits - logits.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
    else:
        p = np.asarray(position_posterior(ex["omega_chi"], ex["mask"], 1 - q_k, nu)[0])
    err = (ex["y"] - np.sum(p * ex["omega_z"], 1)) ** 2
    theory, theory_se = se.test_error(q_k, q_v)
    tol = 5 * err.std() / math.sqrt(err.size) + 4 * theory_se
    np.testing.assert_allclose(err.mean(), theory, atol=tol)


def _ridge_mmse(alpha, delta):
    """Bayes-optimal ridge (Gaussian prior, noise Delta): 1 - q = m with
    m^2 + (Delta + alpha - 1) m - Delta = 0."""
    b = delta + alpha - 1
    return (-b + math.sqrt(b * b + 4 * delta)) / 2


@pytest.mark.parametrize("variant", ["spiked", "max"])
def test_one_token_reduces_to_ridge_and_mean_estimation(variant):
    """L = 1: the position is known, y = x.v*/sqrt(D) + noise is Bayes-optimal ridge
    regression (q_v = 1 - m) and the test error is Delta + m; the spiked token is a Gaussian
    mean observation of k* (q_k = alpha nu/(1 + alpha nu)); in max-SLR k* is not seen
    (q_k = 0). Tolerance: 4 propagated Monte-Carlo standard errors of the state evolution."""
    alpha, nu, delta = 3.0, 1.5, 0.25
    p = _se(variant, nu, 1, delta).solve(alpha)
    m = _ridge_mmse(alpha, delta)
    np.testing.assert_allclose(p.q_v, 1 - m, atol=4 * p.q_v_se)
    np.testing.assert_allclose(p.test_error, delta + m, atol=4 * p.test_error_se + 1e-9)
    q_k = alpha * nu / (1 + alpha * nu) if variant == "spiked" else 0.0
    np.testing.assert_allclose(p.q_k, q_k, atol=1e-9)


def test_ridge_formula_against_the_exact_finite_dimensional_posterior():
    """The closed ridge fixed point against the exact posterior covariance
    (I + X^T X/(D Delta))^{-1} of a D = 1200 draw (fluctuations and bias O(1/D): 5/D)."""
    alpha, delta, D = 3.0, 0.25, 1200
    X = np.random.default_rng(3).normal(size=(int(alpha * D), D))
    ev = np.linalg.eigvalsh(X.T @ X / (D * delta))
    np.testing.assert_allclose(np.mean(1 / (1 + ev)), _ridge_mmse(alpha, delta), atol=5 / D)


def test_tilted_channel_claim_on_the_spiked_mean():
    """Spiked, L = 1: the exact posterior of k given the data is N(k_hat, (1 + alpha nu)^-1 I)
    with k_hat = sqrt(nu) sum_mu x_mu / (sqrt(D)(1 + alpha nu)) -- the tilt exp(-alpha nu
    |k|^2/2) is part of it. Its overlap with k* is the state evolution's q_k computed with the
    un-normalised channel and the N(0, I) prior (fluctuations ~ sqrt(alpha nu)/D: 10/D), while
    ignoring the tilt would give an 'overlap' alpha nu > 1."""
    alpha, nu, D = 2.0, 1.5, 2000
    Wstar, X, _, _ = _teacher_and_data(_model("spiked", nu, 1, 0.1), KEY, D, int(alpha * D))
    k_hat = math.sqrt(nu) * np.asarray(X)[:, 0, :].sum(0) / (math.sqrt(D) * (1 + alpha * nu))
    m_k = float(k_hat @ np.asarray(Wstar)[:, 0] / D)
    q_k = _se("spiked", nu, 1, 0.1).solve(alpha).q_k
    np.testing.assert_allclose(m_k, q_k, atol=10 / D)
    assert m_k * (1 + alpha * nu) > 1.5  # the untilted 'posterior mean' overshoots


@pytest.mark.parametrize("variant, L", [("spiked", 3), ("max", 3), ("spiked", [1, 2, 3])])
def test_no_weak_recovery_threshold(variant, L):
    """At q = 0 every position is equally likely: qhat_v(0)/alpha = E[1/L]/(1 + Delta) > 0
    (and spiked qhat_k(0)/alpha = nu E[1/L]; max 0), so q = 0 is never a fixed point and the
    weak-recovery threshold is 0. Tolerance: 5 Monte-Carlo standard errors (E[y^2] over
    20 000 draws: relative 5 sqrt(2/n) = 0.05; the random-L average adds 0.02)."""
    nu, delta = 2.0, 0.3
    se = _se(variant, nu, L, delta)
    inv_L = 1 / 3 if L == 3 else (1 + 1 / 2 + 1 / 3) / 3
    hats = se.hats(1.0, 0.0, 0.0)
    expect_k = nu * inv_L if variant == "spiked" else 0.0
    np.testing.assert_allclose(hats[0], expect_k, rtol=0.07, atol=1e-12)
    np.testing.assert_allclose(hats[1], inv_L / (1 + delta), rtol=0.07)
    assert recovery_thresholds(se).weak == 0.0


def test_noise_free_perfect_recovery_and_the_hard_phase():
    """Delta = 0, spiked nu = 2, L = 3: the perfect-recovery point q_v = 1 is a stable fixed
    point for alpha > 1 only (alpha_IT = 1); the uninformed branch reaches it at alpha_alg > 1;
    in between the informed branch (infinite free entropy) is the Bayes-optimal one."""
    se = _se("spiked", 2.0, 3, 0.0)
    thr = recovery_thresholds(se, alpha_max=3.0, alpha_tol=0.02)
    assert thr.perfect_it == 1.0 and 1.05 < thr.perfect_alg < 3.0
    above = se.solve(thr.perfect_alg + 0.05)
    assert above.q_v > 1 - 1e-6
    mid = 0.5 * (1 + thr.perfect_alg)
    rows = {r["branch"]: r for r in bayes_se_curve(se, [0.9, mid]) if r["alpha"] == mid}
    assert rows["uninformed"]["q_v"] < 0.99 and rows["informed"]["q_v"] > 1 - 1e-6
    assert rows["informed"]["kept"] and not rows["uninformed"]["kept"]
    low = [r for r in bayes_se_curve(se, [0.9]) if r["alpha"] == 0.9]
    np.testing.assert_allclose(low[0]["q_v"], low[1]["q_v"], atol=1e-6)  # unstable below 1


@pytest.mark.parametrize(
    "variant, nu", [("spiked", 2.0), pytest.param("max", 5.0, marks=pytest.mark.slow)]
)
def test_bayes_error_tends_to_the_population_bayes_risk(variant, nu):
    """The SE test error decreases to the q = 1 value like 1/alpha (gap ratio between alpha =
    100 and 1000 within [0.05, 0.2]), and the q = 1 value is the population Bayes risk
    (spiked: quadrature, 1e-8; max: 4 combined Monte-Carlo standard errors)."""
    se = _se(variant, nu, 3, 0.1, n_test_mc=400_000)
    limit, limit_se = se.test_error(1.0, 1.0)
    pop = bayes_risk(_model(variant, nu, 3, 0.1), key=KEY)
    np.testing.assert_allclose(limit, pop.value, atol=4 * math.hypot(limit_se, pop.stderr) + 1e-8)
    errs = [se.solve(a).test_error for a in (10.0, 100.0, 1000.0)]
    gaps = np.array(errs) - limit
    assert np.all(gaps > 0) and gaps[0] > gaps[1] > gaps[2]
    assert 0.05 <= gaps[2] / gaps[1] <= 0.2


@pytest.mark.parametrize(
    "activations, alphas, n_mc",
    [
        (("softmax",), [3.0], 500),
        pytest.param(("softmax", "linear"), [1.0, 4.0], 2000, marks=pytest.mark.slow),
    ],
)
def test_bayes_curve_lies_below_the_erm_replica_prediction(activations, alphas, n_mc):
    """Spiked nu = 2, L = 3, Delta = 0.1, r = 0.5: the replica test error of softmax (and
    linear) attention exceeds the Bayes-optimal one by more than 4 combined standard errors."""
    bayes = {r["alpha"]: r for r in bayes_se_curve(_se("spiked", 2.0, 3, 0.1), alphas)}
    for act in activations:
        solver = ReplicaSolver(
            _model("spiked", 2.0, 3, 0.1), act, root_key(1), options=ReplicaOptions(n_mc=n_mc)
        )
        for row in solver.curve(alphas, r=0.5):
            if row["kept"]:
                b = bayes[row["alpha"]]
                margin = 4 * math.hypot(row["test_error_se"], b["test_error_se"])
                assert row["test_error"] > b["test_error"] + margin, (act, row["alpha"])


def test_state_evolution_reports_non_convergence():
    se = _se("spiked", 2.0, 3, 0.1, max_iter=1, newton_after=0)
    with pytest.raises(StateEvolutionNotConverged, match="did not converge"):
        se.solve(2.0)
    p = se.solve(2.0, raise_on_failure=False)
    assert not p.converged and math.isnan(p.test_error)


def test_free_entropy_is_the_log_evidence_for_one_token():
    """L = 1 max-SLR is Gaussian linear regression: the free entropy equals
    (1/D) E log N(y; 0, X X^T/D + Delta I) = -(N + log det(2 pi Sigma))/(2D) (E[y^T Sigma^-1 y]
    = N exactly; log det fluctuates by O(1/D)). Tolerance: 4 Monte-Carlo standard errors of
    the free entropy + 5/D."""
    alpha, delta, D = 2.0, 0.3, 400
    p = _se("max", 1.0, 1, delta, n_mc=200_000).solve(alpha)
    N = int(alpha * D)
    X = np.random.default_rng(4).normal(size=(N, D))
    sign, logdet = np.linalg.slogdet(2 * math.pi * (X @ X.T / D + delta * np.eye(N)))
    evidence = -(N + logdet) / (2 * D)
    np.testing.assert_allclose(p.free_entropy, evidence, atol=4 * p.free_entropy_se + 5 / D)


def test_bayes_optimal_curve_for_other_figures():
    a = [0.5, 2.0, 8.0]
    curve = bayes_optimal_curve(
        _model("spiked", 1.0, 3, 0.0), a, key=KEY, options=BayesSEOptions(n_mc=5000)
    )
    assert curve.shape == (3,) and np.all(np.isfinite(curve))
    assert np.all(np.diff(curve) < 0) and curve[-1] < 1.0


SPIKED = GSLRModel(variant="spiked", nu=1.0, L=3, delta=0.1)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: BayesStateEvolution("spiked", key=KEY), "model = 'spiked'"),
        (lambda: BayesStateEvolution(_model("max", math.inf, 3, 0.1), key=KEY), "nu = inf"),
        (lambda: BayesStateEvolution(_model("max", 0.0, 3, 0.1), key=KEY), "nu = 0.0"),
        (lambda: BayesSEOptions(n_mc=10), "n_mc"),
        (lambda: _se("spiked", 1.0, 3, 0.1, n_mc=1000).solve(0.0), "alpha"),
        (lambda: run_gamp(SPIKED, alpha=1.0, dim=1, key=KEY), "dim"),
        (lambda: run_gamp(SPIKED, alpha=0.0, dim=50, key=KEY), "alpha"),
        (lambda: run_gamp(SPIKED, alpha=1.0, dim=50, key=KEY, start="x"), "start"),
        (lambda: bayes_optimal_curve(SPIKED, [], key=KEY), "alphas"),
    ],
)
def test_bad_inputs_get_one_line_errors(call, match):
    """Each names the parameter and the value in one line (the model's own fields are
    validated by GSLRModel)."""
    with pytest.raises((ParameterError, ValueError), match=match) as err:
        call()
    assert "\n" not in str(err.value)


# -- GAMP ----------------------------------------------------------------------------------------
def _gamp_runs(variant, nu, alpha, dim, n_seeds, seed=5, **opts):
    keys = replicate_keys(seed, n_seeds)
    return [
        run_gamp(
            _model(variant, nu, 3, 0.1),
            alpha=alpha,
            dim=dim,
            key=keys[s],
            options=GAMPOptions(**opts),
        )
        for s in range(n_seeds)
    ]


def _check_gamp_against_se(runs, point):
    """Mean over seeds within the Student-t 99.9 % half-width + 4 state-evolution MC s.e."""
    from attnlab.compare import monte_carlo, student_t

    assert all(r.converged for r in runs)
    for attr, theory, th_se in (
        ("test_error", point.test_error, point.test_error_se),
        ("m_k", point.q_k, point.q_k_se),
        ("m_v", point.q_v, point.q_v_se),
    ):
        sim = np.array([getattr(r, attr) for r in runs])
        tol = (student_t(sim) + monte_carlo(th_se)).value
        assert abs(sim.mean() - theory) <= tol, (attr, sim.mean(), theory, tol)


@pytest.mark.parametrize("variant, nu", [("spiked", 2.0), ("max", 10.0)])
def test_gamp_test_error_from_projections_matches_fresh_tokens(variant, nu):
    """The test error drawn as projections on [W, W*] (sample_projections) against the same
    Rao-Blackwellised loss on fresh tokens of dimension D = 60, for an estimate correlated
    with the teacher (and with a cross term): within 5 standard errors of the difference of
    two independent means (20 000 examples each); the error of the estimate with its value
    direction reversed is far outside."""
    from attnlab.gslr._gamp import _predict, _test_error

    D, n = 60, 20_000
    model = _model(variant, nu, [2, 3], 0.1)
    opts = GAMPOptions(n_test=n)
    Wstar, X, _, mask = _teacher_and_data(model, KEY, D, n)
    noise = jax.random.normal(jax.random.fold_in(KEY, 1), (D, 2))
    W = 0.7 * Wstar + 0.2 * Wstar[:, ::-1] + 0.5 * noise
    c = jnp.array([0.3, 0.4])
    om, h = (jnp.einsum("nld,da->nla", X, M) / math.sqrt(D) for M in (W, Wstar))
    yhat = _predict(variant, om, c, mask, nu, opts.n_nodes)
    scale = math.sqrt(nu) if variant == "spiked" else nu
    p = jax.nn.softmax(jnp.where(mask, scale * h[..., 0], -jnp.inf), axis=-1)
    direct = np.asarray(0.1 + jnp.sum(jnp.where(mask, p * (h[..., 1] - yhat[:, None]) ** 2, 0), -1))
    mean, se = _test_error(model, jax.random.fold_in(KEY, 2), Wstar, W, c, opts)
    tol = 5 * math.hypot(se, direct.std() / math.sqrt(n))
    assert abs(mean - direct.mean()) <= tol, (mean, direct.mean(), tol)
    flipped = W * jnp.array([1.0, -1.0])  # the value direction reversed
    other, _ = _test_error(model, jax.random.fold_in(KEY, 2), Wstar, flipped, c, opts)
    assert abs(other - mean) > 5 * tol


def test_gamp_follows_the_state_evolution_small():
    """Spiked nu = 2, L = 3, Delta = 0.1, alpha = 3, D = 200, 6 teachers (the finite-size
    offsets measured at D = 250, about 0.01 on m_v and the test error, are below the
    Student-t half-width of 6 teachers)."""
    runs = _gamp_runs("spiked", 2.0, 3.0, 200, 6, n_test=4000)
    _check_gamp_against_se(runs, _se("spiked", 2.0, 3, 0.1).solve(3.0))


def test_gamp_starts_agree_and_caps_are_reported():
    """With Delta > 0 there is one fixed point: informed and uninformed GAMP end together
    (relative change tol 1e-6, so overlaps within 1e-4); a cap of 2 iterations is reported,
    after the retry with half the damping (2 + 2 iterations) or without retries (2)."""
    key = replicate_keys(6, 1)[0]
    opts = GAMPOptions(n_test=500)
    model = _model("spiked", 2.0, 3, 0.1)
    a, b = (
        run_gamp(model, alpha=2.0, dim=200, key=key, start=s, options=opts)
        for s in ("uninformed", "informed")
    )
    np.testing.assert_allclose([a.m_k, a.m_v], [b.m_k, b.m_v], atol=1e-4)
    for retries, total in ((1, 4), (0, 2)):
        capped = run_gamp(
            model,
            alpha=2.0,
            dim=200,
            key=key,
            options=GAMPOptions(max_iter=2, n_test=500, retries=retries),
        )
        assert not capped.converged and capped.n_iter == total


@pytest.mark.parametrize("variant, nu", [("spiked", 2.0), ("max", 10.0)])
def test_gamp_adaptive_step_reaches_the_same_fixed_point_sooner(variant, nu):
    """The step growing while the change shrinks (default) against the step held at 0.3
    (max_damping = damping): both stop at relative change 1e-6, so the overlaps agree to 1e-4
    (as the two starts do), in fewer iterations."""
    key = replicate_keys(8, 1)[0]
    model = _model(variant, nu, 3, 0.1)
    fixed, adaptive = (
        run_gamp(model, alpha=3.0, dim=200, key=key, options=GAMPOptions(n_test=500, **kw))
        for kw in ({"max_damping": 0.3}, {})
    )
    assert fixed.converged and adaptive.converged
    np.testing.assert_allclose(
        [adaptive.m_k, adaptive.m_v, adaptive.q_k, adaptive.q_v],
        [fixed.m_k, fixed.m_v, fixed.q_k, fixed.q_v],
        atol=1e-4,
    )
    assert adaptive.n_iter < fixed.n_iter


@pytest.mark.slow
@pytest.mark.parametrize("variant, nu", [("spiked", 2.0), ("max", 10.0)])
@pytest.mark.parametrize("alpha", [1.0, 3.0])
def test_gamp_follows_the_state_evolution_at_d1000(variant, nu, alpha):
    """D = 1000, 4 teachers, uninformed GAMP against the state evolution."""
    runs = _gamp_runs(variant, nu, alpha, 1000, 4, n_test=20_000)
    _check_gamp_against_se(runs, _se(variant, nu, 3, 0.1, n_mc=40_000).solve(alpha))
