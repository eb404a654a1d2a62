"""Read a results root into the plain data the report renders (no HTML here).

A results root ``OUT`` holds run directories ``OUT/<name>-<hash12>/`` written by
:func:`attnlab.store.run_experiment` (complete iff ``manifest.json`` exists) or marked crashed
by :func:`attnlab.report.reproduce` (``failure.json`` + ``traceback.txt``). Which directories
belong to the report is read from ``OUT/reproduce.json`` when it exists (the last
``reproduce``), otherwise every run directory under ``OUT`` is taken.

Each comparison row keeps the status the experiment recorded (:mod:`attnlab.compare`: pass,
fail, uninformative, invalid; recomputed from the numbers for older runs), the dropped rows and
the run's verdict; the family's two-line model summary comes from
:func:`attnlab.report._model_summary.model_summary`.
"""

from __future__ import annotations

import json
import math
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from attnlab.report._files import FAILURE, RECORD, TRACEBACK
from attnlab.report._model_summary import NO_SUMMARY, clip, model_summary

__all__ = ["NO_SUMMARY", "ReportData", "Row", "RunView", "clip", "collect", "model_summary"]


ROW_LABELS = {
    "pass": "PASS",
    "fail": "FAIL",
    "uninformative": "UNINFORMATIVE",
    "invalid": "INVALID",
}


@dataclass
class Row:
    """One theory-vs-simulation comparison as shown in the report.

    ``status`` is the row's status of :mod:`attnlab.compare` (``pass``, ``fail``,
    ``uninformative``, ``invalid``) and ``cause`` why a row that is not a pass is not one.
    """

    quantity: str
    where: str
    theory: float
    simulation: float
    simulation_sd: float | None
    difference: float
    tolerance: float
    status: str
    note: str = ""
    cause: str = ""
    max_tolerance: float | None = None
    headline: bool = False
    anchor: str = ""

    @property
    def passed(self) -> bool:
        return self.status == "pass"

    @property
    def label(self) -> str:
        return ROW_LABELS.get(self.status, self.status.upper())


@dataclass
class DroppedRow:
    """A row the experiment could not compute (:class:`attnlab.compare.Dropped`)."""

    quantity: str
    where: str
    reason: str
    anchor: str = ""


@dataclass
class RunView:
    """One experiment of the report.

    ``status``: ``"ok"`` (complete run), ``"crashed"`` (failure recorded) or ``"missing"``
    (listed in ``reproduce.json`` but neither complete nor marked failed). Paths are relative to
    the results root, with ``/`` separators, so the report directory is self-contained.
    """

    experiment: str
    family: str
    description: str
    status: str
    run_dir: str
    resumed: bool = False
    wall_s: float | None = None
    figures: list[str] = field(default_factory=list)
    files: dict[str, dict[str, str]] = field(default_factory=dict)
    figure_problems: dict[str, list[str]] = field(default_factory=dict)
    rows: list[Row] = field(default_factory=list)
    dropped: list[DroppedRow] = field(default_factory=list)
    verdict: dict[str, Any] = field(default_factory=dict)
    headline: dict[str, Any] = field(default_factory=dict)
    config_toml: str = ""
    seed: int | None = None
    replicate_seeds: list[Any] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    started_at: str = ""
    versions: dict[str, str] = field(default_factory=dict)
    git_revision: str | None = None
    platform: str = ""
    devices: list[str] = field(default_factory=list)
    error: str | None = None
    traceback_file: str | None = None
    traceback_tail: str = ""

    @property
    def n_passed(self) -> int:
        return sum(r.passed for r in self.rows)

    @property
    def status_key(self) -> str:
        """``passed``, ``failed``, ``uninformative``, ``empty`` (no rows), ``crashed`` or
        ``missing``: the run's verdict (:func:`attnlab.compare.run_status`)."""
        if self.status != "ok":
            return self.status
        if not self.rows and not self.dropped:
            return "empty"
        status = str(self.verdict.get("status") or "")
        if status in ("passed", "failed", "uninformative"):
            return status
        from attnlab.compare import run_status

        return run_status(
            [_as_comparison(r) for r in self.rows],
            [_as_dropped(d) for d in self.dropped],
        )

    @property
    def run_time(self) -> float:
        """Stored time of the run, from the manifest: ``total`` if recorded, else run + plot."""
        return stored_seconds(self.timings)


def stored_seconds(timings: dict[str, Any]) -> float:
    """Wall time of a stored run from its manifest ``timings_s``: ``total`` when the store
    records it, otherwise ``run + plot``."""
    if "total" in timings:
        return _num(timings["total"])
    return float(sum(_num(timings.get(k, 0.0)) for k in ("run", "plot")))


@dataclass
class ReportData:
    """Everything the renderers need."""

    out: Path
    mode: str
    runs: list[RunView]
    families: dict[str, str]
    wall_s: float | None
    started_at: str
    engine: str
    generated_at: str
    machine: str

    @property
    def rows(self) -> list[Row]:
        return [r for run in self.runs for r in run.rows]

    @property
    def crashed(self) -> list[RunView]:
        return [r for r in self.runs if r.status != "ok"]

    @property
    def compute_s(self) -> float:
        return float(sum(r.run_time for r in self.runs))

    def by_family(self) -> dict[str, list[RunView]]:
        groups: dict[str, list[RunView]] = {}
        for run in self.runs:
            groups.setdefault(run.family, []).append(run)
        return groups

    def distinct(self, attr: str) -> list[str]:
        seen: list[str] = []
        for run in self.runs:
            value = getattr(run, attr)
            if value and str(value) not in seen:
                seen.append(str(value))
        return seen

    def versions(self) -> dict[str, str]:
        """Package versions of the runs (``a | b`` where runs disagree)."""
        merged: dict[str, list[str]] = {}
        for run in self.runs:
            for k, v in run.versions.items():
                merged.setdefault(k, [])
                if v not in merged[k]:
                    merged[k].append(v)
        return {k: " | ".join(v) for k, v in merged.items()}


# -- reading run directories ------------------------------------------------------------------
def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _num(x: Any) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


def _row(c: dict[str, Any], anchor: str) -> Row:
    """A comparison of ``summary.json``; its status is recomputed when it is not recorded."""
    from attnlab.compare import ROW_STATUSES, Comparison

    theory, sim, tol = _num(c.get("theory")), _num(c.get("simulation")), _num(c.get("tolerance"))
    diff = _num(c["difference"]) if c.get("difference") is not None else sim - theory
    sd, max_tol = c.get("simulation_sd"), c.get("max_tolerance")
    status, cause = c.get("status"), str(c.get("cause") or "")
    if status not in ROW_STATUSES:
        if "passed" in c and max_tol is None:  # written before rows had a status
            status = "pass" if c["passed"] else "fail"
        else:
            comp = Comparison.from_dict({**c, "quantity": str(c.get("quantity", ""))})
            status, cause = comp.status, comp.cause
    return Row(
        quantity=str(c.get("quantity", "")),
        where=str(c.get("where", "") or ""),
        theory=theory,
        simulation=sim,
        simulation_sd=None if sd is None else _num(sd),
        difference=diff,
        tolerance=tol,
        status=str(status),
        note=str(c.get("note", "") or ""),
        cause=cause,
        max_tolerance=None if max_tol is None else _num(max_tol),
        headline=bool(c.get("headline", False)),
        anchor=anchor,
    )


def _as_comparison(row: Row) -> Any:
    from attnlab.compare import Comparison

    return Comparison(
        row.quantity,
        row.theory,
        row.simulation,
        row.tolerance,
        max_tolerance=math.inf if row.max_tolerance is None else row.max_tolerance,
    )


def _as_dropped(row: DroppedRow) -> Any:
    from attnlab.compare import Dropped

    return Dropped(row.quantity, row.where, row.reason)


def anchor_of(*parts: str) -> str:
    """An HTML id from ``parts`` (letters, digits, ``-`` and ``_`` kept)."""
    text = "-".join(parts)
    return "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in text)


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


_SUMMARY_KEYS = ("comparisons", "dropped", "verdict", "all_passed")


def _read_summary(view: RunView, summary: dict[str, Any]) -> None:
    """Rows, dropped rows, verdict and headline numbers of ``summary.json``."""
    comps = [c for c in summary.get("comparisons", []) if isinstance(c, dict)]
    view.rows = [_row(c, anchor_of("row", view.experiment, str(i))) for i, c in enumerate(comps)]
    view.dropped = [
        DroppedRow(
            str(d.get("quantity", "")),
            str(d.get("where", "") or ""),
            str(d.get("reason", "")),
            anchor_of("dropped", view.experiment, str(i)),
        )
        for i, d in enumerate(summary.get("dropped", []) or [])
        if isinstance(d, dict)
    ]
    verdict = summary.get("verdict")
    view.verdict = verdict if isinstance(verdict, dict) else {}
    view.headline = {k: v for k, v in summary.items() if k not in _SUMMARY_KEYS}


def _read_figures(view: RunView, manifest: dict[str, Any], rel: str) -> None:
    """Per figure stem, its files (``png``, ``pdf``, ``svg``, ``data``) relative to the root;
    ``view.figures`` lists the image the report shows (PNG, else SVG) per figure."""
    files: dict[str, dict[str, str]] = {}
    for name in manifest.get("figures", []) or []:
        stem, _, ext = str(name).rpartition(".")
        if stem and ext.lower() in ("png", "pdf", "svg"):
            files.setdefault(stem, {})[ext.lower()] = f"{rel}/{name}"
    data = manifest.get("figure_data") or {}
    for stem, name in data.items() if isinstance(data, dict) else ():
        files.setdefault(str(stem), {})["data"] = f"{rel}/{name}"
    view.files = files
    view.figures = [f.get("png") or f["svg"] for f in files.values() if "png" in f or "svg" in f]
    problems = manifest.get("figure_problems") or {}
    if isinstance(problems, dict):
        view.figure_problems = {str(k): [str(p) for p in v] for k, v in problems.items()}


def read_run(out: Path, rel: str, record: dict[str, Any] | None = None) -> RunView:
    """Read run directory ``out/rel`` (``record``: its entry in ``reproduce.json``, if any)."""
    record = record or {}
    path = out / rel if rel else None
    manifest = _read_json(path / "manifest.json") if path else None
    name = str(record.get("experiment") or (manifest or {}).get("experiment") or rel)
    view = RunView(
        experiment=name,
        family=str(record.get("family") or (manifest or {}).get("family") or "unknown"),
        description="",
        status="missing",
        run_dir=rel,
        resumed=record.get("status") == "skipped",
        wall_s=record.get("wall_s"),
    )
    if manifest is not None and path is not None:
        view.status = "ok"
        view.experiment = str(manifest.get("experiment", name))
        view.family = str(manifest.get("family", view.family))
        view.description = str(manifest.get("description", ""))
        _read_figures(view, manifest, rel)
        summary = _read_json(path / "summary.json") or {}
        _read_summary(view, summary)
        try:
            view.config_toml = (path / "config.toml").read_text()
        except OSError:
            view.config_toml = ""
        seed = manifest.get("seed")
        view.seed = seed if isinstance(seed, int) else None
        view.replicate_seeds = list(manifest.get("replicate_seeds", []) or [])
        view.timings = {k: _num(v) for k, v in (manifest.get("timings_s") or {}).items()}
        view.started_at = str(manifest.get("started_at", ""))
        view.versions = {str(k): str(v) for k, v in (manifest.get("versions") or {}).items()}
        view.git_revision = manifest.get("git_revision")
        view.platform = str(manifest.get("platform", ""))
        view.devices = [str(d) for d in manifest.get("devices", []) or []]
        return view
    failure = _read_json(path / FAILURE) if path else None
    if failure is not None or record.get("status") == "crashed":
        failure = failure or {}
        view.status = "crashed"
        view.experiment = str(failure.get("experiment") or view.experiment)
        view.description = str(failure.get("description", ""))
        view.family = str(failure.get("family", view.family))
        view.error = str(failure.get("error") or record.get("error") or "crashed")
        tb = failure.get("traceback", TRACEBACK)
        if path is not None and (path / tb).is_file():
            view.traceback_file = f"{rel}/{tb}"
            view.traceback_tail = _tail(path / tb)
        return view
    view.error = "run directory is incomplete (no manifest.json): interrupted or never run"
    return view


def _describe(view: RunView) -> None:
    """Fill a missing description from the registry (crashed / missing runs)."""
    if view.description:
        return
    try:
        from attnlab.registry import all_experiments

        exp = all_experiments().get(view.experiment)
    except Exception:
        exp = None
    if exp is not None:
        view.description = exp.description


def machine_line() -> str:
    return f"{platform.platform()}, {os.cpu_count()} CPU cores, python {platform.python_version()}"


def collect(out: Path | str) -> ReportData:
    """Read the results root ``out`` (see module docstring)."""
    out = Path(out)
    record = _read_json(out / RECORD)
    runs: list[RunView] = []
    if record is not None and isinstance(record.get("runs"), list):
        for entry in record["runs"]:
            runs.append(read_run(out, str(entry.get("run_dir", "")), entry))
    else:
        record = {}
        for sub in sorted(p for p in out.iterdir() if p.is_dir()) if out.is_dir() else []:
            if (sub / "manifest.json").is_file() or (sub / FAILURE).is_file():
                runs.append(read_run(out, sub.name))
    for view in runs:
        _describe(view)
    # the model families alphabetically, the built-in ``demo`` check last
    runs.sort(key=lambda r: (r.family == "demo", r.family, r.experiment))
    return ReportData(
        out=out,
        mode=str(record.get("mode") or "unknown"),
        runs=runs,
        families={fam: model_summary(fam) for fam in sorted({r.family for r in runs})},
        wall_s=record.get("wall_s"),
        started_at=str(record.get("started_at", "")),
        engine=str(record.get("engine", "")),
        generated_at=time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        machine=str(record.get("machine") or machine_line()),
    )
