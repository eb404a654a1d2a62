"""Empirical spectra (spec pooling.md §5) and simulation vs theory at moderate size."""

import numpy as np
import pytest

from attnlab.pooling import (
    covariance_eigenvalues,
    geometric_profile,
    hidden_label,
    mean_weights,
    outlier_population,
    outlier_sample,
    overlap_population,
    overlap_sample_m,
    overlap_sample_mu,
    simulate_outliers,
    sizes_from_ratios,
    top_eigenpairs,
)


@pytest.mark.parametrize(("N", "d"), [(30, 12), (12, 30)])
def test_eigenvalues_via_smaller_gram(N, d):
    X = np.random.default_rng(0).standard_normal((N, d))
    ref = np.sort(np.linalg.eigvalsh(X.T @ X / N))[::-1]
    np.testing.assert_allclose(covariance_eigenvalues(X), np.maximum(ref, 0), atol=1e-10)


def test_lanczos_top_k_equals_full():
    X = np.random.default_rng(1).standard_normal((300, 120))
    X[:, 0] *= 3
    v1, u1 = top_eigenpairs(X, 3)
    v2, u2 = top_eigenpairs(X, 3, method="full")
    np.testing.assert_allclose(v1, v2, rtol=1e-9)
    np.testing.assert_allclose(np.abs(np.sum(u1 * u2, 0)), 1.0, rtol=1e-8)


def test_simulation_matches_theory_at_moderate_size():
    """d = 400, delta = gamma = 0.5, 4 trials, ell far above both thresholds (s >= 1.5 s*).

    Tolerances: per-trial sd at d = 400 (measured ~0.1-0.25 for lambda/kappa, ~0.02 for the
    overlaps) / sqrt(4) trials, times ~5 for a t_3 quantile, plus O(1/d) bias: 3% relative for
    eigenvalues and 0.04 absolute for overlaps.
    """
    d = 400
    V, N = sizes_from_ratios(d, 0.5, 0.5)
    model = hidden_label(geometric_profile(16, r0=0.3, q=0.8))
    ells = np.array([2.5, 4.0])
    sim = simulate_outliers(
        [np.random.default_rng(10 + i) for i in range(4)],
        d=d,
        V=V,
        N=N,
        weights=mean_weights(16),
        label_model=model,
        ells=ells,
        population=True,
    )
    de, ga, r = sim.delta, sim.gamma, sim.rho
    np.testing.assert_allclose(sim.lam.mean(0), outlier_sample(ells, de, ga, r), rtol=0.03)
    np.testing.assert_allclose(sim.lam_pop.mean(0), outlier_population(ells, de, r), rtol=0.03)
    np.testing.assert_allclose(
        sim.overlap_mu.mean(0), overlap_sample_mu(ells, de, ga, r), atol=0.04
    )
    np.testing.assert_allclose(sim.overlap_m.mean(0), overlap_sample_m(ells, de, ga, r), atol=0.04)
    np.testing.assert_allclose(
        sim.overlap_pop_mu.mean(0), overlap_population(ells, de, r), atol=0.04
    )


def test_without_centring_an_uninformative_outlier_appears():
    """Uncentred data carry the mean (sum_t w_t) e_bar with ||e_bar||^2 ~ delta: an extra spike of
    strength (sum w)^2 delta / kappa = L delta = 8 (mean weights, L = 16) along e_bar, not mu."""
    from attnlab.pooling import sample_pooled, squared_overlap

    d = 300
    V, N = sizes_from_ratios(d, 0.5, 0.5)
    kw = dict(d=d, V=V, N=N, weights=mean_weights(16), label_model=hidden_label(np.zeros(16)))
    raw = sample_pooled(np.random.default_rng(7), center=False, **kw)
    cen = sample_pooled(np.random.default_rng(7), center=True, **kw)
    vals_raw, vec_raw = top_eigenpairs(raw.data(0.0), 1)
    vals_cen, _ = top_eigenpairs(cen.data(0.0), 1)
    e_bar = raw.table.noise.mean(0)
    # spiked-covariance outlier for strength 8 on this bulk is ~ 10 kappa; the bulk edge ~4.4 kappa
    assert vals_raw[0] / raw.kappa > 8 > vals_cen[0] / cen.kappa
    assert squared_overlap(vec_raw[:, 0], e_bar) > 0.8
    assert squared_overlap(vec_raw[:, 0], raw.table.mu_direction) < 0.05
