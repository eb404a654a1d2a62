"""Finite-size tolerances of the pooling comparisons and honest verdicts."""

import numpy as np
import pandas as pd
import pytest

from attnlab.pooling import PoolingModel, outlier_sample, overlap_sample_mu, s_star
from attnlab.pooling._tolerance import (
    OVERLAP_MAX_TOLERANCE,
    RowSet,
    curve_rows,
    eigenvalue_max_tolerance,
    spike_rows,
    subcritical_leakage,
    trial_error,
    window_allowance,
)

MODEL = PoolingModel(d=400)
DE, GA = MODEL.realised_delta, MODEL.realised_gamma
S_STAR = float(s_star(DE, GA))


def _curve(e):
    return overlap_sample_mu(e, DE, GA, 1.0)


def test_trial_error_is_the_student_t_half_width():
    x = np.array([1.0, 2.0, 3.0, 4.0])
    mean, sd, tol = trial_error(x)
    from scipy import stats

    expected = stats.t.ppf(0.999, 3) * x.std(ddof=1) / 2
    np.testing.assert_allclose([mean, sd, tol.value], [2.5, x.std(ddof=1), expected], rtol=1e-12)


def test_window_allowance_only_near_the_transition():
    # at rho = 1 the effective spike is s = ell: the window is |s - s*| <= s* d^(-1/3)
    width = S_STAR * 400 ** (-1 / 3)
    near = window_allowance(_curve, S_STAR, delta=DE, rho=1.0, s_crit=S_STAR, d=400)
    far = window_allowance(_curve, S_STAR + 2 * width, delta=DE, rho=1.0, s_crit=S_STAR, d=400)
    assert far is None and near is not None and "heuristic" in near.note
    np.testing.assert_allclose(near.value, _curve(np.array(S_STAR + width)), rtol=1e-12)


def test_subcritical_leakage_decays_as_the_inverse_square_distance():
    width = S_STAR * 400 ** (-1 / 3)
    at_2, at_4 = (subcritical_leakage(S_STAR - x * width, S_STAR, 400).value for x in (2, 4))
    np.testing.assert_allclose(at_2 / at_4, 4.0, rtol=1e-12)
    np.testing.assert_allclose(
        subcritical_leakage(S_STAR - width, S_STAR, 400).value, 400 ** (-1 / 3)
    )


def test_rows_with_a_non_converged_trial_are_dropped_and_the_run_fails():
    samples = np.array([[0.5, 0.6], [0.52, np.nan], [0.49, 0.61]])
    rows = spike_rows("⟨û, μ̂⟩²", samples, [3.0, 4.0], _curve, model=MODEL, rho=1.0)
    assert len(rows.comparisons) == 1 and len(rows.dropped) == 1
    assert "did not converge in 1 trial" in rows.dropped[0].reason
    result = rows.result(pd.DataFrame(), {}, [0, 1, 2])
    assert result.status == "failed"


def test_a_tolerance_as_large_as_the_value_is_uninformative():
    """N = 2: the O(1/N) bias allowance 2(2/V + 1/N) is 100 % of the value."""
    model = PoolingModel(d=60, gamma=30)
    assert model.N == 2
    de, ga = model.realised_delta, model.realised_gamma
    theory = float(outlier_sample(5.0, de, ga, 1.0))
    samples = np.full((3, 1), theory) + np.array([[0.0], [0.01], [-0.01]])
    rows = spike_rows(
        "λ̂/κ", samples, [5.0], lambda e: outlier_sample(e, de, ga, 1.0), model=model, rho=1.0,
        eigenvalue=True,
    )  # fmt: skip
    (row,) = rows.comparisons
    assert row.tolerance >= theory and row.status == "uninformative"
    np.testing.assert_allclose(row.max_tolerance, eigenvalue_max_tolerance(theory, theory))


def test_overlap_rows_and_nan_simulations():
    samples = np.array([[0.4], [0.41], [0.39]])
    rows, dropped = curve_rows(
        "q", samples, np.array([3.0]), _curve, s_crit=S_STAR, delta=DE, rho=1.0, d=400,
        V=MODEL.V, N=MODEL.N, max_tolerance=lambda t: OVERLAP_MAX_TOLERANCE, overlap=True,
    )  # fmt: skip
    assert not dropped and rows[0].max_tolerance == OVERLAP_MAX_TOLERANCE
    total = RowSet()
    total += (rows, dropped)
    total += RowSet(rows, [])
    assert len(total.comparisons) == 2


@pytest.mark.parametrize(("theory", "edge", "expected"), [(8.0, 4.0, 0.8), (4.0, 4.4, 0.44)])
def test_eigenvalue_max_tolerance(theory, edge, expected):
    np.testing.assert_allclose(eigenvalue_max_tolerance(theory, edge), expected)
