"""Sample means of Gaussian draws, vectorised over replicates with ``jax.vmap``."""

from __future__ import annotations

from attnlab._jax import jax, jnp
from attnlab._validate import check_int, check_range


def sample_means(keys: jax.Array, *, n: int, mu: float = 0.0) -> jax.Array:
    """Mean of ``n`` draws of N(mu, 1) for each key: returns shape ``(len(keys),)``.

    Theory: each entry ~ N(mu, 1/n).
    """
    n = check_int("n", n, lo=1)
    mu = check_range("mu", mu)
    return jax.vmap(lambda k: mu + jnp.mean(jax.random.normal(k, (n,))))(keys)
