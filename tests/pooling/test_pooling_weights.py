"""Pooling weights (spec pooling.md §2): closed forms, optimality, measured causal attention."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attnlab import ParameterError
from attnlab.pooling import (
    causal_attention_weights,
    causal_limit_weights,
    geometric_profile,
    harmonic_weights,
    hidden_label,
    markov,
    mean_weights,
    measured_causal_weights,
    optimal_weights,
    rho,
    sample_table,
    sample_tokens,
)


@settings(max_examples=30, deadline=None)
@given(L=st.integers(1, 60), tau=st.floats(-3, 3))
def test_causal_limit_sums_to_one_and_tau_zero_is_harmonic(L, tau):
    w = causal_limit_weights(L, tau=tau)
    np.testing.assert_allclose(w.sum(), 1.0, rtol=1e-12)
    np.testing.assert_allclose(causal_limit_weights(L, tau=0.0), harmonic_weights(L), rtol=1e-12)
    # direct double sum of the row-softmax weights A_ts = c/(c+t-1) (s=t), 1/(c+t-1) (s<t)
    c = np.exp(tau)
    A = np.array(
        [[(c if s == t else 1.0) / (c + t) if s <= t else 0 for s in range(L)] for t in range(L)]
    )
    np.testing.assert_allclose(w, A.sum(0) / L, rtol=1e-10)


def test_harmonic_closed_form():
    L = 5
    np.testing.assert_allclose(
        harmonic_weights(L), [sum(1 / s for s in range(t, L + 1)) / L for t in range(1, L + 1)]
    )


@settings(max_examples=20, deadline=None)
@given(p=st.floats(-0.9, 0.95), seed=st.integers(0, 1000))
def test_optimal_weights_maximise_rho(p, seed):
    R = markov(7, p=p).R
    w = optimal_weights(R)
    np.testing.assert_allclose(rho(w, R), np.linalg.eigvalsh(R)[-1], rtol=1e-10)
    v = np.random.default_rng(seed).standard_normal(7)
    assert rho(v, R) <= rho(w, R) + 1e-12


def test_harmonic_beats_mean_for_decaying_profile_and_loses_for_ar1():
    L = 16
    R_dec = hidden_label(geometric_profile(L, r0=1.0, q=0.8)).R
    R_ar = markov(L, p=0.5).R
    assert rho(harmonic_weights(L), R_dec) > rho(mean_weights(L), R_dec) + 0.5
    assert rho(harmonic_weights(L), R_ar) < rho(mean_weights(L), R_ar) - 0.2


def test_measured_causal_weights_match_tau_over_d_limit():
    """d = 2000: score noise tau/sqrt(d) = 0.02; the mean weight over 300 sequences is biased by
    O(tau^2/d + L/V) ~ 1e-3 relative; the tolerance 2e-3 absolute covers bias + 4 SE."""
    rng = np.random.default_rng(5)
    d, V, L = 2000, 4000, 8
    table = sample_table(rng, d=d, V=V)
    y = hidden_label(geometric_profile(L)).sample(rng, 300)
    tok = sample_tokens(rng, y, V)
    for tau in (0.0, 1.0, 2.0):
        W = measured_causal_weights(table.embeddings(1.0), tok, tau=tau, chunk=128)
        np.testing.assert_allclose(W.mean(0), causal_limit_weights(L, tau=tau), atol=2e-3)
    W = measured_causal_weights(table.embeddings(1.0), tok, tau=1.0, scaling="1/sqrt(d)")
    # diagonal score tau sqrt(d) = 45 dominates: A -> I, weights -> 1/L (repeats: O(L/V))
    np.testing.assert_allclose(W.mean(0), 1 / L, atol=2e-3)


def test_attention_weights_shape_and_errors():
    x = np.random.default_rng(0).standard_normal((3, 4, 5))
    w = causal_attention_weights(x, tau=0.5)
    assert w.shape == (3, 4)
    np.testing.assert_allclose(w.sum(1), 1.0, rtol=1e-12)
    with pytest.raises(ParameterError, match="scaling"):
        causal_attention_weights(x, tau=0.5, scaling="1/d")
    with pytest.raises(ParameterError, match="shape"):
        causal_attention_weights(x[0], tau=0.5)
    with pytest.raises(ParameterError, match="PSD"):
        optimal_weights(np.array([[1.0, 1.5], [1.5, 1.0]]))
