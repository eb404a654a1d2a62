"""``pooling-spectrum``: the spectrum of Ĉ/κ against the MP_δ ⊠ MP_γ density.

Pipeline, per (δ, γ) pair: simulate (:func:`~attnlab.pooling.simulate_spectra` of the model
and of a spike-free control with i.i.d. labels, ``R = I``, whose covariance is exactly
``κ W_full`` with no rank-one term) → theory (moments, edge and outlier) → compare → table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import Field, model_validator

from attnlab.compare import Comparison, Result, bound
from attnlab.config import ConfigError, Cost
from attnlab.pooling import (
    HiddenLabel,
    MeanWeights,
    PoolingModel,
    PoolingWeights,
    marchenko_pastur_density,
    mp_product_atom,
    mp_product_density,
    mp_product_edges,
    mp_product_moments,
    outlier_sample,
    rho,
    simulate_spectra,
    weights_vector,
)
from attnlab.pooling._tolerance import RowSet, edge_allowance, spike_rows, trial_error
from attnlab.pooling.experiments._shared import PoolingConfig, spectrum_cost
from attnlab.registry import experiment
from attnlab.rng import replicate_keys, stream


class SpectrumConfig(PoolingConfig):
    """Full spectrum of Ĉ/κ at several (δ, γ) pairs (each replaces the model's δ, γ)."""

    model: PoolingModel = PoolingModel()
    weights: PoolingWeights = Field(default_factory=MeanWeights, description="pooling weights")
    center: bool = Field(True, description="centre the pooled data")
    trials: int = Field(10, ge=2, le=10**6, description="independent trials per pair")
    pairs: list[tuple[float, float]] = Field(
        [(0.5, 0.5), (2.0, 0.5), (0.25, 1.0)],
        min_length=1,
        description="(δ, γ) pairs; each replaces the model's δ and γ",
    )
    ell: float = Field(3.0, ge=0, le=1e8, description="signal strength ℓ = ||μ||²")

    @model_validator(mode="after")
    def _valid_pairs(self) -> SpectrumConfig:
        for pair in self.pairs:
            try:
                self.pair_model(pair)
            except ConfigError as err:
                raise ValueError(f"pairs: {pair}: {str(err).split(': ', 1)[1]}") from None
        return self

    def pair_model(self, pair: tuple[float, float]) -> PoolingModel:
        return self.model.replace(delta=pair[0], gamma=pair[1])

    def cost(self) -> Cost:
        costs = [spectrum_cost(self.pair_model(p), 2 * self.trials) for p in self.pairs]
        big = max(costs, key=lambda c: c.memory_bytes)
        return Cost(big.memory_bytes, sum(c.flops for c in costs), big.what)


def _moment_rows(control: np.ndarray, model: PoolingModel, where: str) -> list[Comparison]:
    """First two moments and the largest eigenvalue of the spike-free control."""
    de, ga, V, N = model.realised_delta, model.realised_gamma, model.V, model.N
    theory = mp_product_moments(2, delta=de, gamma=ga)
    rows = []
    # m1 checks the κ normalisation (5 % of its value 1); m2 = 1 + δ + γ differs from plain
    # MP_γ's 1 + γ by δ: a tolerance above δ/2 could not tell the two laws apart
    for k, max_tol in ((1, 0.05), (2, de / 2)):
        mean, sd, tol = trial_error(np.mean(control**k, axis=1))
        shift = bound(
            2 * k * theory[k - 1] * (1 / V + 1 / N),
            "2k m_k (1/V + 1/N): the centred Wishart factors have V−1 and N−1 degrees of freedom",
        )
        rows.append(
            Comparison(
                f"bulk moment m{'₁₂'[k - 1]} (spike-free control)",
                theory[k - 1],
                mean,
                tol + shift,
                max_tolerance=max_tol,
                where=where,
                simulation_sd=sd,
            )
        )
    edge = float(mp_product_edges(de, ga)[1])
    mean, sd, tol = trial_error(control[:, 0])
    # half the gap between this edge and plain MP_γ's (1 + √γ)²: a larger tolerance could not
    # tell the two laws' edges apart
    max_tol = (edge - (1 + np.sqrt(ga)) ** 2) / 2
    rows.append(
        Comparison(
            "largest eigenvalue, control (edge λ₊)",
            edge,
            mean,
            tol + edge_allowance(edge, model.d),
            max_tolerance=max_tol,
            where=where,
            simulation_sd=sd,
        )
    )
    return rows


def _plot(result: Result, config: SpectrumConfig) -> dict:
    from attnlab import plot

    pairs = result.summary["pairs"]
    fig, axes = plot.panel_grid(len(pairs), max_cols=3)
    tab = result.table
    for i, (ax, info) in enumerate(zip(axes, pairs, strict=True)):
        de, ga = info["delta"], info["gamma"]
        ev = tab[(tab["pair"] == i) & (tab["sample"] == "signal")]["eigenvalue"].to_numpy()
        lo, hi = info["lambda_minus"], info["lambda_plus"]
        bulk = ev[(ev > 1e-9) & (ev < hi * 1.3)]
        grid = np.linspace(max(lo - 0.05, 1e-4), hi * 1.05, 600)
        atom = info["atom"]
        dens = mp_product_density(grid, delta=de, gamma=ga) / (1 - atom)
        plot.histogram_vs_density(
            ax, bulk, grid, dens, bins=70, density_label=r"MP$_\delta \boxtimes$ MP$_\gamma$"
        )
        mp = marchenko_pastur_density(grid, gamma=ga) / min(1.0, 1 / ga)
        ax.plot(grid, mp, ":", color=plot.color(1), lw=1.2, label=r"MP$_\gamma$ (contrast)")
        ax.axvline(
            info["outlier_theory"], color=plot.color(2), ls="--", lw=1, label="outlier (theory)"
        )
        tops = info["outlier_simulation_all"]
        ax.plot(
            tops,
            np.zeros(len(tops)),
            "v",
            color=plot.color(2),
            ms=5,
            clip_on=False,
            label="top eigenvalue (sim.)",
        )
        ax.set_xlim(0, max(info["outlier_theory"], hi) * 1.08)
        ax.set_ylim(0, min(float(dens.max()), 4 * float(np.percentile(dens[dens > 0], 75))) * 1.1)
        plot.finish(
            ax,
            xlabel=r"eigenvalue / $\kappa$",
            ylabel="density (nonzero part)",
            title=f"δ = {de:.3g}, γ = {ga:.3g}, atom {atom:.2f}",
            legend=i == 0,
        )
    plot.suptitle(fig, f"spectrum of Ĉ/κ at ℓ = {config.ell:g}, ρ = {result.summary['rho']:.3g}")
    return {"spectrum": fig}


@experiment("pooling-spectrum", quick={"d": 500, "trials": 12}, plot=_plot)
def run_spectrum(config: SpectrumConfig) -> Result:
    """histogram of eig(Ĉ)/κ vs the MP_δ ⊠ MP_γ density, outlier marked"""
    control_labels = HiddenLabel(profile="constant", r0=0.0)  # i.i.d. labels: R = I
    keys = replicate_keys(config.seed, config.trials)
    w = weights_vector(config.weights, config.model.correlation)
    rho_w = rho(w, config.model.correlation)
    frames, rows, pairs = [], RowSet(), []
    for k, pair in enumerate(config.pairs):
        model = config.pair_model(pair)
        de, ga = model.realised_delta, model.realised_gamma
        where = f"δ={de:.3g}, γ={ga:.3g}"
        signal = simulate_spectra(
            model, w, stream(keys, f"pair {k}"), ell=config.ell, center=config.center
        )
        control = simulate_spectra(
            model.replace(labels=control_labels), w, stream(keys, f"control {k}")
        )
        rows += (_moment_rows(control, model, where), [])
        lo, hi = (float(e) for e in mp_product_edges(de, ga))
        curve = lambda e, de=de, ga=ga: outlier_sample(e, de, ga, rho_w)  # noqa: E731
        rows += spike_rows("outlier λ̂/κ", signal[:, :1], [config.ell], curve, model=model,
                                rho=rho_w, eigenvalue=True, where=where)  # fmt: skip
        pairs.append(
            {
                "pair": k,
                "delta": de,
                "gamma": ga,
                "lambda_minus": lo,
                "lambda_plus": hi,
                "atom": float(mp_product_atom(de, ga)),
                "outlier_theory": float(curve(config.ell)),
                "outlier_simulation": float(signal[:, 0].mean()),
                "outlier_simulation_all": [float(t) for t in signal[:, 0]],
            }
        )
        for sample, ev in (("signal", signal), ("control", control)):
            T, d = ev.shape
            frames.append(
                pd.DataFrame(
                    {
                        "pair": k,
                        "delta": de,
                        "gamma": ga,
                        "sample": sample,
                        "trial": np.repeat(np.arange(T), d),
                        "rank": np.tile(np.arange(d), T),
                        "eigenvalue": ev.ravel(),
                    }
                )
            )
    return rows.result(
        pd.concat(frames, ignore_index=True),
        {"rho": rho_w, "kappa": float(w @ w), "ell": config.ell, "pairs": pairs},
        list(range(config.trials)),
    )
