"""Fixtures shared by every family's tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_SESSION_CACHE: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    """One persistent compilation cache for the whole test session, in a fresh temporary
    directory: the xdist workers and every process the tests start (examples, the command,
    sweep workers) inherit it, so a program that several of them compile is compiled once and
    then loaded. Most of the suite's time is compilation; a loaded program is the one the
    compiler would produce, so no result changes. Set up once, by the controlling process
    (workers inherit the environment); a ``JAX_COMPILATION_CACHE_DIR`` of the user's is kept,
    and ``ATTNLAB_TEST_COMPILE_CACHE=off`` turns this off."""
    if os.environ.get("PYTEST_XDIST_WORKER") or os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        return
    from attnlab.cli._cache import OFF, enable_compile_cache  # the command's own (no jax import)

    if os.environ.get("ATTNLAB_TEST_COMPILE_CACHE", "").strip().lower() in OFF:
        return

    path = tempfile.mkdtemp(prefix="attnlab-test-xla-")
    _SESSION_CACHE.append(path)
    os.environ["ATTNLAB_COMPILE_CACHE"] = path
    enable_compile_cache()


def pytest_unconfigure(config: pytest.Config) -> None:
    for path in _SESSION_CACHE:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def run_example(tmp_path: Path) -> Callable[..., str]:
    """Run ``examples/<script>`` at toy size (``--toy --out tmp_path``) in a fresh interpreter,
    with ``src`` on the path and no display; assert it exits 0 and return its stdout."""

    def run(script: str, *, timeout: float = 300) -> str:
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "MPLBACKEND": "Agg"}
        proc = subprocess.run(
            [sys.executable, str(ROOT / "examples" / script), "--toy", "--out", str(tmp_path)],
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
        )
        assert proc.returncode == 0, f"{script} failed:\n{proc.stderr[-3000:]}"
        return proc.stdout

    return run
