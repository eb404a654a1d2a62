"""The results store: one verified directory per (experiment, config), swapped in atomically.

``run_experiment(name, config, out=DIR)`` writes ``DIR/<name>-<hash12>/``::

    config.toml       the full validated config (reload with ``Config.from_toml``)
    results.parquet   the tidy long table of the run
    summary.json      headline numbers + theory-vs-simulation comparisons (strict JSON)
    <figure>.png/.pdf each figure of the experiment's plot function (formats: FigureOptions)
    <figure>.data.csv the tidy table each figure is drawn from (see attnlab.plot)
    manifest.json     versions, git revision, seeds, timings, and the sha256 and size of every
                      file above — written last

**Nothing on disk is trusted unverified.** A directory is *complete* iff its manifest parses,
lists ``config.toml``, ``results.parquet`` and ``summary.json``, matches its own digest and the
directory's hash, and every file it lists exists with the recorded size and sha256
(:func:`verify_run` says what is wrong otherwise). A truncated or bit-flipped file, a deleted
summary, a garbage manifest or config is *incomplete*: it is redone (with one line saying why),
never read as data. Re-running a complete directory is a no-op unless ``force=True``.

**Atomic.** A run is computed into a fresh hidden directory beside its target
(``.<name>-<hash12>.<random>.tmp``) and only when every file and the manifest are written is it
swapped into place in one step (:func:`attnlab._atomic.replace_dir`). An interrupted run —
crash, Ctrl-C, SIGKILL — leaves the previous directory (if any) untouched, so a killed
``--force`` rerun loses nothing; its temp directory is deleted by the next run of the point.

Concurrency: the whole run of a point happens under an exclusive ``flock`` on
``<out>/.<name>-<hash12>.lock`` (released by the kernel if the process dies, even by SIGKILL),
so two workers racing on the same point — e.g. a dask task re-executed after its worker was
presumed dead — run one after the other: the second finds the directory complete and skips it.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import socket
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from attnlab._atomic import (
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_parquet,
    atomic_write_text,
    file_digest,
    json_safe,
    replace_dir,
    temp_dir_beside,
)
from attnlab._provenance import git_revision, jax_devices, package_versions
from attnlab._verify import (
    MANIFEST,
    REQUIRED_FILES,
    IncompleteRunError,
    is_complete,
    manifest_digest,
    verify_run,
)
from attnlab.compare import Comparison, Dropped, Result, run_reasons, run_status
from attnlab.config import ExperimentConfig
from attnlab.registry import Experiment, get_experiment

__all__ = [
    "MANIFEST",
    "IncompleteRunError",
    "StoredRun",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_parquet",
    "atomic_write_text",
    "is_complete",
    "load_run",
    "read_verdict",
    "run_dir",
    "run_experiment",
    "verify_run",
]


# -- the store --------------------------------------------------------------------------------
def run_dir(out: Path, name: str, config: ExperimentConfig) -> Path:
    """Where a run of ``name`` with ``config`` is stored.

    Parameters
    ----------
    out : path
        The results root.
    name : str
        The experiment's name.
    config : ExperimentConfig
        Its validated config.

    Returns
    -------
    Path
        ``out / f"{name}-{hash12}"``, ``hash12`` the first 12 hex digits of the config hash.
    """
    return Path(out) / f"{name}-{config.config_hash()[:12]}"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``<parent>/.<name>.lock`` (no-op without fcntl).

    The lock file sits beside the run directory, not in it: the directory is swapped whole."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - non-POSIX
        yield
        return
    fd = os.open(path.parent / f".{path.name}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _remove_stale_temp_dirs(path: Path) -> None:
    """Temp directories left by an interrupted run of this point (only under its lock)."""
    for tmp in path.parent.glob(f".{path.name}.*.tmp"):
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)


@dataclass
class StoredRun:
    """A run in the store: its directory and its :class:`~attnlab.compare.Result`.

    ``status`` is ``"ran"`` (computed by this call) or ``"skipped"`` (found complete);
    ``redone`` says why an existing directory was not trusted and was computed again (``None``
    when there was nothing, or nothing wrong). The object is path-like (``Path(stored_run)``).
    """

    path: Path
    result: Result
    manifest: dict[str, Any]
    summary: dict[str, Any]
    status: str = "ran"
    redone: str | None = None

    def __fspath__(self) -> str:
        return os.fspath(self.path)

    @property
    def table(self) -> Any:
        """The run's tidy table (``results.parquet``)."""
        return self.result.table

    @property
    def verdict(self) -> dict[str, Any]:
        """``{"status", "counts", "reasons"}`` of the run's comparisons."""
        return self.result.verdict()


def run_experiment(
    experiment: str | Experiment,
    config: ExperimentConfig | Mapping[str, Any] | None = None,
    *,
    out: Path | str = "results",
    quick: bool = False,
    force: bool = False,
    plots: bool = True,
    figures: Any = None,
    allow_large: bool = False,
    log: Callable[[str], None] | None = None,
) -> StoredRun:
    """Run ``experiment`` with ``config`` and store it under ``out``.

    Parameters
    ----------
    experiment : str or Experiment
        A registered experiment (``attnlab list``).
    config : ExperimentConfig or mapping, optional
        A config, or overrides applied on top of the defaults (and of the ``quick`` preset
        when ``quick=True``).
    out : path
        Results root; the run goes to ``out/<name>-<hash12>/``.
    force : bool
        Recompute a complete run (into a fresh directory swapped in when complete).
    plots : bool
        Draw and save the figures.
    figures : attnlab.plot.FigureOptions, optional
        Formats, dpi and style of the figures (default: PNG + PDF, paper style).
    allow_large : bool
        Run even when the config's estimated memory or work exceeds this machine's limits
        (:func:`attnlab._resources.check_cost`; otherwise a one-line ``TooLargeError``).
    log : callable, optional
        Receives one line when the run is done or skipped, and when an existing directory is
        not trusted and is redone.

    Returns
    -------
    StoredRun
        The directory, the result (re-read and verified from disk) and whether it ran now.
    """
    from attnlab._resources import check_cost

    exp = get_experiment(experiment) if isinstance(experiment, str) else experiment
    if not isinstance(config, ExperimentConfig):
        config = exp.make_config(config or {}, quick=quick)
    path = run_dir(Path(out), exp.name, config)
    why = verify_run(path)
    if why is None and not force:
        return _skipped(exp, path, log)
    check_cost(config, name=exp.name, allow_large=allow_large)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path):
        why = verify_run(path)
        if why is None and not force:  # finished by a concurrent worker meanwhile
            return _skipped(exp, path, log)
        redone = None if why is None or not path.exists() else why
        if redone and log:
            log(f"{exp.name}: {path} is not a complete run ({redone}): redoing it")
        _remove_stale_temp_dirs(path)
        with temp_dir_beside(path) as tmp:
            t_run, _ = _run_into(exp, config, tmp, plots=plots, figures=figures)
            replace_dir(tmp, path)
    if log:
        log(f"{exp.name}: done in {t_run:.1f}s -> {path}")
    stored = load_run(path)
    stored.status, stored.redone = "ran", redone
    return stored


def _skipped(exp: Experiment, path: Path, log: Callable[[str], None] | None) -> StoredRun:
    if log:
        log(f"{exp.name}: complete at {path}, skipped (use --force to redo)")
    stored = load_run(path)
    stored.status = "skipped"
    return stored


def summary_of(result: Result) -> dict[str, Any]:
    """The ``summary.json`` content of a result.

    Parameters
    ----------
    result : Result
        A run's result.

    Returns
    -------
    dict
        Its headline numbers, every comparison row, the dropped rows and the verdict
        (``verdict``: ``status``, ``counts``, ``reasons``; ``all_passed``).
    """
    summary = dict(result.summary)
    summary["comparisons"] = [c.to_dict() for c in result.comparisons]
    summary["dropped"] = [d.to_dict() for d in result.dropped]
    summary["verdict"] = result.verdict()
    summary["all_passed"] = result.passed
    return summary


def _run_into(
    exp: Experiment, config: ExperimentConfig, path: Path, *, plots: bool, figures: Any = None
) -> tuple[float, Result]:
    """Run and write every file, manifest last; return the run time in seconds and the result."""
    from attnlab.precision import uses_jax

    started = time.time()
    t0 = time.perf_counter()
    result: Result = uses_jax(exp.run)(config)
    t_run = time.perf_counter() - t0

    files = list(REQUIRED_FILES)
    atomic_write_text(path / "config.toml", config.to_toml())
    atomic_write_parquet(path / "results.parquet", result.table)
    atomic_write_json(path / "summary.json", summary_of(result))

    t1 = time.perf_counter()
    figure_files, figure_data, problems = _save_figures(exp, config, result, path, plots, figures)
    t_plot = time.perf_counter() - t1

    manifest = {
        "experiment": exp.name,
        "family": exp.family,
        "description": exp.description,
        "config_class": f"{type(config).__module__}.{type(config).__qualname__}",
        "config_hash": config.config_hash(),
        "config": config.to_dict(),
        "seed": config.seed,
        "replicate_seeds": list(result.seeds),
        "versions": package_versions(),
        "git_revision": git_revision(),
        "platform": platform.platform(),
        "hostname": socket.gethostname(),
        "pid": os.getpid(),
        "devices": jax_devices(),
        "argv": sys.argv,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "timings_s": {
            "run": round(t_run, 3),
            "plot": round(t_plot, 3),
            "total": round(time.time() - started, 3),
        },
        "files": files + figure_files + list(figure_data.values()),
        "figures": figure_files,
        "figure_data": figure_data,
        "figure_problems": problems,
        "checksums": {
            name: file_digest(path / name)
            for name in files + figure_files + list(figure_data.values())
        },
    }
    manifest = json_safe(manifest)
    manifest["manifest_sha256"] = manifest_digest(manifest)
    atomic_write_json(path / MANIFEST, manifest)
    return t_run, result


def _save_figures(
    exp: Experiment,
    config: ExperimentConfig,
    result: Result,
    path: Path,
    plots: bool,
    figures: Any,
) -> tuple[list[str], dict[str, str], dict[str, list[str]]]:
    """Draw the experiment's figures and write each in every format with its data table.

    Returns the figure files, ``{figure: data file}`` and ``{figure: [problem, ...]}`` (only
    figures with problems, see :func:`attnlab.plot.figure_problems`).
    """
    files: list[str] = []
    data: dict[str, str] = {}
    problems: dict[str, list[str]] = {}
    if not plots or exp.plot is None:
        return files, data, problems
    from attnlab import plot, progress

    opts = figures if figures is not None else plot.FigureOptions()
    with plot.style(opts.style):
        drawn = exp.plot(result, config)
        with progress.track("figures", len(drawn)) as bar:
            for name, fig in drawn.items():
                # legends placed and the figure checked while its layout is fresh (saving
                # leaves it stale, and the check would lay it out again)
                plot.place_legends(fig)
                found = plot.figure_problems(fig)
                if found:
                    problems[name] = found
                files += plot.save_figure(
                    fig, path / name, formats=opts.formats, dpi=opts.dpi, style_name=opts.style
                )
                table = plot.figure_data(fig, default=result.table)
                data[name] = plot.save_figure_data(table, path / name)
                plot.close_figure(fig)
                bar.advance(1)
    return files, data, problems


def _read_json(path: Path) -> Any:
    return json.loads(path.read_bytes())


def load_run(path: Path | str) -> StoredRun:
    """Read a complete, verified run directory into a :class:`StoredRun`.

    Parameters
    ----------
    path : str or pathlib.Path
        The run directory to read (table, summary, manifest).

    Returns
    -------
    StoredRun
        Status ``"skipped"``; the result's comparisons and dropped rows are rebuilt from
        ``summary.json``, its ``summary`` holds the headline numbers only.

    Raises
    ------
    IncompleteRunError
        For a directory that fails :func:`verify_run` (the message says what is wrong).
    """
    import pandas as pd

    path = Path(path)
    why = verify_run(path)
    if why is not None:
        raise IncompleteRunError(f"{path} is not a complete attnlab run: {why}")
    manifest = _read_json(path / MANIFEST)
    summary = _read_json(path / "summary.json")
    comparisons = [Comparison.from_dict(c) for c in summary.get("comparisons", [])]
    dropped = [Dropped(**d) for d in summary.get("dropped", [])]
    headline = {
        k: v
        for k, v in summary.items()
        if k not in ("comparisons", "dropped", "verdict", "all_passed")
    }
    result = Result(
        table=pd.read_parquet(path / "results.parquet"),
        summary=headline,
        comparisons=comparisons,
        seeds=list(manifest.get("replicate_seeds", [])),
        dropped=dropped,
    )
    return StoredRun(path, result, manifest, summary, status="skipped")


def read_verdict(path: Path | str) -> dict[str, Any]:
    """The verdict of a verified run, read from its ``summary.json`` (no table is loaded).

    Parameters
    ----------
    path : str or pathlib.Path
        The run directory whose summary is read.

    Returns
    -------
    dict
        ``{"status", "counts", "reasons"}`` recomputed from the stored comparison rows.

    Raises
    ------
    IncompleteRunError
        For a directory that fails :func:`verify_run`.
    """
    path = Path(path)
    why = verify_run(path)
    if why is not None:
        raise IncompleteRunError(f"{path} is not a complete attnlab run: {why}")
    summary = _read_json(path / "summary.json")
    comparisons = [Comparison.from_dict(c) for c in summary.get("comparisons", [])]
    dropped = [Dropped(**d) for d in summary.get("dropped", [])]
    return Result(table=None, comparisons=comparisons, dropped=dropped).verdict()


__all__ += ["summary_of", "run_reasons", "run_status"]
