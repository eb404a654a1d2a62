"""Throughput of the subspace simulators, against their references.

    PYTHONPATH=src python benchmarks/subspace.py [--quick]

Before timing, the exact reduced simulator is checked to have the law of the full one
(two-sample Kolmogorov–Smirnov tests of m_n), and the reduced PCA the law of PCA on the tokens.
Then, at the headline size (N = 10 100 tokens, d = 100, 30 seeds, float32):

1. the reduced simulator against its random-number floor: a compiled loop that draws exactly the
   random numbers of the simulator (3N normals, K signs and the χ² of the complement per step
   and seed) and nothing else; the ratio time/floor is the overhead of the arithmetic;
2. the reduced step compiled with XLA's own reductions (``jit_xla_reductions``) against the same
   loop with jax's default CPU fusions;
3. the reduced simulator against the full O(N·d) simulator (steps·seeds per second);
4. the full simulator against the straightforward per-seed numpy loop;
5. the exact reduced PCA against PCA of the replayed tokens.

``run(quick)`` returns one dict per measurement for ``benchmarks/run.py``. Compile time is
excluded (one warm-up call); each time is the best of three. No timing assertion anywhere.
"""

from __future__ import annotations

import argparse
import functools
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy import stats

from attnlab._jax import jax, jit_xla_reductions, jnp, optimization_barrier
from attnlab.precision import uses_jax
from attnlab.rng import replicate_keys, stream
from attnlab.subspace import (
    Full,
    Reduced,
    RobbinsMonro,
    SubspaceModel,
    pca_alignment,
    simulate,
    simulate_groups,
)
from attnlab.subspace._reduced import draw_step, step_gradient, update

HEADLINE = SubspaceModel()
SCHEDULE = RobbinsMonro()


def best_time(fn: Callable[[], Any], repeats: int = 3) -> float:
    """Best wall time of ``repeats`` calls after one warm-up call (compilation)."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def check_equal_in_law() -> str:
    """KS tests (p > 1e-3 at every logged step) of reduced vs full m_n and reduced vs token PCA."""
    model = SubspaceModel(d=12, K=5, M=40, theta=0.5)
    run = dict(steps=60, schedule=RobbinsMonro(c=2.0, n0=20.0), log_every=20)
    full = simulate(model, replicate_keys(0, 400), simulator=Full(), **run)
    red = simulate(model, replicate_keys(1, 400), simulator=Reduced(), **run)
    p_sim = min(stats.ks_2samp(full.m[:, j], red.m[:, j]).pvalue for j in (1, 2, 3))
    pmodel = SubspaceModel(d=10, K=4, M=20, theta=0.4)
    a = pca_alignment(pmodel, replicate_keys(0, 300), steps=30, log_every=10, simulator=Full())
    b = pca_alignment(pmodel, replicate_keys(1, 300), steps=30, log_every=10)
    p_pca = min(stats.ks_2samp(a[:, j], b[:, j]).pvalue for j in range(3))
    if min(p_sim, p_pca) < 1e-3:
        raise SystemExit(f"equality in law failed: KS p = {p_sim:.2g} (m_n), {p_pca:.2g} (PCA)")
    return f"KS p ≥ {min(p_sim, p_pca):.2g}"


@functools.lru_cache(maxsize=4)
def _floor_program(model: SubspaceModel, steps: int):
    """The simulator's draws for all seeds in a compiled loop, written to memory (an
    optimization barrier stops XLA from fusing them into the sum) and summed so none is
    dropped."""
    dt = jnp.float32

    @jax.jit
    def run(keys):
        def step(acc, n):
            draws = jax.vmap(
                lambda k: draw_step(
                    jax.random.fold_in(k, n), model.d, model.K, model.N, 1, model.sign, dt
                )
            )(keys)
            draws = optimization_barrier(draws)
            return acc + sum(x.sum(axis=tuple(range(1, x.ndim))) for x in draws), None

        return jax.lax.scan(step, jnp.zeros(keys.shape, dt), jnp.arange(steps))[0]

    return run


@uses_jax
def random_number_floor(model: SubspaceModel, keys: Any, steps: int) -> float:
    """Seconds to draw the random numbers of ``steps`` reduced steps for every key."""
    data = stream(keys, "data")
    run = _floor_program(model, steps)
    return best_time(lambda: run(data).block_until_ready())


def compile_option_ratio(model: SubspaceModel, keys: Any, steps: int) -> tuple[float, float]:
    """(time with jax's default CPU fusions, time with ``jit_xla_reductions``) of the same
    reduced-step loop (float32, all seeds in one program), after checking both give the same
    overlaps to float32 rounding."""
    dt = jnp.float32
    data, m0 = stream(keys, "data"), jnp.linspace(-0.5, 0.5, len(keys), dtype=dt)

    def loop(m, data):
        def step(m, n):
            draws = jax.vmap(
                lambda k: draw_step(
                    jax.random.fold_in(k, n), model.d, model.K, model.N, 1, model.sign, dt
                )
            )(data)
            g2, gc2, _ = step_gradient(
                m, draws, K=model.K, theta_d=model.theta_d, beta=model.beta, d=model.d
            )
            return update(m, g2, gc2, jnp.asarray(0.01, dt)), None

        return jax.lax.scan(step, m, jnp.arange(steps))[0]

    default, option = jax.jit(loop), jit_xla_reductions(loop)
    np.testing.assert_allclose(default(m0, data), option(m0, data), rtol=1e-5, atol=1e-6)
    return (
        best_time(lambda: default(m0, data).block_until_ready()),
        best_time(lambda: option(m0, data).block_until_ready()),
    )


def numpy_loop(steps: int, model: SubspaceModel, schedule: RobbinsMonro, seed: int = 0) -> float:
    """Plain per-seed Python loop of projected SGA (float32 tokens); returns m."""
    rng = np.random.default_rng(seed)
    d, K, td = model.d, model.K, model.theta_d
    u, q = rng.standard_normal(d), rng.standard_normal(d)
    u, q = u / np.linalg.norm(u), q / np.linalg.norm(q)
    for n in range(steps):
        X = rng.standard_normal((model.N, d), dtype=np.float32)
        X[:K] += (td * rng.choice([-1.0, 1.0], K))[:, None] * u[None, :]
        s = X @ q
        a = np.exp(s - s.max())
        a /= a.sum()
        y = X.T @ a
        g = 2 * (X.T @ (a * (X @ y)) - (y @ y) * y)
        q = q + float(schedule.step_sizes(n)) * (g - (q @ g) * q)
        q /= np.linalg.norm(q)
    return float(q @ u)


def shared_draws(keys: Any, steps: int) -> tuple[float, float, float]:
    """Three schedules over the same replicate keys: one after another, and as the groups of
    one :func:`simulate_groups` call (their draws made once per step); the two times and the
    largest difference of the overlaps (checked ≤ 1e-5 before timing)."""
    schedules = [SCHEDULE, RobbinsMonro(c=2 * SCHEDULE.c), RobbinsMonro(n0=10 * SCHEDULE.n0)]
    run = dict(steps=steps, simulator=Reduced(dtype="float32"), log_every=steps)

    def apart() -> list[Any]:
        return [simulate(HEADLINE, keys, schedule=s, **run) for s in schedules]

    def grouped() -> list[Any]:
        return simulate_groups([(HEADLINE, keys, s) for s in schedules], **run)

    same = max(float(np.abs(a.m - g.m).max()) for a, g in zip(apart(), grouped(), strict=True))
    if same > 1e-5:
        raise AssertionError(f"grouped schedules differ from separate runs by {same:.3g}")
    return best_time(apart), best_time(grouped), same


def _row(name: str, value: float, unit: str, reference: str, ratio: float | None, note: str):
    return {
        "benchmark": name,
        "value": value,
        "unit": unit,
        "reference": reference,
        "ratio": ratio,
        "note": note,
    }


def run(quick: bool) -> list[dict]:
    """One dict per measurement (see the module docstring)."""
    law = check_equal_in_law()
    seeds, steps = (8, 40) if quick else (30, 200)
    keys = replicate_keys(0, seeds)
    sim32 = dict(schedule=SCHEDULE, log_every=steps)
    t_red = best_time(
        lambda: simulate(HEADLINE, keys, steps=steps, simulator=Reduced(dtype="float32"), **sim32)
    )
    t_floor = random_number_floor(HEADLINE, keys, steps)
    t_default, t_option = compile_option_ratio(HEADLINE, keys, steps // 2)
    rate_red = seeds * steps / t_red
    full_steps = 4 if quick else 10
    t_full = best_time(
        lambda: simulate(
            HEADLINE,
            keys,
            steps=full_steps,
            log_every=full_steps,
            schedule=SCHEDULE,
            simulator=Full(dtype="float32"),
        )
    )
    rate_full = seeds * full_steps / t_full
    loop_steps = 2 if quick else 5
    rate_loop = loop_steps / best_time(lambda: numpy_loop(loop_steps, HEADLINE, SCHEDULE), 1)
    pca_model, pca_steps = HEADLINE, (50 if quick else 200)
    pca_keys = replicate_keys(0, 2)
    t_pca_red = best_time(lambda: pca_alignment(pca_model, pca_keys, steps=pca_steps, log_every=10))
    t_pca_full = best_time(
        lambda: pca_alignment(
            pca_model, pca_keys, steps=pca_steps, log_every=10, simulator=Full(dtype="float32")
        ),
        1,
    )
    t_apart, t_grouped, same = shared_draws(keys, steps)
    size = f"N = {HEADLINE.N}, d = {HEADLINE.d}, {seeds} seeds, float32; {law}"
    return [
        _row(
            "subspace reduced, 3 schedules on shared draws",
            3 * seeds * steps / t_grouped,
            "steps·seeds/s",
            "the 3 schedules one after another",
            t_apart / t_grouped,
            f"simulate_groups (the subspace-schedule runs); same overlaps (largest difference "
            f"{same:.1g}); {size}",
        ),
        _row(
            "subspace reduced simulator",
            rate_red,
            "steps·seeds/s",
            "random-number floor (the same draws, no arithmetic)",
            t_floor / t_red,
            f"time/floor = {t_red / t_floor:.2f} (target ≤ 1.5); {size}",
        ),
        _row(
            "subspace reduced step, XLA reductions",
            seeds * (steps // 2) / t_option,
            "steps·seeds/s",
            "the same loop with jax's default CPU fusions (YNNPACK reductions)",
            t_default / t_option,
            f"one program, all seeds (no threads); same overlaps checked; {size}",
        ),
        _row(
            "subspace full simulator",
            rate_full,
            "steps·seeds/s",
            "reduced simulator",
            rate_full / rate_red,
            f"O(N·d) per step; {size}",
        ),
        _row(
            "subspace full simulator vs loop",
            rate_full,
            "steps·seeds/s",
            "per-seed numpy loop",
            rate_full / rate_loop,
            f"loop {rate_loop:.3g} steps/s",
        ),
        _row(
            "subspace reduced PCA",
            2 * pca_steps / t_pca_red,
            "steps·seeds/s",
            "PCA of the replayed tokens",
            t_pca_full / t_pca_red,
            f"exact Wishart law, O(d³) per logged block; {pca_steps} steps, 2 seeds",
        ),
    ]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer seeds and steps (seconds)")
    args = ap.parse_args()
    print(f"subspace benchmarks — {os.cpu_count()} cores, devices {jax.devices()}")
    for r in run(args.quick):
        ratio = "" if r["ratio"] is None else f"  ratio {r['ratio']:.3g} vs {r['reference']}"
        print(f"{r['benchmark']:<34} {r['value']:>12.4g} {r['unit']}{ratio}\n    {r['note']}")


if __name__ == "__main__":
    main()
