"""The default display of :func:`attnlab.sweep.run_tasks`: one progress bar on stderr (count
and elapsed time), and a line above it for each task that failed. Any object with the same
``start(task)`` / ``done(outcome)`` methods, passed as callbacks, can replace it.
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["ProgressBar"]


class ProgressBar:
    """The default display: a progress bar on stderr, lines above it for failures."""

    def __init__(self, total: int, *, label: str) -> None:
        self.total, self.label = total, label
        self._bar: Any = None
        self._seen: set[int] = set()

    def __enter__(self) -> ProgressBar:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self._bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
        )
        self._bar.start()
        self._id = self._bar.add_task(self.label, total=self.total)
        return self

    def start(self, task: Any) -> None:
        pass

    def print(self, line: str) -> None:
        if self._bar is not None:
            self._bar.console.print(line, markup=False, highlight=False, soft_wrap=True)
        else:
            print(line, file=sys.stderr)

    def done(self, outcome: Any) -> None:
        if self._bar is None:
            return
        if outcome.status == "failed":
            self.print(outcome.line())
        if id(outcome) not in self._seen:  # duplicate tasks share one outcome
            self._seen.add(id(outcome))
            self._bar.advance(self._id, 1)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
