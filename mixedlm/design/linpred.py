"""The random-effects part of the linear predictor, ``Z b``, one compiled pass per term.

For a term with ``S`` columns, levels ``codes`` and coefficients ``B`` (``ℓ × S``,
row ``j`` the effects of level ``j``), row ``i`` of ``Z_k b_k`` is
``Σ_s Z[i, s] B[codes[i], s]``.  NumPy needs a gather, a product and a sum as
separate ``n``-length passes with temporaries; PIRLS evaluates this at every step.
"""

from __future__ import annotations

from numba import njit


@njit(cache=True, nogil=True)
def add_term_effects(out, codes, Z, B):  # pragma: no cover - compiled
    """``out[i] += Σ_s Z[i, s] B[codes[i], s]`` for every row ``i``."""
    n = codes.shape[0]
    S = Z.shape[1]
    if S == 1:
        for i in range(n):
            out[i] += Z[i, 0] * B[codes[i], 0]
        return
    for i in range(n):
        l = codes[i]
        acc = 0.0
        for s in range(S):
            acc += Z[i, s] * B[l, s]
        out[i] += acc
