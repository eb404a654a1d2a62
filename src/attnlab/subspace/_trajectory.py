"""What the simulators return, and the chunked driver that reports their progress."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from attnlab import progress
from attnlab._jax import jnp
from attnlab._threads import thread_map
from attnlab._validate import ParameterError, check_int

__all__ = ["Trajectory"]


@dataclass(frozen=True)
class Trajectory:
    """Logged SGA observables (numpy arrays), shared by every simulator.

    Parameters
    ----------
    step : numpy.ndarray, shape (L,)
        Logged step indices n = 0, r, 2r, ..., steps.
    time : numpy.ndarray, shape (L,)
        ODE times t_n = Σ_{k<n} a_k.
    m : numpy.ndarray, shape (S, L) or (L,)
        m_n = ⟨q_n, u⟩ per replicate (no replicate axis for a single key).
    loss : numpy.ndarray or None
        ℓ(q_n; X_n) (batch mean) at the logged steps, NaN at n = steps (no sample drawn there).
    """

    step: np.ndarray
    time: np.ndarray
    m: np.ndarray
    loss: np.ndarray | None = None

    @property
    def abs_m(self) -> np.ndarray:
        """|m_n|: the alignment (m and −m are equivalent for a symmetric sign law)."""
        return np.abs(self.m)

    @property
    def final_alignment(self) -> np.ndarray:
        """|m| at the last logged step, per replicate."""
        return np.abs(self.m[..., -1])


def check_run(steps: int, batch: int, log_every: int) -> tuple[int, int, int]:
    """Validate the run options (one-line errors): steps ≥ 1, batch ≥ 1, log_every ≥ 1
    dividing steps."""
    steps = check_int("steps", steps, lo=1)
    batch = check_int("batch", batch, lo=1)
    log_every = check_int("log_every", log_every, lo=1)
    if steps % log_every:
        raise ParameterError(
            f"log_every = {log_every!r} must divide steps = {steps!r} (the log is on a regular grid)"
        )
    return steps, batch, log_every


def blocked_program(
    compiled_blocks: Callable[..., Callable[..., Any]],
    models: Sequence[Any],
    schedules: Sequence[Any],
    *,
    batch: int,
    log_every: int,
    log_loss: bool,
    dtype: str,
    source: Sequence[int] | None = None,
) -> Callable[[int], Callable[..., Any]]:
    """``n_blocks -> (state -> (state, logs))`` for :func:`run_chunks` from a simulator's
    ``compiled_blocks(d, K, M, sign, batch, log_every, log_loss, dtype, n_blocks, shared)``,
    whose compiled loop takes ``params = (θ_d, β, c, n0, p, source)``, one entry per run
    (``models`` and ``schedules``: one per run, the models sharing d, K, M and the sign law;
    ``source``: the index of each run's data key among the state's distinct keys, default one
    key per run)."""
    dt = jnp.dtype(dtype)
    coefficients = np.asarray([s.coefficients() for s in schedules], dtype=float)
    shared = source is not None and len(set(source)) < len(source)
    source = np.arange(len(models)) if source is None else np.asarray(source)
    params = (
        jnp.asarray([m.theta_d for m in models], dt),
        jnp.asarray([m.beta for m in models], dt),
        *(jnp.asarray(x, dt) for x in coefficients.T),
        jnp.asarray(source, jnp.int32),
    )
    model = models[0]
    static = (model.d, model.K, model.M, model.sign, batch, log_every, log_loss, dtype)
    return lambda nb: functools.partial(compiled_blocks(*static, nb, shared), params=params)


def run_chunks(
    programs: Sequence[Callable[[int], Callable[..., Any]]],
    states: Sequence[Any],
    *,
    steps: int,
    log_every: int,
    n_seeds: int,
    what: str,
) -> tuple[list[Any], list[Any]]:
    """Run compiled loops over ``steps // log_every`` logging blocks in chunks, one loop per
    group of seeds (groups side by side in threads, :func:`attnlab._threads.thread_map`),
    reporting progress (steps × seeds) between chunks.

    ``programs[i](n_blocks)`` returns group i's compiled ``state -> (state, logs)`` running
    ``n_blocks`` blocks. With nobody listening the whole run is one chunk (one compiled loop per
    group). Returns the final states and, per chunk, the logs with the groups' seeds in order.
    """
    logs = []
    states = list(states)
    with progress.track(f"{what}: steps × seeds", total=steps * n_seeds) as bar:
        for size in progress.chunks(steps, multiple_of=log_every):
            blocks = size // log_every
            outs = thread_map(
                lambda group, blocks=blocks: group[0](blocks)(group[1]),
                list(zip(programs, states, strict=True)),
            )
            states = [state for state, _ in outs]
            logs.append(
                tuple(np.concatenate([np.asarray(out[1][j]) for out in outs]) for j in range(2))
            )
            bar.advance(size * n_seeds)
    return states, logs


def assemble(
    schedule: Any,
    *,
    steps: int,
    log_every: int,
    m_logged: np.ndarray,
    losses: np.ndarray | None,
    single: bool,
) -> Trajectory:
    """A :class:`Trajectory` from the logged overlaps (S, L) and losses (S, L − 1)."""
    idx = np.arange(0, steps + 1, log_every)
    t = schedule.times(steps)[idx]
    m = np.asarray(m_logged, dtype=float)
    loss = None
    if losses is not None:
        losses = np.asarray(losses, dtype=float)
        loss = np.concatenate([losses, np.full((losses.shape[0], 1), np.nan)], axis=1)
    if single:
        m = m[0]
        loss = None if loss is None else loss[0]
    return Trajectory(step=idx, time=t, m=m, loss=loss)
