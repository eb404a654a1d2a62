r"""Bayes-optimal test error along :math:`\alpha`, branch selection and recovery thresholds.

:func:`bayes_se_curve` solves the state evolution (:class:`~attnlab.gslr._bayes_se.
BayesStateEvolution`) from an uninformed start (:math:`q = 0`, continued along increasing
:math:`\alpha` from the previous fixed point) and from an informed start (:math:`q = 1`). When
the two fixed points differ the Bayes-optimal one is the one of larger free entropy
:math:`\Phi`; the uninformed one is what GAMP reaches from a random start.

Thresholds (:func:`recovery_thresholds`):

* weak recovery: :math:`q = 0` is a fixed point only if :math:`\hat q(q=0) = 0`. At
  :math:`q = 0` (:math:`\omega = 0`, :math:`V = I`) every position is equally likely and
  :math:`g_{z\ell} = y/(L(1+\Delta))`, so :math:`\hat q_v(0) = \alpha\,\mathbb E[1/L]/(1+\Delta)
  > 0`; spiked-SLR also has :math:`\hat q_k(0) = \alpha\nu\,\mathbb E[1/L]` (the mean token
  carries :math:`\sqrt\nu k^*`). Hence there is no weak-recovery threshold: the threshold is
  :math:`\alpha_{\rm WR} = 0` (for max-SLR :math:`q_k` grows like :math:`\alpha^2`, fed by
  :math:`q_v`).
* perfect recovery of :math:`v^*` at :math:`\Delta = 0`: near :math:`q_v = 1` the position
  posterior is one-hot on :math:`\varepsilon^*` and :math:`\hat q_v \approx \alpha/(1-q_v)`, so
  :math:`1 - q_v \mapsto (1-q_v)/\alpha`: the perfect fixed point is stable for
  :math:`\alpha > 1`, and its free entropy is infinite (noise-free labels), so
  :math:`\alpha_{\rm IT} = 1` (also by counting: :math:`N > D` noise-free equations fix
  :math:`v^*` for every assignment of positions almost surely). The uninformed branch reaches
  it only at :math:`\alpha_{\rm alg} \ge 1` (found by bisection): between the two lies a
  computationally hard phase.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from attnlab._validate import ParameterError, check_range
from attnlab.gslr._bayes_se import BayesSEOptions, BayesSEPoint, BayesStateEvolution
from attnlab.gslr._model import GSLRModel
from attnlab.precision import uses_jax

__all__ = [
    "RecoveryThresholds",
    "bayes_optimal_curve",
    "bayes_se_curve",
    "recovery_thresholds",
]

SAME_BRANCH = 1e-6  # fixed points closer than this (max |dq|) are the same branch
PERFECT = 1e-6  # q_v > 1 - PERFECT counts as perfect recovery


def _alphas(alphas: Any) -> np.ndarray:
    a = np.asarray(alphas, dtype=float).ravel()
    if a.size == 0:
        raise ParameterError("alphas = []: give at least one alpha in (0, inf)")
    for x in a:
        check_range("alpha", x, lo=0, hi=math.inf, lo_open=True, hi_open=True)
    return a


def _kept(points: dict[str, BayesSEPoint]) -> str | None:
    """The branch of largest free entropy among converged points (uninformed on a tie)."""
    conv = {b: p for b, p in points.items() if p.converged}
    if not conv:
        return None
    if len(conv) == 2:
        u, i = conv["uninformed"], conv["informed"]
        if max(abs(u.q_k - i.q_k), abs(u.q_v - i.q_v)) < SAME_BRANCH:
            return "uninformed"
        return "informed" if i.free_entropy > u.free_entropy else "uninformed"
    return next(iter(conv))


def bayes_se_curve(
    se: BayesStateEvolution,
    alphas: Any,
    *,
    branches: tuple[str, ...] = ("uninformed", "informed"),
) -> list[dict[str, Any]]:
    r"""Fixed points along ``alphas`` (sorted) from each start, and the Bayes-optimal branch.

    Parameters
    ----------
    se : BayesStateEvolution
    alphas : array_like
        Sample ratios, each in :math:`(0, \infty)`.
    branches : tuple of {"uninformed", "informed"}
        Starts to solve; the uninformed branch is warm-started from its previous fixed point.

    Returns
    -------
    list of dict
        One row per ``(alpha, branch)``: the fields of :class:`BayesSEPoint` plus ``branch``
        and ``kept`` (the branch of larger free entropy; NaN test errors where the iteration
        hit its cap, with ``converged = False``).
    """
    rows = []
    warm = None
    for a in np.sort(_alphas(alphas)):
        pts = {}
        for b in branches:
            start = warm if (b == "uninformed" and warm is not None) else b
            pts[b] = se.solve(float(a), start=start, raise_on_failure=False)
            if b == "uninformed" and pts[b].converged:
                warm = np.array([pts[b].q_k, pts[b].q_v])
        kept = _kept(pts)
        for b, p in pts.items():
            rows.append({**p.to_dict(), "start": b, "branch": b, "kept": b == kept})
    return rows


@uses_jax
def bayes_optimal_curve(
    model: GSLRModel,
    alphas: Any,
    *,
    key: Any,
    options: BayesSEOptions | None = None,
) -> np.ndarray:
    r"""Bayes-optimal test error :math:`\mathcal E_{\rm Bayes}(\alpha) = \Delta + 1 -
    q_v S(q_k)` at each ``alpha``.

    The state evolution is solved from both starts and the branch of larger free entropy kept
    (module docstring). For drawing the information-theoretic floor beside ERM curves.

    Parameters
    ----------
    model : GSLRModel
        Spiked-SLR, or max-SLR with :math:`0 < \nu < \infty`.
    alphas : array_like
        Sample ratios, each in :math:`(0, \infty)`.
    key : jax key
        Randomness of the Monte-Carlo effective examples.
    options : BayesSEOptions, optional

    Returns
    -------
    numpy.ndarray
        Test errors in the order of ``alphas`` (NaN where no branch converged).
    """
    a = _alphas(alphas)
    se = BayesStateEvolution(model, key=key, options=options)
    rows = [r for r in bayes_se_curve(se, a) if r["kept"]]
    by_alpha = {r["alpha"]: r["test_error"] for r in rows}
    return np.array([by_alpha.get(float(x), math.nan) for x in a])


@dataclass(frozen=True)
class RecoveryThresholds:
    r"""Recovery thresholds of the state evolution (module docstring).

    Attributes
    ----------
    weak : float
        :math:`\alpha_{\rm WR}` (0: the uninformed point :math:`q = 0` is never a fixed point).
    qhat_at_zero : tuple of float
        :math:`\hat q(q = 0)/\alpha` for :math:`(k, v)`, measured on the state-evolution map.
    perfect_it, perfect_alg : float or None
        At :math:`\Delta = 0`: :math:`\alpha_{\rm IT} = 1` and the :math:`\alpha` where the
        uninformed branch reaches :math:`q_v = 1` (``None`` when :math:`\Delta > 0`, or when it
        is not reached below ``alpha_max``).
    note : str
    """

    weak: float
    qhat_at_zero: tuple[float, float]
    perfect_it: float | None
    perfect_alg: float | None
    note: str


def _perfect(point: BayesSEPoint) -> bool:
    return bool(point.converged and point.q_v > 1 - PERFECT)


def recovery_thresholds(
    se: BayesStateEvolution, *, alpha_max: float = 10.0, alpha_tol: float = 1e-2
) -> RecoveryThresholds:
    r"""Weak- and perfect-recovery thresholds of ``se``'s model (module docstring).

    Parameters
    ----------
    se : BayesStateEvolution
    alpha_max : float
        Upper end of the bisection for :math:`\alpha_{\rm alg}` (at :math:`\Delta = 0`).
    alpha_tol : float
        Bisection tolerance on :math:`\alpha_{\rm alg}`.

    Returns
    -------
    RecoveryThresholds
    """
    alpha_max = check_range("alpha_max", alpha_max, lo=1, lo_open=True, hi=1e6)
    alpha_tol = check_range("alpha_tol", alpha_tol, lo=0, lo_open=True)
    slope = se.hats(1.0, 0.0, 0.0)
    if np.all(slope <= 0):
        raise NotImplementedError("q = 0 is a fixed point here: its stability is not analysed")
    weak = 0.0
    note = (
        f"q = 0 is not a fixed point (qhat(0)/alpha = {slope[0]:.4g}, {slope[1]:.4g}): "
        "weak recovery at every alpha > 0"
    )
    if se.delta > 0:
        return RecoveryThresholds(weak, (float(slope[0]), float(slope[1])), None, None, note)
    lo, hi = 1.0, alpha_max
    low = se.solve(lo, start="uninformed", raise_on_failure=False)
    if not _perfect(se.solve(hi, start="uninformed", raise_on_failure=False)):
        note += f"; uninformed branch not perfect below alpha = {alpha_max:g}"
        return RecoveryThresholds(weak, (float(slope[0]), float(slope[1])), 1.0, None, note)
    while hi - lo > alpha_tol:
        mid = 0.5 * (lo + hi)
        # start below mid's uninformed fixed point: the monotone map climbs to that branch
        start = [low.q_k, low.q_v] if low.converged else "uninformed"
        p = se.solve(mid, start=start, raise_on_failure=False)
        if _perfect(p):
            hi = mid
        else:
            lo, low = mid, p
    note += f"; Delta = 0: alpha_IT = 1, uninformed branch perfect above {hi:.4g}"
    return RecoveryThresholds(weak, (float(slope[0]), float(slope[1])), 1.0, float(hi), note)
