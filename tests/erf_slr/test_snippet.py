"""The README snippet runs as written and prints a closed form that Monte-Carlo confirms."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_snippet_runs_and_agrees():
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "MPLBACKEND": "Agg"}
    proc = subprocess.run([sys.executable, str(ROOT / "docs" / "snippets" / "erf_slr.py")],
                          capture_output=True, text=True, env=env, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    numbers = [float(x) for x in re.findall(r"-?\d+\.\d+", proc.stdout)]
    closed, mc, se, kappa, risk, oracle = numbers
    # closed form vs Monte-Carlo of the data law: 4 standard errors
    assert abs(closed - mc) <= 4 * se, proc.stdout
    # PGD from ℳ recovers k* and approaches the oracle risk from above (3000 steps of 20 000)
    assert kappa > 0.9 and oracle < risk < 1.1 * oracle, proc.stdout
