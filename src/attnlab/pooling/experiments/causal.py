"""``pooling-causal``: measured effective weights of causal self-attention vs the τ/d formula,
the 1/√d contrast, and pooling with the measured weights end to end.

Pipeline: simulate (one table and ``N`` sequences; the per-sequence Gram matrices once, then
the weights for every τ and both scalings) → theory (:func:`~attnlab.pooling.causal_limit_weights`;
mean pooling ``1/L`` for 1/√d) → compare (first and last position) → end to end
(:func:`~attnlab.pooling.simulate_attention_pooling` against ``⟨û, μ̂⟩²`` at the limiting
weights' ρ) → table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import Field, field_validator

from attnlab.compare import Comparison, Result, heuristic, standard_error
from attnlab.config import Cost
from attnlab.pooling import (
    PoolingModel,
    attention_weights_from_grams,
    causal_limit_weights,
    overlap_sample_mu,
    rho,
    sample_table,
    sample_tokens,
    sequence_grams,
    simulate_attention_pooling,
)
from attnlab.pooling._tolerance import RowSet, spike_rows
from attnlab.pooling.experiments._shared import PoolingConfig
from attnlab.registry import experiment
from attnlab.rng import replicate_keys, root_key, stream

SUBSCRIPT = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


class CausalConfig(PoolingConfig):
    """Causal self-attention's effective weights on the model's sequences (N = d/γ of them)."""

    model: PoolingModel = PoolingModel()
    taus: list[float] = Field([0.0, 0.5, 1.0, 2.0], min_length=1, description="score scales τ")
    ell: float = Field(1.0, ge=0, le=1e8, description="signal strength ℓ of the table")
    attention_tau: float = Field(1.0, ge=-20, le=20, description="τ of the pooling check")
    attention_ell: float = Field(1.0, ge=0, le=1e8, description="ℓ of the pooling check")
    attention_trials: int = Field(10, ge=2, le=10**6, description="trials of the pooling check")

    @field_validator("taus")
    @classmethod
    def _check_taus(cls, v: list[float]) -> list[float]:
        if any(abs(t) > 20 for t in v):
            raise ValueError("each tau must be in [-20, 20]")
        return v

    def cost(self) -> Cost:
        m = self.model
        d, V, N, L = float(m.d), float(m.V), float(m.N), float(m.L)
        memory = 8.0 * (V * d + N * d + N * L * L * (len(self.taus) + 2))
        per_trial = V * d + 2 * N * L * L * d + 4 * 150 * N * d
        return Cost(
            memory, (1 + 2 * self.attention_trials) * per_trial, f"N={N:.0f} × L² × d={d:.0f}"
        )


def _position_rows(
    weights: np.ndarray, theory: np.ndarray, bias: np.ndarray, *, label: str, where: str, note: str
) -> list[Comparison]:
    """Rows for the first and last position: mean weight over sequences vs the theory."""
    L = weights.shape[1]
    rows = []
    for s in (0, L - 1):
        tol = standard_error(weights[:, s], z=3.3, what="sequences") + heuristic(
            float(bias[s]), note
        )
        rows.append(
            Comparison(
                f"w{str(s + 1).translate(SUBSCRIPT)} ({label})",
                float(theory[s]),
                float(weights[:, s].mean()),
                tol,
                max_tolerance=0.25 * float(theory[s]),
                where=where,
                simulation_sd=float(weights[:, s].std(ddof=1)),
            )
        )
    return rows


def _weight_rows(
    config: CausalConfig, grams: np.ndarray
) -> tuple[list[pd.DataFrame], list[Comparison]]:
    m = config.model
    d, L, V = m.d, m.L, m.V
    frames, rows = [], []
    for scaling in ("tau/d", "1/sqrt(d)"):
        label = "τ/d" if scaling == "tau/d" else "1/√d"
        for tau in config.taus:
            W = attention_weights_from_grams(grams, tau=tau, d=d, scaling=scaling)
            if tau == 0:  # all scores 0: uniform causal attention, exactly harmonic, any d
                theory, bias, note = (
                    causal_limit_weights(L, tau=0.0),
                    np.full(L, 1e-12),
                    "exact at τ = 0",
                )
            elif scaling == "tau/d":
                theory = causal_limit_weights(L, tau=tau)
                # O(τ²/d) from the O(τ/√d) score noise, O(τ ℓ/d) from the signal part of the
                # scores, O(L/V) from repeated tokens in a sequence
                bias = theory * (4 * (tau**2 + abs(tau) * (1 + config.ell)) / d + 2 * L / V)
                note = "w_s [4(τ² + |τ|(1+ℓ))/d + 2L/V]"
            else:
                theory = np.full(L, 1.0 / L)
                # A → I: off-diagonal attention ~ exp(−τ√d); repeated tokens O(L/V)
                bias = theory * (2 * L / V + 2 * L * np.exp(-abs(tau) * np.sqrt(d) / 2))
                note = "w_s [2L/V + 2L exp(−|τ|√d/2)] (softmax collapses on the diagonal τ√d)"
            rows += _position_rows(W, theory, bias, label=label, where=f"τ={tau:g}", note=note)
            frames.append(
                pd.DataFrame(
                    {
                        "scaling": scaling,
                        "tau": tau,
                        "position": np.arange(1, L + 1),
                        "mean": W.mean(0),
                        "sd": W.std(0, ddof=1),
                        "theory": theory,
                    }
                )
            )
    return frames, rows


def _plot(result: Result, config: CausalConfig) -> dict:
    from attnlab import plot

    fig, axes = plot.panel_grid(2, max_cols=2)
    tab = result.table
    pos = np.arange(1, config.model.L + 1)
    for ax, scaling in zip(axes, ("tau/d", "1/sqrt(d)"), strict=True):
        n = len(config.taus)
        for c, tau in enumerate(config.taus):
            sub = tab[(tab.scaling == scaling) & (tab.tau == tau)].sort_values("position")
            if scaling == "tau/d":
                label = f"formula, τ = {tau:g}"
                plot.theory_line(ax, pos, sub["theory"], label=label, color=plot.color(c))
            # points of different τ side by side, so that none hides another
            shift = 0.12 * (c - (n - 1) / 2) if scaling != "tau/d" else 0.0
            plot.simulation_points(
                ax,
                pos + shift,
                sub["mean"],
                sub["sd"],
                label=None if scaling == "tau/d" else f"τ = {tau:g}",
                color=plot.color(c),
            )
        if scaling != "tau/d":
            ax.plot(
                pos,
                causal_limit_weights(config.model.L, tau=0.0),
                ":",
                color="black",
                label="harmonic",
            )
            ax.axhline(1 / config.model.L, color="black", lw=1, label="mean pooling 1/L")
        title = "scores τ xᵀx′/d" if scaling == "tau/d" else "scores τ xᵀx′/√d (Q = K)"
        plot.finish(ax, xlabel="position s", ylabel=r"effective weight $w_s$", title=title)
        plot.integer_ticks(ax, "x")
    plot.suptitle(
        fig,
        f"causal self-attention, d = {config.model.d}: lines formula, points measured (mean ± sd)",
    )
    return {"causal": fig}


@experiment("pooling-causal", quick={"d": 500, "attention_trials": 6}, plot=_plot)
def run_causal(config: CausalConfig) -> Result:
    """measured causal-attention weights: τ/d → harmonic-type formula, 1/√d → 1/L"""
    model = config.model
    key = stream(root_key(config.seed), "weights")
    table = sample_table(model, key)
    tokens = sample_tokens(model, stream(key, "tokens"), model.sample_labels(stream(key, "labels")))
    grams = sequence_grams(table.embeddings(config.ell), tokens)
    frames, weight_rows = _weight_rows(config, grams)
    de, ga = model.realised_delta, model.realised_gamma
    limits = {
        "tau/d": causal_limit_weights(model.L, tau=config.attention_tau),
        "1/sqrt(d)": np.full(model.L, 1.0 / model.L),
    }
    keys = replicate_keys(config.seed, config.attention_trials)
    overlaps = simulate_attention_pooling(
        model, keys, tau=config.attention_tau, ell=config.attention_ell
    )
    rows, summary_rows = RowSet(weight_rows, []), []
    for scaling, w_limit in limits.items():
        r = rho(w_limit, model.correlation)
        label = "τ/d" if scaling == "tau/d" else "1/√d"
        curve = lambda e, r=r: overlap_sample_mu(e, de, ga, r)  # noqa: E731
        name = f"⟨û, μ̂⟩² pooling with measured attention ({label})"
        rows += spike_rows(name, overlaps[scaling][:, None], [config.attention_ell], curve,
                             model=model, rho=r,
                             where=f"τ={config.attention_tau:g}, ρ_limit={r:.3g}")  # fmt: skip
        summary_rows += [
            {"scaling": scaling, "trial": i, "overlap_mu": float(v), "rho_limit": r}
            for i, v in enumerate(overlaps[scaling])
        ]
    summary = {
        "V": model.V,
        "max_abs_deviation_tau_over_d": {
            f"{tau:g}": float(np.abs(f["mean"] - f["theory"]).max())
            for f, tau in zip(frames, config.taus, strict=False)
        },
        "attention_pooling": summary_rows,
    }
    return rows.result(
        pd.concat(frames, ignore_index=True), summary, list(range(config.attention_trials))
    )
