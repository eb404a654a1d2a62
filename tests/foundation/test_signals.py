"""Clean interrupts of real processes: SIGINT / SIGTERM stop `run`, `sweep` (every engine) and
`reproduce` within seconds with exit 130 / 143, no traceback, no segfault, no orphaned worker
(workers die with their parent, even after SIGKILL), and a state the same command resumes.

The demo experiment's ``sleep_s`` keeps a point running long enough for the signal to land
mid-run; a run has started when its temp directory (``.<name>-<hash>.<random>.tmp``) exists.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from attnlab.store import is_complete, run_experiment
from attnlab.sweep import load_sweep_file, run_tasks

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="signals and /proc: Linux")

STOP_WITHIN_S = 15.0  # generous on a loaded 2-core machine; a clean stop takes < 1 s here


def _start(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    """``python -m attnlab ARGS`` in its own session (signals reach only what we send)."""
    fh = open(log, "wb")  # noqa: SIM115 - closed when the process is reaped
    proc = subprocess.Popen(
        [sys.executable, "-m", "attnlab", *args],
        env=env,
        stdout=fh,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    proc.log_file = fh  # type: ignore[attr-defined]
    return proc


def _wait(cond, timeout: float, what: str, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"{what}: the process exited early with {proc.returncode}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _running_points(out: Path) -> list[Path]:
    return [p for p in out.glob(".*.tmp") if p.is_dir()] if out.is_dir() else []


def _alive(pid: int) -> bool:
    """A process that exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in out:
                out.add(child)
                todo.append(child)
    return out


def _stop(proc: subprocess.Popen, sig: int) -> tuple[int, str, float]:
    """Send ``sig``; return the exit status, the output and the seconds it took to stop."""
    t0 = time.monotonic()
    os.kill(proc.pid, sig)
    try:
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        proc.log_file.close()  # type: ignore[attr-defined]
    return proc.returncode, Path(proc.log_file.name).read_text(), time.monotonic() - t0  # type: ignore[attr-defined]


def _sweep_file(tmp_path: Path, n_points: int, sleep_s: float = 3) -> Path:
    f = tmp_path / "grid.toml"
    f.write_text(
        f'experiment = "demo-mean"\nquick = true\nout = "{tmp_path / "o"}"\n'
        f"[base]\nn_seeds = 4\nsleep_s = {sleep_s}\n[grid]\nseed = {list(range(n_points))}\n"
    )
    return f


EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143}


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_stops_run_cleanly_and_the_run_resumes(tmp_path, subprocess_env, sig):
    out = tmp_path / "o"
    args = ["run", "demo-mean", "--quick", "--set", "sleep_s=4", "--out", str(out)]
    proc = _start(args, subprocess_env, tmp_path / "log")
    _wait(lambda: _running_points(out), 120, "the run to start", proc)
    code, output, took = _stop(proc, sig)
    assert code == EXIT[sig], output
    assert took < STOP_WITHIN_S
    assert "Traceback" not in output and "Segmentation" not in output
    assert output.strip().splitlines()[-1] == (
        f"interrupted ({sig.name}): results on disk are consistent; "
        "run the same command again to resume"
    )
    # nothing under a final name, the temp directory removed: the point simply runs again
    assert not _running_points(out) and not [p for p in out.iterdir() if p.name[0] != "."]
    stored = run_experiment("demo-mean", {"sleep_s": 4.0}, out=out, quick=True)
    assert stored.status == "ran" and is_complete(stored.path)


def test_a_signal_during_jax_work_exits_130_without_a_segfault(tmp_path, subprocess_env):
    # compiled jax work in flight (XLA threads alive) when the signal lands
    out = tmp_path / "o"
    args = ["run", "demo-mean", "--set", "n=200000", "--set", "n_seeds=50", "--out", str(out)]
    proc = _start(args, subprocess_env, tmp_path / "log")
    _wait(lambda: _running_points(out), 120, "the run to start", proc)
    time.sleep(0.2)
    code, output, took = _stop(proc, signal.SIGINT)
    assert code in (130, 0), output  # 0: it finished before the signal landed
    assert "Segmentation" not in output and "Traceback" not in output
    assert took < STOP_WITHIN_S


def _process_sweep(
    tmp_path: Path, env: dict, engine: str, n: int
) -> tuple[subprocess.Popen, set[int]]:
    """An ``n``-point sweep on ``engine`` with ``n`` workers, every point running; the pids of
    the parent's descendants (the workers)."""
    f = _sweep_file(tmp_path, n)
    args = ["sweep", str(f), "--engine", engine, "--workers", str(n), "--no-progress"]
    proc = _start(args, env, tmp_path / "log")
    _wait(lambda: len(_running_points(tmp_path / "o")) == n, 180, "every point to run", proc)
    workers = {p for p in _descendants(proc.pid) if _alive(p)}
    assert len(workers) >= n
    return proc, workers


@pytest.mark.parametrize(
    ("engine", "sig", "n"),
    [("process", signal.SIGINT, 2), ("dask", signal.SIGTERM, 1)],
    ids=["process-SIGINT", "dask-SIGTERM"],
)
def test_a_signal_stops_a_sweep_and_its_workers(tmp_path, subprocess_env, engine, sig, n):
    proc, workers = _process_sweep(tmp_path, subprocess_env, engine, n)
    code, output, took = _stop(proc, sig)
    assert code == EXIT[sig], output
    assert took < STOP_WITHIN_S and "Traceback" not in output
    _wait(lambda: not any(_alive(p) for p in workers), 10, "the workers to exit")
    assert not [p for p in (tmp_path / "o").iterdir() if p.name[0] != "."]  # nothing half
    # the same sweep resumes (on any engine: the points are the same): both points complete
    outcomes = run_tasks(load_sweep_file(_sweep_file(tmp_path, n)).tasks(), progress=False)
    assert [o.status for o in outcomes] == ["ran"] * n
    assert not _running_points(tmp_path / "o")  # the stale temp directories are gone


@pytest.mark.parametrize("engine", ["process", "dask"])
def test_workers_die_with_a_killed_parent(tmp_path, subprocess_env, engine):
    proc, workers = _process_sweep(tmp_path, subprocess_env, engine, 1)
    code, _, _ = _stop(proc, signal.SIGKILL)
    assert code == -signal.SIGKILL
    # the kernel kills the workers with their parent (PR_SET_PDEATHSIG)
    _wait(lambda: not any(_alive(p) for p in workers), 10, "the orphaned workers to die")


def test_sigterm_stops_reproduce_and_records_what_finished(tmp_path, subprocess_env):
    out = tmp_path / "r"
    proc = _start(
        ["reproduce", "--only", "demo", "--out", str(out)], subprocess_env, tmp_path / "l"
    )
    _wait(lambda: _running_points(out), 120, "the demo run to start", proc)
    code, output, took = _stop(proc, signal.SIGTERM)
    if code == 0:  # pragma: no cover - the quick demo finished before the signal
        pytest.skip("the run finished before the signal landed")
    assert code == 143, output
    assert took < STOP_WITHIN_S and "Traceback" not in output
    record = json.loads((out / "reproduce.json").read_text())
    assert [(r["experiment"], r["status"]) for r in record["runs"]] == [
        ("demo-mean", "interrupted")
    ]
    assert not (out / "report.html").exists()


_WATCHDOG = textwrap.dedent(
    """
    import time
    from attnlab import _signals

    with _signals.handling(grace=1.0):
        try:
            print("ready", flush=True)
            time.sleep(60)
        finally:
            while True:  # a cleanup that never ends (a long compiled call, say)
                time.sleep(0.05)
    """
)


def test_the_watchdog_exits_when_cleanup_hangs(tmp_path, subprocess_env):
    proc = subprocess.Popen(
        [sys.executable, "-c", _WATCHDOG],
        env=subprocess_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().strip() == "ready"
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 143 and time.monotonic() - t0 < STOP_WITHIN_S
    assert "interrupted (SIGTERM): still busy 1 s later, exiting now" in err


def test_handling_raises_interrupted_in_the_main_thread():
    from attnlab import _signals

    with pytest.raises(_signals.Interrupted) as info, _signals.handling():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)
    assert info.value.signum == signal.SIGTERM and isinstance(info.value, KeyboardInterrupt)
    assert _signals.received() == signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # restored


def test_a_signal_inside_a_finaliser_is_delivered_again_not_dropped(monkeypatch):
    # Python drops (and prints) an exception raised in a gc callback or a finaliser; the handler
    # must not raise there, but send the signal again once that context has returned.
    from attnlab import _signals

    sent = []
    monkeypatch.setattr(_signals.os, "kill", lambda pid, signum: sent.append(signum))
    monkeypatch.setattr(_signals, "_received", [])  # no signal seen yet (a second one exits)

    def __del__():  # a frame named like a finaliser's, without a real object to collect
        _signals._handler(signal.SIGINT, sys._getframe())

    __del__()
    deadline = time.monotonic() + 5
    while not sent and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sent == [signal.SIGINT] and _signals.received() is None
    with pytest.raises(_signals.Interrupted):  # elsewhere the first signal raises at once
        _signals._handler(signal.SIGINT, sys._getframe())


# -- the window between creating a temp file or directory and knowing its name ----------------
def test_deferred_holds_a_signal_until_the_block_ends():
    from attnlab import _signals

    steps = []
    with pytest.raises(_signals.Interrupted) as info, _signals.handling():
        with _signals.deferred():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.2)  # Python runs handlers between bytecodes: it would have raised here
            steps.append("block finished")
        steps.append("after the block")  # never: the held signal is raised as the block ends
    assert steps == ["block finished"] and info.value.signum == signal.SIGINT
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored


def test_deferred_without_handling_raises_keyboardinterrupt_after_the_block():
    from attnlab import _signals

    steps = []
    with pytest.raises(KeyboardInterrupt), _signals.deferred():
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.2)
        steps.append("block finished")
    assert steps == ["block finished"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_deferred_leaves_a_default_action_alone_and_is_a_no_op_in_threads():
    from attnlab import _signals

    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    with _signals.deferred():
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # not replaced
        assert signal.getsignal(signal.SIGINT) is not signal.default_int_handler  # held
    seen = []

    def worker():
        with _signals.deferred():
            seen.append(signal.getsignal(signal.SIGINT))

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert seen == [signal.default_int_handler]


def _signal_right_after(real):
    """``real`` (a temp-file maker), then SIGINT to this process: the signal lands the moment
    the file or directory exists, before the caller has its name (the race a loaded machine
    showed, where `attnlab run` left a temp directory after SIGINT)."""

    def wrapped(*args, **kwargs):
        made = real(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGINT)
        return made

    return wrapped


def test_an_interrupt_as_the_run_directory_is_made_leaves_nothing(tmp_path, monkeypatch):
    import tempfile

    from attnlab import _signals

    monkeypatch.setattr(tempfile, "mkdtemp", _signal_right_after(tempfile.mkdtemp))
    out = tmp_path / "o"
    with pytest.raises(_signals.Interrupted), _signals.handling():
        run_experiment("demo-mean", {"sleep_s": 0.0}, out=out, quick=True)
    assert sorted(p.name for p in out.iterdir() if not p.name.endswith(".lock")) == []


def test_an_interrupt_as_a_temp_file_is_made_leaves_nothing(tmp_path, monkeypatch):
    import tempfile

    from attnlab import _atomic, _signals

    monkeypatch.setattr(tempfile, "mkstemp", _signal_right_after(tempfile.mkstemp))
    with pytest.raises(_signals.Interrupted), _signals.handling():
        _atomic.atomic_write_text(tmp_path / "a.txt", "x")
    assert list(tmp_path.iterdir()) == []
