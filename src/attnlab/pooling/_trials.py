"""Independent trials of the pooling family run side by side, one BLAS thread each.

A trial's work is a sequence of BLAS/LAPACK calls on arrays of a few megabytes: products of
the table with a block of two or three vectors (memory bound) and, for full spectra, a
symmetric eigensolver whose tridiagonal reduction is half matrix–vector products. A threaded
BLAS gains little on such calls and, when the cores are shared with other processes, loses
much (its threads spin while waiting for one another). Independent trials are therefore run
in a pool of ``min(trials, cores)`` Python threads (numpy releases the GIL inside BLAS and
LAPACK) with the BLAS libraries limited to one thread for the duration.

Each trial runs in a copy of the caller's context, so attnlab's precision
(:func:`attnlab.precision.precision`) holds inside it, and inside jax's scoped ``enable_x64``
at that precision. A trial's result depends on its own key only, so the results are the same
as those of a sequential loop, in the same order.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import TypeVar

from attnlab import progress
from attnlab.pooling._blas import cores, one_blas_thread, within_trials
from attnlab.precision import uses_jax

__all__ = ["map_trials"]

T = TypeVar("T")


def trial_workers(trials: int) -> int:
    """Threads used for ``trials`` independent trials: ``min(trials, cores)``."""
    return max(1, min(trials, cores()))


def map_trials(trial: Callable[[int], T], trials: int, description: str) -> list[T]:
    """``[trial(0), …, trial(trials − 1)]``, computed side by side (module docstring).

    Parameters
    ----------
    trial : callable
        ``trial(i)`` computes trial ``i`` (from its own key: no shared mutable state).
    trials : int
        Number of trials.
    description : str
        Progress description (one step per finished trial).

    Returns
    -------
    list
        The trials' results, in trial order.
    """
    jax_trial = uses_jax(trial)

    def run(i: int) -> T:
        with within_trials():  # no row blocks inside: the trials occupy the cores
            return jax_trial(i)

    workers = trial_workers(trials)
    with one_blas_thread(), progress.track(description, trials) as bar:
        if workers == 1:
            results = []
            for i in range(trials):
                results.append(run(i))
                bar.advance(1)
            return results
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(contextvars.copy_context().run, run, i) for i in range(trials)]
            for _ in as_completed(futures):
                bar.advance(1)
            return [f.result() for f in futures]
