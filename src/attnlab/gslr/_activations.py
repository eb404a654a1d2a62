"""Attention activations and the predictor ``f(X) = sigma(chi)^T z`` (spec ``slr.md`` B.2).

An activation is ONE function ``sigma(chi, mask) -> weights`` mapping the scores
``chi in R^{L_max}`` and a boolean mask of valid tokens to attention weights (zero on padded
tokens). It must be written with ``jax.numpy`` (it is differentiated by ERM and by the replica
prox) and be permutation-equivariant over tokens (the quadrature of B.3 uses this). Built in:

* ``softmax``: ``sigma_l = e^{chi_l} / sum_l' e^{chi_l'}``;
* ``linear``: ``sigma_l = 1 + chi_l``;
* ``erf``: ``sigma_l = 1 + erf(c + chi_l)`` (``c = 0``; :func:`erf_activation` for other ``c``);
* ``softplus``: ``sigma_l = softplus(chi_l) / sum_l' softplus(chi_l')``.

:func:`resolve_activation` accepts a registered name or any such callable;
:func:`register_activation` adds a name.
"""

from __future__ import annotations

from collections.abc import Callable

from attnlab._jax import jax, jnp
from attnlab._validate import ParameterError

Activation = Callable[[jax.Array, jax.Array], jax.Array]


def softmax_activation(chi: jax.Array, mask: jax.Array) -> jax.Array:
    """``sigma_l = exp(chi_l) / sum_valid exp(chi)`` on valid tokens, 0 on padding."""
    shifted = jnp.where(mask, chi, -1e300)
    top = jax.lax.stop_gradient(jnp.max(shifted, axis=-1, keepdims=True))
    e = jnp.where(mask, jnp.exp(jnp.where(mask, chi, 0.0) - top), 0.0)
    return e / jnp.sum(e, axis=-1, keepdims=True)


def linear_activation(chi: jax.Array, mask: jax.Array) -> jax.Array:
    """``sigma_l = 1 + chi_l`` (linear attention)."""
    return jnp.where(mask, 1.0 + chi, 0.0)


def erf_activation(c: float = 0.0) -> Activation:
    """Element-wise ``sigma_l = 1 + erf(c + chi_l)``."""
    c = float(c)

    def sigma(chi: jax.Array, mask: jax.Array) -> jax.Array:
        return jnp.where(mask, 1.0 + jax.scipy.special.erf(c + chi), 0.0)

    sigma.__name__ = f"erf_activation(c={c:g})"
    return sigma


def softplus_activation(chi: jax.Array, mask: jax.Array) -> jax.Array:
    """``sigma_l = softplus(chi_l) / sum_valid softplus(chi)``."""
    sp = jnp.where(mask, jax.nn.softplus(chi), 0.0)
    return sp / jnp.sum(sp, axis=-1, keepdims=True)


_ACTIVATIONS: dict[str, Activation] = {
    "softmax": softmax_activation,
    "linear": linear_activation,
    "erf": erf_activation(0.0),
    "softplus": softplus_activation,
}


def activation_names() -> tuple[str, ...]:
    return tuple(_ACTIVATIONS)


def register_activation(name: str, fn: Activation) -> None:
    """Register ``fn(chi, mask) -> weights`` under ``name`` (checked on a small input)."""
    _check_callable(fn, name)
    _ACTIVATIONS[str(name)] = fn


def _check_callable(fn: Activation, name: str) -> None:
    try:
        out = fn(jnp.array([[0.3, -0.2, 0.1]]), jnp.array([[True, True, False]]))
        ok = getattr(out, "shape", None) == (1, 3)
    except Exception as err:  # noqa: BLE001 - report any failure as one line
        raise ParameterError(
            f"activation {name!r} failed on a (1, 3) test input: {type(err).__name__}: {err}"
        ) from None
    if not ok:
        raise ParameterError(
            f"activation {name!r} must map chi of shape (n, L) and a mask to shape (n, L)"
        )


def resolve_activation(activation: str | Activation) -> Activation:
    """A registered name (``softmax``, ``linear``, ``erf``, ``softplus``, …) or a callable."""
    if callable(activation):
        _check_callable(activation, getattr(activation, "__name__", repr(activation)))
        return activation
    if activation not in _ACTIVATIONS:
        raise ParameterError(
            f"activation = {activation!r} is not one of {', '.join(map(repr, _ACTIVATIONS))} "
            "(or pass a callable sigma(chi, mask))"
        )
    return _ACTIVATIONS[activation]


def activation_label(activation: str | Activation) -> str:
    return activation if isinstance(activation, str) else getattr(activation, "__name__", "custom")


def attention_output(
    chi: jax.Array, z: jax.Array, mask: jax.Array, activation: str | Activation
) -> jax.Array:
    """``f = sum_l sigma_l(chi) z_l`` for scores ``chi`` and values ``z`` of shape (..., L)."""
    sigma = resolve_activation(activation)
    return jnp.sum(sigma(chi, mask) * jnp.where(mask, z, 0.0), axis=-1)


def predict(
    k: jax.Array, v: jax.Array, X: jax.Array, mask: jax.Array, activation: str | Activation
) -> jax.Array:
    """``f(X) = sigma(X k/sqrt(D))^T (X v/sqrt(D))`` for ``X`` of shape ``(n, L_max, D)``."""
    D = X.shape[-1]
    chi = X @ k / jnp.sqrt(D)
    z = X @ v / jnp.sqrt(D)
    return attention_output(chi, z, mask, activation)
