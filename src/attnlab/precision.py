"""Floating-point precision of attnlab's jax computations, without touching jax's global flag.

attnlab computes in float64 by default: its acceptance tests compare simulation with theory to
tolerances that float32 cannot always resolve. It never turns on ``jax_enable_x64`` for the
whole process. Instead every public function that runs jax code enters jax's *scoped*
``enable_x64`` context for the duration of the call (the :func:`uses_jax` decorator), so a
user's own jax code keeps whatever precision the user chose, before and after the call.

The precision attnlab uses is, in order of preference:

1. the innermost ``with attnlab.precision.precision("float32"):`` block (a context variable, so
   it is per thread and per asyncio task);
2. the environment variable ``ATTNLAB_X64`` (``0`` means float32) read at import;
3. float64.

Simulators that take a ``dtype`` argument draw and integrate in that dtype *within* the x64
context (float32 simulation is one keyword away, e.g. for GPUs with slow float64).

Matrix products run at the full precision of their dtype: the same scoped call sets jax's
default matmul precision to ``"highest"``. On a CPU that changes nothing; on an NVIDIA GPU jax's
default float32 product rounds its inputs to TensorFloat-32 (a 10-bit mantissa, relative error
about 1e-3), which is not what "float32" promises, and made the L-BFGS line search of
``slr-finite``'s float32 ERM find no decrease on an H200 (the project's findings). The user's own
setting is back in force after the call.

Arrays returned by attnlab's public functions are numpy arrays, so they keep their dtype after
the call (a float64 *jax* array used outside an x64 context would silently be truncated to
float32 by the next jax operation).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import os
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

__all__ = ["default_dtype", "precision", "uses_jax", "x64_enabled"]

F = TypeVar("F", bound=Callable[..., Any])

_DTYPES = ("float64", "float32")
_X64: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "attnlab_x64", default=os.environ.get("ATTNLAB_X64", "1").strip() != "0"
)


def x64_enabled() -> bool:
    """Whether attnlab's computations currently run with 64-bit floats."""
    return _X64.get()


def default_dtype() -> str:
    """``"float64"`` or ``"float32"``: the dtype attnlab uses where none is given."""
    return "float64" if _X64.get() else "float32"


@contextlib.contextmanager
def precision(dtype: str) -> Iterator[None]:
    """Run attnlab's computations inside the block at ``dtype`` (``"float64"`` or ``"float32"``).

    Only attnlab's own functions are affected; jax's global ``jax_enable_x64`` flag is not
    changed.

    Parameters
    ----------
    dtype : {"float64", "float32"}
        Precision of attnlab's jax computations inside the block.
    """
    from attnlab._validate import check_choice

    check_choice("dtype", str(dtype), _DTYPES)
    token = _X64.set(str(dtype) == "float64")
    try:
        yield
    finally:
        _X64.reset(token)


def _enable_x64(flag: bool) -> Any:
    import jax

    ctx = getattr(jax, "enable_x64", None)
    if ctx is None:  # jax < 0.6: the same scoped context under jax.experimental
        from jax.experimental import enable_x64 as ctx
    return ctx(flag)


MATMUL_PRECISION = "highest"  # products at the full precision of their dtype (module docstring)


def uses_jax(fn: F) -> F:
    """Decorate a public function so that its jax code runs at attnlab's precision.

    The call (tracing, compilation and execution) happens inside jax's scoped ``enable_x64``
    context set to :func:`x64_enabled` and its scoped default matmul precision set to
    :data:`MATMUL_PRECISION`; on return jax's own settings are back as they were.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        import jax

        with _enable_x64(_X64.get()), jax.default_matmul_precision(MATMUL_PRECISION):
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
