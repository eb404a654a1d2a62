"""Throughput of the subspace simulators (steps·seeds per second).

    PYTHONPATH=src python benchmarks/subspace.py [--quick]

For d in {100, 1000, 10000} (quick: {100, 1000} at smaller N, seeds, steps):
  1. full simulator (vmap over seeds + lax.scan over steps, compiled once; compile time excluded);
  2. the straightforward per-seed Python loop of the same update in numpy (same model, own RNG);
  3. the exact reduced simulator (O(N) per step, independent of d).
Prints steps·seeds/s and the ratios full/loop and reduced/full. No timing asserts anywhere.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from attnlab._jax import jnp
from attnlab.rng import replicate_keys
from attnlab.subspace import simulate_reduced, simulate_sga


def numpy_loop(seeds, steps, *, d, K, M, theta, c, n0, seed=0):
    """Plain per-seed Python loop of projected SGA (float32 tokens, like the jax run)."""
    rng = np.random.default_rng(seed)
    td = theta * np.sqrt(d)
    out = []
    for _ in range(seeds):
        u = rng.standard_normal(d)
        u /= np.linalg.norm(u)
        q = rng.standard_normal(d)
        q /= np.linalg.norm(q)
        for n in range(steps):
            X = rng.standard_normal((K + M, d), dtype=np.float32)
            X[:K] += (td * rng.choice([-1.0, 1.0], K))[:, None] * u[None, :]
            s = X @ q
            a = np.exp(s - s.max())
            a /= a.sum()
            y = X.T @ a
            g = 2 * (X.T @ (a * (X @ y)) - (y @ y) * y)
            g -= (q @ g) * q
            q = q + c / (n + n0) * g
            q /= np.linalg.norm(q)
        out.append(q @ u)
    return np.array(out)


def timed(fn, *args, **kw):
    t0 = time.perf_counter()
    fn(*args, **kw)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="N = 1020, d in {100, 1000}")
    args = ap.parse_args()
    K, M = (20, 1000) if args.quick else (100, 10_000)
    dims = (100, 1000) if args.quick else (100, 1000, 10_000)
    N = K + M
    common = dict(K=K, M=M, theta=0.25, c=9.0, n0=30.0)
    budget = 2e7 if args.quick else 1.6e8  # token-coordinates (N·d·seeds·steps) per full case
    print(
        f"N = {N} tokens, float32 tokens everywhere; compile time excluded; machine: "
        f"{os.cpu_count()} cores (shared)"
    )
    print(
        f"{'d':>6} {'full/s':>10} {'loop/s':>10} {'reduced/s':>10} "
        f"{'full/loop':>10} {'red/full':>10}   (steps·seeds per second)"
    )
    for d in dims:
        per = N * d
        seeds_f = int(min(8, max(1, budget / per / 4)))
        steps_f = int(max(2, min(20, budget / per / seeds_f)))
        kw = dict(d=d, steps=steps_f, log_every=steps_f, dtype=jnp.float32, **common)
        simulate_sga(replicate_keys(0, seeds_f), **kw)  # compile
        full = seeds_f * steps_f / timed(simulate_sga, replicate_keys(1, seeds_f), **kw)
        steps_l = int(max(1, min(10, budget / 4 / per)))
        loop = steps_l / timed(numpy_loop, 1, steps_l, d=d, **common)
        rkw = dict(kw, steps=200, log_every=200)
        simulate_reduced(replicate_keys(0, 8), **rkw)
        red = 8 * 200 / timed(simulate_reduced, replicate_keys(1, 8), **rkw)
        print(
            f"{d:>6} {full:>10.2f} {loop:>10.2f} {red:>10.1f} {full / loop:>10.2f} "
            f"{red / full:>10.1f}   [full {seeds_f}x{steps_f}, loop 1x{steps_l}, "
            f"reduced 8x200]",
            flush=True,
        )


if __name__ == "__main__":
    main()
