"""The README's ten-line snippet runs as written and shows SGA following the ODE."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_snippet_runs_as_written():
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "MPLBACKEND": "Agg"}
    out = subprocess.run(
        [sys.executable, str(ROOT / "docs" / "snippets" / "subspace.py")],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=True,
    ).stdout
    rows = [line.split() for line in out.strip().splitlines()]
    t = [float(r[2]) for r in rows]
    sga = [float(r[7]) for r in rows]
    ode = [float(r[10]) for r in rows]
    assert len(rows) == 6 and t[0] == 0.0 and sga[0] == ode[0]  # same m_0
    # mid-escape (t ≈ 2.2): |m| has sd ≤ 0.2 over seeds, so 4 SE over 30 seeds is < 0.15
    assert abs(sga[1] - ode[1]) < 0.15
    # at the end the ODE is at the pole and SGA at its noise floor a E_g/(2(2φ′(1) − 1/c)) ≈ 0.008
    assert ode[-1] > 0.999 and 0.97 < sga[-1] < ode[-1]
