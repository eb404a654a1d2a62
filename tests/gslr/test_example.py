"""The quickstart runs at toy size and prints sensible numbers."""

from __future__ import annotations

import re


def test_quickstart_toy(run_example, tmp_path):
    out = run_example("slr_softmax_quickstart.py", timeout=300)
    lines = [
        re.match(r"nu=\S+: Bayes (\S+)  softmax (\S+)  linear (\S+)", x) for x in out.splitlines()
    ]
    values = [tuple(map(float, m.groups())) for m in lines if m]
    assert values
    for bayes, soft, lin in values:
        assert abs(soft - bayes) < 1e-6 and lin > bayes
    m = re.search(r"ERM test error (\S+) ± (\S+)  replica (\S+)", out)
    assert m
    erm, se, rep = map(float, m.groups())
    # D = 100, one seed: a loose sanity band (the replica vs ERM rows are the experiments')
    assert abs(erm - rep) < 0.15 and 0 < rep < 1
    assert (tmp_path / "slr_softmax_quickstart.png").exists()
