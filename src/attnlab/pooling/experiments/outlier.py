"""``pooling-outlier``: the top eigenvalue of Ĉ/κ vs ℓ at sample and population level.

Pipeline: simulate (:func:`~attnlab.pooling.simulate_outliers`, trials × ℓ with common random
numbers) → theory (:func:`~attnlab.pooling.outlier_sample`,
:func:`~attnlab.pooling.outlier_population`) → compare (one row per ℓ, finite-size tolerances
of :mod:`attnlab.pooling._tolerance`) → table.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from pydantic import Field, field_validator

from attnlab.compare import Result
from attnlab.config import Cost
from attnlab.pooling import (
    HiddenLabel,
    MeanWeights,
    OutlierSimulation,
    PoolingModel,
    PoolingWeights,
    outlier_population,
    outlier_sample,
    simulate_outliers,
)
from attnlab.pooling._tolerance import spike_rows
from attnlab.pooling.experiments._shared import (
    Panel,
    PoolingConfig,
    check_ells,
    ell_summary,
    long_table,
    plot_vs_ell,
    trial_cost,
)
from attnlab.registry import experiment
from attnlab.rng import replicate_keys

# quick preset shared by pooling-outlier and pooling-alignment (same config, same simulation)
QUICK = {"d": 600, "trials": 10, "ells": [0.0, 0.5, 1.0, 2.0, 3.0, 5.0]}


class OutlierConfig(PoolingConfig):
    """Top eigenpair of the pooled covariance vs ℓ at one (δ, γ) (also ``pooling-alignment``)."""

    model: PoolingModel = PoolingModel(labels=HiddenLabel(r0=0.3, q=0.8))
    weights: PoolingWeights = Field(default_factory=MeanWeights, description="pooling weights")
    center: bool = Field(True, description="centre the pooled data")
    trials: int = Field(10, ge=2, le=10**6, description="independent trials (table + sequences)")
    ells: list[float] = Field(
        [0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0],
        description="signal strengths ℓ = ||μ||²",
    )
    population: bool = Field(True, description="also compute the N = ∞ (population) level")

    @field_validator("ells")
    @classmethod
    def _check_ells(cls, v: list[float]) -> list[float]:
        return check_ells(v)

    def cost(self) -> Cost:
        return trial_cost(self.model, self.trials, len(self.ells), population=self.population)


def simulate(config: OutlierConfig) -> tuple[OutlierSimulation, dict]:
    """The trials × ℓ simulation shared by ``pooling-outlier`` and ``pooling-alignment``, and
    its summary (realised δ, γ, ρ, κ, thresholds, edge)."""
    sim = simulate_outliers(
        config.model,
        config.weights,
        replicate_keys(config.seed, config.trials),
        ells=config.ells,
        center=config.center,
        population=config.population,
    )
    return sim, {**ell_summary(config.model, sim.rho), "kappa": sim.kappa}


def plot_vs_ell_thresholds(
    result: Result, config: OutlierConfig, panels: Sequence[Panel], what: str
) -> tuple[Any, list[Any]]:
    """:func:`plot_vs_ell` of an outlier run with both thresholds ℓ₁ (population) and ℓ₂
    (sample) marked, titled ``what`` with the weights and d."""
    s = result.summary
    return plot_vs_ell(
        result.table,
        s,
        config.ells,
        panels,
        thresholds=[(s["ell_1"], "ℓ₁ (population)"), (s["ell_2"], "ℓ₂ (sample)")],
        title=f"{what}, {config.weights.kind} weights, d = {config.model.d}",
    )


def _plot(result: Result, config: OutlierConfig) -> dict:
    s = result.summary
    de, ga, rho = s["delta"], s["gamma"], s["rho"]
    panels = [
        (
            "lambda_hat",
            r"top eigenvalue of $\hat C/\kappa$",
            lambda e: outlier_sample(e, de, ga, rho),
            (0, None),
        )
    ]
    if config.population:
        panels.append(
            (
                "lambda_pop",
                r"population top eigenvalue / $\kappa$",
                lambda e: outlier_population(e, de, rho),
                (0, None),
            )
        )
    fig, axes = plot_vs_ell_thresholds(result, config, panels, "top eigenvalue")
    edges = [
        (s["lambda_plus"], r"bulk edge $\lambda_+$"),
        ((1 + np.sqrt(de)) ** 2, r"MP$_\delta$ edge"),
    ]
    for ax, (edge, label) in zip(axes, edges, strict=False):
        ax.axhline(edge, color="#7f7f7f", lw=0.8, ls=":", label=label)
        ax.legend()
    return {"outlier": fig}


@experiment("pooling-outlier", quick=QUICK, plot=_plot)
def run_outlier(config: OutlierConfig) -> Result:
    """top eigenvalue of Ĉ/κ vs ℓ (sample and population) with both thresholds"""
    sim, s = simulate(config)
    model, de, ga, rho = config.model, sim.delta, sim.gamma, sim.rho
    sample_curve = lambda e: outlier_sample(e, de, ga, rho)  # noqa: E731
    rows = spike_rows("λ̂/κ", sim.lam, sim.ells, sample_curve, model=model, rho=rho, eigenvalue=True)
    quantities = {"lambda_hat": (sim.lam, sample_curve(sim.ells))}
    if config.population:
        pop_curve = lambda e: outlier_population(e, de, rho)  # noqa: E731
        rows += spike_rows("population λ/κ", sim.lam_pop, sim.ells, pop_curve, model=model,
                                rho=rho, eigenvalue=True, population=True)  # fmt: skip
        quantities["lambda_pop"] = (sim.lam_pop, pop_curve(sim.ells))
    return rows.result(long_table(sim.ells, quantities), s, list(range(config.trials)))
