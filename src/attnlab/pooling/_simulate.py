r"""Simulated spectra, outliers and overlaps of pooled data, over trials and a grid of ``ℓ``.

Sample level. With ``X(ℓ) = X_0 + √ℓ u μ̂ᵀ`` (centred), ``Ĉ(ℓ) = X(ℓ)ᵀX(ℓ)/N`` applied to ``v``
is

.. math:: \frac1N\big[X_0^\top X_0 v + \sqrt\ell\,(b\,\hat\mu^\top v + \hat\mu\, b^\top v)
    + \ell \|u\|^2 \hat\mu\,\hat\mu^\top v\big], \qquad b = X_0^\top u,

a rank-two change of ``X_0ᵀX_0/N`` inside ``span(μ̂, b)``: one block Krylov space of
``X_0ᵀX_0/N`` started at ``[μ̂, b]`` gives the top eigenpair at every ``ℓ`` of a grid
(:func:`~attnlab.pooling.lanczos_top`), two columns per product with ``X_0`` whatever the
number of ``ℓ``.

Population level (``N = ∞``). Given the table, the pooled vectors have covariance
``κ W + α m mᵀ`` with ``W = εᵀε/V`` the within-class covariance of the tokens and
``m = √ℓ μ̂ + ξ`` the class-mean direction, so ``Σ/κ = W + ρ m mᵀ``; ``W v`` is applied as
``(Zᵀ Z v − (V/2)(z̄₊ z̄₊ᵀ v + z̄₋ z̄₋ᵀ v))/V`` without forming ``ε``, and ``ρ m mᵀ`` is a
rank-two change inside ``span(μ̂, ξ)``: the same block Krylov space serves every ``ℓ``.

Each trial reports the top eigenvalue in units of ``κ`` and the squared overlaps of its
eigenvector with ``μ̂`` and with ``m̂`` (kept apart: at ``ℓ = 0`` an outlier can align with
the vocabulary noise ``ξ`` and not with ``μ``). Values of operators whose Lanczos run did not
converge within the cap are NaN, flagged in ``converged``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from attnlab._validate import ParameterError, check_range
from attnlab.pooling._attention import SCALINGS, attention_weights_from_grams, sequence_grams
from attnlab.pooling._blas import with_one_blas_thread
from attnlab.pooling._eigen import (
    EigenConvergenceError,
    covariance_eigenvalues,
    lanczos_top,
    thin_product,
    top_eigenpairs,
)
from attnlab.pooling._model import PoolingModel
from attnlab.pooling._sampler import (
    PooledSample,
    VocabularyTable,
    pool,
    sample_pooled,
    sample_table,
    sample_tokens,
)
from attnlab.pooling._trials import map_trials
from attnlab.pooling._weights import rho as rho_of
from attnlab.pooling._weights import weights_vector
from attnlab.precision import uses_jax
from attnlab.rng import as_key_batch, stream

__all__ = [
    "OutlierSimulation",
    "population_top",
    "sample_top",
    "simulate_attention_pooling",
    "simulate_outliers",
    "simulate_spectra",
]

LANCZOS_TOL = {"float64": 1e-5, "float32": 1e-4}  # relative residual, by the table's dtype
LANCZOS_MAX_ITER = 600


@dataclass(frozen=True)
class OutlierSimulation:
    """Top eigenpairs over trials × ``ℓ``: arrays of shape ``(trials, len(ells))``.

    Attributes
    ----------
    ells : numpy.ndarray
    lam, overlap_mu, overlap_m : numpy.ndarray
        Top eigenvalue of ``Ĉ/κ`` and its squared overlaps ``⟨û, μ̂⟩²``, ``⟨û, m̂⟩²``.
    lam_pop, overlap_pop_mu, overlap_pop_m : numpy.ndarray
        The same for ``Σ/κ = W + ρ m mᵀ`` (NaN when the population level was not asked).
    converged, converged_pop : numpy.ndarray of bool
        Whether each Lanczos run converged (its values are NaN otherwise).
    delta, gamma, rho, kappa : float
        Realised ``d/V``, ``d/N`` and the weights' ``ρ``, ``κ``.
    """

    ells: np.ndarray
    lam: np.ndarray
    overlap_mu: np.ndarray
    overlap_m: np.ndarray
    lam_pop: np.ndarray
    overlap_pop_mu: np.ndarray
    overlap_pop_m: np.ndarray
    converged: np.ndarray
    converged_pop: np.ndarray
    delta: float
    gamma: float
    rho: float
    kappa: float


def _tolerance(tol: float | None, table: VocabularyTable) -> float:
    """The Lanczos residual tolerance: given, or the default for the table's dtype."""
    return LANCZOS_TOL[table.noise.dtype.name] if tol is None else tol


def _check_ells(ells: Any) -> np.ndarray:
    ells = np.atleast_1d(np.asarray(ells, dtype=float))
    if ells.ndim != 1 or ells.size == 0:
        raise ParameterError(f"ells must be a non-empty 1-d list, got shape {ells.shape}")
    for e in ells:
        check_range("ell", e, lo=0, hi=1e8)
    return ells


def _squared_overlaps(vectors: np.ndarray, directions: np.ndarray) -> np.ndarray:
    """``⟨v_j, a_j⟩² / (‖v_j‖² ‖a_j‖²)`` column by column (both ``(d, K)``)."""
    num = np.einsum("dk,dk->k", vectors, directions) ** 2
    return num / (
        np.einsum("dk,dk->k", vectors, vectors) * np.einsum("dk,dk->k", *[directions] * 2)
    )


@with_one_blas_thread
def sample_top(
    sample: PooledSample, ells: Any, *, tol: float | None = None, max_iter: int = LANCZOS_MAX_ITER
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top eigenpair of ``Ĉ(ℓ)/κ`` at every ``ℓ`` of ``ells`` for one trial (module docstring).

    Parameters
    ----------
    sample : PooledSample
    ells : array_like, shape (K,)
    tol, max_iter : float, int
        Lanczos relative residual tolerance (default 1e-5, 1e-4 for a float32 table) and
        block-step cap.

    Returns
    -------
    values : numpy.ndarray, shape (K,)
        Top eigenvalue of ``Ĉ(ℓ)/κ`` (NaN where not converged).
    vectors : numpy.ndarray, shape (d, K)
    converged : numpy.ndarray of bool, shape (K,)
    """
    ells = _check_ells(ells)
    tol = _tolerance(tol, sample.table)
    u, mu = sample.u, sample.table.mu_direction
    N, d = u.size, mu.size
    if sample.table.V <= N:  # products through the factors A Z are the cheaper ones

        def gram(V: np.ndarray) -> np.ndarray:
            return sample.noise_transpose_times(sample.noise_times(V)) / N

        b = sample.noise_transpose_times(u[:, None])[:, 0]
    else:
        X0 = sample.noise

        def gram(V: np.ndarray) -> np.ndarray:
            return thin_product(X0.T, thin_product(X0, V)) / N

        b = X0.T @ u
    uu, root = float(u @ u), np.sqrt(ells)
    couplings = np.zeros((ells.size, 2, 2))  # Ĉ(ℓ) = X0ᵀX0/N + [μ̂ b] M(ℓ) [μ̂ b]ᵀ
    couplings[:, 0, 0] = ells * uu / N
    couplings[:, 0, 1] = couplings[:, 1, 0] = root / N
    res = lanczos_top(
        gram,
        d,
        directions=np.column_stack([mu, b]),
        couplings=couplings,
        tol=tol,
        max_iter=max_iter,
    )
    values = np.where(res.converged, res.values[:, 0] / sample.kappa, np.nan)
    return values, res.vectors[:, :, 0].T, res.converged


@with_one_blas_thread
def population_top(
    table: VocabularyTable,
    rho: float,
    ells: Any,
    *,
    tol: float | None = None,
    max_iter: int = LANCZOS_MAX_ITER,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top eigenpair of ``Σ/κ = W + ρ m mᵀ`` (``N = ∞``) at every ``ℓ`` of ``ells``.

    Parameters
    ----------
    table : VocabularyTable
    rho : float
        ``ρ = wᵀRw/‖w‖² > 0`` of the weights.
    ells : array_like, shape (K,)
    tol, max_iter : float, int
        As in :func:`sample_top`.

    Returns
    -------
    values, vectors, converged
        As in :func:`sample_top`.
    """
    ells = _check_ells(ells)
    tol = _tolerance(tol, table)
    rho = check_range("rho", rho, lo=0, hi=1e6, lo_open=True)
    Z, mu, xi = table.noise, table.mu_direction, table.class_mean_noise()
    plus, minus = table.class_means()
    V, half, root = table.V, table.V // 2, np.sqrt(ells)

    def within_class(B: np.ndarray) -> np.ndarray:  # W B = (ZᵀZ − (V/2)(z̄₊z̄₊ᵀ + z̄₋z̄₋ᵀ)) B / V
        out = thin_product(Z.T, thin_product(Z, B.astype(Z.dtype, copy=False))) - half * (
            np.outer(plus, plus @ B) + np.outer(minus, minus @ B)
        )
        return out / V

    couplings = np.empty((ells.size, 2, 2))  # ρ m mᵀ with m = √ℓ μ̂ + ξ, in the basis [μ̂ ξ]
    couplings[:, 0, 0], couplings[:, 1, 1] = rho * ells, rho
    couplings[:, 0, 1] = couplings[:, 1, 0] = rho * root
    res = lanczos_top(
        within_class,
        table.d,
        directions=np.column_stack([mu, xi]),
        couplings=couplings,
        tol=tol,
        max_iter=max_iter,
    )
    values = np.where(res.converged, res.values[:, 0], np.nan)
    return values, res.vectors[:, :, 0].T, res.converged


def _overlaps(
    vectors: np.ndarray, table: VocabularyTable, ells: np.ndarray, converged: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``⟨v, μ̂⟩²`` and ``⟨v, m̂⟩²`` per ``ℓ`` (NaN where not converged)."""
    mu = np.repeat(table.mu_direction[:, None], ells.size, axis=1)
    m = np.sqrt(ells)[None, :] * mu + table.class_mean_noise()[:, None]
    on_mu = np.where(converged, _squared_overlaps(vectors, mu), np.nan)
    on_m = np.where(converged, _squared_overlaps(vectors, m), np.nan)
    return on_mu, on_m


@uses_jax
def simulate_outliers(
    model: PoolingModel,
    weights: Any,
    key: Any,
    *,
    ells: Any,
    center: bool = True,
    population: bool = False,
    tol: float | None = None,
    max_iter: int = LANCZOS_MAX_ITER,
) -> OutlierSimulation:
    """Top eigenpair of ``Ĉ(ℓ)`` (and of ``Σ``) over trials and a grid of ``ℓ``.

    Within a trial every ``ℓ`` uses the same table, labels and tokens (common random numbers).

    Parameters
    ----------
    model : PoolingModel
    weights : pooling-weights strategy or array_like, shape (L,)
    key : jax key or array of keys
        One key per trial (``attnlab.rng.replicate_keys(seed, trials)``).
    ells : array_like
        Signal strengths ``ℓ ≥ 0``.
    center : bool
        Centre the pooled data.
    population : bool
        Also compute the population level ``Σ/κ = W + ρ m mᵀ``.
    tol, max_iter : float, int
        Lanczos relative residual tolerance (default 1e-5, 1e-4 for a float32 table) and
        block-step cap.

    Returns
    -------
    OutlierSimulation
    """
    keys, _ = as_key_batch(key)
    ells = _check_ells(ells)
    w = weights_vector(weights, model.correlation)
    r = rho_of(w, model.correlation)
    T, K = len(keys), ells.size
    nan = np.full(K, np.nan)

    def trial(i: int) -> tuple[np.ndarray, ...]:
        smp = sample_pooled(model, w, keys[i], center=center)
        lam, vec, conv = sample_top(smp, ells, tol=tol, max_iter=max_iter)
        sample = (lam, *_overlaps(vec, smp.table, ells, conv), conv)
        if not population:
            return (*sample, nan, nan, nan, np.ones(K, bool))
        lam_pop, vec, conv_pop = population_top(smp.table, r, ells, tol=tol, max_iter=max_iter)
        return (*sample, lam_pop, *_overlaps(vec, smp.table, ells, conv_pop), conv_pop)

    per_trial = map_trials(trial, T, f"pooling trials (d={model.d}, {K} ℓ)")
    names = ("lam", "overlap_mu", "overlap_m", "converged")
    names += ("lam_pop", "overlap_pop_mu", "overlap_pop_m", "converged_pop")
    columns = {n: np.array(a) for n, a in zip(names, zip(*per_trial, strict=True), strict=True)}
    return OutlierSimulation(
        ells=ells,
        **columns,
        delta=model.realised_delta,
        gamma=model.realised_gamma,
        rho=r,
        kappa=float(w @ w),
    )


@uses_jax
def simulate_spectra(
    model: PoolingModel, weights: Any, key: Any, *, ell: float = 0.0, center: bool = True
) -> np.ndarray:
    """All eigenvalues of ``Ĉ/κ`` per trial, from the smaller Gram matrix.

    Parameters
    ----------
    model : PoolingModel
    weights : pooling-weights strategy or array_like, shape (L,)
    key : jax key or array of keys
        One key per trial; a single key gives one trial (no trial axis).
    ell : float
        Signal strength ``ℓ ≥ 0``.
    center : bool
        Centre the pooled data.

    Returns
    -------
    numpy.ndarray, shape (trials, d) or (d,)
        Descending eigenvalues of ``Ĉ/κ``.
    """
    keys, single = as_key_batch(key)
    ell = check_range("ell", ell, lo=0, hi=1e8)
    w = weights_vector(weights, model.correlation)

    def trial(i: int) -> np.ndarray:
        smp = sample_pooled(model, w, keys[i], center=center)
        return covariance_eigenvalues(smp.data(ell)) / smp.kappa

    out = np.array(map_trials(trial, len(keys), f"pooling spectra (d={model.d})"))
    return out[0] if single else out


@uses_jax
def simulate_attention_pooling(
    model: PoolingModel,
    key: Any,
    *,
    tau: float,
    ell: float,
    scalings: tuple[str, ...] = SCALINGS,
) -> dict[str, np.ndarray]:
    """``⟨û, μ̂⟩²`` of data pooled with the *measured* weights of causal self-attention.

    Per trial: a table at signal strength ``ℓ``, ``N`` sequences, their causal-attention
    weights (per sequence, :mod:`attnlab.pooling._attention`), the centred pooled data
    ``x_i = Σ_t w_{it} e_{v_it}`` and the top eigenvector ``û`` of its covariance. Every
    scaling uses the same table and sequences.

    Parameters
    ----------
    model : PoolingModel
    key : jax key or array of keys
        One key per trial.
    tau : float
        Score scale, in [−50, 50].
    ell : float
        Signal strength ``ℓ ≥ 0``.
    scalings : tuple of {"tau/d", "1/sqrt(d)"}

    Returns
    -------
    dict
        ``{scaling: overlaps (trials,)}``; NaN where the eigensolver did not converge.
    """
    keys, _ = as_key_batch(key)
    ell = check_range("ell", ell, lo=0, hi=1e8)

    def trial(i: int) -> list[float]:
        table = sample_table(model, keys[i])
        labels = model.sample_labels(stream(keys[i], "labels"))
        tokens = sample_tokens(model, stream(keys[i], "tokens"), labels)
        rows = table.embeddings(ell)
        grams = sequence_grams(rows, tokens)
        overlaps = []
        for scaling in scalings:
            W = attention_weights_from_grams(grams, tau=tau, d=model.d, scaling=scaling)
            try:
                _, vec = top_eigenpairs(pool(rows, tokens, W), 1)
            except EigenConvergenceError:
                overlaps.append(np.nan)
                continue
            overlaps.append(float((vec[:, 0] @ table.mu_direction) ** 2))
        return overlaps

    per_trial = np.array(
        map_trials(trial, len(keys), f"attention pooling trials (d={model.d})"), dtype=float
    ).reshape(len(keys), len(scalings))
    return {scaling: per_trial[:, j] for j, scaling in enumerate(scalings)}
