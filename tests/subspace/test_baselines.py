"""Baselines: the exact reduced PCA has the law of PCA on the tokens; BBP limit."""

import numpy as np
import pytest
from scipy import stats

from attnlab import ParameterError
from attnlab.rng import replicate_keys
from attnlab.subspace import Full, SubspaceModel, pca_alignment, pca_alignment_theory

MODEL = SubspaceModel(d=10, K=4, M=20, theta=0.4)


@pytest.mark.parametrize("sign", ["token", "gaussian"])
def test_reduced_pca_equals_token_pca_in_law(sign):
    """KS of |⟨v̂_n, u⟩| at n = 10, 20, 30 (S = 300 runs each); power check with θ = 0.3."""
    model = MODEL.replace(sign=sign)
    run = dict(steps=30, log_every=10)
    full = pca_alignment(model, replicate_keys(0, 300), simulator=Full(), **run)
    red = pca_alignment(model, replicate_keys(1, 300), **run)
    assert min(stats.ks_2samp(full[:, j], red[:, j]).pvalue for j in range(3)) > 1e-3
    wrong = pca_alignment(model.replace(theta=0.3), replicate_keys(1, 300), **run)
    assert min(stats.ks_2samp(full[:, j], wrong[:, j]).pvalue for j in range(3)) < 1e-3


def test_bbp_limit():
    model = SubspaceModel()
    lam, n = model.spike, 1000 * model.N
    gamma = model.d / n
    np.testing.assert_allclose(
        pca_alignment_theory(model, n), np.sqrt((1 - gamma / lam**2) / (1 + gamma / lam))
    )
    assert pca_alignment_theory(model.replace(theta=0.01), 10) == 0.0  # below the threshold
    with pytest.raises(ParameterError, match="n_tokens"):
        pca_alignment_theory(model, [10, np.nan])
