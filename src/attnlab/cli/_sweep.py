"""``attnlab sweep`` and ``collect``."""

from __future__ import annotations

import dataclasses
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
    SchedulerOpt,
    StrictOpt,
    StyleOpt,
    TimeoutOpt,
    WorkersOpt,
    app,
    engine_options,
    figure_options,
    user_errors,
)


@app.command("sweep")
def sweep_cmd(
    file: Annotated[Path, typer.Argument(help="sweep TOML file (experiment, \\[base], \\[grid])")],
    engine: EngineOpt = Engine.local,
    scheduler: SchedulerOpt = None,
    workers: WorkersOpt = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="root directory (default: the file's out)")
    ] = None,
    quick: Annotated[
        bool, typer.Option("--quick", help="start every point from the --quick preset")
    ] = False,
    force: ForceOpt = False,
    progress: Annotated[
        bool, typer.Option(help="show progress bars (else one line per finished run)")
    ] = True,
    strict: StrictOpt = False,
    yes: Annotated[
        bool, typer.Option("--yes", help="run a sweep larger than --max-points")
    ] = False,
    max_points: Annotated[
        int | None,
        typer.Option("--max-points", help="refuse more points without --yes (default 1000)"),
    ] = None,
    allow_large: AllowLargeOpt = False,
    timeout: TimeoutOpt = 30.0,
    formats: FormatOpt = None,
    dpi: DpiOpt = None,
    style: StyleOpt = None,
) -> None:
    """Run every point of a grid of one experiment (resumable: complete points are skipped).

    Figures: the sweep file's \\[figures] table, then --format, --dpi, --style.
    """
    from attnlab._display import Display
    from attnlab.sweep import check_size, load_sweep_file, run_tasks

    with user_errors():
        sweep = load_sweep_file(file)
        if quick:
            sweep = dataclasses.replace(sweep, quick=True)
        typer.echo(f"sweep: {sweep.size} points of {sweep.experiment}")
        check_size(sweep.size, max_points=max_points, yes=yes)
        figs = figure_options(formats, dpi, style, base=sweep.figures)
        tasks = [dataclasses.replace(t, figures=figs) for t in sweep.tasks(out)]
        n_runs = len({t.run_dir() for t in tasks})
        with (
            Display(sweep.experiment, total=n_runs, enabled=progress) as display,
            display.reporting(),
        ):
            outcomes = run_tasks(
                tasks,
                **engine_options(engine, scheduler, workers, force, allow_large, timeout),
                on_start=display.task_started,
                on_done=display.task_done,
                log=display.log,
            )
    _sweep_summary(outcomes, tasks[0].out if tasks else out, strict=strict)


def _sweep_summary(outcomes: list[Any], root: Path | None, *, strict: bool) -> None:
    """The closing lines of ``sweep`` and its exit status."""
    runs = list({id(o): o for o in outcomes}.values())  # duplicate points share an outcome
    failed = [o for o in runs if not o.completed]
    for o in failed:
        typer.echo(f"error: {o.path.name if o.path else o.task.experiment}: {o.error}", err=True)
    typer.echo(f"{len(runs) - len(failed)} points complete under {root}")
    passed = sum(o.passed for o in runs)
    typer.echo(f"{passed}/{len(runs)} points PASSED")
    for o in runs:
        if o.completed and not o.passed:
            typer.echo(f"  {o.path.name}: {verdict_line(o.verdict)}")
    if failed or (strict and passed < len(runs)):
        raise typer.Exit(1)


def verdict_line(verdict: dict[str, Any] | None) -> str:
    """``"FAILED (first reason …)"`` of a stored run's verdict."""
    from attnlab.sweep import verdict_text

    return verdict_text(verdict).split(", ", 1)[-1]


@app.command("collect")
def collect_cmd(
    directory: Annotated[Path, typer.Argument(help="directory holding run directories")],
    out: Annotated[
        Path | None,
        typer.Option("--out", help="FILE.parquet or FILE.csv (default DIR/collected.parquet)"),
    ] = None,
    summary: Annotated[
        bool,
        typer.Option("--summary", help="one row per run with summary numbers (not result rows)"),
    ] = False,
) -> None:
    """Gather the complete runs under DIR into one table (config.<field> columns + results)."""
    from attnlab.sweep import collect, write_table

    def warn(line: str) -> None:
        typer.echo(line, err=True)

    with user_errors():
        table = collect(directory, what="summary" if summary else "rows", log=warn)
        path = write_table(table, out if out is not None else directory / "collected.parquet")
    n_runs = table["run"].nunique()
    typer.echo(f"{len(table)} rows from {n_runs} runs -> {path}")
