r"""Finite-size tolerances of the pooling comparisons, built from :mod:`attnlab.compare`'s rules.

A simulated mean over ``T`` trials is compared with the ``d → ∞`` theory. Its tolerance adds

- the Monte-Carlo error: the Student-t half-width at confidence 0.998 over the trials
  (:func:`attnlab.compare.student_t`; ``t_{T−1}(0.999) sd/√T``, so a correct theory fails a
  row by chance with probability ≈ 0.2 %);
- near a transition, the variation of the theory curve over the BBP critical window
  ``|s′ − s| ≤ s_c d^{−1/3}`` around the point's effective spike (at finite ``d`` a transition
  at ``s_c`` is smeared over ``O(d^{−1/3})``: the scaling is known, the constant 1 is our
  choice, so this term is a :func:`~attnlab.compare.heuristic`);
- away from it, an ``O(1/d)`` relative bias ``2(2/V + 1/N)`` times the value (centring and the
  finite vocabulary; heuristic constant);
- for eigenvalue rows at or below the transition, ``3 λ_edge d^{−2/3}`` (the Tracy–Widom scale
  of the top eigenvalue at a soft edge; heuristic constant);
- for overlap rows below the window, the sub-critical leakage ``d^{−1/3} min(1, 2/x²)`` with
  ``x = (s_c − s)/(s_c d^{−1/3})`` the distance below the transition in window widths: below
  ``s_c`` the top eigenvector still picks up a near-critical overlap ``O(d^{−1/3})`` that
  decays as ``x^{−2}``, i.e. ``O(s_c²/(d (s_c − s)²))`` (measured at ``ρ = 1``,
  ``δ = γ = 0.5``: ``⟨û, μ̂⟩² = 0.045, 0.027, 0.010`` at ``s = 1``, ``s* = 1.28`` for
  ``d = 400, 800, 1600``, and ``0.018, 0.006, 0.003`` at ``s = 0.6``; heuristic constants).

Rows that cannot be computed (a Lanczos run that did not converge in some trial) become
:class:`~attnlab.compare.Dropped` rows instead of comparisons.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from attnlab.compare import Comparison, Dropped, Result, Tolerance, heuristic, student_t
from attnlab.pooling._bulk import mp_product_edges
from attnlab.pooling._model import PoolingModel
from attnlab.pooling._spike import s_star

__all__ = [
    "OVERLAP_MAX_TOLERANCE",
    "RowSet",
    "curve_rows",
    "spike_rows",
    "edge_allowance",
    "eigenvalue_max_tolerance",
    "finite_size_bias",
    "near_transition",
    "subcritical_leakage",
    "trial_error",
    "window_allowance",
]

CONFIDENCE = 0.998

OVERLAP_MAX_TOLERANCE = 0.25
"""Largest informative tolerance of a squared overlap: a quarter of its range [0, 1] (a larger
one cannot tell partial alignment from none)."""


def eigenvalue_max_tolerance(theory: float, edge: float) -> float:
    """Largest informative tolerance of a top-eigenvalue row: 10 % of the predicted value, and
    at least of the bulk edge (a larger one could not tell the edge from an outlier detached by
    10 %).

    Parameters
    ----------
    theory : float
        The predicted top eigenvalue.
    edge : float
        The bulk edge it is compared against.

    Returns
    -------
    float
    """
    return 0.1 * max(abs(float(theory)), abs(float(edge)))


def trial_error(samples: Any, what: str = "trials") -> tuple[float, float, Tolerance]:
    """Mean, sample sd and Student-t (0.998) half-width of ``samples`` over trials.

    Parameters
    ----------
    samples : array_like
        One value per trial (at least 2).
    what : str
        What a sample is, for the note.

    Returns
    -------
    mean, sd : float
    tolerance : Tolerance
    """
    x = np.asarray(samples, dtype=float).ravel()
    return float(x.mean()), float(x.std(ddof=1)), student_t(x, confidence=CONFIDENCE, what=what)


def _spike(ell: float, delta: float, rho: float) -> float:
    return rho * (ell + delta) - delta


def near_transition(ell: float, *, delta: float, rho: float, s_crit: float, d: int) -> bool:
    """Whether the effective spike ``s(ℓ)`` is at most ``s_c (1 + d^{−1/3})`` (at or below
    the transition, within its critical window).

    Parameters
    ----------
    ell, delta, rho : float
        The point and the ``s = ρ(ℓ + δ) − δ`` map.
    s_crit : float
        The transition (``√δ`` or ``s*``).
    d : int
        Dimension.

    Returns
    -------
    bool
    """
    return _spike(ell, delta, rho) <= float(s_crit) * (1 + d ** (-1.0 / 3.0))


def window_allowance(
    curve: Callable[[np.ndarray], np.ndarray],
    ell: float,
    *,
    delta: float,
    rho: float,
    s_crit: float,
    d: int,
) -> Tolerance | None:
    """``max |f(ℓ′) − f(ℓ)|`` over the BBP window ``|s′ − s| ≤ s_c d^{−1/3}``, when the window
    contains the transition ``s_c``; ``None`` otherwise (the curve is smooth there).

    Parameters
    ----------
    curve : callable
        The theory ``f(ℓ)`` (vectorised).
    ell, delta, rho : float
        The point and the ``s = ρ(ℓ + δ) − δ`` map.
    s_crit : float
        The transition.
    d : int
        Dimension.

    Returns
    -------
    Tolerance or None
    """
    width = float(s_crit) * d ** (-1.0 / 3.0)
    s = _spike(ell, delta, rho)
    if abs(s - float(s_crit)) > width:
        return None
    s_grid = s + np.linspace(-width, width, 21)
    ell_grid = np.maximum((s_grid + delta) / rho - delta, 0.0)
    value = float(np.max(np.abs(curve(ell_grid) - curve(np.array(ell)))))
    return heuristic(value, "theory variation over the BBP window s_c d^(-1/3)")


def finite_size_bias(value: float, *, V: int, N: int) -> Tolerance:
    """``2(2/V + 1/N) |value|``: the ``O(1/d)`` relative bias away from a transition.

    Parameters
    ----------
    value : float
        The theory value.
    V, N : int
        Vocabulary size and number of sequences.

    Returns
    -------
    Tolerance
    """
    return heuristic(2 * (2 / V + 1 / N) * abs(float(value)), "2(2/V + 1/N) relative bias")


def subcritical_leakage(s: float, s_crit: float, d: int) -> Tolerance:
    """``d^{−1/3} min(1, 2/x²)``, ``x = (s_c − s)/(s_c d^{−1/3})``: the overlap the top
    eigenvector keeps below a transition (module docstring).

    Parameters
    ----------
    s, s_crit : float
        Effective spike and transition, ``s < s_crit``.
    d : int

    Returns
    -------
    Tolerance
    """
    scale = d ** (-1.0 / 3.0)
    x = (float(s_crit) - float(s)) / (float(s_crit) * scale)
    value = scale * min(1.0, 2.0 / x**2)
    return heuristic(value, "d^(-1/3) min(1, 2/x²) sub-critical overlap, x in window widths")


def edge_allowance(edge: float, d: int) -> Tolerance:
    """``3 λ_edge d^{−2/3}``: Tracy–Widom scale of the top eigenvalue at a soft edge.

    Parameters
    ----------
    edge : float
    d : int

    Returns
    -------
    Tolerance
    """
    return heuristic(3 * float(edge) * d ** (-2.0 / 3.0), "3 λ_edge d^(-2/3) (Tracy-Widom scale)")


def curve_rows(
    quantity: str,
    samples: np.ndarray,
    ells: np.ndarray,
    curve: Callable[[np.ndarray], np.ndarray],
    *,
    s_crit: float,
    delta: float,
    rho: float,
    d: int,
    V: int,
    N: int,
    max_tolerance: Callable[[float], float],
    edge: float | None = None,
    overlap: bool = False,
    where: str = "",
) -> tuple[list[Comparison], list[Dropped]]:
    """One comparison per ``ℓ`` of a simulated curve (trials × ``ℓ``) against the theory.

    Parameters
    ----------
    quantity : str
        Row name (``"λ̂/κ"``, ``"⟨û, μ̂⟩²"``...).
    samples : numpy.ndarray, shape (trials, len(ells))
        NaN where a trial's eigensolver did not converge (the row is then dropped).
    ells : numpy.ndarray
    curve : callable
        Theory ``f(ℓ)``.
    s_crit, delta, rho, d, V, N
        Transition, ``s``-map and sizes (module docstring).
    max_tolerance : callable
        ``theory -> largest informative tolerance``.
    edge : float, optional
        Bulk edge: eigenvalue rows at or below the transition add :func:`edge_allowance`.
    overlap : bool
        Overlap rows below the window add :func:`subcritical_leakage`.
    where : str
        Prefix of each row's ``where`` (``ℓ=…`` is appended).

    Returns
    -------
    comparisons : list of Comparison
    dropped : list of Dropped
    """
    rows, dropped = [], []
    for j, ell in enumerate(ells):
        at = f"{where}, ℓ={ell:g}" if where else f"ℓ={ell:g}"
        column = samples[:, j]
        if np.isnan(column).any():
            missing = int(np.isnan(column).sum())
            dropped.append(
                Dropped(quantity, at, f"eigensolver did not converge in {missing} trial(s)")
            )
            continue
        theory = float(curve(np.array(ell)))
        mean, sd, tol = trial_error(column)
        window = window_allowance(curve, ell, delta=delta, rho=rho, s_crit=s_crit, d=d)
        tol = tol + (window if window is not None else finite_size_bias(theory, V=V, N=N))
        s = _spike(ell, delta, rho)
        if overlap and window is None and s < s_crit:
            tol = tol + subcritical_leakage(s, s_crit, d)
        if edge is not None and near_transition(ell, delta=delta, rho=rho, s_crit=s_crit, d=d):
            tol = tol + edge_allowance(edge, d)
        rows.append(
            Comparison(
                quantity,
                theory,
                mean,
                tol,
                max_tolerance=max_tolerance(theory),
                where=at,
                simulation_sd=sd,
            )
        )
    return rows, dropped


@dataclass
class RowSet:
    """Comparison rows and dropped rows, accumulated with ``+=``."""

    comparisons: list[Comparison] = field(default_factory=list)
    dropped: list[Dropped] = field(default_factory=list)

    def __iadd__(self, other: tuple[list[Comparison], list[Dropped]] | RowSet) -> RowSet:
        rows, dropped = (other.comparisons, other.dropped) if isinstance(other, RowSet) else other
        self.comparisons += rows
        self.dropped += dropped
        return self

    def result(self, table: Any, summary: dict[str, Any], seeds: list[int]) -> Result:
        """The run's :class:`~attnlab.compare.Result` with these rows."""
        return Result(table, summary, self.comparisons, seeds, self.dropped)


def _transition(model: PoolingModel, population: bool) -> tuple[float, float]:
    """``(s_c, edge)``: ``(√δ, (1 + √δ)²)`` for the population level, ``(s*, λ₊)`` else."""
    de, ga = model.realised_delta, model.realised_gamma
    if population:
        return float(np.sqrt(de)), float((1 + np.sqrt(de)) ** 2)
    return float(s_star(de, ga)), float(mp_product_edges(de, ga)[1])


def spike_rows(
    quantity: str,
    samples: np.ndarray,
    ells: Any,
    curve: Callable[[np.ndarray], np.ndarray],
    *,
    model: PoolingModel,
    rho: float,
    eigenvalue: bool = False,
    population: bool = False,
    where: str = "",
) -> RowSet:
    """:func:`curve_rows` for a quantity of the model's top eigenpair vs ℓ.

    Parameters
    ----------
    quantity, samples, ells, curve, where
        As in :func:`curve_rows`.
    model : PoolingModel
        Sizes and realised ``δ``, ``γ``.
    rho : float
        ``ρ`` of the weights.
    eigenvalue : bool
        The top eigenvalue in units of κ (edge allowance, :func:`eigenvalue_max_tolerance`);
        otherwise a squared overlap (sub-critical leakage, :data:`OVERLAP_MAX_TOLERANCE`).
    population : bool
        Population level (transition ``√δ``, edge ``(1 + √δ)²``) instead of the sample level
        (``s*``, ``λ₊``).

    Returns
    -------
    RowSet
    """
    s_crit, edge = _transition(model, population)
    if eigenvalue:
        options = {"edge": edge, "max_tolerance": lambda t: eigenvalue_max_tolerance(t, edge)}
    else:
        options = {"overlap": True, "max_tolerance": lambda t: OVERLAP_MAX_TOLERANCE}
    rows, dropped = curve_rows(
        quantity, samples, np.asarray(ells, float), curve, s_crit=s_crit,
        delta=model.realised_delta, rho=rho, d=model.d, V=model.V, N=model.N, where=where,
        **options,
    )  # fmt: skip
    return RowSet(rows, dropped)
