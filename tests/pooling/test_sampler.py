"""Sampling and pooling: tokens, the sparse pooling product, the per-trial split in ℓ."""

import jax
import numpy as np
import pytest

from attnlab import ParameterError
from attnlab.pooling import (
    CustomWeights,
    HiddenLabel,
    MarkovLabels,
    MeanWeights,
    PoolingModel,
    pool,
    sample_pooled,
    sample_table,
    sample_tokens,
)
from attnlab.rng import stream


def test_tokens_respect_classes_and_are_uniform():
    model = PoolingModel(d=5, delta=0.5)  # V = 10
    labels = np.where(np.random.default_rng(1).random((20000, 3)) < 0.5, 1, -1)
    tok = sample_tokens(model, jax.random.key(1), labels)
    assert np.all((tok < model.V // 2) == (labels > 0))
    counts = np.bincount(tok.ravel(), minlength=model.V) / tok.size
    # each frequency ~ 1/V with sd sqrt(0.1*0.9/60000) = 0.0012: 5 sd
    np.testing.assert_allclose(counts, 1 / model.V, atol=0.006)


def test_pool_equals_explicit_loop_and_centring():
    model = PoolingModel(d=7, delta=7 / 12)  # V = 12
    table = sample_table(model, jax.random.key(2))
    E = table.embeddings(1.5)
    tok = np.random.default_rng(2).integers(0, 12, size=(9, 4))
    tok[0, 1] = tok[0, 2]  # a repeated token is summed twice
    w = np.array([0.4, 0.3, 0.2, 0.1])
    X = pool(E, tok, w, center=False)
    loop = np.array([sum(w[t] * E[tok[i, t]] for t in range(4)) for i in range(9)])
    np.testing.assert_allclose(X, loop, rtol=1e-12)
    np.testing.assert_allclose(pool(E, tok, w), loop - loop.mean(0), rtol=1e-12, atol=1e-12)
    per_seq = np.random.default_rng(3).random((9, 4))
    loop = np.array([sum(per_seq[i, t] * E[tok[i, t]] for t in range(4)) for i in range(9)])
    np.testing.assert_allclose(pool(E, tok, per_seq, center=False), loop, rtol=1e-12)


@pytest.mark.parametrize("center", [False, True])
def test_pooled_sample_is_pool_of_the_table_at_any_ell(center):
    model = PoolingModel(d=6, delta=0.75, gamma=6 / 11, L=5, labels=HiddenLabel(q=0.7))
    w = CustomWeights(values=[5.0, 4.0, 3.0, 2.0, 1.0])
    smp = sample_pooled(model, w, jax.random.key(3), center=center)
    for ell in (0.0, 2.5):
        expected = pool(smp.table.embeddings(ell), smp.tokens, w.values, center=center)
        np.testing.assert_allclose(smp.data(ell), expected, rtol=1e-12, atol=1e-12)
    wv = np.array(w.values)
    np.testing.assert_allclose(smp.rho, wv @ model.correlation @ wv / (wv @ wv))
    np.testing.assert_allclose(smp.kappa, 55.0)


def test_tokens_come_from_the_label_paths():
    model = PoolingModel(d=20, L=4, labels=MarkovLabels(p=0.3))
    key = jax.random.key(4)
    smp = sample_pooled(model, MeanWeights(), key)
    labels = model.sample_labels(stream(key, "labels"))
    assert np.all((smp.tokens < model.V // 2) == (labels > 0))


def test_class_mean_direction_is_mu_plus_xi():
    table = sample_table(PoolingModel(d=5, delta=5 / 8), jax.random.key(4))
    E = table.embeddings(2.0)
    m = (E[:4].mean(0) - E[4:].mean(0)) / 2
    np.testing.assert_allclose(table.class_mean_direction(2.0), m, rtol=1e-12)
    eps = table.within_class_noise()
    np.testing.assert_allclose(eps[:4].mean(0), 0, atol=1e-14)
    np.testing.assert_allclose(np.linalg.norm(table.mu_direction), 1.0)


def test_reproducible_from_the_key_and_streams_independent():
    model = PoolingModel(d=5, delta=5 / 6, gamma=5 / 7, L=4)
    a = sample_pooled(model, MeanWeights(), jax.random.key(9))
    b = sample_pooled(model, MeanWeights(), jax.random.key(9))
    c = sample_pooled(model, MeanWeights(), jax.random.key(10))
    np.testing.assert_array_equal(a.data(1.0), b.data(1.0))
    assert not np.allclose(a.data(1.0), c.data(1.0))
    # the table does not depend on N (its own stream)
    bigger = sample_pooled(model.replace(gamma=5 / 70), MeanWeights(), jax.random.key(9))
    np.testing.assert_array_equal(bigger.table.noise, a.table.noise)


def test_invalid_inputs_give_one_line_errors():
    model = PoolingModel(d=3, delta=0.75, gamma=0.6, L=3)
    for call, match in (
        (lambda: sample_pooled(model, np.zeros(3), jax.random.key(0)), "zero norm"),
        (lambda: sample_pooled(model, np.ones(2), jax.random.key(0)), "length 2 but L = 3"),
        (lambda: sample_pooled(model, MeanWeights(), 7), "key"),
        (lambda: pool(np.ones((4, 3)), np.zeros((2, 3), int), np.ones(2)), "weights have shape"),
        (lambda: sample_table(model, jax.random.key(0)).embeddings(-1.0), "ell = -1"),
        (lambda: sample_table(model, jax.random.key(0)).embeddings(np.nan), "ell"),
    ):
        with pytest.raises(ParameterError, match=match) as err:
            call()
        assert "\n" not in str(err.value)
