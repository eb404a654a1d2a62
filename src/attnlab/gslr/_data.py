"""Generalised single-location regression data (spec ``slr.md`` B.1), sampled exactly.

Tokens ``x_l in R^D`` (``l = 1..L``, ``L`` fixed or random), teacher vectors ``k*, v*`` with
i.i.d. N(0, 1) entries, projections ``chi* = X k*/sqrt(D)``, ``z* = X v*/sqrt(D)``, hidden
position ``eps*`` and label ``y = z*_eps + sqrt(Delta) xi``. The law is
``P(X | eps*) ∝ g_nu(eps*, chi*) prod_l N(x_l; 0, I_D)`` with

* spiked-SLR: ``g_nu = exp(sqrt(nu) chi*_eps - nu/2)``. Tilting a standard Gaussian ``x`` by
  ``exp(sqrt(nu) x.k*/sqrt(D))`` gives exactly ``x ~ N(sqrt(nu) k*/sqrt(D), I_D)``, so we draw
  ``eps*`` uniform and shift the relevant token by ``sqrt(nu) k*/sqrt(D)``. Then
  ``chi*_eps ~ N(sqrt(nu) |k*|^2/D, |k*|^2/D)``: the spec's ``N(sqrt(nu), 1)`` and its
  normaliser ``-nu/2`` hold exactly only when ``|k*|^2 = D``; the sampler is exact for the given
  ``k*`` (the tilt's normaliser does not depend on ``eps*``, so ``eps*`` is uniform a priori).
* max-SLR: ``g_nu = L softmax(nu chi*)_eps``: ``X`` is marginally standard Gaussian and
  ``P(eps* = l | X) = softmax(nu chi*)_l``; we draw ``X`` then ``eps*`` from that softmax
  (``nu = inf`` gives ``eps* = argmax chi*``).

Random lengths are handled by padding to ``L_max`` with a boolean ``mask`` (padded tokens are
zero and are ignored by every activation). ``L`` is given as an int, a sequence of ints (uniform
over them) or a mapping ``{L: probability}`` — see :func:`length_distribution`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from attnlab._jax import jax, jnp
from attnlab._validate import ParameterError, check_choice, check_int, check_range

MODELS = ("spiked", "max")


@dataclass(frozen=True)
class LengthDistribution:
    """Law of the sequence length: ``lengths[i]`` with probability ``probs[i]``."""

    lengths: tuple[int, ...]
    probs: tuple[float, ...]

    @property
    def max_length(self) -> int:
        return max(self.lengths)

    @property
    def mean(self) -> float:
        return float(np.dot(self.lengths, self.probs))

    @property
    def is_fixed(self) -> bool:
        return len(self.lengths) == 1

    def label(self) -> str:
        if self.is_fixed:
            return f"L={self.lengths[0]}"
        if np.allclose(self.probs, self.probs[0]):
            return "L~Unif{" + ",".join(map(str, self.lengths)) + "}"
        return (
            "L~{"
            + ",".join(f"{l}:{p:g}" for l, p in zip(self.lengths, self.probs, strict=True))
            + "}"
        )


def length_distribution(L: Any) -> LengthDistribution:
    """Normalise ``L``: an int ``>= 1``, a sequence of ints (uniform) or ``{L: prob}``."""
    if isinstance(L, LengthDistribution):
        return L
    if isinstance(L, Mapping):
        items = sorted(
            (check_int("L", k, lo=1), check_range("P(L)", p, lo=0)) for k, p in L.items()
        )
        if not items:
            raise ParameterError("L = {} is empty: give at least one length")
        total = sum(p for _, p in items)
        if not math.isclose(total, 1.0, rel_tol=1e-9, abs_tol=1e-12):
            raise ParameterError(f"L = {dict(L)!r}: probabilities sum to {total:g}, must be 1")
        items = [(k, p) for k, p in items if p > 0]
        return LengthDistribution(tuple(k for k, _ in items), tuple(p for _, p in items))
    if isinstance(L, Sequence) and not isinstance(L, str):
        vals = sorted({check_int("L", x, lo=1) for x in L})
        if not vals:
            raise ParameterError("L = [] is empty: give at least one length")
        return LengthDistribution(tuple(vals), tuple([1.0 / len(vals)] * len(vals)))
    try:
        return LengthDistribution((check_int("L", L, lo=1),), (1.0,))
    except (TypeError, ValueError) as err:
        if isinstance(err, ParameterError):
            raise
        raise ParameterError(
            f"L = {L!r} must be an int >= 1, a list of ints or a mapping"
        ) from None


def check_model(model: str) -> str:
    return check_choice("model", model, MODELS)


def check_nu(nu: Any, model: str) -> float:
    """``nu >= 0``; ``nu = inf`` only for max-SLR (argmax position)."""
    if model == "max":
        return check_range("nu", nu, lo=0)
    return check_range("nu", nu, lo=0, hi=math.inf, hi_open=True)


def signal_scale(model: str, nu: float) -> float:
    """``c_nu``: ``P(eps* = l | X) = softmax(c_nu chi*)_l`` (sqrt(nu) spiked, nu max)."""
    return math.sqrt(nu) if model == "spiked" else float(nu)


@dataclass(frozen=True)
class Teacher:
    """Teacher vectors ``k*, v*`` (shape ``(D,)``)."""

    k: jax.Array
    v: jax.Array

    @property
    def dim(self) -> int:
        return int(self.k.shape[0])


def sample_teacher(key: jax.Array, *, dim: int, orthonormal: bool = False) -> Teacher:
    """``k*, v*`` with i.i.d. N(0, 1) entries (spec B.1).

    ``orthonormal=True`` instead returns exactly orthogonal vectors with ``|k*|^2 = |v*|^2 = D``
    (Gram–Schmidt then rescaling), for which the population formulas of B.3 hold at every ``D``.
    """
    dim = check_int("dim", dim, lo=2 if orthonormal else 1)
    kk, kv = jax.random.split(key)
    k = jax.random.normal(kk, (dim,))
    v = jax.random.normal(kv, (dim,))
    if orthonormal:
        v = v - (v @ k) / (k @ k) * k
        k = k * jnp.sqrt(dim) / jnp.linalg.norm(k)
        v = v * jnp.sqrt(dim) / jnp.linalg.norm(v)
    return Teacher(k, v)


@dataclass(frozen=True)
class SLRData:
    """A batch of generalised-SLR samples (padded to ``L_max`` tokens).

    X: ``(n, L_max, D)``; mask: ``(n, L_max)`` bool; eps: ``(n,)`` hidden positions;
    y: ``(n,)`` labels; lengths: ``(n,)``.
    """

    X: jax.Array
    y: jax.Array
    mask: jax.Array
    eps: jax.Array
    lengths: jax.Array

    @property
    def n(self) -> int:
        return int(self.y.shape[0])

    @property
    def dim(self) -> int:
        return int(self.X.shape[-1])


def _lengths_and_mask(key, n, dist: LengthDistribution):
    Lmax = dist.max_length
    if dist.is_fixed:
        lengths = jnp.full((n,), Lmax, dtype=jnp.int32)
    else:
        idx = jax.random.choice(key, len(dist.lengths), (n,), p=jnp.asarray(dist.probs))
        lengths = jnp.asarray(dist.lengths, dtype=jnp.int32)[idx]
    mask = jnp.arange(Lmax)[None, :] < lengths[:, None]
    return lengths, mask


def _positions(key, model, nu, chi_star, mask, lengths):
    """Hidden positions: uniform over valid tokens (spiked) or softmax(nu chi*) (max)."""
    if model == "spiked":
        u = jax.random.uniform(key, lengths.shape)
        return jnp.minimum(jnp.floor(u * lengths).astype(jnp.int32), lengths - 1)
    if math.isinf(nu):
        return jnp.argmax(jnp.where(mask, chi_star, -jnp.inf), axis=-1).astype(jnp.int32)
    logits = jnp.where(mask, nu * chi_star, -jnp.inf)
    return jax.random.categorical(key, logits, axis=-1).astype(jnp.int32)


def sample_slr(
    key: jax.Array,
    *,
    n: int,
    teacher: Teacher,
    model: str = "spiked",
    nu: float = 1.0,
    L: Any = 3,
    delta: float = 0.0,
    dtype: Any = None,
) -> SLRData:
    """Draw ``n`` exact samples of spiked- or max-SLR (spec B.1), vectorised.

    ``nu >= 0`` signal strength, ``delta >= 0`` label-noise variance, ``L`` fixed or random
    (see :func:`length_distribution`). ``dtype`` (default float64) of ``X`` and ``y``.
    """
    n = check_int("n", n, lo=1)
    model = check_model(model)
    nu = check_nu(nu, model)
    delta = check_range("delta", delta, lo=0)
    dist = length_distribution(L)
    dtype = dtype or jnp.float64
    D = teacher.dim
    kL, kX, kE, kN = jax.random.split(key, 4)
    lengths, mask = _lengths_and_mask(kL, n, dist)
    X = jax.random.normal(kX, (n, dist.max_length, D), dtype=jnp.float64)
    kstar = teacher.k.astype(jnp.float64)
    vstar = teacher.v.astype(jnp.float64)
    if model == "spiked":
        eps = _positions(kE, model, nu, None, mask, lengths)
        shift = jax.nn.one_hot(eps, dist.max_length)[:, :, None] * (math.sqrt(nu) / math.sqrt(D))
        X = X + shift * kstar[None, None, :]
    else:
        chi_star = X @ kstar / math.sqrt(D)
        eps = _positions(kE, model, nu, chi_star, mask, lengths)
    X = X * mask[:, :, None]
    z_star = X @ vstar / math.sqrt(D)
    y = jnp.take_along_axis(z_star, eps[:, None], axis=1)[:, 0]
    y = y + math.sqrt(delta) * jax.random.normal(kN, (n,))
    return SLRData(X.astype(dtype), y.astype(dtype), mask, eps, lengths)


@dataclass(frozen=True)
class TeacherFields:
    """Samples of the per-token teacher fields of the high-dimensional limit (``|k*|^2 = D``).

    chi_star: ``(n, L_max)``; mask; eps; weights: ``(n, L_max)`` — ``P(eps* = l | chi*)``
    (a one-hot of ``eps`` for spiked-SLR; ``softmax(nu chi*)`` for max-SLR, usable for
    Rao–Blackwellised expectations).
    """

    chi_star: jax.Array
    mask: jax.Array
    eps: jax.Array
    weights: jax.Array


def sample_teacher_fields(
    key: jax.Array, *, n: int, model: str, nu: float, L: Any
) -> TeacherFields:
    """Exact draws of ``(L, eps*, chi*)``: spiked ``chi*_l ~ N(sqrt(nu) 1[l = eps*], 1)``;
    max ``chi* ~ N(0, I_L)``, ``eps* ~ softmax(nu chi*)``."""
    n = check_int("n", n, lo=1)
    model = check_model(model)
    nu = check_nu(nu, model)
    dist = length_distribution(L)
    kL, kX, kE = jax.random.split(key, 3)
    lengths, mask = _lengths_and_mask(kL, n, dist)
    chi = jax.random.normal(kX, (n, dist.max_length))
    if model == "spiked":
        eps = _positions(kE, model, nu, None, mask, lengths)
        onehot = jax.nn.one_hot(eps, dist.max_length)
        chi = chi + math.sqrt(nu) * onehot
        weights = onehot
    else:
        eps = _positions(kE, model, nu, chi, mask, lengths)
        if math.isinf(nu):
            weights = jax.nn.one_hot(eps, dist.max_length)
        else:
            weights = jax.nn.softmax(jnp.where(mask, nu * chi, -jnp.inf), axis=-1)
    chi = chi * mask
    return TeacherFields(chi, mask, eps, weights)
