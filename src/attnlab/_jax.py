"""Single place where attnlab imports and configures jax.

attnlab enables 64-bit floats in jax (``jax_enable_x64``) on first use, because its acceptance
tests compare simulation with theory to tolerances that float32 cannot always resolve (e.g. the
4-coordinate vs full-d gradient descent of SLR part A). Simulators take a ``dtype`` argument, so
float32 is one keyword away for large GPU runs. Set ``ATTNLAB_X64=0`` to leave jax's default.
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp

if os.environ.get("ATTNLAB_X64", "1") != "0":
    jax.config.update("jax_enable_x64", True)

__all__ = ["jax", "jnp"]
