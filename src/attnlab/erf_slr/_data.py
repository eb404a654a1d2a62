"""SLR part A data law (spec ``slr.md`` §A.1) and the geometry of (k, v) (§A.2–A.3).

Data: ``X = (x_1 … x_L) ∈ R^{L×d}``, hidden location ``J ~ Unif{1..L}``,
``x_ℓ ~ N(0, I_d)`` for ``ℓ ≠ J``, ``x_J ~ N(√(d/2)·k*, γ² I_d)``, label
``y = ⟨x_J, v*⟩ + ε ξ`` with ``ξ ~ N(0, 1)`` and unit ``k* ⊥ v*``.

Order parameters of a pair of unit vectors (k, v): ``κ = ⟨k,k*⟩, ν = ⟨v,v*⟩, θ = ⟨v,k*⟩,
η = ⟨k,v*⟩, ρ = ⟨k,v⟩``; the invariant manifold is ``ℳ = {θ = η = ρ = 0}`` and the distance to
it is ``√(θ² + η² + ρ²)``. Everything here works on a single replicate; vectorise over seeds
with ``jax.vmap`` over keys (the experiments do).
"""

from __future__ import annotations

from typing import NamedTuple

from attnlab._jax import jax, jnp
from attnlab._validate import check_choice, check_int, check_range
from attnlab.rng import stream


class Overlaps(NamedTuple):
    """The five order parameters of (k, v) against (k*, v*) (spec §A.2)."""

    kappa: jax.Array
    nu: jax.Array
    theta: jax.Array
    eta: jax.Array
    rho: jax.Array


def _normalise(x: jax.Array) -> jax.Array:
    return x / jnp.linalg.norm(x, axis=-1, keepdims=True)


def teacher_directions(key: jax.Array, *, d: int, dtype=jnp.float64) -> tuple[jax.Array, jax.Array]:
    """Unit ``(k*, v*)`` with ``k* ⊥ v*`` (§A.1): ``k*`` a normalised Gaussian, ``v*`` a Gaussian
    orthogonalised against ``k*`` (twice, for float accuracy) and normalised."""
    d = check_int("d", d, lo=2)
    gk, gv = jax.random.normal(stream(key, "teacher"), (2, d), dtype=dtype)
    k_star = _normalise(gk)
    v = gv - jnp.dot(gv, k_star) * k_star
    v = v - jnp.dot(v, k_star) * k_star
    return k_star, _normalise(v)


def sample_slr(
    key: jax.Array,
    n: int,
    *,
    k_star: jax.Array,
    v_star: jax.Array,
    L: int,
    gamma: float,
    eps: float,
    dtype=None,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``n`` i.i.d. samples of the SLR law (§A.1): ``X`` (n, L, d), ``y`` (n,), ``J`` (n,).

    ``x_J = √(d/2) k* + γ g`` with ``g ~ N(0, I_d)``; the other tokens are standard Gaussian;
    ``y = ⟨x_J, v*⟩ + ε ξ``. ``J`` is 0-based. jit/vmap friendly (``n``, ``L`` static).
    """
    n = check_int("n", n, lo=1)
    L = check_int("L", L, lo=1)
    gamma = check_range("gamma", gamma, lo=0)
    eps = check_range("eps", eps, lo=0)
    return _sample(key, n, k_star, v_star, L, gamma, eps, dtype)


def _sample(key, n, k_star, v_star, L, gamma, eps, dtype=None):
    dtype = dtype or k_star.dtype
    d = k_star.shape[-1]
    kx, kj, kn = jax.random.split(key, 3)
    X = jax.random.normal(kx, (n, L, d), dtype=dtype)
    J = jax.random.randint(kj, (n,), 0, L)
    onehot = jax.nn.one_hot(J, L, dtype=dtype)  # (n, L)
    scale = 1.0 + (gamma - 1.0) * onehot  # γ on the hidden token, 1 elsewhere
    X = X * scale[..., None] + onehot[..., None] * (jnp.sqrt(d / 2.0) * k_star)
    x_J = jnp.einsum("nl,nld->nd", onehot, X)
    y = x_J @ v_star + eps * jax.random.normal(kn, (n,), dtype=dtype)
    return X, y, J


def overlaps(k: jax.Array, v: jax.Array, k_star: jax.Array, v_star: jax.Array) -> Overlaps:
    """``(κ, ν, θ, η, ρ) = (⟨k,k*⟩, ⟨v,v*⟩, ⟨v,k*⟩, ⟨k,v*⟩, ⟨k,v⟩)`` along the last axis."""
    dot = lambda a, b: jnp.sum(a * b, axis=-1)  # noqa: E731
    return Overlaps(dot(k, k_star), dot(v, v_star), dot(v, k_star), dot(k, v_star), dot(k, v))


def distance_to_manifold(theta, eta, rho) -> jax.Array:
    """Distance of (k, v) to ``ℳ = {θ = η = ρ = 0}``: ``√(θ² + η² + ρ²)`` (§A.2)."""
    return jnp.sqrt(jnp.asarray(theta) ** 2 + jnp.asarray(eta) ** 2 + jnp.asarray(rho) ** 2)


def initial_directions(
    key: jax.Array, *, k_star: jax.Array, v_star: jax.Array, init: str = "sphere"
) -> tuple[jax.Array, jax.Array]:
    """Initial unit (k₀, v₀) (§A.3).

    ``init="sphere"``: k, v independent uniform on S^{d-1}. ``init="manifold"``: on ℳ —
    k ⊥ v*, and v ⊥ k* and ⊥ the k*-orthogonal part of k (so θ = η = ρ = 0 up to rounding).
    """
    check_choice("init", init, ("sphere", "manifold"))
    d = k_star.shape[-1]
    gk, gv = jax.random.normal(stream(key, "init"), (2, d), dtype=k_star.dtype)
    if init == "sphere":
        return _normalise(gk), _normalise(gv)
    return _manifold_pair(gk, gv, k_star, v_star)


def _project_out(x, u):
    u = _normalise(u)
    for _ in range(2):  # twice: re-orthogonalisation for float accuracy
        x = x - jnp.dot(x, u) * u
    return x


def _manifold_pair(gk, gv, k_star, v_star):
    k = _normalise(_project_out(gk, v_star))
    k_perp = _project_out(k, k_star)  # k*-orthogonal part of k
    v = _project_out(_project_out(_project_out(gv, k_star), k_perp), k_star)
    return k, _normalise(v)


def orthonormal_frame(
    k_star: jax.Array, v_star: jax.Array, k0: jax.Array, v0: jax.Array
) -> jax.Array:
    """Orthonormal basis ``B`` (4, d) of span{k*, v*, k₀, v₀} with rows ``e₁ = k*, e₂ = v*``
    (Gram–Schmidt twice). Coordinates of a vector x of the span are ``B x``."""
    vecs = [k_star, v_star, k0, v0]
    basis = []
    for x in vecs:
        for b in basis:
            x = x - jnp.dot(x, b) * b
        for b in basis:
            x = x - jnp.dot(x, b) * b
        basis.append(_normalise(x))
    return jnp.stack(basis)


__all__ = [
    "Overlaps",
    "distance_to_manifold",
    "initial_directions",
    "orthonormal_frame",
    "overlaps",
    "sample_slr",
    "teacher_directions",
]
