"""Pooling-weight strategies: closed forms, optimality of the top eigenvector, κ and ρ."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attnlab import ParameterError
from attnlab.config import build_config
from attnlab.pooling import (
    CausalWeights,
    CustomWeights,
    HarmonicWeights,
    HiddenLabel,
    MarkovLabels,
    MeanWeights,
    OptimalWeights,
    causal_limit_weights,
    kappa,
    rho,
    weights_vector,
)
from attnlab.pooling.experiments.outlier import OutlierConfig


@settings(max_examples=30, deadline=None)
@given(L=st.integers(1, 60), tau=st.floats(-3, 3))
def test_causal_limit_sums_to_one_and_tau_zero_is_harmonic(L, tau):
    w = causal_limit_weights(L, tau=tau)
    np.testing.assert_allclose(w.sum(), 1.0, rtol=1e-12)
    np.testing.assert_allclose(
        causal_limit_weights(L, tau=0.0), HarmonicWeights().vector(np.eye(L)), rtol=1e-12
    )
    # direct double sum of the row-softmax weights A_ts = c/(c+t-1) (s=t), 1/(c+t-1) (s<t)
    c = np.exp(tau)
    A = np.array(
        [[(c if s == t else 1.0) / (c + t) if s <= t else 0 for s in range(L)] for t in range(L)]
    )
    np.testing.assert_allclose(w, A.sum(0) / L, rtol=1e-10)
    np.testing.assert_allclose(CausalWeights(tau=tau).vector(np.eye(L)), w, rtol=1e-15)


def test_harmonic_and_mean_closed_forms():
    L = 5
    np.testing.assert_allclose(
        HarmonicWeights().vector(np.eye(L)),
        [sum(1 / s for s in range(t, L + 1)) / L for t in range(1, L + 1)],
    )
    np.testing.assert_allclose(MeanWeights().vector(np.eye(L)), np.full(L, 0.2))
    np.testing.assert_allclose(kappa([3.0, 4.0]), 25.0)


@settings(max_examples=20, deadline=None)
@given(p=st.floats(-0.9, 0.95), seed=st.integers(0, 1000))
def test_optimal_weights_maximise_rho(p, seed):
    R = MarkovLabels(p=p).correlation(7)
    w = OptimalWeights().vector(R)
    np.testing.assert_allclose(rho(w, R), np.linalg.eigvalsh(R)[-1], rtol=1e-10)
    v = np.random.default_rng(seed).standard_normal(7)
    assert rho(v, R) <= rho(w, R) + 1e-12


def test_harmonic_beats_mean_for_decaying_profile_and_loses_for_ar1():
    L = 16
    R_dec = HiddenLabel(r0=1.0, q=0.8).correlation(L)
    R_ar = MarkovLabels(p=0.5).correlation(L)
    harmonic, mean = HarmonicWeights(), MeanWeights()
    assert rho(harmonic.vector(R_dec), R_dec) > rho(mean.vector(R_dec), R_dec) + 0.5
    assert rho(harmonic.vector(R_ar), R_ar) < rho(mean.vector(R_ar), R_ar) - 0.2


def test_weights_in_a_config_by_name_or_table():
    cfg = build_config(OutlierConfig, {"weights": "harmonic"})
    assert cfg.weights == HarmonicWeights()
    cfg = build_config(OutlierConfig, {"weights": {"kind": "causal", "tau": 2.0}})
    assert cfg.weights == CausalWeights(tau=2.0)
    assert OutlierConfig.from_toml(cfg.to_toml()) == cfg


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: build_config(OutlierConfig, {"weights": "max"}), "weights = 'max'"),
        (lambda: CausalWeights(tau=30), "tau = 30"),
        (lambda: CausalWeights(tau=float("nan")), "tau"),
        (lambda: CustomWeights(values=[0.0, 0.0]), "zero norm"),
        (lambda: CustomWeights(values=[1.0, 2.0]).vector(np.eye(3)), "length 2 but L = 3"),
        (lambda: weights_vector([1.0, np.inf], np.eye(2)), "non-finite"),
        (lambda: weights_vector(np.ones(3), np.eye(2)), "length 3 but L = 2"),
        (lambda: rho([0.0, 0.0], np.eye(2)), "zero norm"),
        (lambda: rho([1.0, 1.0], np.array([[1, 2], [2, 1]])), "PSD"),
        (lambda: rho([1.0, 1.0, 1.0], np.eye(2)), "length"),
        (lambda: OptimalWeights().vector(np.array([[1.0, 1.5], [1.5, 1.0]])), "PSD"),
    ],
)
def test_invalid_weights_are_one_line_errors(call, match):
    with pytest.raises(ParameterError, match=match) as err:
        call()
    assert "\n" not in str(err.value)
