"""Profiled (RE)ML objective of a linear mixed model and its solution at θ.

Model: ``y | u ~ N(Xβ + ZΛ_θ u + o, σ² W⁻¹)``, ``u ~ N(0, σ² I)``.  With
``L Lᵀ`` the blocked Cholesky factor of ``[Λ'Z'WZΛ + I, ΛZ'W[X y]; …, [X y]'W[X y]]``
and ``r`` the last diagonal element of ``L`` (so ``r² = `` penalized weighted
residual sum of squares), the profiled criteria are (Bates et al. 2015, eq. 34, 41)::

    ML:   d(θ) = log|L_ZZ|² − Σ log w_i + n   (1 + log(2π r² / n))
    REML: d(θ) = log|L_ZZ|² − Σ log w_i + log|L_XX|² + (n−p) (1 + log(2π r² / (n−p)))

Both are −2 × the (restricted) log-likelihood maximized over β and σ.  β̂, σ̂,
the conditional modes and the covariance of β̂ are computed once, after the
optimizer has converged (:meth:`LmmObjective.solution`).

This module sees ``A``, templates and codes only — no data frames.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.linalg import lapack

from mixedlm.linalg.blocked_cholesky import BlockedCholesky

#: Returned by the objective when a factorization fails inside the optimizer:
#: large and finite, so quadratic-model optimizers are not poisoned by ``inf``.
FAILED_OBJECTIVE = 1e15

#: Above this many random effects in a filled (dense) block, ``engine="auto"`` uses CHOLMOD.
DENSE_BLOCK_LIMIT = 6000


def choose_engine(A: Any) -> str:
    """Pick ``"blocked"`` or ``"cholmod"`` from the predicted fill of the blocked plan.

    The blocked plan keeps term 0 block diagonal and stores the diagonal blocks of
    later terms densely (unless term 1 is nested in term 0).  When a dense block
    would exceed :data:`DENSE_BLOCK_LIMIT` random effects (≈ 290 MB and 7·10¹⁰
    flops per factorization), CHOLMOD's sparse supernodal factorization is used.
    """
    K = len(A.diag)
    for k in range(1, K):
        q = A.diag[k].shape[0] * A.diag[k].shape[1]
        if k == 1 and np.all(np.diff(A.offdiag[(1, 0)].colptr) <= 1):
            continue
        if q > DENSE_BLOCK_LIMIT:
            return "cholmod"
    return "blocked"


def make_factor(A: Any, engine: str = "auto") -> Any:
    """Build the Cholesky engine: ``"blocked"``, ``"cholmod"`` or ``"auto"``."""
    if engine == "auto":
        engine = choose_engine(A)
    if engine == "blocked":
        return BlockedCholesky(A)
    if engine == "cholmod":
        from mixedlm.linalg.sparse_cholesky import SparseCholesky

        return SparseCholesky(A)
    raise ValueError(f"unknown engine {engine!r}; use 'auto', 'blocked' or 'cholmod'")


@dataclass
class LmmSolution:
    """Everything computed from a converged θ.

    Attributes
    ----------
    objective : float
        Deviance (ML) or REML criterion.
    beta : numpy.ndarray
        Fixed effects.
    sigma : float
        Residual standard deviation (``sqrt(r² / n)`` for ML, ``sqrt(r² / (n−p))`` for REML).
    u : numpy.ndarray
        Spherical conditional modes, stacked over terms in factorization order.
    b : list of numpy.ndarray
        Conditional modes per term, shape ``(ℓ_k, S_k)``.
    vcov_beta : numpy.ndarray
        ``σ² (L_XX L_XXᵀ)⁻¹``.
    ldL2, ldRX2, pwrss : float
        ``log|L_ZZ|²``, ``log|L_XX|²``, ``r²``.
    """

    objective: float
    beta: np.ndarray
    sigma: float
    u: np.ndarray
    b: list[np.ndarray]
    vcov_beta: np.ndarray
    ldL2: float
    ldRX2: float
    pwrss: float


class LmmObjective:
    """Profiled deviance / REML criterion as a function of θ.

    Parameters
    ----------
    re : ReStructure-like
        Terms (with ``template(theta)``) in factorization order.
    A : CrossProducts-like
        Blocks of ``[Z X y]' W [Z X y]``.
    reml : bool
        REML criterion when True, deviance otherwise.
    engine : {"auto", "blocked", "cholmod"}
        Cholesky engine.
    """

    def __init__(self, re: Any, A: Any, reml: bool = True, engine: str = "auto") -> None:
        self.re = re
        self.A = A
        self.reml = bool(reml)
        self.factor = make_factor(A, engine)
        self.engine = "cholmod" if type(self.factor).__name__ == "SparseCholesky" else "blocked"
        self.n = A.n
        self.p = A.p
        self.n_evals = 0

    def templates(self, theta: np.ndarray) -> list[np.ndarray]:
        """``T_k(θ)`` for every term, in factorization order."""
        return [t.template(theta) for t in self.re.terms]

    def _criterion(self, ldL2: float, ldRX2: float, pwrss: float, reml: bool) -> float:
        n, p = self.n, self.p
        ldW = self.A.sum_log_weights
        if reml:
            nmp = n - p
            return ldL2 - ldW + ldRX2 + nmp * (1.0 + math.log(2.0 * math.pi * pwrss / nmp))
        return ldL2 - ldW + n * (1.0 + math.log(2.0 * math.pi * pwrss / n))

    def _pieces(self, theta: np.ndarray) -> tuple[float, float, float] | None:
        theta = np.asarray(theta, dtype=np.float64)
        if not self.factor.factor(self.templates(theta)):
            return None
        LXX = self.factor.fixed_factor()
        p = self.p
        r = LXX[p, p]
        pwrss = float(r * r)
        if not (pwrss > 0.0 and math.isfinite(pwrss)):
            return None
        ldRX2 = 2.0 * float(np.sum(np.log(np.diag(LXX)[:p]))) if p else 0.0
        return self.factor.logdet_zz(), ldRX2, pwrss

    def __call__(self, theta: np.ndarray) -> float:
        """Objective at θ (a large finite value when the factorization fails)."""
        self.n_evals += 1
        pieces = self._pieces(theta)
        if pieces is None:
            return FAILED_OBJECTIVE
        return self._criterion(*pieces, reml=self.reml)

    def criterion(self, theta: np.ndarray, reml: bool) -> float:
        """The ML (``reml=False``) or REML criterion at θ, regardless of ``self.reml``."""
        pieces = self._pieces(theta)
        if pieces is None:
            return FAILED_OBJECTIVE
        return self._criterion(*pieces, reml=reml)

    def solution(self, theta: np.ndarray) -> LmmSolution:
        """β̂, σ̂, conditional modes and ``Var(β̂)`` at θ."""
        pieces = self._pieces(theta)
        if pieces is None:
            raise np.linalg.LinAlgError("the mixed-model equations are not positive definite at this θ")
        ldL2, ldRX2, pwrss = pieces
        p, n = self.p, self.n
        LXX = self.factor.fixed_factor()
        RX = np.asfortranarray(np.tril(LXX[:p, :p]))
        ly = LXX[p, :p].copy()
        beta = lapack.dtrtrs(RX, ly, lower=1, trans=1)[0] if p else np.zeros(0)
        sigma = math.sqrt(pwrss / (n - p if self.reml else n))
        u = self.factor.solve_u(beta)
        b: list[np.ndarray] = []
        off = 0
        theta = np.asarray(theta, dtype=np.float64)
        for t in self.re.terms:
            uk = u[off : off + t.q].reshape(t.nlev, t.S)
            b.append(uk @ t.template(theta).T)
            off += t.q
        if p:
            RXinv = lapack.dtrtri(RX, lower=1)[0]
            vcov = sigma * sigma * (RXinv.T @ RXinv)
        else:
            vcov = np.zeros((0, 0))
        return LmmSolution(
            objective=self._criterion(ldL2, ldRX2, pwrss, self.reml),
            beta=beta,
            sigma=sigma,
            u=u,
            b=b,
            vcov_beta=vcov,
            ldL2=ldL2,
            ldRX2=ldRX2,
            pwrss=pwrss,
        )

    def cond_var(self, theta: np.ndarray, sigma: float) -> list[np.ndarray]:
        """Conditional covariance blocks of ``b`` per level, as lme4's ``ranef(condVar=TRUE)``.

        ``Var(b_j | y) = σ² T [(Λ'Z'WZΛ + I)⁻¹]_jj Tᵀ`` — conditional on β̂, like lme4.
        Returns a list over terms (factorization order) of ``(ℓ_k, S_k, S_k)`` arrays.
        """
        if self._pieces(theta) is None:
            raise np.linalg.LinAlgError("the mixed-model equations are not positive definite at this θ")
        out = []
        for k, t in enumerate(self.re.terms):
            C = self.factor.cond_cov_blocks(k)
            T = t.template(np.asarray(theta, dtype=np.float64))
            out.append(sigma * sigma * np.matmul(np.matmul(T, C), T.T))
        return out


def moment_start(re: Any, y: np.ndarray) -> np.ndarray | None:
    """lme4's starting θ for models whose terms are all ``(1 | g)``.

    With ``v_g = var(ave(y, g))`` (variance of the group means spread to the rows)
    and ``v_e = var(y) − Σ v_g``, start from ``θ_g = sqrt(v_g / v_e)`` when
    ``v_e > 0``; otherwise None (use the default start).
    """
    if not re.all_intercept_only():
        return None
    n = y.shape[0]
    if n < 2:
        return None
    v = np.empty(len(re.blocks))
    for k, blk in enumerate(re.blocks):
        codes = re.terms[blk.term_index].codes
        counts = np.bincount(codes)
        means = np.bincount(codes, weights=y) / np.where(counts > 0, counts, 1)
        v[k] = np.var(means[codes], ddof=1)
    ve = np.var(y, ddof=1) - v.sum()
    if not (np.isfinite(ve) and ve > 0):
        return None
    rel = v / ve
    if np.any(rel < 0):
        return None
    start = np.empty(re.n_theta)
    for k, blk in enumerate(re.blocks):
        start[blk.theta_index] = math.sqrt(rel[k])
    return start
