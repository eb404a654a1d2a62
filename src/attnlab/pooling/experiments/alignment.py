"""``pooling-alignment``: squared overlaps of the top eigenvector with μ̂ and m̂ vs ℓ.

Pipeline: simulate (the trials × ℓ run of ``pooling-outlier``, same config) → theory
(:func:`~attnlab.pooling.overlap_sample_mu`, ``overlap_sample_m`` and the population
overlaps) → compare (one row per ℓ; the overlaps with μ̂ and with the class-mean direction m̂
are kept apart) → table.
"""

from __future__ import annotations

from attnlab.compare import Result
from attnlab.pooling import (
    overlap_population,
    overlap_population_m,
    overlap_sample_m,
    overlap_sample_mu,
)
from attnlab.pooling._tolerance import RowSet, spike_rows
from attnlab.pooling.experiments._shared import long_table
from attnlab.pooling.experiments.outlier import (
    QUICK,
    OutlierConfig,
    plot_vs_ell_thresholds,
    simulate,
)
from attnlab.registry import experiment

UNIT = (0.0, 1.0)


def _curves(s: dict, population: bool) -> list[tuple[str, str, str, object, bool]]:
    """(table key, row name, axis label, theory curve, population level?) per quantity."""
    de, ga, rho = s["delta"], s["gamma"], s["rho"]
    curves = [
        (
            "overlap_mu",
            "⟨û, μ̂⟩²",
            r"$\langle \hat u, \hat\mu\rangle^2$",
            lambda e: overlap_sample_mu(e, de, ga, rho),
            False,
        ),
        (
            "overlap_m",
            "⟨û, m̂⟩²",
            r"$\langle \hat u, \hat m\rangle^2$",
            lambda e: overlap_sample_m(e, de, ga, rho),
            False,
        ),
    ]
    if population:
        curves += [
            (
                "overlap_pop_mu",
                "population ⟨v, μ̂⟩²",
                r"population $\langle v, \hat\mu\rangle^2$",
                lambda e: overlap_population(e, de, rho),
                True,
            ),
            (
                "overlap_pop_m",
                "population ⟨v, m̂⟩²",
                r"population $\langle v, \hat m\rangle^2$",
                lambda e: overlap_population_m(e, de, rho),
                True,
            ),
        ]
    return curves


def _plot(result: Result, config: OutlierConfig) -> dict:
    s = result.summary
    panels = [(key, label, f, UNIT) for key, _, label, f, _ in _curves(s, config.population)]
    fig, _ = plot_vs_ell_thresholds(result, config, panels, "alignment of the top eigenvector")
    return {"alignment": fig}


@experiment("pooling-alignment", quick=QUICK, plot=_plot)
def run_alignment(config: OutlierConfig) -> Result:
    """squared overlaps ⟨û, μ̂⟩² and ⟨û, m̂⟩² of the top eigenvector vs ℓ"""
    sim, s = simulate(config)
    model = config.model
    values = {
        "overlap_mu": sim.overlap_mu,
        "overlap_m": sim.overlap_m,
        "overlap_pop_mu": sim.overlap_pop_mu,
        "overlap_pop_m": sim.overlap_pop_m,
    }
    rows, quantities = RowSet(), {}
    for key, name, _, curve, population in _curves(s, config.population):
        rows += spike_rows(name, values[key], sim.ells, curve, model=model, rho=sim.rho,
                             population=population)  # fmt: skip
        quantities[key] = (values[key], curve(sim.ells))
    return rows.result(long_table(sim.ells, quantities), s, list(range(config.trials)))
