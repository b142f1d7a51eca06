"""Collect the numbers lme4's ``summary(lmerMod)`` prints from an :class:`LmerFit`."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mixedlm.results.summary import SummaryData, format_summary


class LmerSummary:
    """Summary of a linear mixed model fit; ``str()`` prints lme4's layout.

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
        """The fixed-effects table (Estimate, Std. Error, t value)."""
        return self.data.coef

    def __str__(self) -> str:
        return format_summary(self.data)

    def __repr__(self) -> str:
        return str(self)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:  # IPython
        p.text(str(self))


def fit_messages(fit: Any) -> list[str]:
    """lme4's closing lines: optimizer status when something is to report, then the messages."""
    msgs: list[str] = []
    if fit.isSingular():
        msgs.append("boundary (singular) fit: see help('isSingular')")
    if not fit.opt.converged:
        msgs.append(f"optimizer stopped early: {fit.opt.message}")
    if msgs:
        code = 0 if fit.opt.converged else fit.opt.return_code
        status = "OK" if fit.opt.converged else "FAILED"
        msgs.insert(0, f"optimizer ({fit.opt.optimizer}) convergence code: {code} ({status})")
    return msgs


def lmer_summary(fit: Any) -> LmerSummary:
    """Build the :class:`LmerSummary` of a fitted linear mixed model."""
    fe = fit.fixef()
    V = fit.vcov().to_numpy()
    se = np.sqrt(np.diag(V))
    coef = pd.DataFrame({"Estimate": fe.to_numpy(), "Std. Error": se, "t value": fe.to_numpy() / se},
                        index=fe.index)
    corr = V / np.outer(se, se) if len(se) > 1 else None
    resid = fit.residuals(type="pearson", scaled=True).to_numpy()
    resid = resid[np.isfinite(resid)]
    weights = fit.setup.frame.weights
    data = SummaryData(
        kind="lmer",
        reml=fit.REML,
        method_title=None,
        family=None,
        link=None,
        formula=fit.formula,
        data_name=fit.setup.data_name,
        weights_name="weights" if weights is not None else None,
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
        messages=fit_messages(fit),
    )
    return LmerSummary(data)
