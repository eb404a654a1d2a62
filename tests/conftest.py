"""Fixtures shared by every family's tests."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


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
