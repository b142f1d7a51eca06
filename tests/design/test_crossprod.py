"""CrossProductBuilder: every block of ``A = [Z X y]' W [Z X y]`` against dense products.

The reference is the dense ``n × q`` matrix ``Z`` (factorization order, level-major
within a term) built here from the codes, and ``A`` computed with NumPy matmuls.
"""

from __future__ import annotations

import numpy as np
import pytest

from mixedlm.design.crossprod import CrossProductBuilder, build_crossproducts
from mixedlm.design.reterm import TermInput, build_re_structure


def _dense_Z(term) -> np.ndarray:
    n, S = term.Z.shape
    out = np.zeros((n, term.nlev * S))
    rows = np.arange(n)
    for s in range(S):
        out[rows, term.codes * S + s] = term.Z[:, s]
    return out


def _pair_dense(block, nlev_i: int, S_i: int, nlev_j: int, S_j: int) -> np.ndarray:
    out = np.zeros((nlev_i * S_i, nlev_j * S_j))
    r, c, v = block.to_coo()
    np.add.at(out, (r, c), v)
    return out


def _design(seed: int, n: int, spec, p: int):
    """Random unbalanced design: spec = [(group, nlev, S)], p fixed columns."""
    rng = np.random.default_rng(seed)
    inputs = []
    for g, nlev, S in spec:
        codes = np.concatenate([np.arange(nlev), rng.integers(0, nlev, n - nlev)])
        rng.shuffle(codes)
        Z = np.column_stack([np.ones(n)] + [rng.normal(size=n) for _ in range(S - 1)])
        inputs.append(
            TermInput(
                group=g,
                codes=codes.astype(np.int64),
                levels=[str(k) for k in range(nlev)],
                Z=Z,
                colnames=[f"c{s}" for s in range(S)],
                correlated=True,
            )
        )
    re = build_re_structure(inputs)
    X = np.asfortranarray(
        np.column_stack([np.ones(n)] + [rng.normal(size=n) for _ in range(p - 1)]) if p else np.empty((n, 0))
    )
    y = rng.normal(size=n) * 3 + 1
    w = rng.uniform(0.2, 3.0, size=n)
    return re, X, y, w


def _check_against_dense(re, A, X, y, w):
    n = X.shape[0]
    wv = np.ones(n) if w is None else w
    Zs = [_dense_Z(t) for t in re.terms]
    XY = np.column_stack([X, y])
    assert A.n == n and A.p == X.shape[1]
    assert A.nlevs == [t.nlev for t in re.terms] and A.S == [t.S for t in re.terms]
    np.testing.assert_allclose(A.fixed_fixed, XY.T @ (wv[:, None] * XY), rtol=1e-11, atol=1e-9)
    for k, (t, Zk) in enumerate(zip(re.terms, Zs)):
        ZtWZ = Zk.T @ (wv[:, None] * Zk)
        assert A.diag[k].shape == (t.nlev, t.S, t.S)
        for lev in range(t.nlev):
            sl = slice(lev * t.S, (lev + 1) * t.S)
            np.testing.assert_allclose(A.diag[k][lev], ZtWZ[sl, sl], rtol=1e-11, atol=1e-10)
        # A_kk has nothing off its block diagonal (one level per row)
        mask = np.kron(np.eye(t.nlev), np.ones((t.S, t.S))) == 0
        assert np.all(ZtWZ[mask] == 0)
        assert A.fixed[k].shape == (X.shape[1] + 1, t.q)
        np.testing.assert_allclose(A.fixed[k], XY.T @ (wv[:, None] * Zk), rtol=1e-11, atol=1e-10)
    assert set(A.offdiag) == {(i, j) for i in range(len(Zs)) for j in range(i)}
    for (i, j), blk in A.offdiag.items():
        ti, tj = re.terms[i], re.terms[j]
        dense = Zs[i].T @ (wv[:, None] * Zs[j])
        np.testing.assert_allclose(_pair_dense(blk, ti.nlev, ti.S, tj.nlev, tj.S), dense, rtol=1e-11, atol=1e-10)
        # stored pattern = exactly the level pairs that occur, by column then row
        occurring = sorted({(cj, ci) for ci, cj in zip(ti.codes, tj.codes)})
        assert list(zip(blk.column_of_block().tolist(), blk.rows.tolist())) == occurring
        assert blk.colptr[0] == 0 and blk.colptr[-1] == blk.nnz and len(blk.colptr) == tj.nlev + 1


@pytest.mark.parametrize(
    "spec, p",
    [
        ([("g", 7, 1)], 2),
        ([("g", 5, 2)], 3),
        ([("g", 9, 1), ("h", 4, 1)], 1),  # crossed scalar terms
        ([("g", 6, 3), ("h", 11, 1), ("k", 3, 2)], 4),  # mixed sizes, reordered by q
        ([("g", 4, 2), ("h", 5, 2)], 0),  # no fixed effects
    ],
)
@pytest.mark.parametrize("weighted", [False, True])
def test_blocks_match_dense(spec, p, weighted):
    re, X, y, w = _design(seed=len(spec) * 10 + p, n=60, spec=spec, p=p)
    A = CrossProductBuilder(re.terms).build(X, y, w if weighted else None)
    _check_against_dense(re, A, X, y, w if weighted else None)
    if weighted:
        assert A.sum_log_weights == pytest.approx(np.sum(np.log(w)), rel=1e-13)
    else:
        assert A.sum_log_weights == 0.0


def test_log_weights_flag_and_convenience_function():
    re, X, y, w = _design(seed=3, n=40, spec=[("g", 5, 2), ("h", 3, 1)], p=2)
    builder = CrossProductBuilder(re.terms)
    A = builder.build(X, y, w, log_weights=False)
    assert A.sum_log_weights == 0.0
    _check_against_dense(re, A, X, y, w)
    B = build_crossproducts(re.terms, X, y, w)
    assert B.sum_log_weights == pytest.approx(np.sum(np.log(w)))
    np.testing.assert_array_equal(B.fixed_fixed, A.fixed_fixed)


def test_rebuild_with_new_response_weights_and_X():
    """PIRLS reuses one builder: every build must reflect its own inputs only."""
    re, X, y, w = _design(seed=8, n=50, spec=[("g", 6, 2), ("h", 4, 1)], p=2)
    builder = CrossProductBuilder(re.terms)
    A1 = builder.build(X, y, w)
    first_ff = A1.fixed_fixed.copy()
    rng = np.random.default_rng(81)
    y2, w2 = rng.normal(size=50), rng.uniform(0.5, 2.0, 50)
    A2 = builder.build(X, y2, w2)  # same X object, new y and w
    _check_against_dense(re, A2, X, y2, w2)
    np.testing.assert_array_equal(A1.fixed_fixed, first_ff)  # earlier result not overwritten
    X3 = np.asfortranarray(np.column_stack([X, rng.normal(size=50)]))
    A3 = builder.build(X3, y2, None)  # new X with another p
    _check_against_dense(re, A3, X3, y2, None)
    A4 = builder.build(np.ascontiguousarray(X), y, w)  # C-ordered X, back to the first inputs
    _check_against_dense(re, A4, X, y, w)


def test_integer_response_and_noncontiguous_weights():
    re, X, _, _ = _design(seed=4, n=30, spec=[("g", 4, 1)], p=2)
    y = np.arange(30) % 5  # int64 response
    w_long = np.repeat(np.linspace(0.5, 1.5, 30), 2)
    w = w_long[::2]  # strided view
    A = CrossProductBuilder(re.terms).build(X, y, w)
    _check_against_dense(re, A, X, y.astype(float), np.ascontiguousarray(w))


def test_small_handmade_example():
    # two rows in level 0, one in level 1; scalar term; X = intercept
    inp = TermInput(
        group="g",
        codes=np.array([0, 1, 0]),
        levels=["a", "b"],
        Z=np.ones((3, 1)),
        colnames=["(Intercept)"],
        correlated=True,
    )
    re = build_re_structure([inp])
    A = CrossProductBuilder(re.terms).build(np.ones((3, 1)), np.array([1.0, 2.0, 4.0]), np.array([1.0, 2.0, 0.5]))
    np.testing.assert_allclose(A.diag[0][:, 0, 0], [1.5, 2.0])
    np.testing.assert_allclose(A.fixed[0], [[1.5, 2.0], [1.0 + 2.0, 4.0]])
    np.testing.assert_allclose(A.fixed_fixed, [[3.5, 7.0], [7.0, 1 + 8 + 8]])
    assert A.sum_log_weights == pytest.approx(np.log(2.0) + np.log(0.5))
