import numpy as np

from attnlab.demo import DemoModel, mean_law, sample_means
from attnlab.rng import replicate_keys

model = DemoModel(mu=0.5)  # frozen and validated: DemoModel(mu=float("nan")) is refused
means = sample_means(model, replicate_keys(0, 200), n=100)  # one sample mean per replicate
mean, sd = mean_law(model, n=100)  # theory: the sample mean is N(mu, 1/n)
print(f"simulation {means.mean():.4f} (sd {means.std(ddof=1):.4f}), theory {mean} (sd {sd})")
np.testing.assert_allclose(means.mean(), mean, atol=4 * sd / np.sqrt(len(means)))
