"""benchmarks/run.py: experiment times from verified manifests, kernel rows from every module's
run(quick) (a missing or broken module is one "not available" row), targets PASS / MISS."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from attnlab import registry
from attnlab.store import run_experiment

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def bench(monkeypatch, tmp_path):
    """benchmarks/run.py as a module, looking for kernel modules in tmp_path/benchmarks."""
    spec = importlib.util.spec_from_file_location("bench_run", REPO / "benchmarks" / "run.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "bench_run", module)  # dataclasses look it up
    spec.loader.exec_module(module)
    (tmp_path / "benchmarks").mkdir()
    monkeypatch.setattr(module, "HERE", tmp_path / "benchmarks")
    return module


def _write(tmp_path: Path, name: str, text: str) -> None:
    (tmp_path / "benchmarks" / f"{name}.py").write_text(text)


GSLR = """
def run(quick):
    assert quick is True
    return [
        dict(benchmark="replica fixed point", value=0.3, unit="s", reference="today 4 s",
             ratio=13.3, note="alpha=2"),
        dict(benchmark="ERM iteration", value=0.12, unit="s", reference="one data pass 0.1 s",
             ratio=0.83, note=""),
    ]
"""


def test_kernel_rows_and_not_available_modules(bench, tmp_path):
    _write(tmp_path, "gslr", GSLR)
    _write(tmp_path, "pooling", "X = 1  # no run()\n")
    _write(tmp_path, "subspace", "import no_such_module_xyz\n")
    _write(tmp_path, "erf_slr", "def run(quick):\n    raise RuntimeError('boom')\n")
    _write(tmp_path, "extra", "def run(quick):\n    return [{'benchmark': 'x'}]\n")
    rows = {r.name: r for r in bench.kernel_rows(quick=True)}
    assert rows["gslr: replica fixed point"].value == 0.3
    assert rows["gslr: ERM iteration"].ratio == 0.83
    assert rows["pooling"].note == "not available: no run(quick) function"
    assert rows["subspace"].note.startswith("not available: import failed (ModuleNotFoundError")
    assert rows["erf_slr"].note == "not available: run() failed (RuntimeError: boom)"
    assert rows["extra: malformed row"].note == "missing value, unit, reference, ratio, note"
    targets = {r.name: r for r in bench.target_rows({}, list(rows.values()))}
    assert targets["gslr: one replica fixed point"].verdict == "PASS"
    assert targets["gslr: ERM iteration vs one data pass (ratio)"].verdict == "PASS"  # 0.83 ≥ 2/3
    assert targets["pooling: one d = 4000 trial"].verdict == "—"  # nothing measured
    assert targets["every subspace experiment (worst)"].verdict == "—"


def test_experiment_times_from_verified_manifests(bench, tmp_path, monkeypatch):
    demo = registry.get_experiment("demo-mean")
    fake = {
        name: registry.Experiment(
            name, "pooling", name, demo.config_cls, demo.run, quick={"n": 10, "n_seeds": 20}
        )
        for name in ("pool-a", "pool-b")
    }
    monkeypatch.setattr(registry, "all_experiments", lambda: fake)
    results = tmp_path / "results"
    paths = {n: run_experiment(e, out=results, quick=True).path for n, e in fake.items()}
    times = bench.experiment_times(results, quick=True)
    for name, path in paths.items():
        manifest = json.loads((path / "manifest.json").read_text())
        assert times[name] == manifest["timings_s"]["total"]
    targets = {r.name: r for r in bench.target_rows(times, [])}
    assert targets["every pooling experiment (worst)"].value == max(times.values())
    assert targets["every pooling experiment (worst)"].verdict == "PASS"  # a demo run < 20 s
    # a corrupt run is not read
    (paths["pool-b"] / "summary.json").unlink()
    times = bench.experiment_times(results, quick=True)
    assert times["pool-b"] is None
    assert {r.name: r for r in bench.target_rows(times, [])}[
        "every pooling experiment (worst)"
    ].verdict == "—"
    table = bench.render(bench.experiment_rows(times), markdown=True)
    assert table.splitlines()[0].startswith("| kind | name | value |")
    assert "| experiment | pool-b | — | s |" in table


def test_reproduce_wall_time_is_the_reproduce_target(bench, tmp_path):
    def record(*statuses):
        runs = [{"experiment": f"e{i}", "status": s} for i, s in enumerate(statuses)]
        (tmp_path / "reproduce.json").write_text(
            json.dumps({"mode": "full", "only": [], "wall_s": 700, "runs": runs})
        )

    record("ran", "ran")
    assert bench.reproduce_wall(tmp_path, quick=False) == 700
    assert bench.reproduce_wall(tmp_path, quick=True) is None
    # an interrupted, failed or resumed reproduce did not time the whole reproduction
    for other in ("interrupted", "failed", "skipped"):
        record("ran", other)
        assert bench.reproduce_wall(tmp_path, quick=False) is None, other
    record()
    assert bench.reproduce_wall(tmp_path, quick=False) is None
    record("ran", "ran")
    times = {bench.REPRODUCE_WALL: 700.0, "x": 900.0}
    (target,) = [r for r in bench.target_rows(times, []) if r.name.startswith("reproduce")]
    assert target.value == 700 and target.verdict == "PASS"


def test_several_results_directories_give_medians(bench, tmp_path, capsys, monkeypatch):
    """--results given once per whole reproduction: each experiment's value is the median over
    the directories that hold it, and the note says of how many."""
    each = [{"a": 10.0, "b": 5.0}, {"a": 30.0, "b": None}, {"a": 20.0, "b": 7.0}]
    times, counts = bench.median_times(each)
    assert times == {"a": 20.0, "b": 6.0} and counts == {"a": 3, "b": 2}
    rows = {r.name: r for r in bench.experiment_rows(times, counts, of=3)}
    assert rows["a"].note == "median of 3 of 3 runs"
    assert rows["b"].note == "median of 2 of 3 runs"
    assert bench.experiment_rows({"a": None}, {}, of=3)[0].note == "not run"

    monkeypatch.setattr(bench, "experiment_times", lambda path, quick, only: {})
    dirs = []
    for i, wall in enumerate((700, 500, 650)):
        d = tmp_path / f"run{i}"
        d.mkdir()
        runs = [{"experiment": "e", "status": "ran"}]
        record = {"mode": "full", "only": [], "wall_s": wall, "runs": runs}
        (d / "reproduce.json").write_text(json.dumps(record))
        dirs += ["--results", str(d)]
    assert bench.main([*dirs, "--no-kernels", "--markdown"]) == 0
    out = capsys.readouterr().out
    assert "| reproduce (reproduce.json wall time) | 650 | s |" in out
    assert "median of 3 of 3 runs" in out
    with pytest.raises(SystemExit):
        bench.main([*dirs, "--run"])


@pytest.mark.slow
@pytest.mark.parametrize("family", ["subspace", "pooling", "erf_slr", "gslr"])
def test_each_family_benchmark_runs_at_quick_size(family):
    """The real benchmark modules at quick size (minutes): every row is well formed. The runner
    turns a module that raises into a "not available" row, so only this test notices a
    benchmark that no longer matches the code (the erf module once patched a function that had
    moved)."""
    spec = importlib.util.spec_from_file_location(
        f"bench_{family}", REPO / "benchmarks" / f"{family}.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rows = module.run(True)
    assert rows
    for row in rows:
        assert set(row) >= {"benchmark", "value", "unit", "reference", "ratio", "note"}, row
