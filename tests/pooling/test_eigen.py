"""Eigen-analysis: block Krylov for operator families vs dense eigh, caps, smaller Gram."""

import os

import numpy as np
import pytest

from attnlab import ParameterError
from attnlab.pooling import (
    EigenConvergenceError,
    covariance_eigenvalues,
    lanczos_top,
    thin_product,
    top_eigenpairs,
)


@pytest.mark.parametrize("columns", [1, 2, 4, 5])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_thin_product_equals_the_matrix_product(columns, dtype):
    rng = np.random.default_rng(3)
    A = rng.standard_normal((70, 40)).astype(dtype)
    B = rng.standard_normal((40, columns)).astype(dtype)
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(thin_product(A, B), A @ B, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(thin_product(A.T, B[:, 0] @ A.T), A.T @ (B[:, 0] @ A.T), rtol=rtol)
    Y = rng.standard_normal((70, columns)).astype(dtype)
    out = thin_product(A.T, Y)
    assert out.dtype == dtype and out.shape == (40, columns)
    np.testing.assert_allclose(out, A.T @ Y, rtol=rtol, atol=rtol)


@pytest.mark.parametrize(("N", "d"), [(30, 12), (12, 30)])
def test_eigenvalues_via_smaller_gram(N, d):
    X = np.random.default_rng(0).standard_normal((N, d))
    ref = np.sort(np.linalg.eigvalsh(X.T @ X / N))[::-1]
    np.testing.assert_allclose(covariance_eigenvalues(X), np.maximum(ref, 0), atol=1e-10)


@pytest.mark.parametrize(("N", "d"), [(300, 120), (80, 200)])
def test_lanczos_top_k_equals_dense(N, d):
    X = np.random.default_rng(1).standard_normal((N, d))
    X[:, 0] *= 3
    v1, u1 = top_eigenpairs(X, 3)
    v2, u2 = top_eigenpairs(X, 3, method="dense")
    np.testing.assert_allclose(v1, v2, rtol=1e-9)
    np.testing.assert_allclose(np.abs(np.sum(u1 * u2, 0)), 1.0, rtol=1e-8)


def test_one_krylov_space_serves_a_family_of_rank_two_changes():
    """A_j = B + D M_j Dᵀ for 6 couplings: each top eigenpair equals the dense one."""
    rng = np.random.default_rng(2)
    d = 150
    X = rng.standard_normal((300, d))
    B = X.T @ X / 300
    D = rng.standard_normal((d, 2)) / np.sqrt(d)
    M = np.zeros((6, 2, 2))
    M[:, 0, 0] = np.linspace(0, 8, 6)
    M[:, 0, 1] = M[:, 1, 0] = np.linspace(0, 2, 6)
    res = lanczos_top(lambda V: B @ V, d, directions=D, couplings=M, tol=1e-10)
    assert res.converged.all()
    for j in range(6):
        lam, vec = np.linalg.eigh(B + D @ M[j] @ D.T)
        np.testing.assert_allclose(res.values[j, 0], lam[-1], rtol=1e-10)
        np.testing.assert_allclose(abs(res.vectors[j, :, 0] @ vec[:, -1]), 1.0, atol=1e-8)


def test_iteration_cap_reports_non_convergence():
    X = np.random.default_rng(3).standard_normal((400, 200))
    res = lanczos_top(lambda V: X.T @ (X @ V) / 400, 200, max_iter=3, tol=1e-12)
    assert not res.converged[0] and res.iterations[0] == 3 and res.residuals[0] > 1e-12
    with pytest.raises(EigenConvergenceError, match="did not converge"):
        top_eigenpairs(X, 1, max_iter=3, tol=1e-12)


def test_small_operators_are_diagonalised_densely():
    A = np.diag([1.0, 5.0, 3.0])
    res = lanczos_top(lambda V: A @ V, 3, k=2)
    np.testing.assert_allclose(res.values[0], [5.0, 3.0])


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: top_eigenpairs(np.ones(3)), "N x d"),
        (lambda: top_eigenpairs(np.full((3, 3), np.nan)), "non-finite"),
        (lambda: top_eigenpairs(np.ones((5, 4)), method="arpack"), "method"),
        (lambda: top_eigenpairs(np.ones((5, 4)), k=5), "k = 5"),
        (lambda: lanczos_top(lambda V: V, 100, tol=0.0), "tol = 0"),
        (lambda: lanczos_top(lambda V: V, 100, couplings=np.ones((2, 1, 1))), "couplings"),
        (lambda: lanczos_top(lambda V: V, 100, start=np.zeros(100)), "start"),
    ],
)
def test_invalid_inputs(call, match):
    with pytest.raises(ParameterError, match=match) as err:
        call()
    assert "\n" not in str(err.value)


def test_thin_product_in_row_blocks_equals_the_matrix_product():
    """A matrix over SPLIT_BYTES is multiplied in row blocks side by side (both layouts),
    except within side-by-side trials, where it is one block."""
    from attnlab.pooling._blas import SPLIT_BYTES, row_blocks, within_trials

    rng = np.random.default_rng(4)
    A = rng.standard_normal((SPLIT_BYTES // 8 // 500 + 7, 500))
    B = rng.standard_normal((500, 2))
    Y = rng.standard_normal((A.shape[0], 3))
    assert len(row_blocks(A.shape[0], A.nbytes)) == min(os.cpu_count() or 1, A.shape[0])
    with within_trials():
        assert len(row_blocks(A.shape[0], A.nbytes)) == 1
    np.testing.assert_allclose(thin_product(A, B), A @ B, rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(thin_product(A.T, Y), A.T @ Y, rtol=1e-12, atol=1e-10)
