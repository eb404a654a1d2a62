"""Throughput of SLR part B: replica fixed points along an alpha grid, ERM fits per second.

    PYTHONPATH=src python benchmarks/slr_replica.py [--quick]

* replica: fixed points per second along a 50-point alpha grid (continuation, warm starts,
  vmapped Newton prox) vs solving each alpha from a cold start;
* baseline for the replica: one channel evaluation (all prox problems of the Monte-Carlo
  sample) with the vectorised Newton prox vs the straightforward per-example Python loop
  calling scipy.optimize.minimize (timed on a slice, extrapolated);
* ERM: L-BFGS fits per second at D in {250, 1000} (jitted value_and_grad), and the cost of one
  objective+gradient evaluation jitted vs un-jitted (op-by-op jax).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from attnlab._jax import jax
from attnlab.gslr._data import sample_slr, sample_teacher
from attnlab.gslr._erm import fit_erm
from attnlab.gslr._replica import ReplicaSolver


def bench_replica(n_alpha: int, n_mc: int) -> None:
    alphas = np.linspace(0.5, 20.0, n_alpha)
    solver = ReplicaSolver("softmax", nu=2.0, L=3, n_mc=n_mc)
    solver.solve(alpha=float(alphas[0]), r=0.1, start="informed")  # compile
    t = time.perf_counter()
    warm = solver.initial_state("informed")
    conv = 0
    for a in alphas:
        p = solver.solve(alpha=float(a), r=0.1, start=warm, raise_on_failure=False)
        if p.converged:
            warm = p.state()
            conv += 1
    dt = time.perf_counter() - t
    print(
        f"replica (softmax, spiked nu=2, L=3, n_mc={n_mc}): {n_alpha} alphas, continuation: "
        f"{n_alpha / dt:.2f} fixed points/s ({conv} converged, {dt:.1f} s)"
    )
    k = max(2, n_alpha // 10)
    t = time.perf_counter()
    for a in alphas[:k]:
        solver.solve(alpha=float(a), r=0.1, start="informed", raise_on_failure=False)
    dt_cold = (time.perf_counter() - t) / k
    print(f"  cold start per alpha: {1 / dt_cold:.2f} fixed points/s (first {k} alphas)")


def bench_prox_baseline(n_mc: int, n_loop: int) -> None:
    import scipy.optimize as so

    from attnlab._jax import jnp
    from attnlab.gslr._activations import softmax_activation

    solver = ReplicaSolver("softmax", nu=2.0, L=3, n_mc=n_mc)
    x = solver.initial_state("informed")
    solver._map(x, 5.0, 0.5)  # compile
    t = time.perf_counter()
    solver._map(x, 5.0, 0.5, full=True)
    dt_vec = time.perf_counter() - t
    y, chis, zs, g, gp, mask = (np.asarray(a) for a in solver._samples)
    m_k, q_k, V_k, m_v, q_v, V_v = x

    def G(c, i):
        s = np.asarray(softmax_activation(jnp.asarray(c[None]), jnp.asarray(mask[i][None])))[0]
        omk = m_k * chis[i] + np.sqrt(q_k - m_k**2) * g[i]
        omv = m_v * zs[i] + np.sqrt(q_v - m_v**2) * gp[i]
        num = y[i] - s @ omv
        return 0.5 * num**2 / (1 + V_v * s @ s) + 0.5 * np.sum((c - omk) ** 2) / V_k

    t = time.perf_counter()
    for i in range(n_loop):
        so.minimize(G, m_k * chis[i] + np.sqrt(q_k - m_k**2) * g[i], args=(i,), method="BFGS")
    dt_loop = (time.perf_counter() - t) / n_loop * n_mc
    print(
        f"prox of {n_mc} effective examples: vectorised multi-start Newton {dt_vec:.2f} s, "
        f"per-example scipy loop {dt_loop:.1f} s (extrapolated from {n_loop}): "
        f"x{dt_loop / dt_vec:.0f}"
    )


def bench_erm(dims: list[int], alpha: float, repeats: int) -> None:
    for D in dims:
        key = jax.random.key(D)
        T = sample_teacher(key, dim=D)
        data = sample_slr(jax.random.fold_in(key, 1), n=int(alpha * D), teacher=T, nu=2.0, L=3)
        fit_erm(data, activation="softmax", r=0.1, init="informed", teacher=T, nu=2.0)
        t = time.perf_counter()
        its = 0
        for s in range(repeats):
            f = fit_erm(
                data, activation="softmax", r=0.1, init="random", key=jax.random.key(s), nu=2.0
            )
            its += f.n_iter
        dt = (time.perf_counter() - t) / repeats
        print(
            f"ERM softmax D={D} alpha={alpha:g} (N={int(alpha * D)}, sqrt(ND)="
            f"{np.sqrt(alpha) * D:.0f}): {1 / dt:.2f} fits/s ({its / repeats:.0f} L-BFGS its/fit)"
        )
        from attnlab._jax import jnp
        from attnlab.gslr._activations import softmax_activation
        from attnlab.gslr._erm import _value_and_grad

        vg = _value_and_grad(softmax_activation)
        p0 = jnp.ones(2 * D)
        vg(p0, data.X, data.y, data.mask, 0.1)[0].block_until_ready()
        t = time.perf_counter()
        for _ in range(5):
            vg(p0, data.X, data.y, data.mask, 0.1)[0].block_until_ready()
        dj = (time.perf_counter() - t) / 5
        with jax.disable_jit():
            vg(p0, data.X, data.y, data.mask, 0.1)[0].block_until_ready()  # per-op warm-up
            t = time.perf_counter()
            vg(p0, data.X, data.y, data.mask, 0.1)[0].block_until_ready()
            dn = time.perf_counter() - t
        print(f"  objective+gradient: jitted {dj * 1e3:.1f} ms, un-jitted {dn * 1e3:.1f} ms")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true")
    p.add_argument("--only", choices=["replica", "erm"], default=None)
    args = p.parse_args()
    if args.only == "erm":
        bench_erm([250] if args.quick else [250, 1000], 4.0 if args.quick else 10.0, 2)
        return
    if args.quick:
        bench_replica(8, 1000)
        bench_prox_baseline(1000, 20)
        bench_erm([250], 4.0, 2)
    else:
        bench_replica(50, 4000)
        bench_prox_baseline(4000, 40)
        bench_erm([250, 1000], 10.0, 3)


if __name__ == "__main__":
    main()
