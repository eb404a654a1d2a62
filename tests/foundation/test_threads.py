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
