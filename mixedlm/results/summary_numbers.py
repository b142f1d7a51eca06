"""Collect the numbers lme4's ``summary()`` prints from a fitted model."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from mixedlm.results.interface import MixedFit
from mixedlm.results.summary_layout import SummaryData, convergence_messages, format_summary


class FitSummary:
    """Summary of a mixed-model fit; ``str()`` prints lme4's layout.

    Attributes
    ----------
    data : SummaryData
        The numbers shown (coefficient table in ``data.coef``, variance components
        in ``data.varcorr``).
    """

    def __init__(self, data: SummaryData) -> None:
        self.data = data

    @property
    def coefficients(self) -> pd.DataFrame:
        """The fixed-effects table."""
        return self.data.coef

    def __str__(self) -> str:
        return format_summary(self.data).rstrip("\n")

    def __repr__(self) -> str:
        return str(self)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:  # IPython
        p.text(str(self))


def fit_messages(fit: MixedFit, opt: Any) -> list[str]:
    """lme4's closing lines: optimizer status (only when something is to report), then messages.

    With ``check_conv`` other than ``"ignore"`` the derivative-based convergence
    problems found by :func:`mixedlm.checkConv` are listed too.
    """
    msgs: list[str] = []
    if fit.isSingular():
        msgs.append("boundary (singular) fit: see help('isSingular')")
    if getattr(fit.control, "check_conv", "ignore") != "ignore":
        msgs += [
            m
            for m in fit.convergence.messages
            if not m.startswith("boundary (singular)") and not m.startswith("the optimizer")
        ]
    code = 0 if opt is None or opt.converged else opt.return_code
    message = None if opt is None else opt.message
    name = "none" if opt is None else opt.optimizer
    return convergence_messages(name, code, message, msgs, [])


def _weights_name(fit: MixedFit) -> str | None:
    """What lme4 prints after ``Weights:``: the column name when one was given."""
    if fit.setup.frame.weights is None:
        return None
    given = (getattr(fit, "call", None) or {}).get("weights")
    return given if isinstance(given, str) else "weights"


def _coef_and_corr(fit: MixedFit, glmm: bool) -> tuple[pd.DataFrame, np.ndarray | None]:
    fe = fit.fixef()
    V = fit.vcov().to_numpy()
    se = np.sqrt(np.diag(V))
    est = fe.to_numpy()
    if glmm:
        z = est / se
        # lme4 labels the ratio "t value" for families with a scale parameter (p-value still normal)
        label = "t value" if fit.family.has_scale else "z value"
        coef = pd.DataFrame(
            {"Estimate": est, "Std. Error": se, label: z, "Pr(>|z|)": 2.0 * stats.norm.sf(np.abs(z))}, index=fe.index
        )
    else:
        coef = pd.DataFrame({"Estimate": est, "Std. Error": se, "t value": est / se}, index=fe.index)
    corr = V / np.outer(se, se) if len(se) > 1 else None
    return coef, corr


def lmer_summary(fit: MixedFit) -> FitSummary:
    """Build the summary of a fitted linear mixed model."""
    coef, corr = _coef_and_corr(fit, glmm=False)
    resid = fit.residuals(type="pearson", scaled=True).to_numpy()
    resid = resid[np.isfinite(resid)]
    data = SummaryData(
        kind="lmer",
        reml=fit.REML,
        method_title=None,
        family=None,
        link=None,
        formula=fit.formula,
        data_name=fit.setup.data_name,
        weights_name=_weights_name(fit),
        offset_name=None,
        control_line=None,
        REMLcrit=fit.REMLcrit() if fit.REML else None,
        AIC=fit.AIC(),
        BIC=fit.BIC(),
        logLik=fit.logLik(),
        deviance=fit.deviance(),
        df_resid=fit.df_residual,
        scaled_residuals=resid,
        varcorr=fit.VarCorr(),
        nobs=fit.nobs,
        ngrps=fit.ngrps(),
        coef=coef,
        vcov_corr=corr,
        messages=fit_messages(fit, fit.opt),
    )
    return FitSummary(data)


def glmer_summary(fit: MixedFit) -> FitSummary:
    """Build the summary of a fitted generalized linear mixed model.

    The AIC/BIC/logLik/deviance line shows our commensurate −2 log-likelihood
    (for ``nAGQ > 1`` lme4 prints a value without the family's normalizing
    constant; ``fit.logLik(kind="lme4")`` gives that one).
    """
    coef, corr = _coef_and_corr(fit, glmm=True)
    resid = fit.residuals(type="pearson").to_numpy()
    resid = resid[np.isfinite(resid)]
    fam = fit.family
    nb_theta = getattr(fam, "theta", None) if fam.name.startswith("Negative Binomial") else None
    data = SummaryData(
        kind="glmer",
        reml=False,
        method_title=(
            "Laplace Approximation" if fit.nAGQ == 1 else f"Adaptive Gauss-Hermite Quadrature, nAGQ = {fit.nAGQ}"
        ),
        family=fam.name if nb_theta is None else "Negative Binomial",
        link=fam.link.name,
        formula=fit.formula,
        data_name=fit.setup.data_name,
        weights_name=_weights_name(fit),
        offset_name=None,
        control_line=None,
        REMLcrit=None,
        AIC=fit.AIC(),
        BIC=fit.BIC(),
        logLik=fit.logLik(),
        deviance=-2.0 * fit.logLik(),
        df_resid=fit.df_residual,
        scaled_residuals=resid,
        varcorr=fit.VarCorr(),
        nobs=fit.nobs,
        ngrps=fit.ngrps(),
        coef=coef,
        vcov_corr=corr,
        messages=fit_messages(fit, fit.opt or fit.opt_stage1),
        nb_theta=nb_theta,
        accuracy=accuracy_line(fit),
    )
    return FitSummary(data)


def accuracy_line(fit: MixedFit) -> str | None:
    """``Accuracy: scaled gradient … after Newton polish; quadrature error … (nAGQ = k vs k')``.

    The scaled gradient is the remaining Newton step in standard errors
    (:mod:`mixedlm.optim.polish`); the quadrature error is ``|logLik − logLik'|`` at
    the optimum with a richer rule (``nAGQ > 1`` only).  None when neither is known.
    """
    opt = fit.opt if fit.opt is not None else fit.opt_stage1
    pol = getattr(opt, "polish", None) or {}
    parts = []
    if pol:
        parts.append(f"scaled gradient {float(pol['scaled_gradient']):.2g} after Newton polish")
    qc = getattr(fit, "quadrature", None)
    if qc is not None:
        parts.append(f"quadrature error {qc.error:.2g} in logLik (nAGQ = {qc.nAGQ} vs {qc.nAGQ_check})")
    return "Accuracy: " + "; ".join(parts) if parts else None
