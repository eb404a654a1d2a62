"""Theory against simulation: comparison rows, tolerance rules, and the result of a run.

Every experiment ends in a list of :class:`Comparison` rows: a quantity, its theoretical value,
its simulated value, and a tolerance derived from the finite-size or Monte-Carlo error of the
simulation (never chosen to make a row pass). A row's :attr:`~Comparison.status` is

- ``"pass"``           ``|simulation - theory| <= tolerance``;
- ``"fail"``           the difference exceeds the tolerance;
- ``"uninformative"``  the tolerance exceeds ``max_tolerance``, the largest tolerance at which
  the row still says something about its quantity (e.g. a tolerance as large as the quantity
  itself): the row is neither a pass nor a fail, and the run is not a pass;
- ``"invalid"``        theory, simulation or tolerance is NaN or infinite (a computation
  failed): a failure, with the cause.

The tolerance rules shared by every family build a :class:`Tolerance` (a value and the reason
for it) that adds up term by term::

    tol = standard_error(samples, z=4) + bound(0.02, "O(a_n) step-size bias")
    Comparison("mean |m|", theory, samples.mean(), tol, max_tolerance=0.1)

A :class:`Result` is what an experiment's run function returns: the tidy table, headline
numbers, the comparison rows, rows that could not be computed (:class:`Dropped`, e.g. a
theory solver that did not converge), and the seeds. Its :attr:`~Result.status` is
``"passed"`` only when there is at least one row, every row passes and nothing was dropped.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = [
    "ROW_STATUSES",
    "RUN_STATUSES",
    "Comparison",
    "Dropped",
    "Result",
    "Tolerance",
    "bound",
    "finite_or_none",
    "heuristic",
    "monte_carlo",
    "standard_error",
    "student_t",
]

ROW_STATUSES = ("pass", "fail", "uninformative", "invalid")
RUN_STATUSES = ("passed", "uninformative", "failed")


def finite_or_none(x: Any) -> float | None:
    """``float(x)`` when finite, else ``None`` (JSON has no NaN or infinity)."""
    if x is None:
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


# -- tolerances ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Tolerance:
    """A tolerance and the reason for it; tolerances add term by term (values and notes).

    Parameters
    ----------
    value : float
        The allowed ``|simulation - theory|``.
    note : str
        Where it comes from (finite-size error, Monte-Carlo error, a derived bound...).
    """

    value: float
    note: str

    def __add__(self, other: Tolerance | float) -> Tolerance:
        if isinstance(other, Tolerance):
            return Tolerance(self.value + other.value, f"{self.note} + {other.note}")
        if other == 0:
            return self
        return NotImplemented

    __radd__ = __add__

    def __mul__(self, factor: float) -> Tolerance:
        return Tolerance(self.value * float(factor), f"{float(factor):g} × ({self.note})")

    __rmul__ = __mul__


def _samples(samples: Any, what: str) -> np.ndarray:
    s = np.asarray(samples, dtype=float).ravel()
    if s.size < 2:
        raise ValueError(f"{what} needs at least 2 samples, got {s.size}")
    return s


def standard_error(samples: Any, *, z: float = 4.0, what: str = "seeds") -> Tolerance:
    """``z`` standard errors of the mean of ``samples``: ``z · sd(samples) / √n``.

    With ``z = 4`` a correct theory fails by chance with probability ≈ 6e-5 per row (normal
    approximation of the mean over independent replicates).
    """
    s = _samples(samples, "standard_error")
    value = z * s.std(ddof=1) / math.sqrt(s.size)
    return Tolerance(value, f"{z:g} SE over {s.size} {what}")


def student_t(samples: Any, *, confidence: float = 0.999, what: str = "seeds") -> Tolerance:
    """Half-width of the two-sided Student-t confidence interval of the mean of ``samples``:
    ``t_{(1+c)/2, n-1} · sd / √n`` (for few replicates, where the normal quantile is too small).
    """
    from scipy import stats

    s = _samples(samples, "student_t")
    q = float(stats.t.ppf(0.5 + confidence / 2, df=s.size - 1))
    value = q * s.std(ddof=1) / math.sqrt(s.size)
    return Tolerance(value, f"Student-t {confidence:g} half-width over {s.size} {what}")


def monte_carlo(se: float, *, z: float = 4.0, what: str = "Monte-Carlo") -> Tolerance:
    """``z`` times a known standard error ``se`` (e.g. of a Monte-Carlo theory estimate)."""
    return Tolerance(z * float(se), f"{z:g} {what} SE")


def bound(value: float, why: str) -> Tolerance:
    """A derived bound on a neglected term (finite-size correction, discretisation, ...)."""
    return Tolerance(float(value), why)


def heuristic(value: float, why: str) -> Tolerance:
    """An allowance that is *not* derived; the note says so, and the report shows it."""
    return Tolerance(float(value), f"heuristic: {why}")


# -- rows ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Comparison:
    """One theory-vs-simulation row.

    Parameters
    ----------
    quantity : str
        What is compared (Unicode math is fine: ``"⟨û, μ̂⟩²"``).
    theory, simulation : float
        The two values.
    tolerance : float or Tolerance
        The allowed difference; a :class:`Tolerance` also supplies the ``note``.
    max_tolerance : float
        The largest tolerance at which the row is still informative about its quantity; a
        larger tolerance makes the row ``"uninformative"``.
    where : str
        The parameter point (``"ℓ=2, δ=0.5"``).
    simulation_sd : float, optional
        Spread of the simulation over replicates.
    note : str
        Why the tolerance is what it is (taken from ``tolerance`` when that is a Tolerance).
    headline : bool
        A headline row of the experiment (flagged by the experiment's config).
    """

    quantity: str
    theory: float
    simulation: float
    tolerance: float | Tolerance
    max_tolerance: float = field(kw_only=True)
    where: str = field(default="", kw_only=True)
    simulation_sd: float | None = field(default=None, kw_only=True)
    note: str = field(default="", kw_only=True)
    headline: bool = field(default=False, kw_only=True)

    def __post_init__(self) -> None:
        tol = self.tolerance
        if isinstance(tol, Tolerance):
            object.__setattr__(self, "tolerance", float(tol.value))
            if not self.note:
                object.__setattr__(self, "note", tol.note)
        for name in ("theory", "simulation", "tolerance", "max_tolerance"):
            object.__setattr__(self, name, _as_float(getattr(self, name)))
        if self.simulation_sd is not None:
            object.__setattr__(self, "simulation_sd", _as_float(self.simulation_sd))

    @property
    def difference(self) -> float:
        """``simulation - theory``."""
        return float(self.simulation) - float(self.theory)

    @property
    def status(self) -> str:
        """``"pass"``, ``"fail"``, ``"uninformative"`` or ``"invalid"`` (module docstring)."""
        values = (self.theory, self.simulation, self.tolerance)
        if not all(math.isfinite(float(v)) for v in values) or float(self.tolerance) < 0:
            return "invalid"
        if float(self.tolerance) > float(self.max_tolerance):
            return "uninformative"
        return "pass" if abs(self.difference) <= float(self.tolerance) else "fail"

    @property
    def passed(self) -> bool:
        """True only for status ``"pass"``."""
        return self.status == "pass"

    @property
    def cause(self) -> str:
        """Why a row that is not a pass is not one ("" for a pass)."""
        status = self.status
        if status == "invalid":
            bad = [
                n
                for n in ("theory", "simulation", "tolerance")
                if not math.isfinite(float(getattr(self, n)))
            ]
            if bad:
                return f"{', '.join(bad)} is not finite"
            return "negative tolerance"
        if status == "uninformative":
            return (
                f"tolerance {float(self.tolerance):.3g} > {float(self.max_tolerance):.3g}, "
                "the largest informative one"
            )
        if status == "fail":
            return (
                f"|difference| {abs(self.difference):.3g} > tolerance {float(self.tolerance):.3g}"
            )
        return ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (non-finite numbers become ``None``; ``status`` and ``cause`` added)."""
        return {
            "quantity": self.quantity,
            "where": self.where,
            "theory": finite_or_none(self.theory),
            "simulation": finite_or_none(self.simulation),
            "simulation_sd": finite_or_none(self.simulation_sd),
            "difference": finite_or_none(self.difference),
            "tolerance": finite_or_none(self.tolerance),
            "max_tolerance": finite_or_none(self.max_tolerance),
            "status": self.status,
            "passed": self.passed,
            "cause": self.cause,
            "note": self.note,
            "headline": self.headline,
        }

    @classmethod
    def from_dict(cls, row: Mapping[str, Any]) -> Comparison:
        """Inverse of :meth:`to_dict` (``None`` numbers become NaN)."""

        def num(key: str, default: float = math.nan) -> float:
            v = row.get(key)
            return default if v is None else float(v)

        max_tol = row.get("max_tolerance")
        return cls(
            str(row["quantity"]),
            num("theory"),
            num("simulation"),
            num("tolerance"),
            max_tolerance=math.inf if max_tol is None else float(max_tol),
            where=str(row.get("where", "")),
            simulation_sd=None if row.get("simulation_sd") is None else num("simulation_sd"),
            note=str(row.get("note", "")),
            headline=bool(row.get("headline", False)),
        )


def _as_float(x: Any) -> float:
    if isinstance(x, bool):
        raise TypeError("a comparison value must be a number, not a bool")
    return float(np.asarray(x, dtype=float))


@dataclass(frozen=True)
class Dropped:
    """A row that should have been compared but could not be computed.

    Parameters
    ----------
    quantity, where : str
        As in :class:`Comparison`.
    reason : str
        Why (``"replica solver did not converge: residual 3e-2 after 400 iterations"``).
    """

    quantity: str
    where: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"quantity": self.quantity, "where": self.where, "reason": self.reason}


# -- the result of a run -----------------------------------------------------------------------
@dataclass
class Result:
    """What an experiment's run function returns.

    Parameters
    ----------
    table : pandas.DataFrame
        Tidy long table, one row per observation (stored as ``results.parquet``).
    summary : dict
        Headline numbers, JSON-serialisable (stored in ``summary.json``).
    comparisons : list of Comparison
        Theory-vs-simulation rows.
    seeds : list of int
        The replicate indices used (recorded in the manifest).
    dropped : list of Dropped
        Rows that could not be computed; any makes the run fail.
    """

    table: pd.DataFrame
    summary: dict[str, Any] = field(default_factory=dict)
    comparisons: list[Comparison] = field(default_factory=list)
    seeds: list[int] = field(default_factory=list)
    dropped: list[Dropped] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        """Number of rows per status, plus ``"dropped"``."""
        out = {s: 0 for s in ROW_STATUSES}
        for c in self.comparisons:
            out[c.status] += 1
        out["dropped"] = len(self.dropped)
        return out

    @property
    def reasons(self) -> list[str]:
        """Why the run is not a pass (empty for a pass), one line each."""
        return run_reasons(self.comparisons, self.dropped)

    @property
    def status(self) -> str:
        """``"passed"``, ``"uninformative"`` or ``"failed"``."""
        return run_status(self.comparisons, self.dropped)

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def verdict(self) -> dict[str, Any]:
        """``{"status", "counts", "reasons"}``: the run's verdict as plain data."""
        return {"status": self.status, "counts": self.counts, "reasons": self.reasons}


def run_reasons(comparisons: Sequence[Comparison], dropped: Iterable[Dropped] = ()) -> list[str]:
    """The lines that explain why a set of rows is not a pass."""
    dropped = list(dropped)
    out = []
    if not comparisons and not dropped:
        out.append("no theory-vs-simulation rows: nothing was compared")
    for c in comparisons:
        if c.status != "pass":
            where = f" [{c.where}]" if c.where else ""
            out.append(f"{c.status}: {c.quantity}{where}: {c.cause}")
    for d in dropped:
        where = f" [{d.where}]" if d.where else ""
        out.append(f"dropped: {d.quantity}{where}: {d.reason}")
    return out


def run_status(comparisons: Sequence[Comparison], dropped: Iterable[Dropped] = ()) -> str:
    """``"passed"`` iff there is a row, all rows pass and none was dropped; ``"uninformative"``
    when the only problem is uninformative rows; else ``"failed"``."""
    dropped = list(dropped)
    if not comparisons or dropped:
        return "failed"
    statuses = {c.status for c in comparisons}
    if statuses & {"fail", "invalid"}:
        return "failed"
    if "uninformative" in statuses:
        return "uninformative"
    return "passed"
