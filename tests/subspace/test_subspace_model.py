"""Sampler, gradient and full simulator: properties that could fail."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attnlab._jax import jax, jnp
from attnlab.rng import replicate_keys
from attnlab.subspace import (
    attention_gradient,
    ode_time,
    sample_signs,
    sample_tokens,
    simulate_sga,
    spike_strength,
    step_sizes,
)


def test_sign_laws():
    k = jax.random.key(3)
    assert np.all(np.asarray(sample_signs(k, K=50, sign="fixed")) == 1)
    seq = np.asarray(sample_signs(k, K=50, sign="sequence"))
    assert np.all(seq == seq[0]) and abs(seq[0]) == 1
    tok = np.asarray(sample_signs(k, K=2000, sign="token"))
    assert set(np.unique(tok)) == {-1.0, 1.0}
    # mean of 2000 Rademacher: sd 1/sqrt(2000) -> 4 sd
    assert abs(tok.mean()) < 4 / math.sqrt(2000)
    gau = np.asarray(sample_signs(k, K=2000, sign="gaussian"))
    assert len(np.unique(gau)) == 2000
    np.testing.assert_allclose((gau**2).mean(), 1.0, atol=4 * math.sqrt(2 / 2000))


@pytest.mark.parametrize("scaling", ["sqrt_d", "none"])
def test_token_second_moment_is_spiked(scaling):
    # E x x^T = I + lambda u u^T; check <u, S u> - 1 over many tokens
    d, K, M, theta = 16, 40, 60, 0.5
    u = np.zeros(d)
    u[0] = 1.0
    X = jax.vmap(lambda k: sample_tokens(k, u, K=K, M=M, theta=theta, theta_scaling=scaling))(
        jax.random.split(jax.random.key(1), 200)
    ).reshape(-1, d)
    X = np.asarray(X)
    lam = spike_strength(d=d, K=K, M=M, theta=theta, theta_scaling=scaling)
    along = (X[:, 0] ** 2).mean() - 1
    n = X.shape[0]
    # var of x_0^2 per token <= 2(1+theta_d^2)^2 ... use the empirical sd: 4 standard errors
    se = (X[:, 0] ** 2).std() / math.sqrt(n)
    np.testing.assert_allclose(along, lam, atol=4 * se)
    np.testing.assert_allclose((X[:, 1:] ** 2).mean(), 1.0, atol=4 * math.sqrt(2 / (n * (d - 1))))


@settings(max_examples=10, deadline=None)
@given(
    beta=st.floats(0.0, 2.0),
    seed=st.integers(0, 2**16),
)
def test_gradient_matches_autodiff(beta, seed):
    k1, k2 = jax.random.split(jax.random.key(seed))
    X = jax.random.normal(k1, (7, 5))
    q = jax.random.normal(k2, (5,))

    def loss(q):
        y = X.T @ jax.nn.softmax(beta * (X @ q))
        return y @ y

    g, l = attention_gradient(q, X, beta)
    np.testing.assert_allclose(g, jax.grad(loss)(q), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(l, loss(q), rtol=1e-12)


def test_step_sizes_and_time():
    a = step_sizes(np.arange(4), c=2.0, n0=4.0, p=1.0)
    np.testing.assert_allclose(a, [0.5, 2 / 5, 2 / 6, 2 / 7])
    np.testing.assert_allclose(ode_time(4, c=2.0, n0=4.0), np.concatenate([[0], np.cumsum(a)]))
    np.testing.assert_allclose(step_sizes(np.arange(3), c=0.1, n0=1, schedule="constant"), 0.1)


KW = dict(d=8, K=4, M=12, theta=0.8, steps=20, c=1.0, n0=5.0, log_every=5)


def test_simulator_reproducible_and_batch_independent():
    a = simulate_sga(replicate_keys(7, 3), **KW)
    b = simulate_sga(replicate_keys(7, 2), **KW)
    np.testing.assert_allclose(a.m[:2], b.m, rtol=1e-12)
    assert a.m.shape == (3, 5) and np.all(np.abs(a.m) <= 1)
    np.testing.assert_allclose(a.step, [0, 5, 10, 15, 20])


def test_beta_zero_has_no_learning_signal():
    tr = simulate_sga(replicate_keys(0, 2), **{**KW, "theta": 2.0}, beta=0.0)
    np.testing.assert_allclose(tr.m, np.repeat(tr.m[:, :1], tr.m.shape[1], axis=1), atol=1e-14)


def test_simulator_matches_numpy_loop():
    """One seed of the vmap+scan simulator equals a plain Python loop on the same data."""
    from attnlab.rng import stream
    from attnlab.subspace import replay_sequence

    key = replicate_keys(4, 1)[0]
    tr = simulate_sga(key[None], **KW, log_loss=True)
    q = np.array(jax.random.normal(stream(key, "q0"), (KW["d"],)))
    q /= np.linalg.norm(q)
    ms = []
    for n in range(KW["steps"]):
        u, X = replay_sequence(key, n, d=8, K=4, M=12, theta=0.8)
        X, u = np.asarray(X), np.asarray(u)
        if n % 5 == 0:
            ms.append(q @ u)
        g, _ = attention_gradient(jnp.asarray(q), jnp.asarray(X), 1.0)
        g = np.asarray(g)
        g = g - (q @ g) * q
        q = q + KW["c"] / (n + KW["n0"]) * g
        q /= np.linalg.norm(q)
    ms.append(q @ u)
    np.testing.assert_allclose(tr.m[0], ms, rtol=1e-10, atol=1e-12)
    assert np.isnan(tr.loss[0, -1]) and np.all(tr.loss[0, :-1] > 0)
