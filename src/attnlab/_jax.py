"""Single place where attnlab imports jax (it never changes jax's global configuration).

Precision is scoped, not global: see :mod:`attnlab.precision` (``uses_jax``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["jax", "jnp"]
