"""Population level of generalised SLR: Bayes risk and attention risks (spec ``slr.md`` B.3).

On the invariant manifold (cross overlaps zero) with ``|k*|^2 = |v*|^2 = D`` the per-token
fields are ``chi = m_k chi* + sqrt(q_k - m_k^2) g`` and ``z = m_v z* + sqrt(q_v - m_v^2) g'``,
and with ``a = E[sigma_eps*(chi)]``, ``b = E[sum_l sigma_l(chi)^2]``::

    E_sigma(m_k, q_k, m_v, q_v) = Delta + 1 - 2 m_v a + q_v b                      (B.3)
    min over (m_v, q_v >= m_v^2):  Delta + 1 - a^2 / b    at m_v = q_v^(1/2) = a/b

so the optimum of an activation is a search over ``(m_k, q_k)`` only. Bayes:
``E_Bayes = Delta + 1 - E[sum_l p_l^2]`` with ``p = softmax(c_nu chi*)`` (``c_nu = sqrt(nu)``
spiked, ``nu`` max): softmax at ``m_k = c_nu, q_k = c_nu^2`` and the Nishimori identity
``E[p_eps*] = E[sum p^2]`` make softmax attention Bayes-optimal at population level.

Expectations. Spiked-SLR: the scores are independent, ``chi_eps ~ N(m_k sqrt(nu), q_k)`` and
``chi_l ~ N(0, q_k)`` otherwise, so ``a, b`` are L-dimensional Gauss–Hermite quadratures
(mixed over the law of ``L``); errors are ~1e-10 for the sizes used. Max-SLR (and spiked on
request): Monte-Carlo over exact draws of ``(L, chi*, g)`` with common random numbers (the same
draws for every ``(m_k, q_k)``, so the optimisation sees a smooth function), the hidden position
Rao–Blackwellised (``a = E[sum_l P(eps*=l|chi*) sigma_l]``), and a delta-method standard error.

Linear attention, settled (see :func:`linear_attention_optimum`). With ``sigma = 1 + chi`` and
moments ``M1 = E[chi*_eps]``, ``S1 = E[sum chi*_l]``, ``S2 = E[sum chi*_l^2]``, ``EL = E[L]``:
``a = 1 + m_k M1``, ``b = EL (1 + q_k - m_k^2) + 2 m_k S1 + m_k^2 S2``; the optimum has
``q_k = m_k^2`` and ``m_k = (M1 EL - S1)/(S2 - M1 S1)``. Spiked-SLR (``M1 = S1 = sqrt(nu)``,
``S2 = EL + nu``): ``m_k = sqrt(nu)(EL - 1)/EL`` and, noise-free,
``E_lin = 1/(1 + nu/EL + 1/(EL - 1))`` — the spec's expression holds (with ``L -> E[L]`` for a
random length; verified numerically by the 2-parameter search and by direct minimisation over
all ``(k, v)`` at small ``D``, see the tests). Max-SLR (``S1 = 0``, ``S2 = EL``):
``m_k = M1``, ``E_lin = Delta + 1 - (1 + M1^2)/EL`` — bounded away from the Bayes risk even
as ``nu -> inf`` (e.g. ``L = 2``: ``M1 -> 1/sqrt(pi)``, ``E_lin -> (1 - 1/pi)/2``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from attnlab._jax import jax, jnp
from attnlab._validate import ParameterError, check_choice, check_int, check_range
from attnlab.gslr._activations import Activation, resolve_activation, softmax_activation
from attnlab.gslr._data import (
    check_model,
    check_nu,
    length_distribution,
    sample_teacher_fields,
    signal_scale,
)
from attnlab.rng import root_key, stream


def _safe_sqrt(x):
    """``sqrt`` with a zero (not NaN) gradient at 0, so the optimiser can leave ``q_k = 0``."""
    pos = x > 0
    return jnp.where(pos, jnp.sqrt(jnp.where(pos, x, 1.0)), 0.0)


def _hermite(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Probabilists' Gauss–Hermite nodes and weights (weights sum to 1)."""
    x, w = np.polynomial.hermite_e.hermegauss(n)
    return x, w / w.sum()


@dataclass(frozen=True)
class Moments:
    """``a = E[sigma_eps*]``, ``b = E[sum sigma^2]`` and their Monte-Carlo covariance (0 for
    quadrature)."""

    a: float
    b: float
    var_a: float = 0.0
    var_b: float = 0.0
    cov_ab: float = 0.0


class PopulationModel:
    """Expectations over the generalised-SLR law at population level (spec B.3).

    ``method``: ``"quadrature"`` (spiked only, ``L_max <= 5``), ``"mc"``, or ``"auto"``
    (quadrature when possible). ``n_nodes`` Gauss–Hermite nodes per token; ``n_mc``
    Monte-Carlo draws (common random numbers from ``seed``).
    """

    def __init__(
        self,
        *,
        model: str = "spiked",
        nu: float = 1.0,
        L: Any = 3,
        delta: float = 0.0,
        method: str = "auto",
        n_nodes: int = 0,
        n_mc: int = 200_000,
        seed: int = 0,
    ) -> None:
        self.model = check_model(model)
        self.nu = check_nu(nu, self.model)
        self.delta = check_range("delta", delta, lo=0)
        self.dist = length_distribution(L)
        method = check_choice("method", method, ("auto", "quadrature", "mc"))
        quad_ok = self.model == "spiked" and self.dist.max_length <= 5
        if method == "quadrature" and not quad_ok:
            raise ParameterError(
                f"method = 'quadrature' needs spiked-SLR with L <= 5 (got model={self.model!r}, "
                f"L_max={self.dist.max_length}); use method='mc'"
            )
        self.method = "quadrature" if (method == "auto" and quad_ok) else method
        if self.method == "auto":
            self.method = "mc"
        self.n_mc = check_int("n_mc", n_mc, lo=100)
        if self.method == "quadrature":
            Lm = self.dist.max_length
            default = {1: 160, 2: 80, 3: 32, 4: 18, 5: 12}[Lm]
            self.n_nodes = check_int("n_nodes", n_nodes or default, lo=4)
            self._grids = []
            x, w = _hermite(self.n_nodes)
            for Lval, p in zip(self.dist.lengths, self.dist.probs, strict=True):
                mesh = np.stack(np.meshgrid(*([x] * Lval), indexing="ij"), -1).reshape(-1, Lval)
                wt = np.prod(np.stack(np.meshgrid(*([w] * Lval), indexing="ij"), -1), -1).ravel()
                self._grids.append((jnp.asarray(mesh), jnp.asarray(wt * p)))
        else:
            self.n_nodes = 0
            key = root_key(seed)
            fields = sample_teacher_fields(
                stream(key, "fields"), n=self.n_mc, model=self.model, nu=self.nu, L=self.dist
            )
            self._chi_star = fields.chi_star
            self._mask = fields.mask
            self._weights = fields.weights
            self._g = jax.random.normal(stream(key, "g"), fields.chi_star.shape)
        self._cache: dict[Any, Callable] = {}

    # -- expectations ----------------------------------------------------------------------
    def _moments_fn(self, sigma: Activation) -> Callable:
        key = id(sigma)
        if key in self._cache:
            return self._cache[key]
        if self.method == "quadrature":
            shift = math.sqrt(self.nu)
            grids = self._grids

            def fn(m_k, s_k):
                q_k = m_k**2 + s_k**2
                a = b = 0.0
                for mesh, wt in grids:
                    Lval = mesh.shape[1]
                    chi = _safe_sqrt(q_k) * mesh + (m_k * shift) * (jnp.arange(Lval) == 0)
                    sg = sigma(chi, jnp.ones_like(chi, dtype=bool))
                    a = a + jnp.sum(wt * sg[:, 0])
                    b = b + jnp.sum(wt * jnp.sum(sg**2, -1))
                return a, b, jnp.zeros(3)

        else:
            chi_star, mask, weights, g = self._chi_star, self._mask, self._weights, self._g
            n = chi_star.shape[0]

            def fn(m_k, s_k):
                chi = (m_k * chi_star + s_k * g) * mask
                sg = sigma(chi, mask)
                A = jnp.sum(weights * sg, -1)
                B = jnp.sum(sg**2, -1)
                cov = jnp.cov(jnp.stack([A, B])) / n
                return A.mean(), B.mean(), jnp.array([cov[0, 0], cov[1, 1], cov[0, 1]])

        jfn = jax.jit(fn)
        self._cache[key] = (sigma, jfn)  # keep sigma alive so its id stays unique
        return self._cache[key]

    def moments(self, activation: str | Activation, *, m_k: float, q_k: float) -> Moments:
        """``a = E[sigma_eps*(chi)]``, ``b = E[sum_l sigma_l(chi)^2]`` at overlaps ``(m_k, q_k)``."""
        m_k = check_range("m_k", m_k)
        q_k = check_range("q_k", q_k, lo=0)
        if q_k < m_k**2 - 1e-12:
            raise ParameterError(f"q_k = {q_k!r} must be >= m_k^2 = {m_k**2:g}")
        sigma = resolve_activation(activation)
        _, fn = self._moments_fn(sigma)
        a, b, c = fn(m_k, math.sqrt(max(q_k - m_k**2, 0.0)))
        return Moments(float(a), float(b), float(c[0]), float(c[1]), float(c[2]))

    def risk(
        self, activation: str | Activation, *, m_k: float, q_k: float, m_v: float, q_v: float
    ) -> tuple[float, float]:
        """``E_sigma = Delta + 1 - 2 m_v a + q_v b`` and its Monte-Carlo standard error."""
        m_v = check_range("m_v", m_v)
        q_v = check_range("q_v", q_v, lo=0)
        mo = self.moments(activation, m_k=m_k, q_k=q_k)
        val = self.delta + 1 - 2 * m_v * mo.a + q_v * mo.b
        var = 4 * m_v**2 * mo.var_a + q_v**2 * mo.var_b - 4 * m_v * q_v * mo.cov_ab
        return float(val), float(math.sqrt(max(var, 0.0)))

    def risk_optimal_v(
        self, activation: str | Activation, *, m_k: float, q_k: float
    ) -> tuple[float, float]:
        """``Delta + 1 - a^2/b`` (best ``(m_v, q_v)``) and its delta-method standard error."""
        mo = self.moments(activation, m_k=m_k, q_k=q_k)
        return self._opt_from_moments(mo)

    def _opt_from_moments(self, mo: Moments) -> tuple[float, float]:
        a, b = mo.a, mo.b
        ga, gb = 2 * a / b, -(a**2) / b**2
        var = ga**2 * mo.var_a + gb**2 * mo.var_b + 2 * ga * gb * mo.cov_ab
        return float(self.delta + 1 - a**2 / b), float(math.sqrt(max(var, 0.0)))

    # -- optimum ---------------------------------------------------------------------------
    def optimum(
        self, activation: str | Activation, *, m_max: float | None = None, s_max: float = 4.0
    ) -> PopulationOptimum:
        """Minimise ``Delta + 1 - a^2/b`` over ``m_k in [-m_max, m_max]``, ``q_k - m_k^2 in
        [0, s_max^2]``: a coarse grid, then L-BFGS-B (jax gradients) from the 2 best points."""
        from scipy.optimize import minimize

        sigma = resolve_activation(activation)
        _, fn = self._moments_fn(sigma)
        c = signal_scale(self.model, self.nu)
        if m_max is None:
            m_max = max(6.0, 1.5 * c) if math.isfinite(c) else 30.0
        m_max = check_range("m_max", m_max, lo=0, lo_open=True)
        s_max = check_range("s_max", s_max, lo=0)

        def obj(p):
            a, b, _ = fn(p[0], p[1])
            return -(a**2) / b

        vg = jax.jit(jax.value_and_grad(obj))
        ms = np.linspace(-m_max, m_max, 17)
        ss = np.linspace(0.0, s_max, 7)
        grid = np.array([(m, s) for m in ms for s in ss])
        vals = np.asarray(jax.lax.map(obj, jnp.asarray(grid)))
        best = None
        for i in np.argsort(vals)[:2]:
            res = minimize(
                lambda p: tuple(np.asarray(t, dtype=float) for t in vg(jnp.asarray(p))),
                np.array(grid[i]),
                jac=True,
                method="L-BFGS-B",
                bounds=[(-m_max, m_max), (0.0, s_max)],
                options={"maxiter": 500, "ftol": 1e-15, "gtol": 1e-10},
            )
            if best is None or res.fun < best.fun:
                best = res
        m_k, s_k = float(best.x[0]), float(best.x[1])
        mo = self.moments(sigma, m_k=m_k, q_k=m_k**2 + s_k**2)
        risk, se = self._opt_from_moments(mo)
        at_edge = abs(abs(m_k) - m_max) < 1e-6 * m_max or abs(s_k - s_max) < 1e-6
        return PopulationOptimum(
            risk=risk,
            stderr=se,
            m_k=m_k,
            q_k=m_k**2 + s_k**2,
            m_v=mo.a / mo.b,
            q_v=(mo.a / mo.b) ** 2,
            at_boundary=bool(at_edge),
        )

    def bayes(self) -> tuple[float, float]:
        """``Delta + 1 - E[sum p^2]``, ``p = softmax(c_nu chi*)``, and its standard error."""
        c = signal_scale(self.model, self.nu)
        if math.isinf(c):
            return self.delta, 0.0
        mo = self.moments(softmax_activation, m_k=c, q_k=c**2)
        return float(self.delta + 1 - mo.b), float(math.sqrt(mo.var_b))

    def teacher_moments(self) -> tuple[float, float, float]:
        """``(M1, S1, S2) = (E[chi*_eps], E[sum chi*_l], E[sum chi*_l^2])``."""
        EL = self.dist.mean
        if self.model == "spiked":
            r = math.sqrt(self.nu)
            return r, r, EL + self.nu
        from attnlab.gslr._activations import linear_activation

        mo = self.moments(linear_activation, m_k=1.0, q_k=1.0)
        return mo.a - 1.0, 0.0, EL


@dataclass(frozen=True)
class PopulationOptimum:
    """Optimal population risk of an activation (B.3) and the overlaps that reach it."""

    risk: float
    stderr: float
    m_k: float
    q_k: float
    m_v: float
    q_v: float
    at_boundary: bool = False


def bayes_risk(
    model: str = "spiked",
    nu: float = 1.0,
    L: Any = 3,
    delta: float = 0.0,
    *,
    with_error: bool = False,
    method: str = "auto",
    n_mc: int = 400_000,
    seed: int = 0,
) -> float | tuple[float, float]:
    """Bayes risk ``Delta + 1 - E[sum_l p_l^2]``, ``p = softmax(c_nu chi*)`` (spec B.3).

    ``L``: an int, a list of ints (uniform) or ``{L: prob}``. Spiked-SLR by quadrature
    (``L <= 5``), max-SLR by Monte-Carlo (``with_error=True`` returns ``(risk, stderr)``).
    """
    pm = PopulationModel(model=model, nu=nu, L=L, delta=delta, method=method, n_mc=n_mc, seed=seed)
    val, se = pm.bayes()
    return (val, se) if with_error else val


def population_risk(
    activation: str | Activation,
    *,
    model: str = "spiked",
    nu: float = 1.0,
    L: Any = 3,
    delta: float = 0.0,
    m_k: float,
    q_k: float,
    m_v: float,
    q_v: float,
    method: str = "auto",
    n_mc: int = 200_000,
    seed: int = 0,
) -> float:
    """Population risk ``Delta + 1 - 2 m_v E[sigma_eps*] + q_v E[sum sigma^2]`` (spec B.3)."""
    pm = PopulationModel(model=model, nu=nu, L=L, delta=delta, method=method, n_mc=n_mc, seed=seed)
    return pm.risk(activation, m_k=m_k, q_k=q_k, m_v=m_v, q_v=q_v)[0]


def population_optimum(
    activation: str | Activation,
    *,
    model: str = "spiked",
    nu: float = 1.0,
    L: Any = 3,
    delta: float = 0.0,
    method: str = "auto",
    n_mc: int = 200_000,
    seed: int = 0,
) -> PopulationOptimum:
    """Optimal population risk of ``activation`` by the 2-parameter search of B.3."""
    pm = PopulationModel(model=model, nu=nu, L=L, delta=delta, method=method, n_mc=n_mc, seed=seed)
    return pm.optimum(activation)


def linear_attention_optimum(
    model: str = "spiked",
    nu: float = 1.0,
    L: Any = 3,
    delta: float = 0.0,
    *,
    n_mc: int = 400_000,
    seed: int = 0,
) -> PopulationOptimum:
    """Closed-form optimum of linear attention (module docstring): ``q_k = m_k^2``,
    ``m_k = (M1 EL - S1)/(S2 - M1 S1)``, risk ``Delta + 1 - a^2/b``. Spiked noise-free:
    ``1/(1 + nu/E[L] + 1/(E[L] - 1))``. Max-SLR needs ``M1`` (Monte-Carlo, ``stderr``)."""
    pm = PopulationModel(model=model, nu=nu, L=L, delta=delta, method="auto", n_mc=n_mc, seed=seed)
    M1, S1, S2 = pm.teacher_moments()
    EL = pm.dist.mean
    m_k = (M1 * EL - S1) / (S2 - M1 * S1)
    a = 1 + m_k * M1
    b = EL + 2 * m_k * S1 + m_k**2 * S2
    se = 0.0
    if pm.model == "max":
        from attnlab.gslr._activations import linear_activation

        mo = pm.moments(linear_activation, m_k=1.0, q_k=1.0)
        # risk = Delta + 1 - (1 + M1^2)/EL: d/dM1 = -2 M1/EL
        se = abs(2 * M1 / EL) * math.sqrt(mo.var_a)
    return PopulationOptimum(
        risk=float(pm.delta + 1 - a**2 / b),
        stderr=float(se),
        m_k=float(m_k),
        q_k=float(m_k**2),
        m_v=float(a / b),
        q_v=float((a / b) ** 2),
    )
