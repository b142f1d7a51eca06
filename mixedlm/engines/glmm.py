"""GLMM objectives: ``nAGQ = 0``, Laplace (``nAGQ = 1``) and adaptive Gauss–Hermite quadrature.

All three return an approximation to ``−2 log L`` that includes the family's
normalizing constants (binomial coefficients, ``log y!``), so values are
commensurate across ``nAGQ`` and with a plain GLM.  lme4 drops the constant for
``nAGQ > 1`` (it integrates deviance residuals); :func:`lme4_agq_constant` gives
the shift between the two conventions.

Laplace (Bates et al. 2015; lme4's ``glmerLaplace``)::

    d(θ, β) = −2 log p(y | û) + ‖û‖² + log|L_θ|²

with ``û`` the PIRLS mode and ``L_θ L_θᵀ = Λ'Z'WZΛ + I`` at the IRLS weights.

Adaptive Gauss–Hermite quadrature, one grouping factor with an ``S``-vector term:
levels are conditionally independent, so ``p(y) = Π_j ∫ p(y_j | u_j) φ_S(u_j) du_j``.
With ``g_j(u) = −2 log p(y_j | u) + ‖u‖²``, the mode ``û_j`` and the level's factor
block ``L_j`` (``L_j L_jᵀ`` ≈ half the Hessian of ``g_j``), substitute
``u = û_j + L_j⁻ᵀ z``::

    −2 log p(y_j) = g_j(û_j) + log|L_j|² − 2 log Σ_k W_k exp(−½ [g_j(û_j + L_j⁻ᵀ z_k) − g_j(û_j) − ‖z_k‖²])

where ``(z_k, W_k)`` is the ``k^S``-point product Gauss–Hermite rule for the standard
normal density.  Summed over ``j`` the first two terms are the Laplace value;
with one node (``z = 0``, ``W = 1``) the correction is exactly zero, so
``nAGQ = 1`` equals Laplace.  Cost: ``n · k^S`` likelihood evaluations per call.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.polynomial.hermite_e import hermegauss
from scipy.linalg import lapack

from mixedlm.engines.pirls import Pirls, PirlsState
from mixedlm.errors import MixedLMError

#: Largest product grid (``nAGQ ** S``) accepted for vector-valued AGQ.
MAX_AGQ_NODES = 100_000
#: Quadrature nodes are evaluated in chunks of at most this many (node, row) pairs.
AGQ_CHUNK_ENTRIES = 2_000_000


def gauss_hermite_normal(k: int) -> tuple[np.ndarray, np.ndarray]:
    """``k``-point Gauss–Hermite rule for ``∫ f(z) φ(z) dz`` (weights sum to 1)."""
    z, w = hermegauss(k)
    return z, w / math.sqrt(2.0 * math.pi)


def product_rule(k: int, S: int) -> tuple[np.ndarray, np.ndarray]:
    """Product grid of the ``k``-point normal rule in ``S`` dimensions: nodes ``(k^S, S)``, weights ``(k^S,)``."""
    z, w = gauss_hermite_normal(k)
    grids = np.meshgrid(*([z] * S), indexing="ij")
    wgrids = np.meshgrid(*([w] * S), indexing="ij")
    nodes = np.stack([g.ravel() for g in grids], axis=1)
    weights = np.prod(np.stack([g.ravel() for g in wgrids], axis=1), axis=1)
    return nodes, weights


def check_nagq(nAGQ: Any, re: Any, max_points: int = 100) -> int:
    """Validate ``nAGQ`` for the random-effects structure; return it as an int.

    ``nAGQ > 1`` needs exactly one grouping factor (a scalar or a vector-valued
    term); the product grid ``nAGQ ** S`` must stay below :data:`MAX_AGQ_NODES`.
    Users may ask for at most ``max_points`` per dimension (100; ``nAGQ="auto"``
    may go further within the grid limit).
    """
    if isinstance(nAGQ, bool) or not isinstance(nAGQ, (int, np.integer)) or not 0 <= int(nAGQ) <= max_points:
        raise MixedLMError(f"nAGQ must be an integer between 0 and {max_points} or 'auto', not {nAGQ!r}")
    nAGQ = int(nAGQ)
    if nAGQ <= 1:
        return nAGQ
    check_single_factor(re, "nAGQ > 1")
    S = re.terms[0].S
    if nAGQ**S > MAX_AGQ_NODES:
        raise MixedLMError(
            f"nAGQ={nAGQ} with a {S}-dimensional term needs {nAGQ}^{S} = {nAGQ**S} quadrature points per "
            f"level (limit {MAX_AGQ_NODES}); use fewer points (e.g. nAGQ={int(MAX_AGQ_NODES ** (1 / S))}) "
            "or nAGQ=1"
        )
    return nAGQ


def fixed_effect_scale(state: Any, p: int) -> np.ndarray:
    """Standard errors of β from the PIRLS factor's ``R_X`` (``diag (R_XᵀR_X)⁻¹``, square-rooted).

    The conditional covariance of β̂ given θ at the working weights: a cheap and
    usually close approximation of the Hessian-based standard errors, used to scale
    optimizer steps and finite differences.
    """
    if p == 0:
        return np.zeros(0)
    LX = np.asfortranarray(np.tril(state.factor.fixed_factor()[:p, :p]))
    Li, info = lapack.dtrtri(LX, lower=1)
    if info != 0 or not np.all(np.isfinite(Li)):
        return np.ones(p)
    se = np.sqrt(np.einsum("ij,ij->j", Li, Li))
    return np.where(np.isfinite(se) & (se > 0), se, 1.0)


def theta_scale(theta: np.ndarray) -> np.ndarray:
    """A provisional scale for θ (a quarter of its size, at least 0.05): steps for finite differences.

    Relative-factor standard errors are typically 10–40 % of θ; the polish
    replaces this by the standard errors its Hessian implies.
    """
    return 0.25 * np.maximum(np.abs(np.asarray(theta, dtype=np.float64)), 0.2)


def check_single_factor(re: Any, what: str) -> None:
    """Adaptive quadrature integrates one grouping factor's levels independently: refuse other structures."""
    if len(re.terms) != 1:
        groups = ", ".join(t.group for t in re.terms)
        raise MixedLMError(
            f"{what} needs random effects on a single grouping factor (here: {groups}); with several "
            "factors the integral does not split into independent low-dimensional pieces. Use nAGQ=1 "
            "(Laplace) or nAGQ=0"
        )


def lme4_agq_constant(family: Any, y: np.ndarray, prior_weights: np.ndarray) -> float:
    """``2 Σ log p_sat(y_i)``: add to our −2 log L to get lme4's ``nAGQ > 1`` deviance."""
    return 2.0 * float(np.sum(family.saturated_loglik(y, prior_weights)))


class _RecentStates:
    """The last and the best PIRLS solutions of one objective: warm starts for the next solve.

    PIRLS converges to rounding from any start, so starting from the modes of a
    nearby evaluation changes only the number of iterations, not the value.
    """

    def __init__(self) -> None:
        self.last: tuple[np.ndarray, float, Any] | None = None
        self.best: tuple[np.ndarray, float, Any] | None = None

    def nearest(self, par: np.ndarray) -> Any:
        """The stored solution whose parameters are closest to ``par`` (None if empty)."""
        entries = [e for e in (self.last, self.best) if e is not None]
        if not entries:
            return None
        return min(entries, key=lambda e: float(np.sum((e[0] - par) ** 2)))[2]

    def record(self, par: np.ndarray, value: float, start: Any) -> None:
        entry = (np.array(par, dtype=np.float64), float(value), start)
        self.last = entry
        if self.best is None or value <= self.best[1]:
            self.best = entry

    def clear(self) -> None:
        self.last = self.best = None


class GlmmObjective:
    """Deviance functions of a GLMM for the two optimization stages.

    Parameters
    ----------
    pirls : Pirls
        Solver holding the design, family and weights.
    nAGQ : int
        0 (β inside PIRLS), 1 (Laplace) or the number of quadrature points.
    beta_start : numpy.ndarray
        Starting β for PIRLS in the ``nAGQ = 0`` objective (a GLM fit).
    warm_start : bool
        Start each PIRLS solve from the modes of the nearest of the last and the
        best previous evaluation (fewer iterations).  The value does not depend on
        it beyond rounding, because PIRLS converges fully (see
        :mod:`mixedlm.engines.pirls`); without it every solve starts from the fixed
        anchors below.

    Attributes
    ----------
    eta_anchor : numpy.ndarray or None
        Fixed start of the ``nAGQ = 0`` solves (lme4's ``lp0``: the converged
        predictor at the starting θ).
    u_anchor : numpy.ndarray or None
        Fixed start of the Laplace / AGQ solves (the stage-1 modes).
    """

    def __init__(self, pirls: Pirls, nAGQ: int, beta_start: np.ndarray, warm_start: bool = True) -> None:
        self.pirls = pirls
        self.nAGQ = nAGQ
        self.beta_start = np.asarray(beta_start, dtype=np.float64)
        self.eta_anchor: np.ndarray | None = None
        self.u_anchor: np.ndarray | None = None
        self.warm_start = warm_start
        self.n_theta = pirls.re.n_theta
        self.p = pirls.p
        self.n_evals = 0
        self._recent_theta = _RecentStates()
        self._recent_par = _RecentStates()
        self._level_sum: Any = None
        if nAGQ > 1:
            self.nodes, self.node_weights = product_rule(nAGQ, pirls.re.terms[0].S)

    # stage 1 --------------------------------------------------------------
    def state_theta(self, theta: np.ndarray) -> PirlsState:
        """PIRLS over (β, u) at θ.

        Starts from the nearest previous solution (``warm_start``), else from the
        fixed linear predictor ``eta_anchor`` when set, else from ``beta_start`` and
        ``u = 0``; a failed warm start is retried from the anchor.
        """
        theta = np.asarray(theta, dtype=np.float64)
        warm = self._recent_theta.nearest(theta) if self.warm_start else None
        st = None
        if warm is not None:
            try:
                st = self.pirls.solve_beta_u(theta, beta0=warm[0], u0=warm[1])
            except MixedLMError:
                st = None
        if st is None:
            if self.eta_anchor is not None:
                st = self.pirls.solve_beta_u(theta, eta0=self.eta_anchor)
            else:
                st = self.pirls.solve_beta_u(theta, beta0=self.beta_start)
        if self.warm_start:
            self._recent_theta.record(theta, st.laplace, (st.beta, st.u))
        return st

    def deviance_theta(self, theta: np.ndarray) -> float:
        """``nAGQ = 0`` objective: Laplace formula at ``(β̂(θ), û(θ))`` from joint PIRLS."""
        self.n_evals += 1
        try:
            return self.state_theta(theta).laplace
        except MixedLMError:
            return 1e15

    # stage 2 --------------------------------------------------------------
    def split(self, par: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(θ, β)`` from the stacked parameter vector."""
        par = np.asarray(par, dtype=np.float64)
        return par[: self.n_theta], par[self.n_theta :]

    def state(self, par: np.ndarray) -> PirlsState:
        """PIRLS over u at ``(θ, β)``, from the nearest previous modes or ``u_anchor``."""
        par = np.asarray(par, dtype=np.float64)
        theta, beta = self.split(par)
        warm = self._recent_par.nearest(par) if self.warm_start else None
        st = None
        if warm is not None:
            try:
                st = self.pirls.solve_u(theta, beta, u0=warm)
            except MixedLMError:
                st = None
        if st is None:
            st = self.pirls.solve_u(theta, beta, u0=self.u_anchor)
        if self.warm_start:
            self._recent_par.record(par, st.laplace, st.u)
        return st

    def value_at(self, par: np.ndarray, st: PirlsState) -> float:
        """Laplace or AGQ deviance from a converged state."""
        if self.nAGQ <= 1:
            return st.laplace
        return st.laplace + self.agq_correction(self.split(par)[0], st)

    def deviance(self, par: np.ndarray) -> float:
        """Stage-2 objective over ``(θ, β)``: Laplace (``nAGQ = 1``) or AGQ deviance."""
        self.n_evals += 1
        try:
            st = self.state(par)
        except MixedLMError:
            return 1e15
        return self.value_at(par, st)

    def agq_correction(self, theta: np.ndarray, st: PirlsState) -> float:
        """``Σ_j −2 log Σ_k W_k exp(−½[g_j(û_j + L_j⁻ᵀ z_k) − g_j(û_j) − ‖z_k‖²])``.

        At node ``k`` the linear predictor of a row ``i`` in level ``j`` is
        ``η̂_i + Z_i T L_j⁻ᵀ z_k``, so ``g_j(û_j + L_j⁻ᵀz_k) − g_j(û_j) = −2 Σ_{i∈j}
        [ℓ_i(node k) − ℓ_i(mode)] + ‖û_j + L_j⁻ᵀz_k‖² − ‖û_j‖²``.  Nodes are evaluated in
        chunks (``chunk × n`` arrays) and summed per level with a sparse indicator.
        """
        pirls = self.pirls
        term = pirls.re.terms[0]
        T = term.template(theta)
        S, lev = term.S, term.nlev
        inv = st.factor.inv00  # (ℓ, S, S) inverses of the diagonal blocks of L
        u_hat = st.u.reshape(lev, S)
        codes = term.codes
        n = codes.shape[0]
        if self._level_sum is None:
            import scipy.sparse as sp

            self._level_sum = sp.csr_matrix((np.ones(n), (np.arange(n), codes)), shape=(n, lev))
        loglik = pirls.working.loglik
        ll0 = loglik(st.eta, order=0)[0]
        K = self.nodes.shape[0]
        chunk = max(1, min(K, AGQ_CHUNK_ENTRIES // max(n, 1)))
        logs = np.empty((K, lev))
        for k0 in range(0, K, chunk):
            z = self.nodes[k0 : k0 + chunk]  # (c, S)
            shift = np.einsum("jts,ct->cjs", inv, z)  # L_j^{-T} z per level
            b = shift @ T.T  # (c, ℓ, S)
            eta = st.eta[None, :] + np.einsum("ns,cns->cn", term.Z, b[:, codes, :])
            dll = loglik(eta.T, order=0)[0].T - ll0[None, :]
            dg = -2.0 * np.asarray(self._level_sum.T @ dll.T).T  # (c, ℓ)
            uk = u_hat[None, :, :] + shift
            dg += np.einsum("cjs,cjs->cj", uk, uk) - np.einsum("js,js->j", u_hat, u_hat)[None, :]
            zz = np.einsum("cs,cs->c", z, z)
            logs[k0 : k0 + chunk] = np.log(self.node_weights[k0 : k0 + chunk])[:, None] - 0.5 * (dg - zz[:, None])
        mx = logs.max(axis=0)
        return float(np.sum(-2.0 * (mx + np.log(np.sum(np.exp(logs - mx), axis=0)))))

    def with_nagq(self, nAGQ: int) -> GlmmObjective:
        """The same model with another quadrature rule (sharing PIRLS and the anchors).

        Used to measure the quadrature error of a fit: the deviance at the optimum
        under a richer rule.
        """
        other = GlmmObjective(self.pirls, nAGQ, self.beta_start, warm_start=self.warm_start)
        other.eta_anchor, other.u_anchor = self.eta_anchor, self.u_anchor
        other._recent_par = self._recent_par
        other._recent_theta = self._recent_theta
        return other


def richer_rule(nAGQ: int, S: int) -> int:
    """Points per dimension of the rule used to check an ``nAGQ``-point fit: ``2 nAGQ + 1``, capped.

    A ``k``-point Gauss–Hermite rule is exact for polynomials of degree ``2k − 1``;
    ``2k + 1`` points more than double that.  The product grid stays within
    :data:`MAX_AGQ_NODES` (the cap may leave fewer points, never fewer than ``nAGQ + 1``).
    """
    k = 2 * nAGQ + 1
    while k > nAGQ + 1 and k**S > MAX_AGQ_NODES:
        k -= 1
    return k


@dataclass
class QuadratureCheck:
    """The quadrature error of an adaptive Gauss–Hermite fit at its optimum.

    Attributes
    ----------
    nAGQ, nAGQ_check : int
        Points per dimension of the fit's rule and of the richer rule.
    deviance, deviance_check : float
        −2 log L at the optimum under the two rules.
    error : float
        ``|logLik − logLik_check|``: the estimated error of the reported
        log-likelihood (log-likelihood units).
    """

    nAGQ: int
    nAGQ_check: int
    deviance: float
    deviance_check: float

    @property
    def error(self) -> float:
        return 0.5 * abs(self.deviance - self.deviance_check)


def quadrature_check(objective: GlmmObjective, par: np.ndarray, deviance: float) -> QuadratureCheck:
    """Evaluate the deviance at ``par`` with :func:`richer_rule` points (see :class:`QuadratureCheck`)."""
    S = objective.pirls.re.terms[0].S
    k = richer_rule(objective.nAGQ, S)
    rich = objective.with_nagq(k)
    return QuadratureCheck(
        nAGQ=objective.nAGQ,
        nAGQ_check=k,
        deviance=float(deviance),
        deviance_check=float(rich.deviance(np.asarray(par, dtype=np.float64))),
    )
