"""The registered pooling-* experiments run end to end (tiny sizes) and the example works."""

import json
from pathlib import Path

import pytest

from attnlab.config import ConfigError
from attnlab.registry import all_experiments, get_experiment
from attnlab.store import run_experiment

ROOT = Path(__file__).resolve().parents[2]
NAMES = [
    "pooling-spectrum",
    "pooling-outlier",
    "pooling-alignment",
    "pooling-weights",
    "pooling-phase",
    "pooling-causal",
]
TINY = {
    "pooling-spectrum": {"d": 80, "trials": 3, "pairs": [[0.5, 0.5]]},
    "pooling-outlier": {"d": 80, "trials": 3, "ells": [0.0, 3.0]},
    "pooling-alignment": {"d": 80, "trials": 3, "ells": [0.0, 3.0], "population": False},
    "pooling-weights": {"d": 80, "trials": 3, "ells": [1.0]},
    "pooling-phase": {"d": 80, "trials": 3, "grid": 20, "points": [[2.0, 2.0]]},
    "pooling-causal": {"d": 80, "n_sequences": 50, "taus": [1.0]},
}


def test_all_six_are_registered():
    exps = all_experiments()
    for name in NAMES:
        assert name in exps and exps[name].family == "pooling"


@pytest.mark.parametrize("name", NAMES)
def test_experiment_runs_and_stores(name, tmp_path):
    out = run_experiment(name, TINY[name], out=tmp_path)
    out = Path(out)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["comparisons"], "every experiment reports theory-vs-simulation rows"
    for row in summary["comparisons"]:
        assert {"theory", "simulation", "difference", "tolerance"} <= set(row)
    assert list(out.glob("*.png"))


def test_invalid_configs_are_one_line_errors():
    exp = get_experiment("pooling-outlier")
    for bad, field in (
        ({"delta": 0}, "delta"),
        ({"weights": "max"}, "weights"),
        ({"ells": [-1]}, "ells"),
    ):
        with pytest.raises(ConfigError, match=field) as err:
            exp.make_config(bad)
        assert "\n" not in str(err.value)


def test_quickstart_example_runs_at_toy_size(run_example, tmp_path):
    stdout = run_example("pooling_quickstart.py", timeout=120)
    lines = [ln for ln in stdout.splitlines() if "theory=" in ln]
    assert len(lines) == 8
    assert (tmp_path / "pooling_quickstart.png").stat().st_size > 1000
    # harmonic beats mean on the decaying profile: larger rho printed
    rhos = {ln.split()[0]: float(ln.split()[1].split("=")[1]) for ln in lines}
    assert rhos["harmonic"] > rhos["mean"]


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_quick_preset_comparisons_all_pass(name, tmp_path):
    """The --quick preset of every experiment: every theory-vs-simulation row within tolerance."""
    out = Path(run_experiment(name, {}, out=tmp_path, quick=True))
    rows = json.loads((out / "summary.json").read_text())["comparisons"]
    failed = [r for r in rows if not r["passed"]]
    assert not failed, failed
