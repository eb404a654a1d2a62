r"""The law of the escape from the equator at finite d: when does a run leave m ≈ 0?

Derivation. With a symmetric sign law, φ is even and m = 0 is a fixed point of the mean field.
Near it, one step of the exact reduced chain (:mod:`attnlab.subspace._reduced`),

    m' = f(m) = (m + a √(1−m²) g2(m)) / √(1 + a² G(m)),      G = g2² + ‖g_C‖²,

is affine in m to first order, m' = A m + B, with, per draw of the step's randomness,

    B = a g2 / √(1 + a²G),
    A = (1 + a g2′) / √(1 + a²G) − a³ g2 G′ / (2 (1 + a²G)^{3/2}),      G′ = 2 g2 g2′ + ‖g_C‖²′,

everything at m = 0 (′ = d/dm with the draw fixed; E g2′ = φ″(0) since E g2 = √(1−m²) φ′(m)).
Unrolling the affine recursion, with P_n = A_0 ⋯ A_{n−1},

    m_n = P_n m_0 + Σ_{k<n} B_k · P_n / P_{k+1}.

The steps are independent, so log|P_n| is a sum of independent terms, treated as Gaussian with
mean μ_n = Σ_{k<n} E log|A_k| (this carries the drift a φ″(0) and the normalisation loss
≈ a²E G/2 exactly per step) and variance σ_n² = Σ_{k<n} Var log|A_k|. By symmetry B is odd and A
even under the reflection u ↦ −u of a draw, so E B = E AB = 0, and m_n = P_n Z_n where Z_n is m_0
plus a sum of independent, centred, small kicks, taken Gaussian: matching the second moment of
B_k P_n/P_{k+1} (log P_n − log P_{k+1} ~ N(μ_n − μ_{k+1}, σ_n² − σ_{k+1}²)) gives the variance

    s_n² = Σ_{k<n} E[B_k²] e^{−2μ_{k+1} − 2σ_{k+1}²},

independent of m_0, whose law is exact (⟨q_0, u⟩ for q_0 uniform on S^{d−1}: density
∝ (1 − m²)^{(d−3)/2}). The noise of the early, large steps adds to the spread of m_0 and makes
very small |Z| rarer than m_0 alone would.

The linear regime ends at |m| of order one. Beyond it the run follows the ODE
dm/dt = F(m) = (1 − m²) φ′(m); in the linearising coordinate

    Λ(m) = log m + ∫_0^m [φ″(0) / F(s) − 1/s] ds,      dΛ/dt = φ″(0),      Λ(m) ≈ log m near 0,

a trajectory is a translate, so the two regimes join as Λ(|m_n|) = log|Z| + log|P_n|. Hence

    P(|m_n| < x) = E_L [ P(|Z_n| < e^{Λ(x) − L}) ],      L ~ N(μ_n, σ_n²),

and the escape step T_x = min{n : |m_n| ≥ x} has P(T_x ≤ n) = 1 − P(|m_{n*}| < x) with the
running maximum of the growth (escape is final once |m| is of order one). The expectations
over draws are Monte-Carlo averages over one set of draws at m = 0, reused for every step size
(A and B depend on a only through the formulas above); the expectation over L is Gauss–Hermite
quadrature and the one over m_0 Gauss–Jacobi.

Validity: a symmetric sign law, φ″(0) > 0 (else the equator does not repel), and runs whose
escape is not already over after the first steps (d not tiny). The noise is not modelled once
|m| is of order one: there the drift dominates, and the pole's own noise floor is
:func:`attnlab.subspace.noise_floor`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from attnlab._jax import jax, jit_xla_reductions, jnp
from attnlab._validate import ParameterError, check_int, check_range
from attnlab.precision import uses_jax
from attnlab.subspace._model import SubspaceModel
from attnlab.subspace._reduced import chunked_draws, draw_step, step_gradient
from attnlab.subspace._schedule import Schedule

__all__ = [
    "EquatorDraws",
    "EscapeLaw",
    "equator_draws",
    "escape_fraction",
    "escape_law",
    "linearising_coordinate",
]

EQUATOR_CHUNK = 256  # draws per compiled chunk
HERMITE_NODES = 24
JACOBI_NODES = 400


@functools.lru_cache(maxsize=32)
def _equator_program(d, K, M, sign, batch, n_chunks):
    N = K + M

    @jit_xla_reductions
    def run(keys, theta_d, beta):
        def chunk(ks):
            draws = jax.vmap(lambda k: draw_step(k, d, K, N, batch, sign, jnp.float64))(ks)

            def grad(m):
                g2, gc2, _ = step_gradient(m, draws, K=K, theta_d=theta_d, beta=beta, d=d)
                return g2, gc2

            zero = jnp.zeros(ks.shape[0], jnp.float64)
            (g2, gc2), (dg2, dgc2) = jax.jvp(grad, (zero,), (jnp.ones_like(zero),))
            return jnp.stack([g2, g2 * g2 + gc2, dg2, 2 * g2 * dg2 + dgc2])

        out = jax.lax.map(chunk, keys.reshape(n_chunks, EQUATOR_CHUNK, *keys.shape[1:]))
        return jnp.moveaxis(out, 1, 0).reshape(4, -1)

    return run


@dataclass(frozen=True)
class EquatorDraws:
    """Per-draw gradient statistics of one SGA step at m = 0 (module docstring).

    Parameters
    ----------
    g2, G, dg2, dG : numpy.ndarray
        g2, G = g2² + ‖g_C‖², and their derivatives in m with the draw fixed, one per draw.
    """

    g2: np.ndarray
    G: np.ndarray
    dg2: np.ndarray
    dG: np.ndarray

    @property
    def phi_second(self) -> tuple[float, float]:
        """φ″(0) = E g2′ and its standard error."""
        return float(self.dg2.mean()), float(self.dg2.std(ddof=1) / math.sqrt(self.dg2.size))

    def affine(self, step: Any) -> tuple[np.ndarray, np.ndarray]:
        """A and B of m' = A m + B per (step size, draw): arrays of shape (len(step), draws)."""
        a = np.atleast_1d(np.asarray(step, dtype=float))[:, None]
        norm = 1.0 + a * a * self.G
        A = (1.0 + a * self.dg2) / np.sqrt(norm) - a**3 * self.g2 * self.dG / (2 * norm**1.5)
        B = a * self.g2 / np.sqrt(norm)
        return A, B


@uses_jax
def equator_draws(
    model: SubspaceModel, *, key: Any, n_samples: int, batch: int = 1
) -> EquatorDraws:
    """Draws of (g2, G, g2′, G′) at m = 0 from the exact reduced gradient. O(n_samples · B · N).

    Parameters
    ----------
    model : SubspaceModel
    key : jax key
    n_samples : int
        Number of steps drawn at m = 0 (at least 2, rounded up to a multiple of 256).
    batch : int
        The mini-batch size of SGA.

    Returns
    -------
    EquatorDraws
    """
    n_samples = check_int("n_samples", n_samples, lo=2)
    batch = check_int("batch", batch, lo=1)

    def run(size: int, keys: Any) -> np.ndarray:
        program = _equator_program(model.d, model.K, model.M, model.sign, batch, size)
        return np.asarray(program(keys, model.theta_d, model.beta))

    parts = chunked_draws(key, n_samples, EQUATOR_CHUNK, "equator escape", run)
    g2, G, dg2, dG = np.concatenate(parts, axis=1)
    return EquatorDraws(g2, G, dg2, dG)


def linearising_coordinate(
    phi_prime: Callable[[Any], Any], *, upper: float = 0.95, n_grid: int = 2001
) -> Callable[[Any], np.ndarray]:
    r"""Λ(m) = log m + ∫_0^m [φ″(0)/F(s) − 1/s] ds with F(s) = (1 − s²)φ′(s): along the ODE
    dm/dt = F(m), dΛ/dt = φ″(0), and Λ(m) ≈ log m as m → 0.

    Parameters
    ----------
    phi_prime : callable
        m ↦ φ′(m), odd, with φ″(0) = lim φ′(m)/m > 0 and no zero in (0, ``upper``].
    upper : float
        Largest m where Λ is needed, in (0, 1).
    n_grid : int
        Grid points of the quadrature (trapezoid rule, geometric grid below 0.01, uniform
        above).

    Returns
    -------
    callable
        m ↦ Λ(m) for m in (0, ``upper``].
    """
    upper = check_range("upper", upper, lo=0.0, hi=1.0, lo_open=True, hi_open=True)
    n_grid = check_int("n_grid", n_grid, lo=16)
    # geometric near 0 (where the integrand is O(s) and Λ ≈ log m), uniform above 0.01
    grid = np.concatenate(
        [np.geomspace(1e-8, 0.01, n_grid // 4, endpoint=False), np.linspace(0.01, upper, n_grid)]
    )
    slope = float(np.asarray(phi_prime(np.array([1e-6])))[0]) / 1e-6
    if not slope > 0:
        raise ValueError(f"phi''(0) = {slope:.3g}: the equator does not repel, no escape law")
    F = (1 - grid**2) * np.asarray(phi_prime(grid), dtype=float)
    if not np.all(F > 0):
        raise ValueError(
            f"phi' has a zero in (0, {upper:g}]: a spurious fixed point, no escape law"
        )
    integrand = slope / F - 1 / grid
    cumulative = np.concatenate(
        [[0.0], np.cumsum(np.diff(grid) * (integrand[1:] + integrand[:-1]) / 2)]
    )

    def coordinate(m: Any) -> np.ndarray:  # Λ − log m is smooth (O(m²)): interpolate it
        m = np.asarray(m, dtype=float)
        return np.log(np.maximum(m, 1e-300)) + np.interp(m, grid, cumulative, left=0.0)

    return coordinate


@functools.lru_cache(maxsize=8)
def _initial_overlap_quadrature(d: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights of E f(m_0), m_0 = ⟨q_0, u⟩, q_0 uniform on S^{d−1}."""
    from scipy.special import roots_jacobi

    exponent = (d - 3) / 2
    nodes, weights = roots_jacobi(JACOBI_NODES, exponent, exponent)
    return nodes, weights / weights.sum()


@dataclass(frozen=True)
class EscapeLaw:
    """The law of |m_n| while a run leaves the equator (module docstring).

    Parameters
    ----------
    growth_mean, growth_var : numpy.ndarray
        μ_n and σ_n² of log|P_n|, n = 0..steps.
    growth_se : numpy.ndarray
        Monte-Carlo standard error of μ_n (the draws are shared by all steps, so the per-step
        errors add up).
    noise_var : numpy.ndarray
        s_n², n = 0..steps: the variance the step noise adds to m_0.
    d : int
        Dimension (the law of m_0).
    coordinate : callable
        The linearising coordinate Λ.
    phi_second, phi_second_se : float
        φ″(0) = E g2′ (Monte-Carlo) and its standard error.
    """

    growth_mean: np.ndarray
    growth_var: np.ndarray
    growth_se: np.ndarray
    noise_var: np.ndarray
    d: int
    coordinate: Callable[[Any], np.ndarray]
    phi_second: float
    phi_second_se: float

    @property
    def steps(self) -> int:
        """The last step covered."""
        return len(self.growth_mean) - 1

    def _index(self, n: Any) -> np.ndarray:
        n = np.atleast_1d(np.asarray(n))
        if np.any(n < 0) or np.any(n > self.steps) or np.any(n != np.round(n)):
            raise ValueError(f"steps n must be integers in [0, {self.steps}]")
        return n.astype(int)

    def _prob_small_z(self, radius: np.ndarray, noise_var: np.ndarray) -> np.ndarray:
        """P(|m_0 + ε| < radius), ε ~ N(0, noise_var), elementwise (broadcast arrays)."""
        from scipy.special import ndtr

        nodes, weights = _initial_overlap_quadrature(self.d)
        sd = np.sqrt(np.maximum(noise_var, 1e-300))[..., None]
        r = radius[..., None]
        inside = ndtr((r - nodes) / sd) - ndtr((-r - nodes) / sd)
        return np.sum(inside * weights, axis=-1)

    def probability_below(
        self, x: float, n: Any, *, escape: bool = False, shift: float = 0.0
    ) -> np.ndarray:
        r"""P(|m_n| < x) at steps ``n``: E_L P(|Z_n| < e^{Λ(x) − L}), L ~ N(μ_n, σ_n²).

        Parameters
        ----------
        x : float
            Level, in (0, 0.95].
        n : int or array
            Steps, in [0, steps].
        escape : bool
            Use the running maximum of μ (then 1 − the result is P(T_x ≤ n), the escape-step
            distribution function).
        shift : float
            μ_n moved by ``shift`` Monte-Carlo standard errors (for error bands).

        Returns
        -------
        numpy.ndarray
        """
        x = check_range("x", x, lo=0.0, hi=0.95, lo_open=True)
        idx = self._index(n)
        mean = self.growth_mean + shift * self.growth_se
        mean = np.maximum.accumulate(mean) if escape else mean
        nodes, weights = np.polynomial.hermite_e.hermegauss(HERMITE_NODES)
        weights = weights / weights.sum()
        log_growth = mean[idx, None] + np.sqrt(self.growth_var[idx, None]) * nodes
        radius = np.exp(np.minimum(float(self.coordinate(x)) - log_growth, 50.0))
        inside = self._prob_small_z(radius, self.noise_var[idx, None])
        return np.clip(inside @ weights, 0.0, 1.0)

    def escape_cdf(self, n: Any, x: float = 0.5, *, shift: float = 0.0) -> np.ndarray:
        """P(T_x ≤ n), T_x = min{n : |m_n| ≥ x}: the distribution function of the escape step.

        Parameters
        ----------
        n : int or array
        x : float
            Escape level, in (0, 0.95].
        shift : float
            μ_n moved by ``shift`` Monte-Carlo standard errors.

        Returns
        -------
        numpy.ndarray
        """
        return 1.0 - self.probability_below(x, n, escape=True, shift=shift)

    def mean_below(self, x: float, n: int, *, n_grid: int = 64) -> float:
        r"""E[|m_n| ; |m_n| < x] = x P(|m_n| < x) − ∫_0^x P(|m_n| < y) dy.

        Parameters
        ----------
        x : float
            Level, in (0, 0.95].
        n : int
            Step.
        n_grid : int
            Points of the trapezoid rule in y.

        Returns
        -------
        float
        """
        from scipy.integrate import trapezoid

        ys = np.linspace(0.0, x, n_grid)
        cdf = np.array([0.0] + [self.probability_below(y, n)[0] for y in ys[1:]])  # P(|m| < 0) = 0
        return float(x * cdf[-1] - trapezoid(cdf, ys))


def escape_law(
    model: SubspaceModel,
    schedule: Schedule,
    steps: int,
    *,
    phi_prime: Callable[[Any], Any],
    key: Any,
    n_samples: int,
    batch: int = 1,
) -> EscapeLaw:
    """The escape law of SGA with ``schedule`` on ``model`` over ``steps`` steps.

    Parameters
    ----------
    model : SubspaceModel
        A symmetric sign law with φ″(0) > 0.
    schedule : RobbinsMonro or Constant
    steps : int
        Steps covered.
    phi_prime : callable
        φ′ for the ODE beyond the linear regime (e.g. :func:`attnlab.subspace.ode_phi_prime`).
    key : jax key
        The Monte-Carlo draws at m = 0.
    n_samples : int
        Draws at m = 0.
    batch : int
        Mini-batch size.

    Returns
    -------
    EscapeLaw
    """
    if not model.symmetric:
        raise ParameterError(
            f"sign = {model.sign!r}: the escape law needs a symmetric sign law "
            "(token, sequence or gaussian)"
        )
    steps = check_int("steps", steps, lo=1)
    coordinate = linearising_coordinate(phi_prime)
    draws = equator_draws(model, key=key, n_samples=n_samples, batch=batch)
    a = schedule.step_sizes(np.arange(steps))
    A, B = draws.affine(a)
    log_a = np.log(np.abs(A))
    growth_mean = np.concatenate([[0.0], np.cumsum(log_a.mean(axis=1))])
    per_draw = np.cumsum(log_a, axis=0)  # the same draws serve every step: errors correlate
    growth_se = np.concatenate([[0.0], per_draw.std(axis=1, ddof=1) / math.sqrt(log_a.shape[1])])
    growth_var = np.concatenate([[0.0], np.cumsum(log_a.var(axis=1, ddof=1))])
    kick = np.mean(B * B, axis=1) * np.exp(-2 * growth_mean[1:] - 2 * growth_var[1:])
    noise_var = np.concatenate([[0.0], np.cumsum(kick)])
    phi2, phi2_se = draws.phi_second
    return EscapeLaw(
        growth_mean, growth_var, growth_se, noise_var, model.d, coordinate, phi2, phi2_se
    )


def escape_fraction(abs_m: Any, level: float = 0.5) -> np.ndarray:
    """Empirical P(T_x ≤ n): the fraction of runs whose |m| has reached ``level`` by each logged
    step.

    Parameters
    ----------
    abs_m : array, shape (runs, logged steps)
        |m_n| of each run.
    level : float
        Escape level x, in (0, 1).

    Returns
    -------
    numpy.ndarray
        One fraction per logged step (non-decreasing).
    """
    level = check_range("level", level, lo=0.0, hi=1.0, lo_open=True, hi_open=True)
    reached = np.maximum.accumulate(np.atleast_2d(np.asarray(abs_m)) >= level, axis=1)
    return reached.mean(axis=0)
