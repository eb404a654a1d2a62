"""A tiny built-in family that exercises the whole machinery end to end.

Model: n i.i.d. draws x ~ N(mu, 1) per replicate; estimator: the sample mean. Theory: the
estimator is N(mu, 1/n), so over seeds its mean is mu and its standard deviation 1/sqrt(n).
"""

from attnlab.demo._mean import sample_means

__all__ = ["sample_means"]
