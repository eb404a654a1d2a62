r"""Effective pooling weights of real causal self-attention, measured on token sequences.

With queries = keys = values = the raw token vectors ``x_1 … x_L`` of a sequence, the scores
are ``S_ts = σ x_tᵀ x_s`` for ``s ≤ t`` with ``σ = τ/d`` or ``σ = τ/√d``; ``A`` is the row
softmax of ``S`` and the attention output averaged over positions pools the values with

.. math:: w_s = \frac{1}{L} \sum_{t \ge s} A_{ts}.

Only the per-sequence Gram matrices ``G_ts = x_tᵀ x_s`` enter, so they are computed once
(:func:`sequence_grams`, chunked gathers from the table) and reused for every ``τ`` and both
scalings (:func:`attention_weights_from_grams`).

As ``d → ∞`` with ``σ = τ/d`` the off-diagonal scores vanish and the diagonal ones tend to
``τ`` (unit-variance noise), giving :func:`~attnlab.pooling.causal_limit_weights`. With
``σ = τ/√d`` and ``Q = K`` the diagonal score is ``≈ τ√d`` while the off-diagonal ones stay
``O(τ)``: the softmax collapses onto the diagonal, ``A → I``, and the weights tend to mean
pooling ``1/L``.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from attnlab._validate import ParameterError, check_choice, check_int, check_range

__all__ = [
    "attention_weights_from_grams",
    "causal_attention_weights",
    "measured_causal_weights",
    "sequence_grams",
]

SCALINGS = ("tau/d", "1/sqrt(d)")
Scaling = Literal["tau/d", "1/sqrt(d)"]


def sequence_grams(table_rows: Any, tokens: Any, *, chunk: int = 256) -> np.ndarray:
    """Per-sequence Gram matrices ``G_ts = e_{v_t}ᵀ e_{v_s}``.

    Parameters
    ----------
    table_rows : array_like, shape (V, d)
        The token vectors ``e_v``.
    tokens : array_like of int, shape (N, L)
        Token indices of each sequence.
    chunk : int
        Sequences gathered at a time (bounds the ``chunk × L × d`` temporary).

    Returns
    -------
    numpy.ndarray, shape (N, L, L)
    """
    rows = np.asarray(table_rows, dtype=float)
    tokens = np.asarray(tokens)
    if rows.ndim != 2:
        raise ParameterError(f"table_rows must have shape (V, d), got {rows.shape}")
    if tokens.ndim != 2 or not np.issubdtype(tokens.dtype, np.integer):
        raise ParameterError(f"tokens must be an (N, L) integer array, got {tokens.shape}")
    if tokens.size and (tokens.min() < 0 or tokens.max() >= rows.shape[0]):
        raise ParameterError(f"tokens must lie in [0, V) with V = {rows.shape[0]}")
    chunk = check_int("chunk", chunk, lo=1)
    N, L = tokens.shape
    out = np.empty((N, L, L))
    for i in range(0, N, chunk):
        x = rows[tokens[i : i + chunk]]
        np.matmul(x, x.transpose(0, 2, 1), out=out[i : i + chunk])
    return out


def attention_weights_from_grams(
    grams: Any, *, tau: float, d: int, scaling: Scaling = "tau/d"
) -> np.ndarray:
    r"""Effective causal-attention weights from per-sequence Gram matrices.

    .. math:: A = \operatorname{softmax}_{\text{row}}\big(\sigma G \text{ masked to } s \le t\big),
        \quad w_s = \frac1L \sum_{t \ge s} A_{ts}, \quad \sigma = \tau/d \text{ or } \tau/\sqrt d.

    Parameters
    ----------
    grams : array_like, shape (n, L, L)
        ``G_ts = x_tᵀ x_s`` (:func:`sequence_grams`).
    tau : float
        Score scale, in [−50, 50].
    d : int
        Token dimension (sets ``σ``).
    scaling : {"tau/d", "1/sqrt(d)"}

    Returns
    -------
    numpy.ndarray, shape (n, L)
        Each row sums to 1.
    """
    G = np.asarray(grams, dtype=float)
    if G.ndim != 3 or G.shape[1] != G.shape[2]:
        raise ParameterError(f"grams must have shape (n, L, L), got {G.shape}")
    if not np.all(np.isfinite(G)):
        raise ParameterError("grams contain non-finite entries")
    tau = check_range("tau", tau, lo=-50, hi=50)
    d = check_int("d", d, lo=1)
    check_choice("scaling", scaling, SCALINGS)
    sigma = tau / d if scaling == "tau/d" else tau / np.sqrt(d)
    L = G.shape[1]
    causal = np.tril(np.ones((L, L), dtype=bool))
    scores = np.where(causal, sigma * G, -np.inf)
    scores -= scores.max(axis=2, keepdims=True)
    A = np.exp(scores)
    A /= A.sum(axis=2, keepdims=True)
    return A.sum(axis=1) / L


def causal_attention_weights(sequences: Any, *, tau: float, scaling: Scaling = "tau/d") -> Any:
    """Measured effective weights of causal self-attention on raw sequences.

    Parameters
    ----------
    sequences : array_like, shape (n, L, d)
        Token vectors of ``n`` sequences.
    tau : float
        Score scale, in [−50, 50].
    scaling : {"tau/d", "1/sqrt(d)"}

    Returns
    -------
    numpy.ndarray, shape (n, L)
        ``w_s = (1/L) Σ_{t≥s} A_ts`` per sequence (module docstring).
    """
    x = np.asarray(sequences, dtype=float)
    if x.ndim != 3:
        raise ParameterError(f"sequences must have shape (n, L, d), got {x.shape}")
    grams = x @ x.transpose(0, 2, 1)
    return attention_weights_from_grams(grams, tau=tau, d=x.shape[2], scaling=scaling)


def measured_causal_weights(
    table_rows: Any, tokens: Any, *, tau: float, scaling: Scaling = "tau/d", chunk: int = 256
) -> np.ndarray:
    """Measured causal-attention weights of token sequences of a vocabulary table.

    Parameters
    ----------
    table_rows : array_like, shape (V, d)
        The token vectors ``e_v``.
    tokens : array_like of int, shape (N, L)
    tau : float
        Score scale, in [−50, 50].
    scaling : {"tau/d", "1/sqrt(d)"}
    chunk : int
        Sequences gathered at a time.

    Returns
    -------
    numpy.ndarray, shape (N, L)
    """
    rows = np.asarray(table_rows, dtype=float)
    grams = sequence_grams(rows, tokens, chunk=chunk)
    return attention_weights_from_grams(grams, tau=tau, d=rows.shape[1], scaling=scaling)
