r"""A compiled L-BFGS minimiser: the whole iteration is one ``lax.while_loop``.

Direction :math:`d = -H g` by the two-loop recursion over the last ``memory`` pairs
:math:`(s_i, y_i) = (x_{i+1} - x_i, g_{i+1} - g_i)` with :math:`H_0 = \gamma I`,
:math:`\gamma = s^\top y / y^\top y` of the newest pair (:math:`1/|g|` before the first);
a pair is stored only if :math:`s^\top y > 10^{-10}|s||y|` (positive curvature, so :math:`H`
stays positive definite on a non-convex objective). Step: backtracking from :math:`t = 1`
(halving, at most 40 trials) until Armijo's condition :math:`f(x + td) \le f(x) + 10^{-4} t
g^\top d`; each trial is one evaluation of the value and gradient, and most iterations accept
:math:`t = 1`, so an iteration costs about one evaluation.

Stops with a status: ``1`` the largest gradient component is below ``gtol``; ``2`` the relative
decrease of :math:`f` is below ``ftol``; ``3`` ``max_iter`` iterations done; ``4`` no step
decreased :math:`f` (at the precision limit, or a failure); ``5`` a non-finite value.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

from attnlab._jax import jax, jnp

__all__ = ["STATUS", "LBFGSState", "minimize_lbfgs"]

STATUS = {
    0: "running",
    1: "gradient below gtol",
    2: "relative decrease below ftol",
    3: "iteration cap reached",
    4: "line search found no decrease",
    5: "non-finite objective or gradient",
}
ARMIJO = 1e-4
MAX_TRIALS = 40


class LBFGSState(NamedTuple):
    x: Any
    f: Any
    g: Any
    S: Any
    Y: Any
    rho: Any
    stored: Any
    gamma: Any
    it: Any
    n_eval: Any
    status: Any


def _direction(state: LBFGSState, memory: int) -> Any:
    """Two-loop recursion, newest pair first (unfilled slots have rho = 0: no effect)."""
    newest = state.stored - 1

    def first(i: Any, carry: Any) -> Any:
        q, alphas = carry
        j = jnp.mod(newest - i, memory)
        a = state.rho[j] * jnp.dot(state.S[j], q)
        return q - a * state.Y[j], alphas.at[j].set(a)

    q, alphas = jax.lax.fori_loop(0, memory, first, (state.g, jnp.zeros(memory, state.g.dtype)))
    r = state.gamma * q

    def second(i: Any, r: Any) -> Any:
        j = jnp.mod(newest - (memory - 1 - i), memory)
        b = state.rho[j] * jnp.dot(state.Y[j], r)
        return r + state.S[j] * (alphas[j] - b)

    return -jax.lax.fori_loop(0, memory, second, r)


def _line_search(fun: Callable, args: tuple, state: LBFGSState, d: Any) -> tuple:
    slope = jnp.dot(state.g, d)

    def cond(c: tuple) -> Any:
        t, f_new, _, trials = c
        ok = jnp.isfinite(f_new) & (f_new <= state.f + ARMIJO * t * slope)
        return (~ok) & (trials < MAX_TRIALS)

    def body(c: tuple) -> tuple:
        t, _, _, trials = c
        t = jnp.where(trials == 0, 1.0, 0.5 * t)
        f_new, g_new = fun(state.x + t * d, *args)
        return t, f_new, g_new, trials + 1

    dt = state.x.dtype
    init = (jnp.array(2.0, dt), jnp.array(jnp.inf, dt), state.g, jnp.array(0))
    t, f_new, g_new, trials = jax.lax.while_loop(cond, body, init)
    ok = jnp.isfinite(f_new) & (f_new <= state.f + ARMIJO * t * slope)
    return t, f_new, g_new, trials, ok


def _step(
    fun: Callable,
    args: tuple,
    memory: int,
    max_iter: Any,
    gtol: Any,
    ftol: Any,
    state: LBFGSState,
) -> LBFGSState:
    d = _direction(state, memory)
    descent = jnp.dot(state.g, d) < 0
    d = jnp.where(descent, d, -state.g * state.gamma)  # safeguard: steepest descent
    t, f_new, g_new, trials, ok = _line_search(fun, args, state, d)
    s = t * d
    y = g_new - state.g
    sy = jnp.dot(s, y)
    keep = ok & (sy > 1e-10 * jnp.linalg.norm(s) * jnp.linalg.norm(y))
    slot = jnp.mod(state.stored, memory)
    S = jnp.where(keep, state.S.at[slot].set(s), state.S)
    Y = jnp.where(keep, state.Y.at[slot].set(y), state.Y)
    rho = jnp.where(keep, state.rho.at[slot].set(1.0 / jnp.where(keep, sy, 1.0)), state.rho)
    gamma = jnp.where(keep, sy / jnp.dot(y, y), state.gamma)
    finite = jnp.isfinite(f_new) & jnp.all(jnp.isfinite(g_new))
    x = jnp.where(ok, state.x + s, state.x)
    f = jnp.where(ok, f_new, state.f)
    g = jnp.where(ok, g_new, state.g)
    decrease = (state.f - f) / jnp.maximum(jnp.maximum(jnp.abs(state.f), jnp.abs(f)), 1.0)
    it = state.it + 1
    status = jnp.where(
        ~ok,
        jnp.where(finite, 4, 5),
        jnp.where(
            jnp.max(jnp.abs(g)) <= gtol,
            1,
            jnp.where(decrease <= ftol, 2, jnp.where(it >= max_iter, 3, 0)),
        ),
    )
    return LBFGSState(
        x, f, g, S, Y, rho, state.stored + keep, gamma, it, state.n_eval + trials, status
    )


@functools.partial(jax.jit, static_argnums=(0, 1))
def minimize_lbfgs(
    fun: Callable[..., tuple[Any, Any]],
    memory: int,
    x0: Any,
    args: tuple,
    max_iter: Any,
    gtol: Any,
    ftol: Any,
) -> LBFGSState:
    """Minimise ``fun(x, *args) -> (value, gradient)`` from ``x0`` (module docstring).

    Parameters
    ----------
    fun : callable
        Value and gradient (a jax function; static).
    memory : int
        Number of stored pairs (static).
    x0 : jax.Array
        Start, shape ``(n,)``.
    args : tuple
        Extra arguments of ``fun`` (data).
    max_iter, gtol, ftol : scalars
        Caps and tolerances (traced).

    Returns
    -------
    LBFGSState
        The final state; ``status`` as in :data:`STATUS`.
    """
    f0, g0 = fun(x0, *args)
    n = x0.shape[0]
    dt = x0.dtype
    state = LBFGSState(
        x=x0,
        f=f0,
        g=g0,
        S=jnp.zeros((memory, n), dt),
        Y=jnp.zeros((memory, n), dt),
        rho=jnp.zeros(memory, dt),
        stored=jnp.array(0),
        gamma=1.0 / jnp.maximum(jnp.linalg.norm(g0), 1e-30),
        it=jnp.array(0),
        n_eval=jnp.array(1),
        status=jnp.where(
            jnp.isfinite(f0) & jnp.all(jnp.isfinite(g0)),
            jnp.where(jnp.max(jnp.abs(g0)) <= gtol, 1, 0),
            5,
        ),
    )

    step = functools.partial(_step, fun, args, memory, max_iter, gtol, ftol)
    return jax.lax.while_loop(lambda s: s.status == 0, step, state)
