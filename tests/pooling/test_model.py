"""The pooling data model: label laws, sizes, validation (one-line errors)."""

import jax
import numpy as np
import pytest

from attnlab import ParameterError
from attnlab.config import ConfigError
from attnlab.pooling import (
    CopulaLabels,
    CustomLabels,
    HiddenLabel,
    MarkovLabels,
    PoolingModel,
    validate_correlation,
)

LAWS = [
    HiddenLabel(r0=0.9, q=0.7),
    HiddenLabel(profile="linear", r0=0.8),
    HiddenLabel(profile="constant", r0=0.5),
    MarkovLabels(p=0.6),
    MarkovLabels(p=-0.4),
    CopulaLabels(p=0.5),
]


@pytest.mark.parametrize("law", LAWS, ids=lambda law: law.describe())
def test_label_paths_have_zero_mean_and_correlation_R(law):
    n, L = 200_000, 6
    y = law.sample(jax.random.key(0), n, L).astype(float)
    assert y.dtype == np.float64 and set(np.unique(y)) == {-1.0, 1.0}
    # each entry of the empirical mean / correlation has sd <= 1/sqrt(n) = 0.0022: 5 sd
    np.testing.assert_allclose(y.mean(0), 0, atol=5 / np.sqrt(n))
    np.testing.assert_allclose(y.T @ y / n, law.correlation(L), atol=5 / np.sqrt(n))


def test_hidden_label_correlation_closed_form():
    r = HiddenLabel(r0=0.9, q=0.5).profile_values(4)
    np.testing.assert_allclose(r, [0.9, 0.45, 0.225, 0.1125])
    R = HiddenLabel(r0=0.9, q=0.5).correlation(4)
    np.testing.assert_allclose(R, np.outer(r, r) - np.diag(r**2) + np.eye(4), rtol=1e-15)


def test_sizes_follow_the_ratios():
    model = PoolingModel(d=300, delta=0.7, gamma=2.0, L=3)
    assert model.V % 2 == 0 and model.V == 2 * round(300 / 0.7 / 2) and model.N == 150
    np.testing.assert_allclose(model.realised_delta, 300 / model.V)
    np.testing.assert_allclose(model.realised_gamma, 2.0)
    assert model.correlation.shape == (3, 3) and not model.correlation.flags.writeable


def test_model_is_frozen_and_hashable_by_value():
    a, b = PoolingModel(d=50), PoolingModel(d=50)
    a.correlation  # noqa: B018  (cached, must not affect equality)
    assert a == b and a != PoolingModel(d=51)
    with pytest.raises(Exception, match="frozen"):
        a.d = 3


def test_custom_label_law():
    R = [[1.0, 0.0], [0.0, 1.0]]

    def sampler(key, n):
        return np.where(jax.random.uniform(key, (n, 2)) < 0.5, 1, -1)

    model = PoolingModel(d=10, L=2, labels=CustomLabels(R=R, sampler=sampler))
    assert model.sample_labels(jax.random.key(0), 5).shape == (5, 2)
    bad = PoolingModel(d=10, L=2, labels=CustomLabels(R=R, sampler=lambda key, n: np.zeros((n, 2))))
    with pytest.raises(ParameterError, match="-1, \\+1"):
        bad.sample_labels(jax.random.key(0), 5)


@pytest.mark.parametrize(
    ("values", "match"),
    [
        # the defect: gamma = 10000 at d = 1000 left N = 2 sequences; now refused
        ({"d": 1000, "gamma": 10000}, "gamma = 10000: gives N = round\\(d/gamma\\) = 0"),
        ({"d": 1000, "delta": 5000}, "V = 2 round"),
        ({"gamma": float("inf")}, "gamma = inf"),  # gave all-NaN theory before
        ({"delta": float("nan")}, "delta"),
        ({"d": 1}, "d = 1"),
        ({"L": 0}, "L = 0"),
        ({"d": True}, "boolean"),
        ({"labels": "gaussian"}, "must be one of hidden_label, markov, copula"),
        ({"labels": {"kind": "hidden_label", "r0": 1.5}}, "r0 = 1.5"),
        ({"labels": {"kind": "markov", "p": 2}}, "p = 2"),
        ({"labels": {"kind": "copula", "p": 1.0}}, "p = 1.0"),
        ({"L": 3, "labels": CustomLabels(R=[[1.0, 0.0], [0.0, 1.0]], sampler=print)}, "L = 3"),
    ],
)
def test_invalid_models_are_one_line_errors(values, match):
    with pytest.raises(ParameterError, match=match) as err:
        PoolingModel(**values)
    assert "\n" not in str(err.value)
    assert isinstance(err.value, ConfigError | ParameterError)


@pytest.mark.parametrize(
    ("R", "match"),
    [
        (np.array([[1.0, 0.9], [0.9, 0.5]]), "diagonal"),
        (np.array([[1.0, 2.0], [2.0, 1.0]]), "PSD"),
        (np.array([[1.0, 0.5], [0.2, 1.0]]), "symmetric"),
        (np.array([[1.0, np.nan], [np.nan, 1.0]]), "non-finite|finite number"),
        (np.ones(3), "square"),
    ],
)
def test_invalid_correlation_matrices(R, match):
    with pytest.raises(ParameterError, match=match):
        validate_correlation(R)
    with pytest.raises(ParameterError, match=match):
        CustomLabels(R=np.atleast_2d(R).tolist(), sampler=print)
