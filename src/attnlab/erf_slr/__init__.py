"""Single-location regression with erf attention.

The data law (one informative token at a hidden position), the erf-attention predictor
T_λ(X) = Σ_ℓ erf(λ⟨k, x_ℓ⟩)⟨v, x_ℓ⟩ with unit key and value vectors, its closed-form population
risk, projected gradient descent in four coordinates and online SGD recovering (k*, v*).
"""

from attnlab.erf_slr._data import (
    Overlaps,
    distance_to_manifold,
    initial_directions,
    orthonormal_frame,
    overlaps,
    sample_slr,
    teacher_directions,
)
from attnlab.erf_slr._predictor import erf_attention
from attnlab.erf_slr._risk import (
    best_linear_excess_risk,
    excess_risk,
    excess_risk_on_manifold,
    excess_risk_reference,
    monte_carlo_excess_risk,
    oracle_excess_risk,
    zeta,
    zeta_at_zero,
)
from attnlab.erf_slr._train import (
    PGDProblem,
    TrainLog,
    from_coordinates,
    heldout_excess,
    logged_steps,
    make_problem,
    pgd_coordinates,
    pgd_full,
    pgd_full_python_loop,
    sgd_noise_floor,
    sgd_online,
    temperature,
    to_coordinates,
)

__all__ = [
    "Overlaps",
    "PGDProblem",
    "TrainLog",
    "best_linear_excess_risk",
    "distance_to_manifold",
    "erf_attention",
    "excess_risk",
    "excess_risk_on_manifold",
    "excess_risk_reference",
    "from_coordinates",
    "heldout_excess",
    "initial_directions",
    "logged_steps",
    "make_problem",
    "monte_carlo_excess_risk",
    "oracle_excess_risk",
    "orthonormal_frame",
    "overlaps",
    "pgd_coordinates",
    "pgd_full",
    "pgd_full_python_loop",
    "sample_slr",
    "sgd_noise_floor",
    "sgd_online",
    "teacher_directions",
    "temperature",
    "to_coordinates",
    "zeta",
    "zeta_at_zero",
]

MODEL_SUMMARY = (
    "Single-location regression: the label is read from one token at a hidden position that a "
    "linear projection reveals. Erf attention with unit key and value vectors, its closed-form "
    "population risk, and projected GD / online SGD recovering the hidden directions (k*, v*)."
)
