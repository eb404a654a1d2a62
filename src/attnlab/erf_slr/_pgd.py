r"""Projected gradient descent with the exact population gradient.

On the product of unit spheres,

.. math::
    k \leftarrow \frac{k - \alpha(I - kk^\top)\nabla_k\mathcal E}{\|\cdot\|}, \qquad
    v \leftarrow \frac{v - \alpha(I - vv^\top)\nabla_v\mathcal E}{\|\cdot\|}.

:math:`\mathcal E` depends on (k, v) only through the overlaps, so
:math:`\nabla_k\mathcal E = \partial_\kappa\mathcal E\,k^* + \partial_\eta\mathcal E\,v^* +
\partial_\rho\mathcal E\,v` and :math:`\nabla_v\mathcal E = \partial_\nu\mathcal E\,v^* +
\partial_\theta\mathcal E\,k^* + \partial_\rho\mathcal E\,k`: the iterates stay in
span{k*, v*, k₀, v₀}. In an orthonormal frame of that span with :math:`e_1 = k^*`,
:math:`e_2 = v^*`, k and v have 4 coordinates and the same update acts on them exactly, at a cost
independent of d (:class:`~attnlab.erf_slr.FourCoordinates`). The update on the d-dimensional
vectors (:class:`~attnlab.erf_slr.FullDimension`) is the reference; both give the same
trajectories up to rounding.

The gradient is that of the closed form (:mod:`attnlab.erf_slr._risk`). The closed form and the
true expectation :math:`\mathbb E[(T_\lambda(X) - y)^2]` agree on the product of spheres but
extend differently off it, so their Euclidean gradients differ by radial components; only the
tangential parts, the ones projected GD uses, agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from attnlab._jax import jax, jnp
from attnlab._validate import ParameterError
from attnlab.erf_slr._data import draw_problem, orthonormal_frame
from attnlab.erf_slr._model import (
    ErfSLRModel,
    FourCoordinates,
    FullDimension,
    ManifoldInit,
    SphereInit,
    Temperature,
    check_strategy,
    check_temperature,
)
from attnlab.erf_slr._risk import _excess_risk
from attnlab.erf_slr._training import (
    StepKernel,
    Training,
    check_run,
    make_log,
    projected_step,
    run_logged,
    schedule_params,
    squeeze,
    temperature_at,
)
from attnlab.precision import uses_jax
from attnlab.rng import as_key_batch

__all__ = ["projected_gd"]


def _overlaps(k, v, k_star, v_star):
    """(κ, ν, θ, η, ρ) of one replicate's vectors (last axis)."""
    return (
        jnp.dot(k, k_star),
        jnp.dot(v, v_star),
        jnp.dot(v, k_star),
        jnp.dot(k, v_star),
        jnp.dot(k, v),
    )


def population_risk(k, v, k_star, v_star, params, lam):
    """Closed-form ℰ at (k, v) for one replicate (vectors in R^d or in 4 coordinates)."""
    ov = _overlaps(k, v, k_star, v_star)
    return _excess_risk(*ov, params["d"], params["L"], params["gamma"], lam)


_risk_gradient = jax.grad(population_risk, argnums=(0, 1))


@dataclass(frozen=True)
class _PGDKernel(StepKernel):
    """Projected GD on all replicates (k, v of shape (n_seeds, width), width 4 or d)."""

    def step(self, state, params):
        k, v, t = state
        lam = temperature_at(params, t)
        grad = jax.vmap(_risk_gradient, in_axes=(0, 0, 0, 0, None, None))
        gk, gv = grad(k, v, params["k_star"], params["v_star"], params, lam)
        k, v = projected_step(k, v, gk, gv, params["step_size"])
        return k, v, t + 1

    def observe(self, state, params):
        k, v, t = state
        lam = temperature_at(params, t)
        ov = jax.vmap(_overlaps)(k, v, params["k_star"], params["v_star"])
        risk = jax.vmap(population_risk, in_axes=(0, 0, 0, 0, None, None))(
            k, v, params["k_star"], params["v_star"], params, lam
        )
        return (*ov, risk)


_frames = jax.jit(jax.vmap(orthonormal_frame))


def model_params(model: ErfSLRModel, temperature: Temperature, step_size: float) -> dict:
    """The traced parameters of a run: d, L, γ, ε and the schedule."""
    return {
        "d": float(model.d),
        "L": float(model.L),
        "gamma": model.gamma,
        "eps": model.eps,
        **schedule_params(temperature, step_size),
    }


def check_training_dimension(model: ErfSLRModel) -> None:
    """Training needs a 4-dimensional span: ``model.d >= 4``."""
    if model.d < 4:
        raise ParameterError(f"model.d = {model.d} is out of range: training needs d >= 4")


@uses_jax
def projected_gd(
    model: ErfSLRModel,
    key: Any,
    *,
    temperature: Temperature,
    step_size: float,
    steps: int,
    init: SphereInit | ManifoldInit = SphereInit(),
    solver: FourCoordinates | FullDimension = FourCoordinates(),
    log_every: int = 100,
) -> Training:
    r"""Projected GD with the exact population gradient (module docstring) from the
    initialisation of each replicate.

    Parameters
    ----------
    model : ErfSLRModel
        ``d >= 4``.
    key : jax key or array of keys
        One key per replicate (teacher from ``stream(key, "teacher")``, start from
        ``stream(key, "init")``).
    temperature : ConstantTemperature or DecayingTemperature
        :math:`\lambda_t`.
    step_size : float
        :math:`\alpha`, in ``(0, 1e6]``.
    steps : int
        Number of updates.
    init : SphereInit or ManifoldInit
    solver : FourCoordinates or FullDimension
        Run in the 4 coordinates of span{k*, v*, k₀, v₀} (cost independent of d) or on the
        d-dimensional vectors.
    log_every : int
        Log every ``log_every`` steps (and at the last step).

    Returns
    -------
    Training
        Problem, final (k, v) in :math:`\mathbb R^d` and the log (closed-form ℰ at λ_t).
    """
    check_training_dimension(model)
    check_temperature(temperature)
    check_strategy("solver", solver, (FourCoordinates, FullDimension))
    step_size, steps, log_every = check_run(step_size, steps, log_every)
    keys, single = as_key_batch(key)
    problem = draw_problem(model, keys, init=init)
    ks, vs, k0, v0 = (jnp.asarray(a) for a in problem)
    n = k0.shape[0]
    if isinstance(solver, FourCoordinates):
        frame = _frames(ks, vs, k0, v0)  # (n, 4, d)
        coords = jnp.einsum("sid,sd->si", frame, k0), jnp.einsum("sid,sd->si", frame, v0)
        eye = jnp.eye(4, dtype=k0.dtype)
        ks_run, vs_run = jnp.tile(eye[0], (n, 1)), jnp.tile(eye[1], (n, 1))
        k_run, v_run = coords
    else:
        ks_run, vs_run, k_run, v_run = ks, vs, k0, v0
    params = {**model_params(model, temperature, step_size), "k_star": ks_run, "v_star": vs_run}
    (k, v, _), obs = run_logged(_PGDKernel(), (k_run, v_run, 0), params, steps=steps,
                                log_every=log_every, n_seeds=n, what="projected GD")  # fmt: skip
    if isinstance(solver, FourCoordinates):
        k, v = (jnp.einsum("sid,si->sd", frame, c) for c in (k, v))
    log = make_log(obs, steps, log_every, temperature)
    return squeeze(Training(problem, np.asarray(k), np.asarray(v), log), single)
