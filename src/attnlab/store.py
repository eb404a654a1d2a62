"""The results store: one directory per (experiment, config), written atomically, resumable.

``run_experiment(name, config, out=DIR)`` writes ``DIR/<name>-<hash12>/``::

    config.toml       the full validated config (reload with ``Config.from_toml``)
    results.parquet   the tidy long table of the run
    summary.json      headline numbers + theory-vs-simulation comparisons
    <figure>.png/.pdf each figure of the experiment's plot function (formats: FigureOptions)
    <figure>.data.csv the tidy table each figure is drawn from (see attnlab.plot)
    manifest.json     versions, git revision, seeds, timings, file list — written LAST

Every file is written to a temporary name in the same directory (``.<name>.<random>.tmp``) and
renamed into place (``os.replace`` is atomic on POSIX), so an interrupted run never leaves a half
file under a final name. A directory is *complete* iff its ``manifest.json`` exists; re-running a
complete directory is a no-op unless ``force=True``, and an incomplete one is redone (its stale
temp files are removed first).

Concurrency: the whole run of a directory happens under an exclusive ``flock`` on
``<dir>/.lock`` (released by the kernel if the process dies, even by SIGKILL), so two workers
racing on the same point — e.g. a dask task re-executed after its worker was presumed dead —
run one after the other: the second finds the directory complete and skips it. Where ``flock``
is unavailable (non-POSIX) the atomic renames + manifest-last rule still guarantee that every
file present is whole and that ``manifest.json`` appears only after all others.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from attnlab._atomic import (
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_parquet,
    atomic_write_text,
)
from attnlab.compare import Comparison, Dropped, Result, run_reasons, run_status
from attnlab.config import ExperimentConfig
from attnlab.registry import Experiment, get_experiment

__all__ = [
    "MANIFEST",
    "StoredRun",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_parquet",
    "atomic_write_text",
    "is_complete",
    "load_run",
    "run_dir",
    "run_experiment",
]

MANIFEST = "manifest.json"
LOCK = ".lock"
_PACKAGES = (
    "attnlab",
    "numpy",
    "scipy",
    "jax",
    "jaxlib",
    "pydantic",
    "pandas",
    "pyarrow",
    "matplotlib",
    "dask",
    "distributed",
)


# -- provenance -------------------------------------------------------------------------------
def package_versions() -> dict[str, str]:
    """Versions of python, attnlab (from the imported source) and the key dependencies."""
    import attnlab

    out = {"python": platform.python_version(), "attnlab": attnlab.__version__}
    for name in _PACKAGES[1:]:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def git_revision() -> str | None:
    """The git revision of the attnlab source tree (``+dirty`` if modified), if any."""
    src = Path(__file__).resolve().parent
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=src,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=src,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return rev + ("+dirty" if dirty else "")


def jax_devices() -> list[str]:
    try:
        import jax

        return [str(d) for d in jax.devices()]
    except Exception:  # pragma: no cover - reported, never fatal
        return []


# -- the store --------------------------------------------------------------------------------
def run_dir(out: Path, name: str, config: ExperimentConfig) -> Path:
    """``out / f"{name}-{hash12}"``."""
    return Path(out) / f"{name}-{config.config_hash()[:12]}"


def is_complete(path: Path) -> bool:
    """A run directory is complete iff its manifest (written last) exists."""
    return (Path(path) / MANIFEST).is_file()


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``path/.lock`` (no-op where fcntl is missing)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - non-POSIX
        yield
        return
    fd = os.open(path / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _remove_stale_temp_files(path: Path) -> None:
    """Temp files left by an interrupted writer (only called while holding the lock)."""
    for tmp in path.glob(".*.tmp"):
        tmp.unlink(missing_ok=True)


@dataclass
class StoredRun:
    """A run in the store: its directory and its :class:`~attnlab.compare.Result`.

    ``status`` is ``"ran"`` (computed by this call) or ``"skipped"`` (found complete). The
    object is path-like (``Path(stored_run)`` is its directory).
    """

    path: Path
    result: Result
    manifest: dict[str, Any]
    summary: dict[str, Any]
    status: str = "ran"

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
        Recompute a complete run.
    plots : bool
        Draw and save the figures.
    figures : attnlab.plot.FigureOptions, optional
        Formats, dpi and style of the figures (default: PNG + PDF, paper style).
    log : callable, optional
        Receives one line when the run is done or skipped.

    Returns
    -------
    StoredRun
        The directory, the result (re-read from disk when the run was already complete) and
        whether it ran now.
    """
    exp = get_experiment(experiment) if isinstance(experiment, str) else experiment
    if not isinstance(config, ExperimentConfig):
        config = exp.make_config(config or {}, quick=quick)
    path = run_dir(Path(out), exp.name, config)
    if is_complete(path) and not force:
        if log:
            log(f"{exp.name}: complete at {path}, skipped (use --force to redo)")
        return _skipped(path)
    path.mkdir(parents=True, exist_ok=True)
    with _locked(path):
        if is_complete(path) and not force:  # finished by a concurrent worker meanwhile
            if log:
                log(f"{exp.name}: complete at {path}, skipped (use --force to redo)")
            return _skipped(path)
        (path / MANIFEST).unlink(missing_ok=True)
        _remove_stale_temp_files(path)
        t_run, result = _run_into(exp, config, path, plots=plots, figures=figures)
    if log:
        log(f"{exp.name}: done in {t_run:.1f}s -> {path}")
    stored = load_run(path)
    stored.status = "ran"
    return stored


def _skipped(path: Path) -> StoredRun:
    stored = load_run(path)
    stored.status = "skipped"
    return stored


def summary_of(result: Result) -> dict[str, Any]:
    """The ``summary.json`` content of a result: its headline numbers, every comparison row,
    the dropped rows and the verdict (``status``, ``counts``, ``reasons``, ``all_passed``)."""
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

    files = ["config.toml", "results.parquet", "summary.json"]
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
    }
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
                files += plot.save_figure(
                    fig, path / name, formats=opts.formats, dpi=opts.dpi, style_name=opts.style
                )
                table = plot.figure_data(fig, default=result.table)
                data[name] = plot.save_figure_data(table, path / name)
                found = plot.figure_problems(fig)
                if found:
                    problems[name] = found
                plot.close_figure(fig)
                bar.advance(1)
    return files, data, problems


def load_run(path: Path | str) -> StoredRun:
    """Read a complete run directory into a :class:`StoredRun` (status ``"skipped"``).

    The result's comparisons and dropped rows are rebuilt from ``summary.json``; its
    ``summary`` holds the headline numbers only.
    """
    import pandas as pd

    path = Path(path)
    if not is_complete(path):
        raise FileNotFoundError(f"{path} is not a complete attnlab run (no {MANIFEST})")
    manifest = json.loads((path / MANIFEST).read_text())
    summary = json.loads((path / "summary.json").read_text())
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


__all__ += ["summary_of", "run_reasons", "run_status"]
