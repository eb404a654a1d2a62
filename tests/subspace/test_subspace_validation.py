"""Bad parameters get one-line errors naming the parameter (configs and public functions)."""

import jax
import numpy as np
import pytest

from attnlab import ParameterError
from attnlab.config import ConfigError
from attnlab.registry import get_experiment
from attnlab.subspace import (
    check_model,
    check_schedule,
    phi_closed_form,
    phi_monte_carlo,
    sample_tokens,
    simulate_reduced,
    simulate_sga,
    solve_ode,
    step_sizes,
)

GOOD = dict(d=10, K=2, M=5, theta=0.5)


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
    ],
)
def test_model_errors_are_one_line(bad, name):
    with pytest.raises(ParameterError) as err:
        check_model(**{**GOOD, **bad})
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(name)


@pytest.mark.parametrize(
    "bad, name",
    [
        ({"p": 0.5}, "p"),
        ({"p": 1.2}, "p"),
        ({"c": 0.0}, "c"),
        ({"n0": 0.0}, "n0"),
        ({"batch": 0}, "batch"),
        ({"schedule": "adam"}, "schedule"),
        ({"log_every": 7}, "log_every"),
    ],
)
def test_schedule_errors(bad, name):
    with pytest.raises(ParameterError) as err:
        check_schedule(**{"steps": 20, "c": 1.0, "n0": 5.0, "log_every": 5, **bad})
    assert "\n" not in str(err.value) and str(err.value).startswith(name)


def test_public_functions_validate_before_jax():
    keys = jax.random.split(jax.random.key(0), 2)
    with pytest.raises(ParameterError, match="^p = 0.4"):
        simulate_sga(keys, **GOOD, steps=4, p=0.4)
    with pytest.raises(ParameterError, match="^d = 1"):
        simulate_reduced(keys, **{**GOOD, "d": 1}, steps=4)
    with pytest.raises(ParameterError, match="^K = 0"):
        phi_closed_form(0.1, **{**GOOD, "K": 0})
    with pytest.raises(ParameterError, match="^m must"):
        phi_closed_form(1.5, **GOOD)
    with pytest.raises(ParameterError, match="^n_samples"):
        phi_monte_carlo([0.0], key=keys[0], n_samples=1, **GOOD)
    with pytest.raises(ParameterError, match="^sign"):
        sample_tokens(keys[0], np.ones(10) / np.sqrt(10), K=2, M=3, theta=1.0, sign="x")
    with pytest.raises(ParameterError, match="^c = -1"):
        step_sizes(np.arange(3), c=-1.0, n0=1.0)
    with pytest.raises(ParameterError, match="times"):
        solve_ode([0.1], [1.0, 0.5], phi_prime=lambda m: m)


@pytest.mark.parametrize(
    "name, over, field",
    [
        ("subspace-alignment", {"p": 0.5}, "p"),
        ("subspace-alignment", {"d": 1}, "d"),
        ("subspace-alignment", {"sign": "bogus"}, "sign"),
        ("subspace-alignment", {"log_every": 7}, "log_every"),
        ("subspace-robustness", {"M_values": [-3]}, "M_values"),
        ("subspace-landscape", {"theta": -1}, "theta"),
        ("subspace-ode", {"c": 0}, "c"),
    ],
)
def test_config_errors_are_one_line(name, over, field):
    with pytest.raises(ConfigError) as err:
        get_experiment(name).make_config(over)
    msg = str(err.value)
    assert "\n" not in msg and field in msg
