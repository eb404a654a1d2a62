r"""The symmetry-reduced objective φ(m) by exact Monte-Carlo.

Monte-Carlo φ (exact at finite d, K, M)
---------------------------------------
The law of X is invariant under rotations fixing u, so J(q) = E ℓ(q; X) = φ(m), m = ⟨q, u⟩. In
the frame e1 = q, e2 ⊥ q in span(q, u), token i has components σ_i = θ_d ε_i m + g_i along q,
τ_i = θ_d ε_i √(1−m²) + h_i along e2 and d−2 independent N(0, 1) components, so

    φ(m) = E[(Σ a_i σ_i)²] + E[(Σ a_i τ_i)²] + (d−2) E[Σ a_i²],   a = softmax(βσ).

Integrating h out analytically (Rao–Blackwell), E_h[(Σ a_i τ_i)²] = (1−m²) θ_d² (Σ_{i<K} a_i ε_i)²
+ Σ a_i², so

    φ(m) = E[ (Σ a_i σ_i)² + (1−m²) θ_d² (Σ_{i<K} a_i ε_i)² + (d−1) Σ a_i² ],

a smooth function of m for every draw (ε, g). With common random numbers (the same draws for
every m) φ′(m) is the pathwise derivative of the same average (without the Rao–Blackwellisation
it would carry a −m/√(1−m²) factor of infinite variance at the poles). Standard errors are the
sample sd / √n_samples. The nuisance tokens' scores do not depend on m, so their softmax sums
(Σ e^{βg}, Σ e^{βg} g, Σ e^{2βg}) are computed once per draw and only the K informative tokens
are recomputed per grid point: a draw costs O(N + n_grid·K), whatever d.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from attnlab import progress
from attnlab._jax import jax, jit_xla_reductions, jnp, normal
from attnlab._validate import ParameterError, check_int
from attnlab.precision import uses_jax
from attnlab.rng import as_key_batch, stream
from attnlab.subspace._model import SubspaceModel
from attnlab.subspace._sampler import _signs

__all__ = ["PhiEstimate", "phi_monte_carlo"]

MC_CHUNK_ELEMENTS = 2**23  # floats per Monte-Carlo array (draws × grid × tokens): 64 MB


def check_m(m: Any, name: str = "m") -> np.ndarray:
    """``m`` as a 1-d float array with finite entries in [−1, 1] (one-line error otherwise)."""
    try:
        arr = np.atleast_1d(np.asarray(m, dtype=float))
    except (TypeError, ValueError):
        raise ParameterError(f"{name} = {m!r} is not numeric") from None
    if arr.ndim != 1 or arr.size == 0 or not np.all(np.abs(arr) <= 1):  # NaN fails too
        raise ParameterError(
            f"{name} = {m!r}: must be a scalar or non-empty 1-d array with entries in [-1, 1]"
        )
    return arr


# --------------------------------------------------------------------------- Monte-Carlo φ


@dataclass(frozen=True)
class PhiEstimate:
    """Monte-Carlo φ(m), φ′(m) on a grid with standard errors (numpy arrays)."""

    m: np.ndarray
    phi: np.ndarray
    phi_se: np.ndarray
    dphi: np.ndarray
    dphi_se: np.ndarray

    @property
    def drift(self) -> np.ndarray:
        """(1 − m²) φ′(m), the ODE right-hand side."""
        return (1 - self.m**2) * self.dphi


@functools.lru_cache(maxsize=32)
def _mc_program(d, K, M, sign, n_grid, chunk, n_chunks):
    N = K + M
    dt = jnp.float64

    def per_draw(key, m, theta_d, beta):
        eps = _signs(stream(key, "eps"), K, sign, dt)
        g = normal(stream(key, "g"), (N,), dt)
        g_inf = g[:K]
        if M:  # nuisance tokens do not depend on m: their softmax sums once per draw
            s_nui = beta * g[K:]
            c_nui = jnp.max(s_nui)
            e_nui = jnp.exp(s_nui - c_nui)
            sums = (e_nui.sum(), e_nui @ g[K:], e_nui @ e_nui)
        else:
            c_nui, sums = -jnp.inf, (0.0, 0.0, 0.0)

        def f(mm):
            sig = g_inf + theta_d * eps * mm
            s_inf = beta * sig
            top = jnp.maximum(c_nui, jnp.max(s_inf))
            e = jnp.exp(s_inf - top)
            w = jnp.exp(c_nui - top)  # rescales the nuisance sums to the common shift
            Z = w * sums[0] + e.sum()
            y1 = (w * sums[1] + e @ sig) / Z
            A = (e @ eps) / Z
            sum_a2 = (w * w * sums[2] + e @ e) / Z**2
            return y1**2 + (1 - mm**2) * theta_d**2 * A**2 + (d - 1) * sum_a2

        return jax.vmap(lambda mm: jax.jvp(f, (mm,), (jnp.ones_like(mm),)))(m)

    @jit_xla_reductions
    def run(keys, m, theta_d, beta):
        def do_chunk(ks):
            v, dv = jax.vmap(per_draw, in_axes=(0, None, None, None))(ks, m, theta_d, beta)
            return v.sum(0), (v**2).sum(0), dv.sum(0), (dv**2).sum(0)

        s = jax.lax.map(do_chunk, keys.reshape(n_chunks, chunk, *keys.shape[1:]))
        return tuple(x.sum(0) for x in s)

    return run


def mc_chunk(model: SubspaceModel, n_grid: int, n_samples: int) -> int:
    """Draws per Monte-Carlo chunk: a power of two keeping chunk × (N + n_grid·K) ≤ 2^23 floats
    (a draw holds its N scores and, per grid point, the K informative ones)."""
    fit = max(1, MC_CHUNK_ELEMENTS // (model.N + n_grid * model.K))
    return min(256, 2 ** int(math.log2(fit)), 2 ** int(math.log2(max(n_samples, 2))))


@uses_jax
def phi_monte_carlo(
    model: SubspaceModel, m: Any, *, key: Any, n_samples: int, chunk: int | None = None
) -> PhiEstimate:
    r"""Exact symmetry-reduced Monte-Carlo of φ(m) and φ′(m) (module docstring):

    .. math:: \varphi(m) = \mathbb E\Big[\big(\textstyle\sum_i a_i\sigma_i\big)^2
       + (1-m^2)\theta_d^2\big(\sum_{i<K} a_i\varepsilon_i\big)^2 + (d-1)\sum_i a_i^2\Big].

    Parameters
    ----------
    model : SubspaceModel
    m : float or array
        Grid of overlaps in [−1, 1] (common random numbers over the grid).
    key : jax key
    n_samples : int
        Draws, ``>= 2``; rounded up to a multiple of ``chunk``.
    chunk : int, optional
        Draws per compiled chunk (default: bounded by memory, :func:`mc_chunk`).

    Returns
    -------
    PhiEstimate
        φ, φ′ and their standard errors on the grid. Cost O(n_samples · (N + len(m) · K)).
    """
    n_samples = check_int("n_samples", n_samples, lo=2)
    m_arr = check_m(m)
    chunk = mc_chunk(model, len(m_arr), n_samples) if chunk is None else chunk
    chunk = min(check_int("chunk", chunk, lo=1), n_samples)
    key = as_key_batch(key)[0][0]
    n_chunks = -(-n_samples // chunk)
    S = n_chunks * chunk
    keys = jax.random.split(key, S).reshape(n_chunks, chunk)
    grid = jnp.asarray(m_arr)
    sums = np.zeros((4, len(m_arr)))
    done = 0
    with progress.track("Monte-Carlo φ: draws", total=S) as bar:
        for size in progress.chunks(n_chunks):
            run = _mc_program(model.d, model.K, model.M, model.sign, len(m_arr), chunk, size)
            part = run(keys[done : done + size].reshape(-1), grid, model.theta_d, model.beta)
            sums += np.asarray(part)
            done += size
            bar.advance(size * chunk)
    s1, s2, d1, d2 = sums
    mean, dmean = s1 / S, d1 / S
    se = np.sqrt(np.maximum(s2 / S - mean**2, 0) / (S - 1))
    dse = np.sqrt(np.maximum(d2 / S - dmean**2, 0) / (S - 1))
    return PhiEstimate(m=m_arr, phi=mean, phi_se=se, dphi=dmean, dphi_se=dse)
