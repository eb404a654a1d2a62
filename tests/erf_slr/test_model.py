"""The model object, the strategy objects and the precision contract."""

from __future__ import annotations

import math

import numpy as np
import pytest

from attnlab.config import ConfigError
from attnlab.erf_slr import (
    ConstantTemperature,
    DecayingTemperature,
    Direct,
    ErfSLRModel,
    ManifoldInit,
    Reduced,
    SphereInit,
    excess_risk,
    initialisation,
    sgd_simulator,
    temperature_schedule,
)


@pytest.mark.parametrize(
    ("fields", "name"),
    [
        ({"d": 1}, "d"),
        ({"L": 0}, "L"),
        ({"gamma": -0.1}, "gamma"),
        ({"eps": math.nan}, "eps"),
        ({"gamma": math.inf}, "gamma"),
        ({"d": True}, "d"),
        ({"d": 10**13}, "d"),
    ],  # fmt: skip
)
def test_model_rejects_bad_values_in_one_line(fields, name):
    with pytest.raises(ConfigError) as err:
        ErfSLRModel(**fields)
    msg = str(err.value)
    assert name in msg and "\n" not in msg


def test_model_is_frozen_and_defaults_are_the_reference_law():
    m = ErfSLRModel()
    assert (m.d, m.L, m.gamma, m.eps) == (400, 10, math.sqrt(0.5), 0.1)
    with pytest.raises(Exception):  # noqa: B017 (pydantic's frozen-instance error)
        m.d = 3  # type: ignore[misc]


def test_temperature_schedules():
    t = np.array([0.0, 1e4, 1e5])
    np.testing.assert_allclose(DecayingTemperature(lam0=2.0).at(t), 2.0 / (1 + 1e-4 * t))
    np.testing.assert_allclose(ConstantTemperature(lam=0.3).at(t), 0.3)
    assert temperature_schedule(1.0, True) == DecayingTemperature(lam0=1.0)
    assert temperature_schedule(1.0, False) == ConstantTemperature(lam=1.0)
    for bad in ({"lam": 0.0}, {"lam": -1.0}, {"lam": math.inf}, {"lam": 1e300}):
        with pytest.raises(ConfigError, match="lam"):
            ConstantTemperature(**bad)
    with pytest.raises(ConfigError, match="decay"):
        DecayingTemperature(lam0=1.0, decay=-1e-4)


def test_strategies_by_name():
    assert initialisation("sphere") == SphereInit() and initialisation("manifold") == ManifoldInit()
    assert sgd_simulator("reduced") == Reduced() and sgd_simulator("direct") == Direct()
    with pytest.raises(ValueError, match="init"):
        initialisation("ball")


def test_public_results_are_float64_outside_any_precision_context():
    import jax

    before = jax.config.jax_enable_x64
    risk = excess_risk(ErfSLRModel(), (0.5, 0.4, 0.1, 0.0, 0.0), lam=0.3)
    assert isinstance(risk, np.ndarray) and risk.dtype == np.float64
    assert jax.config.jax_enable_x64 == before
