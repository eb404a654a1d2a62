"""The ``attnlab`` command line (typer). Errors in user input are printed as one line."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from attnlab._validate import ParameterError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="attnlab: solvable models of attention, simulation vs theory.",
)


def _fail(msg: str) -> None:
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(2)


@app.command("list")
def list_cmd() -> None:
    """Show every registered experiment with a one-line description."""
    from attnlab.registry import all_experiments

    for name, exp in all_experiments().items():
        typer.echo(f"{name:32s} [{exp.family}] {exp.description}")


@app.command("run")
def run_cmd(
    name: Annotated[str, typer.Argument(help="experiment name (see `attnlab list`)")],
    quick: Annotated[bool, typer.Option("--quick", help="small sizes (seconds)")] = False,
    set_: Annotated[list[str] | None, typer.Option("--set", help="override KEY=VALUE")] = None,
    config: Annotated[Path | None, typer.Option("--config", help="TOML config file")] = None,
    out: Annotated[Path, typer.Option("--out", help="results root directory")] = Path("results"),
    force: Annotated[bool, typer.Option("--force", help="redo a complete run")] = False,
) -> None:
    """Run one experiment and store it under OUT/<name>-<hash>/."""
    import tomllib

    from attnlab.config import parse_overrides
    from attnlab.registry import get_experiment
    from attnlab.store import run_experiment

    try:
        exp = get_experiment(name)
        values = {}
        if config is not None:
            values.update(tomllib.loads(config.read_text()))
        values.update(parse_overrides(set_ or []))
        cfg = exp.make_config(values, quick=quick)
        path = run_experiment(exp, cfg, out=out, force=force, log=typer.echo)
    except (ParameterError, FileNotFoundError, tomllib.TOMLDecodeError) as err:
        _fail(str(err))
    else:
        typer.echo(str(path))


def main() -> None:
    """Console entry point."""
    try:
        app()
    except KeyboardInterrupt:  # pragma: no cover
        typer.echo("interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":  # pragma: no cover
    main()


# -- reproduce (issue 7): every registered experiment, then the report ------------------------
@app.command("reproduce")
def reproduce_cmd(
    quick: Annotated[
        bool, typer.Option("--quick/--full", help="quick presets (default) or full spec sizes")
    ] = True,
    only: Annotated[
        list[str] | None,
        typer.Option("--only", help="only this family (or experiment); repeatable"),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="results root (default: results/quick or results/full)"),
    ] = None,
    engine: Annotated[str, typer.Option("--engine", help="local | process | dask")] = "local",
    scheduler: Annotated[
        str | None, typer.Option("--scheduler", help="dask scheduler address (--engine dask)")
    ] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", help="parallel workers (process / dask engines)")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="redo complete runs")] = False,
    strict: Annotated[
        bool, typer.Option("--strict", help="also exit 1 if a comparison is outside tolerance")
    ] = False,
    gallery: Annotated[
        Path | None,
        typer.Option("--gallery", help="also write this Markdown gallery (e.g. docs/gallery.md)"),
    ] = None,
) -> None:
    """Run every registered experiment (resumable), then write OUT/report.html and report.md.

    Exit status: 0 when every experiment ran (the report shows each comparison's PASS/FAIL),
    1 when an experiment crashed (or, with --strict, a comparison failed), 2 on bad input.
    """
    from attnlab.report import collect, reproduce
    from attnlab.report._render import fmt_seconds

    if gallery is not None and gallery.suffix.lower() != ".md":
        _fail(f"--gallery expects a Markdown file path (*.md), got {str(gallery)!r}")

    try:
        outcome = reproduce(
            quick=quick,
            only=only,
            out=out,
            engine=engine,
            scheduler=scheduler,
            workers=workers,
            force=force,
        )
    except ParameterError as err:
        _fail(str(err))
        return
    data = collect(outcome.out)
    rows = data.rows
    n_fail = sum(not r.passed for r in rows)
    typer.echo(
        f"{len(outcome.records)} experiment(s) ({len(outcome.crashed)} crashed), "
        f"{len(rows) - n_fail}/{len(rows)} comparisons within tolerance, "
        f"{fmt_seconds(outcome.wall_s)}"
    )
    for rec in outcome.crashed:
        typer.echo(f"crashed: {rec.experiment}: {rec.error}", err=True)
    typer.echo(f"report: {outcome.report_html}")
    typer.echo(f"report: {outcome.report_md}")
    if gallery is not None:
        from attnlab.report import write_gallery

        typer.echo(f"gallery: {write_gallery(outcome.out, gallery)}")
    if outcome.crashed or (strict and n_fail):
        raise typer.Exit(1)
