"""What the HTML and Markdown reports both say, as text: numbers, verdicts, headline tables,
and the list of what failed or is uninformative."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from attnlab.report._collect import ReportData, RunView

QUICK_BUDGET_S = 20.0  # a --quick preset should run within this on a 2-core CPU
CSV_NAME = "comparisons.csv"
MAX_LIST = 20  # values of a headline list shown before "…"
RUN_LABELS = {
    "passed": "PASS",
    "failed": "FAIL",
    "uninformative": "UNINFORMATIVE",
    "empty": "NO COMPARISONS",
    "crashed": "CRASHED",
    "missing": "MISSING",
}

Table = tuple[list[str], list[list[str]]]


# -- numbers ---------------------------------------------------------------------------------
def fmt(x: Any, digits: int = 4) -> str:
    """A number in ``%.{digits}g``; NaN / None as ``nan`` / ``—``."""
    if x is None:
        return "—"
    if isinstance(x, bool | int):
        return str(x)
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    if math.isnan(v):
        return "nan"
    return f"{v:.{digits}g}"


def fmt_seconds(s: float | None) -> str:
    if s is None:
        return "—"
    s = float(s)
    if s < 60:
        return f"{s:.1f} s"
    m, sec = divmod(s, 60)
    if m < 60:
        return f"{int(m)} min {sec:04.1f} s"
    h, m = divmod(m, 60)
    return f"{int(h)} h {int(m):02d} min"


def simulation_text(row: Any) -> str:
    return fmt(row.simulation) + (
        "" if row.simulation_sd is None else f" ± {fmt(row.simulation_sd)}"
    )


def tolerance_text(row: Any) -> str:
    """Why the tolerance is what it is, and the largest informative one."""
    parts = [row.note] if row.note else []
    if row.max_tolerance is not None and math.isfinite(row.max_tolerance):
        parts.append(f"largest informative tolerance {fmt(row.max_tolerance, 3)}")
    return "; ".join(parts)


# -- headline numbers ------------------------------------------------------------------------
def _scalar(v: Any) -> bool:
    return v is None or isinstance(v, str | int | float | bool)


def cell(v: Any) -> str:
    """One value as text: numbers formatted, lists of numbers joined, anything else as JSON
    with its Unicode kept (``θ``, not ``\\u03b8``)."""
    if isinstance(v, float | int) and not isinstance(v, bool):
        return fmt(v, 6)
    if v is None:
        return "—"
    if isinstance(v, str | bool):
        return str(v)
    if isinstance(v, list) and all(_scalar(x) for x in v):
        shown = ", ".join(cell(x) for x in v[:MAX_LIST])
        return shown + (f", … ({len(v)} values)" if len(v) > MAX_LIST else "")
    return json.dumps(v, ensure_ascii=False, separators=(", ", ": "), default=str)


def as_table(v: Any) -> Table | None:
    """A headline value that is a table: a list of records, a mapping of equal-length columns,
    or a mapping of name to value; ``None`` for a plain value."""
    if isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
        columns = list(dict.fromkeys(str(k) for rec in v for k in rec))
        return columns, [[cell(rec.get(c)) for c in columns] for rec in v]
    if not isinstance(v, dict) or not v:
        return None
    values = list(v.values())
    if all(isinstance(x, list) for x in values) and len({len(x) for x in values}) == 1:
        columns = [str(k) for k in v]
        return columns, [[cell(x) for x in row] for row in zip(*values, strict=True)]
    return ["", "value"], [[str(k), cell(x)] for k, x in v.items()]


def headline_items(headline: dict[str, Any]) -> list[tuple[str, str | Table]]:
    """The headline numbers as ``(name, text)`` or ``(name, (columns, rows))``."""
    return [(str(k), as_table(v) or cell(v)) for k, v in headline.items()]


# -- runs ------------------------------------------------------------------------------------
def seeds_text(view: Any) -> str:
    """``root seed 0; replicates 0–49 (50)`` — contiguous ranges compressed."""
    parts = []
    if view.seed is not None:
        parts.append(f"root seed {view.seed}")
    reps = view.replicate_seeds
    if reps:
        ints = all(isinstance(r, int) and not isinstance(r, bool) for r in reps)
        if ints and list(reps) == list(range(reps[0], reps[0] + len(reps))):
            parts.append(f"replicates {reps[0]}–{reps[-1]} ({len(reps)})")
        else:
            shown = ", ".join(str(r) for r in reps[:12]) + (", …" if len(reps) > 12 else "")
            parts.append(f"replicates {shown} ({len(reps)})")
    return "; ".join(parts) or "—"


def run_time_text(view: RunView) -> str:
    t = view.timings
    text = f"{fmt_seconds(view.run_time)} (run {fmt_seconds(t.get('run'))}, plot " + (
        f"{fmt_seconds(t.get('plot'))})"
    )
    if view.started_at:
        text += f", started {view.started_at}"
    if view.resumed:
        text += "; resumed from the store (not recomputed by this reproduce)"
    return text


def status_label(view: RunView) -> str:
    return RUN_LABELS.get(view.status_key, view.status_key.upper())


def time_cell(data: ReportData, view: RunView) -> str:
    """Run time; in quick mode flagged when over the 20 s budget of a quick preset."""
    if view.status != "ok":
        return "—"
    text = fmt_seconds(view.run_time)
    if data.mode == "quick" and view.run_time > QUICK_BUDGET_S:
        text += f" (over the {QUICK_BUDGET_S:.0f} s quick budget)"
    return text


def comparisons_cell(view: RunView) -> str:
    if view.status != "ok":
        return "—"
    text = f"{view.n_passed}/{len(view.rows)}"
    return text + (f" ({len(view.dropped)} dropped)" if view.dropped else "")


# -- what needs attention ----------------------------------------------------------------------
@dataclass(frozen=True)
class Attention:
    """One entry of "what failed or is uninformative": ``kind`` is a row status (``fail``,
    ``invalid``, ``uninformative``), ``dropped``, ``empty``, ``crashed`` or ``missing``."""

    kind: str
    experiment: str
    text: str
    anchor: str


def attention(data: ReportData) -> list[Attention]:
    """Every run and row that is not a pass, in report order (runs first within a run)."""
    from attnlab.report._collect import anchor_of

    out = []
    for view in data.runs:
        run_anchor = anchor_of(view.experiment)
        if view.status != "ok":
            out.append(Attention(view.status, view.experiment, view.error or "", run_anchor))
            continue
        if not view.rows and not view.dropped:
            text = "no theory-vs-simulation rows: nothing was compared"
            out.append(Attention("empty", view.experiment, text, run_anchor))
        for r in view.rows:
            if not r.passed:
                where = f" [{r.where}]" if r.where else ""
                text = f"{r.quantity}{where}: {r.cause or r.label.lower()}"
                out.append(Attention(r.status, view.experiment, text, r.anchor))
        for d in view.dropped:
            where = f" [{d.where}]" if d.where else ""
            out.append(
                Attention("dropped", view.experiment, f"{d.quantity}{where}: {d.reason}", d.anchor)
            )
    return out


def _names(names: list[str], limit: int = 5) -> str:
    names = list(dict.fromkeys(names))
    return ", ".join(names[:limit]) + (
        f" and {len(names) - limit} more" if len(names) > limit else ""
    )


def verdict(data: ReportData) -> tuple[bool, str]:
    """``(all good, one sentence)`` for the banner at the top."""
    rows = data.rows
    if not data.runs:
        return False, "No experiment runs found in this directory."
    items = attention(data)
    if not items:
        return True, f"All {len(rows)} theory-vs-simulation comparisons pass."
    bits = []
    for kinds, what in (
        (("fail",), "comparisons outside tolerance"),
        (("invalid",), "comparisons invalid (NaN or infinite)"),
        (("uninformative",), "comparisons uninformative (tolerance too large to test anything)"),
    ):
        hits = [a for a in items if a.kind in kinds]
        if hits:
            bits.append(
                f"{len(hits)} of {len(rows)} {what} ({_names([a.experiment for a in hits])})"
            )
    for kind, what in (
        ("dropped", "row(s) dropped"),
        ("empty", "experiment(s) with no comparison"),
    ):
        hits = [a for a in items if a.kind == kind]
        if hits:
            bits.append(f"{len(hits)} {what} ({_names([a.experiment for a in hits])})")
    hits = [a for a in items if a.kind in ("crashed", "missing")]
    if hits:
        names = _names([a.experiment for a in hits])
        bits.append(f"{len(hits)} experiment(s) did not complete ({names})")
    return False, "; ".join(bits) + "."


def provenance(data: ReportData) -> list[tuple[str, str]]:
    """The rows of the summary table at the top of the report."""
    versions = data.versions()
    keys = ["attnlab", "python", "jax", "jaxlib", "numpy", "scipy", "pandas", "matplotlib"]
    vtext = ", ".join(f"{k} {versions[k]}" for k in keys if k in versions) or "—"
    rows = data.rows
    n_ok = sum(r.status == "ok" for r in data.runs)
    counts = {s: sum(r.status == s for r in rows) for s in ("pass", "fail", "uninformative")}
    invalid = sum(r.status == "invalid" for r in rows)
    dropped = sum(len(r.dropped) for r in data.runs)
    comparisons = f"{len(rows)}; {counts['pass']} pass, {counts['fail']} fail"
    comparisons += f", {counts['uninformative']} uninformative" if counts["uninformative"] else ""
    comparisons += f", {invalid} invalid" if invalid else ""
    comparisons += f"; {dropped} dropped" if dropped else ""
    n_fam = len(data.families)
    items = [
        ("mode", data.mode + (f" (engine: {data.engine})" if data.engine else "")),
        (
            "experiments",
            f"{len(data.runs)} in {n_fam} famil{'y' if n_fam == 1 else 'ies'}; {n_ok} complete, "
            f"{len(data.runs) - n_ok} crashed",
        ),
        ("comparisons", comparisons),
        ("compute time", f"{fmt_seconds(data.compute_s)} (sum of the stored run times)"),
    ]
    if data.wall_s is not None:
        items.append(("reproduce wall time", f"{fmt_seconds(data.wall_s)} (this invocation)"))
    generated = data.generated_at
    if data.started_at:
        generated += f" (reproduce started {data.started_at})"
    return items + [
        ("versions", vtext),
        ("git revision", ", ".join(data.distinct("git_revision")) or "unknown"),
        ("machine", "; ".join(data.distinct("platform")) or data.machine),
        ("devices", "; ".join(dict.fromkeys(d for r in data.runs for d in r.devices)) or "—"),
        ("all comparisons", f"{CSV_NAME} (one row per comparison)"),
        ("generated", generated),
    ]
