"""The reduced chain of the overlaps has the law of online SGD simulated in R^d.

Two-sample Kolmogorov–Smirnov tests of the five overlaps between independent runs of the two
simulators. Under equality in law each p-value is uniform: with 15 tests per case the chance of
a false alarm at the threshold 1e-3 is ≤ 1.5 %; the power check shows the same one-step test
detects a complement of the wrong dimension (d − 2 instead of d − 4) at this sample size.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from attnlab._jax import jax, jnp
from attnlab.erf_slr import (
    ConstantTemperature,
    DecayingTemperature,
    Direct,
    ErfSLRModel,
    Reduced,
    canonical_coordinates,
    online_sgd,
    overlaps,
)
from attnlab.erf_slr._pgd import model_params
from attnlab.erf_slr._reduced import ReducedKernel, coordinate_overlaps
from attnlab.erf_slr._sgd import _DirectKernel
from attnlab.precision import uses_jax
from attnlab.rng import replicate_keys

S_CHAIN = 400
S_STEP = 4000


def _ks(a, b):
    return [stats.ks_2samp(x, y).pvalue for x, y in zip(a, b, strict=True)]


@uses_jax
def _one_step(model, dof_offsets, alpha=0.1, lam=1.0, L=4, batch=2):
    """New overlaps after one step from a fixed off-manifold (k, v): direct, then reduced
    with each complement offset (4 is right)."""
    d = model.d
    ks, vs = np.eye(d)[0], np.eye(d)[1]
    g = np.random.default_rng(0).normal(size=(2, d))
    k = 0.5 * ks + 0.3 * vs + 0.4 * g[0]
    v = 0.4 * vs + 0.3 * ks + 0.4 * g[1]
    k, v = k / np.linalg.norm(k), v / np.linalg.norm(v)
    params = model_params(model, ConstantTemperature(lam=lam), alpha)

    def tile(x):
        return jnp.tile(jnp.asarray(x), (S_STEP, 1))

    direct = dict(params, keys=replicate_keys(0, S_STEP), k_star=tile(ks), v_star=tile(vs))
    k1, v1, _ = jax.jit(_DirectKernel(L, batch).step)((tile(k), tile(v), 0), direct)
    out = [overlaps(np.asarray(k1), np.asarray(v1), ks, vs)]
    ck, cv = canonical_coordinates(overlaps(k, v, ks, vs))
    reduced = dict(params, keys=replicate_keys(1, S_STEP))
    for off in dof_offsets:
        step = jax.jit(lambda s, p, off=off: ReducedKernel(L, batch, off).advance(s, p, 1))
        c1, w1, _ = step((tile(ck), tile(cv), 0), reduced)
        out.append(coordinate_overlaps(np.asarray(c1), np.asarray(w1)))
    return out


def test_one_step_law_and_power():
    direct, right, wrong = _one_step(ErfSLRModel(d=12, L=4, gamma=0.7), (4.0, 2.0))
    assert min(_ks(direct, right)) > 1e-3, _ks(direct, right)
    # power: a complement of dimension d − 2 instead of d − 4 is detected
    assert min(_ks(direct, wrong)) < 1e-3, _ks(direct, wrong)


@pytest.mark.slow
@pytest.mark.parametrize("d", [4, 5, 6])
def test_one_step_law_small_d(d):
    # the complement is empty (d = 4), a line (d = 5, t22 = 0) or a plane (d = 6)
    direct, right = _one_step(ErfSLRModel(d=d, L=4, gamma=0.7), (4.0,))
    assert min(_ks(direct, right)) > 1e-3, _ks(direct, right)


def test_chain_law_at_several_steps():
    # 60 steps from uniform starts, large steps so that the chain moves; KS at steps 20, 40, 60
    model = ErfSLRModel(d=12, L=4, gamma=0.7)
    kw = dict(temperature=DecayingTemperature(lam0=1.0, decay=0.01), step_size=0.05, steps=60,
              batch=2, log_every=20, n_test=2)  # fmt: skip
    a = online_sgd(model, replicate_keys(0, S_CHAIN), simulator=Direct(), **kw).log
    b = online_sgd(model, replicate_keys(1, S_CHAIN), simulator=Reduced(), **kw).log
    for j in (1, 2, 3):
        p = _ks([x[:, j] for x in a.overlaps], [y[:, j] for y in b.overlaps])
        assert min(p) > 1e-3, (j, p)
        # the mean risks agree within 4 standard errors of their difference as well
        se = np.sqrt(a.risk[:, j].var(ddof=1) / S_CHAIN + b.risk[:, j].var(ddof=1) / S_CHAIN)
        np.testing.assert_allclose(a.risk[:, j].mean(), b.risk[:, j].mean(), atol=4 * se)
