"""``slr-sphere-small-lambda``: projected GD from the sphere at constant λ = 0.1 (d = 400,
α = 4e-3, 20 000 steps, 30 seeds). About half the seeds stop at the *swapped* stationary point
(k ≈ ±v*) instead of ±(k*, v*) (see the findings).

Pipeline: :func:`~attnlab.erf_slr._reference.run_pgd_reference`.
"""

from __future__ import annotations

from attnlab.compare import Result
from attnlab.erf_slr._figures import training_figure
from attnlab.erf_slr._reference import TrainingConfig, run_pgd_reference
from attnlab.erf_slr.experiments.manifold import PGD_QUICK
from attnlab.registry import experiment


class SphereSmallLambdaConfig(TrainingConfig):
    """Projected GD from the sphere at constant λ = 0.1."""


@experiment("slr-sphere-small-lambda", quick=PGD_QUICK, plot=training_figure)
def run_sphere_small_lambda(config: SphereSmallLambdaConfig) -> Result:
    """PGD from the sphere at constant λ = 0.1"""
    return run_pgd_reference(config)
