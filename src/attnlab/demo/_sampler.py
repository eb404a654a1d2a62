"""Sample means of Gaussian draws, vectorised over replicates with ``jax.vmap``."""

from __future__ import annotations

from typing import Any

import numpy as np

from attnlab._jax import jax, jnp
from attnlab._validate import check_int
from attnlab.demo._model import DemoModel
from attnlab.precision import uses_jax
from attnlab.rng import as_key_batch

__all__ = ["sample_means"]


@uses_jax
def sample_means(model: DemoModel, key: Any, *, n: int) -> np.ndarray:
    r"""Sample mean of ``n`` draws of the model, per replicate.

    .. math:: \bar x = \frac{1}{n} \sum_{i=1}^{n} x_i, \qquad x_i \sim \mathcal N(\mu, 1).

    Parameters
    ----------
    model : DemoModel
    key : jax key or array of keys
        One key, or keys of shape ``(n_seeds,)`` (one replicate each).
    n : int
        Draws per replicate, ``>= 1``.

    Returns
    -------
    numpy.ndarray
        Shape ``(n_seeds,)``, or a 0-d array for a single key.
    """
    n = check_int("n", n, lo=1)
    keys, single = as_key_batch(key)
    means = jax.vmap(lambda k: model.mu + jnp.mean(jax.random.normal(k, (n,))))(keys)
    out = np.asarray(means)
    return out[0] if single else out
