"""Samplers of the data model: hidden direction, signs and token sequences.

The draws are deterministic functions of the key (sub-streams ``"z"`` and ``"eps"`` for a
sequence), so a baseline can replay exactly the sequences a simulator saw.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from attnlab._jax import jax, jnp, normal
from attnlab._validate import ParameterError, check_int
from attnlab.precision import default_dtype, uses_jax
from attnlab.rng import as_key_batch, stream
from attnlab.subspace._model import SubspaceModel

__all__ = ["sample_direction", "sample_signs", "sample_tokens"]


def _unit(key: Any, d: int, dtype: Any) -> Any:
    v = normal(key, (d,), dtype)
    return v / jnp.linalg.norm(v)


def _signs(key: Any, K: int, sign: str, dtype: Any) -> Any:
    if sign == "token":
        return jax.random.rademacher(key, (K,), dtype=dtype)
    if sign == "sequence":
        return jax.random.rademacher(key, (), dtype=dtype) * jnp.ones((K,), dtype)
    if sign == "gaussian":
        return normal(key, (K,), dtype)
    return jnp.ones((K,), dtype)  # fixed


def _tokens(key: Any, u: Any, K: int, M: int, theta_d: Any, sign: str, dtype: Any) -> Any:
    d = u.shape[-1]
    z = normal(stream(key, "z"), (K + M, d), dtype)
    eps = _signs(stream(key, "eps"), K, sign, dtype)
    spike = jnp.concatenate([theta_d * eps, jnp.zeros((M,), dtype)])
    return z + spike[:, None] * u[None, :]


def _batched(fn: Any, key: Any) -> np.ndarray:
    keys, single = as_key_batch(key)
    out = np.asarray(jax.vmap(fn)(keys))
    return out[0] if single else out


@uses_jax
def sample_direction(key: Any, d: int) -> np.ndarray:
    r"""A uniform unit vector on the sphere :math:`S^{d-1}`: :math:`v = z/\|z\|`,
    :math:`z \sim \mathcal N(0, I_d)`.

    Parameters
    ----------
    key : jax key or array of keys
        One key, or keys of shape ``(n,)`` for n independent directions.
    d : int
        Dimension, ``>= 1``.

    Returns
    -------
    numpy.ndarray
        Shape ``(d,)``, or ``(n, d)`` for an array of keys.
    """
    d = check_int("d", d, lo=1)
    dtype = default_dtype()
    return _batched(lambda k: _unit(k, d, dtype), key)


@uses_jax
def sample_signs(model: SubspaceModel, key: Any) -> np.ndarray:
    """The K signs ε_i of one sequence under the model's sign law.

    Parameters
    ----------
    model : SubspaceModel
    key : jax key or array of keys

    Returns
    -------
    numpy.ndarray
        Shape ``(K,)``, or ``(n, K)`` for an array of n keys.
    """
    dtype = default_dtype()
    return _batched(lambda k: _signs(k, model.K, model.sign, dtype), key)


@uses_jax
def sample_tokens(model: SubspaceModel, key: Any, u: Any) -> np.ndarray:
    r"""One sequence :math:`X \in \mathbb R^{N\times d}` of the model, informative rows first:
    :math:`x_i = \theta_d \varepsilon_i u + z_i` (i < K), :math:`x_j = z_j` (j ≥ K).

    Parameters
    ----------
    model : SubspaceModel
    key : jax key or array of keys
        One key per sequence.
    u : array, shape (d,)
        The hidden unit direction.

    Returns
    -------
    numpy.ndarray
        Shape ``(N, d)``, or ``(n, N, d)`` for an array of n keys.
    """
    dtype = default_dtype()
    u = jnp.asarray(np.asarray(u, dtype=float), dtype=dtype)
    if u.shape != (model.d,):
        raise ParameterError(f"u has shape {tuple(u.shape)}: must be ({model.d},), the model's d")
    if not bool(jnp.all(jnp.isfinite(u))):
        raise ParameterError("u has non-finite entries")
    return _batched(
        lambda k: _tokens(k, u, model.K, model.M, model.theta_d, model.sign, dtype), key
    )
