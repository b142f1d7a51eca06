"""The fitted linear mixed model: lme4's accessors on top of a converged θ.

Everything is derived from the design (:class:`~mixedlm.lmer.LmmSetup`), the
objective and the optimizer's :class:`~mixedlm.optim.optsummary.OptSummary`;
β̂, σ̂ and the conditional modes are computed once, at construction.  Nothing in
here optimizes.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from mixedlm.engines.glmm import theta_scale
from mixedlm.errors import MixedLMError
from mixedlm.fitting.control import LmerControl
from mixedlm.optim.derivatives import HessianEstimate, richardson_hessian
from mixedlm.results.base import HESSIAN_STEP, MixedModelFit, _settings_ok
from mixedlm.results.interface import Optimum


class LmerFit(MixedModelFit):
    """A linear mixed model fitted by :func:`mixedlm.lmer` (lme4's ``lmerMod``).

    Attributes
    ----------
    setup : LmmSetup
        The design stage's output.
    objective : LmmObjective
        The profiled criterion (reusable for profiling and refits).
    opt : OptSummary
        The optimizer's record.
    control : LmerControl
        The settings of the fit.
    """

    def __init__(self, setup: Any, objective: Any, opt: Any, control: Any) -> None:
        self.setup = setup
        self.objective = objective
        self.opt = opt
        self.control = control
        self._theta = np.array(opt.final, dtype=np.float64)
        self._sol = objective.solution(self._theta)
        self._beta = self._sol.beta
        self._b = self._sol.b

    # ------------------------------------------------------------ basic facts
    @property
    def REML(self) -> bool:
        """True for a REML fit."""
        return self.objective.reml

    @property
    def sigma(self) -> float:
        """Residual standard deviation."""
        return float(self._sol.sigma)

    def _vcov_beta(self, use_hessian: bool | None = None) -> np.ndarray:
        """``σ² (R_XᵀR_X)⁻¹`` (exact for a linear mixed model; ``use_hessian`` has no effect)."""
        return self._sol.vcov_beta

    def _joint_factor(self) -> Any:
        """The objective's factor, refactored at θ̂."""
        if self.objective._pieces(self._theta) is None:
            raise MixedLMError("the mixed-model equations are not positive definite at the estimates")
        return self.objective.factor

    def _cond_var_terms(self) -> list[np.ndarray]:
        return self.objective.cond_var(self._theta, self.sigma)

    @property
    def variance_scale(self) -> float:
        """σ̂: ``Var(b) = σ² ΛΛᵀ``."""
        return self.sigma

    # -------------------------------------------------------- the interface
    family = None
    nAGQ = None

    def isREML(self) -> bool:
        """True for a REML fit (lme4's ``isREML``)."""
        return self.REML

    def isGLMM(self) -> bool:
        """False: a linear mixed model (lme4's ``isGLMM``)."""
        return False

    @property
    def optinfo(self) -> Any:
        """The optimizer's :class:`~mixedlm.optim.optsummary.OptSummary`."""
        return self.opt

    @property
    def fitted_values(self) -> np.ndarray:
        """``Xβ̂ + Zb̂ + offset`` on the fitted rows (not padded)."""
        return self.linear_predictor()

    def model_response(self) -> tuple[np.ndarray, np.ndarray | None]:
        """The response as fitted (offset not subtracted) and the prior weights (None if none)."""
        w = self.setup.frame.weights
        return (
            np.asarray(self.setup.frame.y, dtype=np.float64),
            None if w is None else np.asarray(w, dtype=np.float64),
        )

    def _estimates_start(self) -> np.ndarray:
        return self.theta

    def refit(self, newresp: Any = None, *, control: Any = None, start: Any = "estimates") -> LmerFit:
        """Fit the same model again (lme4's ``refit``): to a new response, or with other settings.

        Parameters
        ----------
        newresp : array-like, optional
            A new response vector (rows as used in the fit); only the cross-products are
            recomputed.  The refit's recorded call is then None (``update`` would
            refit the original data).
        control : LmerControl, optional
            Other settings (optimizer, tolerances); default this fit's.
        start : "estimates", "call" or θ
            The optimizer's start: this fit's θ̂ (default), the recorded call's start,
            or the values given.
        """
        return self._refit(newresp, self.REML, control, start)

    def refitML(self) -> LmerFit:
        """The ML fit of this model (lme4's ``refitML``): itself when it is one, else refitted from θ̂ by ML."""
        if not self.REML:
            return self
        import warnings

        from mixedlm.errors import SingularFitMessage

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SingularFitMessage)
            return self._refit(None, False, None, "estimates")

    def _refit(self, newresp: Any, REML: bool, control: Any, start: Any) -> LmerFit:
        from mixedlm.fitting.lmm import fit_lmm_stages, with_response

        control = control or self.control
        setup = self.setup if newresp is None else with_response(self.setup, np.asarray(newresp, dtype=np.float64))
        objective, opt = fit_lmm_stages(setup, REML=REML, control=control, start=self._start_for(start))
        new = wrap_lmm(setup, objective, opt, control=control)
        if newresp is None and self.call:
            new.call = dict(self.call, control=control, REML=REML)
        return new

    def optimizer_control(self, name: str, stages: str = "second", maxfun: int | None = None) -> LmerControl:
        """This fit's control with optimizer ``name`` (and ``maxfun``); ``stages`` concerns GLMMs only."""
        from dataclasses import replace

        changes: dict[str, Any] = {"optimizer": name, "opt_ctrl": _settings_ok(name, self.control.opt_ctrl)}
        if maxfun is not None:
            changes["maxfun"] = int(maxfun)
        return replace(self.control, **changes)

    def _draw_response(self, eta: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``y* = η* + σ̂ ε / sqrt(w)``, ``ε ~ N(0, 1)`` (``w`` the prior weights)."""
        w = self.setup.frame.weights
        eps = rng.standard_normal(eta.shape[0])
        if w is not None:
            w = np.asarray(w, dtype=np.float64)
            eps = eps / np.sqrt(np.where(w > 0, w, np.inf))
        return eta + self.sigma * eps

    def optimum(self) -> Optimum:
        """The profiled criterion over θ that the optimizer minimized (REML or ML), at θ̂."""
        from mixedlm.fitting.lmm import make_lmm_objective

        obj = make_lmm_objective(self.setup, REML=self.REML, control=self.control)
        reml = self.REML

        def fun(theta: np.ndarray) -> float:
            return float(obj.criterion(np.asarray(theta, dtype=np.float64), reml=reml))

        return Optimum(
            fun=fun,
            x=self.theta,
            value=fun(self.theta),
            names=self.theta_names,
            lower=self.lower,
            scale=theta_scale(self.theta),
        )

    @cached_property
    def _derivatives(self) -> HessianEstimate:
        o = self.optimum()
        return richardson_hessian(o.fun, o.x, HESSIAN_STEP * o.scale, f0=o.value)

    def derivatives(self) -> HessianEstimate:
        """Richardson gradient and Hessian of :meth:`optimum`'s criterion at θ̂ (computed once)."""
        return self._derivatives

    def se_error(self) -> None:
        """None: the standard errors of a linear mixed model are exact (``σ² (R_XᵀR_X)⁻¹``)."""
        return None

    quadrature = None

    def RX(self) -> np.ndarray:
        """``R_X`` (lme4's ``getME(, "RX")``): the upper factor with ``R_XᵀR_X = X'V⁻¹X σ²``-scaled, at θ̂."""
        fac = self._joint_factor()
        p = self.setup.fe.p
        return np.triu(np.asarray(fac.fixed_factor())[:p, :p].T)

    def profile_problem(self) -> Any:
        """The ML deviance over (sdcor, σ) with β profiled out (a REML fit is refitted by ML first)."""
        import warnings
        from dataclasses import replace

        from mixedlm.errors import ConvergenceWarning
        from mixedlm.fitting.lmm import make_lmm_objective, optimize_lmm
        from mixedlm.fitting.profiling import LmmProfileProblem

        obj = make_lmm_objective(self.setup, REML=False, control=self.control)
        if self.REML:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                o = optimize_lmm(obj, self.setup, control=replace(self.control, keep_log=False), start=self.theta)
            theta = np.array(o.final, dtype=np.float64)
        else:
            theta = self.theta
        return LmmProfileProblem(self.setup, obj, theta, self.control)

    # ---------------------------------------------------------- likelihoods
    @property
    def npar(self) -> int:
        """β, θ and σ."""
        return self.setup.fe.p + self.setup.re.n_theta + 1

    def REMLcrit(self) -> float:
        """REML criterion at the estimates (−2 × REML log-likelihood); REML fits only."""
        if not self.REML:
            raise MixedLMError("REMLcrit() is defined for REML fits; this model was fitted by ML (use deviance())")
        return float(self._sol.objective)

    def deviance(self, REML: bool | None = None) -> float:
        """−2 × log-likelihood.

        For an ML fit this is the minimized deviance.  For a REML fit (or with
        ``REML=False``) it is the ML deviance evaluated at the REML estimates of θ,
        as lme4's ``deviance(fit, REML = FALSE)``; ``REML=True`` gives the REML criterion.
        """
        if REML is None:
            REML = False
        if REML:
            return self.objective.criterion(self._theta, reml=True)
        if not self.REML:
            return float(self._sol.objective)
        return self.objective.criterion(self._theta, reml=False)

    def logLik(self, REML: bool | None = None, kind: str = "marginal") -> float:
        """Log-likelihood; for REML fits the REML log-likelihood unless ``REML=False``.

        ``kind`` is accepted for the GLMM signature (``"marginal"`` / ``"lme4"`` agree here).
        """
        if kind not in ("marginal", "lme4"):
            raise MixedLMError(f"kind must be 'marginal' or 'lme4', not {kind!r}")
        if REML is None:
            REML = self.REML
        if REML == self.REML:
            return -0.5 * float(self._sol.objective)
        return -0.5 * self.objective.criterion(self._theta, reml=REML)

    def fitted(self) -> pd.Series:
        """Fitted values ``Xβ̂ + Zb̂ + offset``."""
        return self.pad(self.linear_predictor(), "fitted")

    def residuals(self, type: str = "response", scaled: bool = False) -> pd.Series:
        """Residuals: ``"response"`` (= ``"working"``) ``y − ŷ``, or ``"pearson"`` ``√w (y − ŷ)``.

        ``scaled=True`` divides by σ̂ (lme4's scaled residuals).
        """
        r = np.asarray(self.setup.frame.y, dtype=np.float64) - self.linear_predictor()
        if type in ("response", "working"):
            pass
        elif type == "pearson":
            w = self.setup.frame.weights
            if w is not None:
                r = r * np.sqrt(w)
        else:
            raise MixedLMError(f"residual type must be 'response', 'working' or 'pearson', not {type!r}")
        if scaled:
            r = r / self.sigma
        return self.pad(r, "residuals")

    # ------------------------------------------------------------- summary
    def summary(self) -> Any:
        """lme4-style summary; ``str()`` of the result prints like ``summary(fit)`` in R."""
        from mixedlm.results.summary_numbers import lmer_summary

        return lmer_summary(self)

    def __repr__(self) -> str:
        kind = "REML" if self.REML else "ML"
        return (
            f"<LmerFit {self.formula!r} by {kind}: n={self.nobs}, "
            f"{'REML criterion' if self.REML else 'deviance'}={self._sol.objective:.4f}>"
        )


def wrap_lmm(setup: Any, objective: Any, opt: Any, control: Any = None) -> LmerFit:
    """Stage 4: the fitted-model object, with lme4's singular-fit message (see :meth:`~MixedModelFit.announce`)."""
    fit = LmerFit(setup=setup, objective=objective, opt=opt, control=control or LmerControl())
    fit.announce(fit.control)
    return fit
