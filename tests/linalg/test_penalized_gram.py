"""linalg/penalized_gram.py against dense NumPy: Gram matrices, the penalized normal matrix
and its three factorizations, and the bordered solve."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from mixedlm.linalg.penalized_gram import (
    BorderedFactor,
    DiagonalLead,
    PenalizedFactor,
    RowPairs,
    WeightedGram,
    factor_penalized,
)


def _design(seed: int = 3, n: int = 240, na: int = 60, nb: int = 7, p: int = 2):
    """Dense X; Z = [indicator of a (60 levels) | indicator of b times a covariate | a free column]."""
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, na, n), rng.integers(0, nb, n)
    x = rng.standard_normal(n)
    Za = np.zeros((n, na))
    Za[np.arange(n), a] = 1.0
    Zb = np.zeros((n, nb))
    Zb[np.arange(n), b] = x
    free = rng.standard_normal((n, 1)) * (rng.uniform(size=(n, 1)) < 0.3)
    Z = np.hstack([Za, Zb, free])
    X = np.column_stack([np.ones(n), rng.standard_normal((n, p - 1))]) if p else np.zeros((n, 0))
    groups = np.repeat([0, 1, 2], [na, nb, 1])
    return X, Z, groups, rng


def _dense_M(X, Z, d, s, ridge):
    A = np.hstack([X, Z * s[None, :]])
    M = A.T @ (d[:, None] * A)
    p = X.shape[1]
    M[np.arange(p), np.arange(p)] += ridge
    M[np.arange(p, M.shape[0]), np.arange(p, M.shape[0])] += 1.0
    return M


def test_row_pairs_values_and_grams():
    """S ZᵀDZ S, ZᵀD(Z∘Z) and (Z∘Z)ᵀD(Z∘Z) on the stored pattern equal the dense products."""
    X, Z, _g, rng = _design()
    d = rng.uniform(0.2, 3.0, Z.shape[0])
    s = rng.uniform(0.1, 2.0, Z.shape[1])
    pairs = RowPairs(sp.csc_matrix(Z))
    assert pairs.ok
    dense = np.zeros((Z.shape[1],) * 2)
    dense[pairs.rows, pairs.cols] = pairs.values(d, s)
    np.testing.assert_allclose(dense, (Z * s).T @ (d[:, None] * (Z * s)), rtol=1e-13, atol=1e-13)
    Z2 = Z * Z
    for kind, (L, R) in {"mm": (Z, Z), "mr": (Z, Z2), "rr": (Z2, Z2)}.items():
        out = np.zeros_like(dense)
        out[pairs.rows, pairs.cols] = pairs.gram(d, kind)
        np.testing.assert_allclose(out, L.T @ (d[:, None] * R), rtol=1e-13, atol=1e-13, err_msg=kind)
    assert not RowPairs(sp.csc_matrix(Z), max_pairs=10).ok


@pytest.mark.parametrize("p", [0, 2])
def test_quarter_matrices_dense_and_sparse(p):
    """[[G_mm, G_mr S₂], [S₂ G_mrᵀ, S₂ G_rr S₂]] + diag: both builders equal the dense formula."""
    X, Z, _g, rng = _design(p=p)
    gram = WeightedGram(X, sp.csc_matrix(Z))
    n, nw = Z.shape[0], p + Z.shape[1]
    d_mm, d_mr, d_rr = (rng.normal(size=n) for _ in range(3))
    s2 = rng.uniform(0.1, 1.0, nw)
    top, bottom = rng.normal(size=nw), rng.normal(size=nw)
    A = np.hstack([X, Z])
    A2 = A * A
    truth = np.block(
        [
            [A.T @ (d_mm[:, None] * A), (A.T @ (d_mr[:, None] * A2)) * s2[None, :]],
            [((A.T @ (d_mr[:, None] * A2)) * s2[None, :]).T, (A2.T @ (d_rr[:, None] * A2)) * np.outer(s2, s2)],
        ]
    )
    truth[np.arange(nw), np.arange(nw)] += top
    truth[nw + np.arange(nw), nw + np.arange(nw)] += bottom
    np.testing.assert_allclose(gram.quarters_dense(d_mm, d_mr, d_rr, s2, top, bottom), truth, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(
        gram.quarters_sparse(d_mm, d_mr, d_rr, s2, top, bottom).toarray(), truth, rtol=1e-12, atol=1e-12
    )


@pytest.mark.parametrize("path", ["dense", "cholmod", "lead"])
@pytest.mark.parametrize("p", [0, 2])
def test_penalized_factor_solves_inverts_and_diag(path, p):
    """M⁻¹b, M⁻¹B, diag(M) and M⁻¹ from each factorization equal dense NumPy."""
    X, Z, groups, rng = _design(p=p)
    gram = WeightedGram(X, sp.csc_matrix(Z))
    d = rng.uniform(0.05, 2.0, Z.shape[0])
    s = rng.uniform(0.2, 1.5, Z.shape[1])
    ridge = 0.25
    lead = DiagonalLead.find(gram, groups) if path == "lead" else None
    if path == "lead":
        assert lead is not None and lead.q1 == 60  # the 60-level indicator never shares a row
    fac = factor_penalized(gram, d, s, ridge, dense=path == "dense", lead=lead)
    M = _dense_M(X, Z, d, s, ridge)
    b = rng.normal(size=M.shape[0])
    Bm = rng.normal(size=(M.shape[0], 3))
    np.testing.assert_allclose(fac.solve(b), np.linalg.solve(M, b), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(fac.solve(Bm), np.linalg.solve(M, Bm), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(fac.diag(), np.diag(M), rtol=1e-13)
    np.testing.assert_allclose(fac.inverse(), np.linalg.inv(M), rtol=1e-9, atol=1e-12)


def test_diagonal_lead_needs_disjoint_rows():
    """No group qualifies when its columns share rows, or it is smaller than min_size."""
    X, Z, groups, _rng = _design()
    gram = WeightedGram(X, sp.csc_matrix(Z))
    assert DiagonalLead.find(gram, groups, min_size=61) is None
    Zs = Z.copy()
    Zs[0, :2] = 1.0  # row 0 now touches two levels of the first group
    assert DiagonalLead.find(WeightedGram(X, sp.csc_matrix(Zs)), groups) is None


def test_not_positive_definite():
    """Negative weights making M indefinite: LinAlgError (dense) and None (bordered)."""
    X, Z, _g, rng = _design()
    gram = WeightedGram(X, sp.csc_matrix(Z))
    d = -np.ones(Z.shape[0]) * 5.0
    with pytest.raises(np.linalg.LinAlgError):
        PenalizedFactor(gram, d, np.ones(Z.shape[1]), 0.0, dense=True)
    A = -np.eye(4)
    assert BorderedFactor.try_factor(A, np.zeros((4, 1)), np.eye(1)) is None
    assert BorderedFactor.try_factor(sp.csc_matrix(A), np.zeros((4, 1)), np.eye(1)) is None


@pytest.mark.parametrize("sparse", [False, True])
def test_bordered_solve(sparse):
    """[[A + λ_A I, B], [Bᵀ, C + λ_C I]] x = g by elimination equals np.linalg.solve."""
    rng = np.random.default_rng(8)
    na, nc = 30, 4
    R = rng.normal(size=(na, na)) * (rng.uniform(size=(na, na)) < 0.2)
    A = R @ R.T + np.eye(na)
    B = rng.normal(size=(na, nc)) * 0.3
    C = np.eye(nc) * 5.0
    lam_a, lam_c = 0.7, 0.2
    fac = BorderedFactor.try_factor(sp.csc_matrix(A) if sparse else A, B, C, lam_a)
    assert fac is not None
    g = rng.normal(size=na + nc)
    full = np.block([[A + lam_a * np.eye(na), B], [B.T, C + lam_c * np.eye(nc)]])
    np.testing.assert_allclose(fac.solve(g, lam_c), np.linalg.solve(full, g), rtol=1e-10, atol=1e-12)
    assert fac.solve(g, -100.0) is None  # the Schur complement is no longer positive definite
