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
