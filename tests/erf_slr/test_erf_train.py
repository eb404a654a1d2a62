"""Data law, predictor and training of SLR part A (spec slr.md §A.1-A.3)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from attnlab._jax import jax, jnp
from attnlab._validate import ParameterError
from attnlab.erf_slr import (
    erf_attention,
    from_coordinates,
    heldout_excess,
    initial_directions,
    make_problem,
    overlaps,
    pgd_coordinates,
    pgd_full,
    pgd_full_python_loop,
    sample_slr,
    sgd_online,
    teacher_directions,
    to_coordinates,
)
from attnlab.erf_slr._train import (
    _full_risk,
    _sgd_gradient_direct,
    _sgd_gradient_projected,
)
from attnlab.rng import replicate_keys

GAMMA = math.sqrt(0.5)


def test_sampler_moments_and_predictor():
    d, L, n = 16, 5, 40_000
    ks, vs = teacher_directions(jax.random.key(0), d=d)
    np.testing.assert_allclose([ks @ ks, vs @ vs, ks @ vs], [1, 1, 0], atol=1e-14)
    X, y, J = sample_slr(jax.random.key(1), n, k_star=ks, v_star=vs, L=L, gamma=GAMMA, eps=0.1)
    assert X.shape == (n, L, d) and y.shape == (n,) and J.shape == (n,)
    x_J = np.asarray(X)[np.arange(n), np.asarray(J)]
    # 5 standard errors: mean of <x_J, k*> has sd gamma/sqrt(n); var(y) = gamma^2 + eps^2
    assert abs(np.mean(x_J @ ks) - math.sqrt(d / 2)) < 5 * GAMMA / math.sqrt(n)
    var_y = GAMMA**2 + 0.01
    assert abs(np.var(y) - var_y) < 5 * var_y * math.sqrt(2 / n)
    counts = np.bincount(np.asarray(J), minlength=L)
    assert np.all(np.abs(counts - n / L) < 5 * math.sqrt(n / L))
    # predictor: explicit sum and (k, v) -> (-k, -v) invariance
    k, v = initial_directions(jax.random.key(2), k_star=ks, v_star=vs)
    T = erf_attention(X[:50], k, v, lam=0.7)
    explicit = [
        sum(math.erf(0.7 * float(X[i, l] @ k)) * float(X[i, l] @ v) for l in range(L))
        for i in range(50)
    ]
    np.testing.assert_allclose(T, explicit, rtol=1e-12)
    np.testing.assert_allclose(erf_attention(X[:50], -k, -v, lam=0.7), T, rtol=1e-12)


def test_manifold_initialisation_is_on_manifold():
    ks, vs = teacher_directions(jax.random.key(3), d=50)
    k, v = initial_directions(jax.random.key(4), k_star=ks, v_star=vs, init="manifold")
    ov = overlaps(k, v, ks, vs)
    np.testing.assert_allclose([ov.theta, ov.eta, ov.rho], 0, atol=1e-15)
    np.testing.assert_allclose([k @ k, v @ v], 1, atol=1e-14)


@pytest.mark.parametrize(
    ("init", "schedule", "lam0"), [("sphere", True, 1.0), ("manifold", False, 0.3)]
)
def test_four_coordinates_equal_full_d(init, schedule, lam0):
    # the same projected-GD update in 4 coordinates and in R^d: equal up to float64 rounding
    d, steps = 40, 600
    pr = make_problem(7, 3, d=d, init=init)
    ck, cv = to_coordinates(pr.frame, pr.k0), to_coordinates(pr.frame, pr.v0)
    kw = dict(L=10, gamma=GAMMA, lam0=lam0, step_size=4e-3, steps=steps, schedule=schedule,
              log_every=200)  # fmt: skip
    k4, v4, log4 = pgd_coordinates(ck, cv, d=d, **kw)
    kd, vd, logd = pgd_full(pr.k0, pr.v0, k_star=pr.k_star, v_star=pr.v_star, **kw)
    np.testing.assert_allclose(from_coordinates(pr.frame, k4), kd, atol=1e-11)
    np.testing.assert_allclose(from_coordinates(pr.frame, v4), vd, atol=1e-11)
    for name in ("kappa", "nu", "theta", "eta", "rho", "risk"):
        np.testing.assert_allclose(getattr(log4, name), getattr(logd, name), atol=1e-11)
    # exact population GD with a small step never increases the risk (constant lambda)
    if not schedule:
        assert np.all(np.diff(log4.risk, axis=1) <= 1e-12)
        assert log4.distance_to_manifold.max() < 1e-12


@pytest.mark.slow
def test_python_loop_equals_scanned_full_d():
    pr = make_problem(8, 2, d=30)
    kw = dict(L=10, gamma=GAMMA, lam0=1.0, step_size=4e-3, steps=15, schedule=True)
    k1, v1 = pgd_full_python_loop(pr.k0, pr.v0, k_star=pr.k_star, v_star=pr.v_star, **kw)
    k2, v2, _ = pgd_full(pr.k0, pr.v0, k_star=pr.k_star, v_star=pr.v_star, log_every=15, **kw)
    np.testing.assert_allclose(k1, k2, atol=1e-13)
    np.testing.assert_allclose(v1, v2, atol=1e-13)


@pytest.mark.slow
def test_sgd_projected_gradient_equals_direct_in_law():
    # one SGD gradient at a fixed off-manifold (k, v): both samplers must have the law of the
    # gradient of the batch MSE; its mean is the exact population gradient of E(k, v) (+eps^2).
    # Means and variances of 6 projections are compared with 5 standard errors.
    d, L, n, lam, batch = 12, 4, 4000, 0.8, 5
    ks, vs = teacher_directions(jax.random.key(20), d=d)
    g = jax.random.normal(jax.random.key(21), (3, d))
    k = 0.6 * ks + 0.3 * vs + 0.4 * g[0]
    v = 0.5 * vs + 0.3 * ks + 0.4 * g[1]
    k, v = k / jnp.linalg.norm(k), v / jnp.linalg.norm(v)
    keys = jax.random.split(jax.random.key(22), n)
    # eager vmap (no jit): nothing to compile, fast enough at this size
    direct = jax.vmap(lambda key: _sgd_gradient_direct(key, k, v, ks, vs, L, GAMMA, 0.1, lam, batch))(keys)  # fmt: skip
    proj = jax.vmap(lambda key: _sgd_gradient_projected(key, k, v, ks, vs, L, GAMMA, 0.1, lam, batch))(keys)  # fmt: skip
    # the closed form extends E off the sphere differently from the true expectation, so only the
    # tangential parts (I - kk^T) g_k, (I - vv^T) g_v -- the ones PGD uses -- must agree
    exact = jax.grad(_full_risk, argnums=(0, 1))(k, v, ks, vs, float(d), L, GAMMA, lam)
    dirs = np.stack([ks, vs, k, v, g[2] / jnp.linalg.norm(g[2]), np.eye(d)[0]])
    for a, (gd, gp, ge, u) in enumerate(zip(direct, proj, exact, (k, v), strict=True)):
        tangent = np.eye(d) - np.outer(u, u)
        pd_, pp = np.asarray(gd) @ tangent @ dirs.T, np.asarray(gp) @ tangent @ dirs.T  # (n, 6)
        ge = tangent @ np.asarray(ge)
        se = np.sqrt((pd_.var(0) + pp.var(0)) / n)
        assert np.all(np.abs(pd_.mean(0) - pp.mean(0)) < 5 * se + 1e-12), a
        assert np.all(np.abs(pp.mean(0) - dirs @ ge) < 5 * pp.std(0) / np.sqrt(n) + 1e-12), a
        # variance: sd of a sample variance ~ sqrt(var of squared deviations / n)
        sq_d, sq_p = (pd_ - pd_.mean(0)) ** 2, (pp - pp.mean(0)) ** 2
        se_var = np.sqrt((sq_d.var(0) + sq_p.var(0)) / n)
        assert np.all(np.abs(sq_d.mean(0) - sq_p.mean(0)) < 5 * se_var + 1e-12), a


def test_sgd_logs_fixed_test_set():
    # same static sizes as the tiny slr-sgd run of test_erf_experiments.py (one compilation)
    pr, k, v, log = sgd_online(3, 2, d=16, L=4, gamma=GAMMA, eps=0.1, lam0=1.0, step_size=1e-3,
                               steps=60, log_every=20, n_test=200, seed_chunk=2)  # fmt: skip
    assert log.kappa.shape == (2, 4) and list(log.step) == [0, 20, 40, 60]
    np.testing.assert_allclose(np.linalg.norm(k, axis=1), 1, atol=1e-13)
    # the logged test_excess is the fixed test set of stream "sgd-test"
    mean, se = heldout_excess(replicate_keys(3, 2), k, v, k_star=pr.k_star, v_star=pr.v_star, L=4,
                              gamma=GAMMA, eps=0.1, lam=float(log.lam[-1]), n=200, tag="sgd-test")  # fmt: skip
    np.testing.assert_allclose(log.test_excess[:, -1], mean, rtol=1e-10)
    assert np.all(se > 0)


def test_invalid_training_parameters():
    ck = np.tile(np.eye(4)[0], (2, 1))
    cv = np.tile(np.eye(4)[1], (2, 1))
    kw = dict(d=400, L=10, gamma=GAMMA, lam0=0.1, step_size=1e-3, steps=10)
    for bad, name in [({"lam0": 0.0}, "lam0"), ({"L": 0}, "L"), ({"d": 1}, "d"),
                      ({"gamma": -1.0}, "gamma"), ({"step_size": -1.0}, "step_size"),
                      ({"steps": -5}, "steps")]:  # fmt: skip
        with pytest.raises(ParameterError) as err:
            pgd_coordinates(ck, cv, **{**kw, **bad})
        assert str(err.value).startswith(name) and "\n" not in str(err.value)
    with pytest.raises(ParameterError, match="shape"):
        pgd_coordinates(ck[:, :3], cv[:, :3], **kw)
    with pytest.raises(ParameterError, match="init"):
        make_problem(0, 2, d=10, init="ball")
