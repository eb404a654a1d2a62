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
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    if args.quick:
        dims, K, M, seeds, steps, loop_seeds, loop_steps = (100, 1000), 20, 1000, 8, 20, 2, 10
    else:
        dims, K, M, seeds, steps, loop_seeds, loop_steps = (
            (100, 1000, 10_000),
            100,
            10_000,
            8,
            20,
            2,
            5,
        )
    common = dict(K=K, M=M, theta=0.25, c=9.0, n0=30.0)
    print(
        f"N = {K + M} tokens; full: {seeds} seeds x {steps} steps (float32); "
        f"loop: {loop_seeds} x {loop_steps}; reduced: {seeds} x {steps * 10}"
    )
    print(
        f"{'d':>6} {'full/s':>10} {'loop/s':>10} {'reduced/s':>10} "
        f"{'full/loop':>10} {'red/full':>10}"
    )
    for d in dims:
        # the full run at d = 10^4 is ~N·d = 10^8 normals per seed-step: fewer seeds there
        s_full = seeds if d * (K + M) <= 2e7 else 2
        kw = dict(d=d, steps=steps, log_every=steps, dtype=jnp.float32, **common)
        simulate_sga(replicate_keys(0, s_full), **kw)  # compile
        full = s_full * steps / timed(simulate_sga, replicate_keys(1, s_full), **kw)
        loop = loop_seeds * loop_steps / timed(numpy_loop, loop_seeds, loop_steps, d=d, **common)
        rkw = dict(kw, steps=steps * 10, log_every=steps * 10)
        simulate_reduced(replicate_keys(0, seeds), **rkw)
        red = seeds * steps * 10 / timed(simulate_reduced, replicate_keys(1, seeds), **rkw)
        print(
            f"{d:>6} {full:>10.1f} {loop:>10.1f} {red:>10.1f} {full / loop:>10.2f} "
            f"{red / full:>10.1f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
