r"""Output channels of Bayes-optimal learning in generalised SLR, shared by the state evolution
(:mod:`attnlab.gslr._bayes_se`) and GAMP (:mod:`attnlab.gslr._gamp`).

Both variants are sequence multi-index models: the teacher is :math:`W^* = [k^*, v^*]`, each
example has :math:`L` token projections :math:`h_\ell = (\chi_\ell, z_\ell)` and the channel
only sees them through

.. math::

    Z(y, \omega, V) = \mathbb E_{h_\ell \sim \mathcal N(\omega_\ell, V)}\,\tilde P(y \mid h),
    \qquad V = \mathrm{diag}(V_k, V_v),

with :math:`\tilde P(y\mid h) = \frac1L\sum_\ell e^{\sqrt\nu\chi_\ell-\nu/2}\mathcal N(y;z_\ell,\Delta)`
(spiked) or :math:`\sum_\ell \mathrm{softmax}(\nu\chi)_\ell\,\mathcal N(y;z_\ell,\Delta)` (max).
The functions return :math:`\log Z` and :math:`g_\ell = \partial_{\omega_\ell}\log Z`.

*Spiked.* The Gaussian integral is closed:
:math:`Z = \frac1L\sum_\ell e^{\sqrt\nu\omega_{\chi\ell} + \nu(V_k-1)/2}\,
\mathcal N(y;\omega_{z\ell},\Delta+V_v)`, so with :math:`\pi = \mathrm{softmax}_\ell(\sqrt\nu
\omega_{\chi\ell} - r_\ell^2/(2s))`, :math:`r_\ell = y-\omega_{z\ell}`, :math:`s = \Delta+V_v`:
:math:`g_{\chi\ell} = \sqrt\nu\,\pi_\ell` and :math:`g_{z\ell} = \pi_\ell r_\ell/s`.

*Max.* :math:`Z = \sum_\ell \hat p_\ell\,\mathcal N(y;\omega_{z\ell},s)` with
:math:`\hat p_\ell(\omega_\chi) = \mathbb E_{\chi\sim\mathcal N(\omega_\chi, V_k I)}
\mathrm{softmax}(\nu\chi)_\ell`, the posterior probability of the position. By the Gumbel-max
identity, :math:`\mathrm{softmax}(\nu\chi)_\ell = P(\ell = \arg\max_m \chi_m + G_m/\nu)` with
i.i.d. standard Gumbel :math:`G_m`, hence with :math:`Y = \sqrt{V_k}\,\eta + G/\nu`
(CDF :math:`F`, density :math:`f`)

.. math::

    \hat p_\ell = \int f(y)\prod_{m\ne\ell}F(y+\omega_\ell-\omega_m)\,dy, \qquad
    \partial_{\omega_m}\hat p_\ell = -\int f(y)\,f(y+\omega_\ell-\omega_m)
    \prod_{m'\ne\ell,m}F(y+\omega_\ell-\omega_{m'})\,dy \quad (m\ne\ell),

and :math:`\partial_{\omega_\ell}\hat p_\ell = -\sum_{m\ne\ell}\partial_{\omega_m}\hat p_\ell`:
one-dimensional integrals for every :math:`L`. :math:`F, f` are tabulated once per
:math:`(V_k,\nu)` on a fine grid (each a 1-D trapezoid over the smoother of the Gaussian and the
Gumbel variable) and interpolated linearly; the outer integral is a trapezoid on ``n_nodes``
points. Then :math:`g_{\chi m} = \sum_\ell \mathcal N(y;\omega_{z\ell},s)\,
\partial_{\omega_m}\hat p_\ell / Z` and :math:`g_{z\ell} = \pi_\ell r_\ell/s` with
:math:`\pi_\ell \propto \hat p_\ell\,\mathcal N(y;\omega_{z\ell},s)`.

Padded tokens (random lengths) carry ``mask = False``: they get zero weight and zero ``g``.
All functions are pure jax (traceable, ``vmap``/``jit``-able); callers enter the x64 context.
"""

from __future__ import annotations

import math

import numpy as np

from attnlab._jax import jax, jnp

__all__ = ["gumbel_gauss_tables", "max_channel", "position_posterior", "spiked_channel"]

# s = Delta + V_v is floored only against an exact zero (noise-free perfect recovery drives
# V_v -> 0; callers keep V_v >= 1e-15, below which the fixed point would be an artefact)
MIN_VARIANCE = 1e-300
_LOG_2PI = math.log(2 * math.pi)


def _gauss_logpdf(r, s):
    return -0.5 * r**2 / s - 0.5 * (_LOG_2PI + jnp.log(s))


def spiked_channel(y, om_k, om_v, V_k, V_v, nu, delta, mask):
    r"""Spiked-SLR channel: :math:`(\log Z, g_\chi, g_z)` in closed form (module docstring).

    Parameters
    ----------
    y : array, shape (n,)
    om_k, om_v : arrays, shape (n, L)
        Cavity means :math:`\omega_\chi, \omega_z`.
    V_k, V_v : float
        Cavity variances.
    nu, delta : float
        Signal strength and label-noise variance.
    mask : bool array, shape (n, L)

    Returns
    -------
    logZ : array (n,); g_k, g_v : arrays (n, L)
    """
    s = jnp.maximum(delta + V_v, MIN_VARIANCE)
    r = y[:, None] - om_v
    n_valid = jnp.sum(mask, axis=-1, keepdims=True)
    logits = jnp.sqrt(nu) * om_k + 0.5 * nu * (V_k - 1.0) + _gauss_logpdf(r, s)
    logits = jnp.where(mask, logits, -jnp.inf)
    logZ = jax.scipy.special.logsumexp(logits, axis=-1) - jnp.log(n_valid[:, 0])
    pi = jax.nn.softmax(logits, axis=-1)
    pi = jnp.where(mask, pi, 0.0)
    return logZ, jnp.sqrt(nu) * pi, pi * r / s


def gumbel_gauss_tables(V, nu, n_fine=2048, n_inner=64):
    r"""CDF :math:`F` and density :math:`f` of :math:`Y = \sqrt V\eta + G/\nu` on a uniform grid.

    The grid spans :math:`[-7\sqrt V - 3.3/\nu,\ 7\sqrt V + 25/\nu]` (both tails below 1e-11).
    :math:`F(t) = \mathbb E_G\,\Phi((t - G/\nu)/\sqrt V)` when :math:`\nu\sqrt V\ge1`, else
    :math:`\mathbb E_\eta \exp(-e^{-\nu(t-\sqrt V\eta)})`; each expectation is a trapezoid on
    ``n_inner`` points of an integrand smooth on the scale of the grid.

    Returns
    -------
    grid : tuple ``(lo, h)`` of the first point and the spacing; F, f : arrays (n_fine,)
    """
    sV = jnp.sqrt(jnp.maximum(V, 0.0))
    inv = 1.0 / nu
    lo = -7.0 * sV - 3.3 * inv
    hi = 7.0 * sV + 25.0 * inv
    t = jnp.linspace(0.0, 1.0, n_fine) * (hi - lo) + lo

    def over_gumbel(_):
        G = jnp.linspace(-3.3, 25.0, n_inner)
        wG = jnp.exp(-G - jnp.exp(-G)) * (G[1] - G[0])
        arg = (t[:, None] - G[None, :] * inv) / sV
        F = jnp.sum(jax.scipy.special.ndtr(arg) * wG, axis=1)
        f = jnp.sum(jnp.exp(-0.5 * arg**2) * wG, axis=1) / (sV * math.sqrt(2 * math.pi))
        return F, f

    def over_gauss(_):
        eta = jnp.linspace(-7.5, 7.5, n_inner)
        we = jnp.exp(-0.5 * eta**2) * ((eta[1] - eta[0]) / math.sqrt(2 * math.pi))
        x = nu * (t[:, None] - sV * eta[None, :])
        E = jnp.exp(-jnp.exp(-x))
        return jnp.sum(E * we, axis=1), jnp.sum(nu * jnp.exp(-x) * E * we, axis=1)

    F, f = jax.lax.cond(nu * sV >= 1.0, over_gumbel, over_gauss, None)
    return (lo, (hi - lo) / (n_fine - 1)), F, f


def _leave_one_out_prod(a):
    """``out[..., m, :] = prod_{m' != m} a[..., m', :]`` along axis -2 (prefix and suffix
    products, unrolled over that short static axis: XLA's cumulative product is a slow
    reduce-window on CPU)."""
    n = a.shape[-2]
    parts = [a[..., m, :] for m in range(n)]
    pre, suf = [jnp.ones_like(parts[0])], [jnp.ones_like(parts[0])]
    for m in range(n - 1):
        pre.append(pre[-1] * parts[m])
        suf.append(suf[-1] * parts[n - 1 - m])
    return jnp.stack([pre[m] * suf[n - 1 - m] for m in range(n)], axis=-2)


def _shift_tables(F, f, k, n_nodes):
    r"""The tables of :func:`gumbel_gauss_tables` laid out for windows along the outer nodes.

    With the outer nodes every ``k``-th table point, :math:`F(y_j + d)` at all nodes is the
    linear interpolation between table points :math:`jk + s` and :math:`jk + s + 1`,
    :math:`s = \lfloor d/h\rfloor`, with the same weight at every node. Returns ``R`` of shape
    ``(k, Q, 4)``, ``R[r, q] = (F_e[i], F_e[i + 1], f_e[i], f_e[i + 1])`` at
    ``i = q k + r - pad``, ``F_e, f_e`` the tables extended by 0 (``F``, ``f``) below and 1
    (``F``), 0 (``f``) above, and ``pad``: the window of shift ``s`` (clipped to
    ``[-n - 1, n + 1]``, beyond which every value is saturated) starts at
    ``R[(s + pad) mod k, (s + pad) div k]`` and runs over ``n_nodes`` entries of that row."""
    n = F.shape[0]
    pad = n + 2
    length = -(-(pad + (n_nodes - 1) * k + n + 3) // k) * k + k
    Fe = jnp.concatenate([jnp.zeros(pad, F.dtype), F, jnp.ones(length - pad - n + 1, F.dtype)])
    fe = jnp.concatenate([jnp.zeros(pad, f.dtype), f, jnp.zeros(length - pad - n + 1, f.dtype)])
    chans = jnp.stack([Fe[:-1], Fe[1:], fe[:-1], fe[1:]], axis=-1)  # (length, 4)
    return chans.reshape(length // k, k, 4).transpose(1, 0, 2), pad


def position_posterior(om_k, mask, V_k, nu, *, n_nodes=64, n_fine=2048, batch=128):
    r"""Max-SLR posterior of the position and its Jacobian (module docstring).

    .. math:: \hat p_\ell = \mathbb E_{\chi\sim\mathcal N(\omega,V_kI)}
        \mathrm{softmax}(\nu\chi)_\ell, \qquad J_{\ell m} = \partial\hat p_\ell/\partial\omega_m.

    The interpolation table has :math:`(n_{\rm nodes} - 1)k + 1` points, :math:`k` the smallest
    integer giving at least ``n_fine``, so that the outer nodes are table points and each pair
    :math:`(\ell, m)` reads one contiguous window of the table (:func:`_shift_tables`).

    Parameters
    ----------
    om_k : array (n, L); mask : bool array (n, L); V_k, nu : float (``nu > 0`` finite)
    n_nodes, n_fine : int
        Outer trapezoid nodes and (least) interpolation-table size.
    batch : int
        Samples per chunk (memory ``4 batch * L (L - 1) * n_nodes``; small chunks keep the
        table windows in cache).

    Returns
    -------
    p : array (n, L); J : array (n, L, L)
    """
    k = -(-(n_fine - 1) // (n_nodes - 1))
    n_table = (n_nodes - 1) * k + 1
    grid, F, f = gumbel_gauss_tables(V_k, nu, n_fine=n_table)
    lo, h = grid
    wy = f[::k] * (k * h)
    wy = wy.at[0].multiply(0.5).at[-1].multiply(0.5)
    L = om_k.shape[-1]
    if L == 1:
        return mask.astype(om_k.dtype), jnp.zeros(om_k.shape + (1,), om_k.dtype)
    R, pad = _shift_tables(F, f, k, n_nodes)
    others = np.array([[m for m in range(L) if m != l] for l in range(L)])  # (L, L-1)
    rows = np.repeat(np.arange(L), L - 1)

    def window(t):  # the 4 channels at the n_nodes outer nodes for table offset t
        return jax.lax.dynamic_slice(R, (t % k, t // k, jnp.zeros((), t.dtype)), (1, n_nodes, 4))[0]

    def one_batch(args):
        om, mk = args
        d = (om[:, :, None] - om[:, others]) / h  # d[l, j] = (om_l - om_{others[l, j]}) / h
        s = jnp.clip(jnp.floor(d), -n_table - 1, n_table + 1)
        w = jnp.clip(d - s, 0.0, 1.0)[..., None]
        win = jax.vmap(window)((s.astype(jnp.int32) + pad).ravel())
        win = win.reshape(d.shape + (n_nodes, 4))
        Fx = win[..., 0] * (1 - w) + win[..., 1] * w  # (b, L, L-1, n_nodes)
        fx = win[..., 2] * (1 - w) + win[..., 3] * w
        active = mk[:, others][..., None]
        Fx = jnp.where(active, Fx, 1.0)
        fx = jnp.where(active, fx, 0.0)
        p = jnp.where(mk, jnp.sum(jnp.prod(Fx, axis=2) * wy, axis=-1), 0.0)
        Jo = -jnp.sum(fx * _leave_one_out_prod(Fx) * wy, axis=-1)  # (b, L, L-1)
        Jo = jnp.where(mk[:, :, None], Jo, 0.0)
        J = (
            jnp.zeros((om.shape[0], L, L), om.dtype)
            .at[:, rows, others.ravel()]
            .set(Jo.reshape(om.shape[0], -1))
        )
        J = J - jnp.eye(L) * jnp.sum(Jo, axis=-1)[:, :, None]
        return p, J

    n = om_k.shape[0]
    batch = min(batch, n)
    n_batches = -(-n // batch)
    pad_n = n_batches * batch - n
    om_p = jnp.pad(om_k, ((0, pad_n), (0, 0))).reshape(n_batches, batch, L)
    mk_p = jnp.pad(mask, ((0, pad_n), (0, 0)), constant_values=True).reshape(n_batches, batch, L)
    p, J = jax.lax.map(one_batch, (om_p, mk_p))
    return p.reshape(-1, L)[:n], J.reshape(-1, L, L)[:n]


def max_channel(y, om_k, om_v, V_k, V_v, nu, delta, mask, *, n_nodes=64, n_fine=2048):
    r"""Max-SLR channel: :math:`(\log Z, g_\chi, g_z)` (module docstring; arguments as
    :func:`spiked_channel`, ``nu > 0`` finite)."""
    p, J = position_posterior(om_k, mask, V_k, nu, n_nodes=n_nodes, n_fine=n_fine)
    s = jnp.maximum(delta + V_v, MIN_VARIANCE)
    r = y[:, None] - om_v
    logphi = _gauss_logpdf(r, s)
    logits = jnp.where(mask & (p > 0), jnp.log(jnp.where(p > 0, p, 1.0)) + logphi, -jnp.inf)
    logZ = jax.scipy.special.logsumexp(logits, axis=-1)
    pi = jnp.where(mask, jax.nn.softmax(logits, axis=-1), 0.0)
    ratio = jnp.where(mask, jnp.exp(jnp.minimum(logphi - logZ[:, None], 700.0)), 0.0)
    g_k = jnp.einsum("nl,nlm->nm", ratio, J)
    return logZ, g_k, pi * r / s
