"""Data model of spec §1: informative and nuisance tokens on R^d.

Each step draws a fresh sequence X ∈ R^{N×d}, N = K + M:

    x_i = θ_d ε_i u + z_i   (i < K, informative),      x_j = z_j   (j ≥ K, nuisance),

z ~ N(0, I_d) i.i.d., θ_d = θ·√d (``theta_scaling="sqrt_d"``, per-token SNR θ²) or θ_d = θ
(``"none"``). Sign laws ``sign``: ``"token"`` (ε_i i.i.d. Rademacher), ``"sequence"`` (one
Rademacher sign per sequence), ``"gaussian"`` (ε_i ~ N(0, 1)), ``"fixed"`` (ε_i ≡ 1, breaks the
±u symmetry). Token order is irrelevant, so the informative tokens are the first K rows.
"""

from __future__ import annotations

import math

from attnlab._jax import jax, jnp
from attnlab._validate import ParameterError, check_choice, check_int, check_range
from attnlab.rng import stream

SIGN_LAWS = ("token", "sequence", "gaussian", "fixed")
THETA_SCALINGS = ("sqrt_d", "none")

__all__ = [
    "SIGN_LAWS",
    "THETA_SCALINGS",
    "check_model",
    "sample_direction",
    "sample_signs",
    "sample_tokens",
    "signal_strength",
]


def check_model(
    *,
    d: int,
    K: int,
    M: int,
    theta: float,
    theta_scaling: str = "sqrt_d",
    sign: str = "token",
    beta: float = 1.0,
) -> dict:
    """Validate the data-model parameters of spec §1–2; return them normalised (one-line errors).

    d ≥ 2, K ≥ 1, M ≥ 0, θ ≥ 0, β ≥ 0, ``theta_scaling`` in THETA_SCALINGS, ``sign`` in SIGN_LAWS.
    """
    return {
        "d": check_int("d", d, lo=2),
        "K": check_int("K", K, lo=1),
        "M": check_int("M", M, lo=0),
        "theta": check_range("theta", theta, lo=0),
        "theta_scaling": check_choice("theta_scaling", theta_scaling, THETA_SCALINGS),
        "sign": check_choice("sign", sign, SIGN_LAWS),
        "beta": check_range("beta", beta, lo=0),
    }


def signal_strength(theta: float, d: int, theta_scaling: str = "sqrt_d") -> float:
    """θ_d: θ·√d for ``"sqrt_d"``, θ for ``"none"`` (spec §1)."""
    theta = check_range("theta", theta, lo=0)
    d = check_int("d", d, lo=2)
    check_choice("theta_scaling", theta_scaling, THETA_SCALINGS)
    return theta * math.sqrt(d) if theta_scaling == "sqrt_d" else theta


def sample_direction(key: jax.Array, d: int, dtype=jnp.float64) -> jax.Array:
    """A uniform unit vector on S^{d-1} (normalised standard Gaussian)."""
    v = jax.random.normal(key, (d,), dtype=dtype)
    return v / jnp.linalg.norm(v)


def _signs(key: jax.Array, K: int, sign: str, dtype) -> jax.Array:
    if sign == "token":
        return jax.random.rademacher(key, (K,), dtype=dtype)
    if sign == "sequence":
        return jax.random.rademacher(key, (), dtype=dtype) * jnp.ones((K,), dtype)
    if sign == "gaussian":
        return jax.random.normal(key, (K,), dtype=dtype)
    if sign == "fixed":
        return jnp.ones((K,), dtype)
    raise ParameterError(f"sign = {sign!r} is not one of {', '.join(map(repr, SIGN_LAWS))}")


def sample_signs(key: jax.Array, *, K: int, sign: str = "token", dtype=jnp.float64) -> jax.Array:
    """The K signs ε_i of one sequence under the sign law ``sign`` (spec §1)."""
    K = check_int("K", K, lo=1)
    check_choice("sign", sign, SIGN_LAWS)
    return _signs(key, K, sign, dtype)


def _tokens(key, u, K, M, theta_d, sign, dtype):
    d = u.shape[-1]
    z = jax.random.normal(stream(key, "z"), (K + M, d), dtype=dtype)
    eps = _signs(stream(key, "eps"), K, sign, dtype)
    spike = jnp.concatenate([theta_d * eps, jnp.zeros((M,), dtype)])
    return z + spike[:, None] * u[None, :]


def sample_tokens(
    key: jax.Array,
    u: jax.Array,
    *,
    K: int,
    M: int,
    theta: float,
    theta_scaling: str = "sqrt_d",
    sign: str = "token",
    dtype=jnp.float64,
) -> jax.Array:
    """One sequence X ∈ R^{(K+M)×d} of spec §1 (informative rows first).

    ``u`` is the hidden unit direction (shape ``(d,)``). The draw is a deterministic function of
    ``key`` (sub-streams ``"z"`` and ``"eps"``), so a baseline can replay the simulator's data.
    """
    u = jnp.asarray(u, dtype=dtype)
    if u.ndim != 1:
        raise ParameterError(f"u has shape {u.shape}: must be a vector of shape (d,)")
    p = check_model(
        d=u.shape[0], K=K, M=M, theta=theta, theta_scaling=theta_scaling, sign=sign, beta=1.0
    )
    theta_d = signal_strength(p["theta"], p["d"], theta_scaling)
    return _tokens(key, u, p["K"], p["M"], theta_d, sign, dtype)
