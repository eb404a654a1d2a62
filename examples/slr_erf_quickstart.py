"""Quickstart for single-location regression with erf attention.

    PYTHONPATH=src python examples/slr_erf_quickstart.py [--toy] [--out DIR]

1. build a teacher (k*, v*) and a point (k, v) off the invariant manifold,
2. compare the closed-form excess risk with a Monte-Carlo estimate from the data law,
3. run projected GD (4 coordinates) from the manifold for a few seeds, and online SGD (the exact
   reduced chain of the overlaps) from the sphere,
4. plot the excess risk along training against the oracle ℰ(k*, v*).
``--toy`` shrinks everything (used by the tests).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from attnlab import plot
from attnlab._jax import jax
from attnlab.erf_slr import (
    ConstantTemperature,
    DecayingTemperature,
    ErfSLRModel,
    ManifoldInit,
    excess_risk,
    monte_carlo_excess_risk,
    online_sgd,
    oracle_excess_risk,
    overlaps,
    projected_gd,
    teacher_directions,
)
from attnlab.rng import replicate_keys


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--toy", action="store_true", help="tiny sizes (seconds)")
    parser.add_argument("--out", default="slr_erf_quickstart_out", help="output folder")
    args = parser.parse_args()
    d, n_mc, n_seeds, steps = (40, 3000, 2, 1000) if args.toy else (400, 100_000, 10, 20_000)
    model = ErfSLRModel(d=d)  # L = 10, γ = √½, ε = 0.1
    lam = 0.1

    # 1-2. closed form vs Monte-Carlo at an off-manifold point built from real vectors
    k_star, v_star = teacher_directions(model, jax.random.key(0))
    g = np.random.default_rng(1).normal(size=(2, d))
    k = 0.8 * k_star + 0.3 * v_star + 0.2 * g[0]
    v = 0.7 * v_star + 0.2 * k_star + 0.3 * g[1]
    k, v = k / np.linalg.norm(k), v / np.linalg.norm(v)
    theory = float(excess_risk(model, overlaps(k, v, k_star, v_star), lam=lam))
    mc, se = monte_carlo_excess_risk(model, jax.random.key(2), k, v, k_star=k_star,
                                     v_star=v_star, lam=lam, n=n_mc)  # fmt: skip
    print(f"closed-form excess risk {theory:.5f}  Monte-Carlo {mc:.5f} ± {se:.5f}")

    # 3. projected GD from the manifold (4 coordinates) and online SGD from the sphere
    keys = replicate_keys(0, n_seeds)
    pgd = projected_gd(model, keys, temperature=ConstantTemperature(lam=lam), step_size=4e-3,
                       steps=steps, init=ManifoldInit(), log_every=100)  # fmt: skip
    oracle = oracle_excess_risk(model, lam=lam)
    print(f"PGD: final excess risk {pgd.log.risk[:, -1].mean():.5f}  oracle {oracle:.5f}")
    print(f"PGD: final |kappa| {np.abs(pgd.log.kappa[:, -1]).mean():.4f}  "
          f"|nu| {np.abs(pgd.log.nu[:, -1]).mean():.4f}")  # fmt: skip
    sgd = online_sgd(model, keys, temperature=DecayingTemperature(lam0=1.0), step_size=1e-3,
                     steps=10 * steps, log_every=100)  # fmt: skip
    print(f"SGD: final |kappa| {np.abs(sgd.log.kappa[:, -1]).mean():.4f}  "
          f"|nu| {np.abs(sgd.log.nu[:, -1]).mean():.4f}")  # fmt: skip

    # 4. plot
    fig, ax = plot.subplots()
    plot.simulation_band(ax, pgd.log.step, pgd.log.risk, label="PGD from ℳ (closed-form ℰ)",
                         markers=False)  # fmt: skip
    plot.theory_line(ax, pgd.log.step, np.full(pgd.log.step.shape, oracle),
                     label="oracle ℰ(k*, v*)")  # fmt: skip
    plot.finish(ax, xlabel="step", ylabel="excess risk", title=f"d = {d}, λ = {lam}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    plot.save_figure(fig, out / "slr_erf_quickstart", formats=["png"])
    print(f"figure written to {out / 'slr_erf_quickstart.png'}")


if __name__ == "__main__":
    main()
