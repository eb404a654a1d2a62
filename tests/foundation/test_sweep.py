"""Sweeps: grid expansion, sweep files, size limits, resume, structured outcomes, corrupt points,
collect, engine equivalence, network timeouts."""

from __future__ import annotations

import contextlib
import itertools
import json
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from attnlab._validate import ParameterError
from attnlab.cli import app
from attnlab.compare import Result
from attnlab.config import ConfigError, Cost, ExperimentConfig
from attnlab.registry import _REGISTRY, experiment
from attnlab.store import MANIFEST, is_complete
from attnlab.sweep import (
    Sweep,
    Task,
    TaskOutcome,
    check_size,
    collect,
    expand_grid,
    find_runs,
    load_sweep_file,
    parse_sweep,
    run_tasks,
    write_table,
)

# mu and seed change no array shape: every point reuses the compiled code of the first
BASE = {"n_seeds": 40, "n": 25}  # enough seeds for an informative sd comparison
GRID = {"mu": [0.0, 1.5], "seed": [0, 1]}


def _files(d: Path) -> dict[str, bytes]:
    return {name: (d / name).read_bytes() for name in ("config.toml", "summary.json")}


def demo_tasks(out: Path, grid=GRID, base=BASE) -> list[Task]:
    return Sweep("demo-mean", grid, base, quick=True).tasks(out)


def run_paths(tasks, **kwargs) -> list[Path]:
    """run_tasks, asserting every task completed; the run directories in task order."""
    outcomes = run_tasks(tasks, **kwargs)
    assert all(o.completed for o in outcomes), [o.error for o in outcomes]
    return [o.path for o in outcomes]


# -- grid and sweep files -----------------------------------------------------------------------
@settings(max_examples=50, deadline=None)
@given(
    st.dictionaries(
        st.text("abcdefgh", min_size=1, max_size=3),
        st.lists(st.integers(), min_size=1, max_size=4),
        max_size=4,
    )
)
def test_expand_grid_is_the_cartesian_product(grid):
    points = expand_grid(grid)
    expected = [dict(zip(grid, combo, strict=True)) for combo in itertools.product(*grid.values())]
    assert points == expected
    n = 1
    for values in grid.values():
        n *= len(values)
    assert len(points) == n
    assert all(list(p) == list(grid) for p in points)


def test_expand_grid_order_last_key_fastest():
    assert expand_grid({"a": [1, 2], "b": [3, 4]}) == [
        {"a": 1, "b": 3},
        {"a": 1, "b": 4},
        {"a": 2, "b": 3},
        {"a": 2, "b": 4},
    ]
    assert expand_grid({}) == [{}]


@pytest.mark.parametrize(
    ("grid", "msg"),
    [({"n": 3}, "grid.n = 3: must be a list"), ({"n": []}, "grid.n = []: must list at least one")],
)
def test_expand_grid_errors(grid, msg):
    with pytest.raises(ConfigError, match=msg.replace("[", r"\[").replace("]", r"\]")):
        expand_grid(grid)


@pytest.mark.parametrize(
    ("data", "msg"),
    [
        ({"experiment": "demo-mean", "gird": {}}, "unknown key(s) 'gird'"),
        ({"grid": {"n": [1]}}, "experiment = None: must name a registered experiment"),
        ({"experiment": "demo-mean", "quick": "yes"}, "quick = 'yes': must be true or false"),
        ({"experiment": "demo-mean", "base": {"n": 1}, "grid": {"n": [2]}}, "n in both"),
        ({"experiment": "demo-mean", "grid": [1]}, "grid must be a table"),
        ({"experiment": "demo-mean", "out": 3}, "out = 3: must be a path string"),
    ],
)
def test_parse_sweep_errors(data, msg):
    with pytest.raises(ConfigError) as info:
        parse_sweep(data, source="s.toml")
    assert msg in str(info.value) and str(info.value).startswith("s.toml: ")


def test_load_sweep_file(tmp_path):
    f = tmp_path / "grid.toml"
    f.write_text(
        'experiment = "demo-mean"\nquick = true\n[base]\nn_seeds = 4\n[grid]\nn = [5, 50]\n'
    )
    sweep = load_sweep_file(f)
    assert sweep.out == Path("results") / "grid"
    tasks = sweep.tasks(tmp_path / "o")
    assert tasks == [
        Task("demo-mean", {"n_seeds": 4, "n": 5}, True, tmp_path / "o"),
        Task("demo-mean", {"n_seeds": 4, "n": 50}, True, tmp_path / "o"),
    ]
    assert tasks[0].config().n_seeds == 4 and tasks[1].config().n == 50


def test_invalid_point_fails_before_any_work(tmp_path):
    tasks = demo_tasks(tmp_path, grid={"n": [5, 0]})
    with pytest.raises(ConfigError, match="n = 0: Input should be greater than or equal to 1"):
        run_tasks(tasks, progress=False)
    assert not tmp_path.exists() or not any(tmp_path.iterdir())


def test_engine_and_option_validation(tmp_path):
    tasks = demo_tasks(tmp_path)
    with pytest.raises(ParameterError, match="engine = 'ray' is not one of"):
        run_tasks(tasks, engine="ray")
    with pytest.raises(ParameterError, match="scheduler = .* only used by engine 'dask'"):
        run_tasks(tasks, scheduler="tcp://127.0.0.1:1")
    with pytest.raises(ParameterError, match="workers = 0 is out of range"):
        run_tasks(tasks, engine="process", workers=0)


def test_unreachable_scheduler_is_one_line(tmp_path):
    import socket

    with socket.socket() as s:  # a free port on 127.0.0.1 that nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ParameterError) as info:
        run_tasks(
            demo_tasks(tmp_path),
            engine="dask",
            scheduler=f"tcp://127.0.0.1:{port}",
            timeout=1,
            progress=False,
        )
    assert str(info.value).startswith(f"scheduler = 'tcp://127.0.0.1:{port}': ")
    assert "\n" not in str(info.value)


# -- running, resume, failures ------------------------------------------------------------------
def test_local_sweep_resume_force_and_duplicates(tmp_path):
    tasks = demo_tasks(tmp_path)
    outcomes = run_tasks(tasks + tasks[:1], progress=False)  # a duplicate point runs once
    dirs = [o.path for o in outcomes]
    assert len(dirs) == 5 and dirs[4] == dirs[0] and len(set(dirs)) == 4
    assert outcomes[4] is outcomes[0] and [o.status for o in outcomes[:4]] == ["ran"] * 4
    assert all(o.verdict["status"] == "passed" and o.passed for o in outcomes)
    assert all(o.wall_s > 0 and o.error is None and o.traceback is None for o in outcomes)
    assert sorted(dirs[:4]) == find_runs(tmp_path)
    stamps = {d: (d / MANIFEST).read_text() for d in dirs}
    # resume: an incomplete point (manifest removed) is redone, complete ones are skipped
    (dirs[1] / MANIFEST).unlink()
    again = run_tasks(tasks, progress=False)
    assert [o.path for o in again] == dirs[:4]
    assert [o.status for o in again] == ["skipped", "ran", "skipped", "skipped"]
    assert again[0].verdict == outcomes[0].verdict and again[0].wall_s == 0
    for d in (dirs[0], dirs[2], dirs[3]):
        assert (d / MANIFEST).read_text() == stamps[d]
    assert is_complete(dirs[1])
    run_tasks(tasks[:1], progress=True, force=True)
    assert (dirs[0] / MANIFEST).read_text() != stamps[dirs[0]]


class FlakyConfig(ExperimentConfig):
    k: int = 0

    def cost(self) -> Cost:
        return Cost(8.0, 1.0, "one number")


@pytest.fixture
def flaky():
    def run(config):
        if config.k == 1:
            raise RuntimeError("k = 1 is cursed")
        return Result(table=pd.DataFrame({"k": [config.k]}), summary={"k": config.k})

    experiment("test-flaky", config=FlakyConfig, description="fails at k=1", family="test")(run)
    yield "test-flaky"
    _REGISTRY.pop("test-flaky", None)


def test_failing_point_does_not_stop_the_others(tmp_path, flaky):
    tasks = Sweep(flaky, {"k": [0, 1, 2]}).tasks(tmp_path)
    outcomes = run_tasks(tasks, progress=False)
    assert all(isinstance(o, TaskOutcome) for o in outcomes)
    assert [o.status for o in outcomes] == ["ran", "failed", "ran"]
    assert [o.task for o in outcomes] == tasks
    failed = outcomes[1]
    assert failed.error == "RuntimeError: k = 1 is cursed"
    assert failed.traceback.startswith("Traceback") and "k = 1 is cursed" in failed.traceback
    assert failed.path == tasks[1].run_dir() and failed.verdict is None
    assert failed.line().startswith("failed   test-flaky") and "cursed" in failed.line()
    # a run with no comparison rows completes, but its verdict is not a pass
    assert outcomes[0].verdict["status"] == "failed" and not outcomes[0].passed
    assert "no theory-vs-simulation rows" in outcomes[0].verdict["reasons"][0]
    assert [is_complete(t.run_dir()) for t in tasks] == [True, False, True]


# -- collect ------------------------------------------------------------------------------------
def test_collect_rows_and_summary(tmp_path):
    dirs = run_paths(demo_tasks(tmp_path / "s"), progress=False)
    rows = collect(tmp_path / "s")
    assert len(rows) == 4 * BASE["n_seeds"]
    assert {
        "experiment",
        "run",
        "config_hash",
        "config.model.mu",
        "config.seed",
        "seed",
        "mean",
    } <= set(rows.columns)
    # each run's rows carry its config: the sample means of a point scatter around its mu
    # (each is N(mu, 1/n); the mean of n_seeds of them has sd 1/sqrt(n n_seeds): 6 sd bound)
    for (mu, _seed), group in rows.groupby(["config.model.mu", "config.seed"]):
        assert len(group) == BASE["n_seeds"] and (group["config.n"] == BASE["n"]).all()
        assert abs(group["mean"].mean() - mu) < 6 / (BASE["n"] * BASE["n_seeds"]) ** 0.5
    summary = collect(tmp_path / "s", what="summary")
    assert len(summary) == 4 and summary["all_passed"].all()
    assert sorted(summary["run"]) == sorted(d.name for d in dirs)
    for d in dirs:
        row = summary[summary["run"] == d.name].iloc[0]
        assert row["summary.mean"] == json.loads((d / "summary.json").read_text())["mean"]
    for suffix in ("parquet", "csv"):
        path = write_table(summary, tmp_path / f"t.{suffix}")
        back = pd.read_parquet(path) if suffix == "parquet" else pd.read_csv(path)
        pd.testing.assert_frame_equal(back, summary, check_exact=False, rtol=1e-15)
    with pytest.raises(ParameterError, match=r"must end in \.parquet or \.csv"):
        write_table(summary, tmp_path / "t.xlsx")


def test_cli_sweep_and_collect(tmp_path, python, subprocess_env):
    f = tmp_path / "g.toml"
    f.write_text(
        f'experiment = "demo-mean"\nout = "{tmp_path / "o"}"\n[base]\nn_seeds = 3\n[grid]\nn = [4, 8]\n'
    )
    # a real `python -m attnlab` process spawning a worker process (the __main__ guard matters)
    res = subprocess.run(
        [python, "-m", "attnlab", "sweep", str(f), "--quick", "--engine", "process"]
        + ["--workers", "1", "--no-progress"],
        env=subprocess_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"2 points complete under {tmp_path / 'o'}" in res.stdout
    assert len(find_runs(tmp_path / "o")) == 2
    # the process engine's results equal the local engine's, byte for byte
    local = run_paths(load_sweep_file(f).tasks(tmp_path / "local"), progress=False)
    for d in local:
        assert _files(d) == _files(tmp_path / "o" / d.name)
        pd.testing.assert_frame_equal(
            pd.read_parquet(d / "results.parquet"),
            pd.read_parquet(tmp_path / "o" / d.name / "results.parquet"),
        )
    runner = CliRunner()
    res = runner.invoke(app, ["collect", str(tmp_path / "o"), "--out", str(tmp_path / "c.csv")])
    assert res.exit_code == 0, res.output
    assert "6 rows from 2 runs" in res.stdout
    assert sorted(pd.read_csv(tmp_path / "c.csv")["config.n"].unique()) == [4, 8]
    res = runner.invoke(app, ["collect", str(tmp_path / "o"), "--summary"])
    assert res.exit_code == 0 and (tmp_path / "o" / "collected.parquet").is_file()
    res = runner.invoke(app, ["sweep", str(f), "--engine", "ray"])
    assert res.exit_code == 2 and "Invalid value for '--engine'" in res.output


# -- engine equivalence -------------------------------------------------------------------------
def test_engines_give_identical_results(tmp_path):
    # local vs dask (a LocalCluster); the process engine is compared in test_cli_sweep_and_collect
    # and a real dask cluster in test_dask_cluster.py
    results = {}
    for engine, workers in (("local", None), ("dask", 1)):
        dirs = run_paths(
            demo_tasks(tmp_path / engine), engine=engine, workers=workers, progress=False
        )
        assert all(is_complete(d) for d in dirs)
        results[engine] = dirs
        # a complete sweep is a no-op on every engine (no cluster is started for nothing)
        again = run_tasks(demo_tasks(tmp_path / engine), engine=engine, progress=False)
        assert [o.path for o in again] == dirs and {o.status for o in again} == {"skipped"}
    ref = results["local"]
    for engine in ("dask",):
        assert [d.name for d in results[engine]] == [d.name for d in ref]
        for a, b in zip(ref, results[engine], strict=True):
            assert _files(a) == _files(b), (engine, a.name)
            pd.testing.assert_frame_equal(
                pd.read_parquet(a / "results.parquet"), pd.read_parquet(b / "results.parquet")
            )
    # the dask points ran in worker processes, not here
    pids = {json.loads((d / MANIFEST).read_text())["pid"] for d in results["dask"]}
    assert pids and all(p != json.loads((ref[0] / MANIFEST).read_text())["pid"] for p in pids)


# -- sizes: point count and cost, refused before any work ---------------------------------------
def _sweep_file(tmp_path: Path, grid: str, experiment: str = "demo-mean", base: str = "") -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    f = tmp_path / "grid.toml"
    f.write_text(
        f'experiment = "{experiment}"\nquick = true\nout = "{tmp_path / "o"}"\n'
        f"[base]\n{base}\n[grid]\n{grid}\n"
    )
    return f


def test_check_size_refuses_more_than_the_maximum(monkeypatch):
    check_size(1000)
    with pytest.raises(ParameterError, match="1001 points, more than the maximum of 1000"):
        check_size(1001)
    check_size(1001, yes=True)
    monkeypatch.setenv("ATTNLAB_MAX_POINTS", "5")
    with pytest.raises(ParameterError, match="6 points, more than the maximum of 5"):
        check_size(6)
    check_size(6, max_points=6)


def test_cli_sweep_prints_its_size_and_refuses_a_huge_grid(tmp_path):
    # 10^6 points: refused from the grid's shape, without expanding or validating the points
    f = _sweep_file(
        tmp_path, "n = " + str(list(range(1, 1001))) + "\nseed = " + str(list(range(1000)))
    )
    res = CliRunner().invoke(app, ["sweep", str(f)])
    assert res.exit_code == 2, res.output
    assert "sweep: 1000000 points of demo-mean" in res.stdout
    err = res.stderr.strip()
    assert err.count("\n") == 0 and err.startswith("error: the sweep has 1000000 points")
    assert "pass --yes" in err and not (tmp_path / "o").exists()
    f = _sweep_file(tmp_path, "n = [4, 8]", base="n_seeds = 3")
    res = CliRunner().invoke(app, ["sweep", str(f), "--max-points", "1", "--no-progress"])
    assert res.exit_code == 2 and "2 points, more than the maximum of 1" in res.stderr
    res = CliRunner().invoke(app, ["sweep", str(f), "--max-points", "1", "--yes", "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "2 points complete under" in res.stdout


def test_cost_is_checked_for_every_point_before_any_work(tmp_path, monkeypatch):
    tasks = demo_tasks(tmp_path / "o", grid={"n": [10, 10**7]})
    monkeypatch.setenv("ATTNLAB_MAX_MEMORY", str(10**9))  # demo-mean needs 8 n n_seeds bytes
    from attnlab._resources import TooLargeError

    with pytest.raises(TooLargeError) as info:
        run_tasks(tasks, progress=False)
    msg = str(info.value)
    assert msg.startswith("demo-mean: needs about 3.2 GB of memory (n × n_seeds), more than")
    assert "1 GB of $ATTNLAB_MAX_MEMORY; pass --allow-large" in msg and "\n" not in msg
    assert not (tmp_path / "o").exists()  # the small point did not run either
    outcomes = run_tasks(tasks, progress=False, on_invalid="fail")
    assert [o.status for o in outcomes] == ["ran", "failed"]
    assert outcomes[1].error == msg
    monkeypatch.setenv("ATTNLAB_MAX_FLOPS", "100")
    res = CliRunner().invoke(
        app, ["sweep", str(_sweep_file(tmp_path, "n = [5]")), "--no-progress", "--force"]
    )
    assert res.exit_code == 2 and "needs about 2.5e+02 flops of work" in res.stderr
    res = CliRunner().invoke(
        app, ["sweep", str(_sweep_file(tmp_path, "n = [5]")), "--no-progress", "--allow-large"]
    )
    assert res.exit_code == 0, res.output


# -- verdicts: --strict --------------------------------------------------------------------------
def test_cli_sweep_strict_fails_unless_every_point_passes(tmp_path, flaky):
    ok = _sweep_file(tmp_path, "n = [4, 8]", base="n_seeds = 20")
    res = CliRunner().invoke(app, ["sweep", str(ok), "--strict", "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "2/2 points PASSED" in res.stdout
    # k = 0 and 2 complete but compare nothing: not a pass
    empty = _sweep_file(tmp_path / "e", "k = [0, 2]", experiment=flaky)
    res = CliRunner().invoke(app, ["sweep", str(empty), "--no-progress"])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(app, ["sweep", str(empty), "--no-progress", "--strict"])
    assert res.exit_code == 1
    assert "0/2 points PASSED" in res.stdout
    assert "FAILED (no theory-vs-simulation rows: nothing was compared)" in res.stdout
    # a crashing point: exit 1 without --strict, its error on one line
    crash = _sweep_file(tmp_path / "c", "k = [1, 2]", experiment=flaky)
    res = CliRunner().invoke(app, ["sweep", str(crash), "--no-progress"])
    assert res.exit_code == 1
    assert "RuntimeError: k = 1 is cursed" in res.stderr and "Traceback" not in res.output


# -- corrupt points are redone, never collected --------------------------------------------------
def test_a_corrupt_point_is_redone_by_the_sweep_and_left_out_by_collect(tmp_path):
    tasks = demo_tasks(tmp_path, grid={"mu": [0.0, 1.5]})
    dirs = run_paths(tasks, progress=False)
    good = (dirs[1] / "results.parquet").read_bytes()
    flipped = bytearray(good)
    flipped[len(flipped) // 2] ^= 0x01
    (dirs[1] / "results.parquet").write_bytes(bytes(flipped))
    lines: list[str] = []
    assert find_runs(tmp_path, log=lines.append) == [dirs[0]]
    assert lines == [
        f"left out {dirs[1]}: not a complete run (results.parquet does not match its recorded "
        "sha256 (corrupt)); run it again to redo it"
    ]
    res = CliRunner().invoke(app, ["collect", str(tmp_path), "--out", str(tmp_path / "c.csv")])
    assert res.exit_code == 0 and f"left out {dirs[1]}" in res.stderr
    assert "40 rows from 1 runs" in res.stdout
    outcomes = run_tasks(tasks, progress=False, log=lines.append)
    assert [o.status for o in outcomes] == ["skipped", "ran"]
    assert "results.parquet does not match" in outcomes[1].redone
    assert lines[-1] == (
        f"demo-mean: {dirs[1]} is not a complete run (results.parquet does not match its "
        "recorded sha256 (corrupt)): redoing it"
    )
    assert (dirs[1] / "results.parquet").read_bytes() == good


# -- network engines time out with one line ------------------------------------------------------
@pytest.fixture
def fake_server():
    """``fake_server(reply)``: a TCP server on 127.0.0.1 that accepts and sends ``reply``
    (``None``: says nothing, keeps the connection open). Returns its address."""
    import socket
    import threading

    servers: list = []

    def start(reply: bytes | None) -> str:
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(8)
        conns: list = []

        def serve():
            while True:
                try:
                    conn, _ = srv.accept()
                except OSError:
                    return
                conns.append(conn)
                if reply is not None:
                    with contextlib.suppress(OSError):
                        conn.sendall(reply)

        threading.Thread(target=serve, daemon=True).start()
        servers.append((srv, conns))
        return f"tcp://127.0.0.1:{srv.getsockname()[1]}"

    yield start
    for srv, conns in servers:
        srv.close()
        for c in conns:
            c.close()


def test_a_silent_scheduler_times_out_with_one_line(tmp_path, fake_server):
    address = fake_server(None)
    with pytest.raises(ParameterError) as info:
        run_tasks(demo_tasks(tmp_path), engine="dask", scheduler=address, timeout=1, progress=False)
    assert str(info.value).startswith(f"scheduler = {address!r}: ")
    assert "\n" not in str(info.value)
    assert not any(is_complete(t.run_dir()) for t in demo_tasks(tmp_path))


def test_a_non_dask_peer_is_one_line(tmp_path, fake_server):
    # a peer that answers garbage: dask would read a huge frame length ("Unable to allocate")
    address = fake_server(b"\xff" * 64 + b"HTTP/1.1 400 Bad Request\r\n\r\n")
    res = CliRunner().invoke(
        app,
        ["sweep", str(_sweep_file(tmp_path, "n = [4]")), "--engine", "dask"]
        + ["--scheduler", address, "--timeout", "1", "--no-progress"],
    )
    assert res.exit_code == 2, res.output
    err = res.stderr.strip()
    assert err.count("\n") == 0 and err.startswith(f"error: scheduler = {address!r}: ")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x89PNG\x00\xff\xfe garbage", "not a dask scheduler file (UnicodeDecodeError"),
        (b"{not json", "not a dask scheduler file (JSONDecodeError"),
        (b'{"id": 1}', "no scheduler 'address' in it"),
        (None, "does not exist"),
    ],
)
def test_a_bad_scheduler_file_is_one_line(tmp_path, content, message):
    sched = tmp_path / "scheduler.json"
    if content is not None:
        sched.write_bytes(content)
    res = CliRunner().invoke(
        app,
        ["sweep", str(_sweep_file(tmp_path, "n = [4]")), "--engine", "dask"]
        + ["--scheduler", str(sched), "--timeout", "1", "--no-progress"],
    )
    assert res.exit_code == 2, res.output
    err = res.stderr.strip()
    assert err.count("\n") == 0 and err.startswith(f"error: scheduler file '{sched}'")
    assert message in err


def test_a_scheduler_without_workers_times_out_with_one_line(tmp_path):
    from distributed import LocalCluster

    with LocalCluster(n_workers=0, processes=False, dashboard_address=None) as cluster:
        with pytest.raises(ParameterError) as info:
            run_tasks(
                demo_tasks(tmp_path),
                engine="dask",
                scheduler=cluster.scheduler_address,
                timeout=1,
                progress=False,
            )
    assert str(info.value) == (
        f"scheduler = {cluster.scheduler_address!r}: no worker joined within 1 s"
    )
