"""The erf-attention predictor of SLR part A (spec ``slr.md`` §A.2).

``T_λ(X) = Σ_ℓ erf(λ⟨k, x_ℓ⟩) ⟨v, x_ℓ⟩`` with unit k, v and temperature λ > 0; invariant under
``(k, v) → (−k, −v)``. Works on any leading batch shape of ``X`` (…, L, d).
"""

from __future__ import annotations

from attnlab._jax import jax, jnp
from attnlab._validate import check_range


def erf_attention(X: jax.Array, k: jax.Array, v: jax.Array, *, lam: float) -> jax.Array:
    """``T_λ(X) = Σ_ℓ erf(λ⟨k, x_ℓ⟩)⟨v, x_ℓ⟩`` over the token axis −2 of ``X`` (…, L, d)."""
    lam = check_range("lam", lam, lo=0, lo_open=True)
    return _predict(X, k, v, lam)


def _predict(X, k, v, lam):
    return jnp.sum(jax.scipy.special.erf(lam * (X @ k)) * (X @ v), axis=-1)


def empirical_mse(X, y, k, v, lam):
    """``(1/n) Σ_μ (T_λ(X_μ) − y_μ)²`` (unvalidated, jit/grad friendly)."""
    return jnp.mean((_predict(X, k, v, lam) - y) ** 2)


__all__ = ["erf_attention"]
