r"""The erf-SLR data law and the strategy objects of its training algorithms.

:class:`ErfSLRModel` is the data law alone (dimension, sequence length, spread of the hidden
token, label noise). The temperature :math:`\lambda` of the predictor belongs to the predictor and
to the training algorithm, so it is given to them as a schedule object
(:class:`ConstantTemperature`, :class:`DecayingTemperature`). The other choices of an algorithm
are small objects too: the initialisation (:class:`SphereInit`, :class:`ManifoldInit`), how
projected GD is run (:class:`FourCoordinates`, :class:`FullDimension`) and how online SGD is
simulated (:class:`Reduced`, :class:`Direct`).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from attnlab._validate import ParameterError, check_choice, check_range
from attnlab.config import Params

MAX_TEMPERATURE = 1e3  # erf(λ·) is a sign function long before; larger λ only overflows λ²


class ErfSLRModel(Params):
    r"""Single-location regression: one informative token at a hidden position.

    A sequence :math:`X = (x_1, \dots, x_L) \in \mathbb R^{L \times d}` has a hidden location
    :math:`J \sim \mathrm{Unif}\{1..L\}`; :math:`x_\ell \sim \mathcal N(0, I_d)` for
    :math:`\ell \ne J` and :math:`x_J \sim \mathcal N(\sqrt{d/2}\,k^*, \gamma^2 I_d)`; the label
    is :math:`y = \langle x_J, v^*\rangle + \varepsilon\xi`, :math:`\xi \sim \mathcal N(0, 1)`,
    with unit :math:`k^* \perp v^*`.

    Parameters
    ----------
    d : int
        Token dimension, ``>= 2``.
    L : int
        Tokens per sequence, ``>= 1``.
    gamma : float
        Standard deviation :math:`\gamma` of the hidden token around its mean, in ``[0, 100]``.
    eps : float
        Label noise :math:`\varepsilon`, in ``[0, 1e6]``.
    """

    d: int = Field(400, ge=2, le=10**12, description="token dimension d")
    L: int = Field(10, ge=1, le=10**6, description="tokens per sequence L")
    gamma: float = Field(
        math.sqrt(0.5), ge=0, le=100, description="sd γ of the hidden token around √(d/2)k*"
    )
    eps: float = Field(0.1, ge=0, le=1e6, description="label noise sd ε")


# -- temperature schedules ------------------------------------------------------------------------
class ConstantTemperature(Params):
    r"""A constant temperature :math:`\lambda_t = \lambda`.

    Parameters
    ----------
    lam : float
        :math:`\lambda`, in ``(0, 1000]``.
    """

    lam: float = Field(gt=0, le=MAX_TEMPERATURE, description="temperature λ")

    @property
    def initial(self) -> float:
        """:math:`\\lambda_0`."""
        return self.lam

    def coefficients(self) -> tuple[float, float]:
        """``(λ₀, c)`` with :math:`\\lambda_t = \\lambda_0/(1 + c t)` (here ``c = 0``)."""
        return self.lam, 0.0

    def at(self, t: Any) -> np.ndarray:
        """:math:`\\lambda_t` at step(s) ``t``."""
        return _at(self, t)


class DecayingTemperature(Params):
    r"""A decaying temperature :math:`\lambda_t = \lambda_0/(1 + c\,t)` (step ``t``).

    Parameters
    ----------
    lam0 : float
        :math:`\lambda_0`, in ``(0, 1000]``.
    decay : float
        :math:`c`, in ``[0, 1]`` (default ``1e-4``).
    """

    lam0: float = Field(gt=0, le=MAX_TEMPERATURE, description="initial temperature λ₀")
    decay: float = Field(1e-4, ge=0, le=1.0, description="c in λ_t = λ₀/(1 + c t)")

    @property
    def initial(self) -> float:
        """:math:`\\lambda_0`."""
        return self.lam0

    def coefficients(self) -> tuple[float, float]:
        """``(λ₀, c)`` with :math:`\\lambda_t = \\lambda_0/(1 + c t)`."""
        return self.lam0, self.decay

    def at(self, t: Any) -> np.ndarray:
        """:math:`\\lambda_t` at step(s) ``t``."""
        return _at(self, t)


Temperature = ConstantTemperature | DecayingTemperature


def _at(schedule: Temperature, t: Any) -> np.ndarray:
    lam0, decay = schedule.coefficients()
    t = np.asarray(t, dtype=float)
    if not np.all(np.isfinite(t)) or np.any(t < 0):
        raise ParameterError(f"t = {t!r}: steps must be finite and >= 0")
    return lam0 / (1.0 + decay * t)


def check_lam(lam: Any, name: str = "lam") -> float:
    """A temperature in ``(0, 1000]``, else a one-line error (NaN and infinities refused)."""
    return check_range(name, lam, lo=0, lo_open=True, hi=MAX_TEMPERATURE)


def temperature_schedule(lam0: float, schedule: bool) -> Temperature:
    """The schedule of a config.

    Parameters
    ----------
    lam0 : float
        λ₀ (or the constant λ).
    schedule : bool
        Decay as λ₀/(1 + 10⁻⁴ t) if true.

    Returns
    -------
    ConstantTemperature or DecayingTemperature
    """
    return DecayingTemperature(lam0=lam0) if schedule else ConstantTemperature(lam=lam0)


def check_temperature(temperature: Any) -> Temperature:
    """``temperature`` if it is a schedule object, else a one-line error."""
    if not isinstance(temperature, ConstantTemperature | DecayingTemperature):
        raise ParameterError(
            f"temperature = {temperature!r}: must be ConstantTemperature(lam=...) or "
            "DecayingTemperature(lam0=...)"
        )
    return temperature


# -- initialisations, solvers, simulators ---------------------------------------------------------
class _Choice(Params):
    """A strategy without parameters, named by ``name``."""

    name: ClassVar[str] = ""


class SphereInit(_Choice):
    """k₀, v₀ independent and uniform on the unit sphere."""

    name: ClassVar[str] = "sphere"


class ManifoldInit(_Choice):
    """(k₀, v₀) on the invariant manifold ℳ: k₀ ⊥ v*, v₀ ⊥ k* and ⊥ the k*-orthogonal part of
    k₀ (so θ = η = ρ = 0), otherwise uniform."""

    name: ClassVar[str] = "manifold"


class FourCoordinates(_Choice):
    """Projected GD in the 4 coordinates of span{k*, v*, k₀, v₀} (cost independent of d)."""

    name: ClassVar[str] = "four-coordinates"


class FullDimension(_Choice):
    """Projected GD on the d-dimensional vectors (reference implementation)."""

    name: ClassVar[str] = "full-dimension"


class Reduced(_Choice):
    """Online SGD simulated by the exact reduced chain of the overlaps (cost independent of d)."""

    name: ClassVar[str] = "reduced"


class Direct(_Choice):
    """Online SGD on d-dimensional vectors with batches drawn from the data law."""

    name: ClassVar[str] = "direct"


_INITS = {c.name: c for c in (SphereInit, ManifoldInit)}
_SIMULATORS = {c.name: c for c in (Reduced, Direct)}


def initialisation(name: str) -> SphereInit | ManifoldInit:
    """The initialisation object of a name.

    Parameters
    ----------
    name : {"sphere", "manifold"}
        A random point of the sphere, or of the invariant manifold ℳ.

    Returns
    -------
    SphereInit or ManifoldInit
    """
    return _INITS[check_choice("init", name, tuple(_INITS))]()


def sgd_simulator(name: str) -> Reduced | Direct:
    """The SGD simulator object of a name.

    Parameters
    ----------
    name : {"reduced", "direct"}
        The exact chain of the overlaps (cost independent of d) or the d-dimensional vectors.

    Returns
    -------
    Reduced or Direct
    """
    return _SIMULATORS[check_choice("simulator", name, tuple(_SIMULATORS))]()


def check_strategy(name: str, value: Any, allowed: tuple[type, ...]) -> Any:
    """``value`` if it is an instance of one of ``allowed``, else a one-line error."""
    if not isinstance(value, allowed):
        names = ", ".join(f"{c.__name__}()" for c in allowed)
        raise ParameterError(f"{name} = {value!r}: must be one of {names}")
    return value
