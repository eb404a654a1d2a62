"""``attnlab reproduce`` (every registered experiment, then the report) and ``report``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from attnlab.cli._app import (
    AllowLargeOpt,
    DpiOpt,
    Engine,
    EngineOpt,
    ForceOpt,
    FormatOpt,
    NoProgressOpt,
    SchedulerOpt,
    SingleFileOpt,
    StrictOpt,
    StyleOpt,
    TimeoutOpt,
    WorkersOpt,
    app,
    engine_options,
    fail,
    figure_options,
    user_errors,
)

_ROW_KINDS = ("pass", "fail", "uninformative", "invalid")


@app.command("reproduce")
def reproduce_cmd(
    quick: Annotated[
        bool, typer.Option("--quick/--full", help="quick presets (default) or full sizes")
    ] = True,
    only: Annotated[
        list[str] | None,
        typer.Option("--only", help="only this family (or experiment); repeatable"),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="results root (default: results/quick or results/full)"),
    ] = None,
    engine: EngineOpt = Engine.local,
    scheduler: SchedulerOpt = None,
    workers: WorkersOpt = None,
    force: ForceOpt = False,
    strict: StrictOpt = False,
    gallery: Annotated[
        Path | None,
        typer.Option("--gallery", help="also write this Markdown gallery (e.g. docs/gallery.md)"),
    ] = None,
    allow_large: AllowLargeOpt = False,
    timeout: TimeoutOpt = 30.0,
    no_progress: NoProgressOpt = False,
    formats: FormatOpt = None,
    dpi: DpiOpt = None,
    style: StyleOpt = None,
    single_file: SingleFileOpt = False,
) -> None:
    """Run every registered experiment (resumable), then write OUT/report.html and report.md.

    Exit status: 0 when every experiment ran (the report shows each comparison's status),
    1 when an experiment crashed (or, with --strict, a run's verdict is not PASSED: a failed,
    uninformative, invalid or dropped row, or no row at all), 2 on bad input.
    """
    from attnlab._display import Display
    from attnlab.report import reproduce, select_experiments

    if gallery is not None and gallery.suffix.lower() != ".md":
        fail(f"--gallery expects a Markdown file path (*.md), got {str(gallery)!r}")

    with user_errors():
        figs = figure_options(formats, dpi, style)
        total = len(select_experiments(only))
        with (
            Display("reproduce", total=total, enabled=not no_progress) as display,
            display.reporting(),
        ):
            outcome = reproduce(
                quick=quick,
                only=only,
                out=out,
                **engine_options(engine, scheduler, workers, force, allow_large, timeout),
                figures=figs,
                on_start=display.task_started,
                on_done=display.task_done,
            )
        if single_file:  # the same report, rewritten with its figures embedded
            from attnlab.report import write_report

            write_report(outcome.out, single_file=True)
    _reproduce_summary(outcome, gallery=gallery, strict=strict)


def _reproduce_summary(outcome: Any, *, gallery: Path | None, strict: bool) -> None:
    """The closing lines of ``reproduce``, the gallery, and the exit status."""
    from attnlab.report._render import fmt_seconds

    verdicts = [r.verdict or {} for r in outcome.records]
    n_rows = sum(sum((v.get("counts") or {}).get(k, 0) for k in _ROW_KINDS) for v in verdicts)
    n_pass = sum((v.get("counts") or {}).get("pass", 0) for v in verdicts)
    n_runs = len(outcome.records)
    typer.echo(
        f"{n_runs} experiment(s) ({len(outcome.crashed)} crashed), "
        f"{n_pass}/{n_rows} comparisons within tolerance, "
        f"{n_runs - len(outcome.not_passed)}/{n_runs} runs PASSED, "
        f"{fmt_seconds(outcome.wall_s)}"
    )
    for rec in outcome.crashed:
        typer.echo(f"crashed: {rec.experiment}: {rec.error}", err=True)
    typer.echo(f"report: {outcome.report_html}")
    typer.echo(f"report: {outcome.report_md}")
    if gallery is not None:
        from attnlab.report import write_gallery

        with user_errors():
            typer.echo(f"gallery: {write_gallery(outcome.out, gallery)}")
    if outcome.crashed or (strict and outcome.not_passed):
        raise typer.Exit(1)


@app.command("report")
def report_cmd(
    directory: Annotated[Path, typer.Argument(help="results root holding run directories")],
    single_file: SingleFileOpt = False,
    theory_url: Annotated[
        str | None,
        typer.Option(
            "--theory-url",
            help="link of each family's theory page, {family} replaced "
            "(default: $ATTNLAB_THEORY_URL, else the docs of this source tree)",
        ),
    ] = None,
) -> None:
    """Write DIR/report.html and DIR/report.md from the complete runs under DIR."""
    from attnlab.report import write_report

    with user_errors():
        html, md = write_report(directory, single_file=single_file, theory_url=theory_url)
    typer.echo(f"report: {html}")
    typer.echo(f"report: {md}")
