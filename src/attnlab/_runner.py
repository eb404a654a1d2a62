"""The one runner of attnlab: :func:`run_tasks` (behind ``attnlab run``, ``sweep`` and
``reproduce``).

A :class:`Task` is one run of :func:`attnlab.store.run_experiment`; :func:`run_tasks` validates
every task before any work (config, estimated memory and work, see
:func:`attnlab._resources.check_cost`), skips the points already complete and verified in the
store, runs the others on an engine (:mod:`attnlab._engines`: local, process pool, dask) and
returns one :class:`TaskOutcome` per task — ran, skipped, failed or interrupted, with the error
line, the traceback, the wall time and the run's verdict. One failing task never stops the
others. ``on_start(task)`` / ``on_done(outcome)`` let a display follow the run (the default is
a simple progress bar on stderr).

An interrupt (``KeyboardInterrupt``; the command line raises it for SIGINT and SIGTERM) stops
every engine at once and is re-raised with ``outcomes`` attached (the unfinished tasks
``"interrupted"``); running the same tasks again resumes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from attnlab import _engines
from attnlab._bar import ProgressBar
from attnlab._validate import ParameterError, check_choice, check_int, check_range
from attnlab.config import ExperimentConfig

ENGINES = ("local", "process", "dask")
STATUSES = ("ran", "skipped", "failed", "interrupted")
DEFAULT_TIMEOUT = 30.0


@dataclass(frozen=True)
class Task:
    """One run: ``experiment`` with ``overrides`` (on the ``quick`` preset if set), under ``out``.

    Picklable, so it travels to process and dask workers unchanged. ``figures``: how its
    figures are written (:class:`attnlab.plot.FigureOptions`; default PNG + PDF, paper style).
    """

    experiment: str
    overrides: Mapping[str, Any] = field(default_factory=dict)
    quick: bool = False
    out: Path = Path("results")
    figures: Any = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "overrides", dict(self.overrides))
        object.__setattr__(self, "out", Path(self.out))

    def config(self) -> ExperimentConfig:
        """The validated config of this task (one-line :class:`ConfigError` if invalid)."""
        from attnlab.registry import get_experiment

        return get_experiment(self.experiment).make_config(dict(self.overrides), quick=self.quick)

    def run_dir(self) -> Path:
        """Where the task's results are stored: ``out/<experiment>-<hash12>``."""
        from attnlab.store import run_dir

        return run_dir(Path(self.out), self.experiment, self.config())


@dataclass
class TaskOutcome:
    """What happened to one :class:`Task` in :func:`run_tasks`.

    Parameters
    ----------
    task : Task
        The task as given.
    path : Path or None
        Its run directory (``None`` when its config was invalid).
    status : str
        ``"ran"`` (computed now), ``"skipped"`` (complete and verified already), ``"failed"``
        (an exception, an invalid config or a refused size: see ``error``) or
        ``"interrupted"`` (stopped by SIGINT/SIGTERM; run it again to resume).
    error : str or None
        One line: what went wrong.
    traceback : str or None
        The full traceback of a failure.
    wall_s : float
        Seconds this task took in its worker (0 for a skipped one).
    verdict : dict or None
        The run's verdict (``status``, ``counts``, ``reasons``) when it completed.
    redone : str or None
        Why an existing directory was not trusted and was computed again.
    """

    task: Task
    path: Path | None
    status: str
    error: str | None = None
    traceback: str | None = None
    wall_s: float = 0.0
    verdict: dict[str, Any] | None = None
    redone: str | None = None

    @property
    def completed(self) -> bool:
        """The run is in the store (ran now or found complete)."""
        return self.status in ("ran", "skipped")

    @property
    def passed(self) -> bool:
        """Completed, and its verdict is ``"passed"`` (every comparison row passes)."""
        return self.completed and (self.verdict or {}).get("status") == "passed"

    def line(self, name: str | None = None) -> str:
        """One line: status, ``name`` (default: the experiment), wall time, comparisons and
        verdict (or the error)."""
        name = self.task.experiment if name is None else name
        if not self.completed:
            return f"{self.status:8s} {name:34s} {self.wall_s:7.1f}s  {self.error or ''}"
        when = "(complete)" if self.status == "skipped" else f"{self.wall_s:7.1f}s"
        return f"{self.status:8s} {name:34s} {when}  {verdict_text(self.verdict)}"


def verdict_text(verdict: Mapping[str, Any] | None) -> str:
    """A run's verdict in a few words.

    Parameters
    ----------
    verdict : mapping or None
        ``{"status", "counts", "reasons"}`` (:meth:`attnlab.compare.Result.verdict`).

    Returns
    -------
    str
        ``"2/2 comparisons pass, PASSED"``, or with the first reason of a run that did not
        pass: ``"1/2 comparisons pass, FAILED (fail: slope: |difference| 0.3 > tolerance 0.1 …)"``.
    """
    verdict = verdict or {}
    counts = verdict.get("counts") or {}
    n_rows = sum(int(counts.get(s, 0)) for s in ("pass", "fail", "uninformative", "invalid"))
    text = (
        f"{counts.get('pass', 0)}/{n_rows} comparisons pass, {verdict.get('status', '?').upper()}"
    )
    reasons = list(verdict.get("reasons") or [])
    if reasons and verdict.get("status") != "passed":
        text += f" ({reasons[0]}{' …' if len(reasons) > 1 else ''})"
    return text


Log = Callable[[str], None]


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


def _label(tasks: Sequence[Task]) -> str:
    names = sorted({t.experiment for t in tasks})
    if len(names) > 3:
        return f"{len(names)} experiments"
    return ", ".join(names) if names else "sweep"


def _plan(
    tasks: Sequence[Task], *, force: bool, allow_large: bool, on_invalid: str, log: Log
) -> tuple[list[Path | None], dict[Path, TaskOutcome], dict[Path, Task]]:
    """Validate every task before any work: each task's directory, the outcomes known already
    (complete points, and invalid or too large ones when ``on_invalid="fail"``) and the
    pending tasks by directory (duplicates run once)."""
    from attnlab._resources import check_cost
    from attnlab.store import read_verdict, run_dir, verify_run

    paths: list[Path | None] = []
    known: dict[Path, TaskOutcome] = {}
    pending: dict[Path, Task] = {}
    for task in tasks:
        try:
            config = task.config()
        except ParameterError as err:  # ConfigError, unknown experiment
            if on_invalid == "raise":
                raise
            paths.append(None)
            known[Path(f"<invalid {len(paths)}>")] = TaskOutcome(task, None, "failed", str(err))
            continue
        path = run_dir(task.out, task.experiment, config)
        paths.append(path)
        if path in known or path in pending:
            continue
        why = verify_run(path)
        if why is None and not force:
            known[path] = TaskOutcome(task, path, "skipped", verdict=read_verdict(path))
            continue
        try:
            check_cost(config, name=task.experiment, allow_large=allow_large)
        except ParameterError as err:
            if on_invalid == "raise":
                raise
            known[path] = TaskOutcome(task, path, "failed", str(err))
            continue
        if why is not None and path.exists():
            log(f"{task.experiment}: {path} is not a complete run ({why}): redoing it")
        # workers may run elsewhere (other cwd): give them an absolute root
        pending[path] = dataclasses.replace(task, out=task.out.resolve())
    return paths, known, pending


def check_engine_options(
    engine: str, scheduler: Any, workers: int | None, timeout: float
) -> tuple[int | None, float]:
    """Validate the engine options of :func:`run_tasks` (one-line :class:`ParameterError`).

    Parameters
    ----------
    engine, scheduler, workers, timeout :
        As in :func:`run_tasks`.

    Returns
    -------
    tuple
        The checked ``workers`` (int or None) and ``timeout`` (float).
    """
    check_choice("engine", engine, ENGINES)
    if scheduler is not None and engine != "dask":
        raise ParameterError(f"scheduler = {str(scheduler)!r} is only used by engine 'dask'")
    if workers is not None:
        workers = check_int("workers", workers, lo=1)
    return workers, check_range("timeout", timeout, lo=0, lo_open=True, hi=1e6)


def run_tasks(
    tasks: Iterable[Task],
    *,
    engine: str = "local",
    scheduler: str | os.PathLike[str] | None = None,
    workers: int | None = None,
    progress: bool = True,
    force: bool = False,
    allow_large: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
    on_invalid: str = "raise",
    on_start: Callable[[Task], None] | None = None,
    on_done: Callable[[TaskOutcome], None] | None = None,
    log: Log | None = None,
) -> list[TaskOutcome]:
    """Run ``tasks`` on ``engine``; return one :class:`TaskOutcome` per task, in task order.

    Parameters
    ----------
    tasks : iterable of Task
        The runs. Tasks with the same directory run once (and share their outcome).
    engine : {"local", "process", "dask"}
        Where they run (module docstring).
    scheduler : str or path, optional
        Dask only: a scheduler address or scheduler file (default: a new LocalCluster).
    workers : int, optional
        Processes of the ``process`` engine and of a dask LocalCluster.
    progress : bool
        Show the default display (a progress bar on stderr).
    force : bool
        Recompute complete points (each swapped in only once complete).
    allow_large : bool
        Do not refuse configs whose estimated memory or work exceeds the machine's limits.
    timeout : float
        Seconds to wait for a dask scheduler to answer and for its first worker.
    on_invalid : {"raise", "fail"}
        An invalid config or a refused size: raise before any work (``"raise"``, for sweeps)
        or report that task as failed and run the others (``"fail"``, for reproduce).
    on_start, on_done : callable, optional
        Called with each task as it is handed to the engine, and with each outcome.
    log : callable, optional
        Receives one line per directory that is not trusted and is redone (default: stderr).

    Returns
    -------
    list of TaskOutcome
        In task order. An interrupt (``KeyboardInterrupt``) is re-raised after the engine has
        stopped, with the outcomes so far as its ``outcomes`` attribute.
    """
    workers, timeout = check_engine_options(engine, scheduler, workers, timeout)
    check_choice("on_invalid", on_invalid, ("raise", "fail"))
    tasks = list(tasks)
    notes: list[str] = []  # redo lines, printed once the display is up
    paths, outcomes, pending = _plan(
        tasks, force=force, allow_large=allow_large, on_invalid=on_invalid, log=notes.append
    )
    display = ProgressBar(len(outcomes) + len(pending), label=_label(tasks)) if progress else None
    book = _Book(tasks, paths, outcomes, display, on_start, on_done)
    for root in {path.parent for path in pending}:
        root.mkdir(parents=True, exist_ok=True)
    log = log or (display.print if display is not None else _stderr)
    engine_options = {"force": force, "allow_large": allow_large, "workers": workers}
    _execute(book, pending, notes, engine, scheduler, timeout, log, engine_options)
    return book.in_order()


def _execute(
    book: _Book,
    pending: dict[Path, Task],
    notes: list[str],
    engine: str,
    scheduler: Any,
    timeout: float,
    log: Log,
    options: dict[str, Any],
) -> None:
    """Bring up the engine (a dask client first: a bad address fails before the bar) and the
    display, report what is known already, run the pending tasks."""
    with contextlib.ExitStack() as stack:
        client = None
        if engine == "dask" and pending:
            client = stack.enter_context(
                _engines.dask_client(scheduler, options["workers"], len(pending), timeout)
            )
        if book.display is not None:
            stack.enter_context(book.display)
        for line in notes:
            log(line)
        for outcome in list(book.outcomes.values()):
            book.done(outcome)
        try:
            if pending:
                _ENGINES[engine](
                    list(pending.items()),
                    client=client,
                    started=book.started,
                    finished=book.finished,
                    **options,
                )
        except KeyboardInterrupt as err:
            err.outcomes = book.interrupted(pending)  # type: ignore[attr-defined]
            raise


_ENGINES = {"local": _engines.run_local, "process": _engines.run_process, "dask": _engines.run_dask}


class _Book:
    """The outcomes of one :func:`run_tasks` call, kept as they come, and the callbacks."""

    def __init__(
        self,
        tasks: list[Task],
        paths: list[Path | None],
        outcomes: dict[Path, TaskOutcome],
        display: ProgressBar | None,
        on_start: Callable[[Task], None] | None,
        on_done: Callable[[TaskOutcome], None] | None,
    ) -> None:
        self.tasks, self.paths, self.outcomes = tasks, paths, outcomes
        self.display, self.on_start, self.on_done = display, on_start, on_done
        self.origin: dict[Path, Task] = {}  # the first task (as given) of each directory
        for task, path in zip(tasks, paths, strict=True):
            if path is not None:
                self.origin.setdefault(path, task)

    def started(self, task: Task) -> None:
        if self.display is not None:
            self.display.start(task)
        if self.on_start is not None:
            self.on_start(task)

    def done(self, outcome: TaskOutcome) -> None:
        if self.display is not None:
            self.display.done(outcome)
        if self.on_done is not None:
            self.on_done(outcome)

    def finished(self, path: Path, result: dict[str, Any]) -> None:
        self.outcomes[path] = TaskOutcome(self.origin[path], path, **result)
        self.done(self.outcomes[path])

    def interrupted(self, pending: Mapping[Path, Task]) -> list[TaskOutcome]:
        """Mark the unfinished tasks interrupted; all outcomes in task order."""
        for path in pending:
            if path not in self.outcomes:
                self.outcomes[path] = TaskOutcome(
                    self.origin[path], path, "interrupted", "interrupted"
                )
        return self.in_order()

    def in_order(self) -> list[TaskOutcome]:
        return _in_order(self.tasks, self.paths, self.outcomes)


def _in_order(
    tasks: Sequence[Task], paths: Sequence[Path | None], outcomes: Mapping[Path, TaskOutcome]
) -> list[TaskOutcome]:
    invalid = iter(o for key, o in outcomes.items() if str(key).startswith("<invalid"))
    return [outcomes[p] if p is not None else next(invalid) for p in paths]


__all__ = [
    "DEFAULT_TIMEOUT",
    "ENGINES",
    "STATUSES",
    "Task",
    "TaskOutcome",
    "check_engine_options",
    "run_tasks",
    "verdict_text",
]
