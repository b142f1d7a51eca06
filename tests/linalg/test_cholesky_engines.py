"""The contract both Cholesky engines meet, against the mixed-model equations formed densely.

Each test runs on the blocked engine and on the CHOLMOD engine alike; the problems and
the dense truth are in ``tests/_cholesky_problems.py``.  What only one engine has (the
blocked storage plan, ``inv00``, ``K = 0``) is tested in ``test_blocked_cholesky.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg as sla
from _cholesky_problems import (
    CASES,
    RTOL,
    Problem,
    assert_factor_matches,
    case_crossed,
    case_scalar,
    crossproducts,
    dense_mzz,
    dense_truth,
    theta_path,
)

from mixedlm.linalg.blocked_cholesky import BlockedCholesky
from mixedlm.linalg.sparse_cholesky import SparseCholesky


def _set_blocked_values(fac, A):
    fac.A = A


def _set_sparse_values(fac, A):
    fac.reset_values(A)


#: (engine, how PIRLS hands it new values of the same pattern, refactor-vs-fresh tolerance)
ENGINES = {
    "blocked": (BlockedCholesky, _set_blocked_values, 1e-14),
    # CHOLMOD's fresh analysis may order the supernodes differently: agreement to 1e-13
    "cholmod": (SparseCholesky, _set_sparse_values, 1e-13),
}
engines = pytest.mark.parametrize("engine", list(ENGINES))


@engines
@pytest.mark.parametrize("weights", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("name", list(CASES))
def test_factor_matches_dense_equations(engine, name, weights):
    """log det(Λ'Z'WZΛ+I), the [X y] Schur factor (R_X, l_y, r), β̂, û, aᵀM⁻¹a and the diagonal
    blocks of (Λ'Z'WZΛ+I)⁻¹ equal their dense counterparts, for each design and with/without weights."""
    prob, T, _ = CASES[name](weights=weights)
    fac = ENGINES[engine][0](crossproducts(prob))
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


@engines
@pytest.mark.parametrize("name", ["scalar", "vector", "crossed_vector", "nested_vector", "three_crossed"])
def test_pwrss_is_the_penalized_least_squares_minimum(engine, name):
    """With positive weights, r² = min_{β,u} ‖W^½(y − Xβ − ZΛu)‖² + ‖u‖² (dense lstsq on the augmented
    design), and the engine's (β̂, û) attain it."""
    prob, T, _ = CASES[name](weights=True)
    fac = ENGINES[engine][0](crossproducts(prob))
    assert fac.factor(T)
    ZL = prob.Z() @ prob.Lam(T)
    q, p = ZL.shape[1], prob.p
    sw = np.sqrt(prob.w)[:, None]
    G = np.vstack([np.hstack([sw * ZL, sw * prob.X]), np.hstack([np.eye(q), np.zeros((q, p))])])
    rhs = np.concatenate([sw[:, 0] * prob.y, np.zeros(q)])
    coef = np.linalg.lstsq(G, rhs, rcond=None)[0]
    rss = float(np.sum((rhs - G @ coef) ** 2))
    LXX = fac.fixed_factor()
    np.testing.assert_allclose(LXX[p, p] ** 2, rss, rtol=1e-10)
    beta = sla.solve_triangular(np.tril(LXX[:p, :p]), LXX[p, :p], lower=True, trans="T")
    u = fac.solve_u(beta)
    np.testing.assert_allclose(np.concatenate([u, beta]), coef, rtol=1e-9, atol=1e-10)
    resid = prob.y - prob.X @ beta - ZL @ u
    np.testing.assert_allclose(np.sum(prob.w * resid**2) + u @ u, rss, rtol=1e-10)


BOUNDARY = {
    "scalar-zero": ("scalar", [np.array([[0.0]])]),
    "vector-T11_zero": ("vector", [np.array([[1.1, 0.0], [-0.4, 0.0]])]),  # rank-1 template
    "vector-T00_zero": ("vector", [np.array([[0.0, 0.0], [0.7, 0.5]])]),
    "crossed-h_zero": ("crossed", [np.array([[0.9]]), np.array([[0.0]])]),
    "crossed-g_zero": ("crossed", [np.array([[0.0]]), np.array([[0.5]])]),
    "nested-cask_zero": ("nested", [np.array([[0.0]]), np.array([[0.7]])]),
    "nested_vector-T11_and_batch_zero": (
        "nested_vector",
        [np.array([[0.8, 0.0], [0.2, 0.0]]), np.array([[0.0, 0.0], [0.0, 0.0]])],
    ),
    "three_nested_crossed-T11_and_h_zero": (
        "three_nested_crossed",
        [np.array([[0.9]]), np.array([[0.6, 0.0], [0.25, 0.0]]), np.array([[0.0]])],
    ),
    "three_crossed-g_and_k_zero": (
        "three_crossed",
        [np.zeros((2, 2)), np.array([[0.5, 0.0], [-0.2, 0.9]]), np.array([[0.0]])],
    ),
}


@engines
@pytest.mark.parametrize("case", list(BOUNDARY))
def test_boundary_theta(engine, case):
    """θ on the boundary (zero template entries: Λ singular; for CHOLMOD, entries of the analysed
    pattern absent from M): the factor still equals the dense truth, and a term whose template is
    zero has û = 0 and conditional covariance I."""
    name, T = BOUNDARY[case]
    prob, _, _ = CASES[name](weights=True)
    fac = ENGINES[engine][0](crossproducts(prob))
    assert fac.factor(T)
    tr = assert_factor_matches(fac, prob, T)
    off = np.concatenate([[0], np.cumsum([l * s for l, s in zip(prob.nlev, prob.S)])])
    for k, t in enumerate(T):
        if not np.any(t):
            assert np.all(tr.u[off[k] : off[k + 1]] == 0)
            np.testing.assert_allclose(fac.solve_u(tr.beta)[off[k] : off[k + 1]], 0.0, atol=1e-14)
            np.testing.assert_allclose(
                fac.cond_cov_blocks(k),
                np.broadcast_to(np.eye(prob.S[k]), (prob.nlev[k], prob.S[k], prob.S[k])),
                atol=1e-14,
            )


@engines
@pytest.mark.parametrize("name", ["crossed", "nested", "nested_vector", "three_nested_crossed", "three_crossed"])
def test_all_theta_zero_is_weighted_least_squares(engine, name):
    """At θ = 0: Λ'Z'WZΛ + I = I (log det 0) and the [X y] factor is chol([X y]'W[X y]) — weighted OLS."""
    prob, T, _ = CASES[name](weights=True)
    T0 = [np.zeros_like(t) for t in T]
    fac = ENGINES[engine][0](crossproducts(prob))
    assert fac.factor(T0)
    assert abs(fac.logdet_zz()) < 1e-14
    XY = prob.XY()
    np.testing.assert_allclose(fac.fixed_factor(), np.linalg.cholesky(XY.T @ (prob.w[:, None] * XY)), rtol=RTOL)
    assert_factor_matches(fac, prob, T0)


@engines
@pytest.mark.parametrize(
    "name", ["scalar", "vector", "crossed_scalar_vector", "nested_vector", "three_nested_crossed", "three_crossed"]
)
def test_refactor_at_new_theta_equals_fresh_factor(engine, name):
    """Refactoring one object along a path of θ (through a boundary point) gives, at each θ, the dense
    truth and the numbers of a factor built fresh at that θ (no state leaks between updates; for
    CHOLMOD, numeric refactorizations on the one symbolic analysis)."""
    cls, _, tol = ENGINES[engine]
    prob, T, _ = CASES[name](weights=True)
    A = crossproducts(prob)
    fac = cls(A)
    rng = np.random.default_rng(3)
    for Tn in theta_path(T, rng):
        assert fac.factor(Tn)
        assert_factor_matches(fac, prob, Tn)
        fresh = cls(A)
        assert fresh.factor(Tn)
        assert fac.logdet_zz() == pytest.approx(fresh.logdet_zz(), rel=tol, abs=tol)
        np.testing.assert_allclose(fac.fixed_factor(), fresh.fixed_factor(), rtol=tol, atol=tol)
        beta = rng.standard_normal(prob.p)
        np.testing.assert_allclose(fac.solve_u(beta), fresh.solve_u(beta), rtol=tol, atol=tol)


@engines
@pytest.mark.parametrize("name", ["vector", "crossed_vector", "nested", "three_nested_crossed"])
def test_new_weights_same_pattern(engine, name):
    """PIRLS's update: the same object given ``A`` for new weights and response (same pattern)
    factors the new weighted equations, Λ'Z'W₂ZΛ + I and its Schur complement, as the dense truth."""
    cls, set_values, _ = ENGINES[engine]
    prob, T, _ = CASES[name](weights=True)
    fac = cls(crossproducts(prob))
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
    set_values(fac, crossproducts(prob2))
    assert fac.factor(T)
    assert_factor_matches(fac, prob2, T)


@engines
def test_not_positive_definite_is_reported_and_recovered(engine):
    """Weights making Z'WZ indefinite (negative on one level): Λ'Z'WZΛ + I is PD only for small θ.
    The engine returns False at a large θ and, refactored at a small θ, equals the dense truth."""
    prob, _, _ = case_scalar()
    w = prob.w.copy()
    w[prob.codes[0] == 0] = -1.0  # level 0 has 10 rows: 1 − 10 θ² < 0 for θ > 0.32
    prob = Problem(prob.codes, prob.Zr, prob.nlev, prob.X, prob.y, w)
    fac = ENGINES[engine][0](crossproducts(prob))
    assert not fac.factor([np.array([[1.0]])])
    assert not fac.ok
    assert np.linalg.eigvalsh(dense_mzz(prob, [np.array([[1.0]])])).min() < 0
    assert fac.factor([np.array([[0.1]])])
    assert_factor_matches(fac, prob, [np.array([[0.1]])])


@engines
@pytest.mark.parametrize("name", ["scalar", "nested_vector", "three_crossed"])
def test_fixed_block_failures(engine, name):
    """The [X y] Schur complement: a non-positive last pivot means r = 0 (exact fit) and is accepted,
    with R_X and l_y still the dense Cholesky factor; a non-positive pivot inside the X block is a failure."""
    cls = ENGINES[engine][0]
    prob, T, _ = CASES[name]()
    p = prob.p
    tr = dense_truth(prob, T)
    # last pivot r² − (r² + 1) = −1
    A = crossproducts(prob)
    A.fixed_fixed[p, p] -= tr.pwrss + 1.0
    fac = cls(A)
    assert fac.factor(T)
    LXX = fac.fixed_factor()
    assert LXX[p, p] == 0.0
    np.testing.assert_allclose(LXX[:, :p], np.linalg.cholesky(tr.schur)[:, :p], rtol=RTOL, atol=1e-10)
    # first pivot of the X block made negative
    A = crossproducts(prob)
    A.fixed_fixed[0, 0] -= tr.schur[0, 0] + 1.0
    fac = cls(A)
    assert not fac.factor(T)
    assert not fac.ok


@engines
def test_exact_fit_response(engine):
    """y = Xβ exactly: the minimum penalized RSS is 0 (u = 0, β exact); the factor is accepted with r ≈ 0."""
    prob, T, _ = case_crossed()
    y = prob.X @ np.array([1.5, -2.0])
    prob = Problem(prob.codes, prob.Zr, prob.nlev, prob.X, y, prob.w)
    fac = ENGINES[engine][0](crossproducts(prob))
    assert fac.factor(T)
    p = prob.p
    LXX = fac.fixed_factor()
    assert LXX[p, p] ** 2 < 1e-12 * (y @ y)
    beta = sla.solve_triangular(np.tril(LXX[:p, :p]), LXX[p, :p], lower=True, trans="T")
    np.testing.assert_allclose(beta, [1.5, -2.0], rtol=1e-10)
    np.testing.assert_allclose(fac.solve_u(beta), 0.0, atol=1e-10)


@engines
@pytest.mark.parametrize("name", ["scalar", "vector", "nested", "three_crossed"])
def test_no_fixed_effects(engine, name):
    """p = 0: the [X y] block is the response alone, r² = y'Wy − y'WZΛ M_ZZ⁻¹ Λ'Z'Wy and û = M_ZZ⁻¹Λ'Z'Wy."""
    prob, T, _ = CASES[name](weights=True)
    prob = Problem(prob.codes, prob.Zr, prob.nlev, np.zeros((prob.n, 0)), prob.y, prob.w)
    fac = ENGINES[engine][0](crossproducts(prob))
    assert fac.factor(T)
    assert fac.fixed_factor().shape == (1, 1)
    assert_factor_matches(fac, prob, T)
