"""The dask engine against a real cluster: `dask scheduler` + `dask worker` processes on
127.0.0.1, one worker SIGKILLed mid-sweep. The sweep must complete, every point exactly once."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from attnlab.store import MANIFEST, is_complete
from attnlab.sweep import Sweep, collect, find_runs, run_tasks

N_POINTS = 6
# sleep_s makes each point last long enough (~0.5 s + plot) for the kill to land mid-run
BASE = {"n_seeds": 4, "n": 25, "sleep_s": 0.5}


def _dask_command(sub: str) -> list[str]:
    exe = Path(sys.executable).parent / "dask"
    if exe.exists():
        return [str(exe), sub]
    found = shutil.which("dask")
    if found:
        return [found, sub]
    return [sys.executable, "-m", f"distributed.cli.dask_{sub}"]  # pragma: no cover


def _wait(cond, timeout: float, what: str, procs=()) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        for p in procs:
            if p.poll() is not None:
                raise AssertionError(f"{what}: process {p.args} exited with {p.returncode}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def cluster(tmp_path, subprocess_env):
    """A scheduler and two single-threaded workers (no nanny: killing one kills the worker)."""
    sched_file = tmp_path / "scheduler.json"
    logs = tmp_path / "logs"
    logs.mkdir()
    procs: list[subprocess.Popen] = []

    def start(args, name):
        log = open(logs / f"{name}.log", "wb")  # noqa: SIM115 - closed in the finaliser
        p = subprocess.Popen(
            args, env=subprocess_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        p.log = log  # type: ignore[attr-defined]
        procs.append(p)
        return p

    try:
        start(
            _dask_command("scheduler")
            + ["--host", "127.0.0.1", "--port", "0", "--no-dashboard"]
            + ["--scheduler-file", str(sched_file)],
            "scheduler",
        )
        _wait(sched_file.exists, 60, "the scheduler file", procs)
        workers = [
            start(
                _dask_command("worker")
                + ["--scheduler-file", str(sched_file), "--host", "127.0.0.1"]
                + ["--nthreads", "1", "--no-nanny", "--name", f"w{i}"]
                + ["--local-directory", str(tmp_path / f"w{i}"), "--death-timeout", "60"],
                f"worker{i}",
            )
            for i in range(2)
        ]
        yield sched_file, workers
    finally:
        # nothing to save in these processes: kill the process groups outright
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
        for p in procs:
            p.wait(timeout=30)
            p.log.close()


def test_sweep_survives_a_killed_worker(tmp_path, cluster):
    from distributed import Client

    sched_file, workers = cluster
    out = tmp_path / "sweep"
    tasks = Sweep("demo-mean", {"seed": list(range(N_POINTS))}, BASE, quick=True).tasks(out)
    dirs = {t.run_dir().name: t.run_dir() for t in tasks}

    with Client(scheduler_file=str(sched_file), timeout=60) as client:
        client.wait_for_workers(2, timeout=60)
        pid_of = client.run(os.getpid)  # worker address -> pid
        assert sorted(pid_of.values()) == sorted(w.pid for w in workers)

        with ThreadPoolExecutor(1) as pool:
            sweep = pool.submit(
                run_tasks, tasks, engine="dask", scheduler=sched_file, progress=False
            )

            # kill a worker while it is running a point (its temp directory exists: the run
            # started, nothing is swapped in yet); and only once some point is complete
            victim: dict = {}

            def running_point():
                if sweep.done():
                    sweep.result()  # surface an early failure
                    raise AssertionError("the sweep finished before the kill")
                if not any(is_complete(d) for d in dirs.values()):
                    return False
                for addr, keys in client.processing().items():
                    for key in keys:
                        d = dirs.get(str(key).removeprefix("attnlab-"))
                        # a point being computed has its temp directory beside its target
                        if d is not None and list(out.glob(f".{d.name}.*.tmp")):
                            victim.update(addr=addr, key=str(key), keys=[str(k) for k in keys])
                            return True
                return False

            _wait(running_point, 90, "a worker running a point", workers)
            os.kill(pid_of[victim["addr"]], signal.SIGKILL)
            survivor = next(pid for addr, pid in pid_of.items() if addr != victim["addr"])
            paths = [o.path for o in sweep.result(timeout=120)]

        assert len(client.scheduler_info()["workers"]) == 1  # the victim is gone for good

    # every point complete, exactly once, and the killed point was redone by the survivor
    assert [p.name for p in paths] == [t.run_dir().name for t in tasks]
    assert find_runs(out) == sorted(dirs.values())
    assert all(is_complete(d) for d in dirs.values())
    killed_dir = dirs[victim["key"].removeprefix("attnlab-")]
    assert json.loads((killed_dir / MANIFEST).read_text())["pid"] == survivor
    assert not list(out.rglob(".*.tmp"))
    rows = collect(out)
    counts = rows.groupby("config.seed").size()
    assert sorted(counts.index) == list(range(N_POINTS))
    assert (counts == BASE["n_seeds"]).all()  # no point lost, none duplicated

    # and the numbers equal an in-process run of the same points
    ref = run_tasks(
        Sweep("demo-mean", {"seed": [0, 1]}, BASE, quick=True).tasks(tmp_path / "local"),
        progress=False,
    )
    for d in (o.path for o in ref):
        assert (d / "summary.json").read_bytes() == (out / d.name / "summary.json").read_bytes()
