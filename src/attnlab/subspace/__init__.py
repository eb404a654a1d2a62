"""Query learning on the sphere: signal subspace recovery by projected SGA on softmax attention.

- the model (:class:`SubspaceModel`) and its sampler (:func:`sample_tokens`);
- projected SGA (:func:`simulate`) with a step-size schedule (:class:`RobbinsMonro`,
  :class:`Constant`) and a simulator (:class:`Reduced`: the exact reduced chain of m_n, O(N) per
  step whatever d; :class:`Full`: the tokens themselves, O(N·d));
- theory: the exact Monte-Carlo objective φ(m) (:func:`phi_monte_carlo`), its large-N closed
  forms (:func:`phi_closed_form`), the ODE dm/dt = (1 − m²)φ′(m) (:func:`solve_ode`) and its
  fixed points, the noise floor at the pole (:func:`noise_floor`), the law of the escape from
  the equator at finite d (:func:`escape_law`);
- baselines: PCA of the tokens seen (:func:`pca_alignment`), small-β and β = 0 attention;
- experiments (``attnlab.subspace.experiments``): subspace-alignment, -ode, -robustness,
  -landscape, -schedule.
"""

from attnlab.subspace._baselines import *  # noqa: F403
from attnlab.subspace._baselines import __all__ as _all_baselines
from attnlab.subspace._closed_form import *  # noqa: F403
from attnlab.subspace._closed_form import __all__ as _all_closed_form
from attnlab.subspace._escape import *  # noqa: F403
from attnlab.subspace._escape import __all__ as _all_escape
from attnlab.subspace._full import *  # noqa: F403
from attnlab.subspace._full import __all__ as _all_full
from attnlab.subspace._model import *  # noqa: F403
from attnlab.subspace._model import __all__ as _all_model
from attnlab.subspace._noise import *  # noqa: F403
from attnlab.subspace._noise import __all__ as _all_noise
from attnlab.subspace._ode import *  # noqa: F403
from attnlab.subspace._ode import __all__ as _all_ode
from attnlab.subspace._phi import *  # noqa: F403
from attnlab.subspace._phi import __all__ as _all_phi
from attnlab.subspace._sampler import *  # noqa: F403
from attnlab.subspace._sampler import __all__ as _all_sampler
from attnlab.subspace._schedule import *  # noqa: F403
from attnlab.subspace._schedule import __all__ as _all_schedule
from attnlab.subspace._simulate import *  # noqa: F403
from attnlab.subspace._simulate import __all__ as _all_simulate
from attnlab.subspace._trajectory import *  # noqa: F403
from attnlab.subspace._trajectory import __all__ as _all_trajectory

__all__ = [
    *_all_baselines,
    *_all_closed_form,
    *_all_escape,
    *_all_full,
    *_all_model,
    *_all_noise,
    *_all_ode,
    *_all_phi,
    *_all_sampler,
    *_all_schedule,
    *_all_simulate,
    *_all_trajectory,
]

MODEL_SUMMARY = (
    "A query q on the unit sphere is learned by projected stochastic gradient ascent on the "
    "squared norm of a softmax-attention output over K informative tokens (θ ε u + noise) and M "
    "nuisance tokens; theory: the symmetry-reduced objective φ(m), the ODE "
    "dm/dt = (1 − m²) φ′(m), and recovery |⟨q, u⟩| → 1 up to a noise floor ∝ the last step."
)
