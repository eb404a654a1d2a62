"""Trials side by side: the same results, in order, at the caller's precision."""

import numpy as np
import pytest
from threadpoolctl import threadpool_info

from attnlab.pooling import MeanWeights, PoolingModel, sample_pooled, simulate_spectra
from attnlab.pooling._trials import map_trials
from attnlab.precision import default_dtype, precision, x64_enabled
from attnlab.rng import replicate_keys


def test_results_equal_a_sequential_loop_in_trial_order():
    model = PoolingModel(d=80, L=4)
    keys = replicate_keys(5, 5)

    def trial(i):
        return sample_pooled(model, MeanWeights(), keys[i]).data(1.0)

    side_by_side = map_trials(trial, len(keys), "test")
    for i, X in enumerate(side_by_side):
        np.testing.assert_array_equal(X, sample_pooled(model, MeanWeights(), keys[i]).data(1.0))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_each_trial_runs_at_the_callers_precision_with_one_blas_thread(dtype):
    def trial(i):
        blas = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
        return default_dtype(), x64_enabled(), blas

    with precision(dtype):
        seen = map_trials(trial, 4, "test")
    assert all(s[0] == dtype and s[1] == (dtype == "float64") for s in seen)
    assert all(all(n == 1 for n in s[2]) for s in seen)
    with precision(dtype):
        spectra = simulate_spectra(PoolingModel(d=40, L=3), MeanWeights(), replicate_keys(0, 3))
    assert spectra.shape == (3, 40) and spectra.dtype == np.float64


def test_an_error_in_a_trial_is_raised():
    def trial(i):
        if i == 2:
            raise ValueError("trial 2 failed")
        return i

    with pytest.raises(ValueError, match="trial 2 failed"):
        map_trials(trial, 4, "test")
