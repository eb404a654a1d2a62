"""``attnlab list``, ``show`` and ``run``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from attnlab.cli._app import (
    AllowLargeOpt,
    DpiOpt,
    ForceOpt,
    FormatOpt,
    NoProgressOpt,
    QuickOpt,
    SetOpt,
    StyleOpt,
    app,
    debug_traceback,
    fail,
    figure_options,
    user_errors,
)


@app.command("list")
def list_cmd(
    names: Annotated[bool, typer.Option("--names", help="names only, one per line")] = False,
) -> None:
    """Show every registered experiment with a one-line description."""
    from attnlab.registry import all_experiments

    with user_errors():
        exps = all_experiments()
    for name, exp in exps.items():
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
    allow_large: AllowLargeOpt = False,
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
    from attnlab.store import load_run
    from attnlab.sweep import Task, run_tasks

    with user_errors():
        exp = get_experiment(name)
        values = load_toml_file(config) if config is not None else {}
        values.update(parse_overrides(set_ or []))
        exp.make_config(values, quick=quick)  # a bad value fails here, before any work
        figs = figure_options(formats, dpi, style)
        with Display(exp.name, enabled=not no_progress) as display, display.reporting():
            (outcome,) = run_tasks(
                [Task(exp.name, values, quick, out, figs)],
                progress=False,
                force=force,
                allow_large=allow_large,
                log=display.log,
            )
        if outcome.status == "failed":
            debug_traceback(outcome.traceback)
            fail(f"{exp.name} failed: {outcome.error} (attnlab --debug shows the traceback)", 1)
        if outcome.status == "skipped":
            typer.echo(f"{exp.name}: complete at {outcome.path}, skipped (use --force to redo)")
        else:
            typer.echo(f"{exp.name}: done in {outcome.wall_s:.1f}s -> {outcome.path}")
        stored = load_run(outcome.path)
    echo_verdict(stored.result)
    typer.echo(str(stored.path))
    if strict and not stored.result.passed:
        raise typer.Exit(1)


def echo_verdict(result: Any) -> None:
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
    more = " …" if len(result.reasons) > 1 else ""
    typer.echo(
        f"{counts['pass']}/{len(result.comparisons)} comparisons within tolerance; "
        f"run {result.status.upper()}" + (f" ({result.reasons[0]}{more})" if result.reasons else "")
    )
    for reason in result.reasons[1:3]:
        typer.echo(f"  {reason}")
