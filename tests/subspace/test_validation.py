"""Bad input gets one-line errors: configs, public theory functions (fuzzed), sizes (cost)."""

import math

import jax
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attnlab import ParameterError
from attnlab.config import ConfigError
from attnlab.registry import get_experiment
from attnlab.subspace import (
    RobbinsMonro,
    SubspaceModel,
    closed_form_bound,
    closed_form_valid,
    pca_alignment_theory,
    phi_closed_form,
    phi_monte_carlo,
    phi_prime_closed_form,
    phi_small_beta,
    solve_ode,
    stationary_misalignment,
)

NAMES = [
    "subspace-alignment",
    "subspace-ode",
    "subspace-robustness",
    "subspace-landscape",
    "subspace-schedule",
]
BAD = st.sampled_from([math.nan, math.inf, -math.inf, 1.0 + 1e-9, -1.5, 2.0, 1e300])
MODEL = SubspaceModel(d=20, K=10, M=100)


@settings(max_examples=40, deadline=None)
@given(
    fn=st.sampled_from(
        [
            phi_closed_form,
            phi_prime_closed_form,
            closed_form_valid,
            closed_form_bound,
            phi_small_beta,
        ]
    ),
    bad=BAD,
    where=st.integers(0, 2),
)
def test_theory_functions_refuse_bad_m(fn, bad, where):
    m = [0.1, 0.2, 0.3]
    m[where] = bad
    with pytest.raises(ParameterError, match="^m = "):
        fn(MODEL, m)


@settings(max_examples=30, deadline=None)
@given(bad=BAD, which=st.sampled_from(["m0", "time"]))
def test_solve_ode_refuses_bad_values(bad, which):
    if which == "time" and bad >= 0 and math.isfinite(bad):
        return  # a finite non-negative time is valid
    m0, times = ([bad], [0.0, 1.0]) if which == "m0" else ([0.1], [0.0, bad])
    with pytest.raises(ParameterError):
        solve_ode(m0, times, phi_prime=lambda m: m)


@settings(max_examples=20, deadline=None)
@given(
    bad=st.sampled_from([math.nan, math.inf, -math.inf]),
    arg=st.sampled_from(["noise", "phi_prime_pole"]),
)
def test_stationary_misalignment_refuses_non_finite(bad, arg):
    with pytest.raises(ParameterError, match=arg):
        stationary_misalignment(
            RobbinsMonro(), 100, **{"noise": 1.0, "phi_prime_pole": 1.0, arg: bad}
        )


@settings(max_examples=20, deadline=None)
@given(bad=st.sampled_from([math.nan, math.inf, 0, -5]))
def test_bbp_refuses_bad_token_counts(bad):
    with pytest.raises(ParameterError, match="n_tokens"):
        pca_alignment_theory(MODEL, bad)


@pytest.mark.parametrize("n", [1, 0, 2.5])
def test_monte_carlo_refuses_bad_sample_count(n):
    with pytest.raises(ParameterError, match="^n_samples"):
        phi_monte_carlo(MODEL, [0.0], key=jax.random.key(0), n_samples=n)


@pytest.mark.parametrize(
    "name, over, field",
    [
        ("subspace-alignment", {"p": 0.5}, "p"),
        ("subspace-alignment", {"d": 1}, "d"),
        ("subspace-alignment", {"sign": "bogus"}, "sign"),
        ("subspace-alignment", {"log_every": 7}, "log_every"),
        ("subspace-alignment", {"theta": math.inf}, "theta"),
        ("subspace-alignment", {"n_seeds": True}, "n_seeds"),
        ("subspace-robustness", {"M_values": [-3]}, "M_values"),
        ("subspace-landscape", {"theta": -1}, "theta"),
        ("subspace-ode", {"c": 0}, "c"),
        ("subspace-schedule", {"c_values": [1.0, 2.0]}, "c_values"),
        ("subspace-schedule", {"checkpoints": [7]}, "checkpoints"),
    ],
)
def test_config_errors_are_one_line(name, over, field):
    with pytest.raises(ConfigError) as err:
        get_experiment(name).make_config(over)
    msg = str(err.value)
    assert "\n" not in msg and field in msg


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(
    "over", [{"d": 10**9}, {"M": 10**9}, {"n_seeds": 10**8}, {"n_samples": 10**9}]
)
def test_huge_configs_cost_more_than_the_machine(name, over):
    """d or M = 10⁹ died after seconds with a jax out-of-memory error: cost() says so first,
    unless the experiment's work does not grow with that size (the reduced simulator and the
    closed form do not depend on d)."""
    exp = get_experiment(name)
    fields = {f for f in exp.config_cls.model_fields} | set(SubspaceModel.model_fields)
    if not set(over) <= fields:
        return
    cost = exp.make_config(over).cost()
    if "d" in over and cost.memory_bytes < 1e12 and cost.flops < 1e12:
        assert cost == exp.make_config().cost(), cost  # independent of d
        return
    assert cost.memory_bytes > 1e12 or cost.flops > 1e12, cost


@pytest.mark.parametrize("name", NAMES)
def test_default_sizes_cost_less_than_the_machine(name):
    cost = get_experiment(name).make_config().cost()
    assert cost.memory_bytes < 4e9 and cost.flops < 1e13, cost
