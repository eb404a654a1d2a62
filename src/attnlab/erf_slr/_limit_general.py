"""The slow ODE of online SGD off ℳ (Monte-Carlo second-order terms) and the stability of ℳ.

The derivation is in :mod:`attnlab.erf_slr._limit`. Off ℳ the fast critical point is found by
Newton's method (capped) and Q = E[C] is a Monte-Carlo mean over antithetic common random
numbers, with the exact on-ℳ value of Q_vv as a control variate; the ODE is stiff in (η, ρ) and
is integrated by scipy's BDF method with the exact Jacobian, under an evaluation cap.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np

from attnlab._jax import flat_draw, jax, jnp
from attnlab._validate import ParameterError, check_int, check_range
from attnlab.erf_slr._limit import (
    MAX_EVALUATIONS,
    LimitNotSolved,
    LimitSolution,
    check_times,
    manifold_q_vv_jnp,
)
from attnlab.erf_slr._model import ErfSLRModel, Temperature, check_temperature
from attnlab.erf_slr._risk import _erf, _erf_prime, _excess_risk
from attnlab.precision import uses_jax
from attnlab.rng import as_key_batch

__all__ = ["manifold_stability", "sgd_limit_general"]

NEWTON_STEPS = 12  # the fast critical point: Newton from the on-manifold closed form
NEWTON_TOL = 1e-9


def _risk(fast, slow, L, gamma, lam):
    """F(κ̃, ν, θ̃, η, ρ): the closed form at d = 1 with κ = κ̃, θ = θ̃."""
    return _excess_risk(fast[0], slow[0], fast[1], slow[1], slow[2], 1.0, L, gamma, lam)


_fast_gradient = jax.grad(_risk, argnums=0)
_fast_hessian = jax.hessian(_risk, argnums=0)
_slow_gradient = jax.grad(_risk, argnums=1)


def _manifold_guess(nu, gamma, lam):
    D = 1.0 + 2.0 * lam**2 * gamma**2
    E = 1.0 + 4.0 * lam**2 * gamma**2
    nu = jnp.clip(nu, -1.0 + 1e-12, 1.0 - 1e-12)
    return jnp.stack([jnp.sqrt(E) * jax.scipy.special.erfinv(nu) * jnp.sqrt(2.0 * D) / lam, 0.0])


def fast_variables(slow, L, gamma, lam):
    """The critical point (κ̃, θ̃) of F at fixed slow (ν, η, ρ) and its gradient residual:
    Newton (capped at ``NEWTON_STEPS``) from the exact on-manifold value."""

    def newton(x, _):
        step = jnp.linalg.solve(_fast_hessian(x, slow, L, gamma, lam),
                                _fast_gradient(x, slow, L, gamma, lam))  # fmt: skip
        return x - step, None

    x, _ = jax.lax.scan(newton, _manifold_guess(slow[0], gamma, lam), None, length=NEWTON_STEPS)
    return x, jnp.max(jnp.abs(_fast_gradient(x, slow, L, gamma, lam)))


def _sample_terms(normals, fast, slow, gamma, eps, lam, L: int):
    """One sample in the limit: (T − y)², and Σ_ℓ σ²φφᵀ, φ_J (hidden) for C and the floor."""
    nu, eta, rho = slow
    xi, s, noise = normals[:4], normals[4 : 4 + 2 * (L - 1)].reshape(L - 1, 2), normals[-1]
    k3 = jnp.sqrt(jnp.maximum(1.0 - eta**2, 0.0))
    v3 = jnp.where(k3 > 0, (rho - eta * nu) / jnp.where(k3 > 0, k3, 1.0), 0.0)
    v4 = jnp.sqrt(jnp.maximum(1.0 - nu**2 - v3**2, 0.0))
    pk_h = fast[0] / jnp.sqrt(2.0) + gamma * (eta * xi[1] + k3 * xi[2])
    pv_h = fast[1] / jnp.sqrt(2.0) + gamma * (nu * xi[1] + v3 * xi[2] + v4 * xi[3])
    pk, pv = s[:, 0], rho * s[:, 0] + jnp.sqrt(jnp.maximum(1.0 - rho**2, 0.0)) * s[:, 1]
    r2 = _erf(lam * pk_h) * pv_h + jnp.sum(_erf(lam * pk) * pv) - gamma * xi[1] - eps * noise
    r2 = r2**2
    phi_h = jnp.stack([lam * _erf_prime(lam * pk_h) * pv_h, _erf(lam * pk_h)])
    phi = jnp.stack([lam * _erf_prime(lam * pk) * pv, _erf(lam * pk)], -1)  # (L−1, 2)
    cov = gamma**2 * jnp.outer(phi_h, phi_h) + phi.T @ phi
    return r2 * cov, r2 * jnp.sum(phi_h**2)


def complement_moments(normals, fast, slow, gamma, eps, lam, L: int, batch: int):
    """Q = E[C] (2×2) and the fast-noise trace tr Σ, Monte-Carlo over the rows of ``normals``."""
    cov, hidden = jax.vmap(lambda n: _sample_terms(n, fast, slow, gamma, eps, lam, L))(normals)
    return (4.0 / batch) * cov.mean(0), (2.0 / batch) * hidden.mean()


def antithetic(normals, L: int):
    """The samples and their mirror images (ξ₂, ξ₄, the label noise and every s₂ negated): the
    same Gaussian law, and on ℳ the mirror negates T − y, ⟨v, x⟩ and C_kv, so the estimate of
    Q_kv vanishes exactly there and ℳ stays invariant under the Monte-Carlo drift."""
    sign = np.ones(normals.shape[1])
    sign[[1, 3, -1]] = -1.0
    sign[5 : 4 + 2 * (L - 1) : 2] = -1.0  # s₂ of each non-hidden token
    return jnp.concatenate([normals, normals * sign])


def _drift(slow, lam, normals, params, L: int, batch: int):
    """d(ν, η, ρ)/dt of the module docstring, the fast point, F there, the floor, residual."""
    gamma, eps, c = params["gamma"], params["eps"], params["step_scale"]
    fast, residual = fast_variables(slow, L, gamma, lam)
    F_nu, F_eta, F_rho = _slow_gradient(fast, slow, L, gamma, lam)
    nu, eta, rho = slow
    s_k, s_v = F_eta * eta + F_rho * rho, F_nu * nu + F_rho * rho
    Q, trace = complement_moments(normals, fast, slow, gamma, eps, lam, L, batch)
    # control variate: exact on ℳ, Monte-Carlo only for the departure from it
    on_m = jnp.stack([slow[0], 0.0, 0.0])
    fast_m, _ = fast_variables(on_m, L, gamma, lam)
    Q_m, _ = complement_moments(normals, fast_m, on_m, gamma, eps, lam, L, batch)
    q_vv = manifold_q_vv_jnp(fast_m[0], slow[0], gamma, eps, lam, L, batch) + Q[1, 1] - Q_m[1, 1]
    Q = Q.at[1, 1].set(q_vv)
    d_nu = -c * (F_nu + F_rho * eta - s_v * nu) - 0.5 * c**2 * nu * Q[1, 1]
    d_eta = -c * (F_eta + F_rho * nu - s_k * eta) - 0.5 * c**2 * eta * Q[0, 0]
    d_rho = -c * (F_eta * nu + F_nu * eta + 2.0 * F_rho - (s_k + s_v) * rho)
    d_rho = d_rho + c**2 * Q[0, 1] - 0.5 * c**2 * rho * (Q[0, 0] + Q[1, 1])
    risk = _risk(fast, slow, L, gamma, lam)
    return jnp.stack([d_nu, d_eta, d_rho]), (fast, risk, 0.25 * c * trace, residual)


def _slow_drift(t, y, normals, params, L: int, batch: int):
    lam = params["lam0"] / (1.0 + params["decay"] * t)
    return _drift(y, lam, normals, params, L, batch)[0]


_rhs = jax.jit(_slow_drift, static_argnums=(4, 5))
_jacobian = jax.jit(jax.jacfwd(_slow_drift, argnums=1), static_argnums=(4, 5))


@partial(jax.jit, static_argnums=(4, 5))
def _observe(t, y, normals, params, L: int, batch: int):
    lam = params["lam0"] / (1.0 + params["decay"] * t)
    return _drift(y, lam, normals, params, L, batch)[1]


def _setup(model: ErfSLRModel, key: Any, temperature, step_scale, n_mc):
    """Validated traced parameters and the antithetic common random numbers."""
    lam0, decay = check_temperature(temperature).coefficients()
    c = check_range("step_scale", step_scale, lo=0, lo_open=True, hi=10.0)
    n_mc = check_int("n_mc", n_mc, lo=100, hi=10**7)
    keys, single = as_key_batch(key)
    if not single:
        raise ParameterError("the slow ODE takes a single key")
    params = {"gamma": model.gamma, "eps": model.eps, "step_scale": c, "lam0": lam0,
              "decay": decay}  # fmt: skip
    return params, antithetic(
        flat_draw(jax.random.normal, keys[0], (n_mc // 2, 2 * model.L + 3)), model.L
    )


@uses_jax
def sgd_limit_general(
    model: ErfSLRModel,
    key: Any,
    *,
    temperature: Temperature,
    step_scale: float,
    batch: int,
    times: Any,
    initial: tuple[float, float, float],
    n_mc: int = 20_000,
    rtol: float = 1e-6,
) -> LimitSolution:
    r"""Solve the slow ODE of online SGD in the limit d → ∞ (module docstring).

    The (η, ρ) directions are stiff (decay rates up to ~10 per unit t at λ ≈ 2), so the ODE is
    integrated by scipy's implicit BDF method with the exact Jacobian (automatic
    differentiation), at most 20 000 right-hand-side evaluations.

    Parameters
    ----------
    model, temperature, step_scale, batch, times
        As for :func:`~attnlab.erf_slr.sgd_limit`.
    key : jax key
        Common random numbers of the Monte-Carlo estimate of Q and of the noise floor.
    initial : (ν, η, ρ)
        Slow overlaps at t = 0 (realisable: the Gram matrix of (k, v, v*) ⪰ 0).
    n_mc : int
        Monte-Carlo samples (antithetic pairs) for Q and the noise floor.
    rtol : float
        Relative tolerance of the solver (absolute 1e-9).

    Returns
    -------
    LimitSolution
        Raises :class:`LimitNotSolved` (one line) when the solver fails, hits its evaluation
        cap, or the fast critical point is not found (Newton residual above 1e-9).
    """
    from scipy.integrate import solve_ivp

    rtol = check_range("rtol", rtol, lo=1e-12, hi=1e-2)
    times = check_times(times)
    slow0 = _check_initial(initial)
    params, normals = _setup(model, key, temperature, step_scale, n_mc)
    batch = check_int("batch", batch, lo=1, hi=10**6)
    count = [0]

    def rhs(t, y):
        count[0] += 1
        if count[0] > MAX_EVALUATIONS:
            raise LimitNotSolved(f"slow ODE: more than {MAX_EVALUATIONS} evaluations by t={t:g}")
        return np.asarray(_rhs(t, jnp.asarray(y), normals, params, model.L, batch))

    def jac(t, y):
        return np.asarray(_jacobian(t, jnp.asarray(y), normals, params, model.L, batch))

    sol = solve_ivp(rhs, (0.0, float(times[-1])), slow0, method="BDF", t_eval=times, jac=jac,
                    rtol=rtol, atol=1e-9)  # fmt: skip
    if not sol.success or sol.y.shape[1] != times.size:
        raise LimitNotSolved(f"slow ODE: the stiff solver stopped: {sol.message}")
    return _assemble(times, sol.y.T, normals, params, model.L, batch)


def _assemble(times, y, normals, params, L: int, batch: int) -> LimitSolution:
    """The fast point, risk and floor along a solution; a one-line error if Newton failed."""
    aux = [_observe(t, jnp.asarray(row), normals, params, L, batch)
           for t, row in zip(times, y, strict=True)]  # fmt: skip
    fast = np.array([np.asarray(a[0]) for a in aux])
    worst = max(float(a[3]) for a in aux)
    if not np.isfinite(worst) or worst > NEWTON_TOL or not np.all(np.isfinite(y)):
        raise LimitNotSolved(
            f"slow ODE: the fast critical point was not found (Newton residual {worst:.2g} > "
            f"{NEWTON_TOL:g} after {NEWTON_STEPS} steps)"
        )
    risk = np.array([float(a[1]) for a in aux])
    floor = np.array([float(a[2]) for a in aux])
    return LimitSolution(times, y[:, 0], y[:, 1], y[:, 2], fast[:, 0], fast[:, 1], risk, floor,
                         worst)  # fmt: skip


@uses_jax
def manifold_stability(model: ErfSLRModel, key: Any, solution: LimitSolution, *,
                       temperature: Temperature, step_scale: float, batch: int,
                       n_mc: int = 20_000) -> np.ndarray:  # fmt: skip
    r"""Largest real part of the eigenvalues of the (η, ρ) block of the slow Jacobian along an
    on-ℳ solution: positive where ℳ repels (small excursions off ℳ grow at that rate per unit
    t), negative where it attracts.

    Parameters
    ----------
    model, key, temperature, step_scale, batch, n_mc
        As for :func:`sgd_limit`.
    solution : LimitSolution

    Returns
    -------
    numpy.ndarray
        One rate per time of ``solution``.
    """
    params, normals = _setup(model, key, temperature, step_scale, n_mc)
    rates = []
    for t, nu, eta, rho in zip(solution.t, solution.nu, solution.eta, solution.rho, strict=True):
        y = jnp.asarray([nu, eta, rho])
        J = np.asarray(_jacobian(float(t), y, normals, params, model.L, batch))
        rates.append(float(np.max(np.linalg.eigvals(J[1:, 1:]).real)))
    return np.asarray(rates)


def _check_initial(initial) -> np.ndarray:
    try:
        nu, eta, rho = (float(x) for x in initial)
    except (TypeError, ValueError):
        raise ParameterError(f"initial = {initial!r}: need the three (ν, η, ρ)") from None
    gram = np.array([[1.0, rho, eta], [rho, 1.0, nu], [eta, nu, 1.0]])
    if not np.all(np.isfinite(gram)) or np.linalg.eigvalsh(gram)[0] < -1e-12:
        raise ParameterError(
            f"initial (ν, η, ρ) = ({nu:g}, {eta:g}, {rho:g}) is not realisable: the Gram matrix "
            "of (k, v, v*) must be positive semi-definite"
        )
    return np.array([nu, eta, rho])
