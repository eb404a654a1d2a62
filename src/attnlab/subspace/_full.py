r"""The full simulator of projected SGA on the sphere: the tokens themselves, O(N·d) per step.

For a sequence X (rows x_i), scores s = βXq, weights a = softmax(s), output y = Xᵀa and

    ℓ(q; X) = ‖y‖²,    ∇_q ℓ = 2β (Σ_i a_i ⟨x_i, y⟩ x_i − ‖y‖² y) = 2β Cov_a(x) y.

One step with a mini-batch of B fresh sequences and step a_n:

    ĝ = (1/B) Σ_b ∇_q ℓ(q_n; X_{n,b}),  q̃ = q_n + a_n (I − q_n q_nᵀ) ĝ,  q_{n+1} = q̃/‖q̃‖.

q_0 and u are independent uniform points of S^{d−1}. Seeds are vectorised with ``jax.vmap``,
steps compiled with ``jax.lax.scan`` (logging blocks of ``log_every`` steps).

Random streams of replicate key k: u ← stream(k, "u"), q_0 ← stream(k, "q0"), the sequence of
step n, batch element b ← fold_in(fold_in(stream(k, "data"), n), b); so
:func:`replay_sequence` regenerates exactly the sequences the simulator saw.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from attnlab._jax import jax, jit_xla_reductions, jnp
from attnlab._validate import check_int
from attnlab.precision import default_dtype, uses_jax
from attnlab.rng import as_key_batch, stream
from attnlab.subspace._model import SubspaceModel
from attnlab.subspace._sampler import _tokens, _unit

__all__ = ["attention_gradient", "replay_sequence"]


def _gradient(q: Any, X: Any, beta: Any) -> tuple[Any, Any]:
    a = jax.nn.softmax(beta * (X @ q))
    y = X.T @ a
    yy = y @ y
    return 2.0 * beta * (X.T @ (a * (X @ y)) - yy * y), yy


@uses_jax
def attention_gradient(q: Any, X: Any, beta: float) -> tuple[np.ndarray, float]:
    r"""Gradient and value of the per-sample objective :math:`\ell(q; X) = \|X^\top
    \mathrm{softmax}(\beta X q)\|^2`:

    .. math:: \nabla_q \ell = 2\beta \Big(\sum_i a_i \langle x_i, y\rangle x_i - \|y\|^2 y\Big),
       \qquad a = \mathrm{softmax}(\beta X q),\ y = X^\top a.

    Parameters
    ----------
    q : array, shape (d,)
    X : array, shape (N, d)
    beta : float

    Returns
    -------
    gradient : numpy.ndarray, shape (d,)
    loss : float
    """
    dtype = default_dtype()
    q = jnp.asarray(np.asarray(q, dtype=float), dtype)
    X = jnp.asarray(np.asarray(X, dtype=float), dtype)
    g, yy = _gradient(q, X, beta)
    return np.asarray(g), float(yy)


@functools.lru_cache(maxsize=64)
def compiled_blocks(d, K, M, sign, batch, log_every, log_loss, dtype, nb, shared=False):
    """Compiled ``(state, params) -> (state, (m, loss))`` running ``nb`` logging blocks for all
    seeds; params = (θ_d, β, c, n0, p, source), one per seed (``source`` is unused: every run
    draws its own tokens)."""
    dt = jnp.dtype(dtype)

    def one_seed(q, u, data_key, n, params):
        theta_d, beta, c, n0, p = params

        def grad_at(q, n):
            kn = jax.random.fold_in(data_key, n)

            def one(b):
                X = _tokens(jax.random.fold_in(kn, b), u, K, M, theta_d, sign, dt)
                return _gradient(q, X, beta)

            if batch == 1:
                return one(0)
            g, l = jax.vmap(one)(jnp.arange(batch))
            return g.mean(0), l.mean()

        def step(carry, _):
            q, n = carry
            g, loss = grad_at(q, n)
            g = g - (q @ g) * q
            qt = q + (c / (n + n0) ** p).astype(dt) * g
            return (qt / jnp.linalg.norm(qt), n + 1), loss

        def block(carry, _):
            m_here = carry[0] @ u
            carry, losses = jax.lax.scan(step, carry, None, length=log_every)
            return carry, (m_here, losses[0] if log_loss else jnp.zeros((), dt))

        (q, n), logs = jax.lax.scan(block, (q, n), None, length=nb)
        return q, n, logs

    @jit_xla_reductions
    def run(state, params):
        q, u, keys, n = state
        q, n_new, (ms, ls) = jax.vmap(one_seed, in_axes=(0, 0, 0, None, 0))(
            q, u, keys, n, params[:5]
        )
        return (q, u, keys, n_new[0]), (ms, ls)

    return run


def initial_state(model: SubspaceModel, keys: Any, dtype: str) -> tuple[Any, ...]:
    """(q_0, u, data keys, n = 0) for every replicate key."""
    dt = jnp.dtype(dtype)
    u = jax.vmap(lambda k: _unit(stream(k, "u"), model.d, dt))(keys)
    q0 = jax.vmap(lambda k: _unit(stream(k, "q0"), model.d, dt))(keys)
    return q0, u, stream(keys, "data"), jnp.zeros((), jnp.int32)


def final_overlap(state: tuple[Any, ...]) -> np.ndarray:
    """m = ⟨q, u⟩ of a full-simulator state, per seed."""
    q, u = state[0], state[1]
    return np.asarray(jnp.sum(q * u, axis=-1))


@uses_jax
def replay_sequence(
    model: SubspaceModel, key: Any, n: int, *, batch_index: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """The hidden direction u and the sequence X_{n,b} that the full simulator drew at step
    ``n``, batch element ``batch_index``, for the replicate key ``key``.

    Parameters
    ----------
    model : SubspaceModel
    key : jax key
        One replicate key (as given to :func:`attnlab.subspace.simulate`).
    n : int
        Step index, ``>= 0``.
    batch_index : int
        Mini-batch element, ``>= 0``.

    Returns
    -------
    u : numpy.ndarray, shape (d,)
    X : numpy.ndarray, shape (N, d)
    """
    keys, _ = as_key_batch(key)
    n = check_int("n", n, lo=0)
    batch_index = check_int("batch_index", batch_index, lo=0)
    dt = jnp.dtype(default_dtype())
    k = keys[0]
    u = _unit(stream(k, "u"), model.d, dt)
    kn = jax.random.fold_in(jax.random.fold_in(stream(k, "data"), n), batch_index)
    X = _tokens(kn, u, model.K, model.M, model.theta_d, model.sign, dt)
    return np.asarray(u), np.asarray(X)
