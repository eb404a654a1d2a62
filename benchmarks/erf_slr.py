"""Throughput of erf-SLR training: projected GD and online SGD, against their references.

    PYTHONPATH=src python benchmarks/erf_slr.py [--quick]

Before timing, each fast path is checked against its reference:

* 4-coordinate PGD (vmap over seeds + scan, cost independent of d) against full-d PGD and
  against a per-seed Python loop of one jitted full-d step per call — the structure of the
  paper's official code — on the same problems: same trajectories (float64);
* the exact reduced SGD chain (cost independent of d) against the direct simulator in R^d: same
  law of the overlaps (two-sample Kolmogorov–Smirnov tests at three steps, 200 runs each);
* the reduced chain run in side-by-side replicate groups (one per core, from threads) against
  the same run as one batch: same numbers up to float rounding;
* the held-out test MSE drawn in the 4 frame coordinates against the draw in R^d: same law
  (two-sample KS test, 400 replicates).

Measured: seed·steps per second of each, their ratios, the reduced chain's time over the time of
drawing its random numbers alone (the random-number floor), the official code's per step·seed
times quoted as measured constants (PGD 0.214 ms at d = 400, SGD 0.247 ms at d = 80), and, without
``--quick``, the wall time of the five full-size reference runs against the official ≈ 74 min
and the number of training programs they compiled (one per kernel and state shape).
Compile time is excluded from throughputs (each function runs once before timing).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))

from attnlab._jax import jax  # noqa: E402
from attnlab.erf_slr import (  # noqa: E402
    DecayingTemperature,
    Direct,
    ErfSLRModel,
    FullDimension,
    Reduced,
    draw_problem,
    embed_overlaps,
    heldout_excess,
    online_sgd,
    projected_gd,
)
from attnlab.erf_slr._pgd import _risk_gradient, model_params  # noqa: E402
from attnlab.erf_slr._training import projected_step, replicate_groups  # noqa: E402
from attnlab.precision import uses_jax  # noqa: E402
from attnlab.rng import replicate_keys  # noqa: E402

OFFICIAL_PGD_S = 0.214e-3  # s per step·seed, d = 400 (measured constant, issue 12)
OFFICIAL_SGD_S = 0.247e-3  # s per step·seed, d = 80, batch 5
OFFICIAL_TOTAL_S = 74 * 60  # the five reference runs
REFERENCE_RUNS = [
    "slr-manifold",
    "slr-sphere-large-lambda",
    "slr-sphere-small-lambda",
    "slr-sphere-schedule",
    "slr-sgd",
]


@uses_jax
def pgd_python_loop(model, problem, *, temperature, step_size, steps):
    """Per-seed Python loop of the full-d projected GD step (one jitted step per call), the
    structure of the paper's official code. Returns final (k, v), shape (n_seeds, d)."""
    params = {**model_params(model, temperature, step_size)}
    out_k, out_v = [], []
    for i in range(problem.k0.shape[0]):
        k, v = problem.k0[i], problem.v0[i]
        ks, vs = problem.k_star[i], problem.v_star[i]
        for t in range(steps):
            k, v = _python_step(k, v, ks, vs, params, float(temperature.at(t)))
        out_k.append(np.asarray(k))
        out_v.append(np.asarray(v))
    return np.stack(out_k), np.stack(out_v)


@jax.jit
def _python_step(k, v, k_star, v_star, params, lam):
    gk, gv = _risk_gradient(k, v, k_star, v_star, params, lam)
    return projected_step(k, v, gk, gv, params["step_size"])


def _timed(fn, *args, **kwargs) -> float:
    fn(*args, **kwargs)  # compile / warm up
    start = time.perf_counter()
    fn(*args, **kwargs)
    return time.perf_counter() - start


def _row(name, value, unit, reference, ratio, note):
    return {"benchmark": name, "value": float(value), "unit": unit, "reference": reference,
            "ratio": None if ratio is None else float(ratio), "note": note}  # fmt: skip


def _check_pgd(model, keys, kw):
    fast = projected_gd(model, keys, **kw, log_every=kw["steps"])
    full = projected_gd(model, keys, **kw, log_every=kw["steps"], solver=FullDimension())
    np.testing.assert_allclose(fast.k, full.k, atol=1e-11)
    loop_k, loop_v = pgd_python_loop(model, draw_problem(model, keys), **kw)
    np.testing.assert_allclose(fast.k, loop_k, atol=1e-11)
    np.testing.assert_allclose(fast.v, loop_v, atol=1e-11)


def _check_sgd_law():
    from scipy import stats

    model = ErfSLRModel(d=12, L=4)
    kw = dict(temperature=DecayingTemperature(lam0=1.0), step_size=0.05, steps=60, batch=2,
              log_every=20, n_test=2)  # fmt: skip
    a = online_sgd(model, replicate_keys(0, 200), simulator=Direct(), **kw).log
    b = online_sgd(model, replicate_keys(1, 200), simulator=Reduced(), **kw).log
    p = [stats.ks_2samp(x[:, j], y[:, j]).pvalue
         for x, y in zip(a.overlaps, b.overlaps, strict=True) for j in (1, 2, 3)]  # fmt: skip
    assert min(p) > 1e-3, f"reduced and direct SGD differ in law (KS p = {min(p):.2g})"


def _pgd_rows(quick: bool) -> list[dict]:
    model = ErfSLRModel(d=400)
    n_seeds, steps = (8, 2000) if quick else (30, 20_000)
    kw = dict(temperature=DecayingTemperature(lam0=1.0), step_size=4e-3)
    _check_pgd(model, replicate_keys(0, 2), {**kw, "steps": 15})
    keys = replicate_keys(0, n_seeds)
    t4 = _timed(projected_gd, model, keys, steps=steps, log_every=steps // 10, **kw)
    tf = _timed(projected_gd, model, keys, steps=steps // 10, log_every=steps // 100,
                solver=FullDimension(), **kw)  # fmt: skip
    loop_steps = 100 if quick else 400
    tl = _timed(pgd_python_loop, model, draw_problem(model, keys[:1]), steps=loop_steps, **kw)
    per4 = t4 / (n_seeds * steps)
    perf = tf / (n_seeds * steps / 10)
    perl = tl / loop_steps
    note = f"d = 400, L = 10, {n_seeds} seeds, s per step·seed"
    return [
        _row("erf-slr PGD, 4 coordinates", per4, "s/step·seed", "per-seed Python loop (full d)",
             perl / per4, note),
        _row("erf-slr PGD, 4 coordinates", per4, "s/step·seed", "official code (constant)",
             OFFICIAL_PGD_S / per4, "official 0.214 ms/step·seed at d = 400"),
        _row("erf-slr PGD, full d (vmap + scan)", perf, "s/step·seed",
             "per-seed Python loop (full d)", perl / perf, note),
    ]  # fmt: skip


def _random_floor(model, keys, steps, batch):
    """Seconds to draw the reduced chain's random numbers alone, for the same steps, drawn as
    the chain draws them (a sub-block of steps at a time)."""
    from attnlab.erf_slr._reduced import SUB_BLOCK, ReducedKernel
    from attnlab.rng import stream

    kernel = ReducedKernel(model.L, batch)
    params = {"d": float(model.d), "keys": stream(keys, "sgd-batches")}

    @jax.jit
    def draw(params):
        def one(i, acc):
            nrm, chi = kernel._draw(params, i * SUB_BLOCK, acc.dtype)
            return acc + nrm.sum((0, 2)) + chi.sum((0, 2))

        n_blocks = -(-steps // SUB_BLOCK)
        return jax.lax.fori_loop(0, n_blocks, one, jax.numpy.zeros(keys.shape[0]))

    return _timed(uses_jax(lambda: jax.block_until_ready(draw(params))))


def _sgd_rows(quick: bool) -> list[dict]:
    _check_sgd_law()
    model = ErfSLRModel(d=80)
    n_seeds, steps = (8, 5000) if quick else (30, 20_000)
    kw = dict(temperature=DecayingTemperature(lam0=2.0), step_size=1e-3, batch=5)
    keys = replicate_keys(0, n_seeds)
    tr = _timed(online_sgd, model, keys, steps=steps, log_every=steps // 10, **kw)
    d_steps = steps // 10
    td = _timed(online_sgd, model, keys, steps=d_steps, log_every=d_steps, simulator=Direct(),
                n_test=2, **kw)  # fmt: skip
    floor = _random_floor(model, keys, steps, 5)
    t_one, t_groups = _grouping_times(model, keys, steps, kw)
    per_r, per_d = tr / (n_seeds * steps), td / (n_seeds * d_steps)
    note = f"d = 80, L = 10, batch 5, {n_seeds} seeds"
    return [
        _row("erf-slr SGD, reduced chain", per_r, "s/step·seed", "direct simulator in R^d",
             per_d / per_r, note),
        _row("erf-slr SGD, reduced chain", per_r, "s/step·seed", "official code (constant)",
             OFFICIAL_SGD_S / per_r, "official 0.247 ms/step·seed at d = 80"),
        _row("erf-slr SGD, reduced chain over its random numbers", t_one / floor, "ratio",
             "drawing the same random numbers", None,
             "one batch, one core; ≈ 1 means at the random-number floor"),
        _row("erf-slr SGD, reduced chain, replicate groups side by side", per_r, "s/step·seed",
             "one batch on one core", t_one / t_groups,
             f"{len(replicate_groups(n_seeds))} groups, {note}"),
    ]  # fmt: skip


def _grouping_times(model, keys, steps, kw) -> tuple[float, float]:
    """Times of the reduced chain run as one batch and in side-by-side replicate groups (one
    per core), after checking both give the same run up to float rounding."""
    from attnlab import _threads

    machine_cores = _threads.cores()

    def once(cores):
        saved = _threads.cores  # the replicate groups are one per core (_threads.group_count)
        _threads.cores = lambda: cores
        try:
            return online_sgd(model, keys, steps=steps, log_every=steps // 10, **kw)
        finally:
            _threads.cores = saved

    one, grouped = once(1), once(machine_cores)
    np.testing.assert_allclose(grouped.log.nu, one.log.nu, rtol=1e-10, atol=1e-12)
    return _timed(once, 1), _timed(once, machine_cores)


def _heldout_rows(quick: bool) -> list[dict]:
    """Held-out test MSE at d = 400: tokens in 4 frame coordinates vs in R^d (same law first)."""
    from scipy import stats

    model = ErfSLRModel(d=400)
    ov = (0.5, 0.6, 0.3, -0.2, 0.25)

    def run(simulator, seed, n_seeds, n):
        k, v, ks, vs = (np.tile(a, (n_seeds, 1)) for a in embed_overlaps(ov, model.d))
        return heldout_excess(model, replicate_keys(seed, n_seeds), k, v, k_star=ks, v_star=vs,
                              lam=1.0, n=n, simulator=simulator)[0]  # fmt: skip

    p = stats.ks_2samp(run(Direct(), 0, 400, 8), run(Reduced(), 1, 400, 8)).pvalue
    assert p > 1e-3, f"held-out MSE in frame coordinates differs in law from R^d (KS p = {p:.2g})"
    n_seeds, n = (8, 1000) if quick else (30, 1000)
    t_direct = _timed(run, Direct(), 0, n_seeds, n)
    t_reduced = _timed(run, Reduced(), 0, n_seeds, n)
    return [_row("erf-slr held-out test MSE, 4 frame coordinates", t_reduced / (n_seeds * n),
                 "s/sample", "tokens drawn in R^d", t_direct / t_reduced,
                 f"d = 400, L = 10, {n_seeds} seeds × {n} samples")]  # fmt: skip


def _reference_rows() -> list[dict]:
    from attnlab.store import run_experiment

    rows, total = [], 0.0
    import tempfile

    with tempfile.TemporaryDirectory() as out:
        for name in REFERENCE_RUNS:
            start = time.perf_counter()
            run = run_experiment(name, out=out, plots=False)
            wall = time.perf_counter() - start
            total += wall
            rows.append(_row(f"{name} (full size)", wall, "s", "", None, run.result.status))
    rows.append(_row("five erf-slr reference runs", total, "s", "official code ≈ 74 min",
                     OFFICIAL_TOTAL_S / total, "wall time, compile included"))  # fmt: skip
    from attnlab.erf_slr._training import _run_block

    rows.append(_row("training programs compiled (five runs, this process)",
                     _run_block._cache_size(), "programs", "", None,
                     "one per kernel and state shape: PGD (4 coordinates) and the reduced SGD chain"))  # fmt: skip
    return rows


def run(quick: bool) -> list[dict]:
    """One dict per measurement (see the module docstring)."""
    rows = _pgd_rows(quick) + _sgd_rows(quick) + _heldout_rows(quick)
    if not quick:
        rows += _reference_rows()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (about a minute)")
    args = parser.parse_args()
    print(f"devices: {jax.devices()}")
    for r in run(args.quick):
        ratio = "" if r["ratio"] is None else f"  {r['ratio']:,.1f}× vs {r['reference']}"
        print(f"{r['benchmark']:52s} {r['value']:.4g} {r['unit']}{ratio}  ({r['note']})")


if __name__ == "__main__":
    main()
