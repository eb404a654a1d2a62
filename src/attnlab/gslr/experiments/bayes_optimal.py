"""``slr-bayes-optimal``: Bayes-optimal test error at finite sample ratio, theory against GAMP.

Pipeline per case (spiked or max SLR at one ν, the rest of the model from ``model``): the
Bayes-optimal state evolution (:class:`~attnlab.gslr.BayesStateEvolution`) along the α grid from
uninformed and informed starts (:func:`~attnlab.gslr.bayes_se_curve`: the branch of larger free
entropy is the Bayes-optimal one), the recovery thresholds, the population Bayes risk (the
α → ∞ limit), GAMP (:func:`~attnlab.gslr.run_gamp`) from an uninformed start at ``dim`` over
``n_seeds`` teachers at each of ``alphas_gamp`` (``n_seeds_low_alpha`` at α ≤ ``low_alpha``),
and the replica prediction of L2-regularised ERM for softmax and linear attention
(:class:`~attnlab.gslr.ReplicaSolver`) at ``alphas_gamp``.

Rows: state evolution (uninformed branch, the one GAMP follows) against the GAMP mean over
seeds for the test error and the overlaps ``m_k = k·k*/D``, ``m_v = v·v*/D``. Tolerance: the
Student-t 99.9 % half-width over seeds plus 4 Monte-Carlo standard errors of the state
evolution. The summary says whether the Bayes curve lies below every replica point.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from pydantic import Field, field_validator

from attnlab._threads import side_by_side, thread_map
from attnlab.compare import Comparison, Dropped, Result, monte_carlo, student_t
from attnlab.config import Cost, ExperimentConfig
from attnlab.gslr import (
    BayesSEOptions,
    BayesStateEvolution,
    GAMPOptions,
    GSLRModel,
    Population,
    ReplicaOptions,
    ReplicaSolver,
    bayes_se_curve,
    check_activation_names,
    recovery_thresholds,
    run_gamp,
)
from attnlab.gslr.experiments._plotting import alpha_axis
from attnlab.gslr.experiments.finite import PIECES_AT_ONCE, case_model, sorted_alphas
from attnlab.registry import experiment
from attnlab.rng import replicate_keys, root_key, stream

# A row is informative while its tolerance is below a quarter of the quantity's scale: the
# test error's distance to the zero predictor's Δ + 1, or the overlap itself (no recovery is
# m = 0), so that a passing row still separates the prediction from a trivial one.
MAX_TOLERANCE_FRACTION = 0.25


class BayesOptimalConfig(ExperimentConfig):
    """Bayes-optimal state evolution vs GAMP vs the ERM replica prediction (module docstring);
    ``model`` gives L, Δ and the teacher (variant and ν are set per case)."""

    model: GSLRModel = GSLRModel(L=3, delta=0.1)
    cases: list[str] = Field(["spiked:2", "max:10"], description="VARIANT:ν (spiked or max)")
    alphas_theory: list[float] = Field(
        [0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 8.0, 12.0, 20.0], description="state-evolution grid"
    )
    alphas_gamp: list[float] = Field([1.0, 3.0, 8.0], description="α of the GAMP runs")
    dim: int = Field(1000, ge=20, le=20_000, description="GAMP dimension D")
    n_seeds: int = Field(6, ge=2, le=1000, description="GAMP teachers per α")
    # At small α GAMP's gain over the trivial predictor is small while its spread over teachers
    # is not, so the Student-t half-width needs more teachers to stay informative there (it
    # shrinks as t_{n-1}/√n: 6 → 12 teachers halves it).
    low_alpha: float = Field(
        1.0, ge=0, le=1e4, description="α at or below which n_seeds_low_alpha teachers are used"
    )
    n_seeds_low_alpha: int = Field(
        12, ge=2, le=1000, description="GAMP teachers per α at α ≤ low_alpha"
    )
    r: float = Field(0.5, gt=0, le=100, description="L2 penalty of the ERM replica points")
    replica_activations: list[str] = Field(["softmax", "linear"])
    replica: ReplicaOptions = ReplicaOptions(n_mc=2000)
    informed_branch: bool = Field(
        True, description="also solve the state evolution from q = 1 (needed when Δ = 0)"
    )
    se: BayesSEOptions = BayesSEOptions(n_mc=40_000)
    gamp: GAMPOptions = GAMPOptions()
    headline: bool = Field(True, description="flag the test-error rows as headline")

    _positive = field_validator("alphas_theory", "alphas_gamp")(sorted_alphas)

    @field_validator("cases")
    @classmethod
    def _cases(cls, v: list[str]) -> list[str]:
        for c in v:
            m = case_model(GSLRModel(), c)
            if m.variant == "max" and m.nu == 0:
                raise ValueError(f"case {c!r}: max-SLR needs ν > 0 (ν = 0 is spiked:0)")
        return v

    _acts = field_validator("replica_activations")(check_activation_names)

    def seeds_at(self, alpha: float) -> int:
        """GAMP teachers at ``alpha``: ``n_seeds_low_alpha`` at α ≤ ``low_alpha``, else
        ``n_seeds`` (teacher ``i`` is the same at every α)."""
        return self.n_seeds_low_alpha if alpha <= self.low_alpha else self.n_seeds

    def max_seeds(self) -> int:
        """The most teachers at any α of ``alphas_gamp``."""
        return max(self.seeds_at(a) for a in self.alphas_gamp)

    def cost(self) -> Cost:
        lmax = self.model.max_length
        tokens = max(self.alphas_gamp) * self.dim * lmax
        gamp_mem = 8.0 * (4 * tokens * self.dim + 4000 * lmax * self.dim * 3)
        se_mem = 8.0 * self.se.n_mc * lmax * 12 + 8.0 * 2048 * lmax**2 * self.se.n_nodes * 4
        runs_alpha = sum(self.seeds_at(a) * a for a in self.alphas_gamp)
        gamp_flops = len(self.cases) * 150 * 4 * lmax * self.dim**2 * runs_alpha
        se_flops = len(self.cases) * len(self.alphas_theory) * 2 * 30 * self.se.n_mc * lmax**2
        replica = len(self.cases) * len(self.replica_activations) * 2 * len(self.alphas_gamp)
        replica_flops = replica * 50 * self.replica.n_mc * 3e4 * lmax
        return Cost(  # two cases at once, each with its parts side by side (run_bayes_optimal)
            PIECES_AT_ONCE * (gamp_mem + se_mem),
            float(gamp_flops + se_flops * self.se.n_nodes + replica_flops),
            f"GAMP: {self.max_seeds()} seeds x N = {max(self.alphas_gamp) * self.dim:g} x "
            f"L = {lmax} x D = {self.dim}",
        )


def _replica_rows(model: GSLRModel, config: BayesOptimalConfig, key: Any) -> list[dict]:
    rows: list[dict[str, Any]] = []
    if not config.replica_activations:
        return rows
    pop = Population(model, key=stream(key, "population"))
    for act in config.replica_activations:
        solver = ReplicaSolver(
            model, act, stream(key, f"replica {act}"), options=config.replica, population=pop
        )
        for row in solver.curve(config.alphas_gamp, r=config.r):
            rows.append({"kind": "replica", "activation": act, **row})
    return rows


def _gamp_rows(model: GSLRModel, config: BayesOptimalConfig, case: str) -> list[dict]:
    keys = replicate_keys(config.seed, config.max_seeds())
    rows = []
    for alpha in config.alphas_gamp:
        for s in range(config.seeds_at(alpha)):
            key = stream(keys[s], f"gamp {case}, alpha={alpha:g}")
            run = run_gamp(model, alpha=alpha, dim=config.dim, key=key, options=config.gamp)
            rows.append({"kind": "gamp", "seed": s, **run.to_dict()})
    return rows


def case_tables(case: str, config: BayesOptimalConfig) -> tuple[pd.DataFrame, dict[str, Any]]:
    """State evolution, thresholds, population Bayes risk, GAMP and replica rows of one case."""
    model = case_model(config.model, case)
    key = stream(root_key(config.seed), f"case {case}")
    se = BayesStateEvolution(model, key=stream(key, "se"), options=config.se)
    alphas = sorted(set(config.alphas_theory) | set(config.alphas_gamp))
    starts = ("uninformed", "informed") if config.informed_branch else ("uninformed",)

    def theory() -> tuple:
        rows = [{"kind": "se", **r} for r in bayes_se_curve(se, alphas, branches=starts)]
        thr = recovery_thresholds(se, alpha_max=max(max(alphas), 1.5))
        return rows, thr, Population(model, key=stream(key, "population")).bayes()

    # three independent parts, each mostly one core's work: side by side in threads
    (rows, thr, bayes), gamp, replica = side_by_side(
        [
            theory,
            lambda: _gamp_rows(model, config, case),
            lambda: _replica_rows(model, config, key),
        ],
        PIECES_AT_ONCE,
    )
    rows = rows + gamp + replica
    table = pd.DataFrame(rows).assign(
        case=case, variant=model.variant, nu=model.nu, population_bayes=bayes.value
    )
    info = {
        "population_bayes": bayes.value,
        "population_bayes_se": bayes.stderr,
        "weak_recovery_alpha": thr.weak,
        "qhat_at_zero_over_alpha": list(thr.qhat_at_zero),
        "perfect_it": thr.perfect_it,
        "perfect_alg": thr.perfect_alg,
        "note": thr.note,
    }
    return table, info


def comparisons(
    table: pd.DataFrame, case: str, delta: float, headline: bool
) -> tuple[list[Comparison], list[Dropped]]:
    """State evolution (uninformed branch) vs the GAMP mean over converged seeds."""
    comps, dropped = [], []
    se = table[(table["kind"] == "se") & (table["branch"] == "uninformed")]
    gamp = table[table["kind"] == "gamp"]
    for alpha, g in gamp.groupby("alpha"):
        where = f"{case}, α={alpha:g}"
        for _, b in g[~g["converged"].astype(bool)].iterrows():
            reason = f"no convergence: change {b['residual']:.2e} after {b['n_iter']} iterations"
            dropped.append(Dropped("GAMP run", f"{where}, seed={b['seed']}", reason))
        g = g[g["converged"].astype(bool)]
        s = se[np.isclose(se["alpha"], alpha)]
        if s.empty or not bool(s["converged"].iloc[0]) or len(g) < 2:
            reason = "state evolution not converged or < 2 converged GAMP runs"
            dropped.append(Dropped("state evolution vs GAMP", where, reason))
            continue
        s = s.iloc[0]
        for name, col, theory, theory_se, scale in (
            ("test error", "test_error", s["test_error"], s["test_error_se"],
             delta + 1 - s["test_error"]),
            ("m_k = k·k*/D", "m_k", s["q_k"], s["q_k_se"], s["q_k"]),
            ("m_v = v·v*/D", "m_v", s["q_v"], s["q_v_se"], s["q_v"]),
        ):  # fmt: skip
            sim = g[col].to_numpy(dtype=float)
            tol = student_t(sim) + monte_carlo(theory_se, z=4, what="state-evolution")
            comps.append(
                Comparison(
                    f"{name}: state evolution vs GAMP",
                    float(theory),
                    float(sim.mean()),
                    tol,
                    max_tolerance=MAX_TOLERANCE_FRACTION * float(scale),
                    where=where,
                    simulation_sd=float(sim.std(ddof=1)),
                    headline=headline and col == "test_error",
                )
            )
    return comps, dropped


def _case_summary(t: pd.DataFrame) -> dict[str, Any]:
    se = t[t["kind"] == "se"]
    kept = se[se["kept"].astype(bool)].set_index("alpha")
    rep = t[t["kind"] == "replica"]
    n_rep_failed = int((~rep["converged"].astype(bool)).sum()) if len(rep) else 0
    rep = rep[rep["kept"].astype(bool)] if len(rep) else rep
    gaps = [
        float(r["test_error"] - kept.loc[r["alpha"], "test_error"])
        for _, r in rep.iterrows()
        if r["alpha"] in kept.index
    ]
    differ = [
        float(a)
        for a, g in se.groupby("alpha")
        if g["kept"].astype(bool).any() and not bool(g[g["branch"] == "uninformed"]["kept"].iloc[0])
    ]
    return {
        "bayes_by_alpha": {f"{a:g}": float(v) for a, v in kept["test_error"].items()},
        "min_replica_minus_bayes": min(gaps) if gaps else None,
        "bayes_below_every_replica_point": (min(gaps) > 0) if gaps else None,
        "informed_branch_kept_at": differ,
        "gamp_not_converged": int((~t[t["kind"] == "gamp"]["converged"].astype(bool)).sum()),
        "replica_points_not_converged": n_rep_failed,
    }


def _plot(result: Result, config: BayesOptimalConfig) -> dict:
    from attnlab import plot

    t = result.table
    cases = list(dict.fromkeys(t["case"]))
    fig, axes = plot.panel_grid(len(cases), max_cols=2)
    for ax, case in zip(axes, cases, strict=True):
        sub = t[t["case"] == case]
        se = sub[sub["kind"] == "se"].sort_values("alpha")
        kept = se[se["kept"].astype(bool)]
        plot.theory_line(ax, kept["alpha"], kept["test_error"], label="Bayes-optimal (SE)")
        unin = se[se["branch"] == "uninformed"]
        if not np.allclose(unin["test_error"], kept["test_error"], equal_nan=True):
            ax.plot(unin["alpha"], unin["test_error"], "--", color=plot.color(3),
                    label="SE, uninformed branch (GAMP)")  # fmt: skip
        g = sub[(sub["kind"] == "gamp") & sub["converged"].astype(bool)].groupby("alpha")
        mean = g["test_error"].mean()
        plot.simulation_points(ax, mean.index, mean, g["test_error"].std(ddof=1),
                               label=f"GAMP, D={config.dim}")  # fmt: skip
        rep = sub[sub["kind"] == "replica"]
        for i, act in enumerate(config.replica_activations):
            if rep.empty:
                break
            r = rep[(rep["activation"] == act) & rep["kept"].astype(bool)]
            ax.plot(r["alpha"], r["test_error"], "s:", mfc="none", color=plot.color(i + 1),
                    label=f"ERM {act}, replica (r={config.r:g})")  # fmt: skip
        ax.axhline(float(sub["population_bayes"].iloc[0]), color="k", ls=":", lw=1,
                   label="population Bayes risk (α → ∞)")  # fmt: skip
        info = result.summary.get(case, {})
        plot.threshold_lines(ax, [info.get("perfect_it"), info.get("perfect_alg")],
                             ["α_IT (perfect v)", "α_alg (perfect v)"])  # fmt: skip
        alpha_axis(ax, se["alpha"])
        model = case_model(config.model, case)
        plot.finish(ax, xlabel="α = N/D", ylabel="test error", legend=False,
                    title=model.label())  # fmt: skip
    plot.figure_legend(fig, axes, ncols=3)  # the panels share their entries
    plot.suptitle(fig, "Bayes-optimal test error vs α (weak recovery at every α > 0)")
    return {"bayes_optimal": fig}


@experiment(
    "slr-bayes-optimal",
    config=BayesOptimalConfig,
    description="Bayes-optimal test error vs α: state evolution, GAMP and the ERM replica curve",
    quick={
        "cases": ["spiked:2"],
        "alphas_theory": [0.5, 1.0, 2.0, 5.0, 8.0],
        "alphas_gamp": [3.0],
        "dim": 200,
        "n_seeds": 5,
        "replica_activations": [],
        "informed_branch": False,
        "se": {"n_mc": 4000, "n_test_mc": 20_000},
        "gamp": {"n_test": 2000, "tol": 1e-4, "n_nodes": 32},
    },
    plot=_plot,
)
def run_bayes_optimal(config: BayesOptimalConfig) -> Result:
    tables, summary, comps, dropped = [], {}, [], []
    # the cases side by side in threads (each case's parts run in threads of their own)
    pieces = thread_map(lambda case: case_tables(case, config), config.cases, PIECES_AT_ONCE)
    for case, (table, info) in zip(config.cases, pieces, strict=True):
        c, d = comparisons(table, case, config.model.delta, config.headline)
        summary[case] = {**info, **_case_summary(table)}
        tables.append(table)
        comps += c
        dropped += d
    summary["max_abs_se_minus_gamp_test_error"] = max(
        (abs(c.difference) for c in comps if c.quantity.startswith("test error")), default=None
    )
    return Result(
        table=pd.concat(tables, ignore_index=True),
        summary=summary,
        comparisons=comps,
        seeds=list(range(config.max_seeds())),
        dropped=dropped,
    )
