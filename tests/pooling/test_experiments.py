"""The registered pooling-* experiments: run end to end, configs, costs, honest verdicts."""

import json

import pytest

from attnlab.config import ConfigError, build_config
from attnlab.pooling import HarmonicWeights, MarkovLabels
from attnlab.pooling.experiments.outlier import OutlierConfig
from attnlab.registry import all_experiments, get_experiment
from attnlab.store import run_experiment

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
    "pooling-causal": {"d": 80, "gamma": 1.6, "taus": [1.0], "attention_trials": 2},
}


def test_all_six_are_registered():
    exps = all_experiments()
    for name in NAMES:
        assert name in exps and exps[name].family == "pooling"


@pytest.mark.parametrize("name", NAMES)
def test_experiment_runs_and_stores(name, tmp_path):
    run = run_experiment(name, TINY[name], out=tmp_path)
    summary = json.loads((run.path / "summary.json").read_text())
    assert summary["comparisons"], "every experiment reports theory-vs-simulation rows"
    for row in summary["comparisons"]:
        assert {"theory", "simulation", "difference", "tolerance", "max_tolerance"} <= set(row)
        assert row["status"] in ("pass", "fail", "uninformative")
    assert list(run.path.glob("*.png"))


def test_overrides_keep_the_config_default_model():
    """``d=400`` changes model.d and keeps this experiment's label profile (r0 = 0.3)."""
    cfg = get_experiment("pooling-outlier").make_config({"d": 400})
    assert cfg.model.d == 400 and cfg.model.labels.r0 == 0.3
    cfg = build_config(OutlierConfig, {"model.labels": {"q": 0.9}, "weights": "harmonic"})
    assert cfg.model.labels.r0 == 0.3 and cfg.model.labels.q == 0.9
    assert cfg.weights == HarmonicWeights()
    cfg = build_config(OutlierConfig, {"labels": "markov"})
    assert cfg.model.labels == MarkovLabels()


@pytest.mark.parametrize(
    ("name", "bad", "field"),
    [
        ("pooling-outlier", {"delta": 0}, "delta"),
        ("pooling-outlier", {"weights": "max"}, "weights"),
        ("pooling-outlier", {"ells": [-1]}, "ells"),
        ("pooling-outlier", {"gamma": 10000}, "model.gamma = 10000: gives N"),
        ("pooling-outlier", {"gamma": float("inf")}, "gamma"),
        ("pooling-outlier", {"trials": 1}, "trials"),
        ("pooling-spectrum", {"d": 100, "pairs": [[0.5, 80.0]]}, "pairs: \\(0.5, 80.0\\)"),
        ("pooling-phase", {"points": [[1.0, 30.0]]}, "rho = 30 cannot be realised"),
        ("pooling-causal", {"taus": [30.0]}, "tau"),
    ],
)
def test_invalid_configs_are_one_line_errors(name, bad, field):
    with pytest.raises(ConfigError, match=field) as err:
        get_experiment(name).make_config(bad)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("name", NAMES)
def test_cost_is_estimated_and_huge_configs_are_huge(name):
    exp = get_experiment(name)
    small = exp.make_config({}, quick=True).cost()
    assert 0 < small.memory_bytes < 2e9 and small.flops > 0
    # d = 10⁹ is refused by the runner before any allocation: its estimate is beyond any machine
    huge = exp.make_config({"d": 10**9}).cost()
    assert huge.memory_bytes > 1e12 or huge.flops > 1e15


def test_two_samples_are_not_a_pass(tmp_path):
    """N = 2 sequences (γ = d/2): the O(1/N) finite-size allowance is as large as the value, so
    the eigenvalue rows are uninformative and the run is not a pass (it passed 12/12 before)."""
    run = run_experiment(
        "pooling-outlier", {"d": 60, "gamma": 30, "trials": 3, "ells": [0.0, 3.0]}, out=tmp_path
    )
    assert run.result.status != "passed"
    rows = [c for c in run.result.comparisons if "λ" in c.quantity]
    assert rows and all(c.status == "uninformative" for c in rows)


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
    """The --quick preset of every experiment: every row informative and within tolerance."""
    run = run_experiment(name, {}, out=tmp_path, quick=True, plots=False)
    assert run.result.status == "passed", run.result.reasons
