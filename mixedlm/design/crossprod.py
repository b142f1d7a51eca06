"""The weighted cross-product matrix ``A = [Z X y]' W [Z X y]`` as blocks.

The rows enter an LMM only through ``A``; once it is built, every evaluation of
the profiled objective costs the same whatever the number of rows.  ``A`` is a
sum over rows, so partial ``A`` objects computed on row partitions could be added
up to the full one — the planned scale-out path (not implemented yet).

Blocks, for random-effects terms ``i > j`` in factorization order and
``K`` = number of terms:

* ``diag[k]``: ``(ℓ_k, S_k, S_k)`` — ``A_kk`` is block diagonal because every row
  belongs to exactly one level of each factor.
* ``offdiag[(i, j)]``: :class:`PairBlock` — the nonzero ``S_i×S_j`` blocks of
  ``A_ij`` for the level pairs that occur, sorted by (level of ``j``, level of ``i``)
  (compressed by columns of ``A_ij``).
* ``fixed[k]``: ``(p+1, q_k)`` dense — ``[X y]' W Z_k``.
* ``fixed_fixed``: ``(p+1, p+1)`` dense — ``[X y]' W [X y]``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mixedlm.design.accumulate import pair_sums, term_sums, weighted_crossprod
from mixedlm.design.reterm import ReTerm
from mixedlm.linalg.storage import PairBlock


@dataclass
class CrossProducts:
    """All blocks of ``A`` plus the scalars the objective needs.

    Attributes
    ----------
    n : int
        Number of observations.
    p : int
        Number of fixed-effects columns.
    sum_log_weights : float
        ``Σ log w_i`` (0 without prior weights).
    """

    n: int
    p: int
    sum_log_weights: float
    diag: list[np.ndarray]
    offdiag: dict[tuple[int, int], PairBlock]
    fixed: list[np.ndarray]
    fixed_fixed: np.ndarray
    nlevs: list[int] = field(default_factory=list)
    S: list[int] = field(default_factory=list)


@dataclass
class _PairPattern:
    """Level pairs of terms ``i > j`` that occur, computed once per design."""

    inv: np.ndarray  # (n,) index of each row's pair
    colptr: np.ndarray
    rows: np.ndarray

    @property
    def nnz(self) -> int:
        return int(self.rows.shape[0])


def _pair_pattern(ti: ReTerm, tj: ReTerm) -> _PairPattern:
    """Which (level of ``j``, level of ``i``) pairs occur, sorted by column then row."""
    li, lj = ti.nlev, tj.nlev
    key = tj.codes * np.int64(li) + ti.codes
    uniq, inv = np.unique(key, return_inverse=True)
    col = uniq // li
    rows = (uniq - col * li).astype(np.int64)
    colptr = np.zeros(lj + 1, dtype=np.int64)
    np.cumsum(np.bincount(col, minlength=lj), out=colptr[1:])
    return _PairPattern(inv=inv.ravel().astype(np.int64), colptr=colptr, rows=rows)


class CrossProductBuilder:
    """Build ``A`` for changing weights, responses or fixed-effects matrices.

    The sparsity pattern of the off-diagonal blocks (which level pairs occur) is
    fixed by the grouping factors, so it is computed once; each :meth:`build`
    only sums values with ``bincount``.  PIRLS rebuilds ``A`` once per iteration
    with new working weights and working response through this object.

    Parameters
    ----------
    terms : list of ReTerm
        Random-effects terms in factorization order.
    """

    def __init__(self, terms: list[ReTerm]) -> None:
        self.terms = terms
        self._shapes = [(t.nlev, t.S) for t in terms]
        self._xy: np.ndarray | None = None
        self._xy_source: np.ndarray | None = None
        self.patterns: dict[tuple[int, int], _PairPattern] = {
            (i, j): _pair_pattern(terms[i], terms[j]) for i in range(len(terms)) for j in range(i)
        }

    def _xy_buffer(self, X: np.ndarray) -> np.ndarray:
        """``[X y]`` storage, reused while ``X`` is the same array (PIRLS changes only ``y``)."""
        n, p = X.shape
        if self._xy is None or self._xy_source is not X or self._xy.shape != (n, p + 1):
            self._xy = np.empty((n, p + 1), order="F")  # contiguous columns for weighted_crossprod
            self._xy[:, :p] = X
            self._xy_source = X
        return self._xy

    def build(
        self, X: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None, log_weights: bool = True
    ) -> CrossProducts:
        """Compute the blocks of ``A = [Z X y]' W [Z X y]``.

        Parameters
        ----------
        X : numpy.ndarray
            ``(n, p)`` fixed-effects matrix (full column rank; ``p`` may be 0).
        y : numpy.ndarray
            ``(n,)`` response with any offset already subtracted.
        weights : numpy.ndarray, optional
            Weights ``w``; ``Var(ε_i) = σ² / w_i``.
        log_weights : bool
            Compute ``Σ log w_i`` (the LMM criterion needs it; PIRLS does not).

        Notes
        -----
        Cost is ``O(n · (Σ S_k² + Σ_{i>j} S_i S_j + (p+1) Σ S_k + (p+1)²))``: one
        compiled pass over the rows per term and per term pair
        (:mod:`mixedlm.design.accumulate`); nothing of size ``n × q`` is ever formed.
        """
        terms = self.terms
        n, p = X.shape
        w = None if weights is None else np.asarray(weights, dtype=np.float64)
        wv = np.ones(n) if w is None else w
        XY = self._xy_buffer(X)
        XY[:, p] = y
        fixed_fixed = np.empty((p + 1, p + 1), order="F")

        diag: list[np.ndarray] = []
        fixed: list[np.ndarray] = []
        for t, (nlev, S) in zip(terms, self._shapes):
            D = np.empty((nlev, S, S))
            F = np.empty((nlev, S, p + 1))
            term_sums(t.codes, t.Z, XY, wv, D, F)
            diag.append(D)
            fixed.append(np.ascontiguousarray(F.reshape(nlev * S, p + 1).T))
        weighted_crossprod(XY, wv, fixed_fixed)

        offdiag: dict[tuple[int, int], PairBlock] = {}
        for (i, j), pat in self.patterns.items():
            vals = np.empty((pat.nnz, terms[i].S, terms[j].S))
            pair_sums(pat.inv, terms[i].Z, terms[j].Z, wv, vals)
            offdiag[(i, j)] = PairBlock(colptr=pat.colptr, rows=pat.rows, values=vals)

        slw = 0.0 if w is None or not log_weights else float(np.sum(np.log(w[w > 0])))
        return CrossProducts(
            n=n,
            p=p,
            sum_log_weights=slw,
            diag=diag,
            offdiag=offdiag,
            fixed=fixed,
            fixed_fixed=fixed_fixed,
            nlevs=[s[0] for s in self._shapes],
            S=[s[1] for s in self._shapes],
        )


def build_crossproducts(
    terms: list[ReTerm], X: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None
) -> CrossProducts:
    """Compute the blocks of ``A = [Z X y]' W [Z X y]`` (see :class:`CrossProductBuilder`)."""
    return CrossProductBuilder(terms).build(X, y, weights)
