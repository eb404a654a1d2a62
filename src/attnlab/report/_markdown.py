"""The Markdown report (GitHub flavour): the HTML report's content, figures as relative images.

TeX between ``$`` is kept as written (GitHub and most Markdown viewers typeset it); rows that
are not a pass carry an anchor that the "what failed or is uninformative" list links to.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from attnlab.report import _format as F
from attnlab.report._collect import ReportData, RunView, anchor_of

_MATH = re.compile(r"(\$[^$]+\$)")


def _md_text(text: str) -> str:
    """Text for Markdown: ``<``, ``>``, ``&`` escaped outside ``$…$`` (so that ``<u,m>^2`` is
    not a tag), TeX left as written."""
    parts = _MATH.split(str(text))
    return "".join(
        p if i % 2 else p.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        for i, p in enumerate(parts)
    )


def _md_cell(text: str) -> str:
    return _md_text(text).replace("|", "\\|").replace("\n", " ")


def _md_table(header: list[str], rows: list[list[str]], raw: tuple[int, ...] = ()) -> list[str]:
    """A pipe table; the columns listed in ``raw`` are already Markdown."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += [
        "| " + " | ".join(c if i in raw else _md_cell(c) for i, c in enumerate(row)) + " |"
        for row in rows
    ]
    return lines + [""]


def _attention(data: ReportData) -> list[str]:
    items = F.attention(data)
    lines = ["## What failed or is uninformative", ""]
    if not items:
        return lines + [
            "Nothing: every comparison passes, none was dropped, every experiment completed.",
            "",
        ]
    rows = [
        [f"**{a.kind.upper()}**", f"[{a.experiment}](#{anchor_of(a.experiment)})", a.text]
        for a in items
    ]
    return lines + _md_table(["status", "experiment", "what"], rows, raw=(0, 1))


def _rows(v: RunView) -> list[str]:
    lines = [f"Theory vs simulation ({v.n_passed}/{len(v.rows)} pass):", ""]
    header = ["quantity", "where", "theory", "simulation", "difference", "tolerance", "result"]
    rows = [
        [
            r.quantity + (" ★" if r.headline else ""),
            r.where,
            F.fmt(r.theory),
            F.simulation_text(r),
            F.fmt(r.difference, 3),
            F.fmt(r.tolerance, 3),
            r.label if r.passed else f'<a id="{r.anchor}"></a>**{r.label}**',
        ]
        for r in v.rows
    ]
    lines += _md_table(header, rows, raw=(6,))
    if v.dropped:
        lines += [f"Dropped rows ({len(v.dropped)}: could not be computed):", ""]
        lines += _md_table(
            ["", "quantity", "where", "reason"],
            [
                [f'<a id="{d.anchor}"></a>**DROPPED**', d.quantity, d.where, d.reason]
                for d in v.dropped
            ],
            raw=(0,),
        )
    return lines


def _headline(v: RunView) -> list[str]:
    if not v.headline:
        return []
    plain = [(k, x) for k, x in F.headline_items(v.headline) if isinstance(x, str)]
    tables = [(k, x) for k, x in F.headline_items(v.headline) if not isinstance(x, str)]
    lines = ["Headline numbers:", ""]
    if plain:
        lines += _md_table(["quantity", "value"], [[k, x] for k, x in plain])
    for name, (columns, rows) in tables:
        lines += [f"*{_md_text(name)}*:", ""] + _md_table(columns, rows)
    return lines


def _run(data: ReportData, v: RunView) -> list[str]:
    lines = [f'<a id="{anchor_of(v.experiment)}"></a>', ""]
    lines += [f"### {v.experiment} [{F.status_label(v)}]", ""]
    if v.description:
        lines += [_md_text(v.description), ""]
    if v.status != "ok":
        lines += [f"**{_md_text(v.error or 'crashed')}**", ""]
        if v.traceback_file:
            lines += [f"Full traceback: [{v.traceback_file}]({quote(v.traceback_file)})", ""]
        if v.traceback_tail:
            lines += ["```", v.traceback_tail, "```", ""]
        return lines
    for stem, files in v.files.items():
        image = files.get("png") or files.get("svg")
        if image:
            links = " · ".join(
                f"[{k}]({quote(files[k])})" for k in ("pdf", "svg", "data") if k in files
            )
            lines += [f"![{v.experiment}: {stem}]({quote(image)})", ""]
            lines += [f"{stem}: {links}", ""] if links else []
    if v.rows or v.dropped:
        lines += _rows(v)
    else:
        lines += ["**No theory-vs-simulation rows: nothing was compared.**", ""]
    lines += _headline(v)
    lines += [
        f"- seeds: {F.seeds_text(v)}",
        f"- run time: {F.run_time_text(v)}",
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
    return lines


def render_markdown(data: ReportData, *, theory: dict[str, str] | None = None) -> str:
    """The whole report as Markdown (``theory``: ``{family: link}`` to the theory pages)."""
    ok, verdict = F.verdict(data)
    lines = [f"# attnlab: theory vs simulation ({data.mode})", "", f"**{verdict}**", ""]
    lines += [
        f"- **{k}**: {v.replace(F.CSV_NAME, f'[{F.CSV_NAME}]({F.CSV_NAME})', 1)}"
        for k, v in F.provenance(data)
    ]
    lines += [""] + _attention(data) + ["## Overview", ""]
    lines += _md_table(
        ["family", "experiment", "status", "comparisons passed", "run time"],
        [
            [v.family, v.experiment, F.status_label(v), F.comparisons_cell(v), F.time_cell(data, v)]
            for v in data.runs
        ],
    )
    for family, runs in data.by_family().items():
        summary = data.families.get(family, "").replace("``", "`")
        lines += [f"## {family}", "", f"> {_md_text(summary)}", ""]
        link = (theory or {}).get(family)
        if link:
            lines += [f"Theory, derivations and references: [the {family} theory page]({link})", ""]
        for v in runs:
            lines += _run(data, v)
    return "\n".join(lines).rstrip() + "\n"
