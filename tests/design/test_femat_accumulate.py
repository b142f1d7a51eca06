"""Fixed-effects rank check (femat) and the compiled kernels (accumulate, linpred).

The rank rule is lme4's (``chkRank.drop.cols``: R's ``qr(X, tol = 1e-7)``, LINPACK
``dqrdc2`` limited pivoting — a column is dropped when its part orthogonal to the
earlier kept columns is below ``tol`` times its own norm; earlier columns win).  The
kernels are compared with dense NumPy products, with output buffers pre-filled with
garbage to check they are zeroed / accumulated as documented.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from mixedlm.design.accumulate import pair_sums, term_sums, weighted_crossprod
from mixedlm.design.femat import RANK_TOL, build_fixed_effects, kept_columns
from mixedlm.design.linpred import add_term_effects

# ------------------------------------------------------------------ femat


@pytest.fixture
def rng():
    return np.random.default_rng(7)


def test_full_rank_kept_unchanged(rng):
    X = np.column_stack([np.ones(20), rng.normal(size=(20, 3))])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fe = build_fixed_effects(X, ["(Intercept)", "a", "b", "c"])
    assert fe.p == 4 and fe.dropped == [] and fe.names == ["(Intercept)", "a", "b", "c"]
    assert fe.kept.tolist() == [0, 1, 2, 3] and fe.kept.dtype == np.int64
    assert fe.X.flags.f_contiguous and fe.X.dtype == np.float64
    np.testing.assert_array_equal(fe.X, X)


def test_dependent_columns_dropped_later_ones(rng):
    n = 25
    a, b = rng.normal(size=n), rng.normal(size=n)
    X = np.column_stack([np.ones(n), a, b, 2 * a - 3 * b, np.zeros(n), a, 5.0 + b])
    names = ["(Intercept)", "a", "b", "a_b", "zero", "a_again", "b_shift"]
    with pytest.warns(UserWarning) as record:
        fe = build_fixed_effects(X, names)
    assert fe.kept.tolist() == [0, 1, 2]
    assert fe.dropped == ["a_b", "zero", "a_again", "b_shift"]
    assert fe.names == ["(Intercept)", "a", "b"] and fe.full_names == names
    np.testing.assert_array_equal(fe.X, X[:, :3])
    assert np.linalg.matrix_rank(X) == fe.p
    (w,) = record
    assert str(w.message) == (
        "fixed-effect model matrix is rank deficient so dropping 4 columns / coefficients: a_b, zero, a_again, b_shift"
    )
    assert w.filename == __file__  # attributed to the caller, not to mixedlm


def test_single_drop_message_singular(rng):
    X = np.column_stack([np.ones(10), np.ones(10) * 3.0])
    with pytest.warns(
        UserWarning,
        match=r"^fixed-effect model matrix is rank deficient so dropping "
        r"1 column / coefficient: dup$",
    ):
        fe = build_fixed_effects(X, ["(Intercept)", "dup"])
    assert fe.names == ["(Intercept)"]


def test_first_of_two_collinear_columns_wins(rng):
    x = rng.normal(size=15)
    X = np.column_stack([x * 1e3, x])  # the second is redundant whatever its scale
    assert kept_columns(X).tolist() == [0]
    assert kept_columns(X[:, ::-1]).tolist() == [0]


@pytest.mark.parametrize("eps, kept", [(1e-9, [0, 1]), (1e-5, [0, 1, 2])])
def test_relative_tolerance(rng, eps, kept):
    n = 30
    a, b, e = rng.normal(size=n), rng.normal(size=n), rng.normal(size=n)
    e -= np.column_stack([a, b]) @ np.linalg.lstsq(np.column_stack([a, b]), e, rcond=None)[0]
    c = 1e4 * (a + b)  # huge norm: the tolerance is relative to it
    c = c + eps * np.linalg.norm(c) * e / np.linalg.norm(e)
    assert kept_columns(np.column_stack([a, b, c])).tolist() == kept
    assert RANK_TOL == 1e-7


def test_no_columns():
    fe = build_fixed_effects(np.empty((5, 0)), [])
    assert fe.p == 0 and fe.kept.tolist() == [] and fe.dropped == []


# ------------------------------------------------------------------ accumulate


def _garbage(shape):
    return np.full(shape, 123.456)


@pytest.mark.parametrize("S", [1, 3])
def test_term_sums(rng, S):
    n, nlev, m = 40, 5, 3
    codes = rng.integers(0, nlev, n).astype(np.int64)
    Z = np.ascontiguousarray(rng.normal(size=(n, S)))
    XY = np.asfortranarray(rng.normal(size=(n, m)))
    w = rng.uniform(0.1, 2.0, n)
    D, F = _garbage((nlev, S, S)), _garbage((nlev, S, m))
    term_sums(codes, Z, XY, w, D, F)
    for lev in range(nlev):
        r = codes == lev
        np.testing.assert_allclose(D[lev], (Z[r] * w[r, None]).T @ Z[r], rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(F[lev], (Z[r] * w[r, None]).T @ XY[r], rtol=1e-12, atol=1e-13)


def test_term_sums_empty_level_is_zero(rng):
    codes = np.array([0, 0, 2, 2], dtype=np.int64)
    D, F = _garbage((3, 2, 2)), _garbage((3, 2, 1))
    term_sums(codes, np.ones((4, 2)), np.ones((4, 1), order="F"), np.ones(4), D, F)
    assert np.all(D[1] == 0) and np.all(F[1] == 0)
    np.testing.assert_array_equal(D[0], [[2, 2], [2, 2]])


@pytest.mark.parametrize("Si, Sj", [(1, 1), (2, 1), (1, 3), (2, 2)])
def test_pair_sums(rng, Si, Sj):
    n, nnz = 50, 7
    inv = np.concatenate([np.arange(nnz), rng.integers(0, nnz, n - nnz)]).astype(np.int64)
    Zi, Zj = rng.normal(size=(n, Si)), rng.normal(size=(n, Sj))
    w = rng.uniform(0.5, 1.5, n)
    vals = _garbage((nnz, Si, Sj))
    pair_sums(inv, Zi, Zj, w, vals)
    for k in range(nnz):
        r = inv == k
        np.testing.assert_allclose(vals[k], (Zi[r] * w[r, None]).T @ Zj[r], rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("order", ["F", "C"])
def test_weighted_crossprod(rng, order):
    XY = np.array(rng.normal(size=(33, 4)), order=order)
    w = rng.uniform(0.0, 2.0, 33)
    out = _garbage((4, 4))
    weighted_crossprod(XY, w, out)
    np.testing.assert_allclose(out, XY.T @ (w[:, None] * XY), rtol=1e-12)
    np.testing.assert_array_equal(out, out.T)


# ------------------------------------------------------------------ linpred


@pytest.mark.parametrize("S", [1, 2, 4])
def test_add_term_effects_is_Z_times_b_and_accumulates(rng, S):
    n, nlev = 30, 6
    codes = rng.integers(0, nlev, n).astype(np.int64)
    Z = rng.normal(size=(n, S))
    B = rng.normal(size=(nlev, S))
    Zfull = np.zeros((n, nlev * S))
    for i in range(n):
        Zfull[i, codes[i] * S : (codes[i] + 1) * S] = Z[i]
    start = rng.normal(size=n)
    out = start.copy()
    add_term_effects(out, codes, Z, B)
    np.testing.assert_allclose(out, start + Zfull @ B.ravel(), rtol=1e-12, atol=1e-14)
