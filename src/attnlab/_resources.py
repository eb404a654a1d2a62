"""Fail fast on size: refuse, before any allocation, a run that cannot fit this machine.

Every experiment config estimates its peak memory and its work (:meth:`ExperimentConfig.cost
<attnlab.config.ExperimentConfig.cost>`); :func:`check_cost` compares them with the machine's
limits — the available RAM (or ``$ATTNLAB_MAX_MEMORY`` bytes) and a work ceiling
(``$ATTNLAB_MAX_FLOPS``, default :data:`DEFAULT_MAX_FLOPS`) — and refuses in one line that says
the estimate, its dominant term and the limit. ``allow_large`` (``--allow-large``) overrides.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from attnlab.config import ConfigError, Cost, ExperimentConfig

__all__ = [
    "DEFAULT_MAX_FLOPS",
    "Limits",
    "TooLargeError",
    "available_memory",
    "check_cost",
    "implements_cost",
    "machine_limits",
]

DEFAULT_MAX_FLOPS = 1e15  # about a day of float64 work on a 2-core CPU
MAX_FLOPS_ENV = "ATTNLAB_MAX_FLOPS"
MAX_MEMORY_ENV = "ATTNLAB_MAX_MEMORY"


class TooLargeError(ConfigError):
    """A config whose estimated memory or work exceeds this machine's limits (one line)."""


@dataclass(frozen=True)
class Limits:
    """What a run may use on this machine: memory in bytes, work in flops, and where each
    limit comes from (for the refusal message)."""

    memory_bytes: float
    flops: float
    memory_source: str = "available RAM"
    flops_source: str = "the work ceiling"


def _read_number(path: str) -> float | None:
    try:
        with open(path) as fh:
            text = fh.read().strip()
    except OSError:
        return None
    try:
        return float(text)
    except ValueError:  # "max": no limit
        return None


def _cgroup_room() -> float | None:
    """Bytes a memory-limited cgroup (a container, a batch job) still allows, if limited."""
    for limit_file, usage_file in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),  # cgroup v2
        (
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",  # cgroup v1
            "/sys/fs/cgroup/memory/memory.usage_in_bytes",
        ),
    ):
        limit = _read_number(limit_file)
        if limit is not None and limit < 2**60:  # v1 writes a huge number for "no limit"
            return max(limit - (_read_number(usage_file) or 0.0), 0.0)
    return None


def available_memory() -> float | None:
    """Bytes of memory available to a new allocation: Linux ``MemAvailable``, or less when a
    cgroup limits this process; ``None`` when unknown."""
    found: list[float] = []
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    found.append(float(line.split()[1]) * 1024)
    except OSError:
        pass
    if not found:
        try:
            found.append(float(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")))
        except (ValueError, OSError, AttributeError):
            pass
    room = _cgroup_room()
    if room is not None:
        found.append(room)
    return min(found) if found else None


def _env_number(name: str) -> float | None:
    text = os.environ.get(name)
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"${name} = {text!r}: must be a number") from None
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"${name} = {text!r}: must be a positive finite number")
    return value


def machine_limits() -> Limits:
    """The limits :func:`check_cost` applies: memory = ``$ATTNLAB_MAX_MEMORY`` bytes or the
    available RAM; work = ``$ATTNLAB_MAX_FLOPS`` or :data:`DEFAULT_MAX_FLOPS`."""
    memory, memory_source = _env_number(MAX_MEMORY_ENV), f"${MAX_MEMORY_ENV}"
    if memory is None:
        memory, memory_source = available_memory() or math.inf, "available RAM"
    flops, flops_source = _env_number(MAX_FLOPS_ENV), f"${MAX_FLOPS_ENV}"
    if flops is None:
        flops, flops_source = DEFAULT_MAX_FLOPS, f"the work ceiling (${MAX_FLOPS_ENV})"
    return Limits(memory, flops, memory_source, flops_source)


def _bytes(x: float) -> str:
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if x >= scale:
            return f"{x / scale:.3g} {unit}"
    return f"{x:.0f} B"


def check_cost(
    config: ExperimentConfig,
    *,
    name: str = "",
    allow_large: bool = False,
    limits: Limits | None = None,
) -> Cost | None:
    """Refuse, before any allocation, a config that cannot fit this machine.

    Parameters
    ----------
    config : ExperimentConfig
        Its ``cost()`` gives the estimated peak memory (bytes) and work (flops).
    name : str
        The experiment, to start the message with.
    allow_large : bool
        Refuse nothing.
    limits : Limits, optional
        Default :func:`machine_limits`.

    Returns
    -------
    Cost or None
        The estimate, or ``None`` for a config class that does not estimate its cost.

    Raises
    ------
    TooLargeError
        One line: memory above ``limits.memory_bytes`` or work above ``limits.flops``, with
        the estimate, its dominant term and the limit (also when ``cost()`` itself fails).
    """
    label = f"{name}: " if name else ""
    try:
        cost = config.cost()
    except NotImplementedError:
        return None
    except Exception as err:  # an estimate that overflows or fails is not a reason to run
        if allow_large:
            return None
        raise TooLargeError(
            f"{label}cannot estimate the cost of this config ({type(err).__name__}: {err}); "
            "pass --allow-large to run it anyway"
        ) from None
    if allow_large:
        return cost
    limits = limits or machine_limits()
    what = f" ({cost.what})" if cost.what else ""
    memory, flops = float(cost.memory_bytes), float(cost.flops)
    if math.isnan(memory) or math.isnan(flops):
        raise TooLargeError(f"{label}the cost estimate is not a number{what}")
    if memory > limits.memory_bytes:
        raise TooLargeError(
            f"{label}needs about {_bytes(memory)} of memory{what}, more than the "
            f"{_bytes(limits.memory_bytes)} of {limits.memory_source}; "
            "pass --allow-large to run it anyway"
        )
    if flops > limits.flops:
        raise TooLargeError(
            f"{label}needs about {flops:.2g} flops of work{what}, more than "
            f"{limits.flops:.2g}, {limits.flops_source}; pass --allow-large to run it anyway"
        )
    return cost


def implements_cost(cls: type) -> bool:
    """Whether an experiment config class overrides :meth:`ExperimentConfig.cost`."""
    return getattr(cls, "cost", None) is not ExperimentConfig.cost
