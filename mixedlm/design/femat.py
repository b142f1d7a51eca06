"""Fixed-effects model matrix with lme4's rank check.

lme4 (``chkRank.drop.cols``) takes R's pivoting QR with tolerance 1e-7 — LINPACK's
``dqrdc2`` with *limited* pivoting: columns are processed left to right and a
column whose remaining norm falls below ``tol`` times its original norm is moved
to the end and dropped.  Earlier columns therefore always win, which is what
users expect ("drop the redundant one, keep the first").  The same rule is
implemented here with a modified Gram–Schmidt sweep.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mixedlm.errors import warn_at_caller

RANK_TOL = 1e-7


@dataclass
class FixedEffectsMatrix:
    """Rank-revealed fixed-effects model matrix.

    Attributes
    ----------
    X : numpy.ndarray
        ``(n, p)`` matrix of the kept columns.
    names : list of str
        Names of the kept columns.
    kept : numpy.ndarray
        Positions of the kept columns in the full matrix.
    dropped : list of str
        Names of the dropped (linearly dependent) columns.
    full_names : list of str
        Names of all columns before the rank check.
    """

    X: np.ndarray
    names: list[str]
    kept: np.ndarray
    dropped: list[str]
    full_names: list[str]

    @property
    def p(self) -> int:
        """Number of kept columns."""
        return int(self.X.shape[1])


def kept_columns(X: np.ndarray, tol: float = RANK_TOL) -> np.ndarray:
    """Positions of columns kept by a left-to-right limited-pivoting QR.

    A column is dropped when the norm of its component orthogonal to the kept
    columns is below ``tol`` times its own norm (an all-zero column is dropped).

    Parameters
    ----------
    X : numpy.ndarray
        ``(n, p)`` matrix.
    tol : float
        Relative tolerance (lme4 and R's ``qr`` use 1e-7).
    """
    n, p = X.shape
    Q = np.empty((n, 0))
    kept: list[int] = []
    for j in range(p):
        v = np.array(X[:, j], dtype=np.float64)
        norm0 = float(np.linalg.norm(v))
        if norm0 == 0.0:
            continue
        # two passes of Gram-Schmidt for numerical orthogonality
        for _ in range(2):
            if Q.shape[1]:
                v -= Q @ (Q.T @ v)
        norm = float(np.linalg.norm(v))
        if norm > tol * norm0:
            Q = np.column_stack([Q, v / norm])
            kept.append(j)
    return np.array(kept, dtype=np.int64)


def build_fixed_effects(X: np.ndarray, names: list[str], tol: float = RANK_TOL) -> FixedEffectsMatrix:
    """Check the rank of ``X`` and drop dependent columns with lme4's message.

    Emits a ``UserWarning`` "fixed-effect model matrix is rank deficient so
    dropping N column(s) / coefficient(s): a, b" when columns are dropped.
    """
    X = np.asarray(X, dtype=np.float64)
    kept = kept_columns(X, tol) if X.shape[1] else np.zeros(0, dtype=np.int64)
    dropped = [names[j] for j in range(X.shape[1]) if j not in set(kept.tolist())]
    if dropped:
        k = len(dropped)
        plural = "s" if k > 1 else ""
        warn_at_caller(
            f"fixed-effect model matrix is rank deficient so dropping {k} column{plural} / "
            f"coefficient{plural}: {', '.join(dropped)}",
            UserWarning,
        )
    Xk = np.asfortranarray(X[:, kept]) if dropped else np.asfortranarray(X)
    return FixedEffectsMatrix(X=Xk, names=[names[j] for j in kept], kept=kept, dropped=dropped, full_names=list(names))
