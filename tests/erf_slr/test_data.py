"""The data law, the teacher, the initialisations and the overlap geometry."""

from __future__ import annotations

import math

import numpy as np
import pytest

from attnlab._jax import jax
from attnlab._validate import ParameterError
from attnlab.erf_slr import (
    ErfSLRModel,
    ManifoldInit,
    Overlaps,
    canonical_coordinates,
    draw_problem,
    embed_overlaps,
    erf_attention,
    overlaps,
    sample_slr,
    teacher_directions,
)
from attnlab.rng import replicate_keys

GAMMA = math.sqrt(0.5)


def test_sampler_moments_and_predictor():
    model = ErfSLRModel(d=16, L=5, gamma=GAMMA, eps=0.1)
    n = 40_000
    ks, vs = teacher_directions(model, jax.random.key(0))
    np.testing.assert_allclose([ks @ ks, vs @ vs, ks @ vs], [1, 1, 0], atol=1e-14)
    X, y, J = sample_slr(model, jax.random.key(1), n, k_star=ks, v_star=vs)
    assert X.shape == (n, 5, 16) and y.shape == (n,) and J.shape == (n,)
    x_J = X[np.arange(n), J]
    # 5 standard errors: the mean of <x_J, k*> has sd gamma/sqrt(n); var(y) = gamma^2 + eps^2
    assert abs(np.mean(x_J @ ks) - math.sqrt(16 / 2)) < 5 * GAMMA / math.sqrt(n)
    var_y = GAMMA**2 + 0.01
    assert abs(np.var(y) - var_y) < 5 * var_y * math.sqrt(2 / n)
    counts = np.bincount(J, minlength=5)
    assert np.all(np.abs(counts - n / 5) < 5 * math.sqrt(n / 5))
    # predictor: explicit sum and (k, v) -> (-k, -v) invariance
    pr = draw_problem(model, jax.random.key(2))
    k, v = pr.k0, pr.v0
    T = erf_attention(X[:50], k, v, lam=0.7)
    explicit = [
        sum(math.erf(0.7 * float(X[i, l] @ k)) * float(X[i, l] @ v) for l in range(5))
        for i in range(50)
    ]
    np.testing.assert_allclose(T, explicit, rtol=1e-12)
    np.testing.assert_allclose(erf_attention(X[:50], -k, -v, lam=0.7), T, rtol=1e-12)


def test_replicate_draws_do_not_depend_on_the_batch():
    model = ErfSLRModel(d=12)
    batch = draw_problem(model, replicate_keys(5, 4))
    one = draw_problem(model, replicate_keys(5, 1, start=2)[0])
    for a, b in zip(batch, one, strict=True):
        # the same random draws; only the summation order of the normalisations may differ
        np.testing.assert_allclose(a[2], b, rtol=0, atol=1e-14)


def test_manifold_initialisation_is_on_manifold():
    pr = draw_problem(ErfSLRModel(d=50), jax.random.key(4), init=ManifoldInit())
    ov = overlaps(pr.k0, pr.v0, pr.k_star, pr.v_star)
    np.testing.assert_allclose([ov.theta, ov.eta, ov.rho], 0, atol=1e-15)
    np.testing.assert_allclose([pr.k0 @ pr.k0, pr.v0 @ pr.v0], 1, atol=1e-14)


def test_canonical_embedding_keeps_the_overlaps():
    pr = draw_problem(ErfSLRModel(d=30), replicate_keys(1, 5))
    ov = overlaps(pr.k0, pr.v0, pr.k_star, pr.v_star)
    k, v, ks, vs = embed_overlaps(ov, 30)
    back = overlaps(k, v, ks, vs)
    for a, b in zip(ov, back, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-13)
    np.testing.assert_allclose(np.linalg.norm(k, axis=-1), 1, atol=1e-13)
    np.testing.assert_allclose(np.linalg.norm(v, axis=-1), 1, atol=1e-13)
    ck, cv = canonical_coordinates(Overlaps(1.0, 1.0, 0.0, 0.0, 0.0))  # the oracle itself
    np.testing.assert_allclose([ck, cv], [[1, 0, 0, 0], [0, 1, 0, 0]], atol=1e-15)


def test_bad_inputs_one_line():
    model = ErfSLRModel(d=8)
    ks, vs = teacher_directions(model, jax.random.key(0))
    for call, name in [
        (lambda: sample_slr(model, jax.random.key(1), 0, k_star=ks, v_star=vs), "n"),
        (lambda: sample_slr(model, jax.random.key(1), 3, k_star=ks[:4], v_star=vs), "k_star"),
        (lambda: sample_slr(model, jax.random.key(1), 3, k_star=ks * np.nan, v_star=vs), "k_star"),
        (lambda: erf_attention(np.ones((2, 3, 8)), ks, vs, lam=math.inf), "lam"),
        (lambda: erf_attention(np.ones((2, 3, 8)), ks, vs, lam=0.0), "lam"),
        (lambda: draw_problem(model, 7), "key"),
        (lambda: draw_problem(model, jax.random.key(0), init="sphere"), "init"),
        (lambda: embed_overlaps(Overlaps(1, 1, 0, 0, 0), 3), "d"),
    ]:
        with pytest.raises(ParameterError) as err:
            call()
        assert str(err.value).startswith(name) and "\n" not in str(err.value), err.value
