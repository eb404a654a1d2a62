"""The results store: one directory per (experiment, config), written atomically, resumable.

``run_experiment(name, config, out=DIR)`` writes ``DIR/<name>-<hash12>/``::

    config.toml       the full validated config (reload with ``Config.from_toml``)
    results.parquet   the tidy long table of the run
    summary.json      headline numbers + theory-vs-simulation comparisons
    <figure>.png/.pdf each figure of the experiment's plot function
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
import io
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from attnlab.config import ExperimentConfig
from attnlab.registry import Experiment, Result, get_experiment

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


# -- atomic writes ------------------------------------------------------------------------------
def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temp file in the same directory + ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def atomic_write_parquet(path: Path, table: Any) -> None:
    """Write a pandas DataFrame as Parquet, atomically."""
    buf = io.BytesIO()
    table.to_parquet(buf, index=False)
    atomic_write_bytes(path, buf.getvalue())


def atomic_save_figure(path_stem: Path, fig: Any) -> list[str]:
    """Save ``fig`` as ``<stem>.png`` and ``<stem>.pdf`` atomically; return the file names."""
    names = []
    for ext in ("png", "pdf"):
        buf = io.BytesIO()
        fig.savefig(buf, format=ext, dpi=120 if ext == "png" else None, bbox_inches="tight")
        target = path_stem.with_suffix(f".{ext}")
        atomic_write_bytes(target, buf.getvalue())
        names.append(target.name)
    return names


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


def run_experiment(
    experiment: str | Experiment,
    config: ExperimentConfig | Mapping[str, Any] | None = None,
    *,
    out: Path | str = "results",
    quick: bool = False,
    force: bool = False,
    plots: bool = True,
    log: Callable[[str], None] | None = None,
) -> Path:
    """Run ``experiment`` with ``config`` and store it; return the run directory.

    ``config`` may be a config instance, or a mapping of overrides applied on top of the
    defaults (and of the ``quick`` preset when ``quick=True``). Skips a complete directory
    unless ``force``.
    """
    exp = get_experiment(experiment) if isinstance(experiment, str) else experiment
    if not isinstance(config, ExperimentConfig):
        config = exp.make_config(config or {}, quick=quick)
    path = run_dir(Path(out), exp.name, config)
    if is_complete(path) and not force:
        if log:
            log(f"{exp.name}: complete at {path}, skipped (use --force to redo)")
        return path
    path.mkdir(parents=True, exist_ok=True)
    with _locked(path):
        if is_complete(path) and not force:  # finished by a concurrent worker meanwhile
            if log:
                log(f"{exp.name}: complete at {path}, skipped (use --force to redo)")
            return path
        (path / MANIFEST).unlink(missing_ok=True)
        _remove_stale_temp_files(path)
        t_run = _run_into(exp, config, path, plots=plots)
    if log:
        log(f"{exp.name}: done in {t_run:.1f}s -> {path}")
    return path


def _run_into(exp: Experiment, config: ExperimentConfig, path: Path, *, plots: bool) -> float:
    """Run and write every file, manifest last; return the run time in seconds."""
    started = time.time()
    t0 = time.perf_counter()
    result: Result = exp.run(config)
    t_run = time.perf_counter() - t0

    files = ["config.toml", "results.parquet", "summary.json"]
    atomic_write_text(path / "config.toml", config.to_toml())
    atomic_write_parquet(path / "results.parquet", result.table)
    summary = dict(result.summary)
    summary["comparisons"] = [c.to_dict() for c in result.comparisons]
    summary["all_passed"] = all(c.passed for c in result.comparisons)
    atomic_write_json(path / "summary.json", summary)

    t1 = time.perf_counter()
    figures: list[str] = []
    if plots and exp.plot is not None:
        from attnlab.plot import close_figure

        for fig_name, fig in exp.plot(result, config).items():
            figures += atomic_save_figure(path / fig_name, fig)
            close_figure(fig)
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
        "files": files + figures,
        "figures": figures,
    }
    atomic_write_json(path / MANIFEST, manifest)
    return t_run


def load_run(path: Path | str) -> dict[str, Any]:
    """Read a complete run directory: ``{"manifest", "summary", "table", "path"}``."""
    import pandas as pd

    path = Path(path)
    if not is_complete(path):
        raise FileNotFoundError(f"{path} is not a complete attnlab run (no {MANIFEST})")
    return {
        "path": path,
        "manifest": json.loads((path / MANIFEST).read_text()),
        "summary": json.loads((path / "summary.json").read_text()),
        "table": pd.read_parquet(path / "results.parquet"),
    }
