"""Throughput of the gslr family: GAMP, the replica fixed point and ERM.

    PYTHONPATH=src python benchmarks/gslr.py [--quick]

Replica (softmax, spiked ν = 2, L = 3, r = 0.1, n_mc = 4000): one fixed point from a cold start
and a 50-point α-curve by continuation, after checking that the accelerated iteration reaches
the same fixed point as the plain damped one at a tight tolerance; compared with the family's
previous solver (about 4 s per point on the 2-core machine, a measured constant). The
replicon's Jacobian pass (used at every point of ``slr-init``) compiled once, against a closure
compiled at every call, after checking that both give the same per-example terms.

ERM (softmax, D = 1000, α = 10, L = 3): first the compiled L-BFGS is checked against scipy's
L-BFGS-B on the same objective (same minimum); then the time of one L-BFGS iteration over the
time of one evaluation of the value and gradient (one forward and one backward pass over the
tokens, the floor of any first-order method), in float64 and float32; fits per second against
the previous 0.06 fits/s (scipy L-BFGS-B, float64, measured on the 2-core machine); and the
iterations saved by warm starts along an α grid.

``run(quick)`` returns one dict per measurement (``benchmark``, ``value``, ``unit``,
``reference``, ``ratio``: > 1 is faster than the reference, ``note``).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

from attnlab._jax import jax, jnp
from attnlab.gslr import (
    LBFGS,
    GSLRModel,
    InformedInit,
    RandomInit,
    ReplicaOptions,
    ReplicaSolver,
    fit_erm,
    resolve_activation,
    sample_data,
    sample_teacher,
)
from attnlab.gslr._erm import _value_and_grad
from attnlab.precision import uses_jax
from attnlab.rng import root_key, stream

OLD_REPLICA_S_PER_POINT = 4.0  # the previous solver, 2-core machine
OLD_ERM_FITS_PER_S = 0.06  # scipy L-BFGS-B, float64, D = 1000, α = 10


def _row(name: str, value: float, unit: str, reference: str, ratio: Any, note: str) -> dict:
    return {
        "benchmark": name,
        "value": float(value),
        "unit": unit,
        "reference": reference,
        "ratio": None if ratio is None else float(ratio),
        "note": note,
    }


def _timed(fn: Any, *args: Any, repeats: int) -> float:
    """Mean seconds per call of ``fn(*args)`` over ``repeats`` calls, after one warm-up."""
    jax.block_until_ready(fn(*args))
    t = time.perf_counter()
    for _ in range(repeats):
        jax.block_until_ready(fn(*args))
    return (time.perf_counter() - t) / repeats


def bench_replica(quick: bool) -> list[dict]:
    n_mc, n_alpha = (1000, 8) if quick else (4000, 50)
    model = GSLRModel(nu=2.0, L=3)
    key = root_key(0)
    options = ReplicaOptions(n_mc=n_mc)
    solver = ReplicaSolver(model, "softmax", key, options=options)
    t = time.perf_counter()
    solver.solve(alpha=5.0, r=0.1, start="informed")
    compile_s = time.perf_counter() - t
    # the same fixed point as the plain damped iteration at a 100x tighter tolerance
    damped = ReplicaSolver(
        model, "softmax", key, options=options.replace(anderson=0, tol=1e-6, max_iter=5000)
    )
    ref = damped.solve(alpha=5.0, r=0.1, start="informed")
    t = time.perf_counter()
    fast = solver.solve(alpha=5.0, r=0.1, start="informed")
    one = time.perf_counter() - t
    np.testing.assert_allclose(fast.state(), ref.state(), rtol=2e-3)
    np.testing.assert_allclose(fast.test_error, ref.test_error, atol=1e-3)
    alphas = np.linspace(0.5, 20.0, n_alpha)
    t = time.perf_counter()
    warm: Any = "informed"
    converged = 0
    for a in alphas:
        p = solver.solve(alpha=float(a), r=0.1, start=warm, raise_on_failure=False)
        if p.converged:
            warm, converged = p, converged + 1
    curve = time.perf_counter() - t
    where = f"softmax, spiked ν=2, L=3, r=0.1, n_mc={n_mc}"
    return _replicon_rows(solver, fast, where) + [
        _row(
            "replica: one fixed point (cold start)",
            one,
            "s",
            "previous solver, 4 s/point",
            OLD_REPLICA_S_PER_POINT / one,
            f"{where}; {fast.n_iter} iterations; compile {compile_s:.1f} s once per activation",
        ),
        _row(
            f"replica: {n_alpha}-point α-curve (continuation)",
            curve,
            "s",
            "previous solver, 4 s/point",
            OLD_REPLICA_S_PER_POINT * n_alpha / curve,
            f"{where}; {converged}/{n_alpha} converged; same fixed point as the damped "
            "iteration at tol 1e-6 (checked)",
        ),
    ]


@uses_jax
def _replicon_rows(solver: ReplicaSolver, point: Any, where: str) -> list[dict]:
    """The replicon's Jacobian pass compiled once (the library) against a fresh closure
    compiled at every call (the previous code): same per-example terms, then the times."""
    from attnlab.gslr._prox import channel_jacobian
    from attnlab.gslr._stability import _per_example, _per_example_terms

    solver.solve(alpha=point.alpha, r=point.r, start=point)  # restores the prox points
    state, chi = jnp.asarray(point.state()), solver._chi
    n_newton, prox_tol, L = 4 * solver.options.n_newton, solver.options.prox_tol, chi.shape[1]

    def previous() -> Any:
        def one(sample: tuple, c: Any) -> tuple[Any, Any]:
            J, ok = channel_jacobian(solver.sigma, state, sample, c, n_newton, prox_tol)
            return _per_example(J, L), ok

        return jax.block_until_ready(jax.jit(jax.vmap(one))(solver._samples, chi))

    def compiled() -> Any:
        out = _per_example_terms(solver.sigma, n_newton, state, solver._samples, chi, prox_tol)
        return jax.block_until_ready(out)

    ref, fast = previous(), compiled()
    np.testing.assert_array_equal(np.asarray(fast[1]), np.asarray(ref[1]))
    # up to rounding (the two compilations fold constants differently; the prox Newton
    # iteration is stopped at stationarity 1e-6, so the terms agree to about that)
    np.testing.assert_allclose(np.asarray(fast[0]), np.asarray(ref[0]), rtol=1e-5, atol=1e-8)
    t = time.perf_counter()
    previous()
    before = time.perf_counter() - t
    t = time.perf_counter()
    compiled()
    after = time.perf_counter() - t
    t = time.perf_counter()
    value = solver.replicon(point).eigenvalue
    whole = time.perf_counter() - t
    return [
        _row(
            "replica: replicon Jacobian pass (compiled once)",
            after,
            "s",
            "a closure compiled at every point",
            before / after,
            f"{where}; same per-example terms (checked); {before:.2f} s per point before; "
            f"whole replicon with its re-solve {whole:.2f} s (λ_R = {value:.3f})",
        )
    ]


@uses_jax
def _pass_time(data: Any, repeats: int) -> float:
    vg = jax.jit(_value_and_grad(resolve_activation("softmax")))
    args = (jnp.asarray(data.X), jnp.asarray(data.y), jnp.asarray(data.mask), jnp.ones(data.n), 0.1)
    return _timed(vg, 0.1 * jnp.ones(2 * data.dim), *args, repeats=repeats)


@uses_jax
def _check_against_scipy(model: GSLRModel) -> float:
    """Same minimum as scipy's L-BFGS-B on the same objective (D = 150, α = 4)."""
    from scipy.optimize import minimize

    teacher = sample_teacher(model, root_key(5), dim=150)
    data = sample_data(model, root_key(6), teacher, n=600)
    fit = fit_erm(model, data, r=0.5, init=InformedInit(), teacher=teacher)
    vg = jax.jit(_value_and_grad(resolve_activation("softmax")))
    args = (jnp.asarray(data.X), jnp.asarray(data.y), jnp.asarray(data.mask), jnp.ones(600), 0.5)

    def fun(x: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad = vg(jnp.asarray(x), *args)
        return float(value), np.asarray(grad, dtype=float)

    x0 = np.concatenate([min(model.signal_scale, 5.0) * teacher.k, teacher.v])
    ref = minimize(
        fun,
        x0,
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": 5000, "gtol": 1e-8, "ftol": 1e-14, "maxcor": 20},
    )
    np.testing.assert_allclose(fit.objective, ref.fun, rtol=1e-9)
    return abs(fit.objective - ref.fun) / ref.fun


def bench_erm(quick: bool) -> list[dict]:
    D, alpha = (250, 4.0) if quick else (1000, 10.0)
    model = GSLRModel(nu=2.0, L=3)
    gap = _check_against_scipy(model)
    teacher = sample_teacher(model, root_key(1), dim=D)
    rows = []
    for dtype in ("float64", "float32"):
        data = sample_data(model, root_key(2), teacher, n=int(alpha * D), dtype=dtype)
        fit_erm(model, data, r=0.1, init=RandomInit(), key=root_key(3), solver=LBFGS(max_iter=2))
        t = time.perf_counter()
        fit = fit_erm(model, data, r=0.1, init=RandomInit(), key=root_key(3))
        seconds = time.perf_counter() - t
        one_pass = _pass_time(data, 3 if quick else 5)
        per_iter = seconds / fit.n_iter
        rows.append(
            _row(
                f"ERM ({dtype}): one L-BFGS iteration / one data pass",
                per_iter / one_pass,
                "×",
                "one data pass (a value-and-gradient evaluation)",
                one_pass / per_iter,  # > 1/1.5: an iteration within 1.5 passes (the target)
                f"D={D}, α={alpha:g}, N·L·D={int(alpha * D) * 3 * D:.3g}; {fit.n_iter} "
                f"iterations, {fit.n_eval} evaluations; pass {one_pass * 1e3:.1f} ms",
            )
        )
        rows.append(
            _row(
                f"ERM ({dtype}): fits per second",
                1 / seconds,
                "fits/s",
                "scipy L-BFGS-B float64, 0.06 fits/s at D=1000, α=10",
                None if quick else seconds**-1 / OLD_ERM_FITS_PER_S,
                f"same minimum as scipy's L-BFGS-B (relative gap {gap:.1e}, checked at D=150)",
            )
        )
    rows.append(_warm_starts(model, 150 if quick else 400))
    return rows


def _warm_starts(model: GSLRModel, D: int) -> dict:
    teacher = sample_teacher(model, root_key(7), dim=D)
    grid = [2.0, 5.0, 10.0, 20.0]
    data = sample_data(model, root_key(8), teacher, n=int(grid[-1] * D))
    cold = warm = 0
    previous = None
    for a in grid:
        part = data.head(int(a * D))
        fresh = fit_erm(model, part, r=0.5, init=RandomInit(), key=stream(root_key(9), str(a)))
        start = previous or RandomInit()
        chained = fit_erm(model, part, r=0.5, init=start, key=stream(root_key(9), str(a)))
        np.testing.assert_allclose(chained.objective, fresh.objective, rtol=1e-7)
        cold, warm, previous = cold + fresh.n_iter, warm + chained.n_iter, chained
    return _row(
        "ERM: L-BFGS iterations along an α grid, warm starts",
        warm,
        "iterations",
        "random starts at every α",
        cold / warm,
        f"D={D}, α ∈ {grid}, r=0.5: {cold} iterations from random starts; same minima",
    )


def _pointwise_posterior(om, mask, V, nu, n_nodes, n_fine):
    """The reference max-SLR position posterior: the same trapezoid as
    :func:`attnlab.gslr._bayes_channel.position_posterior`, each table value interpolated
    pointwise (one scalar gather per node and token pair), in 2048-sample chunks (how the
    family's previous implementation read the table)."""
    from attnlab.gslr._bayes_channel import gumbel_gauss_tables

    (lo, h), F, f = gumbel_gauss_tables(V, nu, n_fine=n_fine)
    hy = h * (n_fine - 1) / (n_nodes - 1)
    y = lo + jnp.arange(n_nodes) * hy

    def interp(x):
        u = (x - lo) / h
        i0 = jnp.clip(jnp.floor(u), 0, n_fine - 2).astype(jnp.int32)
        w = jnp.clip(u - i0, 0.0, 1.0)
        inside = (u >= 0) & (u <= n_fine - 1)
        Fx = jnp.where(inside, F[i0] * (1 - w) + F[i0 + 1] * w, jnp.where(u < 0, 0.0, 1.0))
        return Fx, jnp.where(inside, f[i0] * (1 - w) + f[i0 + 1] * w, 0.0)

    wy = (interp(y)[1] * hy).at[0].multiply(0.5).at[-1].multiply(0.5)
    L = om.shape[-1]
    others = np.array([[m for m in range(L) if m != l] for l in range(L)])

    def chunk(args):
        o, mk = args
        Fx, fx = interp(y + (o[:, :, None] - o[:, others])[..., None])
        active = mk[:, others][..., None]
        Fx, fx = jnp.where(active, Fx, 1.0), jnp.where(active, fx, 0.0)
        p = jnp.where(mk, jnp.sum(jnp.prod(Fx, axis=2) * wy, axis=-1), 0.0)
        rest = jnp.stack([jnp.prod(jnp.delete(Fx, j, axis=2), axis=2) for j in range(L - 1)], 2)
        return p, jnp.where(mk[:, :, None], -jnp.sum(fx * rest * wy, axis=-1), 0.0)

    n, b = om.shape[0], 2048
    pad = -n % b
    o = jnp.pad(om, ((0, pad), (0, 0))).reshape(-1, b, L)
    mk = jnp.pad(mask, ((0, pad), (0, 0)), constant_values=True).reshape(-1, b, L)
    p, Jo = jax.lax.map(chunk, (o, mk))
    return p.reshape(-1, L)[:n], Jo.reshape(-1, L, L - 1)[:n]


@uses_jax
def bench_position_posterior(quick: bool) -> list[dict]:
    """Max-SLR position posterior (the state evolution's and GAMP's max channel) on 20 000
    examples, L = 3, 128 nodes: table windows against pointwise interpolation, checked equal
    (same quadrature, 1e-12) before timing."""
    from attnlab.gslr._bayes_channel import position_posterior

    n, L, nodes = (4000 if quick else 20_000), 3, 128
    k = -(-2047 // (nodes - 1))
    om = 0.8 * jax.random.normal(root_key(11), (n, L))
    mask = jax.random.uniform(root_key(12), (n, L)) < 0.9
    fast = jax.jit(lambda o, m, V, nu: position_posterior(o, m, V, nu, n_nodes=nodes))
    ref = jax.jit(lambda o, m, V, nu: _pointwise_posterior(o, m, V, nu, nodes, (nodes - 1) * k + 1))
    p, J = fast(om, mask, 0.3, 10.0)
    p_ref, Jo_ref = ref(om, mask, 0.3, 10.0)
    others = np.array([[m for m in range(L) if m != l] for l in range(L)])
    np.testing.assert_allclose(p, p_ref, atol=1e-12)
    np.testing.assert_allclose(np.take_along_axis(np.asarray(J), others[None], 2), Jo_ref,
                               atol=1e-12)  # fmt: skip
    times = [_timed(f, om, mask, 0.3, 10.0, repeats=3) for f in (fast, ref)]
    return [
        _row(
            "max-SLR position posterior (state evolution / GAMP channel)",
            times[0],
            "s",
            "pointwise interpolation, same quadrature",
            times[1] / times[0],
            f"{n} examples, L={L}, {nodes} nodes, V=0.3, ν=10; equal to 1e-12 (checked)",
        )
    ]


@uses_jax
def bench_gamp(quick: bool) -> list[dict]:
    """GAMP (spiked ν = 2, L = 3, D = 1000): the transposed product of one step as a
    ``dot_general`` into (2, D) against the ``einsum`` into (D, 2) it replaced, checked equal
    first; one step against its floor (the forward and the transposed product alone); and the
    time of the test error drawn as projections (its law is tested in tests/gslr)."""
    from attnlab.gslr._gamp import GAMPOptions, _make_step, _teacher_and_data, _test_error

    D, alpha = 1000, (2.0 if quick else 8.0)
    model = GSLRModel(nu=2.0, L=3, delta=0.1)
    Wstar, X, y, mask = _teacher_and_data(model, root_key(21), D, int(alpha * D))
    g = jax.random.normal(root_key(22), X.shape[:2] + (2,))
    W = 0.5 * Wstar
    forward = jax.jit(lambda X, Wt: jax.lax.dot_general(X, Wt, (((2,), (1,)), ((), ()))))
    einsum = jax.jit(lambda X, g: jnp.einsum("nld,nla->da", X, g))
    dot = jax.jit(lambda X, g: jax.lax.dot_general(g, X, (((0, 1), (0, 1)), ((), ()))))
    np.testing.assert_allclose(dot(X, g).T, einsum(X, g), rtol=1e-10, atol=1e-9)
    repeats = 3 if quick else 10
    t_einsum, t_dot = _timed(einsum, X, g, repeats=repeats), _timed(dot, X, g, repeats=repeats)
    floor = _timed(forward, X, W.T, repeats=repeats) + t_dot
    step = _make_step("spiked", 64)
    c, A = jnp.full(2, 0.5), jnp.ones(2)
    t_step = _timed(step, W.T, c, g, A, X, y, mask, 2.0, 0.1, 2.0 * alpha, 0.3, repeats=repeats)
    opts = GAMPOptions()
    t_test = _timed(lambda: _test_error(model, root_key(23), Wstar, W, c, opts), repeats=repeats)
    where = f"N={int(alpha * D)}, L=3, D={D}"
    return [
        _row(
            "GAMP: transposed product Xᵀg",
            t_dot,
            "s",
            "the same product as an einsum",
            t_einsum / t_dot,
            f"{where}; equal to 1e-10 (checked)",
        ),
        _row(
            "GAMP: one step / its two products",
            t_step / floor,
            "×",
            "forward product X W and transposed product Xᵀg",
            None,
            f"{where}; step {t_step * 1e3:.1f} ms, products {floor * 1e3:.1f} ms",
        ),
        _row(
            "GAMP: test error from projections",
            t_test,
            "s",
            "",
            None,
            f"{opts.n_test} fresh examples drawn as projections on [W, W*] (O(n L), not O(n L D))",
        ),
    ]


def run(quick: bool) -> list[dict]:
    """Every measurement of the family (module docstring)."""
    return (
        bench_gamp(quick)
        + bench_position_posterior(quick)
        + bench_replica(quick)
        + bench_erm(quick)
    )


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true")
    args = p.parse_args()
    print(f"device: {jax.devices()[0]}")
    for row in run(args.quick):
        ratio = "" if row["ratio"] is None else f"  ×{row['ratio']:.1f} vs {row['reference']}"
        print(f"{row['benchmark']}: {row['value']:.3g} {row['unit']}{ratio}  ({row['note']})")


if __name__ == "__main__":
    main()
