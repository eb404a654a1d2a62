"""Public functions compute in float64 by default without touching jax's global flag."""

from __future__ import annotations

import numpy as np

from attnlab._jax import jax
from attnlab.gslr import GSLRModel, bayes_risk, predict, sample_data, sample_teacher


def test_float64_outside_any_precision_context_and_flag_unchanged():
    before = jax.config.jax_enable_x64
    model = GSLRModel(nu=2.0)
    teacher = sample_teacher(model, jax.random.key(0), dim=5)
    data = sample_data(model, jax.random.key(1), teacher, n=4)
    out = predict(teacher.k, teacher.v, data.X, data.mask, "softmax")
    assert teacher.k.dtype == data.X.dtype == out.dtype == np.float64
    assert isinstance(bayes_risk(model).value, float)
    assert jax.config.jax_enable_x64 == before
