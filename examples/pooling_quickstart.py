"""Quickstart for attnlab.pooling: simulate attention pooling, compute the theory, plot both.

    PYTHONPATH=src python examples/pooling_quickstart.py [--toy] [--out DIR]

Samples pooled sequences (hidden-label paths with early tokens carrying more signal), pools them
with mean and harmonic weights, and compares the top eigenvalue / alignment of the sample
covariance with the random-matrix predictions; also draws the MP_delta ⊠ MP_gamma bulk.
``--toy`` shrinks every size so it runs in a couple of seconds.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from attnlab import plot
from attnlab.pooling import (
    alignment_thresholds,
    covariance_eigenvalues,
    geometric_profile,
    harmonic_weights,
    hidden_label,
    mean_weights,
    mp_product_density,
    mp_product_edges,
    overlap_sample_mu,
    rho,
    sample_pooled,
    simulate_outliers,
    sizes_from_ratios,
)
from attnlab.rng import numpy_rng


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--toy", action="store_true", help="tiny sizes (seconds)")
    ap.add_argument("--out", default="pooling_quickstart_out")
    args = ap.parse_args()
    d, trials = (120, 3) if args.toy else (800, 8)
    delta, gamma, L = 0.5, 0.5, 16
    V, N = sizes_from_ratios(d, delta, gamma)
    model = hidden_label(geometric_profile(L, r0=1.0, q=0.8))  # decaying signal profile
    ells = np.array([0.1, 0.3, 0.6, 1.0])

    fig, (ax1, ax2) = plot.subplots(1, 2)
    for c, (name, w) in enumerate([("mean", mean_weights(L)), ("harmonic", harmonic_weights(L))]):
        r = rho(w, model.R)
        sim = simulate_outliers(
            [numpy_rng(0, name, i) for i in range(trials)],
            d=d,
            V=V,
            N=N,
            weights=w,
            label_model=model,
            ells=ells,
        )
        theory = overlap_sample_mu(ells, sim.delta, sim.gamma, r)
        l1, l2 = alignment_thresholds(sim.delta, sim.gamma, r)
        for e, t, s in zip(ells, theory, sim.overlap_mu.mean(0), strict=True):
            print(f"{name:9s} rho={r:.3f} ell={e:.2f}  theory={t:.3f}  simulation={s:.3f}")
        print(f"{name:9s} thresholds ell_1={l1:.3f} ell_2={l2:.3f}")
        grid = np.linspace(0, ells.max() * 1.1, 200)
        plot.theory_line(
            ax1,
            grid,
            overlap_sample_mu(grid, sim.delta, sim.gamma, r),
            label=f"{name} theory",
            color=plot.PALETTE[c],
        )
        plot.simulation_band(ax1, ells, sim.overlap_mu, label=f"{name} sim", color=plot.PALETTE[c])
    plot.finish(ax1, xlabel="ell", ylabel="<u, mu_hat>^2")

    smp = sample_pooled(
        numpy_rng(0, "bulk"),
        d=d,
        V=V,
        N=N,
        weights=mean_weights(L),
        label_model=hidden_label(np.zeros(L)),
    )
    ev = covariance_eigenvalues(smp.data(0.0)) / smp.kappa
    lo, hi = mp_product_edges(d / V, d / N)
    lam = np.linspace(1e-3, float(hi) * 1.05, 400)
    plot.histogram_vs_density(
        ax2, ev, lam, mp_product_density(lam, delta=d / V, gamma=d / N), bins=40
    )
    plot.finish(ax2, xlabel="eigenvalue / kappa", ylabel="density")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    fig.savefig(out / "pooling_quickstart.png", dpi=100)
    print(f"bulk: largest eigenvalue {ev[0]:.3f} vs edge {float(hi):.3f}")
    print(f"figure: {out / 'pooling_quickstart.png'}")


if __name__ == "__main__":
    main()
