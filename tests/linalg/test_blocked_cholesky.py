"""The blocked Cholesky engine against the mixed-model equations formed densely.

Every problem is built here from scratch: the dense indicator-times-covariate matrix
``Z``, the block-diagonal ``Λ(θ) = ⊕_k I ⊗ T_k``, the weights ``W`` and ``[X y]``.  The
truth is the dense system

    M = [ Λ'Z'WZΛ + I    Λ'Z'W[X y] ]
        [ [X y]'WZΛ      [X y]'W[X y] ]

solved and factored with NumPy (``slogdet``, ``solve``, ``cholesky``, ``lstsq``); the
engine only ever sees the blocks of ``A = [Z X y]' W [Z X y]``, which are also cut out
of dense products here (not taken from :mod:`mixedlm.design`, except in the one test
that checks the production builder hands the engine the same blocks).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import scipy.linalg as sla

from mixedlm.design.crossprod import CrossProducts
from mixedlm.linalg.blocked_cholesky import BlockedCholesky
from mixedlm.linalg.storage import PairBlock

RTOL = 1e-10


# --------------------------------------------------------------------------- builders
@dataclass
class Problem:
    """A small mixed-model design: per term the level codes and the ``(n, S)`` model rows."""

    codes: list[np.ndarray]
    Zr: list[np.ndarray]
    nlev: list[int]
    X: np.ndarray
    y: np.ndarray
    w: np.ndarray

    @property
    def n(self) -> int:
        return self.X.shape[0]

    @property
    def p(self) -> int:
        return self.X.shape[1]

    @property
    def K(self) -> int:
        return len(self.codes)

    @property
    def S(self) -> list[int]:
        return [int(Z.shape[1]) for Z in self.Zr]

    def Zk(self, k: int) -> np.ndarray:
        """Dense ``n × ℓ_k S_k`` model matrix of term ``k`` (level-major columns)."""
        S = self.S[k]
        M = np.zeros((self.n, self.nlev[k] * S))
        for s in range(S):
            M[np.arange(self.n), self.codes[k] * S + s] = self.Zr[k][:, s]
        return M

    def Z(self) -> np.ndarray:
        return np.hstack([self.Zk(k) for k in range(self.K)]) if self.K else np.zeros((self.n, 0))

    def Lam(self, T) -> np.ndarray:
        """Dense ``Λ = ⊕_k I_{ℓ_k} ⊗ T_k``."""
        if not self.K:
            return np.zeros((0, 0))
        return sla.block_diag(*[np.kron(np.eye(l), t) for l, t in zip(self.nlev, T)])

    def XY(self) -> np.ndarray:
        return np.column_stack([self.X, self.y])


def crossproducts(prob: Problem) -> CrossProducts:
    """The blocks of ``A = [Z X y]' W [Z X y]`` cut out of dense products.

    ``diag[k]`` are the diagonal ``S×S`` blocks of ``Z_k'WZ_k``; ``offdiag[(i, j)]`` stores
    the blocks of ``Z_i'WZ_j`` for the level pairs occurring in the data, sorted by
    (level of ``j``, level of ``i``); ``fixed[k] = [X y]'WZ_k``.
    """
    w = prob.w[:, None]
    XY = prob.XY()
    Zs = [prob.Zk(k) for k in range(prob.K)]
    diag, fixed, offdiag = [], [], {}
    for k, Zk in enumerate(Zs):
        S, lev = prob.S[k], prob.nlev[k]
        G = Zk.T @ (w * Zk)
        blocks = np.stack([G[j * S : (j + 1) * S, j * S : (j + 1) * S] for j in range(lev)])
        # each row belongs to one level: Z_k'WZ_k is block diagonal
        assert np.array_equal(np.kron(np.eye(lev), np.ones((S, S))) * G, G)
        diag.append(blocks)
        fixed.append(np.ascontiguousarray(XY.T @ (w * Zk)))
    for i in range(prob.K):
        for j in range(i):
            Si, Sj = prob.S[i], prob.S[j]
            G = Zs[i].T @ (w * Zs[j])
            pairs = np.unique(np.column_stack([prob.codes[j], prob.codes[i]]), axis=0)  # sorted (col, row)
            cols, rows = pairs[:, 0], pairs[:, 1].astype(np.int64)
            colptr = np.concatenate([[0], np.cumsum(np.bincount(cols, minlength=prob.nlev[j]))]).astype(np.int64)
            vals = np.stack([G[r * Si : (r + 1) * Si, c * Sj : (c + 1) * Sj] for c, r in zip(cols, rows)])
            offdiag[(i, j)] = PairBlock(colptr=colptr, rows=rows, values=vals)
    fixed_fixed = np.asfortranarray(XY.T @ (w * XY))
    return CrossProducts(
        n=prob.n,
        p=prob.p,
        sum_log_weights=float(np.sum(np.log(prob.w[prob.w > 0]))),
        diag=diag,
        offdiag=offdiag,
        fixed=fixed,
        fixed_fixed=fixed_fixed,
        nlevs=list(prob.nlev),
        S=prob.S,
    )


@dataclass
class Truth:
    MZZ: np.ndarray  # Λ'Z'WZΛ + I
    M: np.ndarray  # the (q+p) system without the response
    full: np.ndarray  # with the response row/column
    logdet_zz: float
    ldRX2: float
    schur: np.ndarray  # (p+1)×(p+1) Schur complement of [X y]
    pwrss: float
    beta: np.ndarray
    u: np.ndarray


def dense_truth(prob: Problem, T) -> Truth:
    """Dense mixed-model equations at templates ``T`` (any weights, no factor-specific code)."""
    ZL = prob.Z() @ prob.Lam(T)
    XY = prob.XY()
    w = prob.w[:, None]
    q, p = ZL.shape[1], prob.p
    full = np.block([[ZL.T @ (w * ZL) + np.eye(q), ZL.T @ (w * XY)], [XY.T @ (w * ZL), XY.T @ (w * XY)]])
    MZZ, M = full[:q, :q], full[: q + p, : q + p]
    s1, ld_zz = np.linalg.slogdet(MZZ)
    s2, ld_m = np.linalg.slogdet(M)
    assert s1 > 0 and s2 > 0
    schur = full[q:, q:] - full[q:, :q] @ np.linalg.solve(MZZ, full[:q, q:])
    sol = np.linalg.solve(M, full[: q + p, q + p])
    pwrss = float(full[q + p, q + p] - full[q + p, : q + p] @ sol)
    return Truth(
        MZZ=MZZ,
        M=M,
        full=full,
        logdet_zz=float(ld_zz),
        ldRX2=float(ld_m - ld_zz),
        schur=schur,
        pwrss=pwrss,
        beta=sol[q:],
        u=sol[:q],
    )


def dense_mzz(prob: Problem, T) -> np.ndarray:
    """``Λ'Z'WZΛ + I`` alone (also when it is not positive definite)."""
    ZL = prob.Z() @ prob.Lam(T)
    return ZL.T @ (prob.w[:, None] * ZL) + np.eye(ZL.shape[1])


def _levels(rng, n: int, nlev: int) -> np.ndarray:
    """Codes with every level used, in random order."""
    return rng.permutation(np.arange(n) % nlev).astype(np.int64)


def make_problem(rng, codes, Zr, nlev, p: int = 2, weights: bool = False) -> Problem:
    """``[X y]`` with an intercept and ``p − 1`` covariates; ``y`` drawn from the model."""
    n = codes[0].shape[0] if codes else 60
    X = np.column_stack([np.ones(n), rng.standard_normal((n, p - 1))])[:, :p]
    y = X @ rng.standard_normal(p) + 0.5 * rng.standard_normal(n)
    for c, Z in zip(codes, Zr):
        b = rng.standard_normal((max(c) + 1, Z.shape[1]))
        y += np.einsum("ns,ns->n", Z, b[c])
    w = rng.uniform(0.3, 3.0, n) if weights else np.ones(n)
    return Problem(codes=list(codes), Zr=list(Zr), nlev=list(nlev), X=X, y=y, w=w)


def _slope(rng, n):
    return np.column_stack([np.ones(n), rng.standard_normal(n)])


def case_scalar(weights=False):
    """(1 | g), 12 levels."""
    rng = np.random.default_rng(11)
    n = 120
    prob = make_problem(rng, [_levels(rng, n, 12)], [np.ones((n, 1))], [12], weights=weights)
    return prob, [np.array([[0.8]])], False


def case_vector(weights=False):
    """(1 + x | g), 15 levels, correlated template."""
    rng = np.random.default_rng(12)
    n = 150
    prob = make_problem(rng, [_levels(rng, n, 15)], [_slope(rng, n)], [15], p=3, weights=weights)
    return prob, [np.array([[1.1, 0.0], [-0.4, 0.6]])], False


def case_crossed(weights=False):
    """(1 | g) + (1 | h), partially crossed (20 × 8 levels, random assignment)."""
    rng = np.random.default_rng(13)
    n = 200
    codes = [_levels(rng, n, 20), _levels(rng, n, 8)]
    prob = make_problem(rng, codes, [np.ones((n, 1))] * 2, [20, 8], weights=weights)
    return prob, [np.array([[0.9]]), np.array([[0.5]])], False


def case_crossed_vector(weights=False):
    """(1 + x | g) + (1 | h): a two-column leading term against a scalar crossed term."""
    rng = np.random.default_rng(14)
    n = 180
    codes = [_levels(rng, n, 16), _levels(rng, n, 6)]
    prob = make_problem(rng, codes, [_slope(rng, n), np.ones((n, 1))], [16, 6], weights=weights)
    return prob, [np.array([[0.7, 0.0], [0.3, 0.4]]), np.array([[1.3]])], False


def case_crossed_scalar_vector(weights=False):
    """(1 | g) + (1 + x | h): scalar leading term, vector crossed term (general kernels)."""
    rng = np.random.default_rng(15)
    n = 160
    codes = [_levels(rng, n, 24), _levels(rng, n, 7)]
    prob = make_problem(rng, codes, [np.ones((n, 1)), _slope(rng, n)], [24, 7], weights=weights)
    return prob, [np.array([[0.6]]), np.array([[0.9, 0.0], [-0.5, 0.7]])], False


def _nested_codes(rng, n, n_batch, per_batch):
    cask = _levels(rng, n, n_batch * per_batch)
    return cask, cask // per_batch


def case_nested(weights=False):
    """(1 | batch/cask): 18 casks nested in 6 batches (term 0 = cask, term 1 = batch)."""
    rng = np.random.default_rng(16)
    n = 144
    cask, batch = _nested_codes(rng, n, 6, 3)
    prob = make_problem(rng, [cask, batch], [np.ones((n, 1))] * 2, [18, 6], weights=weights)
    return prob, [np.array([[1.2]]), np.array([[0.7]])], True


def case_nested_vector(weights=False):
    """(1 + x | batch/cask): two-column templates on both nested terms."""
    rng = np.random.default_rng(17)
    n = 160
    cask, batch = _nested_codes(rng, n, 5, 4)
    prob = make_problem(rng, [cask, batch], [_slope(rng, n), _slope(rng, n)], [20, 5], weights=weights)
    return prob, [np.array([[0.8, 0.0], [0.2, 0.5]]), np.array([[1.1, 0.0], [-0.6, 0.4]])], True


def case_three_nested_crossed(weights=False):
    """(1 | cask) + (1 + x | batch) + (1 | h): nested pair plus a crossed third factor."""
    rng = np.random.default_rng(18)
    n = 168
    cask, batch = _nested_codes(rng, n, 7, 3)
    codes = [cask, batch, _levels(rng, n, 4)]
    Zr = [np.ones((n, 1)), _slope(rng, n), np.ones((n, 1))]
    prob = make_problem(rng, codes, Zr, [21, 7, 4], weights=weights)
    return prob, [np.array([[0.9]]), np.array([[0.6, 0.0], [0.25, 0.5]]), np.array([[1.4]])], True


def case_three_crossed(weights=False):
    """(1 + x | g) + (1 + x | h) + (1 | k): three crossed factors, mixed sizes."""
    rng = np.random.default_rng(19)
    n = 240
    codes = [_levels(rng, n, 30), _levels(rng, n, 8), _levels(rng, n, 5)]
    Zr = [_slope(rng, n), _slope(rng, n), np.ones((n, 1))]
    prob = make_problem(rng, codes, Zr, [30, 8, 5], p=3, weights=weights)
    T = [np.array([[0.8, 0.0], [0.3, 0.6]]), np.array([[0.5, 0.0], [-0.2, 0.9]]), np.array([[1.1]])]
    return prob, T, False


CASES = {
    "scalar": case_scalar,
    "vector": case_vector,
    "crossed": case_crossed,
    "crossed_vector": case_crossed_vector,
    "crossed_scalar_vector": case_crossed_scalar_vector,
    "nested": case_nested,
    "nested_vector": case_nested_vector,
    "three_nested_crossed": case_three_nested_crossed,
    "three_crossed": case_three_crossed,
}


# --------------------------------------------------------------------------- checks
def assert_factor_matches(fac, prob: Problem, T, rtol: float = RTOL, seed: int = 0) -> Truth:
    """Every public result of a factored engine against the dense equations at ``T``."""
    tr = dense_truth(prob, T)
    p = prob.p
    q = tr.MZZ.shape[0]
    assert fac.ok
    # log det(Λ'Z'WZΛ + I)
    np.testing.assert_allclose(fac.logdet_zz(), tr.logdet_zz, rtol=rtol, atol=1e-12)
    # the [X y] factor is the (unique, positive-diagonal) lower Cholesky factor of the Schur complement
    LXX = fac.fixed_factor()
    np.testing.assert_allclose(LXX, np.linalg.cholesky(tr.schur), rtol=rtol, atol=1e-10)
    # log|R_X|² = log det M − log det M_ZZ; r² = penalized weighted RSS
    ldRX2 = 2.0 * np.sum(np.log(np.diag(LXX)[:p]))
    np.testing.assert_allclose(ldRX2, tr.ldRX2, rtol=rtol, atol=1e-10)
    np.testing.assert_allclose(LXX[p, p] ** 2, tr.pwrss, rtol=rtol)
    # β̂ from R_Xᵀ β = l_y, then the conditional modes û(β̂) solve the joint system
    beta = sla.solve_triangular(np.tril(LXX[:p, :p]), LXX[p, :p], lower=True, trans="T") if p else np.zeros(0)
    np.testing.assert_allclose(beta, tr.beta, rtol=rtol, atol=1e-10)
    np.testing.assert_allclose(fac.solve_u(beta), tr.u, rtol=rtol, atol=1e-10)
    # û at an arbitrary β: M_ZZ u = Λ'Z'W(y − Xβ)
    rng = np.random.default_rng(seed)
    b_any = rng.standard_normal(p)
    rhs = tr.full[:q, q + p] - tr.full[:q, q : q + p] @ b_any
    np.testing.assert_allclose(fac.solve_u(b_any), np.linalg.solve(tr.MZZ, rhs), rtol=rtol, atol=1e-10)
    # aᵀ M⁻¹ a for several columns a = [a_Z; a_X]
    aZ, aX = rng.standard_normal((q, 5)), rng.standard_normal((p, 5))
    a = np.vstack([aZ, aX])
    np.testing.assert_allclose(
        fac.joint_quad_form(aZ, aX), np.einsum("im,im->m", a, np.linalg.solve(tr.M, a)), rtol=rtol
    )
    # diagonal blocks of (Λ'Z'WZΛ + I)⁻¹, term by term, in one chunk and level by level
    inv = np.linalg.inv(tr.MZZ)
    off = 0
    for k, (lev, S) in enumerate(zip(prob.nlev, prob.S)):
        want = np.stack([inv[off + j * S : off + (j + 1) * S, off + j * S : off + (j + 1) * S] for j in range(lev)])
        for chunk in (2048, 1):
            np.testing.assert_allclose(fac.cond_cov_blocks(k, chunk=chunk), want, rtol=rtol, atol=1e-13)
        off += lev * S
    return tr


# --------------------------------------------------------------------------- tests
@pytest.mark.parametrize("weights", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("name", list(CASES))
def test_factor_matches_dense_equations(name, weights):
    """log det(Λ'Z'WZΛ+I), the [X y] Schur factor (R_X, l_y, r), β̂, û, aᵀM⁻¹a and the diagonal
    blocks of (Λ'Z'WZΛ+I)⁻¹ equal their dense counterparts, for each design and with/without weights.
    Also pins which storage plan the design gets (term 1 block diagonal exactly for nested designs)."""
    prob, T, nested = CASES[name](weights=weights)
    fac = BlockedCholesky(crossproducts(prob))
    assert fac.nested1 == nested
    assert fac.factor(T)
    assert_factor_matches(fac, prob, T)


@pytest.mark.parametrize("name", ["scalar", "vector", "crossed_vector", "nested_vector", "three_crossed"])
def test_pwrss_is_the_penalized_least_squares_minimum(name):
    """With positive weights, r² = min_{β,u} ‖W^½(y − Xβ − ZΛu)‖² + ‖u‖² (dense lstsq on the augmented
    design), and the engine's (β̂, û) attain it."""
    prob, T, _ = CASES[name](weights=True)
    fac = BlockedCholesky(crossproducts(prob))
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


@pytest.mark.parametrize(
    "name,T",
    [
        ("scalar", [np.array([[0.0]])]),
        ("vector", [np.array([[1.1, 0.0], [-0.4, 0.0]])]),  # rank-1 template: second diagonal at 0
        ("vector", [np.array([[0.0, 0.0], [0.7, 0.5]])]),  # first diagonal at 0
        ("crossed", [np.array([[0.9]]), np.array([[0.0]])]),
        ("crossed", [np.array([[0.0]]), np.array([[0.5]])]),
        ("nested", [np.array([[0.0]]), np.array([[0.7]])]),
        ("nested_vector", [np.array([[0.8, 0.0], [0.2, 0.0]]), np.array([[0.0, 0.0], [0.0, 0.0]])]),
        ("three_nested_crossed", [np.array([[0.9]]), np.array([[0.6, 0.0], [0.25, 0.0]]), np.array([[0.0]])]),
    ],
    ids=[
        "scalar-zero",
        "vector-T11_zero",
        "vector-T00_zero",
        "crossed-h_zero",
        "crossed-g_zero",
        "nested-cask_zero",
        "nested_vector-T11_and_batch_zero",
        "three_nested_crossed-T11_and_h_zero",
    ],
)
def test_boundary_theta(name, T):
    """θ on the boundary (zero template diagonals, singular Λ): the factor still equals the dense truth,
    and a term whose template is zero has û = 0 and cond. covariance I."""
    prob, _, _ = CASES[name](weights=True)
    fac = BlockedCholesky(crossproducts(prob))
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


@pytest.mark.parametrize("name", ["crossed", "nested", "nested_vector", "three_nested_crossed", "three_crossed"])
def test_all_theta_zero_is_weighted_least_squares(name):
    """At θ = 0: Λ'Z'WZΛ + I = I (log det 0) and the [X y] factor is chol([X y]'W[X y]) — weighted OLS."""
    prob, T, _ = CASES[name](weights=True)
    T0 = [np.zeros_like(t) for t in T]
    fac = BlockedCholesky(crossproducts(prob))
    assert fac.factor(T0)
    assert abs(fac.logdet_zz()) < 1e-14
    XY = prob.XY()
    np.testing.assert_allclose(fac.fixed_factor(), np.linalg.cholesky(XY.T @ (prob.w[:, None] * XY)), rtol=RTOL)
    assert_factor_matches(fac, prob, T0)


def _theta_path(T, rng):
    """A sequence of templates of the shapes of ``T``: random, one at the boundary, then random."""

    def rand():
        out = []
        for t in T:
            r = np.tril(rng.standard_normal(t.shape))
            np.fill_diagonal(r, rng.uniform(0.2, 2.0, t.shape[0]))
            out.append(r)
        return out

    zero_first = [np.zeros_like(t) if k == 0 else t for k, t in enumerate(T)]
    return [rand(), zero_first, rand(), T]


@pytest.mark.parametrize(
    "name", ["scalar", "vector", "crossed_scalar_vector", "nested_vector", "three_nested_crossed", "three_crossed"]
)
def test_refactor_at_new_theta_equals_fresh_factor(name):
    """Refactoring one object along a path of θ (through a boundary point) gives, at each θ, the dense
    truth and the same numbers as a factor built fresh at that θ (no state leaks between updates)."""
    prob, T, _ = CASES[name](weights=True)
    A = crossproducts(prob)
    fac = BlockedCholesky(A)
    rng = np.random.default_rng(3)
    for Tn in _theta_path(T, rng):
        assert fac.factor(Tn)
        assert_factor_matches(fac, prob, Tn)
        fresh = BlockedCholesky(A)
        assert fresh.factor(Tn)
        assert fac.logdet_zz() == pytest.approx(fresh.logdet_zz(), rel=1e-14, abs=1e-14)
        np.testing.assert_allclose(fac.fixed_factor(), fresh.fixed_factor(), rtol=1e-14, atol=1e-14)
        beta = rng.standard_normal(prob.p)
        np.testing.assert_allclose(fac.solve_u(beta), fresh.solve_u(beta), rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("name", ["vector", "crossed_vector", "nested", "three_nested_crossed"])
def test_new_weights_same_pattern(name):
    """PIRLS's update: the same object given ``A`` for new weights (same pattern) factors the new
    weighted equations, Λ'Z'W₂ZΛ + I and its Schur complement, as the dense truth at W₂."""
    prob, T, _ = CASES[name](weights=True)
    fac = BlockedCholesky(crossproducts(prob))
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
    fac.A = crossproducts(prob2)
    assert fac.factor(T)
    assert_factor_matches(fac, prob2, T)


def test_not_positive_definite_is_reported_and_recovered():
    """Weights making Z'WZ indefinite (negative on one level): Λ'Z'WZΛ + I is PD only for small θ.
    The engine returns False at a large θ and, refactored at a small θ, equals the dense truth."""
    prob, _, _ = case_scalar()
    w = prob.w.copy()
    w[prob.codes[0] == 0] = -1.0  # level 0 has 10 rows: 1 − 10 θ² < 0 for θ > 0.32
    prob = Problem(prob.codes, prob.Zr, prob.nlev, prob.X, prob.y, w)
    fac = BlockedCholesky(crossproducts(prob))
    assert not fac.factor([np.array([[1.0]])])
    assert not fac.ok
    assert np.linalg.eigvalsh(dense_mzz(prob, [np.array([[1.0]])])).min() < 0
    assert fac.factor([np.array([[0.1]])])
    assert_factor_matches(fac, prob, [np.array([[0.1]])])


@pytest.mark.parametrize("name", ["scalar", "nested_vector", "three_crossed"])
def test_fixed_block_failures(name):
    """The [X y] Schur complement: a non-positive last pivot means r = 0 (exact fit) and is accepted,
    with R_X and l_y still the dense Cholesky factor; a non-positive pivot inside the X block is a failure."""
    prob, T, _ = CASES[name]()
    p = prob.p
    tr = dense_truth(prob, T)
    # last pivot r² − (r² + 1) = −1
    A = crossproducts(prob)
    A.fixed_fixed[p, p] -= tr.pwrss + 1.0
    fac = BlockedCholesky(A)
    assert fac.factor(T)
    LXX = fac.fixed_factor()
    assert LXX[p, p] == 0.0
    np.testing.assert_allclose(LXX[:, :p], np.linalg.cholesky(tr.schur)[:, :p], rtol=RTOL, atol=1e-10)
    # first pivot of the X block made negative
    A = crossproducts(prob)
    A.fixed_fixed[0, 0] -= tr.schur[0, 0] + 1.0
    fac = BlockedCholesky(A)
    assert not fac.factor(T)
    assert not fac.ok


def test_exact_fit_response():
    """y = Xβ exactly: the minimum penalized RSS is 0 (u = 0, β exact); the factor is accepted with r ≈ 0."""
    prob, T, _ = case_crossed()
    y = prob.X @ np.array([1.5, -2.0])
    prob = Problem(prob.codes, prob.Zr, prob.nlev, prob.X, y, prob.w)
    fac = BlockedCholesky(crossproducts(prob))
    assert fac.factor(T)
    p = prob.p
    LXX = fac.fixed_factor()
    assert LXX[p, p] ** 2 < 1e-12 * (y @ y)
    beta = sla.solve_triangular(np.tril(LXX[:p, :p]), LXX[p, :p], lower=True, trans="T")
    np.testing.assert_allclose(beta, [1.5, -2.0], rtol=1e-10)
    np.testing.assert_allclose(fac.solve_u(beta), 0.0, atol=1e-10)


@pytest.mark.parametrize("name", ["scalar", "vector", "nested", "three_crossed"])
def test_no_fixed_effects(name):
    """p = 0: the [X y] block is the response alone, r² = y'Wy − y'WZΛ M_ZZ⁻¹ Λ'Z'Wy and û = M_ZZ⁻¹Λ'Z'Wy."""
    prob, T, _ = CASES[name](weights=True)
    prob = Problem(prob.codes, prob.Zr, prob.nlev, np.zeros((prob.n, 0)), prob.y, prob.w)
    fac = BlockedCholesky(crossproducts(prob))
    assert fac.factor(T)
    assert fac.fixed_factor().shape == (1, 1)
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
