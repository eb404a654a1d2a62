"""Single place where attnlab imports jax (it never changes jax's global configuration).

Precision is scoped, not global: see :mod:`attnlab.precision` (``uses_jax``).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

__all__ = ["jax", "jnp", "normal"]


def normal(key: Any, shape: Any, dtype: Any) -> Any:
    """Standard normal draws generated in float32 and carried in ``dtype``.

    On CPU, jax draws float64 normals about four times slower than float32 ones (64 random bits
    and a float64 inverse error function per number). Simulations whose cost is the drawing of
    their random numbers draw them in float32 and do their arithmetic in ``dtype``: the draws
    keep 24 bits of resolution (tails to ≈ 5.3 standard deviations), far below any Monte-Carlo
    error, and the arithmetic keeps its precision.

    Parameters
    ----------
    key : jax key
    shape : tuple of int
    dtype : numpy or jax dtype
        The dtype of the result.

    Returns
    -------
    jax.Array
    """
    return jax.random.normal(key, shape, jnp.float32).astype(dtype)
