"""The engines behind :func:`attnlab.sweep.run_tasks`: local, process pool, dask.

Every engine runs the same worker-side function, :func:`execute`, which calls the store and
returns a plain, picklable dict (status, error line, traceback, wall time, verdict) instead of
raising, so one failing task never stops the others and its traceback travels back intact.

Interrupts (``KeyboardInterrupt``, which :mod:`attnlab._signals` raises for SIGINT/SIGTERM)
stop an engine at once: the process pool's workers are terminated (they also die with their
parent if it is killed outright, :func:`attnlab._signals.die_with_parent`), a dask cluster's
pending tasks are cancelled. Network engines time out: connecting to a dask scheduler, or
waiting for its first worker, gives up after ``timeout`` seconds with a one-line error.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from attnlab._validate import ParameterError

__all__ = ["dask_client", "error_line", "execute", "run_dask", "run_local", "run_process"]

Todo = Sequence[tuple[Path, Any]]  # (run directory, Task)
Started = Callable[[Any], None]
Finished = Callable[[Path, dict[str, Any]], None]


def error_line(err: BaseException) -> str:
    """``"ValueError: first line of the message"``."""
    first = (str(err).strip().splitlines() or [""])[0]
    return f"{type(err).__name__}: {first}" if first else type(err).__name__


def failed(err: BaseException, tb: str | None = None, wall_s: float = 0.0) -> dict[str, Any]:
    """The outcome dict of a task that raised ``err``."""
    return {
        "status": "failed",
        "error": error_line(err),
        "traceback": tb if tb is not None else "".join(traceback.format_exception(err)),
        "wall_s": round(wall_s, 3),
    }


def execute(task: Any, force: bool, allow_large: bool) -> dict[str, Any]:
    """Worker side: run one task through the store; never raises an ``Exception``.

    Returns ``{"status": "ran"|"skipped"|"failed", "wall_s", "verdict", "redone", "error",
    "traceback"}``."""
    from attnlab.store import run_experiment

    t0 = time.perf_counter()
    try:
        stored = run_experiment(
            task.experiment,
            task.config(),
            out=task.out,
            force=force,
            allow_large=allow_large,
            figures=getattr(task, "figures", None),
        )
    except Exception as err:
        return failed(err, traceback.format_exc(), time.perf_counter() - t0)
    return {
        "status": stored.status,
        "wall_s": round(time.perf_counter() - t0, 3),
        "verdict": stored.verdict,
        "redone": stored.redone,
    }


# -- local ---------------------------------------------------------------------------------------
def run_local(
    todo: Todo, *, force: bool, allow_large: bool, started: Started, finished: Finished, **_: Any
) -> None:
    """One task after the other, in this process."""
    for path, task in todo:
        started(task)
        finished(path, execute(task, force, allow_large))


# -- process pool --------------------------------------------------------------------------------
def _init_worker(parent_pid: int) -> None:
    """A pool worker ignores SIGINT (its parent decides) and dies with its parent."""
    from attnlab._signals import die_with_parent

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent(parent_pid)


def _terminate(pool: Any) -> None:
    """Stop a process pool now: cancel what has not started, terminate the workers."""
    procs = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        with contextlib.suppress(Exception):
            p.terminate()
    deadline = time.monotonic() + 2.0
    for p in procs:
        with contextlib.suppress(Exception):
            p.join(max(0.0, deadline - time.monotonic()))
            if p.is_alive():
                p.kill()


def run_process(
    todo: Todo,
    *,
    force: bool,
    allow_large: bool,
    workers: int | None,
    started: Started,
    finished: Finished,
    **_: Any,
) -> None:
    """A pool of *spawned* worker processes (jax is not fork-safe)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    n = workers or min(os.cpu_count() or 1, len(todo))
    pool = ProcessPoolExecutor(
        max_workers=n,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_worker,
        initargs=(os.getpid(),),
    )
    try:
        futures = {}
        for path, task in todo:
            futures[pool.submit(execute, task, force, allow_large)] = path
            started(task)
        for fut in as_completed(futures):
            try:
                outcome = fut.result()
            except Exception as err:  # the worker process died (BrokenProcessPool)
                outcome = failed(err)
            finished(futures[fut], outcome)
    except BaseException:
        _terminate(pool)
        raise
    pool.shutdown(wait=True)


# -- dask ----------------------------------------------------------------------------------------
def _scheduler_address(scheduler: str | os.PathLike[str]) -> str:
    """The address of a scheduler given as an address or as a scheduler file."""
    text = str(scheduler)
    path = Path(text)
    looks_like_file = "://" not in text and (path.suffix == ".json" or os.sep in text)
    if not path.is_file():
        if looks_like_file:
            raise ParameterError(f"scheduler file {text!r} does not exist")
        return text
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:  # UnicodeDecodeError and JSONDecodeError included
        raise ParameterError(
            f"scheduler file {text!r}: not a dask scheduler file ({error_line(err)})"
        ) from None
    address = data.get("address") if isinstance(data, dict) else None
    if not isinstance(address, str) or not address:
        raise ParameterError(f"scheduler file {text!r}: no scheduler 'address' in it")
    return address


def _connect(scheduler: str | os.PathLike[str], timeout: float) -> Any:
    """A client of the scheduler, or a one-line error within about ``timeout`` seconds."""
    from distributed import Client

    address = _scheduler_address(scheduler)
    what = f"scheduler = {str(scheduler)!r}"
    box: dict[str, Any] = {}

    def connect() -> None:
        try:
            box["client"] = Client(address, timeout=timeout, set_as_default=False)
        except BaseException as err:  # MemoryError from a non-dask peer, TimeoutError, ...
            box["error"] = err

    thread = threading.Thread(target=connect, name="attnlab-dask-connect", daemon=True)
    thread.start()
    thread.join(timeout + 1.0)  # dask itself may hang on a peer that never answers
    if thread.is_alive():
        raise ParameterError(f"{what}: no answer within {timeout:g} s (is it a dask scheduler?)")
    if "error" in box:
        raise ParameterError(
            f"{what}: cannot connect to a dask scheduler ({error_line(box['error'])})"
        )
    client = box["client"]
    try:
        client.wait_for_workers(1, timeout=timeout)
    except BaseException as err:
        client.close()
        if isinstance(err, KeyboardInterrupt):
            raise
        raise ParameterError(f"{what}: no worker joined within {timeout:g} s") from None
    return client


def _die_with_parent_plugin(parent_pid: int) -> Any:
    """A worker plugin: LocalCluster workers (children of this process) die with it."""
    from distributed.diagnostics.plugin import WorkerPlugin

    class DieWithParent(WorkerPlugin):
        name = "attnlab-die-with-parent"

        def setup(self, worker: Any) -> None:
            from attnlab._signals import die_with_parent

            if os.getppid() == parent_pid:
                die_with_parent(parent_pid)

    return DieWithParent()


@contextlib.contextmanager
def dask_client(
    scheduler: str | os.PathLike[str] | None, workers: int | None, n_tasks: int, timeout: float
) -> Iterator[Any]:
    """A dask client: of the scheduler at ``scheduler``, or of a new LocalCluster."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ParameterError(
            "engine = 'dask' needs dask.distributed, which is not installed: "
            "pip install 'attnlab[dask]'"
        ) from None

    if scheduler is not None:
        client = _connect(scheduler, timeout)
        try:
            yield client
        finally:
            client.close(timeout=timeout)
        return
    cluster = LocalCluster(
        n_workers=workers or min(os.cpu_count() or 1, n_tasks),
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        host="127.0.0.1",
        silence_logs=logging.ERROR,
    )
    pids: list[int] = []
    try:
        with Client(cluster, set_as_default=False) as client:
            client.register_plugin(_die_with_parent_plugin(os.getpid()))
            pids = list(client.run(os.getpid).values())
            yield client
    except KeyboardInterrupt:
        # an interrupt does not wait for running tasks: the workers go first, the cluster after
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        raise
    finally:
        cluster.close(timeout=timeout)


def run_dask(
    todo: Todo,
    *,
    force: bool,
    allow_large: bool,
    client: Any,
    started: Started,
    finished: Finished,
    **_: Any,
) -> None:
    """Tasks submitted to a dask cluster; a task lost with its worker is rescheduled by the
    scheduler on another worker (up to ``distributed.scheduler.allowed-failures`` times)."""
    from distributed import as_completed

    futures = {}
    try:
        for path, task in todo:
            fut = client.submit(
                execute, task, force, allow_large, key=f"attnlab-{path.name}", pure=False
            )
            futures[fut] = path
            started(task)
        for fut in as_completed(futures, loop=client.loop):
            try:
                outcome = fut.result()
            except Exception as err:  # KilledWorker, a lost scheduler, ...
                outcome = failed(err)
            finished(futures[fut], outcome)
    except BaseException:
        with contextlib.suppress(Exception):
            client.cancel(list(futures), force=True)
        raise
