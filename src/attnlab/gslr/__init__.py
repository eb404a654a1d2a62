"""Generalised single-location regression: softmax against linear attention.

A frozen model object (:class:`GSLRModel`: spiked- or max-SLR, signal strength ν, law of the
sequence length, label noise, teacher normalisation), exact samplers taking a jax ``key``, the
attention predictors with pluggable activations, the population risk with the Bayes risk and
the population optima, L2-regularised ERM (compiled L-BFGS), and the replica-symmetric fixed
point that predicts ERM's test error at sample ratio α = N/D; the Bayes-optimal test error at
the same α (state evolution with one overlap per side) and GAMP, the algorithm that reaches it.
The experiments are in ``attnlab.gslr.experiments``.
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
from attnlab.gslr._bayes_curve import (
    RecoveryThresholds,
    bayes_optimal_curve,
    bayes_se_curve,
    recovery_thresholds,
)
from attnlab.gslr._bayes_se import (
    BayesSEOptions,
    BayesSEPoint,
    BayesStateEvolution,
    StateEvolutionNotConverged,
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
from attnlab.gslr._gamp import GAMPOptions, GAMPRun, run_gamp
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
    sample_projections,
    sample_teacher,
    sample_teacher_fields,
)
from attnlab.gslr._stability import Replicon
from attnlab.gslr._study import compare_replica_erm, erm_curve, erm_tolerance
from attnlab.gslr._types import Estimate, Overlaps, PopulationOptimum

__all__ = [
    "Activation",
    "BayesSEOptions",
    "BayesSEPoint",
    "BayesStateEvolution",
    "ERMFit",
    "Estimate",
    "GAMPOptions",
    "GAMPRun",
    "GSLRModel",
    "InformedInit",
    "LBFGS",
    "MonteCarlo",
    "Overlaps",
    "Population",
    "PopulationOptimum",
    "Quadrature",
    "RandomInit",
    "RecoveryThresholds",
    "ReplicaNotConverged",
    "ReplicaOptions",
    "ReplicaPoint",
    "ReplicaSolver",
    "Replicon",
    "SLRData",
    "StateEvolutionNotConverged",
    "Teacher",
    "TeacherFields",
    "activation_label",
    "activation_names",
    "bayes_optimal_curve",
    "bayes_risk",
    "bayes_se_curve",
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
    "recovery_thresholds",
    "register_activation",
    "replica_fixed_point",
    "resolve_activation",
    "run_gamp",
    "sample_data",
    "sample_projections",
    "sample_teacher",
    "sample_teacher_fields",
    "softmax_activation",
    "softplus_activation",
    "training_objective",
]

MODEL_SUMMARY = (
    "Spiked and max single-location regression: softmax against linear (and erf, softplus) "
    "attention. Bayes risk and population optima, and L2-regularised ERM at N = αD samples "
    "against the replica-symmetric fixed point and the Bayes-optimal state evolution (GAMP)."
)
