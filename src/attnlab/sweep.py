"""Sweeps: a grid of runs of one experiment, on the local, process or dask engine.

A sweep file (TOML) names one experiment, fixed overrides and the grid::

    experiment = "demo-mean"      # required: a registered experiment
    quick = true                  # optional (default false): start from the --quick preset
    out = "results/demo-grid"     # optional (default results/<file stem>); --out overrides
    [base]                        # optional: overrides shared by every point
    n_seeds = 50
    [grid]                        # lists of values; the sweep is their cartesian product
    n = [10, 100, 1000]
    mu = [0.0, 1.0]
    [figures]                     # optional: attnlab.plot.FigureOptions (CLI flags override)
    formats = ["png", "pdf", "svg"]
    style = "talk"

Each grid point is one :class:`Task` = one run of :func:`attnlab.store.run_experiment`, stored
as ``<out>/<experiment>-<hash12>/`` exactly like ``attnlab run``, so a sweep is resumable
(complete points are skipped unless ``force``) and its points are found again by hash.
Every point's config is validated *before* any work starts.

Engines (the same store code runs the task everywhere, so results are identical bit for bit):

- ``local``   in this process, one task after the other;
- ``process`` a ``concurrent.futures.ProcessPoolExecutor`` of *spawned* workers (jax is not
  fork-safe); ``workers`` processes (default: number of CPUs, at most the number of tasks);
- ``dask``    a ``dask.distributed`` cluster: ``scheduler`` is an address
  (``tcp://127.0.0.1:8786``) or a scheduler file written by ``dask scheduler
  --scheduler-file``; without it a ``LocalCluster`` of ``workers`` processes is started. Workers
  must import the same attnlab and share the ``out`` file system. A task lost with a worker
  (killed, crashed) is rescheduled by the scheduler on another worker (up to
  ``distributed.scheduler.allowed-failures`` times, default 3), and a task that *raises* is
  retried twice (``retries=2``). Re-execution is safe: a point's directory is written under an
  exclusive lock with atomic renames and the manifest last (see :mod:`attnlab.store`), so a
  duplicate execution finds the point complete or redoes it whole.

:func:`collect` gathers the complete runs under a directory into one tidy table.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attnlab._validate import ParameterError, check_choice, check_int
from attnlab.config import ConfigError, ExperimentConfig, load_toml_file

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

ENGINES = ("local", "process", "dask")
_SWEEP_KEYS = ("experiment", "quick", "out", "base", "grid", "figures")


class SweepError(RuntimeError):
    """Some tasks of a sweep failed (the message lists them; the others are stored)."""


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


@dataclass(frozen=True)
class Sweep:
    """A parsed sweep file (see the module docstring)."""

    experiment: str
    grid: Mapping[str, Sequence[Any]]
    base: Mapping[str, Any] = field(default_factory=dict)
    quick: bool = False
    out: Path | None = None
    figures: Any = None

    def points(self) -> list[dict[str, Any]]:
        """The grid points (overrides only), in :func:`expand_grid` order."""
        return expand_grid(self.grid)

    def tasks(self, out: Path | str | None = None) -> list[Task]:
        """One :class:`Task` per grid point (``out`` overrides the file's ``out``)."""
        root = Path(out) if out is not None else (self.out or Path("results"))
        return [
            Task(self.experiment, {**self.base, **point}, self.quick, root, self.figures)
            for point in self.points()
        ]


def expand_grid(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Cartesian product of the listed values: ``{"a": [1, 2], "b": [3]}`` ->
    ``[{"a": 1, "b": 3}, {"a": 2, "b": 3}]`` (first key slowest, last key fastest).

    An empty grid is one point (``[{}]``). Every value must be a non-empty list.
    """
    for key, values in grid.items():
        if isinstance(values, str | bytes) or not isinstance(values, Sequence):
            raise ConfigError(f"grid.{key} = {values!r}: must be a list of values")
        if len(values) == 0:
            raise ConfigError(f"grid.{key} = []: must list at least one value")
    keys = list(grid)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*grid.values())]


def parse_sweep(data: Mapping[str, Any], *, source: str = "sweep") -> Sweep:
    """Validate a sweep table (as read from TOML) into a :class:`Sweep`; one-line errors."""
    unknown = sorted(set(data) - set(_SWEEP_KEYS))
    if unknown:
        raise ConfigError(
            f"{source}: unknown key(s) {', '.join(map(repr, unknown))} "
            f"(valid: {', '.join(_SWEEP_KEYS)})"
        )
    name = data.get("experiment")
    if not isinstance(name, str):
        raise ConfigError(f"{source}: experiment = {name!r}: must name a registered experiment")
    quick = data.get("quick", False)
    if not isinstance(quick, bool):
        raise ConfigError(f"{source}: quick = {quick!r}: must be true or false")
    base = data.get("base", {})
    grid = data.get("grid", {})
    for key, table in (("base", base), ("grid", grid)):
        if not isinstance(table, Mapping):
            raise ConfigError(f"{source}: {key} must be a table ([{key}]), got {table!r}")
    both = sorted(set(base) & set(grid))
    if both:
        raise ConfigError(f"{source}: {', '.join(both)} in both [base] and [grid]")
    out = data.get("out")
    if out is not None and not isinstance(out, str):
        raise ConfigError(f"{source}: out = {out!r}: must be a path string")
    expand_grid(grid)  # shape errors now
    figures = data.get("figures")
    if figures is not None:
        from attnlab.plot import FigureOptions

        if not isinstance(figures, Mapping):
            raise ConfigError(f"{source}: figures must be a table ([figures]), got {figures!r}")
        figures = FigureOptions(**figures)
    return Sweep(name, dict(grid), dict(base), quick, None if out is None else Path(out), figures)


def load_sweep_file(path: Path | str) -> Sweep:
    """Read and validate a sweep file; ``out`` defaults to ``results/<file stem>``."""
    path = Path(path)
    sweep = parse_sweep(load_toml_file(path), source=str(path))
    if sweep.out is None:
        sweep = dataclasses.replace(sweep, out=Path("results") / path.stem)
    return sweep


# -- running ------------------------------------------------------------------------------------
def _execute(task: Task, force: bool) -> str:
    """Worker side: run one task through the store; returns its directory (as str)."""
    from attnlab.store import run_experiment

    config = task.config()
    stored = run_experiment(
        task.experiment, config, out=task.out, force=force, figures=task.figures
    )
    return str(stored.path)


def run_tasks(
    tasks: Iterable[Task],
    *,
    engine: str = "local",
    scheduler: str | os.PathLike[str] | None = None,
    workers: int | None = None,
    progress: bool = True,
    force: bool = False,
    on_start: Callable[[str], None] | None = None,
    on_done: Callable[[str, str], None] | None = None,
) -> list[Path]:
    """Run ``tasks`` on ``engine``; return each task's run directory, in task order.

    Every config is validated first (a bad point fails the sweep before any work). Complete
    points are skipped unless ``force``; tasks with the same directory run once. A failing task
    does not stop the others: afterwards :class:`SweepError` lists the failures.
    ``scheduler`` (dask only): address or scheduler-file path; ``workers``: process count for
    ``process`` and for a dask ``LocalCluster``. ``on_start(name)`` and ``on_done(name, line)``
    are called in this process when a run (named by its directory) is handed out and when it
    has finished (``line``: its one-line outcome), e.g. for :class:`attnlab._display.Display`.
    """
    from attnlab.store import is_complete

    check_choice("engine", engine, ENGINES)
    if scheduler is not None and engine != "dask":
        raise ParameterError(f"scheduler = {str(scheduler)!r} is only used by engine 'dask'")
    if workers is not None:
        workers = check_int("workers", workers, lo=1)
    tasks = list(tasks)
    dirs = [t.run_dir() for t in tasks]  # validates every config up front
    pending: dict[Path, Task] = {}
    for task, d in zip(tasks, dirs, strict=True):
        if d not in pending and (force or not is_complete(d)):
            # workers may run elsewhere (other cwd): give them an absolute root
            pending[d] = dataclasses.replace(task, out=task.out.resolve())
    todo = list(pending.items())

    with contextlib.ExitStack() as stack:
        client = None
        if engine == "dask" and todo:  # connect first: a bad address fails before the bar
            client = stack.enter_context(_dask_client(scheduler, workers, len(todo)))
        bar = stack.enter_context(_Progress(len(set(dirs)), enabled=progress, label=_label(tasks)))
        bar.advance(len(set(dirs)) - len(todo))  # already complete
        for d in dict.fromkeys(d for d in dirs if d not in pending):
            if on_done is not None:
                on_done(d.name, f"skipped  {d.name}  (complete)")

        def started(d: Path) -> None:
            if on_start is not None:
                on_start(d.name)

        def done(d: Path, error: str | None) -> None:
            bar.advance(1)
            if on_done is not None:
                on_done(d.name, f"FAILED   {d.name}  {error}" if error else f"ran      {d.name}")

        runner = {"local": _run_local, "process": _run_process, "dask": _run_dask}[engine]
        failures = (
            runner(todo, force=force, workers=workers, client=client, start=started, done=done)
            if todo
            else []
        )
    if failures:
        lines = [f"{d.name} ({dict(pending[d].overrides)}): {err}" for d, err in failures]
        raise SweepError(f"{len(failures)} of {len(tasks)} tasks failed: " + " | ".join(lines))
    return dirs


Start = Callable[[Path], None]
Done = Callable[[Path, "str | None"], None]
Failures = list[tuple[Path, str]]


def _describe(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}".splitlines()[0]


def _run_local(todo, *, force, start: Start, done: Done, **_: Any) -> Failures:
    failures = []
    for d, task in todo:
        start(d)
        error = None
        try:
            _execute(task, force)
        except Exception as err:
            error = _describe(err)
            failures.append((d, error))
        done(d, error)
    return failures


def _run_process(todo, *, force, workers, start: Start, done: Done, **_: Any) -> Failures:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    if not todo:
        return []
    n = workers or min(os.cpu_count() or 1, len(todo))
    failures = []
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=n, mp_context=ctx) as pool:
        futures = {pool.submit(_execute, task, force): d for d, task in todo}
        for d in futures.values():
            start(d)
        for fut in as_completed(futures):
            error = None
            try:
                fut.result()
            except Exception as err:
                error = _describe(err)
                failures.append((futures[fut], error))
            done(futures[fut], error)
    return failures


@contextlib.contextmanager
def _dask_client(scheduler: Any, workers: int | None, n_tasks: int) -> Iterator[Any]:
    """A dask client: of the scheduler at ``scheduler``, or of a new LocalCluster."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ParameterError(
            "engine = 'dask' needs dask.distributed, which is not installed: "
            "pip install 'attnlab[dask]'"
        ) from None

    if scheduler is not None:
        client = _connect(Client, scheduler)
        try:
            yield client
        finally:
            client.close()
        return
    cluster = LocalCluster(
        n_workers=workers or min(os.cpu_count() or 1, n_tasks),
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        host="127.0.0.1",
        silence_logs=logging.ERROR,
    )
    try:
        with Client(cluster) as client:
            yield client
    finally:
        cluster.close()


def _run_dask(todo, *, force, client, start: Start, done: Done, **_: Any) -> Failures:
    from distributed import as_completed

    futures = {
        client.submit(_execute, task, force, key=f"attnlab-{d.name}", pure=False, retries=2): d
        for d, task in todo
    }
    for d in futures.values():
        start(d)
    failures = []
    for fut in as_completed(futures):
        error = None
        try:
            fut.result()
        except Exception as err:
            error = _describe(err)
            failures.append((futures[fut], error))
        done(futures[fut], error)
    return failures


def _connect(client_cls: Any, scheduler: str | os.PathLike[str]) -> Any:
    """A client of a running scheduler (address or scheduler file); one-line error if none.

    The connection timeout is dask's ``distributed.comm.timeouts.connect`` (30 s by default).
    """
    is_file = Path(scheduler).is_file()
    try:
        if is_file:
            return client_cls(scheduler_file=str(scheduler))
        return client_cls(str(scheduler))
    except (OSError, TimeoutError, ValueError) as err:
        what = "scheduler file" if is_file else "scheduler"
        raise ParameterError(
            f"{what} = {str(scheduler)!r}: cannot connect ({_describe(err)})"
        ) from None


def _label(tasks: Sequence[Task]) -> str:
    names = sorted({t.experiment for t in tasks})
    return ", ".join(names) if names else "sweep"


class _Progress:
    """A rich progress bar (or nothing when disabled)."""

    def __init__(self, total: int, *, enabled: bool, label: str) -> None:
        self.total, self.enabled, self.label = total, enabled, label
        self._bar: Any = None

    def __enter__(self) -> _Progress:
        if self.enabled:
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
            )
            self._bar.start()
            self._id = self._bar.add_task(self.label, total=self.total)
        return self

    def advance(self, k: int) -> None:
        if self._bar is not None and k:
            self._bar.advance(self._id, k)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()


# -- collecting ---------------------------------------------------------------------------------
def find_runs(root: Path | str) -> list[Path]:
    """Every complete run directory under ``root`` (any depth), sorted by path."""
    from attnlab.store import MANIFEST

    return sorted(p.parent for p in Path(root).rglob(MANIFEST))


def collect(root: Path | str, *, what: str = "rows") -> pd.DataFrame:
    """One table of the complete runs under ``root`` (e.g. a sweep's ``out``).

    Every row starts with ``experiment``, ``run`` (directory name) and ``config_hash``, then
    one column ``config.<field>`` per config field (tuples as lists). Then:

    - ``what="rows"``: each run's result table (``results.parquet``) rows, columns unchanged;
    - ``what="summary"``: one row per run with its scalar summary numbers as
      ``summary.<key>`` columns and ``all_passed``.

    Runs of different experiments may be mixed (missing columns are NaN).
    """
    import pandas as pd

    from attnlab.store import load_run

    check_choice("what", what, ("rows", "summary"))
    frames = []
    for path in find_runs(root):
        run = load_run(path)
        meta = {
            "experiment": run.manifest["experiment"],
            "run": path.name,
            "config_hash": run.manifest["config_hash"],
        }
        meta.update({f"config.{k}": v for k, v in _flat(run.manifest["config"]).items()})
        if what == "rows":
            table = run.table.reset_index(drop=True)
            head = pd.DataFrame({k: [v] * len(table) for k, v in meta.items()})
            frames.append(pd.concat([head, table], axis=1))
        else:
            row = dict(meta)
            for k, v in run.summary.items():
                if k == "all_passed":
                    row[k] = bool(v)
                elif isinstance(v, bool | int | float | str) or v is None:
                    row[f"summary.{k}"] = v
            frames.append(pd.DataFrame([row]))
    if not frames:
        raise FileNotFoundError(f"no complete attnlab runs under {root}")
    return pd.concat(frames, ignore_index=True)


def _flat(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested config tables flattened to dotted keys (``model.d``)."""
    out: dict[str, Any] = {}
    for k, v in config.items():
        if isinstance(v, Mapping):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def write_table(table: pd.DataFrame, path: Path | str) -> Path:
    """Write ``table`` atomically as Parquet (``.parquet``) or CSV (``.csv``)."""
    from attnlab.store import atomic_write_parquet, atomic_write_text

    path = Path(path)
    if path.suffix == ".parquet":
        atomic_write_parquet(path, table)
    elif path.suffix == ".csv":
        atomic_write_text(path, table.to_csv(index=False))
    else:
        raise ParameterError(f"out = {str(path)!r}: must end in .parquet or .csv")
    return path


__all__ = [
    "ENGINES",
    "Sweep",
    "SweepError",
    "Task",
    "collect",
    "expand_grid",
    "find_runs",
    "load_sweep_file",
    "parse_sweep",
    "run_tasks",
    "write_table",
]
