"""attnlab._threads: groups cover the items; threads keep the caller's precision and context."""

from __future__ import annotations

import numpy as np
import pytest

from attnlab import progress
from attnlab._jax import jnp
from attnlab._threads import cpu_groups, thread_map
from attnlab.precision import default_dtype, precision, uses_jax


@pytest.mark.parametrize("n", [1, 2, 7, 30, 31])
@pytest.mark.parametrize("min_size", [1, 4, 100])
def test_groups_cover_the_items_in_order(n, min_size):
    groups = cpu_groups(n, min_size)
    covered = np.concatenate([np.arange(n)[g] for g in groups])
    np.testing.assert_array_equal(covered, np.arange(n))
    assert all(g.stop - g.start >= min(min_size, n) for g in groups)


def test_threads_keep_the_callers_precision_and_reporter():
    seen = []

    class Reporter:
        def start(self, description, total):
            seen.append(description)

        def advance(self, handle, amount):
            pass

        def finish(self, handle):
            pass

    def work(i):
        with progress.track(f"item {i}", total=1):
            pass
        return default_dtype(), str(np.asarray(jnp.ones(1) / 3).dtype)

    for dtype in ("float32", "float64"):
        seen.clear()
        with precision(dtype), progress.reporting(Reporter()):
            out = uses_jax(lambda: thread_map(work, [0, 1, 2]))()
        assert out == [(dtype, dtype)] * 3
        assert sorted(seen) == ["item 0", "item 1", "item 2"]


def test_lapack_programs_run_one_at_a_time_across_threads():
    """lapack_program lets one holder in at a time (two batched LAPACK calls at once can
    deadlock XLA's CPU pool), and a holder may enter again (re-entrant)."""
    import threading
    import time

    from attnlab._threads import lapack_program, thread_map

    inside, most = [0], [0]
    lock = threading.Lock()

    def hold(_):
        with lapack_program(), lapack_program():  # re-entrant: no self-deadlock
            with lock:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            time.sleep(0.05)
            with lock:
                inside[0] -= 1

    thread_map(hold, list(range(4)))
    assert most[0] == 1
