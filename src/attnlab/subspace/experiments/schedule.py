"""``subspace-schedule``: the final alignment against the step-size schedule, with the noise floor.

After the escape from the equator, SGA with a_n = c/(n + n0) sits at the pole at a distance set
by the current step: E[1 − |m_n|] ≈ a_n E_g / (2(2φ′(1) − 1/c)) (stationary misalignment). So the
mean final alignment is a property of the schedule, not of the model alone: the paper's 0.9965
and our 0.9939 (c = 9, n0 = 30, 1000 steps) differ by the last step.

Pipeline: simulate (one run of every schedule, the same replicate keys; runs of different lengths
are prefixes of the longest, a_n not depending on the horizon) → theory (the stationary
misalignment, plus the ODE's approach to the pole from each run's own escape step, since when a
run leaves the equator is random: see the escape law) → compare the mean 1 − |m_n| over the
window (n/2, n] of each checkpoint, for the runs at the pole from the window's start (the others
are counted) → the steps each schedule needs to reach the paper's alignment → table.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from pydantic import Field, model_validator

from attnlab._threads import side_by_side
from attnlab.compare import Comparison, Dropped, Result
from attnlab.config import Cost
from attnlab.registry import experiment
from attnlab.subspace import (
    NoiseFloor,
    RobbinsMonro,
    noise_floor,
    ode_phi_prime,
    phi_second_at_zero,
    pole_noise,
    solve_ode,
)
from attnlab.subspace._ode import ODEError
from attnlab.subspace.experiments._common import (
    ESCAPE_LEVEL,
    SGAConfig,
    TheorySamples,
    mc_cost,
    run_sga_groups,
    set_aside,
    sga_result,
    side_by_side_cost,
    theory_key,
)
from attnlab.subspace.experiments.alignment import PAPER_MEAN_FINAL_ALIGNMENT

AT_POLE = 1e-3  # every ODE trajectory within this of |m| = 1: the noise-floor theory applies
MAX_STIFFNESS = 0.5  # 2 a_n φ′(1) below this: the linearisation at the pole applies
C_GRID = np.geomspace(1.0, 60.0, 60)  # step constants of the theory map


# the --quick preset: a small model, few seeds and steps
QUICK = {
    "d": 50,
    "K": 50,
    "M": 1000,
    "n_seeds": 32,
    "steps": 1200,
    "log_every": 50,
    "c_values": [6.0, 12.0],
    "n0_values": [30.0, 30.0],
    "checkpoints": [600, 1200],
    "target": 0.98,
    "headline": False,
}


class ScheduleConfig(SGAConfig):
    """Final alignment against the schedule a_n = c/(n + n0): the headline model, three
    schedules (the headline c = 9, n0 = 30 first), 24 runs each."""

    n_seeds: int = Field(
        24, ge=2, description="independent runs per schedule (rare excursions from the pole)"
    )
    steps: int = Field(3000, ge=1, description="SGA steps of every schedule")
    log_every: int = Field(
        10, ge=1, description="log m_n every r steps (≈ a relaxation time at the pole)"
    )
    c_values: list[float] = Field([9.0, 18.0, 9.0], min_length=1, description="step constants c")
    n0_values: list[float] = Field([30.0, 30.0, 300.0], min_length=1, description="offsets n0")
    checkpoints: list[int] = Field(
        [500, 1000, 2000, 3000], min_length=1, description="steps n at which 1 − |m_n| is compared"
    )
    target: float = Field(
        PAPER_MEAN_FINAL_ALIGNMENT, gt=0, lt=1, description="alignment to reach (the paper's)"
    )
    theory_samples: TheorySamples = 16384
    headline: bool = Field(
        True, description="the headline model: report the paper's number beside ours"
    )

    @model_validator(mode="after")
    def _grid(self) -> ScheduleConfig:
        if len(self.c_values) != len(self.n0_values):
            raise ValueError(
                f"c_values ({len(self.c_values)}) and n0_values ({len(self.n0_values)}) must have "
                "the same length: one schedule per pair"
            )
        bad = [n for n in self.checkpoints if n <= 0 or n > self.steps or n % self.log_every]
        if bad:
            raise ValueError(
                f"checkpoints = {bad}: must be logged steps in (0, steps = {self.steps}], "
                f"multiples of log_every = {self.log_every}"
            )
        return self

    def schedules(self) -> list[RobbinsMonro]:
        """The schedules compared, one per (c, n0) pair."""
        return [
            RobbinsMonro(c=c, n0=n0) for c, n0 in zip(self.c_values, self.n0_values, strict=True)
        ]

    def cost(self) -> Cost:
        runs = len(self.c_values) * self.n_seeds
        # run_schedule runs the simulations and the theory in two threads
        return side_by_side_cost(
            self.sga_cost(n_seeds=runs), mc_cost(self.model, 3 * self.theory_samples)
        )


def _label(s: RobbinsMonro) -> str:
    return f"c = {s.c:g}, n0 = {s.n0:g}"


def _plot(result: Result, config: ScheduleConfig) -> dict:
    from attnlab import plot

    t = result.table
    fig, (ax, map_ax) = plot.subplots(1, 2, width=4.6)
    for j, (label, g) in enumerate(t[t.kind == "checkpoint"].groupby("label", sort=False)):
        se = g.sd_abs_m / math.sqrt(config.n_seeds)  # a late run makes the sd span the panel
        plot.simulation_points(
            ax, g.n, g.mean_abs_m, se, label=f"SGA, {label}", color=plot.color(j)
        )
        line = t[(t.kind == "theory") & (t.label == label)]
        plot.theory_line(ax, line.n, line.theory_abs_m, label=None, color=plot.color(j), lw=1)
    name = "paper" if config.headline else "target"
    ax.axhline(config.target, ls=":", color="#555555", label=f"{name}: {config.target:g}")
    ax.set_xscale("log")
    ax.set_ylim(max(0.9, float(t[t.kind == "checkpoint"].mean_abs_m.min()) - 0.01), 1.0)
    plot.finish(ax, xlabel="step n", ylabel="mean |mₙ| ± SE (lines: theory)", title="SGA vs theory")
    m = t[t.kind == "map"]
    plot.theory_line(map_ax, m.c, m.n_floor, label=f"noise floor reaches {config.target:g}")
    plot.theory_line(
        map_ax, m.c, m.n_escape, label="slowest escape done (with SGA's delay)", color=plot.color(3)
    )
    for j, s in enumerate(config.schedules()):
        last = t[(t.kind == "checkpoint") & (t.label == _label(s))].sort_values("n").iloc[-1:]
        reached = bool(len(last)) and float(last.mean_abs_m.iloc[0]) >= config.target
        label = f"runs, {_label(s)}: " + ("reached" if reached else "not reached")
        map_ax.plot(  # shrinking markers: schedules that land on one point all stay visible
            [s.c],
            last.n,
            "o",
            ms=max(8.0 - 1.5 * j, 3.0),
            color=plot.color(j),
            label=label,
            markerfacecolor=plot.color(j) if reached else "none",
            zorder=3 + j,
        )
    map_ax.set_xscale("log")
    map_ax.set_yscale("log")
    plot.finish(
        map_ax,
        xlabel="c (theory lines: n0 = 30)",
        ylabel="steps n needed",
        title=f"schedules reaching {name} {config.target:g}",
        fontsize="x-small",
    )
    plot.suptitle(fig, "mean final alignment against the schedule a_n = c/(n + n0)")
    return {"schedule": fig}


def _theory_line(traj, schedule, phi_prime, floor: NoiseFloor) -> pd.DataFrame:
    """One schedule's theory (ODE from each m_0 + noise floor) at every logged step."""
    ode = np.abs(solve_ode(traj.m[:, 0], traj.time, phi_prime=phi_prime))
    theory = 1 - (1 - ode).mean(0) - floor.misalignment(schedule, traj.step)
    line = pd.DataFrame(
        {"kind": "theory", "label": _label(schedule), "n": traj.step, "theory_abs_m": theory}
    )
    return line


def _theory(config: ScheduleConfig) -> dict:
    """What the theory needs of no simulation: the noise floor, φ′ for the ODE, and the
    gradient noise at the equator (the escape delay)."""
    model = config.model
    floor = noise_floor(model, key=theory_key(config), n_samples=config.theory_samples)
    phi_prime, source = ode_phi_prime(model, key=theory_key(config, "phi_prime"), n_samples=2048)
    g0, _ = pole_noise(
        model, key=theory_key(config, "equator"), n_samples=config.theory_samples, m=0.0
    )
    return {"floor": floor, "phi_prime": phi_prime, "source": source, "equator_noise": g0}


def _window(traj, n: int) -> np.ndarray:
    """Logged indices of the window (n/2, n] (at least the step n itself)."""
    return np.nonzero((traj.step > 0.5 * n) & (traj.step <= n))[0]


def _approach(phi_prime) -> tuple[np.ndarray, np.ndarray]:
    """The ODE from |m| = 1/2 (elapsed ODE time, |m|): where a run stands once it has escaped."""
    t = np.linspace(0.0, 200.0, 4001)
    return t, np.abs(solve_ode([ESCAPE_LEVEL], t, phi_prime=phi_prime)[0])


def _at_pole(traj, win, approach) -> tuple[np.ndarray, str, np.ndarray]:
    """Runs that, placed on the ODE by their own escape step (first |m| ≥ 1/2), are within
    AT_POLE of the pole from the window's start; the ODE's distance to the pole over the window
    for each run. A run the kicks of the early steps held near the equator escapes late and may
    still be approaching the pole: it is counted (:func:`set_aside`), not compared."""
    t, path = approach
    reached = traj.abs_m >= ESCAPE_LEVEL
    escaped = reached.any(axis=1)
    t_escape = np.where(escaped, traj.time[np.argmax(reached, axis=1)], np.inf)
    elapsed = traj.time[win][None, :] - t_escape[:, None]
    distance = 1 - np.interp(elapsed, t, path, left=0.0)
    keep, runs = set_aside(distance[:, 0] < AT_POLE, "still approaching the pole")
    return keep, runs, distance


def _checkpoint_rows(config, schedule, traj, floor, approach):
    """Per checkpoint n: the mean over seeds of 1 − |m| averaged over the window (n/2, n]
    (several relaxation times 1/(2a_nφ′(1)) at the pole: averaging shrinks the spread over
    seeds), against the window average of the noise floor plus the ODE's own distance to the
    pole, for the runs that are at the pole from the window's start (:func:`_at_pole`)."""
    records, rows, listed = [], [], []
    for n in config.checkpoints:
        win = _window(traj, n)
        mask, runs, distance = _at_pole(traj, win, approach)
        mis = (1 - traj.abs_m[mask][:, win]).mean(1)
        steps = traj.step[win]
        pred = float(np.mean(floor.misalignment(schedule, steps) + distance[mask].mean(0)))
        ok = mask.sum() >= 2 and floor.stiffness(schedule, steps[0])[0] < MAX_STIFFNESS
        ok = ok and bool(np.all(distance[mask][:, 0] < AT_POLE))
        where = f"{_label(schedule)}, n ∈ ({steps[0] - config.log_every}, {n}]"
        where = f"{where}; {runs}" if runs else where
        if ok and math.isfinite(pred):
            rows.append(
                Comparison(
                    "mean 1 − |mₙ| over the window (noise floor)",
                    pred,
                    mis.mean(),
                    floor.tolerance(schedule, steps, mis),
                    max_tolerance=0.5 * pred,
                    where=where,
                    simulation_sd=mis.std(ddof=1),
                    note="stationary misalignment + the ODE's distance to the pole (from each "
                    "run's escape step); informative while the floor is resolved",
                )
            )
        else:
            listed.append(where)
        j = win[-1]
        records.append(
            {
                "kind": "checkpoint",
                "label": _label(schedule),
                "c": schedule.c,
                "n0": schedule.n0,
                "n": n,
                "time": traj.time[j],
                "mean_abs_m": traj.abs_m[:, j].mean(),
                "sd_abs_m": traj.abs_m[:, j].std(ddof=1),
                "theory_abs_m": 1 - float(floor.misalignment(schedule, n)[0]),
                "compared": ok,
            }
        )
    return records, rows, listed


def steps_needed(
    floor: NoiseFloor, target: float, c: np.ndarray, n0: float, t_escape: float, delay_rate: float
):
    """Steps for the noise floor of a_n = c/(n + n0) to reach 1 − target (p = 1: a_n =
    2(1 − target)(2φ′(1) − 1/c)/E_g; inf where 2φ′(1) ≤ 1/c), and for the ODE time
    c·log((n + n0)/n0) to reach ``t_escape`` plus SGA's escape delay
    ``delay_rate``·Σ_k a_k² (Σ_k c²/(k + n0)² = c²·ψ′(n0), the trigamma function)."""
    from scipy.special import polygamma

    c = np.asarray(c, dtype=float)
    rate = 2 * floor.phi_prime_pole - 1 / c
    a_star = np.where(rate > 0, 2 * (1 - target) * rate / floor.noise, np.nan)
    n_floor = np.where(rate > 0, c / a_star - n0, np.inf)
    t_needed = t_escape + delay_rate * c**2 * float(polygamma(1, n0))
    return np.maximum(n_floor, 0), n0 * np.expm1(t_needed / c)


def _slowest_escape(config, phi_prime) -> float:
    """ODE time for the smallest of n_seeds initial overlaps (|m_0|√d at quantile 1/(2S) of a
    |N(0, 1)|) to come within AT_POLE of the pole."""
    from scipy.stats import norm

    m0 = norm.ppf(0.5 + 0.25 / config.n_seeds) / math.sqrt(config.model.d)
    t = np.linspace(0.0, 400.0, 4001)
    path = solve_ode([m0], t, phi_prime=phi_prime)[0]
    reached = np.nonzero(path > 1 - AT_POLE)[0]
    return float(t[reached[0]]) if len(reached) else math.inf


@experiment("subspace-schedule", quick=QUICK, plot=_plot)
def run_schedule(config: ScheduleConfig) -> Result:
    """mean final alignment against the schedule (c, n0, steps) with the noise floor"""
    model, schedules = config.model, config.schedules()
    # the simulations and the theory's Monte-Carlo side by side (each uses one core mostly)
    # every schedule on the same replicates: their random numbers are drawn once per step
    runs = [(model, config.n_seeds, s) for s in schedules]
    trajectories, pre = side_by_side(
        [lambda: run_sga_groups(config, runs), lambda: _theory(config)]
    )
    floor, phi_prime, source = pre["floor"], pre["phi_prime"], pre["source"]
    frames, rows, dropped, listed, sims = [], [], [], [], {}
    # Δt per unit Σ a_k² (escape_delay)
    delay_rate = pre["equator_noise"] / (2 * phi_second_at_zero(model))
    approach = None  # the same ODE path for every schedule, solved once
    for schedule, traj in zip(schedules, trajectories, strict=True):
        try:
            line = _theory_line(traj, schedule, phi_prime, floor)
            approach = approach or _approach(phi_prime)
            records, new_rows, new_listed = _checkpoint_rows(
                config, schedule, traj, floor, approach
            )
        except ODEError as err:
            dropped.append(Dropped("mean 1 − |mₙ| (noise floor)", _label(schedule), str(err)))
            continue
        frames += [pd.DataFrame(records), line]
        rows, listed = rows + new_rows, listed + new_listed
        sims[_label(schedule)] = {str(r["n"]): r["mean_abs_m"] for r in records}
    t_escape = _slowest_escape(config, phi_prime)
    n_floor, n_escape = steps_needed(floor, config.target, C_GRID, 30.0, t_escape, delay_rate)
    frames.append(
        pd.DataFrame({"kind": "map", "c": C_GRID, "n_floor": n_floor, "n_escape": n_escape})
    )
    needed = {}
    for s in config.schedules():
        by_floor, by_escape = steps_needed(
            floor, config.target, np.array([s.c]), s.n0, t_escape, delay_rate
        )
        needed[_label(s)] = float(max(by_floor[0], by_escape[0]))
    summary = {
        "target_alignment": config.target,
        "simulated_mean_alignment": sims,
        "theory_steps_to_reach_target": needed,
        "slowest_escape_ode_time": t_escape,
        "escape_delay_per_sum_of_squared_steps": delay_rate,
        "phi_prime_pole_mc": floor.phi_prime_pole,
        "pole_gradient_noise": floor.noise,
        "ode_phi_prime": source,
        "not_compared_before_the_pole": listed,
    }
    if config.headline:
        summary["paper_mean_final_alignment"] = PAPER_MEAN_FINAL_ALIGNMENT
    return sga_result(config, pd.concat(frames, ignore_index=True), summary, rows, dropped)
