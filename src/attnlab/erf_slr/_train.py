"""Training erf attention on SLR (spec ``slr.md`` §A.3): projected GD and online SGD.

Projected GD on the product of spheres with the exact population gradient::

    k ← normalise(k − α (I − kkᵀ) ∇_k ℰ),   v ← normalise(v − α (I − vvᵀ) ∇_v ℰ).

ℰ depends on (k, v) only through the overlaps, so ``∇_k ℰ = ∂ℰ/∂κ k* + ∂ℰ/∂η v* + ∂ℰ/∂ρ v``
(and ``∇_v ℰ = ∂ℰ/∂ν v* + ∂ℰ/∂θ k* + ∂ℰ/∂ρ k``): the iterates stay in span{k*, v*, k₀, v₀}. In an
orthonormal frame of that span with e₁ = k*, e₂ = v* (:func:`~attnlab.erf_slr._data.orthonormal_frame`)
k and v have 4 coordinates c_k, c_v, with ``κ = c_k[0], η = c_k[1], θ = c_v[0], ν = c_v[1],
ρ = ⟨c_k, c_v⟩``, and the same update acts on (c_k, c_v) exactly — cost independent of d
(:func:`pgd_coordinates`). :func:`pgd_full` runs the identical update on the d-dimensional vectors
(reference implementation; the tests check equal trajectories in float64).

Online SGD: the same projected update with ``∇`` of the empirical MSE ``(1/B) Σ (T_λ(X) − y)²``
on a fresh batch of B samples each step (:func:`sgd_online`); the test MSE − ε² on a fixed test
set is logged. Temperature: ``λ_t = λ₀/(1 + 10⁻⁴ t)`` (``schedule=True``) or constant.

Note (found while testing): the closed form ℰ(κ, ν, θ, η, ρ) and the true expectation
``E[(T_λ(X) − y)²]`` agree on the product of unit spheres but extend differently off it (the
true one also depends on ‖k‖, ‖v‖), so their Euclidean gradients differ by radial components;
only the tangential parts ``(I − kkᵀ)∇_k``, ``(I − vvᵀ)∇_v`` — the ones projected GD uses — agree
(tested against the mean SGD gradient).

All runs are vmapped over seeds and compiled with ``lax.scan`` (blocks of ``log_every`` steps
between two logged points, so 200 000 steps × 30 seeds are never all stored).
"""

from __future__ import annotations

import math
from functools import partial
from typing import NamedTuple

import numpy as np

from attnlab._jax import jax, jnp
from attnlab._validate import ParameterError, check_choice, check_int, check_range
from attnlab.erf_slr._data import (
    _sample,
    initial_directions,
    orthonormal_frame,
    teacher_directions,
)
from attnlab.erf_slr._predictor import _predict, empirical_mse
from attnlab.erf_slr._risk import _excess_risk
from attnlab.rng import replicate_keys, stream

SCHEDULE_DECAY = 1e-4  # λ_t = λ₀ / (1 + 1e-4 t)


class TrainLog(NamedTuple):
    """Logged trajectory. ``step`` (n_log,), ``lam`` (n_log,) the temperature at that step;
    per seed (n_seeds, n_log): overlaps, closed-form excess ``risk`` at (k_t, v_t, λ_t) and
    (SGD only, else None) ``test_excess`` = test MSE − ε² on the fixed test set."""

    step: np.ndarray
    lam: np.ndarray
    kappa: np.ndarray
    nu: np.ndarray
    theta: np.ndarray
    eta: np.ndarray
    rho: np.ndarray
    risk: np.ndarray
    test_excess: np.ndarray | None = None

    @property
    def distance_to_manifold(self) -> np.ndarray:
        return np.sqrt(self.theta**2 + self.eta**2 + self.rho**2)


def temperature(t, *, lam0: float, schedule: bool):
    """``λ_t = λ₀/(1 + 10⁻⁴ t)`` if ``schedule`` else ``λ₀``."""
    return lam0 / (1.0 + (SCHEDULE_DECAY if schedule else 0.0) * t)


def _validate(d, L, gamma, lam0, step_size, steps, log_every):
    check_range("d", d, lo=2)
    L = check_int("L", L, lo=1)
    gamma = check_range("gamma", gamma, lo=0)
    lam0 = check_range("lam0", lam0, lo=0, lo_open=True)
    step_size = check_range("step_size", step_size, lo=0, lo_open=True)
    steps = check_int("steps", steps, lo=0)
    log_every = check_int("log_every", log_every, lo=1)
    return L, gamma, lam0, step_size, steps, log_every


def logged_steps(steps: int, log_every: int) -> np.ndarray:
    """Steps at which a run is logged: 0, r, 2r, …, and ``steps`` itself."""
    pts = list(range(0, steps + 1, log_every))
    if pts[-1] != steps:
        pts.append(steps)
    return np.asarray(pts)


# -- generic compiled driver ----------------------------------------------------------------------
def _scan_run(step, observe, state, steps, log_every, unroll=1):
    """Run ``step`` ``steps`` times from ``state``; observe at :func:`logged_steps`."""
    n_blocks, rem = divmod(steps, log_every)

    def block(s, _):
        s = jax.lax.fori_loop(0, log_every, lambda i, s: step(s), s, unroll=unroll)
        return s, observe(s)

    first = observe(state)
    state, obs = jax.lax.scan(block, state, None, length=n_blocks)
    parts = [jax.tree.map(lambda a: a[None], first), obs]
    if rem:
        state = jax.lax.fori_loop(0, rem, lambda i, s: step(s), state)
        parts.append(jax.tree.map(lambda a: a[None], observe(state)))
    return state, jax.tree.map(lambda *a: jnp.concatenate(a), *parts)


def _normalise(x):
    return x / jnp.linalg.norm(x)


def _projected_step(k, v, grad_k, grad_v, step_size):
    """``k ← normalise(k − α(I − kkᵀ)g_k)`` and the same for v."""
    grad_k = grad_k - jnp.dot(grad_k, k) * k
    grad_v = grad_v - jnp.dot(grad_v, v) * v
    return _normalise(k - step_size * grad_k), _normalise(v - step_size * grad_v)


# -- projected GD: 4 coordinates ------------------------------------------------------------------
def _coord_overlaps(ck, cv):
    return ck[0], cv[1], cv[0], ck[1], jnp.dot(ck, cv)  # κ, ν, θ, η, ρ


def _coord_risk(ck, cv, d, L, gamma, lam):
    return _excess_risk(*_coord_overlaps(ck, cv), d, L, gamma, lam)


def _full_overlaps(k, v, k_star, v_star):
    return (
        jnp.dot(k, k_star),
        jnp.dot(v, v_star),
        jnp.dot(v, k_star),
        jnp.dot(k, v_star),
        jnp.dot(k, v),
    )


def _full_risk(k, v, k_star, v_star, d, L, gamma, lam):
    return _excess_risk(*_full_overlaps(k, v, k_star, v_star), d, L, gamma, lam)


def _pgd_single(k, v, k_star, v_star, d, L, gamma, lam0, decay, step_size, steps, log_every, full):
    """One seed of projected GD (coordinates if ``full`` is False, else full-d vectors)."""
    if full:
        risk = lambda k, v, lam: _full_risk(k, v, k_star, v_star, d, L, gamma, lam)  # noqa: E731
        ovl = lambda k, v: _full_overlaps(k, v, k_star, v_star)  # noqa: E731
    else:
        risk = lambda k, v, lam: _coord_risk(k, v, d, L, gamma, lam)  # noqa: E731
        ovl = _coord_overlaps
    grad = jax.grad(risk, argnums=(0, 1))

    def step(state):
        k, v, t = state
        lam = lam0 / (1.0 + decay * t)
        gk, gv = grad(k, v, lam)
        k, v = _projected_step(k, v, gk, gv, step_size)
        return k, v, t + 1

    def observe(state):
        k, v, t = state
        lam = lam0 / (1.0 + decay * t)
        return (*ovl(k, v), risk(k, v, lam))

    (k, v, _), obs = _scan_run(step, observe, (k, v, 0), steps, log_every)
    return k, v, obs


@partial(jax.jit, static_argnames=("steps", "log_every", "full"))
def _pgd_batched(
    k, v, k_star, v_star, d, L, gamma, lam0, decay, step_size, *, steps, log_every, full
):
    fn = lambda k, v, ks, vs: _pgd_single(  # noqa: E731
        k, v, ks, vs, d, L, gamma, lam0, decay, step_size, steps, log_every, full
    )
    return jax.vmap(fn)(k, v, k_star, v_star)


def _make_log(obs, steps, log_every, lam0, schedule, test=None):
    pts = logged_steps(steps, log_every)
    arrs = [np.asarray(a) for a in obs]
    return TrainLog(
        step=pts,
        lam=np.asarray(temperature(pts.astype(float), lam0=lam0, schedule=schedule)),
        kappa=arrs[0],
        nu=arrs[1],
        theta=arrs[2],
        eta=arrs[3],
        rho=arrs[4],
        risk=arrs[5],
        test_excess=None if test is None else np.asarray(test),
    )


def pgd_coordinates(
    coord_k,
    coord_v,
    *,
    d: float,
    L: int,
    gamma: float,
    lam0: float,
    step_size: float,
    steps: int,
    schedule: bool = False,
    log_every: int = 100,
) -> tuple[jax.Array, jax.Array, TrainLog]:
    """Projected GD with the exact population gradient in the 4 coordinates of
    span{k*, v*, k₀, v₀} (§A.3; frame rows e₁ = k*, e₂ = v*). ``coord_k``, ``coord_v``:
    (n_seeds, 4) unit coordinate vectors. Returns final coordinates and the :class:`TrainLog`."""
    L, gamma, lam0, step_size, steps, log_every = _validate(
        d, L, gamma, lam0, step_size, steps, log_every
    )
    ck, cv = _check_batch(coord_k, coord_v, 4)
    dummy = jnp.zeros_like(ck)
    decay = SCHEDULE_DECAY if schedule else 0.0
    k, v, obs = _pgd_batched(
        ck, cv, dummy, dummy, float(d), L, gamma, lam0, decay, step_size,
        steps=steps, log_every=log_every, full=False,
    )  # fmt: skip
    return k, v, _make_log(obs, steps, log_every, lam0, schedule)


def pgd_full(
    k,
    v,
    *,
    k_star,
    v_star,
    L: int,
    gamma: float,
    lam0: float,
    step_size: float,
    steps: int,
    schedule: bool = False,
    log_every: int = 100,
) -> tuple[jax.Array, jax.Array, TrainLog]:
    """The same projected GD on the d-dimensional vectors (reference implementation).
    ``k, v, k_star, v_star``: (n_seeds, d)."""
    k, v = _check_batch(k, v, None)
    d = k.shape[-1]
    L, gamma, lam0, step_size, steps, log_every = _validate(
        d, L, gamma, lam0, step_size, steps, log_every
    )
    decay = SCHEDULE_DECAY if schedule else 0.0
    k, v, obs = _pgd_batched(
        k, v, jnp.asarray(k_star), jnp.asarray(v_star), float(d), L, gamma, lam0, decay,
        step_size, steps=steps, log_every=log_every, full=True,
    )  # fmt: skip
    return k, v, _make_log(obs, steps, log_every, lam0, schedule)


def pgd_full_python_loop(k, v, *, k_star, v_star, L, gamma, lam0, step_size, steps, schedule=False):
    """Plain per-seed Python loop of the full-d update (one jitted step per call; benchmark
    baseline). Returns final (k, v) of shape (n_seeds, d)."""
    k, v = _check_batch(k, v, None)
    d = float(k.shape[-1])
    decay = SCHEDULE_DECAY if schedule else 0.0
    out_k, out_v = [], []
    for i in range(k.shape[0]):
        ki, vi, ks, vs = k[i], v[i], k_star[i], v_star[i]
        for t in range(steps):
            ki, vi = _python_step(ki, vi, ks, vs, d, L, gamma, lam0 / (1 + decay * t), step_size)
        out_k.append(ki)
        out_v.append(vi)
    return jnp.stack(out_k), jnp.stack(out_v)


@jax.jit
def _python_step(k, v, k_star, v_star, d, L, gamma, lam, step_size):
    gk, gv = jax.grad(_full_risk, argnums=(0, 1))(k, v, k_star, v_star, d, L, gamma, lam)
    return _projected_step(k, v, gk, gv, step_size)


def _check_batch(k, v, width):
    k = jnp.asarray(k, dtype=float)
    v = jnp.asarray(v, dtype=float)
    if k.ndim != 2 or k.shape != v.shape or (width is not None and k.shape[1] != width):
        want = f"(n_seeds, {width})" if width else "(n_seeds, d)"
        raise ParameterError(f"k, v must both have shape {want}, got {k.shape} and {v.shape}")
    return k, v


# -- problem set-up from seeds --------------------------------------------------------------------
class PGDProblem(NamedTuple):
    """Per-seed teacher, initialisation and frame (all (n_seeds, ·))."""

    k_star: jax.Array
    v_star: jax.Array
    k0: jax.Array
    v0: jax.Array
    frame: jax.Array  # (n_seeds, 4, d)


def make_problem(seed: int, n_seeds: int, *, d: int, init: str = "sphere") -> PGDProblem:
    """Teacher (k*, v*) and initial (k₀, v₀) of replicates 0..n_seeds−1 of root ``seed``
    (replicate i uses ``fold_in(key(seed), i)``), with the orthonormal frame of their span."""
    d = check_int("d", d, lo=4)
    n_seeds = check_int("n_seeds", n_seeds, lo=1)
    check_choice("init", init, ("sphere", "manifold"))

    def one(key):
        ks, vs = teacher_directions(key, d=d)
        k0, v0 = initial_directions(key, k_star=ks, v_star=vs, init=init)
        return ks, vs, k0, v0, orthonormal_frame(ks, vs, k0, v0)

    return PGDProblem(*jax.jit(jax.vmap(one))(replicate_keys(seed, n_seeds)))


def to_coordinates(frame, x):
    """Coordinates ``B x`` of vectors x (n_seeds, d) in frames B (n_seeds, 4, d)."""
    return jnp.einsum("sid,sd->si", frame, x)


def from_coordinates(frame, c):
    """Vectors ``Bᵀ c`` (n_seeds, d) from coordinates c (n_seeds, 4)."""
    return jnp.einsum("sid,si->sd", frame, c)


# -- online SGD -----------------------------------------------------------------------------------
def _sgd_gradient_direct(key, k, v, k_star, v_star, L, gamma, eps, lam, batch):
    """∇_(k,v) of the empirical MSE on a fresh batch drawn with the sampler (§A.1)."""
    X, y, _ = _sample(key, batch, k_star, v_star, L, gamma, eps)
    return jax.grad(empirical_mse, argnums=(2, 3))(X, y, k, v, lam)


def _sgd_gradient_projected(key, k, v, k_star, v_star, L, gamma, eps, lam, batch):
    """The same random gradient, drawn exactly in law at O(batch·L + d) cost.

    Let Q (d, 4) be an orthonormal basis of S ⊇ span{k*, v*, k, v} (Householder QR of
    [k*, v*, k, v] = QR, so the columns of R are the coordinates of those vectors). A token is
    ``x = Qᵀz + w`` with z its 4 coordinates (N(0, I) or, for the hidden token,
    N(√(d/2)Qk*, γ²I)) and w ~ N(0, σ²P_S⊥) independent (σ = γ hidden, 1 otherwise). T, y and
    the coefficients ``a_ℓ = ∂loss/∂⟨k,x_ℓ⟩``, ``b_ℓ = ∂loss/∂⟨v,x_ℓ⟩`` depend on z only, and
    ``∇_k = Σ a_ℓ x_ℓ``, ``∇_v = Σ b_ℓ x_ℓ``: their S⊥ parts ``Σ a_ℓ w_ℓ, Σ b_ℓ w_ℓ`` are jointly
    Gaussian with covariance ``Σ σ_ℓ² (a, b)(a, b)ᵀ ⊗ P_S⊥`` and are drawn from two d-vectors
    (Cholesky of the 2×2 factor) instead of ``batch·L`` d-vectors.
    """
    d = k.shape[-1]
    kz, kj, kn, kw = jax.random.split(key, 4)
    Q, R = jnp.linalg.qr(jnp.stack([k_star, v_star, k, v], axis=1))
    qks, qvs, qk, qv = R[:, 0], R[:, 1], R[:, 2], R[:, 3]
    J = jax.random.randint(kj, (batch,), 0, L)
    hidden = jax.nn.one_hot(J, L, dtype=k.dtype)  # (B, L)
    sigma = 1.0 + (gamma - 1.0) * hidden
    z = jax.random.normal(kz, (batch, L, 4), dtype=k.dtype) * sigma[..., None]
    z = z + hidden[..., None] * (jnp.sqrt(d / 2.0) * qks)
    y = jnp.einsum("bl,bli,i->b", hidden, z, qvs) + eps * jax.random.normal(kn, (batch,), k.dtype)

    def loss(pk, pv):  # pk = ⟨k, x_ℓ⟩, pv = ⟨v, x_ℓ⟩ (B, L)
        pred = jnp.sum(jax.scipy.special.erf(lam * pk) * pv, axis=-1)
        return jnp.mean((pred - y) ** 2)

    a, b = jax.grad(loss, argnums=(0, 1))(z @ qk, z @ qv)  # (B, L) each
    in_k = Q @ jnp.einsum("bl,bli->i", a, z)
    in_v = Q @ jnp.einsum("bl,bli->i", b, z)
    s2 = sigma**2
    c_kk, c_kv, c_vv = jnp.sum(s2 * a * a), jnp.sum(s2 * a * b), jnp.sum(s2 * b * b)
    l11 = jnp.sqrt(c_kk)
    l21 = jnp.where(l11 > 0, c_kv / jnp.where(l11 > 0, l11, 1.0), 0.0)
    l22 = jnp.sqrt(jnp.maximum(c_vv - l21**2, 0.0))
    g = jax.random.normal(kw, (2, d), dtype=k.dtype)
    g = g - (g @ Q) @ Q.T  # project onto S⊥
    return in_k + l11 * g[0], in_v + l21 * g[0] + l22 * g[1]


def _sgd_single(key, k, v, k_star, v_star, X_test, y_test, d, L, gamma, eps, lam0, decay,
                step_size, batch, steps, log_every, method):  # fmt: skip
    train_key = stream(key, "sgd-batches")

    def step(state):
        k, v, t = state
        lam = lam0 / (1.0 + decay * t)
        kt = jax.random.fold_in(train_key, t)
        if method == "direct":
            gk, gv = _sgd_gradient_direct(kt, k, v, k_star, v_star, L, gamma, eps, lam, batch)
        else:
            gk, gv = _sgd_gradient_projected(kt, k, v, k_star, v_star, L, gamma, eps, lam, batch)
        k, v = _projected_step(k, v, gk, gv, step_size)
        return k, v, t + 1

    def observe(state):
        k, v, t = state
        lam = lam0 / (1.0 + decay * t)
        ov = _full_overlaps(k, v, k_star, v_star)
        test = jnp.mean((_predict(X_test, k, v, lam) - y_test) ** 2) - eps**2
        return (*ov, _excess_risk(*ov, d, L, gamma, lam), test)

    unroll = _UNROLL if log_every % _UNROLL == 0 else 1
    (k, v, _), obs = _scan_run(step, observe, (k, v, 0), steps, log_every, unroll)
    return k, v, obs


_UNROLL = 1  # unrolling the step loop did not pay off on CPU (longer compiles)


@partial(jax.jit, static_argnames=("L", "batch", "steps", "log_every", "n_test", "method"))
def _sgd_batched(keys, k, v, k_star, v_star, gamma, eps, lam0, decay, step_size, *, L, batch,
                 steps, log_every, n_test, method):  # fmt: skip
    d = k.shape[-1]

    def one(key, k, v, ks, vs):
        X_test, y_test, _ = _sample(stream(key, "sgd-test"), n_test, ks, vs, L, gamma, eps)
        return _sgd_single(key, k, v, ks, vs, X_test, y_test, float(d), L, gamma, eps, lam0,
                           decay, step_size, batch, steps, log_every, method)  # fmt: skip

    return jax.vmap(one)(keys, k, v, k_star, v_star)


def sgd_online(
    seed: int,
    n_seeds: int,
    *,
    d: int,
    L: int,
    gamma: float,
    eps: float,
    lam0: float,
    step_size: float,
    steps: int,
    batch: int = 5,
    schedule: bool = True,
    init: str = "sphere",
    n_test: int = 1000,
    log_every: int = 1000,
    seed_chunk: int = 30,
    method: str = "projected",
) -> tuple[PGDProblem, jax.Array, jax.Array, TrainLog]:
    """Online projected SGD (§A.3) for replicates 0..n_seeds−1 of root ``seed``: fresh batches
    of ``batch`` samples each step, fixed test set of ``n_test`` samples per replicate
    (``TrainLog.test_excess`` = test MSE − ε²). Seeds are vmapped in chunks of ``seed_chunk``
    (bounds the memory of the test sets). Returns (problem, final k, final v, log).

    ``method="direct"`` draws each batch with the sampler (``batch·L·d`` normals per step);
    ``method="projected"`` (default) draws the same stochastic gradient exactly in law from the
    batch's 4 coordinates in span{k*, v*, k, v} plus two d-dimensional Gaussians (see
    ``_sgd_gradient_projected``): ~10x fewer random numbers at d = 80, batch 5, L = 10. The two
    are equal in distribution, not pathwise (tested statistically)."""
    L, gamma, lam0, step_size, steps, log_every = _validate(
        d, L, gamma, lam0, step_size, steps, log_every
    )
    eps = check_range("eps", eps, lo=0)
    batch = check_int("batch", batch, lo=1)
    n_test = check_int("n_test", n_test, lo=1)
    seed_chunk = check_int("seed_chunk", seed_chunk, lo=1)
    check_choice("method", method, ("projected", "direct"))
    problem = make_problem(seed, n_seeds, d=d, init=init)
    keys = replicate_keys(seed, n_seeds)
    decay = SCHEDULE_DECAY if schedule else 0.0
    ks_, vs_, obs_ = [], [], []
    for lo in range(0, n_seeds, seed_chunk):
        sl = slice(lo, min(lo + seed_chunk, n_seeds))
        k, v, obs = _sgd_batched(
            keys[sl], problem.k0[sl], problem.v0[sl], problem.k_star[sl], problem.v_star[sl],
            gamma, eps, lam0, decay, step_size, L=L, batch=batch, steps=steps,
            log_every=log_every, n_test=n_test, method=method,
        )  # fmt: skip
        ks_.append(k)
        vs_.append(v)
        obs_.append(obs)
    obs = [np.concatenate([np.asarray(o[i]) for o in obs_]) for i in range(7)]
    log = _make_log(obs[:6], steps, log_every, lam0, schedule, test=obs[6])
    return problem, jnp.concatenate(ks_), jnp.concatenate(vs_), log


def heldout_excess(
    key,
    k,
    v,
    *,
    k_star,
    v_star,
    L: int,
    gamma: float,
    eps: float,
    lam: float,
    n: int,
    tag: str = "test-set",
) -> tuple[np.ndarray, np.ndarray]:
    """Per replicate, test MSE − ε² on ``n`` fresh samples (with label noise ε) and the standard
    error of that estimate: arrays (n_seeds,). ``key`` is a batch of per-replicate keys; the
    test set of replicate i is drawn from ``stream(key[i], tag)`` (``tag="sgd-test"`` gives the
    fixed test set that :func:`sgd_online` logs)."""
    L = check_int("L", L, lo=1)
    n = check_int("n", n, lo=2)

    def one(key, k, v, ks, vs):
        X, y, _ = _sample(stream(key, tag), n, ks, vs, L, gamma, eps)
        sq = (_predict(X, k, v, lam) - y) ** 2
        return sq.mean() - eps**2, jnp.std(sq, ddof=1) / math.sqrt(n)

    mean, se = jax.jit(jax.vmap(one))(key, k, v, k_star, v_star)
    return np.asarray(mean), np.asarray(se)


def sgd_noise_floor(
    key,
    *,
    d: int,
    L: int,
    gamma: float,
    eps: float,
    lam: float,
    step_size: float,
    batch: int,
    n: int = 20_000,
) -> float:
    """Linear-response estimate of the stationary SGD excess above ℰ(k*, v*):
    ``(α/4)·tr Σ_B`` with ``Σ_B = Σ₁/B`` the covariance of the tangential ((I − kkᵀ), (I − vvᵀ))
    batch gradient at (k*, v*), Σ₁ estimated from ``n`` single-sample gradients (data law §A.1).

    Derivation: near a minimum with Hessian H, SGD ``θ ← θ − α(∇f + ξ)``, Cov ξ = Σ_B, has the
    stationary covariance C with ``HC + CH ≈ αΣ_B`` (first order in α), so
    ``E[f] − f* ≈ ½ tr(HC) = (α/4) tr Σ_B``.
    """
    d = check_int("d", d, lo=4)
    L = check_int("L", L, lo=1)
    lam = check_range("lam", lam, lo=0, lo_open=True)
    step_size = check_range("step_size", step_size, lo=0, lo_open=True)
    batch = check_int("batch", batch, lo=1)
    n = check_int("n", n, lo=2)
    ks, vs = teacher_directions(key, d=d)
    X, y, _ = _sample(stream(key, "noise-floor"), n, ks, vs, L, gamma, eps)
    single = jax.vmap(
        lambda X1, y1: jax.grad(empirical_mse, argnums=(2, 3))(X1[None], y1[None], ks, vs, lam)
    )
    gk, gv = jax.jit(single)(X, y)
    gk = gk - jnp.outer(gk @ ks, ks)
    gv = gv - jnp.outer(gv @ vs, vs)
    trace = float(jnp.sum(jnp.var(gk, axis=0, ddof=1)) + jnp.sum(jnp.var(gv, axis=0, ddof=1)))
    return step_size / 4.0 * trace / batch


__all__ = [
    "PGDProblem",
    "TrainLog",
    "from_coordinates",
    "logged_steps",
    "make_problem",
    "pgd_coordinates",
    "pgd_full",
    "pgd_full_python_loop",
    "sgd_noise_floor",
    "sgd_online",
    "temperature",
    "heldout_excess",
    "to_coordinates",
]
