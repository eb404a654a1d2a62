"""The MP_δ ⊠ MP_γ bulk law: normalisation, moments, edges, limits, cdf, input checks.

Every check compares two independent computations (closed form vs numerical integration, series
reversion vs cubic roots), so each can fail.
"""

import numpy as np
import pytest
from scipy.integrate import quad

from attnlab import ParameterError
from attnlab.pooling import (
    marchenko_pastur_density,
    mp_product_atom,
    mp_product_cdf,
    mp_product_density,
    mp_product_edges,
    mp_product_moments,
)

PAIRS = [(0.5, 0.5), (2.0, 0.5), (0.25, 1.0), (1.0, 1.0), (3.0, 4.0), (0.1, 0.02)]


def _density_moment(k, de, ga):
    lo, hi = mp_product_edges(de, ga)
    f = lambda x: x**k * mp_product_density(x, delta=de, gamma=ga)  # noqa: E731
    # split at interior points so quad resolves the sqrt edges and the 1/sqrt hard edge
    pts = np.linspace(float(lo), float(hi), 6)
    return sum(quad(f, a, b, limit=200)[0] for a, b in zip(pts[:-1], pts[1:], strict=True))


@pytest.mark.parametrize(("de", "ga"), PAIRS)
def test_density_mass_plus_atom_is_one(de, ga):
    mass = _density_moment(0, de, ga)
    # quadrature error of a square-root edge density at limit=200 is far below 1e-6
    np.testing.assert_allclose(mass + mp_product_atom(de, ga), 1.0, atol=1e-6)


@pytest.mark.parametrize(("de", "ga"), PAIRS)
def test_density_moments_match_free_cumulant_series(de, ga):
    """Moments of the density (cubic roots) vs the S-transform series (independent)."""
    series = mp_product_moments(4, delta=de, gamma=ga)
    np.testing.assert_allclose(series[:2], [1.0, 1.0 + de + ga], rtol=1e-12)
    quad_moments = [_density_moment(k, de, ga) for k in (1, 2, 3, 4)]
    np.testing.assert_allclose(quad_moments, series, rtol=1e-6)


def test_moment_series_third_moment_closed_form():
    # free multiplicative convolution of MP's: m3 = 1 + 3(d+g) + d^2 + g^2 + 3 d g (NC partitions)
    for de, ga in PAIRS:
        m3 = mp_product_moments(3, delta=de, gamma=ga)[2]
        np.testing.assert_allclose(m3, 1 + 3 * (de + ga) + de**2 + ga**2 + 3 * de * ga, rtol=1e-12)


def test_small_delta_density_is_marchenko_pastur():
    ga = 0.5
    lam = np.linspace(0.1, 2.8, 50)
    lo, hi = (1 - np.sqrt(ga)) ** 2, (1 + np.sqrt(ga)) ** 2
    mp = np.sqrt(np.clip((hi - lam) * (lam - lo), 0, None)) / (2 * np.pi * ga * lam)
    # O(delta) perturbation of the law: delta = 1e-5 moves the density by ~1e-4 in the interior
    np.testing.assert_allclose(mp_product_density(lam, delta=1e-5, gamma=ga), mp, atol=2e-3)


@pytest.mark.parametrize(("de", "ga"), PAIRS)
def test_edges_bracket_support(de, ga):
    lo, hi = mp_product_edges(de, ga)
    eps = 1e-6 * float(hi)
    assert mp_product_density(float(hi) + eps, delta=de, gamma=ga) == 0
    assert mp_product_density(float(hi) - 1e-3 * float(hi), delta=de, gamma=ga) > 0
    if lo > 0:
        assert mp_product_density(float(lo) + 1e-3, delta=de, gamma=ga) > 0


def test_density_vectorised_over_lambda_grid():
    lam = np.linspace(0.01, 5, 40000).reshape(200, 200)
    f = mp_product_density(lam, delta=0.5, gamma=0.5)
    assert f.shape == lam.shape and np.all(f >= 0)


def test_marchenko_pastur_density_integrates_to_its_mass():
    for ga in (0.5, 2.0):
        lo, hi = (1 - np.sqrt(ga)) ** 2, (1 + np.sqrt(ga)) ** 2
        mass = quad(lambda x, ga=ga: marchenko_pastur_density(x, gamma=ga), lo, hi, limit=200)[0]
        np.testing.assert_allclose(mass, min(1.0, 1 / ga), rtol=1e-6)


@pytest.mark.parametrize(("de", "ga"), [(0.5, 0.5), (2.0, 0.5), (1.0, 1.0)])
def test_cdf_is_the_integral_of_the_density_plus_the_atom(de, ga):
    lo, hi = (float(e) for e in mp_product_edges(de, ga))
    atom = float(mp_product_atom(de, ga))
    x = np.array([-1.0, lo + 0.3 * (hi - lo), lo + 0.7 * (hi - lo), hi + 1.0])
    F = mp_product_cdf(x, delta=de, gamma=ga)
    direct = [
        quad(lambda t: mp_product_density(t, delta=de, gamma=ga), lo, xi, limit=200)[0]
        for xi in x[1:3]
    ]
    # trapezoid rule in the sin⁶ variable on 4001 points: error far below 1e-5
    np.testing.assert_allclose(F, [0.0, atom + direct[0], atom + direct[1], 1.0], atol=1e-5)
    assert np.all(np.diff(mp_product_cdf(np.linspace(-1, hi + 1, 300), delta=de, gamma=ga)) >= 0)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: mp_product_density(1.0, delta=0.0, gamma=0.5), "delta = 0.0"),
        (lambda: mp_product_density(1.0, delta=-1, gamma=0.5), "delta = -1"),
        # the defect: mp_product_density(nan) returned 0
        (lambda: mp_product_density(np.nan, delta=0.5, gamma=0.5), "lam = nan"),
        (lambda: mp_product_density([1.0, np.inf], delta=0.5, gamma=0.5), "lam = inf"),
        (lambda: mp_product_edges(0.5, np.inf), "gamma = inf"),
        (lambda: mp_product_atom(2e6, 0.5), "delta = 2000000.0"),
        (lambda: mp_product_moments(0, delta=0.5, gamma=0.5), "k = 0"),
        (lambda: mp_product_moments(3, delta=np.nan, gamma=0.5), "delta = nan"),
        (lambda: mp_product_cdf(1.0, delta=0.5, gamma=0.5, points=3), "points = 3"),
        (lambda: marchenko_pastur_density(1.0, gamma="x"), "gamma = 'x' is not a number"),
    ],
)
def test_invalid_inputs_give_one_line_errors(call, match):
    with pytest.raises(ParameterError, match=match) as err:
        call()
    assert "\n" not in str(err.value)
