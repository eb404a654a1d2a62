"""Re-exports of SLR part B (softmax vs linear attention, spec ``slr.md`` part B)."""

from attnlab.slr.activations import (
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
from attnlab.slr.erm import ERMFit, Overlaps, fit_erm, overlaps, test_error
from attnlab.slr.gslr_data import (
    LengthDistribution,
    SLRData,
    Teacher,
    TeacherFields,
    length_distribution,
    sample_slr,
    sample_teacher,
    sample_teacher_fields,
)
from attnlab.slr.population import (
    PopulationModel,
    PopulationOptimum,
    bayes_risk,
    linear_attention_optimum,
    population_optimum,
    population_risk,
)
from attnlab.slr.replica import (
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
