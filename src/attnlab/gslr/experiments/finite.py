"""``slr-finite``: ERM test error vs α = N/D for softmax and linear attention, against the
replica-symmetric curve.

Pipeline, for each case (variant and ν) and activation: theory (Bayes risk and population
optimum, :class:`~attnlab.gslr.Population`; the replica curve on both branches,
:meth:`~attnlab.gslr.ReplicaSolver.curve`; the Bayes-optimal test error at each α,
:func:`~attnlab.gslr.bayes_optimal_curve`, the information-theoretic floor under every
estimator) → simulation (:func:`~attnlab.gslr.erm_curve`, ERM
over seeds on nested training sets; more seeds at α ≤ ``low_alpha``, where the test error
spreads over seeds) → compare (:func:`~attnlab.gslr.compare_replica_erm`: the replica branch
with the lower training objective against the mean ERM test error) → table.

Where the kept replica point is locally unstable against replica-symmetry breaking (replicon
eigenvalue ≥ 1: linear attention near its error peak, α ≈ 2–3 here), the replica-symmetric curve
is not the theory of the ERM minimum (ERM reaches a lower training objective there); those α
are listed in the summary with their replicon (``rs_unstable_not_compared``), not compared.
"""

from __future__ import annotations

import math
from typing import Any, Literal, NamedTuple

import pandas as pd
from pydantic import Field, field_validator

from attnlab._threads import side_by_side
from attnlab.compare import Comparison, Dropped, Result
from attnlab.config import Cost, ExperimentConfig
from attnlab.gslr import (
    LBFGS,
    BayesSEOptions,
    GSLRModel,
    InformedInit,
    MonteCarlo,
    Population,
    RandomInit,
    ReplicaNotConverged,
    ReplicaOptions,
    ReplicaPoint,
    ReplicaSolver,
    bayes_optimal_curve,
    check_activation_names,
    compare_replica_erm,
    erm_curve,
)
from attnlab.gslr.experiments._plotting import alpha_axis, bayes_band
from attnlab.registry import experiment
from attnlab.rng import replicate_keys, root_key, stream

# A replica-vs-ERM row is informative while its tolerance is below 0.1: a tenth of the scale
# 1 of the excess test error (the trivial predictor's), finer than the softmax-linear gaps the
# experiment is about (0.05-0.3 at these ν).
MAX_TOLERANCE = 0.1


def sorted_alphas(v: list[float]) -> list[float]:
    """A non-empty α grid in (0, 1e4], sorted (a config field validator)."""
    if not v or any(not 0 < x <= 1e4 for x in v):
        raise ValueError("α values must be in (0, 1e4]")
    return sorted(v)


class FiniteConfig(ExperimentConfig):
    """ERM vs replica along α; ``model`` gives L and Δ (variant and ν are set per case)."""

    model: GSLRModel = GSLRModel(L=3)
    replica: ReplicaOptions = ReplicaOptions()
    erm: LBFGS = LBFGS()
    cases: list[str] = Field(
        ["spiked:1", "spiked:2", "max:10"], description="VARIANT:ν (max-SLR with large ν)"
    )
    activations: list[str] = Field(["softmax", "linear"])
    r: float = Field(0.5, ge=0, le=1e6, description="L2 penalty r")
    alphas_theory: list[float] = Field(
        [0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 12.0, 20.0], description="α grid of the replica curve"
    )
    alphas_erm: list[float] = Field([1.0, 2.0, 5.0, 10.0, 20.0], description="α of the ERM fits")
    dim: int = Field(400, ge=2, le=10**6, description="D of the ERM fits")
    n_seeds: int = Field(3, ge=2, le=10**4, description="ERM seeds per α")
    low_alpha: float = Field(
        5.0, ge=0, le=1e4, description="α at or below which n_seeds_low_alpha seeds are used"
    )
    n_seeds_low_alpha: int = Field(
        8, ge=2, le=10**4, description="ERM seeds per α at α ≤ low_alpha (spread over seeds)"
    )
    init: Literal["random", "informed"] = Field("informed", description="ERM start")
    warm_start: bool = Field(
        True, description="start each ERM fit at the previous α's minimiser (nested data)"
    )
    # float32 tokens: the passes read half the bytes and the minimiser moves by ~1e-4 in the
    # overlaps (training objective equal to ~1e-8), far below the rows' tolerances (>= 0.025)
    erm_dtype: Literal["float64", "float32"] = Field("float32", description="ERM token dtype")
    n_test: int = Field(20_000, ge=100, le=10**8, description="fresh test samples per fit")
    headline: bool = Field(True, description="flag the softmax rows as headline")
    rs_gate: bool = Field(
        True,
        description="compare only where the kept replica point is RS-stable (replicon < 1)",
    )
    bayes_optimal: bool = Field(
        True, description="draw the Bayes-optimal test error (state evolution) along α"
    )
    bayes_se: BayesSEOptions = BayesSEOptions(n_mc=20_000, n_test_mc=100_000)

    _alphas = field_validator("alphas_theory", "alphas_erm")(sorted_alphas)

    @field_validator("cases")
    @classmethod
    def _cases(cls, v: list[str]) -> list[str]:
        for case in v:
            case_model(GSLRModel(), case)
        return v

    _acts = field_validator("activations")(check_activation_names)

    def replica_alphas(self) -> list[float]:
        """The replica grid: ``alphas_theory`` and every ERM α."""
        return sorted(set(self.alphas_theory) | set(self.alphas_erm))

    def cost(self) -> Cost:
        n = max(self.alphas_erm) * self.dim
        tokens = n * self.model.max_length * self.dim
        fits = len(self.cases) * len(self.activations) * len(self.alphas_erm) * self.n_seeds
        erm_flops = fits * 500 * 8.0 * tokens  # ~500 evaluations of 2 passes over the tokens
        low = [a for a in self.alphas_erm if a <= self.low_alpha]
        extra = (
            len(self.cases) * len(self.activations) * max(self.n_seeds_low_alpha - self.n_seeds, 0)
        )
        erm_flops += extra * sum(low) / max(self.alphas_erm) * 500 * 8.0 * tokens
        # the replicon at each ERM α: a warm re-solve and one pass of 2L x 2L Jacobians
        erm_points = len(self.cases) * len(self.activations) * len(self.alphas_erm)
        replicon = self.rs_gate * erm_points * 30 * self.replica.n_mc * 3e4 * self.model.max_length
        replica = len(self.cases) * len(self.activations) * 2 * len(self.replica_alphas())
        replica_flops = replica * 50 * self.replica.n_mc * 3e4 * self.model.max_length
        test = self.n_test * self.model.max_length * self.dim
        memory = 8.0 * (2 * tokens + test) + 8.0 * 20 * self.replica.n_mc * self.model.max_length
        bayes_flops = (
            self.bayes_optimal
            * len(self.cases)
            * 2
            * len(self.replica_alphas())
            * 60
            * self.bayes_se.n_mc
            * self.model.max_length**2
            * self.bayes_se.n_nodes
        )
        return Cost(
            memory,
            erm_flops + replica_flops + bayes_flops + replicon,
            f"{fits} ERM fits of {tokens:.3g} tokens",
        )


def case_model(base: GSLRModel, case: str) -> GSLRModel:
    """``"spiked:2"`` → ``base`` with ``variant = "spiked"``, ``nu = 2`` (validated)."""
    variant, sep, nu = str(case).partition(":")
    try:
        value = float(nu)
    except ValueError:
        raise ValueError(f"case {case!r}: must be VARIANT:ν, e.g. spiked:2") from None
    if not sep or variant not in ("spiked", "max"):
        raise ValueError(f"case {case!r}: must be VARIANT:ν with VARIANT spiked or max")
    if not 0 <= value <= 1e6:
        raise ValueError(f"case {case!r}: ν must be in [0, 1e6]")
    return base.replace(variant=variant, nu=value)


def erm_fits(
    config: FiniteConfig, model: GSLRModel, activation: str, keys: Any, init: Any
) -> list[dict[str, Any]]:
    """ERM along ``alphas_erm`` for the first ``n_seeds`` keys, and along the α ≤ ``low_alpha``
    for the further keys up to ``n_seeds_low_alpha`` (where the spread over seeds is large);
    each seed's fits are nested along α, as :func:`~attnlab.gslr.erm_curve`."""
    kwargs = dict(
        dim=config.dim,
        r=config.r,
        init=init,
        warm_start=config.warm_start,
        n_test=config.n_test,
        dtype=config.erm_dtype,
        solver=config.erm,
    )
    rows = erm_curve(model, activation, keys[: config.n_seeds], alphas=config.alphas_erm, **kwargs)
    low = [a for a in config.alphas_erm if a <= config.low_alpha]
    if low and config.n_seeds_low_alpha > config.n_seeds:
        more = erm_curve(
            model, activation, keys[config.n_seeds : config.n_seeds_low_alpha], alphas=low,
            **kwargs,
        )  # fmt: skip
        rows += [{**row, "seed": row["seed"] + config.n_seeds} for row in more]
    return rows


def replica_point(row: dict[str, Any]) -> ReplicaPoint:
    """The :class:`~attnlab.gslr.ReplicaPoint` of a replica row of the table."""
    fields = ReplicaPoint.__dataclass_fields__
    return ReplicaPoint(**{k: v for k, v in row.items() if k in fields})


def rs_unstable_alphas(
    solver: ReplicaSolver, replica: list[dict[str, Any]], alphas: list[float]
) -> dict[float, float]:
    """The ERM α whose kept replica point is locally unstable against replica-symmetry
    breaking (:meth:`~attnlab.gslr.ReplicaSolver.replicon` not stable), with its replicon
    eigenvalue (≥ 1): there the replica-symmetric curve is not the theory of the ERM minimum."""
    unstable = {}
    for row in replica:
        if row["kept"] and row["converged"] and any(math.isclose(row["alpha"], a) for a in alphas):
            try:
                rep = solver.replicon(replica_point(row))
            except ReplicaNotConverged:  # no replicon: stability unknown, the point is compared
                continue
            # the eigenvalue decides (a heavy tail of its per-example terms, which makes
            # ``stable`` False too, says the estimate is noisy, not that RS breaks)
            if rep.eigenvalue >= 1.0:
                unstable[float(row["alpha"])] = float(rep.eigenvalue)
    return unstable


def finite_tables(
    config: FiniteConfig,
    inits: dict[str, RandomInit | InformedInit],
    *,
    rs_gate: bool = False,
    not_compared: list[str] | None = None,
) -> tuple[pd.DataFrame, list[Comparison], list[Dropped]]:
    """Theory and ERM for every (case, activation, ERM start), and the comparison rows
    (against the kept branch, or the branch named by the start when there are several).

    With ``rs_gate``, an ERM α whose kept replica point is RS-unstable (replicon ≥ 1) is not
    compared: it is appended to ``not_compared`` with its replicon eigenvalue."""
    root = root_key(config.seed)
    seeds = replicate_keys(config.seed, max(config.n_seeds, config.n_seeds_low_alpha))
    tasks = []
    for case in config.cases:
        model = case_model(config.model, case)
        key = stream(root, f"case {case}")
        mc = None if model.variant == "spiked" else MonteCarlo()
        pop = Population(model, key=stream(key, "population"), integration=mc)
        bayes = pop.bayes().value
        tasks += [_Piece(case, model, key, pop, bayes, act) for act in config.activations]

    # the replica curve of each (case, activation) and its ERM fits for each start are
    # independent jobs: side by side in threads, a theory job beside a fit job where possible
    # (the replica iterations run one at a time, attnlab._threads.lapack_program; the fits
    # overlap with them freely); the rows keep the config's order
    jobs: list[Any] = []
    for task in tasks:
        jobs.append(lambda task=task: _theory_of(config, task, rs_gate=rs_gate))
        jobs += [
            lambda task=task, init=init: erm_fits(
                config, task.model, task.activation, stream(seeds, f"erm {task.case}"), init
            )
            for init in inits.values()
        ]
    done = iter(side_by_side(jobs, PIECES_AT_ONCE))
    rows: list[dict[str, Any]] = []
    comps: list[Comparison] = []
    dropped: list[Dropped] = []
    for task in tasks:
        model, activation = task.model, task.activation
        base, replica, unstable = next(done)
        rows += [{**base, "kind": "replica", **row} for row in replica]
        for label in inits:
            erm = next(done)
            rows += [{**base, "kind": "erm", "start": label, **row} for row in erm]
            branch = None if len(inits) == 1 else BRANCH_OF[label]
            if not_compared is not None:
                not_compared += [
                    f"{activation}, {model.label()}, α={alpha:g}: replicon {value:.3f}"
                    for alpha, value in unstable.items()
                ]
            c, d = compare_replica_erm(
                replica,
                [row for row in erm if float(row["alpha"]) not in unstable],
                quantity=f"test error: replica vs ERM ({activation})",
                where=f"{model.label()}" + (f", {label} start" if branch else ""),
                dim=config.dim,
                n_mc=config.replica.n_mc,
                branch=branch,
                max_tolerance=MAX_TOLERANCE,
                headline=config.headline and activation == "softmax",
            )
            comps += c
            dropped += d
    return pd.DataFrame(rows), comps, dropped


# independent pieces of a run side by side (threads), at most this many: the 2-core machine
PIECES_AT_ONCE = 2


class _Piece(NamedTuple):
    """One (case, activation) of :func:`finite_tables`, with its case's theory objects."""

    case: str
    model: GSLRModel
    key: Any
    pop: Population
    bayes: float
    activation: str


def _theory_of(
    config: FiniteConfig, piece: _Piece, *, rs_gate: bool
) -> tuple[dict[str, Any], list[dict[str, Any]], dict[float, float]]:
    """The columns shared by a (case, activation)'s rows, its replica curve, and the ERM α
    whose kept replica point is RS-unstable (with their replicon eigenvalue)."""
    case, model, key, pop, bayes, activation = piece
    base = {
        "case": case,
        "variant": model.variant,
        "nu": model.nu,
        "activation": activation,
        "bayes": bayes,
        "population": pop.optimum(activation).risk,
    }
    solver = ReplicaSolver(
        model, activation, stream(key, "replica"), options=config.replica, population=pop
    )
    replica = solver.curve(config.replica_alphas(), r=config.r)
    unstable = rs_unstable_alphas(solver, replica, config.alphas_erm) if rs_gate else {}
    return base, replica, unstable


BRANCH_OF = {"random": "uninformed", "informed": "informed"}


def bayes_optimal_rows(config: FiniteConfig) -> list[dict[str, Any]]:
    """The Bayes-optimal test error on the replica α grid for every case where the theory is
    defined (not max-SLR at ν = 0, where the scores carry no signal and the theory is refused)."""
    rows: list[dict[str, Any]] = []
    for case in config.cases:
        model = case_model(config.model, case)
        if model.variant == "max" and not 0 < model.nu < float("inf"):
            continue
        key = stream(root_key(config.seed), f"case {case}, bayes-optimal")
        alphas = config.replica_alphas()
        errors = bayes_optimal_curve(model, alphas, key=key, options=config.bayes_se)
        rows += [
            {"case": case, "variant": model.variant, "nu": model.nu, "kind": "bayes_optimal",
             "alpha": a, "test_error": float(e)}
            for a, e in zip(alphas, errors, strict=True)
        ]  # fmt: skip
    return rows


def summary_of(table: pd.DataFrame, comps: list[Comparison]) -> dict[str, Any]:
    """Counts of the solvers' outcomes and the largest replica-ERM difference."""
    rep = table[table["kind"] == "replica"]
    erm = table[table["kind"] == "erm"]
    kept = rep.groupby(["case", "activation", "alpha"])["kept"].any()
    return {
        "replica_points": int(len(rep)),
        "replica_branches_not_converged": int((~rep["converged"].astype(bool)).sum()),
        "replica_alphas_without_fixed_point": int((~kept).sum()),
        "erm_fits": int(len(erm)),
        "erm_not_converged": int((~erm["converged"].astype(bool)).sum()),
        "max_abs_replica_minus_erm": max((abs(c.difference) for c in comps), default=None),
    }


def bayes_optimal_summary(table: pd.DataFrame, floor: pd.DataFrame) -> dict[str, Any]:
    """The Bayes-optimal test error per case and α, and the smallest margin by which a kept
    replica point lies above it (negative would contradict Bayes optimality)."""
    if floor.empty:
        return {"bayes_optimal": {}}
    rep = table[(table["kind"] == "replica") & table["kept"].astype(bool)]
    merged = rep.merge(floor[["case", "alpha", "test_error"]], on=["case", "alpha"],
                       suffixes=("", "_bayes"))  # fmt: skip
    margin = (merged["test_error"] - merged["test_error_bayes"]).min() if len(merged) else None
    by_case = {
        case: {f"{a:g}": float(e) for a, e in zip(f["alpha"], f["test_error"], strict=True)}
        for case, f in floor.groupby("case")
    }
    return {
        "bayes_optimal": by_case,
        "min_replica_minus_bayes_optimal": None if margin is None else float(margin),
    }


def _plot(result: Result, config: FiniteConfig) -> dict:
    from attnlab import plot

    t = result.table
    cases = list(dict.fromkeys(t["case"]))
    fig, axes = plot.panel_grid(len(cases), max_cols=3)
    for ax, case in zip(axes, cases, strict=True):
        sub = t[t["case"] == case]
        bayes = float(sub["bayes"].iloc[0])
        at_bayes = []
        for i, a in enumerate(config.activations):
            color = plot.color(i)
            s = sub[sub["activation"] == a]
            rep = s[(s["kind"] == "replica") & s["kept"].astype(bool)].sort_values("alpha")
            ax.plot(
                rep["alpha"],
                rep["test_error"],
                "-s",
                ms=4,
                mfc="none",
                color=color,
                label=f"{a}: replica",
                zorder=3,
            )
            erm = s[s["kind"] == "erm"].groupby("alpha")["test_error"]
            plot.simulation_points(
                ax,
                erm.mean().index,
                erm.mean(),
                erm.std(ddof=1),
                color=color,
                label=f"{a}: ERM, D={config.dim}",
                zorder=4,
            )
            population = float(s["population"].iloc[0])
            if abs(population - bayes) < 1e-3:  # on the Bayes band: say so in its label
                at_bayes.append(a)
            else:
                ax.axhline(
                    population, color=color, ls=":", lw=1.2, label=f"{a}: population optimum"
                )
        label = "Bayes risk" + (f" = {', '.join(at_bayes)} population optimum" if at_bayes else "")
        bayes_band(ax, None, bayes, label=label)
        floor = sub[sub["kind"] == "bayes_optimal"].sort_values("alpha")
        if not floor.empty:
            ax.plot(floor["alpha"], floor["test_error"], "--", color="k", lw=1.2,
                    label="Bayes-optimal at α (state evolution)", zorder=2)  # fmt: skip
        alpha_axis(ax, sub["alpha"])
        model = case_model(config.model, case)
        plot.finish(
            ax,
            xlabel="α = N/D",
            ylabel="test error",
            title=f"{model.variant}, ν={model.nu:g}",
            legend=False,
        )
    plot.figure_legend(fig, axes)
    plot.suptitle(fig, f"Test error vs α, {config.model.length_label()}, r={config.r:g}")
    return {"test_error_vs_alpha": fig}


@experiment(
    "slr-finite",
    config=FiniteConfig,
    description="softmax vs linear attention: ERM test error vs α against the replica curve",
    quick={
        "cases": ["spiked:2"],
        "alphas_theory": [2.0, 4.0, 8.0, 16.0],
        "alphas_erm": [8.0, 16.0],
        "dim": 250,
        "n_seeds": 3,
        "replica.n_mc": 2000,
        "n_test": 5000,
    },
    plot=_plot,
)
def run_finite(config: FiniteConfig) -> Result:
    init = InformedInit() if config.init == "informed" else RandomInit()
    not_compared: list[str] = []
    # the Bayes-optimal curve (state evolution) beside the fits: it needs none of them
    (table, comps, dropped), floor_rows = side_by_side(
        [
            lambda: finite_tables(
                config, {config.init: init}, rs_gate=config.rs_gate, not_compared=not_compared
            ),
            lambda: bayes_optimal_rows(config) if config.bayes_optimal else [],
        ],
    )
    summary = summary_of(table, comps)
    summary["rs_unstable_not_compared"] = not_compared
    if config.bayes_optimal:
        floor = pd.DataFrame(floor_rows)
        summary.update(bayes_optimal_summary(table, floor))
        table = pd.concat([table, floor], ignore_index=True)
    return Result(
        table=table,
        summary=summary,
        comparisons=comps,
        seeds=sorted({int(s) for s in table.loc[table["kind"] == "erm", "seed"]}),
        dropped=dropped,
    )
