"""Compiled one-pass accumulation of the blocks of ``A = [Z X y]' W [Z X y]``.

``np.bincount`` needs one pass over the rows per (column, column) pair; PIRLS
rebuilds ``A`` at every iteration, so for a term with ``S`` columns and
``p + 1`` fixed columns these kernels do the ``S(S+1)/2 + (p+1)S`` sums in a
single pass (memory-bound instead of pass-bound).  ``[X y]'W[X y]`` has no
scatter, so it is a set of column dot products the compiler vectorizes.
"""

from __future__ import annotations

from numba import njit


@njit(cache=True, nogil=True)
def term_sums(codes, Z, XY, w, D, F):  # pragma: no cover - compiled
    """``D[l] = Σ_{i∈l} w_i z_i z_iᵀ`` and ``F[l, s, c] = Σ_{i∈l} w_i z_is xy_ic`` (outputs zeroed here).

    Parameters: ``codes (n,)``, ``Z (n, S)``, ``XY (n, m)``, ``w (n,)``, ``D (ℓ, S, S)``,
    ``F (ℓ, S, m)`` (level-major, so each row updates one contiguous stretch).  Scalar
    terms (``S = 1``, the common ``(1 | g)``) take a loop without the inner ``S`` loops.
    """
    n = codes.shape[0]
    S = Z.shape[1]
    m = XY.shape[1]
    D[:] = 0.0
    F[:] = 0.0
    if S == 1:
        for i in range(n):
            l = codes[i]
            wz = w[i] * Z[i, 0]
            D[l, 0, 0] += wz * Z[i, 0]
            for c in range(m):
                F[l, 0, c] += wz * XY[i, c]
        return
    for i in range(n):
        l = codes[i]
        wi = w[i]
        for s in range(S):
            wz = wi * Z[i, s]
            for t in range(s, S):
                D[l, s, t] += wz * Z[i, t]
            for c in range(m):
                F[l, s, c] += wz * XY[i, c]
    for l in range(D.shape[0]):
        for s in range(S):
            for t in range(s + 1, S):
                D[l, t, s] = D[l, s, t]


@njit(cache=True, nogil=True)
def pair_sums(inv, Zi, Zj, w, vals):  # pragma: no cover - compiled
    """``vals[k] = Σ_{rows of pair k} w z_i z_jᵀ`` (``vals`` zeroed here)."""
    n = inv.shape[0]
    Si = Zi.shape[1]
    Sj = Zj.shape[1]
    vals[:] = 0.0
    if Si == 1 and Sj == 1:
        for r in range(n):
            vals[inv[r], 0, 0] += w[r] * Zi[r, 0] * Zj[r, 0]
        return
    for r in range(n):
        k = inv[r]
        wr = w[r]
        for s in range(Si):
            wz = wr * Zi[r, s]
            for t in range(Sj):
                vals[k, s, t] += wz * Zj[r, t]


@njit(cache=True, nogil=True, fastmath=True)
def weighted_crossprod(XY, w, out):  # pragma: no cover - compiled
    """``out = XYᵀ diag(w) XY``, one vectorized dot product per pair of columns.

    ``XY`` should be Fortran-ordered (contiguous columns).  The sums are reassociated
    (SIMD lanes), so they match a sequential sum to rounding only — deterministic
    for a given machine, like BLAS.
    """
    n, m = XY.shape
    for a in range(m):
        for b in range(a, m):
            acc = 0.0
            for i in range(n):
                acc += w[i] * XY[i, a] * XY[i, b]
            out[a, b] = acc
            out[b, a] = acc
