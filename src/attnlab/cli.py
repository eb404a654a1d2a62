"""The ``attnlab`` command line (typer).

Commands: ``list``, ``show``, ``run``, ``sweep``, ``collect``, ``reproduce``. Every error is
printed as ONE line ``error: ...`` — never a traceback (``attnlab --debug CMD`` or
``ATTNLAB_DEBUG=1`` adds it): bad input (a config value, an unknown experiment, a malformed
``--set``, an unreadable, binary or invalid TOML file, an unreachable or non-dask scheduler, a
run too large for the machine) and OS errors (``--out`` a file, read-only, disk full) exit
with 2; a run that crashed, or with ``--strict`` a run whose verdict is not "passed", exits
with 1. SIGINT / SIGTERM stop any command within seconds with exit 130 / 143, results on disk
consistent (run the same command again to resume). Heavy modules (jax, pandas, dask) are
imported inside the commands.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from attnlab._validate import ParameterError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="attnlab: solvable models of attention, simulation vs theory.",
)

_DEBUG = {"on": bool(os.environ.get("ATTNLAB_DEBUG"))}


@app.callback()
def _root(
    debug: Annotated[
        bool, typer.Option("--debug", help="show the traceback behind an error line")
    ] = False,
) -> None:
    """attnlab: solvable models of attention, simulation vs theory."""
    _DEBUG["on"] = debug or bool(os.environ.get("ATTNLAB_DEBUG"))


def _fail(msg: str, code: int = 2) -> None:
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(code)


def _os_error_line(err: OSError) -> str:
    """``"cannot write results/x: Read-only file system"`` — what failed, on which path."""
    if err.errno is None or not err.strerror:
        return str(err)
    paths = " -> ".join(str(p) for p in (err.filename, err.filename2) if p is not None)
    if err.errno in (errno.EEXIST, errno.ENOTDIR) and paths:
        return f"{paths}: a file is in the way, a directory is needed ({err.strerror})"
    return f"{err.strerror}: {paths}" if paths else err.strerror


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Turn every error inside the block into one ``error: ...`` line (module docstring)."""
    from attnlab.registry import DiscoveryError

    try:
        yield
    except (typer.Exit, KeyboardInterrupt):
        raise
    except ParameterError as err:  # ConfigError and TooLargeError are ParameterErrors
        _debug_traceback()
        _fail(str(err))
    except DiscoveryError as err:
        _debug_traceback()
        _fail(f"{err} (attnlab --debug shows the traceback)", code=1)
    except OSError as err:  # FileNotFoundError("no complete runs ...") included
        _debug_traceback()
        _fail(_os_error_line(err))
    except Exception as err:
        _debug_traceback()
        first = (str(err).strip().splitlines() or [""])[0]
        _fail(
            f"internal error: {type(err).__name__}: {first} (attnlab --debug shows the traceback)",
            code=1,
        )


def _debug_traceback(text: str | None = None) -> None:
    if _DEBUG["on"]:
        typer.echo(text if text is not None else traceback.format_exc(), err=True)


# options shared by several commands
QuickOpt = Annotated[bool, typer.Option("--quick", help="small sizes (seconds)")]
SetOpt = Annotated[
    list[str] | None, typer.Option("--set", help="override KEY=VALUE (TOML literal)")
]
ForceOpt = Annotated[bool, typer.Option("--force", help="redo complete runs")]
AllowLargeOpt = Annotated[
    bool,
    typer.Option("--allow-large", help="run even what exceeds the machine's memory or work limit"),
]
Engine = Literal["local", "process", "dask"]
TimeoutOpt = Annotated[
    float,
    typer.Option("--timeout", help="seconds to wait for a dask scheduler and its first worker"),
]


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
) -> None:
    """Run one experiment and store it under OUT/<name>-<hash>/.

    Config = defaults, then the --quick preset, then --config FILE, then each --set.
    """
    from attnlab.config import load_toml_file, parse_overrides
    from attnlab.registry import get_experiment
    from attnlab.store import load_run
    from attnlab.sweep import Task, run_tasks

    with user_errors():
        exp = get_experiment(name)
        values = load_toml_file(config) if config is not None else {}
        values.update(parse_overrides(set_ or []))
        exp.make_config(values, quick=quick)  # a bad value fails here, before any work
        (outcome,) = run_tasks(
            [Task(exp.name, values, quick, out)],
            progress=False,
            force=force,
            allow_large=allow_large,
            log=typer.echo,
        )
        if outcome.status == "failed":
            _debug_traceback(outcome.traceback)
            _fail(f"{exp.name} failed: {outcome.error} (attnlab --debug shows the traceback)", 1)
        if outcome.status == "skipped":
            typer.echo(f"{exp.name}: complete at {outcome.path}, skipped (use --force to redo)")
        else:
            typer.echo(f"{exp.name}: done in {outcome.wall_s:.1f}s -> {outcome.path}")
        stored = load_run(outcome.path)
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
    for reason in result.reasons[1:3]:
        typer.echo(f"  {reason}")


@app.command("sweep")
def sweep_cmd(
    file: Annotated[Path, typer.Argument(help="sweep TOML file (experiment, \\[base], \\[grid])")],
    engine: Annotated[Engine, typer.Option("--engine", help="where the points run")] = "local",
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
    progress: Annotated[bool, typer.Option(help="show a progress bar")] = True,
    strict: Annotated[
        bool, typer.Option("--strict", help="exit 1 unless every point's verdict is PASSED")
    ] = False,
    yes: Annotated[
        bool, typer.Option("--yes", help="run a sweep larger than --max-points")
    ] = False,
    max_points: Annotated[
        int | None,
        typer.Option("--max-points", help="refuse more points without --yes (default 1000)"),
    ] = None,
    allow_large: AllowLargeOpt = False,
    timeout: TimeoutOpt = 30.0,
) -> None:
    """Run every point of a grid of one experiment (resumable: complete points are skipped)."""
    from attnlab.sweep import Sweep, check_size, load_sweep_file, run_tasks

    with user_errors():
        sweep = load_sweep_file(file)
        if quick:
            sweep = Sweep(sweep.experiment, sweep.grid, sweep.base, True, sweep.out)
        typer.echo(f"sweep: {sweep.size} points of {sweep.experiment}")
        check_size(sweep.size, max_points=max_points, yes=yes)
        tasks = sweep.tasks(out)
        outcomes = run_tasks(
            tasks,
            engine=engine,
            scheduler=scheduler,
            workers=workers,
            progress=progress,
            force=force,
            allow_large=allow_large,
            timeout=timeout,
        )
    runs = list({id(o): o for o in outcomes}.values())  # duplicate points share an outcome
    failed = [o for o in runs if not o.completed]
    for o in failed:
        typer.echo(f"error: {o.path.name if o.path else o.task.experiment}: {o.error}", err=True)
    root = tasks[0].out if tasks else out
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


def main() -> None:
    """Console entry point: one-line errors, exit 130 / 143 on SIGINT / SIGTERM."""
    from attnlab import _signals

    code: Any = 0
    with _signals.handling():
        try:
            rv = app(standalone_mode=False)
            code = rv if isinstance(rv, int) else 0
        except KeyboardInterrupt:
            code = 130
        except typer.Abort:
            code = 1
        except SystemExit as err:
            code = err.code
        except Exception as err:
            if hasattr(err, "format_message") and hasattr(err, "exit_code"):
                # a usage error (click's, as vendored by typer): one line too
                message = err.format_message().replace("Value error, ", "")
                typer.echo(f"error: {message} (see --help)", err=True)
                code = err.exit_code
            else:  # pragma: no cover - user_errors catches everything inside commands
                _debug_traceback()
                typer.echo(f"error: internal error: {type(err).__name__}: {err}", err=True)
                code = 1
    signum = _signals.received()
    if signum is not None:
        _signals.exit_now(
            _signals.exit_code(signum),
            f"interrupted ({_signal_name(signum)}): results on disk are consistent; "
            "run the same command again to resume",
        )
    sys.exit(code)


def _signal_name(signum: int) -> str:
    import signal

    return signal.Signals(signum).name


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
    engine: Annotated[Engine, typer.Option("--engine", help="where the runs go")] = "local",
    scheduler: Annotated[
        str | None, typer.Option("--scheduler", help="dask scheduler address (--engine dask)")
    ] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", help="parallel workers (process / dask engines)")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="redo complete runs")] = False,
    strict: Annotated[
        bool, typer.Option("--strict", help="exit 1 unless every run's verdict is PASSED")
    ] = False,
    gallery: Annotated[
        Path | None,
        typer.Option("--gallery", help="also write this Markdown gallery (e.g. docs/gallery.md)"),
    ] = None,
    allow_large: AllowLargeOpt = False,
    timeout: TimeoutOpt = 30.0,
) -> None:
    """Run every registered experiment (resumable), then write OUT/report.html and report.md.

    Exit status: 0 when every experiment ran (the report shows each comparison's PASS/FAIL),
    1 when an experiment crashed (or, with --strict, a run's verdict is not PASSED: a failed,
    uninformative, invalid or dropped row, or no row at all), 2 on bad input.
    """
    from attnlab.report import reproduce
    from attnlab.report._render import fmt_seconds

    if gallery is not None and gallery.suffix.lower() != ".md":
        _fail(f"--gallery expects a Markdown file path (*.md), got {str(gallery)!r}")

    with user_errors():
        outcome = reproduce(
            quick=quick,
            only=only,
            out=out,
            engine=engine,
            scheduler=scheduler,
            workers=workers,
            force=force,
            allow_large=allow_large,
            timeout=timeout,
        )
    verdicts = [r.verdict or {} for r in outcome.records]
    n_rows = sum(sum((v.get("counts") or {}).get(k, 0) for k in _ROW_KINDS) for v in verdicts)
    n_pass = sum((v.get("counts") or {}).get("pass", 0) for v in verdicts)
    typer.echo(
        f"{len(outcome.records)} experiment(s) ({len(outcome.crashed)} crashed), "
        f"{n_pass}/{n_rows} comparisons within tolerance, "
        f"{len(outcome.records) - len(outcome.not_passed)}/{len(outcome.records)} runs PASSED, "
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


_ROW_KINDS = ("pass", "fail", "uninformative", "invalid")


if __name__ == "__main__":  # pragma: no cover
    main()
