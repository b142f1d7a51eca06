"""``glmer`` and ``glmer_nb``: fit a generalized linear mixed model, as lme4's ``glmer`` / ``glmer.nb``.

The front end: it runs lme4's stages — :func:`~mixedlm.fitting.glmm.build_glmm`,
:func:`~mixedlm.fitting.glmm.make_glmm_objective`, :func:`~mixedlm.fitting.glmm.optimize_glmm`
(two optimizer stages and a Newton polish) and :func:`~mixedlm.results.glmer_result.wrap_glmm`
— and records the call so that ``update()`` can rerun it.  ``method="map"|"vb"`` hands
the design to the Bayesian mixed GLM (:mod:`mixedlm.statsmodels_style.bayes_mixed_glm`).  The stages are
re-exported here (lme4's modular API).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from mixedlm.engines import families as fams
from mixedlm.errors import ConvergenceWarning, MixedLMError, warn_at_caller
from mixedlm.fitting.control import GlmerControl
from mixedlm.fitting.glmm import (  # noqa: F401  (the staged API, re-exported)
    GlmmSetup,
    _nb_theta_ml,
    build_glmm,
    fit_auto_agq,
    fit_glmm_stages,
    make_glmm_objective,
    optimize_glmm,
    resolve_family,
    with_response,
)
from mixedlm.lmer import lmer
from mixedlm.results.calls import register_front_end
from mixedlm.results.glmer_result import GlmerFit, wrap_glmm
from mixedlm.threads import blas_threads

__all__ = ["glmer", "glmer_nb", "GlmmSetup", "build_glmm", "make_glmm_objective", "optimize_glmm", "wrap_glmm"]


def glmer(
    formula: str,
    data: pd.DataFrame,
    family: Any = None,
    nAGQ: int = 1,
    weights: Any = None,
    offset: Any = None,
    na_action: str = "omit",
    control: GlmerControl | None = None,
    start: Any = None,
    data_name: str | None = None,
    method: str = "ml",
) -> GlmerFit:
    """Fit a generalized linear mixed model by maximum likelihood, as lme4's ``glmer``.

    Parameters
    ----------
    formula : str
        lme4 formula. Binomial responses: 0/1 (or a factor, first level = failure),
        ``cbind(successes, failures)``, or ``successes / trials``.
    data : pandas.DataFrame
    family : Family, optional
        ``mlm.families.Binomial()`` (default), ``Poisson()``, ``NegativeBinomial(theta)``, …
    nAGQ : int or "auto"
        0: β inside PIRLS, θ optimized alone (fast, approximate); 1: Laplace
        (default); > 1: adaptive Gauss–Hermite quadrature with that many points per
        dimension — for a single grouping factor, scalar or vector-valued term.  After
        such a fit the log-likelihood is recomputed at the optimum with a richer rule
        (``fit.quadrature``; an :class:`~mixedlm.errors.AccuracyWarning` above
        ``GlmerControl(agq_warn)``).  ``"auto"``: refine the rule until that error is
        below ``GlmerControl(agq_tol)`` (:func:`fit_auto_agq`).
    weights, offset : array-like or str, optional
        Prior weights (binomial: multiply the trials) and a known offset added to
        any ``offset()`` in the formula.
    na_action : {"omit", "exclude", "fail"}
    control : GlmerControl, optional
    start : array-like or dict, optional
        θ, or ``{"theta": ..., "fixef": ...}``.
    data_name : str, optional
        Name shown as ``Data:`` in the summary.
    method : {"ml", "map", "vb"}
        ``"ml"``: maximum likelihood (the default). ``"map"`` / ``"vb"``: the Bayesian
        mixed GLM of statsmodels (priors ``vcp_p=1``, ``fe_p=2``) by posterior mode or
        mean-field variational Bayes, returning ``BayesMixedGLMResults``; every random
        term must be independent (scalar or ``||``).

    Returns
    -------
    GlmerFit
    """
    method = method.lower() if isinstance(method, str) else method
    if method not in ("ml", "map", "vb"):
        raise MixedLMError(f"method must be 'ml' (maximum likelihood, the default), 'map' or 'vb', not {method!r}")
    control = control or GlmerControl()
    family = resolve_family(fams.Binomial() if family is None else family)
    if family.name == "gaussian" and family.link.name == "identity":
        warn_at_caller(
            "calling glmer() with the Gaussian family and identity link is a shortcut to lmer() "
            "(as in lme4); call lmer() directly",
            UserWarning,
        )
        return lmer(
            formula,
            data,
            weights=weights,
            offset=offset,
            na_action=na_action,
            control=control,
            start=start,
            data_name=data_name,
        )
    setup = build_glmm(formula, data, family, weights=weights, offset=offset, na_action=na_action, data_name=data_name)
    if method != "ml":
        from mixedlm.statsmodels_style.bayes_mixed_glm import fit_glmer_bayes

        return fit_glmer_bayes(setup, method)
    objective, opt1, opt2, history = fit_glmm_stages(setup, nAGQ=nAGQ, control=control, start=start)
    fit = wrap_glmm(setup, objective, opt1, opt2, control=control, agq_history=history)
    fit.call = {
        "function": "glmer",
        "formula": formula,
        "data": data,
        "family": family,
        "nAGQ": nAGQ,
        "weights": weights,
        "offset": offset,
        "na_action": na_action,
        "control": control,
        "start": start,
        "data_name": data_name,
    }
    return fit


def glmer_nb(
    formula: str,
    data: pd.DataFrame,
    nAGQ: int = 1,
    weights: Any = None,
    offset: Any = None,
    na_action: str = "omit",
    control: GlmerControl | None = None,
    link: str = "log",
    data_name: str | None = None,
    interval_width: float = 3.0,
) -> GlmerFit:
    """Negative-binomial GLMM with the dispersion θ estimated, as lme4's ``glmer.nb``.

    ``Var(y) = μ + μ²/θ``.  As lme4: fit a Poisson GLMM, take MASS's ML estimate
    of θ given its means as a start, then minimize ``−2 log L(θ)`` — each value a
    full NB GLMM fit at that fixed θ, warm-started from the previous one — over
    ``log θ ∈ log θ₀ ± interval_width`` with Brent's bounded method, and refit at
    the optimum.  The estimate is ``fit.family.theta`` (printed in the summary as
    ``Negative Binomial(θ)``).
    """
    from scipy.optimize import minimize_scalar

    control = control or GlmerControl()
    pois = build_glmm(
        formula, data, fams.Poisson(link=link), weights=weights, offset=offset, na_action=na_action, data_name=data_name
    )
    with blas_threads(control.blas_threads):
        obj0 = make_glmm_objective(pois, nAGQ=nAGQ, control=control)
        o1, o2 = optimize_glmm(obj0, pois, control=control)
        p0 = GlmerFit(setup=pois, objective=obj0, opt_stage1=o1, opt=o2, control=replace(control, calc_derivs=False))
        theta0 = _nb_theta_ml(pois.y, p0._state.mu, pois.prior_weights)
        last = {"theta": p0.theta, "fixef": p0.fixef().to_numpy()}
        warm = replace(control, nAGQ0initStep=False, calc_derivs=False)
        history: list[tuple[float, float]] = []

        def neg2ll(t: float) -> float:
            setup = replace(pois, family=fams.NegativeBinomial(theta=math.exp(t), link=link))
            obj = make_glmm_objective(setup, nAGQ=nAGQ, control=warm)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                a1, a2 = optimize_glmm(obj, setup, control=warm, start=last)
            fit = GlmerFit(setup=setup, objective=obj, opt_stage1=a1, opt=a2, control=warm)
            last["theta"], last["fixef"] = fit.theta, fit.fixef().to_numpy()
            val = -2.0 * fit.logLik()
            history.append((math.exp(t), val))
            return val

        lo = math.log(theta0) - interval_width
        res = minimize_scalar(
            neg2ll,
            bounds=(lo, lo + 2 * interval_width),
            method="bounded",
            options={"xatol": np.finfo(float).eps ** 0.25},
        )
        theta_hat = math.exp(float(res.x))
        setup = replace(pois, family=fams.NegativeBinomial(theta=theta_hat, link=link))
        obj = make_glmm_objective(setup, nAGQ=nAGQ, control=control)
        o1, o2 = optimize_glmm(obj, setup, control=replace(control, nAGQ0initStep=False), start=last)
        fit = wrap_glmm(setup, obj, o1, o2, control=control)
    fit.nb_theta_history = history
    fit.call = {
        "function": "glmer_nb",
        "formula": formula,
        "data": data,
        "nAGQ": nAGQ,
        "weights": weights,
        "offset": offset,
        "na_action": na_action,
        "control": control,
        "link": link,
        "data_name": data_name,
    }
    return fit


register_front_end("glmer", glmer)
register_front_end("glmer_nb", glmer_nb)
