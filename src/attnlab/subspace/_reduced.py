r"""Exact reduced simulator of the m-chain (spec §5): per-step cost O(B·N), independent of d.

Derivation (every step of the spec's sketch checked; notation of spec §4.1)
--------------------------------------------------------------------------
1. *Markov chain.* Given q_n, the fresh sequence X_n is independent of the past, and its law is
   invariant under every rotation O fixing u (z ↦ Oz is invariant, the spike θ_d ε u is fixed).
   The SGA map commutes with such rotations, so the law of m_{n+1} given the past depends on
   m_n only: (m_n) is a Markov chain. (This holds for all four sign laws, including ``fixed``:
   only rotations fixing u — not −u — are used, and m keeps its sign.)

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

       c_i := ⟨x_i, y⟩ = σ_i y1 + τ_i y2 + ⟨w_i, y_W⟩ = σ_i y1 + τ_i y2 + a_i R² + ‖a‖ R r_i,
       ‖y‖² = y1² + y2² + ‖a‖² R².

   So every ⟨x_i, y⟩ is a function of (σ, τ, R, r), as the spec says.

4. *Gradient components.* With v = a ⊙ c − ‖y‖² a ∈ R^N, ∇ℓ = 2β Σ_i v_i x_i, hence
   (I − qqᵀ)∇ℓ = g2 e2 + g_C with

       g2 = 2β τᵀv,
       g_C = 2β Wᵀv = 2β [ (R bᵀv + rᵀv) ξ̂ + V′ᵀv ].

   Given (σ, τ, R, r), v is fixed and V′ᵀv ~ N(0, (vᵀ(I−bbᵀ)v) I_{d−3}), independent: so
   ‖g_C‖² = 4β² [ α² + s² χ²_{d−3} ] with α = R bᵀv + rᵀv and s² = ‖v‖² − (bᵀv)².

5. *Update.* q̃ = q + a_n (g2 e2 + g_C), ⟨q̃, u⟩ = m + a_n √(1−m²) g2 (since
   u = m e1 + √(1−m²) e2 and g_C ⊥ u), ‖q̃‖² = 1 + a_n² (g2² + ‖g_C‖²), so

       m_{n+1} = (m_n + a_n √(1−m_n²) g2) / √(1 + a_n² (g2² + ‖g_C‖²)),

   exactly the spec's formula. One step costs O(N) scalars plus two χ² draws, whatever d.

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

7. *d = 2.* There is no complement: R = 0 and g_C = 0 (forced, since r is then meaningless).

The same law of (m_n) as :func:`attnlab.subspace.simulate_sga` is checked by two-sample tests in
``tests/subspace/test_reduced.py``. m_0 is drawn as ⟨q_0, u⟩ for uniform q_0, i.e.
z_1/‖z‖, z ~ N(0, I_d) (a one-off O(d) cost), or passed explicitly.
"""

from __future__ import annotations

import functools

import numpy as np

from attnlab._jax import jax, jnp
from attnlab._validate import ParameterError
from attnlab.rng import stream
from attnlab.subspace._data import _signs, check_model, signal_strength
from attnlab.subspace._sga import Trajectory, _step_size, check_schedule, ode_time

__all__ = ["initial_overlap", "reduced_gradient", "simulate_reduced"]


def initial_overlap(key: jax.Array, d: int, dtype=jnp.float64) -> jax.Array:
    """m_0 = ⟨q_0, u⟩ for q_0 uniform on S^{d−1}, i.e. z_1/‖z‖ with z ~ N(0, I_d) (O(d), once)."""
    z = jax.random.normal(key, (d,), dtype=dtype)
    return z[0] / jnp.linalg.norm(z)


def _chi2(key, dof, dtype):
    return 2.0 * jax.random.gamma(key, dof / 2.0, dtype=dtype)


def _gram(key, d, batch, dtype):
    """Gram matrix of 2B i.i.d. N(0, I_{d−2}) vectors (Wishart(d−2, I_{2B}))."""
    n, P = d - 2, 2 * batch
    if n >= P:  # Bartlett decomposition: O(B²) whatever d
        kd, ko = jax.random.split(key)
        diag = jnp.sqrt(_chi2(kd, n - jnp.arange(P, dtype=dtype), dtype))
        low = jnp.tril(jax.random.normal(ko, (P, P), dtype=dtype), -1)
        L = low + jnp.diag(diag)
        return L @ L.T
    Z = jax.random.normal(key, (P, n), dtype=dtype)
    return Z @ Z.T


def reduced_gradient(key, m, *, d, K, M, theta_d, beta, sign, batch=1, dtype=jnp.float64):
    """One draw of (ĝ2, ‖ĝ_C‖², mean ℓ) at overlap m (module docstring, steps 2–7); O(B·N)."""
    N = K + M
    kb, kg = jax.random.split(key)
    ks = jax.random.split(kb, batch)
    sq = jnp.sqrt(jnp.clip(1.0 - m * m, 0.0, None))
    gram = _gram(kg, d, batch, dtype) if d > 2 else jnp.zeros((2 * batch, 2 * batch), dtype)
    R2 = jnp.diag(gram)[:batch]
    R = jnp.sqrt(R2)

    def one(k, Rb, R2b):
        eps = _signs(stream(k, "eps"), K, sign, dtype)
        pad = jnp.zeros((M,), dtype)
        sig = jax.random.normal(stream(k, "g"), (N,), dtype) + jnp.concatenate(
            [theta_d * eps * m, pad]
        )
        tau = jax.random.normal(stream(k, "h"), (N,), dtype) + jnp.concatenate(
            [theta_d * eps * sq, pad]
        )
        a = jax.nn.softmax(beta * sig)
        na = jnp.linalg.norm(a)
        b = a / na
        r0 = jax.random.normal(stream(k, "r"), (N,), dtype)
        r = r0 - b * (b @ r0)
        y1, y2 = a @ sig, a @ tau
        yy = y1 * y1 + y2 * y2 + na * na * R2b
        cvec = sig * y1 + tau * y2 + a * R2b + na * Rb * r
        v = a * cvec - yy * a
        g2 = 2.0 * beta * (tau @ v)
        bv = b @ v
        alpha = Rb * bv + r @ v
        s = jnp.sqrt(jnp.clip(v @ v - bv * bv, 0.0, None))
        return g2, alpha, s, yy

    g2, alpha, s, yy = jax.vmap(one)(ks, R, R2)
    if d == 2:
        gc2 = jnp.zeros((), dtype)
    else:
        xz = jnp.diagonal(gram[:batch, batch:])  # ⟨ξ_b, ζ_b⟩
        A = alpha / R - s * xz / R2
        kvec = jnp.concatenate([A, s])
        gc2 = 4.0 * beta**2 * (kvec @ gram @ kvec) / batch**2
    return g2.mean(), gc2, yy.mean()


@functools.lru_cache(maxsize=64)
def _build_reduced(d, K, M, sign, steps, batch, log_every, log_loss, schedule, dtype_name):
    dtype = jnp.dtype(dtype_name)
    n_blocks = steps // log_every

    def one_seed(key, m0, theta_d, beta, c, n0, p):
        data_key = stream(key, "data")

        def step(carry, _):
            m, n = carry
            g2, gc2, loss = reduced_gradient(
                jax.random.fold_in(data_key, n),
                m,
                d=d,
                K=K,
                M=M,
                theta_d=theta_d,
                beta=beta,
                sign=sign,
                batch=batch,
                dtype=dtype,
            )
            a = _step_size(n, c, n0, p, schedule).astype(dtype)
            sq = jnp.sqrt(jnp.clip(1.0 - m * m, 0.0, None))
            m_new = (m + a * sq * g2) / jnp.sqrt(1.0 + a * a * (g2 * g2 + gc2))
            return (jnp.clip(m_new, -1.0, 1.0), n + 1), loss

        def block(carry, _):
            m_here = carry[0]
            carry, losses = jax.lax.scan(step, carry, None, length=log_every)
            return carry, (m_here, losses[0] if log_loss else jnp.zeros((), dtype))

        (mf, _), (ms, ls) = jax.lax.scan(
            block, (m0.astype(dtype), jnp.int64(0)), None, length=n_blocks
        )
        return jnp.concatenate([ms, mf[None]]), ls

    @jax.jit
    def run(keys, m0, theta_d, beta, c, n0, p):
        return jax.vmap(one_seed, in_axes=(0, 0, None, None, None, None, None))(
            keys, m0, theta_d, beta, c, n0, p
        )

    return run


def simulate_reduced(
    keys: jax.Array,
    *,
    d: int,
    K: int,
    M: int,
    theta: float,
    theta_scaling: str = "sqrt_d",
    sign: str = "token",
    beta: float = 1.0,
    steps: int,
    c: float = 10.0,
    n0: float = 100.0,
    p: float = 1.0,
    schedule: str = "robbins_monro",
    batch: int = 1,
    log_every: int = 1,
    log_loss: bool = False,
    m0=None,
    dtype=jnp.float64,
) -> Trajectory:
    """Exact reduced simulator: same law of (m_n) as :func:`simulate_sga`, O(B·(K+M)) per step.

    Same arguments as :func:`simulate_sga`; ``m0`` (shape ``(S,)``) fixes the initial overlaps,
    otherwise m_0 is drawn from its uniform-sphere law with stream(key, "m0").
    """
    mp = check_model(d=d, K=K, M=M, theta=theta, theta_scaling=theta_scaling, sign=sign, beta=beta)
    sp = check_schedule(
        steps=steps, c=c, n0=n0, p=p, schedule=schedule, batch=batch, log_every=log_every
    )
    keys = jnp.asarray(keys)
    if keys.ndim != 1:
        raise ParameterError(f"keys has shape {keys.shape}: must be a 1-d array of jax keys")
    if m0 is None:
        m0 = jax.vmap(lambda k: initial_overlap(stream(k, "m0"), mp["d"], dtype=dtype))(keys)
    else:
        m0 = jnp.asarray(m0, dtype=dtype)
        if m0.shape != keys.shape or not bool(jnp.all(jnp.abs(m0) <= 1)):
            raise ParameterError(
                f"m0 must have shape {keys.shape} with entries in [-1, 1], got shape {m0.shape}"
            )
    run = _build_reduced(
        mp["d"],
        mp["K"],
        mp["M"],
        mp["sign"],
        sp["steps"],
        sp["batch"],
        sp["log_every"],
        bool(log_loss),
        sp["schedule"],
        jnp.dtype(dtype).name,
    )
    theta_d = signal_strength(mp["theta"], mp["d"], theta_scaling)
    m, losses = run(keys, m0, theta_d, mp["beta"], sp["c"], sp["n0"], sp["p"])
    t = ode_time(sp["steps"], c=sp["c"], n0=sp["n0"], p=sp["p"], schedule=sp["schedule"])
    idx = np.arange(0, sp["steps"] + 1, sp["log_every"])
    loss = None
    if log_loss:
        losses = np.asarray(losses, dtype=float)
        loss = np.concatenate([losses, np.full((losses.shape[0], 1), np.nan)], axis=1)
    return Trajectory(step=idx, time=t[idx], m=np.asarray(m, dtype=float), loss=loss)
