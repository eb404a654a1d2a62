r"""Baselines on the same data: PCA of the tokens seen, small-β and β = 0 attention.

PCA. The token second moment is I + λ uuᵀ with λ = ρ θ_d² E[ε²] (E ε² = 1 for every sign law).
The top eigenvector v̂_n of the sample second moment S_n of all n·N tokens seen up to step n
estimates ±u. Above the BBP threshold λ > √γ, γ = d/(nN), the spiked-covariance limit is
⟨v̂, u⟩² → (1 − γ/λ²)/(1 + γ/λ), and 0 below (tokens treated as i.i.d.).

Exact reduced PCA (derived here). The tokens of a block of n steps are x_i = z_i + s_i u with Z
(rows z_i) i.i.d. N(0, I_d) and the spike vector s (θ_d ε_i on informative tokens, 0 elsewhere)
independent of Z. With ŝ = s/‖s‖ and ξ = Zᵀŝ ~ N(0, I_d),
ZᵀZ = ξξᵀ + Zᵀ(I − ŝŝᵀ)Z, where W = Zᵀ(I − ŝŝᵀ)Z ~ Wishart(nN − 1, I_d) is independent of ξ;
hence

    Σ_i x_i x_iᵀ = W + (ξ + ‖s‖ u)(ξ + ‖s‖ u)ᵀ,

with ‖s‖² = θ_d² nK (Rademacher, sequence and fixed signs) or θ_d² χ²_{nK} (Gaussian signs).
Blocks are independent, so S_n is a running sum of such terms: O(d²) random numbers per block
(Bartlett: W = LLᵀ, L_kk² ~ χ²_{nN−k}, L_jk ~ N(0, 1) below the diagonal) instead of O(nN·d),
the same law of v̂ as replaying the tokens, and u = e_1 without loss of generality (the law of W
is rotation invariant).

Small-β attention: softmax ≈ uniform + β·(centred scores); the objective is Oja/PCA-like
(:func:`attnlab.subspace.phi_small_beta`). Uniform attention (β = 0): ∇_q ℓ = 2β Cov_a(x) y ≡ 0,
so q_n = q_0 forever: there is no learning signal.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from attnlab._jax import jax, jit_xla_reductions, jnp, normal
from attnlab.compare import Tolerance, heuristic, standard_error
from attnlab.precision import default_dtype, uses_jax
from attnlab.rng import as_key_batch, stream
from attnlab.subspace._model import SubspaceModel
from attnlab.subspace._reduced import _chi2
from attnlab.subspace._sampler import _tokens, _unit
from attnlab.subspace._schedule import Full, Reduced, Simulator
from attnlab.subspace._trajectory import check_run

__all__ = ["pca_alignment", "pca_alignment_theory", "pca_tolerance"]


@functools.lru_cache(maxsize=16)
def _full_pca(d, K, M, sign, steps, log_every, dtype):
    dt = jnp.dtype(dtype)

    def one_seed(key, theta_d):
        u = _unit(stream(key, "u"), d, dt)
        data_key = stream(key, "data")

        def step(S, n):
            kn = jax.random.fold_in(jax.random.fold_in(data_key, n), 0)
            X = _tokens(kn, u, K, M, theta_d, sign, dt)
            return S + X.T @ X, None

        def block(S, j):
            S, _ = jax.lax.scan(step, S, j * log_every + jnp.arange(log_every))
            return S, jnp.abs(jnp.linalg.eigh(S)[1][:, -1] @ u)

        return jax.lax.scan(block, jnp.zeros((d, d), dt), jnp.arange(steps // log_every))[1]

    return jit_xla_reductions(jax.vmap(one_seed, in_axes=(0, None)))


def _wishart(key: Any, dof: int, d: int, dt: Any) -> Any:
    """Wishart(dof, I_d) by Bartlett (dof ≥ d) or from dof explicit Gaussian rows."""
    if dof >= d:
        kd, ko = jax.random.split(key)
        diag = jnp.sqrt(_chi2(kd, dof - jnp.arange(d, dtype=dt), dt))
        L = jnp.tril(normal(ko, (d, d), dt), -1) + jnp.diag(diag)
        return L @ L.T
    Z = normal(key, (dof, d), dt)
    return Z.T @ Z


@functools.lru_cache(maxsize=16)
def _reduced_pca(d, K, M, sign, steps, log_every, dtype):
    dt = jnp.dtype(dtype)
    n_tok, n_inf = log_every * (K + M), log_every * K

    def one_seed(key, theta_d):
        key = stream(key, "pca")

        def block(S, j):
            kw, kx, ks = jax.random.split(jax.random.fold_in(key, j), 3)
            if sign == "gaussian":
                spike2 = theta_d**2 * _chi2(ks, n_inf, dt)
            else:
                spike2 = jnp.asarray(theta_d**2 * n_inf, dt)
            v = normal(kx, (d,), dt).at[0].add(jnp.sqrt(spike2))
            S = S + _wishart(kw, n_tok - 1, d, dt) + jnp.outer(v, v)
            return S, jnp.abs(jnp.linalg.eigh(S)[1][0, -1])

        return jax.lax.scan(block, jnp.zeros((d, d), dt), jnp.arange(steps // log_every))[1]

    return jit_xla_reductions(jax.vmap(one_seed, in_axes=(0, None)))


@uses_jax
def pca_alignment(
    model: SubspaceModel,
    key: Any,
    *,
    steps: int,
    log_every: int = 1,
    simulator: Simulator | None = None,
) -> np.ndarray:
    """|⟨v̂_n, u⟩| for the top eigenvector v̂_n of the second moment of the tokens of steps
    0..n−1 (one sequence per step), logged after n = log_every, 2·log_every, ..., steps.

    Parameters
    ----------
    model : SubspaceModel
    key : jax key or array of keys
        Replicate keys; with ``Full()`` the tokens are exactly those that
        :func:`attnlab.subspace.simulate` (``Full()``, batch element 0) draws for the same keys.
    steps, log_every : int
    simulator : Reduced or Full, optional
        ``Reduced()`` (default): the exact reduced law (module docstring), O(d³) per logged
        block; ``Full()``: the tokens themselves, O(N·d²) per step.

    Returns
    -------
    numpy.ndarray
        Shape ``(S, steps // log_every)``, or ``(steps // log_every,)`` for a single key.
    """
    steps, _, log_every = check_run(steps, 1, log_every)
    simulator = Reduced() if simulator is None else simulator
    keys, single = as_key_batch(key)
    dtype = simulator.dtype or default_dtype()
    build = _full_pca if isinstance(simulator, Full) else _reduced_pca
    run = build(model.d, model.K, model.M, model.sign, steps, log_every, dtype)
    out = np.asarray(run(keys, model.theta_d), dtype=float)
    return out[0] if single else out


def pca_alignment_theory(model: SubspaceModel, n_tokens: Any) -> np.ndarray:
    r"""BBP limit of |⟨v̂, u⟩| after ``n_tokens`` i.i.d. tokens:

    .. math:: |\langle \hat v, u\rangle| \to \sqrt{\frac{1-\gamma/\lambda^2}{1+\gamma/\lambda}}
       \ \text{if}\ \lambda > \sqrt\gamma, \text{ else } 0, \qquad \gamma = d/n_{\rm tokens}.

    Parameters
    ----------
    model : SubspaceModel
        Gives d and the spike λ = ρθ_d².
    n_tokens : int or array
        Number of tokens seen, ``> 0``.

    Returns
    -------
    numpy.ndarray
    """
    from attnlab._validate import ParameterError

    n = np.asarray(n_tokens, dtype=float)
    if not np.all(np.isfinite(n)) or np.any(n <= 0):
        raise ParameterError(f"n_tokens = {n_tokens!r}: must be finite and > 0")
    lam, gamma = model.spike, model.d / n
    with np.errstate(divide="ignore", invalid="ignore"):
        sq = (1 - gamma / lam**2) / (1 + gamma / lam)
    return np.where(lam > np.sqrt(gamma), np.sqrt(np.clip(sq, 0, 1)), 0.0)


def pca_tolerance(model: SubspaceModel, theory: float, samples: Any) -> Tolerance:
    """Tolerance for the mean PCA alignment over seeds against the BBP limit: 4 SE over seeds +
    2(1 − theory)/√d (heuristic allowance for the O(d^{−1/2}) finite-d correction of the limit,
    relative to the deficit 1 − theory).

    Parameters
    ----------
    model : SubspaceModel
    theory : float
        The BBP limit.
    samples : array
        The PCA alignment per seed.

    Returns
    -------
    attnlab.compare.Tolerance
    """
    deficit = 1.0 - float(theory)
    return standard_error(samples, z=4) + heuristic(
        2 * deficit / math.sqrt(model.d), "O(d^-1/2) finite-d correction of the BBP limit"
    )
