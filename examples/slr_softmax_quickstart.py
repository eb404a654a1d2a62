"""Softmax vs linear attention on spiked SLR (spec slr.md part B), in a few lines.

    PYTHONPATH=src python examples/slr_softmax_quickstart.py [--toy] [--out DIR]

1. population level: Bayes risk, softmax optimum (= Bayes), linear optimum (closed form);
2. finite samples: one ERM fit and the replica-symmetric prediction at the same alpha;
3. a plot of the population risks vs nu.
"""

from __future__ import annotations

import argparse
import os

import numpy as np

import attnlab.gslr as slr
from attnlab._jax import jax


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--toy", action="store_true", help="tiny sizes (seconds)")
    p.add_argument("--out", default=".", help="folder for the figure")
    args = p.parse_args()
    D, n_mc, nus = (100, 400, [2.0]) if args.toy else (800, 6000, [0.25, 0.5, 1, 2, 3, 4])
    L, alpha, r = 3, 5.0, 0.5

    # 1. population level
    rows = []
    for nu in nus:
        pm = slr.PopulationModel(model="spiked", nu=nu, L=L)
        bayes = pm.bayes()[0]
        soft = pm.optimum("softmax").risk
        lin = slr.linear_attention_optimum("spiked", nu, L).risk
        rows.append((nu, bayes, soft, lin))
        print(f"nu={nu:g}: Bayes {bayes:.4f}  softmax {soft:.4f}  linear {lin:.4f}")

    # 2. finite alpha: ERM vs replica
    key = jax.random.key(0)
    teacher = slr.sample_teacher(key, dim=D, orthonormal=True)
    data = slr.sample_slr(
        jax.random.fold_in(key, 1), n=int(alpha * D), teacher=teacher, nu=2.0, L=L
    )
    fit = slr.fit_erm(data, activation="softmax", r=r, init="informed", teacher=teacher, nu=2.0)
    erm, se = slr.test_error(fit.k, fit.v, jax.random.fold_in(key, 2), teacher=teacher, nu=2.0, L=L)
    rep = slr.replica_fixed_point("softmax", alpha=alpha, r=r, nu=2.0, L=L, n_mc=n_mc)
    print(f"alpha={alpha:g}: ERM test error {erm:.4f} ± {se:.4f}  replica {rep.test_error:.4f}")

    # 3. figure
    from attnlab import plot

    arr = np.array(rows)
    fig, ax = plot.subplots()
    ax.plot(arr[:, 0], arr[:, 1], "k--", label="Bayes")
    ax.plot(arr[:, 0], arr[:, 2], "o-", label="softmax")
    ax.plot(arr[:, 0], arr[:, 3], "s-", label="linear")
    plot.finish(ax, xlabel="nu", ylabel="population risk", title=f"spiked SLR, L={L}")
    path = os.path.join(args.out, "slr_softmax_quickstart.png")
    fig.savefig(path)
    print(f"figure: {path}")


if __name__ == "__main__":
    main()
