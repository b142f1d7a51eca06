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
from typing import Any

import numpy as np
from numpy.polynomial.hermite_e import hermegauss

from mixedlm.engines.pirls import Pirls, PirlsState
from mixedlm.errors import MixedLMError

#: Largest product grid (``nAGQ ** S``) accepted for vector-valued AGQ.
MAX_AGQ_NODES = 100_000


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


def check_nagq(nAGQ: Any, re: Any) -> int:
    """Validate ``nAGQ`` for the random-effects structure; return it as an int.

    ``nAGQ > 1`` needs exactly one grouping factor (a scalar or a vector-valued
    term); the product grid ``nAGQ ** S`` must stay below :data:`MAX_AGQ_NODES`.
    """
    if isinstance(nAGQ, bool) or not isinstance(nAGQ, (int, np.integer)) or not 0 <= int(nAGQ) <= 100:
        raise MixedLMError(f"nAGQ must be an integer between 0 and 100, not {nAGQ!r}")
    nAGQ = int(nAGQ)
    if nAGQ <= 1:
        return nAGQ
    if len(re.terms) != 1:
        groups = ", ".join(t.group for t in re.terms)
        raise MixedLMError(
            f"nAGQ > 1 needs random effects on a single grouping factor (here: {groups}); with several "
            "factors the integral does not split into independent low-dimensional pieces. Use nAGQ=1 "
            "(Laplace) or nAGQ=0")
    S = re.terms[0].S
    if nAGQ ** S > MAX_AGQ_NODES:
        raise MixedLMError(
            f"nAGQ={nAGQ} with a {S}-dimensional term needs {nAGQ}^{S} = {nAGQ ** S} quadrature points per "
            f"level (limit {MAX_AGQ_NODES}); use fewer points (e.g. nAGQ={int(MAX_AGQ_NODES ** (1 / S))}) "
            "or nAGQ=1")
    return nAGQ


def lme4_agq_constant(family: Any, y: np.ndarray, prior_weights: np.ndarray) -> float:
    """``2 Σ log p_sat(y_i)``: add to our −2 log L to get lme4's ``nAGQ > 1`` deviance."""
    return 2.0 * float(np.sum(family.saturated_loglik(y, prior_weights)))


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
    """

    def __init__(self, pirls: Pirls, nAGQ: int, beta_start: np.ndarray) -> None:
        self.pirls = pirls
        self.nAGQ = nAGQ
        self.beta_start = np.asarray(beta_start, dtype=np.float64)
        self.eta_anchor: np.ndarray | None = None
        self.u_anchor: np.ndarray | None = None
        self.n_theta = pirls.re.n_theta
        self.p = pirls.p
        self.n_evals = 0
        if nAGQ > 1:
            self.nodes, self.node_weights = product_rule(nAGQ, pirls.re.terms[0].S)

    # stage 1 --------------------------------------------------------------
    def state_theta(self, theta: np.ndarray) -> PirlsState:
        """PIRLS over (β, u) at θ.

        Each call starts from the same fixed linear predictor ``eta_anchor`` (when
        set: the converged predictor at the starting θ, as lme4's ``lp0``), taking the
        first step from its IRLS weights — fewer iterations than from ``u = 0``, and
        still a pure function of θ.  Without an anchor it starts from ``beta_start``, ``u = 0``.
        """
        theta = np.asarray(theta, dtype=np.float64)
        if self.eta_anchor is not None:
            return self.pirls.solve_beta_u(theta, eta0=self.eta_anchor)
        return self.pirls.solve_beta_u(theta, beta0=self.beta_start)

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
        return par[:self.n_theta], par[self.n_theta:]

    def state(self, par: np.ndarray) -> PirlsState:
        """PIRLS over u at ``(θ, β)``, started from ``u_anchor`` (the stage-1 modes) when set."""
        theta, beta = self.split(par)
        return self.pirls.solve_u(theta, beta, u0=self.u_anchor)

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
        """``Σ_j −2 log Σ_k W_k exp(−½[g_j(û_j + L_j⁻ᵀ z_k) − g_j(û_j) − ‖z_k‖²])``."""
        pirls = self.pirls
        term = pirls.re.terms[0]
        fam = pirls.family
        T = term.template(theta)
        S, lev = term.S, term.nlev
        inv = st.factor.inv00  # (ℓ, S, S) inverses of the diagonal blocks of L
        u_hat = st.u.reshape(lev, S)
        fixed_eta = st.eta - pirls.z_lambda_u(st.u, [T])
        codes = term.codes

        def g_levels(u_lev: np.ndarray) -> np.ndarray:
            b = u_lev @ T.T
            eta = fixed_eta + np.einsum("ns,ns->n", term.Z, b[codes])
            ll = fam.loglik(pirls.y, fam.link.linkinv(eta), pirls.a)
            return -2.0 * np.bincount(codes, weights=ll, minlength=lev) + np.einsum("js,js->j", u_lev, u_lev)

        g0 = g_levels(u_hat)
        logs = np.empty((self.nodes.shape[0], lev))
        for k, (z, wk) in enumerate(zip(self.nodes, self.node_weights)):
            shift = np.einsum("jts,t->js", inv, z)  # L_j^{-T} z
            gk = g_levels(u_hat + shift)
            logs[k] = math.log(wk) - 0.5 * (gk - g0 - float(z @ z))
        mx = logs.max(axis=0)
        return float(np.sum(-2.0 * (mx + np.log(np.sum(np.exp(logs - mx), axis=0)))))

    # derivatives ---------------------------------------------------------
    def hessian(self, par: np.ndarray, delta: float = 1e-4) -> tuple[np.ndarray, np.ndarray]:
        """Central finite-difference gradient and Hessian of the stage-2 objective (lme4's ``deriv12``)."""
        from mixedlm.optim.derivatives import deriv12

        return deriv12(self.deviance, np.asarray(par, dtype=np.float64), delta)
