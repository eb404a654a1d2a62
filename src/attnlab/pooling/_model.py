"""The pooling data model: a frozen :class:`PoolingModel` and its label-path laws.

A vocabulary table ``E = [e_1 … e_V] ∈ R^{d×V}`` is drawn once per trial: ``e_v = y_v μ + z_v``
with balanced classes (tokens ``0 … V/2 − 1`` have ``y_v = +1``, the rest ``−1``) and
``z_v ~ N(0, I_d)``. Each of ``N`` sequences of length ``L`` follows a label path
``(y_1, …, y_L) ∈ {±1}^L`` with ``E y_t = 0`` and ``E y_s y_t = R_st``; its token at position
``t`` is uniform among the ``V/2`` tokens of class ``y_t``. The sizes follow the ratios
``δ = d/V`` and ``γ = d/N`` (``V`` even).

What the model holds, and what it does not: :class:`PoolingModel` is everything that is drawn
once per trial — ``d``, ``δ``, ``γ``, ``L`` and the label law. The signal strength
``ℓ = ‖μ‖²`` is *not* a field: the pooled data depend on it linearly,
``X(ℓ) = X_0 + √ℓ u μ̂ᵀ``, so one sample serves every ``ℓ`` (experiments sweep it with common
random numbers) and it is passed where it is used. The pooling weights are the estimator's
choice (:mod:`attnlab.pooling._weights`), and so is centring the pooled data.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Annotated, Any, ClassVar, Literal

import numpy as np
from pydantic import BeforeValidator, Field, ValidationInfo, field_validator, model_validator

from attnlab._validate import ParameterError, check_int
from attnlab.config import Params
from attnlab.rng import numpy_generator

__all__ = [
    "CopulaLabels",
    "CustomLabels",
    "HiddenLabel",
    "LabelLaw",
    "MarkovLabels",
    "PoolingModel",
    "validate_correlation",
]

# Every label law has ``correlation(L) -> R`` (the L × L matrix ``E y yᵀ``), ``sample(key, n, L)
# -> (n, L)`` int8 ±1 paths from one jax key, and ``describe() -> str`` for titles.


def validate_correlation(R: Any, *, atol: float = 1e-8) -> np.ndarray:
    """``R`` as a float array if it is a correlation matrix, else a one-line error.

    Parameters
    ----------
    R : array_like, shape (L, L)
        Square, symmetric, unit diagonal, positive semi-definite, finite.
    atol : float
        Tolerance of the symmetry and unit-diagonal checks.

    Returns
    -------
    numpy.ndarray
        The symmetrised matrix ``(R + Rᵀ)/2``.
    """
    a = np.asarray(R, dtype=float)
    if a.ndim != 2 or a.shape[0] != a.shape[1] or a.shape[0] == 0:
        raise ParameterError(f"R must be a square L x L matrix, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ParameterError("R contains non-finite entries")
    if np.max(np.abs(a - a.T)) > atol:
        raise ParameterError("R is not a correlation matrix: not symmetric")
    diag = np.diag(a)
    if np.max(np.abs(diag - 1)) > atol:
        i = int(np.argmax(np.abs(diag - 1)))
        raise ParameterError(
            f"R is not a correlation matrix: R[{i},{i}] = {diag[i]:g}, diagonal must be 1"
        )
    lam_min = float(np.linalg.eigvalsh((a + a.T) / 2)[0])
    if lam_min < -1e-8 * a.shape[0]:
        raise ParameterError(
            f"R is not a correlation matrix: smallest eigenvalue {lam_min:.3g} < 0 (not PSD)"
        )
    return (a + a.T) / 2


def kind_shorthand(kinds: dict[str, type]) -> Any:
    """A before-validator reading a bare name (``"markov"``) as ``{"kind": name}``."""

    def validate(value: Any) -> Any:
        if isinstance(value, str):
            if value not in kinds:
                raise ValueError(f"must be one of {', '.join(kinds)}")
            return {"kind": value}
        return value

    return BeforeValidator(validate)


def _plus_minus(rng: np.random.Generator, shape: tuple[int, ...], p_plus: Any) -> np.ndarray:
    """``±1`` (int8) with ``P(+1) = p_plus`` (broadcast over the last axis)."""
    return np.where(rng.random(shape) < p_plus, 1, -1).astype(np.int8)


class HiddenLabel(Params):
    r"""Hidden-label paths: ``s ~ Unif{±1}``, ``y_t = s b_t``, ``b_t = +1`` w.p. ``(1 + r_t)/2``.

    .. math:: R = r r^\top + \operatorname{diag}(1 - r_t^2).

    Parameters
    ----------
    profile : {"geometric", "linear", "constant"}
        ``r_t = r0 q^{t−1}``; a linear ramp from ``r0`` (t = 1) to 0 (t = L); or ``r_t = r0``.
        A decreasing profile means early tokens carry more signal.
    r0 : float
        First value of the profile, in [−1, 1].
    q : float
        Geometric decay rate, in [−1, 1] (geometric profile only).
    """

    kind: Literal["hidden_label"] = "hidden_label"
    profile: Literal["geometric", "linear", "constant"] = "geometric"
    r0: float = Field(1.0, ge=-1, le=1, description="first value r_1 of the profile")
    q: float = Field(0.8, ge=-1, le=1, description="geometric decay: r_t = r0 q^(t-1)")

    def describe(self) -> str:
        """A short description for titles (``rₜ = 1·0.8ᵗ⁻¹``)."""
        if self.profile == "geometric":
            return f"hidden label, rₜ = {self.r0:g}·{self.q:g}ᵗ⁻¹"
        if self.profile == "linear":
            return f"hidden label, rₜ from {self.r0:g} to 0 (linear)"
        return f"hidden label, rₜ = {self.r0:g}"

    def profile_values(self, L: int) -> np.ndarray:
        """The profile ``(r_1, …, r_L)``."""
        L = check_int("L", L, lo=1)
        if self.profile == "geometric":
            return self.r0 * self.q ** np.arange(L, dtype=float)
        if self.profile == "linear":
            return np.linspace(self.r0, 0.0, L) if L > 1 else np.array([self.r0])
        return np.full(L, self.r0)

    def correlation(self, L: int) -> np.ndarray:
        """``R = r rᵀ + diag(1 − r_t²)`` (L × L)."""
        r = self.profile_values(L)
        R = np.outer(r, r)
        np.fill_diagonal(R, 1.0)
        return R

    def sample(self, key: Any, n: int, L: int) -> np.ndarray:
        """``n`` label paths, an ``(n, L)`` int8 array of ±1, from one jax ``key``."""
        rng = numpy_generator(key)
        r = self.profile_values(L)
        s = _plus_minus(rng, (n, 1), 0.5)
        return s * _plus_minus(rng, (n, L), (1 + r) / 2)


class _LagOneLaw(Params):
    """A label law set by one lag-one correlation ``p`` (field of the subclass) through the
    matrix ``p^{|s−t|}``: of the labels themselves, or of a latent Gaussian."""

    law_title: ClassVar[str]

    def describe(self) -> str:
        """A short description for titles (``AR(1), p = 0.5``)."""
        return f"{self.law_title}, p = {self.p:g}"

    def power_matrix(self, L: int) -> np.ndarray:
        """``p^{|s−t|}`` (L × L)."""
        t = np.arange(check_int("L", L, lo=1))
        return self.p ** np.abs(t[:, None] - t[None, :]).astype(float)


class MarkovLabels(_LagOneLaw):
    r"""Stationary two-state chain keeping the label with probability ``(1 + p)/2``.

    .. math:: R_{st} = p^{|s - t|}.

    Parameters
    ----------
    p : float
        Lag-one correlation, in [−1, 1].
    """

    kind: Literal["markov"] = "markov"
    p: float = Field(0.5, ge=-1, le=1, description="lag-one correlation: R_st = p^|s-t|")
    law_title: ClassVar[str] = "AR(1)"

    def correlation(self, L: int) -> np.ndarray:
        """``R_st = p^{|s−t|}``."""
        return self.power_matrix(L)

    def sample(self, key: Any, n: int, L: int) -> np.ndarray:
        """``n`` label paths, an ``(n, L)`` int8 array of ±1, from one jax ``key``."""
        rng = numpy_generator(key)
        first = _plus_minus(rng, (n, 1), 0.5)
        keep = _plus_minus(rng, (n, L - 1), (1 + self.p) / 2)
        steps = np.concatenate([first, keep], axis=1)
        return np.cumprod(steps, axis=1, dtype=np.int8)


class CopulaLabels(_LagOneLaw):
    r"""Gaussian-copula paths: ``y = sign(g)``, ``g ~ N(0, K)``, ``K_st = p^{|s−t|}``.

    .. math:: R = \tfrac{2}{\pi} \arcsin K.

    Parameters
    ----------
    p : float
        Lag-one correlation of the latent Gaussian, in (−1, 1).
    """

    kind: Literal["copula"] = "copula"
    p: float = Field(0.5, gt=-1, lt=1, description="latent correlation: K_st = p^|s-t|")
    law_title: ClassVar[str] = "Gaussian copula"

    def correlation(self, L: int) -> np.ndarray:
        """``R = (2/π) arcsin K``, ``K_st = p^{|s−t|}`` (:meth:`power_matrix`)."""
        return 2 / np.pi * np.arcsin(np.clip(self.power_matrix(L), -1, 1))

    def sample(self, key: Any, n: int, L: int) -> np.ndarray:
        """``n`` label paths, an ``(n, L)`` int8 array of ±1, from one jax ``key``."""
        K = self.power_matrix(L)
        chol = np.linalg.cholesky(K + 1e-12 * np.eye(L))
        g = numpy_generator(key).standard_normal((n, L)) @ chol.T
        return np.where(g >= 0, 1, -1).astype(np.int8)


class CustomLabels(Params):
    """A user-supplied label law: its correlation matrix and a sampler (library use only).

    Parameters
    ----------
    R : list of lists of float
        The L × L correlation matrix ``E y yᵀ``.
    sampler : callable
        ``sampler(key, n) -> (n, L)`` array of ±1 with mean 0 and correlation ``R``, ``key`` a
        jax key (``attnlab.rng.numpy_generator(key)`` gives a numpy generator). Not
        serialised: a model holding custom labels cannot be written to a config file.
    """

    kind: Literal["custom"] = "custom"
    R: list[list[float]]
    sampler: Callable[..., Any] = Field(exclude=True)

    @model_validator(mode="after")
    def _check_R(self) -> CustomLabels:
        try:
            validate_correlation(self.R)
        except ParameterError as err:
            raise ValueError(str(err)) from None
        return self

    def describe(self) -> str:
        """A short description for titles."""
        return "custom label law"

    def correlation(self, L: int) -> np.ndarray:
        """The given ``R`` (its size must be ``L``)."""
        R = np.asarray(self.R, dtype=float)
        if R.shape[0] != L:
            raise ParameterError(f"custom R is {R.shape[0]} x {R.shape[0]} but L = {L}")
        return R

    def sample(self, key: Any, n: int, L: int) -> np.ndarray:
        """``sampler(key, n)``, checked to be an ``(n, L)`` array of ±1."""
        y = np.asarray(self.sampler(key, n))
        if y.shape != (n, L):
            raise ParameterError(f"label sampler returned shape {y.shape}, expected {(n, L)}")
        if not np.all(np.abs(y) == 1):
            raise ParameterError("label sampler must return entries in {-1, +1}")
        return y.astype(np.int8)


_LABEL_KINDS = {"hidden_label": HiddenLabel, "markov": MarkovLabels, "copula": CopulaLabels}

LabelLaw = Annotated[
    HiddenLabel | MarkovLabels | CopulaLabels | CustomLabels,
    Field(discriminator="kind"),
    kind_shorthand(_LABEL_KINDS),
]
"""A label-path law: :class:`HiddenLabel`, :class:`MarkovLabels`, :class:`CopulaLabels` or
:class:`CustomLabels` (in a config: ``labels = "markov"`` or a table with ``kind``)."""


class PoolingModel(Params):
    """The data model of attention pooling (module docstring), validated once.

    Parameters
    ----------
    d : int
        Embedding dimension, ``>= 2``.
    delta : float
        ``δ = d/V``: the vocabulary has ``V = 2 round(d/(2δ))`` tokens, ``V/2`` per class.
    gamma : float
        ``γ = d/N``: ``N = round(d/γ)`` sequences.
    L : int
        Sequence length.
    labels : LabelLaw
        The law of the label paths (default: hidden label, geometric profile ``0.8^{t−1}``).

    Notes
    -----
    ``V`` and ``N`` must both be at least 2 (two classes; a centred covariance needs two
    samples); the realised ratios ``d/V`` and ``d/N`` (:attr:`realised_delta`,
    :attr:`realised_gamma`) are what the theory is evaluated at.
    """

    d: int = Field(1000, ge=2, description="embedding dimension")
    delta: float = Field(0.5, gt=0, le=1e6, description="d/V (vocabulary size V = d/delta)")
    gamma: float = Field(0.5, gt=0, le=1e6, description="d/N (N = d/gamma sequences)")
    L: int = Field(16, ge=1, le=4096, description="sequence length")
    labels: LabelLaw = Field(default_factory=HiddenLabel, description="label-path law")

    @field_validator("delta")
    @classmethod
    def _enough_tokens(cls, delta: float, info: ValidationInfo) -> float:
        d = info.data.get("d")
        if d is not None and 2 * round(d / delta / 2) < 2:
            raise ValueError(
                f"gives V = 2 round(d/(2 delta)) = {2 * round(d / delta / 2)} tokens at d = {d}: "
                "need V >= 2, i.e. delta < d"
            )
        return delta

    @field_validator("gamma")
    @classmethod
    def _enough_sequences(cls, gamma: float, info: ValidationInfo) -> float:
        d = info.data.get("d")
        if d is not None and round(d / gamma) < 2:
            raise ValueError(
                f"gives N = round(d/gamma) = {round(d / gamma)} sequences at d = {d}: need "
                f"N >= 2, i.e. gamma <= {d / 1.5:g}"
            )
        return gamma

    @model_validator(mode="after")
    def _custom_size(self) -> PoolingModel:
        if isinstance(self.labels, CustomLabels):
            self.labels.correlation(self.L)
        return self

    @property
    def V(self) -> int:
        """Vocabulary size ``2 round(d/(2δ))``."""
        return 2 * round(self.d / self.delta / 2)

    @property
    def N(self) -> int:
        """Number of sequences ``round(d/γ)``."""
        return round(self.d / self.gamma)

    @property
    def realised_delta(self) -> float:
        """``d/V`` (the δ the theory is evaluated at)."""
        return self.d / self.V

    @property
    def realised_gamma(self) -> float:
        """``d/N`` (the γ the theory is evaluated at)."""
        return self.d / self.N

    @functools.cached_property
    def correlation(self) -> np.ndarray:
        """The positional correlation matrix ``R`` (L × L) of the label law (read-only)."""
        R = np.array(self.labels.correlation(self.L), dtype=float)
        R.flags.writeable = False
        return R

    def sample_labels(self, key: Any, n: int | None = None) -> np.ndarray:
        """Label paths of the model's label law.

        Parameters
        ----------
        key : jax key
            One key.
        n : int, optional
            Number of paths (default ``N``).

        Returns
        -------
        numpy.ndarray of int8, shape (n, L)
            Entries ±1 with mean 0 and correlation ``R``.
        """
        n = self.N if n is None else check_int("n", n, lo=1)
        return self.labels.sample(key, n, self.L)
