"""Comparison rows and run verdicts: a failure, an empty comparison, a NaN or an
uninformative tolerance is never reported as a pass."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from attnlab.compare import (
    Comparison,
    Dropped,
    Result,
    Tolerance,
    bound,
    heuristic,
    monte_carlo,
    standard_error,
    student_t,
)


def row(sim, tol=0.1, *, theory=1.0, max_tolerance=0.5, **kw):
    return Comparison("q", theory, sim, tol, max_tolerance=max_tolerance, **kw)


def test_row_statuses():
    assert row(1.05).status == "pass"
    assert row(1.2).status == "fail"
    assert row(1.2).cause.startswith("|difference| 0.2")
    assert row(1.05, tol=0.6).status == "uninformative"  # tolerance larger than the quantity
    assert "largest informative" in row(1.05, tol=0.6).cause
    for bad in (math.nan, math.inf):
        assert row(bad).status == "invalid"
        assert row(1.0, tol=bad).status == "invalid"
        assert row(1.0, theory=bad).status == "invalid"
    assert "simulation is not finite" in row(math.nan).cause
    assert row(1.0, tol=-1).status == "invalid"
    assert not row(1.05, tol=0.6).passed and not row(math.nan).passed


def test_max_tolerance_is_required():
    with pytest.raises(TypeError):
        Comparison("q", 1.0, 1.0, 0.1)  # type: ignore[call-arg]


def test_to_dict_is_strict_json_and_round_trips():
    import json

    c = row(math.nan, simulation_sd=math.inf, where="x=1", headline=True)
    d = c.to_dict()
    json.dumps(d, allow_nan=False)  # no NaN / Infinity tokens
    assert d["simulation"] is None and d["status"] == "invalid" and d["passed"] is False
    back = Comparison.from_dict(d)
    assert back.status == "invalid" and back.headline and back.where == "x=1"
    ok = row(1.05)
    assert Comparison.from_dict(ok.to_dict()) == ok


def test_tolerance_rules_compose_with_their_reasons():
    rng = np.random.default_rng(0)
    s = rng.normal(size=50)
    se = standard_error(s)
    np.testing.assert_allclose(se.value, 4 * s.std(ddof=1) / np.sqrt(50))
    t = student_t(s, confidence=0.999)
    assert t.value > standard_error(s, z=3.29).value  # t quantile > normal quantile
    total = se + bound(0.02, "O(a) bias") + monte_carlo(0.001)
    np.testing.assert_allclose(total.value, se.value + 0.02 + 0.004)
    assert "4 SE over 50 seeds" in total.note and "O(a) bias" in total.note
    assert heuristic(0.05, "diffusion").note.startswith("heuristic:")
    assert sum([bound(1, "a"), bound(2, "b")], 0).value == 3
    c = Comparison("q", 0.0, 0.01, total, max_tolerance=1.0)
    assert c.tolerance == pytest.approx(total.value) and c.note == total.note
    with pytest.raises(ValueError, match="at least 2 samples"):
        standard_error([1.0])


def test_run_verdicts():
    table = pd.DataFrame()
    assert Result(table, comparisons=[row(1.0)]).status == "passed"
    empty = Result(table)
    assert empty.status == "failed" and "nothing was compared" in empty.reasons[0]
    dropped = Result(table, comparisons=[row(1.0)], dropped=[Dropped("q", "α=3", "no conv.")])
    assert dropped.status == "failed" and "dropped" in dropped.reasons[0]
    only_dropped = Result(table, dropped=[Dropped("q", "", "did not converge")])
    assert only_dropped.status == "failed"
    assert Result(table, comparisons=[row(1.0), row(1.0, tol=0.9)]).status == "uninformative"
    assert Result(table, comparisons=[row(1.0, tol=0.9), row(2.0)]).status == "failed"
    assert Result(table, comparisons=[row(math.nan)]).status == "failed"
    v = Result(table, comparisons=[row(1.0), row(2.0)]).verdict()
    assert v["counts"]["pass"] == 1 and v["counts"]["fail"] == 1 and len(v["reasons"]) == 1


def test_tolerance_is_a_value_and_a_reason():
    t = Tolerance(0.1, "why")
    assert (t * 2).value == pytest.approx(0.2) and "why" in (2 * t).note
