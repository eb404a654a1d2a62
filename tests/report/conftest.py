"""Fixtures of the report tests: one demo reproduce per session, fake experiments, Chromium."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
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
            where="n=10",
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
        description=f"fake experiment {name}",
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


@pytest.fixture
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


@pytest.fixture(scope="session")
def chromium() -> str:
    """Path of a headless-capable Chromium, installed with apt only where the test needs it.

    Order: ``$ATTNLAB_CHROMIUM``, a browser on PATH, else — only when
    ``ATTNLAB_INSTALL_BROWSER=1`` or ``CI=true``, as root, with apt-get — ``apt-get install -y
    chromium`` (Debian's package); otherwise the test is skipped with the reason.
    """
    found = _find_browser()
    if found:
        return found
    wanted = os.environ.get("ATTNLAB_INSTALL_BROWSER") == "1" or (
        os.environ.get("CI", "").lower() == "true"
    )
    if not wanted:
        pytest.skip(
            "no Chromium found (looked for $ATTNLAB_CHROMIUM and "
            f"{', '.join(BROWSERS)} on PATH); install it (Debian: apt-get install -y chromium) "
            "or set ATTNLAB_INSTALL_BROWSER=1 to let the test install it as root"
        )
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("no Chromium found and not root, so it cannot be installed with apt-get")
    if shutil.which("apt-get") is None:
        pytest.skip("no Chromium found and no apt-get to install it with")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd, timeout in (
        (["apt-get", "update", "-qq"], 180),
        (["apt-get", "install", "-y", "-qq", "chromium"], 420),
    ):
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
        except (OSError, subprocess.TimeoutExpired) as err:
            pytest.skip(f"could not install Chromium: {' '.join(cmd)}: {err}")
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["?"]
            pytest.skip(f"could not install Chromium: {' '.join(cmd)} failed: {tail[0]}")
    found = _find_browser()
    if not found:
        pytest.skip("apt-get install chromium succeeded but no chromium binary is on PATH")
    return found
