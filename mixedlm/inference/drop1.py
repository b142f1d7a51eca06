"""Single-term deletions of fixed-effects terms (lme4's ``drop1.merMod``).

For a model with log-likelihood ``ℓ₀`` and ``k₀`` parameters, every fixed-effects term
``t`` in the scope is removed in turn (``update(fit, . ~ . - t)``) and the reduced model
refitted by maximum likelihood, giving ``ℓ_t`` and ``k_t``.  The table has one row per
deletion after the ``<none>`` row of the full model:

    npar_t = k₀ − k_t                       (parameters removed)
    AIC_t  = −2ℓ_t + k·k_t                  (``k = 2``: Akaike; ``k = log n``: BIC-like)
    LRT_t  = 2(ℓ₀ − ℓ_t)                    (likelihood-ratio statistic)
    Pr(Chi)_t = P(χ²_{npar_t} > LRT_t)

``LRT`` is not truncated at 0 (as lme4): a slightly negative value means that the
reduced fit found a better optimum than the full one.

Scope and marginality.  By default the scope is R's ``drop.scope``: a term may be
dropped only if no other term contains all of its variables, so a main effect stays
while an interaction containing it is in the model (``a * b`` offers only ``a:b``).
The intercept and random-effects terms are never dropped.

Likelihoods.  lme4 computes each row from ``extractAIC``, which refits REML fits by
ML (``refitML``).  Here a REML fit is refitted by ML once (from its REML estimates)
and the reduced models are fitted by ML directly; GLMMs use their (Laplace / AGQ)
log-likelihood.  The reduced models re-run the original call (same data, weights,
family, ``nAGQ``, control) with the term removed from the formula; for ``glmer_nb``
fits that re-estimates the negative-binomial θ, as lme4's ``update`` does.  All
fits must use the same rows (a dropped variable with missing values would change
them): otherwise an error, as lme4.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from mixedlm.errors import MixedLMError
from mixedlm.inference.anova import (
    AnovaTable,
    _check_fit,
    model_npar,
    refitML,
)
from mixedlm.results.calls import front_end
from mixedlm.results.interface import MixedFit

__all__ = ["drop1"]

_TESTS = ("Chisq", "none")


def _norm(label: str) -> str:
    return re.sub(r"\s+", "", label)


def _resolve_scope(scope: Any, labels: Sequence[str], default: Sequence[str]) -> list[str]:
    """Scope as a list of term labels (R's ``term.labels`` spelling)."""
    if scope is None:
        return list(default)
    if isinstance(scope, str):
        text = scope.strip()
        if "~" in text:
            text = text.split("~", 1)[1]
        items = [s.strip() for s in text.split("+") if s.strip()]
    else:
        items = [str(s).strip() for s in scope]
    by_norm = {_norm(lab): lab for lab in labels}
    out: list[str] = []
    unknown: list[str] = []
    for item in items:
        key = _norm(item)
        if key not in by_norm:
            # a:b may be written b:a
            parts = sorted(key.split(":"))
            match = [lab for k, lab in by_norm.items() if sorted(k.split(":")) == parts]
            if not match:
                unknown.append(item)
                continue
            key = _norm(match[0])
        out.append(by_norm[key])
    if unknown:
        raise MixedLMError(
            f"scope is not a subset of term labels: {unknown} are not fixed-effects terms of "
            f"the model (its terms: {list(labels)})"
        )
    return out


def _call_for(fit: MixedFit, data: Any) -> dict[str, Any]:
    """The call to re-run for the reduced models (``data`` replaces the recorded data)."""
    call = fit.call
    if call:
        call = dict(call)
        if data is not None:
            call["data"] = data
        return call
    if data is None:
        raise MixedLMError(
            "drop1() refits the model without each term, which needs the data: this model has "
            "no recorded call (it was built with the staged API); pass data=..."
        )
    frame = fit.setup.frame
    if frame.weights is not None or (bool(np.any(frame.offset != 0)) and not frame.parsed.offsets):
        raise MixedLMError(
            "this model has no recorded call and uses prior weights or an offset argument; "
            "refit it with lmer()/glmer() before calling drop1()"
        )
    if fit.isGLMM():
        return {
            "function": "glmer",
            "formula": fit.formula,
            "data": data,
            "family": fit.family,
            "nAGQ": fit.nAGQ,
            "na_action": frame.na_action,
            "control": fit.control,
        }
    return {
        "function": "lmer",
        "formula": fit.formula,
        "data": data,
        "REML": fit.isREML(),
        "na_action": frame.na_action,
        "control": fit.control,
    }


def _reduced_formula(formula: str, term_text: str) -> str:
    """``formula`` with ``- term`` appended to its right-hand side (R's ``. ~ . - term``).

    The term is removed by formulaic's formula algebra, so ``a * b - a:b`` works where
    a textual edit would not.
    """
    return f"{formula} - {term_text}"


def _fit_call(call: dict[str, Any], **changes: Any) -> MixedFit:
    args = {k: v for k, v in call.items() if k != "function"}
    args.update(changes)
    return front_end(call.get("function"))(**args)


def drop1(fit: MixedFit, scope: Any = None, test: str = "Chisq", k: float = 2.0, data: Any = None) -> AnovaTable:
    """Single-term deletions of fixed-effects terms, each refitted by ML (lme4's ``drop1``).

    Parameters
    ----------
    fit : MixedFit
        The full model (REML fits are refitted by ML first).
    scope : list of str or str, optional
        Terms to try, by R's term labels (``["Days"]``, ``"~ a:b + c"``).  Default: the
        terms that respect marginality (R's ``drop.scope``).
    test : {"Chisq", "none"}
        ``"Chisq"`` (default here; lme4's default is ``"none"``) adds the likelihood-ratio
        statistic ``LRT`` and its χ² p-value ``Pr(Chi)``.
    k : float, default 2
        Penalty per parameter in the ``AIC`` column.
    data : pandas.DataFrame, optional
        Data for the refits, when the model's recorded call has none (staged API) or
        to replace it; it must give the same rows.

    Returns
    -------
    AnovaTable
        Rows ``<none>`` and the dropped terms; columns ``npar``, ``AIC`` and, for
        ``test="Chisq"``, ``LRT``, ``Pr(Chi)`` (formulas in the module docstring).

    Raises
    ------
    MixedLMError
        Unknown ``test``, a scope naming terms the model does not have, a reduced model
        that uses a different number of rows, or a model that cannot be refitted.
    """
    _check_fit(fit, "drop1")
    if test not in _TESTS:
        raise MixedLMError(
            f"test must be 'Chisq' or 'none' (lme4 also has 'user' with sumFun; an F test is "
            f"not available for mixed models), not {test!r}"
        )
    from mixedlm.formula.terms import drop_scope, fixed_terms

    terms = [t for t in fixed_terms(fit.setup.frame.spec.fixed) if not t.is_intercept]
    labels = [t.label for t in terms]
    chosen = _resolve_scope(scope, labels, drop_scope(terms))
    by_label = {t.label: t for t in terms}
    call = _call_for(fit, data)

    full = refitML(fit)
    n0 = full.nobs
    ll = [float(full.logLik())]
    df = [model_npar(full)]
    changes: dict[str, Any] = {} if fit.isGLMM() else {"REML": False}
    for label in chosen:
        reduced = _fit_call(call, formula=_reduced_formula(call["formula"], by_label[label].formula_text), **changes)
        if reduced.nobs != n0:
            raise MixedLMError(
                f"number of rows in use has changed when dropping {label!r} ({n0} -> "
                f"{reduced.nobs}): remove the rows with missing values in that variable first"
            )
        ll.append(float(reduced.logLik()))
        df.append(model_npar(reduced))
    ll_arr, df_arr = np.array(ll), np.array(df, dtype=float)
    npar = df_arr[0] - df_arr
    npar[0] = np.nan
    table = pd.DataFrame(
        {"npar": npar, "AIC": -2.0 * ll_arr + k * df_arr}, index=pd.Index(["<none>", *chosen], dtype=object)
    )
    if test == "Chisq":
        lrt = 2.0 * (ll_arr[0] - ll_arr)
        lrt[0] = np.nan
        with np.errstate(invalid="ignore"):
            p = np.where(npar > 0, stats.chi2.sf(lrt, np.where(npar > 0, npar, 1.0)), np.nan)
        p[0] = np.nan
        table["LRT"] = lrt
        table["Pr(Chi)"] = p
    heading = ["Single term deletions", "", "Model:", str(fit.formula)]
    if k != 2.0 and not math.isclose(k, 2.0):
        heading.append(f"AIC penalty k = {k:g}")
    return AnovaTable(table, heading=heading)
