r"""The compiled damped (Anderson-accelerated) iteration of the replica equations.

One call of :func:`iterate` runs the whole iteration to convergence (or its cap) in a single
``lax.while_loop``: the channel statistics of every effective example
(:func:`attnlab.gslr._prox.channel_statistics`, vectorised), the conjugate order parameters,
the prior side, and the next iterate.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

from attnlab._jax import jax, jnp
from attnlab.gslr._activations import Activation
from attnlab.gslr._prox import channel_statistics

__all__ = ["STRATEGIES", "iterate"]

# relative residual below which Anderson steps replace damped ones, per attempt: near the fixed
# point only; then from the start (an unstable direction that damping cannot fix); then never
STRATEGIES = (0.05, float("inf"), 0.0)
# confirming full passes that undo what the fast passes converged to, each by at least half as
# much as the one before (a cycle, not a settling), before the iteration is declared caught in
# a discontinuity of the Monte-Carlo map (status 4)
MAX_JUMPS = 4


def _prior(hats: Any, r: Any) -> Any:
    mh_k, qh_k, Vh_k, mh_v, qh_v, Vh_v = (hats[i] for i in range(6))
    V_k, V_v = 1.0 / (r + Vh_k), 1.0 / (r + Vh_v)
    return jnp.stack(
        [mh_k * V_k, (mh_k**2 + qh_k) * V_k**2, V_k, mh_v * V_v, (mh_v**2 + qh_v) * V_v**2, V_v]
    )


def _channel(
    sigma: Activation, state: Any, alpha: Any, chi: Any, samples: tuple, starts: Any, steps: Any
) -> tuple:
    stats, chi_new = jax.vmap(
        lambda s, c: channel_statistics(sigma, state, s, c, starts, steps), in_axes=(0, 0)
    )(samples, chi)
    mean = stats[:, :7].mean(0)
    Vh_k = alpha * mean[2] / state[2]
    Vh_v = alpha * mean[5] / state[5]
    hats = jnp.stack(
        [
            alpha * mean[1] + state[0] * Vh_k,
            alpha * mean[0],
            Vh_k,
            alpha * mean[4] + state[3] * Vh_v,
            alpha * mean[3],
            Vh_v,
        ]
    )
    bad = jnp.max(stats[:, 8])
    return hats, mean[6], jnp.maximum(jnp.max(stats[:, 7]), bad), bad > 0, chi_new


class _Loop(NamedTuple):
    x: Any
    chi: Any
    eta: Any
    prev: Any
    it: Any
    status: Any
    residual: Any
    prox_res: Any
    loss: Any
    confirm: Any
    probe: Any  # the coming full pass checks a point the fast passes converged to
    jumps: Any  # confirming full passes in a row that found it was not a fixed point
    jump: Any  # the residual of the last of them
    xs: Any  # Anderson history: base points, newest first
    fs: Any  # and their scaled residuals (F(x) - x)/scale
    stored: Any
    safe: Any  # the last accepted point, F there, its residual, and whether x is an AA step
    safe_new: Any
    safe_res: Any
    last_aa: Any


def _anderson(x: Any, new: Any, eta: Any, xs: Any, fs: Any, stored: Any) -> tuple[Any, Any]:
    """Anderson-accelerated step from ``x`` given ``new = F(x)`` (damped mixing ``eta``):
    ``x + η f - Σ_j γ_j (Δx_j + η Δf_j)``, ``γ`` the regularised least-squares fit of the
    scaled residual ``f`` by its differences to the stored points."""
    memory = xs.shape[0]
    scale = jnp.maximum(jnp.abs(x), 1e-2)
    f = (new - x) / scale
    valid = jnp.arange(memory) < stored
    dX = jnp.where(valid[:, None], (x[None, :] - xs) / scale, 0.0)
    dF = jnp.where(valid[:, None], f[None, :] - fs, 0.0)
    gram = dF @ dF.T
    gram = gram + (1e-10 * jnp.trace(gram) + 1e-30) * jnp.eye(memory)
    gamma = jnp.where(valid, jnp.linalg.solve(gram, dF @ f), 0.0)
    return x + scale * (eta * f - gamma @ (dX + eta * dF)), f


@functools.partial(jax.jit, static_argnums=(0, 3))
def iterate(
    sigma: Activation,
    n_newton: int,
    fast_newton: int,
    memory: int,
    x0: Any,
    chi0: Any,
    alpha: Any,
    r: Any,
    samples: tuple,
    opts: tuple,
) -> _Loop:
    """Iterate :math:`x \\leftarrow` (damped or accelerated) :math:`F(x)` to convergence or
    ``max_iter`` (module docstring of :mod:`attnlab.gslr._replica`).

    Far from the fixed point (relative residual above ``anderson_start``, traced) the steps are
    damped, :math:`\\eta` shrinking when the residual grows; closer, Anderson steps, each kept
    only if the next residual is at most twice the last accepted one (and finite); otherwise
    the iteration returns to the accepted point, takes a damped step with a smaller
    :math:`\\eta` and restarts the Anderson history.
    """
    tol, prox_tol, max_iter, damping, confirm_every, warm, anderson_start = opts

    def body(s: _Loop) -> _Loop:
        # a full pass first (unless the prox points are warm), then every confirm_every
        full = s.confirm | (jnp.mod(s.it, confirm_every) == 0) & ((s.it > 0) | ~warm)
        starts = jnp.where(full, 3, 1)
        steps = jnp.where(full, n_newton, fast_newton)
        hats, loss, prox_res, bad, chi = _channel(sigma, s.x, alpha, s.chi, samples, starts, steps)
        # a fast pass that left an example off a strict local minimum of its prox (a Hessian
        # not positive definite: near a fold of the prox, where its statistics blow up) is
        # not used; the same point is evaluated again by a full pass
        redo = bad & ~full
        new = _prior(hats, r)
        finite = jnp.all(jnp.isfinite(new)) & jnp.isfinite(loss)
        residual = jnp.max(jnp.abs(new - s.x) / jnp.maximum(jnp.abs(s.x), 1e-2))
        small = finite & (residual < tol) & (prox_res < prox_tol)
        converged = small & full
        reject = s.last_aa & ~small & (~finite | (residual > 2.0 * s.safe_res))
        base = jnp.where(reject, s.safe, s.x)
        base_new = jnp.where(reject, s.safe_new, new)
        base_res = jnp.where(reject, s.safe_res, residual)
        # damped steps: a growing residual shrinks η; a rejected Anderson step does too and
        # restarts the history (mild growth under Anderson steps is normal)
        grew = (~full & ~s.last_aa & (base_res > s.prev)) | reject
        eta = jnp.where(grew, jnp.maximum(0.7 * s.eta, 0.1), s.eta)
        stored = jnp.where(reject, 0, s.stored)
        step, f, use_aa = _next_step(
            memory, base, base_new, base_res, eta, s, stored, anderson_start
        )
        x = jnp.where(converged, new, jnp.where(small, s.x, step))
        x = x.at[1].set(jnp.maximum(x[1], x[0] ** 2)).at[4].set(jnp.maximum(x[4], x[3] ** 2))
        it = s.it + 1
        failed = ~finite & ~reject
        status = jnp.where(failed, 2, jnp.where(converged, 1, jnp.where(it >= max_iter, 3, 0)))
        x = jnp.where(failed | redo, s.x, x)
        status = jnp.where(redo, jnp.where(it >= max_iter, 3, 0), status)
        undone = full & s.probe & ~small
        cycling = residual >= 0.5 * s.jump  # not a shrinking series of corrections
        jumps = jnp.where(undone, jnp.where(cycling, s.jumps + 1, 1), s.jumps)
        status = jnp.where((status == 0) & (jumps >= MAX_JUMPS), 4, status)
        record = finite & ~small & ~reject & ~redo & (memory > 0)
        xs = jnp.where(record, jnp.roll(s.xs, 1, axis=0).at[0].set(base), s.xs)
        fs = jnp.where(record, jnp.roll(s.fs, 1, axis=0).at[0].set(f), s.fs)
        keep = functools.partial(jnp.where, redo)
        return _Loop(
            x=x,
            chi=chi,
            eta=keep(s.eta, eta),
            prev=keep(s.prev, jnp.where(full, s.prev, base_res)),
            it=it,
            status=status,
            residual=residual,
            prox_res=prox_res,
            loss=loss,
            confirm=(small & ~full) | redo,
            probe=small & ~full,
            jumps=jumps,
            jump=jnp.where(undone, residual, s.jump),
            xs=xs,
            fs=fs,
            stored=keep(s.stored, jnp.minimum(stored + record, memory)),
            safe=keep(s.safe, base),
            safe_new=keep(s.safe_new, base_new),
            safe_res=keep(s.safe_res, base_res),
            last_aa=keep(s.last_aa, use_aa & ~small),
        )

    return jax.lax.while_loop(
        lambda s: s.status == 0, body, _initial_loop(x0, chi0, damping, memory)
    )


def _initial_loop(x0: Any, chi0: Any, damping: Any, memory: int) -> _Loop:
    """The loop state before the first step: no history, no accepted point yet."""
    hist = jnp.zeros((max(memory, 1), x0.shape[0]))
    inf = jnp.inf
    init = _Loop(x0, chi0, damping, inf, 0, 0, inf, inf, jnp.nan, False, False, 0, 0.0, hist,
                 hist, 0, x0, x0, inf, False)  # fmt: skip
    return jax.tree.map(jnp.asarray, init)


def _next_step(memory, base, base_new, base_res, eta, s, stored, anderson_start):
    """The damped step :math:`(1 - \\eta) x + \\eta F(x)`, or the Anderson step when the
    history allows it: finite, positive variances, within 30 damped step lengths, and the
    residual below ``anderson_start``. Returns (step, F(x) - x for the history, used Anderson)."""
    damped = (1 - eta) * base + eta * base_new
    if not memory:
        return damped, jnp.zeros_like(base), jnp.array(False)
    step, f = _anderson(base, base_new, eta, s.xs, s.fs, stored)
    scale = jnp.maximum(jnp.abs(base), 1e-2)
    length = jnp.max(jnp.abs(step - base) / scale)
    cap = 30.0 * jnp.max(jnp.abs(damped - base) / scale)
    use_aa = (stored > 0) & jnp.all(jnp.isfinite(step)) & (step[2] > 0) & (step[5] > 0)
    use_aa = use_aa & (base_res < anderson_start) & (length <= cap)
    return jnp.where(use_aa, step, damped), f, use_aa
