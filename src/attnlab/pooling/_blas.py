"""BLAS threading of the pooling family: one BLAS thread, row blocks of large products in
Python threads.

The family's heavy calls are matrix–vector products with a table of a few to a few hundred
megabytes (memory bound) and LAPACK's symmetric eigensolver. A threaded BLAS gains little on
them and, when the cores are shared with other processes, loses several times (its threads
spin while waiting for one another). So:

- :func:`one_blas_thread` limits the BLAS libraries to one thread for a block of code (a
  cached ``threadpoolctl`` controller: entering costs tens of microseconds);
- :func:`row_blocks` splits a large product ``A B`` into row blocks of ``A`` computed in a
  small pool of Python threads (numpy releases the GIL inside BLAS), except inside
  :func:`attnlab.pooling._trials.map_trials`, whose trials already occupy the cores
  (:func:`within_trials`).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from threadpoolctl import ThreadpoolController

__all__ = ["one_blas_thread", "row_blocks", "thread_pool", "with_one_blas_thread", "within_trials"]

F = TypeVar("F", bound=Callable[..., Any])

SPLIT_BYTES = 1 << 23  # products with a matrix this large (8 MiB) are split into row blocks

_WITHIN_TRIALS: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "attnlab_pooling_within_trials", default=False
)


@functools.cache
def _controller() -> ThreadpoolController:
    return ThreadpoolController()


def cores() -> int:
    """Cores available to this process."""
    return os.cpu_count() or 1


@functools.cache
def thread_pool() -> ThreadPoolExecutor:
    """The family's pool of ``cores()`` threads for row blocks (created on first use)."""
    return ThreadPoolExecutor(max_workers=cores(), thread_name_prefix="attnlab-pooling")


def one_blas_thread() -> Any:
    """Context manager: the BLAS libraries use one thread inside it."""
    return _controller().limit(limits=1, user_api="blas")


def with_one_blas_thread(fn: F) -> F:
    """Decorate ``fn`` to run with one BLAS thread (:func:`one_blas_thread`)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with one_blas_thread():
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


@contextlib.contextmanager
def within_trials() -> Iterator[None]:
    """Mark the current context as one of several trials running side by side."""
    token = _WITHIN_TRIALS.set(True)
    try:
        yield
    finally:
        _WITHIN_TRIALS.reset(token)


def row_blocks(rows: int, nbytes: int) -> list[slice]:
    """Row blocks for a product with a matrix of ``rows`` rows and ``nbytes`` bytes: one
    block per core for a large matrix outside side-by-side trials, else a single block."""
    parts = 1 if _WITHIN_TRIALS.get() or nbytes < SPLIT_BYTES else min(cores(), rows)
    edges = [rows * i // parts for i in range(parts + 1)]
    return [slice(lo, hi) for lo, hi in zip(edges[:-1], edges[1:], strict=True)]
