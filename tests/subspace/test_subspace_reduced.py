"""The reduced O(N) simulator has the same law of (m_n) as the full O(N d) simulator.

Two-sample Kolmogorov–Smirnov tests of m_n at the logged steps n = 20, 40, 60 between S = 400
runs of each simulator (independent seeds). Under equality in law each p-value is uniform, so
with 3 tests per case the chance of a false alarm at the threshold 1e-3 is ≤ 0.3%; the power
check below shows the same test detects a wrong dimension (d + 20) at this sample size.
"""

import numpy as np
import pytest
from scipy import stats

from attnlab._jax import jax, jnp
from attnlab.rng import replicate_keys
from attnlab.subspace import reduced_gradient, simulate_reduced, simulate_sga

S = 400
KW = dict(K=5, M=40, theta=0.5, steps=60, c=2.0, n0=20.0, log_every=20)


def _ks(a, b):
    return [stats.ks_2samp(a.m[:, j], b.m[:, j]).pvalue for j in range(1, a.m.shape[1])]


@pytest.fixture(scope="module")
def full12():
    return simulate_sga(replicate_keys(0, S), d=12, **KW)


def test_reduced_equals_full_in_law(full12):
    red = simulate_reduced(replicate_keys(1, S), d=12, **KW)
    p = _ks(full12, red)
    assert min(p) > 1e-3, p
    # the means agree within 4 standard errors of the difference as well
    for j in range(1, full12.m.shape[1]):
        a, b = full12.abs_m[:, j], red.abs_m[:, j]
        se = np.sqrt(a.var(ddof=1) / S + b.var(ddof=1) / S)
        np.testing.assert_allclose(a.mean(), b.mean(), atol=4 * se)


def test_ks_has_power_against_wrong_dimension(full12):
    wrong = simulate_reduced(replicate_keys(1, S), d=32, **KW)
    assert min(_ks(full12, wrong)) < 1e-3


@pytest.mark.slow
@pytest.mark.parametrize("d, batch", [(12, 3), (2, 1), (3, 2), (5, 4)])
def test_reduced_equals_full_in_law_batches_and_small_d(d, batch):
    full = simulate_sga(replicate_keys(2, S), d=d, batch=batch, **KW)
    red = simulate_reduced(replicate_keys(3, S), d=d, batch=batch, **KW)
    assert min(_ks(full, red)) > 1e-3


@pytest.mark.slow
def test_reduced_gradient_moments_match_full():
    """E[g2] and E[g2² + ‖g_C‖²] at a fixed m agree with the full gradient's (4 SE)."""
    from attnlab.subspace import attention_gradient, sample_tokens

    d, K, M, th, m = 9, 4, 20, 0.7, 0.3
    u = jnp.zeros(d).at[0].set(1.0)
    q = jnp.zeros(d).at[0].set(m).at[1].set(np.sqrt(1 - m * m))
    e2 = (u - m * q) / np.sqrt(1 - m * m)

    def full_one(k):
        X = sample_tokens(k, u, K=K, M=M, theta=th)
        g, _ = attention_gradient(q, X, 1.0)
        g = g - (q @ g) * q
        return g @ e2, g @ g

    n = 4000
    f2, fn = jax.vmap(full_one)(jax.random.split(jax.random.key(5), n))
    r2, rc, _ = jax.vmap(
        lambda k: reduced_gradient(k, m, d=d, K=K, M=M, theta_d=th * 3.0, beta=1.0, sign="token")
    )(jax.random.split(jax.random.key(6), n))
    rn = r2**2 + rc
    for a, b in ((f2, r2), (fn, rn)):
        a, b = np.asarray(a), np.asarray(b)
        se = np.sqrt(a.var() / n + b.var() / n)
        np.testing.assert_allclose(a.mean(), b.mean(), atol=4 * se)
