"""Compiled one-pass accumulation of the blocks of ``A = [Z X y]' W [Z X y]``.

``np.bincount`` needs one pass over the rows per (column, column) pair; PIRLS
rebuilds ``A`` at every iteration, so for a term with ``S`` columns and
``p + 1`` fixed columns these kernels do the ``S(S+1)/2 + (p+1)S`` sums in a
single pass (memory-bound instead of pass-bound).
"""

from __future__ import annotations

from numba import njit


@njit(cache=True, nogil=True)
def term_sums(codes, Z, XY, w, D, F, XX, cross):  # pragma: no cover - compiled
    """``D[l] = Σ_{i∈l} w_i z_i z_iᵀ`` and ``F[l, s, c] = Σ_{i∈l} w_i z_is xy_ic`` (outputs zeroed here).

    With ``cross`` true the same pass also accumulates ``XX = XYᵀ diag(w) XY`` (done for
    the first term, so ``[X y]'W[X y]`` costs no extra pass over the rows).
    Parameters: ``codes (n,)``, ``Z (n, S)``, ``XY (n, m)``, ``w (n,)``, ``D (ℓ, S, S)``,
    ``F (ℓ, S, m)`` (level-major, so each row updates one contiguous stretch), ``XX (m, m)``.
    """
    n = codes.shape[0]
    S = Z.shape[1]
    m = XY.shape[1]
    D[:] = 0.0
    F[:] = 0.0
    if cross:
        XX[:, :] = 0.0
    for i in range(n):
        l = codes[i]
        wi = w[i]
        if cross:
            for a in range(m):
                wa = wi * XY[i, a]
                for b in range(a, m):
                    XX[a, b] += wa * XY[i, b]
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
    if cross:
        for a in range(m):
            for b in range(a + 1, m):
                XX[b, a] = XX[a, b]


@njit(cache=True, nogil=True)
def pair_sums(inv, Zi, Zj, w, vals):  # pragma: no cover - compiled
    """``vals[k] = Σ_{rows of pair k} w z_i z_jᵀ`` (``vals`` zeroed here)."""
    n = inv.shape[0]
    Si = Zi.shape[1]
    Sj = Zj.shape[1]
    vals[:] = 0.0
    for r in range(n):
        k = inv[r]
        wr = w[r]
        for s in range(Si):
            wz = wr * Zi[r, s]
            for t in range(Sj):
                vals[k, s, t] += wz * Zj[r, t]


@njit(cache=True, nogil=True)
def weighted_crossprod(XY, w, out):  # pragma: no cover - compiled
    """``out = XYᵀ diag(w) XY`` in one pass over the rows (``out`` zeroed here)."""
    n, m = XY.shape
    out[:, :] = 0.0
    for i in range(n):
        wi = w[i]
        for a in range(m):
            wa = wi * XY[i, a]
            for b in range(a, m):
                out[a, b] += wa * XY[i, b]
    for a in range(m):
        for b in range(a + 1, m):
            out[b, a] = out[a, b]

