"""The CHOLMOD engine against the mixed-model equations formed densely, and against the blocked engine.

The problems, the dense truth and the battery of checks are those of
``test_blocked_cholesky.py`` (imported from it, so both engines are held to the very
same dense computations): ``Z``, ``Λ(θ)``, ``W`` and ``[X y]`` are built densely and the
system ``[Λ'Z'WZΛ + I, Λ'Z'W[X y]; …, [X y]'W[X y]]`` is solved with NumPy.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg as sla
from test_blocked_cholesky import (
    CASES,
    RTOL,
    Problem,
    _theta_path,
    assert_factor_matches,
    case_crossed,
    case_scalar,
    crossproducts,
    dense_truth,
)

from mixedlm.linalg.blocked_cholesky import BlockedCholesky
from mixedlm.linalg.sparse_cholesky import SparseCholesky


@pytest.mark.parametrize("weights", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("name", list(CASES))
def test_factor_matches_dense_equations(name, weights):
    """log det(Λ'Z'WZΛ+I) (CHOLMOD's, with its fill-reducing permutation), the [X y] Schur factor
    (R_X, l_y, r), β̂, û, aᵀM⁻¹a and the diagonal blocks of (Λ'Z'WZΛ+I)⁻¹ equal the dense ones."""
    prob, T, _ = CASES[name](weights=weights)
    fac = SparseCholesky(crossproducts(prob))
    assert fac.factor(T)
    assert_factor_matches(fac, prob, T)


@pytest.mark.parametrize("name", list(CASES))
def test_both_engines_agree_with_the_dense_truth(name):
    """On the same weighted problem and θ, the blocked and CHOLMOD engines both equal the dense truth,
    hence each other: log det, the [X y] factor, û(β) and aᵀM⁻¹a."""
    prob, T, _ = CASES[name](weights=True)
    A = crossproducts(prob)
    blocked, sparse = BlockedCholesky(A), SparseCholesky(A)
    assert blocked.factor(T) and sparse.factor(T)
    tr = assert_factor_matches(blocked, prob, T)
    assert_factor_matches(sparse, prob, T)
    np.testing.assert_allclose(sparse.logdet_zz(), blocked.logdet_zz(), rtol=RTOL)
    np.testing.assert_allclose(sparse.fixed_factor(), blocked.fixed_factor(), rtol=RTOL, atol=1e-10)
    np.testing.assert_allclose(sparse.solve_u(tr.beta), blocked.solve_u(tr.beta), rtol=RTOL, atol=1e-10)


@pytest.mark.parametrize(
    "name,T",
    [
        ("scalar", [np.array([[0.0]])]),
        ("vector", [np.array([[1.1, 0.0], [-0.4, 0.0]])]),
        ("vector", [np.array([[0.0, 0.0], [0.7, 0.5]])]),
        ("crossed", [np.array([[0.9]]), np.array([[0.0]])]),
        ("nested_vector", [np.array([[0.8, 0.0], [0.2, 0.0]]), np.array([[0.0, 0.0], [0.0, 0.0]])]),
        ("three_crossed", [np.zeros((2, 2)), np.array([[0.5, 0.0], [-0.2, 0.9]]), np.array([[0.0]])]),
    ],
    ids=[
        "scalar-zero",
        "vector-T11_zero",
        "vector-T00_zero",
        "crossed-h_zero",
        "nested_vector-T11_and_batch_zero",
        "three_crossed-g_and_k_zero",
    ],
)
def test_boundary_theta(name, T):
    """θ on the boundary (zero template entries: Λ singular, entries of the analysed pattern absent
    from M): the numeric factorization still equals the dense truth; zeroed terms have û = 0."""
    prob, _, _ = CASES[name](weights=True)
    fac = SparseCholesky(crossproducts(prob))
    assert fac.factor(T)
    tr = assert_factor_matches(fac, prob, T)
    off = np.concatenate([[0], np.cumsum([l * s for l, s in zip(prob.nlev, prob.S)])])
    for k, t in enumerate(T):
        if not np.any(t):
            np.testing.assert_allclose(fac.solve_u(tr.beta)[off[k] : off[k + 1]], 0.0, atol=1e-14)


@pytest.mark.parametrize("name", ["crossed", "nested", "three_crossed"])
def test_all_theta_zero_is_weighted_least_squares(name):
    """At θ = 0: M_ZZ = I (log det 0) and the [X y] factor is chol([X y]'W[X y])."""
    prob, T, _ = CASES[name](weights=True)
    T0 = [np.zeros_like(t) for t in T]
    fac = SparseCholesky(crossproducts(prob))
    assert fac.factor(T0)
    assert abs(fac.logdet_zz()) < 1e-14
    XY = prob.XY()
    np.testing.assert_allclose(fac.fixed_factor(), np.linalg.cholesky(XY.T @ (prob.w[:, None] * XY)), rtol=RTOL)


@pytest.mark.parametrize(
    "name", ["scalar", "vector", "crossed_scalar_vector", "nested_vector", "three_nested_crossed", "three_crossed"]
)
def test_refactor_at_new_theta_equals_fresh_factor(name):
    """Numeric refactorization on the one symbolic analysis, along a θ path through a boundary point:
    at each θ the dense truth and the numbers of a freshly analysed factor."""
    prob, T, _ = CASES[name](weights=True)
    A = crossproducts(prob)
    fac = SparseCholesky(A)
    rng = np.random.default_rng(3)
    for Tn in _theta_path(T, rng):
        assert fac.factor(Tn)
        assert_factor_matches(fac, prob, Tn)
        fresh = SparseCholesky(A)
        assert fresh.factor(Tn)
        assert fac.logdet_zz() == pytest.approx(fresh.logdet_zz(), rel=1e-13, abs=1e-13)
        np.testing.assert_allclose(fac.fixed_factor(), fresh.fixed_factor(), rtol=1e-13, atol=1e-13)
        beta = rng.standard_normal(prob.p)
        np.testing.assert_allclose(fac.solve_u(beta), fresh.solve_u(beta), rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("name", ["vector", "crossed_vector", "nested", "three_nested_crossed"])
def test_reset_values_new_weights(name):
    """PIRLS's update (``reset_values`` with ``A`` for new weights and response, same pattern): the
    factor is that of the new dense weighted equations."""
    prob, T, _ = CASES[name](weights=True)
    fac = SparseCholesky(crossproducts(prob))
    assert fac.factor(T)
    rng = np.random.default_rng(5)
    prob2 = Problem(
        codes=prob.codes,
        Zr=prob.Zr,
        nlev=prob.nlev,
        X=prob.X,
        y=prob.y + rng.standard_normal(prob.n),
        w=rng.uniform(0.1, 5.0, prob.n),
    )
    fac.reset_values(crossproducts(prob2))
    assert fac.factor(T)
    assert_factor_matches(fac, prob2, T)


def test_not_positive_definite_is_reported_and_recovered():
    """Z'WZ indefinite on one level (negative weights): CHOLMOD's failure at a large θ is reported as
    False, and the next numeric factorization at a small θ equals the dense truth."""
    prob, _, _ = case_scalar()
    w = prob.w.copy()
    w[prob.codes[0] == 0] = -1.0  # 1 − 10 θ² < 0 for θ > 0.32
    prob = Problem(prob.codes, prob.Zr, prob.nlev, prob.X, prob.y, w)
    fac = SparseCholesky(crossproducts(prob))
    assert not fac.factor([np.array([[1.0]])])
    assert not fac.ok
    assert fac.factor([np.array([[0.1]])])
    assert_factor_matches(fac, prob, [np.array([[0.1]])])


@pytest.mark.parametrize("name", ["scalar", "nested_vector", "three_crossed"])
def test_fixed_block_failures(name):
    """[X y] Schur complement: a negative last pivot is accepted as r = 0 with R_X, l_y the dense
    Cholesky factor; a negative pivot inside the X block makes the factorization fail."""
    prob, T, _ = CASES[name]()
    p = prob.p
    tr = dense_truth(prob, T)
    A = crossproducts(prob)
    A.fixed_fixed[p, p] -= tr.pwrss + 1.0
    fac = SparseCholesky(A)
    assert fac.factor(T)
    LXX = fac.fixed_factor()
    assert LXX[p, p] == 0.0
    np.testing.assert_allclose(LXX[:, :p], np.linalg.cholesky(tr.schur)[:, :p], rtol=RTOL, atol=1e-10)
    A = crossproducts(prob)
    A.fixed_fixed[0, 0] -= tr.schur[0, 0] + 1.0
    fac = SparseCholesky(A)
    assert not fac.factor(T)
    assert not fac.ok


def test_exact_fit_response():
    """y = Xβ exactly: minimum penalized RSS 0 at u = 0; accepted with r ≈ 0, β recovered, û = 0."""
    prob, T, _ = case_crossed()
    y = prob.X @ np.array([1.5, -2.0])
    prob = Problem(prob.codes, prob.Zr, prob.nlev, prob.X, y, prob.w)
    fac = SparseCholesky(crossproducts(prob))
    assert fac.factor(T)
    p = prob.p
    LXX = fac.fixed_factor()
    assert LXX[p, p] ** 2 < 1e-12 * (y @ y)
    beta = sla.solve_triangular(np.tril(LXX[:p, :p]), LXX[p, :p], lower=True, trans="T")
    np.testing.assert_allclose(beta, [1.5, -2.0], rtol=1e-10)
    np.testing.assert_allclose(fac.solve_u(beta), 0.0, atol=1e-10)


@pytest.mark.parametrize("name", ["scalar", "vector", "nested", "three_crossed"])
def test_no_fixed_effects(name):
    """p = 0: r² = y'Wy − y'WZΛ M_ZZ⁻¹ Λ'Z'Wy, û = M_ZZ⁻¹Λ'Z'Wy, aᵀM_ZZ⁻¹a for a = a_Z."""
    prob, T, _ = CASES[name](weights=True)
    prob = Problem(prob.codes, prob.Zr, prob.nlev, np.zeros((prob.n, 0)), prob.y, prob.w)
    fac = SparseCholesky(crossproducts(prob))
    assert fac.factor(T)
    assert fac.fixed_factor().shape == (1, 1)
    assert_factor_matches(fac, prob, T)
