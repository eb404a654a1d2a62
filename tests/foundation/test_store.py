"""Results store: layout, manifest checksums, verification of every file before it is trusted,
atomicity under crashes and SIGKILL (a killed --force rerun loses nothing), resume, races."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
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

from attnlab.compare import Comparison, Result
from attnlab.demo.experiments.mean import DemoMeanConfig
from attnlab.registry import get_experiment
from attnlab.store import (
    MANIFEST,
    IncompleteRunError,
    is_complete,
    load_run,
    run_dir,
    run_experiment,
    verify_run,
)

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


def _temp_dirs(out: Path) -> list[Path]:
    """The hidden directories a run is computed in before it is swapped into place."""
    return [p for p in out.glob(".*.tmp") if p.is_dir()]


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
    # every listed file's size and sha256 are recorded, and the manifest's own digest
    assert sorted(m["checksums"]) == sorted(m["files"])
    for name, digest in m["checksums"].items():
        data = (path / name).read_bytes()
        assert digest == {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    assert re.fullmatch(r"[0-9a-f]{64}", m["manifest_sha256"])
    assert verify_run(path) is None and not _temp_dirs(tmp_path)
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


def test_crash_in_plot_leaves_nothing_final_and_is_redone(tmp_path):
    def broken_plot(result, config):
        raise RuntimeError("plot crashed")

    calls: list = []
    exp = get_experiment("demo-mean")
    with pytest.raises(RuntimeError, match="plot crashed"):
        run_experiment(_counting(exp, calls, plot=broken_plot), QUICK, out=tmp_path)
    path = run_dir(tmp_path, "demo-mean", exp.make_config(QUICK))
    # computed in a temp directory that is removed: nothing under the final name
    assert not path.exists() and not _temp_dirs(tmp_path)
    with pytest.raises(IncompleteRunError, match="not a complete attnlab run: no such directory"):
        load_run(path)
    run_experiment(_counting(exp, calls), QUICK, out=tmp_path)
    assert len(calls) == 2 and is_complete(path)
    assert (path / "histogram.png").is_file()


def test_crash_in_run_writes_nothing_final(tmp_path):
    def run(config):
        raise ValueError("boom")

    exp = dataclasses.replace(get_experiment("demo-mean"), run=run)
    with pytest.raises(ValueError, match="boom"):
        run_experiment(exp, QUICK, out=tmp_path)
    assert _final_files(tmp_path) == set() and not _temp_dirs(tmp_path)


def test_a_failing_forced_rerun_keeps_the_old_result(tmp_path):
    exp = get_experiment("demo-mean")
    path = run_experiment(exp, QUICK, out=tmp_path).path
    before = {n: (path / n).read_bytes() for n in _final_files(path)}

    def run(config):
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        run_experiment(dataclasses.replace(exp, run=run), QUICK, out=tmp_path, force=True)
    assert {n: (path / n).read_bytes() for n in _final_files(path)} == before
    assert is_complete(path) and not _temp_dirs(tmp_path)


# -- corruptions: each makes the directory incomplete, it is redone with one line ---------------
def _flip_byte(file: Path, at: float = 0.5) -> None:
    data = bytearray(file.read_bytes())
    i = int(len(data) * at)
    data[i] ^= 0x01
    file.write_bytes(bytes(data))


def _edit_manifest(path: Path) -> None:
    m = json.loads((path / MANIFEST).read_text())
    m["timings_s"]["run"] += 1.0  # valid JSON, one value changed
    (path / MANIFEST).write_text(json.dumps(m))


def _old_manifest(path: Path) -> None:
    m = json.loads((path / MANIFEST).read_text())
    del m["checksums"], m["manifest_sha256"]  # as written by an attnlab without checksums
    (path / MANIFEST).write_text(json.dumps(m))


CORRUPTIONS = {
    "truncated results.parquet": (
        lambda p: os.truncate(p / "results.parquet", 100),
        "results.parquet has 100 bytes",
    ),
    "one byte flipped in results.parquet": (
        lambda p: _flip_byte(p / "results.parquet"),
        "results.parquet does not match its recorded sha256",
    ),
    "deleted results.parquet": (
        lambda p: (p / "results.parquet").unlink(),
        "results.parquet is missing",
    ),
    "deleted summary.json": (lambda p: (p / "summary.json").unlink(), "summary.json is missing"),
    "one byte flipped in summary.json": (
        lambda p: _flip_byte(p / "summary.json", 0.3),
        "summary.json does not match its recorded sha256",
    ),
    "garbage config.toml": (
        lambda p: (p / "config.toml").write_text("n = = garbage\n"),
        "config.toml has",
    ),
    "garbage manifest.json": (
        lambda p: (p / MANIFEST).write_bytes(b"\x00garbage{"),
        "manifest.json is not valid JSON",
    ),
    "edited manifest.json": (_edit_manifest, "manifest.json does not match its own digest"),
    "manifest.json without checksums": (_old_manifest, "manifest.json has no checksums"),
    "deleted manifest.json": (lambda p: (p / MANIFEST).unlink(), "no manifest.json"),
    "deleted figure": (lambda p: (p / "histogram.png").unlink(), "histogram.png is missing"),
}


@pytest.fixture(scope="module")
def pristine_run(tmp_path_factory) -> Path:
    """One complete demo-mean run, copied by each corruption test (the run itself is the same
    for all of them)."""
    out = tmp_path_factory.mktemp("pristine")
    return run_experiment(get_experiment("demo-mean"), QUICK, out=out).path


@pytest.mark.parametrize("kind", sorted(CORRUPTIONS))
def test_a_corrupt_directory_is_never_trusted_and_is_redone(tmp_path, kind, pristine_run):
    import shutil

    corrupt, reason = CORRUPTIONS[kind]
    calls: list = []
    exp = _counting(get_experiment("demo-mean"), calls)
    path = tmp_path / pristine_run.name
    shutil.copytree(pristine_run, path)
    assert is_complete(path)
    good = (path / "summary.json").read_bytes()
    corrupt(path)
    assert not is_complete(path)
    assert reason in verify_run(path)
    with pytest.raises(IncompleteRunError, match="not a complete attnlab run"):
        load_run(path)
    lines: list[str] = []
    again = run_experiment(exp, QUICK, out=tmp_path, log=lines.append)
    assert len(calls) == 1 and again.status == "ran" and reason in again.redone
    assert lines[0].startswith(f"demo-mean: {path} is not a complete run (")
    assert reason in lines[0] and lines[0].endswith("): redoing it")
    assert is_complete(path) and (path / "summary.json").read_bytes() == good
    assert not _temp_dirs(tmp_path)


_KILL_SCRIPT = """
import os, pathlib, sys, time
from attnlab.store import run_experiment

out, marker, force = sys.argv[1], pathlib.Path(sys.argv[2]), sys.argv[3] == "force"
real_replace = os.replace

def replace_then_hang(src, dst):
    # the temp file of summary.json is fully written; hang before the rename -> SIGKILL lands
    if str(dst).endswith("summary.json"):
        marker.write_text(str(src))
        time.sleep(120)
    real_replace(src, dst)

os.replace = replace_then_hang
run_experiment("demo-mean", {"n": 20, "n_seeds": 40}, out=out, force=force)
"""


def _sigkill_mid_write(out: Path, marker: Path, python, env, *, force: bool) -> None:
    """Run demo-mean in a child process and SIGKILL it while summary.json is being written."""
    proc = subprocess.Popen(
        [python, "-c", _KILL_SCRIPT, str(out), str(marker), "force" if force else "-"],
        env=env,
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


def test_sigkill_mid_write_leaves_no_half_file_and_is_redone(tmp_path, python, subprocess_env):
    out, marker = tmp_path / "out", tmp_path / "marker"
    _sigkill_mid_write(out, marker, python, subprocess_env, force=False)
    path = run_dir(out, "demo-mean", DemoMeanConfig(**QUICK))
    assert not path.exists() and _final_files(out) == set()  # nothing under a final name
    # the kill landed between writing summary.json's temp file and renaming it, in the
    # run's temp directory; every file under a final name there is whole
    (tmp,) = _temp_dirs(out)
    assert Path(marker.read_text()).parent == tmp and Path(marker.read_text()).exists()
    assert _final_files(tmp) == {"config.toml", "results.parquet"}
    DemoMeanConfig.from_toml_file(tmp / "config.toml")
    assert len(pd.read_parquet(tmp / "results.parquet")) == QUICK["n_seeds"]

    # resume: the point is run again, the stale temp directory removed
    assert run_experiment("demo-mean", QUICK, out=out).path == path
    assert is_complete(path) and not _temp_dirs(out)
    fresh = run_experiment("demo-mean", QUICK, out=tmp_path / "fresh").path
    assert (path / "summary.json").read_bytes() == (fresh / "summary.json").read_bytes()


def test_a_killed_forced_rerun_loses_nothing(tmp_path, python, subprocess_env):
    out, marker = tmp_path / "out", tmp_path / "marker"
    path = run_experiment("demo-mean", QUICK, out=out).path
    before = {n: (path / n).read_bytes() for n in _final_files(path)}
    _sigkill_mid_write(out, marker, python, subprocess_env, force=True)
    # the forced rerun was computing into its own temp directory: the old result is intact
    assert {n: (path / n).read_bytes() for n in _final_files(path)} == before
    assert is_complete(path) and len(_temp_dirs(out)) == 1
    assert run_experiment("demo-mean", QUICK, out=out).status == "skipped"
    assert run_experiment("demo-mean", QUICK, out=out, force=True).status == "ran"
    assert is_complete(path) and not _temp_dirs(out)


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


# -- a NaN is a failure, and summary.json stays strict JSON ---------------------------------------
def _nan_run(config):
    """A run whose theory came out NaN and whose headline numbers are not finite."""
    return Result(
        table=pd.DataFrame({"x": [1.0, math.nan]}),
        summary={"estimate": math.nan, "limit": math.inf, "grid": [1.0, -math.inf]},
        comparisons=[
            Comparison("m", math.nan, 0.5, 0.1, max_tolerance=1.0),
            Comparison("q", 1.0, 1.01, 0.1, max_tolerance=1.0),
        ],
        seeds=[0],
    )


def _strict_json(text: str):
    def refuse(token):
        raise ValueError(f"not JSON: {token}")

    return json.loads(text, parse_constant=refuse)


def test_a_nan_result_is_stored_as_a_failure_in_strict_json(tmp_path):
    exp = dataclasses.replace(get_experiment("demo-mean"), run=_nan_run, plot=None)
    stored = run_experiment(exp, QUICK, out=tmp_path)
    summary = _strict_json((stored.path / "summary.json").read_text())
    _strict_json((stored.path / MANIFEST).read_text())
    assert summary["estimate"] is None and summary["limit"] is None
    assert summary["grid"] == [1.0, None]
    assert summary["all_passed"] is False and summary["verdict"]["status"] == "failed"
    assert summary["verdict"]["reasons"] == ["invalid: m: theory is not finite"]
    assert [c["status"] for c in summary["comparisons"]] == ["invalid", "pass"]
    assert stored.verdict["status"] == "failed" and not stored.result.passed


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2", "two-renames"])
def test_replace_dir_swaps_a_whole_directory(tmp_path, monkeypatch, exchange):
    import attnlab._atomic as atomic

    calls: list = []
    real = atomic._exchange
    if exchange:
        monkeypatch.setattr(atomic, "_exchange", lambda a, b: calls.append(real(a, b)) or calls[-1])
    else:  # a file system or OS without RENAME_EXCHANGE
        monkeypatch.setattr(atomic, "_exchange", lambda a, b: False)
    target = tmp_path / "run"
    target.mkdir()
    (target / "old.txt").write_text("old")
    new = atomic.make_temp_dir(target)
    assert new.name.startswith(".run.") and new.name.endswith(".tmp")
    (new / "new.txt").write_text("new")
    atomic.replace_dir(new, target)
    if exchange and sys.platform.startswith("linux"):
        assert calls == [True]  # one atomic exchange, not two renames
    assert [p.name for p in target.iterdir()] == ["new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["run"]  # the old content is gone
    fresh = atomic.make_temp_dir(tmp_path / "other")
    atomic.replace_dir(fresh, tmp_path / "other")  # no target yet: a plain rename
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other", "run"]
