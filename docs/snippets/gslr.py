"""Softmax vs linear attention on spiked SLR at the population level: Bayes risk and both optima."""

from attnlab import gslr

model = gslr.GSLRModel(variant="spiked", nu=2.0, L=3)  # ν = 2, L = 3 tokens
population = gslr.Population(model)
bayes = population.bayes()  # by Gauss–Hermite quadrature here (standard error 0)
softmax = population.optimum("softmax").risk
linear = gslr.linear_attention_optimum(model).risk  # closed form 1/(1 + ν/L + 1/(L − 1))
print(f"Bayes risk {bayes.value:.6f} (standard error {bayes.stderr:.1e})")
print(f"softmax optimum {softmax:.6f}, linear optimum {linear:.6f}")
