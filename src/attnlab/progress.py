"""Progress of long computations, reported per chunk, displayed only when someone listens.

Library code reports progress through :func:`track`; nothing is printed unless a *reporter* is
installed (the command line installs one; a library user can too, with :func:`reporting`)::

    with progress.track("SGA steps × seeds", total=steps * n_seeds) as bar:
        for chunk in chunks:            # e.g. one compiled lax.scan over 50 steps
            state = run_chunk(state)
            bar.advance(chunk_size * n_seeds)

Loops in Python (points of a theory grid, fits) report per item with :func:`iterate`::

    for alpha in progress.iterate(alphas, "replica fixed points"):
        solve(alpha)

Compiled loops report between chunks, never from inside jit, so progress costs nothing in the
compiled code. Without a reporter, :func:`track` returns a no-op and :func:`chunks` returns the
whole range as one chunk, so library calls keep their single compiled loop.

A reporter is any object with ``start(description, total) -> handle``, ``advance(handle, n)``
and ``finish(handle)``; :class:`Reporter` is the protocol. The command line's reporter
(``attnlab._display.Display``) draws each tracked computation as a bar with its count, elapsed
time and ETA, nested under the bar of the runs.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterable, Iterator, Sized
from typing import Any, Protocol

__all__ = ["Reporter", "Tracker", "active", "chunks", "iterate", "reporting", "track"]


class Reporter(Protocol):
    """Receives the progress of tracked computations (e.g. a terminal progress bar)."""

    def start(self, description: str, total: float) -> Any: ...

    def advance(self, handle: Any, amount: float) -> None: ...

    def finish(self, handle: Any) -> None: ...


_REPORTER: contextvars.ContextVar[Reporter | None] = contextvars.ContextVar(
    "attnlab_progress", default=None
)


def active() -> bool:
    """Whether a reporter is listening (so chunking a compiled loop is worth it)."""
    return _REPORTER.get() is not None


@contextlib.contextmanager
def reporting(reporter: Reporter | None) -> Iterator[None]:
    """Send the progress of computations inside the block to ``reporter`` (``None``: silence)."""
    token = _REPORTER.set(reporter)
    try:
        yield
    finally:
        _REPORTER.reset(token)


class Tracker:
    """Handle returned by :func:`track`: call :meth:`advance` as work completes."""

    def __init__(self, reporter: Reporter | None, handle: Any) -> None:
        self._reporter = reporter
        self._handle = handle

    def advance(self, amount: float = 1) -> None:
        """Report ``amount`` more units of work done."""
        if self._reporter is not None:
            self._reporter.advance(self._handle, amount)


@contextlib.contextmanager
def track(description: str, total: float) -> Iterator[Tracker]:
    """Track a computation of ``total`` units (steps × seeds, grid points, fits...)."""
    reporter = _REPORTER.get()
    if reporter is None:
        yield Tracker(None, None)
        return
    handle = reporter.start(description, float(total))
    try:
        yield Tracker(reporter, handle)
    finally:
        reporter.finish(handle)


def iterate(items: Iterable[Any], description: str, total: int | None = None) -> Iterator[Any]:
    """Yield ``items``, reporting one unit of progress after each (``total``: their number,
    taken from ``len(items)`` when it has one)."""
    if total is None:
        total = len(items) if isinstance(items, Sized) else 0
    with track(description, total) as bar:
        for item in items:
            yield item
            bar.advance(1)


def chunks(n: int, *, target: int = 20, multiple_of: int = 1) -> list[int]:
    """Split ``n`` loop iterations into chunk sizes for progress reports.

    With no reporter listening: ``[n]`` (one compiled loop). Otherwise about ``target`` chunks,
    each a multiple of ``multiple_of`` (e.g. the logging interval), summing to ``n``. Chunks of
    equal size reuse one compiled program; only the last may differ.
    """
    n = int(n)
    if n <= 0:
        return []
    if not active() or n <= multiple_of:
        return [n]
    size = max(multiple_of, (n // max(target, 1)) // multiple_of * multiple_of)
    full, rest = divmod(n, size)
    return [size] * full + ([rest] if rest else [])
