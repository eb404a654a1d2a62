"""Experiments: registered, quick presets valid; quick runs pass their comparisons (slow);
the quickstart example runs at toy size."""

import json
from pathlib import Path

import pytest

from attnlab.registry import all_experiments

NAMES = ["subspace-alignment", "subspace-ode", "subspace-robustness", "subspace-landscape"]
ROOT = Path(__file__).resolve().parents[2]


def test_experiments_registered_with_quick_presets():
    exps = all_experiments()
    for name in NAMES:
        assert name in exps and exps[name].family == "subspace"
        cfg = exps[name].make_config(quick=True)
        assert cfg.config_hash() != exps[name].make_config().config_hash()
    full = exps["subspace-alignment"].make_config()
    assert (full.n_seeds, full.theta, full.K, full.M, full.d) == (30, 0.25, 100, 10_000, 100)


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_quick_run_passes_comparisons(name, tmp_path):
    from attnlab.store import run_experiment

    path = Path(run_experiment(name, {}, out=tmp_path, quick=True))
    summary = json.loads((path / "summary.json").read_text())
    assert summary["comparisons"], "every experiment compares theory with simulation"
    failed = [c for c in summary["comparisons"] if not c["passed"]]
    assert not failed, failed
    assert list(path.glob("*.png"))


def test_quickstart_example_toy(run_example, tmp_path):
    out = run_example("subspace_quickstart.py", timeout=600)
    assert (tmp_path / "subspace_quickstart.png").exists()
    assert "equator m=+0.000 stable=False" in out and "pole m=+1.000 stable=True" in out
    mean = float(out.split("mean final alignment = ")[1].split()[0])
    assert 0.8 < mean <= 1.0  # toy: θ=0.5, t≈5.9 ≫ escape time 1.3; noise floor ≈ 0.04
