"""Pieces shared by the pooling experiments: costs, ℓ grids, tidy tables, the plot vs ℓ."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from attnlab.config import Cost, ExperimentConfig
from attnlab.pooling import PoolingModel, alignment_thresholds, mp_product_edges, s_star

LANCZOS_ITERATIONS = 150  # typical Krylov dimension of one top-eigenpair run (cost estimate)


class PoolingConfig(ExperimentConfig):
    """Base of the pooling experiment configs (an override of some fields of a nested object,
    e.g. ``--set d=400``, applies on top of this config's own default object: see
    :class:`attnlab.config.Params`)."""


def check_ells(values: list[float]) -> list[float]:
    """A non-empty, sorted list of ``ℓ`` in [0, 1e8] (raises ValueError for the config)."""
    if not values or any(not 0 <= e <= 1e8 for e in values):
        raise ValueError("need at least one ell, each in [0, 1e8]")
    return sorted(values)


def trial_cost(model: PoolingModel, trials: int, operators: int, *, population: bool) -> Cost:
    """Peak memory and flops of ``trials`` trials of top-eigenpair runs on ``operators``
    operators each (table ``V × d``, data ``N × d``, Krylov bases ``operators × k × d``)."""
    d, V, N = float(model.d), float(model.V), float(model.N)
    k = min(LANCZOS_ITERATIONS, d)
    memory = 8.0 * (V * d + N * d + 2 * operators * k * d)
    per_trial = V * d + 2 * N * model.L * d + 4 * k * operators * N * d
    if population:
        per_trial += 4 * k * operators * V * d
    return Cost(
        memory, trials * per_trial, f"{trials} trials × (V={V:.0f} + N={N:.0f}) × d={d:.0f}"
    )


def spectrum_cost(model: PoolingModel, trials: int) -> Cost:
    """Peak memory and flops of ``trials`` full spectra (Gram ``min(N, d)²`` and its eigh)."""
    d, V, N = float(model.d), float(model.V), float(model.N)
    m = min(N, d)
    memory = 8.0 * (V * d + N * d + 2 * m * m)
    per_trial = V * d + 2 * N * model.L * d + 2 * N * d * m + 10 * m**3
    return Cost(memory, trials * per_trial, f"{trials} spectra × N={N:.0f} × d={d:.0f}")


def ell_summary(model: PoolingModel, rho: float) -> dict[str, float]:
    """Realised ``δ, γ``, ``ρ``, both thresholds in ``ℓ``, ``s*`` and the bulk edge ``λ₊``."""
    de, ga = model.realised_delta, model.realised_gamma
    ell_1, ell_2 = alignment_thresholds(de, ga, rho)
    return {
        "delta": de,
        "gamma": ga,
        "rho": float(rho),
        "ell_1": float(ell_1),
        "ell_2": float(ell_2),
        "s_star": float(s_star(de, ga)),
        "lambda_plus": float(mp_product_edges(de, ga)[1]),
    }


def long_table(ells: np.ndarray, quantities: dict[str, tuple[np.ndarray, Any]]) -> pd.DataFrame:
    """Tidy table: one row per (quantity, trial, ℓ) with the simulated value and the theory."""
    frames = []
    for name, (values, theory) in quantities.items():
        T, K = values.shape
        frames.append(
            pd.DataFrame(
                {
                    "trial": np.repeat(np.arange(T), K),
                    "ell": np.tile(ells, T),
                    "quantity": name,
                    "value": values.ravel(),
                    "theory": np.tile(np.broadcast_to(theory, (K,)), T),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


Panel = tuple[str, str, Callable[[np.ndarray], np.ndarray], tuple[float | None, float | None]]


def plot_vs_ell(
    table: pd.DataFrame,
    summary: dict[str, Any],
    ells: Sequence[float],
    panels: Sequence[Panel],
    *,
    thresholds: Sequence[tuple[float, str]],
    title: str,
    max_cols: int = 2,
) -> tuple[Any, list[Any]]:
    """One panel per ``(quantity, y label, theory curve, clip range)``: theory line, simulation
    mean ± sd band over trials, threshold lines; the legend on the first panel, one shared
    title."""
    from attnlab import plot

    fig, axes = plot.panel_grid(len(panels), max_cols=max_cols)
    grid = np.linspace(0, max(ells) * 1.02, 400)
    for i, (ax, (qty, label, curve, clip)) in enumerate(zip(axes, panels, strict=True)):
        sub = table[table.quantity == qty]
        piv = sub.pivot(index="trial", columns="ell", values="value")
        plot.theory_line(ax, grid, curve(grid), label="theory")
        plot.simulation_band(
            ax, piv.columns.to_numpy(), piv.to_numpy(), label="simulation ± sd", clip=clip
        )
        xs = [x if x > 0 else np.nan for x, _ in thresholds]
        plot.threshold_lines(ax, xs, [name for _, name in thresholds])
        plot.finish(ax, xlabel=r"$\ell = \|\mu\|^2$", ylabel=label, legend=i == 0)
    plot.suptitle(
        fig,
        f"{title}: ρ = {summary['rho']:.3g}, δ = {summary['delta']:.3g}, "
        f"γ = {summary['gamma']:.3g}",
    )
    return fig, axes
