"""Clean interrupts: SIGINT / SIGTERM stop a command within seconds, and workers die with it.

:func:`handling` (used by the command line) turns the first SIGINT or SIGTERM into an
:class:`Interrupted` exception (a ``KeyboardInterrupt``) in the main thread, so the runner can
stop its engine and the store can remove its temp directory; the command then leaves with
:func:`exit_now` (exit status 130 for SIGINT, 143 for SIGTERM) *without* interpreter
finalisation, which with jax/XLA threads still alive can crash (segfault) at teardown.

A signal that lands while the main thread is inside a long compiled call (where Python cannot
raise) is still seen: the C-level handler writes its number to a wake-up pipe that a watchdog
thread reads; if the command has not finished ``grace`` seconds later, the watchdog exits the
process itself. A second signal exits at once. Every result on disk stays consistent either way
(the store writes atomically), so the command can simply be run again to resume.

Worker processes call :func:`die_with_parent`: on Linux the kernel kills them when their parent
dies, even by SIGKILL (``prctl(PR_SET_PDEATHSIG)``); elsewhere a thread polls the parent.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

__all__ = [
    "Interrupted",
    "deferred",
    "die_with_parent",
    "exit_code",
    "exit_now",
    "handling",
    "received",
]

_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_received: list[int] = []


class Interrupted(KeyboardInterrupt):
    """Raised in the main thread by the first SIGINT or SIGTERM (``signum`` says which)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def exit_code(signum: int) -> int:
    """The shell's convention: 128 + the signal number (130 for SIGINT, 143 for SIGTERM)."""
    return 128 + int(signum)


def received() -> int | None:
    """The first SIGINT/SIGTERM received while :func:`handling` was active, if any."""
    return _received[0] if _received else None


def exit_now(code: int, message: str | None = None) -> None:
    """Print ``message`` to stderr, flush, and leave with ``code`` without finalisation."""
    with contextlib.suppress(Exception):
        if message:
            sys.stderr.write(message.rstrip("\n") + "\n")
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)


# Functions in which Python prints and drops an exception instead of propagating it (a garbage
# collector callback, a finaliser): raising there would lose the interrupt and print a traceback.
_SWALLOWING = frozenset({"_xla_gc_callback", "__del__"})


def _swallows_exceptions(frame: Any) -> bool:
    """Whether one of the innermost frames is a context that drops exceptions."""
    for _ in range(4):
        if frame is None:
            return False
        if frame.f_code.co_name in _SWALLOWING:
            return True
        frame = frame.f_back
    return False


def _handler(signum: int, frame: Any) -> None:
    if _received:  # a second signal: the user insists
        exit_now(exit_code(_received[0]), f"{signal.Signals(signum).name} again: exiting now")
    if _swallows_exceptions(frame):  # deliver it again once that context has returned
        threading.Timer(0.05, os.kill, (os.getpid(), signum)).start()
        return
    _received.append(signum)
    raise Interrupted(signum)


def _watchdog(read_fd: int, grace: float, done: threading.Event) -> None:
    """Wait for a signal number on the wake-up pipe; exit if the command outlives ``grace``."""
    while True:
        try:
            data = os.read(read_fd, 64)
        except OSError:
            return
        if not data or done.is_set():
            return
        signums = [b for b in data if b in _SIGNALS]
        if signums:
            break
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if done.wait(0.1):
            return
    exit_now(
        exit_code(signums[0]),
        f"interrupted ({signal.Signals(signums[0]).name}): still busy {grace:g} s later, "
        "exiting now (results on disk are consistent; rerun to resume)",
    )


@contextlib.contextmanager
def handling(grace: float = 3.0) -> Iterator[None]:
    """Within the block, SIGINT/SIGTERM raise :class:`Interrupted` (see the module docstring).

    Only effective in the main thread (signals are delivered there); elsewhere a no-op."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _received.clear()
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    done = threading.Event()
    old_handlers = {s: signal.signal(s, _handler) for s in _SIGNALS}
    old_fd = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    watcher = threading.Thread(
        target=_watchdog, args=(read_fd, grace, done), name="attnlab-signal-watchdog", daemon=True
    )
    watcher.start()
    try:
        yield
    finally:
        done.set()
        signal.set_wakeup_fd(old_fd)
        for s, h in old_handlers.items():
            signal.signal(s, h)
        os.close(write_fd)  # wakes the watchdog (end of file)
        watcher.join(timeout=1)
        with contextlib.suppress(OSError):
            os.close(read_fd)


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Hold SIGINT/SIGTERM back for the block, then act on the first one that arrived.

    For the short steps that must not be cut in two: creating a temporary file or directory
    together with recording its name for cleanup, and that cleanup itself. A signal that lands
    inside the block is recorded; when the block ends, the handler that was in place before
    (:func:`handling`'s, or Python's ``KeyboardInterrupt``) is called with it, so the interrupt
    surfaces just after the block instead of in the middle of it. Only signals with a Python
    handler are held (a default action such as SIGTERM's termination is left alone); outside
    the main thread, where Python runs no signal handler, the block runs as it is.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    replaced = {s: h for s in _SIGNALS if callable(h := signal.getsignal(s))}
    for s in replaced:
        signal.signal(s, lambda signum, frame: held.append(signum))
    try:
        yield
    finally:
        for s, handler in replaced.items():
            signal.signal(s, handler)
        if held:
            replaced[held[0]](held[0], None)


_PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int | None = None) -> None:
    """Make this process die with its parent (call it first thing in a worker process).

    Linux: ``prctl(PR_SET_PDEATHSIG, SIGKILL)``, then exit at once if the parent is already
    gone. Elsewhere: a daemon thread checks every second that the parent is still there.
    ``parent_pid``: the expected parent (default: the current one).
    """
    parent_pid = os.getppid() if parent_pid is None else int(parent_pid)
    armed = False
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            armed = libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
        except (OSError, AttributeError):
            armed = False
    if os.getppid() != parent_pid:  # the parent died before the kernel could be told
        os._exit(1)
    if not armed:

        def poll() -> None:
            while os.getppid() == parent_pid:
                time.sleep(1.0)
            os._exit(1)

        threading.Thread(target=poll, name="attnlab-parent-watch", daemon=True).start()
