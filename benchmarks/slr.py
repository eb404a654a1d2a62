"""Throughput of SLR part A projected GD: seeds·steps per second.

    PYTHONPATH=src python benchmarks/slr.py [--quick]

Compares (same update, same float64 trajectories):
  * 4-coordinate PGD (span{k*, v*, k0, v0}; cost independent of d), vmapped over seeds + scan,
  * full-d PGD (d-dimensional vectors), vmapped over seeds + scan,
  * a plain per-seed Python loop of the full-d update (one jitted step per call),
and online SGD (d = 80, batch 5) with the exact-in-law projected batch gradient vs the direct
sampler. Compile time is excluded (each function is run once before timing).
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

from attnlab._jax import jax
from attnlab.erf_slr._train import (
    make_problem,
    pgd_coordinates,
    pgd_full,
    pgd_full_python_loop,
    sgd_online,
    to_coordinates,
)

GAMMA = math.sqrt(0.5)


def _timed(fn, *args, **kwargs):
    fn(*args, **kwargs)  # compile / warm up
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    jax.block_until_ready(out[0])
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (seconds)")
    args = parser.parse_args()
    if args.quick:
        n_seeds, d, steps, loop_seeds, loop_steps, sgd_steps = 8, 400, 2000, 2, 200, 500
    else:
        n_seeds, d, steps, loop_seeds, loop_steps, sgd_steps = 30, 400, 20_000, 2, 2000, 5000
    common = dict(L=10, gamma=GAMMA, lam0=1.0, step_size=4e-3, schedule=True)
    pr = make_problem(0, n_seeds, d=d, init="sphere")
    ck, cv = to_coordinates(pr.frame, pr.k0), to_coordinates(pr.frame, pr.v0)

    t_coord = _timed(pgd_coordinates, ck, cv, d=d, steps=steps, log_every=steps // 10, **common)
    t_full = _timed(pgd_full, pr.k0, pr.v0, k_star=pr.k_star, v_star=pr.v_star, steps=steps,
                    log_every=steps // 10, **common)  # fmt: skip
    sl = slice(0, loop_seeds)
    t_loop = _timed(pgd_full_python_loop, pr.k0[sl], pr.v0[sl], k_star=pr.k_star[sl],
                    v_star=pr.v_star[sl], steps=loop_steps, **common)  # fmt: skip
    rate = {
        "4-coordinate PGD (vmap+scan)": n_seeds * steps / t_coord,
        "full-d PGD (vmap+scan)": n_seeds * steps / t_full,
        "full-d PGD, per-seed Python loop": loop_seeds * loop_steps / t_loop,
    }
    print(f"PGD, d={d}, L=10, {n_seeds} seeds x {steps} steps (loop: {loop_seeds} x {loop_steps})")
    for name, r in rate.items():
        print(f"  {name:36s} {r:14,.0f} seed-steps/s")
    base = rate["full-d PGD, per-seed Python loop"]
    print(
        f"  ratio 4-coordinate / Python loop: {rate['4-coordinate PGD (vmap+scan)'] / base:,.0f}x"
    )
    print(f"  ratio full-d vmap+scan / Python loop: {rate['full-d PGD (vmap+scan)'] / base:,.0f}x")
    print(
        f"  ratio 4-coordinate / full-d: {rate['4-coordinate PGD (vmap+scan)'] / rate['full-d PGD (vmap+scan)']:.1f}x"
    )
    ref_steps = [20_000, 120_000, 20_000, 120_000]
    est = 30 * sum(ref_steps) / rate["4-coordinate PGD (vmap+scan)"]
    print(f"  -> the four PGD reference runs (30 seeds) need ~{est:.0f} s of stepping")

    sgd = {}
    sgd_seeds = n_seeds  # all seeds in one vmapped batch, as slr-sgd runs them
    for method in ("projected", "direct"):
        t = _timed(sgd_online, 0, sgd_seeds, d=80, L=10, gamma=GAMMA, eps=0.1, lam0=2.0,
                   step_size=1e-3, steps=sgd_steps, log_every=sgd_steps, seed_chunk=sgd_seeds,
                   method=method)  # fmt: skip
        sgd[method] = sgd_seeds * sgd_steps / t
    print(f"online SGD, d=80, batch 5, {sgd_seeds} seeds x {sgd_steps} steps (incl. test-set draw)")
    for name, r in sgd.items():
        print(f"  {name:36s} {r:14,.0f} seed-steps/s")
    print(f"  ratio projected / direct: {sgd['projected'] / sgd['direct']:.1f}x")
    print(
        f"  -> slr-sgd ({sgd_seeds} seeds x 200k steps) would need ~"
        f"{sgd_seeds * 200_000 / sgd['projected']:.0f} s at this rate"
    )
    np.testing.assert_array_less(0, list(rate.values()))


if __name__ == "__main__":
    main()
