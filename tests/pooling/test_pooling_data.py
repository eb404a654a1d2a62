"""Sampler of the pooling family (spec pooling.md §1): label laws, tokens, pooling."""

import numpy as np
import pytest

from attnlab import ParameterError
from attnlab.pooling import (
    copula,
    custom_label_model,
    geometric_profile,
    hidden_label,
    label_model_from_name,
    markov,
    pool,
    sample_pooled,
    sample_table,
    sample_tokens,
    sizes_from_ratios,
)

MODELS = [
    hidden_label(geometric_profile(6, r0=0.9, q=0.7)),
    markov(6, p=0.6),
    copula(0.5 ** np.abs(np.subtract.outer(np.arange(6), np.arange(6))).astype(float)),
    label_model_from_name("hidden_label", L=6, profile="linear", r0=0.8),
]


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.name)
def test_label_paths_have_zero_mean_and_correlation_R(model):
    n = 200_000
    y = model.sample(np.random.default_rng(0), n).astype(float)
    assert set(np.unique(y)) == {-1.0, 1.0}
    # each entry of the empirical mean / correlation has sd <= 1/sqrt(n) = 0.0022: 5 sd
    np.testing.assert_allclose(y.mean(0), 0, atol=5 / np.sqrt(n))
    np.testing.assert_allclose(y.T @ y / n, model.R, atol=5 / np.sqrt(n))


def test_tokens_respect_classes_and_are_uniform():
    rng = np.random.default_rng(1)
    V = 10
    labels = np.where(rng.random((20000, 3)) < 0.5, 1, -1)
    tok = sample_tokens(rng, labels, V)
    assert np.all((tok < V // 2) == (labels > 0))
    counts = np.bincount(tok.ravel(), minlength=V) / tok.size
    # each frequency ~ 1/V with sd sqrt(0.1*0.9/60000) = 0.0012: 5 sd
    np.testing.assert_allclose(counts, 1 / V, atol=0.006)


def test_pool_equals_explicit_loop_and_centring():
    rng = np.random.default_rng(2)
    table = sample_table(rng, d=7, V=12)
    E = table.embeddings(1.5)
    tok = rng.integers(0, 12, size=(9, 4))
    tok[0, 1] = tok[0, 2]  # a repeated token is summed twice
    w = np.array([0.4, 0.3, 0.2, 0.1])
    X = pool(E, tok, w, center=False)
    loop = np.array([sum(w[t] * E[tok[i, t]] for t in range(4)) for i in range(9)])
    np.testing.assert_allclose(X, loop, rtol=1e-12)
    Xc = pool(E, tok, w)
    np.testing.assert_allclose(Xc, loop - loop.mean(0), rtol=1e-12, atol=1e-12)


def test_pooled_sample_is_pool_of_the_table_at_any_ell():
    model = hidden_label(geometric_profile(5))
    w = np.arange(5, 0, -1.0)
    smp = sample_pooled(
        np.random.default_rng(3), d=6, V=8, N=11, weights=w, label_model=model, center=False
    )
    # re-draw the same stream to recover tokens: table, labels, tokens in this order
    rng = np.random.default_rng(3)
    table = sample_table(rng, d=6, V=8)
    y = model.sample(rng, 11)
    tok = sample_tokens(rng, y, 8)
    for ell in (0.0, 2.5):
        np.testing.assert_allclose(
            smp.data(ell), pool(table.embeddings(ell), tok, w, center=False), rtol=1e-12
        )
    np.testing.assert_allclose(smp.rho, w @ model.R @ w / (w @ w))


def test_class_mean_direction_is_mu_plus_xi():
    table = sample_table(np.random.default_rng(4), d=5, V=8)
    E = table.embeddings(2.0)
    m = (E[:4].mean(0) - E[4:].mean(0)) / 2
    np.testing.assert_allclose(table.class_mean_direction(2.0), m, rtol=1e-12)


def test_reproducible_from_explicit_generator():
    model = markov(4, p=0.3)
    a = sample_pooled(
        np.random.default_rng(9), d=5, V=6, N=7, weights=np.ones(4), label_model=model
    )
    b = sample_pooled(
        np.random.default_rng(9), d=5, V=6, N=7, weights=np.ones(4), label_model=model
    )
    np.testing.assert_array_equal(a.data(1.0), b.data(1.0))


def test_custom_label_model():
    R = np.array([[1.0, 0.0], [0.0, 1.0]])
    model = custom_label_model(R, lambda rng, n: np.where(rng.random((n, 2)) < 0.5, 1, -1))
    assert model.sample(np.random.default_rng(0), 5).shape == (5, 2)
    bad = custom_label_model(R, lambda rng, n: np.zeros((n, 2)))
    with pytest.raises(ParameterError, match="-1, \\+1"):
        bad.sample(np.random.default_rng(0), 5)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: sample_table(np.random.default_rng(0), d=3, V=7), "V = 7 must be even"),
        (lambda: sizes_from_ratios(10, 0.0, 1.0), "delta"),
        (lambda: sizes_from_ratios(10, 1.0, -1.0), "gamma"),
        (lambda: hidden_label([0.5, 1.5]), "r_t"),
        (lambda: markov(4, p=1.5), "p"),
        (lambda: copula(np.array([[1.0, 0.9], [0.9, 0.5]])), "diagonal"),
        (lambda: custom_label_model(np.array([[1.0, 2.0], [2.0, 1.0]]), lambda r, n: None), "PSD"),
        (lambda: label_model_from_name("gaussian", L=3), "label_model"),
        (
            lambda: sample_pooled(
                np.random.default_rng(0),
                d=3,
                V=4,
                N=5,
                weights=np.zeros(3),
                label_model=markov(3, p=0.1),
            ),
            "zero norm",
        ),
        (
            lambda: sample_pooled(
                np.random.default_rng(0),
                d=3,
                V=4,
                N=5,
                weights=np.ones(2),
                label_model=markov(3, p=0.1),
            ),
            "length",
        ),
    ],
)
def test_invalid_inputs_give_one_line_errors(call, match):
    with pytest.raises(ParameterError, match=match) as err:
        call()
    assert "\n" not in str(err.value)
