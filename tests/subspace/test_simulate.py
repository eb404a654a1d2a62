"""simulate() and simulate_groups(): argument checks, precision, progress chunks and groups that
do not change the numbers."""

import jax
import numpy as np
import pytest

from attnlab import ParameterError, progress
from attnlab.precision import precision
from attnlab.rng import replicate_keys
from attnlab.subspace import (
    Constant,
    Full,
    Reduced,
    RobbinsMonro,
    SubspaceModel,
    simulate,
    simulate_groups,
)

MODEL = SubspaceModel(d=12, K=5, M=40, theta=0.5)
RUN = dict(steps=60, schedule=RobbinsMonro(c=2.0, n0=20.0), log_every=20)


@pytest.mark.parametrize(
    "over, match",
    [
        ({"steps": 0}, "^steps = 0"),
        ({"batch": 0}, "^batch = 0"),
        ({"log_every": 7}, "^log_every = 7"),
        ({"schedule": "robbins_monro"}, "^schedule"),
        ({"simulator": "full"}, "^simulator"),
        ({"m0": [0.1, 0.2]}, "^m0 must have shape"),
        ({"m0": [0.1, np.nan, 0.0]}, "^m0 must have shape"),
        ({"m0": [0.1, 1.5, 0.0]}, "^m0 must have shape"),
        ({"m0": [0.1, 0.2, 0.0], "simulator": Full()}, "^m0 can only"),
    ],
)
def test_bad_arguments_one_line(over, match):
    with pytest.raises(ParameterError, match=match):
        simulate(MODEL, replicate_keys(0, 3), **{**RUN, **over})


def test_bad_key_and_model():
    with pytest.raises(ParameterError, match="key"):
        simulate(MODEL, 3, **RUN)
    with pytest.raises(ParameterError, match="model"):
        simulate({"d": 3}, replicate_keys(0, 3), **RUN)


def test_float64_by_default_without_touching_jax_flag():
    """Outside any precision context a public function computes in float64, returns numpy, and
    leaves jax's global x64 flag as it was."""
    before = jax.config.jax_enable_x64
    tr = simulate(MODEL, replicate_keys(0, 2), **RUN, m0=[0.1, 0.3])
    assert isinstance(tr.m, np.ndarray) and tr.m.dtype == np.float64
    assert jax.config.jax_enable_x64 == before
    # computed in float64: the values carry digits that float32 cannot hold
    assert np.any(tr.m[:, 1:] != tr.m[:, 1:].astype(np.float32))
    tr32 = simulate(
        MODEL, replicate_keys(0, 2), **RUN, m0=[0.1, 0.3], simulator=Reduced(dtype="float32")
    )
    assert np.all(tr32.m == tr32.m.astype(np.float32))
    with precision("float32"):
        same = simulate(MODEL, replicate_keys(0, 2), **RUN, m0=[0.1, 0.3])
    np.testing.assert_allclose(same.m, tr32.m, rtol=0, atol=0)


class _Recorder:
    def __init__(self):
        self.events = []

    def start(self, description, total):
        self.events.append(("start", description, total))
        return len(self.events)

    def advance(self, handle, amount):
        self.events.append(("advance", amount))

    def finish(self, handle):
        self.events.append(("finish",))


@pytest.mark.parametrize("simulator", [Reduced(), Full()])
def test_progress_per_chunk_gives_the_same_numbers(simulator):
    keys = replicate_keys(1, 3)
    run = dict(steps=200, schedule=RobbinsMonro(c=2.0, n0=20.0), log_every=10)
    quiet = simulate(MODEL, keys, simulator=simulator, **run)
    rec = _Recorder()
    with progress.reporting(rec):
        loud = simulate(MODEL, keys, simulator=simulator, **run)
    np.testing.assert_allclose(loud.m, quiet.m, rtol=1e-12)
    advances = [e[1] for e in rec.events if e[0] == "advance"]
    assert rec.events[0][2] == 200 * 3 and sum(advances) == 200 * 3 and len(advances) > 1


def test_constant_schedule_runs():
    tr = simulate(MODEL, replicate_keys(0, 2), steps=20, schedule=Constant(a=0.01), log_every=10)
    np.testing.assert_allclose(tr.time, [0, 0.1, 0.2])


def test_seed_groups_in_threads_change_no_number(monkeypatch):
    """The reduced simulator's seeds run in groups, one thread per core: any grouping gives the
    same overlaps (each seed's numbers depend on its own key only; programs for other group
    sizes may vectorise the float32 arithmetic differently: equal to its rounding)."""
    import attnlab.subspace._simulate as simulate_module

    model = SubspaceModel(d=20, K=5, M=50, theta=0.5)
    run = dict(steps=40, schedule=RobbinsMonro(c=2.0, n0=10.0), log_every=10)
    # two programs only (a group of 6 seeds, groups of 3): each group size is a program to
    # compile (seconds each), and two sizes show that the grouping changes no number
    keys = replicate_keys(3, 6)
    monkeypatch.setattr(simulate_module, "cpu_groups", lambda n, size: [slice(0, n)])
    one = simulate(model, keys, **run)
    monkeypatch.setattr(simulate_module, "cpu_groups", lambda n, size: [slice(0, 3), slice(3, n)])
    two = simulate(model, keys, **run)
    np.testing.assert_allclose(one.m, two.m, rtol=1e-5, atol=1e-6)


def test_groups_share_their_draws_and_get_the_runs_they_would_get_alone(monkeypatch):
    """simulate_groups over the same replicate keys with two temperatures and two schedules:
    each group gets simulate's runs for it (equal to the float32 rounding of another program's
    vectorisation, as above), with its own schedule's times, and the program draws the shared
    keys' numbers once (the ``shared`` flag of the compiled loop)."""
    import attnlab.subspace._reduced as reduced

    flags = []
    original = reduced.compiled_blocks

    def recording(*args):
        flags.append(args[-1])
        return original(*args)

    model = SubspaceModel(d=20, K=5, M=50, theta=0.5)
    keys = replicate_keys(3, 3)
    run = dict(steps=40, log_every=10)
    slow, fast = RobbinsMonro(c=2.0, n0=10.0), RobbinsMonro(c=4.0, n0=20.0)
    cool = model.replace(beta=0.5)
    monkeypatch.setattr(reduced, "compiled_blocks", recording)
    a, b = simulate_groups([(model, keys, slow), (cool, keys, fast)], **run)
    assert flags and all(flags)  # one thread group or two, each draws once for both groups
    alone_a = simulate(model, keys, schedule=slow, **run)
    alone_b = simulate(cool, keys, schedule=fast, **run)
    np.testing.assert_allclose(a.m, alone_a.m, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(b.m, alone_b.m, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(b.time, fast.times(40)[::10])
    assert np.abs(a.m - b.m).max() > 1e-3  # the groups did differ


def test_bad_groups_one_line():
    keys = replicate_keys(0, 2)
    with pytest.raises(ParameterError, match="^groups"):
        simulate_groups([], steps=10)
    with pytest.raises(ParameterError, match=r"^groups\[0\]"):
        simulate_groups([(MODEL, keys)], steps=10)
    with pytest.raises(ParameterError, match="^schedule"):
        simulate_groups([(MODEL, keys, "fast")], steps=10)
    with pytest.raises(ParameterError, match=r"differ in \(d, K, M, sign\)"):
        simulate_groups([(MODEL, keys, None), (MODEL.replace(M=41), keys, None)], steps=10)
