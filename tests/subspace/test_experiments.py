"""Experiments: registered with quick presets; quick runs pass informative rows (slow);
the quickstart example runs at toy size."""

import numpy as np
import pytest

from attnlab.registry import all_experiments

NAMES = [
    "subspace-alignment",
    "subspace-ode",
    "subspace-robustness",
    "subspace-landscape",
    "subspace-schedule",
]


def test_experiments_registered_with_quick_presets():
    exps = all_experiments()
    for name in NAMES:
        assert name in exps and exps[name].family == "subspace"
        cfg = exps[name].make_config(quick=True)
        assert cfg.config_hash() != exps[name].make_config().config_hash()
    full = exps["subspace-alignment"].make_config()
    m = full.model
    assert (full.n_seeds, m.theta, m.K, m.M, m.d) == (30, 0.25, 100, 10_000, 100)
    assert full.headline and not exps["subspace-alignment"].make_config(quick=True).headline
    assert full.simulator == "reduced"


def test_bare_and_dotted_overrides_reach_the_model_on_top_of_its_default():
    exp = all_experiments()["subspace-ode"]
    cfg = exp.make_config({"d": 40, "schedule.c": 2.0})
    assert cfg.model.d == 40 and cfg.model.theta == 0.5  # the experiment's own default θ
    assert cfg.schedule.c == 2.0 and cfg.schedule.n0 == 500.0


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_quick_run_passes_comparisons(name, tmp_path):
    from attnlab.store import run_experiment

    run = run_experiment(name, {}, out=tmp_path, quick=True)
    result = run.result
    assert result.comparisons, "every experiment compares theory with simulation"
    assert result.status == "passed", result.reasons
    assert list(run.path.glob("*.png"))
    assert run.manifest["figure_problems"] == {}


@pytest.mark.slow
def test_ode_at_strong_signal_finishes(tmp_path):
    """subspace-ode --set theta=20 ran for minutes (ODE without a step limit)."""
    from attnlab.store import run_experiment

    run = run_experiment("subspace-ode", {"theta": 20.0, "n_seeds": 8}, out=tmp_path, quick=True)
    assert run.result.comparisons and not run.result.dropped


def test_quickstart_example_toy(run_example, tmp_path):
    out = run_example("subspace_quickstart.py", timeout=600)
    assert (tmp_path / "subspace_quickstart.png").exists()
    assert "equator m=+0.000 stable=False" in out and "pole m=+1.000 stable=True" in out
    mean = float(out.split("mean final alignment = ")[1].split()[0])
    assert 0.8 < mean <= 1.0  # toy: θ=0.5, t≈5.9 ≫ escape time 1.3; noise floor ≈ 0.04


def test_runs_still_at_the_equator_are_set_aside_only_when_rare():
    from attnlab.subspace.experiments._common import left_equator

    final = np.array([0.99] * 29 + [0.28])
    mask, phrase = left_equator(final)
    assert mask.sum() == 29 and "1 still below" in phrase
    # more than one run and more than a tenth below 1/2: nothing is set aside, the rows show it
    final = np.array([0.99] * 26 + [0.1] * 4)
    mask, phrase = left_equator(final)
    assert mask.all() and "too many" in phrase
    mask, phrase = left_equator(np.full((3, 4), 0.9))
    assert mask.all() and phrase == ""
