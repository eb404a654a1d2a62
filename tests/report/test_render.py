"""Report rendering from hand-made run directories (no experiment is run here)."""

from __future__ import annotations

import json
import math
import sys
import types
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
) -> Path:
    """A complete run directory as :func:`attnlab.store.run_experiment` writes it."""
    path = out / f"{name}-0123456789ab"
    path.mkdir(parents=True)
    (path / "config.toml").write_text("seed = 7\nd = 400\n")
    (path / "summary.json").write_text(
        json.dumps({"alignment": 0.91, "curve": [1, 2], "comparisons": comparisons})
    )
    files = []
    for fig in figures:
        png(path / f"{fig}.png")
        (path / f"{fig}.pdf").write_bytes(b"%PDF-1.4\n")
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
    }
    (path / "manifest.json").write_text(json.dumps(manifest))
    return path


def comp(quantity, theory, simulation, tolerance, **kw) -> dict:
    diff = simulation - theory
    return {
        "quantity": quantity,
        "theory": theory,
        "simulation": simulation,
        "tolerance": tolerance,
        "difference": diff,
        "passed": abs(diff) <= tolerance,
        **kw,
    }


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


def test_failed_comparison_and_crash_are_shown(results: Path) -> None:
    html_path, md_path = write_report(results)
    html, md = html_path.read_text(), md_path.read_text()
    assert 'class="banner bad"' in html
    assert (
        "1 of 3 comparisons outside tolerance (alpha-bad); "
        "1 experiment(s) did not complete (beta-crash)." in html
    )
    assert '<span class="fail">FAIL</span>' in html and html.count(">PASS</span>") == 2
    assert 'alpha-bad <span class="fail">[FAIL]</span>' in html
    assert "[CRASHED]" in html and "ValueError: nan in the fixed point" in html
    assert 'href="beta-crash-0123456789ab/traceback.txt"' in html
    assert "overlap &lt;m&gt;" in html and "overlap <m>" not in html  # escaped
    assert "4 standard errors" in html  # the tolerance's reason
    assert "0.51 ± 0.01" in html
    assert "| overlap &lt;m&gt; |  | 1 | 1.4 | 0.4 | 0.1 | **FAIL** |" in md  # not a tag
    assert "### beta-crash [CRASHED]" in md and "ValueError: nan in the fixed point" in md
    assert "| famA | alpha-bad | FAIL | 1/2 | 1 min 40.5 s |" in md
    assert 'href="comparisons.csv"' in html and "[comparisons.csv](comparisons.csv)" in md
    table = pd.read_csv(results / "comparisons.csv")
    assert len(table) == 3 and table["passed"].tolist().count(False) == 1
    bad = table[~table["passed"]].iloc[0]
    assert (bad["experiment"], bad["quantity"], bad["note"]) == (
        "alpha-bad",
        "overlap <m>",
        "4 standard errors",
    )
    np.testing.assert_allclose([bad["theory"], bad["simulation"]], [1.0, 1.4])


def test_all_pass_banner_and_provenance(tmp_path: Path, fakes) -> None:
    out = tmp_path / "ok"
    fake_run_dir(out, "only-good", "famA", [comp("risk", 0.5, 0.5, 0.01)], png=fakes.png)
    html = write_report(out)[0].read_text()
    assert 'class="banner ok"' in html
    assert "All 1 theory-vs-simulation comparisons are within tolerance." in html
    for text in ("abc123", "TestOS-1.0", "attnlab 0.1.0", "jax 0.0.1", "root seed 7"):
        assert text in html
    assert "replicates 3, 5, 8 (3)" in html and "d = 400" in html


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
