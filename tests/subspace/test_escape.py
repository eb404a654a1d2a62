"""The escape law of SGA from the equator against the exact reduced chain."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from attnlab.rng import replicate_keys, root_key, stream
from attnlab.subspace import (
    Reduced,
    RobbinsMonro,
    SubspaceModel,
    equator_draws,
    escape_fraction,
    escape_law,
    linearising_coordinate,
    ode_phi_prime,
    simulate,
)

# a model in the regime of the headline one (d ≪ N, φ″(0) > 0) but ten times fewer tokens, with
# a smaller step constant so that the per-step noise stays moderate
MODEL = SubspaceModel(d=100, K=20, M=1000, theta=0.25)
SCHEDULE = RobbinsMonro(c=3.0, n0=30)


def _law(model, schedule, steps, n_samples=4096):
    phi_prime, _ = ode_phi_prime(model, key=stream(root_key(1), "phi"), n_samples=2048)
    return escape_law(
        model, schedule, steps, phi_prime=phi_prime, key=root_key(2), n_samples=n_samples
    )


def test_linearising_coordinate_of_a_linear_field_is_exact():
    # φ′(m) = λm: Λ(m) = log m + ∫_0^m s/(1 − s²) ds = log m − ½ log(1 − m²), whatever λ
    coordinate = linearising_coordinate(lambda m: 0.7 * np.asarray(m))
    m = np.array([1e-4, 0.1, 0.5, 0.9])
    # trapezoid rule, spacing h ≈ 5e-4: error ≤ h²/12 · |f′(0.9) − f′(0)| ≈ 1e-6 for
    # f = s/(1 − s²), plus the linear interpolation between nodes of the same order
    np.testing.assert_allclose(coordinate(m), np.log(m) - 0.5 * np.log1p(-(m**2)), atol=1e-5)


def test_escape_fraction_counts_first_passage():
    abs_m = np.array([[0.1, 0.6, 0.4, 0.7], [0.1, 0.2, 0.3, 0.4]])
    np.testing.assert_array_equal(escape_fraction(abs_m, 0.5), [0.0, 0.5, 0.5, 0.5])


def test_refuses_models_without_an_escape():
    with pytest.raises(ValueError, match="sign = 'fixed'"):
        _law(MODEL.replace(sign="fixed"), SCHEDULE, 10, n_samples=16)
    with pytest.raises(ValueError, match="does not repel"):
        linearising_coordinate(lambda m: -np.asarray(m))


def test_gaussian_formula_matches_the_affine_chain():
    """The law's closed form (Gaussian kicks, lognormal growth) against a Monte-Carlo of the
    affine chain m' = A m + B it approximates, with the same per-step draws of (A, B)."""
    steps = 150
    law = _law(MODEL, SCHEDULE, steps, n_samples=1024)
    draws = equator_draws(MODEL, key=root_key(2), n_samples=1024)
    A, B = draws.affine(SCHEDULE.step_sizes(np.arange(steps)))
    rng = np.random.default_rng(0)
    chains = 100_000
    z = rng.standard_normal(chains)
    m = z / np.sqrt(z * z + rng.chisquare(MODEL.d - 1, chains))
    for k in range(steps):
        i = rng.integers(0, A.shape[1], chains)
        m = A[k, i] * m + B[k, i]
    for x in (0.02, 0.1, 0.3):
        # the chain is linear: compare in the linearising coordinate's units
        simulated = np.mean(np.abs(m) < np.exp(law.coordinate(x)))
        predicted = law.probability_below(x, steps)[0]
        # 4 binomial SE of the chain's fraction + 0.01 for the Gaussian-kick and lognormal-growth
        # approximations (measured ≤ 0.008 with 2·10⁵ chains)
        tol = 4 * math.sqrt(predicted * (1 - predicted) / chains) + 0.01
        np.testing.assert_allclose(simulated, predicted, atol=tol)


def test_escape_steps_follow_the_law():
    """Escape steps T (first |m_n| ≥ 1/2) of 1000 reduced-chain runs against the escape law;
    the law without the kicks of the early steps (m_0's spread only) is rejected (power)."""
    steps, runs = 150, 1000
    traj = simulate(
        MODEL, replicate_keys(11, runs), steps=steps, schedule=SCHEDULE, simulator=Reduced()
    )
    law = _law(MODEL, SCHEDULE, steps)
    empirical = escape_fraction(traj.abs_m, 0.5)
    ks = np.abs(empirical - law.escape_cdf(traj.step)).max()
    # DKW: P(sup |F_n − F| > ε) ≤ 2 exp(−2nε²) = 0.001
    dkw = math.sqrt(math.log(2 / 1e-3) / (2 * runs))
    assert ks < dkw, (ks, dkw)
    no_kicks = dataclasses.replace(law, noise_var=np.zeros_like(law.noise_var))
    assert np.abs(empirical - no_kicks.escape_cdf(traj.step)).max() > dkw
    # the probability of still being below 1/2 at the end, within 4 binomial SE
    p = law.probability_below(0.5, steps)[0]
    np.testing.assert_allclose(
        np.mean(traj.final_alignment < 0.5), p, atol=4 * math.sqrt(p * (1 - p) / runs)
    )
