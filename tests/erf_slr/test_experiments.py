"""The registered erf-SLR experiments: configs, costs, tiny runs, quick presets, the example."""

from __future__ import annotations

import os
import subprocess
import sys
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
    assert (cfg.model.d, cfg.lam0, cfg.steps, cfg.batch, cfg.n_seeds) == (80, 2.0, 200_000, 5, 30)
    assert cfg.simulator == "reduced" and cfg.schedule
    cfg = get_experiment("slr-sphere-large-lambda").make_config()
    assert (cfg.model.d, cfg.lam0, cfg.step_size, cfg.steps, cfg.schedule) == (
        400,
        0.9,
        1e-3,
        120_000,
        False,
    )
    # bare model fields still route into the model (CLI compatibility)
    assert get_experiment("slr-manifold").make_config({"d": 40}).model.d == 40


@pytest.mark.parametrize(
    ("name", "overrides", "field"),
    [
        ("slr-manifold", {"lam0": 0}, "lam0"),
        ("slr-manifold", {"lam0": float("inf")}, "lam0"),
        ("slr-manifold", {"L": 0}, "L"),
        ("slr-manifold", {"d": 1}, "d"),
        ("slr-manifold", {"gamma": -1}, "gamma"),
        ("slr-manifold", {"init": "ball"}, "init"),
        ("slr-manifold", {"step_size": 0}, "step_size"),
        ("slr-sgd", {"simulator": "fast"}, "simulator"),
        ("slr-oracle", {"lam_scale": 1e300}, "lam_scale"),
        ("slr-oracle", {"d_values": [1, 10]}, "d_values"),
        ("slr-oracle", {"d_values": []}, "d_values"),
    ],
)
def test_invalid_config_one_line(name, overrides, field):
    with pytest.raises(ConfigError) as err:
        get_experiment(name).make_config(overrides)
    assert field in str(err.value) and "\n" not in str(err.value)


def test_oracle_huge_temperature_is_one_line_on_the_command_line():
    # was a traceback: `attnlab run slr-oracle --set lam_scale=1e300`
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "attnlab",
            "run",
            "slr-oracle",
            "--set",
            "lam_scale=1e300",
            "--out",
            "/nonexistent-never-written",
        ],  # fmt: skip
        capture_output=True,
        text=True,
        env=env,
        timeout=120,  # fmt: skip
    )
    assert proc.returncode != 0
    assert "lam_scale" in proc.stderr + proc.stdout and "Traceback" not in proc.stderr


@pytest.mark.parametrize("name", NAMES)
def test_huge_configs_cost_more_than_the_machine(name):
    exp = get_experiment(name)
    huge = {"d_values": [10**6], "mc_max_d": 10**6, "n_mc": 10**9} if name == "slr-oracle" else {
        "n_seeds": 10**6, "steps": 10**9, "d": 10**9}  # fmt: skip
    cost = exp.make_config(huge).cost()
    assert max(cost.memory_bytes, cost.flops) > 1e12 and cost.what
    default = exp.make_config().cost()
    assert 0 < default.memory_bytes < 8e9 and 0 < default.flops < 1e14


# sizes shared with the unit tests so that jax compiles each program once per session
TINY_PGD = {"n_seeds": 3, "d": 40, "steps": 600, "log_every": 200, "n_test": 2000}
TINY_SGD = {"n_seeds": 2, "d": 16, "L": 4, "steps": 60, "log_every": 20, "n_test": 3000,
            "n_noise_floor": 500}  # fmt: skip


@pytest.mark.slow  # ~40 s: every erf-SLR experiment end to end at toy size
def test_tiny_runs(tmp_path):
    # tiny sizes: every comparison these runs declare must pass (the test sets are large enough
    # for the closed-form-vs-test-MSE row to resolve 10 % of the risk), and the files must exist
    run = run_experiment("slr-manifold", TINY_PGD, out=tmp_path)
    assert run.summary["all_passed"], run.summary["verdict"]
    assert run.summary["max_distance_to_manifold"] < 1e-6
    assert (run.path / "training.png").is_file() and (run.path / "results.parquet").is_file()
    for simulator in ("reduced", "direct"):
        run = run_experiment("slr-sgd", {**TINY_SGD, "simulator": simulator}, out=tmp_path,
                             plots=simulator == "reduced")  # fmt: skip
        assert run.summary["all_passed"] and run.summary["sgd_noise_floor"] > 0, simulator
    run = run_experiment(
        "slr-oracle", {"d_values": [50, 5000], "n_mc": 8000, "mc_max_d": 50}, out=tmp_path
    )
    assert run.summary["all_passed"] and run.summary["decreasing_in_d"]
    assert (run.path / "oracle.png").is_file()


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_quick_presets_pass(name, tmp_path):
    run = run_experiment(name, out=tmp_path, quick=True)
    assert run.result.status == "passed", run.result.reasons
    assert run.manifest["figure_problems"] == {}


def test_quickstart_example_toy(run_example, tmp_path):
    stdout = run_example("slr_erf_quickstart.py", timeout=300)
    assert "closed-form excess risk" in stdout and "oracle" in stdout
    assert (tmp_path / "slr_erf_quickstart.png").is_file()
