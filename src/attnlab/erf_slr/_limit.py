r"""High-dimensional limit of online projected SGD: fast κ̃ = √d κ, θ̃ = √d θ and a slow ODE.

Scaling. Take the step :math:`\alpha = c/d` and the time :math:`t = n/d`. The closed-form risk
(:mod:`attnlab.erf_slr._risk`) depends on d only through :math:`\tilde\kappa = \sqrt d\,\kappa`
and :math:`\tilde\theta = \sqrt d\,\theta`: every d in it comes as :math:`\sqrt{d/2}\,\kappa`,
:math:`\sqrt{d/2}\,\theta`, :math:`d\theta^2` or :math:`\sqrt d\,\theta\rho`, so
:math:`\mathcal E = F(\tilde\kappa, \nu, \tilde\theta, \eta, \rho)` with F the same formula at
d = 1. In these variables one step changes

* :math:`\tilde\kappa` and :math:`\tilde\theta` by :math:`-c\,\partial F + O(c)` noise (the hidden
  token's √(d/2) k* component makes the k*-part of the gradient O(√d)): they are *fast*, relax in
  O(1) steps and fluctuate by :math:`O(\sqrt c)` around the critical point of F in
  :math:`(\tilde\kappa, \tilde\theta)` at fixed slow variables (:func:`fast_variables`);
* :math:`\nu, \eta, \rho` by :math:`O(c/d)` drift and :math:`O(c/d)` noise: they are *slow*, and
  over :math:`t = n/d` their noise averages out (:math:`O(c/\sqrt d)`), so they follow an ODE.

So :math:`\kappa = \tilde\kappa/\sqrt d \to 0` at every fixed t: in the limit the key's overlap
with k* is invisible at the scale of the other overlaps, yet it sets the attention
:math:`A = \lambda\tilde\kappa/\sqrt{2D}`.

Slow ODE. Expanding the normalised projected step to second order in α and averaging over the
batch and over the fast fluctuations,

.. math::
    \dot\nu &= -c\,(F_\nu + F_\rho\eta - s_v\nu) - \tfrac{c^2}{2}\nu\,Q_{vv},\\
    \dot\eta &= -c\,(F_\eta + F_\rho\nu - s_k\eta) - \tfrac{c^2}{2}\eta\,Q_{kk},\\
    \dot\rho &= -c\,(F_\eta\nu + F_\nu\eta + 2F_\rho - (s_k + s_v)\rho)
        + c^2 Q_{kv} - \tfrac{c^2}{2}\rho\,(Q_{kk} + Q_{vv}),

with :math:`s_k = F_\eta\eta + F_\rho\rho`, :math:`s_v = F_\nu\nu + F_\rho\rho`, all partials of F
at the fast critical point (where :math:`F_{\tilde\kappa} = F_{\tilde\theta} = 0`). The first-order
part is the projected population gradient flow in overlap coordinates; the second-order part is
what renormalising onto the spheres adds, :math:`\tfrac{\alpha^2}{2}\|g_\perp\|^2` per step with
:math:`\mathbb E\|g_\perp\|^2 = d\,Q` from the (d − O(1)) directions orthogonal to every tracked
overlap: :math:`Q = \mathbb E[C]`, C the covariance factor of the complement part of the batch
gradient (:mod:`attnlab.erf_slr._reduced`, step 5),
:math:`Q = (4/B)\,\mathbb E[(T - y)^2\sum_\ell \sigma_\ell^2 \phi_\ell\phi_\ell^\top]`,
:math:`\phi_\ell = (\lambda\,\mathrm{erf}'(\lambda\langle k, x_\ell\rangle)\langle v,
x_\ell\rangle, \mathrm{erf}(\lambda\langle k, x_\ell\rangle))`, one sample's expectation in the
limit (exact 1-D quadratures on ℳ, :func:`manifold_terms`; Monte-Carlo with common random numbers
off ℳ, :mod:`attnlab.erf_slr._limit_general`). The k*-direction noise
also renormalises the spheres, at the same order, but that shrinkage is cancelled exactly by the
mean of :math:`F_{\tilde\theta}\tilde\theta` (resp. :math:`F_{\tilde\kappa}\tilde\kappa`) over the
fast fluctuations in :math:`s_v` (:math:`s_k`) — only the directions orthogonal to every
overlap count: with :math:`\tilde\theta` an Ornstein–Uhlenbeck
variable of variance :math:`c\Sigma/(2H)`, :math:`\alpha\nu\,\mathbb E[g_1\theta] = \tfrac{c^2}{2d}
\nu\Sigma` against :math:`-\tfrac{\alpha^2}{2}\nu\,\mathbb E[g_1^2] = -\tfrac{c^2}{2d}\nu\Sigma`.
The averaging of the first-order drift over the fast fluctuations changes it by
:math:`O(c)\,(1 - \nu^2)`, a higher order near the quasi-static balance; it is neglected.

On :math:`\mathcal M` (η = ρ = 0, invariant) the fast critical point is explicit,
:math:`\tilde\theta = 0` and :math:`A = \lambda\tilde\kappa/\sqrt{2D} = \sqrt E\,
\mathrm{erf}^{-1}(\nu)`, and the slow ODE is one equation,
:math:`\dot\nu = 2c\gamma^2\,\mathrm{erf}(A)(1 - \nu^2) - \tfrac{c^2}{2}\nu\,Q_{vv}`: the growth
from ν ≈ 0 at rate :math:`2c\gamma^2\sqrt E`, then a quasi-static balance between the gradient
and the renormalisation that follows :math:`\lambda_t` (:func:`sgd_limit`). On ℳ every term is
a 1-D Gaussian integral: the other tokens' values are independent of their keys there, so the
odd moments vanish and

.. math::
    Q_{vv} = \tfrac4B\big[\gamma^2\,\mathbb E(X^2e^2) + (L-1)\,\mathbb E(X^2)\,\zeta_0
        + (L-1)\big(\gamma^2\mathbb E(e^2)\zeta_0 + \mathbb E\,\mathrm{erf}^4(\lambda Z)
        + (L-2)\zeta_0^2\big)\big],

with :math:`e = \mathrm{erf}(\lambda(\tilde\kappa/\sqrt2 + \gamma\xi))` the hidden token's
attention, :math:`X^2 = \gamma^2(e^2 - 2\nu e + 1) + \varepsilon^2` the mean of
:math:`(T_J - y)^2` given ξ, :math:`\zeta_0 = \zeta(0, \lambda)`.

Risk. The fast fluctuations add a noise floor to the risk: with Hessian H and noise covariance
Σ of :math:`(\tilde\kappa, \tilde\theta)` per step, the stationary covariance solves
:math:`HC + CH = c\Sigma` to first order in c, so :math:`\mathbb E F - F_* = \tfrac c4
\mathrm{tr}\,\Sigma` (:func:`fast_noise_floor`), :math:`\Sigma = (2/B)\,\mathbb E[(T - y)^2
(\phi_{J,1}^2 + \phi_{J,2}^2)]` (hidden token J).

The temperature schedule of the limit is in units of t; SGD at dimension d uses the same
schedule per step with the decay divided by d.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
from scipy import special

from attnlab._jax import jnp
from attnlab._validate import ParameterError, check_int, check_range
from attnlab.erf_slr._model import ErfSLRModel, Temperature, check_temperature
from attnlab.erf_slr._risk import _GH_W, _GH_Z, _erf, _zeta0

__all__ = ["LimitNotSolved", "LimitSolution", "manifold_terms", "sgd_limit"]

MAX_EVALUATIONS = 20_000  # right-hand sides of an ODE solver before it gives up


class LimitNotSolved(ParameterError):
    """The slow ODE could not be solved (solver failure or evaluation cap)."""


class LimitSolution(NamedTuple):
    """The high-dimensional limit along ``t``: slow overlaps (ν, η, ρ), the fast critical point
    (κ̃, θ̃), the risk F there, the fast noise floor, and the largest Newton residual (0 on ℳ,
    where the fast point is explicit)."""

    t: np.ndarray
    nu: np.ndarray
    eta: np.ndarray
    rho: np.ndarray
    kappa_tilde: np.ndarray
    theta_tilde: np.ndarray
    risk: np.ndarray
    noise_floor: np.ndarray
    newton_residual: float


def manifold_q_vv_jnp(kappa_tilde, nu, gamma, eps, lam, L, batch):
    """Q_vv on ℳ (module docstring), in jax (the control variate of the Monte-Carlo path)."""
    e_h = _erf(lam * (kappa_tilde / jnp.sqrt(2.0) + gamma * _GH_Z))
    x2 = gamma**2 * (e_h**2 - 2.0 * nu * e_h + 1.0) + eps**2
    z0 = _zeta0(lam)
    e4 = jnp.sum(_GH_W * _erf(lam * _GH_Z) ** 4)
    hidden = gamma**2 * jnp.sum(_GH_W * x2 * e_h**2)
    others = (L - 1) * (jnp.sum(_GH_W * x2) * z0 + gamma**2 * jnp.sum(_GH_W * e_h**2) * z0 + e4)
    return (4.0 / batch) * (hidden + others + (L - 1) * (L - 2) * z0**2)


def manifold_terms(model: ErfSLRModel, nu: float, lam: float, batch: int) -> dict[str, float]:
    r"""Everything the slow ODE needs on ℳ at (ν, λ), by 1-D Gauss–Hermite quadrature.

    Parameters
    ----------
    model : ErfSLRModel
    nu : float
        In ``(-1, 1)``.
    lam : float
    batch : int

    Returns
    -------
    dict
        ``A`` (:math:`\sqrt E\,\mathrm{erf}^{-1}(\nu)`), ``kappa_tilde``, ``gradient`` (the
        first-order drift per unit c, :math:`2\gamma^2\mathrm{erf}(A)(1 - \nu^2)`), ``q_vv``,
        ``floor_trace`` (tr Σ) and ``risk`` (F at the fast point).
    """
    g2, eps, L = model.gamma**2, model.eps, model.L
    D, E = 1.0 + 2.0 * lam**2 * g2, 1.0 + 4.0 * lam**2 * g2
    A = math.sqrt(E) * float(special.erfinv(nu))
    kappa_tilde = A * math.sqrt(2.0 * D) / lam
    pk = lam * (kappa_tilde / math.sqrt(2.0) + model.gamma * _GH_Z)
    e, e_prime = special.erf(pk), (2.0 / math.sqrt(math.pi)) * np.exp(-(pk**2))
    w = _GH_W
    x2 = g2 * (e**2 - 2.0 * nu * e + 1.0) + eps**2
    z0 = (2.0 / math.pi) * math.asin(2.0 * lam**2 / (1.0 + 2.0 * lam**2))
    e4 = float(np.sum(w * special.erf(lam * _GH_Z) ** 4))
    others = (L - 1) * (np.sum(w * x2) * z0 + g2 * np.sum(w * e**2) * z0 + e4)
    q_vv = (4.0 / batch) * (g2 * np.sum(w * x2 * e**2) + others + (L - 1) * (L - 2) * z0**2)
    x2_phi1 = lam**2 * e_prime**2 * (3 * g2**2 * e**2 - 6 * g2**2 * nu * e + g2 * (g2 + eps**2)
                                     + 2 * g2**2 * nu**2)  # fmt: skip
    trace = (2.0 / batch) * (np.sum(w * x2_phi1) + np.sum(w * x2 * e**2)
                             + (L - 1) * z0 * (lam**2 * g2 * np.sum(w * e_prime**2)
                                               + np.sum(w * e**2)))  # fmt: skip
    zeta = float(np.sum(w * special.erf(pk) ** 2))  # ζ(λκ̃/√2, λγ)
    risk = g2 * (1.0 - 2.0 * nu * special.erf(A) + zeta) + (L - 1) * z0
    sigma_kk = (2.0 / batch) * (np.sum(w * x2_phi1) + (L - 1) * z0 * lam**2 * g2
                                * np.sum(w * e_prime**2))  # fmt: skip
    return {"A": A, "kappa_tilde": kappa_tilde, "q_vv": float(q_vv), "floor_trace": float(trace),
            "risk": float(risk), "sigma_kk": float(sigma_kk), "D": D, "E": E}  # fmt: skip


def fast_average_erf(terms: dict, nu: float, lam: float, gamma: float, c: float) -> float:
    """E[erf(A)] over the stationary fluctuation of κ̃ around its critical point (module
    docstring): the discrete Ornstein–Uhlenbeck variance cΣ_κκ/(H(2 − cH)), the mean shift
    −F‴Var/(2H) of the cubic drift, and E erf(m + σZ) = erf(m/√(1 + 2σ²))."""
    A, D, E = terms["A"], terms["D"], terms["E"]
    slope = lam / math.sqrt(2.0 * D)  # dA/dκ̃
    ep = (2.0 / math.sqrt(math.pi)) * math.exp(-(A**2))
    ep_e = (2.0 / math.sqrt(math.pi)) * math.exp(-(A**2) / E)
    H = 2.0 * gamma**2 * slope**2 * ep * ep_e / math.sqrt(E)
    third = 2.0 * gamma**2 * slope**3 * (2.0 * (-2.0 * A * ep) * ep_e / math.sqrt(E)
                                         + ep * (-2.0 * A / math.sqrt(E) * ep_e) / E)  # fmt: skip
    if H <= 0 or c * H >= 2:
        return float(special.erf(A))
    var = c * terms["sigma_kk"] / (H * (2.0 - c * H))
    mean = A + slope * (-third * var / (2.0 * H))
    return float(special.erf(mean / math.sqrt(1.0 + 2.0 * slope**2 * var)))


def sgd_limit(
    model: ErfSLRModel,
    *,
    temperature: Temperature,
    step_scale: float,
    batch: int,
    times: Any,
    nu0: float,
    rtol: float = 1e-8,
    fast_average: bool = True,
) -> LimitSolution:
    r"""Solve the slow ODE on ℳ, :math:`\dot\nu = 2c\gamma^2\mathrm{erf}(A)(1 - \nu^2)
    - \tfrac{c^2}{2}\nu\,Q_{vv}` (module docstring), from ν(0) = ``nu0``.

    Parameters
    ----------
    model : ErfSLRModel
        L, γ, ε (its d is not used: this is the limit d → ∞).
    temperature : ConstantTemperature or DecayingTemperature
        :math:`\lambda(t)` in units of :math:`t = n/d`.
    step_scale : float
        c, the step being :math:`\alpha = c/d`; in ``(0, 10]``.
    batch : int
    times : array_like
        Increasing output times from 0 (at most 1e6).
    nu0 : float
        ν(0), in ``(-1, 1)``; a uniform start has :math:`|\nu_0| \approx \sqrt{2/(\pi d)}`.
    rtol : float
        Relative tolerance of the solver (LSODA; absolute 1e-12).
    fast_average : bool
        Average erf(A) over the fast fluctuation of κ̃ (default; an O(c) correction of the
        gradient term), or evaluate it at the critical point.

    Returns
    -------
    LimitSolution
        η = ρ = θ̃ = 0 (ℳ is invariant); κ̃ from :math:`A = \lambda\tilde\kappa/\sqrt{2D}`.
        Raises :class:`LimitNotSolved` when the solver fails or exceeds 20 000 evaluations.
    """
    from scipy.integrate import solve_ivp

    check_temperature(temperature)
    c = check_range("step_scale", step_scale, lo=0, lo_open=True, hi=10.0)
    batch = check_int("batch", batch, lo=1, hi=10**6)
    nu0 = check_range("nu0", nu0, lo=-1, hi=1, lo_open=True, hi_open=True)
    rtol = check_range("rtol", rtol, lo=1e-12, hi=1e-2)
    times = check_times(times)
    count = [0]

    def rhs(t, y):
        count[0] += 1
        if count[0] > MAX_EVALUATIONS:
            raise LimitNotSolved(f"slow ODE: more than {MAX_EVALUATIONS} evaluations by t={t:g}")
        nu = float(np.clip(y[0], -1 + 1e-15, 1 - 1e-15))
        lam = float(temperature.at(t))
        terms = manifold_terms(model, nu, lam, batch)
        erf_a = fast_average_erf(terms, nu, lam, model.gamma, c) if fast_average else float(
            special.erf(terms["A"]))  # fmt: skip
        return [2.0 * c * model.gamma**2 * erf_a * (1.0 - nu**2) - 0.5 * c**2 * nu * terms["q_vv"]]

    sol = solve_ivp(rhs, (0.0, float(times[-1])), [nu0], method="LSODA", t_eval=times,
                    rtol=rtol, atol=1e-12)  # fmt: skip
    if not sol.success or sol.y.shape[1] != times.size or not np.all(np.isfinite(sol.y)):
        raise LimitNotSolved(f"slow ODE: the solver stopped: {sol.message}")
    nu = sol.y[0]
    terms = [manifold_terms(model, float(n), float(temperature.at(t)), batch)
             for t, n in zip(times, nu, strict=True)]  # fmt: skip
    zero = np.zeros_like(nu)
    return LimitSolution(
        times, nu, zero, zero, np.array([x["kappa_tilde"] for x in terms]), zero,
        np.array([x["risk"] for x in terms]),
        np.array([0.25 * c * x["floor_trace"] for x in terms]), 0.0,
    )  # fmt: skip


def check_times(times) -> np.ndarray:
    """Finite increasing output times starting at 0, at most 1e6."""
    t = np.asarray(times, dtype=float).ravel()
    if t.size < 2 or not np.all(np.isfinite(t)) or t[0] != 0 or np.any(np.diff(t) <= 0):
        raise ParameterError("times must be finite, increasing, start at 0, at least two")
    if t[-1] > 1e6:
        raise ParameterError(f"times[-1] = {t[-1]:g} is out of range: must be <= 1e6")
    return t
