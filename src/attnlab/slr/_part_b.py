"""Re-exports of SLR part B (softmax vs linear attention, spec ``slr.md`` part B).

Part A owns the plain names ``sample_slr``, ``overlaps`` and ``Overlaps`` in the ``attnlab.slr``
namespace (the A.1 data law and its five overlaps); part B's generalised-SLR sampler and its ERM
overlaps are re-exported as ``sample_gslr``, ``erm_overlaps`` and ``ERMOverlaps`` (the modules
keep their own names: ``attnlab.slr.gslr_data.sample_slr``, ``attnlab.slr.erm.overlaps``).
"""

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
from attnlab.slr.erm import ERMFit, fit_erm, test_error
from attnlab.slr.erm import Overlaps as ERMOverlaps
from attnlab.slr.erm import overlaps as erm_overlaps
from attnlab.slr.gslr_data import (
    LengthDistribution,
    SLRData,
    Teacher,
    TeacherFields,
    length_distribution,
    sample_teacher,
    sample_teacher_fields,
)
from attnlab.slr.gslr_data import sample_slr as sample_gslr
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
    "ERMOverlaps",
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
    "erm_overlaps",
    "population_optimum",
    "population_risk",
    "predict",
    "register_activation",
    "replica_fixed_point",
    "resolve_activation",
    "sample_gslr",
    "sample_teacher",
    "sample_teacher_fields",
    "softmax_activation",
    "softplus_activation",
    "test_error",
]
