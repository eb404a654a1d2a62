"""``subspace-robustness``: final alignment vs M and vs θ (both scalings), the fixed-sign contrast.

Pipeline, per point: simulate (exact reduced simulator, so M = 10⁵ is affordable) → theory (the
ODE from each run's m_0; where it has converged, minus the noise floor at the pole) → compare
where the a_n → 0 theory describes the end of the run → table.

Regimes at the last step. *Converged* (every ODE |m| > 0.99 already Δt before the end, Δt the
delay of SGA's escape by the normalisation (:func:`~attnlab.subspace.escape_delay`);
2a_nφ′(1) < 0.5; floor < 0.05): theory = ODE − noise floor, over the runs that left the
equator (a run the early steps left near it escapes late, with the probability given by
:func:`~attnlab.subspace.escape_law`; it is counted in the row, not averaged). *Not escaped* (every ODE |m| below
0.2 or twice its start): theory = ODE, with a heuristic 0.05 allowance for SGA's diffusion on
the sphere, which the ODE does not have. *Mid-escape*
(ODE |m| between 0.2 and 0.99 for some seed): |m| moves fastest there and SGA escapes later than
the ODE by the O(a) normalisation drift −(a/2)E‖g‖² m, so the gap measures escape-time jitter,
not the theory; these points are listed, not compared (``subspace-ode`` compares whole
trajectories at small steps). *Outside the ODE regime* (2a_nφ′(1) ≥ 0.5 or a floor ≥ 0.05): the
a_n → 0 theory does not describe the end of the run; listed, not compared.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import pandas as pd
from pydantic import Field, model_validator

from attnlab._threads import thread_map
from attnlab.compare import Comparison, Dropped, Result, bound, heuristic, standard_error
from attnlab.config import Cost
from attnlab.registry import experiment
from attnlab.subspace import (
    RobbinsMonro,
    SubspaceModel,
    closed_form_valid,
    escape_delay,
    ode_phi_prime,
    phi_second_at_zero,
    pole_noise,
    solve_ode,
    stationary_misalignment,
)
from attnlab.subspace._ode import ODEError
from attnlab.subspace.experiments._common import (
    POINTS_AT_ONCE,
    SGAConfig,
    left_equator,
    mc_cost,
    run_sga_groups,
    sga_cost,
    sga_result,
    side_by_side_cost,
    theory_key,
    total_cost,
)

ESCAPE_STARTED = 0.2  # a final ODE |m| above this (for some seed): the escape has begun
CONVERGED = 0.99  # every final ODE |m| above this: converged to the pole
MAX_STIFFNESS = 0.5  # 2 a_n φ′(1) below this: the linearisation at the pole applies
MAX_FLOOR = 0.05


# the --quick preset: a small model, few seeds and steps
QUICK = {
    "d": 50,
    "K": 50,
    "M": 1000,
    "M_values": [100, 1000],
    "theta_values": [0.1, 0.25, 1.0],
    "n_seeds": 24,  # 16 left the θ-scaling none, θ = 0.25 row just uninformative (0.21 > 0.2)
    "steps": 400,
    "log_every": 400,
    "noise_samples": 256,
    "phi_samples": 256,
}


class RobustnessConfig(SGAConfig):
    """Final alignment vs M and vs θ, both scalings, and the fixed-sign contrast."""

    M_values: list[int] = Field([100, 1000, 10_000, 100_000], description="nuisance counts")
    theta_values: list[float] = Field([0.1, 0.25, 0.5, 1.0, 2.0], description="signal strengths")
    n_seeds: int = Field(10, ge=2, description="independent runs per point")
    steps: int = Field(400, ge=1, description="SGA steps")
    schedule: RobbinsMonro = RobbinsMonro(c=6.0, n0=15.0)
    log_every: int = Field(400, ge=1, description="log m_n every r steps")
    noise_samples: int = Field(256, ge=16, description="Monte-Carlo draws of the pole noise")
    phi_samples: int = Field(
        1024, ge=16, description="Monte-Carlo draws of φ′ where the closed form does not apply"
    )

    @model_validator(mode="after")
    def _lists(self) -> RobustnessConfig:
        if not self.M_values or min(self.M_values) < 0:
            raise ValueError(
                f"M_values = {self.M_values}: must be a non-empty list of integers ≥ 0"
            )
        if not self.theta_values or min(self.theta_values) < 0:
            raise ValueError(
                f"theta_values = {self.theta_values}: must be a non-empty list of numbers ≥ 0"
            )
        return self

    def points(self) -> list[tuple[str, str, float, SubspaceModel]]:
        """(sweep, label, x, model) of every point."""
        base = self.model
        out = [("M", "θ-scaling sqrt_d", float(M), base.replace(M=M)) for M in self.M_values]
        for scaling in ("sqrt_d", "none"):
            out += [
                ("theta", f"θ-scaling {scaling}", th, base.replace(theta=th, theta_scaling=scaling))
                for th in self.theta_values
            ]
        out.append(("theta", "fixed sign", base.theta, base.replace(sign="fixed")))
        return out

    def groups(self) -> list[list[int]]:
        """Indices of the points whose models share (d, K, M, sign), in order: each group's
        runs are one compiled call on common random numbers (:func:`run_sga_groups`)."""
        by_shape: dict[tuple, list[int]] = {}
        for i, (*_, m) in enumerate(self.points()):
            by_shape.setdefault((m.d, m.K, m.M, m.sign), []).append(i)
        return list(by_shape.values())

    def cost(self) -> Cost:
        itemsize = 4 if self.dtype == "float32" else 8
        points = self.points()
        parts = [
            sga_cost(  # a group of points is one compiled call: its memory is theirs summed
                points[group[0]][3],
                self.n_seeds * len(group),
                self.steps,
                batch=self.batch,
                simulator=self.simulator,
                itemsize=itemsize,
            )
            for group in self.groups()
        ]
        parts += [mc_cost(m, self.noise_samples) for *_, m in points]
        # run_robustness runs POINTS_AT_ONCE groups side by side: their peaks add up
        largest = sorted(parts, key=lambda c: c.memory_bytes)[-POINTS_AT_ONCE:]
        return side_by_side_cost(total_cost(*parts), *largest[:-1])


# marker, colour index and horizontal offset (the fixed-sign point sits at the base θ, beside
# the θ-scaling sqrt_d point of the same θ)
SERIES = {
    "θ-scaling sqrt_d": ("o", 0, 1.0),
    "θ-scaling none": ("s", 1, 1.0),
    "fixed sign": ("D", 2, 1.08),
}


def _plot(result: Result, config: RobustnessConfig) -> dict:
    from attnlab import plot

    t = result.table
    fig, axes = plot.subplots(1, 2, width=4.4)
    for ax, sweep, xlab in ((axes[0], "M", "M (nuisance tokens)"), (axes[1], "theta", "θ")):
        for lab, g in t[t.sweep == sweep].groupby("label"):
            marker, j, shift = SERIES[lab]
            g = g.sort_values("x")
            x = g.x * shift
            mean, sd = g.mean_final.to_numpy(), g.sd_final.to_numpy()
            if shift != 1.0:
                lab = f"{lab} (shifted right)"
            plot.simulation_points(  # error bars within |m|'s range [0, 1]
                ax,
                x,
                mean,
                sd,
                label=f"SGA, {lab}",
                color=plot.color(j),
                marker=marker,
                clip=(0, 1),
            )
            ax.plot(x, g.ode_final, "x--", color=plot.color(j), lw=1, label=f"ODE, {lab}")
        ax.set_xscale("log")
        ax.set_ylim(0, 1.05)
        legend = {"loc": "center left", "bbox_to_anchor": (1.02, 0.5), "fontsize": "x-small"}
        plot.finish(  # one legend, beside the right panel (inside it would cover error bars)
            ax, xlabel=xlab, ylabel="final |m|", legend=ax is axes[1], **legend
        )
    plot.suptitle(fig, f"final alignment after {config.steps} steps (mean ± sd over seeds)")
    return {"robustness": fig}


def _end_theory(config, i, model, traj, phi_prime) -> dict:
    """The ODE at the last step from each m_0 and ``delay`` earlier (SGA's later escape from
    the equator, :func:`~attnlab.subspace.escape_delay`), φ′(1), the stiffness, the floor."""
    delay = 0.0
    if model.symmetric and closed_form_valid(model, 0.0)[0] and phi_second_at_zero(model) > 0:
        delay = escape_delay(
            model,
            config.schedule,
            config.steps,
            key=theory_key(config, f"equator{i}"),
            n_samples=config.noise_samples,
            batch=config.batch,
        )
    t_end = float(traj.time[-1])
    times = [0.0, max(t_end - delay, 0.0), t_end]
    ode = np.abs(solve_ode(traj.m[:, 0], times, phi_prime=phi_prime))
    ode_abs, ode_early = ode[:, 2], ode[:, 1]
    dphi1 = float(phi_prime(np.array([1.0]))[0])
    stiffness = float(2 * config.schedule.step_sizes(config.steps) * dphi1)
    floor = math.inf
    if dphi1 > 0 and ode_early.min() > CONVERGED:
        noise, _ = pole_noise(
            model,
            key=theory_key(config, f"noise{i}"),
            n_samples=config.noise_samples,
            batch=config.batch,
        )
        floor = float(
            stationary_misalignment(
                config.schedule, config.steps, noise=noise, phi_prime_pole=dphi1
            )[0]
        )
    return {
        "ode_abs": ode_abs,
        "ode_early": ode_early,
        "stiffness": stiffness,
        "floor": floor,
        "delay": delay,
    }


def _row(final: np.ndarray, abs_m0: np.ndarray, th: dict, where: str) -> Comparison | str:
    """The comparison of a point, or its regime when it is not compared."""
    ode_abs, small_step = th["ode_abs"], th["stiffness"] < MAX_STIFFNESS
    converged = small_step and th["ode_early"].min() > CONVERGED and th["floor"] < MAX_FLOOR
    if converged:  # at the pole: the runs that left the equator (the others are counted)
        mask, runs = left_equator(final)
        final, ode_abs = final[mask], ode_abs[mask]
        where = f"{where}; {runs}" if runs else where
        theory, max_tol = ode_abs.mean() - th["floor"], 0.1
        tol = standard_error(final, z=4) + bound(
            th["floor"], "noise floor: the linearisation error is at most the floor itself"
        )
        note = (
            "ODE converged (escape delay included): theory = ODE − noise floor; informative up "
            "to a tenth of |m|'s range"
        )
    elif small_step and np.all(ode_abs < np.maximum(ESCAPE_STARTED, 2 * abs_m0)):
        theory, max_tol = ode_abs.mean(), ESCAPE_STARTED
        tol = standard_error(final - ode_abs, z=4, what="paired seeds") + heuristic(
            0.05, "SGA diffusion on the sphere, not in the ODE"
        )
        note = (
            "ODE has not escaped the equator (below 0.2 or twice its start); informative up to "
            "the escape threshold 0.2"
        )
    else:
        return "mid-escape" if small_step and ode_abs.min() <= CONVERGED else "outside"
    return Comparison(
        "mean final |m|",
        theory,
        final.mean(),
        tol,
        max_tolerance=max_tol,
        where=where,
        simulation_sd=final.std(ddof=1),
        note=note,
    )


def _simulate(config: RobustnessConfig) -> list[tuple[Any, float]]:
    """The SGA runs of every point and their wall time: the points of a group
    (:meth:`RobustnessConfig.groups`) in one compiled call on the same replicates (their random
    numbers drawn once; each point's runs are those it would have alone), the group's time
    shared equally among its points; independent groups side by side in threads."""
    points = config.points()

    def group_runs(group: list[int]) -> list[tuple[Any, float]]:
        t0 = time.perf_counter()
        trajs = run_sga_groups(config, [(points[i][3], config.n_seeds) for i in group])
        seconds = (time.perf_counter() - t0) / len(group)
        return [(traj, seconds) for traj in trajs]

    groups = config.groups()
    out: list[Any] = [None] * len(points)
    for group, runs in zip(groups, thread_map(group_runs, groups, POINTS_AT_ONCE), strict=True):
        for i, run in zip(group, runs, strict=True):
            out[i] = run
    return out


def _point_theory(config: RobustnessConfig, i: int, model: SubspaceModel, traj: Any) -> Any:
    """The theory at the end of one point's runs, or the ODE's error."""
    phi_prime, _ = ode_phi_prime(
        model, key=theory_key(config, f"phi{i}"), n_samples=config.phi_samples
    )
    try:
        return _end_theory(config, i, model, traj, phi_prime)
    except ODEError as err:
        return err


@experiment("subspace-robustness", quick=QUICK, plot=_plot)
def run_robustness(config: RobustnessConfig) -> Result:
    """final alignment vs M and θ (both scalings) and the fixed-sign contrast, vs ODE"""
    records, rows, dropped = [], [], []
    listed = {"mid-escape": [], "outside": []}
    runs = _simulate(config)
    theories = thread_map(  # independent points side by side in threads
        lambda item: _point_theory(config, item[0], item[1][3], runs[item[0]][0]),
        list(enumerate(config.points())),
        POINTS_AT_ONCE,
    )
    for (sweep, label, x, _), (traj, seconds), th in zip(
        config.points(), runs, theories, strict=True
    ):
        where = f"{label}, {sweep}={x:g}"
        final = traj.final_alignment
        if isinstance(th, ODEError):
            dropped.append(Dropped("mean final |m|", where, str(th)))
            continue
        row = _row(final, traj.abs_m[:, 0], th, where)
        if isinstance(row, str):
            listed[row].append(where)
        else:
            rows.append(row)
        records.append(
            {
                "sweep": sweep,
                "label": label,
                "x": x,
                "mean_final": final.mean(),
                "sd_final": final.std(ddof=1),
                "min_final": final.min(),
                "mean_final_signed": traj.m[:, -1].mean(),
                "ode_final": th["ode_abs"].mean(),
                "noise_floor": th["floor"],
                "a_end_x_2phi1": th["stiffness"],
                "escape_delay": th["delay"],
                "regime": row if isinstance(row, str) else "compared",
                "seconds": seconds,
            }
        )
    summary = {f"{r['label']}|{r['sweep']}={r['x']:g}": r["mean_final"] for r in records}
    summary["outside_ode_regime"] = listed["outside"]
    summary["mid_escape_not_compared"] = listed["mid-escape"]
    return sga_result(config, pd.DataFrame(records), summary, rows, dropped)
