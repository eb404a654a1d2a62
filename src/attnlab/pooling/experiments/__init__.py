"""The registered ``pooling-*`` experiments, one module each (discovered by the registry).

``spectrum``   histogram of eig(Ĉ)/κ on the MP_δ ⊠ MP_γ density, outlier marked;
``outlier``    top eigenvalue vs ℓ (sample and population level), both thresholds;
``alignment``  squared overlaps ⟨û, μ̂⟩² and ⟨û, m̂⟩² vs ℓ;
``weights``    mean vs harmonic vs optimal weights on two label laws;
``phase``      theoretical alignment over (ℓ, ρ) and ℓ₂ over (δ, γ), simulated points;
``causal``     measured causal-attention weights (τ/d and 1/√d scores).
"""
