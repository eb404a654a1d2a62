"""Quickstart for SLR part A (erf attention): closed-form risk, Monte-Carlo check, projected GD.

    PYTHONPATH=src python examples/slr_erf_quickstart.py [--toy] [--out DIR]

1. build a teacher (k*, v*) and a point (k, v) off the invariant manifold,
2. compare the closed-form excess risk with a Monte-Carlo estimate from the data law,
3. run projected GD in the 4 coordinates of span{k*, v*, k0, v0} for a few seeds,
4. plot the excess risk along training against the oracle ℰ(k*, v*).
``--toy`` shrinks everything (used by the tests).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np

from attnlab._jax import jax, jnp
from attnlab.erf_slr import (
    excess_risk,
    make_problem,
    monte_carlo_excess_risk,
    oracle_excess_risk,
    overlaps,
    pgd_coordinates,
    teacher_directions,
    to_coordinates,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--toy", action="store_true", help="tiny sizes (seconds)")
    parser.add_argument("--out", default="slr_erf_quickstart_out", help="output folder")
    args = parser.parse_args()
    d, n_mc, n_seeds, steps = (40, 3000, 2, 1000) if args.toy else (400, 100_000, 10, 20_000)
    L, gamma, lam = 10, math.sqrt(0.5), 0.1

    # 1-2. closed form vs Monte-Carlo at an off-manifold point built from real vectors
    k_star, v_star = teacher_directions(jax.random.key(0), d=d)
    g = jax.random.normal(jax.random.key(1), (2, d))
    k = 0.8 * k_star + 0.3 * v_star + 0.2 * g[0]
    v = 0.7 * v_star + 0.2 * k_star + 0.3 * g[1]
    k, v = k / jnp.linalg.norm(k), v / jnp.linalg.norm(v)
    ov = overlaps(k, v, k_star, v_star)
    theory = float(excess_risk(*ov, d=d, L=L, gamma=gamma, lam=lam))
    mc, se = monte_carlo_excess_risk(
        jax.random.key(2), k, v, k_star=k_star, v_star=v_star, L=L, gamma=gamma, lam=lam, n=n_mc
    )
    print(f"closed-form excess risk {theory:.5f}  Monte-Carlo {mc:.5f} ± {se:.5f}")

    # 3. projected GD from the manifold, in 4 coordinates
    problem = make_problem(0, n_seeds, d=d, init="manifold")
    ck, cv = to_coordinates(problem.frame, problem.k0), to_coordinates(problem.frame, problem.v0)
    _, _, log = pgd_coordinates(
        ck, cv, d=d, L=L, gamma=gamma, lam0=lam, step_size=4e-3, steps=steps, log_every=100
    )
    oracle = oracle_excess_risk(d=d, L=L, gamma=gamma, lam=lam)
    print(f"final excess risk {log.risk[:, -1].mean():.5f}  oracle {oracle:.5f}")
    print(
        f"final |kappa| {np.abs(log.kappa[:, -1]).mean():.4f}  |nu| {np.abs(log.nu[:, -1]).mean():.4f}"
    )

    # 4. plot
    from attnlab import plot

    fig, ax = plot.subplots()
    plot.simulation_band(ax, log.step, log.risk, label="PGD (closed-form ℰ)", markers=False)
    ax.axhline(oracle, color="black", label="oracle ℰ(k*, v*)")
    plot.finish(ax, xlabel="step", ylabel="excess risk", title=f"d={d}, λ={lam}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    fig.savefig(out / "slr_erf_quickstart.png")
    print(f"figure written to {out / 'slr_erf_quickstart.png'}")


if __name__ == "__main__":
    main()
