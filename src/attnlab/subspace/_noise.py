r"""Stationary misalignment: the noise floor of SGA at the pole.

Derivation. Near m = 1 write δ = 1 − m². The exact update of the reduced chain,
m' = (m + a s g2)/√(1 + a²G) with s = √δ, G = g2² + ‖g_C‖² and E[g2] = φ′(m) s (the e2 component
of the mean field φ′(m)(u − mq)), gives

    δ' = [δ + a²G − 2a m s g2 − a² δ g2²] / (1 + a²G),
    E[δ_{n+1} | δ_n] = δ_n (1 − 2 a_n φ′(1)) + a_n² E_g + O(a_n² δ_n, a_n δ_n^{3/2}),

with E_g = E[g2² + ‖g_C‖²] at m = 1, the mean squared norm of the projected gradient at the pole.
For a_n = c/(n + n0)^p, a quasi-stationary solution δ_n = k a_n must satisfy
k (a_{n+1} − a_n) = a_n² (E_g − 2kφ′(1)) with a_{n+1} − a_n ≈ −p a_n/(n + n0), so

    E δ_n ≈ a_n E_g / (2φ′(1) − p/(a_n (n + n0))),       E[1 − |m_n|] ≈ E δ_n / 2

(p/(a_n(n + n0)) = 1/c for p = 1; a constant step a gives E δ = a E_g/(2φ′(1))). The
linearisation needs 2 a_n φ′(1) ≪ 1 and a relaxation faster than the decay of a_n,
2φ′(1) > p/(a_n(n + n0)); otherwise there is no quasi-stationary floor (returned as inf).
The neglected terms are O(a_n φ′(1)) relative. E_g is estimated by Monte-Carlo of the exact
reduced gradient (:mod:`attnlab.subspace._reduced`), φ′(1) by the exact Monte-Carlo φ.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from attnlab._jax import jax, jit_xla_reductions, jnp
from attnlab._validate import check_int, check_range
from attnlab.compare import Tolerance, bound, monte_carlo, standard_error
from attnlab.precision import uses_jax
from attnlab.rng import stream
from attnlab.subspace._model import SubspaceModel
from attnlab.subspace._phi import phi_monte_carlo
from attnlab.subspace._reduced import chunked_draws, draw_step, step_gradient
from attnlab.subspace._schedule import Schedule

__all__ = [
    "NoiseFloor",
    "escape_delay",
    "noise_floor",
    "pole_noise",
    "stationary_misalignment",
]

POLE_CHUNK = 256  # draws per compiled chunk of the pole-noise Monte-Carlo


@functools.lru_cache(maxsize=32)
def _pole_program(d, K, M, sign, batch, n_chunks):
    N = K + M

    @jit_xla_reductions
    def run(keys, theta_d, beta, m0):
        def chunk(ks):
            draws = jax.vmap(lambda k: draw_step(k, d, K, N, batch, sign, jnp.float64))(ks)
            m = jnp.full(ks.shape[0], m0, jnp.float64)
            g2, gc2, _ = step_gradient(m, draws, K=K, theta_d=theta_d, beta=beta, d=d)
            v = g2 * g2 + gc2
            return v.sum(), (v * v).sum()

        s1, s2 = jax.lax.map(chunk, keys.reshape(n_chunks, POLE_CHUNK))
        return s1.sum(), s2.sum()

    return run


@uses_jax
def pole_noise(
    model: SubspaceModel, *, key: Any, n_samples: int, batch: int = 1, m: float = 1.0
) -> tuple[float, float]:
    """E_g = E[g2² + ‖g_C‖²], the mean squared norm of the projected (mini-batch) gradient, at
    m = 1 (module docstring) or at another overlap ``m``, and its standard error, by Monte-Carlo
    of the exact reduced gradient. O(n_samples · B · N).

    Parameters
    ----------
    model : SubspaceModel
    key : jax key
    n_samples : int
        Draws, ``>= 2``; rounded up to a multiple of 256.
    batch : int
        Mini-batch size B of the gradient.
    m : float
        The overlap, in [−1, 1] (default: the pole).

    Returns
    -------
    mean, se : float
    """
    m = check_range("m", m, lo=-1.0, hi=1.0)
    n_samples = check_int("n_samples", n_samples, lo=2)
    batch = check_int("batch", batch, lo=1)

    def run(size: int, keys: Any) -> tuple[float, float]:
        program = _pole_program(model.d, model.K, model.M, model.sign, batch, size)
        a, b = program(keys, model.theta_d, model.beta, m)
        return float(a), float(b)

    sums = chunked_draws(key, n_samples, POLE_CHUNK, "pole noise", run)
    s1, s2 = (sum(part) for part in zip(*sums, strict=True))
    S = -(-n_samples // POLE_CHUNK) * POLE_CHUNK
    mean = s1 / S
    return mean, math.sqrt(max(s2 / S - mean**2, 0.0) / (S - 1))


def stationary_misalignment(
    schedule: Schedule, n: Any, *, noise: float, phi_prime_pole: float
) -> np.ndarray:
    r"""Predicted E[1 − |m_n|] at the pole (module docstring):

    .. math:: \mathbb E[1-|m_n|] \approx \frac{a_n E_g}{2\,(2\varphi'(1) - p/(a_n(n+n_0)))}.

    Parameters
    ----------
    schedule : RobbinsMonro or Constant
    n : int or array
        Step indices.
    noise : float
        E_g, ``> 0``.
    phi_prime_pole : float
        φ′(1).

    Returns
    -------
    numpy.ndarray
        inf where the relaxation is too slow for a quasi-stationary floor.
    """
    noise = check_range("noise", noise, lo=0, hi=1e300)
    rate = 2 * check_range("phi_prime_pole", phi_prime_pole, lo=-1e300, hi=1e300)
    n = np.atleast_1d(np.asarray(n, dtype=float))
    a = schedule.step_sizes(n)
    c, n0, p = schedule.coefficients()
    denom = rate - p / (a * (n + n0))
    with np.errstate(divide="ignore"):
        return np.where(denom > 0, 0.5 * a * noise / np.where(denom > 0, denom, 1.0), np.inf)


@dataclass(frozen=True)
class NoiseFloor:
    """The two constants of the noise-floor theory of a model, with their standard errors.

    Parameters
    ----------
    phi_prime_pole, phi_prime_pole_se : float
        φ′(1) (exact Monte-Carlo).
    noise, noise_se : float
        E_g at the pole (exact Monte-Carlo).
    """

    phi_prime_pole: float
    phi_prime_pole_se: float
    noise: float
    noise_se: float

    @property
    def rel_se(self) -> float:
        """Relative standard error of a prediction (both constants' errors combined)."""
        return math.hypot(self.noise_se / self.noise, self.phi_prime_pole_se / self.phi_prime_pole)

    def misalignment(self, schedule: Schedule, n: Any) -> np.ndarray:
        """Predicted E[1 − |m_n|] at steps ``n`` (:func:`stationary_misalignment`).

        Parameters
        ----------
        schedule : RobbinsMonro or Constant
        n : int or array
            Steps after the escape (the prediction is that of the stationary regime near ±1).

        Returns
        -------
        numpy.ndarray
            E[1 − |m_n|] at each step.
        """
        return stationary_misalignment(
            schedule, n, noise=self.noise, phi_prime_pole=self.phi_prime_pole
        )

    def stiffness(self, schedule: Schedule, n: Any) -> np.ndarray:
        """2 a_n φ′(1): the linearisation holds when it is ≪ 1.

        Parameters
        ----------
        schedule : RobbinsMonro or Constant
        n : int or array

        Returns
        -------
        numpy.ndarray
        """
        return 2 * np.atleast_1d(schedule.step_sizes(n)) * self.phi_prime_pole

    def tolerance(self, schedule: Schedule, n: int, misalignments: Any) -> Tolerance:
        """Tolerance for the mean of 1 − |m_n| over seeds against the prediction: 4 SE over seeds
        + 2 relative Monte-Carlo SE of the prediction + the neglected O(2 a_n φ′(1)) terms.

        Parameters
        ----------
        schedule : RobbinsMonro or Constant
        n : int or array
            The step compared, or the steps of a window whose mean is compared.
        misalignments : array
            1 − |m_n| per seed (or its mean over the window).

        Returns
        -------
        attnlab.compare.Tolerance
        """
        pred = float(np.mean(self.misalignment(schedule, n)))
        return (
            standard_error(misalignments, z=4)
            + monte_carlo(pred * self.rel_se, z=2, what="relative Monte-Carlo (φ′(1), E_g)")
            + bound(
                pred * float(np.max(self.stiffness(schedule, n))),
                "O(2aφ′(1)) terms neglected by the quasi-stationary linearisation",
            )
        )


def noise_floor(model: SubspaceModel, *, key: Any, n_samples: int, batch: int = 1) -> NoiseFloor:
    """φ′(1) and E_g of ``model`` by exact Monte-Carlo (streams "phi" and "noise" of ``key``).

    Parameters
    ----------
    model : SubspaceModel
    key : jax key
        Its streams "phi" and "noise" draw the two estimates.
    n_samples : int
        Draws for each of the two estimates.
    batch : int
        Mini-batch size of the gradient.

    Returns
    -------
    NoiseFloor
    """
    est = phi_monte_carlo(model, [1.0], key=stream(key, "phi"), n_samples=n_samples)
    noise, noise_se = pole_noise(model, key=stream(key, "noise"), n_samples=n_samples, batch=batch)
    return NoiseFloor(float(est.dphi[0]), float(est.dphi_se[0]), noise, noise_se)


def escape_delay(
    model: SubspaceModel,
    schedule: Schedule,
    steps: int,
    *,
    key: Any,
    n_samples: int,
    batch: int = 1,
    noise: float | None = None,
) -> float:
    r"""The ODE time by which SGA leaves the equator later than the ODE:
    Δt = E‖ĝ‖²(m=0) Σ_{k<n} a_k² / (2φ″(0)).

    Near m = 0 one step multiplies m by 1 + a_k φ″(0) (the drift) and, through the
    normalisation q̃/‖q̃‖, by 1 − (a_k²/2)E‖ĝ‖²: the log-growth after n steps is
    φ″(0) t_n − (E‖ĝ‖²/2) Σ_{k<n} a_k² instead of φ″(0) t_n, to first order in a. The loss is a
    fixed amount of growth, i.e. a delay Δt of the escape in ODE time.

    Parameters
    ----------
    model : SubspaceModel
        A symmetric sign law in the closed form's domain (φ″(0) of the closed form, > 0).
    schedule : RobbinsMonro or Constant
    steps : int
        Steps n of the run.
    key : jax key
    n_samples : int
        Monte-Carlo draws of E‖ĝ‖² at the equator.
    batch : int
    noise : float, optional
        E‖ĝ‖² at the equator when already known (no Monte-Carlo then).

    Returns
    -------
    float
        Δt ≥ 0.
    """
    from attnlab.subspace._closed_form import phi_second_at_zero

    steps = check_int("steps", steps, lo=1)
    phi2 = phi_second_at_zero(model)
    if not phi2 > 0:
        return math.inf
    if noise is None:
        noise, _ = pole_noise(model, key=key, n_samples=n_samples, batch=batch, m=0.0)
    squares = float(np.sum(schedule.step_sizes(np.arange(steps)) ** 2))
    return noise * squares / (2 * phi2)
