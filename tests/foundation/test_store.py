"""Results store: layout, manifest, atomicity under crashes and SIGKILL, resume, races."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from attnlab.compare import Result
from attnlab.demo.experiments.mean import DemoMeanConfig
from attnlab.registry import get_experiment
from attnlab.store import MANIFEST, is_complete, load_run, run_dir, run_experiment

QUICK = {"n": 20, "n_seeds": 40}  # enough seeds for an informative sd comparison


def _counting(exp, calls: list, delay: float = 0.0, plot="keep"):
    """A copy of ``exp`` whose run appends to ``calls`` (and optionally sleeps)."""

    def run(config):
        calls.append(config)
        time.sleep(delay)
        return exp.run(config)

    changes = {"run": run}
    if plot != "keep":
        changes["plot"] = plot
    return dataclasses.replace(exp, **changes)


def _final_files(path: Path) -> set[str]:
    return {p.name for p in path.iterdir() if not p.name.startswith(".")}


def test_layout_and_manifest(tmp_path):
    exp = get_experiment("demo-mean")
    cfg = exp.make_config(QUICK)
    path = run_experiment(exp, cfg, out=tmp_path).path
    assert path == run_dir(tmp_path, "demo-mean", cfg)
    assert path.name == f"demo-mean-{cfg.config_hash()[:12]}"
    assert _final_files(path) == {
        "config.toml",
        "results.parquet",
        "summary.json",
        "histogram.png",
        "histogram.pdf",
        "histogram.data.csv",  # the table the figure is drawn from
        MANIFEST,
    }
    assert not list(path.glob("*.tmp")) and not list(path.glob(".*.tmp"))
    assert DemoMeanConfig.from_toml_file(path / "config.toml") == cfg

    run = load_run(path)
    m = run.manifest
    assert m["experiment"] == "demo-mean" and m["family"] == "demo"
    assert m["config_hash"] == cfg.config_hash() and m["config"] == cfg.to_dict()
    assert m["seed"] == cfg.seed and m["replicate_seeds"] == list(range(cfg.n_seeds))
    for pkg in ("python", "attnlab", "numpy", "jax", "pydantic", "pandas"):
        assert m["versions"].get(pkg), pkg
    assert set(m["timings_s"]) == {"run", "plot", "total"}
    assert all(v >= 0 for v in m["timings_s"].values())
    assert m["timings_s"]["total"] >= m["timings_s"]["run"]
    assert sorted(m["files"]) == sorted(_final_files(path) - {MANIFEST})
    assert m["figures"] == ["histogram.png", "histogram.pdf"]
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True
    )
    if head.returncode == 0:  # a git checkout: the revision is recorded
        assert re.fullmatch(r"[0-9a-f]{40}(\+dirty)?", m["git_revision"])
        assert m["git_revision"].startswith(head.stdout.strip())

    summary = run.summary
    assert {"mean", "sd", "comparisons", "all_passed"} <= set(summary)
    assert summary["all_passed"] is True
    assert [c["quantity"] for c in summary["comparisons"]] == [
        "mean of estimates",
        "sd of estimates",
    ]
    table = run.table
    assert list(table.columns) == ["seed", "mean"] and len(table) == cfg.n_seeds


def test_resume_skips_complete_and_force_redoes(tmp_path):
    calls: list = []
    exp = _counting(get_experiment("demo-mean"), calls)
    path = run_experiment(exp, QUICK, out=tmp_path).path
    stamp = (path / MANIFEST).read_text()
    assert run_experiment(exp, QUICK, out=tmp_path).path == path
    assert len(calls) == 1 and (path / MANIFEST).read_text() == stamp
    run_experiment(exp, QUICK, out=tmp_path, force=True)
    assert len(calls) == 2 and is_complete(path)
    assert (
        json.loads((path / MANIFEST).read_text())["started_at"] >= json.loads(stamp)["started_at"]
    )


def test_same_config_same_directory_and_numbers(tmp_path):
    a = run_experiment("demo-mean", QUICK, out=tmp_path / "a").path
    b = run_experiment("demo-mean", DemoMeanConfig(**QUICK), out=tmp_path / "b", plots=False).path
    assert a.name == b.name
    pd.testing.assert_frame_equal(load_run(a).table, load_run(b).table)
    assert (a / "summary.json").read_bytes() == (b / "summary.json").read_bytes()
    assert not list(b.glob("*.png"))  # plots=False


def test_crash_in_plot_leaves_incomplete_dir_that_is_redone(tmp_path):
    def broken_plot(result, config):
        raise RuntimeError("plot crashed")

    calls: list = []
    exp = get_experiment("demo-mean")
    with pytest.raises(RuntimeError, match="plot crashed"):
        run_experiment(_counting(exp, calls, plot=broken_plot), QUICK, out=tmp_path)
    path = run_dir(tmp_path, "demo-mean", exp.make_config(QUICK))
    assert path.is_dir() and not is_complete(path)
    assert not list(path.glob("*.png")) and not list(path.glob(".*.tmp"))
    with pytest.raises(FileNotFoundError, match="not a complete attnlab run"):
        load_run(path)
    # re-running without --force redoes the incomplete directory
    run_experiment(_counting(exp, calls), QUICK, out=tmp_path)
    assert len(calls) == 2 and is_complete(path)
    assert (path / "histogram.png").is_file()


def test_crash_in_run_writes_nothing_final(tmp_path):
    def run(config):
        raise ValueError("boom")

    exp = dataclasses.replace(get_experiment("demo-mean"), run=run)
    with pytest.raises(ValueError, match="boom"):
        run_experiment(exp, QUICK, out=tmp_path)
    (path,) = tmp_path.iterdir()
    assert _final_files(path) == set()


_KILL_SCRIPT = """
import os, pathlib, sys, time
from attnlab.store import run_experiment

out, marker = sys.argv[1], pathlib.Path(sys.argv[2])
real_replace = os.replace

def replace_then_hang(src, dst):
    # the temp file of summary.json is fully written; hang before the rename -> SIGKILL lands
    if str(dst).endswith("summary.json"):
        marker.write_text(str(src))
        time.sleep(120)
    real_replace(src, dst)

os.replace = replace_then_hang
run_experiment("demo-mean", {"n": 20, "n_seeds": 40}, out=out)
"""


def test_sigkill_mid_write_leaves_no_half_file_and_is_redone(tmp_path, python, subprocess_env):
    out, marker = tmp_path / "out", tmp_path / "marker"
    proc = subprocess.Popen(
        [python, "-c", _KILL_SCRIPT, str(out), str(marker)],
        env=subprocess_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert proc.poll() is None, proc.stdout.read().decode()
            assert time.monotonic() < deadline, "child never reached the write"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    (path,) = out.iterdir()
    assert not is_complete(path)
    # the kill landed between writing summary.json's temp file and renaming it
    assert Path(marker.read_text()).exists()
    assert "summary.json" not in _final_files(path)
    # every file under a final name is whole
    assert _final_files(path) == {"config.toml", "results.parquet"}
    DemoMeanConfig.from_toml_file(path / "config.toml")
    assert len(pd.read_parquet(path / "results.parquet")) == QUICK["n_seeds"]

    # resume: the incomplete directory is redone, stale temp files removed
    assert run_experiment("demo-mean", QUICK, out=out).path == path
    assert is_complete(path) and not list(path.glob(".*.tmp"))
    fresh = run_experiment("demo-mean", QUICK, out=tmp_path / "fresh").path
    assert (path / "summary.json").read_bytes() == (fresh / "summary.json").read_bytes()


def test_racing_writers_run_a_point_once(tmp_path):
    calls: list = []
    exp = _counting(get_experiment("demo-mean"), calls, delay=0.5)
    paths: list = []
    errors: list = []

    def worker():
        try:
            paths.append(run_experiment(exp, QUICK, out=tmp_path, plots=False).path)
        except Exception as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    assert len(set(paths)) == 1 and len(paths) == 3
    assert len(calls) == 1  # the others waited on the lock, then found the point complete
    assert is_complete(paths[0]) and load_run(paths[0]).summary["all_passed"]


def test_result_without_plot_function(tmp_path):
    exp = dataclasses.replace(get_experiment("demo-mean"), plot=None)
    path = run_experiment(exp, QUICK, out=tmp_path).path
    assert json.loads((path / MANIFEST).read_text())["figures"] == []
    assert isinstance(exp.run(exp.make_config(QUICK)), Result)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX rename semantics")
def test_atomic_write_replaces_whole_file(tmp_path):
    from attnlab.store import atomic_write_bytes

    target = tmp_path / "f.bin"
    atomic_write_bytes(target, b"a" * 1000)
    atomic_write_bytes(target, b"b" * 10)
    assert target.read_bytes() == b"b" * 10
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]
