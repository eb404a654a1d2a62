"""Erf attention on single-location regression: closed-form risk vs Monte-Carlo, and PGD."""

import numpy as np

from attnlab import erf_slr as es
from attnlab.rng import replicate_keys, stream

model = es.ErfSLRModel(d=100)  # L = 10 tokens, γ = √½, ε = 0.1
keys = replicate_keys(0, 8)
run = es.projected_gd(model, keys, temperature=es.ConstantTemperature(lam=0.1), step_size=4e-3,
                      steps=3000, init=es.ManifoldInit(), log_every=1000)  # fmt: skip
k, v, ks, vs = run.problem.k0[0], run.problem.v0[0], run.problem.k_star[0], run.problem.v_star[0]
mc, se = es.monte_carlo_excess_risk(model, stream(keys[0], "mc"), k, v, k_star=ks, v_star=vs,
                                    lam=0.1, n=100_000)  # fmt: skip
start = es.excess_risk(model, es.overlaps(k, v, ks, vs), lam=0.1)
print(f"risk at the start: closed form {float(start):.4f}, Monte-Carlo {mc:.4f} ± {se:.4f}")
print(
    f"after PGD: |κ| = {np.abs(run.log.kappa[:, -1]).mean():.3f}, "
    f"ℰ = {run.log.risk[:, -1].mean():.4f}, oracle {es.oracle_excess_risk(model, lam=0.1):.4f}"
)
