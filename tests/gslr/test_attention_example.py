"""The part-B quickstart runs at toy size and prints sensible numbers."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_quickstart_toy(run_example, tmp_path):
    out = run_example("slr_softmax_quickstart.py", timeout=300)
    for line in out.splitlines():
        m = re.match(r"nu=\S+: Bayes (\S+)  softmax (\S+)  linear (\S+)", line)
        if m:
            bayes, soft, lin = map(float, m.groups())
            assert abs(soft - bayes) < 1e-6 and lin > bayes
    assert re.search(r"ERM test error \S+ ± \S+  replica \S+", out)
    assert (tmp_path / "slr_softmax_quickstart.png").exists()
