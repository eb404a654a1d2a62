"""A pooling spectrum against the MP_δ ⊠ MP_γ law (and plain MP_γ for contrast): one model, one key."""

import jax
import numpy as np

from attnlab import pooling

model = pooling.PoolingModel(d=400, delta=0.5, gamma=0.5, labels=pooling.HiddenLabel(r0=0.0))
ev = np.sort(pooling.simulate_spectra(model, pooling.MeanWeights(), jax.random.key(0)))  # of Ĉ/κ
de, ga, empirical = model.realised_delta, model.realised_gamma, np.arange(1, ev.size + 1) / ev.size
ks = np.abs(pooling.mp_product_cdf(ev, delta=de, gamma=ga) - empirical).max()
ks_mp = np.abs(pooling.mp_product_cdf(ev, delta=1e-9, gamma=ga) - empirical).max()  # plain MP_γ
edge = float(pooling.mp_product_edges(de, ga)[1])
print(f"KS distance to MP_δ⊠MP_γ: {ks:.3f}, to plain MP_γ: {ks_mp:.3f}")
print(f"largest eigenvalue {ev[-1]:.3f}, edge λ₊ = {edge:.3f}")
