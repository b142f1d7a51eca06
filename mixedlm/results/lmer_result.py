"""The fitted linear mixed model: lme4's accessors on top of a converged θ.

Everything is derived from the design (:class:`~mixedlm.lmer.LmmSetup`), the
objective and the optimizer's :class:`~mixedlm.optim.optsummary.OptSummary`;
β̂, σ̂ and the conditional modes are computed once, at construction.  Nothing in
here optimizes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mixedlm.errors import MixedLMError
from mixedlm.fitting.control import LmerControl
from mixedlm.results.base import MixedModelFit


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
    def _varcorr_scale(self) -> float:
        return self.sigma

    # ---------------------------------------------------------- likelihoods
    def _df(self) -> int:
        return self.setup.fe.p + self.setup.re.n_theta + 1

    def REMLcrit(self) -> float:
        """REML criterion at the estimates (−2 × REML log-likelihood); REML fits only."""
        if not self.REML:
            raise MixedLMError("REMLcrit() is defined for REML fits; this model was fitted by ML "
                               "(use deviance())")
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

    def logLik(self, REML: bool | None = None) -> float:
        """Log-likelihood; for REML fits the REML log-likelihood unless ``REML=False``."""
        if REML is None:
            REML = self.REML
        if REML == self.REML:
            return -0.5 * float(self._sol.objective)
        return -0.5 * self.objective.criterion(self._theta, reml=REML)

    def fitted(self) -> pd.Series:
        """Fitted values ``Xβ̂ + Zb̂ + offset``."""
        return self._pad(self._linear_predictor(), "fitted")

    def residuals(self, type: str = "response", scaled: bool = False) -> pd.Series:
        """Residuals: ``"response"`` (= ``"working"``) ``y − ŷ``, or ``"pearson"`` ``√w (y − ŷ)``.

        ``scaled=True`` divides by σ̂ (lme4's scaled residuals).
        """
        r = np.asarray(self.setup.frame.y, dtype=np.float64) - self._linear_predictor()
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
        return self._pad(r, "residuals")

    # ------------------------------------------------------------- summary
    def summary(self) -> Any:
        """lme4-style summary; ``str()`` of the result prints like ``summary(fit)`` in R."""
        from mixedlm.results.fit_summary import lmer_summary

        return lmer_summary(self)

    def __repr__(self) -> str:
        kind = "REML" if self.REML else "ML"
        return (f"<LmerFit {self.formula!r} by {kind}: n={self.nobs}, "
                f"{'REML criterion' if self.REML else 'deviance'}={self._sol.objective:.4f}>")


def wrap_lmm(setup: Any, objective: Any, opt: Any, control: Any = None) -> LmerFit:
    """Stage 4: the fitted-model object, with lme4's singular-fit message (see :meth:`~MixedModelFit.announce`)."""
    fit = LmerFit(setup=setup, objective=objective, opt=opt, control=control or LmerControl())
    fit.announce(fit.control)
    return fit
