"""``pooling-phase``: theoretical alignment over (ℓ, ρ) with both transition curves, and the
sample threshold ℓ₂ over (δ, γ), with simulated points.

Pipeline: theory on grids (vectorised, no per-point loop) → simulate a few (ℓ, ρ) points
(mean weights on a constant profile ``r``, so ``ρ = 1 + (L − 1) r²``) → compare the simulated
overlaps at those points → table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import Field, field_validator, model_validator

from attnlab.compare import Result
from attnlab.config import Cost
from attnlab.pooling import (
    HiddenLabel,
    MeanWeights,
    PoolingModel,
    alignment_thresholds,
    overlap_sample_m,
    overlap_sample_mu,
    s_star,
    simulate_outliers,
)
from attnlab.pooling._tolerance import RowSet, spike_rows
from attnlab.pooling.experiments._shared import PoolingConfig, trial_cost
from attnlab.registry import experiment
from attnlab.rng import replicate_keys, stream

OVERLAPS = (
    ("overlap_mu", "⟨û, μ̂⟩²", overlap_sample_mu),
    ("overlap_m", "⟨û, m̂⟩²", overlap_sample_m),
)


class PhaseConfig(PoolingConfig):
    """Alignment over (ℓ, ρ) at the model's (δ, γ); simulated points use mean weights on a
    constant profile realising each ρ (the model's label law is replaced there)."""

    model: PoolingModel = PoolingModel()
    trials: int = Field(10, ge=2, le=10**6, description="trials per simulated point")
    grid: int = Field(200, ge=10, le=2000, description="theory grid points per axis")
    ell_max: float = Field(4.0, gt=0, le=1e4, description="largest ℓ of the diagram")
    rho_max: float = Field(6.0, gt=1, le=1e4, description="largest ρ of the diagram")
    points: list[tuple[float, float]] = Field(
        [(0.0, 5.0), (0.5, 2.0), (1.0, 1.0), (2.5, 1.0), (1.5, 3.0)],
        description="simulated (ℓ, ρ) points, ℓ in [0, 1e8], ρ in [1, L]",
    )

    @field_validator("points")
    @classmethod
    def _check_points(cls, v: list[tuple[float, float]]) -> list[tuple[float, float]]:
        if any(not 0 <= e <= 1e8 or r < 1 for e, r in v):
            raise ValueError("each point needs 0 <= ell <= 1e8 and rho >= 1")
        return v

    @model_validator(mode="after")
    def _realisable(self) -> PhaseConfig:
        L = self.model.L
        for _, rho in self.points:
            if rho > L or (L == 1 and rho != 1):
                raise ValueError(
                    f"points: rho = {rho:g} cannot be realised with L = {L} (need 1 <= rho <= L)"
                )
        return self

    def point_model(self, rho: float) -> PoolingModel:
        """The model with a constant profile ``r = √((ρ − 1)/(L − 1))`` (mean weights: ρ)."""
        L = self.model.L
        r = np.sqrt((rho - 1) / (L - 1)) if L > 1 else 0.0
        return self.model.replace(labels=HiddenLabel(profile="constant", r0=float(r)))

    def cost(self) -> Cost:
        one = trial_cost(self.model, self.trials, 1, population=False)
        n = max(len(self.points), 1)
        return Cost(max(one.memory_bytes, 8.0 * 4 * self.grid**2), n * one.flops, one.what)


def _theory_grid(config: PhaseConfig, de: float, ga: float) -> tuple[np.ndarray, np.ndarray]:
    ell = np.linspace(0, config.ell_max, config.grid)
    rho = np.linspace(0.2, config.rho_max, config.grid)
    return np.meshgrid(ell, rho)


def _plot(result: Result, config: PhaseConfig) -> dict:
    from matplotlib.colors import LogNorm

    from attnlab import plot

    s = result.summary
    de, ga = s["delta"], s["gamma"]
    E, P = _theory_grid(config, de, ga)
    fig, axes = plot.panel_grid(3, max_cols=3)
    pts = pd.DataFrame(s["points"])
    rho_axis = P[:, 0]
    for ax, (key, _, fn) in zip(axes[:2], OVERLAPS, strict=True):
        label = (
            r"$\langle\hat u,\hat\mu\rangle^2$"
            if key == "overlap_mu"
            else r"$\langle\hat u,\hat m\rangle^2$"
        )
        im = ax.pcolormesh(
            E, P, fn(E, de, ga, P), shading="auto", cmap="viridis", vmin=0, vmax=1, rasterized=True
        )
        fig.colorbar(im, ax=ax, label=label)
        ell_1, ell_2 = alignment_thresholds(de, ga, rho_axis)
        ax.plot(
            np.where(ell_1 >= 0, ell_1, np.nan),
            rho_axis,
            "--",
            color="white",
            lw=1.2,
            label="ℓ₁ (population)",
        )
        ax.plot(
            np.where(ell_2 >= 0, ell_2, np.nan),
            rho_axis,
            "-",
            color=plot.color(1),
            lw=1.2,
            label="ℓ₂ (sample)",
        )
        ax.scatter(
            pts["ell"],
            pts["rho"],
            c=pts[key],
            cmap="viridis",
            vmin=0,
            vmax=1,
            edgecolors="white",
            label="simulation",
        )
        ax.set_xlim(-0.03 * config.ell_max, config.ell_max)
        ax.grid(False)
        plot.finish(
            ax, xlabel=r"$\ell$", ylabel=r"$\rho$", legend=key == "overlap_mu", fontsize="small"
        )
    ax = axes[2]
    dd = np.logspace(-2, 1, config.grid)
    D, G = np.meshgrid(dd, dd)
    im = ax.pcolormesh(
        D,
        G,
        alignment_thresholds(D, G, 1.0)[1],
        shading="auto",
        cmap="magma",
        norm=LogNorm(),
        rasterized=True,
    )
    fig.colorbar(im, ax=ax, label=r"$\ell_2$ at $\rho = 1$")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.grid(False)
    plot.finish(ax, xlabel=r"$\delta$", ylabel=r"$\gamma$", title="sample threshold (symmetric)")
    plot.suptitle(fig, f"alignment over (ℓ, ρ) at δ = {de:.3g}, γ = {ga:.3g}; points: simulation")
    return {"phase": fig}


@experiment("pooling-phase", quick={"d": 600, "trials": 10, "grid": 100}, plot=_plot)
def run_phase(config: PhaseConfig) -> Result:
    """theoretical alignment over (ℓ, ρ) with both transition curves, simulated points"""
    de, ga = config.model.realised_delta, config.model.realised_gamma
    E, P = _theory_grid(config, de, ga)
    frames = [
        pd.DataFrame(
            {
                "kind": "theory",
                "ell": E.ravel(),
                "rho": P.ravel(),
                "trial": -1,
                "overlap_mu": overlap_sample_mu(E, de, ga, P).ravel(),
                "overlap_m": overlap_sample_m(E, de, ga, P).ravel(),
            }
        )
    ]
    keys = replicate_keys(config.seed, config.trials)
    s_c = float(s_star(de, ga))
    rows, points = RowSet(), []
    for k, (ell, rho_k) in enumerate(config.points):
        model = config.point_model(rho_k)
        sim = simulate_outliers(model, MeanWeights(), stream(keys, f"point {k}"), ells=[ell])
        point = {"ell": ell, "rho": sim.rho}
        for key, name, fn in OVERLAPS:
            samples = getattr(sim, key)
            curve = lambda e, fn=fn, r=sim.rho: fn(e, de, ga, r)  # noqa: E731
            rows += spike_rows(name, samples, sim.ells, curve, model=model, rho=sim.rho,
                                 where=f"ρ={sim.rho:.3g}")  # fmt: skip
            point[key] = float(np.nanmean(samples))
        points.append(point)
        frames.append(
            pd.DataFrame(
                {
                    "kind": "simulation",
                    "ell": ell,
                    "rho": sim.rho,
                    "trial": np.arange(config.trials),
                    "overlap_mu": sim.overlap_mu[:, 0],
                    "overlap_m": sim.overlap_m[:, 0],
                }
            )
        )
    summary = {
        "delta": de,
        "gamma": ga,
        "s_star": s_c,
        "points": points,
        "theory_points": int(E.size),
    }
    return rows.result(pd.concat(frames, ignore_index=True), summary, list(range(config.trials)))
