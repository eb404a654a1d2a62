r"""Exact reduced simulator of online projected SGD: the overlaps form a Markov chain.

Derivation (every step checked; notation of :mod:`attnlab.erf_slr._data`)
--------------------------------------------------------------------------
1. *Markov chain.* Let :math:`G` be the group of orthogonal maps :math:`O` of
   :math:`\mathbb R^d` with :math:`Ok^* = k^*`, :math:`Ov^* = v^*`. The data law is invariant
   under :math:`G` (the Gaussian tokens are, the mean :math:`\sqrt{d/2}\,k^*` is fixed, and
   :math:`y = \langle x_J, v^*\rangle + \varepsilon\xi` is unchanged), and one SGD update
   :math:`(k, v, \text{batch}) \mapsto (k', v')` is equivariant:
   :math:`F(Ok, Ov, O\,\text{batch}) = O\,F(k, v, \text{batch})`. A fresh batch is independent of
   the past, so the law of :math:`(k', v')` given the past is the image by :math:`O` of its law
   from :math:`(O^{-1}k, O^{-1}v)`. Two pairs with the same Gram matrix of
   :math:`(k, v, k^*, v^*)` are related by some :math:`O \in G` (an isometry between the spans
   extends to :math:`\mathbb R^d`), so the law of the next Gram matrix depends on the current one
   only: the overlaps :math:`(\kappa, \nu, \theta, \eta, \rho)` form a (time-inhomogeneous,
   through :math:`\lambda_t`) Markov chain.

2. *Frame.* Represent the state by its canonical coordinates in an orthonormal frame
   :math:`(e_1, e_2, e_3, e_4) = (k^*, v^*, \dots)` of span{k*, v*, k, v}:
   :math:`c_k = (\kappa, \eta, k_3, 0)`, :math:`c_v = (\theta, \nu, v_3, v_4)`
   (:func:`~attnlab.erf_slr._data.canonical_coordinates`). Let
   :math:`W = \mathrm{span}\{k, v\}` with orthonormal basis :math:`u_1 = k`,
   :math:`u_2 = (v - \rho k)/\|v - \rho k\|`, :math:`V = W^\perp \cap \mathrm{span}\{e_1..e_4\}`
   (2-dimensional) and :math:`K` the (d−4)-dimensional complement of span{e₁..e₄}.

3. *Tokens.* :math:`T_\lambda` is a sum over tokens and y depends on the hidden token only, so
   the loss and its gradient are invariant under permutations of the tokens: the hidden token
   can be token 1 (J is not drawn). The hidden token is
   :math:`x_J = \sqrt{d/2}\,e_1 + \gamma(\sum_{i \le 4}\xi_i e_i + w)`, with
   :math:`\xi \sim \mathcal N(0, I_4)` and :math:`w \sim \mathcal N(0, I_K)`; a non-hidden token
   is :math:`x = s_1 u_1 + s_2 u_2 + x_V + x_K` with :math:`(s_1, s_2) \sim \mathcal N(0, I_2)`,
   :math:`x_V \sim \mathcal N(0, I_V)`, :math:`x_K \sim \mathcal N(0, I_K)`, all independent.

4. *Gradient.* With :math:`r_b = T_\lambda(X_b) - y_b`, the batch loss
   :math:`B^{-1}\sum_b r_b^2` has :math:`\nabla_k = \sum_{b,\ell} a_{b\ell} x_{b\ell}`,
   :math:`\nabla_v = \sum_{b,\ell} b_{b\ell} x_{b\ell}` with
   :math:`a_{b\ell} = (2/B) r_b \lambda\,\mathrm{erf}'(\lambda\langle k, x_{b\ell}\rangle)
   \langle v, x_{b\ell}\rangle` and :math:`b_{b\ell} = (2/B) r_b\,\mathrm{erf}(\lambda\langle k,
   x_{b\ell}\rangle)`. For a non-hidden token :math:`\langle k, x\rangle = s_1`,
   :math:`\langle v, x\rangle = \rho s_1 + \sqrt{1-\rho^2}\,s_2`; for the hidden one
   :math:`\langle k, x_J\rangle = \langle c_k, z\rangle`, :math:`\langle v, x_J\rangle =
   \langle c_v, z\rangle` with :math:`z = \sqrt{d/2}\,e_1 + \gamma\xi`, and
   :math:`y = z_2 + \varepsilon\xi'`. So every coefficient is a function of
   :math:`(\xi, s, \xi')` only, and :math:`x_V, x_K, w` enter the gradient linearly.

5. *The Gaussian remainders.* Given :math:`(\xi, s, \xi')`, the V-parts
   :math:`(\sum_{\text{non-hidden}} a\,x_V, \sum b\,x_V)` are Gaussian with covariance
   :math:`C_{nh} \otimes I_V`, :math:`C_{nh} = \sum_{\text{non-hidden}} (a, b)(a, b)^\top`: they
   are :math:`(l_{11}\zeta_1, l_{21}\zeta_1 + l_{22}\zeta_2)` with :math:`(l_{ij})` the Cholesky
   factor of :math:`C_{nh}` and :math:`\zeta_i = P_V g_i`, :math:`g_i \sim \mathcal N(0, I_4)`
   in frame coordinates. The K-parts of all tokens together,
   :math:`(G_k, G_v) = (\sum a\,x_K + \gamma\sum a_J w, \dots)`, are Gaussian with covariance
   :math:`C \otimes I_K`, :math:`C = C_{nh} + \gamma^2 \sum_b (a_J, b_J)(a_J, b_J)^\top`:
   :math:`(G_k, G_v)^\top = L_C(\omega_1, \omega_2)^\top` with :math:`\omega_i` i.i.d.
   :math:`\mathcal N(0, I_K)`. By Bartlett's decomposition of their Gram matrix
   (Wishart(d−4, I₂)), :math:`\omega_1 = t_{11} f_5`, :math:`\omega_2 = t_{21} f_5 + t_{22} f_6`
   with :math:`(f_5, f_6)` orthonormal in K, :math:`t_{11}^2 \sim \chi^2_{d-4}`,
   :math:`t_{22}^2 \sim \chi^2_{d-5}`, :math:`t_{21} \sim \mathcal N(0,1)`, independent. So
   :math:`G_k = m_{11} f_5`, :math:`G_v = m_{21} f_5 + m_{22} f_6` with :math:`M = L_C T`:
   O(1) random numbers, whatever d; where :math:`f_5, f_6` point is irrelevant, only inner
   products enter below. Per step and replicate: :math:`B(2L + 3) + 9` normals and two χ².

6. *Update.* In the 6-dimensional frame :math:`(e_1..e_4, f_5, f_6)`,
   :math:`k = (c_k, 0, 0)`, :math:`\nabla_k = (g^{(4)}_k, m_{11}, 0)`,
   :math:`v = (c_v, 0, 0)`, :math:`\nabla_v = (g^{(4)}_v, m_{21}, m_{22})` with the span parts
   :math:`g^{(4)}_k = \sum_b a_J z + (\sum a s_1) u_1 + (\sum a s_2) u_2 + l_{11}\zeta_1` and
   likewise for v; the projected step
   :math:`k' \propto k - \alpha(\nabla_k - \langle\nabla_k, k\rangle k)` (and the same for v) is
   computed exactly there, then normalised.

7. *Back to canonical coordinates.* :math:`\kappa' = k'_1`, :math:`\eta' = k'_2`,
   :math:`\theta' = v'_1`, :math:`\nu' = v'_2`; with :math:`r_k = k'_{3..6}` and
   :math:`r_v = v'_{3..6}`: :math:`k_3' = \|r_k\|`, :math:`v_3' = \langle r_v, r_k\rangle/k'_3`,
   :math:`v_4' = \|r_v - v'_3 r_k/k'_3\|` (a Gram–Schmidt step, accurate in floating point).
   By step 1 continuing from these coordinates has the law of continuing from (k', v').

8. *Small d.* For d = 5, K is a line: :math:`t_{22} = 0`; for d = 4 it is empty: M = 0. Both
   are the same formulas with :math:`\chi^2_0 = 0`.

Each step costs O(B·L) operations, independent of d; the step counter, the temperature
schedule and the batch randomness (``fold_in(stream(key, "sgd-batches"), t)``) are shared with
the direct simulator, which draws other numbers from those keys (equal in law, not pathwise).
Equality in law with the direct simulator is tested by two-sample Kolmogorov–Smirnov tests of
the overlaps at several steps, with a power check against a variant whose complement has the
wrong dimension.

A fixed test set is not a function of the overlaps. The reduced run therefore logs the
closed-form :math:`\mathcal E(k_t, v_t)` at each logged step — the expectation of the test
MSE − ε² over the draw of an independent test set — and, where a test MSE is wanted at the end
(the experiments), (k, v) are embedded in :math:`\mathbb R^d` with the final overlaps and a fresh
test set is drawn: since the test set is independent of training, this has exactly the law of
the fixed-test-set MSE of the direct simulator at its final iterate.
"""

from __future__ import annotations

from dataclasses import dataclass

from attnlab._jax import jax, jnp
from attnlab.erf_slr._risk import _erf_prime, _excess_risk
from attnlab.erf_slr._training import temperature_at

__all__: list[str] = []

SUB_BLOCK = 16  # steps whose random numbers are drawn together (divides the usual log intervals)

_erf = jax.scipy.special.erf


def _cholesky2(c00, c01, c11):
    """Lower Cholesky factor (l11, l21, l22) of a 2×2 covariance (zero rows allowed)."""
    l11 = jnp.sqrt(c00)
    l21 = jnp.where(l11 > 0, c01 / jnp.where(l11 > 0, l11, 1.0), 0.0)
    return l11, l21, jnp.sqrt(jnp.maximum(c11 - l21**2, 0.0))


def _gram2(a, b, weight=1.0):
    """(Σ w a², Σ w a b, Σ w b²)."""
    return jnp.sum(weight * a * a), jnp.sum(weight * a * b), jnp.sum(weight * b * b)


def batch_gradient(normals, c_k, c_v, d, gamma, eps, lam, L: int, batch: int):
    """Span parts of the batch gradient and the covariance C of its complement parts
    (module docstring, steps 2–5), from ``B(2L + 3) + 8`` standard normals."""
    B, n = batch, L - 1
    xi = normals[: 4 * B].reshape(B, 4)
    s = normals[4 * B : 4 * B + 2 * B * n].reshape(B, n, 2)
    noise = normals[4 * B + 2 * B * n : 5 * B + 2 * B * n]
    g = normals[5 * B + 2 * B * n : 5 * B + 2 * B * n + 8].reshape(2, 4)
    rho = jnp.dot(c_k, c_v)
    w = c_v - rho * c_k
    norm_w = jnp.linalg.norm(w)
    u2 = w / jnp.where(norm_w > 0, norm_w, 1.0)
    z = gamma * xi + jnp.zeros(4, c_k.dtype).at[0].set(jnp.sqrt(d / 2.0))  # hidden tokens
    pk_h, pv_h = z @ c_k, z @ c_v
    pk, pv = s[..., 0], rho * s[..., 0] + norm_w * s[..., 1]  # non-hidden tokens
    score_h, score = _erf(lam * pk_h), _erf(lam * pk)
    r = (2.0 / B) * (score_h * pv_h + jnp.sum(score * pv, -1) - z[:, 1] - eps * noise)
    a_h, b_h = r * lam * _erf_prime(lam * pk_h) * pv_h, r * score_h
    a, b = r[:, None] * lam * _erf_prime(lam * pk) * pv, r[:, None] * score
    l11, l21, l22 = _cholesky2(*_gram2(a, b))
    zeta = g - jnp.outer(g @ c_k, c_k) - jnp.outer(g @ u2, u2)  # P_V g
    grad_k = a_h @ z + jnp.sum(a * s[..., 0]) * c_k + jnp.sum(a * s[..., 1]) * u2 + l11 * zeta[0]
    grad_v = b_h @ z + jnp.sum(b * s[..., 0]) * c_k + jnp.sum(b * s[..., 1]) * u2
    grad_v = grad_v + l21 * zeta[0] + l22 * zeta[1]
    hidden = _gram2(a_h, b_h, gamma**2)
    C = tuple(x + y for x, y in zip(_gram2(a, b), hidden, strict=True))
    return grad_k, grad_v, C


def n_normals(L: int, batch: int) -> int:
    """Standard normals per step and replicate: B(2L + 3) + 9."""
    return batch * (2 * L + 3) + 9


def draw_step(key, t, d, dof_offset, L: int, batch: int, dtype):
    """The random numbers of step ``t`` of one replicate: the standard normals of
    :func:`batch_gradient` (plus Bartlett's t₂₁, the last one) and (t₁₁, t₂₂) with
    t₁₁² ~ χ²_{d−4}, t₂₂² ~ χ²_{d−5} (χ²_0 = 0)."""
    kn, kc = jax.random.split(jax.random.fold_in(key, t))
    normals = jax.random.normal(kn, (n_normals(L, batch),), dtype=dtype)
    dofs = d - dof_offset - jnp.arange(2, dtype=dtype)
    draws = 2.0 * jax.random.gamma(kc, jnp.maximum(dofs, 1.0) / 2.0, dtype=dtype)
    return normals, jnp.where(dofs > 0, jnp.sqrt(draws), 0.0)


def complement_factor(C, chi, t21, dof):
    """Lower-triangular M with (G_k, G_v) = M (f₅, f₆): Cholesky of C times Bartlett's T."""
    t11, t22 = chi[0], chi[1]
    t21 = jnp.where(dof > 0, t21, 0.0)
    l11, l21, l22 = _cholesky2(*C)
    return l11 * t11, l21 * t11 + l22 * t21, l22 * t22


def _tangent_step(c, grad_span, grad_rest, step_size):
    """Normalised ``(c, 0, 0) − α(g − ⟨g, c⟩(c, 0, 0))`` in the 6-dimensional frame."""
    radial = jnp.dot(grad_span, c)
    new = jnp.concatenate([c - step_size * (grad_span - radial * c), -step_size * grad_rest])
    return new / jnp.linalg.norm(new)


def canonicalise(k6, v6):
    """Canonical coordinates (κ, η, k₃, 0), (θ, ν, v₃, v₄) of unit k, v given in a frame whose
    first two axes are k*, v* (step 6 of the module docstring)."""
    rk, rv = k6[2:], v6[2:]
    k3 = jnp.linalg.norm(rk)
    u = jnp.where(k3 > 0, rk / jnp.where(k3 > 0, k3, 1.0), 0.0)
    v3 = jnp.dot(rv, u)
    v4 = jnp.linalg.norm(rv - v3 * u)
    zero = jnp.zeros((), k6.dtype)
    return jnp.stack([k6[0], k6[1], k3, zero]), jnp.stack([v6[0], v6[1], v3, v4])


def reduced_step(normals, chi, c_k, c_v, params, lam, L: int, batch: int, dof_offset=4.0):
    """One SGD step of the reduced chain for one replicate from its random numbers
    (:func:`draw_step`; module docstring, steps 2–7)."""
    grad_k, grad_v, C = batch_gradient(normals, c_k, c_v, params["d"], params["gamma"],
                                       params["eps"], lam, L, batch)  # fmt: skip
    m11, m21, m22 = complement_factor(C, chi, normals[-1], params["d"] - dof_offset)
    zero = jnp.zeros((), c_k.dtype)
    k6 = _tangent_step(c_k, grad_k, jnp.stack([m11, zero]), params["step_size"])
    v6 = _tangent_step(c_v, grad_v, jnp.stack([m21, m22]), params["step_size"])
    return canonicalise(k6, v6)


def coordinate_overlaps(c_k, c_v):
    """(κ, ν, θ, η, ρ) from canonical coordinates (last axis)."""
    return c_k[..., 0], c_v[..., 1], c_v[..., 0], c_k[..., 1], jnp.sum(c_k * c_v, -1)


@dataclass(frozen=True)
class ReducedKernel:
    """The reduced chain for all replicates: state (c_k, c_v, t), c_k, c_v of shape (S, 4).

    The random numbers of a sub-block of ``SUB_BLOCK`` steps are drawn together (each step's
    from its own key ``fold_in(key, t)``, so the numbers do not depend on the sub-block size)
    and a scan then consumes them: drawn inside the step, XLA would fuse the generator into its
    several consumers and recompute it. ``advance`` takes a traced number of steps n: the last
    sub-block's steps beyond n are drawn and discarded (the state is kept where t ≥ t₀ + n), so
    one compiled program serves every block length."""

    L: int
    batch: int
    dof_offset: float = 4.0  # the complement has dimension d − 4 (changed only by power tests)

    def _draw(self, params, t0, dtype):
        def at(t):
            return jax.vmap(lambda key: draw_step(key, t, params["d"], self.dof_offset, self.L,
                                                  self.batch, dtype))(params["keys"])  # fmt: skip

        return jax.vmap(at)(t0 + jnp.arange(SUB_BLOCK))

    def advance(self, state, params, n):
        end = state[2] + n

        def one_step(s, randoms):
            c_k, c_v, t = s
            lam = temperature_at(params, t)
            step = jax.vmap(lambda nrm, chi, ck, cv: reduced_step(
                nrm, chi, ck, cv, params, lam, self.L, self.batch, self.dof_offset))  # fmt: skip
            new_k, new_v = step(*randoms, c_k, c_v)
            live = t < end
            return (jnp.where(live, new_k, c_k), jnp.where(live, new_v, c_v), t + live), None

        def one_sub_block(i, s):
            return jax.lax.scan(one_step, s, self._draw(params, s[2], s[0].dtype))[0]

        return jax.lax.fori_loop(0, (n + SUB_BLOCK - 1) // SUB_BLOCK, one_sub_block, state)

    def observe(self, state, params):
        c_k, c_v, t = state
        lam = temperature_at(params, t)
        ov = coordinate_overlaps(c_k, c_v)
        return (*ov, _excess_risk(*ov, params["d"], params["L"], params["gamma"], lam))
