"""Softmax vs linear attention on spiked single-location regression, in a few lines.

    PYTHONPATH=src python examples/slr_softmax_quickstart.py [--toy] [--out DIR]

1. population level: Bayes risk, the softmax optimum (= Bayes), the linear optimum (closed form);
2. finite samples: one ERM fit and the replica-symmetric prediction at the same α;
3. a figure of the population risks vs ν.
"""

from __future__ import annotations

import argparse
import os

import numpy as np

import attnlab.gslr as gslr
from attnlab.rng import root_key, stream


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--toy", action="store_true", help="tiny sizes (seconds)")
    p.add_argument("--out", default=".", help="folder for the figure")
    args = p.parse_args()
    D, n_mc, nus = (100, 500, [2.0]) if args.toy else (800, 6000, [0.25, 0.5, 1, 2, 3, 4])
    alpha, r = 5.0, 0.5
    key = root_key(0)

    # 1. population level
    rows = []
    for nu in nus:
        model = gslr.GSLRModel(nu=nu, L=3)
        pop = gslr.Population(model)
        bayes = pop.bayes().value
        soft = pop.optimum("softmax").risk
        lin = gslr.linear_attention_optimum(model).risk
        rows.append((nu, bayes, soft, lin))
        print(f"nu={nu:g}: Bayes {bayes:.4f}  softmax {soft:.4f}  linear {lin:.4f}")

    # 2. finite α: ERM against the replica fixed point
    model = gslr.GSLRModel(nu=2.0, L=3)
    teacher = gslr.sample_teacher(model, stream(key, "teacher"), dim=D)
    data = gslr.sample_data(model, stream(key, "train"), teacher, n=int(alpha * D))
    fit = gslr.fit_erm(model, data, r=r, init=gslr.InformedInit(), teacher=teacher)
    erm = gslr.generalisation_error(model, fit.k, fit.v, stream(key, "test"), teacher=teacher)
    options = gslr.ReplicaOptions(n_mc=n_mc)
    rep = gslr.replica_fixed_point(
        model, "softmax", stream(key, "replica"), alpha=alpha, r=r, options=options
    )
    print(
        f"alpha={alpha:g}: ERM test error {erm.value:.4f} ± {erm.stderr:.4f}  "
        f"replica {rep.test_error:.4f}"
    )

    # 3. figure
    from attnlab import plot

    arr = np.array(rows)
    fig, ax = plot.subplots()
    ax.plot(arr[:, 0], arr[:, 2], "o-", color=plot.color(0), label="softmax optimum")
    ax.plot(arr[:, 0], arr[:, 3], "s-", color=plot.color(1), label="linear optimum")
    # drawn last, on top: the softmax optimum coincides with it and would hide it
    ax.plot(arr[:, 0], arr[:, 1], "k--", lw=1.2, zorder=4, label="Bayes risk")
    plot.finish(ax, xlabel="ν", ylabel="population risk", title="spiked SLR, L=3")
    path = os.path.join(args.out, "slr_softmax_quickstart.png")
    plot.save_figure(fig, os.path.join(args.out, "slr_softmax_quickstart"), formats=["png"])
    print(f"figure: {path}")


if __name__ == "__main__":
    main()
