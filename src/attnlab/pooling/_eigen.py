"""Eigen-analysis of pooled data without forming the d × d covariance.

- :func:`lanczos_top` the top eigenpairs of a whole family of operators ``B + D M_j Dᵀ`` that
  differ by low-rank terms in a fixed span ``D`` (e.g. ``Ĉ(ℓ)`` for every ``ℓ`` of a grid) from
  one block Krylov space of ``B`` started at ``[v_0, D]``: each step costs one product of ``B``
  with a block of ``1 + rank D`` vectors, whatever the number of operators. Full
  re-orthogonalisation (two classical Gram–Schmidt passes) keeps the basis orthonormal; the
  step count is capped and operators not converged by then are reported as such
  (``converged`` False), never silently used.
- :func:`top_eigenpairs` the top eigenpairs of ``Ĉ = XᵀX/N`` for one data matrix, on the
  smaller of the ``d`` and ``N`` sides (``method="dense"``: the full ``eigh`` reference).
- :func:`covariance_eigenvalues` all eigenvalues from the smaller Gram matrix.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg as sla

from attnlab._validate import ParameterError, check_choice, check_int, check_range
from attnlab.pooling._blas import one_blas_thread, row_blocks, thread_pool

__all__ = [
    "EigenConvergenceError",
    "TopEigenpairs",
    "covariance_eigenvalues",
    "lanczos_top",
    "thin_product",
    "top_eigenpairs",
]

BlockOperator = Callable[[np.ndarray], np.ndarray]
DENSE_BELOW = 64  # operators this small are diagonalised densely
THIN_COLUMNS = 4  # blocks with at most this many columns are multiplied column by column


def thin_product(A: Any, B: np.ndarray) -> np.ndarray:
    """``A B`` for a block ``B`` of a few columns, one matrix–vector product per column.

    BLAS's matrix–matrix kernel first copies ``A`` into packed panels; for a handful of
    columns that copy costs more than streaming ``A`` once per column through the
    matrix–vector kernel (both are bound by reading ``A`` from memory). Wider blocks use the
    matrix–matrix product. A large ``A`` is split into row blocks computed side by side
    (:func:`attnlab.pooling._blas.row_blocks`).

    Parameters
    ----------
    A : numpy.ndarray, shape (n, m)
        Dense (a transposed view is fine).
    B : numpy.ndarray, shape (m,) or (m, p)

    Returns
    -------
    numpy.ndarray, shape (n,) or (n, p)
    """
    if B.ndim == 1 or B.shape[1] > THIN_COLUMNS:
        return A @ B
    out = np.empty((A.shape[0], B.shape[1]), dtype=np.result_type(A, B))

    def block(rows: slice) -> None:
        for j in range(B.shape[1]):
            out[rows, j] = A[rows] @ B[:, j]

    blocks = row_blocks(A.shape[0], A.nbytes)
    if len(blocks) == 1:
        block(blocks[0])
    else:
        list(thread_pool().map(block, blocks))
    return out


class EigenConvergenceError(RuntimeError):
    """An eigensolver did not converge within its iteration cap (message says how far)."""


@dataclass(frozen=True)
class TopEigenpairs:
    """Top ``k`` eigenpairs of each of ``K`` operators.

    Attributes
    ----------
    values : numpy.ndarray, shape (K, k)
        Descending Ritz values.
    vectors : numpy.ndarray, shape (K, d, k)
        Unit Ritz vectors.
    converged : numpy.ndarray of bool, shape (K,)
    iterations : numpy.ndarray of int, shape (K,)
        Block steps taken when each operator converged (or at the cap).
    residuals : numpy.ndarray, shape (K,)
        Largest relative residual ``‖A v − θ v‖/|θ|`` of the ``k`` pairs.
    """

    values: np.ndarray
    vectors: np.ndarray
    converged: np.ndarray
    iterations: np.ndarray
    residuals: np.ndarray


def _orthonormal_start(start: np.ndarray | None, directions: np.ndarray) -> np.ndarray:
    """Orthonormal basis (rows) of span(start, directions), dependent columns dropped."""
    S = directions if start is None else np.column_stack([start, directions])
    Q, R, _ = sla.qr(S, mode="economic", pivoting=True)
    diag = np.abs(np.diag(R))
    rank = int(np.sum(diag > 1e-10 * diag[0]))
    return Q[:, :rank].T.copy()


class _BlockLanczos:
    """Block Lanczos on the base operator ``B`` with full re-orthogonalisation (twice)."""

    def __init__(self, apply: BlockOperator, first: np.ndarray, cap: int) -> None:
        p, d = first.shape
        self.apply, self.p = apply, p
        self.Q = np.zeros((p * (cap + 1), d))  # the basis, one row per vector
        self.Q[:p] = first
        self.H = np.zeros((p * (cap + 1), p * (cap + 1)))  # QᵀBQ, block tridiagonal
        self.last_B = np.zeros((p, p))

    def step(self, j: int) -> bool:
        """Block step ``j``; False if the Krylov space became invariant (breakdown)."""
        p, lo, hi = self.p, self.p * j, self.p * (j + 1)
        W = self.apply(self.Q[lo:hi].T)  # (d, p)
        A = thin_product(self.Q[lo:hi], W)
        self.H[lo:hi, lo:hi] = (A + A.T) / 2
        basis = self.Q[:hi]
        for _ in range(2):  # full re-orthogonalisation, twice is enough
            W -= thin_product(basis.T, thin_product(basis, W))
        Qn, Bn = np.linalg.qr(W)
        self.Q[hi : hi + p] = Qn.T
        self.H[hi : hi + p, lo:hi] = Bn
        self.H[lo:hi, hi : hi + p] = Bn.T
        self.last_B = Bn
        scale = max(np.abs(self.H[:hi, :hi]).max(), 1e-300)
        return bool(np.min(np.abs(np.diag(Bn))) > 1e-12 * scale)

    def ritz(self, m: int, shift: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, float]:
        """Top ``k`` Ritz pairs of ``B + D M Dᵀ`` on the first ``m`` basis vectors, ``shift``
        the projected perturbation (on the first block), and the largest relative residual."""
        H = self.H[:m, :m].copy()
        H[: self.p, : self.p] += shift
        k = min(k, m)
        theta, s = sla.eigh(H, subset_by_index=(m - k, m - 1), check_finite=False)
        theta, s = theta[::-1], s[:, ::-1]
        resid = np.linalg.norm(self.last_B @ s[m - self.p : m], axis=0)
        resid = resid / np.maximum(np.abs(theta), 1e-300)
        return theta, self.Q[:m].T @ s, float(resid.max())


def _dense_top(apply, d, directions, couplings, k) -> TopEigenpairs:
    """Small operators: ``B`` built column by column, then ``eigh`` of each ``B + D M Dᵀ``."""
    B = apply(np.eye(d))
    B = (B + B.T) / 2
    K = couplings.shape[0]
    values, vectors = np.empty((K, k)), np.empty((K, d, k))
    for j in range(K):
        A = B + directions @ couplings[j] @ directions.T
        theta, s = sla.eigh(A, subset_by_index=(d - k, d - 1))
        values[j], vectors[j] = theta[::-1], s[:, ::-1]
    return TopEigenpairs(values, vectors, np.ones(K, bool), np.ones(K, int), np.zeros(K))


def _family(
    d: int, directions: Any, couplings: Any, start: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Checked ``D`` (d × r), ``M`` (K × r × r) and start vector (``None``: start in span D)."""
    D = np.zeros((d, 0)) if directions is None else np.asarray(directions, float).reshape(d, -1)
    r = D.shape[1]
    M = np.zeros((1, r, r)) if couplings is None else np.asarray(couplings, float)
    if M.ndim != 3 or M.shape[1:] != (r, r) or not np.all(np.isfinite(M)):
        raise ParameterError(f"couplings must be a finite (K, {r}, {r}) array, got {M.shape}")
    v0 = None if start is None and r else np.ones(d) if start is None else np.asarray(start, float)
    if v0 is not None and (v0.shape != (d,) or not np.all(np.isfinite(v0)) or not np.any(v0)):
        raise ParameterError("start must be a finite, nonzero vector of length d")
    return D, M, v0


def lanczos_top(
    apply: BlockOperator,
    d: int,
    *,
    directions: np.ndarray | None = None,
    couplings: np.ndarray | None = None,
    k: int = 1,
    tol: float = 1e-6,
    max_iter: int = 500,
    check_every: int | None = None,
    start: np.ndarray | None = None,
) -> TopEigenpairs:
    """Top ``k`` eigenpairs of the family ``A_j = B + D M_j Dᵀ`` of symmetric operators.

    One block Krylov space serves the whole family: started from ``D`` (and ``v_0`` if given),
    the space ``K_m(B, D)`` contains ``K_m(A_j, v)`` for every ``j`` and every start ``v`` in
    ``span D`` (``A_j`` differs from ``B`` only inside ``span D``), so Rayleigh–Ritz of each
    ``A_j`` on it is at least as accurate as ``m`` Lanczos steps on ``A_j`` alone from such a
    start, and costs no product with the data beyond those of ``B``. Because ``D`` lies in the
    first block, ``A_j Q_m = Q_m H_j + Q_{m+1} B_{m+1} E_mᵀ`` exactly, with ``H_j`` the
    block-tridiagonal projection of ``B`` plus the projected perturbation; the residual of a Ritz pair ``(θ, Q_m s)`` is ``‖B_{m+1} s_{last block}‖``.
    An operator is converged when each of its top ``k`` pairs has ``‖A v − θ v‖ ≤ tol |θ|``
    (then ``|θ − λ| ≤ tol² θ²/gap``).

    Parameters
    ----------
    apply : callable
        ``apply(V) -> B V`` for a block ``V`` of shape ``(d, p)``.
    d : int
        Dimension.
    directions : numpy.ndarray, shape (d, r), optional
        ``D`` (default: none, a single operator ``B``).
    couplings : numpy.ndarray, shape (K, r, r), optional
        Symmetric ``M_j``, one per operator (default: one operator, ``M = 0``).
    k : int
        Eigenpairs per operator.
    tol : float
        Relative residual at convergence, in (0, 0.1].
    max_iter : int
        Cap on the block steps (the basis never exceeds ``d`` vectors).
    check_every : int, optional
        Block steps between convergence checks (default: every step for a single operator,
        every third step for a family, where a check costs one small eigensolve per operator).
    start : numpy.ndarray, shape (d,), optional
        An extra start vector ``v_0`` (default: none when ``D`` is given, else the all-ones
        vector; deterministic).

    Returns
    -------
    TopEigenpairs
        Operators not converged after ``max_iter`` steps have ``converged`` False.
    """
    d = check_int("d", d, lo=1)
    k = check_int("k", k, lo=1, hi=d)
    tol = check_range("tol", tol, lo=0, hi=0.1, lo_open=True)
    max_iter = check_int("max_iter", max_iter, lo=1)
    D, M, v0 = _family(d, directions, couplings, start)
    if check_every is None:
        check_every = 1 if M.shape[0] == 1 else 3
    check_every = check_int("check_every", check_every, lo=1)
    if d <= DENSE_BELOW:
        return _dense_top(apply, d, D, M, k)
    first = _orthonormal_start(v0, D)
    p = first.shape[0]
    cap = min(max_iter, d // p - 1)
    G = first @ D  # projection of D on the first block
    shifts = G @ M @ G.T  # (K, p, p)
    with one_blas_thread():
        return _iterate(apply, first, cap, k, tol, check_every, shifts)


def _iterate(apply, first, cap, k, tol, check_every, shifts) -> TopEigenpairs:
    """The block Lanczos iteration of :func:`lanczos_top` (one BLAS thread)."""
    p, d = first.shape
    K = shifts.shape[0]
    values, vectors = np.full((K, k), np.nan), np.full((K, d, k), np.nan)
    converged, iterations, residuals = np.zeros(K, bool), np.zeros(K, int), np.full(K, np.inf)
    lanczos = _BlockLanczos(apply, first, cap)
    for steps in range(1, cap + 1):
        alive = lanczos.step(steps - 1)
        if steps % check_every and steps < cap and alive:
            continue
        for op in np.flatnonzero(~converged):
            theta, vec, resid = lanczos.ritz(p * steps, shifts[op], k)
            values[op, : len(theta)], vectors[op, :, : len(theta)] = theta, vec
            residuals[op], iterations[op] = resid, steps
            converged[op] = resid <= tol or not alive
        if converged.all() or not alive:
            break
    return TopEigenpairs(values, vectors, converged, iterations, residuals)


def top_eigenpairs(
    X: Any, k: int = 1, *, method: str = "lanczos", tol: float = 1e-8, max_iter: int = 1000
) -> tuple[np.ndarray, np.ndarray]:
    """Top ``k`` eigenpairs of ``Ĉ = XᵀX/N`` for one ``N × d`` data matrix.

    Parameters
    ----------
    X : array_like, shape (N, d)
        Used as given (centre it first if wanted).
    k : int
        Number of eigenpairs, ``1 <= k <= min(N, d)``.
    method : {"lanczos", "dense"}
        Matrix-free Lanczos on the smaller side (``v ↦ Xᵀ(Xv)/N`` if ``d <= N``, else
        ``a ↦ X(Xᵀa)/N`` with ``u = Xᵀa/‖Xᵀa‖``), or the dense ``eigh`` of the ``d × d``
        covariance (the reference).
    tol, max_iter : float, int
        Lanczos residual tolerance and iteration cap.

    Returns
    -------
    values : numpy.ndarray, shape (k,)
        Descending.
    vectors : numpy.ndarray, shape (d, k)
        Unit eigenvectors of ``Ĉ``.

    Raises
    ------
    EigenConvergenceError
        If Lanczos has not converged after ``max_iter`` iterations.
    """
    X = _data_matrix(X)
    N, d = X.shape
    k = check_int("k", k, lo=1, hi=min(N, d))
    check_choice("method", method, ("lanczos", "dense"))
    if method == "dense":
        vals, vecs = sla.eigh(X.T @ X / N, subset_by_index=(d - k, d - 1), check_finite=False)
        return vals[::-1], vecs[:, ::-1]
    small_side = N < d
    if small_side:
        res = lanczos_top(
            lambda A: thin_product(X, thin_product(X.T, A)) / N, N, k=k, tol=tol, max_iter=max_iter
        )
    else:
        res = lanczos_top(
            lambda A: thin_product(X.T, thin_product(X, A)) / N, d, k=k, tol=tol, max_iter=max_iter
        )
    if not res.converged[0]:
        raise EigenConvergenceError(
            f"Lanczos did not converge: relative residual {res.residuals[0]:.2g} > {tol:g} "
            f"after {res.iterations[0]} iterations (max_iter = {max_iter})"
        )
    vals, vecs = res.values[0], res.vectors[0]
    if small_side:
        vecs = X.T @ vecs
        vecs /= np.linalg.norm(vecs, axis=0, keepdims=True)
    return vals, vecs


def covariance_eigenvalues(X: Any) -> np.ndarray:
    """All ``d`` eigenvalues of ``Ĉ = XᵀX/N``, descending, from the smaller Gram matrix.

    The ``min(N, d)`` eigenvalues of ``XᵀX/N`` (``d ≤ N``) or ``XXᵀ/N`` (``N < d``), and
    ``d − N`` zeros in the second case.

    Parameters
    ----------
    X : array_like, shape (N, d)
        Used as given (centre it first if wanted).

    Returns
    -------
    numpy.ndarray, shape (d,)

    Raises
    ------
    EigenConvergenceError
        If LAPACK's symmetric eigensolver fails to converge.
    """
    X = _data_matrix(X)
    N, d = X.shape
    gram = X.T @ X if d <= N else X @ X.T
    try:
        ev = np.linalg.eigvalsh(gram / N)
    except np.linalg.LinAlgError as err:
        raise EigenConvergenceError(f"dense eigensolver did not converge: {err}") from None
    if N < d:
        ev = np.concatenate([ev, np.zeros(d - N)])
    return np.sort(np.maximum(ev, 0.0))[::-1]


def _data_matrix(X: Any) -> np.ndarray:
    X = np.asarray(X, dtype=float)
    if X.ndim != 2 or X.shape[0] < 1 or X.shape[1] < 1:
        raise ParameterError(f"X must be an N x d matrix, got shape {X.shape}")
    if not np.all(np.isfinite(X)):
        raise ParameterError("X contains non-finite entries")
    return X
