"""Empirical risk minimisation for attention on generalised SLR (spec ``slr.md`` B.4).

Minimise over ``(k, v) in R^D x R^D``::

    R(k, v) = sum_mu 1/2 (y_mu - sigma(X_mu k/sqrt(D))^T X_mu v/sqrt(D))^2 + r/2 (|k|^2 + |v|^2)

with L-BFGS (scipy's L-BFGS-B on ``R/N`` — same minimiser — with a jitted jax
``value_and_grad``; one pass over the data costs ``O(N L D)``, so ``sqrt(N D) ~ 10^4`` fits in a
few seconds on 2 cores). Starts: ``"random"`` (``k, v ~ N(0, s^2 I)``) or ``"informed"``
(``k = c k*``, ``v = v*``, the Bayes-like teacher point, ``c = c_nu`` capped at 5).
Test error: Monte-Carlo MSE ``E[(y - f(X))^2]`` (includes ``Delta``) on fresh samples, and the
overlaps ``m_k = k.k*/D``, ``q_k = |k|^2/D``, ``m_v``, ``q_v`` that the replica theory predicts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from attnlab._jax import jax, jnp
from attnlab._validate import check_choice, check_int, check_range
from attnlab.gslr._activations import Activation, predict, resolve_activation
from attnlab.gslr._data import SLRData, Teacher, sample_slr, signal_scale


@dataclass(frozen=True)
class ERMFit:
    """Result of one ERM fit: the minimiser, objective ``R/N``, iterations, convergence."""

    k: np.ndarray
    v: np.ndarray
    objective: float
    n_iter: int
    converged: bool
    message: str
    init: str


@dataclass(frozen=True)
class Overlaps:
    """``m_k = k.k*/D``, ``q_k = |k|^2/D``, ``m_v = v.v*/D``, ``q_v = |v|^2/D`` and the cross
    overlaps ``k.v*/D``, ``v.k*/D``, ``k.v/D`` (zero on the invariant manifold)."""

    m_k: float
    q_k: float
    m_v: float
    q_v: float
    k_vstar: float
    v_kstar: float
    k_v: float


def overlaps(k: Any, v: Any, teacher: Teacher) -> Overlaps:
    """Overlaps of a student ``(k, v)`` with the teacher (all divided by ``D``)."""
    k = np.asarray(k, dtype=float)
    v = np.asarray(v, dtype=float)
    ks = np.asarray(teacher.k, dtype=float)
    vs = np.asarray(teacher.v, dtype=float)
    D = k.shape[0]
    return Overlaps(
        float(k @ ks / D),
        float(k @ k / D),
        float(v @ vs / D),
        float(v @ v / D),
        float(k @ vs / D),
        float(v @ ks / D),
        float(k @ v / D),
    )


_VG_CACHE: dict[Any, Any] = {}


def _value_and_grad(sigma: Activation):
    if id(sigma) in _VG_CACHE:
        return _VG_CACHE[id(sigma)][1]

    def objective(params, X, y, mask, r):
        D = X.shape[-1]
        k, v = params[:D], params[D:]
        f = predict(k.astype(X.dtype), v.astype(X.dtype), X, mask, sigma)
        n = y.shape[0]
        return 0.5 * jnp.sum((y - f) ** 2) / n + 0.5 * r * jnp.sum(params**2) / n

    vg = jax.jit(jax.value_and_grad(objective))
    _VG_CACHE[id(sigma)] = (sigma, vg)
    return vg


def fit_erm(
    data: SLRData,
    *,
    activation: str | Activation = "softmax",
    r: float = 0.01,
    init: str = "random",
    teacher: Teacher | None = None,
    model: str = "spiked",
    nu: float = 1.0,
    key: jax.Array | None = None,
    init_scale: float = 1.0,
    init_params: tuple[Any, Any] | None = None,
    maxiter: int = 2000,
    gtol: float = 1e-8,
) -> ERMFit:
    """Fit ``(k, v)`` by L-BFGS on the L2-regularised square loss (module docstring).

    ``init="random"`` needs ``key``; ``"informed"`` needs ``teacher`` and ``(model, nu)``;
    ``init_params=(k0, v0)`` overrides both.
    """
    from scipy.optimize import minimize

    r = check_range("r", r, lo=0)
    init = check_choice("init", init, ("random", "informed"))
    maxiter = check_int("maxiter", maxiter, lo=1)
    init_scale = check_range("init_scale", init_scale, lo=0)
    sigma = resolve_activation(activation)
    D = data.dim
    if init_params is not None:
        k0, v0 = (np.asarray(a, dtype=float) for a in init_params)
    elif init == "informed":
        if teacher is None:
            raise ValueError("init = 'informed' needs teacher=")
        c = min(signal_scale(model, nu), 5.0)
        k0 = c * np.asarray(teacher.k, dtype=float)
        v0 = np.asarray(teacher.v, dtype=float)
    else:
        if key is None:
            raise ValueError("init = 'random' needs key=")
        kk, kv = jax.random.split(key)
        k0 = init_scale * np.asarray(jax.random.normal(kk, (D,)))
        v0 = init_scale * np.asarray(jax.random.normal(kv, (D,)))
    vg = _value_and_grad(sigma)
    X, y, mask = data.X, data.y, data.mask

    def fun(p):
        val, grad = vg(jnp.asarray(p), X, y, mask, r)
        return float(val), np.asarray(grad, dtype=float)

    res = minimize(
        fun,
        np.concatenate([k0, v0]),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": maxiter, "gtol": gtol, "ftol": 1e-14, "maxcor": 20},
    )
    return ERMFit(
        k=res.x[:D].copy(),
        v=res.x[D:].copy(),
        objective=float(res.fun),
        n_iter=int(res.nit),
        converged=bool(res.success),
        message=str(res.message),
        init=init if init_params is None else "given",
    )


def test_error(
    k: Any,
    v: Any,
    key: jax.Array,
    *,
    teacher: Teacher,
    activation: str | Activation = "softmax",
    model: str = "spiked",
    nu: float = 1.0,
    L: Any = 3,
    delta: float = 0.0,
    n_test: int = 20_000,
    batch: int = 5000,
) -> tuple[float, float]:
    """Monte-Carlo test MSE ``E[(y - f(X))^2]`` on ``n_test`` fresh samples and its standard
    error (batched so memory stays ``O(batch L D)``). Batch ``i`` is drawn with
    ``fold_in(key, i)``: pass a key independent of the training data's (e.g. a ``stream`` of
    its own), or the "fresh" samples may coincide with training samples."""
    n_test = check_int("n_test", n_test, lo=2)
    sigma = resolve_activation(activation)
    k = jnp.asarray(k)
    v = jnp.asarray(v)
    errs = []
    done = 0
    i = 0
    while done < n_test:
        nb = min(batch, n_test - done)
        d = sample_slr(
            jax.random.fold_in(key, i), n=nb, teacher=teacher, model=model, nu=nu, L=L, delta=delta
        )
        errs.append(np.asarray((d.y - predict(k, v, d.X, d.mask, sigma)) ** 2))
        done += nb
        i += 1
    e = np.concatenate(errs)
    return float(e.mean()), float(e.std(ddof=1) / math.sqrt(e.size))


test_error.__test__ = False  # not a pytest test despite the name
