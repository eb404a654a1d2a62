"""Samplers: sign laws, the spiked token second moment, directions."""

import math

import jax
import numpy as np
import pytest

from attnlab import ParameterError
from attnlab.subspace import SubspaceModel, sample_direction, sample_signs, sample_tokens


def test_sign_laws():
    k = jax.random.key(3)
    m = SubspaceModel(K=2000)
    assert np.all(sample_signs(m.replace(sign="fixed"), k) == 1)
    seq = sample_signs(m.replace(sign="sequence"), k)
    assert np.all(seq == seq[0]) and abs(seq[0]) == 1
    tok = sample_signs(m, k)
    assert set(np.unique(tok)) == {-1.0, 1.0}
    # mean of 2000 Rademacher signs: sd 1/√2000, 4 sd
    assert abs(tok.mean()) < 4 / math.sqrt(2000)
    gau = sample_signs(m.replace(sign="gaussian"), k)
    assert len(np.unique(gau)) == 2000
    # E ε² = 1 with sd √(2/2000) of the sample mean of ε²: 4 sd
    np.testing.assert_allclose((gau**2).mean(), 1.0, atol=4 * math.sqrt(2 / 2000))


@pytest.mark.parametrize("scaling", ["sqrt_d", "none"])
def test_token_second_moment_is_spiked(scaling):
    """E x xᵀ = I + λ uuᵀ: ⟨u, S u⟩ − 1 ≈ λ and the orthogonal second moment ≈ 1."""
    model = SubspaceModel(d=16, K=40, M=60, theta=0.5, theta_scaling=scaling)
    u = np.zeros(16)
    u[0] = 1.0
    X = sample_tokens(model, jax.random.split(jax.random.key(1), 200), u).reshape(-1, 16)
    n = X.shape[0]
    se = (X[:, 0] ** 2).std() / math.sqrt(n)  # 4 standard errors of the mean of x_0²
    np.testing.assert_allclose((X[:, 0] ** 2).mean() - 1, model.spike, atol=4 * se)
    np.testing.assert_allclose((X[:, 1:] ** 2).mean(), 1.0, atol=4 * math.sqrt(2 / (n * 15)))


def test_direction_is_unit_and_batch_independent():
    keys = jax.random.split(jax.random.key(0), 5)
    v = sample_direction(keys, 7)
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(sample_direction(keys[2], 7), v[2], rtol=1e-14)
    assert sample_direction(keys[0], 1).shape == (1,)


@pytest.mark.parametrize("d", [0, -3, 2.5, np.nan])
def test_direction_refuses_bad_dimension(d):
    """sample_direction(d=0) used to return an empty array."""
    with pytest.raises(ParameterError, match="^d = "):
        sample_direction(jax.random.key(0), d)


def test_tokens_refuse_wrong_direction():
    model = SubspaceModel(d=4, K=2, M=3)
    with pytest.raises(ParameterError, match="u has shape"):
        sample_tokens(model, jax.random.key(0), np.ones(5))
    with pytest.raises(ParameterError, match="non-finite"):
        sample_tokens(model, jax.random.key(0), [1.0, np.nan, 0, 0])
