r"""Exact samplers of generalised single-location regression.

Spiked-SLR. Tilting a standard Gaussian token :math:`x` by :math:`e^{\sqrt\nu\,x\cdot k^*/\sqrt D}`
gives exactly :math:`x \sim \mathcal N(\sqrt\nu\,k^*/\sqrt D, I_D)`; the tilt's normaliser does
not depend on the position, so :math:`\epsilon^*` is uniform and we shift the relevant token by
:math:`\sqrt\nu\,k^*/\sqrt D`. Then :math:`\chi^*_\epsilon \sim \mathcal N(\sqrt\nu |k^*|^2/D,
|k^*|^2/D)`: the limit law :math:`\mathcal N(\sqrt\nu, 1)` holds at every :math:`D` only for an
orthonormal teacher (:attr:`GSLRModel.teacher`).

Max-SLR. :math:`X` is marginally standard Gaussian and :math:`P(\epsilon^* = \ell \mid X) =
\mathrm{softmax}(\nu\chi^*)_\ell`: we draw :math:`X`, then :math:`\epsilon^*` from that softmax
(:math:`\nu = \infty`: the argmax).

Random lengths are padded to :math:`L_{\max}` with a boolean ``mask``; padded tokens are zero
and every activation ignores them. Each random quantity has its own named sub-stream of the key
(:func:`attnlab.rng.stream`), so adding one never shifts the others.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from attnlab._jax import flat_draw, jax, jnp
from attnlab._threads import lapack_program
from attnlab._validate import ParameterError, check_int
from attnlab.gslr._model import GSLRModel
from attnlab.precision import uses_jax
from attnlab.rng import as_key_batch, stream

__all__ = [
    "SLRData",
    "Teacher",
    "TeacherFields",
    "sample_data",
    "sample_projections",
    "sample_teacher",
    "sample_teacher_fields",
]

MAX_ELEMENTS = 2**31 - 1  # one array of X must be indexable by int32


@dataclass(frozen=True)
class Teacher:
    """Teacher vectors :math:`k^*, v^*`, shape ``(D,)`` (or ``(n_seeds, D)`` for a batch)."""

    k: Any
    v: Any

    @property
    def dim(self) -> int:
        """The dimension :math:`D`."""
        return int(self.k.shape[-1])


@dataclass(frozen=True)
class SLRData:
    """Samples of generalised SLR, padded to :math:`L_{\\max}` tokens.

    Attributes
    ----------
    X : array, shape (n, L_max, D)
        Tokens (zero on padding).
    y : array, shape (n,)
        Labels.
    mask : bool array, shape (n, L_max)
        Valid tokens.
    eps : int array, shape (n,)
        Hidden positions.
    lengths : int array, shape (n,)
        Sequence lengths.
    """

    X: Any
    y: Any
    mask: Any
    eps: Any
    lengths: Any

    @property
    def n(self) -> int:
        """Number of samples."""
        return int(self.y.shape[-1])

    @property
    def dim(self) -> int:
        """The dimension :math:`D`."""
        return int(self.X.shape[-1])

    def head(self, n: int) -> SLRData:
        """The first ``n`` samples (a nested, smaller training set)."""
        return SLRData(self.X[:n], self.y[:n], self.mask[:n], self.eps[:n], self.lengths[:n])


@dataclass(frozen=True)
class TeacherFields:
    r"""Draws of the per-token teacher scores of the :math:`D \to \infty` limit.

    Attributes
    ----------
    chi_star : array, shape (n, L_max)
        :math:`\chi^*` (zero on padding).
    mask : bool array, shape (n, L_max)
    eps : int array, shape (n,)
        Hidden positions.
    weights : array, shape (n, L_max)
        :math:`P(\epsilon^* = \ell \mid \chi^*)`: one-hot of ``eps`` (spiked) or
        :math:`\mathrm{softmax}(\nu\chi^*)` (max), for Rao–Blackwellised expectations.
    """

    chi_star: Any
    mask: Any
    eps: Any
    weights: Any


# -- jax internals (used inside other computations, no conversion) --------------------------------
# The compiled samplers are specialised on the structure of the model (variant, law of L,
# whether nu is infinite); nu and delta are traced, so a grid over nu compiles once.
def _structure(model: GSLRModel) -> tuple:
    return (model.variant, model.lengths, model.length_probs, math.isinf(model.nu))


def _traced_nu(model: GSLRModel) -> float:
    """ν as the compiled samplers take it (ν = ∞ is in the structure; 0 stands in)."""
    return 0.0 if math.isinf(model.nu) else float(model.nu)


def _lengths_and_mask(key: Any, n: int, structure: tuple) -> tuple[Any, Any]:
    _, lengths_law, probs, _ = structure
    lmax = max(lengths_law)
    if len(lengths_law) == 1:
        lengths = jnp.full((n,), lmax, dtype=jnp.int32)
    else:
        idx = jax.random.choice(
            stream(key, "lengths"), len(lengths_law), (n,), p=jnp.asarray(probs)
        )
        lengths = jnp.asarray(lengths_law, dtype=jnp.int32)[idx]
    return lengths, jnp.arange(lmax)[None, :] < lengths[:, None]


def _positions(key: Any, structure: tuple, nu: Any, chi_star: Any, mask: Any, lengths: Any) -> Any:
    """Hidden positions: uniform over valid tokens (spiked) or softmax(ν χ*) (max)."""
    variant, _, _, nu_inf = structure
    key = stream(key, "positions")
    if variant == "spiked":
        u = jax.random.uniform(key, lengths.shape)
        return jnp.minimum(jnp.floor(u * lengths).astype(jnp.int32), lengths - 1)
    if nu_inf:
        return jnp.argmax(jnp.where(mask, chi_star, -jnp.inf), axis=-1).astype(jnp.int32)
    logits = jnp.where(mask, nu * chi_star, -jnp.inf)
    return jax.random.categorical(key, logits, axis=-1).astype(jnp.int32)


def _teacher(model: GSLRModel, key: Any, dim: int) -> Teacher:
    return Teacher(*_teacher_arrays(model.teacher == "orthonormal", key, dim))


@functools.partial(jax.jit, static_argnums=(0, 2))
def _teacher_arrays(orthonormal: bool, key: Any, dim: int) -> tuple:
    k = jax.random.normal(stream(key, "k*"), (dim,))
    v = jax.random.normal(stream(key, "v*"), (dim,))
    if orthonormal:
        v = v - (v @ k) / (k @ k) * k
        k = k * jnp.sqrt(dim) / jnp.linalg.norm(k)
        v = v * jnp.sqrt(dim) / jnp.linalg.norm(v)
    return k, v


def _data(model: GSLRModel, key: Any, teacher: Teacher, n: int, dtype: Any) -> SLRData:
    """Jax arrays; ``X`` and ``y`` in ``dtype`` (drawn in the ambient float precision)."""
    nu = _traced_nu(model)
    arrays = _data_arrays(
        _structure(model), key, teacher.k, teacher.v, nu, model.delta, n, jnp.dtype(dtype)
    )
    return SLRData(*arrays)


@functools.partial(jax.jit, static_argnums=(0, 6, 7))
def _data_arrays(
    structure: tuple, key: Any, k: Any, v: Any, nu: Any, delta: Any, n: int, dtype: Any
) -> tuple:
    dim = k.shape[-1]
    lmax = max(structure[1])
    lengths, mask = _lengths_and_mask(key, n, structure)
    X = flat_draw(jax.random.normal, stream(key, "tokens"), (n, lmax, dim))
    kstar, vstar = jnp.asarray(k, X.dtype), jnp.asarray(v, X.dtype)
    if structure[0] == "spiked":
        eps = _positions(key, structure, nu, None, mask, lengths)
        shift = jax.nn.one_hot(eps, lmax, dtype=X.dtype)[:, :, None] * jnp.sqrt(nu / dim)
        X = X + shift * kstar[None, None, :]
    else:
        eps = _positions(key, structure, nu, X @ kstar / math.sqrt(dim), mask, lengths)
    X = X * mask[:, :, None]
    z_star = X @ vstar / math.sqrt(dim)
    y = jnp.take_along_axis(z_star, eps[:, None], axis=1)[:, 0]
    y = y + jnp.sqrt(delta) * jax.random.normal(stream(key, "noise"), (n,))
    return X.astype(dtype), y.astype(dtype), mask, eps, lengths


def _fields(model: GSLRModel, key: Any, n: int) -> TeacherFields:
    nu = _traced_nu(model)
    return TeacherFields(*_field_arrays(_structure(model), key, nu, n))


@functools.partial(jax.jit, static_argnums=(0, 3))
def _field_arrays(structure: tuple, key: Any, nu: Any, n: int) -> tuple:
    variant, lengths_law, _, nu_inf = structure
    lmax = max(lengths_law)
    lengths, mask = _lengths_and_mask(key, n, structure)
    chi = flat_draw(jax.random.normal, stream(key, "scores"), (n, lmax))
    if variant == "spiked":
        eps = _positions(key, structure, nu, None, mask, lengths)
        onehot = jax.nn.one_hot(eps, lmax, dtype=chi.dtype)
        chi = chi + jnp.sqrt(nu) * onehot
        weights = onehot
    else:
        eps = _positions(key, structure, nu, chi, mask, lengths)
        if nu_inf:
            weights = jax.nn.one_hot(eps, lmax, dtype=chi.dtype)
        else:
            weights = jax.nn.softmax(jnp.where(mask, nu * chi, -jnp.inf), axis=-1)
    return chi * mask, mask, eps, weights


@functools.partial(jax.jit, static_argnums=(0, 4))
def _projection_arrays(structure: tuple, key: Any, basis_gram: Any, nu: Any, n: int) -> tuple:
    r"""Projections :math:`x_\ell\cdot u_j/\sqrt D` of ``n`` fresh examples' tokens on the
    columns of a basis :math:`U = [u_1..u_p, k^*, v^*]` (teacher last), given only the Gram
    matrix :math:`G = U^\top U/D`: exact in law (module docstring of :mod:`attnlab.gslr._gamp`).
    """
    lmax = max(structure[1])
    lengths, mask = _lengths_and_mask(key, n, structure)
    # G^{1/2} by eigendecomposition: G may be singular (a zero estimate, k ∝ k*)
    values, vectors = jnp.linalg.eigh(basis_gram)
    root = vectors * jnp.sqrt(jnp.maximum(values, 0.0))[None, :]
    P = flat_draw(
        jax.random.normal, stream(key, "token projections"), (n, lmax, basis_gram.shape[0])
    )
    P = P @ root.T
    k_col = basis_gram.shape[0] - 2
    if structure[0] == "spiked":
        eps = _positions(key, structure, nu, None, mask, lengths)
        # the spiked token is shifted by √ν k*/√D: its projections move by √ν G[:, k*]
        onehot = jax.nn.one_hot(eps, lmax, dtype=P.dtype)
        P = P + onehot[:, :, None] * jnp.sqrt(nu) * basis_gram[k_col][None, None, :]
    else:
        eps = _positions(key, structure, nu, P[..., k_col], mask, lengths)
    return P * mask[:, :, None], mask, eps


def _check_size(n: int, lmax: int, dim: int) -> None:
    if n * lmax * dim > MAX_ELEMENTS:
        raise ParameterError(
            f"n × L_max × dim = {n} × {lmax} × {dim} = {n * lmax * dim:.3g} token entries: "
            f"must be at most {MAX_ELEMENTS:.3g} per data set"
        )


def _as_numpy(obj: Any) -> Any:
    """The same dataclass with numpy arrays."""
    names = obj.__dataclass_fields__
    return type(obj)(**{f: np.asarray(getattr(obj, f)) for f in names})


def _stack(objs: list[Any]) -> Any:
    """Dataclasses of arrays stacked along a new leading (replicate) axis, as numpy."""
    names = objs[0].__dataclass_fields__
    return type(objs[0])(**{f: np.stack([np.asarray(getattr(o, f)) for o in objs]) for f in names})


def _batched(fn: Any, key: Any) -> Any:
    """``fn(key)`` for one key, or stacked over a batch of keys (numpy arrays)."""
    keys, single = as_key_batch(key)
    return _as_numpy(fn(keys[0])) if single else _stack([fn(k) for k in keys])


# -- public samplers --------------------------------------------------------------------------
@uses_jax
def sample_teacher(model: GSLRModel, key: Any, *, dim: int) -> Teacher:
    r"""Teacher vectors :math:`k^*, v^* \in \mathbb R^D` of the model's kind.

    .. math::

        k^*, v^* \sim \mathcal N(0, I_D) \text{ i.i.d.}; \quad\text{orthonormal: }
        v^* \leftarrow v^* - \tfrac{v^*\cdot k^*}{|k^*|^2}k^*,\ k^* \leftarrow
        \sqrt D\,\tfrac{k^*}{|k^*|},\ v^* \leftarrow \sqrt D\,\tfrac{v^*}{|v^*|}.

    Parameters
    ----------
    model : GSLRModel
        Its ``teacher`` field chooses the kind.
    key : jax key or array of keys
        One key, or ``(n_seeds,)`` keys for a batch of teachers.
    dim : int
        :math:`D \ge 2`.

    Returns
    -------
    Teacher
        ``k``, ``v`` of shape ``(D,)``, or ``(n_seeds, D)`` for a batch of keys (numpy).
    """
    dim = check_int("dim", dim, lo=2, hi=MAX_ELEMENTS)
    return _batched(lambda k: _teacher(model, k, dim), key)


@uses_jax
def sample_data(
    model: GSLRModel, key: Any, teacher: Teacher, *, n: int, dtype: str | None = None
) -> SLRData:
    r"""``n`` exact samples :math:`(X, y)` of the model for a given teacher.

    .. math:: X \mid \epsilon^* \propto g_\nu(\epsilon^*, Xk^*/\sqrt D)\prod_\ell
        \mathcal N(x_\ell; 0, I_D), \qquad y = x_{\epsilon^*}\cdot v^*/\sqrt D + \sqrt\Delta\,\xi.

    Parameters
    ----------
    model : GSLRModel
    key : jax key or array of keys
        One key (one data set), or ``(n_seeds,)`` keys with a batch of teachers of the same
        length (one data set each).
    teacher : Teacher
        From :func:`sample_teacher`.
    n : int
        Number of samples, ``>= 1``.
    dtype : {"float64", "float32"}, optional
        Of ``X`` and ``y`` (default: attnlab's precision).

    Returns
    -------
    SLRData
        Numpy arrays; a leading replicate axis for a batch of keys.
    """
    n = check_int("n", n, lo=1, hi=MAX_ELEMENTS)
    keys, single = as_key_batch(key)
    _check_size(n, model.max_length, teacher.dim)
    ks, vs = np.asarray(teacher.k), np.asarray(teacher.v)
    if ks.ndim != (1 if single else 2) or (not single and ks.shape[0] != len(keys)):
        raise ParameterError(
            f"teacher has shape {ks.shape}: needs one teacher per key ({len(keys)} keys)"
        )
    dt = jnp.dtype(dtype) if dtype is not None else jnp.zeros(()).dtype
    if single:
        return _as_numpy(_data(model, keys[0], Teacher(ks, vs), n, dt))
    sets = [_data(model, k, Teacher(a, b), n, dt) for k, a, b in zip(keys, ks, vs, strict=True)]
    return _stack(sets)


@uses_jax
def sample_teacher_fields(model: GSLRModel, key: Any, *, n: int) -> TeacherFields:
    r"""``n`` exact draws of :math:`(L, \epsilon^*, \chi^*)` in the :math:`D \to \infty` limit.

    Spiked: :math:`\chi^*_\ell \sim \mathcal N(\sqrt\nu\,1[\ell = \epsilon^*], 1)` with
    :math:`\epsilon^*` uniform; max: :math:`\chi^* \sim \mathcal N(0, I_L)`,
    :math:`\epsilon^* \sim \mathrm{softmax}(\nu\chi^*)`.

    Parameters
    ----------
    model : GSLRModel
    key : jax key
        One key.
    n : int
        Number of draws, ``>= 1``.

    Returns
    -------
    TeacherFields
        Numpy arrays.
    """
    n = check_int("n", n, lo=1, hi=MAX_ELEMENTS // model.max_length)
    keys, single = as_key_batch(key)
    if not single:
        raise ParameterError("sample_teacher_fields takes one key, not an array of keys")
    return _batched(lambda k: _fields(model, k, n), key)


@uses_jax
def sample_projections(
    model: GSLRModel, key: Any, basis_gram: Any, *, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Projections of ``n`` fresh examples' tokens on a basis that ends with the teacher.

    For a basis :math:`U = [u_1, \dots, u_p, k^*, v^*] \in \mathbb R^{D\times(p+2)}` with
    Gram matrix :math:`G = U^\top U/D`, the projections :math:`P_{\mu\ell} = U^\top
    x_{\mu\ell}/\sqrt D` of fresh examples have exactly the law

    .. math:: P_{\mu\ell} = G^{1/2}\xi_{\mu\ell} + \sqrt\nu\,1[\ell = \epsilon^*_\mu]\,
        G_{:,k^*} \ (\text{spiked}), \qquad \xi_{\mu\ell} \sim \mathcal N(0, I_{p+2}),

    because a standard Gaussian token projects onto :math:`U/\sqrt D` as
    :math:`\mathcal N(0, G)`; max-SLR draws :math:`\epsilon^*` from
    :math:`\mathrm{softmax}(\nu P_{\cdot, k^*})`. Any function of the examples that sees
    the tokens only through :math:`U` (the test error of an estimate in the span of :math:`U`)
    thus costs :math:`O(n L p)` instead of :math:`O(n L D)`.

    Parameters
    ----------
    model : GSLRModel
    key : jax key
    basis_gram : array, shape (p + 2, p + 2)
        :math:`U^\top U/D`, the teacher's two columns last.
    n : int
        Number of examples.

    Returns
    -------
    P : numpy.ndarray, shape (n, L_max, p + 2)
        Zero on padding.
    mask : numpy.ndarray of bool, shape (n, L_max)
    eps : numpy.ndarray of int, shape (n,)
        Hidden positions.
    """
    n = check_int("n", n, lo=1, hi=MAX_ELEMENTS)
    gram = jnp.asarray(basis_gram)
    if gram.ndim != 2 or gram.shape[0] != gram.shape[1] or gram.shape[0] < 2:
        raise ParameterError(f"basis_gram has shape {gram.shape}: needs a square (p+2, p+2)")
    if not bool(jnp.all(jnp.isfinite(gram))):
        raise ParameterError("basis_gram has NaN or infinite entries: it must be finite")
    nu = _traced_nu(model)
    with lapack_program():  # the eigendecomposition of the basis Gram matrix
        return tuple(map(np.asarray, _projection_arrays(_structure(model), key, gram, nu, n)))
