"""One randomness contract for the whole library: an explicit jax key, no global state.

Every randomised function of attnlab takes its randomness as one argument named ``key``:

- a single jax key (``jax.random.key(seed)``) for one draw or one run;
- a 1-d array of keys, shape ``(n,)``, for ``n`` independent replicates (seeds) run together,
  e.g. ``replicate_keys(seed, n)``; the output then has a leading replicate axis of length n.

Replicate ``i`` of root ``seed`` always gets the key ``fold_in(key(seed), i)``, so its numbers do
not depend on how many replicates run or how they are batched (``replicate_keys(seed, n)[i]``
equals ``replicate_keys(seed, 1, start=i)[0]``), nor on the device or the sweep engine (jax's
threefry generator is device independent). Inside a run, :func:`stream` derives named
independent sub-streams (``stream(key, "noise")``), so adding a new random quantity never
shifts the existing ones. Code that needs numpy's generators (sparse sampling, scipy) gets one
from a jax key with :func:`numpy_generator`; nothing in attnlab uses numpy's or jax's global
random state.
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np

from attnlab._validate import ParameterError, check_int

__all__ = [
    "MAX_SEED",
    "as_key_batch",
    "is_key",
    "numpy_generator",
    "replicate_keys",
    "root_key",
    "stream",
]

MAX_SEED = 2**63 - 1
MAX_REPLICATES = 2**32  # replicate indices are folded in as uint32


def _jax() -> Any:
    import jax

    return jax


def root_key(seed: int) -> Any:
    """The root key of a run.

    Parameters
    ----------
    seed : int
        In ``[0, 2^63 - 1]``.

    Returns
    -------
    jax.Array
        A new-style typed jax key, ``jax.random.key(seed)``.
    """
    jax = _jax()
    if isinstance(seed, int | np.integer):
        seed = check_int("seed", seed, lo=0, hi=MAX_SEED)
        return jax.random.key(int(seed))
    return jax.random.key(seed)  # a traced seed inside jit is left to jax


def replicate_keys(seed: int, n: int, *, start: int = 0) -> Any:
    """Keys of replicates ``start, ..., start + n - 1`` of root ``seed``.

    Replicate ``i`` gets ``fold_in(key(seed), i)`` whatever ``n`` and ``start``.

    Parameters
    ----------
    seed : int
        Root seed, in ``[0, 2^63 - 1]``.
    n : int
        Number of replicates, ``>= 0``.
    start : int, optional
        Index of the first replicate.

    Returns
    -------
    jax.Array
        Keys, shape ``(n,)``.
    """
    jax = _jax()
    n = check_int("n", n, lo=0, hi=MAX_REPLICATES)
    start = check_int("start", start, lo=0, hi=MAX_REPLICATES - n)
    key = root_key(seed)
    idx = np.arange(start, start + n, dtype=np.uint32)
    return jax.vmap(lambda i: jax.random.fold_in(key, i))(idx)


def stream(key: Any, tag: str) -> Any:
    """A named, independent sub-stream of ``key``: ``fold_in(key, crc32(tag))``.

    Works on a single key or elementwise on an array of keys.
    """
    if not isinstance(tag, str):
        raise ParameterError(f"tag = {tag!r} must be a string")
    jax = _jax()
    data = zlib.crc32(tag.encode()) & 0x7FFFFFFF
    key = _check_key(key)
    if key.ndim == 0:
        return jax.random.fold_in(key, data)
    return jax.vmap(lambda k: jax.random.fold_in(k, data))(key.reshape(-1)).reshape(key.shape)


def is_key(key: Any) -> bool:
    """Whether ``key`` is a jax key or an array of keys (typed or legacy ``uint32[..., 2]``)."""
    jax = _jax()
    try:
        if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
            return True
    except AttributeError:
        return False
    return False


def _check_key(key: Any) -> Any:
    """A typed key array; legacy ``uint32`` keys are wrapped; anything else is refused."""
    jax = _jax()
    if is_key(key):
        return key
    arr = np.asarray(key) if not hasattr(key, "dtype") else key
    if getattr(arr, "dtype", None) == np.uint32 and arr.shape[-1:] == (2,):
        return jax.random.wrap_key_data(arr)
    raise ParameterError(
        f"key = {type(key).__name__}: must be a jax key (jax.random.key(seed)) or an array of "
        "keys (attnlab.rng.replicate_keys(seed, n))"
    )


def as_key_batch(key: Any) -> tuple[Any, bool]:
    """Normalise the ``key`` argument of a replicated function.

    Returns
    -------
    keys : jax.Array
        Shape ``(n,)``: the given array of keys, or the single key as a batch of one.
    single : bool
        True when a single key was given (the caller then drops the replicate axis).
    """
    key = _check_key(key)
    if key.ndim == 0:
        return key[None], True
    if key.ndim != 1:
        raise ParameterError(f"key has shape {tuple(key.shape)}: must be a key or a 1-d array")
    if key.shape[0] == 0:
        raise ParameterError("key is an empty array of keys: give at least one replicate")
    return key, False


def numpy_generator(key: Any) -> np.random.Generator:
    """A numpy ``Generator`` determined by a single jax key (for numpy/scipy-side sampling).

    The generator is seeded by the key's raw data through ``SeedSequence``, so the same key
    always gives the same numpy stream.
    """
    jax = _jax()
    key = _check_key(key)
    if key.ndim != 0:
        raise ParameterError(f"key has shape {tuple(key.shape)}: numpy_generator needs one key")
    words = np.asarray(jax.random.key_data(key), dtype=np.uint32).ravel().tolist()
    return np.random.default_rng(np.random.SeedSequence(words))
