r"""Empirical risk minimisation of attention on generalised SLR.

Over :math:`(k, v) \in \mathbb R^D \times \mathbb R^D`, minimise the training objective

.. math::

    \frac{R(k, v)}{N} = \frac{1}{2N}\sum_{\mu=1}^N \big(y_\mu - \sigma(X_\mu k/\sqrt D)^\top
    X_\mu v/\sqrt D\big)^2 + \frac{r}{2N}\big(|k|^2 + |v|^2\big)

by compiled L-BFGS (:mod:`attnlab.gslr._lbfgs`). One evaluation of the value and gradient is
one forward pass over the tokens (:math:`P = X[k\ v]/\sqrt D`, shape :math:`N \times L \times
2`, a single matrix product) and one backward pass (:math:`X^\top \partial_P`), so an iteration
costs about two reads of the :math:`N L D` token entries. With float32 tokens the two passes
run in float32 and everything else (the loss from :math:`P`, the iterate, the L-BFGS memory) in
float64.

Starts (:class:`RandomInit`, :class:`InformedInit`, or a previous :class:`ERMFit` for warm
starts along a grid of sample sizes or between activations). The test error is estimated by
Monte-Carlo on fresh samples (:func:`generalisation_error`); the overlaps
(:func:`overlaps`) are what the replica theory predicts.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import Field

from attnlab._jax import jax, jnp
from attnlab._validate import ParameterError, check_int, check_range
from attnlab.config import Params
from attnlab.gslr._activations import (
    Activation,
    _attention_output,
    _predict,
    _scores_values,
    resolve_activation,
)
from attnlab.gslr._lbfgs import STATUS, minimize_lbfgs
from attnlab.gslr._model import GSLRModel
from attnlab.gslr._sampler import SLRData, Teacher, _data
from attnlab.gslr._types import Estimate, Overlaps
from attnlab.precision import uses_jax
from attnlab.rng import as_key_batch, stream

__all__ = [
    "LBFGS",
    "ERMFit",
    "InformedInit",
    "RandomInit",
    "fit_erm",
    "generalisation_error",
    "overlaps",
    "training_objective",
]


class LBFGS(Params):
    """Options of the L-BFGS minimiser of ERM.

    Parameters
    ----------
    max_iter : int
        Iteration cap (the fit reports ``converged = False`` when it is reached).
    memory : int
        Number of stored curvature pairs.
    gtol : float, optional
        Stop when the largest gradient component of :math:`R/N` is below it (default
        :math:`10^{-8}` for float64 tokens, :math:`10^{-6}` for float32).
    ftol : float, optional
        Stop when the relative decrease of :math:`R/N` in one iteration is below it (default
        :math:`10^{-14}` for float64 tokens, :math:`10^{-9}` for float32).
    """

    max_iter: int = Field(5000, ge=1, le=10**6, description="L-BFGS iteration cap")
    memory: int = Field(20, ge=1, le=200, description="stored curvature pairs")
    gtol: float | None = Field(None, gt=0, le=1, description="gradient tolerance")
    ftol: float | None = Field(None, ge=0, le=1, description="relative decrease tolerance")


class RandomInit(Params):
    r"""Random start :math:`k, v \sim \mathcal N(0, s^2 I_D)` (needs a ``key``).

    Parameters
    ----------
    scale : float
        :math:`s`.
    """

    scale: float = Field(1.0, ge=0, le=1e3, description="standard deviation of the entries")


class InformedInit(Params):
    r"""Teacher-like start :math:`k = \min(c_\nu, \mathrm{cap})\,k^*`, :math:`v = v^*` (the
    Bayes point of softmax attention, capped; needs the ``teacher``).

    Parameters
    ----------
    cap : float
        Largest multiple of :math:`k^*`.
    """

    cap: float = Field(5.0, gt=0, le=1e3, description="largest multiple of k*")


@dataclass(frozen=True)
class ERMFit:
    """One ERM fit.

    Attributes
    ----------
    k, v : numpy.ndarray
        The minimiser.
    objective : float
        :math:`R/N` there.
    n_iter, n_eval : int
        L-BFGS iterations and evaluations of the value and gradient.
    converged : bool
        Stopped on ``gtol`` or ``ftol`` (not on the iteration cap or a failed line search).
    status : str
        Why it stopped.
    grad_max : float
        Largest gradient component at the minimiser.
    init : str
        ``"random"``, ``"informed"`` or ``"warm"``.
    """

    k: np.ndarray
    v: np.ndarray
    objective: float
    n_iter: int
    n_eval: int
    converged: bool
    status: str
    grad_max: float
    init: str


def _objective(
    params: Any, X: Any, y: Any, mask: Any, weights: Any, r: Any, sigma: Activation
) -> Any:
    """R/N with per-sample weights 0 or 1 (0: a padding sample; N = sum of the weights)."""
    D = X.shape[-1]
    chi, z = _scores_values(X, params[:D], params[D:])
    f = _attention_output(chi.astype(params.dtype), z.astype(params.dtype), mask, sigma)
    n = jnp.sum(weights)
    residual = y.astype(params.dtype) - f
    return 0.5 * jnp.sum(weights * residual**2) / n + 0.5 * r * jnp.sum(params**2) / n


@functools.lru_cache(maxsize=64)
def _value_and_grad(sigma: Activation) -> Any:
    return jax.value_and_grad(functools.partial(_objective, sigma=sigma))


def _tolerances(solver: LBFGS, dtype: Any) -> tuple[float, float]:
    single = jnp.dtype(dtype) == jnp.float32
    gtol = solver.gtol if solver.gtol is not None else (1e-6 if single else 1e-8)
    ftol = solver.ftol if solver.ftol is not None else (1e-9 if single else 1e-14)
    return gtol, ftol


def _start(
    model: GSLRModel, init: Any, key: Any, teacher: Teacher | None, dim: int
) -> tuple[np.ndarray, str]:
    if isinstance(init, ERMFit):
        return np.concatenate([init.k, init.v]), "warm"
    if isinstance(init, InformedInit):
        if teacher is None:
            raise ParameterError("init = InformedInit needs teacher= (the teacher of the data)")
        c = min(model.signal_scale, init.cap)
        return np.concatenate([c * np.asarray(teacher.k), np.asarray(teacher.v)]), "informed"
    if isinstance(init, RandomInit):
        if key is None:
            raise ParameterError("init = RandomInit needs key= (a jax key)")
        keys, single = as_key_batch(key)
        if not single:
            raise ParameterError("fit_erm takes one key, not an array of keys")
        x = init.scale * jax.random.normal(stream(keys[0], "erm-init"), (2 * dim,))
        return np.asarray(x), "random"
    raise ParameterError(
        f"init = {init!r}: must be RandomInit(), InformedInit() or a previous ERMFit"
    )


@uses_jax
def fit_erm(
    model: GSLRModel,
    data: SLRData,
    *,
    r: float,
    activation: str | Activation = "softmax",
    init: RandomInit | InformedInit | ERMFit | None = None,
    key: Any = None,
    teacher: Teacher | None = None,
    solver: LBFGS | None = None,
) -> ERMFit:
    r"""Minimise the L2-regularised square loss of attention (module docstring).

    .. math:: \min_{k, v}\ \frac{1}{2N}\sum_\mu \big(y_\mu - f_{k,v}(X_\mu)\big)^2
        + \frac{r}{2N}\big(|k|^2 + |v|^2\big)

    Parameters
    ----------
    model : GSLRModel
        The data model (:math:`c_\nu` of the informed start).
    data : SLRData
        Training samples (float32 tokens make the passes over the data float32).
    r : float
        Penalty :math:`r \ge 0`.
    activation : str or callable
    init : RandomInit, InformedInit or ERMFit, optional
        Start (default ``RandomInit()``); an ``ERMFit`` warm-starts from its minimiser.
    key : jax key, optional
        For a random start.
    teacher : Teacher, optional
        For an informed start.
    solver : LBFGS, optional

    Returns
    -------
    ERMFit
    """
    return _fit(model, data, data.n, r, activation, init, key, teacher, solver)


def _fit(
    model: GSLRModel,
    data: SLRData,
    n_used: int,
    r: float,
    activation: str | Activation,
    init: Any,
    key: Any,
    teacher: Teacher | None,
    solver: LBFGS | None,
) -> ERMFit:
    """:func:`fit_erm` on the first ``n_used`` samples of ``data`` (the others are padding with
    weight 0: a grid of nested training sets then shares one compiled minimiser)."""
    r = check_range("r", r, lo=0, hi=1e12)
    sigma = resolve_activation(activation)
    solver = solver or LBFGS()
    X = jnp.asarray(data.X)
    x0, label = _start(model, init or RandomInit(), key, teacher, data.dim)
    if x0.shape != (2 * data.dim,) or not np.all(np.isfinite(x0)):
        raise ParameterError(f"initial (k, v) must be finite, shape (2 × {data.dim},)")
    gtol, ftol = _tolerances(solver, X.dtype)
    weights = (jnp.arange(data.n) < n_used).astype(jnp.zeros(()).dtype)
    args = (X, jnp.asarray(data.y), jnp.asarray(data.mask), weights, r)
    st = minimize_lbfgs(
        _value_and_grad(sigma), solver.memory, jnp.asarray(x0), args, solver.max_iter, gtol, ftol
    )
    x = np.asarray(st.x, dtype=float)
    status = int(st.status)
    return ERMFit(
        k=x[: data.dim].copy(),
        v=x[data.dim :].copy(),
        objective=float(st.f),
        n_iter=int(st.it),
        n_eval=int(st.n_eval),
        converged=status in (1, 2),
        status=STATUS[status],
        grad_max=float(jnp.max(jnp.abs(st.g))),
        init=label,
    )


@uses_jax
def training_objective(
    data: SLRData, k: Any, v: Any, *, r: float, activation: str | Activation = "softmax"
) -> float:
    r"""The training objective :math:`R(k, v)/N` of :func:`fit_erm` at a given :math:`(k, v)`.

    Parameters
    ----------
    data : SLRData
    k, v : array, shape (D,)
    r : float
    activation : str or callable

    Returns
    -------
    float
    """
    r = check_range("r", r, lo=0, hi=1e12)
    sigma = resolve_activation(activation)
    params = jnp.concatenate([jnp.asarray(k, float), jnp.asarray(v, float)])
    X = jnp.asarray(data.X)
    weights = jnp.ones(data.n, params.dtype)
    value, _ = jax.jit(_value_and_grad(sigma))(
        params, X, jnp.asarray(data.y), jnp.asarray(data.mask), weights, r
    )
    return float(value)


def overlaps(k: Any, v: Any, teacher: Teacher) -> Overlaps:
    r"""Overlaps of a student with the teacher, all divided by :math:`D`.

    .. math:: m_k = \frac{k\cdot k^*}{D},\ q_k = \frac{|k|^2}{D},\ m_v = \frac{v\cdot v^*}{D},
        \ q_v = \frac{|v|^2}{D},\ \frac{k\cdot v^*}{D},\ \frac{v\cdot k^*}{D},\ \frac{k\cdot v}{D}

    Parameters
    ----------
    k, v : array, shape (D,)
    teacher : Teacher

    Returns
    -------
    Overlaps
    """
    k, v = np.asarray(k, dtype=float), np.asarray(v, dtype=float)
    ks, vs = np.asarray(teacher.k, dtype=float), np.asarray(teacher.v, dtype=float)
    if k.shape != ks.shape or v.shape != vs.shape:
        raise ParameterError(f"k, v of shapes {k.shape}, {v.shape}: need the teacher's {ks.shape}")
    D = k.shape[0]
    return Overlaps(k @ ks / D, k @ k / D, v @ vs / D, v @ v / D, k @ vs / D, v @ ks / D, k @ v / D)


@functools.partial(jax.jit, static_argnums=0)
def _squared_errors(sigma: Activation, k: Any, v: Any, X: Any, y: Any, mask: Any) -> Any:
    return (y - _predict(k, v, X, mask, sigma)) ** 2


@uses_jax
def generalisation_error(
    model: GSLRModel,
    k: Any,
    v: Any,
    key: Any,
    *,
    teacher: Teacher,
    activation: str | Activation = "softmax",
    n_test: int = 20_000,
    batch: int = 5000,
) -> Estimate:
    r"""Monte-Carlo test error of a student on fresh samples, and its standard error.

    .. math:: \mathcal E = E\big[(y - f_{k,v}(X))^2\big] \approx \frac{1}{n}\sum_{i=1}^{n}
        (y_i - f_{k,v}(X_i))^2 \quad (\text{includes } \Delta)

    Samples are drawn in batches of at most ``batch`` (memory :math:`O(\mathrm{batch}\,L D)`),
    batch ``i`` from ``stream(key, "test-i")``: give a key independent of the training data's.

    Parameters
    ----------
    model : GSLRModel
    k, v : array, shape (D,)
    key : jax key
    teacher : Teacher
    activation : str or callable
    n_test : int
        Number of test samples, ``>= 2``.
    batch : int
        Largest batch.

    Returns
    -------
    Estimate
    """
    n_test = check_int("n_test", n_test, lo=2, hi=10**9)
    batch = check_int("batch", batch, lo=1, hi=10**7)
    sigma = resolve_activation(activation)
    keys, single = as_key_batch(key)
    if not single:
        raise ParameterError("generalisation_error takes one key, not an array of keys")
    return _test_error(sigma, k, v, _test_batches(model, keys[0], teacher, n_test, batch), n_test)


def _test_batches(model: GSLRModel, key: Any, teacher: Teacher, n_test: int, batch: int) -> list:
    """The test samples of :func:`generalisation_error`, as equal batches (jax arrays)."""
    tk, tv = jnp.asarray(teacher.k, float), jnp.asarray(teacher.v, float)
    n_batches = math.ceil(n_test / batch)
    size = math.ceil(n_test / n_batches)
    return [
        _data(model, stream(key, f"test-{i}"), Teacher(tk, tv), size, jnp.zeros(()).dtype)
        for i in range(n_batches)
    ]


def _test_error(sigma: Activation, k: Any, v: Any, batches: list, n_test: int) -> Estimate:
    k, v = jnp.asarray(k, float), jnp.asarray(v, float)
    errors = [np.asarray(_squared_errors(sigma, k, v, d.X, d.y, d.mask)) for d in batches]
    e = np.concatenate(errors)[:n_test]
    return Estimate(float(e.mean()), float(e.std(ddof=1) / math.sqrt(e.size)))
