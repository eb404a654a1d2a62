"""Parameter checks that fail early with one clear line.

Every public function of attnlab validates its scalar parameters with these helpers, so a bad
value is reported as ``ParameterError: theta = -1 is out of range: must be in [0, inf)`` — the
parameter, the value and the valid range — instead of a traceback deep inside jax or a silent
wrong answer. ``ParameterError`` subclasses ``ValueError``; the CLI prints it as one line.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any


class ParameterError(ValueError):
    """A parameter outside its valid range (the message names parameter, value and range)."""


def _interval(lo: float | None, hi: float | None, lo_open: bool, hi_open: bool) -> str:
    left = "(" if (lo is None or lo_open) else "["
    right = ")" if (hi is None or hi_open) else "]"
    lo_s = "-inf" if lo is None else f"{lo:g}"
    hi_s = "inf" if hi is None else f"{hi:g}"
    return f"{left}{lo_s}, {hi_s}{right}"


def check_range(
    name: str,
    value: Any,
    *,
    lo: float | None = None,
    hi: float | None = None,
    lo_open: bool = False,
    hi_open: bool = False,
) -> float:
    """Return ``float(value)`` if it lies in the interval, else raise :class:`ParameterError`.

    ``lo_open`` / ``hi_open`` make the bound strict: ``check_range("lam", x, lo=0, lo_open=True)``
    accepts ``x > 0`` only. NaN is always rejected.
    """
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ParameterError(f"{name} = {value!r} is not a number") from None
    interval = _interval(lo, hi, lo_open, hi_open)
    bad = math.isnan(x)
    if lo is not None:
        bad |= x <= lo if lo_open else x < lo
    if hi is not None:
        bad |= x >= hi if hi_open else x > hi
    if bad:
        raise ParameterError(f"{name} = {value!r} is out of range: must be in {interval}")
    return x


def check_int(name: str, value: Any, *, lo: int | None = None, hi: int | None = None) -> int:
    """Return ``int(value)`` if it is an integer in ``[lo, hi]``, else raise ParameterError."""
    if isinstance(value, bool) or not float(value).is_integer():
        raise ParameterError(f"{name} = {value!r} must be an integer")
    check_range(name, value, lo=lo, hi=hi)
    return int(value)


def check_choice(name: str, value: Any, choices: Iterable[Any]) -> Any:
    """Return ``value`` if it is one of ``choices``, else raise ParameterError listing them."""
    choices = tuple(choices)
    if value not in choices:
        raise ParameterError(f"{name} = {value!r} is not one of {', '.join(map(repr, choices))}")
    return value
