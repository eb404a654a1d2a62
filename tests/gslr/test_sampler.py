"""Samplers: exact laws, masks, and the key contract."""

from __future__ import annotations

import math

import numpy as np
import pytest

from attnlab._jax import jax
from attnlab._validate import ParameterError
from attnlab.gslr import GSLRModel, sample_data, sample_teacher, sample_teacher_fields
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


def test_sampler_errors_are_one_line():
    model = GSLRModel()
    T = sample_teacher(model, KEY, dim=4)
    for call, match in [
        (lambda: sample_teacher(model, KEY, dim=1), "dim = 1"),
        (lambda: sample_data(model, KEY, T, n=0), "n = 0"),
        (lambda: sample_data(model, replicate_keys(0, 2), T, n=3), "one teacher per key"),
        (lambda: sample_data(model, 3, T, n=3), "must be a jax key"),
        (lambda: sample_data(model, KEY, T, n=10**9), "token entries"),
    ]:
        with pytest.raises(ParameterError, match=match) as err:
            call()
        assert "\n" not in str(err.value)
