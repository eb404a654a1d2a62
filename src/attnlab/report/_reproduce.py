"""``reproduce``: run every registered experiment into one results root, resumably, then report.

The plan is the registry itself (:func:`attnlab.registry.all_experiments`), so a family that
lands is reproduced with no change here. Each experiment runs at its ``quick`` preset
(``quick=True``, the default) or at its full default config (the spec's reference sizes) and is
stored by :func:`attnlab.store.run_experiment` under ``OUT/<name>-<hash12>/``. Resuming is the
store's: a complete run directory (one with ``manifest.json``) is skipped unless ``force``.

A crashing experiment does not stop the others: its run directory gets ``failure.json`` (one
line: the exception) and ``traceback.txt``, it is shown as CRASHED in the report, and
:attr:`ReproduceOutcome.crashed` lists it. A comparison outside its tolerance is *not* a crash:
the run completes and the report shows the row as FAIL.

``OUT/reproduce.json`` records what this invocation did (which run directories, ran / skipped /
crashed, wall times); :func:`attnlab.report.write_report` renders ``OUT/report.html`` and
``OUT/report.md`` from it.
"""

from __future__ import annotations

import json
import platform
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from attnlab._validate import ParameterError, check_choice
from attnlab.registry import Experiment, all_experiments
from attnlab.report._files import FAILURE, RECORD, TRACEBACK

ENGINES = ("local", "process", "dask")


@dataclass
class RunRecord:
    """What happened to one experiment in a reproduce.

    ``status`` is ``"ran"`` (computed now), ``"skipped"`` (complete in the store already) or
    ``"crashed"`` (an exception; ``error`` is its one-line message). ``run_dir`` is relative to
    the results root; ``wall_s`` is the wall time of this invocation (0 for skipped runs).
    """

    experiment: str
    family: str
    run_dir: str
    status: str
    wall_s: float = 0.0
    error: str | None = None


@dataclass
class ReproduceOutcome:
    """The result of :func:`reproduce`: the records, the report files and the totals."""

    out: Path
    quick: bool
    records: list[RunRecord] = field(default_factory=list)
    wall_s: float = 0.0
    report_html: Path | None = None
    report_md: Path | None = None

    @property
    def crashed(self) -> list[RunRecord]:
        return [r for r in self.records if r.status == "crashed"]

    @property
    def ok(self) -> bool:
        """True when every experiment ran (or was already complete); comparisons aside."""
        return not self.crashed


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
            "`python -c 'import attnlab.registry as r; r.discover()'` shows the traceback"
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


def _clear_failure(path: Path) -> None:
    (path / FAILURE).unlink(missing_ok=True)
    (path / TRACEBACK).unlink(missing_ok=True)


def _error_line(err: BaseException) -> str:
    """``"ValueError: first line of the message"``."""
    first = (str(err).strip().splitlines() or [""])[0]
    return f"{type(err).__name__}: {first}" if first else type(err).__name__


def _record_failure(path: Path, exp: Experiment, line: str, tb: str) -> str:
    """Write ``failure.json`` (one line) + ``traceback.txt`` into the run directory."""
    from attnlab.store import atomic_write_json, atomic_write_text

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
    return line


def _comparison_line(path: Path) -> str:
    try:
        comps = json.loads((path / "summary.json").read_text()).get("comparisons", [])
    except (OSError, ValueError):
        return ""
    passed = sum(bool(c.get("passed")) for c in comps)
    return f"{passed}/{len(comps)} comparisons pass"


class _Progress:
    """An overall rich progress bar (or plain lines when ``enabled`` is false); forwards to the
    ``on_start(name)`` / ``on_done(name, line)`` callbacks of :func:`reproduce`."""

    def __init__(
        self, total: int, enabled: bool, log: Callable[[str], None] | None, callbacks: Any = None
    ) -> None:
        self.enabled = enabled
        self.log = log
        self.on_start, self.on_done = callbacks or (None, None)
        self.name = ""
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

    def start(self, name: str) -> None:
        self.name = name
        if self.on_start is not None:
            self.on_start(name)
        if self._progress is not None:
            self._progress.update(self._task, description=name)

    def done(self, line: str) -> None:
        """One line per finished experiment: to ``log`` if given, else above the bar."""
        if self.on_done is not None:
            self.on_done(self.name, line)
        if self.log is not None:
            self.log(line)
        elif self._progress is not None:
            self._progress.console.print(line, markup=False, highlight=False)
        if self._progress is not None:
            self._progress.advance(self._task)


def _line(rec: RunRecord, out: Path) -> str:
    path = out / rec.run_dir
    if rec.status == "crashed":
        return f"CRASHED  {rec.experiment:34s} {rec.wall_s:7.1f}s  {rec.error}"
    if rec.status == "skipped":
        return f"skipped  {rec.experiment:34s}  (complete)  {_comparison_line(path)}"
    return f"ran      {rec.experiment:34s} {rec.wall_s:7.1f}s  {_comparison_line(path)}"


def _run_local(
    exps: Sequence[Experiment],
    out: Path,
    *,
    quick: bool,
    force: bool,
    bar: _Progress,
    figures: Any = None,
) -> list[RunRecord]:
    from attnlab.store import is_complete, run_dir, run_experiment

    records = []
    for exp in exps:
        bar.start(exp.name)
        t0 = time.perf_counter()
        try:
            cfg = exp.make_config({}, quick=quick)
        except Exception as err:  # an invalid preset: reported, not fatal
            rec = RunRecord(exp.name, exp.family, "", "crashed", 0.0, f"invalid config: {err}")
            records.append(rec)
            bar.done(_line(rec, out))
            continue
        path = run_dir(out, exp.name, cfg)
        rel = path.relative_to(out).as_posix()
        if is_complete(path) and not force:
            _clear_failure(path)
            rec = RunRecord(exp.name, exp.family, rel, "skipped")
        else:
            _clear_failure(path)
            try:
                run_experiment(exp, cfg, out=out, force=force, figures=figures)
            except Exception as err:
                line = _record_failure(path, exp, _error_line(err), traceback.format_exc())
                rec = RunRecord(
                    exp.name, exp.family, rel, "crashed", time.perf_counter() - t0, line
                )
            else:
                rec = RunRecord(exp.name, exp.family, rel, "ran", time.perf_counter() - t0)
        rec.wall_s = round(rec.wall_s, 3)
        records.append(rec)
        bar.done(_line(rec, out))
    return records


def _run_engine(
    exps: Sequence[Experiment],
    out: Path,
    *,
    quick: bool,
    force: bool,
    engine: str,
    scheduler: str | None,
    workers: int | None,
    progress: bool,
    log: Callable[[str], None] | None,
    figures: Any = None,
    callbacks: Any = None,
) -> list[RunRecord]:
    """Hand the runs to :func:`attnlab.sweep.run_tasks` (process pool or dask cluster)."""
    try:
        from attnlab.sweep import Task, run_tasks
    except ImportError as err:
        raise ParameterError(
            f"--engine {engine} needs attnlab.sweep.run_tasks, which is not available ({err})"
        ) from None
    from attnlab.store import is_complete, run_dir

    planned = []
    for exp in exps:
        path = run_dir(out, exp.name, exp.make_config({}, quick=quick))
        planned.append((exp, path, is_complete(path) and not force))
        _clear_failure(path)
    extra = {"figures": figures} if figures is not None else {}
    tasks = [Task(e.name, {}, quick, out, **extra) for e, _, _ in planned]
    on_start, on_done = callbacks or (None, None)
    hooks = {k: v for k, v in (("on_start", on_start), ("on_done", on_done)) if v is not None}
    t0 = time.perf_counter()
    engine_error: tuple[BaseException, str] | None = None
    try:
        run_tasks(
            tasks,
            engine=engine,
            scheduler=scheduler,
            workers=workers,
            progress=progress,
            force=force,
            **hooks,
        )
    except ParameterError:
        raise
    except Exception as err:  # keep what completed; report the rest as crashed
        engine_error = (err, traceback.format_exc())
    wall = round(time.perf_counter() - t0, 3)
    records = []
    for exp, path, was_complete in planned:
        rel = path.relative_to(out).as_posix()
        if is_complete(path):
            status = "skipped" if was_complete else "ran"
            # the worker's compute time (run + plot) from the manifest: runs overlap in time
            rec = RunRecord(exp.name, exp.family, rel, status, 0.0 if was_complete else wall)
            if not was_complete:
                rec.wall_s = _stored_seconds(path, default=wall)
        else:
            if engine_error is not None:
                line, tb = _task_error(engine_error[0], path.name), engine_error[1]
            else:
                line = f"the {engine} engine returned without completing this run"
                tb = line + "\n"
            line = _record_failure(path, exp, line, tb)
            rec = RunRecord(exp.name, exp.family, rel, "crashed", wall, line)
        records.append(rec)
        _emit(_line(rec, out), log=log, console=progress)
    return records


def _stored_seconds(path: Path, *, default: float) -> float:
    from attnlab.report._collect import stored_seconds

    try:
        timings = json.loads((path / "manifest.json").read_text()).get("timings_s", {})
        return round(stored_seconds(timings), 3)
    except (OSError, ValueError, TypeError, AttributeError):
        return default


def _emit(line: str, *, log: Callable[[str], None] | None, console: bool) -> None:
    if log is not None:
        log(line)
    elif console:
        from rich.console import Console

        Console(stderr=True).print(line, markup=False, highlight=False)


def _task_error(err: BaseException, dirname: str) -> str:
    """This run's error line: its part of a ``SweepError`` message (which lists failures as
    ``"<dir> (<overrides>): <error> | ..."``), else the exception's own line."""
    text = str(err)
    start = text.find(f"{dirname} (")
    if start >= 0:
        part = text[start:].split(" | ", 1)[0]
        _, sep, message = part.partition("): ")
        if sep and message.strip():
            return message.strip()
    return _error_line(err)


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
    figures: Any = None,
    on_start: Callable[[str], None] | None = None,
    on_done: Callable[[str, str], None] | None = None,
) -> ReproduceOutcome:
    """Run every registered experiment (or the families / experiments in ``only``), then report.

    ``quick=True`` uses each experiment's ``quick`` preset, ``quick=False`` its full defaults.
    Results go to ``out`` (default :func:`default_out`); complete runs are skipped unless
    ``force``. ``engine`` is ``"local"`` (in this process, one after the other), ``"process"``
    or ``"dask"`` (through :func:`attnlab.sweep.run_tasks`; ``scheduler`` is the dask address).
    ``log`` receives one line per experiment (status, wall time, comparisons passed).
    ``figures`` (:class:`attnlab.plot.FigureOptions`): formats, dpi and style of the figures.
    ``on_start(name)`` / ``on_done(name, line)`` are called as each run begins / ends (for
    :class:`attnlab._display.Display`).
    Writes ``out/reproduce.json`` and, when ``report``, ``out/report.html`` + ``out/report.md``.
    Never raises for a crashing experiment: see :attr:`ReproduceOutcome.crashed`.
    """
    engine = check_choice("engine", engine, ENGINES)
    if scheduler is not None and engine != "dask":
        raise ParameterError(f"scheduler = {str(scheduler)!r} is only used by engine 'dask'")
    if workers is not None and int(workers) < 1:
        raise ParameterError(f"workers = {workers!r} is out of range: must be >= 1")
    exps = select_experiments(only)
    out_path = Path(out) if out is not None else default_out(quick)
    out_path.mkdir(parents=True, exist_ok=True)

    started = time.time()
    t0 = time.perf_counter()
    if engine == "local":
        with _Progress(len(exps), progress, log, (on_start, on_done)) as bar:
            records = _run_local(exps, out_path, quick=quick, force=force, bar=bar, figures=figures)
    else:
        records = _run_engine(
            exps,
            out_path,
            quick=quick,
            force=force,
            engine=engine,
            scheduler=scheduler,
            workers=workers,
            progress=progress,
            log=log,
            figures=figures,
            callbacks=(on_start, on_done),
        )
    outcome = ReproduceOutcome(out_path, quick, records, round(time.perf_counter() - t0, 3))

    from attnlab.store import atomic_write_json

    atomic_write_json(
        out_path / RECORD,
        {
            "mode": "quick" if quick else "full",
            "engine": engine,
            "only": list(only or []),
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
            "wall_s": outcome.wall_s,
            "machine": platform.platform(),
            "runs": [asdict(r) for r in records],
        },
    )
    if report:
        from attnlab.report._render import write_report

        outcome.report_html, outcome.report_md = write_report(out_path)
    return outcome
