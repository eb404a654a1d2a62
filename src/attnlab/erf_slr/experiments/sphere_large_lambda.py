"""``slr-sphere-large-lambda``: projected GD from the sphere at constant λ = 0.9 (d = 400,
α = 1e-3, 120 000 steps, 30 seeds). No seed recovers ±(k*, v*): at this λ the oracle is not the
minimiser of ℰ (see the findings).

Pipeline: :func:`~attnlab.erf_slr._reference.run_pgd_reference`.
"""

from __future__ import annotations

from pydantic import Field

from attnlab.compare import Result
from attnlab.erf_slr._figures import training_figure
from attnlab.erf_slr._model import MAX_TEMPERATURE
from attnlab.erf_slr._reference import TrainingConfig, run_pgd_reference
from attnlab.registry import experiment


class SphereLargeLambdaConfig(TrainingConfig):
    """Projected GD from the sphere at constant λ = 0.9."""

    lam0: float = Field(0.9, gt=0, le=MAX_TEMPERATURE, description="initial temperature λ₀")
    step_size: float = Field(1e-3, gt=0, le=10.0, description="step α")
    steps: int = Field(120_000, ge=1, le=10**9, description="number of steps")
    log_every: int = Field(1000, ge=1, le=10**9, description="log every r steps")


@experiment(
    "slr-sphere-large-lambda",
    quick={"n_seeds": 6, "steps": 30_000, "log_every": 1000},
    plot=training_figure,
)
def run_sphere_large_lambda(config: SphereLargeLambdaConfig) -> Result:
    """PGD from the sphere at constant λ = 0.9 (120k steps)"""
    return run_pgd_reference(config)
