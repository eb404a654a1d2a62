"""``pooling-weights``: mean vs harmonic vs optimal weights on two label laws.

The model's label law (default: a decaying profile ``r_t = 0.8^{t−1}``, early tokens carry more
signal, harmonic weights beat mean pooling) and a contrast law (default AR(1), ``p = 0.5``,
where mean pooling wins). Pipeline, per law and weights: simulate
(:func:`~attnlab.pooling.simulate_outliers`; the same trial keys for every weights of a law,
so the weights are compared on the same tables and sequences) → theory
(:func:`~attnlab.pooling.overlap_sample_mu` at the weights' ρ) → compare → table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import Field, field_validator

from attnlab.compare import Result
from attnlab.config import Cost
from attnlab.pooling import (
    HarmonicWeights,
    LabelLaw,
    MarkovLabels,
    MeanWeights,
    OptimalWeights,
    PoolingModel,
    PoolingWeights,
    alignment_thresholds,
    overlap_sample_mu,
    simulate_outliers,
)
from attnlab.pooling._tolerance import RowSet, spike_rows
from attnlab.pooling.experiments._shared import PoolingConfig, check_ells, trial_cost
from attnlab.registry import experiment
from attnlab.rng import replicate_keys, stream

LAWS = ("model", "contrast")


class WeightsConfig(PoolingConfig):
    """Alignment ⟨û, μ̂⟩² of several pooling weights on the model's label law and a contrast."""

    model: PoolingModel = PoolingModel()
    contrast: LabelLaw = Field(
        default_factory=lambda: MarkovLabels(p=0.5),
        description="second label law (replaces the model's), e.g. where mean pooling wins",
    )
    strategies: list[PoolingWeights] = Field(
        default_factory=lambda: [MeanWeights(), HarmonicWeights(), OptimalWeights()],
        min_length=1,
        description="the pooling weights compared",
    )
    center: bool = Field(True, description="centre the pooled data")
    trials: int = Field(10, ge=2, le=10**6, description="trials per (label law, weights)")
    ells: list[float] = Field([0.25, 0.5, 1.0], description="signal strengths ℓ = ||μ||²")

    @field_validator("ells")
    @classmethod
    def _check_ells(cls, v: list[float]) -> list[float]:
        return check_ells(v)

    def law_model(self, law: str) -> PoolingModel:
        return self.model if law == "model" else self.model.replace(labels=self.contrast)

    def cost(self) -> Cost:
        one = trial_cost(self.model, self.trials, len(self.ells), population=False)
        runs = len(LAWS) * len(self.strategies)
        return Cost(one.memory_bytes, runs * one.flops, f"{runs} runs of {one.what}")


def _plot(result: Result, config: WeightsConfig) -> dict:
    from attnlab import plot

    s = result.summary
    fig, axes = plot.panel_grid(len(LAWS), max_cols=2)
    grid = np.linspace(0, max(config.ells) * 1.3, 300)
    for ax, law in zip(axes, LAWS, strict=True):
        for c, name in enumerate(s["rho"][law]):
            rho = s["rho"][law][name]
            theory = overlap_sample_mu(grid, s["delta"], s["gamma"], rho)
            plot.theory_line(ax, grid, theory, label=f"{name} (ρ = {rho:.2f})", color=plot.color(c))
            sub = result.table[(result.table.law == law) & (result.table.weights == name)]
            g = sub.groupby("ell")["value"]
            # the strategies' points side by side at each ℓ, so that none hides another
            shift = 0.01 * max(config.ells) * (c - (len(s["rho"][law]) - 1) / 2)
            xs = g.mean().index.to_numpy() + shift
            plot.simulation_points(ax, xs, g.mean(), g.std(), label=None, color=plot.color(c))
        plot.finish(
            ax, xlabel=r"$\ell$", ylabel=r"$\langle\hat u,\hat\mu\rangle^2$", title=s["laws"][law]
        )
    plot.suptitle(
        fig,
        "pooling weights: theory (lines), simulation mean ± sd (points); "
        f"δ = {s['delta']:.3g}, γ = {s['gamma']:.3g}",
    )
    return {"weights": fig}


@experiment("pooling-weights", quick={"d": 500, "trials": 8}, plot=_plot)
def run_weights(config: WeightsConfig) -> Result:
    """mean vs harmonic vs optimal pooling: harmonic wins for decaying r_t, loses for AR(1)"""
    keys = replicate_keys(config.seed, config.trials)
    frames, rows = [], RowSet()
    rhos: dict[str, dict[str, float]] = {}
    thresholds: dict[str, dict[str, list[float]]] = {}
    for law in LAWS:
        model = config.law_model(law)
        de, ga = model.realised_delta, model.realised_gamma
        rhos[law], thresholds[law] = {}, {}
        for weights in config.strategies:
            name = weights.kind
            sim = simulate_outliers(
                model, weights, stream(keys, law), ells=config.ells, center=config.center
            )
            rhos[law][name] = sim.rho
            thresholds[law][name] = [float(x) for x in alignment_thresholds(de, ga, sim.rho)]
            curve = lambda e, r=sim.rho, de=de, ga=ga: overlap_sample_mu(e, de, ga, r)  # noqa: E731
            rows += spike_rows("⟨û, μ̂⟩²", sim.overlap_mu, sim.ells, curve, model=model,
                                 rho=sim.rho, where=f"{law}, {name}")  # fmt: skip
            T, K = sim.overlap_mu.shape
            frames.append(
                pd.DataFrame(
                    {
                        "law": law,
                        "weights": name,
                        "rho": sim.rho,
                        "trial": np.repeat(np.arange(T), K),
                        "ell": np.tile(sim.ells, T),
                        "value": sim.overlap_mu.ravel(),
                        "theory": np.tile(curve(sim.ells), T),
                    }
                )
            )
    table = pd.concat(frames, ignore_index=True)
    summary = {
        "delta": config.model.realised_delta,
        "gamma": config.model.realised_gamma,
        "laws": {law: config.law_model(law).labels.describe() for law in LAWS},
        "rho": rhos,
        "thresholds_ell1_ell2": thresholds,
    }
    if {"mean", "harmonic"} <= set(rhos["model"]):
        for law in LAWS:
            summary[f"harmonic_beats_mean_{law}"] = rhos[law]["harmonic"] > rhos[law]["mean"]
    return rows.result(table, summary, list(range(config.trials)))
