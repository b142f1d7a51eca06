"""The compiled kernels of the blocked Cholesky and of the cross-product build, against dense NumPy.

Each kernel has specialised paths (scalar blocks, a target small enough for one
sweep, panels for large targets); every path is exercised on random block-sparse
matrices and compared with the same product formed densely.
"""

from __future__ import annotations

import numpy as np
import pytest

from mixedlm.design.accumulate import pair_sums, term_sums, weighted_crossprod
from mixedlm.design.linpred import add_term_effects
from mixedlm.linalg import kernels
from mixedlm.linalg.storage import PairBlock


def _random_pairblock(rng, n_row_lev, n_col_lev, Sr, Sc, density):
    """A random block-sparse matrix (rows ascending within each column) and its dense form."""
    rows, counts = [], []
    for _ in range(n_col_lev):
        r = np.flatnonzero(rng.random(n_row_lev) < density)
        rows.append(r)
        counts.append(r.size)
    colptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    rows_arr = np.concatenate(rows).astype(np.int64)
    vals = rng.standard_normal((rows_arr.size, Sr, Sc))
    B = PairBlock(colptr, rows_arr, vals)
    dense = np.zeros((n_row_lev * Sr, n_col_lev * Sc))
    r, c, v = B.to_coo()
    dense[r, c] = v
    return B, dense


@pytest.mark.parametrize("panel_entries", [1000, kernels.PANEL_ENTRIES, 10**9])
@pytest.mark.parametrize("Sr,Sc,n_row_lev", [(1, 1, 40), (1, 1, 300), (1, 2, 40), (2, 1, 30), (2, 3, 30), (1, 2, 300)])
def test_sparse_syrk_upper_matches_dense(Sr, Sc, n_row_lev, panel_entries):
    # 1000 entries: panels of a few target columns; 10**9: the whole target in one sweep
    rng = np.random.default_rng(Sr * 10 + Sc + n_row_lev)
    B, dense = _random_pairblock(rng, n_row_lev, 150, Sr, Sc, 0.15)
    m = n_row_lev * Sr
    C0 = rng.standard_normal((m, m))
    C = np.asfortranarray(C0.copy())
    kernels.sparse_syrk_upper(B.colptr, B.rows, B.values, C, panel_entries)
    expected = C0 - dense @ dense.T
    # only the block upper triangle is updated; the rest is left as it was
    upper = np.kron(np.triu(np.ones((n_row_lev, n_row_lev))), np.ones((Sr, Sr))) > 0
    np.testing.assert_allclose(C[upper], expected[upper], rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(C[~upper], C0[~upper])


@pytest.mark.parametrize("Sr,Sc", [(1, 1), (1, 2), (2, 2), (2, 1)])
def test_dense_sparse_nt_and_t_matvec_match_dense(Sr, Sc):
    rng = np.random.default_rng(7 + Sr + 3 * Sc)
    B, dense = _random_pairblock(rng, 25, 60, Sr, Sc, 0.2)
    D = np.asfortranarray(rng.standard_normal((4, 60 * Sc)))
    C0 = rng.standard_normal((4, 25 * Sr))
    C = np.asfortranarray(C0.copy())
    kernels.dense_sparse_nt(D, B.colptr, B.rows, B.values, C)
    np.testing.assert_allclose(C, C0 - D @ dense.T, rtol=1e-12, atol=1e-12)
    x = rng.standard_normal(25 * Sr)
    out = np.empty(60 * Sc)
    kernels.sparse_t_matvec(B.colptr, B.rows, B.values, x, out)
    np.testing.assert_allclose(out, dense.T @ x, rtol=1e-12, atol=1e-12)


def _indicator(codes, nlev, Z):
    n, S = Z.shape
    M = np.zeros((n, nlev * S))
    for s in range(S):
        M[np.arange(n), codes * S + s] = Z[:, s]
    return M


@pytest.mark.parametrize("S", [1, 2, 3])
def test_term_sums_and_crossprod_match_dense(S):
    rng = np.random.default_rng(S)
    n, nlev, m = 500, 17, 4
    codes = rng.integers(0, nlev, n).astype(np.int64)
    Z = rng.standard_normal((n, S)) if S > 1 else np.ones((n, 1))
    XY = np.asfortranarray(rng.standard_normal((n, m)))
    w = rng.uniform(0.1, 2.0, n)
    D = np.empty((nlev, S, S))
    F = np.empty((nlev, S, m))
    term_sums(codes, Z, XY, w, D, F)
    M = _indicator(codes, nlev, Z)
    full = M.T @ (w[:, None] * M)
    for lev in range(nlev):
        blk = slice(lev * S, (lev + 1) * S)
        np.testing.assert_allclose(D[lev], full[blk, blk], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(F.reshape(nlev * S, m), M.T @ (w[:, None] * XY), rtol=1e-12, atol=1e-12)
    XX = np.empty((m, m))
    weighted_crossprod(XY, w, XX)
    np.testing.assert_allclose(XX, XY.T @ (w[:, None] * XY), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("Si,Sj", [(1, 1), (2, 1), (1, 2)])
def test_pair_sums_match_dense(Si, Sj):
    rng = np.random.default_rng(Si * 5 + Sj)
    n, npairs = 400, 37
    inv = rng.integers(0, npairs, n).astype(np.int64)
    Zi = rng.standard_normal((n, Si))
    Zj = rng.standard_normal((n, Sj))
    w = rng.uniform(0.1, 2.0, n)
    vals = np.empty((npairs, Si, Sj))
    pair_sums(inv, Zi, Zj, w, vals)
    for k in range(npairs):
        rows = inv == k
        np.testing.assert_allclose(vals[k], Zi[rows].T @ (w[rows, None] * Zj[rows]), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("S", [1, 2])
def test_add_term_effects_matches_dense(S):
    rng = np.random.default_rng(30 + S)
    n, nlev = 300, 11
    codes = rng.integers(0, nlev, n).astype(np.int64)
    Z = rng.standard_normal((n, S))
    B = rng.standard_normal((nlev, S))
    out = np.ones(n)
    add_term_effects(out, codes, Z, B)
    np.testing.assert_allclose(out, 1.0 + _indicator(codes, nlev, Z) @ B.ravel(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("S", [1, 2, 3])
def test_leading_term_factor_matches_dense(S):
    rng = np.random.default_rng(40 + S)
    nlev, m = 9, 3
    G = rng.standard_normal((nlev, S, 2 * S))
    D = np.matmul(G, np.transpose(G, (0, 2, 1)))  # SPD blocks
    F = rng.standard_normal((m, nlev * S))
    T = np.tril(rng.uniform(0.2, 1.5, (S, S)))
    L = np.empty((nlev, S, S))
    Linv = np.empty_like(L)
    LX = np.empty((m, nlev * S), order="F")
    assert kernels.leading_term_factor(D, F, T, L, Linv, LX)
    for j in range(nlev):
        M = T.T @ D[j] @ T + np.eye(S)
        np.testing.assert_allclose(L[j], np.linalg.cholesky(M), rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(Linv[j], np.linalg.inv(L[j]), rtol=1e-12, atol=1e-13)
        cols = slice(j * S, (j + 1) * S)
        np.testing.assert_allclose(LX[:, cols], F[:, cols] @ T @ np.linalg.inv(L[j]).T, rtol=1e-12, atol=1e-13)
    # a block that is not positive definite is reported
    D[4] = -10.0 * np.eye(S)
    assert not kernels.leading_term_factor(D, F, np.eye(S), L, Linv, LX)
