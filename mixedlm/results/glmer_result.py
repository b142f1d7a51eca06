"""The fitted generalized linear mixed model (lme4's ``glmerMod``)."""

from __future__ import annotations

import math
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
from scipy.linalg import lapack

from mixedlm.engines.glmm import lme4_agq_constant, quadrature_check, theta_scale
from mixedlm.errors import (
    AccuracyWarning,
    ConvergenceWarning,
    MixedLMError,
    warn_at_caller,
)
from mixedlm.fitting.control import GlmerControl
from mixedlm.optim.derivatives import HessianEstimate, richardson_hessian
from mixedlm.results.base import HESSIAN_STEP, MixedModelFit, _settings_ok
from mixedlm.results.interface import Optimum


class GlmerFit(MixedModelFit):
    """A generalized linear mixed model fitted by :func:`mixedlm.glmer`.

    Attributes
    ----------
    setup : GlmmSetup
        Design stage output (frame, fixed and random structures, family).
    objective : GlmmObjective
        Deviance functions (reusable for profiling and refits).
    opt_stage1, opt : OptSummary or None
        The ``nAGQ = 0`` stage and the Laplace/AGQ stage.
    control : GlmerControl
    """

    def __init__(self, setup: Any, objective: Any, opt_stage1: Any, opt: Any, control: Any) -> None:
        self.setup = setup
        self.objective = objective
        self.opt_stage1 = opt_stage1
        self.opt = opt
        self.control = control
        self.nAGQ = objective.nAGQ
        if opt is None:  # nAGQ = 0
            self._theta = np.array(opt_stage1.final, dtype=np.float64)
            self._state = objective.state_theta(self._theta)
            self._beta = self._state.beta
            self._objective_value = self._state.laplace
            self._par = np.concatenate([self._theta, self._beta])
        else:
            self._par = np.array(opt.final, dtype=np.float64)
            self._theta, self._beta = objective.split(self._par)
            self._state = objective.state(self._par)
            self._objective_value = objective.value_at(self._par, self._state)
        #: :class:`~mixedlm.engines.glmm.QuadratureCheck` of an ``nAGQ > 1`` fit (None otherwise):
        #: the log-likelihood at the optimum under a richer rule, and the difference.
        self.quadrature = quadrature_check(objective, self._par, self._objective_value) if self.nAGQ > 1 else None
        #: ``nAGQ="auto"``: ``(points, quadrature error, −2 logLik)`` of every rule tried (set by ``glmer``).
        self.agq_history: list[tuple[int, float, float]] = []
        self._b = []
        off = 0
        for t in setup.re.terms:
            uk = self._state.u[off : off + t.q].reshape(t.nlev, t.S)
            self._b.append(uk @ t.template(self._theta).T)
            off += t.q

    @cached_property
    def hessian_estimate(self) -> HessianEstimate | None:
        """Gradient and Hessian of the deviance over (θ, β) at the optimum, with error estimates.

        Richardson extrapolation of central differences at steps ``2h`` and ``h``
        (:func:`mixedlm.optim.derivatives.richardson_hessian`), ``h`` =
        :data:`HESSIAN_STEP` standard errors per parameter (the standard errors
        implied by the polish's Hessian, else the provisional scales).  Computed on
        first use — by :meth:`vcov`, :meth:`summary` or :func:`mixedlm.checkConv` —
        not in every fit: ``2 (1 + 2P + P(P−1)) − 1`` deviance evaluations for ``P``
        parameters.  None for ``nAGQ = 0`` fits or with
        ``GlmerControl(calc_derivs=False)``.
        """
        if self.opt is None or not self.control.calc_derivs:
            return None
        return richardson_hessian(
            self.objective.deviance, self._par, HESSIAN_STEP * self.parameter_scale(), f0=self._objective_value
        )

    def parameter_scale(self) -> np.ndarray:
        """Approximate standard errors of (θ, β) (of θ for ``nAGQ = 0``): finite-difference step units.

        From the polish's Hessian when the polish ran, else a provisional scale
        (:func:`~mixedlm.engines.glmm.theta_scale`, and ``R_X`` for β).
        """
        opt = self.opt if self.opt is not None else self.opt_stage1
        scale = opt.polish.get("scale") if opt is not None else None
        if scale is not None:
            return np.asarray(scale, dtype=np.float64)
        th = theta_scale(self._theta)
        if self.opt is None:
            return th
        return np.concatenate([th, np.sqrt(np.diag(self._vcov_rx))])

    @property
    def derivs(self) -> dict[str, np.ndarray] | None:
        """lme4's ``optinfo$derivs``: ``{"gradient", "Hessian"}`` at the optimum (see :attr:`hessian_estimate`).

        Also ``"gradient_error"`` and ``"Hessian_error"``, the estimated absolute
        errors of each entry.
        """
        est = self.hessian_estimate
        if est is None:
            return None
        return {
            "gradient": est.gradient,
            "Hessian": est.hessian,
            "gradient_error": est.gradient_error,
            "Hessian_error": est.hessian_error,
        }

    def se_error(self) -> pd.Series | None:
        """Estimated relative error of each fixed effect's standard error from the Hessian's error.

        With ``V = 2 H⁻¹`` and entrywise Hessian errors ``|δH| ≤ E``, first-order
        perturbation gives ``|δV_ii| ≤ 2 (|H⁻¹| E |H⁻¹|)_ii``, so the standard error
        ``√V_ii`` is off by at most ``(|H⁻¹| E |H⁻¹|)_ii / (H⁻¹)_ii`` relative.  None
        when no Hessian is used (``nAGQ = 0``, ``calc_derivs=False``) or it is not
        positive definite.
        """
        est = self.hessian_estimate
        if est is None or not self._hessian_pd:
            return None
        Hinv = np.linalg.inv(est.hessian)
        bound = np.diag(np.abs(Hinv) @ est.hessian_error @ np.abs(Hinv)) / np.diag(Hinv)
        nt = self.setup.re.n_theta
        return pd.Series(bound[nt:], index=self.setup.fe.names, name="relative SE error")

    @cached_property
    def _hessian_pd(self) -> bool:
        est = self.hessian_estimate
        if est is None:
            return False
        ev = np.linalg.eigvalsh(est.hessian)
        return bool(np.all(np.isfinite(ev)) and ev.min() > 0)

    # ------------------------------------------------------------ facts
    @property
    def family(self) -> Any:
        """The response family."""
        return self.setup.family

    @property
    def sigma(self) -> float:
        """Residual scale: 1.0 for binomial, Poisson and negative binomial; otherwise lme4's
        ``sqrt(pwrss / n)`` with ``pwrss`` = Pearson statistic + ``‖û‖²``."""
        if not self.family.has_scale:
            return 1.0
        return math.sqrt((self._state.wrss + self._state.sqrL) / self.nobs)

    @property
    def variance_scale(self) -> float:
        """σ̂ for families with a scale parameter (lme4 scales the random-effects covariance by σ²), else 1."""
        return self.sigma

    @property
    def residual_sd(self) -> float | None:
        """σ̂ for families with a scale parameter, else None."""
        return self.sigma if self.family.has_scale else None

    # -------------------------------------------------------- the interface
    def isREML(self) -> bool:
        """False: GLMMs are fitted by maximum likelihood."""
        return False

    def isGLMM(self) -> bool:
        """True (lme4's ``isGLMM``)."""
        return True

    @property
    def optinfo(self) -> Any:
        """The final optimizer stage's :class:`~mixedlm.optim.optsummary.OptSummary` (stage 1 for ``nAGQ = 0``)."""
        return self.opt if self.opt is not None else self.opt_stage1

    @property
    def fitted_values(self) -> np.ndarray:
        """The fitted means ``μ̂`` on the fitted rows (not padded)."""
        return self._state.mu

    def model_response(self) -> tuple[np.ndarray, np.ndarray]:
        """The response on the family's scale (binomial: proportions) and the prior weights (trials)."""
        pirls = self.objective.pirls
        return pirls.y, pirls.a

    def _estimates_start(self) -> dict[str, np.ndarray]:
        return {"theta": self.theta, "fixef": self.fixef().to_numpy()}

    def refit(self, newresp: Any = None, *, control: Any = None, start: Any = "estimates") -> GlmerFit:
        """Fit the same model again (lme4's ``refit``): to a new response, or with other settings.

        Parameters
        ----------
        newresp : array-like, optional
            A new response (rows as fitted): on the family's scale (binomial: the
            proportion of successes), or for binomial models an ``(n, 2)`` array of
            successes and failures whose row sums are the trials.  The refit's recorded
            call is then None.  A negative-binomial θ stays fixed at this fit's value.
        control : GlmerControl, optional
            Other settings; default this fit's.
        start : "estimates", "call", or θ / ``{"theta", "fixef"}``
            The optimizer's start.  From this fit's estimates (default) the ``nAGQ = 0``
            stage is skipped.
        """
        from dataclasses import replace

        from mixedlm.fitting.glmm import fit_glmm_stages, with_response

        control = control or self.control
        setup = self.setup
        if newresp is not None:
            y = np.asarray(newresp, dtype=np.float64)
            if y.ndim == 2:
                if y.shape[1] != 2:
                    raise MixedLMError("a two-column newresp must hold successes and failures")
                trials = y.sum(axis=1)
                if not np.allclose(trials, setup.prior_weights):
                    raise MixedLMError("successes + failures in newresp must equal the trials of the fitted model")
                y = np.where(trials > 0, y[:, 0] / np.where(trials > 0, trials, 1.0), 0.0)
            setup = with_response(setup, y)
        run = control
        if isinstance(start, str) and start == "estimates" and self.nAGQ != 0:
            run = replace(control, nAGQ0initStep=False)
        objective, o1, o2, history = fit_glmm_stages(
            setup, nAGQ=self.nAGQ, control=run, start=self._start_for(start), max_points=None
        )
        new = wrap_glmm(setup, objective, o1, o2, control=control, agq_history=history)
        if newresp is None and self.call:
            new.call = dict(self.call, control=control)
        return new

    def refitML(self) -> GlmerFit:
        """Itself: a GLMM is an ML fit."""
        return self

    def optimizer_control(self, name: str, stages: str = "second", maxfun: int | None = None) -> GlmerControl:
        """This fit's control with optimizer ``name`` in stage 2 (``stages="second"``) or both (``"both"``).

        ``nAGQ = 0`` fits have one stage, which gets ``name``.
        """
        from dataclasses import replace

        ctrl = self.control
        changes: dict[str, Any] = {"opt_ctrl": _settings_ok(name, ctrl.opt_ctrl)}
        if maxfun is not None:
            changes["maxfun"] = int(maxfun)
        if stages == "both" or self.nAGQ == 0:
            changes["optimizer"] = (name, name) if self.nAGQ else name
        else:
            changes["optimizer"] = (ctrl.stage_optimizer(1), name)
        return replace(ctrl, **changes)

    def _draw_response(self, eta: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A draw from the family at ``μ* = g⁻¹(η*)`` (binomial: proportions; dispersion ``φ = σ̂²``)."""
        fam = self.family
        phi = self.sigma**2 if fam.has_scale else 1.0
        return np.asarray(
            fam.simulate(fam.link.linkinv(eta), self.setup.prior_weights, rng, scale=phi), dtype=np.float64
        )

    def optimum(self) -> Optimum:
        """The final stage's criterion: the Laplace / AGQ deviance over (θ, β), or over θ for ``nAGQ = 0``.

        The function is a fresh objective of the same model (its PIRLS state is its own).
        """
        from mixedlm.fitting.glmm import make_glmm_objective

        obj = make_glmm_objective(self.setup, nAGQ=self.nAGQ, control=self.control, max_points=None)
        obj.u_anchor, obj.eta_anchor = self.objective.u_anchor, self.objective.eta_anchor
        scale = self.parameter_scale()
        if self.opt is None:
            return Optimum(
                fun=obj.deviance_theta,
                x=self.theta,
                value=float(self._objective_value),
                names=self.theta_names,
                lower=self.lower,
                scale=scale,
            )
        lower = np.concatenate([self.lower, np.full(self.setup.fe.p, -np.inf)])
        return Optimum(
            fun=obj.deviance,
            x=self._par.copy(),
            value=float(self._objective_value),
            names=self.theta_names + list(self.setup.fe.names),
            lower=lower,
            scale=scale,
        )

    @cached_property
    def _fresh_derivatives(self) -> HessianEstimate:
        o = self.optimum()
        return richardson_hessian(o.fun, o.x, HESSIAN_STEP * o.scale, f0=o.value)

    def derivatives(self) -> HessianEstimate:
        """Richardson gradient and Hessian of :meth:`optimum`'s criterion (the cached
        :attr:`hessian_estimate` over (θ, β); over θ for ``nAGQ = 0``; computed when
        ``calc_derivs=False``)."""
        if self.opt is not None and self.hessian_estimate is not None:
            return self.hessian_estimate
        return self._fresh_derivatives

    def RX(self) -> np.ndarray:
        """``R_X`` with ``R_XᵀR_X = (vcov(use_hessian=False))⁻¹`` (lme4's ``getME(, "RX")``)."""
        M = np.linalg.inv(self._vcov_rx)
        return np.linalg.cholesky(0.5 * (M + M.T)).T

    def profile_problem(self) -> Any:
        """The Laplace / AGQ deviance over (sdcor, β) on a fresh objective."""
        from dataclasses import replace

        from mixedlm.fitting.glmm import make_glmm_objective
        from mixedlm.fitting.profiling import GlmmProfileProblem

        if self.family.has_scale:
            raise MixedLMError(
                "profiling a GLMM with an estimated scale parameter (Gamma, inverse Gaussian, "
                "Gaussian with a non-identity link) is not available (lme4 does not profile "
                "them either); use confint(method='Wald') or method='boot'"
            )
        if self.nAGQ == 0:
            raise MixedLMError(
                "profile() needs the Laplace or adaptive Gauss-Hermite deviance over (θ, β); "
                "this model was fitted with nAGQ=0 — refit with nAGQ=1 (or use "
                "confint(method='Wald') / method='boot')"
            )
        control = replace(self.control, calc_derivs=False)
        obj = make_glmm_objective(self.setup, nAGQ=self.nAGQ, control=control, max_points=None)
        return GlmmProfileProblem(
            obj, self.setup.re, self.theta, self.fixef().to_numpy(), list(self.setup.fe.names), control
        )

    def _linkinv(self, eta: np.ndarray) -> np.ndarray:
        return self.family.link.linkinv(eta)

    # ------------------------------------------------------ covariances
    @cached_property
    def _joint(self) -> Any:
        """Factor of the joint (random, fixed) penalized system at the final IRLS weights."""
        st = self._state
        pirls = self.objective.pirls
        mu_eta = self.family.link.mu_eta(st.eta)
        z = st.eta - pirls.offset + (pirls.y - st.mu) / mu_eta
        A = self.setup.builder.build(pirls.X, z, st.weights)
        from mixedlm.engines.lmm import make_factor

        fac = make_factor(A, self.control.engine)
        if not fac.factor(pirls.templates(self._theta)):
            raise MixedLMError("the fixed-effects cross-product is not positive definite at the estimates")
        return fac

    def _joint_factor(self) -> Any:
        return self._joint

    @cached_property
    def _vcov_rx(self) -> np.ndarray:
        """``(R_XᵀR_X)⁻¹`` from the penalized weighted system at the final IRLS weights."""
        fac = self._joint
        p = self.setup.fe.p
        RX = np.asfortranarray(np.tril(fac.fixed_factor()[:p, :p]))
        RXinv = lapack.dtrtri(RX, lower=1)[0]
        return RXinv.T @ RXinv

    def _vcov_beta(self, use_hessian: bool | None = None) -> np.ndarray:
        """Covariance of β̂, as lme4's ``vcov``.

        With ``nAGQ ≥ 1`` and derivatives computed (``use_hessian`` None or True),
        lme4's ``use.hessian = TRUE``: from the Hessian ``H`` of the deviance over
        ``(θ, β)`` (:attr:`hessian_estimate`), ``Var(β̂) = [2 H⁻¹]_ββ``.  Otherwise —
        ``use_hessian=False``, ``nAGQ = 0``, or a Hessian that is not positive definite
        (with a warning) — ``(R_XᵀR_X)⁻¹`` from the final PIRLS system.
        """
        if use_hessian is False:
            return self._vcov_rx
        if self.hessian_estimate is None:
            if use_hessian:
                raise MixedLMError(
                    "no Hessian for this fit (nAGQ=0 or GlmerControl(calc_derivs=False)); use vcov(use_hessian=False)"
                )
            return self._vcov_rx
        return self._vcov_hessian

    @cached_property
    def _vcov_hessian(self) -> np.ndarray:
        if self._hessian_pd:
            V = 2.0 * np.linalg.inv(self.hessian_estimate.hessian)
            nt = self.setup.re.n_theta
            return V[nt:, nt:]
        warn_at_caller(
            "the Hessian of the deviance is not positive definite at the estimates; standard "
            "errors use the conditional (R_X) covariance instead — check convergence",
            ConvergenceWarning,
        )
        return self._vcov_rx

    def _cond_var_terms(self) -> list[np.ndarray]:
        fac = self._state.factor
        out = []
        for k, t in enumerate(self.setup.re.terms):
            C = fac.cond_cov_blocks(k)
            T = t.template(self._theta)
            out.append(np.matmul(np.matmul(T, C), T.T))
        return out

    # ------------------------------------------------------ likelihoods
    @property
    def npar(self) -> int:
        """β and θ, plus the scale parameter or a negative-binomial θ (as lme4 counts)."""
        extra = 1 if self.family.has_scale or self.family.name.startswith("Negative Binomial") else 0
        return self.setup.fe.p + self.setup.re.n_theta + extra

    def logLik(self, kind: str = "marginal") -> float:
        """Log-likelihood (Laplace / AGQ approximation) at the estimates.

        ``kind="marginal"`` (default) includes the family's normalizing constants at
        every ``nAGQ``, so values compare across ``nAGQ`` and with a GLM.
        ``kind="lme4"`` reproduces lme4's value, which omits them for ``nAGQ > 1``.
        """
        if kind not in ("marginal", "lme4"):
            raise MixedLMError(f"kind must be 'marginal' or 'lme4', not {kind!r}")
        return -0.5 * self.deviance(kind=kind)

    def deviance(self, kind: str = "marginal") -> float:
        """Deviance of the fit.

        Parameters
        ----------
        kind : {"marginal", "lme4", "conditional"}
            ``"marginal"``: −2 × the approximate marginal log-likelihood (what
            :meth:`logLik` uses; commensurate across ``nAGQ``).  ``"lme4"``: the
            −2 log-likelihood lme4 reports (equal to ``"marginal"`` for ``nAGQ ≤ 1``;
            without the normalizing constant for ``nAGQ > 1``).  ``"conditional"``:
            the sum of squared deviance residuals at the conditional modes — what
            lme4's ``deviance(fit)`` returns for a GLMM.
        """
        if kind == "marginal":
            return float(self._objective_value)
        if kind == "lme4":
            if self.nAGQ <= 1:
                return float(self._objective_value)
            pirls = self.objective.pirls
            return float(self._objective_value) + lme4_agq_constant(self.family, pirls.y, pirls.a)
        if kind == "conditional":
            return float(self._state.dev)
        raise MixedLMError(f"kind must be 'marginal', 'lme4' or 'conditional', not {kind!r}")

    # ------------------------------------------------------ per-row outputs
    def fitted(self) -> pd.Series:
        """Fitted means ``μ̂ = g⁻¹(η̂)`` (lme4's ``fitted``)."""
        return self.pad(self._state.mu, "fitted")

    def residuals(self, type: str = "deviance", scaled: bool = False) -> pd.Series:
        """Residuals: ``"deviance"`` (default, as lme4), ``"pearson"``, ``"response"`` or ``"working"``."""
        st, pirls = self._state, self.objective.pirls
        y, mu, a = pirls.y, st.mu, pirls.a
        if type == "deviance":
            d = self.family.dev_resids(y, mu, a)
            r = np.sign(y - mu) * np.sqrt(np.maximum(d, 0.0))
        elif type == "pearson":
            r = (y - mu) * np.sqrt(a / self.family.variance(mu))
        elif type == "response":
            r = y - mu
        elif type == "working":
            r = (y - mu) / self.family.link.mu_eta(st.eta)
        else:
            raise MixedLMError(f"residual type must be 'deviance', 'pearson', 'response' or 'working', not {type!r}")
        return self.pad(r, "residuals")

    # ------------------------------------------------------------- checks
    def warn_separation(self) -> None:
        """Warn about fixed effects that look completely separated (huge estimate, huge SE)."""
        if self.family.name not in ("binomial", "poisson") and not self.family.name.startswith("Negative"):
            return
        try:
            se = np.sqrt(np.diag(self._vcov_rx))  # cheap; the Hessian is not needed to spot separation
        except (MixedLMError, np.linalg.LinAlgError):
            return
        bad = [
            n
            for n, b, s in zip(self.setup.fe.names, self._beta, se)
            if abs(b) > 10 and (not np.isfinite(s) or s > 5 * abs(b))
        ]
        if bad:
            warn_at_caller(
                f"fixed effect(s) {', '.join(repr(b) for b in bad)} have very large estimates and standard "
                "errors: the response is probably completely separated by them (a level or range with "
                "only 0s or only 1s); their estimates are not meaningful — remove or merge the offending "
                "levels",
                ConvergenceWarning,
            )

    # ------------------------------------------------------------- summary
    def summary(self) -> Any:
        """lme4-style summary (glmer layout); ``str()`` prints it."""
        from mixedlm.results.summary_numbers import glmer_summary

        return glmer_summary(self)

    def __repr__(self) -> str:
        return (
            f"<GlmerFit {self.formula!r} {self.family.name}({self.family.link.name}), nAGQ={self.nAGQ}: "
            f"n={self.nobs}, logLik={self.logLik():.4f}>"
        )


def wrap_glmm(
    setup: Any, objective: Any, opt1: Any, opt2: Any, control: Any = None, agq_history: list | None = None
) -> GlmerFit:
    """Stage 4: the fitted-model object, with lme4's singular-fit message and the accuracy warnings."""
    fit = GlmerFit(setup=setup, objective=objective, opt_stage1=opt1, opt=opt2, control=control or GlmerControl())
    fit.agq_history = list(agq_history or [])
    fit.warn_separation()
    warn_quadrature(fit, fit.control)
    fit.announce(fit.control)
    return fit


def warn_quadrature(fit: GlmerFit, control: Any) -> None:
    """AccuracyWarning when the quadrature error at the optimum exceeds ``control.agq_warn``."""
    qc = fit.quadrature
    if qc is None or not qc.error > control.agq_warn:
        return
    warn_at_caller(
        f"adaptive Gauss-Hermite quadrature with nAGQ={qc.nAGQ} is inaccurate at the estimates: the "
        f"log-likelihood changes by {qc.error:.3g} when the rule is refined to {qc.nAGQ_check} points per "
        "dimension, and the estimates may be affected too (the integrand is far from Gaussian, e.g. a "
        "random-effect SD large relative to the information in each group). Use more points "
        f"(nAGQ={qc.nAGQ_check}) or nAGQ='auto', and compare with the Laplace fit (nAGQ=1)",
        AccuracyWarning,
    )
