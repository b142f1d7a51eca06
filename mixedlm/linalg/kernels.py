"""Compiled kernels for the sparse rank updates of the blocked Cholesky factor.

These are the only loops NumPy cannot express without a Python-level loop over
columns: the downdates ``C -= B Bᵀ``, ``C -= B₁ B₂ᵀ`` and ``C -= D Bᵀ`` where
``B`` is a block-sparse matrix stored by columns (levels of the first term) as
``(colptr, rows, values[nnz, S_r, S_c])`` and ``C`` / ``D`` are dense.

All dense arrays are Fortran-ordered (LAPACK's layout).  Row ``r`` of a block
matrix with ``S`` rows per level starts at dense row ``r * S``.
"""

from __future__ import annotations

import math
import os

import numpy as np
from numba import njit


def _cache_levels() -> dict[int, tuple[int, int]]:
    """``level -> (bytes, CPUs sharing it)`` of cpu0's data/unified caches from Linux's sysfs; {} if unknown."""
    base = "/sys/devices/system/cpu/cpu0/cache"
    out: dict[int, tuple[int, int]] = {}
    try:
        entries = sorted(os.listdir(base))
    except OSError:
        return out
    for entry in entries:
        try:
            with open(os.path.join(base, entry, "type")) as f:
                if f.read().strip() == "Instruction":
                    continue
            with open(os.path.join(base, entry, "level")) as f:
                level = int(f.read().strip())
            with open(os.path.join(base, entry, "size")) as f:
                text = f.read().strip().upper()
            scale = {"K": 1 << 10, "M": 1 << 20}.get(text[-1:], 1)
            size = int(text.rstrip("KM")) * scale
            sharing = 1
            shared = os.path.join(base, entry, "shared_cpu_list")
            if os.path.exists(shared):
                with open(shared) as f:
                    sharing = _count_cpus(f.read().strip())
        except (OSError, ValueError):
            continue
        out[level] = (size, max(1, sharing))
    return out


def _count_cpus(cpu_list: str) -> int:
    """Number of CPUs in a sysfs list such as ``"0-3,8"``."""
    total = 0
    for part in cpu_list.split(","):
        if "-" in part:
            lo, hi = part.split("-")
            total += int(hi) - int(lo) + 1
        elif part:
            total += 1
    return total


def _panel_entries() -> int:
    """Doubles of the target ``C`` one panel of :func:`sparse_syrk_upper` may hold.

    Half of the larger of one core's L2 cache and its share of the last-level cache
    (size / CPUs sharing it), read from sysfs where the platform has it (Linux; 1 MB
    assumed elsewhere).  Measured on the synth1m update (24.5 M scattered pair updates
    into a 1000 × 1000 block, 8 MB): on a 2 MB-L2 Intel Xeon, 1 MB panels took 38 ms per
    evaluation against 63 ms with 256 KB; on an AMD EPYC (1 MB L2, 32 MB L3 for 2 CPUs)
    half the L2 took 77 ms and a single sweep through the L3-resident block 51 ms.  The
    panel size changes no number: each entry of ``C`` receives the same updates in the
    same order.
    """
    levels = _cache_levels()
    l2 = levels.get(2, (0, 1))[0] or (1 << 20)
    share = 0
    if levels:
        top = max(levels)
        if top > 2:
            size, sharing = levels[top]
            share = size // sharing
    return max(4096, max(l2, share) // 16)


#: Panel size of :func:`sparse_syrk_upper` in doubles of ``C`` (see :func:`_panel_entries`).
PANEL_ENTRIES = _panel_entries()


@njit(inline="always")
def _block_row_dot(U, a, s, V, b, t):  # pragma: no cover - compiled (inlined into the kernels)
    """``(U_a V_bᵀ)[s, t] = Σ_k U[a, s, k] V[b, t, k]``: one entry of the product of two stored blocks.

    ``U`` and ``V`` are block values ``(nnz, S_·, S_c)`` with the same number of columns
    ``S_c``; the sum runs over ``k`` in increasing order.  Inlined by numba into each
    kernel (no call per block entry).

    Parameters
    ----------
    U, V : numpy.ndarray
        Stored blocks, ``(nnz_U, S_U, S_c)`` and ``(nnz_V, S_V, S_c)``.
    a, b : int
        The blocks ``U_a = U[a]`` and ``V_b = V[b]``.
    s, t : int
        Row ``s`` of ``U_a`` and row ``t`` of ``V_b``.

    Returns
    -------
    float
    """
    acc = 0.0
    for k in range(U.shape[2]):
        acc += U[a, s, k] * V[b, t, k]
    return acc


@njit(cache=True, nogil=True)
def sparse_syrk_upper(colptr, rows, vals, C, panel_entries):  # pragma: no cover - compiled
    """``C -= B Bᵀ`` on the upper triangle (block level) of dense Fortran-ordered ``C``.

    Within a column of ``B`` the stored row levels are ascending, so pairs
    ``(b, a)`` with ``b <= a`` touch blocks on or above the block diagonal only;
    the update of pair ``(b, a)`` goes to ``C[r_b, r_a]``.

    The work is that of a plain loop over the columns of ``B``, done in panels of
    target columns (row levels ``r_a``) of at most ``panel_entries`` doubles of ``C``
    (:data:`PANEL_ENTRIES`: half the core's cache, see ``_panel_entries``), so the part of ``C`` being updated
    stays in cache: for each panel every column of ``B`` is visited and only its
    entries with ``r_a`` in the panel are used (a per-column cursor advances
    monotonically, as rows are sorted).  A target that fits is done in one sweep.
    Large filled blocks (a 1000-level crossed factor against 20 000 levels) are
    otherwise bound by cache misses.  For scalar target rows (``S_r = 1``) against one-
    or two-column terms the column's entries up to the panel's end are first copied to
    contiguous local buffers, which shortens the inner loop.
    """
    ncol = colptr.shape[0] - 1
    Sr = vals.shape[1]
    Sc = vals.shape[2]
    m = C.shape[0]
    nlev_r = m // Sr if Sr > 0 else 0
    panel = max(1, panel_entries // max(1, m * Sr))
    cursor = colptr[:ncol].copy()
    if Sr == 1 and Sc <= 2:
        kmax = 0
        for c in range(ncol):
            kmax = max(kmax, colptr[c + 1] - colptr[c])
        buf_r = np.empty(kmax, np.int64)
        buf_0 = np.empty(kmax)
        buf_1 = np.zeros(kmax)
        for p0 in range(0, nlev_r, panel):
            p1 = p0 + panel
            for c in range(ncol):
                start = colptr[c]
                stop = colptr[c + 1]
                a = cursor[c]
                if a >= stop or rows[a] >= p1:
                    continue
                e = a
                while e < stop and rows[e] < p1:
                    e += 1
                for j in range(e - start):
                    buf_r[j] = rows[start + j]
                    buf_0[j] = vals[start + j, 0, 0]
                if Sc == 1:
                    for j in range(a - start, e - start):
                        ra = buf_r[j]
                        va = buf_0[j]
                        for i in range(j + 1):
                            C[buf_r[i], ra] -= va * buf_0[i]
                else:
                    for j in range(e - start):
                        buf_1[j] = vals[start + j, 0, 1]
                    for j in range(a - start, e - start):
                        ra = buf_r[j]
                        a0 = buf_0[j]
                        a1 = buf_1[j]
                        for i in range(j + 1):
                            C[buf_r[i], ra] -= a0 * buf_0[i] + a1 * buf_1[i]
                cursor[c] = e
        return
    for p0 in range(0, nlev_r, panel):
        p1 = p0 + panel
        for c in range(ncol):
            start = colptr[c]
            stop = colptr[c + 1]
            a = cursor[c]
            while a < stop and rows[a] < p1:
                ra = rows[a] * Sr
                for b in range(start, a + 1):
                    rb = rows[b] * Sr
                    for s in range(Sr):
                        for t in range(Sr):
                            C[rb + t, ra + s] -= _block_row_dot(vals, a, s, vals, b, t)
                a += 1
            cursor[c] = a


@njit(cache=True, nogil=True)
def leading_term_factor(D, F, T, L, Linv, LX):  # pragma: no cover - compiled
    """Factor the leading (block-diagonal) term and its fixed row in one pass over the levels.

    For every level ``j``: ``L_j L_jᵀ = Tᵀ D_j T + I`` (lower Cholesky), ``Linv_j = L_j⁻¹``
    and ``LX[:, j] = F_j T L_j⁻ᵀ`` where ``F_j`` are the level's ``S`` columns of
    ``F = [X y]' W Z_0`` (``(p+1) × ℓS``).  Returns False (outputs partly written) as
    soon as a block is not positive definite.  The arithmetic follows the NumPy path
    (closed forms for ``S ≤ 2``, a plain Cholesky–Banachiewicz loop above).
    """
    lev = D.shape[0]
    S = D.shape[1]
    m = F.shape[0]
    M = np.empty((S, S))
    FT = np.empty((m, S))
    t2 = T[0, 0] * T[0, 0]
    for j in range(lev):
        o = j * S
        if S == 1:
            d = D[j, 0, 0] * t2 + 1.0
            if not d > 0.0:
                return False
            L[j, 0, 0] = math.sqrt(d)
            Linv[j, 0, 0] = 1.0 / L[j, 0, 0]
            scale = T[0, 0] / L[j, 0, 0]
            for r in range(m):
                LX[r, o] = F[r, o] * scale
            continue
        # M = Tᵀ (D_j T) + I
        for a in range(S):
            for b in range(S):
                acc = 0.0
                for k in range(S):
                    dt = 0.0
                    for h in range(S):
                        dt += D[j, k, h] * T[h, b]
                    acc += T[k, a] * dt
                M[a, b] = acc
            M[a, a] += 1.0
        # Cholesky of M (lower)
        for a in range(S):
            for b in range(S):
                L[j, a, b] = 0.0
                Linv[j, a, b] = 0.0
        for a in range(S):
            for b in range(a + 1):
                acc = M[a, b]
                for k in range(b):
                    acc -= L[j, a, k] * L[j, b, k]
                if a == b:
                    if not acc > 0.0:
                        return False
                    L[j, a, a] = math.sqrt(acc)
                else:
                    L[j, a, b] = acc / L[j, b, b]
        # inverse of the lower-triangular block
        for b in range(S):
            Linv[j, b, b] = 1.0 / L[j, b, b]
            for a in range(b + 1, S):
                acc = 0.0
                for k in range(b, a):
                    acc -= L[j, a, k] * Linv[j, k, b]
                Linv[j, a, b] = acc / L[j, a, a]
        # LX_j = (F_j T) Linv_jᵀ
        for r in range(m):
            for b in range(S):
                acc = 0.0
                for k in range(S):
                    acc += F[r, o + k] * T[k, b]
                FT[r, b] = acc
            for t in range(S):
                acc = 0.0
                for s in range(t + 1):
                    acc += FT[r, s] * Linv[j, t, s]
                LX[r, o + t] = acc
    return True


@njit(cache=True, nogil=True)
def pair_congruence_solve(V, Tr, Tc, inv_c, col, out):  # pragma: no cover - compiled
    """``out[a] = Trᵀ V[a] Tc inv_c[col[a]]ᵀ`` for every stored block ``a``.

    Computes the block-sparse ``L_i0 = Λ_iᵀ A_i0 Λ_0 L_00⁻ᵀ`` in one pass (``inv_c``
    holds the inverses of the diagonal blocks of ``L_00``).
    """
    nnz = V.shape[0]
    Sr = V.shape[1]
    Sc = V.shape[2]
    if Sr == 1 and Sc == 2:  # scalar rows against a two-column term: unrolled
        t = Tr[0, 0]
        c00, c10, c11 = Tc[0, 0], Tc[1, 0], Tc[1, 1]
        for a in range(nnz):
            x0 = t * V[a, 0, 0]
            x1 = t * V[a, 0, 1]
            y0 = x0 * c00 + x1 * c10
            y1 = x1 * c11
            c = col[a]
            out[a, 0, 0] = y0 * inv_c[c, 0, 0]
            out[a, 0, 1] = y0 * inv_c[c, 1, 0] + y1 * inv_c[c, 1, 1]
        return
    tmp = np.empty((Sr, Sc))
    tmp2 = np.empty((Sr, Sc))
    for a in range(nnz):
        # tmp = Trᵀ V[a]
        for s in range(Sr):
            for k in range(Sc):
                acc = 0.0
                for r in range(s, Sr):
                    acc += Tr[r, s] * V[a, r, k]
                tmp[s, k] = acc
        # tmp2 = tmp Tc
        for s in range(Sr):
            for k in range(Sc):
                acc = 0.0
                for j in range(k, Sc):
                    acc += tmp[s, j] * Tc[j, k]
                tmp2[s, k] = acc
        # out = tmp2 inv_cᵀ
        c = col[a]
        for s in range(Sr):
            for k in range(Sc):
                acc = 0.0
                for j in range(k + 1):
                    acc += tmp2[s, j] * inv_c[c, k, j]
                out[a, s, k] = acc


@njit(cache=True, nogil=True)
def sparse_syrk_blockdiag(colptr, rows, vals, D):  # pragma: no cover - compiled
    """``D -= diagblocks(B Bᵀ)`` where ``D`` is ``(ℓ, S, S)`` block-diagonal storage.

    Used when the target block is known (symbolically) to stay block diagonal,
    i.e. every column of ``B`` has at most one stored row level.
    """
    ncol = colptr.shape[0] - 1
    Sr = vals.shape[1]
    for c in range(ncol):
        for a in range(colptr[c], colptr[c + 1]):
            r = rows[a]
            for s in range(Sr):
                for t in range(Sr):
                    D[r, s, t] -= _block_row_dot(vals, a, s, vals, a, t)


@njit(cache=True, nogil=True)
def sparse_gemm_nt(colptr1, rows1, vals1, colptr2, rows2, vals2, C):  # pragma: no cover
    """``C -= B₁ B₂ᵀ`` for two block-sparse matrices sharing their column levels."""
    ncol = colptr1.shape[0] - 1
    S1 = vals1.shape[1]
    S2 = vals2.shape[1]
    for c in range(ncol):
        for a in range(colptr1[c], colptr1[c + 1]):
            ra = rows1[a] * S1
            for b in range(colptr2[c], colptr2[c + 1]):
                rb = rows2[b] * S2
                for t in range(S2):
                    for s in range(S1):
                        C[ra + s, rb + t] -= _block_row_dot(vals1, a, s, vals2, b, t)


@njit(cache=True, nogil=True)
def dense_sparse_nt(D, colptr, rows, vals, C):  # pragma: no cover - compiled
    """``C -= D Bᵀ`` with ``D`` dense ``(m, ℓ_c S_c)`` and ``B`` block-sparse."""
    m = D.shape[0]
    ncol = colptr.shape[0] - 1
    Sr = vals.shape[1]
    Sc = vals.shape[2]
    if Sr == 1 and Sc == 1:
        for c in range(ncol):
            for a in range(colptr[c], colptr[c + 1]):
                ra = rows[a]
                v = vals[a, 0, 0]
                for i in range(m):
                    C[i, ra] -= D[i, c] * v
        return
    if Sr == 1 and Sc == 2:
        for c in range(ncol):
            cc = c * 2
            for a in range(colptr[c], colptr[c + 1]):
                ra = rows[a]
                v0 = vals[a, 0, 0]
                v1 = vals[a, 0, 1]
                for i in range(m):
                    C[i, ra] -= D[i, cc] * v0 + D[i, cc + 1] * v1
        return
    for c in range(ncol):
        cc = c * Sc
        for a in range(colptr[c], colptr[c + 1]):
            ra = rows[a] * Sr
            for s in range(Sr):
                for k in range(Sc):
                    v = vals[a, s, k]
                    if v != 0.0:
                        for i in range(m):
                            C[i, ra + s] -= D[i, cc + k] * v


@njit(cache=True, nogil=True)
def sparse_t_matvec(colptr, rows, vals, x, out):  # pragma: no cover - compiled
    """``out = Bᵀ x`` for block-sparse ``B`` (``out`` has ``ℓ_c S_c`` entries; zeroed here)."""
    ncol = colptr.shape[0] - 1
    Sr = vals.shape[1]
    Sc = vals.shape[2]
    if Sr == 1 and Sc == 1:
        for c in range(ncol):
            acc = 0.0
            for a in range(colptr[c], colptr[c + 1]):
                acc += vals[a, 0, 0] * x[rows[a]]
            out[c] = acc
        return
    out[:] = 0.0
    for c in range(ncol):
        for a in range(colptr[c], colptr[c + 1]):
            ra = rows[a] * Sr
            for k in range(Sc):
                acc = 0.0
                for s in range(Sr):
                    acc += vals[a, s, k] * x[ra + s]
                out[c * Sc + k] += acc


@njit(cache=True, nogil=True)
def _zero_fortran(C):  # pragma: no cover - compiled
    """``C[:, :] = 0`` for a Fortran-ordered ``C``, column by column (numba's slice
    assignment walks rows first, which strides through a Fortran array)."""
    n_rows, n_cols = C.shape
    for j in range(n_cols):
        for i in range(n_rows):
            C[i, j] = 0.0


@njit(cache=True, nogil=True)
def scatter_blockdiag(D, C):  # pragma: no cover - compiled
    """Write block-diagonal storage ``D`` ``(ℓ, S, S)`` into dense ``C`` (zeroed elsewhere).

    ``C`` is Fortran-ordered: it is zeroed column by column (contiguous writes).
    """
    _zero_fortran(C)
    lev = D.shape[0]
    S = D.shape[1]
    for j in range(lev):
        o = j * S
        for s in range(S):
            for t in range(S):
                C[o + s, o + t] = D[j, s, t]


@njit(cache=True, nogil=True)
def scatter_pairs(colptr, rows, vals, C):  # pragma: no cover - compiled
    """Write block-sparse ``B`` into dense Fortran-ordered ``C`` (zeroed first)."""
    _zero_fortran(C)
    ncol = colptr.shape[0] - 1
    Sr = vals.shape[1]
    Sc = vals.shape[2]
    for c in range(ncol):
        for a in range(colptr[c], colptr[c + 1]):
            ra = rows[a] * Sr
            for s in range(Sr):
                for k in range(Sc):
                    C[ra + s, c * Sc + k] = vals[a, s, k]
