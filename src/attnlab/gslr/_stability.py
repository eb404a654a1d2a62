r"""Local stability of the replica-symmetric fixed point against replica-symmetry breaking.

The replica-symmetric (RS) fixed point describes ERM's global minimum only if it is locally
stable in the *replicon* direction: a small fluctuation of the overlaps between two replicas
(two minimisers of the same training loss) must shrink, not grow, under one pass of the
equations (the de Almeida–Thouless condition).

A replicon perturbation is a symmetric :math:`2 \times 2` matrix :math:`\delta` (rows and
columns :math:`k, v`) added to the covariance of the cavity means of every token: the tokens
are independent, so the covariance of the :math:`2L` cavity means :math:`\omega = (\omega^k,
\omega^v)` changes by :math:`\delta \otimes I_L`. Through the channel, :math:`f = (f^k, f^v)`
changes by :math:`J\,\mathrm d\omega` with :math:`J = \partial f/\partial\omega`
(:func:`attnlab.gslr._prox.channel_jacobian`), so the conjugate fluctuation is

.. math:: \hat\delta_{ab} = \alpha\, E\Big[\operatorname{tr}\big(J\,(\delta\otimes I_L)\,J
    \big)_{ab}\Big],

:math:`(\cdot)_{ab}` the :math:`L \times L` block of sides :math:`a, b \in \{k, v\}`. The L2
prior's proximal map is linear, :math:`w_a = V_a B_a`, so the fluctuation returns as
:math:`\delta'_{ab} = V_a V_b \hat\delta_{ab}`. The map :math:`T: \delta \mapsto \delta'` is
linear on the three coordinates :math:`(\delta_{kk}, \delta_{vv}, \delta_{kv})`; the RS point
is locally stable when its spectral radius, the replicon eigenvalue :math:`\lambda_{\rm R}`,
is below 1.

For :math:`L = 1` and one side this is the familiar scalar condition :math:`\alpha V^2
E[(\partial_\omega f)^2] < 1`. A convex loss is always stable: for the square loss of ridge
regression :math:`\partial_\omega f = -1/(1 + V)`, :math:`\hat V = \alpha/(1 + V)`, and
:math:`\lambda_{\rm R} = \hat V V \cdot V/(1 + V) = (1 - rV)\,V/(1 + V) < 1`.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from attnlab._jax import jax, jnp
from attnlab._threads import lapack_program
from attnlab.gslr._activations import Activation
from attnlab.gslr._prox import channel_jacobian

__all__ = ["Replicon", "hill_tail_index", "replicon"]

N_BATCHES = 10


@dataclass(frozen=True)
class Replicon:
    """The replicon map of one RS fixed point.

    ``eigenvalue`` is the spectral radius :math:`\\lambda_{\\rm R}` of :math:`T`;
    ``eigenvalue_se`` its Monte-Carlo standard error (spread over ``N_BATCHES`` batches of the
    effective examples); ``matrix`` is :math:`T` on :math:`(\\delta_{kk}, \\delta_{vv},
    \\delta_{kv})`; ``tail_index`` the Hill estimate of the tail exponent :math:`\\kappa` of
    the per-example contributions :math:`x = \\alpha(V_k^2 |J_{kk}|_F^2 + V_v^2 |J_{vv}|_F^2)`,
    :math:`P(x > t) \\sim t^{-\\kappa}` (from the largest 1 %): for :math:`\\kappa \\le 1`
    their mean, hence :math:`\\lambda_{\\rm R}`, is infinite and the Monte-Carlo value only a
    lower bound; ``state`` the six order parameters it was evaluated at; ``n_excluded`` counts the effective examples left out because their prox
    point was not a strict local minimum; ``stable`` is :math:`\\lambda_{\\rm R} < 1` with :math:`\\kappa > 1`.
    """

    eigenvalue: float
    eigenvalue_se: float
    matrix: np.ndarray
    tail_index: float
    n_excluded: int
    stable: bool
    state: np.ndarray


def _per_example(J: Any, L: int) -> Any:
    """The :math:`3 \\times 3` matrix :math:`\\operatorname{tr}(J(\\delta \\otimes I)J)_{ab}`
    for one example: rows (kk, vv, kv) of the output, columns the basis
    :math:`E_{kk}, E_{vv}, E_{kv} + E_{vk}`."""
    blocks = {(a, b): J[a * L : (a + 1) * L, b * L : (b + 1) * L] for a in (0, 1) for b in (0, 1)}

    def out(a: int, b: int, c: int, d: int) -> Any:  # tr(J_ac J_db)
        return jnp.sum(blocks[(a, c)] * blocks[(d, b)].T)

    pairs = ((0, 0), (1, 1), (0, 1))
    rows = []
    for a, b in pairs:
        row = []
        for c, d in pairs:
            value = out(a, b, c, d)
            if c != d:
                value = value + out(a, b, d, c)
            row.append(value)
        rows.append(jnp.stack(row))
    return jnp.stack(rows)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _per_example_terms(
    sigma: Activation, n_newton: int, state: Any, samples: tuple, chi_warm: Any, prox_tol: Any
) -> tuple[Any, Any]:
    """The per-example :math:`3 \\times 3` terms of :math:`T` and whether each prox point is a
    strict local minimum (compiled once per activation and Newton count, not per point)."""
    L = samples[1].shape[1]

    def one(sample: tuple, chi: Any) -> tuple[Any, Any]:
        J, ok = channel_jacobian(sigma, state, sample, chi, n_newton, prox_tol)
        return _per_example(J, L), ok

    return jax.vmap(one)(samples, chi_warm)


def hill_tail_index(x: np.ndarray, fraction: float = 0.01) -> float:
    """Hill estimate of :math:`\\kappa` in :math:`P(x > t) \\sim t^{-\\kappa}` from the
    largest ``k = max(10, fraction n)`` of the positive values ``x``:
    :math:`1/\\hat\\kappa = \\frac1k\\sum_{i \\le k} \\log(x_{(i)}/x_{(k+1)})`.

    Parameters
    ----------
    x : numpy.ndarray
        Positive samples.
    fraction : float
        Fraction of the sample used for the tail.

    Returns
    -------
    float
        :math:`\\hat\\kappa` (inf when the top values are all equal).
    """
    x = np.sort(np.asarray(x, dtype=float)[np.asarray(x) > 0])[::-1]
    k = max(10, int(fraction * x.size))
    if x.size <= k:
        return math.nan
    gamma = float(np.mean(np.log(x[:k] / x[k])))
    return math.inf if gamma == 0 else 1.0 / gamma


def _radius(T: np.ndarray) -> float:
    return float(np.max(np.abs(np.linalg.eigvals(T))))


def replicon(
    sigma: Activation,
    state: Any,
    alpha: float,
    samples: tuple,
    chi_warm: Any,
    *,
    n_newton: int,
    prox_tol: float,
) -> Replicon:
    """The replicon eigenvalue of the RS fixed point ``state`` (module docstring).

    .. math:: T_{(ab),(cd)} = \\alpha V_a V_b\\, E\\big[\\operatorname{tr}(J_{ac} J_{db})
        (+ \\operatorname{tr}(J_{ad} J_{cb}),\\ c \\ne d)\\big], \\qquad
        \\lambda_{\\rm R} = \\max |\\operatorname{eig}(T)|.

    Parameters
    ----------
    sigma : callable
        The activation.
    state : array, shape (6,)
        :math:`(m_k, q_k, V_k, m_v, q_v, V_v)`.
    alpha : float
        Sample ratio.
    samples : tuple
        The effective examples ``(y, chi_star, z_star, g, g_prime, mask)`` (leading axis the
        examples), as the fixed point was computed with.
    chi_warm : array, shape (n, L_max)
        The fixed point's prox points (warm starts of the prox).
    n_newton : int
        Newton steps per start of the prox.
    prox_tol : float
        Stationarity required of a prox point; examples whose prox point is not a strict local
        minimum (the Newton iteration stopped short) are left out and counted in
        ``n_excluded``.

    Returns
    -------
    Replicon
    """
    state = jnp.asarray(state, float)
    with lapack_program():  # the per-example factorisations are LAPACK beyond 6 x 6
        per, ok = _per_example_terms(
            sigma, n_newton, state, samples, jnp.asarray(chi_warm, float), prox_tol
        )
        ok = np.asarray(ok, dtype=bool)
        per = np.asarray(per, dtype=float)[ok]
    V = np.array([float(state[2]), float(state[5])])
    scale = alpha * np.array([V[0] ** 2, V[1] ** 2, V[0] * V[1]])[:, None]
    T = scale * per.mean(axis=0)
    batches = [scale * b.mean(axis=0) for b in np.array_split(per, N_BATCHES)]
    radii = np.array([_radius(b) for b in batches])
    se = float(radii.std(ddof=1) / math.sqrt(N_BATCHES))
    value = _radius(T)
    tail = hill_tail_index(scale[0, 0] * per[:, 0, 0] + scale[1, 0] * per[:, 1, 1])
    stable = bool(value < 1.0 and not tail <= 1.0)
    return Replicon(value, se, T, tail, int((~ok).sum()), stable, np.asarray(state, float))
