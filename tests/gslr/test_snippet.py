"""The README snippet runs as written: softmax reaches the Bayes risk, linear attention does not."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_snippet_runs_and_agrees():
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "MPLBACKEND": "Agg"}
    proc = subprocess.run([sys.executable, str(ROOT / "docs" / "snippets" / "gslr.py")],
                          capture_output=True, text=True, env=env, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    bayes, stderr, softmax, linear = (
        float(x) for x in re.findall(r"-?\d+\.\d+(?:e[-+]\d+)?", proc.stdout)
    )
    # the softmax optimum is Bayes-optimal for spiked SLR: equal up to the estimate's error and
    # the optimiser's tolerance (1e-5 of a risk of order 1)
    assert abs(softmax - bayes) <= max(4 * stderr, 1e-5), proc.stdout
    # the linear optimum is the closed form 1/(1 + ν/L + 1/(L − 1)) at ν = 2, L = 3, above Bayes
    assert abs(linear - 1 / (1 + 2 / 3 + 1 / 2)) < 1e-6, proc.stdout
    assert linear > bayes + 0.05, proc.stdout
