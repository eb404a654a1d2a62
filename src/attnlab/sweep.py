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
    [figures]                     # optional: formats, dpi, style (attnlab.plot.FigureOptions)
    formats = ["png", "svg"]

Each grid point is one :class:`Task` = one run of :func:`attnlab.store.run_experiment`, stored
as ``<out>/<experiment>-<hash12>/`` exactly like ``attnlab run``, so a sweep is resumable
(complete, verified points are skipped unless ``force``) and its points are found again by
hash. Before any work starts, every point's config is validated and its estimated memory and
work are checked against the machine (:func:`attnlab._resources.check_cost`); a sweep of more
than :data:`DEFAULT_MAX_POINTS` points is refused by the command line without ``--yes``.

:func:`run_tasks` is the one runner of attnlab: ``attnlab run``, ``sweep`` and ``reproduce``
all go through it. It returns one :class:`TaskOutcome` per task (ran, skipped, failed or
interrupted, with the error line, the traceback, the wall time and the run's verdict); one
failing task never stops the others. ``on_start(task)`` / ``on_done(outcome)`` let a display
follow the run (the default is a simple progress bar).

Engines (the same store code runs the task everywhere, so results are identical bit for bit):

- ``local``   in this process, one task after the other;
- ``process`` a pool of *spawned* worker processes (jax is not fork-safe), ``workers`` of them
  (default: number of CPUs, at most the number of tasks); workers die with their parent;
- ``dask``    a ``dask.distributed`` cluster: ``scheduler`` is an address
  (``tcp://127.0.0.1:8786``) or a scheduler file written by ``dask scheduler
  --scheduler-file``; without it a ``LocalCluster`` of ``workers`` processes is started.
  Connecting, and waiting for a first worker, time out after ``timeout`` seconds. Workers must
  import the same attnlab and share the ``out`` file system. A task lost with a worker is
  rescheduled on another worker (up to ``distributed.scheduler.allowed-failures`` times).
  Re-execution is safe: a point is computed in a temp directory under an exclusive lock and
  swapped in whole (see :mod:`attnlab.store`).

An interrupt (``KeyboardInterrupt``; the command line raises it for SIGINT and SIGTERM) stops
every engine at once; the ``KeyboardInterrupt`` carries ``outcomes`` (the unfinished tasks
``"interrupted"``), and running the same tasks again resumes.

:func:`collect` gathers the complete runs under a directory into one tidy table.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from attnlab._runner import (
    DEFAULT_TIMEOUT,
    ENGINES,
    STATUSES,
    Task,
    TaskOutcome,
    check_engine_options,
    run_tasks,
    verdict_text,
)
from attnlab._tables import collect, find_runs, write_table
from attnlab._validate import ParameterError, check_int
from attnlab.config import ConfigError, load_toml_file

DEFAULT_MAX_POINTS = 1000
MAX_POINTS_ENV = "ATTNLAB_MAX_POINTS"
_SWEEP_KEYS = ("experiment", "quick", "out", "base", "grid", "figures")


@dataclass(frozen=True)
class Sweep:
    """A parsed sweep file (see the module docstring)."""

    experiment: str
    grid: Mapping[str, Sequence[Any]]
    base: Mapping[str, Any] = field(default_factory=dict)
    quick: bool = False
    out: Path | None = None
    figures: Any = None  # attnlab.plot.FigureOptions of the file's [figures] table

    @property
    def size(self) -> int:
        """The number of grid points (the product of the lists' lengths), without expanding."""
        return math.prod(len(values) for values in self.grid.values())

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
    _check_grid(grid)
    keys = list(grid)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*grid.values())]


def _check_grid(grid: Mapping[str, Sequence[Any]]) -> None:
    """Every grid value is a non-empty list (one-line :class:`ConfigError` otherwise)."""
    for key, values in grid.items():
        if isinstance(values, str | bytes) or not isinstance(values, Sequence):
            raise ConfigError(f"grid.{key} = {values!r}: must be a list of values")
        if len(values) == 0:
            raise ConfigError(f"grid.{key} = []: must list at least one value")


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
    _check_grid(grid)  # shape errors now, without expanding a possibly huge product
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


def check_size(n_points: int, *, max_points: int | None = None, yes: bool = False) -> None:
    """Refuse a sweep of more than ``max_points`` points unless ``yes``.

    Parameters
    ----------
    n_points : int
        The sweep's point count (:attr:`Sweep.size`).
    max_points : int, optional
        The limit; default ``$ATTNLAB_MAX_POINTS`` or :data:`DEFAULT_MAX_POINTS`.
    yes : bool
        Run however many points there are.

    Raises
    ------
    ParameterError
        One line saying the count and the limit.
    """
    if max_points is None:
        env = os.environ.get(MAX_POINTS_ENV)
        try:
            max_points = int(env) if env else DEFAULT_MAX_POINTS
        except ValueError:
            raise ParameterError(f"${MAX_POINTS_ENV} = {env!r}: must be an integer") from None
    max_points = check_int("max_points", max_points, lo=1)
    if n_points > max_points and not yes:
        raise ParameterError(
            f"the sweep has {n_points} points, more than the maximum of {max_points} "
            f"(--max-points or ${MAX_POINTS_ENV}); pass --yes to run them all"
        )


__all__ = [
    "DEFAULT_MAX_POINTS",
    "DEFAULT_TIMEOUT",
    "ENGINES",
    "STATUSES",
    "Sweep",
    "Task",
    "TaskOutcome",
    "check_engine_options",
    "check_size",
    "collect",
    "expand_grid",
    "find_runs",
    "load_sweep_file",
    "parse_sweep",
    "run_tasks",
    "verdict_text",
    "write_table",
]
