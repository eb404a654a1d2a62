"""Importing attnlab and drawing a figure leave jax's and matplotlib's global settings alone."""

from __future__ import annotations

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
