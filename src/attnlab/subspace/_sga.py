"""Full simulator of projected SGA on the sphere (spec §2–3), vmapped over seeds.

For a sequence X (rows x_i), scores s = βXq, weights a = softmax(s), output y = Xᵀa and

    ℓ(q; X) = ‖y‖²,    ∇_q ℓ = 2β (Σ_i a_i ⟨x_i, y⟩ x_i − ‖y‖² y) = 2β Cov_a(x) y.

One step with a mini-batch of B fresh sequences and step a_n:

    ĝ = (1/B) Σ_b ∇_q ℓ(q_n; X_{n,b}),  q̃ = q_n + a_n (I − q_n q_nᵀ) ĝ,  q_{n+1} = q̃/‖q̃‖,

with Robbins–Monro steps a_n = c/(n + n0)^p, p ∈ (1/2, 1] (``schedule="robbins_monro"``) or
a constant step a_n = c (``schedule="constant"``, the contrast case). The ODE time is
t_n = Σ_{k<n} a_k. q_0 and u are independent uniform points of S^{d−1}.

Cost O(B·N·d) per step. Seeds are vectorised with ``jax.vmap`` and the steps compiled with
``jax.lax.scan`` (an outer scan over logging blocks of ``log_every`` steps, an inner scan inside).

Random streams (reproducible, independent of the number of seeds): replicate key k;
u ← stream(k, "u"), q_0 ← stream(k, "q0"), data of step n, batch element b ←
fold_in(fold_in(stream(k, "data"), n), b) — so :func:`replay_sequence` (used by the PCA
baseline) regenerates exactly the sequences the simulator saw.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from attnlab._jax import jax, jnp
from attnlab._validate import ParameterError, check_choice, check_int, check_range
from attnlab.rng import stream
from attnlab.subspace._data import _tokens, check_model, sample_direction, signal_strength

SCHEDULES = ("robbins_monro", "constant")

__all__ = [
    "SCHEDULES",
    "Trajectory",
    "attention_gradient",
    "check_schedule",
    "ode_time",
    "replay_sequence",
    "simulate_sga",
    "step_sizes",
]


@dataclass(frozen=True)
class Trajectory:
    """Logged SGA observables (numpy arrays), shared by the full and reduced simulators.

    ``step`` (L,): logged step indices n = 0, r, 2r, …, steps;  ``time`` (L,): ODE time t_n;
    ``m`` (S, L): m_n = ⟨q_n, u⟩ per seed;  ``loss`` (S, L) or None: ℓ(q_n; X_n) (batch mean),
    NaN at n = steps (no sample drawn there);  ``abs_m``: |m_n| (always report |m|: sign
    ambiguity).
    """

    step: np.ndarray
    time: np.ndarray
    m: np.ndarray
    loss: np.ndarray | None = None

    @property
    def abs_m(self) -> np.ndarray:
        return np.abs(self.m)

    @property
    def final_alignment(self) -> np.ndarray:
        """|m| at the last logged step, per seed."""
        return np.abs(self.m[:, -1])


def check_schedule(
    *,
    steps: int,
    c: float,
    n0: float,
    p: float = 1.0,
    schedule: str = "robbins_monro",
    batch: int = 1,
    log_every: int = 1,
) -> dict:
    """Validate the SGA schedule (one-line errors): steps ≥ 1, c > 0, n0 > 0, p ∈ (1/2, 1],
    batch ≥ 1, log_every ≥ 1 dividing steps, schedule in SCHEDULES."""
    out = {
        "steps": check_int("steps", steps, lo=1),
        "c": check_range("c", c, lo=0, lo_open=True),
        "n0": check_range("n0", n0, lo=0, lo_open=True),
        "p": check_range("p", p, lo=0.5, hi=1.0, lo_open=True),
        "schedule": check_choice("schedule", schedule, SCHEDULES),
        "batch": check_int("batch", batch, lo=1),
        "log_every": check_int("log_every", log_every, lo=1),
    }
    if out["steps"] % out["log_every"]:
        raise ParameterError(
            f"log_every = {log_every!r} must divide steps = {steps!r} (the log is on a regular grid)"
        )
    return out


def step_sizes(
    n: np.ndarray, *, c: float, n0: float, p: float = 1.0, schedule: str = "robbins_monro"
) -> np.ndarray:
    """a_n = c/(n + n0)^p (Robbins–Monro) or a_n = c (constant), spec §3."""
    check_schedule(steps=1, c=c, n0=n0, p=p, schedule=schedule)
    n = np.asarray(n, dtype=float)
    if schedule == "constant":
        return np.full_like(n, c)
    return c / (n + n0) ** p


def ode_time(
    steps: int, *, c: float, n0: float, p: float = 1.0, schedule: str = "robbins_monro"
) -> np.ndarray:
    """t_n = Σ_{k<n} a_k for n = 0..steps (length steps + 1)."""
    steps = check_int("steps", steps, lo=0)
    a = step_sizes(np.arange(steps), c=c, n0=n0, p=p, schedule=schedule)
    return np.concatenate([[0.0], np.cumsum(a)])


def attention_gradient(q: jax.Array, X: jax.Array, beta) -> tuple[jax.Array, jax.Array]:
    """(∇_q ℓ(q; X), ℓ(q; X)) with ℓ = ‖Xᵀ softmax(βXq)‖² (spec §2); O(N·d)."""
    a = jax.nn.softmax(beta * (X @ q))
    y = X.T @ a
    yy = y @ y
    grad = 2.0 * beta * (X.T @ (a * (X @ y)) - yy * y)
    return grad, yy


def _step_size(n, c, n0, p, schedule):
    if schedule == "constant":
        return c
    return c / (n + n0) ** p


@functools.lru_cache(maxsize=64)
def _build_full(d, K, M, sign, steps, batch, log_every, log_loss, schedule, dtype_name):
    dtype = jnp.dtype(dtype_name)
    n_blocks = steps // log_every

    def one_seed(key, theta_d, beta, c, n0, p):
        u = sample_direction(stream(key, "u"), d, dtype)
        q0 = sample_direction(stream(key, "q0"), d, dtype)
        data_key = stream(key, "data")

        def grad_at(q, n):
            kn = jax.random.fold_in(data_key, n)

            def one(b):
                X = _tokens(jax.random.fold_in(kn, b), u, K, M, theta_d, sign, dtype)
                return attention_gradient(q, X, beta)

            if batch == 1:
                return one(0)
            g, l = jax.vmap(one)(jnp.arange(batch))
            return g.mean(0), l.mean()

        def step(carry, _):
            q, n = carry
            g, loss = grad_at(q, n)
            g = g - (q @ g) * q
            qt = q + _step_size(n, c, n0, p, schedule).astype(dtype) * g
            return (qt / jnp.linalg.norm(qt), n + 1), loss

        def block(carry, _):
            q, _n = carry
            m_here = q @ u
            carry, losses = jax.lax.scan(step, carry, None, length=log_every)
            return carry, (m_here, losses[0] if log_loss else jnp.zeros((), dtype))

        (qf, _), (ms, ls) = jax.lax.scan(block, (q0, jnp.int64(0)), None, length=n_blocks)
        m_all = jnp.concatenate([ms, (qf @ u)[None]])
        return m_all, ls

    @jax.jit
    def run(keys, theta_d, beta, c, n0, p):
        return jax.vmap(one_seed, in_axes=(0, None, None, None, None, None))(
            keys, theta_d, beta, c, n0, p
        )

    return run


def simulate_sga(
    keys: jax.Array,
    *,
    d: int,
    K: int,
    M: int,
    theta: float,
    theta_scaling: str = "sqrt_d",
    sign: str = "token",
    beta: float = 1.0,
    steps: int,
    c: float = 10.0,
    n0: float = 100.0,
    p: float = 1.0,
    schedule: str = "robbins_monro",
    batch: int = 1,
    log_every: int = 1,
    log_loss: bool = False,
    dtype=jnp.float64,
) -> Trajectory:
    """Run projected SGA (spec §3) for every replicate key in ``keys`` (shape ``(S,)``).

    Returns a :class:`Trajectory` with m_n logged every ``log_every`` steps (n = 0 included).
    Per step cost O(batch·(K+M)·d) per seed; seeds vmapped, steps compiled with lax.scan.
    """
    mp = check_model(d=d, K=K, M=M, theta=theta, theta_scaling=theta_scaling, sign=sign, beta=beta)
    sp = check_schedule(
        steps=steps, c=c, n0=n0, p=p, schedule=schedule, batch=batch, log_every=log_every
    )
    keys = jnp.asarray(keys)
    if keys.ndim != 1:
        raise ParameterError(f"keys has shape {keys.shape}: must be a 1-d array of jax keys")
    run = _build_full(
        mp["d"],
        mp["K"],
        mp["M"],
        mp["sign"],
        sp["steps"],
        sp["batch"],
        sp["log_every"],
        bool(log_loss),
        sp["schedule"],
        jnp.dtype(dtype).name,
    )
    theta_d = signal_strength(mp["theta"], mp["d"], theta_scaling)
    m, losses = run(keys, theta_d, mp["beta"], sp["c"], sp["n0"], sp["p"])
    t = ode_time(sp["steps"], c=sp["c"], n0=sp["n0"], p=sp["p"], schedule=sp["schedule"])
    idx = np.arange(0, sp["steps"] + 1, sp["log_every"])
    loss = None
    if log_loss:
        losses = np.asarray(losses, dtype=float)
        loss = np.concatenate([losses, np.full((losses.shape[0], 1), np.nan)], axis=1)
    return Trajectory(step=idx, time=t[idx], m=np.asarray(m, dtype=float), loss=loss)


def replay_sequence(
    key: jax.Array,
    n: int,
    *,
    d: int,
    K: int,
    M: int,
    theta: float,
    theta_scaling: str = "sqrt_d",
    sign: str = "token",
    batch_index: int = 0,
    dtype=jnp.float64,
) -> tuple[jax.Array, jax.Array]:
    """(u, X_{n,b}): the hidden direction and the sequence that :func:`simulate_sga` drew at step
    ``n``, batch element ``batch_index``, for the replicate key ``key``."""
    mp = check_model(d=d, K=K, M=M, theta=theta, theta_scaling=theta_scaling, sign=sign)
    n = check_int("n", n, lo=0)
    u = sample_direction(stream(key, "u"), mp["d"], dtype)
    kn = jax.random.fold_in(jax.random.fold_in(stream(key, "data"), n), batch_index)
    theta_d = signal_strength(mp["theta"], mp["d"], theta_scaling)
    return u, _tokens(kn, u, mp["K"], mp["M"], theta_d, mp["sign"], dtype)
