r"""ERM along a grid of sample ratios, and its comparison with the replica curve.

:func:`erm_curve` fits ERM for several seeds (one teacher and one training stream per seed) at
every :math:`\alpha` of a grid. The training set of :math:`\alpha` is the first
:math:`\alpha D` samples of the seed's stream (nested sets), so a fit can warm-start from the
minimiser at the previous :math:`\alpha`. :func:`compare_replica_erm` turns the rows and a
replica curve into comparison rows with their tolerances.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from attnlab import progress
from attnlab.compare import Comparison, Dropped, Tolerance, heuristic, standard_error
from attnlab.gslr._activations import Activation, activation_label, resolve_activation
from attnlab.gslr._erm import (
    LBFGS,
    ERMFit,
    InformedInit,
    RandomInit,
    _fit,
    _test_batches,
    _test_error,
    overlaps,
)
from attnlab.gslr._model import GSLRModel
from attnlab.gslr._sampler import _data, _teacher
from attnlab.precision import uses_jax
from attnlab.rng import as_key_batch, stream

__all__ = ["REPLICA_MC_ALLOWANCE", "compare_replica_erm", "erm_curve", "erm_tolerance"]

REPLICA_MC_ALLOWANCE = 0.01  # at REPLICA_MC_REFERENCE effective examples, ∝ 1/√n_mc
REPLICA_MC_REFERENCE = 4000
PAD_MAX_ENTRIES = 2**22
TEST_BATCH = 5000  # below, compiling one minimiser per α costs more than padding


@uses_jax
def erm_curve(
    model: GSLRModel,
    activation: str | Activation,
    key: Any,
    *,
    alphas: Sequence[float],
    dim: int,
    r: float,
    init: RandomInit | InformedInit,
    warm_start: bool = False,
    n_test: int = 20_000,
    dtype: str = "float64",
    solver: LBFGS | None = None,
) -> list[dict[str, Any]]:
    r"""ERM test error and overlaps for each seed and each :math:`\alpha` (module docstring).

    .. math:: \hat\theta_\alpha = \arg\min_{k, v} \frac{1}{2N}\sum_{\mu \le \alpha D}
        (y_\mu - f_{k,v}(X_\mu))^2 + \frac{r}{2N}(|k|^2 + |v|^2)

    Parameters
    ----------
    model : GSLRModel
    activation : str or callable
    key : jax key or array of keys
        One key per seed (a single key: one seed).
    alphas : sequence of float
        Sample ratios :math:`N/D`.
    dim : int
        :math:`D`.
    r : float
        Penalty.
    init : RandomInit or InformedInit
        Start of every fit (of the first only, with ``warm_start``).
    warm_start : bool
        Start each fit from the minimiser at the previous :math:`\alpha` of the same seed.
    n_test : int
        Fresh test samples per fit.
    dtype : {"float64", "float32"}
        Of the training tokens (the passes of the fits).
    solver : LBFGS, optional

    Returns
    -------
    list of dict
        One row per (seed, :math:`\alpha`): ``seed``, ``alpha``, ``test_error``, ``test_se``,
        ``train_objective``, the four overlaps, ``cross`` (largest cross overlap),
        ``converged``, ``status``, ``n_iter``, ``init``.
    """
    keys, _ = as_key_batch(key)
    grid = sorted(float(a) for a in alphas)
    options = {
        "r": r,
        "sigma": resolve_activation(activation),
        "init": init,
        "warm_start": warm_start,
        "n_test": n_test,
        "dtype": np.dtype(dtype),
        "solver": solver,
    }
    rows: list[dict[str, Any]] = []
    label = f"ERM fits {activation_label(activation)}, {model.label()}, D={dim}"
    with progress.track(label, len(keys) * len(grid)) as bar:
        for seed, seed_key in enumerate(keys):
            for row in _seed_rows(model, seed_key, grid, dim, options):
                rows.append({"seed": seed, **row})
                bar.advance(1)
    return rows


def _seed_rows(
    model: GSLRModel, key: Any, grid: list[float], dim: int, opts: dict[str, Any]
) -> Any:
    """The fits of one seed along the grid (a generator: one row per α)."""
    teacher = _teacher(model, stream(key, "teacher"), dim)
    n_max = max(int(round(grid[-1] * dim)), 1)
    data = _data(model, stream(key, "train"), teacher, n_max, opts["dtype"])
    # small data: every α on the full, padded set (one compiled minimiser for the grid)
    pad = n_max * model.max_length * dim <= PAD_MAX_ENTRIES
    tests = _test_batches(model, stream(key, "test"), teacher, opts["n_test"], TEST_BATCH)
    previous: ERMFit | None = None
    for alpha in grid:
        n = max(int(round(alpha * dim)), 1)
        start = previous if (opts["warm_start"] and previous is not None) else opts["init"]
        fit = _fit(
            model,
            data if pad else data.head(n),
            n,
            opts["r"],
            opts["sigma"],
            start,
            stream(key, f"init-{alpha:g}"),
            teacher,
            opts["solver"],
        )
        previous = fit
        test = _test_error(opts["sigma"], fit.k, fit.v, tests, opts["n_test"])

        o = overlaps(fit.k, fit.v, teacher)
        yield {
            "alpha": alpha,
            "test_error": test.value,
            "test_se": test.stderr,
            "train_objective": fit.objective,
            "m_k": o.m_k,
            "q_k": o.q_k,
            "m_v": o.m_v,
            "q_v": o.q_v,
            "cross": max(abs(o.k_vstar), abs(o.v_kstar), abs(o.k_v)),
            "converged": fit.converged,
            "status": fit.status,
            "n_iter": fit.n_iter,
            "init": fit.init,
        }


def erm_tolerance(errors: Sequence[float], theory: float, dim: int, n_mc: int) -> Tolerance:
    r"""Tolerance of a replica-vs-ERM test-error row.

    .. math:: 3\,\mathrm{SE}_{\rm seeds} + \frac{\max(\mathcal E_{\rm th}, 0.1)}{\sqrt D}
        + 0.01\sqrt{4000/n_{\rm mc}}

    Three standard errors of the ERM mean over seeds; a finite-size allowance of relative size
    :math:`1/\sqrt D` (the cross overlaps and the teacher fluctuations are
    :math:`O(1/\sqrt D)`; an order of magnitude, not a derived constant); the replica's own
    Monte-Carlo error (two independent draws of 4000 effective examples differ by about 0.007
    in the test error; it scales as :math:`1/\sqrt{n_{\rm mc}}`).

    Parameters
    ----------
    errors : sequence of float
        ERM test errors over seeds (at least 2).
    theory : float
        The replica test error.
    dim : int
        :math:`D`.
    n_mc : int
        Effective examples of the replica solver.

    Returns
    -------
    Tolerance
    """
    mc = REPLICA_MC_ALLOWANCE * math.sqrt(REPLICA_MC_REFERENCE / n_mc)
    return (
        standard_error(errors, z=3)
        + heuristic(max(theory, 0.1) / math.sqrt(dim), f"finite size max(E, 0.1)/√D, D={dim}")
        + heuristic(mc, f"replica Monte-Carlo error, n_mc={n_mc}")
    )


def compare_replica_erm(
    replica_rows: Sequence[dict[str, Any]],
    erm_rows: Sequence[dict[str, Any]],
    *,
    quantity: str,
    where: str,
    dim: int,
    n_mc: int,
    branch: str | None = None,
    max_tolerance: float = 0.1,
    headline: bool = False,
) -> tuple[list[Comparison], list[Dropped]]:
    r"""Replica test error against the mean ERM test error, at each ERM :math:`\alpha`.

    The replica value is the ``kept`` point (the branch with the lower training objective), or
    the named ``branch``. A missing (not converged) replica point, or an ERM fit that did not
    converge, makes the row a :class:`~attnlab.compare.Dropped` with the reason.

    Parameters
    ----------
    replica_rows : sequence of dict
        From :meth:`ReplicaSolver.curve`.
    erm_rows : sequence of dict
        From :func:`erm_curve`.
    quantity, where : str
        Labels of the rows (``where`` gets ``, α=…`` appended).
    dim : int
        :math:`D` of the ERM fits.
    n_mc : int
        Effective examples of the replica solver.
    branch : {"uninformed", "informed"}, optional
    max_tolerance : float
        The largest informative tolerance (see the experiments).
    headline : bool

    Returns
    -------
    comparisons, dropped : lists
    """
    comps: list[Comparison] = []
    dropped: list[Dropped] = []
    for alpha in sorted({float(row["alpha"]) for row in erm_rows}):
        at = f"{where}, α={alpha:g}"
        fits = [row for row in erm_rows if row["alpha"] == alpha]
        reps = [row for row in replica_rows if math.isclose(row["alpha"], alpha)]
        pick = [
            row
            for row in reps
            if (row["branch"] == branch if branch else row["kept"]) and row["converged"]
        ]
        if not pick:
            wanted = [row for row in reps if not branch or row["branch"] == branch]
            reasons = "; ".join(row["reason"] for row in wanted if not row["converged"])
            reasons = reasons or f"no replica point at α={alpha:g}"
            dropped.append(Dropped(quantity, at, reasons))
            continue
        bad = [row for row in fits if not row["converged"]]
        if bad:
            why = ", ".join(f"seed {row['seed']}: {row['status']}" for row in bad)
            dropped.append(Dropped(quantity, at, f"ERM did not converge ({why})"))
            continue
        errors = np.array([row["test_error"] for row in fits])
        theory = float(pick[0]["test_error"])
        comps.append(
            Comparison(
                quantity,
                theory,
                float(errors.mean()),
                erm_tolerance(errors, theory, dim, n_mc),
                max_tolerance=max_tolerance,
                where=at,
                simulation_sd=float(errors.std(ddof=1)),
                headline=headline,
            )
        )
    return comps, dropped
