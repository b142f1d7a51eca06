"""Blocked Cholesky factor of ``Λ'AΛ + I`` with the fixed-effects row appended.

For random-effects terms ``k = 0..K-1`` (decreasing size) and the final block row
``K`` for ``[X y]``, the symmetric matrix

    M = [ Λ'A_ZZ Λ + I    Λ'A_Z,Xy ]
        [ A_Xy,Z Λ        A_Xy,Xy  ]

is factored as ``M = L Lᵀ`` block by block (right-looking).  Storage, decided once
from the pattern of ``A``:

* ``L_00``: block diagonal ``(ℓ_0, S_0, S_0)`` — nothing updates it;
* ``L_i0`` (``i ≥ 1``): block-sparse with the pattern of ``A_i0`` (``L_00`` is block
  diagonal, so no fill);
* ``L_kk`` (``k ≥ 1``): dense — stored as its transpose ``U_kk = L_kkᵀ`` (upper,
  Fortran order), because the sparse downdate is cache-friendly on the upper
  triangle — or block diagonal when the term is nested in term 0's factor (each
  level of term 0 meets one level of term ``k``) and ``k = 1``;
* ``L_ik`` (``i > k ≥ 1``) and the fixed row ``L_Kk``: dense.

The per-update cost depends on the pattern of ``A`` and the sizes ``q_k = ℓ_k S_k``,
not on the number of observations.  Sparse downdates use the numba kernels in
:mod:`mixedlm.linalg.kernels`; dense ones call BLAS/LAPACK directly.

This module knows no statistics: it factors a matrix and solves with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.linalg import blas, lapack

from mixedlm.linalg import kernels
from mixedlm.linalg.storage import PairBlock, term_shapes


def _congruence(T: np.ndarray, D: np.ndarray) -> np.ndarray:
    """``Tᵀ D_j T`` for each block ``D_j`` of a stack ``(ℓ, S, S)``."""
    if T.shape[0] == 1:
        return D * (T[0, 0] * T[0, 0])
    return np.matmul(T.T, np.matmul(D, T))


def _chol_stack(D: np.ndarray) -> np.ndarray | None:
    """Lower Cholesky factors of a stack of SPD blocks, or None if one is not PD."""
    if D.shape[1] == 1:
        d = D[:, 0, 0]
        if not np.all(d > 0):
            return None
        return np.sqrt(d).reshape(-1, 1, 1)
    if D.shape[1] == 2:  # closed form: cheaper than LAPACK calls on 2x2 blocks
        a, b, c = D[:, 0, 0], D[:, 1, 0], D[:, 1, 1]
        if not np.all(a > 0):
            return None
        l11 = np.sqrt(a)
        l21 = b / l11
        r = c - l21 * l21
        if not np.all(r > 0):
            return None
        out = np.zeros_like(D)
        out[:, 0, 0] = l11
        out[:, 1, 0] = l21
        out[:, 1, 1] = np.sqrt(r)
        return out
    try:
        return np.linalg.cholesky(D)
    except np.linalg.LinAlgError:
        return None


def _inv_lower_stack(Lb: np.ndarray) -> np.ndarray:
    """Inverses of a stack of lower-triangular blocks."""
    if Lb.shape[1] == 1:
        return 1.0 / Lb
    if Lb.shape[1] == 2:
        out = np.zeros_like(Lb)
        out[:, 0, 0] = 1.0 / Lb[:, 0, 0]
        out[:, 1, 1] = 1.0 / Lb[:, 1, 1]
        out[:, 1, 0] = -Lb[:, 1, 0] * out[:, 0, 0] * out[:, 1, 1]
        return out
    eye = np.broadcast_to(np.eye(Lb.shape[1]), Lb.shape)
    return np.linalg.solve(Lb, eye)


def _potrf(C: np.ndarray, lower: bool = True) -> bool:
    """In-place Cholesky of a Fortran-ordered dense array; False if not PD."""
    if C.shape[0] == 0:
        return True
    _, info = lapack.dpotrf(C, lower=1 if lower else 0, clean=1, overwrite_a=1)
    return info == 0


def _potrf_fixed(C: np.ndarray) -> bool:
    """Cholesky of the ``[X y]`` Schur complement.

    A non-positive pivot in the last (response) position only means the response
    is fitted exactly (residual norm 0): the factor is kept with ``r = 0`` and the
    caller decides.  A failure inside the ``X`` block is a real failure.
    """
    m = C.shape[0]
    _, info = lapack.dpotrf(C, lower=1, clean=1, overwrite_a=1)
    if info == 0:
        return True
    if info == m:
        C[m - 1, m - 1] = 0.0
        return True
    return False


def _trsm_right_upper(U: np.ndarray, B: np.ndarray) -> np.ndarray:
    """``B U⁻¹`` (= ``B L⁻ᵀ`` with ``L = Uᵀ``), in place when possible."""
    if B.size == 0:
        return B
    return blas.dtrsm(1.0, U, B, side=1, lower=0, trans_a=0, diag=0, overwrite_b=1)


class BlockedCholesky:
    """Factor ``Λ'AΛ + I`` (with the ``[X y]`` row) for a fixed pattern of ``A``.

    Parameters
    ----------
    A : CrossProducts-like
        Object with ``diag``, ``offdiag``, ``fixed``, ``fixed_fixed`` and ``p`` (see
        :class:`mixedlm.design.crossprod.CrossProducts`).
    """

    def __init__(self, A: Any) -> None:
        self.A = A
        self.K, self.p, self.S, self.nlev, self.q = term_shapes(A)
        self.col_of_block = {i: A.offdiag[(i, 0)].column_of_block() for i in range(1, self.K)}
        # L_11 stays block diagonal when every level of term 0 meets at most one level of term 1.
        self.nested1 = self.K >= 2 and bool(np.all(np.diff(A.offdiag[(1, 0)].colptr) <= 1))
        self.L00: np.ndarray | None = None
        self.inv00: np.ndarray | None = None
        self.Lsp: dict[int, PairBlock] = {}
        self.Ldiag: dict[int, np.ndarray] = {}
        self.inv11: np.ndarray | None = None
        self.Loff: dict[tuple[int, int], np.ndarray] = {}
        self.LX: list[np.ndarray] = [np.empty((self.p + 1, qk), order="F") for qk in self.q]
        self.LXX = np.empty((self.p + 1, self.p + 1), order="F")
        for k in range(1, self.K):
            if not (k == 1 and self.nested1):
                self.Ldiag[k] = np.empty((self.q[k], self.q[k]), order="F")
            for i in range(k + 1, self.K):
                self.Loff[(i, k)] = np.empty((self.q[i], self.q[k]), order="F")
        self.ok = False

    # ------------------------------------------------------------------ factor
    def factor(self, templates: Sequence[np.ndarray]) -> bool:
        """Compute the factor for the given ``S_k×S_k`` templates ``T_k`` (``Λ_k = I ⊗ T_k``).

        Returns
        -------
        bool
            False when ``Λ'AΛ + I`` or the fixed-effects Schur complement is not
            numerically positive definite (the caller then reports a large
            objective value).
        """
        A = self.A
        K = self.K
        self.ok = False
        if K == 0:
            return self._factor_fixed()
        T = [np.asarray(t, dtype=np.float64) for t in templates]

        # term 0: block diagonal, and its fixed row A_K0 Λ_0 L_00^{-T}
        S0 = self.S[0]
        L00 = np.empty((self.nlev[0], S0, S0))
        inv00 = np.empty_like(L00)
        if not kernels.leading_term_factor(A.diag[0], A.fixed[0], T[0], L00, inv00, self.LX[0]):
            return False
        self.L00 = L00
        self.inv00 = inv00

        # L_i0 = Λ_i' A_i0 Λ_0 L_00^{-T}
        for i in range(1, K):
            Ai0 = A.offdiag[(i, 0)]
            V = Ai0.values
            if self.S[i] == 1 and self.S[0] == 1:
                col = self.col_of_block[i]
                vals = V * ((T[i][0, 0] * T[0][0, 0]) / L00[col, 0, 0])[:, None, None]
            else:
                vals = self.Lsp[i].values if i in self.Lsp else np.empty_like(V)
                kernels.pair_congruence_solve(V, T[i], T[0], inv00, self.col_of_block[i], vals)
            self.Lsp[i] = PairBlock(Ai0.colptr, Ai0.rows, vals)

        for k in range(1, K):
            if not self._factor_term(k, T):
                return False
        return self._factor_fixed()

    def _factor_term(self, k: int, T: Sequence[np.ndarray]) -> bool:
        """Diagonal block ``k ≥ 1``, the blocks below it and its fixed-row block."""
        A, K, p = self.A, self.K, self.p
        Sk = self.S[k]
        Dk = _congruence(T[k], A.diag[k])
        Dk += np.eye(Sk)
        Lsp_k = self.Lsp[k]
        if k == 1 and self.nested1:
            kernels.sparse_syrk_blockdiag(Lsp_k.colptr, Lsp_k.rows, Lsp_k.values, Dk)
            L11 = _chol_stack(Dk)
            if L11 is None:
                return False
            self.Ldiag[1] = L11
            self.inv11 = _inv_lower_stack(L11)
        else:
            C = self.Ldiag[k]
            kernels.scatter_blockdiag(Dk, C)
            kernels.sparse_syrk_upper(Lsp_k.colptr, Lsp_k.rows, Lsp_k.values, C, kernels.PANEL_ENTRIES)
            for j in range(1, k):
                Lkj = self.Loff[(k, j)]
                C -= Lkj @ Lkj.T
            if not _potrf(C, lower=False):
                return False

        for i in range(k + 1, K):
            Aik = A.offdiag[(i, k)]
            if self.S[i] == 1 and Sk == 1:
                vals = Aik.values * (T[i][0, 0] * T[k][0, 0])
            else:
                vals = np.matmul(np.matmul(T[i].T, Aik.values), T[k])
            D = self.Loff[(i, k)]
            kernels.scatter_pairs(Aik.colptr, Aik.rows, np.ascontiguousarray(vals), D)
            Lsp_i = self.Lsp[i]
            kernels.sparse_gemm_nt(Lsp_i.colptr, Lsp_i.rows, Lsp_i.values, Lsp_k.colptr, Lsp_k.rows, Lsp_k.values, D)
            for j in range(1, k):
                D -= self.Loff[(i, j)] @ self.Loff[(k, j)].T
            self._right_solve(k, D)

        # fixed row
        Fk = A.fixed[k].reshape(p + 1, self.nlev[k], Sk)
        D = self.LX[k]
        D[:, :] = (Fk @ T[k]).reshape(p + 1, self.q[k]) if Sk > 1 else Fk[:, :, 0] * T[k][0, 0]
        kernels.dense_sparse_nt(self.LX[0], Lsp_k.colptr, Lsp_k.rows, Lsp_k.values, D)
        for j in range(1, k):
            D -= self.LX[j] @ self.Loff[(k, j)].T
        self._right_solve(k, D)
        return True

    def _right_solve(self, k: int, D: np.ndarray) -> None:
        """``D ← D L_kk⁻ᵀ`` in place."""
        if k == 1 and self.nested1:
            m, S = D.shape[0], self.S[1]
            if S == 1:
                D *= self.inv11[:, 0, 0][None, :]
            else:
                blocks = np.einsum("rcs,cts->rct", D.reshape(m, self.nlev[1], S), self.inv11)
                D[:, :] = blocks.reshape(m, self.q[1])
        else:
            out = _trsm_right_upper(self.Ldiag[k], D)
            if out is not D:
                D[:, :] = out

    def _factor_fixed(self) -> bool:
        """Schur complement of the ``[X y]`` block and its Cholesky factor."""
        C = self.LXX
        C[:, :] = self.A.fixed_fixed
        for k in range(self.K):
            LXk = self.LX[k]
            C -= LXk @ LXk.T
        ok = _potrf_fixed(C)
        self.ok = ok
        return ok

    # ---------------------------------------------------------------- results
    def logdet_zz(self) -> float:
        """``log |L_ZZ|²`` = ``log det(Λ'Z'WZΛ + I)``."""
        total = 0.0
        if self.K == 0:
            return 0.0
        total += np.sum(np.log(np.diagonal(self.L00, axis1=1, axis2=2)))
        for k in range(1, self.K):
            Lk = self.Ldiag[k]
            d = np.diagonal(Lk, axis1=1, axis2=2) if Lk.ndim == 3 else np.diag(Lk)
            total += np.sum(np.log(d))
        return 2.0 * float(total)

    def fixed_factor(self) -> np.ndarray:
        """Lower Cholesky factor ``(p+1)×(p+1)`` of the ``[X y]`` Schur complement."""
        return self.LXX

    def solve_u(self, beta: np.ndarray) -> np.ndarray:
        """Spherical conditional modes ``u = L_ZZ⁻ᵀ (l_yZᵀ − L_XZᵀ β)`` stacked over terms."""
        p = self.p
        if self.K == 1 and self.S[0] == 1:  # one scalar term: L_00 is diagonal
            rhs0 = self.LX[0][p, :] - self.LX[0][:p, :].T @ beta if p else self.LX[0][0, :]
            return rhs0 * self.inv00[:, 0, 0]
        v = [self.LX[k][p, :] - self.LX[k][:p, :].T @ beta for k in range(self.K)]
        u: list[np.ndarray] = [np.empty(0)] * self.K
        for k in range(self.K - 1, -1, -1):
            rhs = v[k].copy()
            if k == 0:
                for i in range(1, self.K):
                    rhs -= self._sparse_t_matvec(i, u[i])
                rb = rhs.reshape(self.nlev[0], self.S[0])
                # solve L_00ᵀ x = rhs blockwise: x = inv00ᵀ rhs
                u[0] = np.einsum("cts,ct->cs", self.inv00, rb).ravel()
            else:
                for i in range(k + 1, self.K):
                    rhs -= self.Loff[(i, k)].T @ u[i]
                u[k] = self._solve_lower_t(k, rhs)
        return np.concatenate(u) if u else np.zeros(0)

    def _sparse_t_matvec(self, i: int, x: np.ndarray) -> np.ndarray:
        """``L_i0ᵀ x`` (length ``q_0``)."""
        B = self.Lsp[i]
        out = np.empty(self.q[0])
        kernels.sparse_t_matvec(B.colptr, B.rows, B.values, np.ascontiguousarray(x), out)
        return out

    def _solve_lower_t(self, k: int, rhs: np.ndarray) -> np.ndarray:
        """Solve ``L_kkᵀ x = rhs`` for ``k ≥ 1``."""
        if k == 1 and self.nested1:
            rb = rhs.reshape(self.nlev[1], self.S[1])
            return np.einsum("cts,ct->cs", self.inv11, rb).ravel()
        x, info = lapack.dtrtrs(self.Ldiag[k], rhs, lower=0, trans=0)
        return x

    def joint_quad_form(self, aZ: np.ndarray, aX: np.ndarray) -> np.ndarray:
        """Column-wise ``aᵀ M⁻¹ a`` for ``a = [aZ; aX]``, ``M = [[Λ'Z'WZΛ + I, Λ'Z'WX], [X'WZΛ, X'WX]]``.

        ``M = L Lᵀ`` with ``L = [[L_ZZ, 0], [L_XZ, L_XX]]`` (the factor without the
        response row), so the value is ``‖L⁻¹ a‖²``: a blocked forward solve.

        Parameters
        ----------
        aZ : numpy.ndarray
            ``(q, m)`` random-effects part (stacked over terms in factorization order).
        aX : numpy.ndarray
            ``(p, m)`` fixed-effects part.
        """
        p = self.p
        m = aZ.shape[1]
        offs = np.concatenate([[0], np.cumsum(self.q)]).astype(np.int64)
        V: list[np.ndarray] = []
        total = np.zeros(m)
        for k in range(self.K):
            R = np.array(aZ[offs[k] : offs[k + 1]], dtype=np.float64, order="F")
            if k == 0:
                Rb = R.reshape(self.nlev[0], self.S[0], m)
                Vk = np.matmul(self.inv00, Rb).reshape(self.q[0], m)
            else:
                R -= self._pairs_csr(k) @ V[0]
                for j in range(1, k):
                    R -= self.Loff[(k, j)] @ V[j]
                Vk = self._solve_lower(k, R)
            V.append(Vk)
            total += np.einsum("qm,qm->m", Vk, Vk)
        if p:
            RX = np.asfortranarray(np.tril(self.LXX[:p, :p]))
            rhs = np.array(aX, dtype=np.float64, order="F")
            for k in range(self.K):
                rhs -= self.LX[k][:p, :] @ V[k]
            vX = lapack.dtrtrs(RX, rhs, lower=1, trans=0)[0]
            total += np.einsum("pm,pm->m", vX, vX)
        return total

    def _pairs_csr(self, i: int) -> Any:
        """``L_i0`` as a SciPy CSR matrix (``q_i × q_0``)."""
        import scipy.sparse as sp

        r, c, v = self.Lsp[i].to_coo()
        return sp.csr_matrix((v, (r, c)), shape=(self.q[i], self.q[0]))

    def cond_cov_blocks(self, k: int, chunk: int = 2048) -> np.ndarray:
        """Diagonal blocks of ``(L_ZZ L_ZZᵀ)⁻¹`` for term ``k``, shape ``(ℓ_k, S_k, S_k)``.

        Column block ``j`` of ``L_ZZ⁻¹`` restricted to term ``k`` is computed by
        forward substitution over the terms ``≥ k`` in chunks of columns; the
        diagonal block is ``Σ_rows X_jᵀ X_j``.
        """
        S, lev = self.S[k], self.nlev[k]
        out = np.zeros((lev, S, S))
        lev_chunk = max(1, chunk // S)
        for c0 in range(0, lev, lev_chunk):
            c1 = min(lev, c0 + lev_chunk)
            X = self._inverse_columns(k, c0, c1)
            for Xi in X:
                # Xi: (q_i, (c1-c0)*S); accumulate Xiᵀ Xi diagonal blocks
                m = Xi.shape[0]
                Xb = Xi.reshape(m, c1 - c0, S)
                out[c0:c1] += np.einsum("mcs,mct->cst", Xb, Xb)
        return out

    def _inverse_columns(self, k: int, c0: int, c1: int) -> list[np.ndarray]:
        """Rows ``≥`` term ``k`` of ``L_ZZ⁻¹ E`` for the columns of levels ``c0..c1-1`` of term ``k``."""
        S = self.S[k]
        ncols = (c1 - c0) * S
        X: dict[int, np.ndarray] = {}
        if k == 0:
            blocks = self.inv00[c0:c1]  # (nc, S, S)
            Xk = np.zeros((self.q[0], ncols), order="F")
            for j in range(c1 - c0):
                Xk[(c0 + j) * S : (c0 + j + 1) * S, j * S : (j + 1) * S] = blocks[j]
            X[0] = Xk
        else:
            E = np.zeros((self.q[k], ncols), order="F")
            for j in range(ncols):
                E[c0 * S + j, j] = 1.0
            X[k] = self._solve_lower(k, E)
        for i in range(k + 1, self.K):
            R = np.zeros((self.q[i], ncols), order="F")
            for j in range(k, i):
                if j == 0:
                    self._add_sparse_times_blockdiag(i, c0, c1, R)
                else:
                    R += self.Loff[(i, j)] @ X[j]
            X[i] = -self._solve_lower(i, R)
        return [X[i] for i in sorted(X)]

    def _add_sparse_times_blockdiag(self, i: int, c0: int, c1: int, R: np.ndarray) -> None:
        """``R += L_i0 · blockdiag(L_00⁻¹)`` restricted to the column levels ``c0..c1-1``."""
        B = self.Lsp[i]
        S0, Si = self.S[0], self.S[i]
        sel = slice(B.colptr[c0], B.colptr[c1])
        vals = np.matmul(B.values[sel], self.inv00[self.col_of_block[i][sel]])
        cols = self.col_of_block[i][sel] - c0
        rows = B.rows[sel]
        for s in range(Si):
            for t in range(S0):
                np.add.at(R, (rows * Si + s, cols * S0 + t), vals[:, s, t])

    def _solve_lower(self, k: int, B: np.ndarray) -> np.ndarray:
        """Solve ``L_kk X = B`` (``k ≥ 1``)."""
        if k == 1 and self.nested1:
            m = B.shape[1]
            Bb = B.reshape(self.nlev[1], self.S[1], m)
            return np.matmul(self.inv11, Bb).reshape(self.q[1], m)
        x, info = lapack.dtrtrs(self.Ldiag[k], B, lower=0, trans=1)
        return x
