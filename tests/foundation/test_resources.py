"""Fail fast on size: check_cost against explicit and machine limits, one-line refusals."""

from __future__ import annotations

import math

import pytest

from attnlab._resources import (
    DEFAULT_MAX_FLOPS,
    Limits,
    TooLargeError,
    available_memory,
    check_cost,
    machine_limits,
)
from attnlab.config import ConfigError, Cost, ExperimentConfig

LIMITS = Limits(memory_bytes=1e9, flops=1e12, memory_source="the test's RAM")


class Sized(ExperimentConfig):
    memory: float = 1.0
    flops: float = 1.0

    def cost(self) -> Cost:
        return Cost(self.memory, self.flops, "memory × flops")


class Broken(ExperimentConfig):
    def cost(self) -> Cost:
        raise OverflowError("int too large to convert to float")


class Unsized(ExperimentConfig):
    pass


def test_within_limits_returns_the_estimate():
    assert check_cost(Sized(memory=1e9, flops=1e12), limits=LIMITS) == Cost(
        1e9, 1e12, "memory × flops"
    )


@pytest.mark.parametrize(
    ("memory", "flops", "message"),
    [
        (
            2.5e9,
            1.0,
            "x: needs about 2.5 GB of memory (memory × flops), more than the 1 GB of the test's RAM; pass --allow-large to run it anyway",
        ),
        (
            1.0,
            3e12,
            "x: needs about 3e+12 flops of work (memory × flops), more than 1e+12, the work ceiling; pass --allow-large to run it anyway",
        ),
    ],
)
def test_refusals_say_the_estimate_and_the_limit(memory, flops, message):
    with pytest.raises(TooLargeError) as info:
        check_cost(Sized(memory=memory, flops=flops), name="x", limits=LIMITS)
    assert str(info.value) == message
    assert check_cost(Sized(memory=memory, flops=flops), allow_large=True, limits=LIMITS)


def test_broken_and_missing_estimates():
    with pytest.raises(
        TooLargeError, match="cannot estimate the cost of this config .OverflowError"
    ):
        check_cost(Broken(), limits=LIMITS)
    assert check_cost(Broken(), allow_large=True, limits=LIMITS) is None
    assert check_cost(Unsized(), limits=LIMITS) is None  # refused at registration instead


def test_machine_limits_and_their_environment(monkeypatch):
    monkeypatch.delenv("ATTNLAB_MAX_MEMORY", raising=False)
    monkeypatch.delenv("ATTNLAB_MAX_FLOPS", raising=False)
    assert 0 < available_memory() < math.inf
    # MemAvailable moves between two reads while other processes allocate (a parallel test
    # worker did): pin the reading the limit is taken from, then compare exactly
    monkeypatch.setattr("attnlab._resources.available_memory", lambda: 1.5e10)
    limits = machine_limits()
    assert limits.memory_bytes == 1.5e10 and limits.flops == DEFAULT_MAX_FLOPS
    assert limits.memory_source == "available RAM"
    monkeypatch.setenv("ATTNLAB_MAX_MEMORY", "5e8")
    monkeypatch.setenv("ATTNLAB_MAX_FLOPS", "1e9")
    assert machine_limits() == Limits(5e8, 1e9, "$ATTNLAB_MAX_MEMORY", "$ATTNLAB_MAX_FLOPS")
    for bad in ("lots", "-1", "inf", "nan"):
        monkeypatch.setenv("ATTNLAB_MAX_FLOPS", bad)
        with pytest.raises(ConfigError, match=r"\$ATTNLAB_MAX_FLOPS = "):
            machine_limits()
