"""Generalised single-location regression: softmax vs linear attention.

Spiked-SLR and max-SLR data (exact samplers), the attention predictors f(X) = σ(χ)ᵀz with
pluggable activations (softmax, linear, erf, softplus-normalised), the population risk, the
Bayes risk and population optima, L2-regularised ERM, and the replica-symmetric fixed point
that predicts ERM's test error at finite sample ratio α = N/D.
"""

from attnlab.gslr._activations import (
    activation_names,
    attention_output,
    erf_activation,
    linear_activation,
    predict,
    register_activation,
    resolve_activation,
    softmax_activation,
    softplus_activation,
)
from attnlab.gslr._data import (
    LengthDistribution,
    SLRData,
    Teacher,
    TeacherFields,
    length_distribution,
    sample_slr,
    sample_teacher,
    sample_teacher_fields,
)
from attnlab.gslr._erm import ERMFit, Overlaps, fit_erm, overlaps, test_error
from attnlab.gslr._population import (
    PopulationModel,
    PopulationOptimum,
    bayes_risk,
    linear_attention_optimum,
    population_optimum,
    population_risk,
)
from attnlab.gslr._replica import (
    ReplicaNotConverged,
    ReplicaPoint,
    ReplicaSolver,
    replica_fixed_point,
)

__all__ = [
    "ERMFit",
    "LengthDistribution",
    "Overlaps",
    "PopulationModel",
    "PopulationOptimum",
    "ReplicaNotConverged",
    "ReplicaPoint",
    "ReplicaSolver",
    "SLRData",
    "Teacher",
    "TeacherFields",
    "activation_names",
    "attention_output",
    "bayes_risk",
    "erf_activation",
    "fit_erm",
    "length_distribution",
    "linear_activation",
    "linear_attention_optimum",
    "overlaps",
    "population_optimum",
    "population_risk",
    "predict",
    "register_activation",
    "replica_fixed_point",
    "resolve_activation",
    "sample_slr",
    "sample_teacher",
    "sample_teacher_fields",
    "softmax_activation",
    "softplus_activation",
    "test_error",
]

MODEL_SUMMARY = (
    "Spiked and max single-location regression: softmax against linear (and erf, softplus) "
    "attention. Bayes risk and population optima, and L2-regularised ERM at N = αD samples "
    "against the replica-symmetric fixed point."
)
