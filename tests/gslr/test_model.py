"""GSLRModel: validated once, one-line errors, the one infinite value allowed."""

from __future__ import annotations

import math

import pytest

from attnlab.config import ConfigError
from attnlab.gslr import GSLRModel


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"nu": math.nan}, "nu = nan"),
        ({"nu": -math.inf}, "nu = -inf"),
        ({"nu": -1.0}, "nu = -1"),
        ({"nu": math.inf}, "only defined for variant = 'max'"),
        ({"nu": 1e13}, "out of range"),
        ({"delta": math.inf}, "delta = inf"),
        ({"delta": -0.1}, "delta = -0.1"),
        ({"L": 0}, "out of range"),
        ({"L": 65}, "out of range"),
        ({"L": []}, "empty"),
        ({"L": [2, 2]}, "listed twice"),
        ({"L": True}, "boolean"),
        ({"L": [1, 2], "L_probs": [0.5]}, "needs 2 probabilities"),
        ({"L": [1, 2], "L_probs": [0.7, 0.7]}, "sum to 1"),
        ({"variant": "gaussian"}, "variant"),
        ({"teacher": "unit"}, "teacher"),
        ({"L_max": 3}, "unknown field"),
    ],
)
def test_invalid_models_are_refused_in_one_line(fields, match):
    with pytest.raises(ConfigError, match=match) as err:
        GSLRModel(**fields)
    assert "\n" not in str(err.value)


def test_infinite_signal_is_the_argmax_limit_of_max_slr():
    model = GSLRModel(variant="max", nu=math.inf)
    assert model.signal_scale == math.inf
    assert GSLRModel.from_toml(model.to_toml()) == model


def test_length_law_and_labels():
    model = GSLRModel(L=[2, 3], L_probs=[0.25, 0.75], nu=4.0)
    assert model.lengths == (2, 3) and model.max_length == 3
    assert model.mean_length == pytest.approx(2.75)
    assert model.signal_scale == 2.0 and not model.fixed_length
    assert model.label() == "spiked, ν=4, L~{2:0.25,3:0.75}"
    assert GSLRModel(L=[1, 2, 3]).length_label() == "L~Unif{1,2,3}"
    assert GSLRModel(variant="max", nu=3.0).signal_scale == 3.0
