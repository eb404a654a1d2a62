"""Importing attnlab and drawing a figure leave jax's and matplotlib's global settings alone."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap

import numpy as np

from attnlab.precision import default_dtype, precision, uses_jax


def test_import_and_plot_change_neither_jax_nor_matplotlib():
    code = textwrap.dedent(
        """
        import jax, matplotlib
        matplotlib.use("svg")
        rc = dict(matplotlib.rcParams)
        import attnlab, attnlab.subspace, attnlab.pooling, attnlab.erf_slr, attnlab.gslr
        import attnlab.registry
        attnlab.registry.discover()
        from attnlab import plot
        fig, ax = plot.subplots()
        plot.theory_line(ax, [0, 1], [0, 1])
        plot.simulation_band(ax, [0, 1], [[0, 1], [0.2, 1.1]], clip=(0, 1))
        plot.finish(ax, xlabel="x", ylabel="y", title="t")
        plot.figure_bytes(fig, "pdf")
        changed = sorted(k for k, v in matplotlib.rcParams.items() if rc.get(k) != v)
        print(jax.config.jax_enable_x64, matplotlib.get_backend(), changed)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True
    ).stdout.split()
    assert out == ["False", "svg", "[]"]


def test_precision_is_scoped():
    import jax
    import jax.numpy as jnp

    @uses_jax
    def f():
        return np.asarray(jnp.ones(2) / 3), jax.config.jax_enable_x64

    before = jax.config.jax_enable_x64
    x, flag = f()
    assert x.dtype == np.float64 and flag and default_dtype() == "float64"
    with precision("float32"):
        y, flag32 = f()
        assert default_dtype() == "float32"
    assert y.dtype == np.float32 and not flag32
    assert jax.config.jax_enable_x64 == before


def test_matrix_products_run_at_full_precision_and_the_user_setting_returns():
    """On an NVIDIA GPU jax's default float32 product is TensorFloat-32 (found on an H200: the
    float32 ERM's line search failed). attnlab's calls lower every product at HIGHEST, seen in
    the program jax compiles (the same text on any backend), and leave the user's setting."""
    import jax
    import jax.numpy as jnp

    def product_precisions() -> set[str]:
        x = jnp.ones((3, 3), jnp.float32)
        text = jax.jit(lambda a, b: a @ b).lower(x, x).as_text()
        return set(re.findall(r"precision = \[(\w+), \w+\]", text))

    with jax.default_matmul_precision("tensorfloat32"):
        assert product_precisions() != {"HIGHEST"}  # the check can fail
        assert uses_jax(product_precisions)() == {"HIGHEST"}
        with precision("float32"):
            assert uses_jax(product_precisions)() == {"HIGHEST"}
        assert jax.config.jax_default_matmul_precision == "tensorfloat32"


def test_import_leaves_the_compilation_cache_alone_and_the_command_sets_it(tmp_path):
    code = textwrap.dedent(
        """
        import os, jax
        import attnlab, attnlab.cli, attnlab.subspace
        before = jax.config.jax_compilation_cache_dir
        from attnlab.cli._cache import enable_compile_cache
        path = enable_compile_cache()
        print(before, path == jax.config.jax_compilation_cache_dir,
              path == os.environ["JAX_COMPILATION_CACHE_DIR"], path.startswith(os.environ["B"]))
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "JAX_COMPILATION_CACHE_DIR"}
    env.update(ATTNLAB_COMPILE_CACHE=str(tmp_path), B=str(tmp_path))
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
        env=env,
    ).stdout.split()
    assert out == ["None", "True", "True", "True"]


def test_compile_cache_can_be_turned_off(monkeypatch):
    from attnlab.cli._cache import enable_compile_cache

    monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR", raising=False)
    monkeypatch.setenv("ATTNLAB_COMPILE_CACHE", "off")
    assert enable_compile_cache() is None
    assert "JAX_COMPILATION_CACHE_DIR" not in os.environ
    monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", "/somewhere/of/the/users")
    monkeypatch.setenv("ATTNLAB_COMPILE_CACHE", "")
    assert enable_compile_cache() == "/somewhere/of/the/users"  # the user's own is kept
