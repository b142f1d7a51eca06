"""The variance parameters on lme4's "sdcor" scale: names, and the map to and from θ.

Per random-effects term, ``Var(b) = s² Λ_θ Λ_θᵀ`` (``s`` the residual scale for models
with one, else 1) is described by its standard deviations and correlations — the lower
triangle column by column, SDs on the diagonal (lme4's ``Cv_to_Sv`` / ``Sv_to_Cv``) —
named as lme4's ``confint(oldNames = FALSE)``: ``sd_(Intercept)|Subject``,
``cor_Days.(Intercept)|Subject``, ``sd_Days|Subject``, then ``sigma``.  Profiles,
intervals, ``allFit`` and the bootstrap use this scale.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def _psd_cholesky(C: np.ndarray) -> np.ndarray:
    """Lower-triangular ``L`` with ``L Lᵀ = C`` for a positive *semi*-definite ``C``.

    Zero pivots (a correlation of ±1, an SD of 0) give zero columns instead of a
    failure, which is what a profile at a boundary needs.
    """
    S = C.shape[0]
    if S == 1:
        return np.sqrt(np.maximum(C, 0.0))
    try:
        return np.linalg.cholesky(C)
    except np.linalg.LinAlgError:
        pass
    L = np.zeros_like(C)
    for j in range(S):
        d = C[j, j] - float(L[j, :j] @ L[j, :j])
        if d > 1e-12 * max(abs(C[j, j]), 1e-300):
            L[j, j] = math.sqrt(d)
            L[j + 1 :, j] = (C[j + 1 :, j] - L[j + 1 :, :j] @ L[j, :j]) / L[j, j]
    return L


def _lower_tri_pairs(S: int) -> list[tuple[int, int]]:
    """(row, column) of the lower triangle in column-major order — lme4's θ/sdcor layout."""
    return [(i, j) for j in range(S) for i in range(j, S)]


def theta_to_sdcor(re: Any, theta: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """Standard deviations and correlations of ``Var(b) = scale² Λ_θ Λ_θᵀ`` (lme4's ``Cv_to_Sv``).

    Entry ``k`` of the result belongs to the same lme4 term and position as ``θ_k``:
    per term, the lower triangle of the matrix with SDs on the diagonal and
    correlations below it, column by column.  A correlation involving an SD of 0 is 0.
    """
    theta = np.asarray(theta, dtype=np.float64)
    out = np.empty(re.n_theta)
    for blk in re.blocks:
        T = re.terms[blk.term_index].template(theta)
        cols = np.asarray(blk.columns)
        Tb = T[np.ix_(cols, cols)]
        C = (scale * scale) * (Tb @ Tb.T)
        sd = np.sqrt(np.maximum(np.diag(C), 0.0))
        for k, (i, j) in enumerate(_lower_tri_pairs(len(cols))):
            if i == j:
                out[blk.theta_index[k]] = sd[i]
            else:
                den = sd[i] * sd[j]
                out[blk.theta_index[k]] = C[i, j] / den if den > 0 else 0.0
    return out


def sdcor_to_theta(re: Any, sdcor: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """Inverse of :func:`theta_to_sdcor`: ``θ`` from SDs/correlations (lme4's ``Sv_to_Cv``).

    Per term ``Σ = D R D`` (``D`` the SDs, ``R`` the correlations) and the template
    is the lower Cholesky factor of ``Σ / scale²`` (semi-definite when a correlation
    is ±1 or an SD is 0).
    """
    v = np.asarray(sdcor, dtype=np.float64)
    theta = np.empty(re.n_theta)
    for blk in re.blocks:
        S = len(blk.columns)
        idx = blk.theta_index
        if S == 1:
            theta[idx[0]] = max(v[idx[0]], 0.0) / scale
            continue
        pairs = _lower_tri_pairs(S)
        M = np.zeros((S, S))
        for k, (i, j) in enumerate(pairs):
            M[i, j] = v[idx[k]]
        sd = np.diag(M).copy()
        R = M + M.T
        np.fill_diagonal(R, 1.0)
        L = _psd_cholesky(R * np.outer(sd, sd) / (scale * scale))
        for k, (i, j) in enumerate(pairs):
            theta[idx[k]] = L[i, j]
    return theta


def sdcor_bounds(re: Any) -> tuple[np.ndarray, np.ndarray]:
    """Bounds of the sdcor entries: SDs in ``[0, ∞)``, correlations in ``[−1, 1]``."""
    diag = np.isfinite(re.lower)
    return np.where(diag, 0.0, -1.0), np.where(diag, np.inf, 1.0)


def variance_parameter_names(re: Any, sigma: bool) -> list[str]:
    """lme4's ``oldNames = FALSE`` names of the SD/correlation parameters (and ``sigma``), in θ's order.

    ``sigma=True`` appends ``"sigma"`` (models with a residual scale).

    Entry ``k`` describes the same term and position as ``θ_k``; repeated names (the
    same column in two terms on one factor) get ``.1``, ``.2`` suffixes.
    """
    names: list[str] = []
    for blk in re.blocks:
        S = len(blk.names)
        for j in range(S):
            for i in range(j, S):
                if i == j:
                    names.append(f"sd_{blk.names[i]}|{blk.group}")
                else:
                    names.append(f"cor_{blk.names[i]}.{blk.names[j]}|{blk.group}")
    seen: dict[str, int] = {}
    for k, nm in enumerate(names):
        if nm in seen:
            seen[nm] += 1
            names[k] = f"{nm}.{seen[nm]}"
        else:
            seen[nm] = 0
    if sigma:
        names.append("sigma")
    return names
