r"""The data law, the teacher, the initialisations and the geometry of (k, v).

Data: :math:`X = (x_1 \dots x_L)`, hidden location :math:`J \sim \mathrm{Unif}\{1..L\}`,
:math:`x_\ell \sim \mathcal N(0, I_d)` for :math:`\ell \ne J`,
:math:`x_J = \sqrt{d/2}\,k^* + \gamma g` with :math:`g \sim \mathcal N(0, I_d)`, and
:math:`y = \langle x_J, v^*\rangle + \varepsilon\xi`.

Order parameters of unit vectors (k, v): :math:`\kappa = \langle k,k^*\rangle`,
:math:`\nu = \langle v,v^*\rangle`, :math:`\theta = \langle v,k^*\rangle`,
:math:`\eta = \langle k,v^*\rangle`, :math:`\rho = \langle k,v\rangle`; the invariant manifold is
:math:`\mathcal M = \{\theta = \eta = \rho = 0\}` and the distance to it is
:math:`\sqrt{\theta^2 + \eta^2 + \rho^2}`.

Random streams of replicate key ``key``: the teacher uses ``stream(key, "teacher")`` and the
initialisation ``stream(key, "init")``.
"""

from __future__ import annotations

from functools import partial
from typing import Any, NamedTuple

import numpy as np

from attnlab._jax import flat_draw, jax, jnp
from attnlab._validate import ParameterError, check_int
from attnlab.erf_slr._model import (
    ErfSLRModel,
    ManifoldInit,
    SphereInit,
    check_strategy,
)
from attnlab.precision import uses_jax
from attnlab.rng import as_key_batch, stream

__all__ = [
    "Overlaps",
    "Problem",
    "distance_to_manifold",
    "draw_problem",
    "embed_overlaps",
    "overlaps",
    "sample_slr",
    "teacher_directions",
]


class Overlaps(NamedTuple):
    """The five order parameters (κ, ν, θ, η, ρ) of (k, v) against (k*, v*)."""

    kappa: Any
    nu: Any
    theta: Any
    eta: Any
    rho: Any


class Problem(NamedTuple):
    """Per replicate: the teacher (k*, v*) and the initial (k₀, v₀), each of shape (n, d)."""

    k_star: np.ndarray
    v_star: np.ndarray
    k0: np.ndarray
    v0: np.ndarray


def _normalise(x):
    return x / jnp.linalg.norm(x, axis=-1, keepdims=True)


def _project_out(x, u):
    u = _normalise(u)
    for _ in range(2):  # twice: re-orthogonalisation for float accuracy
        x = x - jnp.dot(x, u) * u
    return x


def _teacher(key, d, dtype):
    gk, gv = flat_draw(jax.random.normal, stream(key, "teacher"), (2, d), dtype=dtype)
    k_star = _normalise(gk)
    return k_star, _normalise(_project_out(gv, k_star))


def _initial(key, k_star, v_star, manifold: bool):
    gk, gv = flat_draw(
        jax.random.normal, stream(key, "init"), (2, k_star.shape[-1]), dtype=k_star.dtype
    )
    if not manifold:
        return _normalise(gk), _normalise(gv)
    k = _normalise(_project_out(gk, v_star))
    k_perp = _project_out(k, k_star)  # the k*-orthogonal part of k
    v = _project_out(_project_out(_project_out(gv, k_star), k_perp), k_star)
    return k, _normalise(v)


def _dtype():
    return jnp.zeros(()).dtype  # float64 inside attnlab's default precision, else float32


@partial(jax.jit, static_argnums=(1, 2))
def _draw(keys, d: int, what: str):
    """Teacher (``what="teacher"``) or teacher and start (``"sphere"``, ``"manifold"``) of
    each replicate key (compiled once per (d, what))."""

    def one(key):
        ks, vs = _teacher(key, d, _dtype())
        if what == "teacher":
            return ks, vs
        return (ks, vs, *_initial(key, ks, vs, what == "manifold"))

    return jax.vmap(one)(keys)


def _numpy(out, single):
    out = tuple(np.asarray(a) for a in out)
    return tuple(a[0] for a in out) if single else out


@uses_jax
def teacher_directions(model: ErfSLRModel, key: Any) -> tuple[np.ndarray, np.ndarray]:
    r"""The teacher: unit :math:`k^*` (a normalised Gaussian) and :math:`v^* \perp k^*` (a
    Gaussian orthogonalised against :math:`k^*`, then normalised).

    Parameters
    ----------
    model : ErfSLRModel
    key : jax key or array of keys
        One key, or one per replicate.

    Returns
    -------
    k_star, v_star : numpy.ndarray
        Shape ``(d,)``, or ``(n, d)`` for ``n`` keys.
    """
    keys, single = as_key_batch(key)
    return _numpy(_draw(keys, model.d, "teacher"), single)


@uses_jax
def draw_problem(
    model: ErfSLRModel, key: Any, *, init: SphereInit | ManifoldInit = SphereInit()
) -> Problem:
    r"""Teacher and initialisation of each replicate.

    The initial (k₀, v₀) is uniform on the product of spheres (:class:`SphereInit`) or on the
    invariant manifold (:class:`ManifoldInit`: :math:`k_0 \perp v^*`, :math:`v_0 \perp k^*` and
    :math:`\perp` the :math:`k^*`-orthogonal part of :math:`k_0`, so
    :math:`\theta = \eta = \rho = 0`).

    Parameters
    ----------
    model : ErfSLRModel
    key : jax key or array of keys
    init : SphereInit or ManifoldInit

    Returns
    -------
    Problem
        ``k_star, v_star, k0, v0``, each ``(d,)`` or ``(n, d)``.
    """
    check_strategy("init", init, (SphereInit, ManifoldInit))
    keys, single = as_key_batch(key)
    return Problem(*_numpy(_draw(keys, model.d, init.name), single))


def _sample(key, n, k_star, v_star, L, gamma, eps, d=None):
    """``n`` samples of the data law (unvalidated, jit/vmap friendly; ``n``, ``L`` static).

    ``d`` (default: the length of ``k_star``) sets the hidden token's mean √(d/2)·k*: with
    k*, v* the first two axes of a smaller orthonormal frame, the samples are the coordinates in
    that frame of d-dimensional tokens (independent standard normals off the mean)."""
    dtype = k_star.dtype
    width = k_star.shape[-1]
    d = width if d is None else d
    kx, kj, kn = jax.random.split(key, 3)
    X = flat_draw(jax.random.normal, kx, (n, L, width), dtype=dtype)
    J = jax.random.randint(kj, (n,), 0, L)
    onehot = jax.nn.one_hot(J, L, dtype=dtype)
    scale = 1.0 + (gamma - 1.0) * onehot  # γ on the hidden token, 1 elsewhere
    X = X * scale[..., None] + onehot[..., None] * (jnp.sqrt(d / 2.0) * k_star)
    x_J = jnp.einsum("nl,nld->nd", onehot, X)
    y = x_J @ v_star + eps * jax.random.normal(kn, (n,), dtype=dtype)
    return X, y, J


_sample_jit = jax.jit(_sample, static_argnums=(1, 4))


def check_teacher(
    model: ErfSLRModel, a: Any, b: Any, names: tuple[str, str] = ("k_star", "v_star")
) -> tuple[np.ndarray, np.ndarray]:
    """Two finite float arrays of a common shape ``(d,)`` or ``(n, d)``, else a one-line error."""
    out = []
    for name, x in zip(names, (a, b), strict=True):
        arr = np.asarray(x, dtype=float)
        if arr.ndim not in (1, 2) or arr.shape[-1] != model.d:
            raise ParameterError(
                f"{name} has shape {arr.shape}: must be (d,) or (n, d) with d = {model.d}"
            )
        if not np.all(np.isfinite(arr)):
            raise ParameterError(f"{name} has non-finite entries")
        out.append(arr)
    if out[0].shape != out[1].shape:
        raise ParameterError(
            f"{names[0]} {out[0].shape} and {names[1]} {out[1].shape} differ in shape"
        )
    return out[0], out[1]


@uses_jax
def sample_slr(
    model: ErfSLRModel, key: Any, n: int, *, k_star: Any, v_star: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""``n`` i.i.d. samples of the data law.

    :math:`x_J = \sqrt{d/2}\,k^* + \gamma g`, the other tokens standard Gaussian,
    :math:`y = \langle x_J, v^*\rangle + \varepsilon\xi`.

    Parameters
    ----------
    model : ErfSLRModel
    key : jax key
        A single key.
    n : int
        Number of samples, ``>= 1``.
    k_star, v_star : array, shape (d,)
        The teacher.

    Returns
    -------
    X : numpy.ndarray, shape (n, L, d)
    y : numpy.ndarray, shape (n,)
    J : numpy.ndarray, shape (n,)
        The hidden location (0-based).
    """
    n = check_int("n", n, lo=1, hi=10**9)
    keys, single = as_key_batch(key)
    if not single:
        raise ParameterError("sample_slr takes a single key (vmap it for replicates)")
    ks, vs = check_teacher(model, k_star, v_star)
    if ks.ndim != 1:
        raise ParameterError(f"k_star has shape {ks.shape}: sample_slr needs one teacher (d,)")
    L, gamma, eps = model.L, model.gamma, model.eps
    out = _sample_jit(
        keys[0], n, jnp.asarray(ks, _dtype()), jnp.asarray(vs, _dtype()), L, gamma, eps
    )
    return tuple(np.asarray(a) for a in out)  # type: ignore[return-value]


def overlaps(k: Any, v: Any, k_star: Any, v_star: Any) -> Overlaps:
    """``(κ, ν, θ, η, ρ) = (⟨k,k*⟩, ⟨v,v*⟩, ⟨v,k*⟩, ⟨k,v*⟩, ⟨k,v⟩)`` along the last axis.

    Parameters
    ----------
    k, v, k_star, v_star : array, shape (..., d)

    Returns
    -------
    Overlaps
        Numpy arrays of shape ``(...)``.
    """
    k, v, ks, vs = (np.asarray(x, dtype=float) for x in (k, v, k_star, v_star))

    def dot(a, b):
        return np.sum(a * b, axis=-1)

    return Overlaps(dot(k, ks), dot(v, vs), dot(v, ks), dot(k, vs), dot(k, v))


def distance_to_manifold(ov: Overlaps) -> np.ndarray:
    """Distance of (k, v) to :math:`\\mathcal M`: :math:`\\sqrt{\\theta^2 + \\eta^2 + \\rho^2}`.

    Parameters
    ----------
    ov : Overlaps

    Returns
    -------
    numpy.ndarray
    """
    return np.sqrt(np.asarray(ov.theta) ** 2 + np.asarray(ov.eta) ** 2 + np.asarray(ov.rho) ** 2)


def canonical_coordinates(ov: Overlaps) -> tuple[np.ndarray, np.ndarray]:
    r"""Coordinates of (k, v) in an orthonormal frame :math:`(k^*, v^*, e_3, e_4)`.

    :math:`k = (\kappa, \eta, \sqrt{1-\kappa^2-\eta^2}, 0)`,
    :math:`v = (\theta, \nu, v_3, \sqrt{1 - \theta^2 - \nu^2 - v_3^2})` with
    :math:`v_3 = (\rho - \kappa\theta - \eta\nu)/k_3` (0 when :math:`k_3 = 0`): any unit (k, v)
    with these overlaps is the image of this pair by a rotation fixing :math:`k^*, v^*`.

    Parameters
    ----------
    ov : Overlaps
        Realisable overlaps, arrays of a common shape ``(...)``.

    Returns
    -------
    ck, cv : numpy.ndarray, shape (..., 4)
    """
    ka, nu, th, et, rh = np.broadcast_arrays(*(np.asarray(x, dtype=float) for x in ov))
    k3 = np.sqrt(np.clip(1.0 - ka**2 - et**2, 0.0, None))
    safe = np.where(k3 > 0, k3, 1.0)
    v3 = np.where(k3 > 0, (rh - ka * th - et * nu) / safe, 0.0)
    v4 = np.sqrt(np.clip(1.0 - th**2 - nu**2 - v3**2, 0.0, None))
    zero = np.zeros_like(ka)
    return np.stack([ka, et, k3, zero], -1), np.stack([th, nu, v3, v4], -1)


def embed_overlaps(ov: Overlaps, d: int) -> tuple[np.ndarray, ...]:
    r"""Unit vectors in :math:`\mathbb R^d` with the given overlaps: :math:`k^* = e_1`,
    :math:`v^* = e_2` and (k, v) in span{e₁..e₄} (:func:`canonical_coordinates`).

    Parameters
    ----------
    ov : Overlaps
        Arrays of shape ``(n,)`` (or scalars).
    d : int
        Dimension, ``>= 4``.

    Returns
    -------
    k, v, k_star, v_star : numpy.ndarray, shape (n, d) (or (d,))
    """
    d = check_int("d", d, lo=4)
    ck, cv = canonical_coordinates(ov)
    shape = ck.shape[:-1] + (d,)
    k, v = np.zeros(shape), np.zeros(shape)
    k[..., :4], v[..., :4] = ck, cv
    ks, vs = np.zeros(shape), np.zeros(shape)
    ks[..., 0], vs[..., 1] = 1.0, 1.0
    return k, v, ks, vs


def orthonormal_frame(k_star, v_star, k0, v0):
    """Orthonormal basis ``B`` (4, d) of span{k*, v*, k₀, v₀} with rows e₁ = k*, e₂ = v*
    (Gram–Schmidt twice; jnp, unvalidated)."""
    basis = []
    for x in (k_star, v_star, k0, v0):
        for _ in range(2):
            for b in basis:
                x = x - jnp.dot(x, b) * b
        basis.append(_normalise(x))
    return jnp.stack(basis)
