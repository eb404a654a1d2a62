"""``subspace-landscape``: φ(m) and (1 − m²)φ′(m), exact Monte-Carlo against the closed form.

Pipeline, per sign law: Monte-Carlo φ and φ′ on a grid (common random numbers) → the closed
form where it applies (:func:`~attnlab.subspace.closed_form_valid`) → compare at m = 0, ½, 1 and
φ′ mid-range with tolerance 4 Monte-Carlo SE + the closed form's O(1/N_eff) bound → fixed points
from the exact φ′ → table.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field

from attnlab.compare import Comparison, Result, bound, monte_carlo
from attnlab.config import Cost
from attnlab.registry import experiment
from attnlab.rng import root_key, stream
from attnlab.subspace import (
    SubspaceModel,
    closed_form_bound,
    closed_form_function,
    closed_form_valid,
    fixed_points,
    phi_monte_carlo,
    phi_prime_interpolant,
    phi_prime_zeros,
)
from attnlab.subspace.experiments._common import NestedDefaults, json_ready, mc_cost, total_cost


class LandscapeConfig(NestedDefaults):
    """φ(m) and (1 − m²)φ′(m): exact Monte-Carlo against the large-N closed form."""

    model: SubspaceModel = SubspaceModel()
    signs: list[Literal["token", "sequence", "gaussian", "fixed"]] = Field(
        ["token", "gaussian"], min_length=1, description="sign laws to compare"
    )
    n_grid: int = Field(41, ge=3, description="points of the m grid")
    n_samples: int = Field(4096, ge=16, description="Monte-Carlo draws per sign law")

    def cost(self) -> Cost:
        return total_cost(*(mc_cost(self.model, self.n_samples, self.n_grid) for _ in self.signs))


def _plot(result: Result, config: LandscapeConfig) -> dict:
    from attnlab import plot

    t = result.table
    fig, axes = plot.subplots(1, 2, width=4.4)
    for j, (sign, g) in enumerate(t.groupby("sign")):
        col = plot.color(j)
        for ax, mc, se, cf in (
            (axes[0], "phi_mc", "phi_se", "phi_cf"),
            (axes[1], "drift_mc", "drift_se", "drift_cf"),
        ):
            plot.simulation_points(
                ax, g.m, g[mc], 2 * g[se], label=f"Monte-Carlo, {sign}", color=col, ms=3
            )
            plot.theory_line(ax, g.m, g[cf], label=f"closed form, {sign}", color=col)
    plot.finish(axes[0], xlabel="m", ylabel="φ(m)")
    plot.finish(axes[1], xlabel="m", ylabel="(1 − m²) φ′(m)")
    m = config.model
    plot.suptitle(fig, f"K = {m.K}, M = {m.M}, d = {m.d}, θ = {m.theta:g} (± 2 SE)")
    return {"landscape": fig}


def _closed_form_row(
    quantity: str,
    closed_form: float,
    estimate: float,
    standard_error: float,
    correction: float,
    correction_reason: str,
    scale: float,
    where: str,
) -> Comparison:
    """One "Monte-Carlo vs closed form" row: tolerance = the estimate's Monte-Carlo error plus
    the closed form's finite-N correction bound; informative up to ``scale``."""
    return Comparison(
        f"{quantity}: Monte-Carlo vs closed form",
        closed_form,
        estimate,
        monte_carlo(standard_error) + bound(correction, correction_reason),
        max_tolerance=scale,
        where=where,
    )


def compare_sign(model: SubspaceModel, m: np.ndarray, est) -> list[Comparison]:
    """φ at m = 0, ½, 1 and φ′ mid-range, Monte-Carlo against the closed form where it applies.

    The largest informative tolerance is half the variation of the closed form over the valid
    grid (a tolerance that wide would also accept a flat landscape)."""
    valid = closed_form_valid(model, m)
    mv = m[valid]
    cf = closed_form_function(model)(mv)
    dcf = closed_form_function(model, order=1)(mv)
    corr, dcorr = closed_form_bound(model, mv)
    scale, dscale = 0.5 * float(np.ptp(cf)), 0.5 * float(np.abs(dcf).max())
    ev = {k: getattr(est, k)[valid] for k in ("phi", "phi_se", "dphi", "dphi_se")}
    rows = []
    for target in (0.0, 0.5, 1.0):
        j = int(np.argmin(np.abs(m - target)))
        if not valid[j]:
            continue  # Gaussian signs beyond the law-of-large-numbers domain
        k = int(np.searchsorted(mv, m[j]))
        rows.append(
            _closed_form_row("φ(m)", cf[k], ev["phi"][k], ev["phi_se"][k], corr[k],
                             "O(1/N_eff) of the closed form", scale,
                             f"sign={model.sign}, m={m[j]:.2f}")
        )  # fmt: skip
    k = int(np.argmin(np.abs(mv - 0.5 * mv.max())))
    rows.append(
        _closed_form_row("φ′(m)", dcf[k], ev["dphi"][k], ev["dphi_se"][k], dcorr[k],
                         "O(1/N_eff) · (1 + 2βθ_d)", dscale,
                         f"sign={model.sign}, m={mv[k]:.2f}")
    )  # fmt: skip
    return rows


def _fixed_point_summary(model: SubspaceModel, m: np.ndarray, est) -> dict:
    """Fixed points from the exact φ′; whether φ′ (exact or closed form) has a spurious zero."""
    sym = model.symmetric
    fps = fixed_points(phi_prime_interpolant(est, symmetric=sym), symmetric=sym)
    valid = closed_form_valid(model, np.linspace(0.0 if sym else -1.0, 1.0, 201)).all()
    spurious_cf = None
    if valid:
        fps_cf = fixed_points(closed_form_function(model, order=1), symmetric=sym)
        spurious_cf = any(f.kind == "spurious" for f in fps_cf)
    spurious_mc = phi_prime_zeros(m[1:-1], est.dphi[1:-1], est.dphi_se[1:-1])
    if sym:
        spurious_mc = spurious_mc[np.abs(spurious_mc) > 1e-9]
    return {
        "fixed_points": [
            {"m": f.m, "kind": f.kind, "slope": f.slope, "stable": f.stable} for f in fps
        ],
        "spurious_zero_closed_form": spurious_cf,
        "spurious_zero_mc": bool(len(spurious_mc)),
        "phi2_at_zero_mc_fd": float(est.dphi[1] / m[1]) if sym else None,
    }


@experiment(
    "subspace-landscape",
    quick={"M": 2000, "K": 40, "d": 40, "n_grid": 11, "n_samples": 1024},
    plot=_plot,
)
def run_landscape(config: LandscapeConfig) -> Result:
    """φ(m) and (1-m²)φ'(m): exact Monte-Carlo vs large-N closed form, fixed points"""
    frames, rows, summary = [], [], {}
    for sign in config.signs:
        model = config.model.replace(sign=sign)
        m = np.linspace(0.0 if model.symmetric else -1.0, 1.0, config.n_grid)
        key = stream(root_key(config.seed), f"mc-{sign}")
        est = phi_monte_carlo(model, m, key=key, n_samples=config.n_samples)
        cf = closed_form_function(model, outside="nan")
        dcf = closed_form_function(model, order=1, outside="nan")
        frames.append(
            pd.DataFrame(
                {
                    "sign": sign,
                    "m": m,
                    "phi_mc": est.phi,
                    "phi_se": est.phi_se,
                    "phi_cf": cf(m),
                    "drift_mc": est.drift,
                    "drift_se": (1 - m**2) * est.dphi_se,
                    "drift_cf": (1 - m**2) * dcf(m),
                }
            )
        )
        rows += compare_sign(model, m, est)
        summary[f"{sign}_closed_form_valid_up_to_m"] = float(m[closed_form_valid(model, m)].max())
        summary[sign] = _fixed_point_summary(model, m, est)
    return Result(
        table=pd.concat(frames, ignore_index=True),
        summary=json_ready(summary),
        comparisons=rows,
        seeds=[config.seed],
    )
