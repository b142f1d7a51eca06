"""Bayesian mixed GLMs: posterior mode (MAP / Laplace) and mean-field variational Bayes.

The model is statsmodels' ``BayesMixedGLM``::

    p(y, β, v, c) = p(y | β, c) p(c | v) p(v) p(β)

* ``η = Xβ + Z c + o`` (``X`` dense ``n×p``, ``Z`` the sparse ``n×q`` matrix ``exog_vc``,
  ``o`` an offset), ``y_i | η_i`` from a binomial or Poisson family with any of its links;
* fixed effects ``β_j ~ N(0, fe_p²)``;
* variance parameters ``v_k`` (``vcp``) are log standard deviations, ``v_k ~ N(0, vcp_p²)``;
* random-effect realizations (``vc``) ``c_j ~ N(0, exp(v_{ident_j})²)``, all independent;
  ``ident`` (integers ``0..k−1``, one per column of ``Z``) groups columns sharing a variance.

Log posterior (unnormalised, *with* every normalising constant of the likelihood and of
the priors, so that it is ``log p(y, β, v, c)``)::

    L(β, v, c) = Σ_i ℓ_i(η_i)
                 − ½ Σ_j c_j² e^{−2 v_{ident_j}} − Σ_j v_{ident_j} − (q/2) log 2π
                 − Σ_k v_k² / (2 vcp_p²) − (k/2) log(2π vcp_p²)
                 − Σ_j β_j² / (2 fe_p²) − (p/2) log(2π fe_p²)

with ``ℓ_i`` the full log-likelihood of observation ``i`` (binomial: ``log C(n, s) + s log μ +
(n − s) log(1 − μ)``; Poisson: ``w (y log μ − μ − log y!)``).

Posterior mode (:func:`fit_map`)
--------------------------------
Maximized as ``max_v L*(v)`` with the *profile* ``L*(v) = max_{β, c} L(β, v, c)``.  For fixed
``v`` the inner problem is a penalized GLM, solved by Newton's method in the scaled
coordinates ``c = σ ∘ u`` (``σ_j = e^{v_{ident_j}}``, lme4's spherical random effects), where
the penalty is ``½‖u‖²`` and nothing overflows however small ``σ`` is.  With
``D = diag(ℓ''(η))`` and ``Z_σ = Z diag(σ)`` the inner gradient and Hessian are::

    ∇_β = Xᵀℓ' − β/fe_p²,            ∇_u = Z_σᵀℓ' − u
    −∇²  = M = [XᵀWX + I/fe_p²   XᵀWZ_σ ]      W = −D
               [Z_σᵀWX          Z_σᵀWZ_σ + I]

The outer problem has ``k`` variables.  By the envelope theorem its gradient is
``∂L*/∂v_k = Σ_{j∈k} (u_j² − 1) − v_k/vcp_p²`` and its Hessian is the exact Schur complement
``H_vv + H_vw M⁻¹ H_wv`` of the full Hessian in ``(β, u, v)``: with ``c_k = Z_k σ_k u_k`` (the
``n``-vector component ``k`` adds to ``η``)::

    H_{β v_k}   = XᵀD c_k
    H_{u_j v_k} = [ident_j = k] σ_k (Zᵀℓ')_j + σ_{ident_j} (ZᵀD c_k)_j
    H_{v_k v_l} = c_kᵀ D c_l + [k = l] (ℓ'ᵀc_k − 1/vcp_p²)

so the outer Newton iteration uses analytic first and second derivatives throughout.

The joint density of ``(c, v)`` has a *funnel*: letting ``c_k → 0`` and ``v_k → −∞`` together
gains ``−q_k v_k``, so besides a possible interior mode every component has a degenerate
mode near ``v_k = −q_k vcp_p²`` (``q_k`` = number of columns with label ``k``) where its
random effects vanish.  The posterior *mode* is the highest of these; :func:`fit_map`
searches the interior mode from a deterministic start and then, greedily, the collapsed
alternatives for each component with ``q_k vcp_p² ≥`` :data:`FUNNEL_MIN`, and returns the
highest log posterior found (set ``allow_collapse=False`` for the interior mode only).

Posterior covariance: ``(−∇²L)⁻¹`` at the mode, computed in ``(β, u, v)`` by the block
inverse built on ``M`` and the Schur complement, then mapped to ``(β, v, c)`` by the Jacobian
of ``c_j = σ_j u_j`` (``dc_j = σ_j du_j + c_j dv_{ident_j}``) — exact at a stationary point.

Variational Bayes (:func:`fit_vb`)
----------------------------------
Mean-field Gaussian ``q = Π N(m_a, s_a²)`` over every coordinate of ``(β, v, c)``.  With
``η_i ~ N(μ_i, τ_i²)`` under ``q`` (``μ = X m_β + Z m_c + o``,
``τ² = (X∘X) s_β² + (Z∘Z) s_c²``) the evidence lower bound is::

    ELBO = Σ_i E[ℓ_i(η_i)]
           + Σ_j [−½ log 2π − m_{v,ident_j} − ½ (m_{c_j}² + s_{c_j}²) exp(−2 m_{v,ident_j} + 2 s_{v,ident_j}²)]
           + Σ_k [−½ log(2π vcp_p²) − (m_{v_k}² + s_{v_k}²)/(2 vcp_p²)]
           + Σ_j [−½ log(2π fe_p²) − (m_{β_j}² + s_{β_j}²)/(2 fe_p²)]
           + Σ_a [½ log(2πe) + log s_a]                                     (entropy of q)

``E[exp(−2v)] = exp(−2m + 2s²)`` is exact.  ``E[ℓ_i(η_i)]`` is Gauss–Hermite quadrature
``Σ_r ω_r ℓ_i(μ_i + √2 τ_i t_r)`` (``ω_r`` = weights / √π), except for the Poisson log link
where it is exact: ``w(y μ_i − e^{μ_i + τ_i²/2}) + const``.  Its derivatives are those of the
quadrature rule itself (so the optimizer sees a consistent objective)::

    ∂/∂μ_i = Σ_r ω_r ℓ_i'(η_ir),      ∂/∂τ_i = Σ_r ω_r √2 t_r ℓ_i'(η_ir)
    ∂τ_i/∂ log s_{β_j} = x_ij² s_{β_j}² / τ_i,  ∂τ_i/∂ log s_{c_j} = z_ij² s_{c_j}² / τ_i.

The ELBO is maximized over ``(m, log s)`` by damped Newton steps with its exact Hessian (the
formulas are in :class:`_Elbo`; the ``(β, c)`` block has the sparsity of ``[X Z]ᵀ[X Z]`` in
each quarter and is factored densely or by CHOLMOD, the ``k`` variance parameters by a Schur
complement), from a deterministic start: a penalized (inner Newton) fit and one moment update
of ``v``.  L-BFGS with the analytic gradient is available as an alternative.

Links whose inverse is defined on part of the line only (binomial ``log``: ``η < 0``; Poisson
``identity`` and ``sqrt``: ``η > 0``) give ``E_q[ℓ] = −∞`` under every Gaussian ``q``, so the
ELBO does not exist; :func:`fit_vb` refuses them (``fit_map`` handles them).

``Z`` is kept sparse (CSC) throughout: products ``Z a``, ``Zᵀ r``, ``(Z∘Z) a`` and
``Z_σᵀ W Z_σ``.  The Gram matrices and the factorizations are those of
:mod:`mixedlm.linalg.penalized_gram` (``M`` is its penalized normal matrix with ``d = W``,
``s = σ`` and the ridge ``1/fe_p²``; the ELBO Hessian its four-quarter Gram matrix with a
dense border): dense Cholesky for ``p + q ≤`` :data:`DENSE_LIMIT` (after eliminating a
diagonal leading block when a component has one), CHOLMOD on the ``q×q`` block with a dense
``p×p`` Schur complement beyond.  This module holds the statistics only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
from scipy.optimize import minimize

from mixedlm.engines.loglik import HALF_LINE, FixedResponse
from mixedlm.linalg.penalized_gram import (
    BorderedFactor,
    CholmodPattern,
    DiagonalLead,
    DiagonalLeadFactor,
    PenalizedFactor,
    RowPairs,
    WeightedGram,
    factor_penalized,
    have_cholmod,
)

__all__ = [
    "BayesProblem",
    "BayesFit",
    "LogLikKernel",
    "fit_map",
    "fit_vb",
    "log_posterior",
    "elbo",
    "DENSE_LIMIT",
]

_LOG_2PI = math.log(2.0 * math.pi)
_SQRT2 = math.sqrt(2.0)
#: Above this many fixed + random coefficients the Newton systems always use CHOLMOD.
DENSE_LIMIT = 2500
#: At or below this many, always dense LAPACK (CHOLMOD's overhead dominates).
SPARSE_MIN = 200
#: Collapsed-mode candidates are searched only for components with ``q_k vcp_p²`` at least this
#: (below it ``e^{−q_k vcp_p²}`` is not small and the interior search already covers that region).
FUNNEL_MIN = 4.0
#: Exponents are clipped here before ``exp`` (keeps objectives finite, just very bad).
_EXP_MAX = 700.0


# --------------------------------------------------------------------------------------
# Log-likelihood kernels: ℓ(η), ℓ'(η), ℓ''(η) per observation, with the link folded in
# --------------------------------------------------------------------------------------


class LogLikKernel:
    """Per-observation log-likelihood of a binomial or Poisson family as a function of ``η``.

    Parameters
    ----------
    family : Family
        ``mixedlm.families.Binomial(link=...)`` or ``Poisson(link=...)``.
    y : numpy.ndarray
        Response on the family's scale (binomial: proportion of successes).
    weights : numpy.ndarray
        Binomial: number of trials; Poisson: prior weights.

    Notes
    -----
    Binomial: with ``s = w y`` successes and ``f = w − s`` failures,
    ``ℓ = s log μ(η) + f log(1 − μ(η)) + log C(w, s)``.  Poisson:
    ``ℓ = w (y log μ(η) − μ(η) − log y!)``.  :meth:`__call__` returns the η-dependent part and
    its first two derivatives and :attr:`const` the constant — both from the family
    (:meth:`Family.loglik_eta <mixedlm.engines.families.Family.loglik_eta>`, one
    implementation shared with PIRLS and the quadrature); this class adds the Gaussian
    expectations the variational engine needs.
    """

    def __init__(self, family: Any, y: np.ndarray, weights: np.ndarray) -> None:
        self.family = family
        self.family_name = family.name
        self.link_name = family.link.name
        if self.family_name not in ("binomial", "poisson"):
            raise ValueError(
                f"the Bayesian mixed GLM supports the binomial and Poisson families, not {self.family_name}"
            )
        allowed = {
            "binomial": ("logit", "probit", "cloglog", "cauchit", "log"),
            "poisson": ("log", "identity", "sqrt"),
        }[self.family_name]
        if self.link_name not in allowed:
            raise ValueError(f"link {self.link_name!r} is not available for the {self.family_name} family")
        self.y = np.asarray(y, dtype=np.float64)
        self.w = np.asarray(weights, dtype=np.float64)
        self.const = np.asarray(family.loglik_constant(self.y, self.w), dtype=np.float64)
        self._loglik = FixedResponse(family, self.y, self.w)  # Family.loglik_eta, response fixed
        self.n = self.y.shape[0]
        self.exact_gaussian = (self.family_name, self.link_name) == ("poisson", "log")
        self.vb_problem = HALF_LINE.get((self.family_name, self.link_name))

    def __call__(self, eta: np.ndarray, order: int = 2) -> tuple:
        """``(ℓ − const, ℓ', ℓ'')`` at ``η`` (shape ``(n,)`` or ``(n, r)``); unused orders are None."""
        return self._loglik(eta, order)

    def start_eta(self) -> np.ndarray:
        """``g(mustart)``: R's GLM starting linear predictor (finite and in the link's domain)."""
        mu0 = self.family.mustart(self.y, self.w)
        with np.errstate(divide="ignore", invalid="ignore"):
            eta = np.asarray(self.family.link.linkfun(mu0), dtype=np.float64)
        return np.where(np.isfinite(eta), eta, 0.0)

    def expect(self, m: np.ndarray, tau: np.ndarray, nodes: np.ndarray, weights: np.ndarray, order: int = 1) -> tuple:
        """``E[ℓ_i(η_i) − const_i]`` for ``η_i ~ N(m_i, τ_i²)`` and its derivatives in ``(m_i, τ_i)``.

        Gauss–Hermite with ``nodes`` / ``weights`` (weights already divided by √π):
        ``E = Σ_r ω_r ℓ(η_r)``, ``η_r = m + √2 τ t_r``, differentiated as the rule itself
        (``∂_m = Σ ω ℓ'``, ``∂_τ = Σ ω √2 t ℓ'``, ``∂_mm = Σ ω ℓ''``, ``∂_mτ = Σ ω √2 t ℓ''``,
        ``∂_ττ = Σ ω 2t² ℓ''``).  Exact for the Poisson log link:
        ``E = w(y m − e^{m + τ²/2})``.

        Returns
        -------
        tuple
            ``(E, E_m, E_τ)``, plus ``(E_mm, E_mτ, E_ττ)`` when ``order == 2``.
        """
        if self.exact_gaussian:
            e = np.exp(np.minimum(m + 0.5 * tau * tau, _EXP_MAX))
            w, y = self.w, self.y
            we = w * e
            out = (w * y * m - we, w * y - we, -tau * we)
            if order == 2:
                out = out + (-we, -tau * we, -we * (1.0 + tau * tau))
            return out
        eta = m[:, None] + (_SQRT2 * tau)[:, None] * nodes[None, :]
        l, d1, d2 = self(eta, order=order)
        wt = weights * _SQRT2 * nodes
        out = (l @ weights, d1 @ weights, d1 @ wt)
        if order == 2:
            out = out + (d2 @ weights, d2 @ wt, d2 @ (weights * 2.0 * nodes * nodes))
        return out


# --------------------------------------------------------------------------------------
# The problem: data, design and priors
# --------------------------------------------------------------------------------------


@dataclass
class BayesProblem:
    """A Bayesian mixed GLM on arrays: what the engines need and nothing else.

    Attributes
    ----------
    X : numpy.ndarray
        ``(n, p)`` fixed-effects design (``p`` may be 0).
    Z : scipy.sparse.csc_matrix
        ``(n, q)`` random-effects design (``exog_vc``), ``q ≥ 1``.
    ident : numpy.ndarray
        ``(q,)`` int64 labels ``0..k−1``.
    kernel : LogLikKernel
        Response, weights, family and link.
    offset : numpy.ndarray
        ``(n,)`` known part of ``η``.
    vcp_p, fe_p : float
        Prior SDs of the log-SD parameters and of the fixed effects (> 0).
    """

    X: np.ndarray
    Z: sp.csc_matrix
    ident: np.ndarray
    kernel: LogLikKernel
    offset: np.ndarray
    vcp_p: float = 1.0
    fe_p: float = 2.0
    k: int = field(init=False)
    gram: WeightedGram = field(init=False, repr=False)
    ZT: sp.csr_matrix = field(init=False, repr=False)
    Z2: sp.csc_matrix = field(init=False, repr=False)
    Z2T: sp.csr_matrix = field(init=False, repr=False)
    X2: np.ndarray = field(init=False, repr=False)
    nk: np.ndarray = field(init=False)
    pairs: RowPairs = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.gram = WeightedGram(self.X, self.Z)
        self.X, self.Z = self.gram.X, self.gram.Z
        self.ident = np.asarray(self.ident, dtype=np.int64)
        self.k = int(self.ident.max()) + 1 if self.ident.size else 0
        self.ZT, self.Z2, self.Z2T, self.X2 = self.gram.ZT, self.gram.Z2, self.gram.Z2T, self.gram.X2
        self.nk = np.bincount(self.ident, minlength=self.k)
        self.offset = np.asarray(self.offset, dtype=np.float64)
        self.pairs = self.gram.pairs
        nz_col = np.repeat(np.arange(self.q), np.diff(self.Z.indptr))
        self._nz_col = nz_col
        self._nz_key = self.Z.indices.astype(np.int64) * max(self.k, 1) + self.ident[nz_col]
        #: CHOLMOD symbolic analyses of ``M`` (MAP Newton) and of the ELBO Hessian (VB).
        self.newton_pattern = CholmodPattern()
        self.vb_pattern = CholmodPattern()
        nnz = self.pairs.nnz if self.pairs.ok else self.q * self.q
        #: Dense Newton systems for small or dense ``ZᵀZ``; CHOLMOD otherwise.
        self.use_dense = (
            not have_cholmod()
            or not self.pairs.ok
            or self.p + self.q <= SPARSE_MIN
            or (nnz > 0.1 * self.q * self.q and self.p + self.q <= DENSE_LIMIT)
        )
        #: A variance component whose columns never share a row (≥ 50 of them), eliminated
        #: first as a diagonal block on the dense path.
        self.lead = DiagonalLead.find(self.gram, self.ident) if self.use_dense and self.k else None

    def component_columns(self, vc: np.ndarray) -> np.ndarray:
        """``C`` with ``C[:, k] = Σ_{j: ident_j = k} Z[:, j] c_j`` (``n × k``)."""
        k = max(self.k, 1)
        vals = self.Z.data * vc[self._nz_col]
        return np.bincount(self._nz_key, weights=vals, minlength=self.n * k).reshape(self.n, k)

    @property
    def n(self) -> int:
        """Number of observations."""
        return int(self.X.shape[0])

    @property
    def p(self) -> int:
        """Number of fixed effects."""
        return self.gram.p

    @property
    def q(self) -> int:
        """Number of random-effect realizations (columns of ``Z``)."""
        return self.gram.q

    def prior_constants(self) -> float:
        """``−(q/2) log 2π − (k/2) log(2π vcp_p²) − (p/2) log(2π fe_p²)``."""
        return (
            -0.5 * self.q * _LOG_2PI
            - 0.5 * self.k * (_LOG_2PI + 2.0 * math.log(self.vcp_p))
            - 0.5 * self.p * (_LOG_2PI + 2.0 * math.log(self.fe_p))
        )

    def eta(self, beta: np.ndarray, c: np.ndarray) -> np.ndarray:
        """``Xβ + Zc + o``."""
        out = self.Z @ c + self.offset
        if self.p:
            out += self.X @ beta
        return out


def log_posterior(problem: BayesProblem, beta: np.ndarray, vcp: np.ndarray, vc: np.ndarray) -> float:
    """``log p(y, β, v, c)`` with every constant (see the module docstring).

    ``c_j² e^{−2v}`` is evaluated as ``(c_j e^{−v})²`` through logarithms, so a collapsed
    component (``v ≪ 0``, ``c ≈ 0``) does not overflow.
    """
    ker = problem.kernel
    l, _, _ = ker(problem.eta(beta, vc), order=0)
    ll = float(np.sum(l) + np.sum(ker.const))
    v = vcp[problem.ident]
    with np.errstate(divide="ignore"):
        ratio = np.where(vc == 0.0, 0.0, np.exp(np.log(np.abs(vc)) - v))
    return (
        ll
        - 0.5 * float(ratio @ ratio)
        - float(np.sum(v))
        - 0.5 * float(vcp @ vcp) / problem.vcp_p**2
        - 0.5 * float(beta @ beta) / problem.fe_p**2
        + problem.prior_constants()
    )


# --------------------------------------------------------------------------------------
# Newton systems  M = [XᵀWX + I/fe², XᵀWZσ; ZσᵀWX, ZσᵀWZσ + I]  (linalg/penalized_gram.py)
# --------------------------------------------------------------------------------------

NewtonSystem = PenalizedFactor | DiagonalLeadFactor


def _make_system(problem: BayesProblem, W: np.ndarray, sig_cols: np.ndarray) -> NewtonSystem:
    """The Newton matrix ``M`` at curvature weights ``W`` and scales ``σ``, factored.

    ``M`` is the penalized normal matrix of :mod:`mixedlm.linalg.penalized_gram` with
    ``d = W``, ``s = σ`` and the ridge ``1/fe_p²`` (the fixed effects' prior precision);
    a diagonal leading block is eliminated first when the design has one, else dense LAPACK
    or CHOLMOD as :attr:`BayesProblem.use_dense` says.
    """
    return factor_penalized(
        problem.gram,
        W,
        sig_cols,
        1.0 / problem.fe_p**2,
        dense=problem.use_dense,
        lead=problem.lead,
        pattern=problem.newton_pattern,
    )


# --------------------------------------------------------------------------------------
# Inner problem: penalized GLM in (β, u) for fixed v
# --------------------------------------------------------------------------------------


@dataclass
class _Inner:
    """Inner optimum at fixed ``v``: ``w = (β, u)``, ``η``, ``ℓ`` derivatives and ``f = L*(v)``."""

    vcp: np.ndarray
    sig_cols: np.ndarray
    w: np.ndarray
    eta: np.ndarray
    d1: np.ndarray
    d2: np.ndarray
    value: float
    system: NewtonSystem | None
    iterations: int
    converged: bool


def _penalized(problem: BayesProblem, w: np.ndarray, sig_cols: np.ndarray) -> tuple:
    """``Σℓ − ½‖u‖² − ½‖β‖²/fe²`` (no constants) at ``w = (β, u)``, with ``η``, ``ℓ'`` and ``ℓ''``."""
    p = problem.p
    beta, u = w[:p], w[p:]
    eta = problem.eta(beta, sig_cols * u)
    l, d1, d2 = problem.kernel(eta, order=2)
    val = float(np.sum(l)) - 0.5 * float(u @ u) - 0.5 * float(beta @ beta) / problem.fe_p**2
    return val, eta, d1, d2


def _solve_inner(
    problem: BayesProblem, vcp: np.ndarray, w0: np.ndarray, tol: float = 1e-11, maxit: int = 200
) -> _Inner:
    """Newton's method with step halving for ``max_{β,u} L`` at fixed ``v``.

    Newton matrix: ``M`` with ``W = max(−ℓ'', 0)`` (the exact Hessian for log-concave
    likelihoods; curvature clipped at 0 for the cauchit link).  Stops when the Newton
    decrement ``gᵀM⁻¹g`` falls below ``tol``, after taking that last full step.  One
    likelihood evaluation (value and two derivatives) per Newton step.
    """
    p = problem.p
    sig_cols = np.exp(vcp)[problem.ident]
    w = w0.copy()
    val, eta, d1, d2 = _penalized(problem, w, sig_cols)
    if not np.isfinite(val):
        raise FloatingPointError("the starting linear predictor is outside the link's domain")
    converged = False
    system = None
    it = 0
    for it in range(1, maxit + 1):
        g = np.empty_like(w)
        g[:p] = problem.X.T @ d1 - w[:p] / problem.fe_p**2
        g[p:] = sig_cols * (problem.ZT @ d1) - w[p:]
        W = np.maximum(-d2, 0.0)
        if not (np.all(np.isfinite(W)) and np.all(np.isfinite(g))):
            raise FloatingPointError("non-finite curvature in the inner Newton iteration")
        try:
            system = _make_system(problem, W, sig_cols)
        except np.linalg.LinAlgError as exc:
            raise FloatingPointError(str(exc)) from None
        step = system.solve(g)
        dec = float(g @ step)
        if dec < tol:
            # Take the final (full) Newton step: near the optimum it squares the error, which
            # the profile gradient (envelope theorem) relies on (kept only if it stays valid).
            w_new = w + step
            new = _penalized(problem, w_new, sig_cols)
            if np.isfinite(new[0]) and new[0] >= val - 1e-9 * max(1.0, abs(val)):
                w = w_new
                val, eta, d1, d2 = new
            converged = True
            break
        t = 1.0
        for _ in range(60):
            w_new = w + t * step
            new = _penalized(problem, w_new, sig_cols)
            if np.isfinite(new[0]) and new[0] >= val - 1e-12 * abs(val):
                break
            t *= 0.5
        else:
            break
        improved = new[0] - val
        w = w_new
        val, eta, d1, d2 = new
        if improved <= 1e-15 * max(1.0, abs(val)) and dec < 1e-6:
            converged = True
            break
    return _Inner(
        vcp=vcp.copy(),
        sig_cols=sig_cols,
        w=w,
        eta=eta,
        d1=d1,
        d2=d2,
        value=val,
        system=system,
        iterations=it,
        converged=converged,
    )


def _warm(problem: BayesProblem, inner: _Inner, vcp: np.ndarray) -> np.ndarray:
    """Warm start for a new ``v``: ``u`` scaled by ``min(σ_old/σ_new, 1)``.

    Where ``σ`` grows this keeps ``c`` (and ``η``) unchanged, so a long step in ``v`` cannot
    blow the linear predictor up; where ``σ`` shrinks ``u`` is kept.
    """
    p = problem.p
    w = inner.w.copy()
    ratio = np.minimum(np.exp(inner.vcp - vcp), 1.0)
    w[p:] *= ratio[problem.ident]
    return w


def _profile_value(problem: BayesProblem, inner: _Inner) -> float:
    """``L*(v)`` without constants: inner value ``− Σ_j v_{ident_j} − ½‖v‖²/vcp_p²``."""
    v = inner.vcp
    return inner.value - float(problem.nk @ v) - 0.5 * float(v @ v) / problem.vcp_p**2


def _profile_derivs(
    problem: BayesProblem, inner: _Inner, exact: NewtonSystem | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, NewtonSystem, np.ndarray]:
    """Gradient and exact Hessian of ``L*(v)``; also ``H_wv``, the exact-Hessian system and
    ``Y = M⁻¹H_wv = dw*/dv`` (the implicit-function derivative of the inner optimum).

    See the module docstring for the formulas.
    """
    p, k = problem.p, problem.k
    u = inner.w[p:]
    v = inner.vcp
    gvec = np.bincount(problem.ident, weights=u * u - 1.0, minlength=k) - v / problem.vcp_p**2
    D = inner.d2
    if exact is None:
        exact = _exact_system(problem, inner)
    vc = inner.sig_cols * u
    C = problem.component_columns(vc)
    DC = D[:, None] * C
    Hwv = np.empty((p + problem.q, k))
    if p:
        Hwv[:p] = problem.X.T @ DC
    ZtDC = np.asarray(problem.ZT @ DC)
    Hwv[p:] = inner.sig_cols[:, None] * ZtDC
    Ztd1 = problem.ZT @ inner.d1
    Hwv[p + np.arange(problem.q), problem.ident] += inner.sig_cols * Ztd1
    Hvv = C.T @ DC
    Hvv[np.diag_indices(k)] += C.T @ inner.d1 - 1.0 / problem.vcp_p**2
    Y = exact.solve(Hwv)
    Hp = Hvv + Hwv.T @ Y
    return gvec, 0.5 * (Hp + Hp.T), Hwv, exact, Y


def _exact_system(problem: BayesProblem, inner: _Inner, fresh: bool = False) -> NewtonSystem:
    """``M`` with the exact curvature ``W = −ℓ''`` at the inner optimum.

    Unless ``fresh``, the last Newton system is reused when no curvature was clipped (it
    differs from the one at the final point only by the last, tiny Newton step).
    """
    W = -inner.d2
    if not fresh and np.all(W >= 0) and inner.system is not None:
        return inner.system
    try:
        return _make_system(problem, W, inner.sig_cols)
    except (np.linalg.LinAlgError, Exception):  # not negative definite: fall back to clipped curvature
        return _make_system(problem, np.maximum(W, 0.0), inner.sig_cols)


@dataclass
class _Outer:
    inner: _Inner
    value: float
    grad: np.ndarray
    hess: np.ndarray
    iterations: int
    inner_solves: int
    converged: bool


def _ascent_direction(H: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Newton direction ``−H⁻¹g`` if ``H`` is negative definite, else with eigenvalues ``−|λ|``."""
    try:
        c = np.linalg.cholesky(-H)
        return sla.cho_solve((c, True), g)
    except np.linalg.LinAlgError:
        lam, V = np.linalg.eigh(H)
        lam = np.maximum(np.abs(lam), 1e-8 * max(1.0, float(np.max(np.abs(lam)))))
        return V @ ((V.T @ g) / lam)


def _maximize_profile(
    problem: BayesProblem,
    vcp0: np.ndarray,
    w0: np.ndarray,
    maxit: int = 200,
    gtol: float = 1e-9,
    max_step: float = 10.0,
    inner0: _Inner | None = None,
) -> _Outer:
    """Newton's method with backtracking on ``L*(v)`` (exact gradient and Hessian).

    ``inner0``: the inner optimum at ``vcp0`` if already known.
    """
    inner = inner0 if inner0 is not None else _solve_inner(problem, vcp0, w0)
    solves = 1
    val = _profile_value(problem, inner)
    g, H, _, _, Y = _profile_derivs(problem, inner)
    converged = False
    it = 0
    for it in range(1, maxit + 1):
        if float(np.max(np.abs(g))) < gtol * max(1.0, float(np.max(problem.nk))):
            converged = True
            break
        step = _ascent_direction(H, g)
        if float(g @ step) < 1e-15 * max(1.0, abs(val)):
            converged = True
            break
        big = float(np.max(np.abs(step)))
        if big > max_step:
            step *= max_step / big
        slope = float(g @ step)
        if slope <= 0:
            step, slope = g.copy(), float(g @ g)
        t = 1.0
        accepted = False
        for _ in range(50):
            v_new = inner.vcp + t * step
            solves += 1
            dv = v_new - inner.vcp
            if float(np.max(np.abs(dv))) <= 1.0:
                w_start = inner.w + Y @ dv  # first-order prediction of the new inner optimum
            else:
                w_start = _warm(problem, inner, v_new)
            # Inexact inner solves while the outer gradient is large (the envelope-theorem
            # gradient only needs inner accuracy of the order of the outer progress).
            gmax = float(np.max(np.abs(g)))
            tol_in = min(1e-4, max(1e-11, 1e-4 * gmax * gmax))
            try:
                trial = _solve_inner(problem, v_new, w_start, tol=tol_in)
            except FloatingPointError:
                t *= 0.5
                continue
            tval = _profile_value(problem, trial)
            if np.isfinite(tval) and tval >= val + 1e-4 * t * slope:
                accepted = True
                break
            t *= 0.5
        if not accepted:
            converged = float(np.max(np.abs(g))) < 1e-5 * max(1.0, float(np.max(problem.nk)))
            break
        gain = tval - val
        inner, val = trial, tval
        g, H, _, _, Y = _profile_derivs(problem, inner)
        if gain < 1e-13 * max(1.0, abs(val)) and t * float(np.max(np.abs(step))) < 1e-9:
            converged = True
            break
    return _Outer(inner=inner, value=val, grad=g, hess=H, iterations=it, inner_solves=solves, converged=converged)


# --------------------------------------------------------------------------------------
# Results container
# --------------------------------------------------------------------------------------


@dataclass
class BayesFit:
    """What an engine returns.

    Attributes
    ----------
    method : str
        ``"map"`` or ``"vb"``.
    mean : numpy.ndarray
        Posterior mode (MAP) or variational means, packed ``(β, v, c)``.
    sd : numpy.ndarray
        Posterior SDs in the same order.
    cov : numpy.ndarray or None
        Full posterior covariance (MAP, when computed), else None (VB: ``sd²`` is the
        diagonal covariance).
    objective : float
        Log posterior ``log p(y, β, v, c)`` at the mode (MAP) or the ELBO (VB).
    converged : bool
    iterations : int
    message : str
    collapsed : list of int
        Components at a degenerate (funnel) mode (MAP).
    info : dict
        Extra diagnostics (evaluations, gradient norm, candidates tried).
    """

    method: str
    mean: np.ndarray
    sd: np.ndarray
    cov: np.ndarray | None
    objective: float
    converged: bool
    iterations: int
    message: str
    collapsed: list[int] = field(default_factory=list)
    info: dict = field(default_factory=dict)


# --------------------------------------------------------------------------------------
# Starting values
# --------------------------------------------------------------------------------------


def _start_w(problem: BayesProblem) -> np.ndarray:
    """``β`` by least squares of the GLM start ``g(mustart) − o`` on ``X`` (ridge 1e-8); ``u = 0``."""
    p = problem.p
    w = np.zeros(p + problem.q)
    ker = problem.kernel
    if p:
        target = ker.start_eta() - problem.offset
        X = problem.X
        A = X.T @ X
        A[np.diag_indices(p)] += 1e-8 * max(1.0, float(np.trace(A)) / p)
        w[:p] = sla.solve(A, X.T @ target, assume_a="pos")
        if not np.all(np.isfinite(ker(X @ w[:p] + problem.offset, order=0)[0])):
            # Outside a half-line link's domain: a constant linear predictor at the mean
            # response instead (needs a constant column of X).
            const = np.flatnonzero(np.all(X == X[:1], axis=0) & (X[0] != 0))
            w[:p] = 0.0
            if const.size:
                eta0 = float(np.median(ker.start_eta()))
                w[const[0]] = (eta0 - float(np.median(problem.offset))) / X[0, const[0]]
    if not np.all(np.isfinite(ker(problem.X @ w[:p] + problem.offset, order=0)[0])):
        raise FloatingPointError(
            f"no starting values inside the domain of the {ker.link_name} link (the linear predictor "
            "must stay where the mean is valid); add an intercept to the fixed effects, use an offset "
            "inside the domain, or choose a link defined on the whole line"
        )
    return w


def _quick_start(problem: BayesProblem, rounds: int = 1) -> tuple[np.ndarray, _Inner]:
    """Deterministic start: penalized fit at ``v = 0``, then moment updates of ``v``.

    Each round sets ``v_k = ½ log(mean_{j∈k}(c_j² + Var c_j))`` (clipped to ``[−4, 3]``)
    with ``Var c_j ≈ σ_j² / M_jj`` and refits.  The domain of half-line links is respected
    because the inner Newton iteration starts inside it and never leaves it.
    """
    k, p = problem.k, problem.p
    vcp = np.zeros(k)
    w = _start_w(problem)
    inner = _solve_inner(problem, vcp, w)
    for _ in range(rounds):
        u = inner.w[p:]
        dg = inner.system.diag()[p:] if inner.system is not None else np.ones(problem.q)
        second = u * u + 1.0 / dg  # in units of σ²
        mean2 = np.bincount(problem.ident, weights=second, minlength=k) / np.maximum(problem.nk, 1)
        new = np.clip(vcp + 0.5 * np.log(np.maximum(mean2, 1e-300)), -4.0, 3.0)
        if np.max(np.abs(new - vcp)) < 1e-3:
            break
        w = inner.w.copy()
        w[p:] *= np.exp(vcp - new)[problem.ident]
        vcp = new
        inner = _solve_inner(problem, vcp, w)
    return vcp, inner


# --------------------------------------------------------------------------------------
# MAP
# --------------------------------------------------------------------------------------


def _posterior_cov(problem: BayesProblem, outer: _Outer) -> tuple[np.ndarray, np.ndarray | None]:
    """Posterior SDs (and the full covariance when ``p + k + q`` is moderate) at the mode.

    Block inverse of ``−H̃`` in ``(w, v)``: ``S = −H_p``, ``Y = −M⁻¹H_wv``;
    ``Cov(w) = M⁻¹ + Y S⁻¹ Yᵀ``, ``Cov(w, v) = −Y S⁻¹``, ``Cov(v) = S⁻¹``; then
    ``Cov(β, v, c) = J Cov(β, u, v) Jᵀ`` with ``dc_j = σ_j du_j + c_j dv_{ident_j}``.
    """
    inner = outer.inner
    p, q, k = problem.p, problem.q, problem.k
    g, Hp, Hwv, exact, _ = _profile_derivs(problem, inner, exact=_exact_system(problem, inner, fresh=True))
    S = -Hp
    try:
        Sinv = np.linalg.inv(S)
    except np.linalg.LinAlgError:
        Sinv = np.linalg.pinv(S)
    Y = -exact.solve(Hwv)
    sig = inner.sig_cols
    vc = sig * inner.w[p:]
    # J maps (β, u, v) -> (β, v, c); columns of the output order (β, v, c).
    d = p + k + q
    if d <= 4 * DENSE_LIMIT:
        Minv = exact.inverse()
        Cww = Minv + Y @ Sinv @ Y.T
        Cwv = -Y @ Sinv
        J = np.zeros((d, p + q + k))
        J[:p, :p] = np.eye(p)
        J[p : p + k, p + q :] = np.eye(k)
        J[p + k + np.arange(q), p + np.arange(q)] = sig
        J[p + k + np.arange(q), p + q + problem.ident] = vc
        Ct = np.empty((p + q + k, p + q + k))
        Ct[: p + q, : p + q] = Cww
        Ct[: p + q, p + q :] = Cwv
        Ct[p + q :, : p + q] = Cwv.T
        Ct[p + q :, p + q :] = Sinv
        cov = J @ Ct @ J.T
        cov = 0.5 * (cov + cov.T)
        return np.sqrt(np.maximum(np.diag(cov), 0.0)), cov
    # Large q: diagonal only, M⁻¹'s diagonal column block by column block.
    diag_Minv = np.empty(p + q)
    step = 512
    for a in range(0, p + q, step):
        b = min(a + step, p + q)
        E = np.zeros((p + q, b - a))
        E[np.arange(a, b), np.arange(b - a)] = 1.0
        diag_Minv[a:b] = exact.solve(E)[np.arange(a, b), np.arange(b - a)]
    YS = Y @ Sinv
    dww = diag_Minv + np.einsum("ij,ij->i", YS, Y)
    cwv = -YS
    var_b = dww[:p]
    var_u = dww[p:]
    var_v = np.diag(Sinv)
    cuv = cwv[p + np.arange(q), problem.ident]
    var_c = sig * sig * var_u + 2.0 * sig * vc * cuv + vc * vc * var_v[problem.ident]
    sd = np.sqrt(np.maximum(np.concatenate([var_b, var_v, var_c]), 0.0))
    return sd, None


def fit_map(problem: BayesProblem, allow_collapse: bool = True, maxit: int = 200) -> BayesFit:
    """Posterior mode of ``log p(y, β, v, c)`` and the Laplace covariance (see the module docstring).

    Parameters
    ----------
    problem : BayesProblem
    allow_collapse : bool
        Also search the degenerate modes where a component's random effects vanish and
        ``v_k → −q_k vcp_p²``; the highest mode is returned.  With False, the mode reached
        from the deterministic start (usually the interior one).
    maxit : int
        Maximum outer Newton iterations per search.

    Returns
    -------
    BayesFit
    """
    p, k = problem.p, problem.k
    vcp0, inner0 = _quick_start(problem)
    best = _maximize_profile(problem, vcp0, inner0.w, maxit=maxit, inner0=inner0)
    tried = [("start", best.value)]
    iters = best.iterations
    solves = best.inner_solves
    interior = vcp0.copy()
    funnel = -problem.nk.astype(np.float64) * problem.vcp_p**2

    def state(v: np.ndarray) -> tuple[bool, ...]:
        return tuple(bool(x) for x in v < 0.5 * funnel)

    if allow_collapse and k:
        seen = {state(best.inner.vcp)}
        improved = True
        rounds = 0
        while improved and rounds < 2 * k + 2:
            improved = False
            rounds += 1
            for comp in range(k):
                if funnel[comp] > -FUNNEL_MIN:
                    continue  # no separate degenerate mode: σ = e^{−q vcp_p²} is not negligible
                collapse = not state(best.inner.vcp)[comp]
                v_try = best.inner.vcp.copy()
                v_try[comp] = funnel[comp] if collapse else interior[comp]
                sig = state(v_try)
                if sig in seen or abs(v_try[comp] - best.inner.vcp[comp]) < 1.0:
                    continue
                seen.add(sig)
                w_try = best.inner.w.copy()
                if collapse:
                    w_try[p:][problem.ident == comp] = 0.0
                try:
                    cand = _maximize_profile(problem, v_try, w_try, maxit=maxit)
                except FloatingPointError:
                    continue
                seen.add(state(cand.inner.vcp))
                iters += cand.iterations
                solves += cand.inner_solves
                tried.append((f"component {comp} -> {'funnel' if collapse else 'interior'}", cand.value))
                if cand.value > best.value + 1e-9 * max(1.0, abs(best.value)):
                    best = cand
                    improved = True
    inner = best.inner
    beta = inner.w[:p]
    vcp = inner.vcp
    vc = inner.sig_cols * inner.w[p:]
    sd, cov = _posterior_cov(problem, best)
    mean = np.concatenate([beta, vcp, vc])
    obj = log_posterior(problem, beta, vcp, vc)
    collapsed = [int(c) for c in range(k) if vcp[c] < min(-10.0, 0.5 * funnel[c])]
    gnorm = float(np.max(np.abs(best.grad))) if k else 0.0
    msg = "converged" if best.converged else f"outer Newton stopped with |gradient| = {gnorm:.3g}"
    return BayesFit(
        method="map",
        mean=mean,
        sd=sd,
        cov=cov,
        objective=obj,
        converged=best.converged,
        iterations=iters,
        message=msg,
        collapsed=collapsed,
        info={"inner_solves": solves, "gradient_max": gnorm, "candidates": tried, "profile_hessian": best.hess},
    )


# --------------------------------------------------------------------------------------
# Variational Bayes
# --------------------------------------------------------------------------------------


def _gh(n_quad: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss–Hermite nodes ``t_r`` and weights ``ω_r / √π`` (so ``Σ ω = 1``)."""
    t, w = np.polynomial.hermite.hermgauss(n_quad)
    return t, w / math.sqrt(math.pi)


class _Elbo:
    """ELBO, gradient and exact Hessian over ``x = (m, log s)`` packed ``(β, v, c)`` each.

    Hessian (``A = [X Z]``, ``A2 = A∘A``, ``w = (β, c)``, ``s_w`` their SDs, per-observation
    derivatives ``E_m … E_ττ`` of the expected log-likelihood)::

        ∂²/∂m_w∂m_w   = Aᵀ diag(E_mm) A                                 + prior
        ∂²/∂m_w∂ρ_w   = Aᵀ diag(E_mτ/τ) A2 diag(s_w²)
        ∂²/∂ρ_w∂ρ_w   = diag(s_w²) A2ᵀ diag(E_ττ/τ² − E_τ/τ³) A2 diag(s_w²)
                        + diag(2 s_w² ∘ A2ᵀ(E_τ/τ))                      + prior

    and the variance-component terms, with ``e_j = exp(−2m_v + 2s_v²)`` and
    ``Q_j = (m_cj² + s_cj²) e_j`` (only ``k = ident_j`` couples)::

        ∂²/∂m_cj∂m_vk = 2 m_cj e_j,       ∂²/∂m_cj∂ρ_vk = −4 s_vk² m_cj e_j
        ∂²/∂ρ_cj∂m_vk = 2 s_cj² e_j,      ∂²/∂ρ_cj∂ρ_vk = −4 s_vk² s_cj² e_j
        ∂²/∂m_cj²     = −e_j,             ∂²/∂ρ_cj²    = −2 s_cj² e_j
        ∂²/∂m_vk²     = −2ΣQ − 1/vcp_p²,  ∂²/∂m_vk∂ρ_vk = 4 s_vk² ΣQ
        ∂²/∂ρ_vk²     = −4 s_vk² ΣQ (1 + 2 s_vk²) − 2 s_vk²/vcp_p²
    """

    def __init__(self, problem: BayesProblem, n_quad: int) -> None:
        self.pr = problem
        self.nodes, self.weights = _gh(n_quad)
        self.const = (
            float(np.sum(problem.kernel.const))
            + problem.prior_constants()
            + 0.5 * (problem.p + problem.k + problem.q) * (1.0 + _LOG_2PI)
        )
        self.nevals = 0

    def split(self, x: np.ndarray) -> tuple:
        pr = self.pr
        p, k, q = pr.p, pr.k, pr.q
        d = p + k + q
        m, r = x[:d], x[d:]
        return m[:p], m[p : p + k], m[p + k :], r[:p], r[p : p + k], r[p + k :]

    def _moments(self, x: np.ndarray, order: int) -> tuple:
        pr = self.pr
        mb, mv, mc, rb, rv, rc = self.split(x)
        sb, sv, sc = np.exp(rb), np.exp(rv), np.exp(rc)
        mu = pr.eta(mb, mc)
        tau2 = pr.Z2 @ (sc * sc)
        if pr.p:
            tau2 += pr.X2 @ (sb * sb)
        tau = np.sqrt(tau2)
        ex = pr.kernel.expect(mu, tau, self.nodes, self.weights, order=order)
        svj = sv[pr.ident]
        ej = np.exp(np.minimum(-2.0 * mv[pr.ident] + 2.0 * svj * svj, _EXP_MAX))
        return (mb, mv, mc, rb, rv, rc, sb, sv, sc, tau, ex, ej)

    def __call__(self, x: np.ndarray, grad: bool = True) -> tuple[float, np.ndarray | None]:
        """ELBO and (optionally) its gradient in the packed order ``(m, log s)``."""
        self.nevals += 1
        mb, mv, mc, rb, rv, rc, sb, sv, sc, tau, ex, ej = self._moments(x, 1)
        return self._value_grad(x, mb, mv, mc, rb, rv, rc, sb, sv, sc, tau, ex, ej, grad)

    def _value_grad(self, x, mb, mv, mc, rb, rv, rc, sb, sv, sc, tau, ex, ej, grad):
        pr = self.pr
        E, dm, dt = ex[0], ex[1], ex[2]
        sq = mc * mc + sc * sc
        val = (
            float(np.sum(E))
            - float(pr.nk @ mv)
            - 0.5 * float(sq @ ej)
            - 0.5 * float(mv @ mv + sv @ sv) / pr.vcp_p**2
            - 0.5 * float(mb @ mb + sb @ sb) / pr.fe_p**2
            + float(np.sum(rb) + np.sum(rv) + np.sum(rc))
            + self.const
        )
        if not grad:
            return val, None
        with np.errstate(divide="ignore", invalid="ignore"):
            dt_over = np.where(tau > 0, dt / tau, 0.0)
        g_mb = (pr.X.T @ dm - mb / pr.fe_p**2) if pr.p else mb[:0]
        g_rb = (sb * sb * (pr.X2.T @ dt_over) - sb * sb / pr.fe_p**2 + 1.0) if pr.p else rb[:0]
        g_mc = pr.ZT @ dm - mc * ej
        g_rc = sc * sc * (pr.Z2T @ dt_over) - sc * sc * ej + 1.0
        k = pr.k
        sQ = np.bincount(pr.ident, weights=sq * ej, minlength=k)
        g_mv = sQ - pr.nk - mv / pr.vcp_p**2
        g_rv = -2.0 * sv * sv * sQ - sv * sv / pr.vcp_p**2 + 1.0
        g = np.concatenate([g_mb, g_mv, g_mc, g_rb, g_rv, g_rc])
        return val, g

    def value_grad_hess(self, x: np.ndarray) -> tuple[float, np.ndarray, _VbHessian]:
        """ELBO, gradient and the exact Hessian (as :class:`_VbHessian` blocks)."""
        self.nevals += 1
        mom = self._moments(x, 2)
        mb, mv, mc, rb, rv, rc, sb, sv, sc, tau, ex, ej = mom
        val, g = self._value_grad(x, *mom, True)
        return val, g, _VbHessian(self.pr, mom)


class _VbHessian:
    """Blocks of the ELBO Hessian in the internal order ``(m_w, ρ_w | m_v, ρ_v)``.

    ``H_ww`` (``2(p+q)`` square, the pattern of ``[X Z]ᵀ[X Z]`` in each quarter) is dense
    for moderate sizes and a CHOLMOD-factored sparse matrix beyond; ``H_wv`` has two
    nonzeros per random-effect coordinate; ``H_vv`` is ``2×2`` block diagonal.
    """

    def __init__(self, pr: BayesProblem, mom: tuple) -> None:
        mb, mv, mc, rb, rv, rc, sb, sv, sc, tau, ex, ej = mom
        p, q, k = pr.p, pr.q, pr.k
        self.pr = pr
        E, Em, Et, Emm, Emt, Ett = ex
        with np.errstate(divide="ignore", invalid="ignore"):
            inv_t = np.where(tau > 0, 1.0 / tau, 0.0)
        D_mm = Emm
        D_mr = Emt * inv_t
        D_rr = Ett * inv_t * inv_t - Et * inv_t**3
        s2w = np.concatenate([sb * sb, sc * sc])
        diag_r_extra = 2.0 * s2w * np.concatenate([pr.X2.T @ (Et * inv_t) if p else sb[:0], pr.Z2T @ (Et * inv_t)])
        prior_m = np.concatenate([np.full(p, -1.0 / pr.fe_p**2), -ej])
        prior_r = np.concatenate([-2.0 * sb * sb / pr.fe_p**2, -2.0 * sc * sc * ej])
        self.nw = p + q
        nw = self.nw
        self.dense = pr.use_dense
        build = pr.gram.quarters_dense if self.dense else pr.gram.quarters_sparse
        self.Hww = build(D_mm, D_mr, D_rr, s2w, prior_m, prior_r + diag_r_extra)
        # w-v coupling: rows (m_c, ρ_c), columns (m_v, ρ_v).
        sv2 = (sv * sv)[pr.ident]
        rows_m = p + np.arange(q)
        rows_r = nw + p + np.arange(q)
        Hwv = np.zeros((2 * nw, 2 * k))
        Hwv[rows_m, pr.ident] = 2.0 * mc * ej
        Hwv[rows_m, k + pr.ident] = -4.0 * sv2 * mc * ej
        Hwv[rows_r, pr.ident] = 2.0 * sc * sc * ej
        Hwv[rows_r, k + pr.ident] = -4.0 * sv2 * sc * sc * ej
        self.Hwv = Hwv
        sQ = np.bincount(pr.ident, weights=(mc * mc + sc * sc) * ej, minlength=k)
        s2v = sv * sv
        Hvv = np.zeros((2 * k, 2 * k))
        kk = np.arange(k)
        Hvv[kk, kk] = -2.0 * sQ - 1.0 / pr.vcp_p**2
        Hvv[kk, k + kk] = 4.0 * s2v * sQ
        Hvv[k + kk, kk] = 4.0 * s2v * sQ
        Hvv[k + kk, k + kk] = -4.0 * s2v * sQ * (1.0 + 2.0 * s2v) - 2.0 * s2v / pr.vcp_p**2
        self.Hvv = Hvv

    def factor_ww(self, lam: float = 0.0) -> bool:
        """Factor ``−H_ww + λI`` (bordered by ``−H_wv``, ``−H_vv``); False if it is not positive definite."""
        self._bordered = BorderedFactor.try_factor(-self.Hww, -self.Hwv, -self.Hvv, lam, pattern=self.pr.vb_pattern)
        self._lam_w = lam
        return self._bordered is not None

    def ascent_step(self, g_int: np.ndarray, lam_v: float) -> np.ndarray | None:
        """Solve ``(−H + diag(λ_w, λ_v)) δ = g`` by block elimination (after :meth:`factor_ww`).

        Only the ``2k×2k`` Schur complement is refactored for a new ``λ_v`` (shifted by
        ``λ_v + λ_w``); None if it is not positive definite.
        """
        return self._bordered.solve(g_int, lam_v + self._lam_w)


def elbo(problem: BayesProblem, mean: np.ndarray, sd: np.ndarray, n_quad: int = 20) -> float:
    """The ELBO (module docstring) at variational means and SDs packed ``(β, v, c)``."""
    if problem.kernel.vb_problem is not None:
        return -math.inf
    f = _Elbo(problem, n_quad)
    val, _ = f(np.concatenate([mean, np.log(sd)]), grad=False)
    return val


def _to_internal(pr: BayesProblem) -> np.ndarray:
    """Permutation: internal order ``(m_β, m_c, ρ_β, ρ_c, m_v, ρ_v)`` from packed ``(m, ρ)``."""
    p, k, q = pr.p, pr.k, pr.q
    d = p + k + q
    mb = np.arange(p)
    mv = p + np.arange(k)
    mc = p + k + np.arange(q)
    return np.concatenate([mb, mc, d + mb, d + mc, mv, d + mv])


def _newton_vb(
    f: _Elbo, x0: np.ndarray, gtol: float, maxiter: int
) -> tuple[np.ndarray, float, np.ndarray, int, bool, str]:
    """Damped Newton ascent on the ELBO with the exact Hessian.

    Levenberg–Marquardt damping ``−H + λI`` (λ = 0 whenever ``−H`` is positive definite),
    Armijo backtracking; stops when the largest gradient component is below ``gtol`` or the
    Newton decrement ``gᵀ(−H)⁻¹g`` is below ``1e-14·|ELBO|``.
    """
    pr = f.pr
    perm = _to_internal(pr)
    x = x0.copy()
    val, g, H = f.value_grad_hess(x)
    lam = 0.0
    converged = False
    msg = "iteration limit reached"
    it = 0
    for it in range(1, maxiter + 1):
        gmax = float(np.max(np.abs(g)))
        if gmax < gtol:
            converged, msg = True, "converged"
            break
        gi = g[perm]
        step = None
        lam_w = 0.0
        for _ in range(60):
            if H.factor_ww(lam_w):
                break
            lam_w = max(1e-8, 4.0 * lam_w) if lam_w else 1e-6 * max(1.0, float(np.max(np.abs(gi))))
        else:
            msg = "could not find an ascent direction"
            break
        lam_try = lam
        for _ in range(80):
            step = H.ascent_step(gi, lam_try)
            if step is not None:
                break
            lam_try = max(1e-8, 4.0 * lam_try) if lam_try else 1e-6
        if step is None:
            msg = "could not find an ascent direction"
            break
        dec = float(gi @ step)
        if dec < 1e-14 * max(1.0, abs(val)) and gmax < 1e3 * gtol:
            converged, msg = True, "converged"
            break
        full = np.empty_like(x)
        full[perm] = step
        big = float(np.max(np.abs(full)))
        if big > 5.0:
            full *= 5.0 / big
            dec *= 5.0 / big
        t = 1.0
        accepted = False
        for _ in range(40):
            xt = x + t * full
            vt, _ = f(xt, grad=False)
            if np.isfinite(vt) and vt >= val + 1e-4 * t * dec:
                accepted = True
                break
            t *= 0.5
        if not accepted:
            if lam_try == 0.0:
                lam = 1e-4
                continue
            msg = "line search failed"
            converged = gmax < 1e2 * gtol
            break
        x = xt
        val, g, H = f.value_grad_hess(x)
        lam = 0.0 if t == 1.0 else lam_try * 0.5
    else:
        gmax = float(np.max(np.abs(g)))
        converged = gmax < 1e2 * gtol
    return x, val, g, it, converged, msg


def fit_vb(
    problem: BayesProblem,
    n_quad: int = 20,
    gtol: float = 1e-8,
    maxiter: int = 500,
    start: tuple[np.ndarray, np.ndarray] | None = None,
    optimizer: str = "newton",
) -> BayesFit:
    """Maximize the ELBO of the mean-field Gaussian approximation (module docstring).

    Parameters
    ----------
    problem : BayesProblem
    n_quad : int
        Gauss–Hermite points for ``E[ℓ_i(η_i)]`` (unused for the Poisson log link).
    gtol : float
        Convergence: largest absolute gradient component of the ELBO.
    maxiter : int
        Iteration limit.
    start : (mean, sd), optional
        Starting variational means and SDs; by default a deterministic penalized fit.
    optimizer : {"newton", "lbfgs"}
        Damped Newton with the exact Hessian (default), or L-BFGS with the analytic gradient.

    Returns
    -------
    BayesFit
    """
    ker = problem.kernel
    if ker.vb_problem is not None:
        raise ValueError(
            f"variational Bayes is not available for the {ker.family_name} family with the "
            f"{ker.link_name} link: {ker.vb_problem}, so the expected log-likelihood under any "
            "Gaussian approximation is -inf and the ELBO does not exist; use fit_map(), or a link "
            "defined on the whole line (binomial: logit, probit, cloglog, cauchit; Poisson: log)"
        )
    p, k, q = problem.p, problem.k, problem.q
    if start is None:
        vcp0, inner = _quick_start(problem)
        sig = inner.sig_cols
        dg = inner.system.diag() if inner.system is not None else np.ones(p + q)
        m0 = np.concatenate([inner.w[:p], vcp0, sig * inner.w[p:]])
        s0 = np.concatenate(
            [1.0 / np.sqrt(dg[:p]), np.sqrt(1.0 / (2.0 * problem.nk + 1.0 / problem.vcp_p**2)), sig / np.sqrt(dg[p:])]
        )
    else:
        m0, s0 = (np.asarray(a, dtype=np.float64) for a in start)
    f = _Elbo(problem, n_quad)
    x0 = np.concatenate([m0, np.log(np.maximum(s0, 1e-12))])
    if optimizer == "newton":
        x, val, g, nit, converged, msg = _newton_vb(f, x0, gtol, maxiter)
    elif optimizer == "lbfgs":

        def negf(x: np.ndarray) -> tuple[float, np.ndarray]:
            val, g = f(x)
            if not np.isfinite(val):
                return 1e300, np.zeros_like(x)
            return -val, -g

        res = minimize(
            negf,
            x0,
            jac=True,
            method="L-BFGS-B",
            options={"maxiter": maxiter, "maxfun": 2 * maxiter, "gtol": gtol, "ftol": 1e-15, "maxcor": 30},
        )
        x = res.x
        val, g = f(x)
        nit = int(res.nit)
        converged = bool(float(np.max(np.abs(g))) < max(10 * gtol, 1e-5))
        msg = "converged" if converged else str(res.message)
    else:
        raise ValueError(f"optimizer must be 'newton' or 'lbfgs', not {optimizer!r}")
    gmax = float(np.max(np.abs(g)))
    d = p + k + q
    return BayesFit(
        method="vb",
        mean=x[:d].copy(),
        sd=np.exp(x[d:]),
        cov=None,
        objective=val,
        converged=converged,
        iterations=nit,
        message=msg,
        info={
            "evaluations": f.nevals,
            "gradient_max": gmax,
            "n_quad": n_quad,
            "exact_expectation": ker.exact_gaussian,
            "optimizer": optimizer,
        },
    )
