"""``lmer``: fit a linear mixed model, as lme4's ``lmer``.

The front end: it runs lme4's four stages — :func:`~mixedlm.fitting.lmm.build_lmm`
(formula + data → design), :func:`~mixedlm.fitting.lmm.make_lmm_objective` (the
profiled (RE)ML criterion), :func:`~mixedlm.fitting.lmm.optimize_lmm` and
:func:`~mixedlm.results.lmer_result.wrap_lmm` (the fitted model) — and records the call
so that ``update()`` can rerun it.  Each stage can be called alone (lme4's modular
API); they are re-exported here.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from mixedlm.fitting.control import LmerControl
from mixedlm.fitting.lmm import (  # noqa: F401  (the staged API, re-exported)
    LmmSetup,
    build_lmm,
    fit_lmm_stages,
    make_lmm_objective,
    minimize_theta,
    optimize_lmm,
    with_response,
)
from mixedlm.results.calls import register_front_end
from mixedlm.results.lmer_result import LmerFit, wrap_lmm

__all__ = ["lmer", "LmmSetup", "build_lmm", "make_lmm_objective", "optimize_lmm", "wrap_lmm"]


def lmer(
    formula: str,
    data: pd.DataFrame,
    REML: bool = True,
    weights: Any = None,
    offset: Any = None,
    na_action: str = "omit",
    control: LmerControl | None = None,
    start: Any = None,
    data_name: str | None = None,
) -> LmerFit:
    """Fit a linear mixed model by profiled REML (default) or ML, as lme4's ``lmer``.

    Parameters
    ----------
    formula : str
        lme4 formula, e.g. ``"Reaction ~ Days + (Days | Subject)"``.
    data : pandas.DataFrame
        The data; factor columns should be categorical (strings and integers are
        converted, floats are refused as grouping factors).
    REML : bool
        REML criterion (default) or maximum likelihood.
    weights : array-like or str, optional
        Prior weights: ``Var(ε_i) = σ² / w_i`` (lme4's precision weights).
    offset : array-like or str, optional
        Known component of the linear predictor, added to any ``offset()`` in the formula.
    na_action : {"omit", "exclude", "fail"}
        Rows with missing values: dropped, dropped with per-row outputs padded with
        NaN, or an error.
    control : LmerControl, optional
        Optimizer, tolerances, engine, BLAS threads, checks.
    start : array-like or dict, optional
        Starting θ (lme4 order) or ``{"theta": ...}``.
    data_name : str, optional
        Name shown as ``Data:`` in the summary.

    Returns
    -------
    LmerFit
    """
    control = control or LmerControl()
    setup = build_lmm(formula, data, weights=weights, offset=offset, na_action=na_action, data_name=data_name)
    objective, opt = fit_lmm_stages(setup, REML=REML, control=control, start=start)
    fit = wrap_lmm(setup, objective, opt, control=control)
    fit.call = {
        "function": "lmer",
        "formula": formula,
        "data": data,
        "REML": REML,
        "weights": weights,
        "offset": offset,
        "na_action": na_action,
        "control": control,
        "start": start,
        "data_name": data_name,
    }
    return fit


register_front_end("lmer", lmer)
