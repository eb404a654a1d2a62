r"""Closed-form population excess risk of erf attention on single-location regression.

With :math:`D = 1 + 2\lambda^2\gamma^2`, :math:`E = 1 + 4\lambda^2\gamma^2`,
:math:`A = \lambda\sqrt{d/(2D)}\,\kappa`, :math:`C_0 = 2\lambda/\sqrt{\pi(1 + 2\lambda^2)}` and
:math:`\zeta(t, s) = \mathbb E_Z[\mathrm{erf}(t + sZ)^2]`, the excess risk
:math:`\mathcal E(k, v) = \mathbb E[(T_\lambda(X) - \langle x_J, v^*\rangle)^2]` is::

    ℰ = γ² − 2[γ²ν erf(A) + λγ²√(d/2) ηθ/√D · erf′(A) + λ²γ⁴ ηρ/D · erf″(A)]
        + (dθ²/2 + γ²) ζ(λ√(d/2)κ, λγ)
        + 4λγ²√(d/2) (θρ − λ²γ²ρ²κ/D)/√D · erf(A/√E) · erf′(A)
        + (4/√π) λ²γ⁴ρ²/(D√E) · erf′(λ√d κ/√E)
        + (L−1)(8/π) λ²ρ²/(√(1 + 4λ²)(1 + 2λ²))
        + (L−1)(L−2) 4λ²ρ²/(π(1 + 2λ²))
        + 2(L−1) C₀ ρ (√(d/2) θ erf(A) + λγ²ρ/√D · erf′(A))
        + (L−1) ζ(0, λ),

with :math:`\zeta(0, \lambda) = (2/\pi)\arcsin(2\lambda^2/(1 + 2\lambda^2))`; on
:math:`\mathcal M = \{\theta = \eta = \rho = 0\}` it reduces to
:math:`\gamma^2(1 - 2\nu\,\mathrm{erf}(A) + \zeta(\lambda\sqrt{d/2}\,\kappa, \lambda\gamma)) +
(L-1)\zeta(0, \lambda)`.

Derivation. Write :math:`x_J = \sqrt{d/2}\,k^* + \gamma g` and :math:`u = \langle k, g\rangle`.
Given u, the hidden token's value :math:`b = \langle v, x_J\rangle` and the target
:math:`c = \gamma\langle v^*, g\rangle` are Gaussian with
:math:`\mathbb E[b|u] = \sqrt{d/2}\,\theta + \gamma\rho u`, :math:`\mathrm{Var}[b|u] =
\gamma^2(1-\rho^2)`, :math:`\mathbb E[c|u] = \gamma\eta u`, :math:`\mathrm{Cov}[b,c|u] =
\gamma^2(\nu - \rho\eta)`; the other tokens are i.i.d. with :math:`\mathbb E[S'] = \rho C_0`.
Hence :math:`\mathcal E = \mathbb E[(S_J - c)^2] + 2(L-1)\mathbb E[S_J]\mathbb E[S'] +
(L-1)\mathbb E[S'^2] + (L-1)(L-2)\mathbb E[S']^2`, every term a 1-D Gaussian integral over u
(:func:`~attnlab.erf_slr.excess_risk_reference`, an independent route). Stein's lemma and the identities
:math:`\mathbb E[\mathrm{erf}(m+sZ)] = \mathrm{erf}(m/\sqrt{1+2s^2})`,
:math:`\mathbb E[\mathrm{erf}\,\mathrm{erf}'(m+sZ)] = \mathrm{erf}'(A)\mathrm{erf}(A/\sqrt E)/
\sqrt D` reduce them to the closed form above, term by term.

ζ is ``ζ(0, s)`` in closed form plus the 48-point Gauss–Legendre integral of
:math:`\partial_t\zeta = 2\,\mathrm{erf}'(t/\sqrt{D_s})\,\mathrm{erf}(t/\sqrt{D_s E_s})/\sqrt{D_s}`
(:math:`D_s = 1+2s^2`, :math:`E_s = 1+4s^2`; ``method="integral"``, the default), or 160-point
Gauss–Hermite quadrature (``method="quadrature"``, accurate for s ≲ 2 only).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from attnlab._jax import jax, jnp
from attnlab._validate import ParameterError, check_choice
from attnlab.erf_slr._data import Overlaps
from attnlab.erf_slr._model import ErfSLRModel, check_lam
from attnlab.precision import uses_jax

__all__ = [
    "best_linear_excess_risk",
    "excess_risk",
    "excess_risk_gradient",
    "excess_risk_on_manifold",
    "oracle_excess_risk",
    "oracle_excess_risk_curve",
    "zeta",
    "zeta_at_zero",
]

_erf = jax.scipy.special.erf
_SQRT_PI = math.sqrt(math.pi)

# probabilists' Gauss–Hermite rule: E[f(Z)] ≈ Σ w_i f(z_i) (numpy constants)
_GH_Z, _gh_w = np.polynomial.hermite_e.hermegauss(160)
_GH_W = _gh_w / math.sqrt(2 * math.pi)
# Gauss–Legendre on [0, 1] for the ∂ζ/∂t integral: over |t| ≤ 40, s ∈ [0, 1e5] the 48-point rule
# is within 8e-15 of a 256-point one (rounding level, as close as 96 points are; 32 points are not:
# 4e-12). ζ is evaluated at every projected-GD step, so the rule's length sets the step's cost.
GL_POINTS = 48
_gl_x, _gl_w = np.polynomial.legendre.leggauss(GL_POINTS)
_GL_X = 0.5 * (_gl_x + 1.0)
_GL_W = 0.5 * _gl_w
_MAX_S = 1e3 * 100  # λ ≤ 1e3, γ ≤ 100


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


@jax.custom_jvp
def _zeta_smooth(t, s):
    """ζ by the ∂ζ/∂t integral, with the exact ∂ζ/∂t as its derivative in t (so gradients and
    Hessians in the overlaps need no differentiation through the quadrature)."""
    return _zeta_integral(t, s)


def _zeta_smooth_jvp(primals, tangents):
    t, s = primals
    dt, ds = tangents
    value = _zeta_integral(t, s)
    out = jnp.zeros_like(value)
    if not isinstance(dt, jax.custom_derivatives.SymbolicZero):
        out = out + _dzeta_dt(t, s) * dt
    if not isinstance(ds, jax.custom_derivatives.SymbolicZero):
        out = out + jax.jvp(lambda s_: _zeta_integral(t, s_), (s,), (ds,))[1]
    return value, out


_zeta_smooth.defjvp(_zeta_smooth_jvp, symbolic_zeros=True)

_ZETA = {"quadrature": _zeta_quadrature, "integral": _zeta_smooth}


def _finite_array(name: str, x: Any, lo: float | None = None, hi: float | None = None):
    a = np.asarray(x, dtype=float)
    bad = ~np.isfinite(a)
    if lo is not None:
        bad |= a < lo
    if hi is not None:
        bad |= a > hi
    if np.any(bad):
        value = a.ravel()[np.argmax(bad.ravel())]
        rng = f"[{'-inf' if lo is None else f'{lo:g}'}, {'inf' if hi is None else f'{hi:g}'}]"
        raise ParameterError(f"{name} = {value!r} is out of range: must be finite, in {rng}")
    return a


@uses_jax
def zeta(t: Any, s: Any, *, method: str = "integral") -> np.ndarray:
    r""":math:`\zeta(t, s) = \mathbb E_Z[\mathrm{erf}(t + sZ)^2]`, :math:`Z \sim \mathcal N(0,1)`.

    Parameters
    ----------
    t : array_like
        Finite.
    s : array_like
        In ``[0, 1e5]``; broadcasts against ``t``.
    method : {"integral", "quadrature"}
        ``ζ(0, s)`` plus the integral of ∂ζ/∂t (default), or Gauss–Hermite (s ≲ 2 only).

    Returns
    -------
    numpy.ndarray
    """
    check_choice("method", method, tuple(_ZETA))
    t = _finite_array("t", t)
    s = _finite_array("s", s, lo=0.0, hi=_MAX_S)
    return np.asarray(_ZETA[method](jnp.asarray(t), jnp.asarray(s)))


@uses_jax
def zeta_at_zero(s: Any) -> np.ndarray:
    r""":math:`\zeta(0, s) = \mathbb E[\mathrm{erf}(sZ)^2] = (2/\pi)\arcsin(2s^2/(1 + 2s^2))`.

    Parameters
    ----------
    s : array_like
        In ``[0, 1e5]``.

    Returns
    -------
    numpy.ndarray
    """
    s = _finite_array("s", s, lo=0.0, hi=_MAX_S)
    return np.asarray(_zeta0(jnp.asarray(s)))


def check_overlaps(ov: Any, tol: float = 1e-9) -> Overlaps:
    """Realisable overlaps: finite, in [−1, 1], Gram matrix of (k, v, k*, v*) ⪰ 0; else a
    one-line error."""
    if len(ov) != 5:
        raise ParameterError(f"overlaps = {ov!r}: need the five (κ, ν, θ, η, ρ)")
    names = ("kappa", "nu", "theta", "eta", "rho")
    arrs = np.broadcast_arrays(
        *(_finite_array(n, x, -1 - tol, 1 + tol) for n, x in zip(names, ov, strict=True))
    )
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
    low = np.linalg.eigvalsh(gram)[..., 0] if ka.size else np.zeros(0)
    if np.any(low < -1e-7):
        i = int(np.argmin(low))
        raise ParameterError(
            "overlaps (kappa, nu, theta, eta, rho) = "
            f"({ka[i]:g}, {nu_[i]:g}, {th[i]:g}, {et[i]:g}, {rh[i]:g}) are not realisable by unit "
            "k, v with k* ⊥ v*: the Gram matrix of (k, v, k*, v*) must be positive semi-definite"
        )
    return Overlaps(*arrs)


def _excess_risk(kappa, nu, theta, eta, rho, d, L, gamma, lam, zeta_fn=None):
    """The closed form of the module docstring (no validation; jit/grad/vmap friendly)."""
    zeta_fn = zeta_fn or _zeta_smooth
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


def _model_args(model: ErfSLRModel, lam: Any) -> tuple[float, int, float, float]:
    return float(model.d), model.L, model.gamma, check_lam(lam)


@uses_jax
def excess_risk(
    model: ErfSLRModel, overlaps: Any, *, lam: float, zeta_method: str = "integral"
) -> np.ndarray:
    r"""Closed-form excess risk :math:`\mathcal E(\kappa, \nu, \theta, \eta, \rho)` (module
    docstring) at temperature :math:`\lambda`.

    Parameters
    ----------
    model : ErfSLRModel
    overlaps : Overlaps or sequence of 5 array_like
        (κ, ν, θ, η, ρ), broadcasting against each other; they must be realisable by unit
        k, v (Gram matrix of (k, v, k*, v*) positive semi-definite).
    lam : float
        Temperature, in ``(0, 1000]``.
    zeta_method : {"integral", "quadrature"}

    Returns
    -------
    numpy.ndarray
        :math:`\mathcal E`, the broadcast shape of the overlaps.
    """
    d, L, gamma, lam = _model_args(model, lam)
    check_choice("zeta_method", zeta_method, tuple(_ZETA))
    ov = check_overlaps(overlaps)
    out = _excess_risk(*(jnp.asarray(x) for x in ov), d, L, gamma, lam, _ZETA[zeta_method])
    return np.asarray(out)


@uses_jax
def excess_risk_gradient(model: ErfSLRModel, overlaps: Any, *, lam: float) -> Overlaps:
    r"""The partial derivatives :math:`(\partial_\kappa\mathcal E, \partial_\nu\mathcal E,
    \partial_\theta\mathcal E, \partial_\eta\mathcal E, \partial_\rho\mathcal E)` of the closed
    form (automatic differentiation).

    Parameters
    ----------
    model : ErfSLRModel
    overlaps : Overlaps or sequence of 5 array_like
    lam : float

    Returns
    -------
    Overlaps
        The five partial derivatives, numpy arrays of the broadcast shape.
    """
    d, L, gamma, lam = _model_args(model, lam)
    ov = [jnp.asarray(x) for x in np.broadcast_arrays(*check_overlaps(overlaps))]
    shape = ov[0].shape

    def risk(*o):
        return _excess_risk(*o, d, L, gamma, lam)

    grad = jax.vmap(jax.grad(risk, argnums=(0, 1, 2, 3, 4)))(*(x.reshape(-1) for x in ov))
    return Overlaps(*(np.asarray(g).reshape(shape) for g in grad))


@uses_jax
def excess_risk_on_manifold(model: ErfSLRModel, kappa: Any, nu: Any, *, lam: float) -> np.ndarray:
    r"""On :math:`\mathcal M`: :math:`\mathcal E = \gamma^2(1 - 2\nu\,\mathrm{erf}(A) +
    \zeta(\lambda\sqrt{d/2}\,\kappa, \lambda\gamma)) + (L-1)\zeta(0, \lambda)`.

    Parameters
    ----------
    model : ErfSLRModel
    kappa, nu : array_like
        In ``[-1, 1]``.
    lam : float

    Returns
    -------
    numpy.ndarray
    """
    d, L, gamma, lam = _model_args(model, lam)
    ov = check_overlaps((kappa, nu, 0.0, 0.0, 0.0))
    return np.asarray(_on_manifold(jnp.asarray(ov.kappa), jnp.asarray(ov.nu), d, L, gamma, lam))


@jax.jit
def _on_manifold(kappa, nu, d, L, gamma, lam):
    """ℰ on ℳ (unvalidated; broadcasts over κ, ν and λ; compiled: one program instead of a few
    dozen eagerly dispatched operations)."""
    A = lam * jnp.sqrt(d / (2.0 * (1.0 + 2.0 * lam**2 * gamma**2))) * kappa
    zt = _zeta_smooth(lam * jnp.sqrt(d / 2.0) * kappa, lam * gamma)
    return gamma**2 * (1.0 - 2.0 * nu * _erf(A) + zt) + (L - 1) * _zeta0(lam)


def oracle_excess_risk(model: ErfSLRModel, *, lam: float) -> float:
    r""":math:`\mathcal E(k^*, v^*)`: the on-manifold form at κ = ν = 1. It tends to 0 when
    :math:`d \to \infty`, :math:`\lambda\sqrt d \to \infty` and :math:`\lambda\sqrt L \to 0`.

    Parameters
    ----------
    model : ErfSLRModel
    lam : float

    Returns
    -------
    float
    """
    return float(excess_risk_on_manifold(model, 1.0, 1.0, lam=lam))


@uses_jax
def oracle_excess_risk_curve(model: ErfSLRModel, lams: Any) -> np.ndarray:
    r""":math:`\mathcal E(k^*, v^*)` at each temperature of ``lams`` (:func:`oracle_excess_risk`
    for many λ at once).

    Parameters
    ----------
    model : ErfSLRModel
    lams : array_like
        Temperatures, each in ``(0, 1000]``.

    Returns
    -------
    numpy.ndarray
        The shape of ``lams``.
    """
    lams = np.asarray(lams, dtype=float)
    checked = np.array([check_lam(x) for x in lams.ravel()]).reshape(lams.shape)
    out = _on_manifold(jnp.ones(()), jnp.ones(()), float(model.d), model.L, model.gamma,
                       jnp.asarray(checked))  # fmt: skip
    return np.asarray(out)


def best_linear_excess_risk(model: ErfSLRModel) -> float:
    r"""Excess risk of the best linear predictor on the flattened X:
    :math:`\gamma^2 - \gamma^4/(\gamma^2 + L - 1)`.

    Parameters
    ----------
    model : ErfSLRModel

    Returns
    -------
    float
    """
    g2 = model.gamma**2
    return g2 - g2**2 / (g2 + model.L - 1) if g2 + model.L - 1 > 0 else 0.0
