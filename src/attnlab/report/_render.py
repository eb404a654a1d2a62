"""Write a results root's report: ``report.html``, ``report.md``, ``comparisons.csv``.

:func:`write_report` reads the run directories (:func:`attnlab.report.collect`) and writes

- ``report.html`` (:mod:`attnlab.report._html`): a sticky table of contents, what failed or is
  uninformative first, then every family and experiment; math typeset offline by KaTeX, which
  the page carries inline. Figures are linked by their paths relative to the results root, so
  the directory can be moved or archived whole; with ``single_file=True`` they are embedded
  too: one file that opens anywhere, with nothing beside it;
- ``report.md`` (:mod:`attnlab.report._markdown`): the same content in Markdown;
- ``comparisons.csv``: every comparison row, one per line.

:func:`write_gallery` copies the figures next to a Markdown gallery page.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from urllib.parse import quote

from attnlab.report._assets import theory_links
from attnlab.report._collect import ReportData, collect
from attnlab.report._format import CSV_NAME, fmt, fmt_seconds, seeds_text
from attnlab.report._html import render_html
from attnlab.report._markdown import _md_text, render_markdown

__all__ = [
    "CSV_NAME",
    "HTML_NAME",
    "MD_NAME",
    "comparisons_csv",
    "fmt",
    "fmt_seconds",
    "render_html",
    "render_markdown",
    "seeds_text",
    "write_gallery",
    "write_report",
]

HTML_NAME = "report.html"
MD_NAME = "report.md"


def write_report(
    out: Path | str, *, single_file: bool = False, theory_url: str | None = None
) -> tuple[Path, Path]:
    """Write ``out/report.html``, ``out/report.md`` and ``out/comparisons.csv``.

    Parameters
    ----------
    out : path
        A results root (it need not come from ``reproduce``).
    single_file : bool
        Make ``report.html`` self-contained: its figures embedded as ``data:`` URIs (KaTeX is
        always inline).
    theory_url : str, optional
        Link of each family's theory page, ``{family}`` replaced (default:
        ``$ATTNLAB_THEORY_URL``, else the documentation of the source tree;
        :func:`attnlab.report._assets.theory_links`).

    Returns
    -------
    (Path, Path)
        ``report.html`` and ``report.md``.
    """
    from attnlab.store import atomic_write_text

    out = Path(out)
    if not out.is_dir():
        from attnlab._validate import ParameterError

        raise ParameterError(f"results directory {str(out)!r} does not exist")
    data = collect(out)
    families = list(data.families)
    html_path, md_path = out / HTML_NAME, out / MD_NAME
    atomic_write_text(out / CSV_NAME, comparisons_csv(data))
    links = theory_links(families, out, theory_url, absolute=single_file)
    atomic_write_text(html_path, render_html(data, embed=single_file, theory=links))
    md_links = theory_links(families, out, theory_url)
    atomic_write_text(md_path, render_markdown(data, theory=md_links))
    return html_path, md_path


def comparisons_csv(data: ReportData) -> str:
    """Every comparison row of the report as CSV (one row per experiment × quantity × where)."""
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
            "max_tolerance",
            "status",
            "passed",
            "headline",
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
                    "" if r.max_tolerance is None else repr(r.max_tolerance),
                    r.status,
                    r.passed,
                    r.headline,
                    r.note,
                ]
            )
    return buf.getvalue()


def write_gallery(out: Path | str, markdown: Path | str) -> Path:
    """Copy every figure of the complete runs under ``out`` next to ``markdown`` and write it.

    The images go to ``<markdown dir>/gallery/<experiment>--<figure>.<png|svg>`` (stale ones
    there are replaced); ``markdown`` (e.g. ``docs/gallery.md``) shows them per family, under
    the family's model summary, each with its experiment's description and comparisons
    passed. Meant to be committed, so the README can show the figures without running anything.
    """
    import shutil

    from attnlab.store import atomic_write_text

    data = collect(out)
    markdown = Path(markdown)
    images = markdown.parent / "gallery"
    images.mkdir(parents=True, exist_ok=True)
    for old in [*images.glob("*--*.png"), *images.glob("*--*.svg")]:
        old.unlink()
    n_pass = sum(r.passed for r in data.rows)
    lines = [
        "# Gallery",
        "",
        f"Figures of `attnlab reproduce` ({data.mode} mode): theory as solid black lines, "
        "simulation as markers, bands or histograms over seeds. "
        f"{n_pass} of {len(data.rows)} theory-vs-simulation comparisons pass. Regenerate with "
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
                f"{_md_text(v.description)} — {v.n_passed}/{len(v.rows)} comparisons pass.",
                "",
            ]
            for image in v.figures:
                stem, ext = image.rsplit("/", 1)[-1].rsplit(".", 1)
                name = f"{v.experiment}--{stem}.{ext}"
                shutil.copyfile(Path(out) / image, images / name)
                lines += [f"![{v.experiment}: {stem}](gallery/{quote(name)})", ""]
    atomic_write_text(markdown, "\n".join(lines).rstrip() + "\n")
    return markdown
