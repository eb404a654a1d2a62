"""Report rendering from hand-made run directories (no experiment is run here)."""

from __future__ import annotations

import json
import math
import sys
import types
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from attnlab._validate import ParameterError
from attnlab.report import collect, model_summary, write_report
from attnlab.report._collect import NO_SUMMARY
from attnlab.report._render import fmt, fmt_seconds, seeds_text


def fake_run_dir(
    out: Path,
    name: str,
    family: str,
    comparisons: list[dict],
    *,
    figures: tuple[str, ...] = ("curve",),
    png,
    run_s: float = 1.5,
    dropped: list[dict] | None = None,
    headline: dict | None = None,
) -> Path:
    """A complete run directory as :func:`attnlab.store.run_experiment` writes it."""
    path = out / f"{name}-0123456789ab"
    path.mkdir(parents=True)
    (path / "config.toml").write_text("seed = 7\nd = 400\n")
    summary = {"alignment": 0.91, "curve": [1, 2], **(headline or {})}
    summary.update(comparisons=comparisons, dropped=dropped or [])
    (path / "summary.json").write_text(json.dumps(summary))
    files = []
    for fig in figures:
        png(path / f"{fig}.png")
        (path / f"{fig}.pdf").write_bytes(b"%PDF-1.4\n")
        (path / f"{fig}.data.csv").write_text("x,y\n0,1\n")
        files += [f"{fig}.png", f"{fig}.pdf"]
    manifest = {
        "experiment": name,
        "family": family,
        "description": f"{name}: a fake",
        "seed": 7,
        "replicate_seeds": [3, 5, 8],
        "versions": {"attnlab": "0.1.0", "jax": "0.0.1", "python": "3.11"},
        "git_revision": "abc123",
        "platform": "TestOS-1.0",
        "devices": ["cpu:0"],
        "started_at": "2026-01-01T00:00:00Z",
        "timings_s": {"run": run_s, "plot": 0.5},
        "figures": files,
        "figure_data": {fig: f"{fig}.data.csv" for fig in figures},
    }
    (path / "manifest.json").write_text(json.dumps(manifest))
    return path


def comp(quantity, theory, simulation, tolerance, *, max_tolerance=1.0, **kw) -> dict:
    """A row as the store writes it: :meth:`attnlab.compare.Comparison.to_dict`."""
    from attnlab.compare import Comparison

    row = Comparison(quantity, theory, simulation, tolerance, max_tolerance=max_tolerance, **kw)
    return row.to_dict()


@pytest.fixture
def results(tmp_path: Path, fakes) -> Path:
    out = tmp_path / "results"
    fake_run_dir(
        out,
        "alpha-good",
        "famA",
        [comp("risk", 0.5, 0.51, 0.05, where="ell=2", simulation_sd=0.01)],
        png=fakes.png,
    )
    fake_run_dir(
        out,
        "alpha-bad",
        "famA",
        [comp("overlap <m>", 1.0, 1.4, 0.1, note="4 standard errors"), comp("q", 0, 0, 1)],
        figures=("left", "right"),
        png=fakes.png,
        run_s=100.0,
    )
    crashed = out / "beta-crash-0123456789ab"
    crashed.mkdir()
    (crashed / "traceback.txt").write_text("Traceback (most recent call last):\nValueError: nan\n")
    (crashed / "failure.json").write_text(
        json.dumps(
            {
                "experiment": "beta-crash",
                "family": "famB",
                "description": "crashes",
                "error": "ValueError: nan in the fixed point",
                "traceback": "traceback.txt",
            }
        )
    )
    (out / "incomplete-0123456789ab").mkdir()  # interrupted, neither complete nor failed
    return out


def test_collect_reads_every_run_dir_without_a_reproduce_record(results: Path) -> None:
    data = collect(results)
    assert [(r.experiment, r.status) for r in data.runs] == [
        ("alpha-bad", "ok"),
        ("alpha-good", "ok"),
        ("beta-crash", "crashed"),
    ]
    assert len(data.rows) == 3 and sum(r.passed for r in data.rows) == 2
    np.testing.assert_allclose(data.compute_s, 100.5 + 2.0)
    assert list(data.by_family()) == ["famA", "famB"]


class _Page(HTMLParser):
    """Ids, in-page links, table rows (id, class) and the table of contents of a report."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.hrefs: list[str] = []
        self.rows: dict[str, str] = {}
        self.toc: list[str] = []
        self._in_toc = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "nav":
            self._in_toc = True
        if tag == "a" and "href" in a:
            (self.toc if self._in_toc else self.hrefs).append(a["href"])
        if tag == "tr" and "id" in a:
            self.rows[a["id"]] = a.get("class", "")

    def handle_endtag(self, tag):
        if tag == "nav":
            self._in_toc = False


def page(html: str) -> _Page:
    parsed = _Page()
    parsed.feed(html)
    return parsed


def test_failed_comparison_and_crash_are_shown(results: Path) -> None:
    html_path, md_path = write_report(results)
    html, md = html_path.read_text(), md_path.read_text()
    assert 'class="banner bad"' in html
    assert (
        "1 of 3 comparisons outside tolerance (alpha-bad); "
        "1 experiment(s) did not complete (beta-crash)." in html
    )
    assert html.count('<span class="st-fail">FAIL</span>') == 2  # attention list + its row
    assert html.count('<span class="st-pass">PASS</span>') == 2
    assert 'alpha-bad <span class="st-failed">[FAIL]</span>' in html
    assert "[CRASHED]" in html and "ValueError: nan in the fixed point" in html
    assert 'href="beta-crash-0123456789ab/traceback.txt"' in html
    assert "overlap &lt;m&gt;" in html and "overlap <m>" not in html  # escaped
    assert "4 standard errors" in html  # the tolerance's reason
    assert "|difference| 0.4 &gt; tolerance 0.1" in html  # the cause, from the compare layer
    assert "0.51 ± 0.01" in html
    assert (
        '| overlap &lt;m&gt; |  | 1 | 1.4 | 0.4 | 0.1 | <a id="row-alpha-bad-0"></a>**FAIL** |'
        in md
    )
    assert "### beta-crash [CRASHED]" in md and "ValueError: nan in the fixed point" in md
    assert "| famA | alpha-bad | FAIL | 1/2 | 1 min 40.5 s |" in md
    assert 'href="comparisons.csv"' in html and "[comparisons.csv](comparisons.csv)" in md
    table = pd.read_csv(results / "comparisons.csv")
    assert len(table) == 3 and table["passed"].tolist().count(False) == 1
    bad = table[~table["passed"]].iloc[0]
    assert (bad["experiment"], bad["quantity"], bad["note"], bad["status"]) == (
        "alpha-bad",
        "overlap <m>",
        "4 standard errors",
        "fail",
    )
    np.testing.assert_allclose([bad["theory"], bad["simulation"]], [1.0, 1.4])


def test_what_failed_or_is_uninformative_links_to_each_row(tmp_path: Path, fakes) -> None:
    out = tmp_path / "r"
    rows = [
        comp("ok", 1.0, 1.0, 0.1),
        comp("too loose", 1.0, 1.0, 0.5, max_tolerance=0.2),  # uninformative
        comp("broken", 1.0, math.nan, 0.1),  # invalid
        comp("off", 1.0, 2.0, 0.1),  # fail
    ]
    dropped = [{"quantity": "replica m", "where": "α=2", "reason": "did not converge"}]
    fake_run_dir(out, "mixed", "famA", rows, png=fakes.png, dropped=dropped)
    fake_run_dir(out, "nothing", "famA", [], png=fakes.png)  # compared nothing
    fake_run_dir(out, "fine", "famB", [comp("ok", 0, 0, 1)], png=fakes.png)
    html, md = (p.read_text() for p in write_report(out))
    parsed = page(html)
    section = html.split('id="attention"')[1].split('id="overview"')[0]
    targets = [h[1:] for h in page(section).hrefs if h.startswith("#")]
    # each non-pass row, the dropped row and the empty run, each linking to its anchor
    assert "row-mixed-1" in targets and "row-mixed-2" in targets and "row-mixed-3" in targets
    assert "dropped-mixed-0" in targets and "nothing" in targets and "row-mixed-0" not in targets
    assert all(t in parsed.ids for t in targets), set(targets) - parsed.ids
    assert "fine" not in section  # a run that passes is not listed
    assert parsed.rows["row-mixed-0"] == "row-pass"
    assert parsed.rows["row-mixed-1"] == "row-uninformative"
    assert parsed.rows["row-mixed-2"] == "row-invalid"
    assert parsed.rows["row-mixed-3"] == "row-fail"
    assert parsed.rows["dropped-mixed-0"] == "row-dropped"
    assert "tolerance 0.5 &gt; 0.2, the largest informative one" in html
    assert "simulation is not finite" in html and "did not converge" in html
    assert "What failed or is uninformative (5)" in html  # the TOC entry counts them
    for text in (
        "1 of 5 comparisons outside tolerance (mixed)",
        "1 of 5 comparisons invalid (NaN or infinite) (mixed)",
        "1 of 5 comparisons uninformative",
        "1 row(s) dropped (mixed)",
        "1 experiment(s) with no comparison (nothing)",
    ):
        assert text in html, text
    assert "| **UNINFORMATIVE** | [mixed](#mixed) |" in md and '<a id="dropped-mixed-0"></a>' in md
    assert "### nothing [NO COMPARISONS]" in md


def test_table_of_contents_lists_every_family_and_experiment(results: Path) -> None:
    parsed = page(write_report(results)[0].read_text())
    assert parsed.toc[:3] == ["#summary", "#attention", "#overview"]
    assert parsed.toc[3:] == [
        "#family-famA",
        "#alpha-bad",
        "#alpha-good",
        "#family-famB",
        "#beta-crash",
    ]
    assert all(t[1:] in parsed.ids for t in parsed.toc)


def test_rows_written_before_statuses_existed_still_render(tmp_path: Path, fakes) -> None:
    old = {"quantity": "q", "theory": 1.0, "simulation": 1.5, "tolerance": 0.1}
    fake_run_dir(tmp_path, "old", "famA", [{**old, "passed": False}], png=fakes.png)
    (row,) = collect(tmp_path).runs[0].rows
    assert (row.status, row.passed, row.label) == ("fail", False, "FAIL")
    np.testing.assert_allclose(row.difference, 0.5)


def test_headline_numbers_are_tables_in_unicode(tmp_path: Path, fakes) -> None:
    headline = {
        "settings": ["θ-scaling none, theta=1"],
        "per_alpha": [{"alpha": 0.5, "risk": 0.25}, {"alpha": 1.0, "risk": 0.125}],
        "thresholds": {"ℓ₁": 0.5, "ℓ₂": 1.5},
        "columns": {"x": [1, 2], "y": [3.5, 4.5]},
    }
    fake_run_dir(tmp_path, "h", "famA", [comp("q", 0, 0, 1)], png=fakes.png, headline=headline)
    html, md = (p.read_text() for p in write_report(tmp_path))
    html = html.split("<main>")[1].split("<script>")[0]  # the page, not KaTeX's code
    assert "θ-scaling none, theta=1" in html and "\\u03b8" not in html
    assert "<tr><th>alpha</th><th>risk</th></tr><tr><td>0.5</td><td>0.25</td></tr>" in html
    assert "<tr><td>ℓ₁</td><td>0.5</td></tr>" in html
    assert "<tr><th>x</th><th>y</th></tr><tr><td>1</td><td>3.5</td></tr>" in html
    assert "| alpha | risk |" in md and "| 1 | 0.125 |" in md and "\\u03b8" not in md


def test_figures_are_relative_and_pdfs_linked(results: Path) -> None:
    html = write_report(results)[0].read_text()
    for fig in ("left", "right"):
        assert f'<img src="alpha-bad-0123456789ab/{fig}.png"' in html
        assert f'href="alpha-bad-0123456789ab/{fig}.pdf"' in html
    assert "http" not in html.split("<body")[1].split("<script")[0].replace("https://", "")


def test_reproduce_record_selects_runs_and_marks_missing(results: Path) -> None:
    (results / "reproduce.json").write_text(
        json.dumps(
            {
                "mode": "quick",
                "engine": "local",
                "wall_s": 12.0,
                "runs": [
                    {
                        "experiment": "alpha-good",
                        "family": "famA",
                        "run_dir": "alpha-good-0123456789ab",
                        "status": "skipped",
                    },
                    {
                        "experiment": "gamma",
                        "family": "famC",
                        "run_dir": "incomplete-0123456789ab",
                        "status": "ran",
                    },
                ],
            }
        )
    )
    data = collect(results)
    assert [(r.experiment, r.status) for r in data.runs] == [
        ("alpha-good", "ok"),
        ("gamma", "missing"),
    ]
    html = write_report(results)[0].read_text()
    assert "alpha-bad" not in html  # not part of the last reproduce
    assert "resumed from the store" in html and "[MISSING]" in html
    assert "12.0 s (this invocation)" in html and "quick (engine: local)" in html


def test_empty_and_missing_directories(tmp_path: Path) -> None:
    html = write_report(tmp_path)[0].read_text()
    assert "No experiment runs found" in html
    with pytest.raises(ParameterError, match="does not exist"):
        write_report(tmp_path / "nope")


def test_model_summary_sources(monkeypatch) -> None:
    with_summary = types.ModuleType("attnlab.fam_s", "Doc first paragraph.\n\nMore.")
    with_summary.MODEL_SUMMARY = "Line one\n   of the model.  Line two."
    doc_only = types.ModuleType(
        "attnlab.fam_d", "Single-location\nregression.\n\nLayout notes.\n\nModel: y = f(x)."
    )
    monkeypatch.setitem(sys.modules, "attnlab.fam_s", with_summary)
    monkeypatch.setitem(sys.modules, "attnlab.fam_d", doc_only)
    titled = types.ModuleType(
        "attnlab.fam_t",
        "Pooling (spec ``p.md``).\n\n- :mod:`._a` sampler;\n\nTokens are pooled with w.\n\nMore.",
    )
    monkeypatch.setitem(sys.modules, "attnlab.fam_t", titled)
    monkeypatch.setitem(sys.modules, "attnlab.fam_n", types.ModuleType("attnlab.fam_n"))
    assert model_summary("fam_s") == "Line one of the model. Line two."
    assert model_summary("fam_d") == "Single-location regression. Model: y = f(x)."
    assert model_summary("fam_t") == "Pooling (spec ``p.md``). Tokens are pooled with w."
    assert model_summary("fam_n") == NO_SUMMARY
    assert model_summary("no_such_family_here") == NO_SUMMARY


@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12))
def test_fmt_keeps_four_significant_digits(x: float) -> None:
    shown = float(fmt(x))
    np.testing.assert_allclose(shown, x, rtol=5e-4, atol=1e-300)


def test_small_formatters() -> None:
    assert fmt(None) == "—" and fmt(math.nan) == "nan" and fmt(3) == "3"
    assert fmt_seconds(59.94) == "59.9 s" and fmt_seconds(61) == "1 min 01.0 s"
    assert fmt_seconds(3 * 3600 + 120) == "3 h 02 min"
    view = types.SimpleNamespace(seed=0, replicate_seeds=list(range(5, 35)))
    assert seeds_text(view) == "root seed 0; replicates 5–34 (30)"
    view = types.SimpleNamespace(seed=None, replicate_seeds=[])
    assert seeds_text(view) == "—"


def test_demo_sorts_last_and_slow_quick_runs_are_flagged(tmp_path: Path, fakes) -> None:
    out = tmp_path / "r"
    fake_run_dir(out, "a-demo", "demo", [comp("x", 0, 0, 1)], png=fakes.png)
    fake_run_dir(out, "z-slow", "zeta", [comp("x", 0, 0, 1)], png=fakes.png, run_s=30.0)
    (out / "reproduce.json").write_text(
        json.dumps(
            {
                "mode": "quick",
                "runs": [
                    {"experiment": n, "family": f, "run_dir": f"{n}-0123456789ab"}
                    for n, f in (("a-demo", "demo"), ("z-slow", "zeta"))
                ],
            }
        )
    )
    assert list(collect(out).by_family()) == ["zeta", "demo"]
    md = write_report(out)[1].read_text()
    assert "| zeta | z-slow | PASS | 1/1 | 30.5 s (over the 20 s quick budget) |" in md
    assert "| demo | a-demo | PASS | 1/1 | 2.0 s |" in md


def test_long_docstring_summaries_are_clipped_at_a_sentence(monkeypatch) -> None:
    long_doc = "First sentence is here. " * 30
    monkeypatch.setitem(sys.modules, "attnlab.fam_l", types.ModuleType("attnlab.fam_l", long_doc))
    text = model_summary("fam_l")
    assert len(text) <= 400 and text.endswith("here.")
    from attnlab.report._collect import clip

    assert clip("one ``two three`` four", 12) == "one…"
    assert clip("a b c d e f", 6) == "a b c…"


def test_run_time_prefers_the_stored_total(tmp_path: Path, fakes) -> None:
    out = tmp_path / "r"
    path = fake_run_dir(out, "timed", "famT", [comp("x", 0, 0, 1)], png=fakes.png, run_s=1.0)
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["timings_s"]["total"] = 4.25  # run 1.0 + plot 0.5 + store overhead
    (path / "manifest.json").write_text(json.dumps(manifest))
    (view,) = collect(out).runs
    np.testing.assert_allclose(view.run_time, 4.25)
    assert "4.2 s (run 1.0 s, plot 0.5 s)" in write_report(out)[0].read_text()


def test_figures_link_their_pdf_and_data(results: Path) -> None:
    html = write_report(results)[0].read_text()
    assert 'href="alpha-good-0123456789ab/curve.data.csv">data</a>' in html
    (view,) = [v for v in collect(results).runs if v.experiment == "alpha-good"]
    assert view.files["curve"] == {
        "png": "alpha-good-0123456789ab/curve.png",
        "pdf": "alpha-good-0123456789ab/curve.pdf",
        "data": "alpha-good-0123456789ab/curve.data.csv",
    }


def test_single_file_embeds_figures_and_math(results: Path) -> None:
    import base64

    html = write_report(results, single_file=True)[0].read_text()
    body = html.split("<main>")[1]
    srcs = [s.split('"')[0] for s in body.split('<img src="')[1:]]
    assert len(srcs) == 3 and all(s.startswith("data:image/png;base64,") for s in srcs)
    png = (results / "alpha-good-0123456789ab" / "curve.png").read_bytes()
    assert base64.b64encode(png).decode() in srcs[0] + srcs[1] + srcs[2]
    head = html.split("</head>")[0]
    assert "renderMathInElement" in head and "katex" in head
    assert head.count("data:font/woff2;base64,") == 20  # every KaTeX font, embedded
    assert "url(fonts/" not in head and "<link" not in html and "<script src" not in html


def test_theory_links(results: Path, tmp_path: Path, monkeypatch) -> None:
    from attnlab.report import _assets

    html = write_report(results, theory_url="https://docs.example/theory/{family}/")[0]
    assert 'href="https://docs.example/theory/famA/"' in html.read_text()
    monkeypatch.setenv("ATTNLAB_THEORY_URL", "https://env.example/{family}.html")
    assert 'href="https://env.example/famB.html"' in write_report(results)[0].read_text()
    monkeypatch.delenv("ATTNLAB_THEORY_URL")
    repo = tmp_path / "repo"
    (repo / "docs" / "theory").mkdir(parents=True)
    (repo / "docs" / "theory" / "famA.md").write_text("# famA\n")
    (repo / "site" / "theory" / "famB").mkdir(parents=True)
    (repo / "site" / "theory" / "famB" / "index.html").write_text("<h1>famB</h1>")
    monkeypatch.setattr(_assets, "_source_tree", lambda: repo)
    links = _assets.theory_links(["famA", "famB", "famC"], results)
    assert (results / links["famA"]).resolve() == repo / "docs" / "theory" / "famA.md"
    assert (results / links["famB"]).resolve() == repo / "site" / "theory" / "famB" / "index.html"
    assert "famC" not in links  # no page, no link
    absolute = _assets.theory_links(["famA"], results, absolute=True)
    assert absolute["famA"] == (repo / "docs" / "theory" / "famA.md").as_uri()
    md = write_report(results)[1].read_text()
    assert f"[the famA theory page]({links['famA']})" in md


def test_figures_are_shown_at_their_printed_size(demo_report: Path, fakes, tmp_path) -> None:
    from attnlab.report._assets import png_display_width

    (png,) = demo_report.glob("*/histogram.png")
    width_px = int.from_bytes(png.read_bytes()[16:20], "big")
    # a paper-style panel is 3.4 in wide at 200 dpi (the "tight" bbox adds at most its
    # 0.1 in padding per side): shown at 1.25 × 96 CSS px per inch
    assert png_display_width(png) == round(width_px / 200 * 120)
    assert 3.0 * 120 <= png_display_width(png) <= 3.6 * 120
    fakes.png(tmp_path / "no-phys.png", width=400)  # no pHYs chunk: 200 dpi assumed
    assert png_display_width(tmp_path / "no-phys.png") == 240
    (tmp_path / "not.png").write_bytes(b"GIF89a")
    assert png_display_width(tmp_path / "not.png") is None


def test_an_svg_only_run_shows_its_svg(tmp_path: Path, fakes) -> None:
    path = fake_run_dir(tmp_path, "vector", "famA", [comp("q", 0, 0, 1)], png=fakes.png)
    (path / "curve.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"/>')
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["figures"] = ["curve.svg", "curve.pdf"]
    (path / "manifest.json").write_text(json.dumps(manifest))
    (view,) = collect(tmp_path).runs
    assert view.figures == ["vector-0123456789ab/curve.svg"]
    html = write_report(tmp_path)[0].read_text()
    assert '<img src="vector-0123456789ab/curve.svg"' in html
    embedded = write_report(tmp_path, single_file=True)[0].read_text()
    assert '<img src="data:image/svg+xml;base64,' in embedded
