"""Projected GD with the exact population gradient: 4 coordinates, full d, the per-step loop."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest

from attnlab._validate import ParameterError
from attnlab.erf_slr import (
    ConstantTemperature,
    DecayingTemperature,
    ErfSLRModel,
    FullDimension,
    ManifoldInit,
    SphereInit,
    draw_problem,
    projected_gd,
)
from attnlab.rng import replicate_keys

ROOT = Path(__file__).resolve().parents[2]
MODEL = ErfSLRModel(d=40)


@pytest.mark.parametrize(
    ("init", "temperature"),
    [(SphereInit(), DecayingTemperature(lam0=1.0)), (ManifoldInit(), ConstantTemperature(lam=0.3))],
)
def test_four_coordinates_equal_full_d(init, temperature):
    # the same projected-GD update in 4 coordinates and in R^d: equal up to float64 rounding
    kw = dict(temperature=temperature, step_size=4e-3, steps=600, init=init, log_every=200)
    keys = replicate_keys(7, 3)
    four = projected_gd(MODEL, keys, **kw)
    full = projected_gd(MODEL, keys, **kw, solver=FullDimension())
    np.testing.assert_allclose(four.k, full.k, atol=1e-11)
    np.testing.assert_allclose(four.v, full.v, atol=1e-11)
    for name in ("kappa", "nu", "theta", "eta", "rho", "risk"):
        np.testing.assert_allclose(getattr(four.log, name), getattr(full.log, name), atol=1e-11)
    np.testing.assert_allclose(np.linalg.norm(four.k, axis=-1), 1, atol=1e-13)
    # exact population GD with a small step never increases the risk (constant lambda)
    if isinstance(temperature, ConstantTemperature):
        assert np.all(np.diff(four.log.risk, axis=1) <= 1e-12)
        assert four.log.distance_to_manifold.max() < 1e-12


def _benchmark():
    spec = importlib.util.spec_from_file_location(
        "erf_slr_bench", ROOT / "benchmarks" / "erf_slr.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_per_step_python_loop_equals_scanned_run():
    # the benchmark's baseline has the structure of the paper's official code (one jitted
    # full-d step per call, per seed): the compiled 4-coordinate run reproduces it step for step
    keys = replicate_keys(8, 2)
    model = ErfSLRModel(d=30)
    kw = dict(temperature=DecayingTemperature(lam0=1.0), step_size=4e-3, steps=15)
    k1, v1 = _benchmark().pgd_python_loop(model, draw_problem(model, keys), **kw)
    run = projected_gd(model, keys, log_every=15, **kw)
    np.testing.assert_allclose(run.k, k1, atol=1e-13)
    np.testing.assert_allclose(run.v, v1, atol=1e-13)


def test_single_key_drops_the_replicate_axis():
    kw = dict(temperature=ConstantTemperature(lam=0.3), step_size=4e-3, steps=600, log_every=200)
    batch = projected_gd(MODEL, replicate_keys(7, 3), **kw)
    one = projected_gd(MODEL, replicate_keys(7, 3)[1], **kw)
    assert one.k.shape == (40,) and one.log.kappa.shape == (4,)
    np.testing.assert_allclose(one.log.kappa, batch.log.kappa[1], atol=1e-13)


def test_progress_is_reported_per_chunk_without_changing_the_result():
    from attnlab import progress

    class Recorder:
        def __init__(self):
            self.advances = []

        def start(self, description, total):
            self.total = total
            return description

        def advance(self, handle, amount):
            self.advances.append(amount)

        def finish(self, handle):
            pass

    kw = dict(temperature=ConstantTemperature(lam=0.3), step_size=4e-3, steps=600, log_every=20)
    quiet = projected_gd(MODEL, replicate_keys(7, 3), **kw)
    rec = Recorder()
    with progress.reporting(rec):
        loud = projected_gd(MODEL, replicate_keys(7, 3), **kw)
    assert rec.total == 600 * 3 and sum(rec.advances) == 600 * 3 and len(rec.advances) > 1
    np.testing.assert_array_equal(loud.log.risk, quiet.log.risk)


def test_invalid_training_parameters():
    kw = dict(temperature=ConstantTemperature(lam=0.1), step_size=1e-3, steps=10)
    key = replicate_keys(0, 2)
    for bad, name in [({"step_size": -1.0}, "step_size"), ({"step_size": math.nan}, "step_size"),
                      ({"steps": -5}, "steps"), ({"steps": 10**10}, "steps"),
                      ({"log_every": 0}, "log_every"), ({"temperature": 0.1}, "temperature"),
                      ({"solver": "full"}, "solver"), ({"init": "ball"}, "init")]:  # fmt: skip
        with pytest.raises(ParameterError) as err:
            projected_gd(MODEL, key, **{**kw, **bad})
        assert str(err.value).startswith(name) and "\n" not in str(err.value)
    with pytest.raises(ParameterError, match="model.d"):
        projected_gd(ErfSLRModel(d=3), key, **kw)
