"""Single place where attnlab imports jax (it never changes jax's global configuration).

Precision is scoped, not global: see :mod:`attnlab.precision` (``uses_jax``).
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

__all__ = [
    "counter_normal",
    "flat_draw",
    "jax",
    "jit_xla_reductions",
    "jnp",
    "normal",
    "optimization_barrier",
    "threefry2x32",
]

# XLA's CPU backend hands reductions to YNNPACK library fusions by default (jaxlib ≥ 0.8); for the
# many short row reductions of a token loop (sums over N ≈ 10⁴ tokens for each of 30 seeds) those
# run about three times slower than XLA's own loops. Keeping only dot products in the library is
# a per-program compiler option, so jax's global configuration is untouched.
_REDUCTION_OPTIONS = {"xla_cpu_experimental_ynn_fusion_type": "LIBRARY_FUSION_TYPE_DOT"}


def optimization_barrier(x: Any) -> Any:
    """``jax.lax.optimization_barrier(x)`` where this jax has it, else ``x`` (jax 0.4.31, the
    oldest we support, has no such function).

    The barrier only stops XLA from fusing (recomputing) the computation of ``x`` into its
    consumers; the values are the same with or without it, so older jax runs the same numbers,
    only with another fusion.
    """
    barrier = getattr(jax.lax, "optimization_barrier", None)
    return x if barrier is None else barrier(x)


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
    return flat_draw(jax.random.normal, key, shape, jnp.float32).astype(dtype)


_THREEFRY_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
_THREEFRY_PARITY = 0x1BD11BDA


def threefry2x32(key: Any, x0: Any, x1: Any) -> tuple[Any, Any]:
    r"""The Threefry-2x32 block function (20 rounds) of the counter pairs ``(x0, x1)``.

    Threefry-2×32 (Salmon, Moraes, Dror and Shaw, 2011) with key words :math:`k_0, k_1` and
    :math:`k_2 = k_0 \oplus k_1 \oplus \mathtt{0x1BD11BDA}`: the pair is offset by
    :math:`(k_0, k_1)`, then five groups of four rounds
    :math:`x_0 \leftarrow x_0 + x_1,\ x_1 \leftarrow \operatorname{rotl}(x_1, r) \oplus x_0`
    (rotations :math:`r` = 13, 15, 26, 6 in even groups, 17, 29, 16, 24 in odd ones) each followed
    by the key injection :math:`x_0 \mathrel{+}= k_{(i+1) \bmod 3}`,
    :math:`x_1 \mathrel{+}= k_{(i+2) \bmod 3} + i + 1` for group :math:`i = 0, \dots, 4`; all
    arithmetic modulo :math:`2^{32}`. These are the numbers of jax's ``threefry2x32`` primitive
    (tested equal to the bit on arbitrary counters and keys); written out round by round so that
    XLA on CPU fuses the whole hash into one loop, where jax's CPU lowering runs the five groups
    as a loop that copies its state between groups.

    Parameters
    ----------
    key : jax.Array
        The two uint32 key words, shape ``(2,)``.
    x0, x1 : jax.Array
        uint32 counter words of one shape.

    Returns
    -------
    tuple of jax.Array
        The two uint32 output words, each of the counters' shape.
    """
    k0, k1 = key[0], key[1]
    ks = (k0, k1, k0 ^ k1 ^ jnp.uint32(_THREEFRY_PARITY))
    x0, x1 = x0 + ks[0], x1 + ks[1]
    for group in range(5):
        for r in _THREEFRY_ROTATIONS[group % 2]:
            x0 = x0 + x1
            x1 = ((x1 << jnp.uint32(r)) | (x1 >> jnp.uint32(32 - r))) ^ x0
        x0 = x0 + ks[(group + 1) % 3]
        x1 = x1 + ks[(group + 2) % 3] + jnp.uint32(group + 1)
    return x0, x1


def counter_normal(key: Any, n: int, dtype: Any) -> Any:
    r"""``n`` standard normal draws (float32, carried in ``dtype``) from threefry2x32 on the
    plain counter :math:`0, \dots, n-1`, both output words of every block used.

    The numbers are jax's own for ``jax.random.normal(key, (n,), float32)`` in jax's
    *non-partitionable* threefry layout (tested equal to the bit where jax has the
    ``threefry_partitionable`` switch): with :math:`h = \lceil n/2 \rceil`, the counter pair
    :math:`(i, i + h)` is hashed once (:func:`threefry2x32`) and its two output words are the
    bits of draws :math:`i` and :math:`i + h` (for odd :math:`n` the last pair is
    :math:`(h - 1, 0)` and its second word is dropped); each 32-bit word :math:`b` becomes
    :math:`u \in (-1, 1)` from its top 23 bits and then :math:`\sqrt 2\,\operatorname{erf}^{-1}(u)`.
    jax's default (partitionable) layout hashes one block per draw and keeps one word, so this
    draws the same law at about half the hashing cost. It does not read jax's configuration,
    so its stream is the same whatever the user set.

    Parameters
    ----------
    key : jax key
        A threefry2x32 key (jax's default). Another kind of key falls back to
        ``jax.random.normal``.
    n : int
        Number of draws.
    dtype : numpy or jax dtype
        The dtype of the result.

    Returns
    -------
    jax.Array
        Shape ``(n,)``.
    """
    data = (
        jax.random.key_data(key) if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key) else key
    )
    if data.shape != (2,):  # not a threefry2x32 key
        return normal(key, (n,), dtype)
    half = (n + 1) // 2  # odd n: the counter is padded with one 0, as jax pads it
    counter = jnp.arange(half, dtype=jnp.uint32)
    upper = jnp.where(counter < n - half, counter + jnp.uint32(half), jnp.uint32(0))
    bits = jnp.concatenate(threefry2x32(data.astype(jnp.uint32), counter, upper))[:n]
    one = jax.lax.bitcast_convert_type(jnp.float32(1.0), jnp.uint32)
    mantissa = jax.lax.shift_right_logical(bits, jnp.uint32(32 - 23)) | one
    unit = jax.lax.bitcast_convert_type(mantissa, jnp.float32) - jnp.float32(1.0)  # [0, 1)
    low = jnp.nextafter(jnp.float32(-1.0), jnp.float32(0.0))
    u = jnp.maximum(low, unit * (jnp.float32(1.0) - low) + low)
    return (jnp.sqrt(jnp.float32(2.0)) * jax.lax.erf_inv(u)).astype(dtype)


def flat_draw(sample: Callable[..., Any], key: Any, shape: Any, *args: Any, **kwargs: Any) -> Any:
    """``sample(key, shape, *args, **kwargs)`` drawn as one flat vector and reshaped.

    The numbers are the same as the direct draw: jax's threefry gives the element at row-major
    index :math:`i` the counter :math:`i` (partitionable or not), so the flat draw reshaped is
    the array drawn in ``shape``. Only the compiled program differs: with partitionable
    threefry (jax's default) the counter of a rank-:math:`r` draw is built from :math:`r`
    iotas, and XLA's CPU compiler takes seconds over a rank-4 draw (a rank-3 draw under
    ``vmap``), against a fraction of a second for the flat one.

    Parameters
    ----------
    sample : callable
        A ``jax.random`` sampler whose second argument is the shape and whose draws are
        elementwise (``normal``, ``uniform``; tested against the direct draw for ``normal``
        and for ``bernoulli``, a uniform draw compared with ``p``).
    key : jax key
    shape : tuple of int
    *args, **kwargs
        Passed on to ``sample``.

    Returns
    -------
    jax.Array
        Of shape ``shape``.
    """
    shape = tuple(int(n) for n in shape)
    return sample(key, (math.prod(shape),), *args, **kwargs).reshape(shape)


@functools.cache
def _xla_reduction_options() -> tuple[tuple[str, str], ...]:
    """The compiler options of :func:`jit_xla_reductions` where this jax and backend accept them
    (a CPU backend whose XLA has the option; older jax has no per-program options): else none."""
    if jax.default_backend() != "cpu":
        return ()
    if "compiler_options" not in inspect.signature(jax.jit).parameters:
        return ()
    try:
        jax.jit(lambda x: x + 1, compiler_options=_REDUCTION_OPTIONS).lower(1.0).compile()
    except Exception:  # noqa: BLE001 — this XLA has no such option: compile as jax would
        return ()
    return tuple(_REDUCTION_OPTIONS.items())


def jit_xla_reductions(fun: Callable[..., Any], **jit_kwargs: Any) -> Callable[..., Any]:
    """``jax.jit(fun, **jit_kwargs)`` with reductions compiled by XLA itself on CPU.

    Used for the token loops whose cost is many row reductions (sum over tokens per seed), which
    the YNNPACK reduce fusions of recent XLA on CPU make several times slower (measured in
    ``benchmarks/subspace.py``; see docs/findings.md). On other backends, or where this jax
    cannot set the option per program, this is plain ``jax.jit``.
    The option is decided at the first call (it needs the backend), not at import.
    """
    compiled: list[Callable[..., Any]] = []

    @functools.wraps(fun)
    def call(*args: Any, **kwargs: Any) -> Any:
        if not compiled:
            options = dict(_xla_reduction_options())
            extra = {"compiler_options": options} if options else {}
            compiled.append(jax.jit(fun, **jit_kwargs, **extra))
        return compiled[0](*args, **kwargs)

    return call
