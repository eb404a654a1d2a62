"""``reproduce`` end to end: demo family, resume, --only, crashes, engines, the CLI."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from attnlab._validate import ParameterError
from attnlab.cli import app
from attnlab.report import reproduce, select_experiments
from attnlab.report._collect import model_summary

runner = CliRunner()


class _Refs(HTMLParser):
    """Collects <img src>, <a href> and the cells of each comparisons table."""

    def __init__(self) -> None:
        super().__init__()
        self.imgs: list[str] = []
        self.links: list[str] = []
        self.tables: list[list[list[str]]] = []
        self._in_table = False
        self._cell: list[str] | None = None
        self._row: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.imgs.append(a["src"])
        elif tag == "a" and "href" in a:
            self.links.append(a["href"])
        elif tag == "table" and a.get("class") == "comparisons":
            self._in_table = True
            self.tables.append([])
        elif self._in_table and tag == "tr":
            self._row = []
        elif self._in_table and tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "table":
            self._in_table = False
        elif self._in_table and tag in ("td", "th") and self._cell is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif self._in_table and tag == "tr":
            self.tables[-1].append(self._row)

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def parse(html_path: Path) -> _Refs:
    refs = _Refs()
    refs.feed(html_path.read_text())
    return refs


def run_dirs(out: Path) -> list[Path]:
    return sorted(p for p in out.iterdir() if (p / "manifest.json").is_file())


# -- the demo family end to end --------------------------------------------------------------
def test_demo_reproduce_writes_both_reports_with_existing_figures(demo_report: Path) -> None:
    html, md = demo_report / "report.html", demo_report / "report.md"
    assert html.is_file() and md.is_file()
    refs = parse(html)
    manifests = [json.loads((d / "manifest.json").read_text()) for d in run_dirs(demo_report)]
    pngs = [f for m in manifests for f in m["figures"] if f.endswith(".png")]
    assert len(refs.imgs) == len(pngs) >= 1
    for src in refs.imgs + [h for h in refs.links if not h.startswith("#")]:
        assert not src.startswith(("/", "http:", "https:", "file:")), src  # self-contained
        assert (demo_report / src).exists(), src
    md_text = md.read_text()
    for src in refs.imgs:
        assert f"]({src})" in md_text
    assert "<script src" not in html.read_text() and "<link" not in html.read_text()


def test_comparisons_table_has_the_rows_of_summary_json(demo_report: Path) -> None:
    (run,) = run_dirs(demo_report)
    comparisons = json.loads((run / "summary.json").read_text())["comparisons"]
    (table,) = parse(demo_report / "report.html").tables
    header, rows = table[0], table[1:]
    assert header == [
        "quantity",
        "where",
        "theory",
        "simulation",
        "difference",
        "tolerance",
        "result",
    ]
    assert len(rows) == len(comparisons)
    for row, comp in zip(rows, comparisons, strict=True):
        assert row[0] == comp["quantity"]
        np.testing.assert_allclose(float(row[2]), comp["theory"], rtol=1e-3, atol=1e-12)
        np.testing.assert_allclose(float(row[3].split("±")[0]), comp["simulation"], rtol=1e-3)
        np.testing.assert_allclose(float(row[4]), comp["difference"], rtol=1e-2, atol=1e-12)
        np.testing.assert_allclose(float(row[5]), comp["tolerance"], rtol=1e-2)
        assert row[6] == ("PASS" if comp["passed"] else "FAIL")


def test_report_states_model_config_seeds_and_time(demo_report: Path) -> None:
    text = (demo_report / "report.html").read_text()
    (run,) = run_dirs(demo_report)
    manifest = json.loads((run / "manifest.json").read_text())
    assert "sample mean" in model_summary("demo")
    assert "estimated by the sample mean" in text  # the demo family's MODEL_SUMMARY
    assert f"replicates 0–{len(manifest['replicate_seeds']) - 1}" in text
    assert "n_seeds = 50" in text  # the quick preset's config.toml
    assert manifest["git_revision"] is None or manifest["git_revision"] in text
    md = (demo_report / "report.md").read_text()
    assert "| demo | demo-mean | PASS | 2/2 |" in md


def test_resume_skips_complete_runs_and_force_redoes_them(demo_copy: Path) -> None:
    (run,) = run_dirs(demo_copy)
    before = (run / "manifest.json").stat().st_mtime_ns
    again = reproduce(only=["demo"], out=demo_copy, progress=False)
    assert [r.status for r in again.records] == ["skipped"]
    assert (run / "manifest.json").stat().st_mtime_ns == before
    assert "resumed from the store" in (demo_copy / "report.html").read_text()
    forced = reproduce(only=["demo"], out=demo_copy, progress=False, force=True)
    assert [r.status for r in forced.records] == ["ran"]
    assert (run / "manifest.json").stat().st_mtime_ns != before


def test_only_filters_by_family_and_experiment(register, fakes, tmp_path: Path) -> None:
    register(fakes.make("fake-a", "fakefam"))
    register(fakes.make("fake-b", "fakefam"))
    register(fakes.make("other-c", "otherfam"))
    assert {e.name for e in select_experiments(["fakefam"])} == {"fake-a", "fake-b"}
    assert {e.name for e in select_experiments(["other-c", "fakefam"])} == {
        "fake-a",
        "fake-b",
        "other-c",
    }
    families = {e.family for e in select_experiments()}
    assert {"demo", "fakefam", "otherfam"} <= families
    outcome = reproduce(only=["otherfam"], out=tmp_path, progress=False)
    assert [r.experiment for r in outcome.records] == ["other-c"]
    assert [p.name.rsplit("-", 1)[0] for p in run_dirs(tmp_path)] == ["other-c"]


def test_unknown_family_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="unknown family 'nope'.*known families: .*demo"):
        select_experiments(["nope"])
    res = runner.invoke(app, ["reproduce", "--only", "nope", "--out", str(tmp_path / "x")])
    assert res.exit_code == 2
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: unknown family 'nope'")
    assert not (tmp_path / "x").exists()


def test_bad_engine_and_workers_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="engine = 'gpu' is not one of"):
        reproduce(engine="gpu", out=tmp_path, progress=False)
    with pytest.raises(ParameterError, match="workers = 0"):
        reproduce(engine="process", workers=0, out=tmp_path, progress=False)


# -- crashes ---------------------------------------------------------------------------------
def test_a_crash_is_recorded_and_the_others_still_run(register, fakes, tmp_path: Path) -> None:
    register(fakes.make("crash-x", "crashfam", run=fakes.crash))
    register(fakes.make("fine-y", "crashfam", quick={"offset": 1.0}))
    outcome = reproduce(only=["crashfam"], out=tmp_path, progress=False)
    status = {r.experiment: r.status for r in outcome.records}
    assert status == {"crash-x": "crashed", "fine-y": "ran"}
    assert not outcome.ok and [r.experiment for r in outcome.crashed] == ["crash-x"]
    (crash,) = outcome.crashed
    assert crash.error == "RuntimeError: boom: the fake experiment crashed"
    crash_dir = tmp_path / crash.run_dir
    assert "Traceback" in (crash_dir / "traceback.txt").read_text()
    assert json.loads((crash_dir / "failure.json").read_text())["error"] == crash.error
    html = (tmp_path / "report.html").read_text()
    assert "[CRASHED]" in html and "boom: the fake experiment crashed" in html
    assert f'href="{crash.run_dir}/traceback.txt"' in html
    # fine-y ran with offset 1 > tolerance 0.1: a FAIL row, but not a crash
    assert ">FAIL<" in html and "1 of 2 comparisons outside tolerance (fine-y)" in html
    # once fixed, a rerun redoes only the crashed run and clears its failure record
    register(fakes.make("crash-x", "crashfam"))
    again = reproduce(only=["crashfam"], out=tmp_path, progress=False)
    assert {r.experiment: r.status for r in again.records} == {
        "crash-x": "ran",
        "fine-y": "skipped",
    }
    assert not (crash_dir / "failure.json").exists()
    assert not (crash_dir / "traceback.txt").exists()


def test_cli_exit_codes(register, fakes, tmp_path: Path) -> None:
    register(fakes.make("fail-z", "failfam", quick={"offset": 1.0}))
    out = str(tmp_path / "r")
    res = runner.invoke(app, ["reproduce", "--only", "failfam", "--out", out])
    assert res.exit_code == 0, res.output  # a FAIL row is shown, not an error
    # one line per experiment with its wall time, printed above the progress bar
    assert re.search(r"ran +fail-z +\d+\.\ds  1/2 comparisons pass", res.output), res.output
    assert "1/2 comparisons within tolerance" in res.output
    assert f"report: {out}/report.html" in res.output
    res = runner.invoke(app, ["reproduce", "--only", "failfam", "--out", out, "--strict"])
    assert res.exit_code == 1
    register(fakes.make("crash-w", "failfam", run=fakes.crash))
    res = runner.invoke(app, ["reproduce", "--only", "failfam", "--out", out])
    assert res.exit_code == 1
    assert "crashed: crash-w: RuntimeError: boom" in res.output


def test_full_mode_uses_the_defaults_and_its_own_directory(
    register, fakes, tmp_path: Path, monkeypatch
) -> None:
    register(fakes.make("size-s", "sizefam", quick={"n": 3}))
    monkeypatch.chdir(tmp_path)
    quick = reproduce(only=["sizefam"], progress=False)
    full = reproduce(only=["sizefam"], quick=False, progress=False)
    assert quick.out == Path("results/quick") and full.out == Path("results/full")
    assert "n = 3" in (quick.out / quick.records[0].run_dir / "config.toml").read_text()
    assert "n = 10" in (full.out / full.records[0].run_dir / "config.toml").read_text()
    assert json.loads((full.out / "reproduce.json").read_text())["mode"] == "full"


# -- one runner: every engine goes through attnlab.sweep.run_tasks ---------------------------
def test_reproduce_hands_every_engine_to_run_tasks(
    register, fakes, tmp_path: Path, monkeypatch
) -> None:
    import attnlab.sweep

    register(fakes.make("eng-1", "engfam"))
    register(fakes.make("eng-2", "engfam", run=fakes.crash))
    real = attnlab.sweep.run_tasks
    calls: list = []

    def spy(tasks, **kwargs):
        calls.append(({k: kwargs[k] for k in ("engine", "scheduler", "workers")}, tasks))
        return real(tasks, **{**kwargs, "engine": "local", "scheduler": None})

    monkeypatch.setattr(attnlab.sweep, "run_tasks", spy)
    started: list = []
    done: list = []
    outcome = reproduce(
        engine="dask",
        scheduler="tcp://h:8786",
        workers=2,
        only=["engfam"],
        out=tmp_path,
        progress=False,
        on_start=started.append,
        on_done=done.append,
    )
    ((engine, tasks),) = calls
    assert engine == {"engine": "dask", "scheduler": "tcp://h:8786", "workers": 2}
    assert [t.experiment for t in tasks] == ["eng-1", "eng-2"]
    assert [t.experiment for t in started] == ["eng-1", "eng-2"]
    # structured outcomes, not parsed strings: one per experiment, with status and error
    assert [(o.task.experiment, o.status) for o in done] == [("eng-1", "ran"), ("eng-2", "failed")]
    assert outcome.outcomes == done
    status = {r.experiment: (r.status, r.error) for r in outcome.records}
    assert status == {
        "eng-1": ("ran", None),
        "eng-2": ("crashed", "RuntimeError: boom: the fake experiment crashed"),
    }
    assert "Traceback" in (tmp_path / outcome.records[1].run_dir / "traceback.txt").read_text()
    assert outcome.records[0].verdict["status"] == "passed"


def test_the_process_engine_runs_the_demo_in_a_worker(tmp_path: Path) -> None:
    outcome = reproduce(engine="process", workers=1, only=["demo"], out=tmp_path, progress=False)
    (record,) = outcome.records
    assert record.status == "ran" and record.wall_s > 0
    manifest = json.loads((tmp_path / record.run_dir / "manifest.json").read_text())
    assert manifest["pid"] != __import__("os").getpid()  # computed in a worker process
    assert record.verdict["status"] == "passed" and outcome.report_html.is_file()


def test_cli_writes_a_gallery_with_copied_figures(demo_copy: Path, tmp_path: Path) -> None:
    md = tmp_path / "docs" / "gallery.md"
    (tmp_path / "docs" / "gallery").mkdir(parents=True)
    (tmp_path / "docs" / "gallery" / "stale--old.png").write_bytes(b"x")
    args = ["reproduce", "--only", "demo", "--out", str(demo_copy), "--gallery", str(md)]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    text = md.read_text()
    assert "## demo" in text and "### demo-mean" in text and "2/2 comparisons" in text
    assert "![demo-mean: histogram](gallery/demo-mean--histogram.png)" in text
    copied = md.parent / "gallery" / "demo-mean--histogram.png"
    (run,) = run_dirs(demo_copy)
    assert copied.read_bytes() == (run / "histogram.png").read_bytes()
    assert not (md.parent / "gallery" / "stale--old.png").exists()
    res = runner.invoke(app, [*args[:-1], str(tmp_path / "gallery.txt")])
    assert res.exit_code == 2 and "--gallery expects a Markdown file" in res.output


# -- a failure is never a pass: --strict ------------------------------------------------------
def _rows_run(kind: str):
    """A fake run whose comparisons are all fine except for ``kind``."""
    from attnlab.compare import Comparison, Dropped, Result

    def run(config) -> Result:
        good = Comparison("slope", 2.0, 2.0, 0.1, max_tolerance=0.5)
        rows = {
            "empty": [],
            "dropped": [good],
            "uninformative": [good, Comparison("wide", 1.0, 1.1, 0.8, max_tolerance=0.5)],
            "invalid": [good, Comparison("nan", float("nan"), 1.0, 0.1, max_tolerance=0.5)],
            "passed": [good],
        }[kind]
        dropped = [Dropped("replica m", "α=2", "did not converge in 400 iterations")]
        return Result(
            table=__import__("pandas").DataFrame({"x": [1.0]}),
            comparisons=rows,
            dropped=dropped if kind == "dropped" else [],
        )

    return run


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("empty", "FAILED (no theory-vs-simulation rows: nothing was compared)"),
        ("dropped", "FAILED (dropped: replica m [α=2]: did not converge in 400 iterations)"),
        ("uninformative", "UNINFORMATIVE (uninformative: wide: tolerance 0.8 > 0.5"),
        ("invalid", "FAILED (invalid: nan: theory is not finite)"),
    ],
)
def test_strict_fails_unless_every_run_passed(register, fakes, tmp_path, kind, reason) -> None:
    register(fakes.make(f"strict-{kind}", "strictfam", run=_rows_run(kind), plot=None))
    register(fakes.make("strict-ok", "strictfam", run=_rows_run("passed"), plot=None))
    out = str(tmp_path / "r")
    res = runner.invoke(app, ["reproduce", "--only", "strictfam", "--out", out])
    assert res.exit_code == 0, res.output  # shown, not an error
    assert reason in res.output
    assert "1/2 runs PASSED" in res.output
    res = runner.invoke(app, ["reproduce", "--only", "strictfam", "--out", out, "--strict"])
    assert res.exit_code == 1, res.output
    res = runner.invoke(app, ["reproduce", "--only", "strict-ok", "--out", out, "--strict"])
    assert res.exit_code == 0, res.output


# -- nothing on disk is trusted unverified ---------------------------------------------------
def test_a_corrupt_run_is_redone_with_one_line(demo_copy: Path) -> None:
    (run,) = run_dirs(demo_copy)
    good = (run / "results.parquet").read_bytes()
    data = bytearray(good)
    data[len(data) // 2] ^= 0x01  # one bit, same size
    (run / "results.parquet").write_bytes(bytes(data))
    res = runner.invoke(app, ["reproduce", "--only", "demo", "--out", str(demo_copy)])
    assert res.exit_code == 0, res.output
    assert (
        f"demo-mean: {run} is not a complete run (results.parquet does not match its recorded "
        "sha256 (corrupt)): redoing it" in " ".join(res.output.split())
    )
    assert re.search(r"ran +demo-mean +\d+\.\ds  2/2 comparisons pass, PASSED", res.output)
    assert (run / "results.parquet").read_bytes() == good


def test_an_interrupt_records_what_finished_and_a_rerun_resumes(
    register, fakes, tmp_path: Path
) -> None:
    def interrupted(config):
        raise KeyboardInterrupt

    register(fakes.make("int-a", "intfam"))
    register(fakes.make("int-b", "intfam", run=interrupted))
    with pytest.raises(KeyboardInterrupt) as info:
        reproduce(only=["intfam"], out=tmp_path, progress=False)
    assert [(o.task.experiment, o.status) for o in info.value.outcomes] == [
        ("int-a", "ran"),
        ("int-b", "interrupted"),
    ]
    record = json.loads((tmp_path / "reproduce.json").read_text())
    assert [(r["experiment"], r["status"]) for r in record["runs"]] == [
        ("int-a", "ran"),
        ("int-b", "interrupted"),
    ]
    assert not (tmp_path / "report.html").exists()
    assert not [p for p in tmp_path.glob(".*.tmp")]  # the interrupted run left no temp dir
    register(fakes.make("int-b", "intfam"))
    again = reproduce(only=["intfam"], out=tmp_path, progress=False)
    assert [(r.experiment, r.status) for r in again.records] == [
        ("int-a", "skipped"),
        ("int-b", "ran"),
    ]


def test_a_family_that_does_not_import_is_a_one_line_error(monkeypatch, tmp_path) -> None:
    from attnlab import registry

    def broken() -> dict:
        raise ImportError("No module named 'attnlab.broken._theory'")

    monkeypatch.setattr("attnlab.report._reproduce.all_experiments", broken)
    with pytest.raises(ParameterError, match="could not load the registered experiments"):
        reproduce(out=tmp_path, progress=False)
    assert registry.all_experiments()  # the real registry is untouched
