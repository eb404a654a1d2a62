"""The terminal display of the command line: runs, the computations inside them, and ETAs.

One :class:`Display` per command. On a terminal it draws, with rich, an outer bar over the runs
of the command (``run``: one run, ``sweep``: the grid points, ``reproduce``: the experiments)
with count, elapsed time and ETA, and under it one bar per computation the running experiment
tracks with :func:`attnlab.progress.track` (steps × seeds, grid points, fits), each with its
own count, elapsed time and ETA; a finished computation's bar disappears, a finished run leaves
one line above the bars. When standard output is not a terminal (a pipe, a file, CI) or
progress is switched off, nothing is drawn and nothing listens to :mod:`attnlab.progress` (so
compiled loops stay one chunk): only the one line per finished run is printed.

The display is driven from three sides:

- as a :class:`attnlab.progress.Reporter` (``start`` / ``advance`` / ``finish``), installed
  with :meth:`Display.reporting` around the computations of this process;
- by the runners' callbacks ``on_start(name)`` (a run begins) and ``on_done(name, line)`` (a
  run finished; ``line`` is its one-line outcome, printed above the bars), which
  :func:`attnlab.sweep.run_tasks` and :func:`attnlab.report.reproduce` call in this process —
  also for runs executed by process or dask workers, whose inner computations are not shown;
- :meth:`Display.log` for any other line.

The ETA of a bar is ``remaining / rate`` less the time since the last report, the rate measured
over the last ten minutes of reports from the bar's first report on: the time before it
(start-up, compiling the loop) does not count, so the ETA shows ``?`` until the second report.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

__all__ = ["Display", "format_eta", "terminal"]

_RATE_WINDOW_S = 600.0
_INDENT = "  "


def terminal(stream: IO[str] | None = None) -> bool:
    """Whether ``stream`` (default: standard output) is an interactive terminal."""
    stream = sys.stdout if stream is None else stream
    if os.environ.get("TERM") == "dumb":
        return False
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def format_eta(seconds: float | None) -> str:
    """``ETA h:mm:ss`` (``ETA ?`` when unknown)."""
    if seconds is None or seconds != seconds or seconds < 0:
        return "ETA ?"
    s = int(round(seconds))
    return f"ETA {s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _eta_seconds(task: Any, now: float | None = None) -> float | None:
    """Seconds left of a rich task: ``remaining / rate`` less the time since its last report
    (so that it counts down between reports), never below 0; ``None`` before two reports."""
    if task.total is None:
        return None
    if task.finished:
        return 0.0
    speed = task.speed
    if not speed:
        return None
    now = time.monotonic() if now is None else now
    since = now - task.fields.get("reported_at", now)
    return max((task.total - task.completed) / speed - since, 0.0)


def _columns() -> list[Any]:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        ProgressColumn,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )
    from rich.text import Text

    class EtaColumn(ProgressColumn):
        """``ETA h:mm:ss`` of a task with a total (blank for an open-ended one)."""

        def render(self, task: Any) -> Text:
            if task.total is None:
                return Text("")
            if task.finished:
                return Text("done", style="progress.remaining")
            return Text(format_eta(_eta_seconds(task)), style="progress.remaining")

    class CountColumn(ProgressColumn):
        """``completed/total`` (just the count for an open-ended task)."""

        def __init__(self) -> None:
            super().__init__()
            self._mofn = MofNCompleteColumn()

        def render(self, task: Any) -> Text:
            if task.total is None:
                return Text("")
            return self._mofn.render(task)

    return [
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(bar_width=30),
        CountColumn(),
        TimeElapsedColumn(),
        EtaColumn(),
    ]


class Display:
    """Progress of a command's runs on a terminal; one line per finished run elsewhere.

    Parameters
    ----------
    label : str
        Name of the outer bar (``"reproduce"``, the experiment of a sweep or run).
    total : int, optional
        Number of runs (``None``: an open-ended outer line with a spinner).
    enabled : bool
        ``False`` (``--no-progress``): never draw, only print the lines.
    stream : file, optional
        Where to draw and print (default: standard output); drawing needs it to be a terminal.
    """

    def __init__(
        self,
        label: str,
        *,
        total: int | None = None,
        enabled: bool = True,
        stream: IO[str] | None = None,
    ) -> None:
        self.label = label
        self.total = total
        self.stream = sys.stdout if stream is None else stream
        self.live = bool(enabled) and terminal(self.stream)
        self._progress: Any = None
        self._outer: Any = None
        self._running: list[str] = []
        self._depth: dict[Any, int] = {}
        self._lock = threading.Lock()

    # -- lifetime ------------------------------------------------------------------------------
    def __enter__(self) -> Display:
        if self.live:
            from rich.console import Console
            from rich.progress import Progress

            console = Console(file=self.stream, force_terminal=True, highlight=False)
            self._progress = Progress(
                *_columns(),
                console=console,
                speed_estimate_period=_RATE_WINDOW_S,
                refresh_per_second=4,
                transient=False,
            )
            self._progress.start()
            self._outer = self._progress.add_task(f"[bold]{self.label}[/bold]", total=self.total)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            for task_id in list(self._depth):
                self._progress.remove_task(task_id)
            self._depth.clear()
            done = {"total": 1, "completed": 1} if self.total is None else {}
            self._progress.update(self._outer, description=f"[bold]{self.label}[/bold]", **done)
            self._progress.stop()
            self._progress = None

    @contextmanager
    def reporting(self) -> Iterator[Display]:
        """Listen to :mod:`attnlab.progress` inside the block (only when drawing)."""
        from attnlab import progress

        with progress.reporting(self if self.live else None):
            yield self

    # -- lines ---------------------------------------------------------------------------------
    def log(self, line: str) -> None:
        """Print ``line`` (above the bars while drawing)."""
        if self._progress is not None:
            self._progress.console.print(line, markup=False, highlight=False, soft_wrap=True)
        else:
            print(line, file=self.stream, flush=True)

    # -- runner callbacks ----------------------------------------------------------------------
    def on_start(self, name: str) -> None:
        """A run began: the outer bar names the running runs."""
        with self._lock:
            self._running.append(str(name))
            self._describe()

    def task_started(self, task: Any) -> None:
        """``on_start`` of :func:`attnlab.sweep.run_tasks`: a task was handed to its engine."""
        self.on_start(_task_name(task))

    def task_done(self, outcome: Any) -> None:
        """``on_done`` of :func:`attnlab.sweep.run_tasks`: one line per finished run."""
        name = _task_name(outcome.task)
        self.on_done(name, outcome.line(name if self.total and self.total > 1 else None))

    def on_done(self, name: str, line: str | None = None) -> None:
        """A run finished: advance the outer bar by one and print its line."""
        with self._lock:
            if str(name) in self._running:
                self._running.remove(str(name))
            self._describe()
        if self._progress is not None:
            self._progress.update(self._outer, advance=1, reported_at=time.monotonic())
        if line:
            self.log(line)

    def _describe(self) -> None:
        if self._progress is None:
            return
        text = f"[bold]{self.label}[/bold]"
        if self._running:
            shown = ", ".join(self._running[:2])
            more = f" +{len(self._running) - 2}" if len(self._running) > 2 else ""
            text += f" {shown}{more}"
        self._progress.update(self._outer, description=text)

    # -- attnlab.progress.Reporter ---------------------------------------------------------------
    def start(self, description: str, total: float) -> Any:
        """A tracked computation begins: a bar nested under the open ones."""
        if self._progress is None:
            return None
        with self._lock:
            depth = 1 + len(self._depth)
            task_id = self._progress.add_task(
                _INDENT * depth + str(description), total=float(total) if total > 0 else None
            )
            self._depth[task_id] = depth
        return task_id

    def advance(self, handle: Any, amount: float) -> None:
        if self._progress is not None and handle is not None:
            self._progress.update(handle, advance=float(amount), reported_at=time.monotonic())

    def finish(self, handle: Any) -> None:
        if self._progress is not None and handle is not None:
            with self._lock:
                self._depth.pop(handle, None)
            self._progress.remove_task(handle)


def _task_name(task: Any) -> str:
    """A run's display name: its directory (unique within a sweep), else its experiment."""
    try:
        return str(task.run_dir().name)
    except Exception:  # an invalid config: reported by the runner itself
        return str(task.experiment)
