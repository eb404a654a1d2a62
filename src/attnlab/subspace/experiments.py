"""Registered experiments of spec §6: alignment, ode, robustness, landscape.

Schedule of the headline run (``subspace-alignment``, full size): a_n = c/(n+n0) with c = 9,
n0 = 30, 1000 steps. Choice from the theory: φ″(0) ≈ 0.26 at (θ=0.25, K=100, M=10⁴, d=100), so
leaving the equator from |m_0| ≈ d^{-1/2} takes ≈ log(d)/(2φ″(0)) ≈ 9 in ODE time, but up to ≈ 25
for the unluckiest of 30 seeds (|m_0|√d ≈ 0.02; a reduced-simulator study found 1 of 60 seeds
still at |m| ≈ 0.3 at t = 27); the schedule gives t_1000 ≈ 31.8. The first step a_0 = 0.3 keeps
the normalisation shrinkage a·E‖g‖²/2 ≈ 0.09 (E‖g‖² ≈ 0.59 at the equator) below φ″(0), and the
last step a_1000 ≈ 0.0087 sets the pole noise floor E[1−|m|] ≈ a E_g / (2(2φ′(1) − 1/c)) ≈ 0.006
(E_g ≈ 3.1, φ′(1) ≈ 1.15; see :mod:`attnlab.subspace._theory`), hence mean final |m| ≈ 0.994.
Fewer steps are not possible at this a_end: with p = 1, n ≈ c/a_end and t = c·log(a_0/a_end).

Measured (seed 0, float32, 2 shared cores): mean final |m| = 0.9939, min 0.9912, max 0.9957 over
30 runs; predicted noise floor E[1−|m|] = 0.00625 vs measured 0.00609; PCA of all tokens seen
0.9989 vs BBP 0.9986; β = 0.2 attention 0.095 and β = 0 0.070 (= |m_0|) — no escape. The run takes
≈ 30 000 seed·steps: 5 min 40 s wall on an otherwise idle 2-core CPU (110 seed·steps/s;
≈ 24 min under a load average of ~12).

Findings. (1) The SGA escapes the equator later than the ODE from the same m_0 at the headline
steps (a_0 = 0.3): the normalisation q̃/‖q̃‖ shrinks m by a_n²E‖g‖²/2 per step, an O(a_n) drift
−(a_n/2)E‖g‖² m that competes with φ″(0)m; with small steps (``subspace-ode``) they agree.
(2) At large θ_d the pole is very stiff (φ′(1) ~ 10²): with the default schedule a_n·2φ′(1) ≫ 1
at the end, the linearised noise-floor theory does not apply and |m| plateaus below 1
(``subspace-robustness`` flags these points). (3) Points still mid-escape at the last step
(final ODE |m| between 0.2 and 0.99) are listed in ``mid_escape_not_compared`` rather than
compared: there the SGA−ODE gap is escape-time jitter plus the drift of (1), which an earlier
version covered with a 0.05 allowance that let a 0.36-vs-0.74 gap pass — a tolerance hiding a
real difference, now removed. Points that have not escaped keep a 0.05 allowance for diffusion
on the sphere; it is a heuristic, not a derivation.
"""

from __future__ import annotations

import math
import time
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field, model_validator

from attnlab.compare import Comparison, Result
from attnlab.config import ExperimentConfig
from attnlab.registry import experiment


class _ModelConfig(ExperimentConfig):
    d: int = Field(100, ge=2, description="ambient dimension")
    K: int = Field(100, ge=1, description="informative tokens per sequence")
    M: int = Field(10_000, ge=0, description="nuisance tokens per sequence")
    theta: float = Field(0.25, ge=0, description="signal strength θ")
    theta_scaling: Literal["sqrt_d", "none"] = Field("sqrt_d", description="θ_d = θ√d or θ")
    sign: Literal["token", "sequence", "gaussian", "fixed"] = Field("token", description="sign law")
    beta: float = Field(1.0, ge=0, description="inverse temperature β")


class _SGAConfig(_ModelConfig):
    n_seeds: int = Field(30, ge=1, description="independent runs")
    steps: int = Field(1000, ge=1, description="SGA steps")
    c: float = Field(9.0, gt=0, description="step constant c in a_n = c/(n+n0)^p")
    n0: float = Field(30.0, gt=0, description="step offset n0")
    p: float = Field(1.0, gt=0.5, le=1.0, description="step exponent p ∈ (1/2, 1]")
    schedule: Literal["robbins_monro", "constant"] = Field("robbins_monro")
    batch: int = Field(1, ge=1, description="mini-batch size B")
    log_every: int = Field(10, ge=1, description="log m_n every r steps")
    simulator: Literal["full", "reduced"] = Field("full", description="full O(Nd) or reduced O(N)")
    dtype: Literal["float32", "float64"] = Field("float32", description="simulation precision")

    @model_validator(mode="after")
    def _divides(self):
        if self.steps % self.log_every:
            raise ValueError(
                f"log_every = {self.log_every} must divide steps = {self.steps} (regular log grid)"
            )
        return self


def _model_kwargs(cfg) -> dict:
    return dict(
        d=cfg.d,
        K=cfg.K,
        M=cfg.M,
        theta=cfg.theta,
        theta_scaling=cfg.theta_scaling,
        sign=cfg.sign,
        beta=cfg.beta,
    )


def _simulate(cfg, *, keys=None, **over):
    from attnlab._jax import jnp
    from attnlab.rng import replicate_keys
    from attnlab.subspace import simulate_reduced, simulate_sga

    kw = _model_kwargs(cfg)
    kw.update(
        steps=cfg.steps,
        c=cfg.c,
        n0=cfg.n0,
        p=cfg.p,
        schedule=cfg.schedule,
        batch=cfg.batch,
        log_every=cfg.log_every,
        dtype=jnp.float32 if cfg.dtype == "float32" else jnp.float64,
    )
    simulator = over.pop("simulator", cfg.simulator)
    kw.update(over)
    if keys is None:
        keys = replicate_keys(cfg.seed, cfg.n_seeds)
    fn = simulate_sga if simulator == "full" else simulate_reduced
    return fn(keys, **kw)


def _pole_theory(cfg, *, n_samples: int) -> dict:
    """φ′(1) (Monte-Carlo), E_g at the pole and the predicted final E[1−|m|]."""
    from attnlab.rng import root_key, stream
    from attnlab.subspace import phi_monte_carlo, pole_noise, stationary_misalignment

    key = stream(root_key(cfg.seed), "theory")
    est = phi_monte_carlo([1.0], key=stream(key, "phi"), n_samples=n_samples, **_model_kwargs(cfg))
    noise, noise_se = pole_noise(
        key=stream(key, "noise"), n_samples=n_samples, batch=cfg.batch, **_model_kwargs(cfg)
    )
    n = cfg.steps
    a_end = cfg.c if cfg.schedule == "constant" else cfg.c / (n + cfg.n0) ** cfg.p
    pred = stationary_misalignment(
        a_end,
        noise=noise,
        phi_prime_pole=float(est.dphi[0]),
        c=cfg.c,
        n=n,
        n0=cfg.n0,
        p=cfg.p,
        schedule=cfg.schedule,
    )
    rel = math.hypot(noise_se / noise, float(est.dphi_se[0] / est.dphi[0]))
    return {
        "phi_prime_pole": float(est.dphi[0]),
        "pole_noise": noise,
        "rel_se": rel,
        "step_end": a_end,
        "misalignment": pred,
    }


# ================================================================= subspace-alignment


class AlignmentConfig(_SGAConfig):
    """Headline: 30 SGA runs at θ = 0.25, K = 100, M = 10⁴, d = 100 (spec §6.1)."""

    pca_seeds: int = Field(2, ge=0, description="seeds for the PCA baseline (O(N d²) per step)")
    small_beta: float = Field(0.2, gt=0, description="β of the small-β attention baseline")
    theory_samples: int = Field(4096, ge=16, description="Monte-Carlo draws for pole theory")


def _plot_alignment(result: Result, config: AlignmentConfig) -> dict:
    from attnlab import plot

    t = result.table
    fig, axes = plot.subplots(1, 2, width=4.6)
    ax = axes[0]
    sga = t[t.method == "sga"]
    for i, (_, g) in enumerate(sga.groupby("seed")):
        ax.plot(
            g.step,
            g.abs_m,
            lw=0.6,
            alpha=0.5,
            color=plot.PALETTE[0],
            label="SGA runs" if i == 0 else None,
        )
    for j, (meth, lab) in enumerate(
        [("pca", "PCA of tokens seen"), ("small_beta", f"β={config.small_beta}"), ("beta0", "β=0")]
    ):
        sub = t[t.method == meth]
        if len(sub):
            mean = sub.groupby("step").abs_m.mean()
            ax.plot(mean.index, mean.values, "--", color=plot.PALETTE[j + 1], label=lab)
    ode = t[t.method == "ode"]
    if len(ode):
        plot.theory_line(ax, ode.step, ode.abs_m, label="ODE (median m0)")
    plot.finish(ax, xlabel="step n", ylabel="|m_n|", title="alignment of all runs")
    final = sga[sga.step == sga.step.max()].abs_m
    axes[1].hist(final, bins=15, color=plot.PALETTE[0], alpha=0.6)
    axes[1].axvline(0.99, ls="--", color="gray", label="0.99")
    plot.finish(
        axes[1],
        xlabel="final |m|",
        ylabel="runs",
        title=f"mean {final.mean():.4f}, min {final.min():.4f}",
    )
    return {"alignment": fig}


@experiment(
    "subspace-alignment",
    config=AlignmentConfig,
    description="30 SGA runs, θ=0.25, K=100, M=10⁴, d=100: final alignment |⟨q,u⟩| vs theory",
    quick={
        "d": 40,
        "K": 40,
        "M": 1000,
        "theta": 0.5,
        "n_seeds": 8,
        "steps": 300,
        "c": 4.0,
        "n0": 20.0,
        "log_every": 10,
        "pca_seeds": 2,
        "theory_samples": 1024,
    },
    plot=_plot_alignment,
)
def run_alignment(config: AlignmentConfig) -> Result:
    from attnlab.rng import replicate_keys
    from attnlab.subspace import (
        closed_form_function,
        escape_time,
        pca_alignment,
        pca_alignment_theory,
        phi_second_at_zero,
        solve_ode,
        spike_strength,
    )

    t0 = time.perf_counter()
    traj = _simulate(config)
    sim_seconds = time.perf_counter() - t0
    rows = [
        pd.DataFrame(
            {
                "method": "sga",
                "seed": s,
                "step": traj.step,
                "time": traj.time,
                "abs_m": traj.abs_m[s],
            }
        )
        for s in range(config.n_seeds)
    ]
    # baselines on the same model: β small and β = 0 (reduced simulator: exact in law, O(N))
    for name, beta in (("small_beta", config.small_beta), ("beta0", 0.0)):
        b = _simulate(config, simulator="reduced", beta=beta)
        rows.append(
            pd.DataFrame(
                {
                    "method": name,
                    "seed": np.repeat(np.arange(config.n_seeds), len(b.step)),
                    "step": np.tile(b.step, config.n_seeds),
                    "time": np.tile(b.time, config.n_seeds),
                    "abs_m": b.abs_m.ravel(),
                }
            )
        )
    pca_final = None
    if config.pca_seeds:
        keys = replicate_keys(config.seed, config.pca_seeds)
        pca = pca_alignment(
            keys,
            d=config.d,
            K=config.K,
            M=config.M,
            theta=config.theta,
            theta_scaling=config.theta_scaling,
            sign=config.sign,
            steps=config.steps,
            log_every=config.log_every,
        )
        steps_p = traj.step[1:]
        for s in range(config.pca_seeds):
            rows.append(
                pd.DataFrame(
                    {
                        "method": "pca",
                        "seed": s,
                        "step": steps_p,
                        "time": traj.time[1:],
                        "abs_m": pca[s],
                    }
                )
            )
        pca_final = pca[:, -1]
    # ODE from the median |m_0| (closed-form φ′)
    mk = _model_kwargs(config)
    phi2 = phi_second_at_zero(**mk) if config.sign != "fixed" else float("nan")
    m0_med = float(np.median(traj.abs_m[:, 0]))
    ode = solve_ode([m0_med], traj.time, phi_prime=closed_form_function(**mk, order=1))[0]
    rows.append(
        pd.DataFrame(
            {
                "method": "ode",
                "seed": -1,
                "step": traj.step,
                "time": traj.time,
                "abs_m": np.abs(ode),
            }
        )
    )
    table = pd.concat(rows, ignore_index=True)

    final = traj.final_alignment
    S = config.n_seeds
    pole = _pole_theory(config, n_samples=config.theory_samples)
    comps = []
    headline = (
        config.d,
        config.K,
        config.M,
        config.theta,
        config.sign,
        config.theta_scaling,
        config.beta,
    ) == (100, 100, 10_000, 0.25, "token", "sqrt_d", 1.0)
    if headline:  # the spec's claim (§6.1) is about this configuration only
        comps.append(
            Comparison(
                "mean final |m| (limit 1)",
                1.0,
                float(final.mean()),
                0.01,
                simulation_sd=float(final.std(ddof=1)) if S > 1 else None,
                note="spec §6.1 acceptance at the headline configuration: mean final |m| ≥ 0.99",
            )
        )
    if S > 1 and math.isfinite(pole["misalignment"]):
        pred = pole["misalignment"]
        tol = 4 * (1 - final).std(ddof=1) / math.sqrt(S) + pred * (
            2 * pole["rel_se"] + 2 * pole["step_end"] * pole["phi_prime_pole"]
        )
        comps.append(
            Comparison(
                "mean final 1-|m| (pole noise floor)",
                pred,
                float((1 - final).mean()),
                tol,
                simulation_sd=float((1 - final).std(ddof=1)),
                note="a E_g/(2(2φ'(1)-p/(a(n+n0)))): 4 SE over seeds + 2 MC rel. SE + O(a φ'(1)) "
                "neglected terms of the quasi-stationary linearisation",
            )
        )
    summary = {
        "mean_final_alignment": float(final.mean()),
        "mean_final_alignment_at_least_0.99": bool(final.mean() >= 0.99),
        "min_final_alignment": float(final.min()),
        "max_final_alignment": float(final.max()),
        "sd_final_alignment": float(final.std(ddof=1)) if S > 1 else 0.0,
        "n_seeds": S,
        "final_ode_time": float(traj.time[-1]),
        "phi2_at_zero": phi2,
        "escape_time_theory": escape_time(d=config.d, phi2=phi2) if phi2 > 0 else None,
        "predicted_final_misalignment": pole["misalignment"],
        "phi_prime_pole_mc": pole["phi_prime_pole"],
        "pole_gradient_noise": pole["pole_noise"],
        "simulation_seconds": sim_seconds,
        "steps_seeds_per_second": config.steps * S / sim_seconds,
    }
    if pca_final is not None:
        lam = spike_strength(
            d=config.d,
            K=config.K,
            M=config.M,
            theta=config.theta,
            theta_scaling=config.theta_scaling,
        )
        n_tok = config.steps * (config.K + config.M)
        th = float(pca_alignment_theory(n_tok, d=config.d, lam=lam))
        summary["pca_final_alignment"] = float(pca_final.mean())
        summary["pca_bbp_theory"] = th
        deficit = 1 - th
        comps.append(
            Comparison(
                "PCA final |<v,u>| (BBP)",
                th,
                float(pca_final.mean()),
                4 * math.sqrt(2 / (config.d - 1)) * deficit / math.sqrt(len(pca_final))
                + 2 * deficit / math.sqrt(config.d),
                note="1-|<v,u>| is a sum of d-1 squared fluctuations: relative sd √(2/(d-1)) per "
                "seed (4 SE) + O(d^{-1/2}) finite-d correction",
            )
        )
    summary["small_beta_final_alignment"] = float(
        table[(table.method == "small_beta") & (table.step == traj.step[-1])].abs_m.mean()
    )
    b0 = table[table.method == "beta0"]
    summary["beta0_final_alignment"] = float(b0[b0.step == traj.step[-1]].abs_m.mean())
    comps.append(
        Comparison(
            "β=0: |m_final| - |m_0| (no signal)",
            0.0,
            float(
                np.abs(
                    b0[b0.step == traj.step[-1]].abs_m.to_numpy()
                    - b0[b0.step == 0].abs_m.to_numpy()
                ).max()
            ),
            1e-6,
            note="∇ℓ = 2β Cov_a(x) y vanishes identically at β = 0 (rounding only)",
        )
    )
    return Result(table=table, summary=summary, comparisons=comps, seeds=list(range(S)))


# ================================================================= subspace-ode


class OdeConfig(_SGAConfig):
    """SGA |m_n| on the ODE time axis beside dm/dt = (1−m²)φ′(m) from the same m_0 (spec §6.2)."""

    theta: float = Field(0.5, ge=0, description="signal strength θ")
    n_seeds: int = Field(40, ge=2, description="independent runs")
    steps: int = Field(2000, ge=1)
    c: float = Field(5.0, gt=0)
    n0: float = Field(500.0, gt=0)
    log_every: int = Field(20, ge=1)
    simulator: Literal["full", "reduced"] = Field("reduced", description="reduced: exact in law")
    dtype: Literal["float32", "float64"] = Field("float64")


def _plot_ode(result: Result, config: OdeConfig) -> dict:
    from attnlab import plot

    t = result.table
    fig, ax = plot.subplots(width=5.0)
    sga = t[t.method == "sga"].pivot(index="seed", columns="time", values="abs_m")
    ode = t[t.method == "ode"].pivot(index="seed", columns="time", values="abs_m")
    plot.simulation_band(
        ax, sga.columns, sga.to_numpy(), label="SGA |m_n| (mean ± sd)", markers=False
    )
    plot.simulation_band(
        ax,
        ode.columns,
        ode.to_numpy(),
        label="ODE from same m_0 (mean ± sd)",
        color=plot.PALETTE[1],
        markers=False,
    )
    plot.finish(
        ax,
        xlabel="ODE time t_n = Σ a_k",
        ylabel="|m|",
        title=f"θ={config.theta}, K={config.K}, M={config.M}, d={config.d}",
    )
    return {"ode": fig}


@experiment(
    "subspace-ode",
    config=OdeConfig,
    description="SGA |m_n| vs ODE time beside the solution of dm/dt=(1-m²)φ'(m) from the same m_0",
    quick={
        "d": 50,
        "K": 50,
        "M": 2000,
        "n_seeds": 24,
        "steps": 600,
        "c": 3.0,
        "n0": 150.0,
        "log_every": 20,
    },
    plot=_plot_ode,
)
def run_ode(config: OdeConfig) -> Result:
    from attnlab.subspace import closed_form_function, escape_time, phi_second_at_zero, solve_ode

    traj = _simulate(config)
    mk = _model_kwargs(config)
    ode = solve_ode(traj.m[:, 0], traj.time, phi_prime=closed_form_function(**mk, order=1))
    S = config.n_seeds
    rows = []
    for meth, arr in (("sga", traj.abs_m), ("ode", np.abs(ode))):
        rows.append(
            pd.DataFrame(
                {
                    "method": meth,
                    "seed": np.repeat(np.arange(S), len(traj.step)),
                    "step": np.tile(traj.step, S),
                    "time": np.tile(traj.time, S),
                    "abs_m": arr.ravel(),
                }
            )
        )
    table = pd.concat(rows, ignore_index=True)
    comps = []
    L = len(traj.step)
    a_max = config.c / config.n0**config.p if config.schedule == "robbins_monro" else config.c
    ode_mean = np.abs(ode).mean(0)
    checkpoints = [int(np.argmax(ode_mean >= lv)) for lv in (0.3, 0.6, 0.9) if ode_mean[-1] >= lv]
    for j in sorted({*checkpoints, L - 1}):
        diff = traj.abs_m[:, j] - np.abs(ode[:, j])
        se = diff.std(ddof=1) / math.sqrt(S)
        comps.append(
            Comparison(
                "mean |m| SGA vs ODE",
                float(np.abs(ode[:, j]).mean()),
                float(traj.abs_m[:, j].mean()),
                4 * se + 0.02,
                where=f"t={traj.time[j]:.2f}",
                simulation_sd=float(traj.abs_m[:, j].std(ddof=1)),
                note="4 SE of the paired (same m_0) difference over seeds + 0.02 for the O(a_n) "
                f"step-size bias (a_0={a_max:.3g}: normalisation shrink and pole noise floor)",
            )
        )
    phi2 = phi_second_at_zero(**mk) if config.sign != "fixed" else float("nan")
    summary = {
        "phi2_at_zero": phi2,
        "escape_time_theory": escape_time(d=config.d, phi2=phi2) if phi2 > 0 else None,
        "final_time": float(traj.time[-1]),
        "mean_final_alignment_sga": float(traj.final_alignment.mean()),
        "mean_final_alignment_ode": float(np.abs(ode[:, -1]).mean()),
        "max_mean_gap": float(np.max(np.abs(traj.abs_m.mean(0) - np.abs(ode).mean(0)))),
    }
    return Result(table=table, summary=summary, comparisons=comps, seeds=list(range(S)))


# ================================================================= subspace-robustness

# a final ODE |m| above this (for some seed) means the escape from the equator has begun
_ESCAPE_STARTED = 0.2


class RobustnessConfig(_SGAConfig):
    """Final alignment vs M and vs θ, both scalings, and the fixed-sign contrast (spec §6.3).

    Uses the exact reduced simulator by default (O(N) per step: M = 10⁵ is affordable)."""

    M_values: list[int] = Field([100, 1000, 10_000, 100_000], description="nuisance counts")
    theta_values: list[float] = Field([0.1, 0.25, 0.5, 1.0, 2.0], description="signal strengths")
    n_seeds: int = Field(10, ge=2)
    steps: int = Field(400, ge=1)
    c: float = Field(6.0, gt=0)
    n0: float = Field(15.0, gt=0)
    log_every: int = Field(400, ge=1)
    simulator: Literal["full", "reduced"] = Field("reduced", description="reduced: exact in law")
    dtype: Literal["float32", "float64"] = Field("float32")
    noise_samples: int = Field(256, ge=16, description="MC draws for the pole noise floor")

    @model_validator(mode="after")
    def _lists(self):
        if not self.M_values or min(self.M_values) < 0:
            raise ValueError("M_values must be a non-empty list of integers ≥ 0")
        if not self.theta_values or min(self.theta_values) < 0:
            raise ValueError("theta_values must be a non-empty list of numbers ≥ 0")
        return self


def _plot_robustness(result: Result, config: RobustnessConfig) -> dict:
    from attnlab import plot

    t = result.table
    fig, axes = plot.subplots(1, 2, width=4.4)
    for ax, sweep, xlab in ((axes[0], "M", "M (nuisance tokens)"), (axes[1], "theta", "θ")):
        for j, (lab, g) in enumerate(t[t.sweep == sweep].groupby("label")):
            g = g.sort_values("x")
            plot.simulation_points(
                ax,
                g.x,
                g.mean_final,
                g.sd_final,
                label=f"SGA {lab}",
                color=plot.PALETTE[j % len(plot.PALETTE)],
            )
            ax.plot(
                g.x,
                g.ode_final,
                "--",
                color=plot.PALETTE[j % len(plot.PALETTE)],
                lw=1,
                label=f"ODE {lab}",
            )
        ax.set_xscale("log")
        plot.finish(ax, xlabel=xlab, ylabel="final |m|")
    return {"robustness": fig}


@experiment(
    "subspace-robustness",
    config=RobustnessConfig,
    description="final alignment vs M and θ (both scalings) and the fixed-sign contrast, vs ODE",
    quick={
        "d": 40,
        "K": 40,
        "M": 1000,
        "M_values": [100, 1000],
        "theta_values": [0.25, 1.0],
        "n_seeds": 5,
        "steps": 200,
        "log_every": 200,
        "theta": 0.5,
        "noise_samples": 64,
    },
    plot=_plot_robustness,
)
def run_robustness(config: RobustnessConfig) -> Result:
    from attnlab.rng import root_key, stream
    from attnlab.subspace import (
        closed_form_function,
        pole_noise,
        solve_ode,
        stationary_misalignment,
    )

    points = [("M", "θ-scaling sqrt_d", float(M), {"M": M}) for M in config.M_values]
    for scaling in ("sqrt_d", "none"):
        points += [
            ("theta", f"θ-scaling {scaling}", th, {"theta": th, "theta_scaling": scaling})
            for th in config.theta_values
        ]
    points.append(("theta", "fixed sign", config.theta, {"sign": "fixed"}))
    rows, comps, outside, mid_escape = [], [], [], []
    S = config.n_seeds
    key = stream(root_key(config.seed), "theory")
    for i, (sweep, label, x, over) in enumerate(points):
        cfg = config.replace(**over)
        mk = _model_kwargs(cfg)
        t0 = time.perf_counter()
        traj = _simulate(cfg)
        secs = time.perf_counter() - t0
        ode = solve_ode(
            traj.m[:, 0], traj.time[[0, -1]], phi_prime=closed_form_function(**mk, order=1)
        )[:, -1]
        fin = traj.final_alignment
        # pole noise floor: only meaningful where the ODE has converged and φ'(1) > 0
        dphi1 = float(closed_form_function(**mk, order=1)(1.0)[0])  # O(1/N_eff) accurate
        ode_abs = np.abs(ode)
        a_end = cfg.c / (cfg.steps + cfg.n0) ** cfg.p
        floor = math.inf
        if dphi1 > 0 and ode_abs.min() > 0.99:  # the noise floor only matters once converged
            noise, _ = pole_noise(
                key=stream(key, f"noise{i}"),
                n_samples=config.noise_samples,
                batch=cfg.batch,
                **mk,
            )
            floor = stationary_misalignment(
                a_end,
                noise=noise,
                phi_prime_pole=dphi1,
                c=cfg.c,
                n=cfg.steps,
                n0=cfg.n0,
                p=cfg.p,
                schedule=cfg.schedule,
            )
        small_step = 2 * a_end * dphi1 < 0.5  # ODE/linearisation regime near the pole
        floor_ok = math.isfinite(floor) and small_step and ode_abs.min() > 0.99 and floor < 0.05
        theory = float(ode_abs.mean() - (floor if floor_ok else 0.0))
        rows.append(
            {
                "sweep": sweep,
                "label": label,
                "x": x,
                "mean_final": float(fin.mean()),
                "sd_final": float(fin.std(ddof=1)),
                "min_final": float(fin.min()),
                "mean_final_signed": float(traj.m[:, -1].mean()),
                "ode_final": float(ode_abs.mean()),
                "noise_floor": floor,
                "a_end_x_2phi1": 2 * a_end * dphi1,
                "in_ode_regime": bool(floor_ok or (small_step and ode_abs.min() <= 0.99)),
                "seconds": secs,
            }
        )
        where = f"{label}, {sweep}={x:g}"
        if floor_ok:
            tol = 4 * fin.std(ddof=1) / math.sqrt(S) + floor
            why = "ODE converged: theory = 1 - noise floor; tol 4 SE + floor (linearisation)"
        elif small_step and ode_abs.max() < _ESCAPE_STARTED:
            tol = 4 * float(np.std(fin - ode_abs, ddof=1)) / math.sqrt(S) + 0.05
            why = (
                "ODE has not escaped the equator: 4 SE of the paired (same m_0) SGA-ODE gap + 0.05 "
                "(heuristic allowance for SGA diffusion on the sphere, not in the ODE)"
            )
        elif small_step and ode_abs.min() <= 0.99:
            # mid-escape at the final step: |m| moves fastest here, and SGA escapes later than
            # the ODE by the O(a) normalisation drift -(a/2)E|g|^2 m (module docstring), so the
            # gap measures escape-time jitter, not the theory. subspace-ode compares SGA with
            # the ODE along whole trajectories at small steps; here the point is reported only.
            mid_escape.append(where)
            continue
        else:
            # outside the ODE regime: a_end·2φ'(1) ≥ 0.5 or a noise floor ≥ 0.05 — the a_n → 0
            # theory does not describe the end of this run; reported, not compared
            outside.append(where)
            continue
        comps.append(
            Comparison(
                "mean final |m|",
                theory,
                float(fin.mean()),
                tol,
                where=where,
                simulation_sd=float(fin.std(ddof=1)),
                note=why,
            )
        )
    table = pd.DataFrame(rows)
    summary = {f"{r['label']}|{r['sweep']}={r['x']:g}": r["mean_final"] for r in rows}
    summary["outside_ode_regime"] = outside
    summary["mid_escape_not_compared"] = mid_escape
    return Result(table=table, summary=summary, comparisons=comps, seeds=list(range(S)))


# ================================================================= subspace-landscape


class LandscapeConfig(_ModelConfig):
    """φ(m) and (1−m²)φ′(m): Monte-Carlo (exact, CRN) against the large-N closed form (§6.4)."""

    signs: list[Literal["token", "sequence", "gaussian", "fixed"]] = Field(
        ["token", "gaussian"], description="sign laws to compare"
    )
    n_grid: int = Field(41, ge=3, description="points of the m grid")
    n_samples: int = Field(4096, ge=16, description="Monte-Carlo draws per sign law")


def _plot_landscape(result: Result, config: LandscapeConfig) -> dict:
    from attnlab import plot

    t = result.table
    fig, axes = plot.subplots(1, 2, width=4.4)
    for j, (sign, g) in enumerate(t.groupby("sign")):
        col = plot.PALETTE[j % len(plot.PALETTE)]
        axes[0].errorbar(g.m, g.phi_mc, 2 * g.phi_se, fmt="o", ms=3, color=col, label=f"MC {sign}")
        axes[0].plot(g.m, g.phi_cf, "-", color=col, label=f"closed form {sign}")
        axes[1].errorbar(
            g.m, g.drift_mc, 2 * g.drift_se, fmt="o", ms=3, color=col, label=f"MC {sign}"
        )
        axes[1].plot(g.m, g.drift_cf, "-", color=col, label=f"closed form {sign}")
    plot.finish(axes[0], xlabel="m", ylabel="φ(m)")
    plot.finish(axes[1], xlabel="m", ylabel="(1-m²) φ'(m)")
    return {"landscape": fig}


@experiment(
    "subspace-landscape",
    config=LandscapeConfig,
    description="φ(m) and (1-m²)φ'(m): exact Monte-Carlo vs large-N closed form, fixed points",
    quick={"M": 2000, "K": 40, "d": 40, "n_grid": 11, "n_samples": 1024},
    plot=_plot_landscape,
)
def run_landscape(config: LandscapeConfig) -> Result:
    from attnlab.rng import root_key, stream
    from attnlab.subspace import (
        closed_form_function,
        fixed_points,
        phi_monte_carlo,
        phi_prime_interpolant,
        phi_prime_zeros,
    )

    rows, comps, summary = [], [], {}
    N = config.K + config.M
    for sign in config.signs:
        cfg = config.replace(sign=sign)
        mk = _model_kwargs(cfg)
        lo = -1.0 if sign == "fixed" else 0.0
        m = np.linspace(lo, 1.0, config.n_grid)
        est = phi_monte_carlo(
            m, key=stream(root_key(config.seed), f"mc-{sign}"), n_samples=config.n_samples, **mk
        )
        cf = closed_form_function(**mk)(m)
        dcf = closed_form_function(**mk, order=1)(m)
        from attnlab.subspace import closed_form_valid

        valid = closed_form_valid(m, **mk)
        cf_plot = np.where(valid, cf, np.nan)  # Gaussian signs: NaN beyond the LLN threshold
        dcf_plot = np.where(valid, dcf, np.nan)
        rows.append(
            pd.DataFrame(
                {
                    "sign": sign,
                    "m": m,
                    "phi_mc": est.phi,
                    "phi_se": est.phi_se,
                    "phi_cf": cf_plot,
                    "drift_mc": est.drift,
                    "drift_se": (1 - m**2) * est.dphi_se,
                    "drift_cf": (1 - m**2) * dcf_plot,
                }
            )
        )
        # O(1/N_eff) corrections of the closed form: ratio-estimator variance + bias of the
        # softmax averages, bounded by 2 e^{β²}(1 + β² + θ_d²)·ratio/N (module _theory);
        # at m = 0 the exact leading term is e^{β²}(ρθ_d² − β²)/N (tests check it).
        from attnlab.subspace import signal_strength

        td = signal_strength(cfg.theta, cfg.d, cfg.theta_scaling)
        rho = cfg.K / N
        x = cfg.beta * td * m
        mgf = {
            "token": np.cosh,
            "sequence": np.cosh,
            "gaussian": lambda v: np.exp(v * v / 2),
            "fixed": np.exp,
        }[sign]
        ratio = (rho * mgf(2 * x) + 1 - rho) / (rho * mgf(x) + 1 - rho) ** 2
        corr = 2 * math.exp(cfg.beta**2) * (1 + cfg.beta**2 + td**2) * ratio / N
        summary[f"{sign}_closed_form_valid_up_to_m"] = float(m[valid].max())
        for mm in (0.0, 0.5, 1.0):
            j = int(np.argmin(np.abs(m - mm)))
            if not valid[j]:
                continue  # Gaussian signs beyond the LLN threshold: closed form not applicable
            comps.append(
                Comparison(
                    "φ(m) MC vs closed form",
                    float(cf[j]),
                    float(est.phi[j]),
                    4 * float(est.phi_se[j]) + float(corr[j]),
                    where=f"sign={sign}, m={m[j]:.2f}",
                    note="4 MC SE + O(1/N_eff) bound 2e^{β²}(1+β²+θ_d²)·ratio/N (tests, _theory)",
                )
            )
        j = int(np.argmin(np.abs(m - 0.5 * m[valid].max())))
        comps.append(
            Comparison(
                "φ'(m) MC vs closed form",
                float(dcf[j]),
                float(est.dphi[j]),
                4 * float(est.dphi_se[j]) + float(corr[j]) * (1 + 2 * cfg.beta * td),
                where=f"sign={sign}, m={m[j]:.2f}",
                note="4 MC SE + the same O(1/N_eff) bound times (1 + 2βθ_d) for the m-derivative",
            )
        )
        # fixed points from the exact Monte-Carlo φ′ (the closed form is not valid everywhere for
        # Gaussian signs); the closed form's own spurious-zero check is reported separately
        fps = fixed_points(
            phi_prime_interpolant(est, symmetric=sign != "fixed"), symmetric=sign != "fixed"
        )
        fps_cf = fixed_points(closed_form_function(**mk, order=1), symmetric=sign != "fixed")
        spurious_mc = phi_prime_zeros(m[1:-1], est.dphi[1:-1], est.dphi_se[1:-1])
        if sign != "fixed":
            spurious_mc = spurious_mc[np.abs(spurious_mc) > 1e-9]
        summary[sign] = {
            "fixed_points": [
                {"m": f.m, "kind": f.kind, "slope": f.slope, "stable": f.stable} for f in fps
            ],
            "spurious_zero_closed_form": any(f.kind == "spurious" for f in fps_cf),
            "spurious_zero_mc": bool(len(spurious_mc)),
            "phi2_at_zero_mc_fd": float(est.dphi[1] / m[1]) if lo == 0 else None,
        }
    return Result(
        table=pd.concat(rows, ignore_index=True),
        summary=summary,
        comparisons=comps,
        seeds=[config.seed],
    )
