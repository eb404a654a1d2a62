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
def list_cmd(
    names: Annotated[bool, typer.Option("--names", help="names only, one per line")] = False,
) -> None:
    """Show every registered experiment with a one-line description."""
    from attnlab.registry import all_experiments

    for name, exp in all_experiments().items():
        typer.echo(name if names else f"{name:32s} [{exp.family}] {exp.description}")


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
