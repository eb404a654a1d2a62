"""The terminal display: progress with ETA on a terminal, one line per run elsewhere.

The end-to-end test drives ``attnlab run`` under a pseudo-terminal (``pty``) with the demo
experiment slowed down (``sleep_s`` spread over its 20 tracked chunks of replicates) and reads
what a user would see.
"""

from __future__ import annotations

import io
import os
import re
import select
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest
from typer.testing import CliRunner

from attnlab import progress
from attnlab._display import Display, _eta_seconds, format_eta
from attnlab.cli import app

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
ETA = re.compile(r"(\d+)/50 \S+ ETA (\d+):(\d\d):(\d\d)")

pty = pytest.importorskip("pty", reason="pseudo-terminals need a POSIX system")


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def run_in_terminal(args: list[str], env: dict[str, str], timeout: float = 240) -> tuple[str, int]:
    """Run ``python -m attnlab ARGS`` attached to a 120×40 pseudo-terminal; (output, status).

    The child is started by ``subprocess`` (no ``os.fork`` of this process, whose jax threads
    make forking unsafe) with the terminal's slave end as stdin, stdout and stderr.
    """
    import fcntl
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "attnlab", *args], stdin=slave, stdout=slave, stderr=slave, env=env
    )
    os.close(slave)
    out, deadline = b"", time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if not ready:
            if proc.poll() is not None:
                break
            continue
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: every slave end is closed, the child is gone
            break
        if not chunk:
            break
        out += chunk
    else:
        proc.kill()
    code = proc.wait(timeout=30)
    os.close(master)
    return out.decode(errors="replace"), code


def test_run_under_a_terminal_shows_an_eta_before_it_ends(subprocess_env, tmp_path: Path):
    args = ["run", "demo-mean", "--quick", "--set", "sleep_s=3", "--out", str(tmp_path)]
    raw, code = run_in_terminal(args, {**subprocess_env, "TERM": "xterm"})
    text = ANSI.sub("", raw)
    assert code == 0, text[-2000:]
    done = text.index("demo-mean: done in")
    etas = [m for m in ETA.finditer(text) if m.start() < done]
    assert etas, f"no 'k/50 … ETA h:mm:ss' before the end of the run:\n{text[-3000:]}"
    # a bar part-way (0 < k < 50) with a finite ETA: the 3 s of sleep spread over the 50
    # replicates leave at most 3 s plus the compute of the remaining chunks; 60 s is the
    # bound of a sane estimate on a loaded machine (a broken one says ? or hours)
    partway = [m for m in etas if 0 < int(m[1]) < 50]
    assert partway, [m[0] for m in etas]
    seconds = [int(m[2]) * 3600 + int(m[3]) * 60 + int(m[4]) for m in partway]
    assert max(seconds) <= 60, seconds
    assert "replicates" in text and "2/2 comparisons within tolerance" in text


def test_no_progress_under_a_terminal_prints_lines_only(subprocess_env, tmp_path: Path):
    args = ["run", "demo-mean", "--quick", "--no-progress", "--out", str(tmp_path)]
    raw, code = run_in_terminal(args, {**subprocess_env, "TERM": "xterm"})
    assert code == 0, raw[-2000:]
    assert "ETA" not in raw and "\x1b[?25l" not in raw  # no bar, cursor never hidden
    assert raw.count("demo-mean: done in") == 1


def test_without_a_terminal_only_one_line_per_run(tmp_path: Path):
    res = CliRunner().invoke(app, ["run", "demo-mean", "--quick", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert "ETA" not in res.output and "\x1b[" not in res.output
    assert res.output.count("demo-mean: done in") == 1


def test_sweep_without_a_terminal_prints_one_line_per_point(tmp_path: Path):
    sweep = tmp_path / "grid.toml"
    sweep.write_text('experiment = "demo-mean"\nquick = true\n[grid]\nn = [10, 20]\n')
    args = ["sweep", str(sweep), "--out", str(tmp_path / "out")]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert len(re.findall(r"^ran +demo-mean-\w{12} .*PASSED$", res.output, flags=re.M)) == 2
    res = CliRunner().invoke(app, args)  # resumed: both points complete
    assert len(re.findall(r"^skipped +demo-mean-\w{12} +\(complete\) ", res.output, re.M)) == 2


def test_a_live_display_nests_tracked_work_under_the_runs():
    term = FakeTerminal()
    with Display("reproduce", total=3, stream=term) as display, display.reporting():
        assert display.live and progress.active()
        assert len(progress.chunks(100)) > 1  # someone listens: loops are chunked
        display.on_start("first")
        with progress.track("steps × seeds", 10) as bar:
            bar.advance(4)
            assert len(display._depth) == 1
        assert display._depth == {}  # a finished computation leaves no bar
        display.on_done("first", "ran      first")
    text = ANSI.sub("", term.getvalue())
    assert "ran      first" in text and "1/3" in text and "reproduce" in text


def test_a_quiet_display_listens_to_nothing_and_prints_lines():
    out = io.StringIO()  # not a terminal
    with Display("sweep", total=2, stream=out) as display, display.reporting():
        assert not display.live and not progress.active()
        assert progress.chunks(100) == [100]  # one compiled loop when nobody listens
        with progress.track("steps", 10) as bar:
            bar.advance(10)
        display.on_start("a")
        display.on_done("a", "ran      a")
    assert out.getvalue() == "ran      a\n"
    term = FakeTerminal()
    with Display("run", stream=term, enabled=False) as display:  # --no-progress
        assert not display.live
        display.log("done")
    assert term.getvalue() == "done\n"


def test_eta_is_remaining_over_rate():
    assert format_eta(3725) == "ETA 1:02:05" and format_eta(None) == "ETA ?"
    task = types.SimpleNamespace(
        total=10, completed=4, finished=False, speed=2.0, fields={"reported_at": 100.0}
    )
    assert _eta_seconds(task, now=100.0) == pytest.approx(3.0)  # 6 left at 2 per second
    assert _eta_seconds(task, now=101.0) == pytest.approx(2.0)  # counts down meanwhile
    assert _eta_seconds(task, now=110.0) == 0.0
    task.speed = None  # fewer than two reports: unknown (the first chunk also compiled)
    assert _eta_seconds(task) is None
    task.finished = True
    assert _eta_seconds(task) == 0.0
    task.total = None
    assert _eta_seconds(task) is None


def test_the_cli_help_lists_the_output_options():
    for command in ("run", "sweep", "reproduce"):
        res = CliRunner().invoke(app, [command, "--help"], terminal_width=200)
        text = ANSI.sub("", res.output)
        for option in ("--no-progress", "--format", "--dpi", "--style"):
            assert option in text, (command, option)
    text = ANSI.sub("", CliRunner().invoke(app, ["reproduce", "--help"]).output)
    assert "--single-file" in text


def test_bad_figure_options_are_one_line_errors(tmp_path: Path):
    for args, message in (
        (["--format", "png,gif"], "--format = 'gif' is not one of 'png', 'pdf', 'svg'"),
        (["--dpi", "10"], "dpi = 10"),
    ):
        res = CliRunner().invoke(
            app, ["run", "demo-mean", "--quick", "--out", str(tmp_path), *args]
        )
        assert res.exit_code == 2 and message in res.output, res.output
        assert "Traceback" not in res.output


def test_subprocess_sanity(subprocess_env):
    """The child interpreter imports this checkout's attnlab (not another copy)."""
    code = "import attnlab, sys; print(attnlab.__file__)"
    res = subprocess.run([sys.executable, "-c", code], env=subprocess_env, capture_output=True)
    assert Path(res.stdout.decode().strip()).is_relative_to(Path(__file__).parents[2] / "src")


def test_iterate_reports_one_unit_per_item():
    term = FakeTerminal()
    with Display("run", stream=term) as display, display.reporting():
        seen = []
        for x in progress.iterate([3, 1, 2], "fits"):
            (handle,) = display._depth
            seen.append((x, display._progress._tasks[handle].completed))
    assert seen == [(3, 0), (1, 1), (2, 2)]  # advanced after each item
    assert list(progress.iterate(iter([1, 2]), "no listener")) == [1, 2]
