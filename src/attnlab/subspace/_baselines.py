"""Baselines on the same data (spec §4.4).

* PCA: the token second moment is Σ = I + λ uuᵀ with λ = (K/N) θ_d² E[ε²] (E ε² = 1 for every
  sign law). The top eigenvector v̂_n of the sample second moment of all n·N tokens seen up to step
  n (replayed from the simulator's own random streams, so it sees exactly the same sequences)
  estimates ±u. Above the BBP threshold λ > √γ, γ = d/(nN), the classical spiked-covariance
  limit gives ⟨v̂, u⟩² → (1 − γ/λ²)/(1 + γ/λ), and 0 below (treating tokens as i.i.d.; tokens of
  one sequence are independent for the ``token``/``gaussian`` laws).
* Small-β attention: softmax ≈ uniform + β·(centred scores), the objective is Oja/PCA-like
  (:func:`attnlab.subspace.phi_small_beta`); run :func:`simulate_sga` with a small ``beta``.
* Uniform attention (β = 0): ∇_q ℓ = 2β Cov_a(x) y ≡ 0, so q_n = q_0 and |m_n| = |m_0| ≈ d^{-1/2}
  forever — there is no learning signal; :func:`simulate_sga` with ``beta=0`` shows it.
"""

from __future__ import annotations

import functools

import numpy as np

from attnlab._jax import jax, jnp
from attnlab._validate import ParameterError, check_int, check_range
from attnlab.rng import stream
from attnlab.subspace._data import _tokens, check_model, sample_direction, signal_strength

__all__ = ["pca_alignment", "pca_alignment_theory", "spike_strength"]


def spike_strength(*, d, K, M, theta, theta_scaling="sqrt_d") -> float:
    """λ = (K/N) θ_d² E[ε²] (E ε² = 1): the spike of the token second moment I + λ uuᵀ."""
    mp = check_model(d=d, K=K, M=M, theta=theta, theta_scaling=theta_scaling)
    return mp["K"] / (mp["K"] + mp["M"]) * signal_strength(mp["theta"], mp["d"], theta_scaling) ** 2


def pca_alignment_theory(n_tokens, *, d: int, lam: float) -> np.ndarray:
    """BBP limit of |⟨v̂, u⟩| after ``n_tokens`` i.i.d. tokens: √((1−γ/λ²)/(1+γ/λ)) if λ > √γ,
    else 0, with γ = d / n_tokens."""
    d = check_int("d", d, lo=2)
    lam = check_range("lam", lam, lo=0)
    n = np.asarray(n_tokens, dtype=float)
    if np.any(n <= 0):
        raise ParameterError("n_tokens must be positive")
    gamma = d / n
    with np.errstate(divide="ignore", invalid="ignore"):
        sq = (1 - gamma / lam**2) / (1 + gamma / lam)
    return np.where(lam > np.sqrt(gamma), np.sqrt(np.clip(sq, 0, 1)), 0.0)


@functools.lru_cache(maxsize=16)
def _build_pca(d, K, M, sign, steps, log_every, dtype_name):
    dtype = jnp.dtype(dtype_name)

    def one_seed(key, theta_d):
        u = sample_direction(stream(key, "u"), d, dtype)
        data_key = stream(key, "data")

        def step(S, n):
            X = _tokens(
                jax.random.fold_in(jax.random.fold_in(data_key, n), 0),
                u,
                K,
                M,
                theta_d,
                sign,
                dtype,
            )
            return S + X.T @ X, None

        def block(carry, j):
            S, _ = jax.lax.scan(step, carry, j * log_every + jnp.arange(log_every))
            _, vecs = jnp.linalg.eigh(S)
            return S, jnp.abs(vecs[:, -1] @ u)

        _, al = jax.lax.scan(block, jnp.zeros((d, d), dtype), jnp.arange(steps // log_every))
        return al

    return jax.jit(jax.vmap(one_seed, in_axes=(0, None)))


def pca_alignment(
    keys: jax.Array,
    *,
    d: int,
    K: int,
    M: int,
    theta: float,
    theta_scaling: str = "sqrt_d",
    sign: str = "token",
    steps: int,
    log_every: int = 1,
    dtype=jnp.float64,
) -> np.ndarray:
    """|⟨v̂_n, u⟩| for the top eigenvector of the second moment of the tokens of steps 0..n−1,
    on exactly the sequences :func:`simulate_sga` (batch element 0) draws for the same keys.
    Shape (S, steps/log_every), logged after n = log_every, 2·log_every, …, steps. O(N·d²)/step.
    """
    mp = check_model(d=d, K=K, M=M, theta=theta, theta_scaling=theta_scaling, sign=sign)
    steps = check_int("steps", steps, lo=1)
    log_every = check_int("log_every", log_every, lo=1)
    if steps % log_every:
        raise ParameterError(f"log_every = {log_every!r} must divide steps = {steps!r}")
    run = _build_pca(mp["d"], mp["K"], mp["M"], mp["sign"], steps, log_every, jnp.dtype(dtype).name)
    theta_d = signal_strength(mp["theta"], mp["d"], theta_scaling)
    return np.asarray(run(jnp.asarray(keys), theta_d), dtype=float)
