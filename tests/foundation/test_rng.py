"""Randomness: per-replicate streams independent of batch size, distinct seeds and tags differ."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attnlab._jax import jax, jnp
from attnlab._validate import ParameterError
from attnlab.rng import replicate_keys, root_key, stream


def _draws(keys, n=8):
    return np.asarray(jax.vmap(lambda k: jax.random.normal(k, (n,)))(keys))


def _bits(key):
    return np.asarray(jax.random.key_data(key))


# few batch sizes (each one compiles its own vmap), any seed and replicate index
@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.sampled_from([1, 3, 40]), data=st.data())
def test_replicate_stream_is_independent_of_batch(seed, n, data):
    i = data.draw(st.integers(0, n - 1))
    batch = replicate_keys(seed, n)
    assert batch.shape == (n,)
    np.testing.assert_array_equal(_bits(batch[i]), _bits(replicate_keys(seed, 1, start=i)[0]))
    # a batch that starts elsewhere holds the same replicate i
    start = data.draw(st.integers(0, i))
    shifted = replicate_keys(seed, n - start, start=start)
    np.testing.assert_array_equal(_bits(shifted[i - start]), _bits(batch[i]))


def test_replicate_draws_match_whatever_the_batch():
    # the numbers themselves (not only the keys) agree under vmap of different batch sizes
    big = _draws(replicate_keys(7, 50))
    small = _draws(replicate_keys(7, 5, start=20))
    np.testing.assert_array_equal(big[20:25], small)
    one = np.asarray(jax.random.normal(jax.random.fold_in(root_key(7), 33), (8,)))
    np.testing.assert_array_equal(big[33], one)


def test_distinct_seeds_and_replicates_differ():
    a, b = _draws(replicate_keys(0, 20)), _draws(replicate_keys(1, 20))
    assert not np.any(np.all(a == b, axis=1))
    # all 40 streams pairwise distinct
    rows = np.concatenate([a, b])
    assert len({r.tobytes() for r in rows}) == 40


def test_replicate_draws_look_independent():
    # 400 replicates x 50 normals: the correlation between replicates is O(1/sqrt(50));
    # the mean over all 20000 draws is O(1/sqrt(20000)) ~ 0.007 (5 sd bound: 0.035)
    x = _draws(replicate_keys(3, 400), n=50)
    assert abs(x.mean()) < 5 / np.sqrt(x.size)
    c = np.corrcoef(x)[np.triu_indices(400, 1)]
    # mean pairwise correlation ~ N(0, 1/(50 * 79800)): 5 sd is 0.0025
    assert abs(c.mean()) < 5 / np.sqrt(50 * c.size)


def test_stream_tags_are_independent_and_stable():
    key = replicate_keys(11, 1)[0]
    names = ["data", "init", "noise", "teacher", "sgd"]
    draws = {t: np.asarray(jax.random.normal(stream(key, t), (16,))) for t in names}
    assert len({d.tobytes() for d in draws.values()}) == len(names)
    # the same tag gives the same stream; adding a tag does not move the others
    np.testing.assert_array_equal(
        np.asarray(jax.random.normal(stream(key, "data"), (16,))), draws["data"]
    )
    # a tagged stream differs from the parent key's own stream
    assert not np.array_equal(np.asarray(jax.random.normal(key, (16,))), draws["data"])


def test_no_global_state():
    # drawing from one key twice gives the same numbers: nothing advances behind the scenes
    k = replicate_keys(2, 3)
    np.testing.assert_array_equal(_draws(k), _draws(k))


@pytest.mark.parametrize(
    ("call", "msg"),
    [
        (lambda: replicate_keys(-1, 3), "seed = -1 is out of range"),
        (lambda: replicate_keys(2**63, 3), "seed = 9223372036854775808 is out of range"),
        (lambda: replicate_keys(0, -1), "n = -1 is out of range"),
        (lambda: replicate_keys(0, 2.5), "n = 2.5 must be an integer"),
        (lambda: replicate_keys(0, 2, start=2**32 - 1), "start = 4294967295 is out of range"),
        (lambda: stream(root_key(0), 3), "tag = 3 must be a string"),
    ],
)
def test_bad_arguments_are_one_line_errors(call, msg):
    with pytest.raises(ParameterError, match=msg):
        call()


def test_rng_works_inside_jit():
    # the validation must not get in the way of traced seeds
    f = jax.jit(lambda s: jax.random.normal(stream(root_key(s), "x"), (3,)))
    np.testing.assert_array_equal(
        np.asarray(f(5)), np.asarray(jax.random.normal(stream(root_key(5), "x"), (3,)))
    )
    assert replicate_keys(0, 0).shape == (0,)


@pytest.mark.parametrize("sample, args", [("normal", ()), ("bernoulli", (0.3,))])
def test_flat_draw_gives_the_direct_draws_numbers(sample, args):
    # the flat draw only compiles faster: the numbers are the direct draw's, bit for bit, on a
    # typed and a legacy key, and per key under vmap (rank 2 here: a direct draw of rank 4 in
    # the program, the slow case, takes seconds to compile for the reference alone)
    from attnlab._jax import flat_draw

    fn = getattr(jax.random, sample)
    if sample == "bernoulli":  # bernoulli(key, p, shape): the shape is its third argument

        def fn(key, shape, p):
            return jax.random.bernoulli(key, p, shape)

    shape = (4, 5)
    for key in (jax.random.key(11), jax.random.PRNGKey(11)):
        flat = flat_draw(fn, key, shape, *args)
        assert flat.shape == shape
        np.testing.assert_array_equal(np.asarray(flat), np.asarray(fn(key, shape, *args)))
    keys = jax.random.split(jax.random.key(12), 3)
    direct = jax.vmap(lambda k: fn(k, shape, *args))(keys)
    flat = jax.vmap(lambda k: flat_draw(fn, k, shape, *args))(keys)
    np.testing.assert_array_equal(np.asarray(flat), np.asarray(direct))


def test_threefry2x32_is_jax_threefry_on_any_counter():
    """The round-by-round Threefry-2x32 gives jax's primitive's words on arbitrary counter pairs
    and keys (jax's ``threefry_2x32`` hashes the pair (c[i], c[i + n/2]) of an even-length c)."""
    from jax.extend.random import threefry_2x32

    from attnlab._jax import threefry2x32

    rng = np.random.default_rng(0)
    for _ in range(3):
        key = jnp.asarray(rng.integers(0, 2**32, 2, dtype=np.uint64), jnp.uint32)
        x0, x1 = (
            jnp.asarray(rng.integers(0, 2**32, 64, dtype=np.uint64), jnp.uint32) for _ in "01"
        )
        ours = jnp.concatenate(jax.jit(threefry2x32)(key, x0, x1))
        reference = threefry_2x32(key, jnp.concatenate([x0, x1]))
        np.testing.assert_array_equal(np.asarray(ours), np.asarray(reference))


@pytest.mark.parametrize("n", [1, 2, 7, 1000])
def test_counter_normal_is_jax_normal_in_the_non_partitionable_layout(n):
    """The subspace step's draws: jax's own normals in its original threefry layout (both words
    of every block), on a typed and a legacy key and per key under vmap; not jax's default
    layout (other numbers, same law)."""
    from attnlab._jax import counter_normal

    switch = getattr(jax, "threefry_partitionable", None)
    if switch is None:  # jax without the switch: only one layout to compare with
        pytest.skip("this jax has no threefry_partitionable switch")
    keys = jax.random.split(jax.random.key(3), 4)
    for key in (keys[0], jax.random.PRNGKey(3)):
        with switch(False):
            reference = np.asarray(jax.random.normal(key, (n,), jnp.float32))
        np.testing.assert_array_equal(np.asarray(counter_normal(key, n, jnp.float32)), reference)
    with switch(False):
        reference = np.asarray(jax.vmap(lambda k: jax.random.normal(k, (n,), jnp.float32))(keys))
    drawn = jax.vmap(lambda k: counter_normal(k, n, jnp.float32))(keys)
    np.testing.assert_array_equal(np.asarray(drawn), reference)
    if n >= 7:
        with switch(True):
            default = np.asarray(jax.random.normal(keys[0], (n,), jnp.float32))
        assert not np.array_equal(np.asarray(counter_normal(keys[0], n, jnp.float32)), default)


def test_optimization_barrier_keeps_values_with_or_without_jax_support(monkeypatch):
    """attnlab's barrier gives the values of its operand inside a compiled function, through
    jax's barrier where jax has one, and as the operand itself where it has not (jax 0.4.31)."""
    from attnlab import _jax

    x = (jnp.arange(5.0), jnp.ones(3))

    def f(x):
        a, b = _jax.optimization_barrier((2.0 * x[0], x[1] + 1.0))
        return a.sum() + b.sum()

    expected = 2.0 * 10.0 + 6.0
    assert float(jax.jit(f)(x)) == expected
    monkeypatch.delattr(jax.lax, "optimization_barrier", raising=False)
    assert _jax.optimization_barrier(x) is x
    assert float(jax.jit(f)(x)) == expected
