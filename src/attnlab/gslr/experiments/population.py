"""``slr-population``: population risk of each activation against the Bayes risk, vs ν.

Pipeline, for spiked-SLR (ν in ``nus``) and max-SLR (ν in ``max_nus``) at each law of L:
theory (:class:`~attnlab.gslr.Population`: Bayes risk, the optimum of each activation by the
2-parameter search, the closed-form optimum of linear attention) → compare (softmax's optimum
against the Bayes risk; linear's search against its closed form) → table and figure.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from pydantic import Field, field_validator

from attnlab import progress
from attnlab.compare import Comparison, Dropped, Result, Tolerance, monte_carlo
from attnlab.config import Cost, ExperimentConfig
from attnlab.gslr import (
    GSLRModel,
    MonteCarlo,
    Population,
    check_activation_names,
    linear_attention_optimum,
)
from attnlab.gslr._model import check_lengths
from attnlab.gslr.experiments._plotting import bayes_band
from attnlab.registry import experiment
from attnlab.rng import root_key, stream

QUADRATURE_TOLERANCE = 1e-6
MAX_TOLERANCE = 0.01


class PopulationConfig(ExperimentConfig):
    """Population risks vs ν; ``model`` gives Δ (variant, ν and L are set per point)."""

    model: GSLRModel = GSLRModel()
    nus: list[float] = Field(
        [0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0], description="signal strengths ν (spiked-SLR)"
    )
    max_nus: list[float] = Field([1.0, 2.0, 5.0, 10.0], description="signal strengths ν (max-SLR)")
    lengths: list[int | list[int]] = Field(
        [2, 3, [1, 2, 3]], description="laws of L: an int, or a list of lengths (uniform)"
    )
    activations: list[str] = Field(["softmax", "linear", "erf", "softplus"])
    n_mc: int = Field(100_000, ge=1000, le=10**7, description="Monte-Carlo draws (max-SLR)")
    headline: bool = Field(True, description="flag the softmax-vs-Bayes rows as headline")

    @field_validator("nus", "max_nus")
    @classmethod
    def _nonneg(cls, v: list[float]) -> list[float]:
        if any(not 0 <= x <= 1e6 for x in v):
            raise ValueError("must be in [0, 1e6]")
        return v

    @field_validator("lengths")
    @classmethod
    def _lengths(cls, v: list[Any]) -> list[Any]:
        for x in v:
            check_lengths(x)
        return v

    _acts = field_validator("activations")(check_activation_names)

    def points(self) -> list[GSLRModel]:
        """The models of the sweep: every (variant, L, ν)."""
        out = []
        for variant, nus in (("spiked", self.nus), ("max", self.max_nus)):
            for length in self.lengths:
                out += [self.model.replace(variant=variant, L=length, nu=nu) for nu in nus]
        return out

    def cost(self) -> Cost:
        points = self.points()
        per_point = (
            max((32**3 * 3 if m.variant == "spiked" else self.n_mc * m.max_length) for m in points)
            if points
            else 0
        )
        evaluations = 119 + 200  # grid + local searches
        flops = 50.0 * len(points) * len(self.activations) * evaluations * per_point
        memory = 8.0 * 5 * self.n_mc * max((m.max_length for m in points), default=1)
        return Cost(memory, flops, f"{len(points)} points × {len(self.activations)} activations")


def _point_rows(
    pop: Population, config: PopulationConfig, key: Any
) -> tuple[list[dict], list[Comparison], list[Dropped]]:
    model = pop.model
    bayes = pop.bayes()
    linear_cf = linear_attention_optimum(model, key=key)
    where = model.label()
    rows, comps, dropped = [], [], []
    for activation in config.activations:
        opt = pop.optimum(activation)
        rows.append(
            {
                "variant": model.variant,
                "L": model.length_label(),
                "nu": model.nu,
                "activation": activation,
                "risk": opt.risk,
                "stderr": opt.stderr,
                "m_k": opt.overlaps.m_k,
                "q_k": opt.overlaps.q_k,
                "bayes": bayes.value,
                "bayes_stderr": bayes.stderr,
                "gap": opt.risk - bayes.value,
                "at_boundary": opt.at_boundary,
                "converged": opt.converged,
            }
        )
        if not opt.converged:
            dropped.append(Dropped(f"{activation} optimum", where, opt.message))
            continue
        quad = pop.method == "quadrature"
        if activation == "softmax":
            tol = _tolerance(quad, math.hypot(opt.stderr, bayes.stderr))
            comps.append(
                Comparison(
                    "softmax optimum vs Bayes risk",
                    bayes.value,
                    opt.risk,
                    tol,
                    max_tolerance=MAX_TOLERANCE,
                    where=where,
                    headline=config.headline,
                )
            )
        if activation == "linear":
            tol = _tolerance(quad, math.hypot(opt.stderr, linear_cf.stderr))
            comps.append(
                Comparison(
                    "linear optimum: 2-parameter search vs closed form",
                    linear_cf.risk,
                    opt.risk,
                    tol,
                    max_tolerance=MAX_TOLERANCE,
                    where=where,
                )
            )
    return rows, comps, dropped


def _tolerance(quadrature: bool, se: float) -> Tolerance:
    if quadrature:
        return Tolerance(
            QUADRATURE_TOLERANCE, "quadrature error < 1e-9 + optimiser tolerance ~1e-9 (bound)"
        )
    # the same Monte-Carlo draws enter both values, so 4 SE of each is conservative
    return monte_carlo(se, z=4, what="Monte-Carlo (common random numbers)")


def _plot(result: Result, config: PopulationConfig) -> dict:
    from attnlab import plot

    t = result.table
    figs = {}
    for variant in dict.fromkeys(t["variant"]):
        sub = t[t["variant"] == variant]
        lengths = list(dict.fromkeys(sub["L"]))
        fig, axes = plot.panel_grid(len(lengths), max_cols=3, sharey=True)
        for ax, length in zip(axes, lengths, strict=True):
            s = sub[sub["L"] == length]
            b = s.drop_duplicates("nu").sort_values("nu")
            bayes_band(ax, b["nu"], b["bayes"])
            for i, a in enumerate(config.activations):
                sa = s[s["activation"] == a].sort_values("nu")
                ax.plot(sa["nu"], sa["risk"], "o-", ms=3, color=plot.color(i), label=a, zorder=3)
            plot.finish(ax, xlabel="ν", ylabel="population risk", title=length, legend=False)
        plot.figure_legend(fig, axes, ncols=5)  # the same entries in every panel
        plot.suptitle(fig, f"{variant}-SLR: optimal population risk vs signal strength")
        figs[f"population_{variant}"] = fig
    return figs


@experiment(
    "slr-population",
    config=PopulationConfig,
    description="population risk of softmax/linear/erf/softplus attention vs ν, with Bayes",
    quick={
        "nus": [0.5, 1.0, 2.0],
        "max_nus": [2.0, 5.0],
        "lengths": [3],
        "activations": ["softmax", "linear"],
        "n_mc": 20_000,
    },
    plot=_plot,
)
def run_population(config: PopulationConfig) -> Result:
    root = root_key(config.seed)
    rows, comps, dropped = [], [], []
    points = config.points()
    with progress.track("population optima (ν points)", len(points)) as bar:
        for model in points:
            key = stream(root, f"population {model.label()}")
            pop = Population(
                model,
                key=key,
                integration=None if model.variant == "spiked" else MonteCarlo(n=config.n_mc),
            )
            r, c, d = _point_rows(pop, config, key)
            rows += r
            comps += c
            dropped += d
            bar.advance(1)
    table = pd.DataFrame(rows)
    soft = table[table["activation"] == "softmax"]["gap"] if len(table) else []
    lin = table[table["activation"] == "linear"]["gap"] if len(table) else []
    summary = {
        "max_softmax_minus_bayes": float(np.abs(soft).max()) if len(soft) else None,
        "min_linear_minus_bayes": float(np.min(lin)) if len(lin) else None,
    }
    return Result(
        table=table, summary=summary, comparisons=comps, seeds=[config.seed], dropped=dropped
    )
