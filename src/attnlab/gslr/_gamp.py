r"""GAMP for Bayes-optimal learning of generalised SLR, and its finite-D test error.

Posterior. With tokens :math:`x_{\mu\ell}` and :math:`h_{\mu\ell} = x_{\mu\ell}W/\sqrt D`,

.. math::

    P(W\mid\mathcal D) \propto \mathcal N(W; 0, \Lambda^{-1})
    \prod_{\mu}\tilde P(y_\mu\mid h_\mu), \qquad \Lambda = \mathrm{diag}(1 + \tau, 1),

with :math:`\tau = \nu N/D` for spiked-SLR (each example's spiked token contributes
:math:`e^{-\nu\|k\|^2/(2D)}`: an exact Gaussian factor on :math:`k`) and :math:`\tau = 0` for
max-SLR (Gaussian tokens). The channel :math:`\tilde P` and :math:`g = \partial_\omega\log Z` are
those of :mod:`attnlab.gslr._bayes_channel`.

Iteration (one 2-vector :math:`\hat W_i` per coordinate, diagonal variances :math:`c`):

.. math::

    \omega_{\mu\ell} &= x_{\mu\ell}\hat W/\sqrt D - c\circ g^{\rm old}_{\mu\ell}, \qquad
    g_{\mu\ell} = g(y_\mu, \omega_\mu, c), \\
    A &= \frac1D\sum_{\mu\ell} g_{\mu\ell}\circ g_{\mu\ell}, \qquad
    B_i = \frac1{\sqrt D}\sum_{\mu\ell} x_{\mu\ell i}\,g_{\mu\ell} + (A - \tau e_k)\circ\hat W_i,\\
    \hat W_i &= B_i/(1 + A), \qquad c = 1/(1 + A).

Damping (as in damped GAMP, Rangan et al.; step 0.3 by default, growing by 15 % per step up to
0.8 while the relative change shrinks, back to 0.3 after a step where it does not): the new
:math:`g` and :math:`A` are mixed with the previous ones, :math:`g \leftarrow (1-\eta)g^{\rm old} + \eta g`, :math:`A \leftarrow
(1-\eta)A^{\rm old} + \eta A`, and so is :math:`\hat W`; :math:`c = 1/(1+A)` follows the damped
:math:`A`. Damping only :math:`\hat W` and :math:`c` leaves a period-2 oscillation when several
positions fit a label about equally well (seen at :math:`D = 1000`, L = 3).

:math:`A - \tau e_k` is the Onsager coefficient :math:`-\frac1D\sum\partial_\omega g`: exactly so
for the spiked :math:`k`-side (:math:`\partial_{\omega_\chi} g_{\chi\ell} = \nu\pi_\ell
(1-\pi_\ell)` and :math:`g_{\chi\ell}^2 = \nu\pi_\ell^2`), and up to fluctuations that vanish as
:math:`D\to\infty` elsewhere (the Nishimori identity :math:`\mathbb E[\partial_\omega g + g^2\mid
\omega] = 0` of a channel normalised in the :math:`\omega` direction). The precision
:math:`\Lambda + A - \tau e_k = 1 + A` is the prior-side counterpart of the state evolution's
:math:`1 + \hat q`. Converged when the relative change of :math:`\hat W` is below ``tol``;
capped at ``max_iter``.

Starts: ``uninformed`` :math:`\hat W = 0, c = 1`; ``informed`` :math:`\hat W = (1-c_0)W^*,
c = c_0` with :math:`c_0 = 10^{-2}`.

Test error of the GAMP estimate on fresh examples: :math:`\hat y = \sum_\ell\hat p_\ell\,
\omega_{z\ell}` with :math:`\omega = X\hat W/\sqrt D` and :math:`\hat p` the position posterior
(spiked: :math:`\mathrm{softmax}(\sqrt\nu\omega_\chi)`; max: :math:`\mathbb E_{\chi\sim\mathcal
N(\omega_\chi, c_k)}\mathrm{softmax}(\nu\chi)`), averaged over ``n_test`` samples, each
contributing :math:`\Delta + \sum_\ell P(\varepsilon^* = \ell\mid X)(z^*_\ell-\hat y)^2` (the
conditional expectation given :math:`X` of :math:`(y-\hat y)^2`: same mean, smaller variance).
Both sides see a fresh token only through its projections on :math:`U = [\hat W, W^*]`, whose
law is Gaussian with covariance :math:`U^\top U/D` (plus the spike):
:func:`~attnlab.gslr.sample_projections` draws them exactly, at cost :math:`O(n L)` instead of
:math:`O(n L D)`.

The transposed product :math:`\sum_{\mu\ell} x_{\mu\ell i}\,g_{\mu\ell}` is a
``dot_general`` contracting the example and token axes in place, into a :math:`2\times D`
result (the step carries :math:`\hat W^\top`): written as an ``einsum`` into
:math:`D\times 2` it is several times slower on the CPU (``benchmarks/gslr.py``).
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from pydantic import Field

from attnlab import progress
from attnlab._jax import jax, jnp
from attnlab._threads import lapack_program
from attnlab._validate import check_choice, check_int, check_range
from attnlab.config import Params
from attnlab.gslr._bayes_channel import max_channel, position_posterior, spiked_channel
from attnlab.gslr._bayes_se import check_model
from attnlab.gslr._model import GSLRModel
from attnlab.gslr._sampler import (
    _projection_arrays,
    _structure,
    _traced_nu,
    sample_data,
    sample_teacher,
)
from attnlab.precision import uses_jax
from attnlab.rng import stream

__all__ = ["GAMPOptions", "GAMPRun", "run_gamp"]

INFORMED_VARIANCE = 1e-2


class GAMPOptions(Params):
    """Options of :func:`run_gamp`.

    Parameters
    ----------
    max_iter : int
        Iteration cap.
    tol : float
        Convergence: relative change of each column of :math:`\\hat W` below ``tol``.
    damping : float
        Step :math:`\\eta` of the damped update at the start, and after any step that did not
        shrink the relative change.
    max_damping : float
        While the relative change keeps shrinking, :math:`\\eta` grows by 15 % per step up to
        this (at least ``damping``): the fixed point is the same for every :math:`\\eta`,
        only the path to it is shorter.
    n_nodes : int
        Quadrature nodes of the max-SLR position posterior.
    n_test : int
        Fresh test examples for the test error.
    retries : int
        A run that does not converge (it oscillates) is restarted from its start with the
        damping halved and held fixed, up to this many times; a run that converges is
        unchanged.
    """

    max_iter: int = Field(1000, ge=1, le=100_000)
    tol: float = Field(1e-6, gt=0, lt=1)
    damping: float = Field(0.3, gt=0, le=1)
    max_damping: float = Field(0.8, gt=0, le=1)
    n_nodes: int = Field(64, ge=16, le=4096)
    n_test: int = Field(20_000, ge=100, le=10_000_000)
    retries: int = Field(1, ge=0, le=5)


@dataclass(frozen=True)
class GAMPRun:
    """One GAMP run: overlaps with the teacher, test error, convergence report."""

    alpha: float
    dim: int
    start: str
    m_k: float
    m_v: float
    q_k: float
    q_v: float
    c_k: float
    c_v: float
    cross: float
    test_error: float
    test_error_se: float
    n_iter: int
    residual: float
    converged: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _teacher_and_data(model: GSLRModel, key: Any, dim: int, n: int):
    """A teacher ``(k*, v*)`` (shape ``(D, 2)``) and ``n`` exact examples ``(X, y, mask)``."""
    t = sample_teacher(model, stream(key, "teacher"), dim=dim)
    d = sample_data(model, stream(key, "train"), t, n=n)
    return jnp.stack([jnp.asarray(t.k), jnp.asarray(t.v)], -1), *map(
        jnp.asarray, (d.X, d.y, d.mask)
    )


def _channel(variant, y, om, c, nu, delta, mask, n_nodes):
    if variant == "spiked":
        return spiked_channel(y, om[..., 0], om[..., 1], c[0], c[1], nu, delta, mask)
    return max_channel(y, om[..., 0], om[..., 1], c[0], c[1], nu, delta, mask, n_nodes=n_nodes)


@functools.lru_cache(maxsize=8)
def _make_step(variant: str, n_nodes: int):
    """Jitted damped GAMP step (module docstring) ``-> (Ŵᵀ, c, g, A, relative change)``."""

    def step(Wt, c, g_old, A_old, X, y, mask, nu, delta, tau, eta):
        # the estimate is carried transposed, Wt = Ŵᵀ of shape (2, D): both products then
        # write a (2, D) result, which XLA's CPU dot does several times faster than (D, 2)
        D = X.shape[-1]
        om = jax.lax.dot_general(X, Wt, (((2,), (1,)), ((), ()))) / jnp.sqrt(D) - c * g_old
        _, g_k, g_v = _channel(variant, y, om, c, nu, delta, mask, n_nodes)
        g = (1 - eta) * g_old + eta * jnp.stack([g_k, g_v], -1)
        A = (1 - eta) * A_old + eta * jnp.stack([jnp.sum(g_k**2), jnp.sum(g_v**2)]) / D
        XTg = jax.lax.dot_general(g, X, (((0, 1), (0, 1)), ((), ())))  # Σ_μℓ g x, (2, D)
        B = XTg / jnp.sqrt(D) + (A - jnp.array([tau, 0.0]))[:, None] * Wt
        W_new = B / (1.0 + A)[:, None]
        change = jnp.linalg.norm(W_new - Wt, axis=1) / jnp.maximum(
            jnp.linalg.norm(W_new, axis=1), 1e-300
        )
        return (1 - eta) * Wt + eta * W_new, 1.0 / (1.0 + A), g, A, jnp.max(change)

    return jax.jit(step)


def _predict(variant, om, c, mask, nu, n_nodes):
    r""":math:`\hat y = \sum_\ell \hat p_\ell\,\omega_{z\ell}` from the projections
    :math:`\omega = X\hat W/\sqrt D`, shape (n, L, 2)."""
    if variant == "spiked":
        p = jax.nn.softmax(jnp.where(mask, jnp.sqrt(nu) * om[..., 0], -jnp.inf), axis=-1)
    else:
        p = position_posterior(om[..., 0], mask, c[0], nu, n_nodes=n_nodes)[0]
    return jnp.sum(jnp.where(mask, p * om[..., 1], 0.0), axis=-1)


@functools.lru_cache(maxsize=8)
def _make_test_loss(structure: tuple, n_nodes: int):
    r"""Jitted per-example :math:`\Delta + \sum_\ell P(\varepsilon^*=\ell\mid X)
    (z^*_\ell - \hat y)^2` (the conditional expectation of :math:`(y-\hat y)^2` given X) on
    ``n`` fresh examples drawn as projections on :math:`[\hat W, W^*]` (module docstring)."""
    variant = structure[0]

    def loss(key, gram, c, nu, delta, n):
        P, mask, _ = _projection_arrays(structure, key, gram, nu, n)
        yhat = _predict(variant, P[..., :2], c, mask, nu, n_nodes)
        h = P[..., 2:]
        scale = jnp.sqrt(nu) if variant == "spiked" else nu
        p = jax.nn.softmax(jnp.where(mask, scale * h[..., 0], -jnp.inf), axis=-1)
        return delta + jnp.sum(jnp.where(mask, p * (h[..., 1] - yhat[:, None]) ** 2, 0.0), -1)

    return jax.jit(loss, static_argnums=(5,))


def _test_error(model: GSLRModel, key: Any, Wstar: Any, W: Any, c: Any, opts: Any, batch=20_000):
    """Mean and standard error of the Rao–Blackwellised test loss on fresh examples."""
    loss = _make_test_loss(_structure(model), opts.n_nodes)
    U = jnp.concatenate([jnp.asarray(W), jnp.asarray(Wstar)], axis=1)
    gram = U.T @ U / U.shape[0]
    nu = _traced_nu(model)
    errs = []
    for i, start in enumerate(range(0, opts.n_test, batch)):
        nb = min(batch, opts.n_test - start)
        key_i = stream(key, f"test batch {i}")
        with lapack_program():  # the eigendecomposition of the basis Gram matrix
            errs.append(np.asarray(loss(key_i, gram, c, nu, model.delta, nb)))
    e = np.concatenate(errs)
    return float(e.mean()), float(e.std(ddof=1) / math.sqrt(e.size))


@uses_jax
def run_gamp(
    model: GSLRModel,
    *,
    alpha: float,
    dim: int,
    key: Any,
    start: str = "uninformed",
    options: GAMPOptions | None = None,
) -> GAMPRun:
    r"""Draw a teacher and :math:`N = \alpha D` examples, run GAMP (module docstring) and
    measure the estimate.

    Parameters
    ----------
    model : GSLRModel
        Spiked-SLR (finite :math:`\nu`) or max-SLR (:math:`0 < \nu < \infty`); its ``teacher``
        field chooses Gaussian or orthonormal teachers.
    alpha : float
        Sample ratio :math:`N/D > 0`.
    dim : int
        Dimension :math:`D \ge 2`.
    key : jax key
        Randomness of the teacher, the training and the test data.
    start : {"uninformed", "informed"}
    options : GAMPOptions, optional

    Returns
    -------
    GAMPRun
        Overlaps :math:`m_a = \hat w_a\cdot w^*_a/D`, :math:`q_a = \|\hat w_a\|^2/D`, the largest
        cross overlap, the test error :math:`\mathbb E(y-\hat y)^2` with its standard error, and
        the convergence report (``converged = False`` at the iteration cap).
    """
    model = check_model(model)
    dim = check_int("dim", dim, lo=2)
    alpha = check_range("alpha", alpha, lo=0, lo_open=True, hi=1e6)
    start = check_choice("start", start, ("uninformed", "informed"))
    opts = options or GAMPOptions()
    n = check_int("N = alpha * dim", max(int(round(alpha * dim)), 1), lo=1)
    Wstar, X, y, mask = _teacher_and_data(model, key, dim, n)
    nu, delta = float(model.nu), float(model.delta)
    tau = nu * n / dim if model.variant == "spiked" else 0.0
    step = _make_step(model.variant, opts.n_nodes)
    label = f"GAMP {model.label()}, alpha={alpha:g}, D={dim}"
    total = 0
    for attempt in range(opts.retries + 1):
        if start == "informed":
            W, c = (1 - INFORMED_VARIANCE) * Wstar.T, jnp.full(2, INFORMED_VARIANCE)
        else:
            W, c = jnp.zeros((2, dim)), jnp.ones(2)
        g = jnp.zeros(X.shape[:2] + (2,))
        A = 1.0 / c - 1.0
        damping = opts.damping * 0.5**attempt
        # adaptive step on the first attempt only: a retry holds the halved step fixed
        most = max(opts.max_damping, damping) if attempt == 0 else damping
        change, it, ok, eta = math.inf, 0, False, damping
        with progress.track(label, opts.max_iter) as bar:
            for it in range(1, opts.max_iter + 1):
                # no memory to damp towards at the first step
                W, c, g, A, ch = step(
                    W, c, g, A, X, y, mask, nu, delta, tau, 1.0 if it == 1 else eta
                )
                eta = min(1.15 * eta, most) if float(ch) < change else damping
                change = float(ch)
                bar.advance(1)
                if not math.isfinite(change) or change < opts.tol:
                    ok = change < opts.tol
                    break
        total += it
        if ok:
            break
    it = total
    W = W.T
    Wn, Ws = np.asarray(W), np.asarray(Wstar)
    te, se = _test_error(model, stream(key, "test"), Wstar, W, c, opts)
    over = Wn.T @ Ws / dim
    norms = np.sum(Wn**2, 0) / dim
    cross = max(abs(over[0, 1]), abs(over[1, 0]), abs(Wn[:, 0] @ Wn[:, 1] / dim))
    return GAMPRun(alpha, dim, start, float(over[0, 0]), float(over[1, 1]), float(norms[0]),
                   float(norms[1]), float(c[0]), float(c[1]), float(cross), te, se, it, change,
                   ok)  # fmt: skip
