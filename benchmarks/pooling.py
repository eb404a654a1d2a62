"""Throughput of the pooling family: one trial, an ℓ grid, theory grids, whole experiments.

    PYTHONPATH=src python benchmarks/pooling.py [--quick]

Each measurement first checks that the fast path gives the same numbers as the reference:

1. one trial at d = 4000 (δ = γ = 0.5, L = 16; ``--quick``: d = 1000): sampling (table, labels,
   tokens) plus the top eigenpair of Ĉ at one ℓ by block Lanczos, against the same trial with
   the dense ``eigh`` of the d × d covariance (the eigenpairs must agree to 1e-8); again with a
   float32 table (``attnlab.precision.precision("float32")``; agreement with the dense float64
   eigh of the same data to 1e-6); the note splits the time into sampling and eigen-analysis;
2. the table products of a Lanczos step (``Z V`` and ``Zᵀ Y`` for a two-column block, d = 4000,
   V = 8000) column by column (:func:`attnlab.pooling.thin_product`) against one BLAS
   matrix–matrix product each (same numbers to 1e-12);
3. trials side by side (:func:`attnlab.pooling._trials.map_trials`: one BLAS thread per trial,
   trials in threads) against the sequential loop with BLAS's own threading, on 6 full spectra
   at d = 1000 (``--quick``: 4 at d = 400; identical eigenvalues to 1e-10);
4. the top eigenpair at every ℓ of a 12-point grid from one block Krylov space, against 12
   separate Lanczos runs on the formed data matrices (same eigenvalues to 1e-8);
5. theory points per second: outlier and overlaps over a 200 × 200 (ℓ, ρ) grid and the
   MP_δ ⊠ MP_γ density over (λ, δ), against a per-point ``np.roots`` loop (same density);
6. without ``--quick``: the wall time of each pooling experiment at full size (no figures),
   against the times measured before the redesign on the 2-core machine (issue 12).

On a shared, oversubscribed machine run it with ``OMP_NUM_THREADS=1``: threaded BLAS degrades
badly under contention.
"""

from __future__ import annotations

import argparse
import time

import jax
import numpy as np

from attnlab.pooling import (
    HiddenLabel,
    MeanWeights,
    PoolingModel,
    covariance_eigenvalues,
    mp_product_density,
    outlier_sample,
    overlap_sample_m,
    overlap_sample_mu,
    sample_pooled,
    sample_top,
    simulate_spectra,
    thin_product,
    top_eigenpairs,
)
from attnlab.pooling._blas import one_blas_thread, within_trials
from attnlab.precision import precision
from attnlab.rng import replicate_keys

# full-size wall times before the redesign (issue 12, 2-core machine, seconds)
BEFORE_S = {
    "pooling-alignment": 108.0,
    "pooling-spectrum": 102.0,
    "pooling-outlier": 66.0,
    "pooling-phase": 51.0,
    "pooling-causal": 34.0,
    "pooling-weights": 15.0,
}
TRIAL_4000_BEFORE_S = 4.4
# full-size wall times just before the side-by-side trials and column-wise products (2-core
# machine under load, so inflated; for orientation only)
LAST_UNDER_LOAD_S = {
    "pooling-spectrum": 110.0,
    "pooling-weights": 31.0,
    "pooling-phase": 25.5,
    "pooling-alignment": 17.7,
    "pooling-outlier": 16.2,
    "pooling-causal": 12.5,
}


def _best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def _row(name, value, unit, reference, ratio, note):
    return {
        "benchmark": name,
        "value": float(value),
        "unit": unit,
        "reference": reference,
        "ratio": None if ratio is None else float(ratio),
        "note": note,
    }


def bench_trial(d: int, repeat: int, dtype: str = "float64") -> list[dict]:
    model = PoolingModel(d=d, labels=HiddenLabel(r0=0.3))
    key = jax.random.key(0)
    ell = 3.0  # above both thresholds

    def fast():
        with precision(dtype):
            smp = sample_pooled(model, MeanWeights(), key)
            return smp, sample_top(smp, [ell])

    def dense():
        smp = sample_pooled(model, MeanWeights(), key)
        return top_eigenpairs(smp.data(ell), 1, method="dense")

    smp, (lam, vec, ok) = fast()
    # the reference: dense float64 eigh of the very same data
    lam_ref, vec_ref = top_eigenpairs(smp.data(ell).astype(np.float64), 1, method="dense")
    assert ok.all()
    rtol = 1e-8 if dtype == "float64" else 1e-6
    np.testing.assert_allclose(lam[0] * smp.kappa, lam_ref[0], rtol=rtol)
    np.testing.assert_allclose(abs(vec[:, 0] @ vec_ref[:, 0]), 1.0, atol=rtol)
    t_fast = _best(fast, repeat)
    t_dense = _best(dense, 1)
    with precision(dtype):
        t_sample = _best(lambda: sample_pooled(model, MeanWeights(), key), repeat)
    with within_trials():  # one BLAS thread, no row blocks: as inside an experiment's trials
        t_one = _best(fast, repeat)
    note = (
        f"sample + top eigenpair, δ=γ=0.5, L=16, N=V={model.N}, {dtype} table; "
        f"sampling {t_sample:.3g} s, eigen-analysis {t_fast - t_sample:.3g} s; "
        f"{t_one:.3g} s with its products on one core (as inside an experiment)"
    )
    name = f"pooling trial d={d}" + ("" if dtype == "float64" else f" ({dtype})")
    rows = [_row(name, t_fast, "s", "same trial, dense float64 eigh", t_dense / t_fast, note)]
    if d == 4000:
        rows.append(
            _row(
                f"{name} vs before",
                t_fast,
                "s",
                f"{TRIAL_4000_BEFORE_S} s before the redesign (issue 12)",
                TRIAL_4000_BEFORE_S / t_fast,
                "target ≤ 1 s on 2 idle cores",
            )
        )
    return rows


def bench_thin_product(d: int, repeat: int) -> list[dict]:
    rng = np.random.default_rng(0)
    Z = rng.standard_normal((2 * d, d))
    V = np.asfortranarray(rng.standard_normal((d, 2)))
    Y = rng.standard_normal((2 * d, 2))

    def columns():
        return thin_product(Z, V), thin_product(Z.T, Y)

    def blocks():
        return Z @ V, Z.T @ Y

    for fast, ref in zip(columns(), blocks(), strict=True):
        np.testing.assert_allclose(fast, ref, rtol=1e-12, atol=1e-12 * np.abs(ref).max())
    with within_trials(), one_blas_thread():  # one core each, as inside an experiment's trials
        t_fast, t_ref = _best(columns, repeat), _best(blocks, repeat)
    return [
        _row(
            f"table products of one Lanczos step, d={d}",
            t_fast,
            "s",
            "one BLAS matrix–matrix product each",
            t_ref / t_fast,
            f"Z V and Zᵀ Y, Z {2 * d}×{d} float64, two-column blocks, one dgemv per column, "
            "one core",
        )
    ]


def bench_side_by_side(d: int, trials: int) -> list[dict]:
    model = PoolingModel(d=d)
    keys = replicate_keys(3, trials)

    def side_by_side():
        return simulate_spectra(model, MeanWeights(), keys, ell=3.0)

    def loop():
        out = []
        for k in keys:
            smp = sample_pooled(model, MeanWeights(), k)
            out.append(covariance_eigenvalues(smp.data(3.0)) / smp.kappa)
        return np.array(out)

    np.testing.assert_allclose(side_by_side(), loop(), rtol=1e-10, atol=1e-10)
    t_fast, t_loop = _best(side_by_side, 1), _best(loop, 1)
    return [
        _row(
            f"{trials} full spectra, d={d}",
            t_fast,
            "s",
            "sequential loop, BLAS's own threads",
            t_loop / t_fast,
            "trials in threads, one BLAS thread each (sampling, Gram, eigvalsh)",
        )
    ]


def bench_ell_grid(d: int, repeat: int) -> list[dict]:
    model = PoolingModel(d=d, labels=HiddenLabel(r0=0.3))
    smp = sample_pooled(model, MeanWeights(), jax.random.key(1))
    ells = np.array([0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0])

    def family():
        return sample_top(smp, ells)

    def separate():
        return np.array([top_eigenpairs(smp.data(e), 1, tol=1e-6)[0][0] for e in ells])

    lam, _, ok = family()
    assert ok.all()
    np.testing.assert_allclose(lam * smp.kappa, separate(), rtol=1e-8)
    t_family, t_separate = _best(family, repeat), _best(separate, repeat)
    return [
        _row(
            f"pooling top eigenpair at 12 ℓ, d={d}",
            t_family,
            "s",
            "12 separate Lanczos runs",
            t_separate / t_family,
            "one block Krylov space of X0ᵀX0/N started at [μ̂, b]",
        )
    ]


def bench_theory(n: int) -> list[dict]:
    ell, r = np.meshgrid(np.linspace(0, 5, n), np.linspace(0.2, 6, n))
    pts = ell.size

    def closed_form():
        outlier_sample(ell, 0.5, 0.5, r)
        overlap_sample_mu(ell, 0.5, 0.5, r)
        overlap_sample_m(ell, 0.5, 0.5, r)

    lam_g, de_g = np.meshgrid(np.linspace(0.01, 8, n), np.linspace(0.1, 3, n))
    m = min(pts, 2000)

    def loop():
        out = []
        for lam_i, de_i in zip(lam_g.ravel()[:m], de_g.ravel()[:m], strict=True):
            roots = np.roots([de_i * 0.5, de_i + 0.5 + de_i * 0.5, 1 + de_i + 0.5 - lam_i, 1.0])
            out.append(max(-roots.imag.min(), 0.0) / (np.pi * lam_i))
        return np.array(out)

    dens = mp_product_density(lam_g, delta=de_g, gamma=0.5)
    np.testing.assert_allclose(dens.ravel()[:m], loop(), atol=1e-8)
    t_closed = _best(closed_form, 3)
    t_dens = _best(lambda: mp_product_density(lam_g, delta=de_g, gamma=0.5), 2)
    t_loop = _best(loop, 1) * pts / m
    return [
        _row(
            f"pooling theory: outlier + 2 overlaps, {n}×{n}",
            pts / t_closed,
            "points/s",
            "—",
            None,
            "closed forms, vectorised",
        ),
        _row(
            f"pooling theory: MP⊠MP density, {n}×{n}",
            pts / t_dens,
            "points/s",
            "per-point np.roots loop",
            t_loop / t_dens,
            "batched cubic roots",
        ),
    ]


def bench_experiments() -> list[dict]:
    import tempfile

    from attnlab.store import run_experiment

    rows = []
    with tempfile.TemporaryDirectory() as out:
        for name, before in BEFORE_S.items():
            t0 = time.perf_counter()
            run = run_experiment(name, {}, out=out, plots=False, force=True)
            elapsed = time.perf_counter() - t0
            counts = run.result.counts
            note = (
                f"{run.result.status}, {counts['pass']}/{len(run.result.comparisons)} rows pass; "
                f"{LAST_UNDER_LOAD_S[name]:g} s under load before the side-by-side trials"
            )
            rows.append(
                _row(
                    f"{name} full size",
                    elapsed,
                    "s",
                    f"{before:g} s before",
                    before / elapsed,
                    note,
                )
            )
    return rows


def run(quick: bool) -> list[dict]:
    """All measurements (see the module docstring); ``quick`` shrinks sizes to seconds."""
    d = 1000 if quick else 4000
    rows = bench_trial(d, repeat=1 if quick else 2)
    rows += bench_trial(d, repeat=1 if quick else 2, dtype="float32")
    rows += bench_thin_product(1000 if quick else 4000, repeat=3)
    rows += bench_side_by_side(400 if quick else 1000, 4 if quick else 6)
    rows += bench_ell_grid(400 if quick else 1000, repeat=1 if quick else 2)
    rows += bench_theory(60 if quick else 200)
    if not quick:
        rows += bench_experiments()
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="small sizes")
    args = ap.parse_args()
    for row in run(args.quick):
        ratio = "" if row["ratio"] is None else f"{row['ratio']:.1f}×"
        print(
            f"{row['benchmark']:45s} {row['value']:12.4g} {row['unit']:9s} {ratio:>7s}  "
            f"vs {row['reference']}; {row['note']}",
            flush=True,
        )


if __name__ == "__main__":
    main()
