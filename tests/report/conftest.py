"""Fixtures of the report tests: one demo reproduce per session, fake experiments, Chromium."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
import types
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import Field

from attnlab.compare import Comparison, Result
from attnlab.config import ExperimentConfig
from attnlab.registry import Experiment

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")


@pytest.fixture(scope="session")
def demo_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A quick reproduce of the demo family only (a few seconds); do not modify it."""
    from attnlab.report import reproduce

    out = tmp_path_factory.mktemp("demo-reproduce")
    outcome = reproduce(quick=True, only=["demo"], out=out, progress=False)
    assert outcome.ok, outcome.records
    return out


@pytest.fixture
def demo_copy(demo_report: Path, tmp_path: Path) -> Path:
    """A private copy of the demo results root (safe to modify)."""
    dest = tmp_path / "results"
    shutil.copytree(demo_report, dest)
    return dest


# -- fake experiments (no jax, milliseconds) --------------------------------------------------
class FakeConfig(ExperimentConfig):
    """A tiny config: ``offset`` shifts the simulation away from theory."""

    offset: float = Field(0.0, description="simulation - theory of the 'shifted' row")
    n: int = Field(10, ge=1)


def _fake_plot(result: Result, config: FakeConfig) -> dict:
    from attnlab import plot

    fig, ax = plot.subplots(width=2, height=1.5)
    ax.plot(result.table["x"], result.table["y"], "o")
    return {"points": fig}


def fake_run(config: FakeConfig) -> Result:
    x = np.arange(config.n, dtype=float)
    table = pd.DataFrame({"x": x, "y": 2 * x})
    comparisons = [
        Comparison(
            "slope",
            2.0,
            2.0 + 1e-3,
            1e-2,
            max_tolerance=0.5,
            where="$n = 10$",
            note="exact up to rounding",
        ),
        Comparison(
            "shifted <value>", 1.0, 1.0 + config.offset, 0.1, max_tolerance=0.5, simulation_sd=0.05
        ),
    ]
    return Result(
        table=table,
        summary={"slope": 2.0, "grid": [1, 2, 3]},
        comparisons=comparisons,
        seeds=[0, 1, 2],
    )


def crash_run(config: FakeConfig) -> Result:
    raise RuntimeError("boom: the fake experiment crashed\nsecond line")


def make_experiment(name: str, family: str, run=fake_run, plot=_fake_plot, quick=None):
    return Experiment(
        name=name,
        family=family,
        description=f"fake experiment {name}: " + r"$\hat\mu = \frac{1}{n} \sum_i x_i$",
        config_cls=FakeConfig,
        run=run,
        plot=plot,
        quick=dict(quick or {}),
    )


@pytest.fixture
def register(monkeypatch: pytest.MonkeyPatch):
    """``register(experiment)`` adds it to the registry for this test only."""
    from attnlab import registry

    registry.all_experiments()  # discover the real families first

    def add(exp: Experiment) -> Experiment:
        monkeypatch.setitem(registry._REGISTRY, exp.name, exp)
        return exp

    return add


def write_png(path: Path, width: int = 3, height: int = 2) -> None:
    """A valid RGB PNG of the given size (grey), without matplotlib."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    raw = b"".join(b"\x00" + b"\x80\x80\x80" * width for _ in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


@pytest.fixture(scope="session")
def fakes() -> types.SimpleNamespace:
    """``fakes.make(name, family, ...)``, ``fakes.crash`` (a run that raises), ``fakes.png``."""
    return types.SimpleNamespace(make=make_experiment, crash=crash_run, png=write_png)


# -- headless Chromium ------------------------------------------------------------------------
def _find_browser() -> str | None:
    explicit = os.environ.get("ATTNLAB_CHROMIUM")
    if explicit:
        return explicit if Path(explicit).is_file() else None
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    return None


def apt_tool(find, package: str, what: str) -> str:
    """``find()`` (a path or None), else — only when ``ATTNLAB_INSTALL_BROWSER=1`` or
    ``CI=true``, as root, with apt-get — ``apt-get install -y PACKAGE`` and ``find()`` again;
    otherwise the test is skipped with the reason."""
    found = find()
    if found:
        return found
    wanted = os.environ.get("ATTNLAB_INSTALL_BROWSER") == "1" or (
        os.environ.get("CI", "").lower() == "true"
    )
    if not wanted:
        pytest.skip(
            f"no {what} found; install it (Debian: apt-get install -y {package}) "
            "or set ATTNLAB_INSTALL_BROWSER=1 to let the test install it as root"
        )
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip(f"no {what} found and not root, so it cannot be installed with apt-get")
    if shutil.which("apt-get") is None:
        pytest.skip(f"no {what} found and no apt-get to install it with")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd, timeout in (
        (["apt-get", "update", "-qq"], 180),
        (["apt-get", "install", "-y", "-qq", package], 420),
    ):
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
        except (OSError, subprocess.TimeoutExpired) as err:
            pytest.skip(f"could not install {package}: {' '.join(cmd)}: {err}")
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["?"]
            pytest.skip(f"could not install {package}: {' '.join(cmd)} failed: {tail[0]}")
    found = find()
    if not found:
        pytest.skip(f"apt-get install {package} succeeded but no {what} is on PATH")
    return found


@pytest.fixture(scope="session")
def chromium() -> str:
    """Path of a headless-capable Chromium: ``$ATTNLAB_CHROMIUM``, a browser on PATH, else
    Debian's ``chromium`` package installed by :func:`apt_tool` (or the test is skipped)."""
    what = f"Chromium ($ATTNLAB_CHROMIUM or {', '.join(BROWSERS)} on PATH)"
    return apt_tool(_find_browser, "chromium", what)


@pytest.fixture(scope="session")
def pdffonts() -> str:
    """Path of poppler's ``pdffonts`` (package ``poppler-utils``, installed like Chromium)."""
    return apt_tool(lambda: shutil.which("pdffonts"), "poppler-utils", "pdffonts (poppler-utils)")


# -- driving Chromium over the DevTools protocol ----------------------------------------------
class DevTools:
    """A headless Chromium driven over ``--remote-debugging-pipe`` (no driver library).

    Chromium reads protocol commands (JSON, NUL-terminated) from its file descriptor 3 and
    writes responses and events to 4. :meth:`open` loads a page in a new tab and returns a
    :class:`Tab` that evaluates JavaScript and lists the requests the page made.
    """

    FLAGS = (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1200,800",
        "--remote-debugging-pipe",
    )

    def __init__(self, binary: str, profile: Path) -> None:
        import fcntl

        to_browser = os.pipe()  # (read end: the browser's fd 3, write end: ours)
        from_browser = os.pipe()  # (read end: ours, write end: the browser's fd 4)
        # the browser's ends, moved above 9 so that they cannot be fds 3 or 4 themselves
        theirs = tuple(
            fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in (to_browser[0], from_browser[1])
        )
        for fd in (to_browser[0], from_browser[1]):
            os.close(fd)
        # a fresh interpreter moves the pipe ends to fds 3 and 4 and execs the browser (no
        # fork of this process, whose jax threads make forking unsafe)
        wire = (
            "import os, sys; os.dup2(int(sys.argv[1]), 3); os.dup2(int(sys.argv[2]), 4); "
            "os.execv(sys.argv[3], sys.argv[3:])"
        )
        args = [binary, *self.FLAGS, f"--user-data-dir={profile}", "about:blank"]
        self.proc = subprocess.Popen(
            [sys.executable, "-S", "-c", wire, *map(str, theirs), *args],
            pass_fds=theirs,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for fd in theirs:
            os.close(fd)
        self._out, self._in = to_browser[1], from_browser[0]
        self._buffer = b""
        self._id = 0
        self.events: list[dict] = []

    def close(self) -> None:
        for fd in (self._out, self._in):
            os.close(fd)
        self.proc.kill()
        self.proc.wait(timeout=30)

    def _read(self, deadline: float) -> dict:
        import json
        import select
        import time

        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._in], [], [], left)[0]:
                raise TimeoutError("no message from Chromium")
            chunk = os.read(self._in, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed the DevTools pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def call(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        """Send one command and return its result (events that arrive meanwhile are kept)."""
        import json
        import time

        self._id += 1
        message = {"id": self._id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._out, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + 60
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str, session: str, timeout: float = 60) -> dict:
        import time

        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for event in self.events[seen:]:
                if event.get("method") == method and event.get("sessionId") == session:
                    return event
            seen = len(self.events)
            self.events.append(self._read(deadline))

    def open(self, url: str) -> Tab:
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})
        tab = Tab(self, session["sessionId"])
        for domain in ("Page", "Network", "Runtime"):
            self.call(f"{domain}.enable", {}, tab.session)
        self.call("Page.navigate", {"url": url}, tab.session)
        self.wait_for("Page.loadEventFired", tab.session)
        return tab


class Tab:
    """A page opened by :meth:`DevTools.open`."""

    def __init__(self, browser: DevTools, session: str) -> None:
        self.browser, self.session = browser, session

    def eval(self, expression: str):
        """The JSON value of a JavaScript expression (promises awaited)."""
        reply = self.browser.call(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
            self.session,
        )
        if "exceptionDetails" in reply:
            raise AssertionError(f"{expression}: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    @property
    def requests(self) -> list[str]:
        """URLs of every request the page made (documents, images, fonts, scripts)."""
        return [
            e["params"]["request"]["url"]
            for e in self.browser.events
            if e.get("method") == "Network.requestWillBeSent" and e.get("sessionId") == self.session
        ]


@pytest.fixture
def devtools(chromium: str, tmp_path: Path):
    """A :class:`DevTools` browser for this test (closed afterwards)."""
    browser = DevTools(chromium, tmp_path / "chromium-profile")
    try:
        yield browser
    finally:
        browser.close()
