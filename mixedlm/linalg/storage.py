"""Storage types for the blocks of the cross-product matrix and its Cholesky factor.

* block-diagonal: ``(ℓ, S, S)`` arrays, one ``S×S`` block per level;
* block-sparse (:class:`PairBlock`): compressed by columns, ``S_r×S_c`` blocks for the
  level pairs that occur;
* dense: Fortran-ordered 2-D arrays (LAPACK's layout).
"""

from __future__ import annotations

from dataclasses import dataclass

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
