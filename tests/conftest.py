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
# 2026-12-03, tenth session), heaviest first. Only the order in which files are handed to the
# xdist workers depends on this: each worker takes the next file when it is free, so starting
# with the long files leaves short ones for the end, and no worker idles while the other
# finishes a long file (the tail was about a minute). A file not listed counts as light.
# Nothing is selected or skipped by it; a stale entry only makes the split less even.
FILE_SECONDS = {
    "gslr/test_bayes_optimal.py": 135,
    "erf_slr/test_sgd.py": 105,
    "foundation/test_sweep.py": 101,
    "gslr/test_experiments.py": 100,
    "foundation/test_signals.py": 67,
    "erf_slr/test_reduced.py": 64,
    "foundation/test_store.py": 60,
    "gslr/test_stability.py": 55,
    "subspace/test_simulate.py": 53,
    "subspace/test_escape.py": 48,
    "gslr/test_replica.py": 48,
    "subspace/test_reduced.py": 41,
    "erf_slr/test_experiments.py": 40,
    "foundation/test_cli.py": 37,
    "subspace/test_closed_form.py": 36,
    "foundation/test_display.py": 36,
    "erf_slr/test_risk.py": 34,
    "foundation/test_dask_cluster.py": 34,
    "gslr/test_population.py": 32,
    "pooling/test_experiments.py": 31,
    "subspace/test_baselines.py": 31,
    "docs/test_site.py": 30,
    "gslr/test_sampler.py": 30,
    "gslr/test_erm.py": 30,
    "erf_slr/test_pgd.py": 30,
    "subspace/test_experiments.py": 28,
    "report/test_browser.py": 26,
    "erf_slr/test_data.py": 26,
    "erf_slr/test_snippet.py": 25,
    "gslr/test_activations.py": 25,
    "report/test_reproduce.py": 24,
    "gslr/test_example.py": 21,
    "subspace/test_full.py": 20,
    "subspace/test_snippet.py": 20,
    "gslr/test_large_signal.py": 20,
    "subspace/test_ode.py": 19,
    "foundation/test_rng.py": 18,
    "pooling/test_bulk.py": 15,
    "subspace/test_sampler.py": 13,
    "erf_slr/test_limit.py": 11,
    "subspace/test_noise.py": 10,
    "foundation/test_side_effects.py": 9,
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
