"""Single-location regression with erf attention.

The data law (:class:`ErfSLRModel`: one informative token at a hidden position), the
erf-attention predictor :math:`T_\\lambda(X) = \\sum_\\ell \\mathrm{erf}(\\lambda\\langle k,
x_\\ell\\rangle)\\langle v, x_\\ell\\rangle` with unit key and value vectors, its closed-form
population risk, projected gradient descent in four coordinates, online SGD with its exact
reduced chain of overlaps, and the high-dimensional limit of online SGD.
"""

from attnlab.erf_slr._data import (
    Overlaps,
    Problem,
    canonical_coordinates,
    distance_to_manifold,
    draw_problem,
    embed_overlaps,
    overlaps,
    sample_slr,
    teacher_directions,
)
from attnlab.erf_slr._limit import LimitNotSolved, LimitSolution, manifold_terms, sgd_limit
from attnlab.erf_slr._limit_general import manifold_stability, sgd_limit_general
from attnlab.erf_slr._model import (
    ConstantTemperature,
    DecayingTemperature,
    Direct,
    ErfSLRModel,
    FourCoordinates,
    FullDimension,
    ManifoldInit,
    Reduced,
    SphereInit,
    initialisation,
    sgd_simulator,
    temperature_schedule,
)
from attnlab.erf_slr._pgd import projected_gd
from attnlab.erf_slr._predictor import erf_attention
from attnlab.erf_slr._risk import (
    best_linear_excess_risk,
    excess_risk,
    excess_risk_gradient,
    excess_risk_on_manifold,
    oracle_excess_risk,
    zeta,
    zeta_at_zero,
)
from attnlab.erf_slr._risk_checks import excess_risk_reference, monte_carlo_excess_risk
from attnlab.erf_slr._sgd import heldout_excess, online_sgd, sgd_noise_floor
from attnlab.erf_slr._training import Training, TrainLog, logged_steps

__all__ = [
    "ConstantTemperature",
    "DecayingTemperature",
    "Direct",
    "ErfSLRModel",
    "FourCoordinates",
    "FullDimension",
    "LimitNotSolved",
    "LimitSolution",
    "ManifoldInit",
    "Overlaps",
    "Problem",
    "Reduced",
    "SphereInit",
    "TrainLog",
    "Training",
    "best_linear_excess_risk",
    "canonical_coordinates",
    "distance_to_manifold",
    "draw_problem",
    "embed_overlaps",
    "erf_attention",
    "excess_risk",
    "excess_risk_gradient",
    "excess_risk_on_manifold",
    "excess_risk_reference",
    "heldout_excess",
    "initialisation",
    "logged_steps",
    "manifold_stability",
    "manifold_terms",
    "monte_carlo_excess_risk",
    "online_sgd",
    "oracle_excess_risk",
    "overlaps",
    "projected_gd",
    "sample_slr",
    "sgd_limit",
    "sgd_limit_general",
    "sgd_noise_floor",
    "sgd_simulator",
    "teacher_directions",
    "temperature_schedule",
    "zeta",
    "zeta_at_zero",
]

MODEL_SUMMARY = (
    "Single-location regression: the label is read from one token at a hidden position that a "
    "linear projection reveals. Erf attention with unit key and value vectors, its closed-form "
    "population risk, and projected GD / online SGD recovering the hidden directions (k*, v*)."
)
