r"""Online projected SGD: the projected update with the gradient of the empirical MSE
:math:`B^{-1}\sum_b (T_\lambda(X_b) - y_b)^2` on a fresh batch of B samples each step.

Two simulators with the same law of the overlaps: :class:`~attnlab.erf_slr.Direct` draws every
batch from the data law and updates d-dimensional (k, v) (cost O(B·L·d) per step), logging the
test MSE − ε² on a fixed test set of each replicate; :class:`~attnlab.erf_slr.Reduced` runs the
exact Markov chain of the overlaps (:mod:`attnlab.erf_slr._reduced`, cost O(B·L) per step) and
logs the closed-form excess risk, the expectation of that test MSE.

Random streams of replicate key ``key``: teacher and start as in :func:`draw_problem`, batch
``t`` from ``fold_in(stream(key, "sgd-batches"), t)``, the fixed test set from
``stream(key, "sgd-test")``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from attnlab._jax import flat_draw, jax, jnp
from attnlab._validate import check_int, check_range
from attnlab.erf_slr._data import (
    Overlaps,
    Problem,
    _sample,
    canonical_coordinates,
    check_teacher,
    draw_problem,
    embed_overlaps,
    overlaps,
)
from attnlab.erf_slr._model import (
    Direct,
    ErfSLRModel,
    ManifoldInit,
    Reduced,
    SphereInit,
    Temperature,
    check_lam,
    check_strategy,
    check_temperature,
)
from attnlab.erf_slr._pgd import _overlaps, check_training_dimension, model_params
from attnlab.erf_slr._predictor import _predict, empirical_mse
from attnlab.erf_slr._reduced import ReducedKernel, batch_gradient, n_normals
from attnlab.erf_slr._risk import _excess_risk
from attnlab.erf_slr._training import (
    StepKernel,
    Training,
    check_run,
    make_log,
    projected_step,
    run_logged,
    squeeze,
    temperature_at,
)
from attnlab.precision import uses_jax
from attnlab.rng import as_key_batch, stream

__all__ = ["heldout_excess", "online_sgd", "sgd_noise_floor"]


@dataclass(frozen=True)
class _DirectKernel(StepKernel):
    """SGD on d-dimensional (k, v) of all replicates, batches drawn from the data law."""

    L: int
    batch: int

    def _one(self, key, k, v, k_star, v_star, params, lam):
        X, y, _ = _sample(key, self.batch, k_star, v_star, self.L, params["gamma"], params["eps"])
        return jax.grad(empirical_mse, argnums=(2, 3))(X, y, k, v, lam)

    def step(self, state, params):
        k, v, t = state
        lam = temperature_at(params, t)
        keys = jax.vmap(lambda key: jax.random.fold_in(key, t))(params["keys"])
        grad = jax.vmap(self._one, in_axes=(0, 0, 0, 0, 0, None, None))
        gk, gv = grad(keys, k, v, params["k_star"], params["v_star"], params, lam)
        k, v = projected_step(k, v, gk, gv, params["step_size"])
        return k, v, t + 1

    def observe(self, state, params):
        k, v, t = state
        lam = temperature_at(params, t)
        ov = jax.vmap(_overlaps)(k, v, params["k_star"], params["v_star"])
        risk = _excess_risk(*ov, params["d"], params["L"], params["gamma"], lam)
        pred = jax.vmap(_predict, in_axes=(0, 0, 0, None))(params["X_test"], k, v, lam)
        test = jnp.mean((pred - params["y_test"]) ** 2, axis=-1) - params["eps"] ** 2
        return (*ov, risk, test)


@partial(jax.jit, static_argnums=(3, 6))
def _test_sets(keys, k_star, v_star, L, gamma, eps, n_test):
    def one(key, ks, vs):
        X, y, _ = _sample(stream(key, "sgd-test"), n_test, ks, vs, L, gamma, eps)
        return X, y

    return jax.vmap(one)(keys, k_star, v_star)


@partial(jax.jit, static_argnums=(5, 10, 11))
def _heldout(keys, k, v, k_star, v_star, L, d, gamma, eps, lam, n, tag):
    """Per replicate (one at a time): test MSE − ε² on n samples and its standard error
    (vectors of length d, or canonical coordinates with k*, v* the first two axes)."""

    def one(args):
        key, k, v, ks, vs = args
        X, y, _ = _sample(stream(key, tag), n, ks, vs, L, gamma, eps, d)
        sq = (_predict(X, k, v, lam) - y) ** 2
        return sq.mean() - eps**2, jnp.std(sq, ddof=1) / math.sqrt(n)

    return jax.lax.map(one, (keys, k, v, k_star, v_star))


@partial(jax.jit, static_argnums=(2, 3))
def _gradient_spread(key, params, L: int, n: int):
    """tr Cov of the tangential single-sample gradient at (k*, v*), from n samples drawn in
    the 4 coordinates of the reduced chain (its complement part in expectation given them)."""
    eye = jnp.eye(4, dtype=jnp.zeros(()).dtype)
    normals = flat_draw(
        jax.random.normal, stream(key, "noise-floor"), (n, n_normals(L, 1)), eye.dtype
    )

    def one(nrm):
        gk, gv, C = batch_gradient(nrm, eye[0], eye[1], params["d"], params["gamma"],
                                   params["eps"], params["lam"], L, 1)  # fmt: skip
        return gk - gk[0] * eye[0], gv - gv[1] * eye[1], C[0] + C[2]

    gk, gv, trace_c = jax.vmap(one)(normals)
    span = jnp.sum(jnp.var(gk, axis=0, ddof=1)) + jnp.sum(jnp.var(gv, axis=0, ddof=1))
    return span + (params["d"] - 4.0) * jnp.mean(trace_c)


@uses_jax
def online_sgd(
    model: ErfSLRModel,
    key: Any,
    *,
    temperature: Temperature,
    step_size: float,
    steps: int,
    batch: int = 5,
    init: SphereInit | ManifoldInit = SphereInit(),
    simulator: Reduced | Direct = Reduced(),
    n_test: int = 1000,
    log_every: int = 1000,
) -> Training:
    r"""Online projected SGD with fresh batches (module docstring).

    Parameters
    ----------
    model : ErfSLRModel
        ``d >= 4``.
    key : jax key or array of keys
        One key per replicate.
    temperature : ConstantTemperature or DecayingTemperature
    step_size : float
        :math:`\alpha`.
    steps : int
    batch : int
        Fresh samples per step (default 5).
    init : SphereInit or ManifoldInit
    simulator : Reduced or Direct
        The exact reduced chain of the overlaps (cost independent of d; default) or the direct
        simulation in :math:`\mathbb R^d`.
    n_test : int
        Size of the fixed test set of each replicate (:class:`Direct` only; default 1000).
    log_every : int

    Returns
    -------
    Training
        With :class:`Direct`: the problem, the final (k, v) and the log, ``test_excess`` being
        the test MSE − ε² on the fixed test set. With :class:`Reduced`: the problem, the final
        (k, v) and the teacher are the canonical embedding in :math:`\mathbb R^d` (k* = e₁,
        v* = e₂, :func:`~attnlab.erf_slr.embed_overlaps`) of the same initial and final
        overlaps, and ``test_excess`` is ``None`` (the logged closed-form ``risk`` is its
        expectation).
    """
    check_training_dimension(model)
    check_temperature(temperature)
    check_strategy("simulator", simulator, (Reduced, Direct))
    step_size, steps, log_every = check_run(step_size, steps, log_every)
    batch = check_int("batch", batch, lo=1, hi=10**6)
    n_test = check_int("n_test", n_test, lo=2, hi=10**8)
    keys, single = as_key_batch(key)
    problem = draw_problem(model, keys, init=init)
    params = {
        **model_params(model, temperature, step_size),
        "keys": stream(keys, "sgd-batches"),
    }
    n = keys.shape[0]
    if isinstance(simulator, Direct):
        ks, vs = jnp.asarray(problem.k_star), jnp.asarray(problem.v_star)
        X, y = _test_sets(keys, ks, vs, model.L, model.gamma, model.eps, n_test)
        params.update(k_star=ks, v_star=vs, X_test=X, y_test=y)
        state = (jnp.asarray(problem.k0), jnp.asarray(problem.v0), 0)
        kernel = _DirectKernel(model.L, batch)
    else:
        ck, cv = canonical_coordinates(overlaps(problem.k0, problem.v0, *problem[:2]))
        state = (jnp.asarray(ck), jnp.asarray(cv), 0)
        kernel = ReducedKernel(model.L, batch)
    (k, v, _), obs = run_logged(kernel, state, params, steps=steps, log_every=log_every,
                                n_seeds=n, what=f"online SGD ({simulator.name})")  # fmt: skip
    if isinstance(simulator, Direct):
        log = make_log(obs, steps, log_every, temperature, test=obs[6])
        return squeeze(Training(problem, np.asarray(k), np.asarray(v), log), single)
    log = make_log(obs, steps, log_every, temperature)
    start = Overlaps(*(a[:, 0] for a in obs[:5]))
    k0, v0, ks, vs = embed_overlaps(start, model.d)
    k, v, _, _ = embed_overlaps(Overlaps(*(a[:, -1] for a in obs[:5])), model.d)
    return squeeze(Training(Problem(ks, vs, k0, v0), k, v, log), single)


@uses_jax
def heldout_excess(
    model: ErfSLRModel,
    key: Any,
    k: Any,
    v: Any,
    *,
    k_star: Any,
    v_star: Any,
    lam: float,
    n: int = 1000,
    tag: str = "sgd-test",
    simulator: Reduced | Direct = Reduced(),
) -> tuple[np.ndarray, np.ndarray]:
    r"""Test MSE − ε² on ``n`` samples (with label noise) and its standard error, per replicate.

    :math:`\hat{\mathcal E} = n^{-1}\sum_i (T_\lambda(X_i) - y_i)^2 - \varepsilon^2`, whose
    expectation over the test set is the excess risk :math:`\mathcal E(k, v)`.

    :math:`T_\lambda(X_i)` and :math:`y_i` depend on the tokens only through their coordinates in
    an orthonormal frame :math:`(k^*, v^*, e_3, e_4)` of span{k*, v*, k, v}, and those are
    independent: :math:`\mathcal N(0, I_4)` for an ordinary token,
    :math:`\sqrt{d/2}\,e_1 + \gamma\,\mathcal N(0, I_4)` for the hidden one. :class:`Reduced`
    (default) draws these 4 coordinates per token, with (k, v) in their canonical coordinates
    (:func:`~attnlab.erf_slr.canonical_coordinates`); :class:`Direct` draws the d-dimensional
    tokens. Both give :math:`\hat{\mathcal E}` with the same law (not the same numbers), the
    reduced one at a cost independent of d.

    Parameters
    ----------
    model : ErfSLRModel
    key : array of keys, shape (n_seeds,)
        Replicate keys; the test set of replicate i comes from ``stream(key[i], tag)``
        (``"sgd-test"``: the fixed test set that :func:`online_sgd` logs with :class:`Direct`).
    k, v, k_star, v_star : array, shape (n_seeds, d)
    lam : float
    n : int
        Test samples per replicate, ``>= 2``.
    tag : str
    simulator : Reduced or Direct
        Tokens drawn in the 4 frame coordinates (default) or in :math:`\mathbb R^d`.

    Returns
    -------
    mean, standard_error : numpy.ndarray, shape (n_seeds,)
    """
    lam = check_lam(lam)
    n = check_int("n", n, lo=2, hi=10**8)
    check_strategy("simulator", simulator, (Reduced, Direct))
    keys, _ = as_key_batch(key)
    ks, vs = check_teacher(model, k_star, v_star)
    k, v = check_teacher(model, k, v, ("k", "v"))
    k, v, ks, vs = (np.atleast_2d(np.asarray(a, dtype=float)) for a in (k, v, ks, vs))
    if isinstance(simulator, Reduced):
        k, v = canonical_coordinates(overlaps(k, v, ks, vs))
        ks, vs = np.broadcast_to(np.eye(4)[0], k.shape), np.broadcast_to(np.eye(4)[1], k.shape)
    arrays = (jnp.asarray(a) for a in (k, v, ks, vs))
    mean, se = _heldout(keys, *arrays, model.L, float(model.d), model.gamma, model.eps, lam, n,
                        tag)  # fmt: skip
    return np.asarray(mean), np.asarray(se)


@uses_jax
def sgd_noise_floor(
    model: ErfSLRModel, key: Any, *, lam: float, step_size: float, batch: int, n: int = 20_000
) -> float:
    r"""Linear-response estimate of the stationary SGD excess risk above
    :math:`\mathcal E(k^*, v^*)`: :math:`(\alpha/4)\,\mathrm{tr}\,\Sigma_B`.

    :math:`\Sigma_B = \Sigma_1/B` is the covariance of the tangential batch gradient
    :math:`((I - kk^\top)g_k, (I - vv^\top)g_v)` at :math:`(k^*, v^*)`, Σ₁ estimated from ``n``
    single-sample gradients drawn in the 4 coordinates of the reduced chain
    (:mod:`attnlab.erf_slr._reduced`), whose (d−4)-dimensional complement part contributes
    :math:`(d-4)\,\mathbb E[\mathrm{tr}\,C]` exactly. Near a minimum with Hessian H, SGD
    :math:`\theta \leftarrow \theta - \alpha(\nabla f + \xi)`, :math:`\mathrm{Cov}\,\xi =
    \Sigma_B`, has a stationary covariance C with :math:`HC + CH \approx \alpha\Sigma_B` (first
    order in α), so :math:`\mathbb E f - f^* \approx \tfrac12\mathrm{tr}(HC) =
    (\alpha/4)\,\mathrm{tr}\,\Sigma_B`.

    Parameters
    ----------
    model : ErfSLRModel
    key : jax key
    lam : float
        Temperature at which the floor is evaluated.
    step_size : float
    batch : int
    n : int
        Single-sample gradients, ``>= 2``.

    Returns
    -------
    float
    """
    lam = check_lam(lam)
    step_size = check_range("step_size", step_size, lo=0, lo_open=True, hi=1e6)
    batch = check_int("batch", batch, lo=1, hi=10**6)
    n = check_int("n", n, lo=2, hi=10**8)
    check_training_dimension(model)
    keys, _ = as_key_batch(key)
    params = {"d": float(model.d), "gamma": model.gamma, "eps": model.eps, "lam": lam}
    trace = float(_gradient_spread(keys[0], params, model.L, n))
    return step_size / 4.0 * trace / batch
