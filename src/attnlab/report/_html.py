"""The HTML report: a sticky table of contents, what failed first, then every family.

Layout: a table of contents on the left that stays in view while the page scrolls (and marks
the section being read); the verdict banner and the provenance table; **what failed or is
uninformative**, one link per row that is not a pass (fail, invalid, uninformative), per
dropped row, per experiment without comparisons and per crashed experiment; the overview
table; one section per family (its model in two lines, a link to its theory page, then per
experiment: figures with their PDF / SVG / data files, headline rows and numbers as tables,
the theory-vs-simulation table with failing rows highlighted, seeds, run time, config).

Math between ``$`` is typeset by KaTeX, inlined in the page (offline,
:mod:`attnlab.report._assets`). With ``embed=True`` the figures are embedded too: the page is
one self-contained file.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from urllib.parse import quote

from attnlab.report import _format as F
from attnlab.report._assets import image_data_uri, katex_head, png_display_width
from attnlab.report._collect import ReportData, Row, RunView, anchor_of

_CSS = """
:root{--toc:17rem;--fail:#b00020;--fail-bg:#fdecea;--warn:#8a5300;--warn-bg:#fff4e0;
--ok:#176f2c;--ok-bg:#e6f4ea}
*{box-sizing:border-box}
body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:0;color:#222;
line-height:1.45;display:grid;grid-template-columns:var(--toc) minmax(0,1fr)}
nav.toc{position:sticky;top:0;align-self:start;height:100vh;overflow-y:auto;
padding:1em .8em;border-right:1px solid #ddd;background:#fafafa;font-size:.85em}
nav.toc ol{list-style:none;padding-left:.9em;margin:.2em 0}
nav.toc>ol{padding-left:0}
nav.toc a{color:#234;text-decoration:none;display:inline-block;padding:.05em .3em;
border-radius:3px}
nav.toc a:hover{background:#e8eef6}
nav.toc a.active{background:#dbe6f5;font-weight:bold}
nav.toc .toc-title{font-weight:bold;margin-bottom:.5em}
main{max-width:1150px;padding:0 2em 4em;min-width:0}
h1{border-bottom:2px solid #444;padding-bottom:.2em}
h2{border-bottom:1px solid #bbb;margin-top:2em;padding-bottom:.15em}
h3{margin-top:1.8em}
h2,h3,tr,li{scroll-margin-top:1em}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f3f3f3}
td.num{text-align:right;font-variant-numeric:tabular-nums;font-family:ui-monospace,monospace}
.pass,.st-pass,.st-passed{color:var(--ok);font-weight:bold}
.fail,.st-fail,.st-failed,.st-invalid,.st-dropped,.st-crashed,.st-missing,.st-empty{
color:var(--fail);font-weight:bold}
.st-uninformative{color:var(--warn);font-weight:bold}
tr.row-fail,tr.row-invalid,tr.row-dropped{background:var(--fail-bg)}
tr.row-uninformative{background:var(--warn-bg)}
tr:target{outline:3px solid #3367d6}
.banner{padding:.6em 1em;border-radius:4px;margin:1em 0;font-weight:bold}
.banner.ok{background:var(--ok-bg);border:1px solid var(--ok)}
.banner.bad{background:var(--fail-bg);border:1px solid var(--fail)}
section.attention{border:1px solid var(--fail);background:#fffafa;padding:0 1em .6em;
border-radius:4px;margin-top:1.5em}
section.attention h2{margin-top:.6em}
section.attention.none{border-color:var(--ok);background:#f8fcf9}
.model{background:#f7f7fb;border-left:4px solid #6670a8;padding:.5em .9em;margin:.6em 0}
.figs{display:flex;flex-wrap:wrap;gap:1.2em;align-items:flex-start}
figure{margin:0;max-width:100%}
figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.8em;color:#555}
ul.fig-problems{font-size:.8em;color:var(--warn);margin:.2em 0}
pre{background:#f6f6f6;padding:.6em;overflow-x:auto;font-size:.85em}
.muted{color:#666;font-size:.9em}
details{margin:.4em 0}
@media (max-width:900px){body{display:block}nav.toc{position:static;height:auto;
border-right:0;border-bottom:1px solid #ddd}}
"""

# annotates every <img> with its naturalWidth after load (read back by the browser tests) and
# marks in the table of contents the section being read; the page reads the same without it
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
(function () {
  var links = {}, heads = [];
  document.querySelectorAll("nav.toc a[href^='#']").forEach(function (a) {
    var el = document.getElementById(a.getAttribute("href").slice(1));
    if (el) { links[el.id] = a; heads.push(el); }
  });
  function mark() {
    var current = heads[0];
    for (var i = 0; i < heads.length; i++) {
      if (heads[i].getBoundingClientRect().top <= 80) { current = heads[i]; }
    }
    for (var id in links) { links[id].classList.toggle("active", current && id === current.id); }
  }
  window.addEventListener("scroll", mark, {passive: true});
  window.addEventListener("load", mark);
})();
"""

_KIND_LABELS = {
    "fail": "FAIL",
    "invalid": "INVALID",
    "uninformative": "UNINFORMATIVE",
    "dropped": "DROPPED",
    "empty": "NO COMPARISONS",
    "crashed": "CRASHED",
    "missing": "MISSING",
}


def _text(text: str) -> str:
    """Escape, turning RST ``literal`` into <code> (TeX between $ is left to KaTeX)."""
    parts = escape(text).split("``")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _status_span(key: str, label: str) -> str:
    return f'<span class="st-{escape(key)}">{escape(label)}</span>'


# -- table of contents and the attention list --------------------------------------------------
def _toc(data: ReportData, n_attention: int) -> str:
    parts = [
        '<nav class="toc" aria-label="contents"><div class="toc-title">attnlab report</div><ol>',
        '<li><a href="#summary">Summary</a></li>',
        f'<li><a href="#attention">What failed or is uninformative ({n_attention})</a></li>',
        '<li><a href="#overview">Overview</a></li>',
    ]
    for family, runs in data.by_family().items():
        parts.append(f'<li><a href="#{anchor_of("family", family)}">{escape(family)}</a><ol>')
        for view in runs:
            key = view.status_key
            mark = "" if key == "passed" else f" {_status_span(key, F.status_label(view))}"
            parts.append(
                f'<li><a href="#{anchor_of(view.experiment)}">{escape(view.experiment)}</a>'
                f"{mark}</li>"
            )
        parts.append("</ol></li>")
    parts.append("</ol></nav>")
    return "".join(parts)


def _attention(items: list[F.Attention]) -> str:
    head = '<h2 id="attention">What failed or is uninformative</h2>'
    if not items:
        return (
            f'<section class="attention none">{head}<p class="pass">Nothing: every comparison '
            "of every experiment passes, none was dropped, every experiment completed.</p>"
            "</section>"
        )
    rows = "".join(
        f'<tr class="row-{escape(a.kind)}"><td>{_status_span(a.kind, _KIND_LABELS[a.kind])}'
        f'</td><td><a href="#{anchor_of(a.experiment)}">{escape(a.experiment)}</a></td>'
        f'<td><a href="#{escape(a.anchor)}">{_text(a.text)}</a></td></tr>'
        for a in items
    )
    return (
        f'<section class="attention">{head}<p>Each entry links to its row; rows that are not a '
        "pass are highlighted in the tables below.</p><table><tr><th>status</th>"
        f"<th>experiment</th><th>what</th></tr>{rows}</table></section>"
    )


# -- one experiment ----------------------------------------------------------------------------
def _rows_html(rows: list[Row]) -> str:
    head = (
        "<tr><th>quantity</th><th>where</th><th>theory</th><th>simulation</th>"
        "<th>difference</th><th>tolerance</th><th>result</th></tr>"
    )
    body = []
    for r in rows:
        reason = F.tolerance_text(r)
        title = f' title="{escape(reason)}"' if reason else ""
        cause = f'<br><span class="muted">{_text(r.cause)}</span>' if r.cause else ""
        star = " ★" if r.headline else ""
        body.append(
            f'<tr id="{r.anchor}" class="row-{escape(r.status)}"{title}>'
            f"<td>{_text(r.quantity)}{star}</td><td>{_text(r.where)}</td>"
            f'<td class="num">{F.fmt(r.theory)}</td><td class="num">{F.simulation_text(r)}</td>'
            f'<td class="num">{F.fmt(r.difference, 3)}</td>'
            f'<td class="num">{F.fmt(r.tolerance, 3)}</td>'
            f"<td>{_status_span(r.status, r.label)}{cause}</td></tr>"
        )
    notes = [r for r in rows if F.tolerance_text(r)]
    note_html = ""
    if notes:
        items = "".join(
            f"<li>{_text(r.quantity)}{' @ ' + _text(r.where) if r.where else ''}: "
            f"{_text(F.tolerance_text(r))}</li>"
            for r in notes
        )
        note_html = (
            f'<details><summary class="muted">tolerances</summary><ul>{items}</ul></details>'
        )
    return f'<table class="comparisons">{head}{"".join(body)}</table>{note_html}'


def _dropped_html(view: RunView) -> str:
    rows = "".join(
        f'<tr id="{d.anchor}" class="row-dropped"><td>{_text(d.quantity)}</td>'
        f"<td>{_text(d.where)}</td><td>{_text(d.reason)}</td></tr>"
        for d in view.dropped
    )
    return (
        f"<h4>Dropped rows ({len(view.dropped)}: could not be computed)</h4>"
        f'<table class="dropped"><tr><th>quantity</th><th>where</th><th>reason</th></tr>'
        f"{rows}</table>"
    )


def _table_html(columns: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{_text(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{_text(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _headline_html(view: RunView) -> str:
    out = []
    starred = [r for r in view.rows if r.headline]
    if starred:
        cells = "".join(
            f'<tr class="row-{escape(r.status)}"><td><a href="#{r.anchor}">{_text(r.quantity)}'
            f"</a></td><td>{_text(r.where)}</td><td class=num>{F.fmt(r.theory)}</td>"
            f"<td class=num>{F.simulation_text(r)}</td><td>{_status_span(r.status, r.label)}"
            "</td></tr>"
            for r in starred
        )
        out.append(
            "<h4>Headline rows ★</h4><table><tr><th>quantity</th><th>where</th><th>theory</th>"
            f"<th>simulation</th><th>result</th></tr>{cells}</table>"
        )
    if view.headline:
        plain, tables = [], []
        for name, value in F.headline_items(view.headline):
            if isinstance(value, str):
                cls = ' class="num"' if _is_number(value) else ""
                plain.append(f"<tr><td>{_text(name)}</td><td{cls}>{_text(value)}</td></tr>")
            else:
                tables.append(f"<h5>{_text(name)}</h5>{_table_html(*value)}")
        table = f'<table class="headline">{"".join(plain)}</table>' if plain else ""
        out.append(f"<h4>Headline numbers</h4>{table}{''.join(tables)}")
    return "".join(out)


def _figures_html(out: Path, view: RunView, embed: bool) -> str:
    figs = []
    for stem, files in view.files.items():
        image = files.get("png") or files.get("svg")
        if image is None:
            continue
        path = out / image
        src = image_data_uri(path) if embed and path.is_file() else quote(image)
        width = png_display_width(path) if image.endswith(".png") else None
        style = f' style="width:min(100%,{width}px)"' if width else ""
        img = f'<img src="{src}" alt="{escape(view.experiment)}: {escape(stem)}"{style}>'
        links = [
            f'<a href="{quote(files[k])}">{k}</a>' for k in ("pdf", "svg", "data") if k in files
        ]
        caption = escape(stem)
        if links and not embed:
            caption += f" ({' · '.join(links)})"
        problems = view.figure_problems.get(stem, [])
        notes = "".join(f"<li>{escape(p)}</li>" for p in problems)
        notes = f'<ul class="fig-problems" title="figure check">{notes}</ul>' if notes else ""
        figs.append(f"<figure>{img}<figcaption>{caption}</figcaption>{notes}</figure>")
    if not figs:
        return ""
    note = (
        "" if not embed else '<p class="muted">Files (PDF, SVG, data) are in the run directory.</p>'
    )
    return f'<div class="figs">{"".join(figs)}</div>{note}'


def _failed_run_html(view: RunView) -> str:
    out = [f'<p class="fail">{escape(view.error or "crashed")}</p>']
    if view.traceback_file:
        href = quote(view.traceback_file)
        out.append(f'<p class="muted">full traceback: <a href="{href}">{href}</a></p>')
    if view.traceback_tail:
        out.append(f"<pre>{escape(view.traceback_tail)}</pre>")
    return "".join(out)


def _run_html(out: Path, view: RunView, embed: bool) -> str:
    parts = [
        f'<h3 id="{anchor_of(view.experiment)}">{escape(view.experiment)} '
        f"{_status_span(view.status_key, '[' + F.status_label(view) + ']')}</h3>"
    ]
    if view.description:
        parts.append(f"<p>{_text(view.description)}</p>")
    if view.status != "ok":
        return "".join(parts) + _failed_run_html(view)
    parts.append(_figures_html(out, view, embed))
    parts.append(_headline_html(view))
    if view.rows:
        parts.append(
            f"<h4>Theory vs simulation ({view.n_passed}/{len(view.rows)} pass)</h4>"
            + _rows_html(view.rows)
        )
    elif not view.dropped:
        parts.append('<p class="fail">No theory-vs-simulation rows: nothing was compared.</p>')
    if view.dropped:
        parts.append(_dropped_html(view))
    parts.append(
        '<table class="meta">'
        f"<tr><th>seeds</th><td>{escape(F.seeds_text(view))}</td></tr>"
        f"<tr><th>run time</th><td>{escape(F.run_time_text(view))}</td></tr>"
        f'<tr><th>run directory</th><td><a href="{quote(view.run_dir)}/">'
        f"{escape(view.run_dir)}/</a></td></tr></table>"
    )
    if view.config_toml:
        parts.append(
            "<details><summary>configuration (config.toml)</summary>"
            f"<pre>{escape(view.config_toml)}</pre></details>"
        )
    return "".join(parts)


# -- the page ----------------------------------------------------------------------------------
def _overview(data: ReportData) -> str:
    parts = [
        '<h2 id="overview">Overview</h2><table class="overview"><tr><th>family</th>'
        "<th>experiment</th><th>status</th><th>comparisons passed</th><th>run time</th></tr>"
    ]
    for view in data.runs:
        parts.append(
            f'<tr><td><a href="#{anchor_of("family", view.family)}">{escape(view.family)}</a></td>'
            f'<td><a href="#{anchor_of(view.experiment)}">{escape(view.experiment)}</a></td>'
            f"<td>{_status_span(view.status_key, F.status_label(view))}</td>"
            f'<td class="num">{escape(F.comparisons_cell(view))}</td>'
            f'<td class="num">{escape(F.time_cell(data, view))}</td></tr>'
        )
    parts.append("</table>")
    return "".join(parts)


def _family_html(
    data: ReportData, family: str, runs: list[RunView], link: str | None, embed: bool
) -> str:
    parts = [
        f'<section><h2 id="{anchor_of("family", family)}">{escape(family)}</h2>',
        f'<div class="model">{_text(data.families.get(family, ""))}</div>',
    ]
    if link:
        parts.append(
            f'<p class="muted">Theory, derivations and references: '
            f'<a class="theory" href="{escape(link)}">the {escape(family)} theory page</a></p>'
        )
    parts += [_run_html(data.out, v, embed) for v in runs]
    return "".join(parts) + "</section>"


def render_html(
    data: ReportData, *, embed: bool = False, theory: dict[str, str] | None = None
) -> str:
    """The whole report as one HTML string.

    ``embed``: figures and KaTeX inlined (one self-contained file); ``theory``: ``{family:
    link}`` to the theory pages (:func:`attnlab.report._assets.theory_links`).
    """
    ok, verdict = F.verdict(data)
    items = F.attention(data)
    summary = "".join(
        f"<tr><th>{escape(k)}</th><td>"
        + escape(v).replace(F.CSV_NAME, f'<a href="{F.CSV_NAME}">{F.CSV_NAME}</a>', 1)
        + "</td></tr>"
        for k, v in F.provenance(data)
    )
    families = "".join(
        _family_html(data, fam, runs, (theory or {}).get(fam), embed)
        for fam, runs in data.by_family().items()
    )
    return (
        "\n".join(
            [
                "<!DOCTYPE html>",
                '<html lang="en"><head><meta charset="utf-8">',
                '<meta name="viewport" content="width=device-width, initial-scale=1">',
                f"<title>attnlab report ({escape(data.mode)})</title>",
                f"<style>{_CSS}</style>{katex_head()}</head><body>",
                _toc(data, len(items)),
                f'<main><h1 id="summary">attnlab: theory vs simulation ({escape(data.mode)})</h1>',
                f'<div class="banner {"ok" if ok else "bad"}">{escape(verdict)}</div>',
                f'<table class="summary">{summary}</table>',
                _attention(items),
                _overview(data),
                families,
                '<p class="muted">Written by attnlab. PASS means |simulation − theory| ≤ '
                "tolerance, the tolerance each experiment derives from its finite-size or "
                "Monte-Carlo error (hover a row or open “tolerances” for the reason); UNINFORMATIVE "
                "means the tolerance is larger than the largest one that still tests the quantity.</p>",
                f"</main><script>{_SCRIPT}</script></body></html>",
            ]
        )
        + "\n"
    )
