"""CHOLMOD-based factor of ``Λ'AΛ + I`` for designs where the blocked plan fills badly.

Same interface as :class:`mixedlm.linalg.blocked_cholesky.BlockedCholesky`.
The symbolic analysis (fill-reducing ordering) is done once on the largest
pattern ``Λ'AΛ + I`` can have; each update is a numeric factorization only
(CHOLMOD ignores entries of the analysed pattern that are absent).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.linalg import lapack

from mixedlm.linalg.blocked_cholesky import _potrf_fixed
from mixedlm.linalg.storage import term_shapes


def _blockdiag_to_coo(D: np.ndarray, off: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """COO triplets of a block-diagonal stack placed at (off, off)."""
    lev, S, _ = D.shape
    base = (np.arange(lev) * S)[:, None, None]
    r = base + np.arange(S)[None, :, None] + np.zeros((1, 1, S), dtype=np.int64)
    c = base + np.arange(S)[None, None, :] + np.zeros((1, S, 1), dtype=np.int64)
    return (r.ravel() + off, c.ravel() + off, D.ravel())


class SparseCholesky:
    """Factor ``Λ'AΛ + I`` with CHOLMOD; ``[X y]`` Schur complement dense.

    Parameters
    ----------
    A : CrossProducts-like
        See :class:`mixedlm.linalg.blocked_cholesky.BlockedCholesky`.
    """

    def __init__(self, A: Any) -> None:
        from sksparse.cholmod import analyze

        self.A = A
        self.K, self.p, self.S, self.nlev, self.q = term_shapes(A)
        self.off = np.concatenate([[0], np.cumsum(self.q)]).astype(np.int64)
        self._set_values(A)
        # Λ pattern: full lower triangle of each template, repeated per level.
        lr, lc, self._lam_term, self._lam_pos = [], [], [], []
        for k in range(self.K):
            S = self.S[k]
            ii, jj = np.tril_indices(S)
            base = np.arange(self.nlev[k]) * S + self.off[k]
            lr.append((base[:, None] + ii[None, :]).ravel())
            lc.append((base[:, None] + jj[None, :]).ravel())
            self._lam_term.append((ii, jj, self.nlev[k]))
        self._lam_rows = np.concatenate(lr) if lr else np.zeros(0, dtype=np.int64)
        self._lam_cols = np.concatenate(lc) if lc else np.zeros(0, dtype=np.int64)
        self.qt = int(self.off[-1])
        pattern = self._M([np.tril(np.ones((S, S))) for S in self.S], absolute=True)
        self.factor_obj = analyze(pattern, mode="auto", ordering_method="default")
        self.LXX = np.empty((self.p + 1, self.p + 1), order="F")
        self.Lam: sp.csc_matrix | None = None
        self.ok = False

    def _set_values(self, A: Any) -> None:
        """(Re)build the sparse ``A_ZZ`` and dense ``A_Z,[X y]`` from the blocks of ``A``."""
        qt = int(self.off[-1])
        rows, cols, vals = [], [], []
        for k in range(self.K):
            r, c, v = _blockdiag_to_coo(A.diag[k], int(self.off[k]))
            rows.append(r)
            cols.append(c)
            vals.append(v)
        for (i, j), B in A.offdiag.items():
            r, c, v = B.to_coo(int(self.off[i]), int(self.off[j]))
            rows += [r, c]
            cols += [c, r]
            vals += [v, v]
        self.AZZ = sp.csc_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(qt, qt))
        self.AZXy = np.vstack([F.T for F in A.fixed]) if self.K else np.zeros((0, self.p + 1))

    def reset_values(self, A: Any) -> None:
        """Take new values of ``A`` with the same pattern (PIRLS reweighting)."""
        self.A = A
        self._set_values(A)

    def _lambda(self, templates: Sequence[np.ndarray]) -> sp.csc_matrix:
        data = (
            np.concatenate([np.tile(np.asarray(T)[ii, jj], nl) for T, (ii, jj, nl) in zip(templates, self._lam_term)])
            if self.K
            else np.zeros(0)
        )
        return sp.csc_matrix((data, (self._lam_rows, self._lam_cols)), shape=(self.qt, self.qt))

    def _M(self, templates: Sequence[np.ndarray], absolute: bool = False) -> sp.csc_matrix:
        Lam = self._lambda(templates)
        A = abs(self.AZZ) if absolute else self.AZZ
        M = (Lam.T @ A @ Lam + sp.identity(self.qt, format="csc")).tocsc()
        if not absolute:
            self.Lam = Lam
        return M

    def factor(self, templates: Sequence[np.ndarray]) -> bool:
        """Numeric factorization for the templates ``T_k``; False if not positive definite."""
        from sksparse.cholmod import CholmodNotPositiveDefiniteError

        self.ok = False
        M = self._M(templates)
        rhs = np.asarray(self.Lam.T @ self.AZXy)
        try:
            self.factor_obj.cholesky_inplace(M)
            # A simplicial analysis factors as LDLᵀ and does not fail on an indefinite M;
            # the conversion to LLᵀ that solve_L needs does.
            R = self.factor_obj.solve_L(self.factor_obj.apply_P(rhs), use_LDLt_decomposition=False)
        except CholmodNotPositiveDefiniteError:
            return False
        self._rhs = rhs
        R = np.asarray(R)
        self._R = R
        C = self.LXX
        C[:, :] = self.A.fixed_fixed - R.T @ R
        self.ok = _potrf_fixed(C)
        return self.ok

    def logdet_zz(self) -> float:
        """``log det(Λ'AΛ + I)``."""
        return float(self.factor_obj.logdet())

    def fixed_factor(self) -> np.ndarray:
        """Lower Cholesky factor of the ``[X y]`` Schur complement."""
        return self.LXX

    def solve_u(self, beta: np.ndarray) -> np.ndarray:
        """Spherical conditional modes: ``(Λ'AΛ + I) u = Λ'Z'W(y − Xβ)``."""
        p = self.p
        b = self._rhs[:, p] - self._rhs[:, :p] @ beta
        return np.asarray(self.factor_obj(b)).ravel()

    def joint_quad_form(self, aZ: np.ndarray, aX: np.ndarray) -> np.ndarray:
        """Column-wise ``aᵀ M⁻¹ a`` for the joint (random, fixed) system; see the blocked engine.

        With ``P M_ZZ Pᵀ = L Lᵀ`` (CHOLMOD) and ``R = L⁻¹ P Λ'Z'W[X y]``:
        ``v_Z = L⁻¹ P a_Z`` and ``v_X = L_XX⁻¹ (a_X − R_Xᵀ v_Z)``.
        """
        p = self.p
        vZ = np.asarray(
            self.factor_obj.solve_L(
                self.factor_obj.apply_P(np.asarray(aZ, dtype=np.float64)), use_LDLt_decomposition=False
            )
        )
        total = np.einsum("qm,qm->m", vZ, vZ)
        if p:
            RX = np.asfortranarray(np.tril(self.LXX[:p, :p]))
            rhs = np.asfortranarray(np.asarray(aX, dtype=np.float64) - self._R[:, :p].T @ vZ)
            vX = lapack.dtrtrs(RX, rhs, lower=1, trans=0)[0]
            total += np.einsum("pm,pm->m", vX, vX)
        return total

    def cond_cov_blocks(self, k: int, chunk: int = 2048) -> np.ndarray:
        """Diagonal blocks ``(ℓ_k, S_k, S_k)`` of ``(Λ'AΛ + I)⁻¹`` for term ``k``."""
        S, lev = self.S[k], self.nlev[k]
        out = np.empty((lev, S, S))
        lev_chunk = max(1, chunk // S)
        for c0 in range(0, lev, lev_chunk):
            c1 = min(lev, c0 + lev_chunk)
            ncols = (c1 - c0) * S
            E = sp.csc_matrix(
                (np.ones(ncols), (self.off[k] + c0 * S + np.arange(ncols), np.arange(ncols))), shape=(self.qt, ncols)
            )
            Xs = self.factor_obj(E)
            Xd = Xs.toarray() if sp.issparse(Xs) else np.asarray(Xs)
            blk = Xd[self.off[k] + c0 * S : self.off[k] + c1 * S, :]
            for j in range(c1 - c0):
                out[c0 + j] = blk[j * S : (j + 1) * S, j * S : (j + 1) * S]
        return out
