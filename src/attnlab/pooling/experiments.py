"""Registered experiments of the pooling family (spec ``pooling.md`` §6).

``pooling-spectrum``  histogram of eig(C_hat)/kappa on the MP_delta ⊠ MP_gamma density;
``pooling-outlier``   top eigenvalue vs ell (sample and population level), both thresholds;
``pooling-alignment`` squared overlaps <u, mu_hat>^2 and <u, m_hat>^2 vs ell;
``pooling-weights``   mean vs harmonic vs optimal weights on a decaying and an AR(1) profile;
``pooling-phase``     theoretical alignment over (ell, rho) and ell_2 over (delta, gamma);
``pooling-causal``    measured causal-attention weights (tau/d and 1/sqrt(d) scores).

Tolerances of theory-vs-simulation rows (stated in each row's note):
``3 sd/sqrt(trials)`` (Monte-Carlo error of the mean over trials) ``+`` a finite-size allowance.
For outliers and overlaps the allowance is the variation of the theory curve over the BBP
critical window ``|s' - s| <= s_c d^(-1/3)`` around the point's effective spike (the
transition at ``s_c`` is smeared over ``O(d^(-1/3))`` at finite size; away from ``s_c`` the
curve is flat on that scale and the allowance is small, near it it is large). Bulk moments get
``O(1/d)`` allowances (centring and rank-one corrections); see the notes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import Field, field_validator

from attnlab.config import ExperimentConfig
from attnlab.pooling import _theory as th
from attnlab.pooling._data import (
    label_model_from_name,
    sample_pooled,
    sizes_from_ratios,
)
from attnlab.pooling._spectrum import covariance_eigenvalues, simulate_outliers
from attnlab.pooling._weights import (
    causal_limit_weights,
    harmonic_weights,
    mean_weights,
    optimal_weights,
)
from attnlab.registry import Comparison, Result, experiment
from attnlab.rng import numpy_rng

WEIGHT_NAMES = ("mean", "harmonic", "optimal", "causal")


def _rngs(seed: int, tag: str, n: int) -> list[np.random.Generator]:
    return [numpy_rng(seed, "pooling", tag, i) for i in range(n)]


def weights_by_name(name: str, *, L: int, R: np.ndarray, tau: float = 0.0) -> np.ndarray:
    """``mean``, ``harmonic``, ``optimal`` (top eigenvector of R) or ``causal`` (tau/d limit)."""
    if name == "mean":
        return mean_weights(L)
    if name == "harmonic":
        return harmonic_weights(L)
    if name == "optimal":
        return optimal_weights(R)
    return causal_limit_weights(L, tau=tau)


def _window_allowance(f, ell: float, *, delta, rho, s_crit, d: int, size_rel: float = 0.0):
    """Finite-size allowance of a theory curve ``f(ell)`` at ``ell``.

    If the BBP window ``|s' - s| <= s_crit d^(-1/3)`` around the point's effective spike ``s``
    contains the transition ``s_crit``: ``max |f(ell') - f(ell)|`` over the window (the finite-size
    transition is smeared over it). Otherwise the curve is smooth on that scale and only the
    ``O(1/d)`` bias remains: ``size_rel |f(ell)|``.
    """
    w_s = float(s_crit) * d ** (-1.0 / 3.0)
    s = rho * (ell + delta) - delta
    if abs(s - float(s_crit)) > w_s:
        return float(size_rel * abs(f(np.array(ell))))
    s_grid = s + np.linspace(-w_s, w_s, 21)
    ell_grid = np.maximum((s_grid + delta) / rho - delta, 0.0)
    return float(np.max(np.abs(f(ell_grid) - f(np.array(ell)))))


def _near(ell, *, delta, rho, s_crit, d) -> bool:
    """Whether ``s(ell)`` is within the BBP window ``s_crit d^(-1/3)`` of (or below) ``s_crit``."""
    s = rho * (ell + delta) - delta
    return s <= float(s_crit) * (1 + d ** (-1.0 / 3.0))


def _mc(samples: np.ndarray) -> tuple[float, float, float]:
    """mean, sd, 3 standard errors over trials (axis 0)."""
    x = np.asarray(samples, dtype=float)
    sd = float(x.std(ddof=1)) if x.size > 1 else 0.0
    return float(x.mean()), sd, 3 * sd / np.sqrt(max(x.size, 1))


WINDOW_NOTE = (
    "3 standard errors over trials + (near s_c) theory variation over the BBP window "
    "s_c d^(-1/3), (away) 2(2/V + 1/N) relative finite-size bias"
)
EDGE_NOTE = WINDOW_NOTE + " + (at/below s_c) 3 lambda_edge d^(-2/3) (Tracy-Widom scale)"


# -- common config pieces -----------------------------------------------------------------------
class _PoolingBase(ExperimentConfig):
    d: int = Field(1000, ge=4, description="ambient dimension")
    L: int = Field(16, ge=1, le=4096, description="sequence length")
    trials: int = Field(10, ge=2, description="independent trials (table + sequences) per point")
    label_model: str = Field("hidden_label", description="hidden_label | markov | copula")
    profile: str = Field("geometric", description="hidden_label profile: geometric|linear|constant")
    r0: float = Field(0.3, ge=-1, le=1, description="hidden_label: r_1 (geometric: r0 q^(t-1))")
    q: float = Field(0.8, ge=-1, le=1, description="hidden_label geometric decay q")
    p: float = Field(0.5, gt=-1, lt=1, description="markov / copula correlation p^|s-t|")
    weights: str = Field("mean", description="mean | harmonic | optimal | causal")
    tau: float = Field(0.0, ge=-20, le=20, description="causal weights: c = e^tau")
    center: bool = Field(True, description="centre the pooled data")

    @field_validator("label_model")
    @classmethod
    def _lm(cls, v: str) -> str:
        if v not in ("hidden_label", "markov", "copula"):
            raise ValueError("must be one of hidden_label, markov, copula")
        return v

    @field_validator("profile")
    @classmethod
    def _prof(cls, v: str) -> str:
        if v not in ("geometric", "linear", "constant"):
            raise ValueError("must be one of geometric, linear, constant")
        return v

    @field_validator("weights")
    @classmethod
    def _w(cls, v: str) -> str:
        if v not in WEIGHT_NAMES:
            raise ValueError(f"must be one of {', '.join(WEIGHT_NAMES)}")
        return v

    def model(self):
        return label_model_from_name(
            self.label_model, L=self.L, profile=self.profile, r0=self.r0, q=self.q, p=self.p
        )

    def pooling_weights(self, R: np.ndarray) -> np.ndarray:
        return weights_by_name(self.weights, L=self.L, R=R, tau=self.tau)


# == 1. spectrum ===================================================================================
class SpectrumConfig(_PoolingBase):
    """Full spectrum of C_hat/kappa at three (delta, gamma) pairs (spec §6.1)."""

    pairs: list[tuple[float, float]] = Field(
        [(0.5, 0.5), (2.0, 0.5), (0.25, 1.0)], description="(delta, gamma) pairs"
    )
    ell: float = Field(3.0, ge=0, description="signal strength ||mu||^2")
    r0: float = Field(1.0, ge=-1, le=1, description="hidden_label: r_1 (geometric: r0 q^(t-1))")

    @field_validator("pairs")
    @classmethod
    def _pairs(cls, v):
        if not v or any(a <= 0 or b <= 0 for a, b in v):
            raise ValueError("need at least one pair, each with delta > 0 and gamma > 0")
        return v


def _plot_spectrum(result: Result, config: SpectrumConfig) -> dict:
    from attnlab import plot

    pairs = result.summary["pairs"]
    fig, axes = plot.subplots(1, len(pairs), width=4.2, squeeze=False)
    for ax, info in zip(axes[0], pairs, strict=True):
        de, ga = info["delta"], info["gamma"]
        tab = result.table
        ev = tab[(tab["pair"] == info["pair"]) & (tab["sample"] == "signal")]["eigenvalue"]
        ev = ev.to_numpy()
        bulk = ev[(ev > 1e-9) & (ev < info["lambda_plus"] * 1.3)]
        lo, hi = th.mp_product_edges(de, ga)
        grid = np.linspace(max(float(lo) - 0.05, 1e-4), float(hi) * 1.05, 600)
        atom = float(th.mp_product_atom(de, ga))
        dens = th.mp_product_density(grid, delta=de, gamma=ga) / (1 - atom)
        plot.histogram_vs_density(
            ax, bulk, grid, dens, bins=70, density_label=r"MP$_\delta\boxtimes$MP$_\gamma$"
        )
        # plain MP_gamma for contrast (what i.i.d. Gaussian pooled vectors would give)
        mp_lo, mp_hi = (1 - np.sqrt(ga)) ** 2, (1 + np.sqrt(ga)) ** 2
        mp = np.where(
            (grid > mp_lo) & (grid < mp_hi),
            np.sqrt(np.clip((mp_hi - grid) * (grid - mp_lo), 0, None)) / (2 * np.pi * ga * grid),
            0.0,
        ) / max(1 - max(0.0, 1 - 1 / ga), 1e-12)
        ax.plot(grid, mp, ":", color="#d62728", lw=1.2, label=r"MP$_\gamma$ (contrast)")
        ax.axvline(info["outlier_theory"], color="#2ca02c", ls="--", lw=1, label="outlier (theory)")
        ax.plot(
            info["outlier_simulation_all"],
            np.zeros(len(info["outlier_simulation_all"])),
            "v",
            color="#2ca02c",
            ms=5,
            label="top eig (sim)",
        )
        ax.set_xlim(0, max(info["outlier_theory"], hi) * 1.08)
        plot.finish(
            ax,
            xlabel=r"eigenvalue / $\kappa$",
            ylabel="density (nonzero part)",
            title=f"δ={de:g}, γ={ga:g}, atom={atom:.2f}",
        )
    return {"spectrum": fig}


@experiment(
    "pooling-spectrum",
    config=SpectrumConfig,
    description="histogram of eig(C_hat)/kappa vs the MP_delta⊠MP_gamma density, outlier marked",
    quick={"d": 200, "trials": 5},
    plot=_plot_spectrum,
)
def run_spectrum(config: SpectrumConfig) -> Result:
    from attnlab.pooling._data import hidden_label

    model = config.model()
    w = config.pooling_weights(model.R)
    rho = th.rho(w, model.R)
    # spike-free control: i.i.d. labels (R = I) make the tokens uniform over the vocabulary, so
    # Cov(x) = kappa W_full exactly (no rank-one term at all): its bulk is MP_delta ⊠ MP_gamma.
    control = hidden_label(np.zeros(config.L))
    rows, comps, pairs = [], [], []
    for k, (de0, ga0) in enumerate(config.pairs):
        V, N = sizes_from_ratios(config.d, de0, ga0)
        de, ga = config.d / V, config.d / N
        tops, moms = [], []
        for i, rng in enumerate(_rngs(config.seed, f"spectrum{k}", config.trials)):
            smp = sample_pooled(
                rng, d=config.d, V=V, N=N, weights=w, label_model=model, center=config.center
            )
            ev = covariance_eigenvalues(smp.data(config.ell)) / smp.kappa
            tops.append(ev[0])
            ctl = sample_pooled(
                rng, d=config.d, V=V, N=N, weights=w, label_model=control, center=True
            )
            ev0 = covariance_eigenvalues(ctl.data(0.0)) / ctl.kappa
            moms.append([np.mean(ev0), np.mean(ev0**2), ev0[0]])
            rows.append(
                pd.DataFrame(
                    {
                        "pair": k,
                        "delta": de,
                        "gamma": ga,
                        "trial": i,
                        "sample": np.repeat(["signal", "control"], config.d),
                        "eigenvalue": np.concatenate([ev, ev0]),
                        "rank": np.tile(np.arange(config.d), 2),
                    }
                )
            )
        moms = np.array(moms)
        where = f"delta={de:.3g}, gamma={ga:.3g}"
        theory_m = th.mp_product_moments(2, delta=de, gamma=ga)
        for j in range(2):
            mean, sd, se3 = _mc(moms[:, j])
            comps.append(
                Comparison(
                    f"bulk moment m{j + 1} (spike-free control)",
                    theory_m[j],
                    mean,
                    se3 + 2 * (j + 1) * theory_m[j] * (1 / V + 1 / N),
                    where=where,
                    simulation_sd=sd,
                    note="3 SE + 2k m_k (1/V + 1/N): the centred Wishart factors have V-1 and "
                    "N-1 degrees of freedom, scaling m_k by (1-1/V)^k (1-1/N)^k",
                )
            )
        lo, hi = th.mp_product_edges(de, ga)
        mean, sd, se3 = _mc(moms[:, 2])
        comps.append(
            Comparison(
                "largest eigenvalue, control (edge lambda_+)",
                float(hi),
                mean,
                se3 + 3 * float(hi) * config.d ** (-2 / 3),
                where=where,
                simulation_sd=sd,
                note="3 SE + 3 lambda_+ d^(-2/3) (Tracy-Widom scale at the soft edge)",
            )
        )
        lam_th = float(th.outlier_sample(config.ell, de, ga, rho))
        mean, sd, se3 = _mc(np.array(tops))
        s_c = float(th.s_star(de, ga))
        allow = _window_allowance(
            lambda e, de=de, ga=ga: th.outlier_sample(e, de, ga, rho),
            config.ell,
            delta=de,
            rho=rho,
            s_crit=s_c,
            d=config.d,
            size_rel=2 * (2 / V + 1 / N),
        )
        comps.append(
            Comparison(
                "outlier lambda_hat/kappa",
                lam_th,
                mean,
                se3 + allow,
                where=where,
                simulation_sd=sd,
                note=WINDOW_NOTE,
            )
        )
        pairs.append(
            {
                "pair": k,
                "delta": de,
                "gamma": ga,
                "lambda_minus": float(lo),
                "lambda_plus": float(hi),
                "atom": float(th.mp_product_atom(de, ga)),
                "outlier_theory": lam_th,
                "outlier_simulation": float(np.mean(tops)),
                "outlier_simulation_all": [float(t) for t in tops],
            }
        )
    return Result(
        table=pd.concat(rows, ignore_index=True),
        summary={"rho": rho, "kappa": float(w @ w), "ell": config.ell, "pairs": pairs},
        comparisons=comps,
        seeds=list(range(config.trials)),
    )


# == 2./3. outlier and alignment ===================================================================
class OutlierConfig(_PoolingBase):
    """Top eigenpair vs ell at one (delta, gamma) (spec §6.2, §6.3)."""

    delta: float = Field(0.5, gt=0, description="d/V")
    gamma: float = Field(0.5, gt=0, description="d/N")
    ells: list[float] = Field(
        [0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0],
        description="signal strengths ||mu||^2",
    )
    population: bool = Field(True, description="also compute the N = inf (population) level")

    @field_validator("ells")
    @classmethod
    def _ells(cls, v):
        if not v or any(e < 0 for e in v):
            raise ValueError("need at least one ell, all >= 0")
        return sorted(v)


def _outlier_simulation(config: OutlierConfig, tag: str):
    model = config.model()
    w = config.pooling_weights(model.R)
    V, N = sizes_from_ratios(config.d, config.delta, config.gamma)
    sim = simulate_outliers(
        _rngs(config.seed, tag, config.trials),
        d=config.d,
        V=V,
        N=N,
        weights=w,
        label_model=model,
        ells=config.ells,
        center=config.center,
        population=config.population,
    )
    return sim


def _long_table(sim, quantities: dict[str, tuple[np.ndarray, np.ndarray]]) -> pd.DataFrame:
    frames = []
    T, K = sim.lam.shape
    for name, (values, theory) in quantities.items():
        frames.append(
            pd.DataFrame(
                {
                    "trial": np.repeat(np.arange(T), K),
                    "ell": np.tile(sim.ells, T),
                    "quantity": name,
                    "value": values.ravel(),
                    "theory": np.tile(theory, T),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def _comparisons(
    sim, name: str, values, fn, *, s_crit: float, d_eff: int, edge: float | None = None
) -> list[Comparison]:
    """One row per ell; ``edge`` (eigenvalue rows) adds ``3 edge d^(-2/3)`` near/below ``s_c``."""
    V, N = d_eff / sim.delta, d_eff / sim.gamma
    size_rel = 2 * (2 / V + 1 / N)
    out = []
    for j, ell in enumerate(sim.ells):
        mean, sd, se3 = _mc(values[:, j])
        allow = _window_allowance(
            fn, ell, delta=sim.delta, rho=sim.rho, s_crit=s_crit, d=d_eff, size_rel=size_rel
        )
        if edge is not None and _near(ell, delta=sim.delta, rho=sim.rho, s_crit=s_crit, d=d_eff):
            allow += 3 * edge * d_eff ** (-2 / 3)
        out.append(
            Comparison(
                name,
                float(fn(np.array(ell))),
                mean,
                se3 + allow,
                where=f"ell={ell:g}",
                simulation_sd=sd,
                note=WINDOW_NOTE if edge is None else EDGE_NOTE,
            )
        )
    return out


def _summary(sim) -> dict:
    l1, l2 = th.alignment_thresholds(sim.delta, sim.gamma, sim.rho)
    return {
        "delta": sim.delta,
        "gamma": sim.gamma,
        "rho": sim.rho,
        "kappa": sim.kappa,
        "ell_1": float(l1),
        "ell_2": float(l2),
        "s_star": float(th.s_star(sim.delta, sim.gamma)),
        "lambda_plus": float(th.mp_product_edges(sim.delta, sim.gamma)[1]),
    }


def _plot_vs_ell(result: Result, config, panels: list[tuple[str, str, object]]) -> dict:
    from attnlab import plot

    s = result.summary
    fig, axes = plot.subplots(1, len(panels), squeeze=False)
    grid = np.linspace(0, max(config.ells) * 1.02, 400)
    tab = result.table
    for ax, (qty, label, fn) in zip(axes[0], panels, strict=True):
        sub = tab[tab.quantity == qty]
        if sub["value"].isna().all():
            continue
        piv = sub.pivot(index="trial", columns="ell", values="value")
        plot.theory_line(ax, grid, fn(grid), label="theory")
        plot.simulation_band(ax, piv.columns.to_numpy(), piv.to_numpy(), label="simulation ± sd")
        lines = [s["ell_1"], s["ell_2"]]
        plot.threshold_lines(ax, [max(x, 0) if x > 0 else np.nan for x in lines], ["ℓ₁", "ℓ₂"])
        plot.finish(
            ax,
            xlabel=r"$\ell = \|\mu\|^2$",
            ylabel=label,
            title=f"ρ={s['rho']:.3g}, δ={s['delta']:.3g}, γ={s['gamma']:.3g}",
        )
    return fig, axes


def _plot_outlier(result: Result, config: OutlierConfig) -> dict:
    s = result.summary
    de, ga, rho = s["delta"], s["gamma"], s["rho"]
    fig, axes = _plot_vs_ell(
        result,
        config,
        [
            (
                "lambda_hat",
                r"top eigenvalue of $\hat C/\kappa$",
                lambda e: th.outlier_sample(e, de, ga, rho),
            ),
            (
                "lambda_pop",
                r"population top eigenvalue / $\kappa$",
                lambda e: th.outlier_population(e, de, rho),
            ),
        ],
    )
    axes[0][0].axhline(
        s["lambda_plus"], color="#7f7f7f", lw=0.8, ls=":", label=r"bulk edge $\lambda_+$"
    )
    axes[0][1].axhline(
        (1 + np.sqrt(de)) ** 2, color="#7f7f7f", lw=0.8, ls=":", label=r"MP$_\delta$ edge"
    )
    for ax in axes[0]:
        ax.legend()
    return {"outlier": fig}


@experiment(
    "pooling-outlier",
    config=OutlierConfig,
    description="top eigenvalue of C_hat/kappa vs ell (sample and population) with both thresholds",
    quick={"d": 250, "trials": 6, "ells": [0.0, 0.5, 1.0, 2.0, 3.0, 5.0]},
    plot=_plot_outlier,
)
def run_outlier(config: OutlierConfig) -> Result:
    sim = _outlier_simulation(config, "outlier")
    de, ga, rho = sim.delta, sim.gamma, sim.rho
    f_s = lambda e: th.outlier_sample(e, de, ga, rho)  # noqa: E731
    f_p = lambda e: th.outlier_population(e, de, rho)  # noqa: E731
    comps = _comparisons(
        sim,
        "lambda_hat/kappa",
        sim.lam,
        f_s,
        s_crit=th.s_star(de, ga),
        d_eff=config.d,
        edge=float(th.mp_product_edges(de, ga)[1]),
    )
    quantities = {"lambda_hat": (sim.lam, f_s(sim.ells))}
    if config.population:
        comps += _comparisons(
            sim,
            "population lambda/kappa",
            sim.lam_pop,
            f_p,
            s_crit=np.sqrt(de),
            d_eff=config.d,
            edge=(1 + np.sqrt(de)) ** 2,
        )
        quantities["lambda_pop"] = (sim.lam_pop, f_p(sim.ells))
    return Result(
        table=_long_table(sim, quantities),
        summary=_summary(sim),
        comparisons=comps,
        seeds=list(range(config.trials)),
    )


def _plot_alignment(result: Result, config: OutlierConfig) -> dict:
    s = result.summary
    de, ga, rho = s["delta"], s["gamma"], s["rho"]
    panels = [
        (
            "overlap_mu",
            r"$\langle \hat u, \hat\mu\rangle^2$",
            lambda e: th.overlap_sample_mu(e, de, ga, rho),
        ),
        (
            "overlap_m",
            r"$\langle \hat u, \hat m\rangle^2$",
            lambda e: th.overlap_sample_m(e, de, ga, rho),
        ),
    ]
    if config.population:
        panels.append(
            (
                "overlap_pop_mu",
                r"population $\langle v, \hat\mu\rangle^2$",
                lambda e: th.overlap_population(e, de, rho),
            )
        )
    fig, _ = _plot_vs_ell(result, config, panels)
    return {"alignment": fig}


@experiment(
    "pooling-alignment",
    config=OutlierConfig,
    description="squared overlaps of the top eigenvector with mu_hat and m_hat vs ell",
    quick={"d": 250, "trials": 6, "ells": [0.0, 0.5, 1.0, 2.0, 3.0, 5.0]},
    plot=_plot_alignment,
)
def run_alignment(config: OutlierConfig) -> Result:
    sim = _outlier_simulation(config, "alignment")
    de, ga, rho = sim.delta, sim.gamma, sim.rho
    s_c = th.s_star(de, ga)
    f_mu = lambda e: th.overlap_sample_mu(e, de, ga, rho)  # noqa: E731
    f_m = lambda e: th.overlap_sample_m(e, de, ga, rho)  # noqa: E731
    f_p = lambda e: th.overlap_population(e, de, rho)  # noqa: E731
    comps = _comparisons(sim, "<u,mu_hat>^2", sim.overlap_mu, f_mu, s_crit=s_c, d_eff=config.d)
    comps += _comparisons(sim, "<u,m_hat>^2", sim.overlap_m, f_m, s_crit=s_c, d_eff=config.d)
    quantities = {
        "overlap_mu": (sim.overlap_mu, f_mu(sim.ells)),
        "overlap_m": (sim.overlap_m, f_m(sim.ells)),
    }
    if config.population:
        comps += _comparisons(
            sim,
            "population <v,mu_hat>^2",
            sim.overlap_pop_mu,
            f_p,
            s_crit=np.sqrt(de),
            d_eff=config.d,
        )
        quantities["overlap_pop_mu"] = (sim.overlap_pop_mu, f_p(sim.ells))
    return Result(
        table=_long_table(sim, quantities),
        summary=_summary(sim),
        comparisons=comps,
        seeds=list(range(config.trials)),
    )
