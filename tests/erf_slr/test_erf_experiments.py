"""Registered SLR part A experiments, configs and the quickstart example."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from attnlab.config import ConfigError
from attnlab.registry import all_experiments, get_experiment
from attnlab.store import run_experiment

NAMES = [
    "slr-manifold",
    "slr-sphere-large-lambda",
    "slr-sphere-small-lambda",
    "slr-sphere-schedule",
    "slr-sgd",
    "slr-oracle",
]
ROOT = Path(__file__).resolve().parents[2]


def test_registered_with_full_size_defaults():
    exps = all_experiments()
    for name in NAMES:
        assert name in exps
    cfg = get_experiment("slr-sgd").make_config()
    assert (cfg.d, cfg.lam0, cfg.steps, cfg.batch, cfg.n_seeds) == (80, 2.0, 200_000, 5, 30)
    cfg = get_experiment("slr-sphere-large-lambda").make_config()
    assert (cfg.d, cfg.lam0, cfg.step_size, cfg.steps, cfg.schedule) == (
        400,
        0.9,
        1e-3,
        120_000,
        False,
    )


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"lam0": 0}, "lam0"),
        ({"L": 0}, "L"),
        ({"d": 1}, "d"),
        ({"gamma": -1}, "gamma"),
        ({"init": "ball"}, "init"),
        ({"step_size": 0}, "step_size"),
    ],  # fmt: skip
)
def test_invalid_config_one_line(overrides, field):
    with pytest.raises(ConfigError) as err:
        get_experiment("slr-manifold").make_config(overrides)
    assert field in str(err.value) and "\n" not in str(err.value)


# sizes shared with tests/slr/test_erf_train.py so that jax compiles each program once per session
TINY_PGD = {"n_seeds": 3, "d": 40, "steps": 600, "log_every": 200, "n_test": 500}
TINY_SGD = {"n_seeds": 2, "d": 16, "L": 4, "steps": 60, "log_every": 20, "n_test": 200,
            "n_noise_floor": 500}  # fmt: skip


def test_tiny_runs(tmp_path):
    # tiny sizes: every comparison these runs declare must pass, and the files must exist
    path = run_experiment("slr-manifold", TINY_PGD, out=tmp_path)
    summary = json.loads((path / "summary.json").read_text())
    assert summary["all_passed"], summary["comparisons"]
    assert summary["max_distance_to_manifold"] < 1e-6
    assert (path / "training.png").is_file() and (path / "results.parquet").is_file()
    path = run_experiment("slr-sgd", TINY_SGD, out=tmp_path, plots=False)
    summary = json.loads((path / "summary.json").read_text())
    assert summary["all_passed"] and summary["sgd_noise_floor"] > 0
    path = run_experiment(
        "slr-oracle", {"d_values": [50, 5000], "n_mc": 3000, "mc_max_d": 50}, out=tmp_path
    )
    summary = json.loads((path / "summary.json").read_text())
    assert summary["all_passed"] and summary["decreasing_in_d"]
    assert (path / "oracle.png").is_file()


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_quick_presets_pass(name, tmp_path):
    path = run_experiment(name, out=tmp_path, quick=True)
    summary = json.loads((path / "summary.json").read_text())
    assert summary["all_passed"], summary["comparisons"]


def test_quickstart_example_toy(run_example, tmp_path):
    stdout = run_example("slr_erf_quickstart.py", timeout=300)
    assert "closed-form excess risk" in stdout and "oracle" in stdout
    assert (tmp_path / "slr_erf_quickstart.png").is_file()
