"""Refitting a model: new response with the same design (``refit``) or changed arguments (``update``).

``refit`` reuses the built design — only the cross-products (LMM) or the PIRLS
response (GLMM) change — and starts the optimizer from the current estimates,
as lme4's ``refit``.  ``update`` re-runs the original call with some arguments
changed (R's ``update``), including formula updates such as ``". ~ . - Days"``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from mixedlm.errors import MixedLMError


def refit(fit: Any, newresp: Any) -> Any:
    """Fit the same model to a new response vector (rows as used in the fit).

    For binomial models ``newresp`` is the proportion of successes (or an ``(n, 2)``
    array of successes and failures whose row sums are the trials).
    """
    from mixedlm.results.glmer_result import GlmerFit

    y = np.asarray(newresp, dtype=np.float64)
    if isinstance(fit, GlmerFit):
        from mixedlm.fitting.glmm import (
            make_glmm_objective,
            optimize_glmm,
            with_response,
        )
        from mixedlm.results.glmer_result import wrap_glmm
        from mixedlm.threads import blas_threads

        if y.ndim == 2:
            if y.shape[1] != 2:
                raise MixedLMError("a two-column newresp must hold successes and failures")
            trials = y.sum(axis=1)
            if not np.allclose(trials, fit.setup.prior_weights):
                raise MixedLMError("successes + failures in newresp must equal the trials of the fitted model")
            y = np.where(trials > 0, y[:, 0] / np.where(trials > 0, trials, 1.0), 0.0)
        setup = with_response(fit.setup, y)
        control = fit.control if fit.nAGQ == 0 else replace(fit.control, nAGQ0initStep=False)
        with blas_threads(control.blas_threads):
            obj = make_glmm_objective(setup, nAGQ=fit.nAGQ, control=control)
            start = {"theta": fit.theta, "fixef": fit.fixef().to_numpy()}
            o1, o2 = optimize_glmm(obj, setup, control=control, start=start)
            new = wrap_glmm(setup, obj, o1, o2, control=fit.control)
    else:
        from mixedlm.fitting.lmm import make_lmm_objective, optimize_lmm, with_response
        from mixedlm.results.lmer_result import wrap_lmm
        from mixedlm.threads import blas_threads

        setup = with_response(fit.setup, y)
        with blas_threads(fit.control.blas_threads):
            obj = make_lmm_objective(setup, REML=fit.REML, control=fit.control)
            opt = optimize_lmm(obj, setup, control=fit.control, start=fit.theta)
            new = wrap_lmm(setup, obj, opt, control=fit.control)
    # the recorded call describes the original response: update() must not silently refit that
    new.call = None
    return new


def update(fit: Any, formula: str | None = None, **changes: Any) -> Any:
    """Re-run the model's call with changed arguments (R's ``update``).

    Parameters
    ----------
    formula : str, optional
        A new formula, or an update in R's notation (``". ~ . - Days"``).
    **changes
        Any argument of ``lmer`` / ``glmer`` (``data``, ``REML``, ``weights``,
        ``family``, ``nAGQ``, ``control``, ...).
    """
    import mixedlm as mlm
    from mixedlm.formula.update import update_formula

    call = getattr(fit, "call", None)
    if not call:
        raise MixedLMError("this model has no recorded call (it was built with the staged API or by "
                           "refit(), whose response is not in the original data); call lmer()/glmer() "
                           "again instead")
    args = {k: v for k, v in call.items() if k != "function"}
    unknown = set(changes) - set(args)
    if unknown:
        raise MixedLMError(f"update() got unknown argument(s) {sorted(unknown)}; "
                           f"{call['function']}() takes {sorted(args)}")
    args.update(changes)
    if formula is not None:
        args["formula"] = update_formula(call["formula"], formula)
    function = {"lmer": mlm.lmer, "glmer": mlm.glmer, "glmer_nb": mlm.glmer_nb}[call["function"]]
    return function(**args)
