"""Figures of the erf-SLR experiments (matplotlib imported only when one is drawn)."""

from __future__ import annotations

from typing import Any

import numpy as np

from attnlab.compare import Result
from attnlab.erf_slr._risk import best_linear_excess_risk, oracle_excess_risk_curve

__all__ = ["limit_figure", "oracle_figure", "training_figure"]


def _grid(table, steps, column):
    return table.pivot(index="seed", columns="step", values=column).loc[:, steps].to_numpy()


def _risk_panel(ax, result: Result, config, steps, lams) -> None:
    from attnlab import plot

    t = result.table
    plot.simulation_band(ax, steps, _grid(t, steps, "excess_risk"), band="q95", markers=False,
                         label="closed-form ℰ(k_t, v_t), mean and 95 % band", clip=(0, None))  # fmt: skip
    if "test_excess" in t:
        plot.simulation_band(ax, steps, _grid(t, steps, "test_excess"), color=plot.color(1),
                             band="q95", markers=False, label="test MSE − ε² (fixed test set)")  # fmt: skip
    elif "heldout_test_excess" in result.summary:
        held = np.asarray(result.summary["heldout_test_excess"])
        se = np.asarray(result.summary["heldout_test_excess_se"])
        err = np.sqrt(held.var(ddof=1) / held.size + np.sum(se**2) / held.size**2)
        plot.simulation_points(ax, [steps[-1]], [held.mean()], [2 * err], color=plot.color(1),
                               label="test MSE − ε² at the end (mean ± 2 SE)")  # fmt: skip
    oracle = oracle_excess_risk_curve(config.model, lams)
    plot.theory_line(ax, steps, oracle, label="oracle ℰ(k*, v*) at λ_t", zorder=1.5)
    ax.axhline(best_linear_excess_risk(config.model), ls="--", lw=1, color="#7f7f7f",
               label="best linear predictor")  # fmt: skip
    ax.set_yscale("log")
    plot.finish(ax, xlabel="step", ylabel="excess risk", title="excess risk", fontsize="small")


def _overlap_panel(ax, table, steps) -> None:
    from attnlab import plot

    plot.simulation_band(ax, steps, np.abs(_grid(table, steps, "kappa")), band="q95",
                         markers=False, label="|κ| = |⟨k, k*⟩|", clip=(0, 1))  # fmt: skip
    plot.simulation_band(ax, steps, np.abs(_grid(table, steps, "nu")), color=plot.color(1),
                         band="q95", markers=False, label="|ν| = |⟨v, v*⟩|", clip=(0, 1))  # fmt: skip
    ax.set_ylim(-0.02, 1.02)
    plot.finish(ax, xlabel="step", ylabel="overlap", title="overlaps with the teacher",
                fontsize="small")  # fmt: skip


def _trajectory_panel(ax, table, steps, n_runs: int) -> None:
    from matplotlib.lines import Line2D

    from attnlab import plot

    kappa, nu = _grid(table, steps, "kappa"), _grid(table, steps, "nu")
    for i in range(min(n_runs, kappa.shape[0])):
        ax.plot(kappa[i], nu[i], "-", lw=1, color=plot.color(i))
        ax.plot(kappa[i, 0], nu[i, 0], "o", ms=3, color=plot.color(i))
        ax.plot(kappa[i, -1], nu[i, -1], "s", ms=3, color=plot.color(i))
    ax.plot([1, -1], [1, -1], "*", ms=9, color="black", label="±(k*, v*)", clip_on=False)
    ax.set_xlim(-1.05, 1.05)
    ax.set_ylim(-1.05, 1.05)
    ax.set_aspect("equal")
    plot.finish(ax, xlabel="κ", ylabel="ν", title=f"(κ, ν) of {min(n_runs, kappa.shape[0])} runs",
                legend=False)  # fmt: skip
    # the marker shapes, in grey for every run's colour: legend-only artists (not on the axes)
    handles, labels = ax.get_legend_handles_labels()
    shapes = [Line2D([], [], ls="none", marker=m, ms=3, color="#444444") for m in "os"]
    ax.legend([*handles, *shapes], [*labels, "start", "end"], fontsize="small", loc="lower right")


def _distance_panel(ax, table, steps, n_runs: int) -> None:
    from attnlab import plot

    dist = _grid(table, steps, "distance_to_manifold")
    floor = 1e-15  # float64 rounding of unit vectors (a few ulps)
    if np.all(dist <= floor):
        ax.text(0.5, 0.5, "distance to ℳ ≤ 1e-15 throughout\n(ℳ is invariant: rounding only)",
                ha="center", va="center", transform=ax.transAxes)  # fmt: skip
        plot.finish(ax, xlabel="step", ylabel="√(θ² + η² + ρ²)", title="distance to ℳ")
        return
    dist = np.maximum(dist, floor)
    plot.simulation_band(ax, steps, dist, band="q95", markers=False,
                         label="mean and 95 % band", clip=(floor, None))  # fmt: skip
    for i in range(min(n_runs, dist.shape[0])):
        ax.plot(steps, dist[i], "-", lw=0.6, alpha=0.7, color=plot.color(i + 2),
                label="single runs" if i == 0 else None)  # fmt: skip
    if np.any(dist <= floor):
        ax.axhline(floor, ls=":", lw=1, color="#7f7f7f", label="rounding (≤ 1e-15 drawn here)")
    ax.set_yscale("log")
    plot.finish(ax, xlabel="step", ylabel="√(θ² + η² + ρ²)  (log scale)",
                title="distance to ℳ = {θ = η = ρ = 0}", fontsize="small")  # fmt: skip


def training_figure(result: Result, config: Any) -> dict:
    """The 4-panel figure of a training run: excess risk, |κ| and |ν|, (κ, ν) trajectories,
    distance to ℳ.

    Parameters
    ----------
    result : attnlab.compare.Result
        The run (its tidy table and summary).
    config : TrainingConfig or SGDConfig
        The run's config: the model (for the oracle and best-linear risks), λ₀ and whether it
        decays, the step size, how many trajectories to draw.

    Returns
    -------
    dict of str to matplotlib.figure.Figure
    """
    from attnlab import plot

    t = result.table
    steps = np.sort(t["step"].unique())
    lams = t[t["seed"] == t["seed"].min()].sort_values("step")["lam"].to_numpy()
    fig, axes = plot.panel_grid(4, max_cols=2, width=4.8, height=3.6)
    _risk_panel(axes[0], result, config, steps, lams)
    _overlap_panel(axes[1], t, steps)
    _trajectory_panel(axes[2], t, steps, config.n_trajectories)
    _distance_panel(axes[3], t, steps, config.n_trajectories)
    m = config.model
    plot.suptitle(fig, f"{t['seed'].nunique()} seeds, d = {m.d}, L = {m.L}, "
                  f"λ₀ = {config.lam0:g}{' (decaying)' if config.schedule else ''}, "
                  f"α = {config.step_size:g}")  # fmt: skip
    return {"training": fig}


def oracle_figure(result: Result, config: Any) -> dict:
    """ℰ(k*, v*) along d → ∞ with its Monte-Carlo checks.

    Parameters
    ----------
    result : attnlab.compare.Result
        The run (its tidy table and summary).
    config : OracleConfig
        The run's config: λ = lam_scale · d^(−lam_power) and L, for the title.

    Returns
    -------
    dict of str to matplotlib.figure.Figure
    """
    from attnlab import plot

    t = result.table
    fig, ax = plot.subplots(width=5.0, height=3.6)
    plot.theory_line(ax, t["d"], t["oracle_excess_risk"], label="closed form ℰ(k*, v*)")
    # drawn dashed over the total: at large d the other tokens are all of the oracle's risk
    ax.plot(t["d"], t["other_tokens_term"], "--", color=plot.color(1), lw=1.5,
            label="other tokens (L−1)ζ(0, λ)")  # fmt: skip
    mc = t.dropna(subset=["monte_carlo"])
    if len(mc):
        plot.simulation_points(ax, mc["d"], mc["monte_carlo"], mc["monte_carlo_se"],
                               label="Monte-Carlo ± SE")  # fmt: skip
    ax.axhline(float(result.summary["best_linear_excess_risk"]), ls="--", lw=1, color="#7f7f7f",
               label="best linear predictor")  # fmt: skip
    ax.set_xscale("log")
    ax.set_yscale("log")
    plot.finish(ax, xlabel="d", ylabel="excess risk",
                title=f"$\\lambda = {config.lam_scale:g}\\, d^{{-{config.lam_power:g}}}$, L = {config.L}")  # fmt: skip
    return {"oracle": fig}


def _limit_panel(ax, table, column, ode_column, ylabel, title, clip=None, log=False) -> None:
    from attnlab import plot

    for i, (d, part) in enumerate(table.groupby("d")):
        grid = part.pivot(index="seed", columns="t", values=column)
        plot.simulation_band(ax, grid.columns.to_numpy(), grid.to_numpy(), color=plot.color(i),
                             markers=False, label=f"SGD, d = {d}", clip=clip)  # fmt: skip
    if ode_column:
        ode = table[(table.d == table.d.max()) & (table.seed == 0)].sort_values("t")
        plot.theory_line(ax, ode["t"], ode[ode_column], label="slow ODE, d → ∞")
    if log:
        ax.set_yscale("log")
    plot.finish(ax, xlabel="t = n/d", ylabel=ylabel, title=title, fontsize="small")


def limit_figure(result: Result, config: Any) -> dict:
    """SGD at growing d (mean ± sd over seeds) against the d → ∞ slow ODE: ν, √d|κ| against the
    fast critical point κ̃, the excess risk against F + the fast noise floor, and |ρ|.

    Parameters
    ----------
    result : attnlab.compare.Result
        The run (its tidy table and summary).
    config : SGDLimitConfig
        The run's config: step scale, λ schedule, L and seeds per d, for the title.

    Returns
    -------
    dict of str to matplotlib.figure.Figure
    """
    from attnlab import plot

    t = result.table
    fig, axes = plot.panel_grid(4, max_cols=2, width=4.8, height=3.4)
    _limit_panel(axes[0], t, "nu", "ode_nu", "ν = ⟨v, v*⟩", "slow overlap ν", clip=(-1, 1))
    _limit_panel(axes[1], t, "kappa_tilde", "ode_kappa_tilde", "√d |κ|",
                 "fast overlap κ̃ = √d κ (ODE: critical point)", clip=(0, None))  # fmt: skip
    _limit_panel(axes[2], t, "excess_risk", "ode_risk_with_floor", "excess risk",
                 "ℰ (ODE: F + fast noise floor)", clip=(0, None), log=True)  # fmt: skip
    _limit_panel(axes[3], t, "abs_rho", None, "|ρ| = |⟨k, v⟩|",
                 "distance from ℳ along ρ (ODE: 0)", clip=(0, 1))  # fmt: skip
    plot.suptitle(fig, f"online SGD, α = {config.step_scale:g}/d, λ(t) = {config.lam0:g}/(1 + "
                  f"{config.decay:g} t), L = {config.L}, {config.n_seeds} seeds per d")  # fmt: skip
    return {"limit": fig}
