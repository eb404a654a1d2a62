r"""Pooling weights as strategy objects, and the two functionals that matter: κ and ρ.

A sequence is pooled as ``x = Σ_t w_t e_{v_t}``. Detection and alignment depend on the weights
only through

.. math:: \kappa = \|w\|^2, \qquad \alpha = w^\top R w, \qquad \rho = \alpha / \kappa,

``κ`` rescaling the bulk and ``ρ`` setting the effective spike. The strategies:

- :class:`MeanWeights`      ``w_t = 1/L``;
- :class:`HarmonicWeights`  ``w_t = (1/L) Σ_{s=t}^{L} 1/s`` (sums to 1, decreasing);
- :class:`OptimalWeights`   the top eigenvector of ``R`` (maximises ``ρ``; ``ρ* = λ_max(R)``),
  sign fixed so that its sum is positive, rescaled to sum 1 (to unit norm if the sum vanishes);
- :class:`CausalWeights`    the ``d → ∞`` effective weights of causal self-attention with
  ``τ/d`` score scaling, ``w_s = (1/L)[c/(c+s−1) + Σ_{t=s+1}^{L} 1/(c+t−1)]``, ``c = e^τ``
  (``τ = 0`` gives the harmonic weights);
- :class:`CustomWeights`    any fixed vector.

Each has ``vector(R) -> w`` (``R`` the L × L positional correlation matrix; only the optimal
weights use more than its size). In a config, ``weights = "harmonic"`` is shorthand for
``{kind = "harmonic"}``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field, model_validator

from attnlab._validate import ParameterError, check_int, check_range
from attnlab.config import Params
from attnlab.pooling._model import kind_shorthand, validate_correlation

__all__ = [
    "CausalWeights",
    "CustomWeights",
    "HarmonicWeights",
    "MeanWeights",
    "OptimalWeights",
    "PoolingWeights",
    "causal_limit_weights",
    "kappa",
    "rho",
    "validate_weights",
    "weights_vector",
]


def validate_weights(w: Any) -> np.ndarray:
    """``w`` as a finite, non-empty 1-d float array with ``‖w‖ > 0`` (else a one-line error).

    Parameters
    ----------
    w : array_like, shape (L,)

    Returns
    -------
    numpy.ndarray
    """
    a = np.asarray(w, dtype=float)
    if a.ndim != 1 or a.size == 0:
        raise ParameterError(f"weights must be a non-empty 1-d array, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ParameterError("weights contain non-finite entries")
    if not np.any(a != 0):
        raise ParameterError("weights have zero norm: ||w|| must be > 0")
    return a


def kappa(w: Any) -> float:
    """The bulk scale ``κ = ‖w‖²``.

    Parameters
    ----------
    w : array_like, shape (L,)

    Returns
    -------
    float
    """
    w = validate_weights(w)
    return float(w @ w)


def rho(w: Any, R: Any) -> float:
    """``ρ = α/κ = wᵀ R w / ‖w‖²``, the only weight functional detection depends on.

    Parameters
    ----------
    w : array_like, shape (L,)
    R : array_like, shape (L, L)
        Positional correlation matrix.

    Returns
    -------
    float
    """
    w = validate_weights(w)
    R = validate_correlation(R)
    if R.shape[0] != w.size:
        raise ParameterError(f"R is {R.shape[0]}x{R.shape[0]} but weights have length {w.size}")
    return float(w @ R @ w / (w @ w))


def causal_limit_weights(L: int, *, tau: float) -> np.ndarray:
    """Effective weights of causal self-attention with ``τ/d`` scores as ``d → ∞``.

    .. math:: w_s = \\frac{1}{L}\\Big[\\frac{c}{c+s-1} + \\sum_{t=s+1}^{L}\\frac{1}{c+t-1}\\Big],
        \\qquad c = e^{\\tau}.

    Row ``t`` of the attention matrix puts ``c/(c+t−1)`` on the diagonal and ``1/(c+t−1)`` on
    each earlier position (the off-diagonal scores vanish, the diagonal one tends to ``τ``).

    Parameters
    ----------
    L : int
        Sequence length.
    tau : float
        Score scale, in [−50, 50].

    Returns
    -------
    numpy.ndarray, shape (L,)
        Sums to 1.
    """
    L = check_int("L", L, lo=1)
    tau = check_range("tau", tau, lo=-50, hi=50)
    c = np.exp(tau)
    inv = 1.0 / (c + np.arange(L, dtype=float))  # 1/(c + t - 1), t = 1..L
    tail = np.concatenate([np.cumsum(inv[::-1])[::-1][1:], [0.0]])  # Σ_{t>s} 1/(c+t-1)
    return (c * inv + tail) / L


class MeanWeights(Params):
    """Mean pooling, ``w_t = 1/L``."""

    kind: Literal["mean"] = "mean"

    def vector(self, R: Any) -> np.ndarray:
        """``w`` for the positional correlation ``R`` (only its size ``L`` is used)."""
        L = np.shape(R)[0]
        return np.full(L, 1.0 / L)


class HarmonicWeights(Params):
    """Harmonic weights ``w_t = (1/L) Σ_{s=t}^{L} 1/s`` (causal attention at ``τ = 0``)."""

    kind: Literal["harmonic"] = "harmonic"

    def vector(self, R: Any) -> np.ndarray:
        """``w`` for the positional correlation ``R`` (only its size ``L`` is used)."""
        return causal_limit_weights(np.shape(R)[0], tau=0.0)


class OptimalWeights(Params):
    """The top eigenvector of ``R`` (maximises ``ρ``), positive sum, rescaled to sum 1."""

    kind: Literal["optimal"] = "optimal"

    def vector(self, R: Any) -> np.ndarray:
        """``w``: top eigenvector of ``R`` (``ρ = λ_max(R)``)."""
        R = validate_correlation(R)
        v = np.linalg.eigh(R)[1][:, -1]
        total = v.sum()
        if abs(total) < 1e-12 * np.sqrt(v.size):
            return v / np.linalg.norm(v)
        return v / total


class CausalWeights(Params):
    """Causal self-attention's ``d → ∞`` weights with ``τ/d`` scores (module docstring).

    Parameters
    ----------
    tau : float
        Score scale ``τ``, in [−20, 20]; ``c = e^τ``.
    """

    kind: Literal["causal"] = "causal"
    tau: float = Field(1.0, ge=-20, le=20, description="score scale tau (c = e^tau)")

    def vector(self, R: Any) -> np.ndarray:
        """``w`` for the positional correlation ``R`` (only its size ``L`` is used)."""
        return causal_limit_weights(np.shape(R)[0], tau=self.tau)


class CustomWeights(Params):
    """Fixed weights given as a list (length ``L``, finite, not all zero)."""

    kind: Literal["custom"] = "custom"
    values: list[float] = Field(min_length=1, description="the weights w_1..w_L")

    @model_validator(mode="after")
    def _nonzero(self) -> CustomWeights:
        if not any(self.values):
            raise ValueError("values: weights have zero norm, ||w|| must be > 0")
        return self

    def vector(self, R: Any) -> np.ndarray:
        """The given weights (their length must be ``L``)."""
        if len(self.values) != np.shape(R)[0]:
            raise ParameterError(
                f"custom weights have length {len(self.values)} but L = {np.shape(R)[0]}"
            )
        return np.asarray(self.values, dtype=float)


_KINDS = {
    "mean": MeanWeights,
    "harmonic": HarmonicWeights,
    "optimal": OptimalWeights,
    "causal": CausalWeights,
}


PoolingWeights = Annotated[
    MeanWeights | HarmonicWeights | OptimalWeights | CausalWeights | CustomWeights,
    Field(discriminator="kind"),
    kind_shorthand(_KINDS),
]
"""A pooling-weights strategy (a config field type; ``"mean"`` etc. are accepted as names)."""


def weights_vector(weights: Any, R: Any) -> np.ndarray:
    """The weight vector of a strategy object, or a given array, checked against ``R``.

    Parameters
    ----------
    weights : strategy object or array_like, shape (L,)
        :class:`MeanWeights`, :class:`HarmonicWeights`, ... or a vector.
    R : array_like, shape (L, L)
        The positional correlation matrix.

    Returns
    -------
    numpy.ndarray, shape (L,)
    """
    w = validate_weights(weights.vector(R) if hasattr(weights, "vector") else weights)
    if w.size != np.shape(R)[0]:
        raise ParameterError(f"weights have length {w.size} but L = {np.shape(R)[0]}")
    return w
