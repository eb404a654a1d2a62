"""SubspaceModel: validated once at construction, one-line errors, derived quantities."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attnlab import ParameterError
from attnlab.subspace import SubspaceModel


@pytest.mark.parametrize(
    "bad, name",
    [
        ({"d": 1}, "d"),
        ({"K": 0}, "K"),
        ({"M": -1}, "M"),
        ({"theta": -0.1}, "theta"),
        ({"beta": -1.0}, "beta"),
        ({"sign": "bogus"}, "sign"),
        ({"theta_scaling": "sqrt"}, "theta_scaling"),
        ({"d": 2.5}, "d"),
        ({"theta": math.inf}, "theta"),
        ({"theta": math.nan}, "theta"),
        ({"beta": math.inf}, "beta"),
        ({"d": True}, "d"),
    ],
)
def test_model_errors_are_one_line(bad, name):
    with pytest.raises(ParameterError) as err:
        SubspaceModel(**bad)
    msg = str(err.value)
    assert "\n" not in msg and name in msg


@settings(max_examples=30, deadline=None)
@given(
    field=st.sampled_from(["theta", "beta", "d", "K", "M"]),
    value=st.sampled_from([math.nan, math.inf, -math.inf, -1, -1e300]),
)
def test_model_refuses_non_finite_and_negative(field, value):
    with pytest.raises(ParameterError, match=field):
        SubspaceModel(**{field: value})


def test_defaults_are_the_headline_model():
    m = SubspaceModel()
    assert (m.d, m.K, m.M, m.theta, m.sign, m.theta_scaling, m.beta) == (
        100,
        100,
        10_000,
        0.25,
        "token",
        "sqrt_d",
        1.0,
    )


def test_derived_quantities():
    m = SubspaceModel(d=16, K=40, M=60, theta=0.5)
    assert m.N == 100 and m.rho == 0.4
    assert m.theta_d == 0.5 * 4  # θ√d
    assert m.replace(theta_scaling="none").theta_d == 0.5
    assert m.spike == 0.4 * 2.0**2
    assert m.symmetric and not m.replace(sign="fixed").symmetric


def test_model_is_frozen_and_hashable():
    m = SubspaceModel()
    with pytest.raises(ValueError, match="frozen"):
        m.d = 3
    assert hash(m) == hash(SubspaceModel()) and m == SubspaceModel()
