"""Quickstart for attnlab.pooling: simulate attention pooling, compute the theory, plot both.

    PYTHONPATH=src python examples/pooling_quickstart.py [--toy] [--out DIR]

Pools sequences of a decaying hidden-label model (early tokens carry more signal) with mean and
harmonic weights, compares the alignment ⟨û, μ̂⟩² of the top eigenvector with the
random-matrix prediction, and draws the MP_δ ⊠ MP_γ bulk of a spike-free model.
``--toy`` shrinks every size so it runs in a few seconds.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from attnlab import plot
from attnlab.pooling import (
    HarmonicWeights,
    HiddenLabel,
    MeanWeights,
    PoolingModel,
    alignment_thresholds,
    mp_product_density,
    mp_product_edges,
    overlap_sample_mu,
    rho,
    simulate_outliers,
    simulate_spectra,
    weights_vector,
)
from attnlab.rng import replicate_keys, root_key


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--toy", action="store_true", help="tiny sizes (seconds)")
    ap.add_argument("--out", default="pooling_quickstart_out")
    args = ap.parse_args()
    d, trials = (120, 3) if args.toy else (800, 8)
    model = PoolingModel(d=d, delta=0.5, gamma=0.5, L=16, labels=HiddenLabel(r0=1.0, q=0.8))
    de, ga = model.realised_delta, model.realised_gamma
    ells = np.array([0.1, 0.3, 0.6, 1.0])

    fig, (ax1, ax2) = plot.subplots(1, 2)
    for c, weights in enumerate([MeanWeights(), HarmonicWeights()]):
        name = weights.kind
        r = rho(weights_vector(weights, model.correlation), model.correlation)
        sim = simulate_outliers(model, weights, replicate_keys(0, trials), ells=ells)
        theory = overlap_sample_mu(ells, de, ga, r)
        for e, t, s in zip(ells, theory, sim.overlap_mu.mean(0), strict=True):
            print(f"{name:9s} rho={r:.3f} ell={e:.2f}  theory={t:.3f}  simulation={s:.3f}")
        ell_1, ell_2 = alignment_thresholds(de, ga, r)
        print(f"{name:9s} thresholds ell_1={ell_1:.3f} ell_2={ell_2:.3f}")
        grid = np.linspace(0, ells.max() * 1.1, 200)
        curve = overlap_sample_mu(grid, de, ga, r)
        plot.theory_line(ax1, grid, curve, label=f"{name} theory", color=plot.color(c))
        plot.simulation_band(
            ax1, ells, sim.overlap_mu, label=f"{name} simulation", color=plot.color(c), clip=(0, 1)
        )
    plot.finish(ax1, xlabel=r"$\ell$", ylabel=r"$\langle\hat u,\hat\mu\rangle^2$")

    spike_free = model.replace(labels=HiddenLabel(profile="constant", r0=0.0))
    ev = simulate_spectra(spike_free, MeanWeights(), root_key(1))
    lo, hi = mp_product_edges(de, ga)
    lam = np.linspace(1e-3, float(hi) * 1.05, 400)
    density = mp_product_density(lam, delta=de, gamma=ga)
    plot.histogram_vs_density(
        ax2, ev, lam, density, bins=40, density_label=r"MP$_\delta \boxtimes$ MP$_\gamma$"
    )
    plot.finish(ax2, xlabel=r"eigenvalue / $\kappa$", ylabel="density")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "pooling_quickstart.png"
    path.write_bytes(plot.figure_bytes(fig, "png", dpi=100))
    print(f"bulk: largest eigenvalue {ev[0]:.3f} vs edge {float(hi):.3f}")
    print(f"figure: {path}")


if __name__ == "__main__":
    main()
