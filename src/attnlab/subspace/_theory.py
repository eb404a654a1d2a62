r"""Theory of spec §4: the reduced objective φ(m), its large-N closed forms, the limiting ODE.

Monte-Carlo φ (spec §4.1, exact at finite d, K, M)
---------------------------------------------------
    φ(m) = E[(Σ a_i σ_i)²] + E[(Σ a_i τ_i)²] + (d−2) E[Σ a_i²],   a = softmax(βσ).
We integrate the Gaussian h out analytically (Rao–Blackwell): given (ε, g),
E_h[(Σ a_i τ_i)²] = (1−m²) θ_d² (Σ_{i<K} a_i ε_i)² + Σ a_i², so

    φ(m) = E[ (Σ a_i σ_i)² + (1−m²) θ_d² (Σ_{i<K} a_i ε_i)² + (d−1) Σ a_i² ],

a smooth function of m for every draw (ε, g). With common random numbers (the same draws for every
m of the grid) φ′(m) is the pathwise derivative (jax.jvp) of the same average; without the
Rao–Blackwellisation the pathwise φ′ would carry a −m/√(1−m²) factor of infinite variance at
the poles. Standard errors are the sample sd / √n_samples.

Large-N closed form (spec §4.3), any sign law
---------------------------------------------
With x = βθ_d m, M0(x) = E e^{xε}, M1(x) = E ε e^{xε} (per informative token), ρ = K/N, LLN for
the numerator and the denominator of the softmax averages gives y1 → β + θ_d m G,
y2 → θ_d √(1−m²) G, N Σa² → e^{β²}(ρ M0(2x) + 1−ρ)/(ρ M0(x) + 1−ρ)², G = ρ M1/(ρ M0 + 1−ρ):

    φ(m) ≈ β² + 2βθ_d m G + θ_d² G² + (d/N) e^{β²} (ρ M0(2x) + 1−ρ)/(ρ M0(x) + 1−ρ)².

Rademacher (``token``): M0 = cosh, M1 = sinh (the spec's formula). Gaussian signs (derived here):
M0 = e^{x²/2}, M1 = x e^{x²/2}. ``fixed``: M0 = M1 = e^{x}. ``sequence`` (one sign per
sequence): φ(m) = [φ_fixed(m) + φ_fixed(−m)]/2. For the symmetric token-wise laws (E ε = 0,
E ε² = κ2 = 1), expanding G ≈ ρκ2 x and the last ratio ≈ 1 + ρκ2 x² gives

    φ″(0) = 2ρβ²θ_d² (2 + ρθ_d² + (d/N) e^{β²})    (Rademacher and Gaussian alike),

and for ``sequence`` φ″(0) = 2ρ(1−ρ)β²θ_d² (2 + ρ(2−3ρ)θ_d² + (d/N) e^{β²}).

Accuracy (found while testing). The corrections are the variance and bias of the softmax
averages (ratio estimators); they carry no factor d, unlike the leading d/N term. At m = 0 the
exact leading correction is φ − φ_CF = e^{β²}(ρθ_d² − β²)/N (delta method; tested). In general
their scale is 1/N_eff with N_eff = 1/Σa² ≈ N/(e^{β²}·ratio), ratio = (ρM0(2x)+1−ρ)/(ρM0(x)+1−ρ)²,
times the tilted spread of a token, ≤ 1 + β² + θ_d². At large βθ_d m the softmax mass sits on the
K informative tokens, so N_eff is K-limited: with K = 40, N = 2040, θ_d = 3.5 the closed-form
φ′(1) is ≈ 10% off the exact Monte-Carlo one, although the ρ-only estimate ρθ_d²/N suggested
≪ 1%. The closed form is a large-K *and* large-N statement; tests use the bound
2e^{β²}(1+β²+θ_d²)·ratio/N for φ and ×(1 + 2βθ_d) for φ′.

Gaussian signs: a validity limit (found while testing). The weights e^{xε_i} are lognormal, and
the law of large numbers for Σ_{i<K} e^{xε_i} (random-energy-model sums) holds only for
|x| < √(2 ln K); the Σa² term needs it for Σ e^{2xε_i}, i.e. 2βθ_d|m| < √(2 ln K). Beyond, the
softmax condenses on the largest ε_i and the closed form overshoots by orders of magnitude
(K = 100, θ_d = 3.5, m = 0.9: 10⁵ vs the exact ≈ 90). :func:`closed_form_valid` returns this
domain; at the headline (θ_d = 2.5, K = 100) the Gaussian closed form is valid for |m| < 0.6 only.
The Rademacher form has bounded weights and no such limit.

ODE (spec §4.2)
---------------
dm/dt = (1−m²) φ′(m) on the SGA time axis t_n = Σ_{k<n} a_k; fixed points m = 0 (symmetric laws;
unstable iff φ″(0) > 0), m = ±1 (stable iff ±φ′(±1) > 0, linear rate 2|φ′(±1)|), and any zero
of φ′ in (−1, 1) \ {0} (a *spurious* fixed point; reported by :func:`fixed_points`). Escape time
from the equator ≈ log(d) / (2 φ″(0)).

Noise floor at the pole (derived here)
--------------------------------------
Near m = 1 with δ = 1 − m², the SGA update gives E δ_{n+1} ≈ δ_n (1 − 2 a_n φ′(1)) + a_n² E_g,
E_g = E[g2² + ‖g_C‖²] at m = 1 (the squared norm of the projected gradient there). For
a_n = c/(n+n0)^p the quasi-stationary solution δ_n = k a_n gives

    E δ_n ≈ a_n E_g / (2φ′(1) − p/(a_n (n + n0))),       E[1 − |m_n|] ≈ E δ_n / 2,

(constant step: E δ ≈ a E_g/(2φ′(1))). :func:`pole_noise` estimates E_g by Monte-Carlo with the
exact reduced gradient of :mod:`attnlab.subspace._reduced`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from attnlab._jax import jax, jnp
from attnlab._validate import ParameterError, check_int, check_range
from attnlab.rng import stream
from attnlab.subspace._data import _signs, check_model, signal_strength

__all__ = [
    "FixedPoint",
    "closed_form_function",
    "closed_form_valid",
    "PhiEstimate",
    "escape_time",
    "fixed_points",
    "ode_rhs",
    "phi_closed_form",
    "phi_monte_carlo",
    "phi_prime_closed_form",
    "phi_prime_interpolant",
    "phi_prime_zeros",
    "phi_second_at_zero",
    "phi_second_at_zero_closed_form",
    "phi_small_beta",
    "pole_noise",
    "solve_ode",
    "stationary_misalignment",
]


# --------------------------------------------------------------------------- Monte-Carlo φ


@dataclass(frozen=True)
class PhiEstimate:
    """Monte-Carlo φ(m), φ′(m) on a grid with standard errors (numpy arrays)."""

    m: np.ndarray
    phi: np.ndarray
    phi_se: np.ndarray
    dphi: np.ndarray
    dphi_se: np.ndarray

    @property
    def drift(self) -> np.ndarray:
        """(1 − m²) φ′(m), the ODE right-hand side."""
        return (1 - self.m**2) * self.dphi


def _check_m(m) -> np.ndarray:
    arr = np.atleast_1d(np.asarray(m, dtype=float))
    if arr.ndim != 1 or not np.all(np.abs(arr) <= 1) or np.any(np.isnan(arr)):
        raise ParameterError(f"m must be a scalar or 1-d array with entries in [-1, 1], got {m!r}")
    return arr


@functools.lru_cache(maxsize=32)
def _build_mc(d, K, M, sign, n_grid, chunk, n_chunks):
    N = K + M
    dtype = jnp.float64

    def per_draw(key, m, theta_d, beta):
        eps = _signs(stream(key, "eps"), K, sign, dtype)
        g = jax.random.normal(stream(key, "g"), (N,), dtype)

        def f(mm):
            sig = g + jnp.concatenate([theta_d * eps * mm, jnp.zeros((M,), dtype)])
            a = jax.nn.softmax(beta * sig)
            y1 = a @ sig
            A = a[:K] @ eps
            return y1**2 + (1 - mm**2) * theta_d**2 * A**2 + (d - 1) * (a @ a)

        return jax.vmap(lambda mm: jax.jvp(f, (mm,), (jnp.ones_like(mm),)))(m)

    @jax.jit
    def run(keys, m, theta_d, beta):
        def do_chunk(ks):
            v, dv = jax.vmap(per_draw, in_axes=(0, None, None, None))(ks, m, theta_d, beta)
            return v.sum(0), (v**2).sum(0), dv.sum(0), (dv**2).sum(0)

        s = jax.lax.map(do_chunk, keys.reshape(n_chunks, chunk))
        return tuple(x.sum(0) for x in s)

    return run


def phi_monte_carlo(
    m,
    *,
    key: jax.Array,
    n_samples: int,
    d: int,
    K: int,
    M: int,
    theta: float,
    theta_scaling: str = "sqrt_d",
    sign: str = "token",
    beta: float = 1.0,
    chunk: int = 256,
) -> PhiEstimate:
    """Exact symmetry-reduced Monte-Carlo of φ(m) and φ′(m) (spec §4.1, module docstring).

    Common random numbers over the grid ``m``; cost O(n_samples · len(m) · (K+M)), independent
    of d. ``n_samples`` is rounded up to a multiple of ``chunk``.
    """
    mp = check_model(d=d, K=K, M=M, theta=theta, theta_scaling=theta_scaling, sign=sign, beta=beta)
    n_samples = check_int("n_samples", n_samples, lo=2)
    chunk = min(check_int("chunk", chunk, lo=1), n_samples)
    m_arr = _check_m(m)
    n_chunks = -(-n_samples // chunk)
    S = n_chunks * chunk
    keys = jax.random.split(key, S)
    run = _build_mc(mp["d"], mp["K"], mp["M"], mp["sign"], len(m_arr), chunk, n_chunks)
    theta_d = signal_strength(mp["theta"], mp["d"], theta_scaling)
    s1, s2, d1, d2 = (np.asarray(x) for x in run(keys, jnp.asarray(m_arr), theta_d, mp["beta"]))
    mean, dmean = s1 / S, d1 / S
    se = np.sqrt(np.maximum(s2 / S - mean**2, 0) / (S - 1))
    dse = np.sqrt(np.maximum(d2 / S - dmean**2, 0) / (S - 1))
    return PhiEstimate(m=m_arr, phi=mean, phi_se=se, dphi=dmean, dphi_se=dse)


# --------------------------------------------------------------------------- closed forms


def _mgf(x, sign):
    """(M0, M1)(x) = (E e^{xε}, E ε e^{xε}) per informative token."""
    if sign == "token":
        return jnp.cosh(x), jnp.sinh(x)
    if sign == "gaussian":
        e = jnp.exp(x * x / 2)
        return e, x * e
    e = jnp.exp(x)  # fixed
    return e, e


def _phi_cf(m, d, N, rho, theta_d, beta, sign):
    if sign == "sequence":
        return 0.5 * (
            _phi_cf(m, d, N, rho, theta_d, beta, "fixed")
            + _phi_cf(-m, d, N, rho, theta_d, beta, "fixed")
        )
    x = beta * theta_d * m
    m0, m1 = _mgf(x, sign)
    m0_2, _ = _mgf(2 * x, sign)
    den = rho * m0 + 1 - rho
    G = rho * m1 / den
    return (
        beta**2
        + 2 * beta * theta_d * m * G
        + theta_d**2 * G**2
        + (d / N) * jnp.exp(beta**2) * (rho * m0_2 + 1 - rho) / den**2
    )


def _cf_args(d, K, M, theta, theta_scaling, sign, beta):
    mp = check_model(d=d, K=K, M=M, theta=theta, theta_scaling=theta_scaling, sign=sign, beta=beta)
    N = mp["K"] + mp["M"]
    theta_d = signal_strength(mp["theta"], mp["d"], theta_scaling)
    return mp["d"], N, mp["K"] / N, theta_d, mp["beta"], mp["sign"]


@functools.lru_cache(maxsize=8)
def _cf_jit(sign: str, order: int):
    def f(x, d, N, rho, theta_d, beta):
        return _phi_cf(x, d, N, rho, theta_d, beta, sign)

    for _ in range(order):
        f = jax.grad(f)
    return jax.jit(jax.vmap(f, in_axes=(0, None, None, None, None, None)))


def closed_form_function(
    *, d, K, M, theta, theta_scaling="sqrt_d", sign="token", beta=1.0, order: int = 0
) -> Callable:
    """A fast (jitted) numpy callable m ↦ φ^{(order)}(m) of the closed form (order 0, 1, 2);
    m is clipped to [−1, 1]. Use it as ``phi_prime`` of :func:`solve_ode` / :func:`fixed_points`."""
    d, N, rho, td, beta, sign = _cf_args(d, K, M, theta, theta_scaling, sign, beta)
    order = check_int("order", order, lo=0, hi=2)
    fn = _cf_jit(sign, order)

    def call(m):
        x = np.clip(np.atleast_1d(np.asarray(m, dtype=float)), -1.0, 1.0)
        return np.asarray(fn(jnp.asarray(x), float(d), float(N), rho, td, beta))

    return call


def closed_form_valid(m, *, d, K, M, theta, theta_scaling="sqrt_d", sign="token", beta=1.0):
    """Where the large-N closed form applies: everywhere for bounded signs; for Gaussian signs
    2βθ_d|m| < √(2 ln K) (LLN for lognormal sums, module docstring). Boolean numpy array."""
    d, N, rho, td, beta, sign = _cf_args(d, K, M, theta, theta_scaling, sign, beta)
    m_arr = _check_m(m)
    if sign != "gaussian":
        return np.ones(m_arr.shape, bool)
    return 2 * beta * td * np.abs(m_arr) < math.sqrt(2 * math.log(max(K, 2)))


def phi_closed_form(m, *, d, K, M, theta, theta_scaling="sqrt_d", sign="token", beta=1.0):
    """Large-N closed form of φ(m) (spec §4.3; Gaussian/fixed/sequence variants in the module
    docstring). Accurate up to O(1/N) corrections. Returns a numpy array."""
    m_arr = _check_m(m)
    return closed_form_function(
        d=d, K=K, M=M, theta=theta, theta_scaling=theta_scaling, sign=sign, beta=beta
    )(m_arr)


def phi_prime_closed_form(m, *, d, K, M, theta, theta_scaling="sqrt_d", sign="token", beta=1.0):
    """φ′(m) of the closed form (exact derivative by autodiff)."""
    m_arr = _check_m(m)
    return closed_form_function(
        d=d, K=K, M=M, theta=theta, theta_scaling=theta_scaling, sign=sign, beta=beta, order=1
    )(m_arr)


def phi_second_at_zero(*, d, K, M, theta, theta_scaling="sqrt_d", sign="token", beta=1.0):
    """φ″(0) of the large-N closed form (autodiff), any sign law."""
    fn = closed_form_function(
        d=d, K=K, M=M, theta=theta, theta_scaling=theta_scaling, sign=sign, beta=beta, order=2
    )
    return float(fn(0.0)[0])


def phi_second_at_zero_closed_form(
    *, d, K, M, theta, theta_scaling="sqrt_d", sign="token", beta=1.0
):
    """Explicit φ″(0) (module docstring): 2ρβ²θ_d²(2 + ρθ_d² + (d/N)e^{β²}) for ``token`` and
    ``gaussian``; 2ρ(1−ρ)β²θ_d²(2 + ρ(2−3ρ)θ_d² + (d/N)e^{β²}) for ``sequence``. ``fixed`` has no
    symmetric equator (raises)."""
    d, N, rho, td, beta, sign = _cf_args(d, K, M, theta, theta_scaling, sign, beta)
    noise = (d / N) * math.exp(beta**2)
    if sign in ("token", "gaussian"):
        return 2 * rho * beta**2 * td**2 * (2 + rho * td**2 + noise)
    if sign == "sequence":
        return 2 * rho * (1 - rho) * beta**2 * td**2 * (2 + rho * (2 - 3 * rho) * td**2 + noise)
    raise ParameterError("sign = 'fixed' has no symmetric equator: phi''(0) formula not defined")


def phi_small_beta(m, *, d, K, M, theta, theta_scaling="sqrt_d", sign="token", beta=1.0):
    """Small-β (linear-attention) limit of the closed form, spec §4.4 (Oja/PCA-like):
    φ(m) ≈ β² + (d/N)(1 + β²) + β² ρ θ_d² κ2 m² (2 + ρθ_d² κ2 + d/N) + O(β⁴), κ2 = E ε² = 1
    (symmetric laws). Its gradient flow is Oja's rule on the spiked covariance I + λ uuᵀ."""
    d, N, rho, td, beta, sign = _cf_args(d, K, M, theta, theta_scaling, sign, beta)
    if sign not in ("token", "gaussian"):
        raise ParameterError(
            f"sign = {sign!r}: the small-beta limit is given for 'token'/'gaussian'"
        )
    m_arr = _check_m(m)
    return (
        beta**2
        + (d / N) * (1 + beta**2)
        + beta**2 * rho * td**2 * m_arr**2 * (2 + rho * td**2 + d / N)
    )


def escape_time(*, d: int, phi2: float) -> float:
    """ODE time to leave the equator from |m_0| ≈ d^{-1/2}: log(d) / (2 φ″(0))."""
    d = check_int("d", d, lo=2)
    phi2 = check_range("phi2", phi2, lo=0, lo_open=True)
    return math.log(d) / (2 * phi2)


# --------------------------------------------------------------------------- ODE


def ode_rhs(m, phi_prime: Callable) -> np.ndarray:
    """(1 − m²) φ′(m), spec §4.2."""
    m = np.asarray(m, dtype=float)
    return (1 - m**2) * np.asarray(phi_prime(m))


def phi_prime_interpolant(est: PhiEstimate, *, symmetric: bool = True) -> Callable:
    """φ′ as a callable from a Monte-Carlo grid (linear interpolation; odd extension to m < 0 if
    ``symmetric`` and the grid covers [0, 1] only)."""
    m, dphi = est.m, est.dphi
    if symmetric and m.min() >= 0:
        m = np.concatenate([-m[::-1], m])
        dphi = np.concatenate([-dphi[::-1], dphi])
        m, idx = np.unique(m, return_index=True)
        dphi = dphi[idx]

    def fn(x):
        return np.interp(np.asarray(x, dtype=float), m, dphi)

    return fn


def solve_ode(m0, times, *, phi_prime: Callable, max_dt: float = 0.01) -> np.ndarray:
    """Solve dm/dt = (1−m²)φ′(m) from ``m0`` (array, one per seed) and return m at ``times``
    (sorted, starting at 0), shape (len(m0), len(times)). Classical RK4 with steps ≤ max_dt and
    ≤ 1/max|F′| (stiff drifts at large θ_d)."""
    m = np.atleast_1d(np.asarray(m0, dtype=float)).copy()
    if np.any(np.abs(m) > 1):
        raise ParameterError("m0 entries must be in [-1, 1]")
    times = np.asarray(times, dtype=float)
    if times.ndim != 1 or np.any(np.diff(times) < 0) or times[0] < 0:
        raise ParameterError("times must be a sorted 1-d array of non-negative ODE times")
    max_dt = check_range("max_dt", max_dt, lo=0, lo_open=True)
    # stiffness guard: RK4 is stable for h·|F'| ≲ 2.8; estimate L = max |F'| on a grid and take
    # h ≤ 1/L (found in testing: at θ_d ≈ 6, φ'(1) ~ 10² and h = 0.01 made RK4 oscillate)
    grid = np.linspace(-1, 1, 401)
    F = ode_rhs(grid, phi_prime)
    lip = float(np.max(np.abs(np.diff(F)) / np.diff(grid)))
    if lip > 0:
        max_dt = min(max_dt, 1.0 / lip)
    out = np.empty((m.size, times.size))
    t = 0.0

    def f(x):
        return ode_rhs(x, phi_prime)

    for j, target in enumerate(times):
        span = target - t
        if span > 0:
            n = max(1, math.ceil(span / max_dt))
            h = span / n
            for _ in range(n):
                k1 = f(m)
                k2 = f(m + h / 2 * k1)
                k3 = f(m + h / 2 * k2)
                k4 = f(m + h * k3)
                m = np.clip(m + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4), -1, 1)
            t = target
        out[:, j] = m
    return out


# --------------------------------------------------------------------------- fixed points


@dataclass(frozen=True)
class FixedPoint:
    """A fixed point of dm/dt = F(m) = (1−m²)φ′(m): ``kind`` in {"equator", "pole",
    "spurious"}, ``slope`` = F′(m) (stable iff < 0)."""

    m: float
    kind: str
    slope: float

    @property
    def stable(self) -> bool:
        return self.slope < 0


def phi_prime_zeros(m, dphi, dphi_se=None, *, z: float = 3.0) -> np.ndarray:
    """Zeros of φ′ on a grid: sign changes between consecutive points (linear interpolation).

    With standard errors, grid points where |φ′| ≤ z·se are ignored (a sign change must be
    significant on both sides), so Monte-Carlo noise around a flat φ′ is not reported as a zero.
    """
    m = np.asarray(m, dtype=float)
    dphi = np.asarray(dphi, dtype=float)
    keep = np.ones_like(m, bool) if dphi_se is None else np.abs(dphi) > z * np.asarray(dphi_se)
    mk, fk = m[keep], dphi[keep]
    zeros = []
    for i in range(len(mk) - 1):
        if fk[i] == 0:
            zeros.append(mk[i])
        elif fk[i] * fk[i + 1] < 0:
            zeros.append(mk[i] - fk[i] * (mk[i + 1] - mk[i]) / (fk[i + 1] - fk[i]))
    return np.asarray(zeros)


def fixed_points(
    phi_prime: Callable, *, symmetric: bool = True, grid: int = 2001, eps: float = 1e-6
) -> list[FixedPoint]:
    """Fixed points of the ODE and their stability (spec §4.2).

    Poles ±1 (slope F′(±1) = ∓2φ′(±1)); the equator m = 0 when ``symmetric`` (slope φ″(0), by a
    central difference of φ′); and every interior zero of φ′ (spurious fixed points, slope
    (1−m²)φ″(m)), searched on a uniform grid of (0, 1) (symmetric) or (−1, 1).
    """
    grid = check_int("grid", grid, lo=11)
    lo = 0.0 if symmetric else -1.0
    m = np.linspace(lo, 1.0, grid)
    dphi = np.asarray(phi_prime(m), dtype=float)
    h = (1.0 - lo) / (grid - 1)
    pts = []
    if symmetric:
        slope0 = float((phi_prime(np.array([h]))[0] - phi_prime(np.array([-h]))[0]) / (2 * h))
        pts.append(FixedPoint(0.0, "equator", slope0))
        interior = phi_prime_zeros(m[1:-1], dphi[1:-1])
        interior = interior[np.abs(interior) > 10 * h]
    else:
        interior = phi_prime_zeros(m[1:-1], dphi[1:-1])
    for z0 in interior:
        dd = (phi_prime(np.array([z0 + eps]))[0] - phi_prime(np.array([z0 - eps]))[0]) / (2 * eps)
        pts.append(FixedPoint(float(z0), "spurious", float((1 - z0**2) * dd)))
    poles = [1.0] if symmetric else [-1.0, 1.0]
    for p in poles:
        pts.append(FixedPoint(p, "pole", float(-2 * p * phi_prime(np.array([p]))[0])))
    return sorted(pts, key=lambda f: f.m)


# --------------------------------------------------------------------------- pole noise


@functools.lru_cache(maxsize=32)
def _build_pole_noise(d, K, M, sign, batch):
    from attnlab.subspace._reduced import reduced_gradient

    @jax.jit
    def draws(keys, theta_d, beta):
        def one(k):
            g2, gc2, _ = reduced_gradient(
                k,
                jnp.float64(1.0),
                d=d,
                K=K,
                M=M,
                theta_d=theta_d,
                beta=beta,
                sign=sign,
                batch=batch,
            )
            return g2 * g2 + gc2

        return jax.lax.map(one, keys, batch_size=256)

    return draws


def pole_noise(
    *,
    key: jax.Array,
    n_samples: int,
    d: int,
    K: int,
    M: int,
    theta: float,
    theta_scaling: str = "sqrt_d",
    sign: str = "token",
    beta: float = 1.0,
    batch: int = 1,
) -> tuple[float, float]:
    """(E_g, se): E[g2² + ‖g_C‖²] at m = 1, the squared projected-gradient norm at the pole
    (module docstring), by Monte-Carlo of the exact reduced gradient. O(n_samples·B·N)."""
    mp = check_model(d=d, K=K, M=M, theta=theta, theta_scaling=theta_scaling, sign=sign, beta=beta)
    n_samples = check_int("n_samples", n_samples, lo=2)
    batch = check_int("batch", batch, lo=1)
    theta_d = signal_strength(mp["theta"], mp["d"], theta_scaling)
    draws = _build_pole_noise(mp["d"], mp["K"], mp["M"], mp["sign"], batch)
    v = np.asarray(draws(jax.random.split(key, n_samples), theta_d, mp["beta"]))
    return float(v.mean()), float(v.std(ddof=1) / math.sqrt(n_samples))


def stationary_misalignment(
    step: float,
    *,
    noise: float,
    phi_prime_pole: float,
    c: float,
    n: float,
    n0: float,
    p=1.0,
    schedule: str = "robbins_monro",
) -> float:
    """Predicted E[1 − |m_n|] ≈ E δ_n / 2 near the pole (module docstring):
    E δ_n ≈ a_n E_g / (2φ′(1) − p/(a_n (n + n0))) (Robbins–Monro), a E_g/(2φ′(1)) (constant).
    Returns inf when the relaxation is too slow for the quasi-stationary regime."""
    step = check_range("step", step, lo=0, lo_open=True)
    rate = 2 * check_range("phi_prime_pole", phi_prime_pole)
    if schedule == "robbins_monro":
        rate -= p / (step * (n + n0))
    if rate <= 0:
        return math.inf
    return 0.5 * step * noise / rate
