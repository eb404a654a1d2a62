"""Render a results root as ``report.html`` and ``report.md`` (self-contained, offline).

Layout (both formats): a top summary (experiments, comparisons passed, total time, versions,
git revision, machine), an overview table (one row per experiment), then one section per family:
its two-line model summary and, per experiment, its figures, the theory-vs-simulation table
(quantity, where, theory, simulation ± sd, difference, tolerance, PASS/FAIL with
``|simulation - theory| <= tolerance``), the headline numbers, the configuration
(``config.toml``), the seeds and the run time. A crashed experiment shows its error line and
the tail of its traceback.

Figures are referenced by their path relative to the results root (``<run-dir>/<fig>.png``), so
the directory can be moved or archived as a whole. The HTML has inline CSS only (no external
resource); its one tiny inline script merely annotates each ``<img>`` with
``data-natural-width`` once the page has loaded (used by the browser test) — the page displays
the same without JavaScript.
"""

from __future__ import annotations

import json
import math
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import quote

from attnlab.report._collect import ReportData, Row, RunView, collect

QUICK_BUDGET_S = 20.0  # a --quick preset should run within this on a 2-core CPU
HTML_NAME = "report.html"
MD_NAME = "report.md"
CSV_NAME = "comparisons.csv"

_CSS = """
body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;max-width:1100px;
margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
h1{border-bottom:2px solid #444;padding-bottom:.2em}
h2{border-bottom:1px solid #bbb;margin-top:2em;padding-bottom:.15em}
h3{margin-top:1.6em}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f3f3f3}
td.num{text-align:right;font-variant-numeric:tabular-nums;font-family:ui-monospace,monospace}
.pass{color:#176f2c;font-weight:bold}
.fail{color:#b00020;font-weight:bold}
.banner{padding:.6em 1em;border-radius:4px;margin:1em 0;font-weight:bold}
.banner.ok{background:#e6f4ea;border:1px solid #176f2c}
.banner.bad{background:#fdecea;border:1px solid #b00020}
.model{background:#f7f7fb;border-left:4px solid #6670a8;padding:.5em .9em;margin:.6em 0}
.figs{display:flex;flex-wrap:wrap;gap:1em}
figure{margin:0}
figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.8em;color:#555}
pre{background:#f6f6f6;padding:.6em;overflow-x:auto;font-size:.85em}
.muted{color:#666;font-size:.9em}
details{margin:.4em 0}
"""

# annotates every <img> with its naturalWidth after load (for the browser test); display does
# not depend on it
_SCRIPT = """
window.addEventListener("load", function () {
  var imgs = document.images, loaded = 0;
  for (var i = 0; i < imgs.length; i++) {
    var w = imgs[i].complete ? imgs[i].naturalWidth : 0;
    imgs[i].setAttribute("data-natural-width", String(w));
    if (w > 0) { loaded++; }
  }
  document.body.setAttribute("data-images-total", String(imgs.length));
  document.body.setAttribute("data-images-loaded", String(loaded));
});
"""


# -- formatting helpers ------------------------------------------------------------------------
def fmt(x: Any, digits: int = 4) -> str:
    """A number in ``%.{digits}g``; NaN / None as ``nan`` / ``—``."""
    if x is None:
        return "—"
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, int):
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


def headline_value(v: Any, limit: int = 160) -> str:
    """A headline summary value: numbers formatted, anything else as compact JSON."""
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return fmt(v, 6)
    if isinstance(v, str):
        text = v
    else:
        text = json.dumps(v, separators=(", ", ": "), default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def seeds_text(view: RunView) -> str:
    """``seed 0; replicates 0–49 (50)`` — contiguous ranges compressed."""
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
    if view.status != "ok":
        return "CRASHED" if view.status == "crashed" else "MISSING"
    if not view.rows:
        return "ran (no comparisons)"
    return "PASS" if view.n_passed == len(view.rows) else "FAIL"


def _verdict(data: ReportData) -> tuple[bool, str]:
    rows = data.rows
    failed = sum(not r.passed for r in rows)
    crashed = len(data.crashed)
    if not data.runs:
        return False, "No experiment runs found in this directory."
    if failed == 0 and crashed == 0:
        return True, f"All {len(rows)} theory-vs-simulation comparisons are within tolerance."
    bits = []
    if failed:
        names = [v.experiment for v in data.runs if v.n_passed < len(v.rows)]
        bits.append(f"{failed} of {len(rows)} comparisons outside tolerance ({_names(names)})")
    if crashed:
        names = [v.experiment for v in data.crashed]
        bits.append(f"{crashed} experiment(s) did not complete ({_names(names)})")
    return False, "; ".join(bits) + "."


def _names(names: list[str], limit: int = 5) -> str:
    return ", ".join(names[:limit]) + (
        f" and {len(names) - limit} more" if len(names) > limit else ""
    )


def _provenance(data: ReportData) -> list[tuple[str, str]]:
    versions = data.versions()
    keys = ["attnlab", "python", "jax", "jaxlib", "numpy", "scipy", "pandas", "matplotlib"]
    vtext = ", ".join(f"{k} {versions[k]}" for k in keys if k in versions) or "—"
    rows = data.rows
    n_ok = sum(r.status == "ok" for r in data.runs)
    items = [
        ("mode", data.mode + (f" (engine: {data.engine})" if data.engine else "")),
        (
            "experiments",
            f"{len(data.runs)} in {len(data.families)} "
            f"famil{'y' if len(data.families) == 1 else 'ies'}; {n_ok} complete, "
            f"{len(data.runs) - n_ok} crashed",
        ),
        (
            "comparisons",
            f"{len(rows)}; {sum(r.passed for r in rows)} pass, "
            f"{sum(not r.passed for r in rows)} fail",
        ),
        ("compute time", f"{fmt_seconds(data.compute_s)} (sum of the stored run times)"),
    ]
    if data.wall_s is not None:
        items.append(("reproduce wall time", f"{fmt_seconds(data.wall_s)} (this invocation)"))
    items += [
        ("versions", vtext),
        ("git revision", ", ".join(data.distinct("git_revision")) or "unknown"),
        ("machine", "; ".join(data.distinct("platform")) or data.machine),
        ("devices", "; ".join(dict.fromkeys(d for r in data.runs for d in r.devices)) or "—"),
        ("all comparisons", f"{CSV_NAME} (one row per comparison)"),
        ("generated", data.generated_at),
    ]
    if data.started_at:
        items[-1] = ("generated", f"{data.generated_at} (reproduce started {data.started_at})")
    return items


def _time_cell(data: ReportData, view: RunView) -> str:
    """Run time; in quick mode flagged when over the 20 s budget of a quick preset."""
    if view.status != "ok":
        return "—"
    text = fmt_seconds(view.run_time)
    if data.mode == "quick" and view.run_time > QUICK_BUDGET_S:
        text += f" (over the {QUICK_BUDGET_S:.0f} s quick budget)"
    return text


def _anchor(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in name)


def _code_html(text: str) -> str:
    """Escape, turning RST ``literal`` into <code>."""
    parts = escape(text).split("``")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


# -- HTML ------------------------------------------------------------------------------------
def _rows_html(rows: list[Row]) -> str:
    head = (
        "<tr><th>quantity</th><th>where</th><th>theory</th><th>simulation</th>"
        "<th>difference</th><th>tolerance</th><th>result</th></tr>"
    )
    body = []
    for r in rows:
        sim = fmt(r.simulation) + ("" if r.simulation_sd is None else f" ± {fmt(r.simulation_sd)}")
        result = '<span class="pass">PASS</span>' if r.passed else '<span class="fail">FAIL</span>'
        note = f' title="{escape(r.note)}"' if r.note else ""
        body.append(
            f"<tr{note}><td>{escape(r.quantity)}</td><td>{escape(r.where)}</td>"
            f'<td class="num">{fmt(r.theory)}</td><td class="num">{sim}</td>'
            f'<td class="num">{fmt(r.difference, 3)}</td><td class="num">{fmt(r.tolerance, 3)}</td>'
            f"<td>{result}</td></tr>"
        )
    notes = [r for r in rows if r.note]
    note_html = ""
    if notes:
        items = "".join(
            f"<li>{escape(r.quantity)}{' @ ' + escape(r.where) if r.where else ''}: "
            f"{escape(r.note)}</li>"
            for r in notes
        )
        note_html = (
            f'<details><summary class="muted">tolerances</summary><ul>{items}</ul></details>'
        )
    return f'<table class="comparisons">{head}{"".join(body)}</table>{note_html}'


def _run_html(view: RunView) -> str:
    out = [f'<h3 id="{_anchor(view.experiment)}">{escape(view.experiment)}']
    label = status_label(view)
    cls = "pass" if label.startswith(("PASS", "ran")) else "fail"
    out.append(f' <span class="{cls}">[{escape(label)}]</span></h3>')
    if view.description:
        out.append(f"<p>{escape(view.description)}</p>")
    if view.status != "ok":
        out.append(f'<p class="fail">{escape(view.error or "crashed")}</p>')
        if view.traceback_file:
            href = quote(view.traceback_file)
            out.append(f'<p class="muted">full traceback: <a href="{href}">{href}</a></p>')
        if view.traceback_tail:
            out.append(f"<pre>{escape(view.traceback_tail)}</pre>")
        return "".join(out)
    if view.figures:
        figs = []
        for png in view.figures:
            src = quote(png)
            stem = png.rsplit("/", 1)[-1].rsplit(".", 1)[0]
            pdf = next((p for p in view.pdfs if p.rsplit(".", 1)[0] == png.rsplit(".", 1)[0]), "")
            link = f' (<a href="{quote(pdf)}">pdf</a>)' if pdf else ""
            figs.append(
                f'<figure><img src="{src}" alt="{escape(view.experiment)}: {escape(stem)}">'
                f"<figcaption>{escape(stem)}{link}</figcaption></figure>"
            )
        out.append(f'<div class="figs">{"".join(figs)}</div>')
    if view.rows:
        out.append(
            f"<h4>Theory vs simulation ({view.n_passed}/{len(view.rows)} within tolerance)</h4>"
        )
        out.append(_rows_html(view.rows))
    else:
        out.append('<p class="muted">This experiment declares no comparisons.</p>')
    if view.headline:
        cells = "".join(
            f'<tr><td>{escape(str(k))}</td><td class="num">{escape(headline_value(v))}</td></tr>'
            for k, v in view.headline.items()
        )
        out.append(f'<h4>Headline numbers</h4><table class="headline">{cells}</table>')
    out.append(
        '<table class="meta">'
        f"<tr><th>seeds</th><td>{escape(seeds_text(view))}</td></tr>"
        f"<tr><th>run time</th><td>{escape(run_time_text(view))}</td></tr>"
        f'<tr><th>run directory</th><td><a href="{quote(view.run_dir)}/">'
        f"{escape(view.run_dir)}/</a></td></tr></table>"
    )
    if view.config_toml:
        out.append(
            f"<details><summary>configuration (config.toml)</summary>"
            f"<pre>{escape(view.config_toml)}</pre></details>"
        )
    return "".join(out)


def render_html(data: ReportData) -> str:
    """The whole report as one HTML string."""
    ok, verdict = _verdict(data)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>attnlab report ({escape(data.mode)})</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>attnlab: theory vs simulation ({escape(data.mode)})</h1>",
        f'<div class="banner {"ok" if ok else "bad"}">{escape(verdict)}</div>',
        '<table class="summary">',
    ]
    for k, v in _provenance(data):
        cell = escape(v).replace(CSV_NAME, f'<a href="{CSV_NAME}">{CSV_NAME}</a>', 1)
        parts.append(f"<tr><th>{escape(k)}</th><td>{cell}</td></tr>")
    parts.append("</table>")
    # overview
    parts.append(
        '<h2 id="overview">Overview</h2><table class="overview"><tr><th>family</th>'
        "<th>experiment</th><th>status</th><th>comparisons</th><th>run time</th></tr>"
    )
    for view in data.runs:
        label = status_label(view)
        cls = "pass" if label.startswith(("PASS", "ran")) else "fail"
        comps = f"{view.n_passed}/{len(view.rows)}" if view.status == "ok" else "—"
        time_text = escape(_time_cell(data, view))
        parts.append(
            f'<tr><td><a href="#family-{_anchor(view.family)}">{escape(view.family)}</a></td>'
            f'<td><a href="#{_anchor(view.experiment)}">{escape(view.experiment)}</a></td>'
            f'<td class="{cls}">{escape(label)}</td><td class="num">{comps}</td>'
            f'<td class="num">{time_text}</td></tr>'
        )
    parts.append("</table>")
    for family, runs in data.by_family().items():
        parts.append(f'<h2 id="family-{_anchor(family)}">{escape(family)}</h2>')
        parts.append(f'<div class="model">{_code_html(data.families.get(family, ""))}</div>')
        parts += [_run_html(v) for v in runs]
    parts.append(
        '<p class="muted">Written by <code>attnlab reproduce</code>. PASS means '
        "|simulation − theory| ≤ tolerance, the tolerance each experiment declares from its "
        "finite-size / Monte-Carlo error (hover a row or open “tolerances” for the reason).</p>"
    )
    parts.append(f"<script>{_SCRIPT}</script></body></html>")
    return "\n".join(parts) + "\n"


# -- Markdown ---------------------------------------------------------------------------------
def _md_text(text: str) -> str:
    """Text for Markdown outside code: ``<``/``>`` escaped so that ``<u,m>^2`` is not a tag."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _md_cell(text: str) -> str:
    return _md_text(text).replace("|", "\\|").replace("\n", " ")


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
    return lines + [""]


def render_markdown(data: ReportData) -> str:
    """The whole report as Markdown (GitHub flavour; figures as relative images)."""
    ok, verdict = _verdict(data)
    lines = [f"# attnlab: theory vs simulation ({data.mode})", "", f"**{verdict}**", ""]
    lines += [
        f"- **{k}**: {v.replace(CSV_NAME, f'[{CSV_NAME}]({CSV_NAME})', 1)}"
        for k, v in _provenance(data)
    ]
    lines += ["", "## Overview", ""]
    lines += _md_table(
        ["family", "experiment", "status", "comparisons", "run time"],
        [
            [
                v.family,
                v.experiment,
                status_label(v),
                f"{v.n_passed}/{len(v.rows)}" if v.status == "ok" else "—",
                _time_cell(data, v),
            ]
            for v in data.runs
        ],
    )
    for family, runs in data.by_family().items():
        summary = data.families.get(family, "").replace("``", "`")
        lines += [f"## {family}", "", f"> {_md_text(summary)}", ""]
        for v in runs:
            lines += [f"### {v.experiment} [{status_label(v)}]", ""]
            if v.description:
                lines += [_md_text(v.description), ""]
            if v.status != "ok":
                lines += [f"**{_md_text(v.error or 'crashed')}**", ""]
                if v.traceback_file:
                    lines += [
                        f"Full traceback: [{v.traceback_file}]({quote(v.traceback_file)})",
                        "",
                    ]
                if v.traceback_tail:
                    lines += ["```", v.traceback_tail, "```", ""]
                continue
            for png in v.figures:
                stem = png.rsplit("/", 1)[-1].rsplit(".", 1)[0]
                lines += [f"![{v.experiment}: {stem}]({quote(png)})", ""]
            if v.rows:
                lines += [
                    f"Theory vs simulation ({v.n_passed}/{len(v.rows)} within tolerance):",
                    "",
                ]
                lines += _md_table(
                    [
                        "quantity",
                        "where",
                        "theory",
                        "simulation",
                        "difference",
                        "tolerance",
                        "result",
                    ],
                    [
                        [
                            r.quantity,
                            r.where,
                            fmt(r.theory),
                            fmt(r.simulation)
                            + ("" if r.simulation_sd is None else f" ± {fmt(r.simulation_sd)}"),
                            fmt(r.difference, 3),
                            fmt(r.tolerance, 3),
                            "PASS" if r.passed else "**FAIL**",
                        ]
                        for r in v.rows
                    ],
                )
            if v.headline:
                lines += ["Headline numbers:", ""]
                lines += _md_table(
                    ["quantity", "value"],
                    [[str(k), headline_value(x)] for k, x in v.headline.items()],
                )
            lines += [
                f"- seeds: {seeds_text(v)}",
                f"- run time: {run_time_text(v)}",
                f"- run directory: `{v.run_dir}/`",
                "",
            ]
            if v.config_toml:
                lines += [
                    "Configuration (`config.toml`):",
                    "",
                    "```toml",
                    v.config_toml.rstrip(),
                    "```",
                    "",
                ]
    return "\n".join(lines).rstrip() + "\n"


def write_report(out: Path | str) -> tuple[Path, Path]:
    """Write ``out/report.html`` and ``out/report.md`` from the run directories under ``out``.

    Returns the two paths. Works on any results root (it need not come from ``reproduce``).
    """
    from attnlab.store import atomic_write_text

    out = Path(out)
    if not out.is_dir():
        from attnlab._validate import ParameterError

        raise ParameterError(f"results directory {str(out)!r} does not exist")
    data = collect(out)
    html_path, md_path = out / HTML_NAME, out / MD_NAME
    atomic_write_text(out / CSV_NAME, comparisons_csv(data))
    atomic_write_text(html_path, render_html(data))
    atomic_write_text(md_path, render_markdown(data))
    return html_path, md_path


def comparisons_csv(data: ReportData) -> str:
    """Every comparison row of the report as CSV (one row per experiment × quantity × where)."""
    import csv
    import io

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(
        [
            "family",
            "experiment",
            "quantity",
            "where",
            "theory",
            "simulation",
            "simulation_sd",
            "difference",
            "tolerance",
            "passed",
            "note",
        ]
    )
    for view in data.runs:
        for r in view.rows:
            writer.writerow(
                [
                    view.family,
                    view.experiment,
                    r.quantity,
                    r.where,
                    repr(r.theory),
                    repr(r.simulation),
                    "" if r.simulation_sd is None else repr(r.simulation_sd),
                    repr(r.difference),
                    repr(r.tolerance),
                    r.passed,
                    r.note,
                ]
            )
    return buf.getvalue()


def write_gallery(out: Path | str, markdown: Path | str) -> Path:
    """Copy every figure of the complete runs under ``out`` next to ``markdown`` and write it.

    The PNGs go to ``<markdown dir>/gallery/<experiment>--<figure>.png`` (stale ones there are
    replaced); ``markdown`` (e.g. ``docs/gallery.md``) shows them per family, under the family's
    model summary, each with its experiment's description and comparisons passed. Meant to be
    committed, so the README can show the figures without running anything.
    """
    import shutil

    from attnlab.store import atomic_write_text

    data = collect(out)
    markdown = Path(markdown)
    images = markdown.parent / "gallery"
    images.mkdir(parents=True, exist_ok=True)
    for old in images.glob("*--*.png"):
        old.unlink()
    lines = [
        "# Gallery",
        "",
        f"Figures of `attnlab reproduce` ({data.mode} mode): theory as solid black lines, "
        "simulation as markers, bands or histograms over seeds. "
        f"{len(data.rows) - sum(not r.passed for r in data.rows)} of {len(data.rows)} "
        "theory-vs-simulation comparisons within tolerance. Regenerate with "
        f"`attnlab reproduce --{'full' if data.mode == 'full' else 'quick'} "
        f"--gallery {markdown.as_posix()}`.",
        "",
        f"Generated {data.generated_at} from git revision "
        f"{', '.join(data.distinct('git_revision')) or 'unknown'} on "
        f"{'; '.join(data.distinct('platform')) or data.machine}.",
        "",
    ]
    for family, runs in data.by_family().items():
        ok = [v for v in runs if v.status == "ok" and v.figures]
        if not ok:
            continue
        summary = data.families.get(family, "").replace("``", "`")
        lines += [f"## {family}", "", f"> {_md_text(summary)}", ""]
        for v in ok:
            lines += [
                f"### {v.experiment}",
                "",
                f"{_md_text(v.description)} — {v.n_passed}/{len(v.rows)} comparisons within tolerance.",
                "",
            ]
            for png in v.figures:
                stem = png.rsplit("/", 1)[-1].rsplit(".", 1)[0]
                name = f"{v.experiment}--{stem}.png"
                shutil.copyfile(Path(out) / png, images / name)
                lines += [f"![{v.experiment}: {stem}](gallery/{quote(name)})", ""]
    atomic_write_text(markdown, "\n".join(lines).rstrip() + "\n")
    return markdown
