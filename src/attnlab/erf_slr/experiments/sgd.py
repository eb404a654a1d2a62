"""``slr-sgd``: online projected SGD (batch 5, d = 80, λ_t = 2/(1 + 10⁻⁴ t), α = 10⁻³,
200 000 steps, 30 seeds), simulated by the exact reduced chain of the overlaps.

Pipeline (:func:`~attnlab.erf_slr._reference.run_sgd_reference`): SGD → test MSE − ε² at the
final iterates (a fresh 1000-sample test set drawn on the final (k, v) embedded in R^d: the law
of the direct simulator's fixed-test-set MSE) → oracle, best-linear risk and the linear-response
noise floor → rows: closed form vs test MSE, recovered runs at oracle + floor.
"""

from __future__ import annotations

from attnlab.compare import Result
from attnlab.erf_slr._figures import training_figure
from attnlab.erf_slr._reference import SGDConfig, run_sgd_reference
from attnlab.registry import experiment


@experiment(
    "slr-sgd",
    quick={"n_seeds": 6, "steps": 60_000, "log_every": 2000, "n_noise_floor": 4000},
    plot=training_figure,
)
def run_sgd(config: SGDConfig) -> Result:
    """online projected SGD (batch 5, d = 80, λ_t = 2/(1 + 1e-4 t), 200k steps)"""
    return run_sgd_reference(config)
