"""Samplers: exact laws, masks, and the key contract."""

from __future__ import annotations

import math

import numpy as np
import pytest

from attnlab._jax import jax
from attnlab._validate import ParameterError
from attnlab.gslr import (
    GSLRModel,
    sample_data,
    sample_projections,
    sample_teacher,
    sample_teacher_fields,
)
from attnlab.rng import replicate_keys

KEY = jax.random.key(7)


def test_spiked_sampler_shifts_the_relevant_token_exactly():
    D, n, nu = 50, 20_000, 2.0
    model = GSLRModel(nu=nu, L=3, teacher="gaussian")
    T = sample_teacher(model, jax.random.fold_in(KEY, 0), dim=D)
    d = sample_data(model, jax.random.fold_in(KEY, 1), T, n=n)
    chi = d.X @ T.k / math.sqrt(D)
    rel = chi[np.arange(n), d.eps]
    other = chi[np.arange(n), (d.eps + 1) % 3]
    kk = float(T.k @ T.k / D)
    # exact law: chi*_eps ~ N(sqrt(nu)|k*|^2/D, |k*|^2/D), others N(0, |k*|^2/D); 5 std errors
    se = math.sqrt(kk / n)
    assert abs(rel.mean() - math.sqrt(nu) * kk) < 5 * se
    assert abs(other.mean()) < 5 * se
    assert abs(rel.var() - kk) < 5 * kk * math.sqrt(2 / n)
    # eps uniform over 3 positions: each frequency within 5 binomial std errors of 1/3
    freq = np.bincount(d.eps, minlength=3) / n
    assert np.all(np.abs(freq - 1 / 3) < 5 * math.sqrt(2 / 9 / n))
    # y = z*_eps exactly when delta = 0
    z = d.X @ T.v / math.sqrt(D)
    np.testing.assert_allclose(d.y, z[np.arange(n), d.eps], atol=1e-12)


def test_orthonormal_teacher_is_exact():
    T = sample_teacher(GSLRModel(), KEY, dim=40)
    np.testing.assert_allclose([T.k @ T.k, T.v @ T.v, T.k @ T.v], [40, 40, 0], atol=1e-9)


def test_max_sampler_position_law_is_softmax():
    n, nu = 40_000, 1.5
    f = sample_teacher_fields(GSLRModel(variant="max", nu=nu, L=2), jax.random.fold_in(KEY, 2), n=n)
    p0 = np.asarray(jax.nn.softmax(nu * f.chi_star, axis=-1))[:, 0]
    hit = (f.eps == 0).astype(float)
    # E[1{eps=0} - p_0(chi*)] = 0; its sd is <= 1/2 per draw: 5 std errors
    assert abs((hit - p0).mean()) < 5 * 0.5 / math.sqrt(n)
    # the marginal of chi* stays standard Gaussian
    assert abs(float(f.chi_star.mean())) < 5 / math.sqrt(2 * n)
    g = sample_teacher_fields(
        GSLRModel(variant="max", nu=math.inf), jax.random.fold_in(KEY, 3), n=1000
    )
    np.testing.assert_array_equal(g.eps, np.argmax(g.chi_star, -1))


def test_random_length_masks_and_frequencies():
    D, n = 8, 30_000
    model = GSLRModel(L=[1, 2, 3])
    d = sample_data(model, KEY, sample_teacher(model, KEY, dim=D), n=n)
    freq = np.bincount(d.lengths, minlength=4)[1:] / n
    assert np.all(np.abs(freq - 1 / 3) < 5 * math.sqrt(2 / 9 / n))
    assert np.all(d.X[~d.mask] == 0)
    assert np.all(d.eps < d.lengths)


def test_replicates_do_not_depend_on_the_batch():
    model = GSLRModel(L=[2, 3], nu=0.5, delta=0.1)
    keys = replicate_keys(3, 4)
    teachers = sample_teacher(model, keys, dim=6)
    assert teachers.k.shape == (4, 6)
    batch = sample_data(model, keys, teachers, n=5)
    one = sample_data(
        model, replicate_keys(3, 1, start=2)[0], sample_teacher(model, keys[2], dim=6), n=5
    )
    np.testing.assert_array_equal(batch.X[2], one.X)
    np.testing.assert_array_equal(batch.y[2], one.y)
    assert batch.X.dtype == np.float64


@pytest.mark.parametrize("variant, nu", [("spiked", 2.0), ("max", 1.5)])
def test_projections_have_the_law_of_projected_tokens(variant, nu):
    """sample_projections against X U/sqrt(D) of sample_data, U = [u, k*, v*] with u
    correlated with both teacher vectors: the per-position means of P and of P P^T (and, for
    max-SLR, of P weighted by the position's posterior) agree within 5 standard errors of the
    difference of two independent means (20 000 examples each, random lengths)."""
    D, n = 40, 20_000
    model = GSLRModel(variant=variant, nu=nu, L=[2, 3], teacher="gaussian")
    T = sample_teacher(model, jax.random.fold_in(KEY, 10), dim=D)
    u = 0.6 * T.k - 0.3 * T.v + np.asarray(jax.random.normal(jax.random.fold_in(KEY, 11), (D,)))
    U = np.stack([u, T.k, T.v], 1)
    d = sample_data(model, jax.random.fold_in(KEY, 12), T, n=n)
    direct = d.X @ U / math.sqrt(D)
    P, mask, eps = sample_projections(model, jax.random.fold_in(KEY, 13), U.T @ U / D, n=n)
    assert P.shape == direct.shape and np.all(P[~mask] == 0) and np.all(mask[np.arange(n), eps])
    np.testing.assert_allclose(mask.mean(0), d.mask.mean(0), atol=5 * math.sqrt(0.5 / n))

    def stats(proj, at):
        second = np.einsum("nli,nlj->nlij", proj, proj).reshape(n, -1)
        return np.concatenate([proj[np.arange(n), at], proj.reshape(n, -1), second], 1)

    a, b = stats(direct, d.eps), stats(P, eps)
    tol = 5 * np.sqrt((a.var(0) + b.var(0)) / n) + 1e-12
    assert np.all(np.abs(a.mean(0) - b.mean(0)) <= tol)
    assert np.max(np.abs(b.mean(0)[: 3 * 3]) / tol[: 3 * 3]) > 5


def test_sampler_errors_are_one_line():
    model = GSLRModel()
    T = sample_teacher(model, KEY, dim=4)
    for call, match in [
        (lambda: sample_teacher(model, KEY, dim=1), "dim = 1"),
        (lambda: sample_data(model, KEY, T, n=0), "n = 0"),
        (lambda: sample_data(model, replicate_keys(0, 2), T, n=3), "one teacher per key"),
        (lambda: sample_data(model, 3, T, n=3), "must be a jax key"),
        (lambda: sample_data(model, KEY, T, n=10**9), "token entries"),
        (lambda: sample_projections(model, KEY, np.eye(3)[:2], n=3), "square"),
        (lambda: sample_projections(model, KEY, np.full((3, 3), np.nan), n=3), "finite"),
    ]:
        with pytest.raises(ParameterError, match=match) as err:
            call()
        assert "\n" not in str(err.value)
