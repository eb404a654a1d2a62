"""The generalised single-location regression model (spiked-SLR and max-SLR)."""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from attnlab.config import Params

__all__ = ["MAX_LENGTH", "GSLRModel", "check_lengths"]

MAX_LENGTH = 64
MAX_NU = 1e12


class GSLRModel(Params):
    r"""The data law of generalised single-location regression, frozen and validated.

    A sequence has :math:`L` tokens :math:`x_\ell \in \mathbb R^D`; a hidden position
    :math:`\epsilon^*` carries the label. With teacher vectors :math:`k^*, v^*`, scores
    :math:`\chi^* = X k^*/\sqrt D` and values :math:`z^* = X v^*/\sqrt D`,

    .. math::

        P(X \mid \epsilon^*) \propto g_\nu(\epsilon^*, \chi^*) \prod_\ell
        \mathcal N(x_\ell; 0, I_D), \qquad y = z^*_{\epsilon^*} + \sqrt\Delta\,\xi,

    with :math:`g_\nu = e^{\sqrt\nu \chi^*_\epsilon - \nu/2}` (spiked-SLR: the relevant token's
    score is shifted to :math:`\mathcal N(\sqrt\nu, 1)`) or
    :math:`g_\nu = L\,\mathrm{softmax}(\nu\chi^*)_\epsilon` (max-SLR: :math:`X` is Gaussian and
    :math:`P(\epsilon^* = \ell \mid X) = \mathrm{softmax}(\nu\chi^*)_\ell`).

    What is *not* here: the dimension :math:`D` and the number of samples (sizes of a
    simulation, given to the samplers), the activation, the penalty :math:`r` and the sample
    ratio :math:`\alpha` (choices of the estimator, given to ERM and the replica solver).

    Parameters
    ----------
    variant : {"spiked", "max"}
        Which tilt :math:`g_\nu`.
    nu : float
        Signal strength :math:`0 \le \nu \le 10^{12}`. The one infinite value allowed is
        :math:`\nu = +\infty` for max-SLR (the hidden position is :math:`\arg\max \chi^*`).
    L : int or list of int
        Sequence length: a fixed :math:`L \ge 1`, or a list of lengths, drawn with
        probabilities ``L_probs`` (uniform by default).
    L_probs : list of float, optional
        Probabilities of the lengths of a random ``L`` (non-negative, summing to 1).
    delta : float
        Label-noise variance :math:`\Delta \ge 0`.
    teacher : {"orthonormal", "gaussian"}
        ``"gaussian"``: :math:`k^*, v^*` with i.i.d. :math:`\mathcal N(0, 1)` entries;
        ``"orthonormal"``: rescaled and orthogonalised so that
        :math:`|k^*|^2 = |v^*|^2 = D` and :math:`k^* \perp v^*` exactly (the same
        :math:`D \to \infty` limit, without the :math:`O(1/\sqrt D)` fluctuations of the
        norms that shift a finite-:math:`D` test error).
    """

    variant: Literal["spiked", "max"] = Field("spiked", description="spiked-SLR or max-SLR")
    nu: float = Field(
        1.0,
        ge=0,
        allow_inf_nan=True,
        description="signal strength ν (+inf allowed for max-SLR: argmax position)",
    )
    L: int | list[int] = Field(
        3, description="sequence length: an int, or a list of lengths (random L)"
    )
    L_probs: list[float] | None = Field(
        None, description="probabilities of the lengths in L (default: uniform)"
    )
    delta: float = Field(0.0, ge=0, le=1e12, description="label-noise variance Δ")
    teacher: Literal["orthonormal", "gaussian"] = Field(
        "orthonormal", description="teacher k*, v*: orthonormal (|k*|² = D, k* ⟂ v*) or gaussian"
    )

    @field_validator("L")
    @classmethod
    def _lengths_in_range(cls, value: int | list[int]) -> int | list[int]:
        return check_lengths(value)

    @model_validator(mode="after")
    def _cross_field(self) -> GSLRModel:
        if math.isfinite(self.nu) and self.nu > MAX_NU:
            raise ValueError(
                f"nu = {self.nu!r} is out of range: must be in [0, {MAX_NU:g}] "
                "(or +inf for variant = 'max')"
            )
        if math.isinf(self.nu) and self.variant != "max":
            raise ValueError(
                f"nu = {self.nu}: infinite signal strength is only defined for variant = 'max' "
                "(argmax position); spiked-SLR needs a finite nu"
            )
        if self.L_probs is not None:
            n = len(self.lengths)
            probs = self.L_probs
            if len(probs) != n:
                raise ValueError(f"L_probs = {probs}: needs {n} probabilities, one per length")
            if any(not 0 <= p <= 1 for p in probs) or not math.isclose(sum(probs), 1.0):
                raise ValueError(f"L_probs = {probs}: must be in [0, 1] and sum to 1")
        return self

    # -- the law of L -------------------------------------------------------------------------
    @property
    def lengths(self) -> tuple[int, ...]:
        """The possible sequence lengths (one for a fixed L)."""
        return tuple(self.L) if isinstance(self.L, list) else (self.L,)

    @property
    def length_probs(self) -> tuple[float, ...]:
        """Their probabilities."""
        if self.L_probs is not None:
            return tuple(float(p) for p in self.L_probs)
        n = len(self.lengths)
        return tuple([1.0 / n] * n)

    @property
    def max_length(self) -> int:
        """:math:`L_{\\max}`: every sequence is padded to it."""
        return max(self.lengths)

    @property
    def mean_length(self) -> float:
        """:math:`E[L]`."""
        return float(sum(l * p for l, p in zip(self.lengths, self.length_probs, strict=True)))

    @property
    def fixed_length(self) -> bool:
        """Whether L is deterministic."""
        return len(self.lengths) == 1

    @property
    def signal_scale(self) -> float:
        r""":math:`c_\nu`, with :math:`P(\epsilon^* = \ell \mid X) = \mathrm{softmax}(c_\nu
        \chi^*)_\ell`: :math:`\sqrt\nu` (spiked) or :math:`\nu` (max)."""
        return math.sqrt(self.nu) if self.variant == "spiked" else float(self.nu)

    def length_label(self) -> str:
        """``L=3``, ``L~Unif{1,2,3}`` or ``L~{2:0.25,3:0.75}``."""
        if self.fixed_length:
            return f"L={self.lengths[0]}"
        if self.L_probs is None:
            return "L~Unif{" + ",".join(map(str, self.lengths)) + "}"
        pairs = zip(self.lengths, self.length_probs, strict=True)
        return "L~{" + ",".join(f"{l}:{p:g}" for l, p in pairs) + "}"

    def label(self) -> str:
        """A short description for tables: ``spiked, ν=2, L=3``."""
        out = f"{self.variant}, ν={self.nu:g}, {self.length_label()}"
        return out + (f", Δ={self.delta:g}" if self.delta else "")


def check_lengths(value: Any) -> Any:
    """A valid law of L: an int in ``[1, MAX_LENGTH]`` or a non-empty list of distinct ones.

    Parameters
    ----------
    value : int or list of int

    Returns
    -------
    The value (raises ``ValueError`` naming the problem).
    """
    values = value if isinstance(value, list) else [value]
    if not values:
        raise ValueError("empty: give at least one length")
    if any(isinstance(x, bool) or not isinstance(x, int) for x in values):
        raise ValueError(f"{value!r}: lengths must be integers")
    bad = [x for x in values if not 1 <= x <= MAX_LENGTH]
    if bad:
        raise ValueError(f"lengths {bad} out of range: must be in [1, {MAX_LENGTH}]")
    if len(set(values)) != len(values):
        raise ValueError("a length is listed twice")
    return value
