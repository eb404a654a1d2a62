"""The ODE: exact solutions, the stiff strong-signal case, step caps, fixed points."""

import math

import jax
import numpy as np
import pytest

from attnlab import ParameterError
from attnlab.subspace import (
    ODEError,
    SubspaceModel,
    closed_form_function,
    fixed_points,
    ode_phi_prime,
    ode_rhs,
    phi_monte_carlo,
    phi_prime_interpolant,
    phi_prime_zeros,
    phi_second_at_zero,
    solve_ode,
)


def test_ode_solution_is_oja_logistic():
    """With φ'(m) = 2κm, m(t)² = m0² e^{4κt} / (1 − m0² + m0² e^{4κt}) (Oja / small-β limit)."""
    kappa, m0 = 0.7, np.array([0.05, -0.2, 0.6, 1.0, 0.0])
    t = np.linspace(0, 5, 11)
    sol = solve_ode(m0, t, phi_prime=lambda m: 2 * kappa * m)
    e = np.exp(4 * kappa * t)
    exact = np.sign(m0)[:, None] * np.sqrt(
        m0[:, None] ** 2 * e / (1 - m0[:, None] ** 2 + m0[:, None] ** 2 * e)
    )
    np.testing.assert_allclose(sol, exact, rtol=1e-6, atol=1e-9)


def test_strong_signal_is_not_stiff_in_w():
    """theta = 20 (φ′(1) ~ 400) ran for minutes with fixed RK4 steps ≤ 1/max|F′|; in
    w = artanh m the pole is approached at finite speed and a few hundred steps suffice."""
    dphi = closed_form_function(SubspaceModel(theta=20.0), order=1)
    sol = solve_ode([0.01, -0.1], np.linspace(0, 31.8, 101), phi_prime=dphi, max_steps=500)
    np.testing.assert_allclose(np.abs(sol[:, -1]), 1.0)
    assert np.all(np.diff(np.abs(sol), axis=1) >= -1e-12)  # |m| only grows


def test_step_cap_reports_non_convergence():
    with pytest.raises(ODEError, match="stopped after 3 steps"):
        solve_ode([0.1], [0.0, 50.0], phi_prime=lambda m: np.sin(40 * m), max_steps=3)


@pytest.mark.parametrize(
    "m0, times, match",
    [
        ([0.1], [0.0, np.nan], "^times"),
        ([0.1], [1.0, 0.5], "^times"),
        ([0.1], [-1.0, 0.5], "^times"),
        ([0.1], [], "^times"),
        ([np.nan], [0.0, 1.0], "^m0"),
        ([1.5], [0.0, 1.0], "^m0"),
    ],
)
def test_solve_ode_refuses_bad_input(m0, times, match):
    """solve_ode(times=[0, nan]) used to return m0."""
    with pytest.raises(ParameterError, match=match):
        solve_ode(m0, times, phi_prime=lambda m: m)


def test_solve_ode_refuses_non_finite_drift():
    with pytest.raises(ParameterError, match="phi_prime is not finite"):
        solve_ode([0.1], [0.0, 1.0], phi_prime=lambda m: np.full_like(m, np.nan))


def test_fixed_points_headline_has_no_spurious_zero():
    model = SubspaceModel()
    fps = fixed_points(closed_form_function(model, order=1))
    kinds = {f.kind: f for f in fps}
    assert set(kinds) == {"equator", "pole"}
    assert not kinds["equator"].stable and kinds["pole"].stable
    np.testing.assert_allclose(kinds["equator"].slope, phi_second_at_zero(model), rtol=1e-3)


def test_fixed_points_detect_spurious_zero():
    # φ'(m) = m (m − 0.5)(m + 0.5): zero at 0.5 with φ'' > 0 there -> unstable spurious point
    fps = fixed_points(lambda m: np.asarray(m) * (np.asarray(m) ** 2 - 0.25))
    spur = [f for f in fps if f.kind == "spurious"]
    assert len(spur) == 1
    np.testing.assert_allclose(spur[0].m, 0.5, atol=1e-3)
    assert not spur[0].stable
    assert [f.stable for f in fps if f.kind == "equator"] == [True]


def test_fixed_points_of_nan_drift_are_refused():
    """fixed_points of a NaN φ′ used to report "equator and pole"."""
    with pytest.raises(ParameterError, match="phi_prime is not finite"):
        fixed_points(lambda m: np.full_like(np.asarray(m, dtype=float), np.nan))
    with pytest.raises(ParameterError, match="phi_prime is not finite"):
        fixed_points(lambda m: np.where(np.asarray(m) < -0.5, np.inf, 1.0), symmetric=False)


def test_phi_prime_zeros_ignores_insignificant_noise():
    m = np.linspace(0, 1, 11)
    dphi = np.array([0, 1e-4, -1e-4, 2e-4, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7])
    assert len(phi_prime_zeros(m, dphi)) >= 2
    assert len(phi_prime_zeros(m, dphi, np.full(11, 1e-3))) == 0


def test_ode_rhs_and_interpolant():
    np.testing.assert_allclose(ode_rhs([0.0, 0.5, 1.0], lambda m: 2 * m), [0.0, 0.75, 0.0])
    model = SubspaceModel(M=2000)
    est = phi_monte_carlo(model, np.linspace(0, 1, 11), key=jax.random.key(0), n_samples=64)
    f = phi_prime_interpolant(est)
    np.testing.assert_allclose(f(-est.m), -est.dphi, rtol=1e-12)  # odd extension


def test_ode_phi_prime_falls_back_to_monte_carlo():
    """Gaussian signs at strong signal: the closed form applies near the equator only."""
    model = SubspaceModel(sign="gaussian", theta=0.5, M=2000)
    _, source = ode_phi_prime(model, key=jax.random.key(0), n_samples=64, n_grid=11)
    assert source == "Monte-Carlo"
    assert ode_phi_prime(SubspaceModel(), key=jax.random.key(0), n_samples=64)[1] == "closed form"
    assert math.isfinite(ode_phi_prime(model, key=jax.random.key(0), n_samples=64)[0](0.99)[()])
