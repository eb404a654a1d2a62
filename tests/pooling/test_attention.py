"""Measured effective weights of causal self-attention."""

import jax
import numpy as np
import pytest

from attnlab import ParameterError
from attnlab.pooling import (
    PoolingModel,
    attention_weights_from_grams,
    causal_attention_weights,
    causal_limit_weights,
    measured_causal_weights,
    sample_table,
    sample_tokens,
    sequence_grams,
)


def test_measured_causal_weights_match_tau_over_d_limit():
    """d = 2000: score noise τ/√d = 0.02; the mean weight over 300 sequences is biased by
    O(τ²/d + L/V) ~ 1e-3 relative; the tolerance 2e-3 absolute covers bias + 4 SE."""
    model = PoolingModel(d=2000, delta=0.5, gamma=2000 / 300, L=8)
    key = jax.random.key(5)
    table = sample_table(model, key)
    tokens = sample_tokens(model, jax.random.key(6), model.sample_labels(jax.random.key(7)))
    rows = table.embeddings(1.0)
    for tau in (0.0, 1.0, 2.0):
        W = measured_causal_weights(rows, tokens, tau=tau, chunk=128)
        np.testing.assert_allclose(W.mean(0), causal_limit_weights(8, tau=tau), atol=2e-3)
    W = measured_causal_weights(rows, tokens, tau=1.0, scaling="1/sqrt(d)")
    # diagonal score τ√d = 45 dominates: A → I, weights → 1/L (repeats: O(L/V))
    np.testing.assert_allclose(W.mean(0), 1 / 8, atol=2e-3)


def test_grams_once_for_every_tau_equal_direct_attention():
    x = np.random.default_rng(0).standard_normal((7, 5, 12))
    grams = x @ x.transpose(0, 2, 1)
    for tau, scaling in ((0.7, "tau/d"), (0.3, "1/sqrt(d)")):
        np.testing.assert_allclose(
            attention_weights_from_grams(grams, tau=tau, d=12, scaling=scaling),
            causal_attention_weights(x, tau=tau, scaling=scaling),
            rtol=1e-13,
        )
    table = np.random.default_rng(1).standard_normal((9, 4))
    tokens = np.random.default_rng(2).integers(0, 9, size=(6, 3))
    direct = np.einsum("nld,nmd->nlm", table[tokens], table[tokens])
    np.testing.assert_allclose(sequence_grams(table, tokens, chunk=4), direct, rtol=1e-13)


def test_attention_weights_shape_and_errors():
    x = np.random.default_rng(0).standard_normal((3, 4, 5))
    w = causal_attention_weights(x, tau=0.5)
    assert w.shape == (3, 4)
    np.testing.assert_allclose(w.sum(1), 1.0, rtol=1e-12)
    with pytest.raises(ParameterError, match="scaling"):
        causal_attention_weights(x, tau=0.5, scaling="1/d")
    with pytest.raises(ParameterError, match="shape"):
        causal_attention_weights(x[0], tau=0.5)
    with pytest.raises(ParameterError, match="tau"):
        causal_attention_weights(x, tau=float("nan"))
    with pytest.raises(ParameterError, match="tokens must lie in"):
        sequence_grams(np.ones((3, 2)), np.array([[0, 3]]))
