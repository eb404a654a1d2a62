"""The reduced O(N) simulator has the same law of (m_n) as the full O(N·d) simulator.

Two-sample Kolmogorov–Smirnov tests of m_n at the logged steps n = 20, 40, 60 between S = 400
runs of each simulator (independent seeds). Under equality in law each p-value is uniform, so
with 3 tests per case the chance of a false alarm at the threshold 1e-3 is ≤ 0.3%; the power
check shows the same test detects a wrong dimension (d = 32 instead of 12) at this sample size.
"""

import math

import jax
import numpy as np
import pytest
from scipy import stats

from attnlab.precision import uses_jax
from attnlab.rng import replicate_keys
from attnlab.subspace import Full, Reduced, RobbinsMonro, SubspaceModel, simulate
from attnlab.subspace._reduced import (
    _chi2,
    chunked_sums,
    draw_step,
    initial_overlap,
    step_gradient,
    token_chunk,
)

S = 400
MODEL = SubspaceModel(d=12, K=5, M=40, theta=0.5)
RUN = dict(steps=60, schedule=RobbinsMonro(c=2.0, n0=20.0), log_every=20)


def _ks(a, b):
    return [stats.ks_2samp(a.m[:, j], b.m[:, j]).pvalue for j in range(1, a.m.shape[1])]


@pytest.fixture(scope="module")
def full12():
    return simulate(MODEL, replicate_keys(0, S), simulator=Full(), **RUN)


def test_reduced_equals_full_in_law(full12):
    red = simulate(MODEL, replicate_keys(1, S), simulator=Reduced(), **RUN)
    p = _ks(full12, red)
    assert min(p) > 1e-3, p
    # the means agree within 4 standard errors of the difference as well
    for j in range(1, full12.m.shape[1]):
        a, b = full12.abs_m[:, j], red.abs_m[:, j]
        se = np.sqrt(a.var(ddof=1) / S + b.var(ddof=1) / S)
        np.testing.assert_allclose(a.mean(), b.mean(), atol=4 * se)


def test_ks_has_power_against_wrong_dimension(full12):
    wrong = simulate(MODEL.replace(d=32), replicate_keys(1, S), **RUN)
    assert min(_ks(full12, wrong)) < 1e-3


@pytest.mark.slow
@pytest.mark.parametrize("d, batch", [(12, 3), (2, 1), (3, 2), (5, 4)])
def test_reduced_equals_full_in_law_batches_and_small_d(d, batch):
    model = MODEL.replace(d=d)
    full = simulate(model, replicate_keys(2, S), simulator=Full(), batch=batch, **RUN)
    red = simulate(model, replicate_keys(3, S), batch=batch, **RUN)
    assert min(_ks(full, red)) > 1e-3


def _direct(m, eps, g, h, rho, gram, *, K, theta_d, beta):
    """One seed, B = 1, written term by term as in the derivation (numpy float64)."""
    sq = math.sqrt(max(1 - m * m, 0.0))
    sig, tau = g.copy(), h.copy()
    sig[:K] += theta_d * eps * m
    tau[:K] += theta_d * eps * sq
    a = np.exp(beta * sig - np.max(beta * sig))
    a /= a.sum()
    R2, R = gram[0, 0], math.sqrt(gram[0, 0])
    na = np.linalg.norm(a)
    b = a / na
    r = rho - b * (b @ rho)
    y1, y2 = a @ sig, a @ tau
    yy = y1 * y1 + y2 * y2 + na * na * R2
    v = a * (sig * y1 + tau * y2 + a * R2 + na * R * r) - yy * a
    g2 = 2 * beta * (tau @ v)
    bv = b @ v
    alpha = R * bv + r @ v
    s = math.sqrt(max(v @ v - bv * bv, 0.0))
    A = alpha / R - s * gram[0, 1] / R2
    kvec = np.array([A, s])
    return g2, 4 * beta**2 * kvec @ gram @ kvec, yy


@uses_jax
def _batched(keys, m, d, K, N, theta_d, beta, chunk=None):
    draws = jax.vmap(lambda k: draw_step(k, d, K, N, 1, "token", np.float64))(keys)
    chunking = {} if chunk is None else {"chunk": chunk}
    out = step_gradient(np.asarray(m), draws, K=K, theta_d=theta_d, beta=beta, d=d, **chunking)
    return [np.asarray(x) for x in out], [np.asarray(x) for x in draws]


@pytest.mark.parametrize("chunk", [None, 5, 8, 24, 1])
def test_batched_step_equals_the_per_seed_derivation(chunk):
    """The all-seeds arithmetic of a step equals the term-by-term formulas on the same draws,
    whatever the chunking of its token sums (N = 24: the default, one block; 4 chunks + a tail
    of 4; 3 chunks; a single chunk; 24 chunks of one token)."""
    m = np.array([0.0, 0.3, -0.7, 0.999])
    keys = replicate_keys(5, 4)
    (g2, gc2, yy), (eps, g, h, rho, gram) = _batched(keys, m, 9, 4, 24, 1.5, 1.3, chunk)
    for i in range(4):
        ref = _direct(
            m[i], eps[i, 0], g[i, 0], h[i, 0], rho[i, 0], gram[i], K=4, theta_d=1.5, beta=1.3
        )
        np.testing.assert_allclose([g2[i], gc2[i], yy[i]], ref, rtol=1e-10)


def test_token_chunks_on_cpu_only(monkeypatch):
    """Chunked sums on a CPU backend; one chunk of all the tokens on an accelerator."""
    from attnlab.subspace import _reduced

    monkeypatch.setattr(_reduced.jax, "default_backend", lambda: "cpu")
    assert token_chunk(10_100) == _reduced.CHUNK_TOKENS < 10_100
    monkeypatch.setattr(_reduced.jax, "default_backend", lambda: "gpu")
    assert token_chunk(10_100) == 10_100


@pytest.mark.parametrize("n", [1, 7, 32, 33, 100])
@pytest.mark.parametrize("chunk", [1, 4, 32, 200])
def test_chunked_sums_equal_row_sums(n, chunk):
    """Every summand summed over the last axis, full chunks and tail alike (float64: the
    orders of summation differ, so equality to 1e-12 relative)."""
    rng = np.random.default_rng(n * 1000 + chunk)
    x, y = rng.normal(size=(2, 3, 2, n))
    sums = uses_jax(lambda: chunked_sums((x, y), lambda x, y: (x, x * y, y * y + 1.0), 3, chunk))()
    expect = [x.sum(-1), (x * y).sum(-1), (y * y + 1.0).sum(-1)]
    assert len(sums) == 3
    for got, want in zip(sums, expect, strict=True):
        assert got.shape == (3, 2, 1)
        np.testing.assert_allclose(np.asarray(got)[..., 0], want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dof", [1.0, 3.0, 97.0, 1e5])
def test_chi_square_sampler(dof):
    """Marsaglia–Tsang with a fixed number of proposals: KS against χ²_dof (5000 draws)."""
    x = uses_jax(
        lambda: np.asarray(
            jax.vmap(lambda k: _chi2(k, dof, np.float64))(jax.random.split(jax.random.key(1), 5000))
        )
    )()
    assert stats.kstest(x, stats.chi2(dof).cdf).pvalue > 1e-3


def test_initial_overlap_law():
    """m_0 = z_1/√(z_1² + χ²_{d−1}): m_0² ~ Beta(1/2, (d−1)/2), the law of ⟨q_0, u⟩."""
    m0 = uses_jax(lambda: np.asarray(initial_overlap(replicate_keys(0, 4000), 12, "float64")))()
    assert stats.kstest(m0**2, stats.beta(0.5, 5.5).cdf).pvalue > 1e-3
    assert abs(np.mean(m0 > 0) - 0.5) < 4 * 0.5 / math.sqrt(4000)


@pytest.mark.slow
def test_reduced_gradient_moments_match_full():
    """E[g2] and E[g2² + ‖g_C‖²] at a fixed m agree with the full gradient's (4 SE)."""
    from attnlab.subspace import attention_gradient, sample_tokens

    model, m, n = SubspaceModel(d=9, K=4, M=20, theta=0.7), 0.3, 4000
    u = np.eye(9)[0]
    q = m * u + math.sqrt(1 - m * m) * np.eye(9)[1]
    e2 = (u - m * q) / math.sqrt(1 - m * m)
    X = sample_tokens(model, jax.random.split(jax.random.key(5), n), u)
    full = np.array([attention_gradient(q, x, 1.0)[0] for x in X])
    full -= np.outer(full @ q, q)
    f2, fn = full @ e2, (full**2).sum(1)
    (r2, rc, _), _ = _batched(
        jax.random.split(jax.random.key(6), n), np.full(n, m), 9, 4, 24, model.theta_d, 1.0
    )
    for a, b in ((f2, r2), (fn, r2**2 + rc)):
        se = np.sqrt(a.var() / n + b.var() / n)
        np.testing.assert_allclose(a.mean(), b.mean(), atol=4 * se)
