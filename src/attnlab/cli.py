"""The ``attnlab`` command line (typer).

Commands: ``list``, ``show``, ``run``, ``sweep``, ``collect`` (more are appended as blocks of
the same shape). Errors in user input (a bad config value, an unknown experiment, a malformed
``--set``, an unreadable or invalid TOML file, an unreachable scheduler) are printed as ONE line
``error: ...`` with exit code 2 — never a traceback. Heavy modules (jax, pandas, dask) are
imported inside the commands.
"""

from __future__ import annotations

import contextlib
import enum
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from attnlab._validate import ParameterError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="attnlab: solvable models of attention, simulation vs theory.",
)


def _print_version(value: bool) -> None:
    if value:
        from attnlab import __version__

        typer.echo(f"attnlab {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="print the version and exit"
        ),
    ] = False,
) -> None:
    """attnlab: solvable models of attention, simulation vs theory."""


def _fail(msg: str) -> None:
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(2)


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Turn errors caused by user input into one ``error: ...`` line and exit code 2."""
    try:
        yield
    except (ParameterError, FileNotFoundError) as err:  # ConfigError is a ParameterError
        _fail(str(err))


# options shared by several commands
QuickOpt = Annotated[bool, typer.Option("--quick", help="small sizes (seconds)")]
SetOpt = Annotated[
    list[str] | None, typer.Option("--set", help="override KEY=VALUE (TOML literal)")
]
ForceOpt = Annotated[bool, typer.Option("--force", help="redo complete runs")]
NoProgressOpt = Annotated[
    bool,
    typer.Option(
        "--no-progress", help="no progress bars (only one line per finished run is printed)"
    ),
]
FormatOpt = Annotated[
    str | None,
    typer.Option(
        "--format", help="figure formats, comma-separated from png,pdf,svg (default png,pdf)"
    ),
]
DpiOpt = Annotated[
    int | None, typer.Option("--dpi", help="PNG resolution in dots per inch (default 200)")
]


class FigureStyle(enum.StrEnum):
    """The figure styles of :mod:`attnlab.plot` (an Enum, so that --help lists them)."""

    paper = "paper"
    talk = "talk"


StyleOpt = Annotated[
    FigureStyle | None,
    typer.Option("--style", help="figure style: paper (a column of a paper) or talk (slides)"),
]


def figure_options(
    formats: str | None, dpi: int | None, style: str | None, base: Any = None
) -> Any:
    """:class:`attnlab.plot.FigureOptions` from the command line, on top of ``base``."""
    from attnlab._validate import ParameterError, check_choice
    from attnlab.plot import FORMATS, FigureOptions

    values = base.to_dict() if base is not None else {}
    if formats is not None:
        values["formats"] = [f.strip().lower() for f in formats.split(",") if f.strip()]
        if not values["formats"]:
            raise ParameterError(f"--format = {formats!r}: name at least one of png, pdf, svg")
        for fmt in values["formats"]:
            check_choice("--format", fmt, FORMATS)
    if dpi is not None:
        values["dpi"] = dpi
    if style is not None:
        values["style"] = FigureStyle(style).value
    return FigureOptions(**values)


@app.command("list")
def list_cmd(
    names: Annotated[bool, typer.Option("--names", help="names only, one per line")] = False,
) -> None:
    """Show every registered experiment with a one-line description."""
    from attnlab.registry import all_experiments

    for name, exp in all_experiments().items():
        typer.echo(name if names else f"{name:32s} [{exp.family}] {exp.description}")


@app.command("show")
def show_cmd(
    name: Annotated[str, typer.Argument(help="experiment name (see `attnlab list`)")],
) -> None:
    """Show an experiment's config fields: type, default, --quick value, valid range."""
    from attnlab.config import describe_fields
    from attnlab.registry import get_experiment

    with user_errors():
        exp = get_experiment(name)
    typer.echo(f"{exp.name} [{exp.family}]: {exp.description}")
    typer.echo(f"config {exp.config_cls.__name__} (override with --set FIELD=VALUE):")
    for f in describe_fields(exp.config_cls):
        quick = f"  (--quick: {exp.quick[f['name']]!r})" if f["name"] in exp.quick else ""
        rng = f"  in {f['range']}" if f["range"] else ""
        typer.echo(f"  {f['name']}: {f['type']} = {f['default']!r}{quick}{rng}")
        if f["description"]:
            typer.echo(f"      {f['description']}")


@app.command("run")
def run_cmd(
    name: Annotated[str, typer.Argument(help="experiment name (see `attnlab list`)")],
    quick: QuickOpt = False,
    set_: SetOpt = None,
    config: Annotated[
        Path | None, typer.Option("--config", help="TOML file of config fields")
    ] = None,
    out: Annotated[Path, typer.Option("--out", help="results root directory")] = Path("results"),
    force: ForceOpt = False,
    strict: Annotated[
        bool,
        typer.Option("--strict", help="exit 1 unless every comparison passes (none empty)"),
    ] = False,
    no_progress: NoProgressOpt = False,
    formats: FormatOpt = None,
    dpi: DpiOpt = None,
    style: StyleOpt = None,
) -> None:
    """Run one experiment and store it under OUT/<name>-<hash>/.

    Config = defaults, then the --quick preset, then --config FILE, then each --set.
    """
    from attnlab._display import Display
    from attnlab.config import load_toml_file, parse_overrides
    from attnlab.registry import get_experiment
    from attnlab.store import run_experiment

    with user_errors():
        exp = get_experiment(name)
        values = load_toml_file(config) if config is not None else {}
        values.update(parse_overrides(set_ or []))
        cfg = exp.make_config(values, quick=quick)
        figs = figure_options(formats, dpi, style)
        with Display(exp.name, enabled=not no_progress) as display, display.reporting():
            stored = run_experiment(exp, cfg, out=out, force=force, figures=figs, log=display.log)
    _echo_verdict(stored.result)
    typer.echo(str(stored.path))
    if strict and not stored.result.passed:
        raise typer.Exit(1)


def _echo_verdict(result: Any) -> None:
    """One line per theory-vs-simulation comparison of a run, the dropped rows, the verdict."""
    for c in result.comparisons:
        where = f" [{c.where}]" if c.where else ""
        typer.echo(
            f"  {c.status.upper():13s} {c.quantity}{where}: theory {c.theory:.6g}, "
            f"simulation {c.simulation:.6g}, |diff| {abs(c.difference):.3g}, "
            f"tol {c.tolerance:.3g}"
        )
    for d in result.dropped:
        where = f" [{d.where}]" if d.where else ""
        typer.echo(f"  DROPPED       {d.quantity}{where}: {d.reason}")
    counts = result.counts
    typer.echo(
        f"{counts['pass']}/{len(result.comparisons)} comparisons within tolerance; "
        f"run {result.status.upper()}"
        + (
            f" ({result.reasons[0]}{' …' if len(result.reasons) > 1 else ''})"
            if result.reasons
            else ""
        )
    )


@app.command("sweep")
def sweep_cmd(
    file: Annotated[Path, typer.Argument(help="sweep TOML file (experiment, [base], [grid])")],
    engine: Annotated[str, typer.Option("--engine", help="local | process | dask")] = "local",
    scheduler: Annotated[
        str | None,
        typer.Option("--scheduler", help="dask scheduler address or scheduler file"),
    ] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", help="processes (process engine, LocalCluster)")
    ] = None,
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
    formats: FormatOpt = None,
    dpi: DpiOpt = None,
    style: StyleOpt = None,
) -> None:
    """Run every point of a grid of one experiment (resumable: complete points are skipped).

    Figures: the sweep file's [figures] table, then --format, --dpi, --style.
    """
    import dataclasses

    from attnlab._display import Display
    from attnlab.sweep import SweepError, load_sweep_file, run_tasks

    with user_errors():
        sweep = load_sweep_file(file)
        if quick:
            sweep = dataclasses.replace(sweep, quick=True)
        figs = figure_options(formats, dpi, style, base=sweep.figures)
        tasks = [dataclasses.replace(t, figures=figs) for t in sweep.tasks(out)]
        n_runs = len({t.run_dir() for t in tasks})
        try:
            with (
                Display(
                    tasks[0].experiment if tasks else "sweep", total=n_runs, enabled=progress
                ) as display,
                display.reporting(),
            ):
                dirs = run_tasks(
                    tasks,
                    engine=engine,
                    scheduler=scheduler,
                    workers=workers,
                    progress=False,
                    force=force,
                    on_start=display.on_start,
                    on_done=display.on_done,
                )
        except SweepError as err:
            typer.echo(f"error: {err}", err=True)
            raise typer.Exit(1) from None
    root = tasks[0].out if tasks else out
    typer.echo(f"{len(set(dirs))} points complete under {root}")


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

    with user_errors():
        table = collect(directory, what="summary" if summary else "rows")
        path = write_table(table, out if out is not None else directory / "collected.parquet")
    n_runs = table["run"].nunique()
    typer.echo(f"{len(table)} rows from {n_runs} runs -> {path}")


@app.command("report")
def report_cmd(
    directory: Annotated[Path, typer.Argument(help="results root holding run directories")],
    single_file: Annotated[
        bool,
        typer.Option(
            "--single-file",
            help="write report.html as one self-contained file (figures, math embedded)",
        ),
    ] = False,
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
    no_progress: NoProgressOpt = False,
    formats: FormatOpt = None,
    dpi: DpiOpt = None,
    style: StyleOpt = None,
    single_file: Annotated[
        bool,
        typer.Option(
            "--single-file",
            help="write report.html as one self-contained file (figures, math embedded)",
        ),
    ] = False,
) -> None:
    """Run every registered experiment (resumable), then write OUT/report.html and report.md.

    Exit status: 0 when every experiment ran (the report shows each comparison's PASS/FAIL),
    1 when an experiment crashed (or, with --strict, a comparison failed), 2 on bad input.
    """
    from attnlab._display import Display
    from attnlab.report import reproduce, select_experiments

    if gallery is not None and gallery.suffix.lower() != ".md":
        _fail(f"--gallery expects a Markdown file path (*.md), got {str(gallery)!r}")

    try:
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
                engine=engine,
                scheduler=scheduler,
                workers=workers,
                force=force,
                progress=False,
                figures=figs,
                on_start=display.on_start,
                on_done=display.on_done,
            )
        if single_file:  # the same report, rewritten with its figures embedded
            from attnlab.report import write_report

            write_report(outcome.out, single_file=True)
    except ParameterError as err:
        _fail(str(err))
        return
    _reproduce_summary(outcome, gallery=gallery, strict=strict)


def _reproduce_summary(outcome: Any, *, gallery: Path | None, strict: bool) -> None:
    """The closing lines of ``reproduce``, the gallery, and the exit status."""
    from attnlab.report import collect
    from attnlab.report._format import attention
    from attnlab.report._render import fmt_seconds

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
    # --strict: anything that is not a pass — failed, invalid, uninformative or dropped rows,
    # experiments that compared nothing
    not_passed = [a for a in attention(data) if a.kind not in ("crashed", "missing")]
    if outcome.crashed or (strict and not_passed):
        raise typer.Exit(1)
