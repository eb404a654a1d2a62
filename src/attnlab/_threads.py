"""Independent jax computations side by side in threads, one per core.

On a CPU backend XLA spreads elementwise work (random numbers) over the cores but runs most of a
compiled loop's arithmetic (reductions, the scan itself) on one. Independent groups of replicates
dispatched from separate Python threads (jax releases the GIL while a compiled program runs) keep
every core busy. Each replicate's numbers depend on its own key only, so splitting the replicates
into groups changes no result.

Threads start with empty context variables and jax's default precision, so :func:`thread_map`
runs each call in a copy of the caller's context (attnlab's precision, the progress reporter)
and inside jax's scoped precision of the caller.

One hazard: XLA's CPU runtime runs a batched LAPACK call (a factorisation under ``vmap``) on a
thread of its own pool, splits the batch into tasks queued on that pool and waits for them. Two
such calls running at once can each hold a pool thread and wait for tasks that only the other's
thread could run: on two cores the process hangs at 0 % CPU (seen once within one program, see
the project's findings). Programs that may make a LAPACK call are therefore run inside
:func:`lapack_program`, which lets one such program run at a time across our threads.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from attnlab.precision import uses_jax

__all__ = ["cores", "cpu_groups", "group_count", "lapack_program", "side_by_side", "thread_map"]

T = TypeVar("T")

_LAPACK = threading.RLock()


@contextlib.contextmanager
def lapack_program() -> Any:
    """Hold while a compiled program that may make a LAPACK call runs, *until its results are
    ready* (jax dispatches asynchronously: block on them inside the ``with``). One such program
    runs at a time across threads (module docstring); re-entrant."""
    with _LAPACK:
        yield


def cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def group_count(n: int, min_size: int = 1, most: int | None = None) -> int:
    """How many groups of ``n`` items to run side by side: one per core on a CPU backend, each of
    at least ``min_size`` items, at most ``most`` groups; one on other backends (an accelerator
    runs the whole batch in parallel already)."""
    from attnlab._jax import jax

    if jax.default_backend() != "cpu":
        return 1
    return max(1, min(cores(), n // max(1, min_size), most or n))


def cpu_groups(n: int, min_size: int) -> list[slice]:
    """Contiguous slices covering ``range(n)``, :func:`group_count` of them."""
    groups = group_count(n, min_size)
    bounds = [round(i * n / groups) for i in range(groups + 1)]
    return [slice(lo, hi) for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]


def thread_map(fn: Callable[[T], Any], items: Sequence[T], workers: int | None = None) -> list[Any]:
    """``[fn(item) for item in items]``, the items in parallel threads (at most ``workers`` at
    once; default one per item), each call in a copy of the caller's context and at the
    caller's jax precision. Results in the order of the items."""
    workers = len(items) if workers is None else max(1, min(workers, len(items)))
    if workers <= 1:
        return [fn(item) for item in items]
    scoped = uses_jax(fn)
    contexts = [contextvars.copy_context() for _ in items]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="attnlab") as pool:
        futures = [
            pool.submit(ctx.run, scoped, item) for ctx, item in zip(contexts, items, strict=True)
        ]
        return [f.result() for f in futures]


def side_by_side(jobs: Sequence[Callable[[], Any]], workers: int | None = None) -> list[Any]:
    """``[job() for job in jobs]``, the independent jobs in parallel threads (at most
    ``workers`` at once, :func:`thread_map`). Results in the order of the jobs."""
    return thread_map(lambda job: job(), jobs, workers)
