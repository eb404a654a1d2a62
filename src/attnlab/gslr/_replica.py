"""Replica-symmetric fixed point for ERM on generalised SLR (spec ``slr.md`` B.4).

Order parameters per side ``a in {k, v}``: ``(m_a, q_a, V_a)`` and conjugates
``(m̂_a, q̂_a, V̂_a)``. Prior side (L2 penalty ``r``)::

    V_a = 1/(r + V̂_a),   m_a = m̂_a V_a,   q_a = (m̂_a^2 + q̂_a) V_a^2.

Channel side: an effective example ``(L, eps*, chi*, z*, y)`` drawn exactly from B.1
(``|k*|^2 = |v*|^2 = D``), cavity means ``omega^k = m_k chi* + sqrt(q_k - m_k^2) g``,
``omega^v = m_v z* + sqrt(q_v - m_v^2) g'`` and the 2L-dimensional proximal problem

    (chî, ẑ) = argmin 1/2 (y - sigma(chi)^T z)^2 + |chi - omega^k|^2/(2V_k) + |z - omega^v|^2/(2V_v).

The ``z``-part is quadratic and solved in closed form: ``z = omega^v + V_v sigma rho`` with
``rho = (y - sigma^T omega^v)/(1 + V_v |sigma|^2)``, leaving an L-dimensional problem in ``chi``
``G(chi) = (y - sigma^T omega^v)^2 / (2 (1 + V_v |sigma|^2)) + |chi - omega^k|^2/(2 V_k)`` that we
solve by a vectorised (``vmap``) modified Newton method (eigenvalue-clamped Hessian, best of a
fixed set of step lengths, started at ``omega^k``). With ``f^k = (chî - omega^k)/V_k``,
``f^v = (ẑ - omega^v)/V_v = sigma rho`` and ``H`` the 2L x 2L Hessian of the loss at the prox::

    q̂_a = alpha E[sum_l (f^a_l)^2]
    V̂_a = (alpha / V_a) E[sum_l (1 - [(I + 𝐕 H)^{-1}]_{a_l a_l})]
    m̂_a = alpha E[sum_l f^a_l (t_l - (m_a/q_a) omega^a_l)] / (1 - m_a^2/q_a)     (t = chi*, z*)

We evaluate ``m̂`` in the equivalent Stein form ``m̂_a = alpha E[sum_l f^a_l t_l] + m_a V̂_a``
(integrate ``g`` by parts: ``E[f g] = sqrt(q - m^2) E[d f/d omega] = -sqrt(q - m^2) V̂/alpha``), which is finite at
``q_a = m_a^2`` (informed starts) and has smaller Monte-Carlo variance; the two forms agree in
expectation. Test error = ``E_sigma(m_k, q_k, m_v, q_v)`` of B.3 (quadrature/MC,
:mod:`attnlab.gslr._population`); predicted training objective ``R/N = E[loss at the prox] +
r (q_k + q_v)/(2 alpha)`` (same normalisation as :func:`attnlab.gslr.fit_erm`), used to choose
between the uninformed and the informed fixed point when both exist (ERM's global minimum is the
lower objective).

What we checked (spec B.4 says the equations are "the standard form", derived by us):

* the prior side, ``q̂``, ``V̂`` and the spec's ``m̂`` are right: with ``L = 1`` softmax
  attention is ridge regression in ``v`` and the solver reproduces the textbook ridge fixed
  point (``tests/slr/test_attention_replica.py``);
* our first implementation of the Stein form had the sign of ``m_a V̂_a`` wrong; it made
  ``m_v`` collapse (0.28 against ERM's 0.95 at alpha = 2, r = 0.1) — found by the ERM
  comparison, fixed, and pinned by the ridge test;
* the prox is non-convex when ``V_k`` is large (weak regularisation / small alpha): a single
  Newton start from ``omega^k`` got stuck for ~10 % of the examples, hence the multi-start.

Solver: damped iteration ``x <- (1 - eta) x + eta F(x)`` on the six order parameters, the
expectations by Monte-Carlo over ``n_mc`` effective examples with common random numbers (the
same draws at every iteration, so ``F`` is deterministic and can be iterated to tight
tolerance). Each iteration solves the prox warm-started from the previous prox points (4
Newton steps, cheap); every 25 iterations, and always before convergence is declared, a full
multi-start pass (previous point, ``omega^k``, origin; ``n_newton`` steps; lowest objective
kept) confirms the global prox. Converged = relative change of the six order parameters below
``tol`` AND max prox stationarity residual below 1e-6 on a full pass; ``eta`` shrinks (to
>= 0.1) when the residual grows. Not converged within ``max_iter`` ->
:class:`ReplicaNotConverged` (never a number), or a point flagged ``converged=False`` with a
NaN test error that the experiments exclude (and count in their summary).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from attnlab._jax import jax, jnp
from attnlab._validate import check_choice, check_int, check_range
from attnlab.gslr._activations import Activation, activation_label, resolve_activation
from attnlab.gslr._data import (
    check_model,
    check_nu,
    length_distribution,
    sample_teacher_fields,
    signal_scale,
)
from attnlab.gslr._population import PopulationModel
from attnlab.rng import root_key, stream

ORDER = ("m_k", "q_k", "V_k", "m_v", "q_v", "V_v")


class ReplicaNotConverged(RuntimeError):
    """The damped fixed-point iteration did not converge (no test error is returned)."""


@dataclass(frozen=True)
class ReplicaPoint:
    """A converged RS fixed point and its convergence report."""

    alpha: float
    r: float
    m_k: float
    q_k: float
    V_k: float
    m_v: float
    q_v: float
    V_v: float
    test_error: float
    test_error_se: float
    train_objective: float
    residual: float
    n_iter: int
    start: str
    converged: bool = True

    def state(self) -> np.ndarray:
        return np.array([getattr(self, n) for n in ORDER])

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _prox_newton(sigma, y, omk, omv, mask, Vk, Vv, n_newton, chi_warm, multistart):
    """argmin_chi G(chi) for one effective example (module docstring), by modified Newton."""

    def G(chi):
        s = sigma(chi[None], mask[None])[0]
        num = y - jnp.sum(s * omv)
        den = 1.0 + Vv * jnp.sum(s * s)
        return 0.5 * num**2 / den + 0.5 * jnp.sum(jnp.where(mask, (chi - omk) ** 2, 0.0)) / Vk

    grad = jax.grad(G)
    hess = jax.hessian(G)
    steps = 2.0 ** -jnp.arange(0, 12)

    def body(chi, _):
        gr = grad(chi)
        H = hess(chi)
        lam, Q = jnp.linalg.eigh(H)
        lam = jnp.maximum(jnp.abs(lam), 1.0 / Vk)  # saddle-free Newton
        d = -Q @ ((Q.T @ gr) / lam)
        cands = chi[None, :] + steps[:, None] * d[None, :]
        vals = jax.vmap(G)(cands)
        best = jnp.argmin(vals)
        new = jnp.where(vals[best] < G(chi), cands[best], chi)
        return new, None

    def run(chi0):
        chi, _ = jax.lax.scan(body, chi0, None, length=n_newton)
        return chi, G(chi)

    # full pass: three starts (previous prox point, cavity mean, origin), keep the lowest G;
    # fast pass: the previous prox point only
    warm = jnp.where(mask, chi_warm, 0.0)
    if not multistart:
        return run(warm)[0]
    starts = jnp.stack([warm, omk, jnp.zeros_like(omk)])
    chis, vals = jax.vmap(run)(starts)
    return chis[jnp.argmin(vals)]


def _make_channel(sigma: Activation, n_newton: int, multistart: bool):
    """Jitted map (state, alpha, samples) -> (hats, prox loss, prox gradient norm)."""

    def loss2(chi, z, y, mask):
        s = sigma(chi[None], mask[None])[0]
        return 0.5 * (y - jnp.sum(s * z)) ** 2

    def one(state, y, chis, zs, g, gp, mask, chi_warm):
        m_k, q_k, V_k, m_v, q_v, V_v = state
        s_k = jnp.sqrt(jnp.maximum(q_k - m_k**2, 0.0))
        s_v = jnp.sqrt(jnp.maximum(q_v - m_v**2, 0.0))
        omk = jnp.where(mask, m_k * chis + s_k * g, 0.0)
        omv = jnp.where(mask, m_v * zs + s_v * gp, 0.0)
        chi = _prox_newton(sigma, y, omk, omv, mask, V_k, V_v, n_newton, chi_warm, multistart)
        s = sigma(chi[None], mask[None])[0]
        rho = (y - jnp.sum(s * omv)) / (1.0 + V_v * jnp.sum(s * s))
        z = omv + V_v * s * rho
        fk = (chi - omk) / V_k
        fv = (z - omv) / V_v
        L = chi.shape[0]
        Hf = jax.hessian(lambda w: loss2(w[:L], w[L:], y, mask))(jnp.concatenate([chi, z]))
        Vdiag = jnp.concatenate([jnp.full(L, V_k), jnp.full(L, V_v)])
        Minv = jnp.linalg.inv(jnp.eye(2 * L) + Vdiag[:, None] * Hf)
        dg = 1.0 - jnp.diagonal(Minv)
        dg = jnp.where(jnp.concatenate([mask, mask]), dg, 0.0)
        # stationarity residual of the prox (should be ~0)
        gk = jax.grad(lambda c: loss2(c, z, y, mask))(chi) + fk
        stats = jnp.array(
            [
                jnp.sum(fk**2),
                jnp.sum(fk * chis),
                jnp.sum(dg[:L]),
                jnp.sum(fv**2),
                jnp.sum(fv * zs),
                jnp.sum(dg[L:]),
                loss2(chi, z, y, mask),
                jnp.max(jnp.abs(jnp.where(mask, gk, 0.0))),
            ]
        )
        return stats, chi

    batched = jax.vmap(one, in_axes=(None, 0, 0, 0, 0, 0, 0, 0))

    def channel(state, alpha, chi_warm, y, chis, zs, g, gp, mask):
        st, chi_hat = batched(state, y, chis, zs, g, gp, mask, chi_warm)
        mean = st[:, :7].mean(0)
        m_k, q_k, V_k, m_v, q_v, V_v = state
        Vh_k = alpha * mean[2] / V_k
        Vh_v = alpha * mean[5] / V_v
        hats = jnp.array(
            [
                alpha * mean[1] + m_k * Vh_k,
                alpha * mean[0],
                Vh_k,
                alpha * mean[4] + m_v * Vh_v,
                alpha * mean[3],
                Vh_v,
            ]
        )
        return hats, mean[6], jnp.max(st[:, 7]), chi_hat

    return jax.jit(channel)


def _prior(hats: np.ndarray, r: float) -> np.ndarray:
    mh_k, qh_k, Vh_k, mh_v, qh_v, Vh_v = hats
    V_k = 1.0 / (r + Vh_k)
    V_v = 1.0 / (r + Vh_v)
    return np.array(
        [
            mh_k * V_k,
            (mh_k**2 + qh_k) * V_k**2,
            V_k,
            mh_v * V_v,
            (mh_v**2 + qh_v) * V_v**2,
            V_v,
        ]
    )


class ReplicaSolver:
    """RS fixed-point solver for one (activation, model, nu, L, Delta) (module docstring).

    ``n_mc`` effective examples (common random numbers from ``seed``), ``n_newton`` prox Newton
    steps, ``tol`` on the relative change of the six order parameters, ``max_iter`` iterations,
    initial damping ``damping``.
    """

    def __init__(
        self,
        activation: str | Activation = "softmax",
        *,
        model: str = "spiked",
        nu: float = 1.0,
        L: Any = 3,
        delta: float = 0.0,
        n_mc: int = 20_000,
        n_newton: int = 12,
        tol: float = 1e-4,
        max_iter: int = 1000,
        damping: float = 0.5,
        seed: int = 0,
        population: PopulationModel | None = None,
    ) -> None:
        self.sigma = resolve_activation(activation)
        self.activation = activation_label(activation)
        self.model = check_model(model)
        self.nu = check_nu(nu, self.model)
        self.delta = check_range("delta", delta, lo=0)
        self.dist = length_distribution(L)
        self.n_mc = check_int("n_mc", n_mc, lo=100)
        self.n_newton = check_int("n_newton", n_newton, lo=1)
        self.tol = check_range("tol", tol, lo=0, lo_open=True)
        self.max_iter = check_int("max_iter", max_iter, lo=1)
        self.damping = check_range("damping", damping, lo=0, hi=1, lo_open=True)
        key = root_key(seed)
        f = sample_teacher_fields(
            stream(key, "fields"), n=self.n_mc, model=self.model, nu=self.nu, L=self.dist
        )
        shape = f.chi_star.shape
        zs = jax.random.normal(stream(key, "zstar"), shape) * f.mask
        y = jnp.take_along_axis(zs, f.eps[:, None], axis=1)[:, 0]
        y = y + math.sqrt(self.delta) * jax.random.normal(stream(key, "noise"), (self.n_mc,))
        self._samples = (
            y,
            f.chi_star,
            zs,
            jax.random.normal(stream(key, "g"), shape),
            jax.random.normal(stream(key, "gp"), shape),
            f.mask,
        )
        self._channel_full = _make_channel(self.sigma, self.n_newton, True)
        self._channel_fast = _make_channel(self.sigma, 4, False)
        self._chi_warm = jnp.zeros(shape)
        self._population = population
        self._seed = seed

    @property
    def population(self) -> PopulationModel:
        """Evaluator of the test error ``E_sigma`` (built on first use)."""
        if self._population is None:
            self._population = PopulationModel(
                model=self.model, nu=self.nu, L=self.dist, delta=self.delta, seed=self._seed + 1
            )
        return self._population

    # -- starts ---------------------------------------------------------------------------
    def initial_state(self, start: str) -> np.ndarray:
        """``uninformed``: tiny overlaps, unit norms; ``informed``: the Bayes point
        ``k = c_nu k*, v = v*`` (``c_nu`` capped at 5) with small variances."""
        check_choice("start", start, ("uninformed", "informed"))
        if start == "uninformed":
            return np.array([0.01, 1.0, 1.0, 0.01, 1.0, 1.0])
        c = min(signal_scale(self.model, self.nu), 5.0)
        if self.activation == "linear":
            c = min(c, 1.0)
        return np.array([c, c**2 + 0.01, 0.1, 1.0, 1.01, 0.1])

    def _map(self, state: np.ndarray, alpha: float, r: float, full: bool = True):
        channel = self._channel_full if full else self._channel_fast
        hats, loss, prox_res, chi_hat = channel(
            jnp.asarray(state), alpha, self._chi_warm, *self._samples
        )
        self._chi_warm = chi_hat
        hats = np.asarray(hats)
        return _prior(hats, r), hats, float(loss), float(prox_res)

    def solve(
        self,
        *,
        alpha: float,
        r: float,
        start: str | np.ndarray = "uninformed",
        raise_on_failure: bool = True,
    ) -> ReplicaPoint:
        """Iterate to the fixed point from ``start`` (a name or a 6-vector for warm starts).

        Raises :class:`ReplicaNotConverged` unless ``raise_on_failure=False``, in which case
        the point is returned flagged ``converged=False`` with ``test_error = nan``.
        """
        alpha = check_range("alpha", alpha, lo=0, lo_open=True)
        r = check_range("r", r, lo=0)
        if isinstance(start, str):
            label = start
            x = self.initial_state(start)
        else:
            label = "warm"
            x = np.asarray(start, dtype=float).copy()
        eta = self.damping
        prev = math.inf
        residual = math.inf
        it = 0
        loss = math.nan
        ok = False
        full = True
        for it in range(1, self.max_iter + 1):
            new, _, loss, prox_res = self._map(x, alpha, r, full=full)
            if not np.all(np.isfinite(new)):
                break
            residual = float(np.max(np.abs(new - x) / np.maximum(np.abs(x), 1e-2)))
            if residual < self.tol and prox_res < 1e-6:
                if full:  # confirmed by a multi-start prox pass
                    x = new
                    ok = True
                    break
                full = True
                continue
            if not full and residual > prev:
                eta = max(eta * 0.7, 0.1)
            if not full:
                prev = residual
            full = it % 25 == 0
            x = (1 - eta) * x + eta * new
            x[1] = max(x[1], x[0] ** 2)
            x[4] = max(x[4], x[3] ** 2)
        where = f"{self.activation}, {self.model}, nu={self.nu:g}, alpha={alpha:g}, r={r:g}"
        if not ok:
            if raise_on_failure:
                raise ReplicaNotConverged(
                    f"replica fixed point did not converge ({where}, start={label}): "
                    f"residual {residual:.2e} > tol {self.tol:g} after {it} iterations"
                )
            return ReplicaPoint(
                alpha, r, *map(float, x), math.nan, math.nan, math.nan, residual, it, label, False
            )
        te, se = self.population.risk(
            self.sigma, m_k=x[0], q_k=max(x[1], x[0] ** 2), m_v=x[3], q_v=max(x[4], x[3] ** 2)
        )
        train = loss + r * (x[1] + x[4]) / (2 * alpha)
        return ReplicaPoint(alpha, r, *map(float, x), te, se, float(train), residual, it, label)

    def solve_both(self, *, alpha: float, r: float, warm: dict[str, np.ndarray] | None = None):
        """Uninformed and informed fixed points (optionally warm-started per branch) and the
        one kept: the lower predicted training objective among the converged ones."""
        warm = warm or {}
        out = {}
        for start in ("uninformed", "informed"):
            out[start] = self.solve(
                alpha=alpha, r=r, start=warm.get(start, start), raise_on_failure=False
            )
            if start in warm:
                out[start] = ReplicaPoint(**{**out[start].to_dict(), "start": start})
        conv = [p for p in out.values() if p.converged]
        kept = min(conv, key=lambda p: p.train_objective) if conv else None
        return out, kept

    def curve(self, alphas: Any, *, r: float) -> list[dict[str, Any]]:
        """Continuation along increasing ``alpha``: both branches warm-started from their
        previous converged point. One row per (alpha, branch) with the convergence report and
        ``kept`` marking the branch with the lower training objective (NaN test error for
        non-converged points — experiments exclude them)."""
        rows: list[dict[str, Any]] = []
        warm: dict[str, np.ndarray] = {}
        for a in np.asarray(alphas, dtype=float):
            pts, kept = self.solve_both(alpha=float(a), r=r, warm=warm)
            for name, p in pts.items():
                if p.converged:
                    warm[name] = p.state()
                rows.append({**p.to_dict(), "branch": name, "kept": p is kept})
        return rows


def replica_fixed_point(
    activation: str | Activation = "softmax",
    *,
    alpha: float,
    r: float,
    model: str = "spiked",
    nu: float = 1.0,
    L: Any = 3,
    delta: float = 0.0,
    start: str = "uninformed",
    n_mc: int = 20_000,
    seed: int = 0,
) -> ReplicaPoint:
    """Solve the RS equations of B.4 at one ``(alpha, r)`` (raises if not converged)."""
    solver = ReplicaSolver(activation, model=model, nu=nu, L=L, delta=delta, n_mc=n_mc, seed=seed)
    return solver.solve(alpha=alpha, r=r, start=start)
