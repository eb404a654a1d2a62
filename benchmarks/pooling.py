"""Throughput of the pooling family: sampling, eigen-analysis paths, theory over grids.

    PYTHONPATH=src python benchmarks/pooling.py [--quick]

1. time per trial at d in {500, 1000, 2000, 4000} (delta = gamma = 0.5, L = 16): a whole
   sample (table + labels + tokens + pooling); pooling alone (sparse incidence x table) vs a
   per-sequence Python loop; top eigenpair by full ``eigh`` of the d x d covariance vs Lanczos
   (``eigsh``) on ``v -> X^T X v / N``. On a shared, oversubscribed machine run it with
   ``OMP_NUM_THREADS=1``: threaded BLAS-2 (the Lanczos matvecs) degrades badly under contention.
2. theory points per second over a 200 x 200 grid: closed-form outlier/overlaps over (ell, rho)
   and the MP_delta ⊠ MP_gamma density over (lambda, delta) (batched cubic roots), against a
   per-point Python loop with ``np.roots``.
``--quick`` uses d in {200, 400} and a 60 x 60 grid.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from attnlab.pooling import (
    geometric_profile,
    hidden_label,
    mean_weights,
    mp_product_density,
    outlier_sample,
    overlap_sample_m,
    overlap_sample_mu,
    pool,
    sample_pooled,
    sample_table,
    sample_tokens,
    sizes_from_ratios,
    top_eigenpairs,
)


def _best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def bench_trials(sizes, repeat: int) -> None:
    L = 16
    model = hidden_label(geometric_profile(L, r0=0.3))
    w = mean_weights(L)
    print(
        f"{'d':>6} {'N':>6} {'sample':>8} {'pool':>8} {'pool-loop':>10} "
        f"{'full eigh':>10} {'lanczos':>9} {'speedup':>8} {'|dlam|':>9}"
    )
    for d in sizes:
        V, N = sizes_from_ratios(d, 0.5, 0.5)
        rng = np.random.default_rng(0)
        t0 = time.perf_counter()
        smp = sample_pooled(rng, d=d, V=V, N=N, weights=w, label_model=model)
        t_sample = time.perf_counter() - t0
        # pooling alone: sparse incidence x table vs the per-sequence Python loop
        table = sample_table(rng, d=d, V=V)
        tok = sample_tokens(rng, model.sample(rng, N), V)
        t0 = time.perf_counter()
        pool(table.noise, tok, w, center=False)
        t_pool = time.perf_counter() - t0
        t0 = time.perf_counter()
        np.array([sum(w[t] * table.noise[tok[i, t]] for t in range(L)) for i in range(N)])
        t_loop = time.perf_counter() - t0
        X = smp.data(1.5)
        t_full = _best(lambda X=X: top_eigenpairs(X, 1, method="full"), repeat)
        t_lan = _best(lambda X=X: top_eigenpairs(X, 1, method="lanczos"), repeat)
        err = abs(top_eigenpairs(X, 1, method="full")[0][0] - top_eigenpairs(X, 1)[0][0])
        print(
            f"{d:6d} {N:6d} {t_sample:7.3f}s {t_pool:7.3f}s {t_loop:9.3f}s {t_full:9.3f}s {t_lan:8.3f}s "
            f"{t_full / t_lan:7.1f}x {err:9.1e}",
            flush=True,
        )


def bench_theory(n: int) -> None:
    ell, r = np.meshgrid(np.linspace(0, 5, n), np.linspace(0.2, 6, n))
    pts = ell.size

    def closed_form():
        outlier_sample(ell, 0.5, 0.5, r)
        overlap_sample_mu(ell, 0.5, 0.5, r)
        overlap_sample_m(ell, 0.5, 0.5, r)

    t = _best(closed_form, 3)
    print(
        f"outlier + 2 overlaps over {n}x{n} (ell, rho): {t * 1e3:8.2f} ms = {pts / t:,.0f} points/s"
    )
    lam = np.linspace(0.01, 8, n)
    lam_g, de_g = np.meshgrid(lam, np.linspace(0.1, 3, n))

    def density_grid():
        mp_product_density(lam_g, delta=de_g, gamma=0.5)

    t = _best(density_grid, 2)
    print(
        f"density over {n}x{n} (lambda, delta):        {t * 1e3:8.2f} ms = {pts / t:,.0f} points/s"
    )
    m = min(pts, 2000)

    def loop():
        for lam_i, de_i in zip(lam_g.ravel()[:m], de_g.ravel()[:m], strict=True):
            roots = np.roots([de_i * 0.5, de_i + 0.5 + de_i * 0.5, 1 + de_i + 0.5 - lam_i, 1.0])
            abs(roots.imag).max() / (np.pi * lam_i)

    t_loop = _best(loop, 1) * pts / m
    print(
        f"per-point np.roots loop (extrapolated):      {t_loop * 1e3:8.2f} ms = {pts / t_loop:,.0f} points/s"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="small sizes")
    args = ap.parse_args()
    sizes = [200, 400] if args.quick else [500, 1000, 2000, 4000]
    print("== time per trial (delta = gamma = 0.5, L = 16) ==")
    bench_trials(sizes, repeat=1 if args.quick else 2)
    print("== theory ==")
    bench_theory(60 if args.quick else 200)


if __name__ == "__main__":
    main()
