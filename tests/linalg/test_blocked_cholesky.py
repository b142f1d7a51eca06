"""What only the blocked Cholesky engine has: its storage plan, the leading block inverses
(``inv00``) and the case without random effects; and that the production cross-product
builder hands it the blocks the dense tests use.

The contract both engines meet is tested in ``test_cholesky_engines.py``; the problems
and their dense truth are in ``tests/_cholesky_problems.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
from _cholesky_problems import CASES, RTOL, Problem, assert_factor_matches, crossproducts, dense_truth

from mixedlm.linalg.blocked_cholesky import BlockedCholesky


@pytest.mark.parametrize("name", list(CASES))
def test_storage_plan(name):
    """Term 1 is stored block diagonal exactly for the nested designs (each level of term 0 meets
    one level of term 1), and the factor still equals the dense truth."""
    prob, T, nested = CASES[name]()
    fac = BlockedCholesky(crossproducts(prob))
    assert fac.nested1 == nested
    assert fac.factor(T)
    assert_factor_matches(fac, prob, T)


def test_no_random_effects():
    """K = 0: nothing to factor but [X y]'W[X y]; log det is 0 and û is empty."""
    rng = np.random.default_rng(21)
    n = 50
    X = np.column_stack([np.ones(n), rng.standard_normal((n, 2))])
    prob = Problem([], [], [], X, rng.standard_normal(n), rng.uniform(0.5, 2.0, n))
    fac = BlockedCholesky(crossproducts(prob))
    assert fac.factor([])
    assert fac.logdet_zz() == 0.0
    XY = prob.XY()
    np.testing.assert_allclose(fac.fixed_factor(), np.linalg.cholesky(XY.T @ (prob.w[:, None] * XY)), rtol=RTOL)
    assert fac.solve_u(np.zeros(3)).shape == (0,)


@pytest.mark.parametrize("name", ["scalar", "vector", "nested_vector"])
def test_leading_term_block_inverses(name):
    """``inv00`` (used by adaptive quadrature) holds L_j⁻¹ with L_j L_jᵀ = T'D_jT + I the dense Cholesky
    factor of level j's diagonal block of Λ'Z'WZΛ + I."""
    prob, T, _ = CASES[name](weights=True)
    fac = BlockedCholesky(crossproducts(prob))
    assert fac.factor(T)
    MZZ = dense_truth(prob, T).MZZ
    S = prob.S[0]
    want = np.stack(
        [np.linalg.inv(np.linalg.cholesky(MZZ[j * S : (j + 1) * S, j * S : (j + 1) * S])) for j in range(prob.nlev[0])]
    )
    np.testing.assert_allclose(fac.inv00, want, rtol=RTOL, atol=1e-14)


@pytest.mark.parametrize("name", ["crossed_scalar_vector", "nested_vector", "three_nested_crossed"])
def test_production_crossproducts_are_the_blocks_used_here(name):
    """The engine's real input (:class:`CrossProductBuilder`) has the layout of the dense blocks built
    here — the same pattern, block order and values — so these tests exercise the format fits use."""
    from mixedlm.design.crossprod import CrossProductBuilder
    from mixedlm.design.reterm import ReTerm

    prob, T, _ = CASES[name](weights=True)
    terms = [
        ReTerm(
            group=f"g{k}",
            levels=[str(j) for j in range(prob.nlev[k])],
            codes=prob.codes[k],
            Z=prob.Zr[k],
            colnames=[f"c{s}" for s in range(prob.S[k])],
            tri_rows=np.tril_indices(prob.S[k])[0],
            tri_cols=np.tril_indices(prob.S[k])[1],
            theta_index=np.arange(prob.S[k] * (prob.S[k] + 1) // 2),
        )
        for k in range(prob.K)
    ]
    got = CrossProductBuilder(terms).build(prob.X, prob.y, prob.w)
    want = crossproducts(prob)
    for k in range(prob.K):
        np.testing.assert_allclose(got.diag[k], want.diag[k], rtol=1e-12)
        np.testing.assert_allclose(got.fixed[k], want.fixed[k], rtol=1e-12, atol=1e-12)
    assert set(got.offdiag) == set(want.offdiag)
    for key, B in want.offdiag.items():
        np.testing.assert_array_equal(got.offdiag[key].colptr, B.colptr)
        np.testing.assert_array_equal(got.offdiag[key].rows, B.rows)
        np.testing.assert_allclose(got.offdiag[key].values, B.values, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got.fixed_fixed, want.fixed_fixed, rtol=1e-12)
    fac = BlockedCholesky(got)
    assert fac.factor(T)
    assert_factor_matches(fac, prob, T)
