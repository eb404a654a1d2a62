"""``slr-oracle``: the oracle excess risk ℰ(k*, v*) along d → ∞ with λ = λ_scale·d^(−λ_power)
and L fixed (so λ√d → ∞ and λ√L → 0: asymptotic Bayes optimality), closed form against a
Monte-Carlo estimate from the data law for d ≤ ``mc_max_d``.

Pipeline: per d, closed form (:func:`~attnlab.erf_slr.oracle_excess_risk`) → Monte-Carlo
(:func:`~attnlab.erf_slr.monte_carlo_excess_risk` at a teacher drawn from ``fold_in(key(seed),
i)``) → one row per checked d → table.
"""

from __future__ import annotations

import math
from typing import Annotated

import numpy as np
import pandas as pd
from pydantic import Field

from attnlab._jax import jax
from attnlab.compare import Comparison, Result, monte_carlo
from attnlab.config import Cost, ExperimentConfig
from attnlab.erf_slr import (
    ErfSLRModel,
    best_linear_excess_risk,
    monte_carlo_excess_risk,
    oracle_excess_risk,
    teacher_directions,
    zeta_at_zero,
)
from attnlab.erf_slr._figures import oracle_figure
from attnlab.registry import experiment
from attnlab.rng import root_key

GAMMA_REF = math.sqrt(0.5)


class OracleConfig(ExperimentConfig):
    """ℰ(k*, v*) along d → ∞ with λ = λ_scale·d^(−λ_power), L and γ fixed (the data law at
    each d is ``ErfSLRModel(d, L, gamma)``; the label noise does not enter the excess risk)."""

    d_values: list[Annotated[int, Field(ge=2, le=10**12)]] = Field(
        [100, 316, 1000, 3162, 10_000, 31_623, 100_000, 316_228, 1_000_000],
        min_length=1,
        max_length=1000,
        description="dimensions d (each in [2, 1e12])",
    )
    L: int = Field(10, ge=1, le=10**6, description="tokens per sequence")
    gamma: float = Field(GAMMA_REF, ge=0, le=100, description="sd γ of the hidden token")
    lam_scale: float = Field(1.0, ge=1e-6, le=1e3, description="λ = lam_scale · d^(−lam_power)")
    lam_power: float = Field(0.25, gt=0, lt=0.5, description="in (0, 1/2): λ√d → ∞, λ → 0")
    mc_max_d: int = Field(1000, ge=2, le=10**6, description="Monte-Carlo check for d ≤ mc_max_d")
    n_mc: int = Field(20_000, ge=2, le=10**9, description="Monte-Carlo samples per checked d")

    def cost(self) -> Cost:
        checked = [d for d in self.d_values if d <= self.mc_max_d]
        memory = 4096.0 * self.L * max(checked, default=0) * 8
        flops = sum(4.0 * self.n_mc * self.L * d for d in checked) + 1e5 * len(self.d_values)
        return Cost(memory, flops, f"{self.n_mc} Monte-Carlo samples at d ≤ {self.mc_max_d}")


def _monte_carlo_row(config: OracleConfig, model, lam, theory, index):
    key = jax.random.fold_in(root_key(config.seed), index)
    ks, vs = teacher_directions(model, key)
    mc, se = monte_carlo_excess_risk(model, jax.random.fold_in(key, 1), ks, vs, k_star=ks,
                                     v_star=vs, lam=lam, n=config.n_mc)  # fmt: skip
    row = Comparison(
        "oracle excess risk: closed form vs Monte-Carlo",
        theory,
        mc,
        monte_carlo(se, what=f"Monte-Carlo ({config.n_mc} samples)"),
        # informative while it resolves the risk to 10 %
        max_tolerance=0.1 * theory,
        where=f"d = {model.d}, λ = {lam:.4g}",
        simulation_sd=se,
    )
    return row, mc, se


@experiment(
    "slr-oracle",
    quick={"d_values": [100, 316, 10_000, 1_000_000], "n_mc": 8000, "mc_max_d": 316},
    plot=oracle_figure,
)
def run_oracle(config: OracleConfig) -> Result:
    """oracle excess risk ℰ(k*, v*) → 0 as d grows with λ = d^(−1/4), L fixed"""
    rows, comparisons = [], []
    for i, d in enumerate(sorted(config.d_values)):
        model = ErfSLRModel(d=d, L=config.L, gamma=config.gamma)
        lam = config.lam_scale * d ** (-config.lam_power)
        theory = oracle_excess_risk(model, lam=lam)
        mc = se = float("nan")
        if d <= config.mc_max_d:
            row, mc, se = _monte_carlo_row(config, model, lam, theory, i)
            comparisons.append(row)
        rows.append({"d": d, "lam": lam, "lam_sqrt_d": lam * math.sqrt(d),
                     "lam_sqrt_L": lam * math.sqrt(config.L), "oracle_excess_risk": theory,
                     "monte_carlo": mc, "monte_carlo_se": se,
                     "other_tokens_term": (config.L - 1) * float(zeta_at_zero(lam))})  # fmt: skip
    table = pd.DataFrame(rows)
    risks = table["oracle_excess_risk"].to_numpy()
    model = ErfSLRModel(d=2, L=config.L, gamma=config.gamma)
    summary = {
        "oracle_excess_risk_by_d": dict(zip(map(str, table["d"]), map(float, risks), strict=True)),
        "decreasing_in_d": bool(np.all(np.diff(risks) < 0)),
        "best_linear_excess_risk": best_linear_excess_risk(model),
    }
    return Result(table, summary, comparisons, seeds=[config.seed])
