"""Independent routes to the excess risk of erf attention: 1-D quadrature of the conditional
Gaussian moments (no Stein reductions) and Monte-Carlo of the data law."""

from __future__ import annotations

import math
from functools import partial
from typing import Any

import numpy as np

from attnlab._jax import jax, jnp
from attnlab._validate import ParameterError, check_int
from attnlab.erf_slr._data import _sample, check_teacher
from attnlab.erf_slr._model import ErfSLRModel, check_lam
from attnlab.erf_slr._predictor import _predict
from attnlab.erf_slr._risk import _GH_W, _GH_Z, _erf, _model_args, check_overlaps
from attnlab.precision import uses_jax
from attnlab.rng import as_key_batch

__all__ = ["excess_risk_reference", "monte_carlo_excess_risk"]


def _excess_risk_reference(kappa, nu, theta, eta, rho, d, L, gamma, lam):
    """ℰ by 1-D Gauss–Hermite integrals over u = ⟨k, g⟩ of the conditional moments."""
    ov = [jnp.asarray(x)[..., None] for x in (kappa, nu, theta, eta, rho)]
    kappa, nu, theta, eta, rho = ov
    u, w = _GH_Z, _GH_W
    mean_b = math.sqrt(d / 2.0) * theta + gamma * rho * u  # E[b | u]
    f = _erf(lam * (math.sqrt(d / 2.0) * kappa + gamma * u))
    e_bb = mean_b**2 + gamma**2 * (1.0 - rho**2)  # E[b² | u]
    e_bc = mean_b * gamma * eta * u + gamma**2 * (nu - rho * eta)  # E[b c | u]
    hidden_sq = jnp.sum(w * (f**2 * e_bb - 2.0 * f * e_bc), axis=-1) + gamma**2
    hidden_mean = jnp.sum(w * f * mean_b, axis=-1)
    f0 = _erf(lam * u)
    other_mean = jnp.sum(w * f0 * rho * u, axis=-1)
    other_sq = jnp.sum(w * f0**2 * (rho**2 * u**2 + 1.0 - rho**2), axis=-1)
    return (
        hidden_sq
        + 2.0 * (L - 1) * hidden_mean * other_mean
        + (L - 1) * other_sq
        + (L - 1) * (L - 2) * other_mean**2
    )


@uses_jax
def excess_risk_reference(model: ErfSLRModel, overlaps: Any, *, lam: float) -> np.ndarray:
    r""":math:`\mathcal E` by direct 1-D quadrature of the conditional Gaussian moments (module
    docstring): an independent check of the closed form (accurate for λγ ≲ 2).

    Parameters
    ----------
    model, overlaps, lam
        As for :func:`~attnlab.erf_slr.excess_risk`.

    Returns
    -------
    numpy.ndarray
        :math:`\mathcal E` at each broadcast point.
    """
    d, L, gamma, lam = _model_args(model, lam)
    ov = check_overlaps(overlaps)
    return np.asarray(_excess_risk_reference(*ov, d, L, gamma, lam))


@uses_jax
def monte_carlo_excess_risk(
    model: ErfSLRModel,
    key: Any,
    k: Any,
    v: Any,
    *,
    k_star: Any,
    v_star: Any,
    lam: float,
    n: int,
    chunk: int = 4096,
) -> tuple[float, float]:
    r"""Monte-Carlo mean and standard error of :math:`(T_\lambda(X) - \langle x_J,
    v^*\rangle)^2` over ``n`` samples of the data law (noise-free label), drawn in chunks.

    Parameters
    ----------
    model : ErfSLRModel
    key : jax key
    k, v, k_star, v_star : array, shape (d,)
    lam : float
    n : int
        Samples, ``>= 2`` (rounded up to a multiple of ``chunk``).
    chunk : int

    Returns
    -------
    mean, standard_error : float
    """
    lam = check_lam(lam)
    n = check_int("n", n, lo=2, hi=10**10)
    chunk = min(check_int("chunk", chunk, lo=1, hi=10**6), n)
    keys, single = as_key_batch(key)
    if not single:
        raise ParameterError("monte_carlo_excess_risk takes a single key")
    ks, vs = check_teacher(model, k_star, v_star)
    k, v = check_teacher(model, k, v, ("k", "v"))
    n_chunks = -(-n // chunk)
    args = (jnp.asarray(a) for a in (k, v, ks, vs))
    sums = _mc_sums(keys[0], *args, model.L, model.gamma, lam, chunk, n_chunks)
    total = n_chunks * chunk
    mean = float(sums[0]) / total
    var = (float(sums[1]) / total - mean**2) * total / (total - 1)
    return mean, math.sqrt(max(var, 0.0) / total)


@partial(jax.jit, static_argnums=(5, 8, 9))
def _mc_sums(key, k, v, k_star, v_star, L, gamma, lam, chunk, n_chunks):
    def one(i):
        X, y, _ = _sample(jax.random.fold_in(key, i), chunk, k_star, v_star, L, gamma, 0.0)
        sq = (_predict(X, k, v, lam) - y) ** 2
        return jnp.stack([sq.sum(), (sq**2).sum()])

    return jax.lax.map(one, jnp.arange(n_chunks)).sum(axis=0)
