"""Small mixed-model problems and their dense truth, for the tests of the Cholesky engines.

Every problem is built from scratch: the dense indicator-times-covariate matrix ``Z``,
the block-diagonal ``Λ(θ) = ⊕_k I ⊗ T_k``, the weights ``W`` and ``[X y]``.  The truth
is the dense system

    M = [ Λ'Z'WZΛ + I    Λ'Z'W[X y] ]
        [ [X y]'WZΛ      [X y]'W[X y] ]

solved and factored with NumPy (``slogdet``, ``solve``, ``cholesky``); an engine only
ever sees the blocks of ``A = [Z X y]' W [Z X y]``, which are also cut out of dense
products here (not taken from :mod:`mixedlm.design`).  Used by
``tests/linalg/test_cholesky_engines.py`` (the contract both engines meet) and
``tests/linalg/test_blocked_cholesky.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla

from mixedlm.design.crossprod import CrossProducts
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


def theta_path(T, rng):
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
