"""Step-size schedules and simulator choices: validation and the step sizes they give."""

import numpy as np
import pytest

from attnlab import ParameterError
from attnlab.subspace import Constant, Full, Reduced, RobbinsMonro


@pytest.mark.parametrize(
    "cls, bad, name",
    [
        (RobbinsMonro, {"p": 0.5}, "p"),
        (RobbinsMonro, {"p": 1.2}, "p"),
        (RobbinsMonro, {"c": 0.0}, "c"),
        (RobbinsMonro, {"n0": 0.0}, "n0"),
        (RobbinsMonro, {"c": float("inf")}, "c"),
        (Constant, {"a": 0.0}, "a"),
        (Reduced, {"dtype": "float16"}, "dtype"),
        (Full, {"dtype": "int"}, "dtype"),
    ],
)
def test_strategy_errors_are_one_line(cls, bad, name):
    with pytest.raises(ParameterError) as err:
        cls(**bad)
    assert "\n" not in str(err.value) and name in str(err.value)


def test_robbins_monro_steps_and_times():
    s = RobbinsMonro(c=2.0, n0=4.0)
    a = s.step_sizes(np.arange(4))
    np.testing.assert_allclose(a, [0.5, 2 / 5, 2 / 6, 2 / 7])
    np.testing.assert_allclose(s.times(4), np.concatenate([[0], np.cumsum(a)]))
    np.testing.assert_allclose(RobbinsMonro(c=2.0, n0=4.0, p=0.75).step_sizes(0), 2 / 4**0.75)
    # p/(a_n (n + n0)) = 1/c for p = 1
    np.testing.assert_allclose(s.relaxation_correction(10), 0.5)


def test_constant_steps():
    s = Constant(a=0.1)
    np.testing.assert_allclose(s.step_sizes(np.arange(3)), 0.1)
    np.testing.assert_allclose(s.times(3), [0, 0.1, 0.2, 0.3])
    assert s.relaxation_correction(5) == 0.0


def test_step_indices_must_be_finite():
    with pytest.raises(ParameterError, match="step indices"):
        RobbinsMonro().step_sizes([0, np.nan])
    with pytest.raises(ParameterError, match="steps"):
        RobbinsMonro().times(-1)


def test_library_and_experiment_defaults_agree():
    """One set of defaults: the headline experiment's schedule is the library's."""
    from attnlab.registry import get_experiment

    cfg = get_experiment("subspace-alignment").make_config()
    assert cfg.schedule == RobbinsMonro() and cfg.steps == 1000
    assert (cfg.schedule.c, cfg.schedule.n0, cfg.schedule.p) == (9.0, 30.0, 1.0)
