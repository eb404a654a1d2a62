"""What every training run of erf attention shares: the logged trajectory, the result, and the
compiled driver that runs a step function in blocks between logged points.

A *kernel* is a frozen, hashable object with two methods acting on the state of all replicates
at once: ``advance(state, params, n) -> state`` (``n`` updates, ``n`` a traced integer; the state
carries the step counter) and ``observe(state, params) -> tuple of arrays (n_seeds,)``;
:class:`StepKernel` derives ``advance`` from a one-step ``step``. :func:`run_logged` runs it for
``steps`` steps, observing at :func:`logged_steps`: one call per logged block of a program
compiled once per kernel and state shape (the number of steps ``n`` is traced), with progress
(steps × seeds) reported after each block.
"""

from __future__ import annotations

from functools import partial
from typing import Any, NamedTuple

import numpy as np

from attnlab import progress
from attnlab._jax import jax, jnp
from attnlab._threads import group_count, thread_map
from attnlab._validate import check_int, check_range
from attnlab.erf_slr._data import Overlaps, Problem
from attnlab.erf_slr._model import Temperature

__all__ = ["TrainLog", "Training", "logged_steps"]

MAX_STEPS = 10**9


class TrainLog(NamedTuple):
    """A logged trajectory.

    ``step`` and ``lam`` (the temperature λ_t at that step) have shape ``(n_log,)``; the
    overlaps, the closed-form excess ``risk`` at (k_t, v_t, λ_t) and ``test_excess`` (test MSE
    − ε² on a fixed test set; ``None`` when the run does not log it) have shape
    ``(n_seeds, n_log)``.
    """

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
    def overlaps(self) -> Overlaps:
        """The five overlaps along the run."""
        return Overlaps(self.kappa, self.nu, self.theta, self.eta, self.rho)

    @property
    def distance_to_manifold(self) -> np.ndarray:
        """:math:`\\sqrt{\\theta^2 + \\eta^2 + \\rho^2}` along the run."""
        return np.sqrt(self.theta**2 + self.eta**2 + self.rho**2)


class Training(NamedTuple):
    """The result of a training run: the problem (teacher and initialisation), the final
    (k, v) of shape ``(n_seeds, d)`` and the :class:`TrainLog`."""

    problem: Problem
    k: np.ndarray
    v: np.ndarray
    log: TrainLog


def logged_steps(steps: int, log_every: int) -> np.ndarray:
    """Steps at which a run is logged: ``0, r, 2r, …`` and ``steps`` itself.

    Parameters
    ----------
    steps, log_every : int

    Returns
    -------
    numpy.ndarray of int
    """
    steps = check_int("steps", steps, lo=0, hi=MAX_STEPS)
    log_every = check_int("log_every", log_every, lo=1, hi=MAX_STEPS)
    pts = list(range(0, steps + 1, log_every))
    if pts[-1] != steps:
        pts.append(steps)
    return np.asarray(pts)


def check_run(step_size: Any, steps: Any, log_every: Any) -> tuple[float, int, int]:
    """Validated ``(step_size, steps, log_every)``: step in (0, 1e6], counts in range."""
    step_size = check_range("step_size", step_size, lo=0, lo_open=True, hi=1e6)
    steps = check_int("steps", steps, lo=0, hi=MAX_STEPS)
    log_every = check_int("log_every", log_every, lo=1, hi=MAX_STEPS)
    return step_size, steps, log_every


def temperature_at(params: dict, t):
    """λ_t = λ₀/(1 + c t) from the traced ``params["lam0"]``, ``params["decay"]``."""
    return params["lam0"] / (1.0 + params["decay"] * t)


def schedule_params(temperature: Temperature, step_size: float) -> dict:
    lam0, decay = temperature.coefficients()
    return {"lam0": lam0, "decay": decay, "step_size": step_size}


class StepKernel:
    """A kernel whose ``advance`` is ``n`` calls of its ``step(state, params)``."""

    def advance(self, state, params, n):
        return jax.lax.fori_loop(0, n, lambda i, s: self.step(s, params), state)


@partial(jax.jit, static_argnums=0)
def _run_block(kernel, state, params, length):
    """``length`` steps (a traced count), then an observation: one compiled program per kernel
    and state shape, whatever the run's length and logging interval."""
    state = kernel.advance(state, params, length)
    return state, kernel.observe(state, params)


@partial(jax.jit, static_argnums=0)
def _observe(kernel, state, params):
    return kernel.observe(state, params)


MAX_GROUPS = 8  # replicate groups run side by side (at most one per core)


def replicate_groups(n_seeds: int) -> list[np.ndarray]:
    """The replicate indices of each group run side by side, all groups of one size.

    On a CPU backend the replicates are split into ``min(cores, n_seeds, MAX_GROUPS)`` groups of
    consecutive replicates (the compiled training loop runs on one core, its cost grows linearly
    with the replicates, and jax releases the GIL while it runs); a short group is padded by
    repeating its last replicate, so that every group has the same shape and one program serves
    them all. Elsewhere (an accelerator runs the whole batch at once) a single group.
    """
    size = -(-n_seeds // group_count(n_seeds, most=MAX_GROUPS))
    starts = range(0, n_seeds, size)
    return [np.minimum(np.arange(i, i + size), min(i + size, n_seeds) - 1) for i in starts]


def _take(tree, index: np.ndarray, n_seeds: int):
    """The replicates ``index`` of every per-replicate array (leading axis n_seeds) of ``tree``;
    scalars and shared arrays unchanged."""

    def take(a):
        shape = getattr(a, "shape", ())
        return a[index] if len(shape) >= 1 and shape[0] == n_seeds else a

    return jax.tree.map(take, tree)


def run_logged(kernel, state, params, *, steps: int, log_every: int, n_seeds: int, what: str):
    """Run ``kernel`` for ``steps`` steps from ``state``, observing at :func:`logged_steps`.

    Each logged block is one call of the same compiled program (the block length is traced, so
    runs of any length and logging interval share it), for each group of
    :func:`replicate_groups` side by side; progress is reported after each block. Replicates
    are independent and every per-replicate array (leading axis ``n_seeds``) is split the same
    way, so the numbers do not depend on the grouping.
    Returns the final state and the observations stacked along a last axis ``n_log``.
    """
    k, v, t = state
    state = (k, v, jnp.asarray(t, dtype=jnp.asarray(0).dtype))  # one counter type: no recompile
    groups = replicate_groups(n_seeds)
    states = [_take(state, g, n_seeds) for g in groups]
    group_params = [_take(params, g, n_seeds) for g in groups]
    parts = [[_observe(kernel, s, p)] for s, p in zip(states, group_params, strict=True)]

    def block(i, length):
        states[i], obs = _run_block(kernel, states[i], group_params[i], jnp.asarray(length))
        parts[i].append(jax.block_until_ready(obs))

    blocks = logged_steps(steps, log_every)[:-1].tolist()
    with progress.track(f"{what}: steps × seeds", total=steps * n_seeds) as bar:
        for j, start in enumerate(blocks):
            length = min(log_every, steps - start)
            first = 1 if j == 0 else 0  # the first group compiles the program for all
            if first:
                block(0, length)
            # the other groups side by side, in the caller's context and precision
            thread_map(lambda i, length=length: block(i, length), range(first, len(groups)))
            bar.advance(length * n_seeds)
    return _merge(groups, states, parts, n_seeds)


def _merge(groups, states, parts, n_seeds):
    """The groups' final states and stacked observations put back in replicate order."""
    order = np.concatenate(groups)
    keep = np.unique(order, return_index=True)[1]  # first occurrence: drops the padding
    k, v = (jnp.concatenate([s[i] for s in states])[keep] for i in (0, 1))
    state = (k, v, states[0][2])  # the step counter is shared
    obs = [jax.tree.map(lambda *a: jnp.stack(a, axis=-1), *p) for p in parts]
    obs = jax.tree.map(lambda *a: np.concatenate([np.asarray(x) for x in a])[keep], *obs)
    return state, tuple(obs)


def make_log(obs, steps: int, log_every: int, temperature: Temperature, test=None) -> TrainLog:
    """A :class:`TrainLog` from the observations ``(κ, ν, θ, η, ρ, risk)``."""
    pts = logged_steps(steps, log_every)
    return TrainLog(pts, temperature.at(pts), *obs[:6], test_excess=test)


def squeeze(training: Training, single: bool) -> Training:
    """Drop the replicate axis of a run made with a single key."""
    if not single:
        return training

    def first(a):
        return a if a is None else a[0]

    log = training.log
    log = log._replace(**{f: first(getattr(log, f)) for f in TrainLog._fields[2:]})
    return Training(Problem(*(first(a) for a in training.problem)), training.k[0],
                    training.v[0], log)  # fmt: skip


def normalise(x):
    return x / jnp.linalg.norm(x, axis=-1, keepdims=True)


def projected_step(k, v, grad_k, grad_v, step_size):
    """``k ← normalise(k − α(I − kkᵀ)g_k)`` and the same for v (last axis)."""
    grad_k = grad_k - jnp.sum(grad_k * k, -1, keepdims=True) * k
    grad_v = grad_v - jnp.sum(grad_v * v, -1, keepdims=True) * v
    return normalise(k - step_size * grad_k), normalise(v - step_size * grad_v)
