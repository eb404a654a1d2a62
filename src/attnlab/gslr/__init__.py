"""Generalised single-location regression: softmax against linear attention.

A frozen model object (:class:`GSLRModel`: spiked- or max-SLR, signal strength ν, law of the
sequence length, label noise, teacher normalisation), exact samplers taking a jax ``key``, the
attention predictors with pluggable activations, the population risk with the Bayes risk and
the population optima, L2-regularised ERM (compiled L-BFGS), and the replica-symmetric fixed
point that predicts ERM's test error at sample ratio α = N/D. The experiments are in
``attnlab.gslr.experiments``.
"""

from attnlab.gslr._activations import (
    Activation,
    activation_label,
    activation_names,
    check_activation_names,
    erf_activation,
    linear_activation,
    predict,
    register_activation,
    resolve_activation,
    softmax_activation,
    softplus_activation,
)
from attnlab.gslr._erm import (
    LBFGS,
    ERMFit,
    InformedInit,
    RandomInit,
    fit_erm,
    generalisation_error,
    overlaps,
    training_objective,
)
from attnlab.gslr._model import GSLRModel
from attnlab.gslr._population import (
    MonteCarlo,
    Population,
    Quadrature,
    bayes_risk,
    linear_attention_optimum,
    population_optimum,
    population_risk,
)
from attnlab.gslr._replica import (
    ReplicaNotConverged,
    ReplicaOptions,
    ReplicaPoint,
    ReplicaSolver,
    replica_fixed_point,
)
from attnlab.gslr._sampler import (
    SLRData,
    Teacher,
    TeacherFields,
    sample_data,
    sample_teacher,
    sample_teacher_fields,
)
from attnlab.gslr._stability import Replicon
from attnlab.gslr._study import compare_replica_erm, erm_curve, erm_tolerance
from attnlab.gslr._types import Estimate, Overlaps, PopulationOptimum

__all__ = [
    "LBFGS",
    "Activation",
    "ERMFit",
    "Estimate",
    "GSLRModel",
    "InformedInit",
    "MonteCarlo",
    "Overlaps",
    "Population",
    "PopulationOptimum",
    "Quadrature",
    "RandomInit",
    "ReplicaNotConverged",
    "ReplicaOptions",
    "ReplicaPoint",
    "ReplicaSolver",
    "Replicon",
    "SLRData",
    "Teacher",
    "TeacherFields",
    "activation_label",
    "activation_names",
    "bayes_risk",
    "check_activation_names",
    "compare_replica_erm",
    "erf_activation",
    "erm_curve",
    "erm_tolerance",
    "fit_erm",
    "generalisation_error",
    "linear_activation",
    "linear_attention_optimum",
    "overlaps",
    "population_optimum",
    "population_risk",
    "predict",
    "register_activation",
    "replica_fixed_point",
    "resolve_activation",
    "sample_data",
    "sample_teacher",
    "sample_teacher_fields",
    "softmax_activation",
    "softplus_activation",
    "training_objective",
]

MODEL_SUMMARY = (
    "Spiked and max single-location regression: softmax against linear (and erf, softplus) "
    "attention. Bayes risk and population optima, and L2-regularised ERM at N = αD samples "
    "against the replica-symmetric fixed point."
)
