"""Single-location regression (spec ``slr.md``).

Part A (erf attention: closed-form risk, 4-coordinate projected GD, online SGD) lives in the
``erf_*`` modules and is re-exported through ``_part_a``; part B (softmax vs linear attention:
Bayes risk, population optima, ERM, replica fixed point) lives in the other modules and is
re-exported through ``_part_b``.
"""

from attnlab.slr._part_a import *  # noqa: F403
from attnlab.slr._part_a import __all__ as _all_a
from attnlab.slr._part_b import *  # noqa: F403
from attnlab.slr._part_b import __all__ as _all_b

__all__ = [*_all_a, *_all_b]

if set(_all_a) & set(_all_b):  # pragma: no cover - guarded by tests/slr/test_slr_namespace.py
    raise ImportError(
        f"attnlab.slr parts A and B export the same names: {set(_all_a) & set(_all_b)}"
    )

MODEL_SUMMARY = (
    "Single-location regression: the label is read from one token at a hidden position that a "
    "linear projection reveals. Part A: erf attention with unit key/value vectors, its closed-form "
    "population risk and projected GD/SGD recovering (k*, v*); part B: softmax vs linear attention, "
    "Bayes risk, population optima and L2-regularised ERM against the replica fixed point."
)
