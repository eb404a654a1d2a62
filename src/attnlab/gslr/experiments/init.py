"""``slr-init``: ERM from a random and from an informed start, against the uninformed and the
informed replica branches, at low signal and weak regularisation.

Pipeline: the ``slr-finite`` pipeline (:func:`finite_tables`) with two ERM starts, each compared
with its own replica branch (random start ↔ uninformed branch, informed start ↔ informed
branch), no warm starts along α (each fit starts afresh, so the start is what is tested).
"""

from __future__ import annotations

import math
from typing import Literal

import pandas as pd
from pydantic import Field

from attnlab.compare import Result
from attnlab.config import Cost
from attnlab.gslr import (
    GSLRModel,
    InformedInit,
    RandomInit,
    ReplicaNotConverged,
    ReplicaOptions,
    ReplicaSolver,
)
from attnlab.gslr.experiments._plotting import alpha_axis, bayes_band
from attnlab.gslr.experiments.finite import (
    FiniteConfig,
    case_model,
    finite_tables,
    replica_point,
    summary_of,
)
from attnlab.registry import experiment
from attnlab.rng import root_key, stream

STARTS = ("random", "informed")
REPLICON_COLUMNS = ("replicon", "replicon_se", "replicon_tail_index", "rs_stable")
RSB_EVIDENCE = (
    "the finite-size study at nu=1, r=0.05 (family theory page, open point 1) rules out the "
    "solver (random, informed and warm starts reach the same training objective) and finite size "
    "(the gap does not shrink from D=200 to 400)"
)


class InitConfig(FiniteConfig):
    """ERM from random vs informed starts (``init`` is unused: both are run)."""

    model: GSLRModel = GSLRModel(L=3)
    cases: list[str] = Field(["spiked:1"], description="VARIANT:ν")
    activations: list[str] = Field(["softmax"])
    alphas_theory: list[float] = Field([0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 12.0])
    alphas_erm: list[float] = Field([1.0, 3.0, 8.0])
    r: float = Field(0.05, ge=0, le=1e6, description="L2 penalty r")
    warm_start: bool = Field(False, description="no warm starts: the start is what is tested")
    # float64: which of many near-degenerate minima a random start reaches is what is tested
    erm_dtype: Literal["float64", "float32"] = Field("float64", description="ERM token dtype")
    headline: bool = Field(True, description="flag the random-start rows as headline")
    bayes_optimal: bool = Field(False, description="slr-init does not draw the Bayes-optimal curve")
    low_alpha: float = Field(0.0, ge=0, le=1e4, description="no extra seeds at low α (0)")
    # at r = 0.05 a cold start wanders off where a fixed point exists (α = 3): continuation in
    # r from 0.5 reaches it; every converged point of this grid takes under 300 iterations
    # (a continuation step of 0.6), so a cap of 400 per strategy only shortens the failures
    replica: ReplicaOptions = ReplicaOptions(r_continuation=0.5, max_iter=400)
    rs_gate: bool = Field(
        False, description="slr-init compares both branches and reports each point's replicon"
    )

    def cost(self) -> Cost:
        base = super().cost()
        # the replicon of each replica point: a warm re-solve (~20 iterations) and one pass of
        # 2L x 2L Jacobians with 4x the Newton steps over the effective examples
        points = len(self.cases) * len(self.activations) * 2 * len(self.replica_alphas())
        replicon = points * 30 * self.replica.n_mc * 3e4 * self.model.max_length
        return Cost(base.memory_bytes, 2 * base.flops + replicon, base.what + " × 2 starts")


def _plot(result: Result, config: InitConfig) -> dict:
    from attnlab import plot

    t = result.table
    fig, ax = plot.subplots()
    styles = {
        "uninformed": {"ls": "-", "marker": "s", "mfc": "none", "ms": 6},
        "informed": {"ls": "--", "marker": "^", "ms": 4},
    }
    for i, (start, branch) in enumerate((("random", "uninformed"), ("informed", "informed"))):
        color = plot.color(i)
        rep = t[(t["kind"] == "replica") & (t["branch"] == branch) & t["converged"].astype(bool)]
        rep = rep.sort_values("alpha")
        ax.plot(
            rep["alpha"],
            rep["test_error"],
            color=color,
            label=f"replica, {branch} branch",
            **styles[branch],
        )
        erm = t[(t["kind"] == "erm") & (t["start"] == start)].groupby("alpha")["test_error"]
        # ERM points shifted by ±2 % in α so that the two starts' error bars do not overlap
        shift = 0.98 if i == 0 else 1.02
        plot.simulation_points(
            ax,
            erm.mean().index * shift,
            erm.mean(),
            erm.std(ddof=1),
            color=color,
            label=f"ERM, {start} start (D={config.dim})",
        )
    bayes_band(ax, None, float(t["bayes"].iloc[0]))
    alpha_axis(ax, t["alpha"])
    plot.finish(
        ax,
        xlabel="α = N/D",
        ylabel="test error",
        title=f"{case_model(config.model, config.cases[0]).label()}, r={config.r:g}",
        fontsize=7,
    )
    return {"init": fig}


def add_replicon(table: pd.DataFrame, config: InitConfig) -> pd.DataFrame:
    """Add the replicon eigenvalue, its Monte-Carlo error, the tail index of its per-example
    terms and the local RS stability (:meth:`~attnlab.gslr.ReplicaSolver.replicon`) to every
    converged replica row (NaN / False elsewhere), on the effective examples the fixed point
    was computed with; ``replicon_failed`` marks a point whose re-solve did not converge."""
    table = table.copy()
    for column in REPLICON_COLUMNS:
        table[column] = False if column == "rs_stable" else math.nan
    table["replicon_failed"] = False
    for (case, activation), sub in table[table["kind"] == "replica"].groupby(
        ["case", "activation"], sort=False
    ):
        key = stream(stream(root_key(config.seed), f"case {case}"), "replica")
        model = case_model(config.model, case)
        solver = ReplicaSolver(model, activation, key, options=config.replica)
        for index, row in sub[sub["converged"].astype(bool)].iterrows():
            try:
                rep = solver.replicon(replica_point(row))
            except ReplicaNotConverged:
                # re-solving from the point with cold prox points wandered off (weak
                # regularisation: the prox has several minima): no replicon, said so
                table.at[index, "replicon_failed"] = True
                continue
            values = (rep.eigenvalue, rep.eigenvalue_se, rep.tail_index, rep.stable)
            for column, value in zip(REPLICON_COLUMNS, values, strict=True):
                table.at[index, column] = value
    return table


def stability_summary(table: pd.DataFrame) -> dict:
    """α of the kept replica branch where RS is locally unstable, and the largest replicon."""
    kept = table[(table["kind"] == "replica") & table["kept"].astype(bool)]
    failed = kept[kept["replicon_failed"].astype(bool)]
    return {
        "rs_unstable_alphas": sorted(
            float(a) for a in kept[~kept["rs_stable"] & ~kept["replicon_failed"]]["alpha"]
        ),
        "replicon_not_computed_alphas": sorted(float(a) for a in failed["alpha"]),
        "max_replicon": float(kept["replicon"].max()) if len(kept) else None,
    }


def conclusion(unstable: list[float]) -> str:
    """What the run says about a replica-ERM disagreement, from where RS is unstable."""
    if not unstable:
        return "RS locally stable at every alpha of the grid: replica and ERM should agree"
    where = ", ".join(f"{a:g}" for a in unstable)
    return (
        f"RS locally unstable at alpha = {where} (replicon eigenvalue >= 1 or heavy-tailed): a "
        f"replica-ERM disagreement there is replica-symmetry breaking; {RSB_EVIDENCE}"
    )


@experiment(
    "slr-init",
    config=InitConfig,
    description="ERM from random vs informed starts against the two replica branches",
    quick={
        "cases": ["spiked:2"],
        "alphas_theory": [1.0, 2.0, 4.0, 8.0],
        "alphas_erm": [8.0],
        "dim": 250,
        "n_seeds": 4,
        "replica.n_mc": 2000,
        "n_test": 5000,
        "r": 0.3,
    },
    plot=_plot,
)
def run_init(config: InitConfig) -> Result:
    not_compared: list[str] = []
    table, comps, dropped = finite_tables(
        config,
        {"random": RandomInit(), "informed": InformedInit()},
        rs_gate=config.rs_gate,
        not_compared=not_compared,
    )
    table = add_replicon(table, config)
    summary = {**summary_of(table, comps), **stability_summary(table)}
    if config.rs_gate:
        summary["rs_unstable_not_compared"] = not_compared
    erm = table[table["kind"] == "erm"]
    for start in STARTS:
        summary[f"erm_{start}_mean_test_error"] = float(
            erm[erm["start"] == start]["test_error"].mean()
        )
    summary["conclusion"] = conclusion(summary["rs_unstable_alphas"])
    return Result(
        table=table,
        summary=summary,
        comparisons=comps,
        seeds=list(range(config.n_seeds)),
        dropped=dropped,
    )
