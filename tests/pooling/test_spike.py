"""Outliers, overlaps and the two transitions: limits, symmetry, continuity, input checks.

Every check compares two independent computations (the formula vs the classic spiked-covariance
or Baik–Silverstein result, or vs the bulk edge), so each can fail.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.integrate import quad

from attnlab import ParameterError
from attnlab.pooling import (
    alignment_thresholds,
    effective_spike,
    mp_product_atom,
    mp_product_cdf,
    mp_product_density,
    mp_product_edges,
    mp_product_moments,
    outlier_population,
    outlier_sample,
    overlap_population,
    overlap_population_m,
    overlap_sample_m,
    overlap_sample_mu,
    s_star,
    sample_polynomial,
)


def test_classic_bbp_limit_delta_to_zero():
    """delta -> 0, rho = 1: threshold ell > sqrt(gamma), outlier (1+ell)(1+gamma/ell),
    overlap (1 - gamma/ell^2)/(1 + gamma/ell) (Baik-Ben Arous-Peche / Paul)."""
    de, ga = 1e-9, 0.3
    ell = np.array([0.2, 0.5, 0.6, 1.0, 3.0])
    np.testing.assert_allclose(s_star(de, ga), np.sqrt(ga), rtol=1e-6)
    assert alignment_thresholds(de, ga, 1.0)[1] == pytest.approx(np.sqrt(ga), rel=1e-6)
    above = ell > np.sqrt(ga)
    classic = np.where(above, (1 + ell) * (1 + ga / ell), (1 + np.sqrt(ga)) ** 2)
    np.testing.assert_allclose(outlier_sample(ell, de, ga, 1.0), classic, rtol=1e-6)
    classic_ov = np.where(above, (1 - ga / ell**2) / (1 + ga / ell), 0.0)
    np.testing.assert_allclose(overlap_sample_mu(ell, de, ga, 1.0), classic_ov, atol=1e-6)


@settings(max_examples=40, deadline=None)
@given(
    de=st.floats(0.01, 10), ga=st.floats(0.01, 10), ell=st.floats(0, 20), lam=st.floats(0.01, 30)
)
def test_symmetry_in_delta_gamma_at_rho_one(de, ga, ell, lam):
    np.testing.assert_allclose(s_star(de, ga), s_star(ga, de), rtol=1e-12)
    np.testing.assert_allclose(
        mp_product_density(lam, delta=de, gamma=ga),
        mp_product_density(lam, delta=ga, gamma=de),
        rtol=1e-7,
        atol=1e-10,
    )
    np.testing.assert_allclose(
        np.array(mp_product_edges(de, ga)), np.array(mp_product_edges(ga, de)), rtol=1e-9
    )
    # at rho = 1 the effective spike is s = ell and the sample outlier is symmetric
    np.testing.assert_allclose(
        outlier_sample(ell, de, ga, 1.0), outlier_sample(ell, ga, de, 1.0), rtol=1e-9
    )
    np.testing.assert_allclose(
        overlap_sample_m(ell, de, ga, 1.0) * (ell + ga),
        overlap_sample_m(ell, ga, de, 1.0) * (ell + de),
        rtol=1e-9,
        atol=1e-12,
    )


@settings(max_examples=40, deadline=None)
@given(de=st.floats(0.01, 10), ga=st.floats(0.01, 10))
def test_transitions_are_continuous(de, ga):
    """At s = s*, P(s*) = 0: the outlier meets the bulk edge lambda_+ and the overlap vanishes;
    at s = sqrt(delta) the population outlier meets the MP_delta edge. s* > sqrt(delta)."""
    ss = s_star(de, ga)
    assert ss > np.sqrt(de)
    np.testing.assert_allclose(sample_polynomial(ss, de, ga), 0, atol=1e-9 * ss**3)
    lam_at = (ss + 1) * (ss + de) * (ss + ga) / ss**2
    np.testing.assert_allclose(lam_at, mp_product_edges(de, ga)[1], rtol=1e-7)
    s0 = np.sqrt(de)
    np.testing.assert_allclose((s0 + 1) * (s0 + de) / s0, (1 + s0) ** 2, rtol=1e-12)


@pytest.mark.parametrize(("de", "ga", "s"), [(0.5, 0.5, 2.0), (2.0, 0.5, 4.0), (0.25, 1.0, 1.7)])
def test_sample_outlier_matches_baik_silverstein(de, ga, s):
    """Independent route: population spike l = (s+1)(s+delta)/s on an MP_delta bulk H;
    Baik-Silverstein sample outlier l (1 + gamma int t/(l - t) dH(t))."""
    lo, hi = (1 - np.sqrt(de)) ** 2, (1 + np.sqrt(de)) ** 2
    mp = lambda t: np.sqrt(max((hi - t) * (t - lo), 0)) / (2 * np.pi * de * t)  # noqa: E731
    lpop = (s + 1) * (s + de) / s
    integral = quad(lambda t: t / (lpop - t) * mp(t), lo, hi, limit=200)[0]
    ell = (s + de) / 1.0 - de  # rho = 1
    np.testing.assert_allclose(outlier_population(ell, de, 1.0), lpop, rtol=1e-12)
    np.testing.assert_allclose(
        outlier_sample(ell, de, ga, 1.0), lpop * (1 + ga * integral), rtol=1e-6
    )


@settings(max_examples=40, deadline=None)
@given(de=st.floats(0.01, 5), ga=st.floats(0.01, 5), r=st.floats(0.3, 5))
def test_overlaps_are_probabilities_and_monotone(de, ga, r):
    ell = np.linspace(0, 30, 200)
    for f in (overlap_sample_mu, overlap_sample_m):
        v = f(ell, de, ga, r)
        assert np.all((v >= 0) & (v <= 1))
        assert np.all(np.diff(v) >= -1e-12)
    vp = overlap_population(ell, de, r)
    assert np.all((vp >= 0) & (vp <= 1))
    # sample alignment never exceeds population alignment (extra noise from finite N)
    assert np.all(overlap_sample_mu(ell, de, ga, r) <= vp + 1e-12)


def test_thresholds_in_ell_are_where_overlaps_switch_on():
    de, ga, r = 0.5, 0.5, 1.3
    l1, l2 = alignment_thresholds(de, ga, r)
    np.testing.assert_allclose(effective_spike(l1, de, r), np.sqrt(de), rtol=1e-12)
    np.testing.assert_allclose(effective_spike(l2, de, r), s_star(de, ga), rtol=1e-12)
    assert overlap_population(l1 * 0.99, de, r) == 0 and overlap_population(l1 * 1.01, de, r) > 0
    assert (
        overlap_sample_mu(l2 * 0.99, de, ga, r) == 0 and overlap_sample_mu(l2 * 1.01, de, ga, r) > 0
    )


def test_noise_outlier_at_zero_signal():
    """ell = 0, large rho: s = (rho-1) delta > s* gives an outlier aligned with m, not mu."""
    de, ga, r = 0.5, 0.5, 5.0
    assert effective_spike(0.0, de, r) > s_star(de, ga)
    assert overlap_sample_m(0.0, de, ga, r) > 0.3
    assert overlap_sample_mu(0.0, de, ga, r) == 0.0


def test_theory_grid_is_vectorised():
    E, P = np.meshgrid(np.linspace(0, 5, 200), np.linspace(0.2, 6, 200))
    out = overlap_sample_mu(E, 0.5, 0.5, P)
    assert out.shape == (200, 200)
    np.testing.assert_allclose(out[37, 81], overlap_sample_mu(E[37, 81], 0.5, 0.5, P[37, 81]))


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: s_star(0.5, -2), "gamma = -2"),
        (lambda: outlier_sample(-1.0, 0.5, 0.5, 1.0), "ell = -1"),
        (lambda: effective_spike(1.0, 0.5, 0.0), "rho = 0"),
        (lambda: overlap_sample_mu([1.0, np.nan], 0.5, 0.5, 1.0), "ell = nan"),
        (lambda: outlier_population(1.0, 0.5, np.inf), "rho = inf"),
        (lambda: sample_polynomial(np.inf, 0.5, 0.5), "s = inf"),
        (lambda: alignment_thresholds(0.5, 0.5, -1.0), "rho = -1"),
    ],
)
def test_invalid_inputs_give_one_line_errors(call, match):
    with pytest.raises(ParameterError, match=match) as err:
        call()
    assert "\n" not in str(err.value)


BAD = st.sampled_from([np.nan, np.inf, -np.inf, -1.0, -1e-300, 0.0, 1e300])
# argument kinds and their valid ranges (the module docstrings)
RANGES = {"ratio": (1e-9, 1e6), "ell": (0.0, 1e8), "real": (-1e8, 1e8)}
THEORY = {
    "effective_spike": (effective_spike, ("ell", "ratio", "ratio")),
    "sample_polynomial": (sample_polynomial, ("real", "ratio", "ratio")),
    "s_star": (s_star, ("ratio", "ratio")),
    "alignment_thresholds": (alignment_thresholds, ("ratio", "ratio", "ratio")),
    "outlier_population": (outlier_population, ("ell", "ratio", "ratio")),
    "overlap_population": (overlap_population, ("ell", "ratio", "ratio")),
    "overlap_population_m": (overlap_population_m, ("ell", "ratio", "ratio")),
    "outlier_sample": (outlier_sample, ("ell", "ratio", "ratio", "ratio")),
    "overlap_sample_m": (overlap_sample_m, ("ell", "ratio", "ratio", "ratio")),
    "overlap_sample_mu": (overlap_sample_mu, ("ell", "ratio", "ratio", "ratio")),
    "mp_product_atom": (mp_product_atom, ("ratio", "ratio")),
    "mp_product_edges": (mp_product_edges, ("ratio", "ratio")),
    "mp_product_density": (
        lambda x, a, b: mp_product_density(x, delta=a, gamma=b),
        ("real", "ratio", "ratio"),
    ),
    "mp_product_cdf": (
        lambda x, a, b: mp_product_cdf(x, delta=a, gamma=b, points=101),
        ("real", "ratio", "ratio"),
    ),
    "mp_product_moments": (
        lambda a, b: mp_product_moments(4, delta=a, gamma=b),
        ("ratio", "ratio"),
    ),
}


@settings(max_examples=100, deadline=None)
@given(
    name=st.sampled_from(sorted(THEORY)),
    position=st.integers(0, 3),
    bad=BAD,
    good=st.lists(st.floats(0.01, 10), min_size=4, max_size=4),
)
def test_theory_refuses_nan_inf_and_out_of_range(name, position, bad, good):
    """NaN, ±inf and out-of-range values in any argument give a one-line ParameterError (never
    a NaN or a silently wrong number); valid arguments give finite numbers."""
    fn, kinds = THEORY[name]
    args = good[: len(kinds)]
    assert np.all(np.isfinite(np.asarray(fn(*args), dtype=float)))
    position %= len(kinds)
    lo, hi = RANGES[kinds[position]]
    if np.isfinite(bad) and lo <= bad <= hi:
        return  # a valid value for this argument (e.g. ℓ = 0)
    args[position] = bad
    with pytest.raises(ParameterError) as err:
        fn(*args)
    assert "\n" not in str(err.value)


@settings(max_examples=40, deadline=None)
@given(
    de=st.floats(1e-9, 1e6),
    ga=st.floats(1e-9, 1e6),
    r=st.floats(1e-9, 1e6),
    ell=st.floats(0, 1e8),
)
def test_theory_is_finite_over_the_whole_valid_range(de, ga, r, ell):
    for out in (
        outlier_sample(ell, de, ga, r),
        overlap_sample_mu(ell, de, ga, r),
        overlap_population(ell, de, r),
        mp_product_edges(de, ga),
        s_star(de, ga),
    ):
        assert np.all(np.isfinite(np.asarray(out, dtype=float)))
    lo, hi = mp_product_edges(de, ga)
    assert 0 <= lo <= hi
    v = overlap_sample_mu(ell, de, ga, r)
    assert 0 <= v <= 1
