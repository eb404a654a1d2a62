r"""Replica-symmetric fixed point of L2-regularised ERM on generalised SLR.

Order parameters per side :math:`a \in \{k, v\}`: :math:`(m_a, q_a, V_a)` and their conjugates
:math:`(\hat m_a, \hat q_a, \hat V_a)`. Prior side (penalty :math:`r`):

.. math:: V_a = \frac{1}{r + \hat V_a}, \qquad m_a = \hat m_a V_a, \qquad
    q_a = (\hat m_a^2 + \hat q_a) V_a^2.

Channel side: an effective example :math:`(L, \epsilon^*, \chi^*, z^*, y)` drawn exactly from
the model with :math:`|k^*|^2 = |v^*|^2 = D`, cavity means :math:`\omega^k = m_k\chi^* +
\sqrt{q_k - m_k^2}\,g`, :math:`\omega^v = m_v z^* + \sqrt{q_v - m_v^2}\,g'`, the proximal
problem of :mod:`attnlab.gslr._prox`, and

.. math::

    \hat q_a = \alpha E\Big[\sum_\ell (f^a_\ell)^2\Big], \quad
    \hat V_a = \frac{\alpha}{V_a} E\Big[\sum_\ell \big(1 - [(I + \mathbf V H)^{-1}]_{a_\ell
    a_\ell}\big)\Big], \quad
    \hat m_a = \alpha E\Big[\sum_\ell f^a_\ell t_\ell\Big] + m_a \hat V_a

(:math:`t = \chi^*` or :math:`z^*`). The last is the Stein form of :math:`\hat m_a = \alpha
E[\sum_\ell f^a_\ell(t_\ell - (m_a/q_a)\omega^a_\ell)]/(1 - m_a^2/q_a)`: integrating
:math:`g` by parts, :math:`E[f g] = \sqrt{q - m^2}\,E[\partial f/\partial\omega] =
-\sqrt{q - m^2}\,\hat V/\alpha`; it is finite at :math:`q_a = m_a^2` and has a smaller
Monte-Carlo variance. Test error: the population risk at :math:`(m_k, q_k, m_v, q_v)`
(:class:`attnlab.gslr.Population`); predicted training objective :math:`R/N = E[\text{loss at
the prox}] + r(q_k + q_v)/(2\alpha)`, used to keep the lower of two branches (ERM's global
minimum has the lower objective).

Solver (one compiled ``lax.while_loop`` per fixed point): damped iteration :math:`x \leftarrow
(1 - \eta)x + \eta F(x)` on the six order parameters, the expectations by Monte-Carlo over
``n_mc`` effective examples with common random numbers (the same draws at every iteration, so
:math:`F` is deterministic and the iteration can be run to a tight tolerance). Each iteration
refines the previous prox points by a few Newton steps; every ``confirm_every`` iterations, and
always before convergence is declared, a full multi-start pass confirms the global prox.
A fast pass that leaves some example off a strict local minimum of its prox (its Hessian not
positive definite, as happens next to a fold of the prox, where the statistics of that example
blow up) is discarded and the same point is evaluated by a full pass. Converged: the relative
change of the six order parameters is below ``tol``, the largest prox gradient component below
``prox_tol`` on a full pass, every value finite and every prox Hessian positive definite.
:math:`\eta` shrinks (by 0.7, down to 0.1) when the residual grows. A point that does not
converge within ``max_iter`` iterations is reported as such (with the reason), never as a
number; so is a point where confirming full passes undo what the fast passes converged to
four times in a row, none by less than half as much as the one before (a cycle, where a
settling would shrink): an effective example switches between two prox minima there, the
Monte-Carlo map is discontinuous and has no fixed point at ``tol`` (``docs/findings.md``,
"Replica solver").
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

import numpy as np
from pydantic import Field

from attnlab import progress
from attnlab._jax import flat_draw, jax, jnp
from attnlab._threads import lapack_program
from attnlab._validate import ParameterError, check_range
from attnlab.config import Params
from attnlab.gslr._activations import Activation, activation_label, resolve_activation
from attnlab.gslr._fixed_point import STRATEGIES, iterate
from attnlab.gslr._model import GSLRModel
from attnlab.gslr._population import Population
from attnlab.gslr._sampler import _fields
from attnlab.gslr._stability import Replicon, replicon
from attnlab.gslr._types import Overlaps
from attnlab.precision import uses_jax
from attnlab.rng import as_key_batch, stream

__all__ = [
    "ORDER",
    "ReplicaNotConverged",
    "ReplicaOptions",
    "ReplicaPoint",
    "ReplicaSolver",
    "replica_fixed_point",
]

ORDER = ("m_k", "q_k", "V_k", "m_v", "q_v", "V_v")
REASONS = {
    0: "running",
    1: "converged",
    2: "a non-finite order parameter or objective",
    3: "iteration cap reached",
    4: (
        "caught between prox minima: full passes repeatedly undid what the iteration converged "
        "to (the Monte-Carlo map is discontinuous here, some effective example switching prox "
        "minimum; another key or n_mc moves the discontinuity)"
    ),
}


class ReplicaNotConverged(RuntimeError):
    """The damped fixed-point iteration did not converge (no test error is returned)."""


class ReplicaOptions(Params):
    """Options of the replica fixed-point solver.

    Parameters
    ----------
    n_mc : int
        Effective examples (Monte-Carlo, common random numbers).
    n_newton : int
        Newton steps per start in a full (multi-start) prox pass, and as many again from the
        best start.
    fast_newton : int
        Newton steps from the previous prox point in a fast pass, and as many again.
    tol : float
        On the relative change of the six order parameters.
    prox_tol : float
        On the largest prox gradient component (full pass).
    max_iter : int
        Iteration cap.
    damping : float
        Initial :math:`\\eta`.
    confirm_every : int
        A full prox pass every this many iterations.
    anderson : int
        Memory of the Anderson acceleration of the damped iteration (0: plain damping). With
        acceleration, a point that does not converge is retried with Anderson steps from the
        start, then with damping alone, each within ``max_iter`` iterations.
    r_continuation : float
        A named (cold) start at a penalty :math:`r` below this value is reached by continuation
        in :math:`r`: fixed points at :math:`r_0` = ``r_continuation``, then
        :math:`r_{j+1} = 0.6 r_j` down to :math:`r` (the last step jumps to :math:`r`, also
        from :math:`10^{-3} r_0` to :math:`r = 0`), each started from the previous one (weak
        regularisation is where a cold start wanders off; 0: off).
    """

    n_mc: int = Field(4000, ge=100, le=10**7, description="Monte-Carlo effective examples")
    n_newton: int = Field(6, ge=1, le=200, description="Newton steps per start (full pass)")
    fast_newton: int = Field(1, ge=1, le=200, description="Newton steps per start (fast pass)")
    tol: float = Field(1e-4, gt=0, le=0.1, description="relative change of the order parameters")
    prox_tol: float = Field(1e-6, gt=0, le=1e-2, description="prox stationarity")
    max_iter: int = Field(1000, ge=1, le=10**5, description="iteration cap")
    damping: float = Field(0.5, gt=0, le=1, description="initial damping η")
    confirm_every: int = Field(25, ge=1, le=10**5, description="full prox pass every N iterations")
    anderson: int = Field(5, ge=0, le=20, description="Anderson acceleration memory (0: off)")
    r_continuation: float = Field(
        0.0, ge=0, le=1e6, description="cold starts below this r go by continuation in r (0: off)"
    )


@dataclass(frozen=True)
class ReplicaPoint:
    """A fixed point of the replica equations and its convergence report.

    ``test_error`` and ``train_objective`` are NaN when ``converged`` is False; ``reason``
    then says why.
    """

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
    prox_residual: float
    n_iter: int
    start: str
    converged: bool
    reason: str

    def state(self) -> np.ndarray:
        """The six order parameters, in the order of :data:`ORDER`."""
        return np.array([getattr(self, n) for n in ORDER])

    @property
    def overlaps(self) -> Overlaps:
        """:math:`(m_k, q_k, m_v, q_v)`."""
        return Overlaps(self.m_k, self.q_k, self.m_v, self.q_v)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (for tables)."""
        return asdict(self)


class ReplicaSolver:
    """Replica fixed points of one (model, activation), for any :math:`(\\alpha, r)`.

    The effective examples are drawn once from ``key`` (common random numbers for every
    iteration, :math:`\\alpha` and :math:`r`).

    Parameters
    ----------
    model : GSLRModel
    activation : str or callable
    key : jax key
        Randomness of the Monte-Carlo effective examples.
    options : ReplicaOptions, optional
    population : Population, optional
        Evaluator of the test error (built from ``key`` when needed, or shared).
    """

    @uses_jax
    def __init__(
        self,
        model: GSLRModel,
        activation: str | Activation,
        key: Any,
        *,
        options: ReplicaOptions | None = None,
        population: Population | None = None,
    ) -> None:
        self.model = model
        self.sigma = resolve_activation(activation)
        self.activation = activation_label(activation)
        self.options = options or ReplicaOptions()
        keys, single = as_key_batch(key)
        if not single:
            raise ParameterError("ReplicaSolver takes one key, not an array of keys")
        self._key = keys[0]
        n = self.options.n_mc
        f = _fields(model, stream(self._key, "replica-fields"), n)
        shape = f.chi_star.shape
        zs = flat_draw(jax.random.normal, stream(self._key, "replica-zstar"), shape) * f.mask
        y = jnp.take_along_axis(zs, f.eps[:, None], axis=1)[:, 0]
        noise = jax.random.normal(stream(self._key, "replica-noise"), (n,))
        self._samples = (
            y + math.sqrt(model.delta) * noise,
            f.chi_star,
            zs,
            flat_draw(jax.random.normal, stream(self._key, "replica-g"), shape),
            flat_draw(jax.random.normal, stream(self._key, "replica-gprime"), shape),
            f.mask,
        )
        self._chi = jnp.zeros(shape)
        self._chi_warm = False
        self._population = population

    @property
    def population(self) -> Population:
        """Evaluator of the test error (built on first use)."""
        if self._population is None:
            self._population = Population(self.model, key=stream(self._key, "population"))
        return self._population

    def initial_state(self, start: Literal["uninformed", "informed"]) -> np.ndarray:
        """``uninformed``: small overlaps, unit norms and variances; ``informed``: the Bayes
        point :math:`k = c_\\nu k^*`, :math:`v = v^*` (:math:`c_\\nu` capped at 5, at 1 for
        linear attention) with small variances.

        Parameters
        ----------
        start : {"uninformed", "informed"}

        Returns
        -------
        numpy.ndarray
            Shape (6,), in the order of :data:`ORDER`.
        """
        if start == "uninformed":
            return np.array([0.01, 1.0, 1.0, 0.01, 1.0, 1.0])
        if start != "informed":
            raise ParameterError(f"start = {start!r} is not one of 'uninformed', 'informed'")
        c = min(self.model.signal_scale, 5.0)
        if self.activation == "linear":
            c = min(c, 1.0)
        return np.array([c, c**2 + 0.01, 0.1, 1.0, 1.01, 0.1])

    @uses_jax
    def solve(
        self,
        *,
        alpha: float,
        r: float,
        start: str | ReplicaPoint = "uninformed",
        raise_on_failure: bool = True,
    ) -> ReplicaPoint:
        """Iterate to the fixed point at :math:`(\\alpha, r)` (module docstring).

        Parameters
        ----------
        alpha : float
            Sample ratio :math:`N/D > 0`.
        r : float
            Penalty :math:`r \\ge 0`.
        start : {"uninformed", "informed"} or ReplicaPoint
            A named start, or a previous point (warm start, e.g. along an :math:`\\alpha` grid).
            A named start at :math:`r` below ``options.r_continuation`` goes by continuation
            in :math:`r` (:class:`ReplicaOptions`).
        raise_on_failure : bool
            Raise :class:`ReplicaNotConverged` (default), or return the point flagged
            ``converged=False`` with NaN test error.

        Returns
        -------
        ReplicaPoint
        """
        alpha = check_range("alpha", alpha, lo=0, hi=1e9, lo_open=True)
        r = check_range("r", r, lo=0, hi=1e12)
        if not isinstance(start, ReplicaPoint) and r < self.options.r_continuation:
            return self._continued(alpha, r, str(start), raise_on_failure)
        return self._solve(alpha, r, start, raise_on_failure)

    def _continued(
        self, alpha: float, r: float, start: str, raise_on_failure: bool
    ) -> ReplicaPoint:
        """Continuation in r from ``r_continuation`` down to ``r`` (``ReplicaOptions``); a
        failure on the path is the point's failure, its reason saying where."""
        point: str | ReplicaPoint = start
        r0 = self.options.r_continuation
        total, step_r = 0, r0
        while True:
            point = self._solve(alpha, step_r, point, False)
            total += point.n_iter
            if not point.converged or step_r <= r:
                break
            # geometric steps; the last jumps to r (also r = 0, from 1e-3 r0)
            step_r = 0.6 * step_r if 0.6 * step_r > max(r, 1e-3 * r0) else r
        point = replace(point, n_iter=total, start=start)
        if point.converged:
            return point
        reason = (
            f"{point.reason}; on the continuation path in r from {self.options.r_continuation:g}"
        )
        if raise_on_failure:
            raise ReplicaNotConverged(reason)
        return replace(point, r=r, reason=reason)

    def _solve(
        self, alpha: float, r: float, start: str | ReplicaPoint, raise_on_failure: bool
    ) -> ReplicaPoint:
        # the prox points are warm only after a converged solve of this solver (a fresh
        # solver starts with a full multi-start pass, even from a previous point)
        warm = isinstance(start, ReplicaPoint) and self._chi_warm
        if isinstance(start, ReplicaPoint):
            label, x0 = start.start, start.state()
        else:
            label, x0 = str(start), self.initial_state(start)  # type: ignore[arg-type]
        o = self.options
        chi0 = jnp.asarray(self._chi, float)
        total = attempts = 0
        for anderson_start in STRATEGIES if o.anderson else (0.0,):
            opts = (o.tol, o.prox_tol, o.max_iter, o.damping, o.confirm_every, warm, anderson_start)
            with lapack_program():  # the Anderson step's solve; the prox's beyond 6 x 6
                s = jax.block_until_ready(
                    iterate(
                        self.sigma,
                        o.n_newton,
                        o.fast_newton,
                        max(o.anderson, 1),
                        jnp.asarray(x0, float),
                        chi0,
                        alpha,
                        r,
                        self._samples,
                        opts,
                    )
                )
            total, attempts = total + int(s.it), attempts + 1
            if int(s.status) in (1, 4):  # another strategy does not remove a discontinuity
                break
        status = int(s.status)
        x = np.asarray(s.x, dtype=float)
        if status == 1:
            self._chi, self._chi_warm = s.chi, True
        report = (float(s.residual), float(s.prox_res), total, label)
        if status != 1:
            where = f"{self.activation}, {self.model.label()}, α={alpha:g}, r={r:g}, start={label}"
            reason = (
                f"replica fixed point did not converge ({where}): {REASONS[status]} after "
                f"{int(s.it)} iterations ({attempts} strateg{'y' if attempts == 1 else 'ies'}, "
                f"{total} iterations in all; "
                f"residual {float(s.residual):.2e}, tol {o.tol:g}; "
                f"prox residual {float(s.prox_res):.1e}, tol {o.prox_tol:g})"
            )
            if raise_on_failure:
                raise ReplicaNotConverged(reason)
            return ReplicaPoint(alpha, r, *x, math.nan, math.nan, math.nan, *report, False, reason)
        te = self.population.risk(
            self.sigma, Overlaps(x[0], max(x[1], x[0] ** 2), x[3], max(x[4], x[3] ** 2))
        )
        train = float(s.loss) + r * (x[1] + x[4]) / (2 * alpha)
        return ReplicaPoint(alpha, r, *x, te.value, te.stderr, train, *report, True, "converged")

    @uses_jax
    def replicon(self, point: ReplicaPoint) -> Replicon:
        """Local stability of a converged fixed point against replica-symmetry breaking: the
        replicon eigenvalue :math:`\\lambda_{\\rm R}` (stable below 1) on the same effective
        examples (:mod:`attnlab.gslr._stability`). The point is first re-solved from itself,
        which restores its prox points (a few iterations), and the replicon is evaluated there.
        Where that re-solve does not converge (a solver's cold prox points can settle in other
        prox minima at weak regularisation), the point is reached again from its named start
        (by continuation in r where set) and used if it is the same point (1 % relative).

        Parameters
        ----------
        point : ReplicaPoint
            A converged point of this solver.

        Returns
        -------
        Replicon
        """
        if not point.converged:
            raise ParameterError(f"replicon: the point at α={point.alpha:g} did not converge")
        point = self._restore(point)
        return replicon(
            self.sigma,
            point.state(),
            point.alpha,
            self._samples,
            self._chi,
            n_newton=4 * self.options.n_newton,
            prox_tol=self.options.prox_tol,
        )

    def _restore(self, point: ReplicaPoint) -> ReplicaPoint:
        """``point`` re-solved by this solver, its prox points in ``self._chi`` (see
        :meth:`replicon`); raises :class:`ReplicaNotConverged` when neither way gets back."""
        again = self.solve(alpha=point.alpha, r=point.r, start=point, raise_on_failure=False)
        if again.converged:
            return again
        why = f"no named start ({point.start!r})"
        if point.start in ("uninformed", "informed"):
            again = self.solve(
                alpha=point.alpha, r=point.r, start=point.start, raise_on_failure=False
            )
            if again.converged and np.allclose(again.state(), point.state(), rtol=1e-2, atol=1e-4):
                return again
            why = again.reason if not again.converged else "it reached another fixed point"
        raise ReplicaNotConverged(
            f"replicon: the point at α={point.alpha:g}, r={point.r:g} could not be re-solved "
            f"from itself, nor from its start: {why}"
        )

    def solve_both(
        self, *, alpha: float, r: float, warm: dict[str, ReplicaPoint] | None = None
    ) -> tuple[dict[str, ReplicaPoint], ReplicaPoint | None]:
        """The uninformed and informed branches (each optionally warm-started) and the one ERM
        would reach as its global minimum: the lower predicted training objective.

        Parameters
        ----------
        alpha, r : float
        warm : dict, optional
            ``{"uninformed": point, "informed": point}`` warm starts.

        Returns
        -------
        points : dict
            ``{"uninformed": ReplicaPoint, "informed": ReplicaPoint}``.
        kept : ReplicaPoint or None
            None when neither converged.
        """
        warm = warm or {}
        out = {}
        for branch in ("uninformed", "informed"):
            start = warm.get(branch, branch)
            p = self.solve(alpha=alpha, r=r, start=start, raise_on_failure=False)
            out[branch] = ReplicaPoint(**{**p.to_dict(), "start": branch})
        conv = [p for p in out.values() if p.converged]
        kept = min(conv, key=lambda p: p.train_objective) if conv else None
        return out, kept

    def curve(self, alphas: Any, *, r: float) -> list[dict[str, Any]]:
        """Both branches along increasing :math:`\\alpha` by continuation (each branch
        warm-started from its point at the previous :math:`\\alpha` when that converged, else
        from its named start); progress reported per point.

        Parameters
        ----------
        alphas : sequence of float
        r : float

        Returns
        -------
        list of dict
            One row per (:math:`\\alpha`, branch): the :class:`ReplicaPoint` fields, ``branch``
            and ``kept`` (the branch with the lower training objective).
        """
        rows: list[dict[str, Any]] = []
        warm: dict[str, ReplicaPoint] = {}
        grid = sorted(float(a) for a in np.asarray(alphas, dtype=float).ravel())
        with progress.track(f"replica {self.activation}, {self.model.label()}", len(grid)) as bar:
            for a in grid:
                points, kept = self.solve_both(alpha=a, r=r, warm=warm)
                for branch, p in points.items():
                    # warm starts from the previous α only: past a failure a cold start (by
                    # continuation in r where set) is nearer than a point further back
                    if p.converged:
                        warm[branch] = p
                    else:
                        warm.pop(branch, None)
                    rows.append({**p.to_dict(), "branch": branch, "kept": p is kept})
                bar.advance(1)
        return rows


@uses_jax
def replica_fixed_point(
    model: GSLRModel,
    activation: str | Activation,
    key: Any,
    *,
    alpha: float,
    r: float,
    start: str = "uninformed",
    options: ReplicaOptions | None = None,
) -> ReplicaPoint:
    """The replica-symmetric fixed point at one :math:`(\\alpha, r)`: a one-off
    :class:`ReplicaSolver` and its :meth:`~ReplicaSolver.solve`.

    Parameters
    ----------
    model, activation, key, options
        As for :class:`ReplicaSolver`.
    alpha, r, start
        As for :meth:`ReplicaSolver.solve`.

    Returns
    -------
    ReplicaPoint
        Raises :class:`ReplicaNotConverged` if the iteration does not converge.
    """
    solver = ReplicaSolver(model, activation, key, options=options)
    return solver.solve(alpha=alpha, r=r, start=start)
