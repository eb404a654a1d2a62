"""Noise floor at the pole: the formula, its validity, the Monte-Carlo constants."""

import math

import jax
import numpy as np
import pytest

from attnlab import ParameterError
from attnlab.subspace import (
    Constant,
    NoiseFloor,
    RobbinsMonro,
    SubspaceModel,
    noise_floor,
    pole_noise,
    stationary_misalignment,
)


def test_stationary_misalignment_formula():
    # a E_g / (2(2φ'(1) − p/(a(n+n0)))), a = c/(n+n0) = 0.01 at n = 990, c = 10, n0 = 10
    s = RobbinsMonro(c=10.0, n0=10.0)
    got = stationary_misalignment(s, 990, noise=3.0, phi_prime_pole=1.0)
    np.testing.assert_allclose(got, 0.5 * 0.01 * 3.0 / (2.0 - 0.1))
    slow = RobbinsMonro(c=1.0, n0=10.0)
    assert math.isinf(stationary_misalignment(slow, 90, noise=3, phi_prime_pole=0.01)[0])
    const = stationary_misalignment(Constant(a=0.01), [5, 500], noise=3.0, phi_prime_pole=1.0)
    np.testing.assert_allclose(const, 0.5 * 0.01 * 3.0 / 2.0)


@pytest.mark.parametrize("bad", [{"noise": np.nan}, {"noise": -1.0}, {"phi_prime_pole": np.inf}])
def test_stationary_misalignment_refuses_bad_constants(bad):
    with pytest.raises(ParameterError):
        stationary_misalignment(RobbinsMonro(), 10, **{"noise": 3.0, "phi_prime_pole": 1.0, **bad})


def test_noise_floor_object():
    floor = NoiseFloor(phi_prime_pole=1.15, phi_prime_pole_se=0.01, noise=3.1, noise_se=0.03)
    s = RobbinsMonro()
    pred = floor.misalignment(s, 1000)[0]
    np.testing.assert_allclose(pred, 0.5 * (9 / 1030) * 3.1 / (2.3 - 1 / 9))
    samples = np.full(30, pred) + np.linspace(-1e-3, 1e-3, 30)
    tol = floor.tolerance(s, 1000, samples)
    se = 4 * samples.std(ddof=1) / math.sqrt(30)
    np.testing.assert_allclose(
        tol.value, se + 2 * pred * floor.rel_se + pred * 2 * (9 / 1030) * 1.15, rtol=1e-12
    )


def test_pole_noise_batch_averages_the_noise():
    """E‖ĝ‖² of a B-batch mean at the pole: the fluctuating part shrinks by 1/B, so
    E_g(B = 4) < E_g(1) (a mean of 4 independent gradients of the same mean)."""
    model = SubspaceModel(d=20, K=20, M=200, theta=0.5)
    one, se1 = pole_noise(model, key=jax.random.key(0), n_samples=2048)
    four, se4 = pole_noise(model, key=jax.random.key(1), n_samples=2048, batch=4)
    assert four + 4 * se4 < one - 4 * se1


@pytest.mark.slow
def test_headline_noise_floor_constants():
    """φ′(1) by Monte-Carlo agrees with the closed form within its O(1/N_eff) bound."""
    from attnlab.subspace import closed_form_bound, phi_prime_closed_form

    model = SubspaceModel()
    floor = noise_floor(model, key=jax.random.key(3), n_samples=4096)
    cf = phi_prime_closed_form(model, 1.0)[0]
    bound = closed_form_bound(model, 1.0)[1][0]
    assert abs(floor.phi_prime_pole - cf) <= 4 * floor.phi_prime_pole_se + bound
