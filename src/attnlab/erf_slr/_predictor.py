r"""The erf-attention predictor :math:`T_\lambda(X) = \sum_\ell \mathrm{erf}(\lambda\langle k,
x_\ell\rangle)\langle v, x_\ell\rangle` (unit k, v; invariant under (k, v) → (−k, −v))."""

from __future__ import annotations

from typing import Any

import numpy as np

from attnlab._jax import jax, jnp
from attnlab._validate import ParameterError
from attnlab.erf_slr._model import check_lam
from attnlab.precision import uses_jax

__all__ = ["erf_attention"]


@uses_jax
def erf_attention(X: Any, k: Any, v: Any, *, lam: float) -> np.ndarray:
    r""":math:`T_\lambda(X) = \sum_\ell \mathrm{erf}(\lambda\langle k, x_\ell\rangle)
    \langle v, x_\ell\rangle` over the token axis −2 of ``X``.

    Parameters
    ----------
    X : array, shape (..., L, d)
    k, v : array, shape (d,)
    lam : float
        Temperature :math:`\lambda`, in ``(0, 1000]``.

    Returns
    -------
    numpy.ndarray, shape (...)
    """
    lam = check_lam(lam)
    X, k, v = (np.asarray(a, dtype=float) for a in (X, k, v))
    if X.ndim < 2 or k.shape != (X.shape[-1],) or v.shape != k.shape:
        raise ParameterError(
            f"X {X.shape}, k {k.shape}, v {v.shape}: need X (..., L, d) and k, v of shape (d,)"
        )
    return np.asarray(_predict(jnp.asarray(X), jnp.asarray(k), jnp.asarray(v), lam))


def _predict(X, k, v, lam):
    return jnp.sum(jax.scipy.special.erf(lam * (X @ k)) * (X @ v), axis=-1)


def empirical_mse(X, y, k, v, lam):
    """``(1/n) Σ_μ (T_λ(X_μ) − y_μ)²`` (unvalidated, jit/grad friendly)."""
    return jnp.mean((_predict(X, k, v, lam) - y) ** 2)
