"""Closed-form population excess risk of erf attention on SLR (spec ``slr.md`` §A.2).

With ``D = 1 + 2λ²γ²``, ``E = 1 + 4λ²γ²``, ``A = λ√(d/(2D))·κ``, ``C₀ = 2λ/√(π(1 + 2λ²))`` and
``ζ(t, s) = E_Z[erf(t + sZ)²]`` (Z ~ N(0, 1)), the excess risk
``ℰ(k, v) = E[(T_λ(X) − ⟨x_J, v*⟩)²]`` of ``T_λ(X) = Σ_ℓ erf(λ⟨k,x_ℓ⟩)⟨v,x_ℓ⟩`` is::

    ℰ = γ² − 2[γ²ν erf(A) + λγ²√(d/2) ηθ/√D · erf′(A) + λ²γ⁴ ηρ/D · erf″(A)]
        + (dθ²/2 + γ²) ζ(λ√(d/2)κ, λγ)
        + 4λγ²√(d/2) (θρ − λ²γ²ρ²κ/D)/√D · erf(A/√E) · erf′(A)
        + (4/√π) λ²γ⁴ρ²/(D√E) · erf′(λ√d κ/√E)
        + (L−1)(8/π) λ²ρ²/(√(1 + 4λ²)(1 + 2λ²))
        + (L−1)(L−2) 4λ²ρ²/(π(1 + 2λ²))
        + 2(L−1) C₀ ρ (√(d/2) θ erf(A) + λγ²ρ/√D · erf′(A))
        + (L−1) ζ(0, λ),

with ``ζ(0, λ) = (2/π) arcsin(2λ²/(1 + 2λ²))``; on ℳ = {θ = η = ρ = 0} it reduces to
``γ²(1 − 2ν erf(A) + ζ(λ√(d/2)κ, λγ)) + (L−1)ζ(0, λ)``.

Derivation check (ours). Write ``x_J = √(d/2)k* + γg`` and ``u = ⟨k,g⟩``. Conditionally on ``u``
the hidden token's value ``b = ⟨v,x_J⟩`` and target ``c = γ⟨v*,g⟩`` are Gaussian with
``E[b|u] = √(d/2)θ + γρu``, ``Var[b|u] = γ²(1−ρ²)``, ``E[c|u] = γηu``,
``Cov[b,c|u] = γ²(ν − ρη)``; the other tokens are i.i.d. with ``E[S′] = ρC₀``. Hence ℰ equals
``E[(S_J − c)²] + 2(L−1)E[S_J]E[S′] + (L−1)E[S′²] + (L−1)(L−2)E[S′]²``, every term a 1-D
Gaussian integral over ``u`` (:func:`excess_risk_reference`, an independent route). Reducing
those with Stein's lemma and the Gaussian identities ``E[erf(m+sZ)] = erf(m/√(1+2s²))``,
``E[erf(m+sZ)erf′(m+sZ)] = erf′(A)erf(A/√E)/√D`` reproduces every term of the spec's formula
above: **no correction was needed**. The tests check closed form = reference quadrature to
1e-10 at random realisable overlaps, and closed form = Monte-Carlo of the data law (tolerance
from the Monte-Carlo standard error) on and off ℳ.

ζ is computed by integrating ``∂ζ/∂t = 2 erf′(t/√D_s) erf(t/√(D_s E_s))/√D_s``
(``D_s = 1+2s², E_s = 1+4s²``) from the closed-form ``ζ(0, s)`` with 96-point Gauss–Legendre
(``zeta_method="integral"``, the default) or by 160-point Gauss–Hermite quadrature
(``zeta_method="quadrature"``). Both agree to ~1e-14 for s = λγ ≤ 2 (tested). Finding: the
Gauss–Hermite rule loses accuracy when the integrand erf(t + sZ)² has a steep transition, i.e. for
large s (error 5e-6 at s = 3, 7e-3 at s = 6 against adaptive scipy quadrature), while the ∂ζ/∂t
integral stays at 1e-15 — hence the default. (The quadrature reference
:func:`excess_risk_reference` shares that limitation: use it for λγ ≲ 2.) Everything is jnp, so ``jax.grad`` of :func:`excess_risk` with respect
to the overlaps works (the training code uses it).
"""

from __future__ import annotations

import math
from functools import partial

import numpy as np

from attnlab._jax import jax, jnp
from attnlab._validate import ParameterError, check_choice, check_int, check_range
from attnlab.erf_slr._data import _sample
from attnlab.erf_slr._predictor import _predict

_erf = jax.scipy.special.erf
_SQRT_PI = math.sqrt(math.pi)

# probabilists' Gauss–Hermite rule: E[f(Z)] ≈ Σ w_i f(z_i)
_GH_N = 160
_gh_z, _gh_w = np.polynomial.hermite_e.hermegauss(_GH_N)
_GH_Z = _gh_z
_GH_W = _gh_w / math.sqrt(2 * math.pi)
# Gauss–Legendre on [0, 1] for the ∂ζ/∂t integral
_GL_N = 96
_gl_x, _gl_w = np.polynomial.legendre.leggauss(_GL_N)
_GL_X = 0.5 * (_gl_x + 1.0)
_GL_W = 0.5 * _gl_w


def _erf_prime(x):
    """erf′(x) = (2/√π) e^{−x²}."""
    return (2.0 / _SQRT_PI) * jnp.exp(-(x**2))


def _erf_second(x):
    """erf″(x) = −2x erf′(x)."""
    return -2.0 * x * _erf_prime(x)


def _zeta0(s):
    return (2.0 / jnp.pi) * jnp.arcsin(2.0 * s**2 / (1.0 + 2.0 * s**2))


def _zeta_quadrature(t, s):
    t = jnp.asarray(t)[..., None]
    s = jnp.asarray(s)[..., None]
    return jnp.sum(_GH_W * _erf(t + s * _GH_Z) ** 2, axis=-1)


def _dzeta_dt(t, s):
    """∂ζ/∂t (t, s) = 2 E[erf erf′(t + sZ)] = 2 erf′(t/√D) erf(t/√(D E)) / √D."""
    D = 1.0 + 2.0 * s**2
    E = 1.0 + 4.0 * s**2
    return 2.0 * _erf_prime(t / jnp.sqrt(D)) * _erf(t / jnp.sqrt(D * E)) / jnp.sqrt(D)


def _zeta_integral(t, s):
    t = jnp.asarray(t)
    s = jnp.asarray(s)
    D = 1.0 + 2.0 * s**2
    # the integrand is odd in t and below e^{-144} beyond 12√D: integrate up to min(|t|, 12√D)
    upper = jnp.minimum(jnp.abs(t), 12.0 * jnp.sqrt(D))
    u = upper[..., None] * _GL_X
    integral = upper * jnp.sum(_GL_W * _dzeta_dt(u, s[..., None]), axis=-1)
    return _zeta0(s) + integral


_ZETA = {"quadrature": _zeta_quadrature, "integral": _zeta_integral}


def zeta(t, s, *, method: str = "integral") -> jax.Array:
    """``ζ(t, s) = E_Z[erf(t + sZ)²]``, Z ~ N(0, 1) (§A.2), vectorised over t and s.

    ``method="integral"`` (default): ``ζ(0, s)`` in closed form plus the Gauss–Legendre integral
    of ``∂ζ/∂t``; ``"quadrature"``: 160-point Gauss–Hermite (accurate for s ≲ 2 only; see the
    module docstring).
    """
    check_choice("method", method, tuple(_ZETA))
    s_arr = np.asarray(s) if not isinstance(s, jax.core.Tracer) else None
    if s_arr is not None and np.any(s_arr < 0):
        raise ParameterError(f"s = {s!r} is out of range: must be in [0, inf)")
    return _ZETA[method](jnp.asarray(t, dtype=float), jnp.asarray(s, dtype=float))


def zeta_at_zero(s) -> jax.Array:
    """``ζ(0, s) = E[erf(sZ)²] = (2/π) arcsin(2s²/(1 + 2s²))`` (closed form, §A.2)."""
    return _zeta0(jnp.asarray(s, dtype=float))


def _validate_scalars(d, L, gamma, lam):
    d = check_range("d", d, lo=2)
    L = check_int("L", L, lo=1)
    gamma = check_range("gamma", gamma, lo=0)
    lam = check_range("lam", lam, lo=0, lo_open=True)
    return d, L, gamma, lam


def _check_overlaps(kappa, nu, theta, eta, rho, tol=1e-9):
    """Reject overlaps not realisable by unit k, v and orthonormal k*, v* (Gram matrix ⪰ 0)."""
    vals = (kappa, nu, theta, eta, rho)
    if any(isinstance(x, jax.core.Tracer) for x in vals):
        return
    arrs = np.broadcast_arrays(*[np.asarray(x, dtype=float) for x in vals])
    names = ("kappa", "nu", "theta", "eta", "rho")
    for name, a in zip(names, arrs, strict=True):
        if np.any(~np.isfinite(a)) or np.any(np.abs(a) > 1 + tol):
            bad = a.ravel()[np.argmax(~np.isfinite(a.ravel()) | (np.abs(a.ravel()) > 1 + tol))]
            raise ParameterError(f"{name} = {bad!r} is out of range: must be in [-1, 1]")
    ka, nu_, th, et, rh = (a.ravel() for a in arrs)
    one, zero = np.ones_like(ka), np.zeros_like(ka)
    gram = np.stack(
        [
            np.stack([one, rh, ka, et], -1),
            np.stack([rh, one, th, nu_], -1),
            np.stack([ka, th, one, zero], -1),
            np.stack([et, nu_, zero, one], -1),
        ],
        -2,
    )
    low = np.linalg.eigvalsh(gram)[..., 0]
    if np.any(low < -1e-7):
        i = int(np.argmin(low))
        raise ParameterError(
            "overlaps (kappa, nu, theta, eta, rho) = "
            f"({ka[i]:g}, {nu_[i]:g}, {th[i]:g}, {et[i]:g}, {rh[i]:g}) are not realisable by unit "
            "k, v with k* ⊥ v*: the Gram matrix of (k, v, k*, v*) must be positive semi-definite"
        )


def _excess_risk(kappa, nu, theta, eta, rho, d, L, gamma, lam, zeta_fn=None):
    """The closed form of the module docstring (no validation; jit/grad/vmap friendly)."""
    zeta_fn = zeta_fn or _zeta_integral
    g2 = gamma**2
    D = 1.0 + 2.0 * lam**2 * g2
    E = 1.0 + 4.0 * lam**2 * g2
    sqD, sqE = jnp.sqrt(D), jnp.sqrt(E)
    half_d = jnp.sqrt(d / 2.0)
    A = lam * half_d * kappa / sqD
    C0 = 2.0 * lam / jnp.sqrt(jnp.pi * (1.0 + 2.0 * lam**2))
    erfA, erfpA = _erf(A), _erf_prime(A)
    risk = g2 - 2.0 * (
        g2 * nu * erfA
        + lam * g2 * half_d * eta * theta / sqD * erfpA
        + lam**2 * g2**2 * eta * rho / D * _erf_second(A)
    )
    risk = risk + (d * theta**2 / 2.0 + g2) * zeta_fn(lam * half_d * kappa, lam * gamma)
    risk = risk + (
        4.0 * lam * g2 * half_d * (theta * rho - lam**2 * g2 * rho**2 * kappa / D) / sqD
    ) * (_erf(A / sqE) * erfpA)
    risk = risk + (4.0 / _SQRT_PI) * lam**2 * g2**2 * rho**2 / (D * sqE) * _erf_prime(
        lam * jnp.sqrt(d) * kappa / sqE
    )
    risk = risk + (L - 1) * (8.0 / jnp.pi) * lam**2 * rho**2 / (
        jnp.sqrt(1.0 + 4.0 * lam**2) * (1.0 + 2.0 * lam**2)
    )
    risk = risk + (L - 1) * (L - 2) * 4.0 * lam**2 * rho**2 / (jnp.pi * (1.0 + 2.0 * lam**2))
    risk = risk + 2.0 * (L - 1) * C0 * rho * (half_d * theta * erfA + lam * g2 * rho / sqD * erfpA)
    return risk + (L - 1) * _zeta0(lam)


def excess_risk(
    kappa,
    nu,
    theta,
    eta,
    rho,
    *,
    d: float,
    L: int,
    gamma: float,
    lam: float,
    zeta_method: str = "integral",
) -> jax.Array:
    """Closed-form excess risk ``ℰ(κ, ν, θ, η, ρ; d, L, γ, λ)`` of §A.2 (module docstring).

    Overlaps broadcast against each other; concrete overlaps are checked to be realisable (|·| ≤ 1
    and the Gram matrix of (k, v, k*, v*) positive semi-definite). Differentiable with jax in the
    overlaps (``jax.grad(lambda ka: excess_risk(ka, ...))``).
    """
    d, L, gamma, lam = _validate_scalars(d, L, gamma, lam)
    check_choice("zeta_method", zeta_method, tuple(_ZETA))
    _check_overlaps(kappa, nu, theta, eta, rho)
    ov = [jnp.asarray(x, dtype=float) for x in (kappa, nu, theta, eta, rho)]
    return _excess_risk(*ov, d, L, gamma, lam, _ZETA[zeta_method])


def excess_risk_on_manifold(kappa, nu, *, d: float, L: int, gamma: float, lam: float):
    """On ℳ (θ = η = ρ = 0): ``ℰ = γ²(1 − 2ν erf(A) + ζ(λ√(d/2)κ, λγ)) + (L−1)ζ(0, λ)``."""
    d, L, gamma, lam = _validate_scalars(d, L, gamma, lam)
    _check_overlaps(kappa, nu, 0.0, 0.0, 0.0)
    kappa = jnp.asarray(kappa, dtype=float)
    nu = jnp.asarray(nu, dtype=float)
    A = lam * math.sqrt(d / (2.0 * (1.0 + 2.0 * lam**2 * gamma**2))) * kappa
    zt = _zeta_integral(lam * math.sqrt(d / 2.0) * kappa, lam * gamma)
    return gamma**2 * (1.0 - 2.0 * nu * _erf(A) + zt) + (L - 1) * _zeta0(lam)


def _excess_risk_reference(kappa, nu, theta, eta, rho, d, L, gamma, lam):
    """ℰ by 1-D Gauss–Hermite integrals over u = ⟨k, g⟩ of the conditional moments (module
    docstring): an independent route to the closed form, without the Stein reductions."""
    ov = [jnp.asarray(x, dtype=float)[..., None] for x in (kappa, nu, theta, eta, rho)]
    kappa, nu, theta, eta, rho = ov
    u, w = _GH_Z, _GH_W
    mean_b = math.sqrt(d / 2.0) * theta + gamma * rho * u  # E[b | u]
    f = _erf(lam * (math.sqrt(d / 2.0) * kappa + gamma * u))
    e_bb = mean_b**2 + gamma**2 * (1.0 - rho**2)  # E[b² | u]
    e_bc = mean_b * gamma * eta * u + gamma**2 * (nu - rho * eta)  # E[b c | u]
    hidden_sq = jnp.sum(w * (f**2 * e_bb - 2.0 * f * e_bc), axis=-1) + gamma**2
    hidden_mean = jnp.sum(w * f * mean_b, axis=-1)
    f0 = _erf(lam * u)
    other_mean = jnp.sum(w * f0 * rho * u, axis=-1)
    other_sq = jnp.sum(w * f0**2 * (rho**2 * u**2 + 1.0 - rho**2), axis=-1)
    return (
        hidden_sq
        + 2.0 * (L - 1) * hidden_mean * other_mean
        + (L - 1) * other_sq
        + (L - 1) * (L - 2) * other_mean**2
    )


def excess_risk_reference(
    kappa, nu, theta, eta, rho, *, d: float, L: int, gamma: float, lam: float
) -> jax.Array:
    """ℰ by direct 1-D quadrature of the conditional Gaussian moments (independent check)."""
    d, L, gamma, lam = _validate_scalars(d, L, gamma, lam)
    _check_overlaps(kappa, nu, theta, eta, rho)
    return _excess_risk_reference(kappa, nu, theta, eta, rho, d, L, gamma, lam)


def oracle_excess_risk(*, d: float, L: int, gamma: float, lam: float) -> float:
    """``ℰ(k*, v*)`` = the on-manifold form at κ = ν = 1 (→ 0 when d → ∞, λ√d → ∞, λ√L → 0)."""
    return float(excess_risk_on_manifold(1.0, 1.0, d=d, L=L, gamma=gamma, lam=lam))


def best_linear_excess_risk(*, L: int, gamma: float) -> float:
    """Excess risk of the best linear predictor on the flattened X: ``γ² − γ⁴/(γ² + L − 1)``."""
    L = check_int("L", L, lo=1)
    gamma = check_range("gamma", gamma, lo=0)
    return gamma**2 - gamma**4 / (gamma**2 + L - 1)


def monte_carlo_excess_risk(
    key: jax.Array,
    k: jax.Array,
    v: jax.Array,
    *,
    k_star: jax.Array,
    v_star: jax.Array,
    L: int,
    gamma: float,
    lam: float,
    n: int,
    chunk: int = 4096,
) -> tuple[float, float]:
    """Monte-Carlo ``(mean, standard error)`` of ``(T_λ(X) − ⟨x_J, v*⟩)²`` over ``n`` samples of
    the data law (§A.1, noise-free label), in chunks of ``chunk`` samples."""
    L = check_int("L", L, lo=1)
    gamma = check_range("gamma", gamma, lo=0)
    lam = check_range("lam", lam, lo=0, lo_open=True)
    n = check_int("n", n, lo=2)
    chunk = min(check_int("chunk", chunk, lo=1), n)
    n_chunks = -(-n // chunk)
    sums = _mc_sums(key, k, v, k_star, v_star, L, gamma, lam, chunk, n_chunks)
    total = n_chunks * chunk
    mean = float(sums[0]) / total
    var = (float(sums[1]) / total - mean**2) * total / (total - 1)
    return mean, math.sqrt(max(var, 0.0) / total)


@partial(jax.jit, static_argnums=(5, 8, 9))
def _mc_sums(key, k, v, k_star, v_star, L, gamma, lam, chunk, n_chunks):
    def one(i):
        X, y, _ = _sample(jax.random.fold_in(key, i), chunk, k_star, v_star, L, gamma, 0.0)
        sq = (_predict(X, k, v, lam) - y) ** 2
        return jnp.stack([sq.sum(), (sq**2).sum()])

    return jax.lax.map(one, jnp.arange(n_chunks)).sum(axis=0)


__all__ = [
    "best_linear_excess_risk",
    "excess_risk",
    "excess_risk_on_manifold",
    "excess_risk_reference",
    "monte_carlo_excess_risk",
    "oracle_excess_risk",
    "zeta",
    "zeta_at_zero",
]
