"""Attention pooling and random matrices: spectra, outliers and the two BBP-type transitions.

Tokens from a two-class vocabulary are pooled with weights ``w``; the sample covariance of the
pooled vectors has bulk ``κ (MP_δ ⊠ MP_γ)`` and, past two BBP-type transitions, an outlier
carrying the class direction; the weights enter only through ``ρ = wᵀRw/‖w‖²`` and
``κ = ‖w‖²``.

- :class:`PoolingModel` (``_model``) the data model and its label laws;
- ``_weights``   pooling-weights strategies (mean, harmonic, optimal, causal) and ``κ``, ``ρ``;
- ``_attention`` measured effective weights of real causal self-attention;
- ``_sampler``   vocabulary table, tokens, pooling (one jax key per trial);
- ``_eigen``     matrix-free Lanczos for families of operators, spectra from the smaller Gram;
- ``_simulate``  spectra, outliers and overlaps over trials and a grid of ``ℓ``;
- ``_bulk``      the ``MP_δ ⊠ MP_γ`` law (density, edges, atom, moments, cdf);
- ``_spike``     effective spike, thresholds, outliers and overlaps;
- ``_tolerance`` finite-size tolerances of the comparisons;
- ``experiments`` the registered ``pooling-*`` experiments, one module each.
"""

from attnlab.pooling._attention import *  # noqa: F403
from attnlab.pooling._attention import __all__ as _all_attention
from attnlab.pooling._bulk import *  # noqa: F403
from attnlab.pooling._bulk import __all__ as _all_bulk
from attnlab.pooling._eigen import *  # noqa: F403
from attnlab.pooling._eigen import __all__ as _all_eigen
from attnlab.pooling._model import *  # noqa: F403
from attnlab.pooling._model import __all__ as _all_model
from attnlab.pooling._sampler import *  # noqa: F403
from attnlab.pooling._sampler import __all__ as _all_sampler
from attnlab.pooling._simulate import *  # noqa: F403
from attnlab.pooling._simulate import __all__ as _all_simulate
from attnlab.pooling._spike import *  # noqa: F403
from attnlab.pooling._spike import __all__ as _all_spike
from attnlab.pooling._weights import *  # noqa: F403
from attnlab.pooling._weights import __all__ as _all_weights

__all__ = [
    *_all_model,
    *_all_weights,
    *_all_attention,
    *_all_sampler,
    *_all_eigen,
    *_all_simulate,
    *_all_bulk,
    *_all_spike,
]

MODEL_SUMMARY = (
    "Sequences from a two-class vocabulary are pooled with attention weights w; the sample "
    "covariance has an MP_δ ⊠ MP_γ bulk and, past two BBP-type thresholds that depend on w "
    "only through ρ = wᵀRw/‖w‖², an outlier aligned with the hidden class direction."
)
