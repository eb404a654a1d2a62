"""Reproducible random streams: one root seed, independent streams per replicate.

Replicate ``i`` of a run with root ``seed`` always gets the key ``fold_in(key(seed), i)`` —
the same numbers whatever the number of replicates, the batch they are vmapped in, or the device
(jax's threefry generator is device independent). Sub-streams inside a replicate are derived by
:func:`stream` with a string tag, so adding a new random quantity never shifts existing ones.
There is no global state anywhere in attnlab: every randomised function takes a key or a seed.
"""

from __future__ import annotations

import zlib

import numpy as np

from attnlab._jax import jax, jnp


def root_key(seed: int) -> jax.Array:
    """The root key of a run (new-style typed jax key)."""
    return jax.random.key(int(seed))


def replicate_keys(seed: int, n: int, *, start: int = 0) -> jax.Array:
    """Keys of replicates ``start .. start+n-1``: ``fold_in(key(seed), i)``, shape ``(n,)``."""
    idx = jnp.arange(start, start + n, dtype=jnp.uint32)
    return jax.vmap(lambda i: jax.random.fold_in(root_key(seed), i))(idx)


def stream(key: jax.Array, tag: str) -> jax.Array:
    """A named, independent sub-stream of ``key`` (``fold_in`` with a crc32 of the tag)."""
    return jax.random.fold_in(key, zlib.crc32(tag.encode()) & 0x7FFFFFFF)


def numpy_rng(seed: int, *path: int | str) -> np.random.Generator:
    """A numpy Generator for ``(seed, *path)`` (strings hashed with crc32), for numpy-side code."""
    words = [int(seed)] + [zlib.crc32(p.encode()) if isinstance(p, str) else int(p) for p in path]
    return np.random.default_rng(np.random.SeedSequence(words))
