"""Pooling weights (spec ``pooling.md`` §2): mean, harmonic, optimal, causal attention.

- mean ``w_t = 1/L``; harmonic ``w_t = (1/L) sum_{s=t}^{L} 1/s`` (sums to 1, decreasing);
- optimal: top eigenvector of ``R`` (maximises ``rho = w^T R w / ||w||^2``, ``rho* =
  lambda_max(R)``), sign fixed so that its sum is positive, rescaled to sum 1 (to unit norm if
  its sum vanishes);
- causal attention, ``tau/d`` limit: ``w_s = (1/L)[c/(c+s-1) + sum_{t=s+1}^{L} 1/(c+t-1)]``,
  ``c = e^tau`` (``c = 1``: harmonic);
- causal attention, *measured*: ``Q = K = V =`` raw token vectors, scores ``S_ts = scale
  x_t^T x_s`` (``s <= t``), row softmax ``A``, effective weights ``w_s = (1/L) sum_{t>=s} A_ts``,
  per sequence, with ``scale = tau/d`` or ``tau/sqrt(d)``.

Finding about the ``1/sqrt(d)`` contrast (the spec says the weights "stay random"): with
``Q = K`` the *diagonal* score is ``tau ||x_t||^2/sqrt(d) ~ tau sqrt(d)`` while the off-diagonal
ones are ``O(tau)`` random, so the softmax collapses onto the diagonal, ``A -> I`` and the
measured weights converge to *mean pooling* ``1/L`` (random only at small ``d``, with fluctuations
``~ e^{-tau sqrt(d)}``). ``pooling-causal`` measures and shows this.
"""

from __future__ import annotations

import numpy as np

from attnlab._jax import jax, jnp
from attnlab._validate import ParameterError, check_choice, check_int, check_range
from attnlab.pooling._theory import validate_correlation

__all__ = [
    "causal_attention_weights",
    "causal_limit_weights",
    "harmonic_weights",
    "mean_weights",
    "measured_causal_weights",
    "optimal_weights",
]


def mean_weights(L: int) -> np.ndarray:
    """``w_t = 1/L``."""
    L = check_int("L", L, lo=1)
    return np.full(L, 1.0 / L)


def harmonic_weights(L: int) -> np.ndarray:
    """``w_t = (1/L) sum_{s=t}^{L} 1/s`` (the ``tau = 0`` causal-attention limit)."""
    L = check_int("L", L, lo=1)
    inv = 1.0 / np.arange(1, L + 1)
    return np.cumsum(inv[::-1])[::-1] / L


def optimal_weights(R) -> np.ndarray:
    """Top eigenvector of ``R`` with positive sum, rescaled to sum 1 (``rho = lambda_max(R)``)."""
    R = validate_correlation(R)
    vals, vecs = np.linalg.eigh(R)
    v = vecs[:, -1]
    total = v.sum()
    if abs(total) < 1e-12 * np.sqrt(v.size):
        return v / np.linalg.norm(v)
    return v / total


def causal_limit_weights(L: int, *, tau: float) -> np.ndarray:
    """``d -> inf`` limit of causal attention with ``tau/d`` scores (spec §2):
    ``w_s = (1/L)[c/(c+s-1) + sum_{t=s+1}^{L} 1/(c+t-1)]``, ``c = e^tau``."""
    L = check_int("L", L, lo=1)
    tau = check_range("tau", tau, lo=-50, hi=50)
    c = np.exp(tau)
    t = np.arange(1, L + 1, dtype=float)
    inv = 1.0 / (c + t - 1)  # A_ts for s < t (row t)
    tail = np.concatenate([np.cumsum(inv[::-1])[::-1][1:], [0.0]])  # sum_{t>s} 1/(c+t-1)
    return (c * inv + tail) / L


@jax.jit
def _attention_weights(x: jax.Array, scale: jax.Array) -> jax.Array:
    """Effective weights of one sequence ``x`` (L x d): ``(1/L) sum_t A_ts``."""
    L = x.shape[0]
    scores = scale * (x @ x.T)
    mask = jnp.tril(jnp.ones((L, L), dtype=bool))
    A = jax.nn.softmax(jnp.where(mask, scores, -jnp.inf), axis=1)
    return A.sum(axis=0) / L


_batched_weights = jax.jit(jax.vmap(_attention_weights, in_axes=(0, None)))


def causal_attention_weights(sequences, *, tau: float, scaling: str = "tau/d") -> np.ndarray:
    """Measured effective weights ``(n, L)`` of causal self-attention on ``sequences`` (n, L, d).

    ``Q = K = V = x``, ``S_ts = scale x_t^T x_s`` for ``s <= t``, row softmax, then
    ``w_s = (1/L) sum_{t >= s} A_ts``; ``scale = tau/d`` (``scaling="tau/d"``) or
    ``tau/sqrt(d)`` (``"1/sqrt(d)"``). Vectorised with ``jax.vmap`` over sequences.
    """
    x = np.asarray(sequences, dtype=float)
    if x.ndim != 3:
        raise ParameterError(f"sequences must have shape (n, L, d), got {x.shape}")
    tau = check_range("tau", tau, lo=-50, hi=50)
    check_choice("scaling", scaling, ("tau/d", "1/sqrt(d)"))
    d = x.shape[2]
    scale = tau / d if scaling == "tau/d" else tau / np.sqrt(d)
    return np.asarray(_batched_weights(jnp.asarray(x), jnp.asarray(scale)))


def measured_causal_weights(
    table_rows: np.ndarray,
    tokens: np.ndarray,
    *,
    tau: float,
    scaling: str = "tau/d",
    chunk: int = 512,
) -> np.ndarray:
    """Measured causal-attention weights ``(N, L)`` for token sequences ``tokens`` (N x L) of a
    vocabulary ``table_rows`` (V x d), gathered and processed in chunks of ``chunk`` sequences."""
    tokens = np.asarray(tokens)
    if tokens.ndim != 2:
        raise ParameterError(f"tokens must have shape (N, L), got {tokens.shape}")
    chunk = check_int("chunk", chunk, lo=1)
    out = [
        causal_attention_weights(table_rows[tokens[i : i + chunk]], tau=tau, scaling=scaling)
        for i in range(0, tokens.shape[0], chunk)
    ]
    return np.concatenate(out, axis=0)
