r"""Exact reduced simulator of the m-chain: per-step cost O(B·N), independent of d.

Derivation
----------
1. *Markov chain.* Given q_n, the fresh sequence X_n is independent of the past, and its law is
   invariant under every rotation O fixing u (z ↦ Oz is invariant, the spike θ_d ε u is fixed).
   The SGA map commutes with such rotations, so the law of m_{n+1} given the past depends on
   m_n only: (m_n) is a Markov chain. This holds for all four sign laws, including ``fixed``:
   only rotations fixing u (not −u) are used, and m keeps its sign.

2. *Frame.* Write e1 = q, e2 = (u − m q)/√(1−m²) (any unit vector ⊥ q if |m| = 1) and let the
   remaining d−2 coordinates be a fixed orthonormal basis of {q, u}^⊥. Token i is
   x_i = σ_i e1 + τ_i e2 + w_i with σ_i = θ_d ε_i m + g_i, τ_i = θ_d ε_i √(1−m²) + h_i (signal only
   for informative tokens), g, h ~ N(0,1) and W = (w_i) ∈ R^{N×(d−2)} i.i.d. N(0,1), all
   independent. Scores βσ, so a = softmax(βσ) depends on σ only. With y1 = Σ a_i σ_i,
   y2 = Σ a_i τ_i and y_W = Wᵀa: y = y1 e1 + y2 e2 + y_W.

3. *Conditioning W on the output direction.* Let b = a/‖a‖ (unit in R^N), ξ = Wᵀb ∈ R^{d−2}.
   Column-wise, W = b ξᵀ + V with V = (I − bbᵀ)W independent of ξ (Gaussian orthogonal
   projections), ξ ~ N(0, I_{d−2}), so R² = ‖ξ‖² ~ χ²_{d−2}. Rotate R^{d−2} so ξ̂ = ξ/R is the
   first axis: V = [r, V′] where r = Vξ̂ ~ N(0, I − bbᵀ) and V′ ∈ R^{N×(d−3)} has i.i.d.
   N(0, I − bbᵀ) columns; r, V′, R are mutually independent and independent of (σ, τ).
   Then y_W = ‖a‖ R ξ̂ and

       c_i := ⟨x_i, y⟩ = σ_i y1 + τ_i y2 + a_i R² + ‖a‖ R r_i,      ‖y‖² = y1² + y2² + ‖a‖² R².

   We draw r as ρ − b (bᵀρ) with ρ ~ N(0, I_N).

4. *Gradient components.* With v = a ⊙ c − ‖y‖² a ∈ R^N, ∇ℓ = 2β Σ_i v_i x_i, hence
   (I − qqᵀ)∇ℓ = g2 e2 + g_C with

       g2 = 2β τᵀv,
       g_C = 2β Wᵀv = 2β [ (R bᵀv + rᵀv) ξ̂ + V′ᵀv ].

   Given (σ, τ, R, r), v is fixed and V′ᵀv ~ N(0, (vᵀ(I−bbᵀ)v) I_{d−3}), independent: so
   ‖g_C‖² = 4β² [ α² + s² χ²_{d−3} ] with α = R bᵀv + rᵀv and s² = ‖v‖² − (bᵀv)².

5. *Update.* q̃ = q + a_n (g2 e2 + g_C), ⟨q̃, u⟩ = m + a_n √(1−m²) g2 (since
   u = m e1 + √(1−m²) e2 and g_C ⊥ u), ‖q̃‖² = 1 + a_n² (g2² + ‖g_C‖²), so

       m_{n+1} = (m_n + a_n √(1−m_n²) g2) / √(1 + a_n² (g2² + ‖g_C‖²)).

   One step costs O(N) scalars plus a few χ² draws, whatever d.

6. *Mini-batches (B > 1).* The B sequences share the frame but have independent W's, so the
   g_C^{(b)} = 2β [α_b ξ̂_b + s_b (I − ξ̂_b ξ̂_bᵀ) ζ_b] (ζ_b ~ N(0, I_{d−2}) fresh: this has the
   law of V′_bᵀv_b jointly in b) live in a common R^{d−2}. Their average's norm only needs the
   Gram matrix of the 2B Gaussian vectors (ξ_1..ξ_B, ζ_1..ζ_B), which is Wishart(d−2, I_{2B}):
   sampled by the Bartlett decomposition (L_kk² ~ χ²_{d−1−k}, L_kj ~ N(0,1) below the
   diagonal) when d−2 ≥ 2B, or from explicit (d−2)-dimensional Gaussians otherwise (small d).
   Writing g_C^{(b)} = 2β [A_b ξ_b + s_b ζ_b] with A_b = α_b/R_b − s_b ⟨ξ_b, ζ_b⟩/R_b²,
   R_b² = Gram_bb, the batch gradient has ‖ĝ_C‖² = (4β²/B²) kᵀ Gram k, k = (A_1..A_B, s_1..s_B);
   ĝ2 = (2β/B) Σ_b τ_bᵀ v_b. For B = 1 this reduces to step 4 (A²R² + 2As⟨ξ,ζ⟩ + s²‖ζ‖² =
   α² + s²(‖ζ‖² − ⟨ξ̂,ζ⟩²), and the last factor is χ²_{d−3}).

7. *d = 2.* There is no complement: R = 0 and g_C = 0.

8. *Initial overlap.* For q_0 uniform on S^{d−1}, m_0 = ⟨q_0, u⟩ has the law of
   z_1/‖z‖, z ~ N(0, I_d), i.e. z_1/√(z_1² + χ²_{d−1}): two draws, whatever d.

The arithmetic of one step is written for all seeds at once (arrays of shape (S, B, N), sums
along the token axis) rather than per seed under ``vmap``, and its nine token sums run in two
stages over chunks of tokens small enough to stay in cache (:func:`chunked_sums`), so that a
step costs little more than drawing its 3N normal numbers. Equality in law with the full
simulator is tested by two-sample Kolmogorov–Smirnov tests of m_n (with a power check).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from attnlab import progress
from attnlab._jax import (
    counter_normal,
    jax,
    jit_xla_reductions,
    jnp,
    normal,
    optimization_barrier,
)
from attnlab.rng import as_key_batch, stream

__all__: list[str] = []


GAMMA_CANDIDATES = 8  # Marsaglia–Tsang proposals per draw: all rejected w.p. < 0.05^8 ≈ 4e-11
CHI2_NORMALS = 2 * GAMMA_CANDIDATES + 1  # standard normals consumed by one χ² draw


def _phi(z: Any) -> Any:
    """Standard normal distribution function: a uniform number from a normal one."""
    return 0.5 * jax.lax.erfc(-z / jnp.sqrt(jnp.asarray(2.0, z.dtype)))


def _chi2_from_normals(z: Any, dof: Any) -> Any:
    """χ²_dof = 2 Gamma(dof/2) by Marsaglia–Tsang from CHI2_NORMALS standard normals per draw
    (last axis of ``z``), elementwise in ``dof`` (> 0).

    Each draw evaluates a fixed number of proposals at once (normals x, uniforms Φ(z)) and keeps
    the first accepted one (acceptance ≥ 0.95 per proposal for shape ≥ 1; shapes < 1 use
    Gamma(α) = Gamma(α+1)·U^{1/α}), so the compiled program has no data-dependent loop. If all
    proposals are rejected (probability < 4e-11) the first one is kept.
    """
    C = GAMMA_CANDIDATES
    alpha = jnp.asarray(dof, z.dtype) / 2.0
    a1 = jnp.where(alpha < 1, alpha + 1, alpha)[..., None]
    dd = a1 - 1.0 / 3.0
    x, u = z[..., :C], _phi(z[..., C : 2 * C])
    v = (1.0 + x / jnp.sqrt(9.0 * dd)) ** 3
    safe_v = jnp.where(v > 0, v, 1.0)
    ok = (v > 0) & (jnp.log(u) < 0.5 * x * x + dd - dd * safe_v + dd * jnp.log(safe_v))
    first = (ok & (jnp.cumsum(ok, axis=-1) == 1)) | (
        ~ok.any(-1, keepdims=True) & (jnp.arange(C) == 0)
    )
    g = jnp.sum(jnp.where(first, dd * safe_v, 0.0), axis=-1)
    boost = _phi(z[..., 2 * C])
    g = jnp.where(alpha < 1, g * boost ** (1.0 / jnp.where(alpha < 1, alpha, 1.0)), g)
    return 2.0 * g


def _chi2(key: Any, dof: Any, dtype: Any) -> Any:
    """χ²_dof draws (elementwise in ``dof``) from one key (:func:`_chi2_from_normals`)."""
    dof = jnp.asarray(dof, dtype)
    return _chi2_from_normals(normal(key, (*dof.shape, CHI2_NORMALS), dtype), dof)


def _gram_size(d: int, batch: int) -> int:
    """Standard normals consumed by the Gram matrix of one step."""
    n, P = d - 2, 2 * batch
    if n <= 0:
        return 0
    return P * CHI2_NORMALS + P * P if n >= P else P * n


def _gram(z: Any, d: int, batch: int) -> Any:
    """Gram matrix of 2B i.i.d. N(0, I_{d−2}) vectors (Wishart(d−2, I_{2B})) from the normals
    ``z`` (:func:`_gram_size` of them)."""
    n, P = d - 2, 2 * batch
    if n <= 0:
        return jnp.zeros((P, P), z.dtype)
    if n >= P:  # Bartlett decomposition: O(B²) whatever d
        dof = n - jnp.arange(P, dtype=z.dtype)
        diag = jnp.sqrt(_chi2_from_normals(z[: P * CHI2_NORMALS].reshape(P, CHI2_NORMALS), dof))
        L = jnp.tril(z[P * CHI2_NORMALS :].reshape(P, P), -1) + jnp.diag(diag)
        return L @ L.T
    Z = z.reshape(P, n)
    return Z @ Z.T


def _signs_from_normals(z: Any, sign: str) -> Any:
    """The signs of a sequence from K standard normals: Rademacher = sign(z)."""
    if sign == "token":
        return jnp.where(z < 0, -1.0, 1.0).astype(z.dtype)
    if sign == "sequence":
        return jnp.where(z[..., :1] < 0, -1.0, 1.0).astype(z.dtype) * jnp.ones_like(z)
    if sign == "gaussian":
        return z
    return jnp.ones_like(z)  # fixed


def draw_step(key: Any, d: int, K: int, N: int, batch: int, sign: str, dtype: Any):
    """The random numbers of one step of one seed, as one array of standard normals: signs
    (B, K), g, h, ρ (B, N) and the Gram matrix (2B, 2B) of the complement noise."""
    per = 3 * N + K
    z = counter_normal(key, batch * per + _gram_size(d, batch), dtype)
    tokens = z[: batch * per].reshape(batch, per)
    eps = _signs_from_normals(tokens[:, 3 * N :], sign)
    g, h, rho = tokens[:, :N], tokens[:, N : 2 * N], tokens[:, 2 * N : 3 * N]
    return eps, g, h, rho, _gram(z[batch * per :], d, batch)


def chunked_draws(key: Any, n_samples: int, chunk: int, what: str, run: Any) -> list[Any]:
    """Monte-Carlo over single-step draws in compiled chunks: ``key`` (one key, or its first)
    is split into ``ceil(n_samples/chunk)·chunk`` draw keys, and ``run(size, keys)`` is called
    per progress chunk of ``size`` chunks (``size·chunk`` keys); its outputs, in order."""
    key = as_key_batch(key)[0][0]
    n_chunks = -(-n_samples // chunk)
    keys = jax.random.split(key, n_chunks * chunk)
    out, done = [], 0
    with progress.track(f"{what}: draws", total=n_chunks * chunk) as bar:
        for size in progress.chunks(n_chunks):
            out.append(run(size, keys[done * chunk : (done + size) * chunk]))
            done += size
            bar.advance(size * chunk)
    return out


# Tokens per chunk of the step's token sums on a CPU backend (chunked_sums). Timed on 2 cores at
# N = 10 100 for 1, 15 (a thread's share of 30) and 256 seeds, float32 and float64: 400 was best
# or within noise of the best each time (project findings); much smaller chunks pay the loop's
# per-chunk cost.
CHUNK_TOKENS = 400


def token_chunk(n: int) -> int:
    """Tokens per chunk of the step's sums over ``n`` tokens: ``CHUNK_TOKENS`` on a CPU backend;
    all ``n`` at once elsewhere. Chunking answers XLA's CPU backend, which makes every row sum its
    own pass over memory; an accelerator reduces rows in one fused kernel, and there each
    iteration of the chunk loop would cost kernel launches instead."""
    return CHUNK_TOKENS if jax.default_backend() == "cpu" else n


def chunked_sums(arrays: tuple[Any, ...], terms: Any, n_terms: int, chunk: int) -> tuple[Any, ...]:
    r"""Token sums :math:`\sum_i t_k(x_{1,i}, \dots, x_{p,i})`, k = 1..``n_terms``, over the
    last axis of ``arrays`` (same shapes), in chunks of ``chunk`` tokens.

    ``terms(*slices)`` maps slices of the arrays to the ``n_terms`` summands (same shape as the
    slices). The full chunks run in one compiled loop whose body evaluates every summand of one
    chunk and adds it to a chunk-wide accumulator, so each slice is read from memory once and
    then from cache by the other sums; the remaining tokens (fewer than ``chunk``) are summed
    after the loop. Written as plain row sums, XLA's CPU backend makes each sum a separate pass
    over the whole token axis that writes its product to memory first (the project's findings).
    Returns the sums with the summed axis kept (length 1).
    """
    n = arrays[0].shape[-1]
    full = n // chunk if n > chunk else 0
    sums = None
    if full:
        zero = jnp.zeros(arrays[0].shape[:-1] + (chunk,), arrays[0].dtype)

        def body(i, acc):
            part = terms(
                *(jax.lax.dynamic_slice_in_dim(x, i * chunk, chunk, axis=-1) for x in arrays)
            )
            return tuple(a + t for a, t in zip(acc, part, strict=True))

        acc = jax.lax.fori_loop(0, full, body, (zero,) * n_terms)
        sums = tuple(jnp.sum(a, axis=-1, keepdims=True) for a in acc)
    if full * chunk < n:
        rest = terms(*(x[..., full * chunk :] for x in arrays))
        rest = tuple(jnp.sum(t, axis=-1, keepdims=True) for t in rest)
        sums = rest if sums is None else tuple(a + b for a, b in zip(sums, rest, strict=True))
    return sums


def step_gradient(m, draws, *, K, theta_d, beta, d, chunk=None):
    """(ĝ2, ‖ĝ_C‖², mean ℓ) per seed from one step's draws (module docstring, steps 2–7).

    ``m`` has shape (S,), the draws a leading seed axis: eps (S, B, K), g, h, ρ (S, B, N),
    gram (S, 2B, 2B); ``theta_d`` and ``beta`` are scalars or one per seed, shape (S,). The
    token sums run for all seeds and batch elements at once, in two stages of
    :func:`chunked_sums` over ``chunk`` tokens at a time (default :func:`token_chunk`). With
    e = exp(βσ − max βσ), the first stage sums e, e², eσ, eτ, eρ; then, with a = e/Σe and

        v = a ⊙ (y1 σ + y2 τ + (R² − ‖a‖Rκ) a + ‖a‖R ρ − ‖y‖²),

    the second sums av, τv, ρv, v², v evaluated once per chunk.
    """
    eps, g, h, rho, gram = draws
    batch = g.shape[1]
    if chunk is None:
        chunk = token_chunk(g.shape[-1])
    mm = m[:, None, None]
    theta_d = jnp.reshape(theta_d, (-1, 1, 1))
    beta3 = jnp.reshape(beta, (-1, 1, 1))
    beta = jnp.reshape(beta, (-1,))
    sq = jnp.sqrt(jnp.clip(1.0 - mm * mm, 0.0, None))
    spike = theta_d * eps
    sig = g.at[..., :K].add(spike * mm)
    tau = h.at[..., :K].add(spike * sq)
    s = beta3 * sig
    e = jnp.exp(s - jnp.max(s, axis=-1, keepdims=True))
    total, e2, es, et, er = chunked_sums(
        (e, sig, tau, rho), lambda e, sig, tau, rho: (e, e * e, e * sig, e * tau, e * rho), 5, chunk
    )
    inv = 1.0 / total
    na2 = e2 * inv * inv
    na = jnp.sqrt(na2)
    y1, y2 = es * inv, et * inv
    kappa = er * inv / na2  # r = ρ − κ a
    R2 = jnp.diagonal(gram, axis1=1, axis2=2)[:, :batch, None]  # (S, B, 1)
    R = jnp.sqrt(R2)
    yy = y1 * y1 + y2 * y2 + na2 * R2
    c_a, c_rho = R2 - na * R * kappa, na * R

    def gradient_terms(e, sig, tau, rho):
        a = e * inv
        v = optimization_barrier(a * (y1 * sig + y2 * tau + c_a * a + c_rho * rho - yy))
        return a * v, tau * v, rho * v, v * v

    av, tv, rv, vv = chunked_sums((e, sig, tau, rho), gradient_terms, 4, chunk)
    bv = av / na
    g2 = 2.0 * beta3[..., 0] * tv[..., 0]
    alpha = (R * bv + rv - kappa * av)[..., 0]
    sC = jnp.sqrt(jnp.clip(vv - bv * bv, 0.0, None))[..., 0]
    if d == 2:
        gc2 = jnp.zeros_like(m)
    else:
        R2b, Rb = R2[..., 0], R[..., 0]
        xz = jnp.diagonal(gram[:, :batch, batch:], axis1=1, axis2=2)  # ⟨ξ_b, ζ_b⟩
        kvec = jnp.concatenate([alpha / Rb - sC * xz / R2b, sC], axis=1)
        gc2 = 4.0 * beta**2 * jnp.einsum("sp,spq,sq->s", kvec, gram, kvec) / batch**2
    return g2.mean(1), gc2, yy[..., 0].mean(1)


def update(m, g2, gc2, step):
    """m_{n+1} = (m + a √(1−m²) g2) / √(1 + a² (g2² + ‖g_C‖²)) (module docstring, step 5)."""
    sq = jnp.sqrt(jnp.clip(1.0 - m * m, 0.0, None))
    m_new = (m + step * sq * g2) / jnp.sqrt(1.0 + step * step * (g2 * g2 + gc2))
    return jnp.clip(m_new, -1.0, 1.0)


@functools.lru_cache(maxsize=64)
def compiled_blocks(d, K, M, sign, batch, log_every, log_loss, dtype, nb, shared=False):
    """Compiled ``(state, params) -> (state, (m, loss))`` running ``nb`` logging blocks;
    state = (m (S,), data keys (U,), n); params = (θ_d, β, c, n0, p, source), each of shape
    (S,): run i uses the draws of data key ``source[i]``. With ``shared`` the U ≤ S keys are
    drawn once per step and their draws handed to every run that shares them (common random
    numbers: the same numbers as drawing them per run); otherwise U = S and ``source`` is
    ``arange(S)``."""
    dt = jnp.dtype(dtype)
    N = K + M

    def step(params, keys, carry, _):
        theta_d, beta, c, n0, p, source = params
        m, n = carry
        draws = jax.vmap(lambda k: draw_step(jax.random.fold_in(k, n), d, K, N, batch, sign, dt))(
            keys
        )
        if shared:  # the barrier keeps XLA from fusing (recomputing) the draws into each run
            draws = tuple(x[source] for x in optimization_barrier(draws))
        g2, gc2, loss = step_gradient(m, draws, K=K, theta_d=theta_d, beta=beta, d=d)
        return (update(m, g2, gc2, (c / (n + n0) ** p).astype(dt)), n + 1), loss

    @jit_xla_reductions
    def run(state, params):
        m, keys, n = state

        def block(carry, _):
            out, losses = jax.lax.scan(
                functools.partial(step, params, keys), carry, None, length=log_every
            )
            return out, (carry[0], losses[0] if log_loss else jnp.zeros_like(carry[0]))

        (m, n), (ms, ls) = jax.lax.scan(block, (m, n), None, length=nb)
        return (m, keys, n), (ms.T, ls.T)

    return run


def initial_overlap(keys: Any, d: int, dtype: str) -> Any:
    """m_0 = z_1/√(z_1² + χ²_{d−1}) per replicate key (stream "m0"): the law of ⟨q_0, u⟩ for
    q_0 uniform on S^{d−1}."""
    return _initial_overlap_program(d, str(dtype))(keys)


@functools.lru_cache(maxsize=16)
def _initial_overlap_program(d: int, dtype: str) -> Any:
    dt = jnp.dtype(dtype)

    def one(k):
        z = normal(stream(k, "m0"), (1 + CHI2_NORMALS,), dt)
        return z[0] / jnp.sqrt(z[0] * z[0] + _chi2_from_normals(z[1:], d - 1))

    return jax.jit(jax.vmap(one))


def initial_state(keys: Any, m0: Any, dtype: str) -> tuple[Any, ...]:
    """(m_0 per run, data keys per distinct replicate key, n = 0)."""
    return jnp.asarray(m0, jnp.dtype(dtype)), stream(keys, "data"), jnp.zeros((), jnp.int32)


def final_overlap(state: tuple[Any, ...]) -> np.ndarray:
    """m of a reduced-simulator state, per seed."""
    return np.asarray(state[0])
