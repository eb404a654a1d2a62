"""Attention pooling and random matrices (spec ``pooling.md``): spectra, outliers, BBP transitions.

Tokens from a two-class vocabulary are pooled with weights ``w``; the sample covariance of the
pooled vectors has bulk ``kappa (MP_delta ⊠ MP_gamma)`` and an outlier carrying the class
direction beyond two successive BBP-type transitions, depending on ``w`` only via
``rho = w^T R w / ||w||^2`` and ``kappa = ||w||^2``.

- :mod:`._data`      vocabulary table, label-path models, pooling (sampler);
- :mod:`._weights`   mean / harmonic / optimal / causal-attention weights (limit and measured);
- :mod:`._theory`    density, edges, atom, thresholds, outliers, overlaps (vectorised);
- :mod:`._spectrum`  empirical eigenvalues, top eigenpairs, overlaps over trials;
- :mod:`.experiments` the registered ``pooling-*`` experiments.
"""

from attnlab.pooling._data import *  # noqa: F403
from attnlab.pooling._data import __all__ as _all_data
from attnlab.pooling._spectrum import *  # noqa: F403
from attnlab.pooling._spectrum import __all__ as _all_spectrum
from attnlab.pooling._theory import *  # noqa: F403
from attnlab.pooling._theory import __all__ as _all_theory
from attnlab.pooling._weights import *  # noqa: F403
from attnlab.pooling._weights import __all__ as _all_weights

__all__ = [*_all_data, *_all_spectrum, *_all_theory, *_all_weights]

MODEL_SUMMARY = (
    "Sequences from a two-class vocabulary table are pooled with attention weights w; the sample "
    "covariance of the pooled vectors has an MP_delta x MP_gamma bulk and, past two BBP-type "
    "thresholds depending on w only through rho = w^T R w / |w|^2, an outlier aligned with the "
    "hidden class direction."
)
