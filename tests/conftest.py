"""Fixtures shared by every family's tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_SESSION_CACHE: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    """One persistent compilation cache for the whole test session, in a fresh temporary
    directory: the xdist workers and every process the tests start (examples, the command,
    sweep workers) inherit it, so a program that several of them compile is compiled once and
    then loaded. Most of the suite's time is compilation; a loaded program is the one the
    compiler would produce, so no result changes. Set up once, by the controlling process
    (workers inherit the environment); a ``JAX_COMPILATION_CACHE_DIR`` of the user's is kept,
    and ``ATTNLAB_TEST_COMPILE_CACHE=off`` turns this off."""
    if os.environ.get("PYTEST_XDIST_WORKER") or os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        return
    from attnlab.cli._cache import OFF, enable_compile_cache  # the command's own (no jax import)

    if os.environ.get("ATTNLAB_TEST_COMPILE_CACHE", "").strip().lower() in OFF:
        return

    path = tempfile.mkdtemp(prefix="attnlab-test-xla-")
    _SESSION_CACHE.append(path)
    os.environ["ATTNLAB_COMPILE_CACHE"] = path
    enable_compile_cache()


# Seconds per test file on the 2-core CI machine (sum of `--durations=0` over the file's tests,
# 2026-12-03), heaviest first. Only the order in which files are handed to the xdist workers
# depends on this: each worker takes the next file when it is free, so starting with the long
# files leaves short ones for the end, and no worker idles while the other finishes a long file
# (the tail was about a minute). A file not listed counts as light. Nothing is selected or
# skipped by it; a stale entry only makes the split less even.
FILE_SECONDS = {
    "gslr/test_bayes_optimal.py": 121,
    "foundation/test_sweep.py": 101,
    "foundation/test_signals.py": 83,
    "erf_slr/test_sgd.py": 74,
    "gslr/test_experiments.py": 73,
    "gslr/test_replica.py": 59,
    "foundation/test_store.py": 50,
    "gslr/test_stability.py": 45,
    "subspace/test_simulate.py": 44,
    "gslr/test_population.py": 44,
    "erf_slr/test_reduced.py": 40,
    "foundation/test_cli.py": 36,
    "erf_slr/test_experiments.py": 35,
    "subspace/test_closed_form.py": 34,
    "subspace/test_reduced.py": 33,
    "subspace/test_escape.py": 31,
    "foundation/test_display.py": 31,
    "report/test_reproduce.py": 29,
    "report/test_browser.py": 29,
    "gslr/test_erm.py": 29,
    "foundation/test_rng.py": 28,
    "erf_slr/test_risk.py": 28,
    "foundation/test_dask_cluster.py": 26,
    "pooling/test_experiments.py": 25,
    "subspace/test_baselines.py": 24,
    "gslr/test_sampler.py": 23,
    "subspace/test_ode.py": 21,
    "subspace/test_experiments.py": 21,
    "docs/test_site.py": 21,
    "erf_slr/test_pgd.py": 20,
    "subspace/test_full.py": 19,
    "gslr/test_large_signal.py": 19,
    "erf_slr/test_snippet.py": 19,
    "gslr/test_example.py": 18,
    "erf_slr/test_data.py": 15,
    "foundation/test_side_effects.py": 14,
    "subspace/test_snippet.py": 11,
    "pooling/test_bulk.py": 11,
    "erf_slr/test_limit.py": 9,
    "subspace/test_sampler.py": 8,
    "subspace/test_noise.py": 7,
    "gslr/test_snippet.py": 6,
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Heaviest files first (``FILE_SECONDS``), each file's tests in their own order. The
    test command passes ``--no-loadscope-reorder`` so xdist keeps this order (its default
    orders files by their number of tests, which says little about their time)."""

    def seconds(item: pytest.Item) -> int:
        rel = item.path.relative_to(ROOT / "tests").as_posix() if item.path else ""
        return FILE_SECONDS.get(rel, 0)

    items.sort(key=lambda item: -seconds(item))  # stable: ties keep the collection order


def pytest_unconfigure(config: pytest.Config) -> None:
    for path in _SESSION_CACHE:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def run_example(tmp_path: Path) -> Callable[..., str]:
    """Run ``examples/<script>`` at toy size (``--toy --out tmp_path``) in a fresh interpreter,
    with ``src`` on the path and no display; assert it exits 0 and return its stdout."""

    def run(script: str, *, timeout: float = 300) -> str:
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "MPLBACKEND": "Agg"}
        proc = subprocess.run(
            [sys.executable, str(ROOT / "examples" / script), "--toy", "--out", str(tmp_path)],
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
        )
        assert proc.returncode == 0, f"{script} failed:\n{proc.stderr[-3000:]}"
        return proc.stdout

    return run
