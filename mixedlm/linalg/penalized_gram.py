"""Weighted Gram matrices of a design ``[X Z]`` and factors of its ridge-penalized form.

For a dense ``X`` (``n × p``), a sparse ``Z`` (``n × q``, any pattern), per-row weights
``d`` and column scales ``s`` (``S = diag(s)``), this module forms and factors

* the weighted Gram matrices of ``A = [X Z]`` and of its Hadamard square ``A₂ = A ∘ A``::

      G_mm(d) = Aᵀ diag(d) A,   G_mr(d) = Aᵀ diag(d) A₂,   G_rr(d) = A₂ᵀ diag(d) A₂

  (:class:`WeightedGram`; the ``Z``–``Z`` block by one ``bincount`` over the pairs of stored
  entries that share a row, :class:`RowPairs`);
* the penalized normal matrix with a ridge ``r`` on the ``X`` block and the identity on the
  scaled ``Z`` block::

      M(d, s, r) = [XᵀDX + r I     XᵀDZ S    ]
                   [S ZᵀDX         S ZᵀDZ S + I]

  by dense LAPACK Cholesky, by CHOLMOD on the ``q × q`` block with a dense ``p × p`` Schur
  complement (:class:`PenalizedFactor`), or by eliminating a *diagonal* leading block first
  (:class:`DiagonalLead`, :class:`DiagonalLeadFactor`: a group of columns of ``Z`` that never
  share a row, as a factor's indicator columns, so that its block of ``M`` is diagonal —
  MixedModels.jl's ordering idea);
* a symmetric positive-definite matrix with a dense border, solved by eliminating the
  large block (:class:`BorderedFactor`), with a shift of the large block and of the corner.

This is the linear algebra of lme4's penalized least squares with ``Λ = S`` diagonal and
an extra ridge on ``β``; it knows nothing of likelihoods or priors (the Bayesian engine,
:mod:`mixedlm.engines.bayes`, supplies ``d``, ``s`` and ``r``).  CHOLMOD's symbolic
analysis is kept per pattern by :class:`CholmodPattern`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
from scipy.linalg import lapack

__all__ = [
    "BorderedFactor",
    "CholmodPattern",
    "DiagonalLead",
    "DiagonalLeadFactor",
    "PenalizedFactor",
    "RowPairs",
    "WeightedGram",
    "col_scale",
    "factor_penalized",
    "have_cholmod",
]

_CHOLMOD: bool | None = None


def have_cholmod() -> bool:
    """Whether scikit-sparse's CHOLMOD bindings import."""
    global _CHOLMOD
    if _CHOLMOD is None:
        try:
            import sksparse.cholmod  # noqa: F401

            _CHOLMOD = True
        except ImportError:  # pragma: no cover - scikit-sparse is a dependency
            _CHOLMOD = False
    return _CHOLMOD


def col_scale(Z: sp.csc_matrix, c: np.ndarray) -> sp.csc_matrix:
    """``Z diag(c)`` for a CSC matrix (scales each column's stored values)."""
    out = Z.copy()
    out.data = Z.data * np.repeat(c, np.diff(Z.indptr))
    return out


class RowPairs:
    """``ZᵀDZ`` for changing weights ``D`` without sparse-matrix overhead.

    Every pair of stored entries ``(z_ia, z_ib)`` in one row of ``Z`` contributes
    ``d_i z_ia z_ib`` to entry ``(a, b)``; the pairs, their products and their target (a
    structural nonzero of ``ZᵀZ``, diagonal always included) are listed once, so each
    evaluation is one ``bincount``.  Used when the number of pairs ``Σ_i nnz_i²`` is at most
    ``max_pairs`` (:attr:`ok`).

    Attributes
    ----------
    rows, cols : numpy.ndarray
        Coordinates of the stored pattern (row-major, full symmetric pattern).
    indptr, indices : numpy.ndarray
        The same pattern as CSC.
    diag_pos : numpy.ndarray
        Positions of the diagonal in the stored values.
    """

    def __init__(self, Z: sp.csc_matrix, max_pairs: int = 30_000_000) -> None:
        Zr = Z.tocsr()
        Zr.sort_indices()
        q = Z.shape[1]
        lens = np.diff(Zr.indptr)
        total = int(np.sum(lens.astype(np.int64) ** 2))
        self.ok = total <= max_pairs
        self.q = q
        if not self.ok:
            return
        row_of = np.repeat(np.arange(Zr.shape[0]), lens)
        cnt = lens[row_of]
        first = np.repeat(np.arange(row_of.shape[0]), cnt)
        start = np.concatenate([[0], np.cumsum(cnt)[:-1]]).astype(np.int64)
        second = np.repeat(Zr.indptr[row_of], cnt) + (np.arange(total) - np.repeat(start, cnt))
        ca, cb = Zr.indices[first], Zr.indices[second]
        self.row = row_of[first]
        self.za = Zr.data[first]
        self.zb = Zr.data[second]
        self.prod = self.za * self.zb
        self._prod_mr: np.ndarray | None = None
        self._prod_rr: np.ndarray | None = None
        key = ca.astype(np.int64) * q + cb
        key = np.concatenate([key, np.arange(q, dtype=np.int64) * (q + 1)])
        uniq, inv = np.unique(key, return_inverse=True)
        self.target = inv.ravel()[:total]
        self.nnz = uniq.shape[0]
        self.rows = (uniq // q).astype(np.int64)
        self.cols = (uniq % q).astype(np.int64)
        # CSC pattern of the full symmetric matrix (uniq is sorted by (row, col); symmetric,
        # so the same order read as (col, row) is column-major).
        self.indptr = np.zeros(q + 1, dtype=np.int64)
        np.cumsum(np.bincount(self.rows, minlength=q), out=self.indptr[1:])
        self.indices = self.cols.copy()
        self.diag_pos = np.flatnonzero(self.rows == self.cols)

    def values(self, d: np.ndarray, s: np.ndarray) -> np.ndarray:
        """Values of ``S ZᵀDZ S`` on the stored pattern."""
        base = np.bincount(self.target, weights=d[self.row] * self.prod, minlength=self.nnz)
        return base * s[self.rows] * s[self.cols]

    def gram(self, d: np.ndarray, kind: str) -> np.ndarray:
        """Values of ``ZᵀDZ`` (``"mm"``), ``ZᵀD(Z∘Z)`` (``"mr"``) or ``(Z∘Z)ᵀD(Z∘Z)`` (``"rr"``)."""
        if kind == "mm":
            prod = self.prod
        elif kind == "mr":
            if self._prod_mr is None:
                self._prod_mr = self.za * self.zb * self.zb
            prod = self._prod_mr
        else:
            if self._prod_rr is None:
                self._prod_rr = self.prod * self.prod
            prod = self._prod_rr
        return np.bincount(self.target, weights=d[self.row] * prod, minlength=self.nnz)


class CholmodPattern:
    """CHOLMOD symbolic analysis kept for one sparsity pattern (numeric refactors only)."""

    def __init__(self) -> None:
        self._symbolic: Any = None

    def factor(self, A: sp.csc_matrix, beta: float = 0.0, reuse: bool = True) -> Any:
        """Numeric factor of ``A + βI`` (analysing ``A``'s pattern on first use, or always if not ``reuse``).

        Raises
        ------
        sksparse.cholmod.CholmodNotPositiveDefiniteError
            When ``A + βI`` is not positive definite.
        """
        from sksparse.cholmod import CholmodNotPositiveDefiniteError, analyze

        if reuse and self._symbolic is None:
            self._symbolic = analyze(A)
        symbolic = self._symbolic if reuse else analyze(A)
        factor = symbolic.cholesky(A, beta=beta) if beta else symbolic.cholesky(A)
        # A simplicial analysis factors as LDLᵀ and does not fail on an indefinite matrix
        # (a supernodal LLᵀ does); a non-positive pivot shows as a non-finite log-determinant.
        with np.errstate(invalid="ignore", divide="ignore"):
            logdet = factor.logdet()
        if not np.isfinite(logdet):
            raise CholmodNotPositiveDefiniteError("the matrix is not positive definite")
        return factor


class WeightedGram:
    """The design ``A = [X Z]`` with what its weighted Gram matrices need.

    Parameters
    ----------
    X : numpy.ndarray
        ``(n, p)`` dense (``p`` may be 0).
    Z : scipy.sparse matrix
        ``(n, q)``, any pattern; duplicates are summed.

    Attributes
    ----------
    X, X2 : numpy.ndarray
        ``X`` and ``X ∘ X``.
    Z, Z2 : scipy.sparse.csc_matrix
        ``Z`` and ``Z ∘ Z``; ``ZT``, ``Z2T`` their CSR transposes.
    pairs : RowPairs
    """

    def __init__(self, X: np.ndarray, Z: sp.spmatrix) -> None:
        self.X = np.ascontiguousarray(X, dtype=np.float64)
        self.Z = sp.csc_matrix(Z, dtype=np.float64)
        self.Z.sum_duplicates()
        self.ZT = self.Z.T.tocsr()
        self.Z2 = self.Z.multiply(self.Z).tocsc()
        self.Z2T = self.Z2.T.tocsr()
        self.X2 = self.X * self.X
        self.pairs = RowPairs(self.Z)

    @property
    def p(self) -> int:
        """Columns of ``X``."""
        return int(self.X.shape[1])

    @property
    def q(self) -> int:
        """Columns of ``Z``."""
        return int(self.Z.shape[1])

    def _sides(self, kind: str) -> tuple[np.ndarray, np.ndarray, sp.csr_matrix, sp.csr_matrix]:
        L = self.X if kind in ("mm", "mr") else self.X2
        R = self.X if kind == "mm" else self.X2
        ZLT = self.ZT if kind in ("mm", "mr") else self.Z2T
        ZRT = self.ZT if kind == "mm" else self.Z2T
        return L, R, ZLT, ZRT

    def x_part(self, d: np.ndarray, kind: str) -> np.ndarray:
        """Rows and columns of ``G_kind(d)`` that involve ``X`` (``(p+q)²``, the ``Z``–``Z`` block 0)."""
        p, q = self.p, self.q
        L, R, ZLT, ZRT = self._sides(kind)
        out = np.zeros((p + q, p + q))
        if p:
            out[:p, :p] = L.T @ (d[:, None] * R)
            out[p:, :p] = np.asarray(ZLT @ (d[:, None] * R))
            out[:p, p:] = np.asarray(ZRT @ (d[:, None] * L)).T
        return out

    def dense(self, d: np.ndarray, kind: str) -> np.ndarray:
        """``G_kind(d)`` as a dense ``(p+q)²`` matrix: ``kind`` is ``"mm"``, ``"mr"`` or ``"rr"``."""
        p = self.p
        out = self.x_part(d, kind)
        pairs = self.pairs
        if pairs.ok:
            out[p + pairs.rows, p + pairs.cols] = pairs.gram(d, kind)
        else:
            Zl = self.Z if kind in ("mm", "mr") else self.Z2
            Zr = self.Z if kind == "mm" else self.Z2
            out[p:, p:] = (Zl.T @ sp.diags(d) @ Zr).toarray()
        return out

    def quarters_dense(
        self,
        d_mm: np.ndarray,
        d_mr: np.ndarray,
        d_rr: np.ndarray,
        s2: np.ndarray,
        diag_top: np.ndarray,
        diag_bottom: np.ndarray,
    ) -> np.ndarray:
        """The ``2(p+q)`` square matrix ``[[G_mm, G_mr S₂], [S₂ G_mrᵀ, S₂ G_rr S₂]] + diag(top, bottom)``.

        ``S₂ = diag(s2)``; ``G_*`` at the weights ``d_*``.
        """
        nw = self.p + self.q
        H = np.zeros((2 * nw, 2 * nw))
        H[:nw, :nw] = self.dense(d_mm, "mm")
        H[:nw, nw:] = self.dense(d_mr, "mr") * s2[None, :]
        H[nw:, :nw] = H[:nw, nw:].T
        H[nw:, nw:] = self.dense(d_rr, "rr") * np.outer(s2, s2)
        idx = np.arange(nw)
        H[idx, idx] += diag_top
        H[nw + idx, nw + idx] += diag_bottom
        return H

    def quarters_sparse(
        self,
        d_mm: np.ndarray,
        d_mr: np.ndarray,
        d_rr: np.ndarray,
        s2: np.ndarray,
        diag_top: np.ndarray,
        diag_bottom: np.ndarray,
    ) -> sp.csc_matrix:
        """:meth:`quarters_dense` as a CSC matrix (the pattern of ``AᵀA`` in each quarter).

        Needs :attr:`RowPairs.ok`.
        """
        p, q = self.p, self.q
        nw = p + q
        pairs = self.pairs
        rr: list[np.ndarray] = []
        cc: list[np.ndarray] = []
        vv: list[np.ndarray] = []

        def add(
            r0: int, c0: int, d: np.ndarray, kind: str, scale_r: np.ndarray | None, scale_c: np.ndarray | None
        ) -> None:
            vals = pairs.gram(d, kind)
            r = pairs.rows
            c = pairs.cols
            if scale_c is not None:
                vals = vals * scale_c[p + c]
            if scale_r is not None:
                vals = vals * scale_r[p + r]
            rr.append(r0 + p + r)
            cc.append(c0 + p + c)
            vv.append(vals)
            if p:
                dense = self.x_part(d, kind)
                if scale_c is not None:
                    dense = dense * scale_c[None, :]
                if scale_r is not None:
                    dense = dense * scale_r[:, None]
                # rows 0..p-1 (all columns) and columns 0..p-1 (rows p..)
                R, C = np.meshgrid(np.arange(p), np.arange(nw), indexing="ij")
                rr.append(r0 + R.ravel())
                cc.append(c0 + C.ravel())
                vv.append(dense[:p].ravel())
                R, C = np.meshgrid(np.arange(p, nw), np.arange(p), indexing="ij")
                rr.append(r0 + R.ravel())
                cc.append(c0 + C.ravel())
                vv.append(dense[p:, :p].ravel())

        add(0, 0, d_mm, "mm", None, None)
        add(0, nw, d_mr, "mr", None, s2)
        # the transpose of the upper-right quarter
        n_before = len(rr)
        add(0, nw, d_mr, "mr", None, s2)
        for i in range(n_before, len(rr)):
            rr[i], cc[i] = cc[i], rr[i]
        add(nw, nw, d_rr, "rr", s2, s2)
        idx = np.arange(nw)
        rr += [idx, nw + idx]
        cc += [idx, nw + idx]
        vv += [diag_top, diag_bottom]
        H = sp.coo_matrix(
            (np.concatenate(vv), (np.concatenate(rr), np.concatenate(cc))), shape=(2 * nw, 2 * nw)
        ).tocsc()
        H.sum_duplicates()
        return H


class PenalizedFactor:
    """Cholesky factor of ``M(d, s, r)`` (module docstring), dense or CHOLMOD + Schur.

    Parameters
    ----------
    gram : WeightedGram
    d : numpy.ndarray
        ``(n,)`` non-negative weights.
    s : numpy.ndarray
        ``(q,)`` column scales.
    ridge : float
        ``r`` added to the diagonal of ``XᵀDX``.
    dense : bool
        Dense LAPACK (else CHOLMOD on the ``Z`` block, dense ``p × p`` Schur complement).
    pattern : CholmodPattern, optional
        Reused symbolic analysis for the sparse path.

    Raises
    ------
    numpy.linalg.LinAlgError
        When ``M`` is not positive definite (dense path).
    """

    def __init__(
        self,
        gram: WeightedGram,
        d: np.ndarray,
        s: np.ndarray,
        ridge: float,
        dense: bool,
        pattern: CholmodPattern | None = None,
    ) -> None:
        p, q = gram.p, gram.q
        self.p, self.q = p, q
        X = gram.X
        WX = X * d[:, None]
        XWX = X.T @ WX
        XWX[np.diag_indices(p)] += ridge
        ZWX = s[:, None] * np.asarray(gram.ZT @ WX) if p else np.zeros((q, 0))
        pairs = gram.pairs
        self.dense = dense
        if self.dense:
            M = np.zeros((p + q, p + q))
            M[:p, :p] = XWX
            M[p:, :p] = ZWX
            M[:p, p:] = ZWX.T
            if pairs.ok:
                M[p + pairs.rows, p + pairs.cols] = pairs.values(d, s)
            else:
                Zs = col_scale(gram.Z, s)
                M[p:, p:] = (Zs.T @ sp.diags(d) @ Zs).toarray()
            M[np.arange(p, p + q), np.arange(p, p + q)] += 1.0
            self.M = M
            L, info = lapack.dpotrf(M, lower=1, clean=0, overwrite_a=0)
            if info != 0:
                raise np.linalg.LinAlgError("the penalized normal matrix is not positive definite")
            self.L = L
        else:
            if pairs.ok:
                data = pairs.values(d, s)
                data[pairs.diag_pos] += 1.0
                A = sp.csc_matrix((data, pairs.indices, pairs.indptr), shape=(q, q))
            else:
                Zs = col_scale(gram.Z, s)
                A = (Zs.T @ sp.diags(d) @ Zs + sp.identity(q, format="csc")).tocsc()
            self.A = A
            pattern = pattern if pattern is not None else CholmodPattern()
            self.fA = pattern.factor(A, reuse=pairs.ok)
            self.B = ZWX
            self.AiB = self.fA(ZWX) if p else np.zeros((q, 0))
            S = XWX - ZWX.T @ self.AiB
            self.XWX = XWX
            self.cS = sla.cho_factor(S, lower=True, check_finite=False) if p else None

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        """``M⁻¹ rhs`` for ``rhs`` of shape ``(p+q,)`` or ``(p+q, r)``."""
        if self.dense:
            x, _info = lapack.dpotrs(self.L, rhs, lower=1)
            return x
        p = self.p
        rb, ru = rhs[:p], rhs[p:]
        Aiu = self.fA(ru)
        if p:
            xb = sla.cho_solve(self.cS, rb - self.B.T @ Aiu, check_finite=False)
            xu = Aiu - self.AiB @ xb
        else:
            xb, xu = rb[:0], Aiu
        return np.concatenate([xb, xu], axis=0)

    def diag(self) -> np.ndarray:
        """Diagonal of ``M``."""
        if self.dense:
            return np.diag(self.M).copy()
        return np.concatenate([np.diag(self.XWX), self.A.diagonal()])

    def inverse(self) -> np.ndarray:
        """``M⁻¹`` as a dense matrix."""
        return self.solve(np.eye(self.p + self.q))


class DiagonalLead:
    """Index bookkeeping for eliminating a diagonal leading block of ``M``.

    A group of columns of ``Z`` that never share a row has a *diagonal* block in
    ``S ZᵀDZ S + I``.  Ordering it first, ``M = [[D, Bᵀ], [B, C]]`` with ``D`` diagonal
    (``q₁``) and the rest (``r = p + q − q₁``) dense: ``C − B D⁻¹ Bᵀ`` costs
    ``O(r² q₁ + r³)`` instead of ``O((p+q)³)``.

    Parameters
    ----------
    gram : WeightedGram
        Needs :attr:`RowPairs.ok`.
    lead : numpy.ndarray
        Indices of the leading columns of ``Z``.
    """

    def __init__(self, gram: WeightedGram, lead: np.ndarray) -> None:
        q, p = gram.q, gram.p
        self.lead = np.asarray(lead, dtype=np.int64)
        is_lead = np.zeros(q, dtype=bool)
        is_lead[self.lead] = True
        self.rest_u = np.flatnonzero(~is_lead)
        q1 = self.lead.shape[0]
        self.q1 = q1
        self.r = p + self.rest_u.shape[0]
        pos_lead = np.full(q, -1, dtype=np.int64)
        pos_lead[self.lead] = np.arange(q1)
        pos_rest = np.full(q, -1, dtype=np.int64)
        pos_rest[self.rest_u] = p + np.arange(self.rest_u.shape[0])
        pr, pc = gram.pairs.rows, gram.pairs.cols
        self.sel_B = np.flatnonzero((pos_rest[pr] >= 0) & (pos_lead[pc] >= 0))
        self.B_r, self.B_c = pos_rest[pr[self.sel_B]], pos_lead[pc[self.sel_B]]
        self.sel_C = np.flatnonzero((pos_rest[pr] >= 0) & (pos_rest[pc] >= 0))
        self.C_r, self.C_c = pos_rest[pr[self.sel_C]], pos_rest[pc[self.sel_C]]
        self.sel_D = np.flatnonzero((pos_lead[pr] >= 0) & (pr == pc))
        self.D_pos = pos_lead[pr[self.sel_D]]
        self.Z_lead_T = gram.Z[:, self.lead].T.tocsr()
        self.Z_rest_T = gram.Z[:, self.rest_u].T.tocsr()
        # permutation of the unknowns (x_X, x_Z): internal order (lead, X, rest)
        self.order = np.concatenate([p + self.lead, np.arange(p), p + self.rest_u])

    @staticmethod
    def find(gram: WeightedGram, groups: np.ndarray, min_size: int = 50, max_rest: int = 3000) -> DiagonalLead | None:
        """The largest group of at least ``min_size`` columns whose rows touch one column each.

        ``groups[j]`` labels column ``j`` (``0..k−1``); None when no group qualifies, the
        pairs are unavailable, or the remaining dense block would exceed ``max_rest``.
        """
        if not gram.pairs.ok or groups.size == 0:
            return None
        best, size = None, 0
        Zr = gram.Z.tocsr()
        for label in range(int(groups.max()) + 1):
            cols = np.flatnonzero(groups == label)
            if cols.shape[0] < min_size or cols.shape[0] <= size:
                continue
            per_row = np.diff(Zr[:, cols].indptr)
            if per_row.size and int(per_row.max()) <= 1:
                best, size = cols, cols.shape[0]
        if best is None:
            return None
        blk = DiagonalLead(gram, best)
        return blk if blk.r <= max_rest else None


class DiagonalLeadFactor:
    """``M(d, s, r)`` factored by eliminating the diagonal leading block (:class:`DiagonalLead`)."""

    def __init__(self, gram: WeightedGram, lead: DiagonalLead, d: np.ndarray, s: np.ndarray, ridge: float) -> None:
        lb = lead
        p, q = gram.p, gram.q
        self.p, self.q, self.lb = p, q, lb
        vals = gram.pairs.values(d, s)
        D = np.ones(lb.q1)
        D[lb.D_pos] += vals[lb.sel_D]
        r = lb.r
        B = np.zeros((r, lb.q1))
        B[lb.B_r, lb.B_c] = vals[lb.sel_B]
        C = np.zeros((r, r))
        C[lb.C_r, lb.C_c] = vals[lb.sel_C]
        if p:
            X = gram.X
            WX = X * d[:, None]
            C[:p, :p] = X.T @ WX
            C[np.arange(p), np.arange(p)] += ridge
            B[:p] = (s[lb.lead][:, None] * np.asarray(lb.Z_lead_T @ WX)).T
            XZr = (s[lb.rest_u][:, None] * np.asarray(lb.Z_rest_T @ WX)).T
            C[:p, p:] = XZr
            C[p:, :p] = XZr.T
        C[np.arange(p, r), np.arange(p, r)] += 1.0
        self.D, self.B, self.C = D, B, C
        self.BD = B / D[None, :]
        S = C - self.BD @ B.T
        L, info = lapack.dpotrf(S, lower=1, clean=0, overwrite_a=1)
        if info != 0:
            raise np.linalg.LinAlgError("the penalized normal matrix is not positive definite")
        self.L = L
        self.dense = True

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        """``M⁻¹ rhs`` (rows in the order ``(X, Z)``)."""
        lb = self.lb
        g = rhs[lb.order]
        q1 = lb.q1
        g1, g2 = g[:q1], g[q1:]
        y2, _ = lapack.dpotrs(self.L, g2 - self.BD @ g1, lower=1)
        if rhs.ndim == 1:
            x1 = (g1 - self.B.T @ y2) / self.D
        else:
            x1 = (g1 - self.B.T @ y2) / self.D[:, None]
        out = np.empty_like(rhs, dtype=np.float64)
        out[lb.order] = np.concatenate([x1, y2], axis=0)
        return out

    def diag(self) -> np.ndarray:
        """Diagonal of ``M`` in the order ``(X, Z)``."""
        lb = self.lb
        d = np.empty(self.p + self.q)
        d[lb.order] = np.concatenate([self.D, np.diag(self.C)])
        return d

    def inverse(self) -> np.ndarray:
        """``M⁻¹`` as a dense matrix."""
        return self.solve(np.eye(self.p + self.q))


def factor_penalized(
    gram: WeightedGram,
    d: np.ndarray,
    s: np.ndarray,
    ridge: float,
    *,
    dense: bool,
    lead: DiagonalLead | None = None,
    pattern: CholmodPattern | None = None,
) -> PenalizedFactor | DiagonalLeadFactor:
    """Factor ``M(d, s, r)``: diagonal-lead elimination when ``lead`` is given, else dense or CHOLMOD."""
    if lead is not None:
        return DiagonalLeadFactor(gram, lead, d, s, ridge)
    return PenalizedFactor(gram, d, s, ridge, dense, pattern)


class BorderedFactor:
    """Solve ``[[A, B], [Bᵀ, C]] x = g`` (``A`` large and SPD, ``C`` small) by eliminating ``A``.

    ``A + λ_A I`` is factored once (dense LAPACK or CHOLMOD); :meth:`solve` then forms and
    factors only the small Schur complement ``C − Bᵀ(A + λ_A I)⁻¹B + λ_C I`` for a
    corner shift ``λ_C``.

    Use :meth:`try_factor`, which returns None when ``A + λ_A I`` is not positive definite.
    """

    def __init__(
        self, solve_A: Callable[[np.ndarray], np.ndarray], B: np.ndarray, C: np.ndarray, shift_A: float
    ) -> None:
        self._solve_A = solve_A
        self.B = B
        self.AiB = solve_A(B)
        self.schur = C - B.T @ self.AiB
        self.shift_A = shift_A

    @classmethod
    def try_factor(
        cls,
        A: np.ndarray | sp.spmatrix,
        B: np.ndarray,
        C: np.ndarray,
        shift_A: float = 0.0,
        pattern: CholmodPattern | None = None,
    ) -> BorderedFactor | None:
        """Factor ``A + shift_A I`` (sparse ``A`` by CHOLMOD through ``pattern``); None if not PD."""
        try:
            if sp.issparse(A):
                from sksparse.cholmod import CholmodNotPositiveDefiniteError

                pattern = pattern if pattern is not None else CholmodPattern()
                try:
                    solve_A = pattern.factor(sp.csc_matrix(A), beta=shift_A)
                except CholmodNotPositiveDefiniteError:
                    return None
            else:
                Aw = np.array(A, dtype=np.float64)
                if shift_A:
                    Aw[np.diag_indices(Aw.shape[0])] += shift_A
                cf = sla.cho_factor(Aw, lower=True, check_finite=False)

                def solve_A(b: np.ndarray) -> np.ndarray:
                    return sla.cho_solve(cf, b, check_finite=False)
        except np.linalg.LinAlgError:
            return None
        return cls(solve_A, B, C, shift_A)

    def solve(self, g: np.ndarray, shift_C: float) -> np.ndarray | None:
        """``x`` for the system with ``C`` shifted by ``shift_C``; None if that Schur complement is not PD."""
        na = self.B.shape[0]
        ga, gc = g[:na], g[na:]
        S = self.schur + shift_C * np.eye(self.schur.shape[0])
        try:
            cS = sla.cho_factor(S, lower=True, check_finite=False)
        except np.linalg.LinAlgError:
            return None
        AiG = self._solve_A(ga)
        xc = sla.cho_solve(cS, gc - self.B.T @ AiG, check_finite=False)
        xa = AiG - self.AiB @ xc
        return np.concatenate([xa, xc])
