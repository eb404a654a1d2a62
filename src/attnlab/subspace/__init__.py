"""Query learning on the sphere (spec ``subspace.md``): signal subspace recovery by projected SGA.

- data sampler (:mod:`._data`): θ scaling, four sign laws, β, K, M, d;
- full simulator (:mod:`._sga`): projected SGA, vmapped over seeds, lax.scan over steps;
- exact reduced simulator (:mod:`._reduced`): same law of (m_n), O(N) per step whatever d;
- theory (:mod:`._theory`): Monte-Carlo and closed-form φ, φ″(0), the ODE, fixed points;
- baselines (:mod:`._baselines`): PCA of tokens seen, small-β and β = 0 attention;
- experiments (:mod:`.experiments`): subspace-alignment, -ode, -robustness, -landscape.
"""

from attnlab.subspace._baselines import *  # noqa: F403
from attnlab.subspace._baselines import __all__ as _all_baselines
from attnlab.subspace._data import *  # noqa: F403
from attnlab.subspace._data import __all__ as _all_data
from attnlab.subspace._reduced import *  # noqa: F403
from attnlab.subspace._reduced import __all__ as _all_reduced
from attnlab.subspace._sga import *  # noqa: F403
from attnlab.subspace._sga import __all__ as _all_sga
from attnlab.subspace._theory import *  # noqa: F403
from attnlab.subspace._theory import __all__ as _all_theory

__all__ = [*_all_baselines, *_all_data, *_all_reduced, *_all_sga, *_all_theory]

MODEL_SUMMARY = (
    "A query q on the unit sphere is learned by projected stochastic gradient ascent on the squared "
    "norm of a softmax-attention output over K informative tokens (theta*eps*u + noise) and M "
    "nuisance tokens; theory: the symmetry-reduced objective phi(m), the ODE "
    "dm/dt = (1 - m^2) phi'(m), and recovery |<q, u>| -> 1."
)
