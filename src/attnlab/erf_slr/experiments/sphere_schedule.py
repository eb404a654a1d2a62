"""``slr-sphere-schedule``: projected GD from the sphere with the decaying temperature
λ_t = 1/(1 + 10⁻⁴ t) (d = 400, α = 4e-3, 120 000 steps, 30 seeds): the schedule is what
recovers ±(k*, v*) from a random start.

Pipeline: :func:`~attnlab.erf_slr._reference.run_pgd_reference`.
"""

from __future__ import annotations

from pydantic import Field

from attnlab.compare import Result
from attnlab.erf_slr._figures import training_figure
from attnlab.erf_slr._model import MAX_TEMPERATURE
from attnlab.erf_slr._reference import TrainingConfig, run_pgd_reference
from attnlab.registry import experiment


class SphereScheduleConfig(TrainingConfig):
    """Projected GD from the sphere with λ_t = 1/(1 + 10⁻⁴ t)."""

    lam0: float = Field(1.0, gt=0, le=MAX_TEMPERATURE, description="initial temperature λ₀")
    schedule: bool = Field(True, description="λ_t = λ₀/(1 + 1e-4 t) if true, else constant")
    steps: int = Field(120_000, ge=1, le=10**9, description="number of steps")
    log_every: int = Field(1000, ge=1, le=10**9, description="log every r steps")


@experiment("slr-sphere-schedule", quick={"n_seeds": 6, "log_every": 2000}, plot=training_figure)
def run_sphere_schedule(config: SphereScheduleConfig) -> Result:
    """PGD from the sphere with λ_t = 1/(1 + 1e-4 t) (120k steps)"""
    return run_pgd_reference(config)
