"""``slr-manifold``: projected GD with the exact population gradient from the invariant
manifold ℳ (d = 400, λ = 0.1, α = 4e-3, 20 000 steps, 30 seeds).

Pipeline (:func:`~attnlab.erf_slr._reference.run_pgd_reference`): 4-coordinate projected GD →
test MSE at the final iterates → oracle and best-linear risks → rows: closed form vs test MSE,
distance to ℳ stays 0, recovered runs at the oracle risk.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from attnlab.compare import Result
from attnlab.erf_slr._figures import training_figure
from attnlab.erf_slr._reference import TrainingConfig, run_pgd_reference
from attnlab.registry import experiment

PGD_QUICK = {"n_seeds": 6, "log_every": 1000}


class ManifoldConfig(TrainingConfig):
    """Projected GD from ℳ at constant λ = 0.1."""

    init: Literal["sphere", "manifold"] = Field("manifold", description="initialisation")


@experiment("slr-manifold", quick=PGD_QUICK, plot=training_figure)
def run_manifold(config: ManifoldConfig) -> Result:
    """PGD (exact population gradient) from the invariant manifold ℳ, λ = 0.1"""
    return run_pgd_reference(config)
