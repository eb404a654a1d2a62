r"""The large-N closed form of the symmetry-reduced objective φ(m), its domain and accuracy.

Large-N closed form, any sign law
---------------------------------
With x = βθ_d m, M0(x) = E e^{xε}, M1(x) = E ε e^{xε} (one informative token), ρ = K/N, the
law of large numbers for the numerator and the denominator of the softmax averages gives
y1 → β + θ_d m G, y2 → θ_d √(1−m²) G, N Σa² → e^{β²}(ρ M0(2x) + 1−ρ)/(ρ M0(x) + 1−ρ)²,
G = ρ M1/(ρ M0 + 1−ρ):

    φ(m) ≈ β² + 2βθ_d m G + θ_d² G² + (d/N) e^{β²} (ρ M0(2x) + 1−ρ)/(ρ M0(x) + 1−ρ)².

Rademacher (``token``): M0 = cosh, M1 = sinh. Gaussian signs: M0 = e^{x²/2}, M1 = x e^{x²/2}.
``fixed``: M0 = M1 = e^x. ``sequence`` (one sign per sequence): φ(m) = [φ_fixed(m) + φ_fixed(−m)]/2.
We evaluate it stably for any x through u = ρM0/(ρM0 + 1−ρ) (the softmax mass on informative
tokens) and w = 1/(ρM0 + 1−ρ), computed in log space: G = u M1/M0 and the last ratio is
ρ M0(2x) w² + (1−ρ) w². For the symmetric token-wise laws (E ε = 0, E ε² = 1), expanding
G ≈ ρx and the ratio ≈ 1 + ρx² gives

    φ″(0) = 2ρβ²θ_d² (2 + ρθ_d² + (d/N) e^{β²})    (Rademacher and Gaussian alike),

and for ``sequence`` φ″(0) = 2ρ(1−ρ)β²θ_d² (2 + ρ(2−3ρ)θ_d² + (d/N) e^{β²}).

Domain and accuracy. The softmax averages are ratio estimators whose corrections carry no factor
d: at m = 0 the exact leading correction is φ − φ_CF = e^{β²}(ρθ_d² − β²)/N (delta method). In
general their scale is 1/N_eff, N_eff = 1/Σa² ≈ N/(e^{β²}·ratio), times the tilted spread of a
token, ≤ 1 + β² + θ_d²; :func:`closed_form_bound` returns 2e^{β²}(1+β²+θ_d²)·ratio/N for φ and
that times (1 + 2βθ_d) for φ′. At large βθ_d m the softmax mass sits on the K informative
tokens, so N_eff is K-limited: the closed form is a large-K *and* large-N statement. It needs
the partition function to concentrate, Var Z/(E Z)² = (e^{β²} − 1)/N < 1, i.e. e^{β²} < N + 1;
outside that domain the closed-form functions refuse the model. For Gaussian signs the weights
e^{xε_i} are lognormal, and the law of large numbers for Σ_{i<K} e^{2xε_i} holds only for
2βθ_d|m| < √(2 ln K) (random-energy-model sums); beyond it the softmax condenses on the largest
ε_i and the closed form overshoots by orders of magnitude. :func:`closed_form_valid` returns
this domain. The Rademacher form has bounded weights and no such limit.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any, Literal

import numpy as np

from attnlab._jax import jax, jit_xla_reductions, jnp
from attnlab._validate import ParameterError, check_choice, check_int
from attnlab.precision import uses_jax
from attnlab.subspace._model import SubspaceModel
from attnlab.subspace._phi import check_m

__all__ = [
    "beta_limit",
    "closed_form_bound",
    "closed_form_function",
    "closed_form_valid",
    "escape_time",
    "phi_closed_form",
    "phi_prime_closed_form",
    "phi_second_at_zero",
    "phi_second_at_zero_closed_form",
    "phi_small_beta",
]


def _log_mgf(x: Any, sign: str) -> Any:
    """log M0(x) = log E e^{xε} per informative token."""
    if sign == "token":
        ax = jnp.abs(x)
        return ax + jnp.log1p(jnp.exp(-2 * ax)) - math.log(2.0)
    if sign == "gaussian":
        return x * x / 2
    return x  # fixed


def _tilt(x: Any, sign: str) -> Any:
    """M1(x)/M0(x) = E_x[ε] under the tilted law."""
    if sign == "token":
        return jnp.tanh(x)
    if sign == "gaussian":
        return x
    return jnp.ones_like(x)


def _phi_cf(m, d, N, rho, theta_d, beta, sign):
    if sign == "sequence":
        args = (d, N, rho, theta_d, beta, "fixed")
        return 0.5 * (_phi_cf(m, *args) + _phi_cf(-m, *args))
    x = beta * theta_d * m
    log_rho, log_rest = jnp.log(rho), jnp.log1p(-rho)  # log(1 − ρ) = −inf when M = 0
    L = jnp.logaddexp(log_rho + _log_mgf(x, sign), log_rest)  # log(ρ M0 + 1 − ρ)
    G = jnp.exp(log_rho + _log_mgf(x, sign) - L) * _tilt(x, sign)
    ratio = jnp.exp(log_rho + _log_mgf(2 * x, sign) - 2 * L) + (1 - rho) * jnp.exp(-2 * L)
    noise = (d / N) * jnp.exp(beta**2) * ratio
    return beta**2 + 2 * beta * theta_d * m * G + theta_d**2 * G**2 + noise


def _ratio(m, rho, x_scale, sign):
    """(ρ M0(2x) + 1 − ρ)/(ρ M0(x) + 1 − ρ)², x = x_scale·m: the Σa² enhancement (numpy)."""
    if sign == "sequence":
        return 0.5 * (_ratio(m, rho, x_scale, "fixed") + _ratio(-m, rho, x_scale, "fixed"))
    x = x_scale * np.asarray(m, dtype=float)
    log_m0 = {
        "token": lambda v: np.logaddexp(v, -v) - math.log(2.0),
        "gaussian": lambda v: v * v / 2,
    }.get(sign, lambda v: v)
    log_rest = math.log1p(-rho) if rho < 1 else -math.inf
    L = np.logaddexp(math.log(rho) + log_m0(x), log_rest)
    return np.exp(math.log(rho) + log_m0(2 * x) - 2 * L) + (1 - rho) * np.exp(-2 * L)


def beta_limit(model: SubspaceModel) -> float:
    """The largest β of the closed form's domain: e^{β²} < N + 1 (module docstring).

    Parameters
    ----------
    model : SubspaceModel
        Only its number of tokens N enters.

    Returns
    -------
    float
        √(ln(1 + N)).
    """
    return math.sqrt(math.log1p(model.N))


def _check_beta(model: SubspaceModel) -> None:
    if model.beta >= beta_limit(model):
        raise ParameterError(
            f"beta = {model.beta!r} is outside the large-N closed form's domain: it needs "
            f"e^(beta^2) < N + 1, i.e. beta in [0, {beta_limit(model):.4g}) for N = {model.N}"
        )


@functools.lru_cache(maxsize=16)
def _cf_program(sign: str, order: int):
    def f(x, d, N, rho, theta_d, beta):
        return _phi_cf(x, d, N, rho, theta_d, beta, sign)

    for _ in range(order):
        f = jax.grad(f)
    return jit_xla_reductions(jax.vmap(f, in_axes=(0, None, None, None, None, None)))


def closed_form_valid(model: SubspaceModel, m: Any) -> np.ndarray:
    """Where the large-N closed form applies (module docstring): e^{β²} < N + 1, and for
    Gaussian signs also 2βθ_d|m| < √(2 ln K).

    Parameters
    ----------
    model : SubspaceModel
        Any β (for β at or beyond :func:`beta_limit` no m is valid).
    m : float or array in [−1, 1]

    Returns
    -------
    numpy.ndarray of bool
    """
    m_arr = check_m(m)
    if model.beta >= beta_limit(model):
        return np.zeros(m_arr.shape, bool)
    if model.sign != "gaussian":
        return np.ones(m_arr.shape, bool)
    return 2 * model.beta * model.theta_d * np.abs(m_arr) < math.sqrt(2 * math.log(max(model.K, 2)))


def closed_form_function(
    model: SubspaceModel, *, order: int = 0, outside: Literal["raise", "nan"] = "raise"
) -> Callable[[Any], np.ndarray]:
    """The closed form's m ↦ φ^{(order)}(m) (order 0, 1, 2; exact derivatives by autodiff) as a
    fast numpy callable, e.g. the ``phi_prime`` of :func:`attnlab.subspace.solve_ode`.

    Parameters
    ----------
    model : SubspaceModel
        Must satisfy e^{β²} < N + 1 (the closed form's domain).
    order : {0, 1, 2}
    outside : {"raise", "nan"}
        What the callable does at m outside :func:`closed_form_valid`: raise a
        ParameterError, or return NaN there.

    Returns
    -------
    callable
        ``f(m) -> numpy.ndarray`` (m: scalar or 1-d array in [−1, 1]).
    """
    order = check_int("order", order, lo=0, hi=2)
    check_choice("outside", outside, ("raise", "nan"))
    _check_beta(model)
    fn = _cf_program(model.sign, order)
    params = (float(model.d), float(model.N), model.rho, model.theta_d, model.beta)

    @uses_jax
    def call(m: Any) -> np.ndarray:
        x = check_m(m)
        ok = closed_form_valid(model, x)
        if outside == "raise" and not ok.all():
            raise ParameterError(
                f"m = {x[~ok][0]:g} is outside the Gaussian-sign closed form's domain "
                f"2βθ_d|m| < √(2 ln K) (|m| < {_gaussian_m_limit(model):.3g})"
            )
        out = np.asarray(fn(jnp.asarray(x, jnp.float64), *params))
        return np.where(ok, out, np.nan)

    return call


def _gaussian_m_limit(model: SubspaceModel) -> float:
    return math.sqrt(2 * math.log(max(model.K, 2))) / max(2 * model.beta * model.theta_d, 1e-300)


def phi_closed_form(model: SubspaceModel, m: Any, **kwargs: Any) -> np.ndarray:
    r"""Large-N closed form of φ(m) (module docstring):

    .. math:: \varphi(m) \approx \beta^2 + 2\beta\theta_d m G + \theta_d^2 G^2
       + \frac dN e^{\beta^2}\frac{\rho M_0(2x) + 1-\rho}{(\rho M_0(x) + 1-\rho)^2}.

    Parameters
    ----------
    model : SubspaceModel
        β below :func:`beta_limit` (the closed form's domain), else a ParameterError.
    m : float or array in [−1, 1]
    **kwargs
        ``outside`` of :func:`closed_form_function`.

    Returns
    -------
    numpy.ndarray
    """
    return closed_form_function(model, **kwargs)(m)


def phi_prime_closed_form(model: SubspaceModel, m: Any, **kwargs: Any) -> np.ndarray:
    """φ′(m) of the closed form (exact derivative by autodiff).

    Parameters
    ----------
    model : SubspaceModel
        As for :func:`phi_closed_form`.
    m : float or array in [−1, 1]
    **kwargs
        ``outside`` of :func:`closed_form_function`.

    Returns
    -------
    numpy.ndarray
    """
    return closed_form_function(model, order=1, **kwargs)(m)


def phi_second_at_zero(model: SubspaceModel) -> float:
    """φ″(0) of the large-N closed form (autodiff), any sign law.

    Parameters
    ----------
    model : SubspaceModel
        Any sign law, β below :func:`beta_limit`.

    Returns
    -------
    float
    """
    return float(closed_form_function(model, order=2)(0.0)[0])


def phi_second_at_zero_closed_form(model: SubspaceModel) -> float:
    """Explicit φ″(0) (module docstring): 2ρβ²θ_d²(2 + ρθ_d² + (d/N)e^{β²}) for ``token`` and
    ``gaussian``; 2ρ(1−ρ)β²θ_d²(2 + ρ(2−3ρ)θ_d² + (d/N)e^{β²}) for ``sequence``.

    Parameters
    ----------
    model : SubspaceModel
        Any symmetric sign law (``fixed`` has no symmetric equator and is refused).

    Returns
    -------
    float
    """
    _check_beta(model)
    rho, td, beta = model.rho, model.theta_d, model.beta
    noise = (model.d / model.N) * math.exp(beta**2)
    if model.sign in ("token", "gaussian"):
        return 2 * rho * beta**2 * td**2 * (2 + rho * td**2 + noise)
    if model.sign == "sequence":
        return 2 * rho * (1 - rho) * beta**2 * td**2 * (2 + rho * (2 - 3 * rho) * td**2 + noise)
    raise ParameterError("sign = 'fixed' has no symmetric equator: φ″(0) is not defined there")


def closed_form_bound(model: SubspaceModel, m: Any) -> tuple[np.ndarray, np.ndarray]:
    """Bounds on the O(1/N_eff) corrections of the closed form (module docstring):
    2e^{β²}(1 + β² + θ_d²)·ratio/N for φ, and that times (1 + 2βθ_d) for φ′.

    Parameters
    ----------
    model : SubspaceModel
    m : float or array in [−1, 1]

    Returns
    -------
    phi_bound, dphi_bound : numpy.ndarray
    """
    m_arr = check_m(m)
    _check_beta(model)
    td, beta = model.theta_d, model.beta
    ratio = _ratio(m_arr, model.rho, beta * td, model.sign)
    bound = 2 * math.exp(beta**2) * (1 + beta**2 + td**2) * ratio / model.N
    return bound, bound * (1 + 2 * beta * td)


def phi_small_beta(model: SubspaceModel, m: Any) -> np.ndarray:
    """Small-β (linear-attention) limit of the closed form, Oja/PCA-like:
    φ(m) ≈ β² + (d/N)(1 + β²) + β² ρ θ_d² m² (2 + ρθ_d² + d/N) + O(β⁴).

    Parameters
    ----------
    model : SubspaceModel
        Sign law ``token`` or ``gaussian`` (E ε = 0, E ε² = 1).
    m : float or array in [−1, 1]

    Returns
    -------
    numpy.ndarray
    """
    if model.sign not in ("token", "gaussian"):
        raise ParameterError(
            f"sign = {model.sign!r}: the small-beta limit is given for 'token' and 'gaussian'"
        )
    m_arr = check_m(m)
    rho, td, beta, dn = model.rho, model.theta_d, model.beta, model.d / model.N
    return beta**2 + dn * (1 + beta**2) + beta**2 * rho * td**2 * m_arr**2 * (2 + rho * td**2 + dn)


def escape_time(model: SubspaceModel) -> float:
    """ODE time to leave the equator from |m_0| ≈ d^{−1/2}: log(d) / (2 φ″(0)), φ″(0) of the
    closed form.

    Parameters
    ----------
    model : SubspaceModel
        A symmetric sign law with φ″(0) > 0 (an unstable equator).

    Returns
    -------
    float
    """
    if not model.symmetric:
        raise ParameterError("sign = 'fixed': the equator is not a fixed point, no escape time")
    phi2 = phi_second_at_zero(model)
    if not phi2 > 0:
        raise ParameterError(f"φ″(0) = {phi2:g} ≤ 0: the equator is stable, no escape")
    return math.log(model.d) / (2 * phi2)
