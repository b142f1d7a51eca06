"""Penalized iteratively re-weighted least squares (PIRLS) on the blocked factor.

For a GLMM with linear predictor ``η = Xβ + ZΛ_θ u + o`` and spherical random
effects ``u ~ N(0, I)``, PIRLS finds the conditional mode

    û = argmin_u  Σ_i d_i(y_i, μ_i(η_i)) + ‖u‖²

(``d_i`` the family's deviance residuals), or jointly ``(β̂, û)`` for ``nAGQ = 0``.
Each iteration uses the working weights ``w_i = a_i μ'(η_i)² / V(μ_i)`` (``a_i`` prior
weights — binomial trials) and working response ``z_i = η_i − o_i + (y_i − μ_i)/μ'(η_i)``,
rebuilds ``A = [Z X z]' W [Z X z]`` (``O(n)``, :class:`CrossProductBuilder`) and solves
the penalized least-squares problem with the same blocked Cholesky as the linear
model.  Steps are halved until the penalized deviance decreases.  For a
non-canonical link the iterations are Newton steps with the observed information
(:meth:`WorkingEvaluator.newton <mixedlm.engines.working.WorkingEvaluator.newton>`;
Fisher scoring when the observed penalized Hessian is not positive definite), which converge
quadratically where Fisher scoring converges only linearly; the final factor is
then rebuilt at the expected weights.

Stopping rule.  An iteration factors ``L`` at the weights of the current iterate
and solves for the next; PIRLS stops when that Newton step is at rounding level
(``‖δ‖∞ ≤ tol_step·(1 + ‖u‖∞)``, default ``1e-13``) and returns the *current*
iterate together with the factor just computed.  So ``log|L|²`` in the Laplace
approximation is always taken at the weights of the returned mode: the deviance is
a smooth function of its parameters, equal to the fully converged value to
rounding whatever the starting point.  (Stopping one step earlier, with the factor
from the previous iterate, leaves an error of first order in the last step —
``log|L|²`` depends on the mode through the weights — which varies from one
evaluation to the next and ruins finite-difference derivatives.)  Newton's
quadratic convergence makes the rule cheap for canonical links; when rounding stops
the steps from shrinking (an ill-conditioned system) PIRLS stops at the noise level.

Starts.  Every solve starts from the caller's point (``u0`` / ``eta0`` / ``beta0``)
or from ``u = 0``; since the result does not depend on the start beyond rounding,
callers may pass the modes of a nearby previous evaluation (see
:class:`mixedlm.engines.glmm.GlmmObjective`).

By default, like lme4, the factor ``L`` at convergence uses the expected (IRLS)
weights, so ``log|L|²`` in the Laplace approximation is lme4's; ``laplace="observed"``
uses the observed information — the exact Laplace approximation, which is glmmTMB's.
The two differ for non-canonical links only.
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
    tol_step : float
        Convergence: the Newton step from the current iterate satisfies
        ``‖δ‖∞ ≤ tol_step·(1 + ‖x‖∞)`` (``x`` the iterate: ``u``, or ``(u, β)``).
    maxit : int
        Maximum iterations.
    laplace : {"expected", "observed"}
        Weights of the factor ``L`` in the Laplace term ``log|L|²`` at the mode:
        the expected (IRLS) information, as lme4, or the observed information — the
        exact Laplace approximation, as glmmTMB (TMB).  They differ only for
        non-canonical links.
    """

    #: Below this relative step size, a step that no longer shrinks (by half or more)
    #: is taken to be rounding noise of an ill-conditioned system: converged.
    STALL_STEP = 1e-7

    def __init__(
        self,
        re: Any,
        X: np.ndarray,
        y: np.ndarray,
        prior_weights: np.ndarray,
        offset: np.ndarray,
        family: Any,
        builder: Any,
        engine: str = "auto",
        tol_step: float = 1e-13,
        maxit: int = 100,
        laplace: str = "expected",
    ) -> None:
        self.re = re
        self.X = np.asfortranarray(X, dtype=np.float64)
        self.y = np.asarray(y, dtype=np.float64)
        self.a = np.asarray(prior_weights, dtype=np.float64)
        self.offset = np.asarray(offset, dtype=np.float64)
        self.family = family
        self.builder = builder
        self.engine = engine
        self.tol_step = float(tol_step)
        self.maxit = maxit
        if laplace not in ("expected", "observed"):
            raise MixedLMError(
                f"laplace must be 'expected' (lme4's) or 'observed' (the exact Laplace approximation), not {laplace!r}"
            )
        self.laplace = laplace
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
            uk = u[off : off + nlev * S].reshape(nlev, S)
            off += nlev * S
            add_term_effects(out, codes, Z, uk * T[0, 0] if S == 1 else uk @ T.T)

    def _eta(
        self, beta: np.ndarray | None, u: np.ndarray, templates: list[np.ndarray], fixed_eta: np.ndarray | None = None
    ) -> np.ndarray:
        """``η = Xβ + o + ZΛu`` (``fixed_eta = Xβ + o`` when already known)."""
        eta = self.X @ beta + self.offset if fixed_eta is None else fixed_eta.copy()
        self._add_z_lambda_u(eta, u, templates)
        return eta

    def _step_size(self, delta: np.ndarray, x: np.ndarray) -> float:
        """``‖δ‖∞ / (1 + ‖x‖∞)``: the Newton step relative to the iterate."""
        if not delta.size:
            return 0.0
        return float(np.abs(delta).max()) / (1.0 + float(np.abs(x).max()))

    def _converged(self, size: float, previous: float) -> bool:
        """The step is at rounding level, or has stalled there (see :attr:`STALL_STEP`)."""
        return size <= self.tol_step or (size <= self.STALL_STEP and size > 0.5 * previous)

    def _flat(self, old: float, new: float, size: float) -> bool:
        """A large step that changed the penalized deviance only at rounding level: a flat direction.

        Happens under separation (a fixed effect drifting to infinity while the
        likelihood approaches its supremum).  PIRLS then stops after refactoring at
        the new iterate, as R's ``glm.fit`` stops on a negligible deviance change.
        """
        return size > self.STALL_STEP and abs(old - new) <= 1e-15 * (abs(new) + 1.0)

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

    def _factor_iterate(
        self,
        which: str,
        T: list[np.ndarray],
        X: np.ndarray,
        eta_fit: np.ndarray,
        wv: WorkingValues,
        newton: tuple[np.ndarray, np.ndarray] | None,
    ) -> tuple[np.ndarray, Any, bool, bool]:
        """Factor the penalized system of one PIRLS iteration, Newton weights first, Fisher as fallback.

        With weights ``w`` and working residuals ``r`` — the observed information
        ``newton = (w, r)`` when given, else the expected (IRLS) ``wv.weights, wv.wres`` —
        ``A = [Z X z]' W [Z X z]`` is built with working response ``z = eta_fit + r``
        (``eta_fit = η − o`` for the joint ``(β, u)`` system, ``η − Xβ − o`` for ``u``
        alone) and factored at ``T``.  If the observed penalized Hessian is not positive
        definite, the factor is rebuilt at the expected weights (a Fisher step).

        Parameters
        ----------
        which : {"u", "b"}
            Which cached factor (:meth:`_factor`).
        T : list of numpy.ndarray
            The templates ``T_k(θ)``.
        X : numpy.ndarray
            Fixed-effects columns of ``A`` (none for the ``u`` system).
        eta_fit : numpy.ndarray
            The part of ``η`` the system fits.
        wv : WorkingValues
            The expected-information values at the current iterate.
        newton : tuple of numpy.ndarray or None
            The observed-information weights and residuals, or None.

        Returns
        -------
        w : numpy.ndarray
            The weights of the factor.
        fac : object
            The factor.
        ok : bool
            Whether the factorization succeeded.
        observed : bool
            Whether ``w`` is the observed information.
        """
        observed = newton is not None
        w, wres = newton if observed else (wv.weights, wv.wres)
        fac = self._factor(which, self.builder.build(X, eta_fit + wres, w, log_weights=False))
        ok = fac.factor(T)
        if not ok and observed:  # observed information not positive definite: Fisher step
            observed, w, wres = False, wv.weights, wv.wres
            fac = self._factor(which, self.builder.build(X, eta_fit + wres, w, log_weights=False))
            ok = fac.factor(T)
        return w, fac, ok, observed

    # ------------------------------------------------------------- solvers
    def solve_u(self, theta: np.ndarray, beta: np.ndarray, u0: np.ndarray | None = None) -> PirlsState:
        """Conditional modes ``û(θ, β)`` with β fixed (Laplace / AGQ objective).

        Starts from ``u0`` when given, else from 0; the result is the converged mode
        (to rounding) whatever the start.
        """
        T = self.templates(theta)
        fixed_eta = self.X @ beta + self.offset
        if u0 is not None:
            u = np.array(u0, dtype=np.float64)
            eta = self._eta(None, u, T, fixed_eta)
        else:
            u = np.zeros(self.q)
            eta = fixed_eta.copy()
        wv = self.working(eta)
        fac = None
        w = np.empty(0)
        it = 0
        previous = np.inf
        flat = False
        observed = False
        for it in range(1, self.maxit + 1):
            newton = None if flat else self.working.newton(eta, wv)
            w, fac, ok, observed = self._factor_iterate("u", T, self._X0, eta - fixed_eta, wv, newton)
            if not ok:
                raise PirlsError(
                    "PIRLS failed: the penalized weighted system is not positive definite "
                    "(working weights may have underflowed); try other starting values"
                )
            if flat:
                break
            delta = fac.solve_u(np.zeros(0)) - u
            size = self._step_size(delta, u)
            if self._converged(size, previous):
                break  # u is the mode to rounding, and fac is factored at its weights
            previous = size
            old = wv.dev + float(u @ u)
            step = 1.0
            for _ in range(30):
                u_try = u + step * delta
                eta_try = self._eta(None, u_try, T, fixed_eta)
                wv_try = self.working(eta_try)
                pdev_try = wv_try.dev + float(u_try @ u_try)
                if np.isfinite(pdev_try) and pdev_try <= old + 1e-10 * abs(wv.dev):
                    break
                step *= 0.5
            else:
                if size <= self.STALL_STEP:
                    break  # no decrease left to find: the mode to the accuracy the system allows
                raise PirlsError(
                    "PIRLS step-halving could not reduce the penalized deviance; the model may "
                    "be too complex for the data (try nAGQ=0, fewer random effects, or "
                    "rescaled covariates)"
                )
            flat = self._flat(old, pdev_try, size)
            u, eta, wv = u_try, eta_try, wv_try
        else:
            raise PirlsError(f"PIRLS did not converge in {self.maxit} iterations")
        w, fac = self._final_factor("u", T, self._X0, eta, fixed_eta, wv, w, fac, observed)
        return self._state(u, beta, eta, wv, w, fac, it)

    def solve_beta_u(
        self,
        theta: np.ndarray,
        beta0: np.ndarray | None = None,
        eta0: np.ndarray | None = None,
        u0: np.ndarray | None = None,
    ) -> PirlsState:
        """Joint ``(β̂, û)(θ)`` (the ``nAGQ = 0`` objective and the starting GLM fit).

        Starts from ``beta0`` (and ``u0``, else ``u = 0``) — or, without ``beta0``,
        from the linear predictor ``eta0`` (default: the family's ``mustart``),
        accepting the first step without a halving test, as R's ``glm.fit``.
        """
        T = self.templates(theta)
        u = np.zeros(self.q) if u0 is None else np.array(u0, dtype=np.float64)
        if beta0 is not None:
            beta = np.asarray(beta0, dtype=np.float64).copy()
            eta = self._eta(beta, u, T)
            first_free = False
        else:
            if eta0 is None:
                eta0 = self.family.link.linkfun(self.family.mustart(self.y, self.a))
            eta = np.asarray(eta0, dtype=np.float64).copy()
            beta = np.zeros(self.p)
            u = np.zeros(self.q)
            first_free = True
        wv = self.working(eta)
        pdev = wv.dev + float(u @ u)
        fac = None
        w = np.empty(0)
        it = 0
        previous = np.inf
        flat = False
        observed = False
        for it in range(1, self.maxit + 1):
            newton = None if flat else self.working.newton(eta, wv)
            w, fac, ok, observed = self._factor_iterate("b", T, self.X, eta - self.offset, wv, newton)
            if not ok:
                raise PirlsError(
                    "PIRLS failed: X'WX is not positive definite at the working weights; "
                    "check for separation or collinear fixed effects"
                )
            if flat:
                break
            LXX = fac.fixed_factor()
            RX = np.asfortranarray(np.tril(LXX[: self.p, : self.p]))
            beta_new = lapack.dtrtrs(RX, LXX[self.p, : self.p].copy(), lower=1, trans=1)[0] if self.p else beta
            u_new = fac.solve_u(beta_new)
            db, du = beta_new - beta, u_new - u
            size = self._step_size(np.concatenate([du, db]), np.concatenate([u, beta]))
            if not first_free and self._converged(size, previous):
                break
            previous = size
            step = 1.0
            for _ in range(30):
                b_try, u_try = beta + step * db, u + step * du
                eta_try = self._eta(b_try, u_try, T)
                wv_try = self.working(eta_try)
                pdev_try = wv_try.dev + float(u_try @ u_try)
                if np.isfinite(pdev_try) and (first_free or pdev_try <= pdev + 1e-10 * abs(pdev)):
                    break
                step *= 0.5
            else:
                if size <= self.STALL_STEP:
                    break
                raise PirlsError(
                    "PIRLS step-halving could not reduce the penalized deviance; the model may "
                    "be too complex for the data or the fixed effects separate the response "
                    "(try removing the offending covariate)"
                )
            flat = not first_free and self._flat(pdev, pdev_try, size)
            beta, u, eta, wv, pdev = b_try, u_try, eta_try, wv_try, pdev_try
            first_free = False
        else:
            raise PirlsError(f"PIRLS did not converge in {self.maxit} iterations")
        w, fac = self._final_factor("b", T, self.X, eta, self.offset, wv, w, fac, observed)
        return self._state(u, beta, eta, wv, w, fac, it)

    def _final_factor(
        self,
        which: str,
        T: list[np.ndarray],
        X: np.ndarray,
        eta: np.ndarray,
        base: np.ndarray,
        wv: WorkingValues,
        w: np.ndarray,
        fac: Any,
        observed: bool,
    ) -> tuple[np.ndarray, Any]:
        """The factor of the Laplace term at the mode, with the weights :attr:`laplace` asks for.

        The last iteration's factor is kept when its weights are the right kind;
        otherwise ``A`` is rebuilt at the mode (working response ``η − base + r``) with
        the expected (``"expected"``, lme4's) or the observed (``"observed"``, the exact
        Laplace approximation) weights.
        """
        if self.laplace == "expected":
            if not observed:
                return w, fac
            w, wres = wv.weights, wv.wres
        else:
            newton = None if observed else self.working.newton(eta, wv)
            if newton is None:
                return w, fac
            w, wres = newton
        A = self.builder.build(X, (eta - base) + wres, w, log_weights=False)
        fac = self._factor(which, A)
        if not fac.factor(T):
            raise PirlsError(
                "PIRLS failed: the penalized system is not positive definite at the mode"
                + (
                    ""
                    if self.laplace == "expected"
                    else " with the observed information, which the exact Laplace approximation needs; "
                    "use GlmerControl(laplace='expected')"
                )
            )
        return w, fac

    def _state(
        self, u: np.ndarray, beta: np.ndarray, eta: np.ndarray, wv: WorkingValues, w: np.ndarray, fac: Any, it: int
    ) -> PirlsState:
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
        return PirlsState(
            u=u,
            beta=beta,
            eta=eta,
            mu=mu,
            weights=w,
            ldL2=fac.logdet_zz(),
            dev=dev,
            neg2loglik=neg2ll,
            iterations=it,
            factor=fac,
            wrss=pearson,
        )
