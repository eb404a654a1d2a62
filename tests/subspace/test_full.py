"""Full simulator: gradient, reproducibility, the β = 0 case, a plain loop on the same data."""

import jax
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from attnlab.rng import replicate_keys
from attnlab.subspace import (
    Full,
    RobbinsMonro,
    SubspaceModel,
    attention_gradient,
    replay_sequence,
    simulate,
)

MODEL = SubspaceModel(d=8, K=4, M=12, theta=0.8)
RUN = dict(steps=20, schedule=RobbinsMonro(c=1.0, n0=5.0), log_every=5, simulator=Full())


@settings(max_examples=10, deadline=None)
@given(beta=st.floats(0.0, 2.0), seed=st.integers(0, 2**16))
def test_gradient_matches_autodiff(beta, seed):
    rng = np.random.default_rng(seed)
    X, q = rng.standard_normal((7, 5)), rng.standard_normal(5)

    def loss(q):
        y = X.T @ jax.nn.softmax(beta * (X @ q))
        return y @ y

    g, value = attention_gradient(q, X, beta)
    with jax.enable_x64(True):
        np.testing.assert_allclose(g, jax.grad(loss)(q), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(value, loss(q), rtol=1e-12)


def test_simulator_reproducible_and_batch_independent():
    # batches of 2 and 1 (each batch size is a program of seconds to compile)
    a = simulate(MODEL, replicate_keys(7, 2), **RUN)
    b = simulate(MODEL, replicate_keys(7, 1), **RUN)
    np.testing.assert_allclose(a.m[:1], b.m, rtol=1e-12)
    assert a.m.shape == (2, 5) and np.all(np.abs(a.m) <= 1)
    np.testing.assert_allclose(a.step, [0, 5, 10, 15, 20])
    one = simulate(MODEL, replicate_keys(7, 2)[1], **RUN)  # a single key: no replicate axis
    np.testing.assert_allclose(one.m, a.m[1], rtol=1e-12)


def test_beta_zero_has_no_learning_signal():
    tr = simulate(MODEL.replace(theta=2.0, beta=0.0), replicate_keys(0, 2), **RUN)
    np.testing.assert_allclose(tr.m, np.repeat(tr.m[:, :1], tr.m.shape[1], axis=1), atol=1e-14)


def test_simulator_matches_numpy_loop():
    """One seed of the vmap+scan simulator equals a plain loop on the same replayed data."""
    key = replicate_keys(4, 1)[0]
    tr = simulate(MODEL, key, **RUN, log_loss=True)
    from attnlab.rng import stream
    from attnlab.subspace import sample_direction

    q = sample_direction(stream(key, "q0"), MODEL.d)
    ms = []
    for n in range(RUN["steps"]):
        u, X = replay_sequence(MODEL, key, n)
        if n % 5 == 0:
            ms.append(q @ u)
        g, _ = attention_gradient(q, X, 1.0)
        g = g - (q @ g) * q
        q = q + 1.0 / (n + 5.0) * g
        q /= np.linalg.norm(q)
    ms.append(q @ u)
    np.testing.assert_allclose(tr.m, ms, rtol=1e-10, atol=1e-12)
    assert np.isnan(tr.loss[-1]) and np.all(tr.loss[:-1] > 0)
