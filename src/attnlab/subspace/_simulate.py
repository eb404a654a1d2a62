"""Projected SGA on the sphere, simulated by the chosen simulator for every replicate key."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from attnlab._jax import jax, jnp
from attnlab._threads import cpu_groups
from attnlab._validate import ParameterError
from attnlab.precision import default_dtype, precision, uses_jax
from attnlab.rng import as_key_batch
from attnlab.subspace import _full, _reduced
from attnlab.subspace._model import SubspaceModel
from attnlab.subspace._schedule import Constant, Full, Reduced, RobbinsMonro, Schedule, Simulator
from attnlab.subspace._trajectory import (
    Trajectory,
    assemble,
    blocked_program,
    check_run,
    run_chunks,
)

__all__ = ["simulate", "simulate_groups"]


def simulate(
    model: SubspaceModel | Sequence[SubspaceModel],
    key: Any,
    *,
    steps: int,
    schedule: Schedule | None = None,
    simulator: Simulator | None = None,
    batch: int = 1,
    log_every: int = 1,
    log_loss: bool = False,
    m0: Any = None,
) -> Trajectory:
    r"""Run projected SGA on the sphere for every replicate key.

    .. math:: q_{n+1} = \frac{q_n + a_n (I - q_n q_n^\top)\hat g_n}
       {\|q_n + a_n (I - q_n q_n^\top)\hat g_n\|}, \qquad
       \hat g_n = \frac1B \sum_{b=1}^{B} \nabla_q \ell(q_n; X_{n,b}),

    with :math:`\ell(q; X) = \|X^\top \mathrm{softmax}(\beta X q)\|^2`, fresh sequences
    :math:`X_{n,b}` of the model, q_0 and u independent and uniform on the sphere. Logs
    :math:`m_n = \langle q_n, u\rangle` every ``log_every`` steps (n = 0 included).

    Parameters
    ----------
    model : SubspaceModel or sequence of SubspaceModel
        One model for every replicate, or one per key: models sharing d, K, M and the sign law
        (θ, the θ scaling and β may differ) run in one compiled program, e.g. a sweep over θ.
    key : jax key or array of keys
        One key, or keys of shape ``(S,)`` for S independent runs (replicate i's numbers do not
        depend on the others).
    steps : int
        Number of SGA steps, ``>= 1``.
    schedule : RobbinsMonro or Constant, optional
        Step sizes a_n (default ``RobbinsMonro()``: c = 9, n0 = 30, p = 1).
    simulator : Reduced or Full, optional
        ``Reduced()`` (default): the exact reduced chain of m_n, O(B·N) per step whatever d;
        ``Full()``: the tokens themselves, O(B·N·d) per step. Both have the same law of (m_n).
    batch : int
        Mini-batch size B.
    log_every : int
        Logging interval, dividing ``steps``.
    log_loss : bool
        Also log ℓ(q_n; X_n) (batch mean).
    m0 : array, optional
        Initial overlaps, shape ``(S,)`` with entries in [−1, 1] (reduced simulator only);
        default: drawn from the law of ⟨q_0, u⟩.

    Returns
    -------
    Trajectory
        Steps, ODE times and m_n (shape ``(S, L)``, or ``(L,)`` for a single key).
    """
    keys, single = as_key_batch(key)
    (traj,) = simulate_groups(
        [(model, keys, schedule)],
        steps=steps,
        simulator=simulator,
        batch=batch,
        log_every=log_every,
        log_loss=log_loss,
        m0=m0,
    )
    if single:
        return Trajectory(
            step=traj.step,
            time=traj.time,
            m=traj.m[0],
            loss=None if traj.loss is None else traj.loss[0],
        )
    return traj


def simulate_groups(
    groups: Sequence[tuple[SubspaceModel | Sequence[SubspaceModel], Any, Schedule]],
    *,
    steps: int,
    simulator: Simulator | None = None,
    batch: int = 1,
    log_every: int = 1,
    log_loss: bool = False,
    m0: Any = None,
) -> list[Trajectory]:
    r"""Several groups of SGA runs in one compiled program, with common random numbers.

    Group g is ``(model, keys, schedule)``: its runs are those of
    ``simulate(model, keys, schedule=schedule, ...)``, and it gets that trajectory, number for
    number. Runs of different groups with the same replicate key see the same data (the same
    signs and Gaussian noise, scaled by each run's θ_d): common random numbers, which make
    differences between groups (two schedules, two temperatures) far less noisy than
    independent runs would. With :class:`Reduced` the numbers of a step are drawn once per
    distinct key and handed to every run that shares it, so G groups over the same S keys cost
    the drawing of S runs plus the arithmetic of G·S, about a third of G·S separate runs at
    the headline model.

    Parameters
    ----------
    groups : sequence of (model, keys, schedule)
        ``model``: a :class:`SubspaceModel` or one per key; ``keys``: a 1-d array of replicate
        keys; ``schedule``: :class:`RobbinsMonro` or :class:`Constant`. Every model of every
        group shares d, K, M and the sign law (θ, its scaling and β may differ).
    steps, simulator, batch, log_every, log_loss :
        As for :func:`simulate`, the same for every group.
    m0 : array, optional
        Initial overlaps of all runs, the groups' runs in order (reduced simulator only).

    Returns
    -------
    list of Trajectory
        One per group, m of shape (S_g, L), the times of the group's schedule.
    """
    simulator = Reduced() if simulator is None else simulator
    if not isinstance(simulator, Reduced | Full):
        raise ParameterError(f"simulator = {simulator!r}: must be Reduced() or Full()")
    if not isinstance(groups, list | tuple) or not groups:
        raise ParameterError(
            f"groups = {groups!r}: must be a non-empty list of (model, keys, schedule)"
        )
    runs = []
    for i, group in enumerate(groups):
        if not isinstance(group, tuple | list) or len(group) != 3:
            raise ParameterError(
                f"groups[{i}] = {group!r}: must be a (model, keys, schedule) triple"
            )
        model, key, schedule = group
        schedule = RobbinsMonro() if schedule is None else schedule
        if not isinstance(schedule, RobbinsMonro | Constant):
            raise ParameterError(
                f"schedule = {schedule!r}: must be RobbinsMonro(...) or Constant(...)"
            )
        keys, _ = as_key_batch(key)
        runs.append((_models(model, len(keys)), keys, schedule))
    _models(tuple(m for models, _, _ in runs for m in models), sum(len(k) for _, k, _ in runs))
    steps, batch, log_every = check_run(steps, batch, log_every)
    dtype = simulator.dtype or default_dtype()
    with precision(dtype):
        return _run(runs, steps, simulator, batch, log_every, bool(log_loss), m0)


def _models(model: Any, n: int) -> tuple[SubspaceModel, ...]:
    """One model per replicate, checked to share the program's static structure."""
    if isinstance(model, SubspaceModel):
        return (model,) * n
    models = tuple(model) if isinstance(model, list | tuple) else ()
    if not models or not all(isinstance(m, SubspaceModel) for m in models):
        raise ParameterError(f"model = {model!r}: must be a SubspaceModel or a list of them")
    if len(models) != n:
        raise ParameterError(f"{len(models)} models for {n} keys: give one model per key")
    shape = {(m.d, m.K, m.M, m.sign) for m in models}
    if len(shape) > 1:
        raise ParameterError(
            f"models differ in (d, K, M, sign) = {sorted(shape)}: only θ, θ-scaling and β may "
            "vary within one simulate call"
        )
    return models


# seeds per thread below which splitting the reduced simulator's seeds over cores does not pay
MIN_SEEDS_PER_THREAD = 4


def _shared_keys(keys: Any) -> tuple[Any, np.ndarray]:
    """The distinct keys among ``keys`` (in order of first appearance) and, per key, the index
    of its distinct key."""
    data = np.asarray(jax.random.key_data(keys)).reshape(len(keys), -1)
    first: dict[bytes, int] = {}
    source = np.array([first.setdefault(row.tobytes(), len(first)) for row in data])
    _, distinct = np.unique(source, return_index=True)
    return keys[distinct], source


@uses_jax
def _run(runs, steps, simulator, batch, log_every, log_loss, m0) -> list[Trajectory]:
    models = tuple(m for ms, _, _ in runs for m in ms)
    schedules = tuple(s for ms, _, s in runs for _ in ms)
    keys = jnp.concatenate([k for _, k, _ in runs])
    model = models[0]
    dtype = default_dtype()
    kind = _reduced if isinstance(simulator, Reduced) else _full
    if kind is _full:
        if m0 is not None:
            raise ParameterError("m0 can only be given to the Reduced() simulator")
        order = [np.arange(len(keys))]
        sources: list[Any] = [None]
        states = [_full.initial_state(model, keys, dtype)]
    else:
        # the distinct keys in groups run side by side, one thread per core (attnlab._threads),
        # each with every run that draws from them
        distinct, source = _shared_keys(keys)
        m_init = _initial_overlaps(model, keys, m0, dtype)
        order, sources, states = [], [], []
        for g in cpu_groups(len(distinct), MIN_SEEDS_PER_THREAD):
            members = np.nonzero((source >= g.start) & (source < g.stop))[0]
            order.append(members)
            sources.append(source[members] - g.start)
            states.append(_reduced.initial_state(distinct[g], m_init[members], dtype))
    programs = [
        blocked_program(
            kind.compiled_blocks,
            [models[i] for i in members],
            [schedules[i] for i in members],
            batch=batch,
            log_every=log_every,
            log_loss=log_loss,
            dtype=dtype,
            source=src,
        )
        for members, src in zip(order, sources, strict=True)
    ]
    states, logs = run_chunks(
        programs,
        states,
        steps=steps,
        log_every=log_every,
        n_seeds=len(keys),
        what="SGA " + ("reduced" if kind is _reduced else "full"),
    )
    back = np.argsort(np.concatenate(order))  # the runs back in the order given
    m_log = np.concatenate([np.asarray(ms) for ms, _ in logs], axis=1)
    final = np.concatenate([kind.final_overlap(state) for state in states])
    m_log = np.concatenate([m_log, final[:, None]], axis=1)[back]
    losses = None
    if log_loss:
        losses = np.concatenate([np.asarray(ls) for _, ls in logs], axis=1)[back]
    bounds = np.cumsum([0] + [len(k) for _, k, _ in runs])
    return [
        assemble(
            schedule,
            steps=steps,
            log_every=log_every,
            m_logged=m_log[lo:hi],
            losses=None if losses is None else losses[lo:hi],
            single=False,
        )
        for (_, _, schedule), lo, hi in zip(runs, bounds[:-1], bounds[1:], strict=True)
    ]


def _initial_overlaps(model: SubspaceModel, keys: Any, m0: Any, dtype: str) -> Any:
    if m0 is None:
        return _reduced.initial_overlap(keys, model.d, dtype)
    arr = np.atleast_1d(np.asarray(m0, dtype=float))
    if arr.shape != (len(keys),) or not np.all(np.abs(arr) <= 1):  # NaN fails too
        raise ParameterError(
            f"m0 must have shape ({len(keys)},) with entries in [-1, 1], got {np.asarray(m0)!r}"
        )
    return arr
