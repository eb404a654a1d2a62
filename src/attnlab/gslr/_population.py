r"""Population level of generalised SLR: attention risks, their optima and the Bayes risk.

On the invariant manifold (cross overlaps zero) the per-token fields of a student
:math:`(k, v)` are :math:`\chi = m_k\chi^* + \sqrt{q_k - m_k^2}\,g` and
:math:`z = m_v z^* + \sqrt{q_v - m_v^2}\,g'` (:math:`g, g'` standard Gaussian), with the overlaps
:math:`m_k = k\cdot k^*/D`, :math:`q_k = |k|^2/D` (the same for :math:`v`). With
:math:`a = E[\sigma_{\epsilon^*}(\chi)]` and :math:`b = E[\sum_\ell \sigma_\ell(\chi)^2]`,

.. math::

    \mathcal E_\sigma(m_k, q_k, m_v, q_v) = \Delta + 1 - 2 m_v a + q_v b,
    \qquad \min_{m_v,\ q_v \ge m_v^2} \mathcal E_\sigma = \Delta + 1 - a^2/b
    \ \text{ at } m_v = \sqrt{q_v} = a/b,

so the optimum of an activation is a search over :math:`(m_k, q_k)` only. Bayes:
:math:`P(\epsilon^* = \ell \mid X) = \mathrm{softmax}(c_\nu\chi^*)_\ell`, so the Bayes predictor
is softmax attention at :math:`k = c_\nu k^*, v = v^*` and, by the Nishimori identity
:math:`E[p_{\epsilon^*}] = E[\sum_\ell p_\ell^2]`,
:math:`\mathcal E_{\rm Bayes} = \Delta + 1 - E[\sum_\ell p_\ell^2]`, :math:`p =
\mathrm{softmax}(c_\nu\chi^*)`.

Expectations (:class:`Quadrature` or :class:`MonteCarlo`). Spiked-SLR: the scores are
independent, :math:`\chi_\epsilon \sim \mathcal N(m_k\sqrt\nu, q_k)` and :math:`\chi_\ell \sim
\mathcal N(0, q_k)` otherwise, so :math:`a, b` are :math:`L`-dimensional Gauss–Hermite
quadratures mixed over the law of :math:`L` (relative error below :math:`10^{-9}` at the default
node counts). Max-SLR (or on request): Monte-Carlo over exact draws of :math:`(L, \chi^*, g)`
with common random numbers (the same draws at every :math:`(m_k, q_k)`, so the optimiser sees a
smooth function), the hidden position Rao–Blackwellised (:math:`a = E[\sum_\ell
P(\epsilon^* = \ell \mid \chi^*)\sigma_\ell]`) and a delta-method standard error.

Linear attention in closed form (:func:`linear_attention_optimum`). With :math:`\sigma = 1 +
\chi` and the teacher moments :math:`M_1 = E[\chi^*_\epsilon]`, :math:`S_1 = E[\sum_\ell
\chi^*_\ell]`, :math:`S_2 = E[\sum_\ell \chi^{*2}_\ell]`: :math:`a = 1 + m_k M_1`, :math:`b =
E[L](1 + q_k - m_k^2) + 2 m_k S_1 + m_k^2 S_2`, minimised at :math:`q_k = m_k^2`,
:math:`m_k = (M_1 E[L] - S_1)/(S_2 - M_1 S_1)`. Spiked (:math:`M_1 = S_1 = \sqrt\nu`,
:math:`S_2 = E[L] + \nu`): :math:`\mathcal E_{\rm lin} = \Delta + 1/(1 + \nu/E[L] + 1/(E[L] -
1))`. Max (:math:`S_1 = 0`, :math:`S_2 = E[L]`):
:math:`\mathcal E_{\rm lin} = \Delta + 1 - (1 + M_1^2)/E[L]`, bounded away from the Bayes risk
as :math:`\nu \to \infty`.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
from pydantic import Field

from attnlab._jax import flat_draw, jax, jnp
from attnlab._validate import ParameterError, check_range
from attnlab.config import Params
from attnlab.gslr._activations import (
    Activation,
    linear_activation,
    resolve_activation,
    softmax_activation,
)
from attnlab.gslr._model import GSLRModel
from attnlab.gslr._optimum import search_optimum
from attnlab.gslr._sampler import _fields
from attnlab.gslr._types import Estimate, Overlaps, PopulationOptimum
from attnlab.precision import uses_jax
from attnlab.rng import stream

__all__ = [
    "Estimate",
    "MonteCarlo",
    "Overlaps",
    "Population",
    "PopulationOptimum",
    "Quadrature",
    "bayes_risk",
    "linear_attention_optimum",
    "population_optimum",
    "population_risk",
]

QUADRATURE_MAX_LENGTH = 5
_DEFAULT_NODES = {1: 160, 2: 80, 3: 32, 4: 18, 5: 12}
# Monte-Carlo draws on which the optimum's 119-point start grid is evaluated (the first ones of
# the sample); the local searches from its two best points use the whole sample
GRID_DRAWS = 10_000
GRID_NODES_DIVISOR = 2  # and, for quadrature, on a rule with half the nodes per token


class Quadrature(Params):
    """Gauss–Hermite quadrature over the scores (spiked-SLR, :math:`L_{\\max} \\le 5`).

    Parameters
    ----------
    n_nodes : int, optional
        Nodes per token (default by :math:`L_{\\max}`: 160, 80, 32, 18, 12).
    """

    n_nodes: int | None = Field(None, ge=4, le=400, description="Gauss–Hermite nodes per token")


class MonteCarlo(Params):
    """Monte-Carlo over exact draws, common random numbers (needs a ``key``).

    Parameters
    ----------
    n : int
        Number of draws.
    """

    n: int = Field(200_000, ge=100, le=10**8, description="Monte-Carlo draws")


def _hermite(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Probabilists' Gauss–Hermite nodes and weights (weights sum to 1)."""
    x, w = np.polynomial.hermite_e.hermegauss(n)
    return x, w / w.sum()


def _quadrature_grids(model: Any, n: int) -> tuple:
    """Per length :math:`L` of the model: the tensor Gauss–Hermite nodes (``n`` per token,
    shape :math:`(n^L, L)`) and their weights times :math:`P(L)`."""
    x, w = _hermite(n)
    grids = []
    for L, p in zip(model.lengths, model.length_probs, strict=True):
        mesh = np.stack(np.meshgrid(*([x] * L), indexing="ij"), -1).reshape(-1, L)
        wt = np.prod(np.stack(np.meshgrid(*([w] * L), indexing="ij"), -1), -1).ravel()
        grids.append((mesh, wt * p))
    return tuple(grids)


def _safe_sqrt(x: Any) -> Any:
    """``sqrt`` with a zero (not NaN) gradient at 0, so the optimiser can leave ``q_k = m_k²``."""
    pos = x > 0
    return jnp.where(pos, jnp.sqrt(jnp.where(pos, x, 1.0)), 0.0)


@functools.partial(jax.jit, static_argnums=0)
def _quad_moments(sigma: Activation, m_k: Any, s_k: Any, shift: Any, grids: Any) -> Any:
    a = b = 0.0
    for mesh, wt in grids:
        L = mesh.shape[1]
        chi = _safe_sqrt(m_k**2 + s_k**2) * mesh + (m_k * shift) * (jnp.arange(L) == 0)
        sg = sigma(chi, jnp.ones_like(chi, dtype=bool))
        a = a + jnp.sum(wt * sg[:, 0])
        b = b + jnp.sum(wt * jnp.sum(sg**2, -1))
    return a, b, jnp.zeros(3)


@functools.partial(jax.jit, static_argnums=0)
def _mc_moments(sigma: Activation, m_k: Any, s_k: Any, shift: Any, draws: Any) -> Any:
    del shift
    chi_star, mask, weights, g = draws
    chi = (m_k * chi_star + s_k * g) * mask
    sg = sigma(chi, mask)
    A = jnp.sum(weights * sg, -1)
    B = jnp.sum(sg**2, -1)
    cov = jnp.cov(jnp.stack([A, B])) / A.shape[0]
    return A.mean(), B.mean(), jnp.array([cov[0, 0], cov[1, 1], cov[0, 1]])


class Population:
    """Expectations over the population law of one model (quadrature grids or Monte-Carlo
    draws built once, shared by every activation and overlap point).

    Parameters
    ----------
    model : GSLRModel
    key : jax key, optional
        Needed for :class:`MonteCarlo` (max-SLR, or spiked with :math:`L_{\\max} > 5`).
    integration : Quadrature or MonteCarlo, optional
        Default: quadrature when possible, else ``MonteCarlo()``.
    """

    @uses_jax
    def __init__(
        self,
        model: GSLRModel,
        *,
        key: Any = None,
        integration: Quadrature | MonteCarlo | None = None,
    ) -> None:
        self.model = model
        quad_ok = model.variant == "spiked" and model.max_length <= QUADRATURE_MAX_LENGTH
        if integration is None:
            integration = Quadrature() if quad_ok else MonteCarlo()
        if isinstance(integration, Quadrature) and not quad_ok:
            raise ParameterError(
                f"integration = Quadrature needs spiked-SLR with L_max <= {QUADRATURE_MAX_LENGTH}"
                f" (got {model.label()}); use MonteCarlo and a key"
            )
        self.integration = integration
        if isinstance(integration, Quadrature):
            n = integration.n_nodes or _DEFAULT_NODES[model.max_length]
            self._arrays: Any = _quadrature_grids(model, n)
            self._fn = _quad_moments
            # the start grid of optimum() (it only ranks starts): half the nodes per token
            coarse = n // GRID_NODES_DIVISOR
            self._grid_arrays = _quadrature_grids(model, coarse) if coarse >= 8 else None
        else:
            if key is None:
                raise ParameterError(
                    f"{model.label()}: Monte-Carlo population expectations need key= (a jax key)"
                )
            fields = _fields(model, stream(key, "population-fields"), integration.n)
            g = flat_draw(jax.random.normal, stream(key, "population-g"), fields.chi_star.shape)
            self._arrays = tuple(
                np.asarray(a) for a in (fields.chi_star, fields.mask, fields.weights, g)
            )
            self._fn = _mc_moments
            # the start grid of optimum(): the first GRID_DRAWS draws
            self._grid_arrays = (
                tuple(a[:GRID_DRAWS] for a in self._arrays) if integration.n > GRID_DRAWS else None
            )
        self._shift = math.sqrt(model.nu) if model.variant == "spiked" else 0.0

    @property
    def method(self) -> str:
        """``"quadrature"`` or ``"mc"``."""
        return "quadrature" if isinstance(self.integration, Quadrature) else "mc"

    def _raw(self, sigma: Activation, m_k: Any, s_k: Any) -> Any:
        return self._fn(sigma, m_k, s_k, self._shift, self._arrays)

    @uses_jax
    def moments(
        self, activation: str | Activation, *, m_k: float, q_k: float
    ) -> tuple[Estimate, Estimate, float]:
        r""":math:`a = E[\sigma_{\epsilon^*}(\chi)]` and :math:`b = E[\sum_\ell
        \sigma_\ell(\chi)^2]` at overlaps :math:`(m_k, q_k)`.

        Parameters
        ----------
        activation : str or callable
        m_k, q_k : float
            Finite, :math:`q_k \ge m_k^2`.

        Returns
        -------
        a, b : Estimate
        cov_ab : float
            Monte-Carlo covariance of the two estimates (0 for quadrature).
        """
        s_k = _check_overlaps(m_k, q_k)
        sigma = resolve_activation(activation)
        a, b, c = self._raw(sigma, float(m_k), s_k)
        return (
            Estimate(float(a), math.sqrt(float(c[0]))),
            Estimate(float(b), math.sqrt(float(c[1]))),
            float(c[2]),
        )

    def risk(self, activation: str | Activation, overlaps: Overlaps) -> Estimate:
        r""":math:`\mathcal E_\sigma = \Delta + 1 - 2 m_v a + q_v b` and its standard error.

        Parameters
        ----------
        activation : str or callable
        overlaps : Overlaps
            Finite, :math:`q \ge m^2` on each side.

        Returns
        -------
        Estimate
        """
        o = overlaps
        _check_overlaps(o.m_v, o.q_v, side="v")
        a, b, cov = self.moments(activation, m_k=o.m_k, q_k=o.q_k)
        value = self.model.delta + 1 - 2 * o.m_v * a.value + o.q_v * b.value
        var = (2 * o.m_v * a.stderr) ** 2 + (o.q_v * b.stderr) ** 2 - 4 * o.m_v * o.q_v * cov
        return Estimate(float(value), math.sqrt(max(var, 0.0)))

    def risk_optimal_v(self, activation: str | Activation, *, m_k: float, q_k: float) -> Estimate:
        r""":math:`\Delta + 1 - a^2/b` (the best :math:`m_v, q_v`) and its delta-method error.

        Parameters
        ----------
        activation : str or callable
        m_k, q_k : float

        Returns
        -------
        Estimate
        """
        return self._ratio_risk(*self.moments(activation, m_k=m_k, q_k=q_k))

    def _ratio_risk(self, a: Estimate, b: Estimate, cov: float) -> Estimate:
        ga, gb = 2 * a.value / b.value, -(a.value**2) / b.value**2
        var = (ga * a.stderr) ** 2 + (gb * b.stderr) ** 2 + 2 * ga * gb * cov
        value = self.model.delta + 1 - a.value**2 / b.value
        return Estimate(float(value), math.sqrt(max(var, 0.0)))

    def bayes(self) -> Estimate:
        r"""Bayes risk :math:`\Delta + 1 - E[\sum_\ell p_\ell^2]`, :math:`p =
        \mathrm{softmax}(c_\nu\chi^*)` (:math:`\Delta` when :math:`\nu = \infty`).

        Returns
        -------
        Estimate
        """
        c = self.model.signal_scale
        if math.isinf(c):
            return Estimate(self.model.delta, 0.0)
        _, b, _ = self.moments(softmax_activation, m_k=c, q_k=c**2)
        return Estimate(self.model.delta + 1 - b.value, b.stderr)

    def teacher_moments(self) -> tuple[Estimate, float, float]:
        r""":math:`(M_1, S_1, S_2) = (E[\chi^*_\epsilon], E[\sum_\ell \chi^*_\ell],
        E[\sum_\ell \chi^{*2}_\ell])`.

        Returns
        -------
        M1 : Estimate
            Exact for spiked-SLR, Monte-Carlo for max-SLR.
        S1, S2 : float
        """
        mean_l = self.model.mean_length
        if self.model.variant == "spiked":
            root = math.sqrt(self.model.nu)
            return Estimate(root, 0.0), root, mean_l + self.model.nu
        a, _, _ = self.moments(linear_activation, m_k=1.0, q_k=1.0)
        return Estimate(a.value - 1.0, a.stderr), 0.0, mean_l

    @uses_jax
    def optimum(self, activation: str | Activation, *, max_iter: int = 500) -> PopulationOptimum:
        """See :func:`population_optimum`."""
        sigma = resolve_activation(activation)
        opt = search_optimum(
            self._fn,
            sigma,
            self._shift,
            self._arrays,
            self.model.signal_scale,
            max_iter=max_iter,
            grid_arrays=self._grid_arrays,
        )
        a, b, cov = self.moments(sigma, m_k=opt.overlaps.m_k, q_k=opt.overlaps.q_k)
        risk = self._ratio_risk(a, b, cov)
        ratio = a.value / b.value
        o = Overlaps(opt.overlaps.m_k, opt.overlaps.q_k, ratio, ratio**2)
        return PopulationOptimum(
            risk.value, risk.stderr, o, opt.at_boundary, opt.converged, opt.message
        )


def _check_overlaps(m: Any, q: Any, side: str = "k") -> float:
    """Finite overlaps with ``q >= m²``; returns ``sqrt(q - m²)``."""
    m = check_range(f"m_{side}", m, lo=-1e12, hi=1e12)
    q = check_range(f"q_{side}", q, lo=0, hi=1e24)
    if q < m**2 * (1 - 1e-9) - 1e-12:
        raise ParameterError(f"q_{side} = {q!r} is out of range: must be >= m_{side}² = {m**2:g}")
    return math.sqrt(max(q - m**2, 0.0))


def bayes_risk(
    model: GSLRModel, *, key: Any = None, integration: Quadrature | MonteCarlo | None = None
) -> Estimate:
    r"""Bayes risk of the model.

    .. math:: \mathcal E_{\rm Bayes} = \Delta + 1 - E\Big[\sum_\ell p_\ell^2\Big],
        \qquad p = \mathrm{softmax}(c_\nu \chi^*),

    with :math:`c_\nu = \sqrt\nu` (spiked) or :math:`\nu` (max); :math:`\Delta` at
    :math:`\nu = \infty`.

    Parameters
    ----------
    model : GSLRModel
    key : jax key, optional
        For Monte-Carlo (max-SLR).
    integration : Quadrature or MonteCarlo, optional

    Returns
    -------
    Estimate
        Value and standard error (0 for quadrature).
    """
    return Population(model, key=key, integration=integration).bayes()


def population_risk(
    model: GSLRModel,
    activation: str | Activation,
    overlaps: Overlaps,
    *,
    key: Any = None,
    integration: Quadrature | MonteCarlo | None = None,
) -> Estimate:
    r"""Population risk of attention with given overlaps (on the invariant manifold).

    .. math:: \mathcal E_\sigma = \Delta + 1 - 2 m_v E[\sigma_{\epsilon^*}(\chi)]
        + q_v E\Big[\sum_\ell \sigma_\ell(\chi)^2\Big].

    Parameters
    ----------
    model : GSLRModel
    activation : str or callable
    overlaps : Overlaps
        :math:`m_k, q_k, m_v, q_v`: finite, :math:`q \ge m^2`.
    key : jax key, optional
        For Monte-Carlo.
    integration : Quadrature or MonteCarlo, optional

    Returns
    -------
    Estimate
    """
    return Population(model, key=key, integration=integration).risk(activation, overlaps)


def population_optimum(
    model: GSLRModel,
    activation: str | Activation,
    *,
    key: Any = None,
    integration: Quadrature | MonteCarlo | None = None,
    max_iter: int = 500,
) -> PopulationOptimum:
    r"""Optimal population risk of an activation.

    .. math:: \min_{m_k,\, q_k \ge m_k^2} \Big(\Delta + 1 - \frac{a(m_k, q_k)^2}{b(m_k, q_k)}\Big)

    by a coarse grid then L-BFGS-B (jax gradients, at most ``max_iter`` iterations) from the two
    best grid points. The grid only ranks start points and is evaluated on the first
    ``GRID_DRAWS`` Monte-Carlo draws, or on a Gauss–Hermite rule with half the nodes per token;
    the local searches and the returned optimum use the whole sample.

    Parameters
    ----------
    model : GSLRModel
    activation : str or callable
    key : jax key, optional
        For Monte-Carlo.
    integration : Quadrature or MonteCarlo, optional
    max_iter : int
        Iteration cap of each local search.

    Returns
    -------
    PopulationOptimum
    """
    pop = Population(model, key=key, integration=integration)
    return pop.optimum(activation, max_iter=max_iter)


def linear_attention_optimum(
    model: GSLRModel, *, key: Any = None, integration: Quadrature | MonteCarlo | None = None
) -> PopulationOptimum:
    r"""Closed-form optimum of linear attention :math:`\sigma_\ell = 1 + \chi_\ell`.

    .. math:: q_k = m_k^2, \quad m_k = \frac{M_1 E[L] - S_1}{S_2 - M_1 S_1}, \quad
        \mathcal E_{\rm lin} = \Delta + 1 - \frac{(1 + m_k M_1)^2}{E[L] + 2 m_k S_1 + m_k^2 S_2}

    (module docstring). Spiked, noise-free: :math:`1/(1 + \nu/E[L] + 1/(E[L] - 1))`.

    Parameters
    ----------
    model : GSLRModel
    key : jax key, optional
        For max-SLR (:math:`M_1` by Monte-Carlo).
    integration : Quadrature or MonteCarlo, optional

    Returns
    -------
    PopulationOptimum
        Its ``stderr`` propagates the Monte-Carlo error of :math:`M_1`.
    """
    pop = Population(model, key=key, integration=integration)
    M1, S1, S2 = pop.teacher_moments()
    mean_l = model.mean_length
    m_k = (M1.value * mean_l - S1) / (S2 - M1.value * S1)
    a = 1 + m_k * M1.value
    b = mean_l + 2 * m_k * S1 + m_k**2 * S2
    # max-SLR: risk = Δ + 1 - (1 + M1²)/E[L], d/dM1 = -2 M1/E[L]
    se = abs(2 * M1.value / mean_l) * M1.stderr
    o = Overlaps(float(m_k), float(m_k**2), float(a / b), float((a / b) ** 2))
    return PopulationOptimum(float(model.delta + 1 - a**2 / b), float(se), o, False, True, "")
