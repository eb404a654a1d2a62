r"""Attention activations and the predictor :math:`f(X) = \sigma(\chi)^\top z`.

An activation is ONE function ``sigma(chi, mask) -> weights`` mapping the scores
:math:`\chi \in \mathbb R^{L_{\max}}` (a batch of them, shape ``(..., L_max)``) and a boolean
mask of valid tokens to attention weights (zero on padded tokens). It is a jax function of jax
arrays (ERM and the replica prox differentiate it; it is called inside attnlab's compiled code,
so it is not itself wrapped by :func:`attnlab.precision.uses_jax`), and it must be
permutation-equivariant over tokens (the population quadrature uses this). Built in:

* ``softmax``: :math:`\sigma_\ell = e^{\chi_\ell} / \sum_{\ell'} e^{\chi_{\ell'}}`;
* ``linear``: :math:`\sigma_\ell = 1 + \chi_\ell`;
* ``erf``: :math:`\sigma_\ell = 1 + \mathrm{erf}(c + \chi_\ell)` (``c = 0``;
  :func:`erf_activation` for another ``c``);
* ``softplus``: :math:`\sigma_\ell = \mathrm{softplus}(\chi_\ell) / \sum_{\ell'}
  \mathrm{softplus}(\chi_{\ell'})`.

:func:`resolve_activation` accepts a registered name or any such callable;
:func:`register_activation` adds a name.

The built-ins are of two shapes: *element-wise*, :math:`\sigma_\ell = p(\chi_\ell)` (linear,
erf), and *normalised*, :math:`\sigma_\ell = p(\chi_\ell)/\sum_{\ell'} p(\chi_{\ell'})`
(softmax with :math:`p = \exp`, softplus). Each carries :func:`derivative_parts`: the scalar
function :math:`p` with :math:`p'` and :math:`p''`, from which the replica prox forms the
Jacobian of :math:`\sigma` and its second derivatives in closed form
(:func:`activation_jet`). A user's callable has none and is differentiated by jax.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from attnlab._jax import jax, jnp
from attnlab._validate import ParameterError
from attnlab.precision import uses_jax

__all__ = [
    "Activation",
    "activation_label",
    "activation_names",
    "check_activation_names",
    "erf_activation",
    "linear_activation",
    "predict",
    "register_activation",
    "resolve_activation",
    "softmax_activation",
    "softplus_activation",
]

Activation = Callable[[jax.Array, jax.Array], jax.Array]

_PARTS_ATTRIBUTE = "_attnlab_derivative_parts"


class DerivativeParts(NamedTuple):
    """The scalar function behind a built-in activation (module docstring): ``normalised``
    or element-wise, and ``parts(chi, mask) -> (p, p', p'')`` on valid tokens (any values on
    padded ones; they are masked). For a normalised activation ``p`` may be scaled by any
    positive factor shared by the tokens of a sequence (softmax shifts its exponent)."""

    normalised: bool
    parts: Callable[[jax.Array, jax.Array], tuple[jax.Array, jax.Array, jax.Array]]


def _with_parts(fn: Activation, normalised: bool, parts: Callable) -> Activation:
    setattr(fn, _PARTS_ATTRIBUTE, DerivativeParts(normalised, parts))
    return fn


def derivative_parts(sigma: Activation) -> DerivativeParts | None:
    """The :class:`DerivativeParts` of a built-in activation; None for any other callable.

    Parameters
    ----------
    sigma : callable

    Returns
    -------
    DerivativeParts or None
    """
    return getattr(sigma, _PARTS_ATTRIBUTE, None)


def activation_jet(
    parts: DerivativeParts, chi: jax.Array, mask: jax.Array
) -> tuple[jax.Array, jax.Array, Callable[[jax.Array], jax.Array]]:
    r"""The weights of one sequence, their Jacobian and their second derivatives, in closed form.

    With :math:`d_1 = p'/P`, :math:`d_2 = p''/P` (:math:`P = \sum_{\ell'} p(\chi_{\ell'})` for
    a normalised activation, 1 for an element-wise one, :math:`n = 1` or 0 accordingly):

    .. math::
        J_{ab} = \frac{\partial\sigma_a}{\partial\chi_b} = \delta_{ab} d_{1a}
            - n\,\sigma_a d_{1b}, \qquad
        M(\beta)_{ab} = \frac{\partial^2 (\beta^\top\sigma)}{\partial\chi_a\partial\chi_b}
            = \delta_{ab} d_{2a}\bar\beta_a - n\, d_{1a} d_{1b} (\bar\beta_a + \bar\beta_b),

    where :math:`\bar\beta = \beta - n\,(\beta^\top\sigma)\mathbf 1`. Padded tokens
    have zero rows and columns.

    Parameters
    ----------
    parts : DerivativeParts
    chi : jax.Array, shape (L_max,)
    mask : bool jax.Array, shape (L_max,)

    Returns
    -------
    s : jax.Array, shape (L_max,)
        :math:`\sigma(\chi)`.
    J : jax.Array, shape (L_max, L_max)
    M : callable
        :math:`\beta \mapsto M(\beta)`, shape (L_max, L_max), symmetric.
    """
    p, dp, d2p = parts.parts(chi, mask)
    p, dp, d2p = (jnp.where(mask, x, 0.0) for x in (p, dp, d2p))
    n = 1.0 if parts.normalised else 0.0
    total = jnp.sum(p) if parts.normalised else 1.0
    s, d1, d2 = p / total, dp / total, d2p / total
    J = jnp.diag(d1) - n * jnp.outer(s, d1)

    def M(beta: jax.Array) -> jax.Array:
        centred = beta - n * jnp.sum(beta * s)
        return jnp.diag(d2 * centred) - n * jnp.outer(d1, d1) * (
            centred[:, None] + centred[None, :]
        )

    return s, J, M


def softmax_activation(chi: jax.Array, mask: jax.Array) -> jax.Array:
    r"""Softmax attention, :math:`\sigma_\ell = e^{\chi_\ell}/\sum_{\ell'\ \rm valid}
    e^{\chi_{\ell'}}` on valid tokens, 0 on padding.

    Parameters
    ----------
    chi : jax.Array, shape (..., L_max)
        Scores.
    mask : bool jax.Array, shape (..., L_max)
        Valid tokens.

    Returns
    -------
    jax.Array
        The weights, shape of ``chi``.
    """
    e = _shifted_exp(chi, mask)
    return e / jnp.sum(e, axis=-1, keepdims=True)


def _shifted_exp(chi: jax.Array, mask: jax.Array) -> jax.Array:
    r""":math:`e^{\chi_\ell - \max_{\rm valid}\chi}` on valid tokens, 0 on padding."""
    shifted = jnp.where(mask, chi, jnp.finfo(chi.dtype).min)
    top = jax.lax.stop_gradient(jnp.max(shifted, axis=-1, keepdims=True))
    return jnp.where(mask, jnp.exp(jnp.where(mask, chi, 0.0) - top), 0.0)


def _softmax_parts(chi: jax.Array, mask: jax.Array) -> tuple:
    e = _shifted_exp(chi, mask)
    return e, e, e  # p = exp, scaled by exp(-max) (shared by the tokens)


_with_parts(softmax_activation, True, _softmax_parts)


def linear_activation(chi: jax.Array, mask: jax.Array) -> jax.Array:
    r"""Linear attention, :math:`\sigma_\ell = 1 + \chi_\ell` (0 on padding).

    Parameters
    ----------
    chi : jax.Array, shape (..., L_max)
    mask : bool jax.Array, shape (..., L_max)

    Returns
    -------
    jax.Array
        The weights (not normalised).
    """
    return jnp.where(mask, 1.0 + chi, 0.0)


_with_parts(
    linear_activation,
    False,
    lambda chi, mask: (1.0 + chi, jnp.ones_like(chi), jnp.zeros_like(chi)),
)


def erf_activation(c: float = 0.0) -> Activation:
    r"""The element-wise activation :math:`\sigma_\ell = 1 + \mathrm{erf}(c + \chi_\ell)`.

    Parameters
    ----------
    c : float
        The offset (finite).

    Returns
    -------
    callable
        ``sigma(chi, mask)``.
    """
    from attnlab._validate import check_range

    check_range("c", c, lo=-1e6, hi=1e6)
    c = float(c)

    def sigma(chi: jax.Array, mask: jax.Array) -> jax.Array:
        return jnp.where(mask, 1.0 + jax.scipy.special.erf(c + chi), 0.0)

    def parts(chi: jax.Array, mask: jax.Array) -> tuple:
        x = c + chi
        slope = 2.0 / np.sqrt(np.pi) * jnp.exp(-x * x)
        return 1.0 + jax.scipy.special.erf(x), slope, -2.0 * x * slope

    sigma.__name__ = f"erf_activation(c={c:g})"
    return _with_parts(sigma, False, parts)


def softplus_activation(chi: jax.Array, mask: jax.Array) -> jax.Array:
    r"""Softplus-normalised attention, :math:`\sigma_\ell = \mathrm{softplus}(\chi_\ell)
    / \sum_{\ell'} \mathrm{softplus}(\chi_{\ell'})`.

    Parameters
    ----------
    chi, mask : jax.Array
        As in :func:`softmax_activation`.

    Returns
    -------
    jax.Array
    """
    sp = jnp.where(mask, jax.nn.softplus(chi), 0.0)
    return sp / jnp.sum(sp, axis=-1, keepdims=True)


def _softplus_parts(chi: jax.Array, mask: jax.Array) -> tuple:
    logistic = jax.nn.sigmoid(chi)
    return jax.nn.softplus(chi), logistic, logistic * (1.0 - logistic)


_with_parts(softplus_activation, True, _softplus_parts)


_ACTIVATIONS: dict[str, Activation] = {
    "softmax": softmax_activation,
    "linear": linear_activation,
    "erf": erf_activation(0.0),
    "softplus": softplus_activation,
}


def activation_names() -> tuple[str, ...]:
    """The registered activation names.

    Returns
    -------
    tuple of str
    """
    return tuple(_ACTIVATIONS)


def check_activation_names(names: list[str]) -> list[str]:
    """The names if every one is registered, else a ``ValueError`` listing the unknown ones.

    Parameters
    ----------
    names : list of str

    Returns
    -------
    list of str
    """
    bad = [a for a in names if a not in _ACTIVATIONS]
    if bad:
        raise ValueError(f"unknown activation(s) {bad}: must be in {list(_ACTIVATIONS)}")
    return names


def register_activation(name: str, fn: Activation) -> None:
    """Register ``fn(chi, mask) -> weights`` under ``name`` (checked on a small input).

    Parameters
    ----------
    name : str
        The name experiments and functions will accept.
    fn : callable
        ``sigma(chi, mask)``, see the module docstring.
    """
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
    """The activation function of a registered name or a callable (checked on a small input).

    Parameters
    ----------
    activation : str or callable
        ``"softmax"``, ``"linear"``, ``"erf"``, ``"softplus"``, another registered name, or a
        function ``sigma(chi, mask)``.

    Returns
    -------
    callable
    """
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
    """A name for tables: the registered name or the callable's ``__name__``.

    Parameters
    ----------
    activation : str or callable

    Returns
    -------
    str
    """
    return activation if isinstance(activation, str) else getattr(activation, "__name__", "custom")


def _attention_output(chi: Any, z: Any, mask: Any, sigma: Activation) -> Any:
    return jnp.sum(sigma(chi, mask) * jnp.where(mask, z, 0.0), axis=-1)


def _scores_values(X: Any, k: Any, v: Any) -> tuple[Any, Any]:
    """``chi = X k/sqrt(D)``, ``z = X v/sqrt(D)`` in one pass over ``X`` (``X @ [k v]``)."""
    D = X.shape[-1]
    P = X @ (jnp.stack([k, v], axis=-1).astype(X.dtype) / jnp.sqrt(D).astype(X.dtype))
    return P[..., 0], P[..., 1]


def _predict(k: Any, v: Any, X: Any, mask: Any, sigma: Activation) -> Any:
    chi, z = _scores_values(X, k, v)
    return _attention_output(chi, z, mask, sigma)


@uses_jax
def predict(k: Any, v: Any, X: Any, mask: Any, activation: str | Activation) -> np.ndarray:
    r"""The attention predictor on a batch of sequences.

    .. math:: f(X) = \sum_\ell \sigma_\ell(\chi)\, z_\ell, \qquad
        \chi = X k/\sqrt D, \quad z = X v/\sqrt D.

    Parameters
    ----------
    k, v : array, shape (D,)
        Key and value vectors.
    X : array, shape (n, L_max, D)
        Tokens.
    mask : bool array, shape (n, L_max)
        Valid tokens.
    activation : str or callable
        A registered name or a function ``sigma(chi, mask)`` (:func:`resolve_activation`).

    Returns
    -------
    numpy.ndarray
        Shape ``(n,)``.
    """
    sigma = resolve_activation(activation)
    X = jnp.asarray(X)
    return np.asarray(_predict(jnp.asarray(k), jnp.asarray(v), X, jnp.asarray(mask), sigma))
