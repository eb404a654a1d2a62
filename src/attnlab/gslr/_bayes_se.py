r"""Bayes-optimal state evolution of generalised SLR at sample ratio :math:`\alpha = N/D`.

Model (both variants as sequence multi-index models with Gaussian tokens): teacher
:math:`W^* = [k^*, v^*]` with i.i.d. :math:`\mathcal N(0,1)` entries; the joint density of an
example is :math:`\prod_\ell\mathcal N(x_\ell;0,I_D)\,\tilde P(y\mid H^*)`,
:math:`H^* = XW^*/\sqrt D` (channel :mod:`attnlab.gslr._bayes_channel`). For spiked-SLR
:math:`\tilde P` is not normalised in :math:`y` at fixed :math:`H`; the exact posterior is
:math:`P(W\mid\mathcal D)\propto \mathcal N(W;0,I)\,e^{-\alpha\nu\|k\|^2/2}\prod_\mu\tilde
P(y_\mu\mid H_\mu)` up to constants. In the replica computation the tilt
:math:`e^{-\alpha\nu\|k\|^2/2}` is cancelled exactly by the conjugate of the replicas' self
overlap (it only involves :math:`\|k\|^2/D`), so :math:`\tilde P` plays the role of a channel
with the prior :math:`\mathcal N(0, I)` (derivation in ``docs/theory/gslr_bayes_optimal.md``).

Under the Nishimori conditions the replica-symmetric fixed point has
:math:`Q = \mathrm{diag}(q_k, q_v)` (:math:`Q_{kv} = 0` by :math:`(v^*, y)\to(-v^*,-y)`) and

.. math::

    q_a = \frac{\hat q_a}{1+\hat q_a}, \qquad
    \hat q_a = \alpha\,\mathbb E\Big[\sum_\ell g_{a\ell}(y,\omega,V)^2\Big],\qquad
    V = \mathrm{diag}(1-q_k, 1-q_v),

the expectation over the effective example :math:`\omega_{\chi\ell} = q_k\chi^*_\ell +
\sqrt{q_k(1-q_k)}\,\xi_\ell`, :math:`\omega_{z\ell} = q_v z^*_\ell + \sqrt{q_v(1-q_v)}\,
\xi'_\ell`, :math:`(\chi^*, z^*, \varepsilon^*, y)` drawn exactly from the data law (spiked:
:math:`\chi^*_{\varepsilon}\sim\mathcal N(\sqrt\nu,1)`; max: :math:`\varepsilon^*\sim
\mathrm{softmax}(\nu\chi^*)`). Expectations are Monte-Carlo over ``n_mc`` such examples with
common random numbers (the map is deterministic and iterated to tight tolerance); its standard
error is propagated to the fixed point by the delta method,
:math:`\delta q = (I - \partial F)^{-1}\delta F`.

Free entropy (to choose between fixed points when informed and uninformed starts disagree):
:math:`\Phi = \sum_a[-\tfrac12 q_a\hat q_a + \tfrac12(\hat q_a - \log(1+\hat q_a))] +
\alpha\,\mathbb E\log Z`; the Bayes-optimal branch is the one with the larger :math:`\Phi`.

Test error of the Bayes predictor :math:`\hat y = \mathbb E[y\mid X,\mathcal D]`, in the units
of the population risks: the test projections are :math:`\mathcal N(\omega, V)` given the data,
so :math:`\hat y = \sum_\ell \hat p_\ell\,\omega_{z\ell}` with :math:`\hat p_\ell =
P(\varepsilon^*=\ell\mid\omega_\chi)` (spiked: :math:`\mathrm{softmax}(\sqrt\nu\omega_\chi)`;
max: :math:`\mathbb E_{\chi\sim\mathcal N(\omega_\chi,V_k)}\mathrm{softmax}(\nu\chi)`) and

.. math::

    \mathcal E_{\rm Bayes}(\alpha) = \Delta + 1 - q_v\,S(q_k),\qquad
    S(q_k) = \mathbb E\Big[\sum_\ell \hat p_\ell^2\Big].

Spiked: :math:`S(q_k)` is the population quantity :math:`\mathbb E\sum p^2` at signal
:math:`\nu q_k` (quadrature). Max: :math:`S(q_k) = \mathbb E\sum_\ell\mathrm{softmax}(\nu
\chi^1)_\ell\,\mathrm{softmax}(\nu\chi^2)_\ell` with :math:`\chi^{1,2}` standard Gaussian vectors
of correlation :math:`q_k` (Monte-Carlo). At :math:`q = 1` this is the population Bayes risk.
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from pydantic import Field

from attnlab._jax import flat_draw, jax, jnp
from attnlab._validate import ParameterError, check_choice, check_range
from attnlab.config import Params
from attnlab.gslr._activations import softmax_activation
from attnlab.gslr._bayes_channel import max_channel, spiked_channel
from attnlab.gslr._model import GSLRModel
from attnlab.gslr._population import Population
from attnlab.gslr._sampler import sample_teacher_fields
from attnlab.precision import uses_jax
from attnlab.rng import stream

__all__ = [
    "BayesSEOptions",
    "BayesSEPoint",
    "BayesStateEvolution",
    "StateEvolutionNotConverged",
    "check_model",
]

Q_MAX = 1.0 - 1e-15  # overlaps are kept in [0, Q_MAX]


class StateEvolutionNotConverged(RuntimeError):
    """The state-evolution iteration hit its cap (no test error is returned)."""


class BayesSEOptions(Params):
    """Numerical options of the Bayes-optimal state evolution.

    Parameters
    ----------
    n_mc : int
        Effective examples of the Monte-Carlo expectations (common random numbers).
    max_iter : int
        Iteration cap.
    tol : float
        Convergence: ``max_a |F_a(q) - q_a| / (1 - q_a) < tol`` (relative to the variances).
    damping : float
        Plain-iteration step ``q <- (1 - damping) q + damping F(q)``.
    newton_after : int
        Plain iterations before safeguarded Newton steps on ``q - F(q)`` (0: never).
    n_nodes : int
        Outer quadrature nodes of the max-SLR position posterior.
    n_test_mc : int
        Monte-Carlo pairs of the max-SLR test error ``S(q_k)``.
    """

    n_mc: int = Field(100_000, ge=1000, le=10_000_000)
    max_iter: int = Field(2000, ge=1, le=1_000_000)
    tol: float = Field(1e-9, gt=0, lt=1e-2)
    damping: float = Field(1.0, gt=0, le=1)
    newton_after: int = Field(3, ge=0)
    n_nodes: int = Field(128, ge=16, le=4096)
    n_test_mc: int = Field(400_000, ge=1000, le=10_000_000)


@dataclass(frozen=True)
class BayesSEPoint:
    """A state-evolution fixed point, its test error and its convergence report."""

    alpha: float
    q_k: float
    q_v: float
    qhat_k: float
    qhat_v: float
    test_error: float
    test_error_se: float
    q_k_se: float
    q_v_se: float
    free_entropy: float
    free_entropy_se: float
    residual: float
    n_iter: int
    converged: bool
    start: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_model(model: GSLRModel) -> GSLRModel:
    """A model the Bayes-optimal theory covers: spiked with any finite ``nu``, max with
    ``0 < nu < inf`` (``nu = 0`` max-SLR has no signal in the scores; ``nu = inf`` has a
    deterministic position and a non-smooth channel)."""
    if not isinstance(model, GSLRModel):
        raise ParameterError(f"model = {model!r}: must be a GSLRModel")
    if model.variant == "max" and not 0 < model.nu < math.inf:
        raise ParameterError(
            f"nu = {model.nu!r} is out of range for max-SLR: must be in (0, inf) "
            "(the Bayes-optimal theory needs a smooth softmax position law)"
        )
    return model


def _teacher_fields(model: GSLRModel, key: Any, n: int):
    """Exact draws of ``(L, eps*, chi*)`` of the data law, as jax arrays ``(chi*, mask, eps)``."""
    f = sample_teacher_fields(model, key, n=n)
    return jnp.asarray(f.chi_star), jnp.asarray(f.mask), jnp.asarray(f.eps)


def _spiked_softmax_moment(model: GSLRModel, key: Any):
    r""":math:`q_k\mapsto\mathbb E\sum_\ell\mathrm{softmax}(\sqrt\nu\,\omega_\chi)_\ell^2` for
    spiked-SLR: the population second moment of softmax at overlaps
    :math:`(m, q) = (\sqrt\nu q_k, \nu q_k)` (quadrature when the population module has it)."""
    pop = Population(model, key=key)
    root = math.sqrt(model.nu)

    def moment(q_k: float) -> tuple[float, float]:
        b = pop.moments(softmax_activation, m_k=root * q_k, q_k=model.nu * q_k)[1]
        return b.value, b.stderr

    return moment


# -- the state evolution -------------------------------------------------------------------------
def _effective(q, delta, chi_star, z_star, xi_k, xi_v, noise, mask, eps):
    """Effective examples at overlaps ``q``: ``(y, omega_chi, omega_z)`` (module docstring)."""
    q_k, q_v = q[0], q[1]
    om_k = jnp.where(mask, q_k * chi_star + jnp.sqrt(q_k * (1 - q_k)) * xi_k, 0.0)
    om_v = jnp.where(mask, q_v * z_star + jnp.sqrt(q_v * (1 - q_v)) * xi_v, 0.0)
    y = jnp.take_along_axis(z_star, eps[:, None], axis=1)[:, 0] + jnp.sqrt(delta) * noise
    return y, om_k, om_v


@functools.lru_cache(maxsize=8)
def _se_map(variant: str, n_nodes: int):
    """Jitted ``(q, alpha, nu, delta, draws) -> (qhat, per-sample sum g^2 (n, 2), log Z (n,))``."""

    def fn(q, alpha, nu, delta, *draws):
        y, om_k, om_v = _effective(q, delta, *draws)
        mask = draws[5]
        V_k, V_v = 1 - q[0], 1 - q[1]
        if variant == "spiked":
            logZ, g_k, g_v = spiked_channel(y, om_k, om_v, V_k, V_v, nu, delta, mask)
        else:
            logZ, g_k, g_v = max_channel(y, om_k, om_v, V_k, V_v, nu, delta, mask, n_nodes=n_nodes)
        per = jnp.stack([jnp.sum(g_k**2, -1), jnp.sum(g_v**2, -1)], -1)
        return alpha * per.mean(0), per, logZ

    return jax.jit(fn)


def _max_overlap_moment(draws, nu: float):
    r"""Two-replica Monte-Carlo of :math:`S(q_k) = \mathbb E\sum_\ell
    \mathrm{softmax}(\nu\chi^1)_\ell\mathrm{softmax}(\nu\chi^2)_\ell`, corr :math:`q_k`."""
    u, e1, e2, mask = draws

    @jax.jit
    def fn(q_k):
        def sm(x):
            return jax.nn.softmax(jnp.where(mask, nu * x, -jnp.inf), axis=-1)

        a = jnp.sqrt(q_k) * u
        b = jnp.sqrt(1 - q_k)
        per = jnp.sum(jnp.where(mask, sm(a + b * e1) * sm(a + b * e2), 0.0), -1)
        return per.mean(), per.std() / jnp.sqrt(per.shape[0])

    def moment(q_k: float) -> tuple[float, float]:
        m, se = fn(q_k)
        return float(m), float(se)

    return moment


def _residual(q: np.ndarray, Fq: np.ndarray) -> float:
    """``max_a |F_a - q_a| / max(1 - q_a, 1 - F_a)``: relative to the variances ``V = 1 - q``,
    so that the (unstable for alpha < 1) perfect point ``V -> 0`` of noise-free labels, where
    ``V`` changes by a fixed factor per step, is not mistaken for convergence."""
    dq = np.abs(Fq - q)
    scale = np.maximum(np.maximum(1 - q, 1 - Fq), 1e-300)
    return float(np.max(dq / scale))


class BayesStateEvolution:
    r"""Bayes-optimal state evolution of one model (module docstring).

    Parameters
    ----------
    model : GSLRModel
        Spiked-SLR (any finite :math:`\nu`) or max-SLR (:math:`0 < \nu < \infty`); fixed or
        random :math:`L`, label noise :math:`\Delta \ge 0`.
    key : jax key
        Randomness of the Monte-Carlo effective examples (common random numbers).
    options : BayesSEOptions, optional
    """

    @uses_jax
    def __init__(
        self, model: GSLRModel, *, key: Any, options: BayesSEOptions | None = None
    ) -> None:
        self.model = check_model(model)
        self.variant, self.nu, self.delta = model.variant, float(model.nu), float(model.delta)
        self.options = options or BayesSEOptions()
        n = self.options.n_mc
        chi_star, mask, eps = _teacher_fields(model, stream(key, "fields"), n)
        shape = chi_star.shape
        normal = [
            flat_draw(jax.random.normal, stream(key, t), shape) for t in ("z", "xi_k", "xi_v")
        ]
        noise = jax.random.normal(stream(key, "noise"), (n,))
        self._draws = (chi_star, normal[0] * mask, *normal[1:], noise, mask, eps)
        self._map = _se_map(self.variant, self.options.n_nodes)
        if self.variant == "spiked":
            self._moment = _spiked_softmax_moment(model, stream(key, "test"))
        else:
            m = self.options.n_test_mc
            lengths_only = model.replace(variant="spiked", nu=0.0)
            _, tmask, _ = _teacher_fields(lengths_only, stream(key, "test-L"), m)
            draws = [
                flat_draw(jax.random.normal, stream(key, f"test-{i}"), tmask.shape)
                for i in range(3)
            ]
            self._moment = _max_overlap_moment((*draws, tmask), self.nu)

    def where(self, alpha: float | None = None) -> str:
        """A one-line description of the parameter point."""
        return self.model.label() + ("" if alpha is None else f", alpha={alpha:g}")

    @uses_jax
    def hats(self, alpha: float, q_k: float, q_v: float) -> np.ndarray:
        r""":math:`(\hat q_k, \hat q_v) = \alpha\,\mathbb E\sum_\ell g_\ell^2` at overlaps
        :math:`(q_k, q_v)` (Monte-Carlo with the common random numbers)."""
        alpha = check_range("alpha", alpha, lo=0, lo_open=True)
        q = np.clip([check_range("q_k", q_k, lo=0, hi=1), check_range("q_v", q_v, lo=0, hi=1)],
                    0.0, Q_MAX)  # fmt: skip
        return np.asarray(self._map(jnp.asarray(q), alpha, self.nu, self.delta, *self._draws)[0])

    @uses_jax
    def effective_examples(self, q_k: float, q_v: float) -> dict[str, np.ndarray]:
        r"""The Monte-Carlo effective examples at overlaps :math:`(q_k, q_v)`: arrays ``y``
        ``(n,)``, ``omega_chi``, ``omega_z``, ``chi_star``, ``z_star``, ``mask`` ``(n, L)`` and
        the position ``eps`` ``(n,)``."""
        q = jnp.asarray([q_k, q_v])
        y, om_k, om_v = _effective(q, self.delta, *self._draws)
        chi_star, z_star, *_, mask, eps = self._draws
        out = dict(y=y, omega_chi=om_k, omega_z=om_v, chi_star=chi_star, z_star=z_star,
                   mask=mask, eps=eps)  # fmt: skip
        return {k: np.asarray(v) for k, v in out.items()}

    def _F(self, q: np.ndarray, alpha: float) -> np.ndarray:
        qh = np.asarray(self._map(jnp.asarray(q), alpha, self.nu, self.delta, *self._draws)[0])
        return np.clip(qh / (1 + qh), 0.0, Q_MAX)

    def _jacobian(self, q: np.ndarray, alpha: float, Fq: np.ndarray) -> np.ndarray:
        """Forward-difference Jacobian of the (deterministic) map ``F`` at ``q``."""
        J = np.zeros((2, 2))
        for i in range(2):
            h = 1e-6 * max(min(q[i], 1 - q[i]), 1e-6)
            e = np.zeros(2)
            e[i] = h if q[i] + h <= Q_MAX else -h
            J[:, i] = (self._F(q + e, alpha) - Fq) / e[i]
        return J

    def _iterate(self, q: np.ndarray, alpha: float) -> tuple[np.ndarray, float, int, bool]:
        """Damped iteration of ``q <- F(q)``, with safeguarded Newton steps on ``q - F(q)``
        (forward-difference Jacobian); after a rejected Newton step, plain steps only for a
        doubling number of iterations."""
        opts = self.options
        Fq = self._F(q, alpha)
        res = math.inf
        next_newton, backoff = opts.newton_after, 2
        for it in range(1, opts.max_iter + 1):
            res = _residual(q, Fq)
            if not np.isfinite(res):
                return q, res, it, False
            if res < opts.tol:
                return Fq, res, it, True
            if opts.newton_after and it > next_newton:
                J = self._jacobian(q, alpha, Fq)
                try:
                    trial = np.clip(q + np.linalg.solve(np.eye(2) - J, Fq - q), 0.0, Q_MAX)
                except np.linalg.LinAlgError:
                    trial = np.full(2, np.nan)
                F_trial = self._F(trial, alpha) if np.all(np.isfinite(trial)) else trial
                if _residual(trial, F_trial) < 0.5 * res:
                    q, Fq = trial, F_trial
                    continue
                next_newton, backoff = it + backoff, 2 * backoff
            q = np.clip(q + opts.damping * (Fq - q), 0.0, Q_MAX)
            Fq = self._F(q, alpha)
        return q, res, opts.max_iter, False

    @uses_jax
    def test_error(self, q_k: float, q_v: float) -> tuple[float, float]:
        r""":math:`\Delta + 1 - q_v S(q_k)` and the Monte-Carlo standard error of :math:`S`."""
        q_k = check_range("q_k", q_k, lo=0, hi=1)
        q_v = check_range("q_v", q_v, lo=0, hi=1)
        S, se = self._moment(q_k)
        return self.delta + 1 - q_v * S, q_v * se

    def _stderr(self, q: np.ndarray, alpha: float, per: np.ndarray) -> tuple[np.ndarray, float]:
        """Delta-method standard errors of ``q`` and of the test error (module docstring)."""
        qh = alpha * per.mean(0)
        cov_hat = alpha**2 * np.cov(per.T) / per.shape[0]
        dq = np.diag(1 / (1 + qh) ** 2)
        J = self._jacobian(q, alpha, np.clip(qh / (1 + qh), 0.0, Q_MAX))
        M = np.linalg.solve(np.eye(2) - J, dq)
        cov_q = M @ cov_hat @ M.T
        S, se_S = self._moment(q[0])
        h = 1e-4 * max(min(q[0], 1 - q[0]), 1e-4)
        qk2 = q[0] + h if q[0] + h <= 1 else q[0] - h
        dS = (self._moment(qk2)[0] - S) / (qk2 - q[0])
        grad = np.array([-q[1] * dS, -S])
        var = float(grad @ cov_q @ grad) + (q[1] * se_S) ** 2
        return np.sqrt(np.maximum(np.diag(cov_q), 0.0)), math.sqrt(max(var, 0.0))

    @uses_jax
    def free_entropy(self, alpha: float, q_k: float, q_v: float) -> float:
        r""":math:`\Phi` at overlaps :math:`(q_k, q_v)` (module docstring)."""
        q = np.clip([q_k, q_v], 0.0, Q_MAX)
        qh, _, logZ = self._map(jnp.asarray(q), alpha, self.nu, self.delta, *self._draws)
        qh = np.asarray(qh)
        prior = np.sum(-0.5 * q * qh + 0.5 * (qh - np.log1p(qh)))
        return float(prior + alpha * float(jnp.mean(logZ)))

    def _start(self, start: Any) -> tuple[np.ndarray, str]:
        if isinstance(start, str):
            check_choice("start", start, ("uninformed", "informed"))
            return (np.zeros(2) if start == "uninformed" else np.full(2, 1 - 1e-6)), start
        q = np.asarray(start, dtype=float)
        if q.shape != (2,) or not np.all((q >= 0) & (q <= 1)):
            raise ParameterError(f"start = {start!r}: must be a name or two overlaps in [0, 1]")
        return np.clip(q, 0.0, Q_MAX), "warm"

    @uses_jax
    def solve(self, alpha: float, *, start: Any = "uninformed",
              raise_on_failure: bool = True) -> BayesSEPoint:  # fmt: skip
        """Iterate to the fixed point from ``start`` (``"uninformed"``: ``q = 0``;
        ``"informed"``: ``q = 1 - 1e-6``; or two overlaps for a warm start).

        Raises :class:`StateEvolutionNotConverged` at the iteration cap unless
        ``raise_on_failure=False``; then the point is flagged with NaN test error.
        """
        alpha = check_range("alpha", alpha, lo=0, hi=math.inf, lo_open=True, hi_open=True)
        q0, label = self._start(start)
        q, res, it, ok = self._iterate(q0, alpha)
        if not ok:
            if raise_on_failure:
                raise StateEvolutionNotConverged(
                    f"Bayes state evolution did not converge ({self.where(alpha)}, "
                    f"start={label}): residual {res:.2e} > tol {self.options.tol:g} after {it} "
                    "iterations"
                )
            nan = math.nan
            return BayesSEPoint(alpha, *q, *[nan] * 8, res, it, False, label)
        qh, per, logZ = self._map(jnp.asarray(q), alpha, self.nu, self.delta, *self._draws)
        qh = np.asarray(qh)
        te = self.test_error(*q)[0]
        q_se, te_se = self._stderr(q, alpha, np.asarray(per))
        logZ = np.asarray(logZ)
        phi = float(np.sum(-0.5 * q * qh + 0.5 * (qh - np.log1p(qh))) + alpha * logZ.mean())
        phi_se = alpha * float(logZ.std()) / math.sqrt(logZ.size)
        return BayesSEPoint(alpha, *map(float, q), *map(float, qh), float(te), te_se,
                            *map(float, q_se), phi, phi_se, res, it, True, label)  # fmt: skip
