"""Storage types for the blocks of the cross-product matrix and its Cholesky factor.

* block-diagonal: ``(ℓ, S, S)`` arrays, one ``S×S`` block per level;
* block-sparse (:class:`PairBlock`): compressed by columns, ``S_r×S_c`` blocks for the
  level pairs that occur;
* dense: Fortran-ordered 2-D arrays (LAPACK's layout).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class PairBlock:
    """Compressed-by-column storage of a block-sparse matrix.

    Attributes
    ----------
    colptr : numpy.ndarray
        ``(ℓ_c + 1,)`` start of each column level in ``rows``/``values``.
    rows : numpy.ndarray
        Row level of each stored block, ascending within a column.
    values : numpy.ndarray
        ``(nnz, S_r, S_c)`` block values.
    """

    colptr: np.ndarray
    rows: np.ndarray
    values: np.ndarray

    @property
    def nnz(self) -> int:
        """Number of stored blocks."""
        return int(self.rows.shape[0])

    def column_of_block(self) -> np.ndarray:
        """Column level of every stored block (``(nnz,)``)."""
        counts = np.diff(self.colptr)
        return np.repeat(np.arange(counts.shape[0], dtype=np.int64), counts)

    def to_coo(self, row_off: int = 0, col_off: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """COO triplets ``(rows, cols, values)`` of the scalar entries, shifted by the offsets."""
        nnz, Sr, Sc = self.values.shape
        col = self.column_of_block()
        r = (self.rows[:, None, None] * Sr + np.arange(Sr)[None, :, None]) + np.zeros((1, 1, Sc), dtype=np.int64)
        c = (col[:, None, None] * Sc + np.arange(Sc)[None, None, :]) + np.zeros((1, Sr, 1), dtype=np.int64)
        return r.ravel() + row_off, c.ravel() + col_off, self.values.ravel()


def term_shapes(A: Any) -> tuple[int, int, list[int], list[int], list[int]]:
    """``(K, p, S, nlev, q)`` of a cross-product set ``A``: terms, fixed columns, and per term
    the columns per level ``S_k``, the levels ``ℓ_k`` and the width ``q_k = ℓ_k S_k``."""
    S = [int(D.shape[1]) for D in A.diag]
    nlev = [int(D.shape[0]) for D in A.diag]
    return len(A.diag), int(A.p), S, nlev, [lev * s for lev, s in zip(nlev, S)]
