"""Gather the verified runs under a directory into one tidy table (``attnlab collect``).

Only directories that pass :func:`attnlab.store.verify_run` are read; any other directory
holding a ``manifest.json`` (a truncated or bit-flipped file, a deleted summary, a garbage
manifest) is left out with one line saying why, never read as data.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attnlab._validate import ParameterError, check_choice

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["collect", "find_runs", "write_table"]

Log = Callable[[str], None]


def _warn(line: str) -> None:
    print(line, file=sys.stderr)


def find_runs(root: Path | str, *, log: Log | None = _warn) -> list[Path]:
    """Every complete, verified run directory under ``root`` (any depth), sorted by path.

    Parameters
    ----------
    root : path
        Where to look. Hidden directories (a run being written) are not looked into.
    log : callable or None
        Receives one line per directory with a manifest that fails verification (left out);
        stderr by default, ``None`` for silence.

    Returns
    -------
    list of Path
    """
    from attnlab.store import MANIFEST, verify_run

    root = Path(root)
    runs = []
    for manifest in sorted(root.rglob(MANIFEST)):
        path = manifest.parent
        if any(part.startswith(".") for part in path.relative_to(root).parts):
            continue
        why = verify_run(path)
        if why is None:
            runs.append(path)
        elif log is not None:
            log(f"left out {path}: not a complete run ({why}); run it again to redo it")
    return runs


def collect(root: Path | str, *, what: str = "rows", log: Log | None = _warn) -> pd.DataFrame:
    """One table of the complete, verified runs under ``root`` (e.g. a sweep's ``out``).

    Every row starts with ``experiment``, ``run`` (directory name) and ``config_hash``, then
    one column ``config.<field>`` per config field (tuples as lists). Then:

    - ``what="rows"``: each run's result table (``results.parquet``) rows, columns unchanged;
    - ``what="summary"``: one row per run with its scalar summary numbers as
      ``summary.<key>`` columns and ``all_passed``.

    Runs of different experiments may be mixed (missing columns are NaN).

    Parameters
    ----------
    root : path
        Where the runs are.
    what : {"rows", "summary"}
        The runs' result rows, or one summary row per run.
    log : callable or None
        As in :func:`find_runs`: a directory that fails verification is left out with a line.

    Returns
    -------
    pandas.DataFrame
    """
    import pandas as pd

    from attnlab.store import load_run

    check_choice("what", what, ("rows", "summary"))
    frames = []
    for path in find_runs(root, log=log):
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
    """Write ``table`` atomically as Parquet or CSV.

    Parameters
    ----------
    table : pandas.DataFrame
    path : path
        Ending in ``.parquet`` or ``.csv`` (one-line :class:`ParameterError` otherwise).

    Returns
    -------
    Path
        ``path``.
    """
    from attnlab._atomic import atomic_write_parquet, atomic_write_text

    path = Path(path)
    if path.suffix == ".parquet":
        atomic_write_parquet(path, table)
    elif path.suffix == ".csv":
        atomic_write_text(path, table.to_csv(index=False))
    else:
        raise ParameterError(f"out = {str(path)!r}: must end in .parquet or .csv")
    return path
