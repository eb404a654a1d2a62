"""The typer application, its error handling and the options shared by several commands.

Every error is printed as ONE line ``error: ...`` — never a traceback (``attnlab --debug CMD`` or
``ATTNLAB_DEBUG=1`` adds it): bad input (a config value, an unknown experiment, a malformed
``--set``, an unreadable, binary or invalid TOML file, an unreachable or non-dask scheduler, a
run too large for the machine) and OS errors (``--out`` a file, read-only, disk full) exit
with 2; a run that crashed, or with ``--strict`` a run whose verdict is not "passed", exits
with 1. SIGINT / SIGTERM stop any command within seconds with exit 130 / 143, results on disk
consistent (run the same command again to resume).
"""

from __future__ import annotations

import contextlib
import enum
import errno
import os
import sys
import traceback
from collections.abc import Iterator
from typing import Annotated, Any

import typer

from attnlab._validate import ParameterError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="attnlab: solvable models of attention, simulation vs theory.",
)

_DEBUG = {"on": bool(os.environ.get("ATTNLAB_DEBUG"))}


def _print_version(value: bool) -> None:
    if value:
        from attnlab import __version__

        typer.echo(f"attnlab {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: Annotated[
        bool, typer.Option("--debug", help="show the traceback behind an error line")
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="print the version and exit"
        ),
    ] = False,
) -> None:
    """attnlab: solvable models of attention, simulation vs theory."""
    _DEBUG["on"] = debug or bool(os.environ.get("ATTNLAB_DEBUG"))


def fail(msg: str, code: int = 2) -> None:
    """Print ``error: msg`` and exit with ``code``."""
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
        debug_traceback()
        fail(str(err))
    except DiscoveryError as err:
        debug_traceback()
        fail(f"{err} (attnlab --debug shows the traceback)", code=1)
    except OSError as err:  # FileNotFoundError("no complete runs ...") included
        debug_traceback()
        fail(_os_error_line(err))
    except Exception as err:
        debug_traceback()
        first = (str(err).strip().splitlines() or [""])[0]
        fail(
            f"internal error: {type(err).__name__}: {first} (attnlab --debug shows the traceback)",
            code=1,
        )


def debug_traceback(text: str | None = None) -> None:
    """With ``--debug``: print ``text`` (default: the current exception's traceback)."""
    if _DEBUG["on"]:
        typer.echo(text if text is not None else traceback.format_exc(), err=True)


# -- options shared by several commands -------------------------------------------------------
QuickOpt = Annotated[bool, typer.Option("--quick", help="small sizes (seconds)")]
SetOpt = Annotated[
    list[str] | None, typer.Option("--set", help="override KEY=VALUE (TOML literal)")
]
ForceOpt = Annotated[bool, typer.Option("--force", help="redo complete runs")]
AllowLargeOpt = Annotated[
    bool,
    typer.Option("--allow-large", help="run even what exceeds the machine's memory or work limit"),
]


class Engine(enum.StrEnum):
    """Where the runs go (an Enum: typer < 0.15 cannot build options from Literal types)."""

    local = "local"
    process = "process"
    dask = "dask"


EngineOpt = Annotated[Engine, typer.Option("--engine", help="where the runs go")]
SchedulerOpt = Annotated[
    str | None,
    typer.Option("--scheduler", help="dask scheduler address or scheduler file (--engine dask)"),
]
WorkersOpt = Annotated[
    int | None, typer.Option("--workers", help="parallel workers (process / dask engines)")
]
StrictOpt = Annotated[
    bool, typer.Option("--strict", help="exit 1 unless every run's verdict is PASSED")
]
TimeoutOpt = Annotated[
    float,
    typer.Option("--timeout", help="seconds to wait for a dask scheduler and its first worker"),
]
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
SingleFileOpt = Annotated[
    bool,
    typer.Option(
        "--single-file",
        help="write report.html as one self-contained file (figures, math embedded)",
    ),
]


class FigureStyle(enum.StrEnum):
    """The figure styles of :mod:`attnlab.plot` (an Enum, so that --help lists them)."""

    paper = "paper"
    talk = "talk"


StyleOpt = Annotated[
    FigureStyle | None,
    typer.Option("--style", help="figure style: paper (a column of a paper) or talk (slides)"),
]


def engine_options(
    engine: str, scheduler: Any, workers: Any, force: bool, allow_large: bool, timeout: Any
) -> dict[str, Any]:
    """The keywords shared by the commands that run tasks (``run_tasks``, ``reproduce``): the
    engine and its resources, forcing, the size guard and the per-task timeout; progress is
    drawn by the command's own display."""
    return {
        "engine": Engine(engine).value,
        "scheduler": scheduler,
        "workers": workers,
        "force": force,
        "allow_large": allow_large,
        "timeout": timeout,
        "progress": False,
    }


def figure_options(
    formats: str | None, dpi: int | None, style: str | None, base: Any = None
) -> Any:
    """:class:`attnlab.plot.FigureOptions` from the command line, on top of ``base``."""
    from attnlab._validate import check_choice
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


def main() -> None:
    """Console entry point: one-line errors, exit 130 / 143 on SIGINT / SIGTERM; compiled
    programs cached between runs (:mod:`attnlab.cli._cache`)."""
    from attnlab import _signals
    from attnlab.cli._cache import enable_compile_cache

    enable_compile_cache()

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
                debug_traceback()
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
