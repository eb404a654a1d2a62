"""A tiny built-in family that exercises the whole machinery end to end.

It has the shape of every family: a model object (:class:`DemoModel`), a sampler taking a jax
``key`` (:func:`sample_means`), the theory (:func:`mean_law`) and one file per experiment under
``attnlab.demo.experiments``.
"""

from attnlab.demo._model import DemoModel
from attnlab.demo._sampler import sample_means
from attnlab.demo._theory import mean_law

__all__ = ["DemoModel", "mean_law", "sample_means"]

MODEL_SUMMARY = (
    r"$n$ i.i.d. draws $x_i \sim \mathcal N(\mu, 1)$ per replicate, estimated by the sample "
    r"mean $\bar x$; theory: $\bar x \sim \mathcal N(\mu, 1/n)$, so over seeds its mean is "
    r"$\mu$ and its standard deviation $1/\sqrt{n}$."
)
