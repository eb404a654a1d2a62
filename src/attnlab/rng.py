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
from attnlab._validate import ParameterError, check_int

MAX_SEED = 2**63 - 1
MAX_REPLICATES = 2**32  # replicate indices are folded in as uint32


def _check_seed(seed: int) -> int:
    if isinstance(seed, int | np.integer):  # a traced seed (inside jit) is left to jax
        return check_int("seed", seed, lo=0, hi=MAX_SEED)
    return seed


def root_key(seed: int) -> jax.Array:
    """The root key of a run (new-style typed jax key); ``seed`` in ``[0, 2^63 - 1]``."""
    seed = _check_seed(seed)
    return jax.random.key(int(seed) if isinstance(seed, int) else seed)


def replicate_keys(seed: int, n: int, *, start: int = 0) -> jax.Array:
    """Keys of replicates ``start .. start+n-1``: ``fold_in(key(seed), i)``, shape ``(n,)``."""
    n = check_int("n", n, lo=0)
    start = check_int("start", start, lo=0, hi=MAX_REPLICATES - n)
    key = root_key(seed)
    idx = jnp.arange(start, start + n, dtype=jnp.uint32)
    return jax.vmap(lambda i: jax.random.fold_in(key, i))(idx)


def stream(key: jax.Array, tag: str) -> jax.Array:
    """A named, independent sub-stream of ``key`` (``fold_in`` with a crc32 of the tag)."""
    if not isinstance(tag, str):
        raise ParameterError(f"tag = {tag!r} must be a string")
    return jax.random.fold_in(key, zlib.crc32(tag.encode()) & 0x7FFFFFFF)


def numpy_rng(seed: int, *path: int | str) -> np.random.Generator:
    """A numpy Generator for ``(seed, *path)`` (strings hashed with crc32), for numpy-side code.

    ``seed`` and integer path entries must be >= 0 (numpy's SeedSequence words)."""
    seed = check_int("seed", seed, lo=0, hi=MAX_SEED)
    words = [seed]
    for i, p in enumerate(path):
        if isinstance(p, str):
            words.append(zlib.crc32(p.encode()))
        else:
            words.append(check_int(f"path[{i}]", p, lo=0))
    return np.random.default_rng(np.random.SeedSequence(words))
