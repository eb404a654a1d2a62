"""SLR part-B experiments are registered, validate their configs, and a tiny population run
puts softmax on the Bayes risk and linear strictly above it."""

from __future__ import annotations

import pytest

from attnlab._validate import ParameterError
from attnlab.registry import get_experiment


@pytest.mark.parametrize("name", ["slr-population", "slr-finite", "slr-init"])
def test_registered_with_quick_preset(name):
    exp = get_experiment(name)
    assert exp.quick and exp.plot is not None
    exp.make_config(quick=True)


@pytest.mark.parametrize(
    "overrides",
    [{"alphas_erm": [0.0]}, {"r": -0.1}, {"activations": ["relu"]}, {"cases": ["max:-2"]}],
)
def test_finite_config_rejects_bad_values(overrides):
    with pytest.raises(ParameterError) as err:
        get_experiment("slr-finite").make_config(overrides, quick=True)
    assert "\n" not in str(err.value)


def test_tiny_population_run():
    exp = get_experiment("slr-population")
    cfg = exp.make_config(
        {"nus": [0.25], "max_nus": [], "lengths": [2], "activations": ["softmax", "linear"]}
    )
    res = exp.run(cfg)
    assert all(c.passed for c in res.comparisons)
    t = res.table.set_index("activation")
    assert abs(t.loc["softmax", "gap"]) < 1e-6
    # spiked, L = 2, nu = 1/4: linear optimum 1/(1 + 1/8 + 1) = 8/17 (at m_k = 1/4, near the
    # q_k = 0 corner where a NaN gradient once stalled the search at 1 - 1/L = 0.5)
    assert t.loc["linear", "risk"] == pytest.approx(8 / 17, abs=1e-8)
    assert t.loc["linear", "gap"] > 0.02
