"""Simulated outliers, overlaps and spectra against the theory; the key contract."""

import jax
import numpy as np

from attnlab import progress
from attnlab.pooling import (
    HiddenLabel,
    MeanWeights,
    PoolingModel,
    outlier_population,
    outlier_sample,
    overlap_population,
    overlap_population_m,
    overlap_sample_m,
    overlap_sample_mu,
    sample_pooled,
    sample_top,
    simulate_attention_pooling,
    simulate_outliers,
    simulate_spectra,
    top_eigenpairs,
)
from attnlab.precision import precision
from attnlab.rng import replicate_keys


def _check_mean(samples, theory, bias):
    """|mean − theory| ≤ 4 SE over trials + a finite-size bias (a correct theory fails a row
    with probability ≈ 1e-4 under the normal approximation of the mean)."""
    mean = samples.mean(0)
    se = samples.std(0, ddof=1) / np.sqrt(samples.shape[0])
    assert np.all(np.abs(mean - theory) <= 4 * se + bias), (mean, theory, se)


def test_simulation_matches_theory_at_moderate_size():
    """d = 400, δ = γ = 0.5, 8 trials, ℓ far above both thresholds (s >= 1.5 s*).

    Tolerance per quantity: 4 standard errors of the mean over the trials (the trial-to-trial
    spread comes from ‖ξ‖², ⟨μ̂, ξ⟩ and the realised label variance, all O(d^(-1/2))) plus the
    O(1/d) bias 2(2/V + 1/N) ≈ 1.5 % of the value for eigenvalues and 0.01 for overlaps.
    """
    model = PoolingModel(d=400, labels=HiddenLabel(r0=0.3, q=0.8))
    ells = np.array([2.5, 4.0])
    sim = simulate_outliers(model, MeanWeights(), replicate_keys(10, 8), ells=ells, population=True)
    de, ga, r = sim.delta, sim.gamma, sim.rho
    assert sim.converged.all() and sim.converged_pop.all()
    lam, lam_pop = outlier_sample(ells, de, ga, r), outlier_population(ells, de, r)
    _check_mean(sim.lam, lam, 0.015 * lam)
    _check_mean(sim.lam_pop, lam_pop, 0.015 * lam_pop)
    _check_mean(sim.overlap_mu, overlap_sample_mu(ells, de, ga, r), 0.01)
    _check_mean(sim.overlap_m, overlap_sample_m(ells, de, ga, r), 0.01)
    _check_mean(sim.overlap_pop_mu, overlap_population(ells, de, r), 0.01)
    _check_mean(sim.overlap_pop_m, overlap_population_m(ells, de, r), 0.01)


def test_fast_eigenpairs_equal_dense_ones():
    """The block-Krylov top eigenpair at every ℓ equals the dense eigh of Ĉ(ℓ)."""
    model = PoolingModel(d=150, labels=HiddenLabel(r0=0.5))
    key = replicate_keys(3, 1)
    ells = [0.0, 1.0, 4.0]
    sim = simulate_outliers(model, MeanWeights(), key, ells=ells)
    smp = sample_pooled(model, MeanWeights(), key[0])
    for j, ell in enumerate(ells):
        lam, vec = top_eigenpairs(smp.data(ell), 1, method="dense")
        np.testing.assert_allclose(sim.lam[0, j], lam[0] / smp.kappa, rtol=1e-10)
        overlap = (vec[:, 0] @ smp.table.mu_direction) ** 2
        np.testing.assert_allclose(sim.overlap_mu[0, j], overlap, atol=1e-6)


def test_replicates_do_not_depend_on_the_batch():
    model = PoolingModel(d=60, L=4)
    keys = replicate_keys(7, 3)
    batch = simulate_outliers(model, MeanWeights(), keys, ells=[0.5, 2.0])
    alone = simulate_outliers(model, MeanWeights(), replicate_keys(7, 1, start=2), ells=[0.5, 2.0])
    np.testing.assert_array_equal(batch.lam[2], alone.lam[0])
    spectra = simulate_spectra(model, MeanWeights(), keys, ell=1.0)
    np.testing.assert_array_equal(
        spectra[1], simulate_spectra(model, MeanWeights(), keys[1], ell=1.0)
    )


def test_without_centring_an_uninformative_outlier_appears():
    """Uncentred data carry the mean (Σ_t w_t) ē with ‖ē‖² ~ δ: an extra spike of strength
    (Σw)² δ/κ = Lδ = 8 (mean weights, L = 16) along ē, not μ."""
    model = PoolingModel(d=300, labels=HiddenLabel(profile="constant", r0=0.0))
    key = jax.random.key(7)
    raw = sample_pooled(model, MeanWeights(), key, center=False)
    cen = sample_pooled(model, MeanWeights(), key, center=True)
    vals_raw, vec_raw = top_eigenpairs(raw.data(0.0), 1)
    vals_cen, _ = top_eigenpairs(cen.data(0.0), 1)
    e_bar = raw.table.noise.mean(0)
    # spiked-covariance outlier for strength 8 on this bulk is ~ 10 κ; the bulk edge ~4.4 κ
    assert vals_raw[0] / raw.kappa > 8 > vals_cen[0] / cen.kappa
    assert (vec_raw[:, 0] @ e_bar) ** 2 / (e_bar @ e_bar) > 0.8
    assert (vec_raw[:, 0] @ raw.table.mu_direction) ** 2 < 0.05


def test_outside_any_precision_context_results_are_float64_and_x64_untouched():
    before = jax.config.jax_enable_x64
    model = PoolingModel(d=40, L=3)
    sim = simulate_outliers(model, MeanWeights(), replicate_keys(0, 2), ells=[1.0])
    spectra = simulate_spectra(model, MeanWeights(), jax.random.key(0))
    overlaps = simulate_attention_pooling(model, replicate_keys(0, 2), tau=1.0, ell=1.0)
    assert sim.lam.dtype == np.float64 and spectra.dtype == np.float64
    assert overlaps["tau/d"].dtype == np.float64
    assert isinstance(sim.lam, np.ndarray) and isinstance(spectra, np.ndarray)
    assert jax.config.jax_enable_x64 == before


class _Recorder:
    def __init__(self):
        self.events = []

    def start(self, description, total):
        self.events.append(("start", description, total))
        return len(self.events)

    def advance(self, handle, amount):
        self.events.append(("advance", amount))

    def finish(self, handle):
        self.events.append(("finish",))


def test_progress_is_reported_per_trial():
    rec = _Recorder()
    with progress.reporting(rec):
        simulate_outliers(PoolingModel(d=40, L=3), MeanWeights(), replicate_keys(0, 3), ells=[1.0])
    assert rec.events[0][0] == "start" and rec.events[0][2] == 3
    assert [e for e in rec.events if e[0] == "advance"] == [("advance", 1)] * 3
    assert rec.events[-1] == ("finish",)


def test_float32_precision_keeps_the_table_in_float32_and_the_eigenpair_exact():
    """Inside precision("float32") the table (and every product with it) is float32; the top
    eigenpair still equals the float64 dense eigh of the same data (Lanczos tolerance 1e-4 on
    the residual gives an eigenvalue error <= 1e-8 θ²/gap above the transition)."""
    model = PoolingModel(d=300, labels=HiddenLabel(r0=0.3))
    with precision("float32"):
        smp = sample_pooled(model, MeanWeights(), jax.random.key(2))
        lam, vec, ok = sample_top(smp, [3.0])
    assert smp.table.noise.dtype == np.float32 and ok.all() and lam.dtype == np.float64
    ref_lam, ref_vec = top_eigenpairs(smp.data(3.0).astype(np.float64), 1, method="dense")
    np.testing.assert_allclose(lam[0] * smp.kappa, ref_lam[0], rtol=1e-6)
    np.testing.assert_allclose(abs(vec[:, 0] @ ref_vec[:, 0]), 1.0, atol=1e-6)
