"""Read a results root into the plain data the report renders (no HTML here).

A results root ``OUT`` holds run directories ``OUT/<name>-<hash12>/`` written by
:func:`attnlab.store.run_experiment` (complete iff ``manifest.json`` exists) or marked crashed
by :func:`attnlab.report.reproduce` (``failure.json`` + ``traceback.txt``). Which directories
belong to the report is read from ``OUT/reproduce.json`` when it exists (the last
``reproduce``), otherwise every run directory under ``OUT`` is taken.

The family's two-line model summary is, in order of preference: the ``MODEL_SUMMARY`` string
of the family subpackage ``attnlab.<family>``, the first paragraph of its module docstring
plus a paragraph starting ``Model:`` if there is one, else — when the first paragraph is a
short title — the next prose paragraph (lists and module maps skipped); cut to about two lines
at a sentence end. Otherwise a neutral placeholder. ``MODEL_SUMMARY`` is shown as written.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from attnlab.report._files import FAILURE, RECORD, TRACEBACK

SUMMARY_CHARS = 400  # about two lines of the report
SUMMARY_MIN_CHARS = 150  # a first paragraph shorter than this is completed by the next one
NO_SUMMARY = "(no model summary: the family defines neither MODEL_SUMMARY nor a module docstring)"


@dataclass
class Row:
    """One theory-vs-simulation comparison as shown in the report."""

    quantity: str
    where: str
    theory: float
    simulation: float
    simulation_sd: float | None
    difference: float
    tolerance: float
    passed: bool
    note: str = ""


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
    pdfs: list[str] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
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


# -- model summaries -------------------------------------------------------------------------
def model_summary(family: str) -> str:
    """Two lines on what the family's model is (see module docstring for the sources)."""
    try:
        mod = importlib.import_module(f"attnlab.{family}")
    except Exception:
        return NO_SUMMARY
    text = getattr(mod, "MODEL_SUMMARY", None)
    if isinstance(text, str) and text.strip():
        return " ".join(text.split())
    doc = (mod.__doc__ or "").strip()
    if not doc:
        return NO_SUMMARY
    paragraphs = [" ".join(p.split()) for p in doc.split("\n\n") if p.strip()]
    prose = [p for p in paragraphs[1:] if not _is_markup(p)]
    picked = [paragraphs[0]]
    model = [p for p in prose if p.lower().startswith("model:")][:1]
    if model:
        picked += model
    elif prose and len(paragraphs[0]) < SUMMARY_MIN_CHARS:
        picked.append(prose[0])  # a short title: add the next prose paragraph (the model)
    return clip(" ".join(picked), SUMMARY_CHARS)


def _is_markup(paragraph: str) -> bool:
    """Lists, module maps, code blocks: not prose for a summary."""
    return (
        paragraph.startswith(("-", "*", ">>>", "..")) or "::" in paragraph or ":mod:" in (paragraph)
    )


def clip(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, at a sentence end when there is one."""
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    end = head.rfind(". ")
    if end > limit // 3:
        return head[: end + 1]
    if head.count("``") % 2:  # do not cut inside an RST literal
        head = head[: head.rfind("``")]
    return head.rstrip(" ,;:") + "…"


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


def _row(c: dict[str, Any]) -> Row:
    theory, sim, tol = _num(c.get("theory")), _num(c.get("simulation")), _num(c.get("tolerance"))
    diff = _num(c["difference"]) if "difference" in c else sim - theory
    passed = c.get("passed")
    if passed is None:
        passed = abs(diff) <= tol
    sd = c.get("simulation_sd")
    return Row(
        quantity=str(c.get("quantity", "")),
        where=str(c.get("where", "") or ""),
        theory=theory,
        simulation=sim,
        simulation_sd=None if sd is None else _num(sd),
        difference=diff,
        tolerance=tol,
        passed=bool(passed),
        note=str(c.get("note", "") or ""),
    )


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


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
        figures = [str(f) for f in manifest.get("figures", [])]
        view.figures = [f"{rel}/{f}" for f in figures if f.lower().endswith(".png")]
        view.pdfs = [f"{rel}/{f}" for f in figures if f.lower().endswith(".pdf")]
        summary = _read_json(path / "summary.json") or {}
        view.rows = [_row(c) for c in summary.get("comparisons", []) if isinstance(c, dict)]
        view.headline = {k: v for k, v in summary.items() if k not in ("comparisons", "all_passed")}
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
