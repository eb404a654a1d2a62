r"""Sampling pooled data from a :class:`~attnlab.pooling.PoolingModel` and one jax key.

A trial draws a vocabulary table (noise ``z_v``, direction ``μ̂``), ``N`` label paths and their
tokens, and pools them:

.. math:: x_i = \sum_t w_t e_{v_{it}} = u_i \sqrt{\ell}\,\hat\mu + \sum_t w_t z_{v_{it}},
    \qquad u_i = \sum_t w_t y_{it},

through a sparse ``N × V`` incidence matrix (one sparse–dense product, no loop over
sequences). A trial is kept as :class:`PooledSample` — the noise part ``X_0``, the vector
``u`` and the table — so the data at any signal strength is ``X(ℓ) = X_0 + √ℓ u μ̂ᵀ`` (centred
if asked: centring is linear, so ``X_0`` and ``u`` are centred once).

Randomness: one jax ``key`` per trial, split into named streams (``"table +"``,
``"table −"``, ``"mu"``, ``"labels"``, ``"tokens"``), each turned into a numpy generator
(:func:`attnlab.rng.numpy_generator`): the work per trial is a few large BLAS/LAPACK calls on
numpy arrays, and numpy draws Gaussians faster than jax on a CPU. The pooled noise
``X_0 = A Z`` is kept factored (sparse incidence ``A``, table ``Z``): products with it cost
``O(V d)`` without the ``O(N L d)`` pooling product, which is formed only when asked for.
"""

from __future__ import annotations

import functools
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from attnlab._validate import ParameterError, check_int, check_range
from attnlab.pooling._eigen import thin_product
from attnlab.pooling._model import PoolingModel
from attnlab.pooling._weights import weights_vector
from attnlab.precision import default_dtype, uses_jax
from attnlab.rng import numpy_generator, stream

__all__ = [
    "PooledSample",
    "VocabularyTable",
    "incidence",
    "pool",
    "sample_pooled",
    "sample_table",
    "sample_tokens",
]


@dataclass(frozen=True)
class VocabularyTable:
    """A vocabulary: ``e_v = y_v √ℓ μ̂ + z_v``.

    Attributes
    ----------
    noise : numpy.ndarray, shape (V, d)
        The rows ``z_v``.
    labels : numpy.ndarray, shape (V,)
        ``y_v`` (int8): +1 for the first ``V/2`` tokens, −1 for the rest.
    mu_direction : numpy.ndarray, shape (d,)
        The unit vector ``μ̂``.
    """

    noise: np.ndarray
    labels: np.ndarray
    mu_direction: np.ndarray

    @property
    def V(self) -> int:
        return int(self.noise.shape[0])

    @property
    def d(self) -> int:
        return int(self.noise.shape[1])

    def embeddings(self, ell: float) -> np.ndarray:
        """The token vectors ``e_v = y_v √ℓ μ̂ + z_v``.

        Parameters
        ----------
        ell : float
            Signal strength ``ℓ = ‖μ‖²``, in ``[0, 1e12]``.

        Returns
        -------
        numpy.ndarray, shape (V, d)
        """
        ell = check_range("ell", ell, lo=0, hi=1e12)
        return self.noise + np.sqrt(ell) * self.labels[:, None] * self.mu_direction[None, :]

    def class_means(self) -> tuple[np.ndarray, np.ndarray]:
        """The class means of the noise, ``(z̄₊, z̄₋)``."""
        half = self.V // 2
        return self.noise[:half].mean(axis=0), self.noise[half:].mean(axis=0)

    def class_mean_noise(self) -> np.ndarray:
        """``ξ = (1/V) Σ_v y_v z_v = (z̄₊ − z̄₋)/2``, so that ``m = μ + ξ``."""
        plus, minus = self.class_means()
        return (plus - minus) / 2

    def class_mean_direction(self, ell: float) -> np.ndarray:
        """``m = (ē₊ − ē₋)/2 = √ℓ μ̂ + ξ`` (not normalised)."""
        ell = check_range("ell", ell, lo=0, hi=1e12)
        return np.sqrt(ell) * self.mu_direction + self.class_mean_noise()

    def within_class_noise(self) -> np.ndarray:
        """``ε_v = z_v − z̄_{class(v)}`` (V × d); the within-class covariance is ``εᵀε/V``."""
        plus, minus = self.class_means()
        half = self.V // 2
        eps = self.noise.copy()
        eps[:half] -= plus
        eps[half:] -= minus
        return eps


@uses_jax
def sample_table(model: PoolingModel, key: Any) -> VocabularyTable:
    """A vocabulary table of the model: ``z_v ~ N(0, I_d)``, ``V/2`` tokens per class, ``μ̂``
    uniform on the sphere.

    The two classes are drawn from their own streams (``"table +"``, ``"table −"``), in two
    threads (numpy releases the GIL while it fills an array), at attnlab's precision
    (:func:`attnlab.precision.default_dtype`: float64, or float32 inside
    ``precision("float32")``, which halves the memory traffic of every product with the table).

    Parameters
    ----------
    model : PoolingModel
    key : jax key
        One key (streams ``"table +"``, ``"table −"`` and ``"mu"`` are used).

    Returns
    -------
    VocabularyTable
    """
    half = model.V // 2
    dtype = np.dtype(default_dtype())
    noise = np.empty((model.V, model.d), dtype=dtype)
    halves = ((stream(key, "table +"), noise[:half]), (stream(key, "table −"), noise[half:]))
    generators = [(numpy_generator(k), out) for k, out in halves]
    with ThreadPoolExecutor(max_workers=2) as pool_:
        list(pool_.map(lambda g: g[0].standard_normal(out=g[1], dtype=dtype), generators))
    labels = np.where(np.arange(model.V) < half, 1, -1).astype(np.int8)
    g = numpy_generator(stream(key, "mu")).standard_normal(model.d)
    return VocabularyTable(noise, labels, g / np.linalg.norm(g))


@uses_jax
def sample_tokens(model: PoolingModel, key: Any, labels: Any) -> np.ndarray:
    """Token indices uniform among the ``V/2`` tokens of each label's class.

    Parameters
    ----------
    model : PoolingModel
    key : jax key
    labels : array_like of ±1
        Label paths, any shape (e.g. ``(N, L)``).

    Returns
    -------
    numpy.ndarray of int64
        Same shape as ``labels``: ``v ∈ [0, V/2)`` for ``+1``, ``[V/2, V)`` for ``−1``.
    """
    labels = np.asarray(labels)
    half = model.V // 2
    j = numpy_generator(key).integers(0, half, size=labels.shape)
    return (j + half * (labels < 0)).astype(np.int64)


def incidence(tokens: Any, weights: Any, V: int) -> sp.csr_matrix:
    """Sparse ``N × V`` matrix ``A_{iv} = Σ_t w_{it} 1[v_it = v]`` (so ``X = A E``).

    Parameters
    ----------
    tokens : array_like of int, shape (N, L)
    weights : array_like, shape (L,) or (N, L)
        One vector for every sequence, or per-sequence weights (e.g. measured attention).
    V : int
        Vocabulary size.

    Returns
    -------
    scipy.sparse.csr_matrix, shape (N, V)
    """
    tokens = np.asarray(tokens)
    V = check_int("V", V, lo=1)
    if tokens.ndim != 2:
        raise ParameterError(f"tokens must have shape (N, L), got {tokens.shape}")
    N, L = tokens.shape
    w = np.asarray(weights, dtype=float)
    if w.shape not in ((L,), (N, L)):
        raise ParameterError(f"weights have shape {w.shape}, expected {(L,)} or {(N, L)}")
    if not np.all(np.isfinite(w)) or np.any(np.all(w.reshape(-1, L) == 0, axis=1)):
        raise ParameterError("weights must be finite with a nonzero norm (per sequence)")
    data = np.broadcast_to(w, (N, L)).ravel()
    rows = np.repeat(np.arange(N), L)
    return sp.csr_matrix((data, (rows, tokens.ravel())), shape=(N, V))


def pool(table_rows: Any, tokens: Any, weights: Any, *, center: bool = True) -> np.ndarray:
    """Pooled data ``x_i = Σ_t w_t e_{v_it}`` (N × d), optionally centred.

    Parameters
    ----------
    table_rows : array_like, shape (V, d)
        The token vectors ``e_v``.
    tokens : array_like of int, shape (N, L)
    weights : array_like, shape (L,) or (N, L)
    center : bool
        Subtract the sample mean ``x̄`` (without it an extra, uninformative outlier along
        ``(Σ_t w_t) ē`` appears).

    Returns
    -------
    numpy.ndarray, shape (N, d)
    """
    rows = np.asarray(table_rows, dtype=float)
    X = np.asarray(incidence(tokens, weights, rows.shape[0]) @ rows)
    if center:
        X -= X.mean(axis=0, keepdims=True)
    return X


@dataclass(frozen=True)
class PooledSample:
    """One trial: ``X(ℓ) = X_0 + √ℓ u μ̂ᵀ`` with ``X_0 = P A Z`` (both parts centred if
    ``center``; ``P = I − 11ᵀ/N`` then, else ``I``).

    Attributes
    ----------
    table : VocabularyTable
        ``Z`` is ``table.noise``.
    incidence : scipy.sparse.csr_matrix, shape (N, V)
        ``A_{iv} = Σ_t w_t 1[v_it = v]``.
    u : numpy.ndarray, shape (N,)
        ``u_i = Σ_t w_t y_it`` (centred if ``center``).
    tokens : numpy.ndarray, shape (N, L)
    weights : numpy.ndarray, shape (L,)
    R : numpy.ndarray, shape (L, L)
    center : bool
    """

    table: VocabularyTable
    incidence: sp.csr_matrix
    u: np.ndarray
    tokens: np.ndarray
    weights: np.ndarray
    R: np.ndarray
    center: bool

    @property
    def kappa(self) -> float:
        """``κ = ‖w‖²``."""
        return float(self.weights @ self.weights)

    @property
    def rho(self) -> float:
        """``ρ = wᵀRw/‖w‖²``."""
        return float(self.weights @ self.R @ self.weights / self.kappa)

    @functools.cached_property
    def noise(self) -> np.ndarray:
        """``X_0 = P A Z`` (N × d), formed on first use."""
        X = np.asarray(self.incidence @ self.table.noise)
        if self.center:
            X -= X.mean(axis=0, keepdims=True)
        return X

    def noise_times(self, V: np.ndarray) -> np.ndarray:
        """``X_0 V`` for a block ``V`` (d × p), without forming ``X_0``."""
        Z = self.table.noise
        Y = self.incidence @ thin_product(Z, V.astype(Z.dtype, copy=False))
        return Y - Y.mean(axis=0, keepdims=True) if self.center else Y

    def noise_transpose_times(self, Y: np.ndarray) -> np.ndarray:
        """``X_0ᵀ Y`` for a block ``Y`` (N × p), without forming ``X_0``."""
        if self.center:
            Y = Y - Y.mean(axis=0, keepdims=True)
        Z = self.table.noise
        return thin_product(Z.T, np.asarray(self.incidence.T @ Y).astype(Z.dtype, copy=False))

    def data(self, ell: float) -> np.ndarray:
        """The pooled data matrix ``X(ℓ) = X_0 + √ℓ u μ̂ᵀ``.

        Parameters
        ----------
        ell : float
            As in :meth:`VocabularyTable.embeddings`.

        Returns
        -------
        numpy.ndarray, shape (N, d)
            Centred if the sample is.
        """
        ell = check_range("ell", ell, lo=0, hi=1e12)
        return self.noise + np.sqrt(ell) * self.u[:, None] * self.table.mu_direction[None, :]


@uses_jax
def sample_pooled(
    model: PoolingModel, weights: Any, key: Any, *, center: bool = True
) -> PooledSample:
    """Sample one trial of the model pooled with ``weights``.

    Equal in law, for every ``ℓ``, to ``pool(table.embeddings(ℓ), tokens, w, center=center)``
    (and exactly equal for the returned table and tokens).

    Parameters
    ----------
    model : PoolingModel
    weights : pooling-weights strategy or array_like, shape (L,)
        E.g. :class:`~attnlab.pooling.MeanWeights` (or a vector).
    key : jax key
        One key for the trial.
    center : bool
        Centre the pooled data (the estimator is then the centred sample covariance).

    Returns
    -------
    PooledSample
    """
    R = model.correlation
    w = weights_vector(weights, R)
    table = sample_table(model, key)
    y = model.sample_labels(stream(key, "labels"))
    tokens = sample_tokens(model, stream(key, "tokens"), y)
    u = y.astype(float) @ w
    if center:
        u -= u.mean()
    A = incidence(tokens, w, model.V)
    return PooledSample(table, A, u, tokens, w, np.asarray(R), bool(center))
