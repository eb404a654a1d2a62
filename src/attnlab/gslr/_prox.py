r"""The channel side of the replica equations: the 2L-dimensional proximal problem, vectorised.

For one effective example :math:`(y, \chi^*, z^*)` and cavity means :math:`\omega^k, \omega^v`,

.. math::

    (\hat\chi, \hat z) = \arg\min_{\chi, z}\ \tfrac12\big(y - \sigma(\chi)^\top z\big)^2
    + \frac{|\chi - \omega^k|^2}{2V_k} + \frac{|z - \omega^v|^2}{2V_v}.

The :math:`z`-part is quadratic: :math:`\hat z = \omega^v + V_v\sigma\rho` with :math:`\rho =
(y - \sigma^\top\omega^v)/(1 + V_v|\sigma|^2)`, which leaves the :math:`L`-dimensional problem

.. math:: G(\chi) = \frac{(y - \sigma(\chi)^\top\omega^v)^2}{2(1 + V_v|\sigma(\chi)|^2)}
    + \frac{|\chi - \omega^k|^2}{2V_k},

solved by a modified Newton method (gradient and Hessian of :math:`G` in closed form for the
built-in activations, :func:`_reduced_grad_hess`; by jax for any other): the direction solves :math:`\tilde H d = -\nabla G` with
:math:`\tilde H` the modified Cholesky factorisation of the exact Hessian (a pivot :math:`p`
below :math:`10^{-2}/V_k` replaced by :math:`\max(|p|, 10^{-2}/V_k)`, so :math:`\tilde H = H`
near a minimum, :math:`d` is a descent direction everywhere, and a direction of negative
curvature :math:`-c` gets a step of length about :math:`1/c`; raising such a pivot only to the
floor gave steps a hundred times too long, which no step length below could repair, and left
some examples stuck off any minimum); the step length is the best of (1, 1/2, 1/5, 1/20,
1/100) that decreases :math:`G`. :math:`G` is not convex when :math:`V_k` is large, so a *full* pass runs Newton from
three starts (the previous prox point, :math:`\omega^k`, the origin) and then again from the
lowest of the three; a *fast* pass refines the previous point only. Both passes are the same
compiled code with a traced number of starts and steps. The small dense linear algebra
(:math:`L \times L` and :math:`2L \times 2L`, up to 6 × 6) is unrolled into element-wise
operations, which vectorise over the examples (batched LAPACK calls on 6 × 6 matrices took
40 % of a fast pass at L = 3).

Statistics of one example (summed over its valid tokens): :math:`f^k = (\hat\chi -
\omega^k)/V_k`, :math:`f^v = (\hat z - \omega^v)/V_v = \sigma\rho`, and the diagonal of
:math:`(I + \mathbf V H)^{-1} = P^{-1}\mathbf V^{-1}` with :math:`P = \mathbf V^{-1} + H`
(:math:`H` the Hessian of the loss in :math:`(\chi, z)` at the prox point, :math:`\mathbf V =
\mathrm{diag}(V_k I, V_v I)`; :math:`P` is positive definite at a strict local minimum).
"""

from __future__ import annotations

import functools
from typing import Any

from attnlab._jax import jax, jnp
from attnlab.gslr._activations import Activation, activation_jet, derivative_parts

__all__ = ["UNROLL_MAX", "channel_jacobian", "channel_statistics", "prox"]

UNROLL_MAX = 6  # unrolled linear algebra up to 6 x 6 (the 2L x 2L of L_max <= 3); LAPACK beyond
STEPS = (1.0, 0.5, 0.2, 0.05, 0.01)
N_STATS = 9


# -- small dense linear algebra -------------------------------------------------------------------
def _cholesky(A: Any, floor: Any) -> tuple[Any, Any]:
    """Modified Cholesky factor of a symmetric ``(n, n)`` matrix, and whether every pivot was at
    least ``floor`` (then it is the factor of ``A`` itself). A pivot :math:`p` below ``floor``
    is replaced by ``max(|p|, floor)``: for a Newton direction on a non-convex
    function, a negative curvature of size c then gives a step of length about 1/c along it,
    not 1/``floor``. Beyond ``UNROLL_MAX`` (LAPACK) a matrix with such a pivot gets
    ``sqrt(floor) I`` instead."""
    n = A.shape[-1]
    if n > UNROLL_MAX:  # LAPACK (exact factor; the identity when A is not positive definite)
        Lf = jnp.linalg.cholesky(A)
        ok = jnp.all(jnp.isfinite(Lf)) & jnp.all(jnp.diagonal(Lf) ** 2 >= floor)
        return jnp.where(ok, Lf, jnp.sqrt(floor) * jnp.eye(n, dtype=A.dtype)), ok
    Lf: list[list[Any]] = [[jnp.zeros((), A.dtype)] * n for _ in range(n)]
    ok = jnp.array(True)
    for j in range(n):
        pivot = A[j, j] - sum(Lf[j][k] ** 2 for k in range(j))
        ok = ok & (pivot >= floor)
        d = jnp.sqrt(jnp.maximum(jnp.abs(pivot), floor))
        Lf[j][j] = d
        for i in range(j + 1, n):
            Lf[i][j] = (A[i, j] - sum(Lf[i][k] * Lf[j][k] for k in range(j))) / d
    return jnp.stack([jnp.stack(row) for row in Lf]), ok


def _solve(Lf: Any, b: Any) -> Any:
    """``(Lf Lfᵀ)⁻¹ b``."""
    n = b.shape[-1]
    if n > UNROLL_MAX:
        return jax.scipy.linalg.cho_solve((Lf, True), b)
    w: list[Any] = []
    for i in range(n):
        w.append((b[i] - sum(Lf[i, k] * w[k] for k in range(i))) / Lf[i, i])
    x: list[Any] = [None] * n
    for i in reversed(range(n)):
        x[i] = (w[i] - sum(Lf[k, i] * x[k] for k in range(i + 1, n))) / Lf[i, i]
    return jnp.stack(x)


def _inverse_diagonal(Lf: Any) -> Any:
    """``diag((Lf Lfᵀ)⁻¹)``: the column sums of squares of ``Lf⁻¹``."""
    n = Lf.shape[-1]
    if n > UNROLL_MAX:
        inv = jax.scipy.linalg.solve_triangular(Lf, jnp.eye(n, dtype=Lf.dtype), lower=True)
        return jnp.sum(inv**2, axis=0)
    inv: list[list[Any]] = [[None] * n for _ in range(n)]
    for j in range(n):  # column j of Lf⁻¹ by forward substitution
        for i in range(j, n):
            rhs = (1.0 if i == j else 0.0) - sum(Lf[i, k] * inv[k][j] for k in range(j, i))
            inv[i][j] = rhs / Lf[i, i]
    return jnp.stack([sum(inv[i][j] ** 2 for i in range(j, n)) for j in range(n)])


# -- the prox ---------------------------------------------------------------------------------
def _reduced(sigma: Activation, chi: Any, ex: tuple, Vk: Any, Vv: Any) -> Any:
    """:math:`G(\\chi)` of the module docstring for one example ``ex = (y, omk, omv, mask)``."""
    y, omk, omv, mask = ex
    s = sigma(chi[None], mask[None])[0]
    num = y - jnp.sum(s * omv)
    den = 1.0 + Vv * jnp.sum(s * s)
    return 0.5 * num**2 / den + 0.5 * jnp.sum((chi - omk) ** 2) / Vk


def _reduced_grad_hess(sigma: Activation, chi: Any, ex: tuple, Vk: Any, Vv: Any) -> tuple:
    r"""Gradient and Hessian of :math:`G` at ``chi``.

    For a built-in activation, in closed form from the Jacobian :math:`J` of :math:`\sigma` and
    its second derivatives :math:`M(\beta)` (:func:`~attnlab.gslr._activations.activation_jet`):
    with :math:`u = y - \sigma^\top\omega^v`, :math:`w = 1 + V_v|\sigma|^2`,
    :math:`a = J^\top\omega^v`, :math:`c = J^\top\sigma`,

    .. math::
        \nabla G = -\frac uw a - V_v\frac{u^2}{w^2} c + \frac{\chi - \omega^k}{V_k},

        \nabla^2 G = \frac{aa^\top}w + \frac{2V_v u}{w^2}(ac^\top + ca^\top)
            + \frac{4V_v^2u^2}{w^3}cc^\top - \frac uw M(\omega^v)
            - V_v\frac{u^2}{w^2}\big(J^\top J + M(\sigma)\big) + \frac I{V_k}.

    This is the same function as jax's derivatives of :math:`G` (tested to rounding) at about a
    fifth of the cost of a Hessian by automatic differentiation, and a smaller program to
    compile. Any other activation is differentiated by jax (reverse over reverse)."""
    parts = derivative_parts(sigma)
    if parts is None:
        G = functools.partial(_reduced, sigma, ex=ex, Vk=Vk, Vv=Vv)
        grad = jax.grad(G)
        return grad(chi), jax.jacrev(grad)(chi)
    y, omk, omv, mask = ex
    s, J, M = activation_jet(parts, chi, mask)
    u = y - jnp.sum(s * omv)
    w = 1.0 + Vv * jnp.sum(s * s)
    a, c = J.T @ omv, J.T @ s
    grad = -(u / w) * a - Vv * (u * u) / (w * w) * c + (chi - omk) / Vk
    cross = jnp.outer(a, c)
    hess = (
        jnp.outer(a, a) / w
        + (2.0 * Vv * u / (w * w)) * (cross + cross.T)
        + (4.0 * Vv * Vv * u * u / (w * w * w)) * jnp.outer(c, c)
        - (u / w) * M(omv)
        - (Vv * u * u / (w * w)) * (J.T @ J + M(s))
        + jnp.eye(chi.shape[0], dtype=chi.dtype) / Vk
    )
    return grad, hess


def _loss_hessian(sigma: Activation, chi: Any, z: Any, y: Any, mask: Any) -> Any:
    r"""Hessian of :math:`\ell = \tfrac12 r^2`, :math:`r = y - \sigma(\chi)^\top z`, in
    :math:`(\chi, z)`: for a built-in activation in closed form,

    .. math::
        \ell_{\chi\chi} = (J^\top z)(J^\top z)^\top - r M(z), \quad
        \ell_{\chi z} = (J^\top z)\sigma^\top - rJ^\top, \quad
        \ell_{zz} = \sigma\sigma^\top;

    by jax otherwise."""
    parts = derivative_parts(sigma)
    if parts is None:
        L = chi.shape[0]
        joint = functools.partial(lambda w: _loss(sigma, w[:L], w[L:], y, mask))
        return jax.jacrev(jax.grad(joint))(jnp.concatenate([chi, z]))
    s, J, M = activation_jet(parts, chi, mask)
    r = y - jnp.sum(s * z)
    jz = J.T @ z
    chi_z = jnp.outer(jz, s) - r * J.T
    top = jnp.concatenate([jnp.outer(jz, jz) - r * M(z), chi_z], axis=1)
    bottom = jnp.concatenate([chi_z.T, jnp.outer(s, s)], axis=1)
    return jnp.concatenate([top, bottom], axis=0)


def prox(
    sigma: Activation, chi_warm: Any, ex: tuple, Vk: Any, Vv: Any, n_starts: Any, n_steps: Any
) -> Any:
    """:math:`\\hat\\chi` of one example: ``n_steps`` Newton steps from each of the first
    ``n_starts`` of (warm point, :math:`\\omega^k`, origin), then ``n_steps`` more from the
    lowest (``n_starts``, ``n_steps`` traced: one compiled code for both passes)."""
    _, omk, _, mask = ex
    G = functools.partial(_reduced, sigma, ex=ex, Vk=Vk, Vv=Vv)
    steps = jnp.asarray(STEPS)

    def newton_step(_: Any, point: tuple) -> tuple:
        chi, value = point  # the value G(chi) is carried, not evaluated again
        grad, hess = _reduced_grad_hess(sigma, chi, ex, Vk, Vv)
        Lf, _ = _cholesky(hess, 1e-2 / Vk)
        d = -_solve(Lf, grad)
        values = jax.vmap(G)(chi[None, :] + steps[:, None] * d[None, :])
        best = jnp.argmin(values)
        take = values[best] < value
        return jnp.where(take, chi + steps[best] * d, chi), jnp.where(take, values[best], value)

    starts = jnp.stack([jnp.where(mask, chi_warm, 0.0), omk, jnp.zeros_like(omk)])

    def from_start(i: Any, carry: tuple) -> tuple:
        best_chi, best_val = carry
        chi0 = jnp.where(i < n_starts, starts[jnp.minimum(i, 2)], best_chi)
        chi, value = jax.lax.fori_loop(0, n_steps, newton_step, (chi0, G(chi0)))
        better = (value < best_val) | (i == n_starts)  # the last run refines the best
        return jnp.where(better, chi, best_chi), jnp.where(better, value, best_val)

    init = (starts[0], jnp.asarray(jnp.inf, omk.dtype))
    return jax.lax.fori_loop(0, n_starts + 1, from_start, init)[0]


def _loss(sigma: Activation, chi: Any, z: Any, y: Any, mask: Any) -> Any:
    s = sigma(chi[None], mask[None])[0]
    return 0.5 * (y - jnp.sum(s * z)) ** 2


def _prox_point(
    sigma: Activation, state: Any, sample: tuple, chi_warm: Any, n_starts: Any, n_steps: Any
) -> tuple:
    """Cavity means, prox point :math:`(\\hat\\chi, \\hat z)`, :math:`\\rho` and the loss
    Hessian :math:`H` at the prox point of one example."""
    m_k, q_k, V_k, m_v, q_v, V_v = (state[i] for i in range(6))
    y, chis, zs, g, gp, mask = sample
    s_k = jnp.sqrt(jnp.maximum(q_k - m_k**2, 0.0))
    s_v = jnp.sqrt(jnp.maximum(q_v - m_v**2, 0.0))
    omk = jnp.where(mask, m_k * chis + s_k * g, 0.0)
    omv = jnp.where(mask, m_v * zs + s_v * gp, 0.0)
    ex = (y, omk, omv, mask)
    chi = prox(sigma, chi_warm, ex, V_k, V_v, n_starts, n_steps)
    s = sigma(chi[None], mask[None])[0]
    rho = (y - jnp.sum(s * omv)) / (1.0 + V_v * jnp.sum(s * s))
    z = omv + V_v * s * rho
    return ex, chi, z, s * rho, _loss_hessian(sigma, chi, z, y, mask)


def channel_jacobian(
    sigma: Activation, state: Any, sample: tuple, chi_warm: Any, n_steps: Any, prox_tol: float
) -> tuple[Any, Any]:
    """:math:`J = \\partial f/\\partial\\omega` of one example at its global prox point (a
    full three-start pass), :math:`f = (f^k, f^v)`.

    Differentiating the prox stationarity condition :math:`\\nabla\\ell(\\hat x) +
    \\mathbf V^{-1}(\\hat x - \\omega) = 0` gives :math:`\\partial\\hat x/\\partial\\omega =
    P^{-1}\\mathbf V^{-1}` with :math:`P = \\mathbf V^{-1} + H`, hence

    .. math:: J = \\mathbf V^{-1} P^{-1} \\mathbf V^{-1} - \\mathbf V^{-1},

    a symmetric :math:`2L \\times 2L` matrix (order :math:`\\chi_1..\\chi_L, z_1..z_L`), zero on
    the rows and columns of padded tokens.

    Parameters
    ----------
    sigma : callable
    state : array, shape (6,)
    sample : tuple
        As for :func:`channel_statistics`.
    chi_warm : array, shape (L_max,)
        A previous prox point (the fixed point's own).
    n_steps : int
        Newton steps per start of the prox.
    prox_tol : float
        Largest prox gradient component for the point to count as stationary.

    Returns
    -------
    J : array, shape (2 L_max, 2 L_max)
    ok : bool array
        Whether the prox point is a strict local minimum (stationary to ``prox_tol``, :math:`P`
        positive definite); :math:`J` means nothing where it is not.
    """
    mask = sample[5]
    ex, chi, _, _, H = _prox_point(sigma, state, sample, chi_warm, 3, n_steps)
    L = mask.shape[0]
    v_inv = jnp.concatenate([jnp.full(L, 1.0 / state[2]), jnp.full(L, 1.0 / state[5])])
    valid = jnp.concatenate([mask, mask])
    P = jnp.where(valid[:, None] & valid[None, :], H, 0.0) + jnp.diag(v_inv)
    # one Cholesky factor gives both P⁻¹ and the positive definiteness (every pivot > 0). Two
    # independent batched LAPACK calls here (an inverse and an eigvalsh) could run at once on
    # XLA's CPU pool, each waiting for batch tasks queued behind the other: on 2 cores that
    # deadlocked (docs/findings.md, "Compilation and threads")
    Lf, definite = _cholesky(P, jnp.finfo(P.dtype).tiny)
    P_inv = jnp.where(definite, _solve(Lf, jnp.eye(2 * L, dtype=P.dtype)), 0.0)
    J = v_inv[:, None] * P_inv * v_inv[None, :] - jnp.diag(v_inv)
    grad_G = _reduced_grad_hess(sigma, chi, ex, state[2], state[5])[0]
    stationary = jnp.max(jnp.abs(jnp.where(mask, grad_G, 0.0))) <= prox_tol
    ok = stationary & definite
    return jnp.where(valid[:, None] & valid[None, :], J, 0.0), ok


def channel_statistics(
    sigma: Activation, state: Any, sample: tuple, chi_warm: Any, n_starts: Any, n_steps: Any
) -> tuple[Any, Any]:
    """Prox of one effective example and its statistics (module docstring).

    Parameters
    ----------
    sigma : callable
    state : array, shape (6,)
        :math:`(m_k, q_k, V_k, m_v, q_v, V_v)`.
    sample : tuple
        ``(y, chi_star, z_star, g, g_prime, mask)`` of one example.
    chi_warm : array, shape (L_max,)
        The previous prox point.
    n_starts, n_steps : int (traced)
        Starts and Newton steps of :func:`prox` (1 start: a fast pass; 3: a full pass).

    Returns
    -------
    stats : array, shape (9,)
        :math:`\\sum f^{k2}`, :math:`\\sum f^k\\chi^*`, :math:`\\sum (1 - [M^{-1}]_{\\chi\\chi})`,
        the same three for :math:`v`, the loss at the prox, the largest prox gradient
        component, and 1 if :math:`P` was not positive definite.
    chi_hat : array, shape (L_max,)
    """
    V_k, V_v = state[2], state[5]
    _, chis, zs, _, _, mask = sample
    ex, chi, z, fv, H = _prox_point(sigma, state, sample, chi_warm, n_starts, n_steps)
    y, omk = ex[0], ex[1]
    fk = (chi - omk) / V_k
    L = chi.shape[0]
    Vdiag = jnp.concatenate([jnp.full(L, V_k), jnp.full(L, V_v)])
    Lf, pd = _cholesky(H + jnp.diag(1.0 / Vdiag), 1e-9 / jnp.maximum(V_k, V_v))
    dg = 1.0 - _inverse_diagonal(Lf) / Vdiag
    dg = jnp.where(jnp.concatenate([mask, mask]), dg, 0.0)
    grad_G = _reduced_grad_hess(sigma, chi, ex, V_k, V_v)[0]
    stats = jnp.stack(
        [
            jnp.sum(fk**2),
            jnp.sum(fk * chis),
            jnp.sum(dg[:L]),
            jnp.sum(fv**2),
            jnp.sum(fv * zs),
            jnp.sum(dg[L:]),
            _loss(sigma, chi, z, y, mask),
            jnp.max(jnp.abs(jnp.where(mask, grad_G, 0.0))),
            jnp.where(pd, 0.0, 1.0),
        ]
    )
    return stats, chi
