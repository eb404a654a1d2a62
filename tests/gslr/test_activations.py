"""Activations: definitions, masks, one-line errors, custom callables."""

from __future__ import annotations

import numpy as np
import pytest

from attnlab._jax import jnp
from attnlab._validate import ParameterError
from attnlab.gslr import activation_names, predict, resolve_activation


@pytest.mark.parametrize("name", ["softmax", "linear", "erf", "softplus"])
def test_activations_respect_mask_and_definitions(name):
    chi = jnp.array([[0.3, -1.2, 0.7], [2.0, 0.1, -0.5]])
    mask = jnp.array([[True, True, False], [True, True, True]])
    s = np.asarray(resolve_activation(name)(chi, mask))
    assert s[0, 2] == 0
    c = np.asarray(chi)
    if name == "softmax":
        e = np.exp(c[0, :2])
        np.testing.assert_allclose(s[0, :2], e / e.sum(), rtol=1e-6)
    elif name == "linear":
        np.testing.assert_allclose(s[1], 1 + c[1], rtol=1e-6)
    elif name == "erf":
        from scipy.special import erf

        np.testing.assert_allclose(s[1], 1 + erf(c[1]), rtol=1e-6)
    else:
        sp = np.log1p(np.exp(c[1]))
        np.testing.assert_allclose(s[1], sp / sp.sum(), rtol=1e-6)
    assert name in activation_names()


def test_activation_errors_are_one_line():
    with pytest.raises(ParameterError, match="activation = 'relu' is not one of"):
        resolve_activation("relu")
    with pytest.raises(ParameterError, match="must map chi"):
        resolve_activation(lambda chi, mask: chi.sum())
    custom = resolve_activation(lambda chi, mask: jnp.where(mask, jnp.tanh(chi), 0.0))
    assert custom(jnp.zeros((1, 2)), jnp.ones((1, 2), bool)).shape == (1, 2)


def test_predict_is_attention_output():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(4, 3, 5))
    mask = np.ones((4, 3), bool)
    k, v = rng.normal(size=5), rng.normal(size=5)
    chi, z = X @ k / np.sqrt(5), X @ v / np.sqrt(5)
    e = np.exp(chi - chi.max(-1, keepdims=True))
    expected = np.sum(e / e.sum(-1, keepdims=True) * z, -1)
    out = predict(k, v, X, mask, "softmax")
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, expected, rtol=1e-12)


@pytest.mark.parametrize("name", ["softmax", "linear", "erf", "softplus"])
def test_closed_form_prox_derivatives_equal_jax_derivatives(name):
    # the replica prox uses closed-form derivatives for the built-ins; they must be jax's
    # derivatives of the same functions (the callable without its parts is differentiated by
    # jax), to float64 rounding: relative 1e-12 of the entries' scale
    import jax

    from attnlab.gslr._activations import derivative_parts, erf_activation
    from attnlab.gslr._prox import _loss_hessian, _reduced_grad_hess
    from attnlab.precision import _enable_x64

    sigma = resolve_activation(name) if name != "erf" else erf_activation(0.3)
    assert derivative_parts(sigma) is not None

    def plain(chi, mask):  # the same function, without closed-form parts
        return sigma(chi, mask)

    assert derivative_parts(plain) is None
    rng = np.random.default_rng(3)
    grad_hess = jax.jit(_reduced_grad_hess, static_argnums=0)
    with _enable_x64(True):  # as attnlab's replica code runs (float64)
        for mask in ([True, True, True], [True, False, True], [True, False, False]):
            m = jnp.array(mask)
            for scale in (0.5, 3.0):
                chi, omk, omv, z = (jnp.asarray(scale * rng.normal(size=3)) for _ in range(4))
                ex = (jnp.asarray(0.7), omk, omv, m)
                g1, h1 = grad_hess(sigma, chi, ex, 1.3, 0.6)
                g2, h2 = grad_hess(plain, chi, ex, 1.3, 0.6)
                tol = 1e-12 * (1 + float(jnp.max(jnp.abs(h2))))
                np.testing.assert_allclose(np.asarray(g1), np.asarray(g2), rtol=0, atol=tol)
                np.testing.assert_allclose(np.asarray(h1), np.asarray(h2), rtol=0, atol=tol)
                j1 = _loss_hessian(sigma, chi, z, 0.7, m)
                j2 = _loss_hessian(plain, chi, z, 0.7, m)
                tol = 1e-12 * (1 + float(jnp.max(jnp.abs(j2))))
                np.testing.assert_allclose(np.asarray(j1), np.asarray(j2), rtol=0, atol=tol)
