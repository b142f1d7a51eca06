"""Penalized iteratively re-weighted least squares (PIRLS) on the blocked factor.

For a GLMM with linear predictor ``η = Xβ + ZΛ_θ u + o`` and spherical random
effects ``u ~ N(0, I)``, PIRLS finds the conditional mode

    û = argmin_u  Σ_i d_i(y_i, μ_i(η_i)) + ‖u‖²

(``d_i`` the family's deviance residuals), or jointly ``(β̂, û)`` for ``nAGQ = 0``.
Each iteration uses the working weights ``w_i = a_i μ'(η_i)² / V(μ_i)`` (``a_i`` prior
weights — binomial trials) and working response ``z_i = η_i − o_i + (y_i − μ_i)/μ'(η_i)``,
rebuilds ``A = [Z X z]' W [Z X z]`` (``O(n)``, :class:`CrossProductBuilder`) and solves
the penalized least-squares problem with the same blocked Cholesky as the linear
model.  Steps are halved until the penalized deviance decreases.  Iterations
start from ``u = 0`` or a caller's fixed anchor (``u0`` / ``eta0``), never from the
previous call unless ``warm_start`` is set, so the objective is a deterministic
function of its arguments.

Like lme4, the factor ``L`` at convergence uses the expected (IRLS) weights, so
``log|L|²`` in the Laplace approximation is lme4's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.linalg import lapack

from mixedlm.design.linpred import add_term_effects
from mixedlm.engines.lmm import make_factor
from mixedlm.engines.working import WorkingEvaluator, WorkingValues
from mixedlm.errors import MixedLMError


class PirlsError(MixedLMError):
    """PIRLS could not reduce the penalized deviance."""


@dataclass
class PirlsState:
    """The converged PIRLS solution at given θ (and β).

    Attributes
    ----------
    u : numpy.ndarray
        Spherical conditional modes, stacked over terms (factorization order).
    beta : numpy.ndarray
        Fixed effects (given, or estimated for ``nAGQ = 0``).
    eta, mu : numpy.ndarray
        Linear predictor (offset included) and mean at the mode.
    weights : numpy.ndarray
        Working weights used by the final factorization.
    ldL2 : float
        ``log|L_ZZ|²`` of the final factorization.
    dev : float
        ``Σ d_i`` (sum of deviance residuals) at the mode.
    neg2loglik : float
        ``−2 Σ log p(y_i | μ_i)`` including normalizing constants; for families with a
        scale parameter R's ``family$aic`` with ``φ = dev / Σw`` (lme4's choice).
    iterations : int
        PIRLS iterations used.
    factor : object
        The Cholesky engine holding the final factorization.
    wrss : float
        Pearson statistic ``Σ a_i (y_i − μ_i)² / V(μ_i)`` (lme4's ``wrss``).
    """

    u: np.ndarray
    beta: np.ndarray
    eta: np.ndarray
    mu: np.ndarray
    weights: np.ndarray
    ldL2: float
    dev: float
    neg2loglik: float
    iterations: int
    factor: Any
    wrss: float = float("nan")

    @property
    def sqrL(self) -> float:
        """``‖u‖²``."""
        return float(self.u @ self.u)

    @property
    def laplace(self) -> float:
        """Laplace approximation to −2 log-likelihood: ``−2 log p(y|û) + ‖û‖² + log|L|²``."""
        return self.neg2loglik + self.sqrL + self.ldL2


class Pirls:
    """PIRLS solver for one GLMM design.

    Parameters
    ----------
    re : ReStructure
        Random-effects terms.
    X : numpy.ndarray
        ``(n, p)`` fixed-effects matrix.
    y : numpy.ndarray
        Response (binomial: proportion of successes).
    prior_weights : numpy.ndarray
        ``a_i`` (binomial: number of trials; 1 otherwise unless given).
    offset : numpy.ndarray
        Known part of the linear predictor.
    family : Family
        Response distribution and link.
    builder : CrossProductBuilder
        Reused to rebuild ``A`` with new weights.
    engine : str
        Cholesky engine (``"auto"``, ``"blocked"``, ``"cholmod"``).
    tol : float
        Convergence: relative decrease of the penalized deviance below ``tol``.
    maxit : int
        Maximum iterations.
    warm_start : bool
        Start each solve from the previous call's converged modes instead of
        ``u = 0`` (fewer iterations; the objective then depends, within the
        convergence tolerance, on the order of evaluations — still deterministic
        for a given optimizer run).
    """

    def __init__(self, re: Any, X: np.ndarray, y: np.ndarray, prior_weights: np.ndarray,
                 offset: np.ndarray, family: Any, builder: Any, engine: str = "auto",
                 tol: float = 1e-10, maxit: int = 100, warm_start: bool = False) -> None:
        self.re = re
        self.X = np.asfortranarray(X, dtype=np.float64)
        self.y = np.asarray(y, dtype=np.float64)
        self.a = np.asarray(prior_weights, dtype=np.float64)
        self.offset = np.asarray(offset, dtype=np.float64)
        self.family = family
        self.builder = builder
        self.engine = engine
        self.tol = tol
        self.tol_step = 1e-6
        self.maxit = maxit
        self.warm_start = warm_start
        self._last_u: np.ndarray | None = None
        self._last_beta_u: tuple[np.ndarray, np.ndarray] | None = None
        self._neg2_saturated: float | None = None
        from mixedlm.engines.families import Binomial, NegativeBinomial, Poisson

        # for these, d_i = 2 (log p_sat(y_i) − log p(y_i | μ_i)) exactly
        self._deviance_is_saturated_difference = isinstance(family, (Binomial, Poisson, NegativeBinomial))
        self.n, self.p = self.X.shape
        self.q = re.q
        self._fac_u: Any = None
        self._fac_b: Any = None
        self._X0 = np.zeros((self.n, 0), order="F")
        self.working = WorkingEvaluator(family, self.y, self.a)
        self._terms = [(t.codes, t.Z, t.nlev, t.S) for t in re.terms]

    # ------------------------------------------------------------- helpers
    def templates(self, theta: np.ndarray) -> list[np.ndarray]:
        """``T_k(θ)`` for every term."""
        return [t.template(theta) for t in self.re.terms]

    def z_lambda_u(self, u: np.ndarray, templates: list[np.ndarray]) -> np.ndarray:
        """Per-row ``Z Λ u``."""
        out = np.zeros(self.n)
        self._add_z_lambda_u(out, u, templates)
        return out

    def _add_z_lambda_u(self, out: np.ndarray, u: np.ndarray, templates: list[np.ndarray]) -> None:
        """``out += Z Λ u`` (term ``k`` contributes ``Z_k (U_k T_kᵀ)[codes_k]``)."""
        off = 0
        for (codes, Z, nlev, S), T in zip(self._terms, templates):
            uk = u[off:off + nlev * S].reshape(nlev, S)
            off += nlev * S
            add_term_effects(out, codes, Z, uk * T[0, 0] if S == 1 else uk @ T.T)

    def _eta(self, beta: np.ndarray | None, u: np.ndarray, templates: list[np.ndarray],
             fixed_eta: np.ndarray | None = None) -> np.ndarray:
        """``η = Xβ + o + ZΛu`` (``fixed_eta = Xβ + o`` when already known)."""
        eta = self.X @ beta + self.offset if fixed_eta is None else fixed_eta.copy()
        self._add_z_lambda_u(eta, u, templates)
        return eta

    def _converged(self, old: float, new: float, step: np.ndarray, x: np.ndarray) -> bool:
        """Stop when the full Newton step is negligible.

        ``log|L|²`` in the Laplace approximation depends on the mode to *first* order
        (through the weights), so a small change of the penalized deviance is not
        enough: with deviances of order 10⁵ a relative change of 1e-10 still allows
        steps of ~1e-3 in u and errors of ~1e-2 in the approximation.  Require the
        step itself to be below ``tol_step`` (relative to the size of the iterate),
        or the deviance to stop changing at all (rounding level).
        """
        size = 1.0 + (float(np.abs(x).max()) if x.size else 0.0)
        small_step = (float(np.abs(step).max()) if step.size else 0.0) <= self.tol_step * size
        small_change = abs(old - new) <= self.tol * (abs(new) + 0.1)
        return (small_step and small_change) or abs(old - new) <= 1e-15 * (abs(new) + 1.0)

    def _factor(self, which: str, A: Any) -> Any:
        fac = self._fac_u if which == "u" else self._fac_b
        if fac is None:
            fac = make_factor(A, self.engine)
            if which == "u":
                self._fac_u = fac
            else:
                self._fac_b = fac
        else:
            fac.A = A
            if hasattr(fac, "reset_values"):
                fac.reset_values(A)
        return fac

    # ------------------------------------------------------------- solvers
    def solve_u(self, theta: np.ndarray, beta: np.ndarray, u0: np.ndarray | None = None) -> PirlsState:
        """Conditional modes ``û(θ, β)`` with β fixed (Laplace / AGQ objective).

        Starts from ``u0`` when given (a fixed anchor keeps the result a function of
        ``(θ, β)`` only), from the previous call's modes with ``warm_start``, else from 0.
        """
        T = self.templates(theta)
        fixed_eta = self.X @ beta + self.offset
        if self.warm_start and self._last_u is not None:
            u = self._last_u.copy()
            eta = self._eta(None, u, T, fixed_eta)
        elif u0 is not None:
            u = np.array(u0, dtype=np.float64)
            eta = self._eta(None, u, T, fixed_eta)
        else:
            u = np.zeros(self.q)
            eta = fixed_eta.copy()
        wv = self.working(eta)
        fac = None
        w = np.empty(0)
        it = 0
        for it in range(1, self.maxit + 1):
            w = wv.weights
            A = self.builder.build(self._X0, (eta - fixed_eta) + wv.wres, w, log_weights=False)
            fac = self._factor("u", A)
            if not fac.factor(T):
                raise PirlsError("PIRLS failed: the penalized weighted system is not positive definite "
                                 "(working weights may have underflowed); try other starting values")
            u_new = fac.solve_u(np.zeros(0))
            step, accepted = 1.0, False
            delta = u_new - u
            old = wv.dev + float(u @ u)
            for _ in range(30):
                u_try = u + step * delta
                eta_try = self._eta(None, u_try, T, fixed_eta)
                wv_try = self.working(eta_try)
                pdev_try = wv_try.dev + float(u_try @ u_try)
                if np.isfinite(pdev_try) and pdev_try <= old + 1e-10 * abs(wv.dev):
                    accepted = True
                    break
                step *= 0.5
            if not accepted:
                if np.max(np.abs(delta)) < 1e-6 * (1.0 + np.max(np.abs(u))):
                    break
                raise PirlsError("PIRLS step-halving could not reduce the penalized deviance; the model may "
                                 "be too complex for the data (try nAGQ=0, fewer random effects, or "
                                 "rescaled covariates)")
            u, eta, wv = u_try, eta_try, wv_try
            if step == 1.0 and self._converged(old, pdev_try, delta, u):
                break
        else:
            raise PirlsError(f"PIRLS did not converge in {self.maxit} iterations")
        self._last_u = u
        return self._state(u, beta, eta, wv, w, fac, it)

    def solve_beta_u(self, theta: np.ndarray, beta0: np.ndarray | None = None,
                     eta0: np.ndarray | None = None) -> PirlsState:
        """Joint ``(β̂, û)(θ)`` (the ``nAGQ = 0`` objective and the starting GLM fit).

        Starts from ``u = 0`` and ``beta0`` — or, for the very first fit, from
        the linear predictor ``eta0`` (the family's ``mustart``), accepting the first
        step without a halving test, as R's ``glm.fit``.
        """
        T = self.templates(theta)
        u = np.zeros(self.q)
        if beta0 is not None and self.warm_start and self._last_beta_u is not None:
            beta, u = (v.copy() for v in self._last_beta_u)
            eta = self._eta(beta, u, T)
            first_free = False
        elif beta0 is not None:
            beta = np.asarray(beta0, dtype=np.float64).copy()
            eta = self.X @ beta + self.offset
            first_free = False
        else:
            if eta0 is None:
                eta0 = self.family.link.linkfun(self.family.mustart(self.y, self.a))
            eta = np.asarray(eta0, dtype=np.float64).copy()
            beta = np.zeros(self.p)
            first_free = True
        wv = self.working(eta)
        pdev = wv.dev + float(u @ u)
        fac = None
        w = np.empty(0)
        it = 0
        for it in range(1, self.maxit + 1):
            w = wv.weights
            A = self.builder.build(self.X, eta - self.offset + wv.wres, w, log_weights=False)
            fac = self._factor("b", A)
            if not fac.factor(T):
                raise PirlsError("PIRLS failed: X'WX is not positive definite at the working weights; "
                                 "check for separation or collinear fixed effects")
            LXX = fac.fixed_factor()
            RX = np.asfortranarray(np.tril(LXX[:self.p, :self.p]))
            beta_new = lapack.dtrtrs(RX, LXX[self.p, :self.p].copy(), lower=1, trans=1)[0] if self.p else beta
            u_new = fac.solve_u(beta_new)
            db, du = beta_new - beta, u_new - u
            step, accepted = 1.0, False
            for _ in range(30):
                b_try, u_try = beta + step * db, u + step * du
                eta_try = self._eta(b_try, u_try, T)
                wv_try = self.working(eta_try)
                pdev_try = wv_try.dev + float(u_try @ u_try)
                if np.isfinite(pdev_try) and (first_free or pdev_try <= pdev + 1e-10 * abs(pdev)):
                    accepted = True
                    break
                step *= 0.5
            if not accepted:
                if max(np.max(np.abs(du), initial=0.0), np.max(np.abs(db), initial=0.0)) < 1e-6:
                    break
                raise PirlsError("PIRLS step-halving could not reduce the penalized deviance; the model may "
                                 "be too complex for the data or the fixed effects separate the response "
                                 "(try removing the offending covariate)")
            old = pdev
            beta, u, eta, wv, pdev = b_try, u_try, eta_try, wv_try, pdev_try
            if not first_free and step == 1.0 and self._converged(old, pdev, np.concatenate([du, db]),
                                                                  np.concatenate([u, beta])):
                break
            first_free = False
        else:
            raise PirlsError(f"PIRLS did not converge in {self.maxit} iterations")
        if beta0 is not None:
            self._last_beta_u = (beta, u)
        return self._state(u, beta, eta, wv, w, fac, it)

    def _state(self, u: np.ndarray, beta: np.ndarray, eta: np.ndarray, wv: WorkingValues, w: np.ndarray,
               fac: Any, it: int) -> PirlsState:
        mu, dev = wv.mu, wv.dev
        if self.family.has_scale:
            # lme4: R's family$aic with the dispersion re-estimated as dev / Σw (includes its +2)
            neg2ll = float(self.family.aic(self.y, mu, self.a, dev))
        elif self._deviance_is_saturated_difference:
            # −2 log p(y|μ) = −2 log p_sat(y) + Σ d_i: the saturated part is computed once
            if self._neg2_saturated is None:
                self._neg2_saturated = -2.0 * float(np.sum(self.family.saturated_loglik(self.y, self.a)))
            neg2ll = self._neg2_saturated + dev
        else:
            neg2ll = -2.0 * float(np.sum(self.family.loglik(self.y, mu, self.a)))
        pearson = float(np.sum(self.a * (self.y - mu) ** 2 / self.family.variance(mu)))
        return PirlsState(u=u, beta=beta, eta=eta, mu=mu, weights=w, ldL2=fac.logdet_zz(),
                          dev=dev, neg2loglik=neg2ll, iterations=it, factor=fac, wrss=pearson)
