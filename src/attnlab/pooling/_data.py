"""Data model of attention pooling (spec ``pooling.md`` §1): vocabulary, label paths, pooling.

- Vocabulary table ``E = [e_1 ... e_V]``, ``e_v = y_v mu + z_v``, ``z_v ~ N(0, I_d)``, classes
  balanced (tokens ``0 .. V/2-1`` have ``y_v = +1``, the rest ``-1``), ``||mu||^2 = ell``.
- Label paths ``y_i in {+-1}^L`` with ``E y_t = 0``, ``E y_s y_t = R_st``, from a
  :class:`LabelModel` (``hidden_label``, ``markov``, ``copula`` or a user-supplied ``R`` and
  sampler); token ``v_it`` uniform among the ``V/2`` tokens of class ``y_it``.
- Pooling ``x_i = sum_t w_t e_{v_it}`` through a sparse ``N x V`` incidence matrix (one
  sparse-dense product, no Python loop over sequences); optional centring.

Because ``x_i = u_i mu + sum_t w_t z_{v_it}`` with ``u_i = sum_t w_t y_it``, a trial is sampled
once as :class:`PooledSample` (noise part, ``u``, ``mu`` direction, table noise) and the data at
any signal strength is ``X(ell) = X_z + sqrt(ell) u mu_hat^T`` — sweeps over ``ell`` reuse the
same noise (common random numbers), which is both faster and smoother.

Randomness: every sampler takes an explicit ``numpy.random.Generator``; experiments derive it
with :func:`attnlab.rng.numpy_rng` from ``(seed, tag, trial)``, so trial ``i`` is reproducible
independently of how many trials run. numpy/scipy are used here (not jax) because the work per
trial is a few large BLAS/LAPACK calls; the Python overhead per trial is negligible.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from attnlab._validate import ParameterError, check_choice, check_int, check_range
from attnlab.pooling._theory import validate_correlation, validate_weights

__all__ = [
    "LabelModel",
    "PooledSample",
    "VocabularyTable",
    "copula",
    "custom_label_model",
    "geometric_profile",
    "hidden_label",
    "label_model_from_name",
    "linear_profile",
    "markov",
    "pool",
    "sample_label_paths",
    "sample_pooled",
    "sample_table",
    "sample_tokens",
    "sizes_from_ratios",
]


# -- label-path models ----------------------------------------------------------------------------
@dataclass(frozen=True)
class LabelModel:
    """A label-path law: its correlation matrix ``R`` (L x L) and a sampler.

    ``sampler(rng, n)`` returns an ``(n, L)`` int8 array of ``+-1`` labels with ``E y = 0`` and
    ``E y y^T = R``.
    """

    name: str
    R: np.ndarray
    sampler: Callable[[np.random.Generator, int], np.ndarray]

    @property
    def L(self) -> int:
        return int(self.R.shape[0])

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return sample_label_paths(self, rng, n)


def geometric_profile(L: int, *, r0: float = 1.0, q: float = 0.8) -> np.ndarray:
    """Decaying profile ``r_t = r0 q^(t-1)``, ``t = 1..L``."""
    L = check_int("L", L, lo=1)
    r0 = check_range("r0", r0, lo=-1, hi=1)
    q = check_range("q", q, lo=-1, hi=1)
    return r0 * q ** np.arange(L, dtype=float)


def linear_profile(L: int, *, r_first: float = 1.0, r_last: float = 0.0) -> np.ndarray:
    """Linear ramp from ``r_first`` (t = 1) to ``r_last`` (t = L)."""
    L = check_int("L", L, lo=1)
    r_first = check_range("r_first", r_first, lo=-1, hi=1)
    r_last = check_range("r_last", r_last, lo=-1, hi=1)
    return np.linspace(r_first, r_last, L)


def hidden_label(r) -> LabelModel:
    """``hidden_label``: ``s ~ Unif{+-1}``, ``y_t = s b_t``, ``b_t = +1`` w.p. ``(1 + r_t)/2``.

    ``R = r r^T + diag(1 - r_t^2)``.
    """
    r = np.asarray(r, dtype=float)
    if r.ndim != 1 or r.size == 0:
        raise ParameterError(f"profile r must be a non-empty 1-d array, got shape {r.shape}")
    if not np.all(np.isfinite(r)) or np.any(np.abs(r) > 1):
        bad = r[~(np.isfinite(r) & (np.abs(r) <= 1))][0]
        raise ParameterError(f"profile r_t = {bad!r} is out of range: must be in [-1, 1]")
    R = np.outer(r, r)
    np.fill_diagonal(R, 1.0)

    def sampler(rng: np.random.Generator, n: int) -> np.ndarray:
        s = rng.choice(np.array([-1, 1], dtype=np.int8), size=(n, 1))
        b = np.where(rng.random((n, r.size)) < (1 + r) / 2, 1, -1).astype(np.int8)
        return s * b

    return LabelModel("hidden_label", R, sampler)


def markov(L: int, *, p: float) -> LabelModel:
    """``markov``: stationary two-state chain keeping the label w.p. ``(1+p)/2``;
    ``R_st = p^|s-t|`` (AR(1) correlations)."""
    L = check_int("L", L, lo=1)
    p = check_range("p", p, lo=-1, hi=1)
    t = np.arange(L)
    R = p ** np.abs(t[:, None] - t[None, :]).astype(float)

    def sampler(rng: np.random.Generator, n: int) -> np.ndarray:
        first = rng.choice(np.array([-1, 1], dtype=np.int8), size=(n, 1))
        flips = np.where(rng.random((n, L - 1)) < (1 + p) / 2, 1, -1).astype(np.int8)
        return (first * np.cumprod(np.concatenate([np.ones((n, 1), np.int8), flips], 1), 1)).astype(
            np.int8
        )

    return LabelModel("markov", R, sampler)


def copula(K) -> LabelModel:
    """``copula``: ``y = sign(g)``, ``g ~ N(0, K)`` (K a correlation matrix);
    ``R = (2/pi) arcsin K``."""
    K = validate_correlation(K)
    chol = np.linalg.cholesky(K + 1e-12 * np.eye(K.shape[0]))
    R = 2 / np.pi * np.arcsin(np.clip(K, -1, 1))

    def sampler(rng: np.random.Generator, n: int) -> np.ndarray:
        g = rng.standard_normal((n, K.shape[0])) @ chol.T
        return np.where(g >= 0, 1, -1).astype(np.int8)

    return LabelModel("copula", R, sampler)


def custom_label_model(R, sampler: Callable, *, name: str = "custom") -> LabelModel:
    """A user-supplied label law: correlation matrix ``R`` and ``sampler(rng, n) -> (n, L)``."""
    R = validate_correlation(R)
    if not callable(sampler):
        raise ParameterError("sampler must be callable as sampler(rng, n) -> (n, L) array of +-1")
    return LabelModel(name, R, sampler)


def label_model_from_name(
    name: str,
    *,
    L: int,
    profile: str = "geometric",
    r0: float = 1.0,
    q: float = 0.8,
    p: float = 0.5,
) -> LabelModel:
    """Build a named model: ``hidden_label`` (``profile`` geometric ``r0 q^(t-1)`` or linear
    ``r0 -> 0``), ``markov`` (``p``), ``copula`` (``K_st = p^|s-t|``)."""
    check_choice("label_model", name, ("hidden_label", "markov", "copula"))
    L = check_int("L", L, lo=1)
    if name == "hidden_label":
        check_choice("profile", profile, ("geometric", "linear", "constant"))
        if profile == "geometric":
            r = geometric_profile(L, r0=r0, q=q)
        elif profile == "linear":
            r = linear_profile(L, r_first=r0, r_last=0.0)
        else:
            r = np.full(L, check_range("r0", r0, lo=-1, hi=1))
        return hidden_label(r)
    if name == "markov":
        return markov(L, p=p)
    p = check_range("p", p, lo=-1, hi=1, lo_open=True, hi_open=True)
    t = np.arange(L)
    return copula(p ** np.abs(t[:, None] - t[None, :]).astype(float))


def sample_label_paths(model: LabelModel, rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` label paths of ``model``, validated to be an ``(n, L)`` array of ``+-1``."""
    n = check_int("n", n, lo=1)
    y = np.asarray(model.sampler(rng, n))
    if y.shape != (n, model.L):
        raise ParameterError(f"label sampler returned shape {y.shape}, expected {(n, model.L)}")
    if not np.all(np.abs(y) == 1):
        raise ParameterError("label sampler must return entries in {-1, +1}")
    return y.astype(np.int8)


# -- vocabulary and tokens ------------------------------------------------------------------------
def sizes_from_ratios(d: int, delta: float, gamma: float) -> tuple[int, int]:
    """``(V, N)`` with ``V`` even, ``V ~ d/delta`` and ``N ~ d/gamma``."""
    d = check_int("d", d, lo=1)
    delta = check_range("delta", delta, lo=0, lo_open=True)
    gamma = check_range("gamma", gamma, lo=0, lo_open=True)
    V = max(2, 2 * round(d / delta / 2))
    N = max(2, round(d / gamma))
    return V, N


@dataclass(frozen=True)
class VocabularyTable:
    """``noise`` (V x d) rows ``z_v``, ``labels`` ``y_v`` (first half +1), ``mu_direction``
    (unit vector). ``e_v = y_v sqrt(ell) mu_direction + z_v``."""

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
        """The table ``E^T`` (V x d) at signal strength ``ell``."""
        ell = check_range("ell", ell, lo=0)
        return self.noise + np.sqrt(ell) * self.labels[:, None] * self.mu_direction[None, :]

    def class_mean_noise(self) -> np.ndarray:
        """``xi = (1/V) sum_v y_v z_v``, so that ``m = (e_bar_+ - e_bar_-)/2 = mu + xi``."""
        return self.labels.astype(float) @ self.noise / self.V

    def class_mean_direction(self, ell: float) -> np.ndarray:
        """``m = mu + xi`` (not normalised)."""
        return np.sqrt(check_range("ell", ell, lo=0)) * self.mu_direction + self.class_mean_noise()

    def within_class_noise(self) -> np.ndarray:
        """``eps_v = z_v - z_bar_{class(v)}`` (V x d); ``W = eps^T eps / V``."""
        half = self.V // 2
        eps = self.noise.copy()
        eps[:half] -= eps[:half].mean(0)
        eps[half:] -= eps[half:].mean(0)
        return eps


def sample_table(rng: np.random.Generator, *, d: int, V: int) -> VocabularyTable:
    """A vocabulary table with ``z_v ~ N(0, I_d)``, ``V/2`` tokens per class and a uniformly
    random unit ``mu`` direction."""
    d = check_int("d", d, lo=1)
    V = check_int("V", V, lo=2)
    if V % 2:
        raise ParameterError(f"V = {V} must be even (balanced classes, V/2 tokens each)")
    noise = rng.standard_normal((V, d))
    labels = np.where(np.arange(V) < V // 2, 1, -1).astype(np.int8)
    g = rng.standard_normal(d)
    return VocabularyTable(noise, labels, g / np.linalg.norm(g))


def sample_tokens(rng: np.random.Generator, labels: np.ndarray, V: int) -> np.ndarray:
    """Token indices ``v_it`` uniform among the ``V/2`` tokens of class ``y_it`` (same shape)."""
    V = check_int("V", V, lo=2)
    if V % 2:
        raise ParameterError(f"V = {V} must be even (balanced classes, V/2 tokens each)")
    half = V // 2
    j = rng.integers(0, half, size=labels.shape)
    return (j + half * (labels < 0)).astype(np.int64)


def incidence(tokens: np.ndarray, weights, V: int) -> sp.csr_matrix:
    """Sparse ``N x V`` matrix ``A_{i v} = sum_t w_{(i)t} 1[v_it = v]`` (so ``X = A E^T``).

    ``weights`` is one vector ``(L,)`` shared by all sequences or per-sequence ``(N, L)``
    (e.g. measured attention weights).
    """
    tokens = np.asarray(tokens)
    N, L = tokens.shape
    w = np.asarray(weights, dtype=float)
    if w.ndim == 2:
        if w.shape != (N, L):
            raise ParameterError(f"per-sequence weights have shape {w.shape}, expected {(N, L)}")
        if not np.all(np.isfinite(w)) or np.any(np.all(w == 0, axis=1)):
            raise ParameterError("per-sequence weights must be finite with nonzero norm per row")
        data = w.ravel()
    else:
        w = validate_weights(w)
        if L != w.size:
            raise ParameterError(f"weights have length {w.size} but sequences have length {L}")
        data = np.tile(w, N)
    rows = np.repeat(np.arange(N), L)
    return sp.csr_matrix((data, (rows, tokens.ravel())), shape=(N, V))


def pool(table_rows: np.ndarray, tokens: np.ndarray, weights, *, center: bool = True) -> np.ndarray:
    """Pooled data ``x_i = sum_t w_t e_{v_it}`` (N x d) from table rows ``e_v`` (V x d).

    ``weights``: ``(L,)`` shared, or ``(N, L)`` per sequence.
    One sparse-dense product ``A E^T``; ``center=True`` subtracts the sample mean ``x_bar``
    (without it an extra, uninformative outlier along ``(sum_t w_t) e_bar`` appears).
    """
    A = incidence(tokens, weights, table_rows.shape[0])
    X = np.asarray(A @ table_rows)
    if center:
        X = X - X.mean(axis=0, keepdims=True)
    return X


@dataclass(frozen=True)
class PooledSample:
    """One trial, split as ``X(ell) = noise + sqrt(ell) u mu_direction^T`` (before centring).

    ``noise`` (N x d) ``= sum_t w_t z_{v_it}``; ``u`` (N,) ``= sum_t w_t y_it``; ``table``
    the vocabulary (for ``m``, ``W``); ``weights``, ``R`` and ``center`` as used.
    """

    noise: np.ndarray
    u: np.ndarray
    table: VocabularyTable
    weights: np.ndarray
    R: np.ndarray
    center: bool

    @property
    def kappa(self) -> float:
        return float(self.weights @ self.weights)

    @property
    def rho(self) -> float:
        return float(self.weights @ self.R @ self.weights / self.kappa)

    def data(self, ell: float) -> np.ndarray:
        """The pooled (and, if ``center``, centred) data matrix ``X`` (N x d) at ``ell``."""
        ell = check_range("ell", ell, lo=0)
        X = self.noise + np.sqrt(ell) * self.u[:, None] * self.table.mu_direction[None, :]
        if self.center:
            X = X - X.mean(axis=0, keepdims=True)
        return X


def sample_pooled(
    rng: np.random.Generator,
    *,
    d: int,
    V: int,
    N: int,
    weights,
    label_model: LabelModel,
    center: bool = True,
) -> PooledSample:
    """Sample a table, ``N`` label paths and tokens, and pool them (spec §1).

    Equivalent in law to ``pool(table.embeddings(ell), tokens, weights)`` for every ``ell``.
    """
    d = check_int("d", d, lo=1)
    N = check_int("N", N, lo=2)
    w = validate_weights(weights)
    if w.size != label_model.L:
        raise ParameterError(
            f"weights have length {w.size} but the label model has L = {label_model.L}"
        )
    table = sample_table(rng, d=d, V=V)
    y = sample_label_paths(label_model, rng, N)
    tokens = sample_tokens(rng, y, V)
    noise = pool(table.noise, tokens, w, center=False)
    u = y.astype(float) @ w
    return PooledSample(noise, u, table, w, label_model.R, bool(center))
