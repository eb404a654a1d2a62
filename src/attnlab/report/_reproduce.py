"""``reproduce``: run every registered experiment into one results root, resumably, then report.

The plan is the registry itself (:func:`attnlab.registry.all_experiments`), so a family that
lands is reproduced with no change here. Each experiment runs at its ``quick`` preset
(``quick=True``, the default) or at its full default config (the reference sizes), through the
one runner of attnlab, :func:`attnlab.sweep.run_tasks`, on any of its engines, and is stored by
:func:`attnlab.store.run_experiment` under ``OUT/<name>-<hash12>/``. Resuming is the store's: a
complete run directory whose files match their checksums is skipped unless ``force``.

A crashing experiment does not stop the others: its run directory gets ``failure.json`` (one
line: the exception) and ``traceback.txt``, it is shown as CRASHED in the report, and
:attr:`ReproduceOutcome.crashed` lists it. A comparison outside its tolerance is *not* a crash:
the run completes, the report shows the row as FAIL, and the run's verdict is not "passed"
(:attr:`ReproduceOutcome.not_passed`; ``attnlab reproduce --strict`` exits 1 for it).

``OUT/reproduce.json`` records what this invocation did (which run directories, ran / skipped /
crashed / interrupted, wall times, verdicts); :func:`attnlab.report.write_report` renders
``OUT/report.html`` and ``OUT/report.md`` from it.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from attnlab._validate import ParameterError
from attnlab.registry import Experiment, all_experiments
from attnlab.report._files import FAILURE, RECORD, TRACEBACK

ENGINES = ("local", "process", "dask")
_RECORD_STATUS = {"failed": "crashed"}  # the report's word for a run that raised


@dataclass
class RunRecord:
    """What happened to one experiment in a reproduce.

    ``status`` is ``"ran"`` (computed now), ``"skipped"`` (complete in the store already),
    ``"crashed"`` (an exception, an invalid config or a refused size; ``error`` is its
    one-line message) or ``"interrupted"``. ``run_dir`` is relative to the results root;
    ``wall_s`` is the run's wall time in its worker (0 for skipped runs); ``verdict`` is the
    run's verdict (``status``, ``counts``, ``reasons``) when it completed.
    """

    experiment: str
    family: str
    run_dir: str
    status: str
    wall_s: float = 0.0
    error: str | None = None
    verdict: dict[str, Any] | None = None


@dataclass
class ReproduceOutcome:
    """The result of :func:`reproduce`: the records, the per-task outcomes, the report files
    and the totals."""

    out: Path
    quick: bool
    records: list[RunRecord] = field(default_factory=list)
    wall_s: float = 0.0
    report_html: Path | None = None
    report_md: Path | None = None
    outcomes: list[Any] = field(default_factory=list)

    @property
    def crashed(self) -> list[RunRecord]:
        return [r for r in self.records if r.status == "crashed"]

    @property
    def ok(self) -> bool:
        """True when every experiment ran (or was already complete); comparisons aside."""
        return not self.crashed

    @property
    def not_passed(self) -> list[RunRecord]:
        """The runs whose verdict is not "passed" (failed, uninformative, crashed, ...)."""
        return [r for r in self.records if (r.verdict or {}).get("status") != "passed"]


def default_out(quick: bool) -> Path:
    """``results/quick`` or ``results/full``."""
    return Path("results") / ("quick" if quick else "full")


def select_experiments(only: Iterable[str] | None = None) -> list[Experiment]:
    """The registered experiments, filtered by ``only`` (family names or experiment names).

    Sorted by family, then name. An unknown name raises a one-line :class:`ParameterError`
    listing the known families.
    """
    try:
        exps = all_experiments()
    except ParameterError:
        raise
    except Exception as err:  # a family whose experiments module does not import
        raise ParameterError(
            f"could not load the registered experiments ({_error_line(err)}); "
            "`attnlab --debug list` shows the traceback"
        ) from err
    wanted = [w.strip() for w in (only or []) if w.strip()]
    if not wanted:
        return list(exps.values())
    families = sorted({e.family for e in exps.values()})
    for w in wanted:
        if w not in families and w not in exps:
            raise ParameterError(
                f"unknown family {w!r} for --only; known families: {', '.join(families)}"
                " (experiment names are accepted too, see `attnlab list`)"
            )
    return [e for e in exps.values() if e.family in wanted or e.name in wanted]


def _error_line(err: BaseException) -> str:
    """``"ValueError: first line of the message"``."""
    first = (str(err).strip().splitlines() or [""])[0]
    return f"{type(err).__name__}: {first}" if first else type(err).__name__


def _clear_failure(path: Path) -> None:
    """Remove a previous failure record; a directory that held nothing else goes too."""
    (path / FAILURE).unlink(missing_ok=True)
    (path / TRACEBACK).unlink(missing_ok=True)
    if path.is_dir() and not any(path.iterdir()):
        path.rmdir()


def _record_failure(path: Path, exp: Experiment, line: str, tb: str) -> None:
    """Write ``failure.json`` (one line) + ``traceback.txt`` into an incomplete run directory
    (a complete one — the previous result of a failed ``--force`` rerun — is left intact)."""
    from attnlab.store import atomic_write_json, atomic_write_text, is_complete

    if is_complete(path):
        return
    path.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path / TRACEBACK, tb)
    atomic_write_json(
        path / FAILURE,
        {
            "experiment": exp.name,
            "family": exp.family,
            "description": exp.description,
            "error": line,
            "traceback": TRACEBACK,
            "failed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        },
    )


def _record(outcome: Any, exp: Experiment, out: Path) -> RunRecord:
    """The report's record of one task outcome (writing the failure files of a crash)."""
    rel = outcome.path.relative_to(out).as_posix() if outcome.path is not None else ""
    status = _RECORD_STATUS.get(outcome.status, outcome.status)
    if status == "crashed" and outcome.path is not None:
        tb = outcome.traceback or f"{outcome.error}\n"
        _record_failure(outcome.path, exp, outcome.error or "crashed", tb)
    return RunRecord(
        exp.name,
        exp.family,
        rel,
        status,
        round(outcome.wall_s, 3),
        outcome.error if status in ("crashed", "interrupted") else None,
        outcome.verdict,
    )


class _Progress:
    """An overall rich progress bar (or nothing when ``enabled`` is false) and one line per
    finished experiment, to ``log`` if given, else above the bar."""

    def __init__(self, total: int, enabled: bool, log: Callable[[str], None] | None) -> None:
        self.enabled = enabled
        self.log = log
        self._progress: Any = None
        self._task: Any = None
        self.total = total

    def __enter__(self) -> _Progress:
        if self.enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                SpinnerColumn,
                TextColumn,
                TimeElapsedColumn,
            )

            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("[bold]reproduce[/bold] {task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=Console(stderr=True),
            )
            self._progress.__enter__()
            self._task = self._progress.add_task("", total=self.total)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._progress is not None:
            self._progress.update(self._task, description="done")
            self._progress.__exit__(*exc)

    def start(self, task: Any) -> None:
        if self._progress is not None:
            self._progress.update(self._task, description=task.experiment)

    def print(self, line: str) -> None:
        if self.log is not None:
            self.log(line)
        elif self._progress is not None:
            self._progress.console.print(line, markup=False, highlight=False, soft_wrap=True)

    def done(self, outcome: Any) -> None:
        self.print(outcome.line())
        if self._progress is not None:
            self._progress.advance(self._task)


def reproduce(
    *,
    quick: bool = True,
    only: Iterable[str] | None = None,
    out: Path | str | None = None,
    engine: str = "local",
    scheduler: str | None = None,
    workers: int | None = None,
    force: bool = False,
    progress: bool = True,
    report: bool = True,
    log: Callable[[str], None] | None = None,
    allow_large: bool = False,
    timeout: float = 30.0,
    figures: Any = None,
    on_start: Callable[[Any], None] | None = None,
    on_done: Callable[[Any], None] | None = None,
) -> ReproduceOutcome:
    """Run every registered experiment (or the families / experiments in ``only``), then report.

    Parameters
    ----------
    quick, only, out : bool, iterable of str, path
        ``quick`` presets or full defaults; family or experiment names; the results root
        (default :func:`default_out`).
    engine, scheduler, workers, timeout, allow_large, force :
        As in :func:`attnlab.sweep.run_tasks`.
    progress, report : bool
        Show the default display (a bar, one line per experiment); write the report.
    log : callable, optional
        Receives the line per experiment (status, time, comparisons, verdict), not the console.
    figures : attnlab.plot.FigureOptions, optional
        Formats, dpi and style of the figures (default PNG + PDF, paper style).
    on_start, on_done : callable, optional
        Called with each task as it starts and each :class:`~attnlab.sweep.TaskOutcome`.

    Returns
    -------
    ReproduceOutcome
        Never raises for a crashing experiment (see :attr:`ReproduceOutcome.crashed`). An
        interrupt is re-raised after ``out/reproduce.json`` records what finished.
    """
    from attnlab.sweep import Task, check_engine_options, run_tasks

    check_engine_options(engine, scheduler, workers, timeout)

    exps = select_experiments(only)
    out_path = Path(out) if out is not None else default_out(quick)
    out_path.mkdir(parents=True, exist_ok=True)
    tasks = [Task(e.name, {}, quick, out_path, figures) for e in exps]
    started, t0 = time.time(), time.perf_counter()
    display = _Progress(len(tasks), progress, log)
    hooks = _Hooks(display, on_start, on_done)
    _clear_stale_failures(tasks, force)
    record = _Recorder(out_path, quick, engine, only, started, t0, {e.name: e for e in exps})
    try:
        with display:
            outcomes = run_tasks(
                tasks,
                engine=engine,
                scheduler=scheduler,
                workers=workers,
                progress=False,
                force=force,
                allow_large=allow_large,
                timeout=timeout,
                on_invalid="fail",
                on_start=hooks.start,
                on_done=hooks.done,
                log=display.print if (progress or log) else None,
            )
    except KeyboardInterrupt as err:
        record(getattr(err, "outcomes", []))
        raise
    return _finish(
        ReproduceOutcome(out_path, quick, record(outcomes), outcomes=outcomes), t0, report
    )


def _finish(result: ReproduceOutcome, t0: float, report: bool) -> ReproduceOutcome:
    """Stamp the wall time and, when asked, write the report next to the runs."""
    result.wall_s = round(time.perf_counter() - t0, 3)
    if report:
        from attnlab.report._render import write_report

        result.report_html, result.report_md = write_report(result.out)
    return result


@dataclass
class _Hooks:
    """The display and the caller's callbacks, called for each task and outcome."""

    display: _Progress
    on_start: Callable[[Any], None] | None
    on_done: Callable[[Any], None] | None

    def start(self, task: Any) -> None:
        self.display.start(task)
        if self.on_start is not None:
            self.on_start(task)

    def done(self, outcome: Any) -> None:
        if outcome.path is not None and outcome.status == "skipped":
            _clear_failure(outcome.path)
        self.display.done(outcome)
        if self.on_done is not None:
            self.on_done(outcome)


def _clear_stale_failures(tasks: list[Any], force: bool) -> None:
    """Failure records of the runs about to be redone (invalid configs are reported later)."""
    from attnlab.store import is_complete

    for task in tasks:
        try:
            path = task.run_dir()
        except ParameterError:
            continue
        if force or not is_complete(path):
            _clear_failure(path)


@dataclass
class _Recorder:
    """Turns outcomes into :class:`RunRecord` s and writes ``OUT/reproduce.json``."""

    out: Path
    quick: bool
    engine: str
    only: Iterable[str] | None
    started: float
    t0: float
    experiments: dict[str, Experiment]

    def __call__(self, outcomes: list[Any]) -> list[RunRecord]:
        from attnlab.store import atomic_write_json

        records = [_record(o, self.experiments[o.task.experiment], self.out) for o in outcomes]
        atomic_write_json(
            self.out / RECORD,
            {
                "mode": "quick" if self.quick else "full",
                "engine": self.engine,
                "only": list(self.only or []),
                "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started)),
                "wall_s": round(time.perf_counter() - self.t0, 3),
                "machine": platform.platform(),
                "runs": [asdict(r) for r in records],
            },
        )
        return records
