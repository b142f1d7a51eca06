"""Fitting stages of a generalized linear mixed model (lme4's ``glFormula`` / ``mkGlmerDevfun`` / ``optimizeGlmer``).

1. :func:`build_glmm` — formula, data and family → :class:`GlmmSetup` (model frame,
   response and prior weights for the family, rank-checked ``X``, random-effects
   structure, the reusable cross-product builder);
2. :func:`make_glmm_objective` — PIRLS and the deviance functions (``nAGQ = 0``,
   Laplace, adaptive Gauss–Hermite);
3. :func:`optimize_glmm` — lme4's two stages (θ with β inside PIRLS, then (θ, β) on
   the Laplace / AGQ deviance), then a Newton polish of the last one
   (:func:`polish_optimum`); :func:`fit_auto_agq` for ``nAGQ="auto"``.

Stage 4 is :func:`mixedlm.results.glmer_result.wrap_glmm`; :func:`mixedlm.glmer` runs
all four.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from mixedlm.design.crossprod import CrossProductBuilder
from mixedlm.design.femat import FixedEffectsMatrix, build_fixed_effects
from mixedlm.design.frame import ModelFrame, as_pandas_frame, build_model_frame
from mixedlm.design.reterm import ReStructure
from mixedlm.engines import families as fams
from mixedlm.engines.glmm import (
    MAX_AGQ_NODES,
    GlmmObjective,
    check_nagq,
    check_single_factor,
    fixed_effect_scale,
    quadrature_check,
    theta_scale,
)
from mixedlm.engines.pirls import Pirls
from mixedlm.errors import (
    AccuracyWarning,
    ConvergenceWarning,
    DataError,
    MixedLMError,
    warn_at_caller,
)
from mixedlm.fitting.control import GlmerControl
from mixedlm.fitting.lmm import re_structure_from_frame
from mixedlm.optim.boundary import check_boundary
from mixedlm.optim.optsummary import OptSummary
from mixedlm.optim.polish import newton_polish
from mixedlm.optim.registry import minimize
from mixedlm.threads import blas_threads


@dataclass
class GlmmSetup:
    """Output of the design stage of a GLMM.

    Attributes
    ----------
    frame : ModelFrame
    fe : FixedEffectsMatrix
    re : ReStructure
    builder : CrossProductBuilder
    y : numpy.ndarray
        Response on the family's scale (binomial: proportion of successes).
    prior_weights : numpy.ndarray
        Binomial trials times any user weights; the user weights otherwise (1 by default).
    family : Family
    data_name : str or None
    """

    frame: ModelFrame
    fe: FixedEffectsMatrix
    re: ReStructure
    builder: CrossProductBuilder
    y: np.ndarray
    prior_weights: np.ndarray
    family: Any
    data_name: str | None = None


def resolve_family(family: Any) -> Any:
    """A family instance from an instance, a family class, or R's name (``"binomial"``)."""
    if isinstance(family, str):
        table = {
            "binomial": fams.Binomial,
            "poisson": fams.Poisson,
            "gaussian": fams.Gaussian,
            "gamma": fams.Gamma,
            "inverse.gaussian": fams.InverseGaussian,
        }
        key = family.lower()
        if key not in table:
            raise MixedLMError(
                f"unknown family {family!r}; use one of {sorted(table)} or an instance "
                "such as mlm.families.Binomial(link='probit')"
            )
        return table[key]()
    if isinstance(family, type):
        return family()
    if not hasattr(family, "link") or not hasattr(family, "dev_resids"):
        raise MixedLMError(f"family must be a mixedlm family such as mlm.families.Binomial(), not {family!r}")
    return family


def build_glmm(
    formula: str,
    data: pd.DataFrame,
    family: Any,
    *,
    weights: Any = None,
    offset: Any = None,
    na_action: str = "omit",
    data_name: str | None = None,
) -> GlmmSetup:
    """Stage 1: formula, data and family → :class:`GlmmSetup` (all input checks happen here)."""
    if not isinstance(formula, str):
        raise MixedLMError(f"formula must be a string like 'y ~ x + (1 | g)', not {type(formula).__name__}")
    data = as_pandas_frame(data)
    family = resolve_family(family)
    if family.name.startswith("quasi"):
        raise MixedLMError(
            "quasi families have no likelihood, so glmer cannot fit them by maximum likelihood "
            "(lme4 refuses them too); use a family with a likelihood, e.g. Poisson() or "
            "NegativeBinomial(theta) for overdispersed counts"
        )
    is_binomial = family.name == "binomial"
    frame = build_model_frame(
        formula,
        data,
        weights=weights,
        offset=offset,
        na_action=na_action,
        allow_nlev_equal_nobs=True,
        binary_factor_ok=is_binomial,
    )
    name = frame.parsed.response or "response"
    y = np.asarray(frame.y, dtype=np.float64)
    w = np.ones_like(y) if frame.weights is None else np.asarray(frame.weights, dtype=np.float64)
    if frame.trials is not None:
        if not is_binomial:
            raise DataError(
                f"the response {name!r} is a binomial (successes, trials) response but the "
                f"family is {family.name}; use family=mlm.families.Binomial()"
            )
        trials = np.asarray(frame.trials, dtype=np.float64)
        if frame.parsed.response_kind == "ratio" and frame.weights is not None:
            # R's idiom `s / n ~ ..., weights = n`: the weights ARE the trials, not a multiplier
            if not np.allclose(w, trials):
                raise DataError(
                    f"the response {name!r} already gives the number of trials (its denominator); "
                    "weights may only repeat those trials (R's `weights = n` idiom). For other "
                    "weights use cbind(successes, failures) with weights, or a plain proportion "
                    "with weights = trials"
                )
            a = trials
        else:
            a = trials * w
    else:
        a = w
    family.validate_response(y, a, name)
    if is_binomial or family.name == "poisson" or family.name.startswith("Negative Binomial"):
        if np.all(y == 0):
            raise DataError(f"the response {name!r} is 0 for every observation: there is nothing to model")
        if is_binomial and np.all(y == 1):
            raise DataError(f"the response {name!r} is 1 (success) for every observation: there is nothing to model")
    fe = build_fixed_effects(frame.X, list(frame.X_names))
    re = re_structure_from_frame(frame)
    return GlmmSetup(
        frame=frame,
        fe=fe,
        re=re,
        builder=CrossProductBuilder(re.terms),
        y=y,
        prior_weights=a,
        family=family,
        data_name=data_name,
    )


def with_response(setup: GlmmSetup, response: np.ndarray) -> GlmmSetup:
    """The same design with a new response (on the family's scale; binomial: proportions).

    Prior weights (binomial trials) are kept; the response is validated for the family.
    """
    y_new = np.asarray(response, dtype=np.float64).ravel()
    if y_new.shape[0] != setup.y.shape[0]:
        raise DataError(
            f"the new response has {y_new.shape[0]} values; the model was fitted to {setup.y.shape[0]} observations"
        )
    setup.family.validate_response(y_new, setup.prior_weights, "new response")
    return replace(setup, y=y_new, frame=replace(setup.frame, y=y_new))


def make_glmm_objective(
    setup: GlmmSetup, nAGQ: int = 1, control: GlmerControl | None = None, max_points: int | None = 100
) -> GlmmObjective:
    """Stage 2: PIRLS and the deviance functions; β starts from a GLM fit (θ = 0).

    ``max_points`` bounds ``nAGQ`` per dimension (None: only the grid limit
    :data:`~mixedlm.engines.glmm.MAX_AGQ_NODES`, as ``nAGQ="auto"`` uses).
    """
    control = control or GlmerControl()
    nAGQ = check_nagq(nAGQ, setup.re, max_points=max_points if max_points is not None else MAX_AGQ_NODES)
    engine = control.engine
    if nAGQ > 1:
        if setup.family.has_scale:
            raise MixedLMError(
                f"nAGQ > 1 is not available for the {setup.family.name} family: its Laplace deviance uses a "
                "dispersion re-estimated at every evaluation (lme4's approximation), which has no matching "
                "quadrature; use nAGQ=1"
            )
        engine = "blocked"  # one grouping factor: the blocked factor is block diagonal, which AGQ uses
    pirls = Pirls(
        setup.re,
        setup.fe.X,
        setup.y,
        setup.prior_weights,
        setup.frame.offset,
        setup.family,
        setup.builder,
        engine=engine,
        tol_step=control.pirls_tol,
        maxit=control.pirls_maxit,
        laplace=control.laplace,
    )
    glm = pirls.solve_beta_u(np.zeros(setup.re.n_theta))
    objective = GlmmObjective(pirls, nAGQ, glm.beta, warm_start=control.pirls_warm_start)
    # lme4's lp0: every nAGQ=0 evaluation starts PIRLS from the converged predictor at the default θ
    objective.eta_anchor = objective.state_theta(setup.re.default_start()).eta
    return objective


def _start(setup: GlmmSetup, start: Any) -> tuple[np.ndarray | None, np.ndarray | None]:
    """User start: θ array, or dict with ``theta`` and/or ``fixef``."""
    if start is None:
        return None, None
    theta = beta = None
    if isinstance(start, dict):
        unknown = set(start) - {"theta", "fixef"}
        if unknown:
            raise MixedLMError(f"start may have keys 'theta' and 'fixef', not {sorted(unknown)}")
        theta, beta = start.get("theta"), start.get("fixef")
    else:
        theta = start
    if theta is not None:
        theta = np.asarray(theta, dtype=np.float64).ravel()
        if theta.shape[0] != setup.re.n_theta:
            raise MixedLMError(
                f"start has {theta.shape[0]} θ values but the model has {setup.re.n_theta} "
                f"({', '.join(setup.re.theta_names)})"
            )
    if beta is not None:
        beta = np.asarray(beta, dtype=np.float64).ravel()
        if beta.shape[0] != setup.fe.p:
            raise MixedLMError(
                f"start['fixef'] has {beta.shape[0]} values but the model has {setup.fe.p} "
                f"fixed effects ({', '.join(setup.fe.names)})"
            )
    return theta, beta


def _warn_unconverged(opt: OptSummary, stage: str) -> None:
    if not opt.converged:
        warn_at_caller(
            f"{stage}: optimizer {opt.optimizer} stopped without convergence ({opt.message}) after "
            f"{opt.feval} evaluations; try GlmerControl(maxfun=...) with a larger limit, another optimizer, "
            "or rescaling covariates",
            ConvergenceWarning,
        )


def polish_optimum(
    fun: Any, opt: OptSummary, lower: np.ndarray, scale: np.ndarray, control: GlmerControl, optimizer: str = "bobyqa"
) -> None:
    """Newton-polish ``opt``'s optimum in place (:func:`mixedlm.optim.polish.newton_polish`).

    ``opt.final``, ``opt.fmin`` and ``opt.feval`` are updated and ``opt.polish``
    records the scaled gradient before and after, and the standard errors implied
    by the polish's Hessian (``scale``), which later derivative computations use
    as step sizes.  When the polish fails (a Hessian that is not positive definite,
    no decrease, too many steps) the optimizer is rerun from the best point with
    tight tolerances (:data:`TIGHT_NLOPT`) and polished once more.
    """
    if control.polish_tol is None or not np.isfinite(opt.fmin):
        return
    res = newton_polish(fun, np.array(opt.final), opt.fmin, lower, scale, tol=control.polish_tol)
    evals = res.evaluations
    rerun = False
    if not res.converged:
        settings = {k: v for k, v in control.settings_for(optimizer).items() if k != "initial_step"}
        if "ftol_abs" in settings:
            settings.update(TIGHT_NLOPT)
        again = minimize(fun, res.x, lower, optimizer=optimizer, keep_log=False, **settings)
        evals += again.feval
        if again.fmin <= res.fmin:
            res2 = newton_polish(fun, np.array(again.final), again.fmin, lower, scale, tol=control.polish_tol)
            evals += res2.evaluations
            if res2.fmin <= res.fmin:
                res, rerun = res2, True
    opt.final = res.x.tolist()
    opt.fmin = float(res.fmin)
    opt.feval += evals
    info = res.as_dict()
    info["evaluations"] = evals
    info["rerun"] = rerun
    info["scale"] = np.where(np.isfinite(res.se), res.se, scale).tolist()
    opt.polish = info


#: Optimizer tolerances of the rerun after a failed polish.
TIGHT_NLOPT = {"ftol_abs": 1e-10, "xtol_rel": 1e-8}


def optimize_glmm(
    objective: GlmmObjective, setup: GlmmSetup, control: GlmerControl | None = None, start: Any = None
) -> tuple[OptSummary | None, OptSummary | None]:
    """Stage 3: lme4's two optimization stages, then a Newton polish of the final one.

    Stage 1 minimizes the ``nAGQ = 0`` deviance over θ (β from PIRLS).  For
    ``nAGQ ≥ 1`` stage 2 then minimizes the Laplace / AGQ deviance over (θ, β)
    from stage 1's solution, with BOBYQA's variables scaled by the stage-1
    standard errors of β (from ``R_X``) and a provisional scale for θ.  The last
    stage's optimum is then polished by Newton steps until the remaining step is
    below ``control.polish_tol`` standard errors (:func:`polish_optimum`).
    Returns ``(stage1, stage2)`` summaries (either may be None when skipped).
    """
    control = control or GlmerControl()
    re = setup.re
    p = setup.fe.p
    theta0, beta0 = _start(setup, start)
    theta_start = theta0 if theta0 is not None else re.default_start()
    if beta0 is not None:
        objective.beta_start = beta0
    opt1 = None
    beta_scale = None
    if objective.nAGQ == 0 or control.nAGQ0initStep:
        name = control.stage_optimizer(1)
        settings = control.settings_for(name)
        if "xtol_rel" in settings and "xtol_rel" not in control.opt_ctrl:
            settings["xtol_rel"] = control.xtol_rel_stage1
        opt1 = minimize(
            objective.deviance_theta, theta_start, re.lower, optimizer=name, keep_log=control.keep_log, **settings
        )
        _warn_unconverged(opt1, "nAGQ=0 stage")
        if objective.nAGQ == 0:
            polish_optimum(objective.deviance_theta, opt1, re.lower, theta_scale(opt1.final), control, name)
        theta_start = np.array(opt1.final)
        st1 = objective.state_theta(theta_start)
        if beta0 is None:
            beta0 = st1.beta
        objective.u_anchor = st1.u
        beta_scale = fixed_effect_scale(st1, p)
    if objective.nAGQ == 0:
        return opt1, None
    if beta0 is None:
        beta0 = objective.beta_start
    if beta_scale is None:
        beta_scale = fixed_effect_scale(objective.pirls.solve_beta_u(theta_start, beta0=beta0), p)
    par0 = np.concatenate([theta_start, beta0])
    lower = np.concatenate([re.lower, np.full(p, -np.inf)])
    scale = np.concatenate([theta_scale(theta_start), beta_scale])
    name = control.stage_optimizer(2)
    settings = control.settings_for(name)
    if "initial_step" in settings and settings["initial_step"] is None:
        # one fifth of the θ scale and 0.3 standard errors of β: BOBYQA's first model is built
        # from points that differ by a comparable amount in every direction
        settings["initial_step"] = np.concatenate([0.2 * scale[: re.n_theta], 0.3 * beta_scale])
    opt2 = minimize(objective.deviance, par0, lower, optimizer=name, keep_log=control.keep_log, **settings)
    check_boundary(objective.deviance, opt2, lower, control.boundary_tol)
    _warn_unconverged(opt2, "Laplace/AGQ stage" if objective.nAGQ else "")
    polish_optimum(objective.deviance, opt2, lower, scale, control, name)
    return opt1, opt2


#: First rule of ``nAGQ="auto"`` by dimension of the random-effects term.
AUTO_AGQ_START = {1: 9, 2: 5}


def fit_auto_agq(
    setup: GlmmSetup, control: GlmerControl, start: Any = None
) -> tuple[GlmmObjective, OptSummary | None, OptSummary, list[tuple[int, float, float]]]:
    """``nAGQ="auto"``: refine the quadrature rule until its error at the optimum is below ``agq_tol``.

    Starts from :data:`AUTO_AGQ_START` points per dimension (3 for terms of
    dimension 3 and more), fits, and measures the error with the richer rule of
    :func:`~mixedlm.engines.glmm.richer_rule`.  While the error (log-likelihood
    units) exceeds ``control.agq_tol``, the richer rule becomes the fit's rule and
    the Laplace/AGQ stage is re-optimized from the previous optimum.  Stops with an
    :class:`~mixedlm.errors.AccuracyWarning` when the next rule would exceed
    ``control.agq_max_row_nodes`` rows × nodes or the grid limit.

    Returns
    -------
    objective, opt1, opt2
        The final rule's objective and the optimizer summaries (stage 1 from the first rule).
    history : list of (points, quadrature error, −2 log L)
        Every rule tried.
    """
    check_single_factor(setup.re, "nAGQ='auto'")
    if setup.family.has_scale:
        raise MixedLMError(
            f"nAGQ='auto' is not available for the {setup.family.name} family (adaptive "
            "quadrature needs a family without a dispersion parameter); use nAGQ=1"
        )
    S = setup.re.terms[0].S
    n = setup.y.shape[0]
    nt = setup.re.n_theta
    k = AUTO_AGQ_START.get(S, 3)
    objective = make_glmm_objective(setup, nAGQ=k, control=control)
    opt1, opt2 = optimize_glmm(objective, setup, control=control, start=start)
    qc = quadrature_check(objective, np.array(opt2.final), opt2.fmin)
    history = [(k, qc.error, opt2.fmin)]
    while qc.error > control.agq_tol:
        k_next = qc.nAGQ_check
        if k_next <= k or n * k_next**S > control.agq_max_row_nodes or k_next**S > MAX_AGQ_NODES:
            warn_at_caller(
                f"nAGQ='auto' stopped at {k} points per dimension with a quadrature error of {qc.error:.3g} "
                f"log-likelihood units (target {control.agq_tol}): the next rule ({k_next} points, "
                f"{n * k_next**S:.3g} row-node evaluations per deviance) exceeds "
                "GlmerControl(agq_max_row_nodes); raise it, or use fewer random effects",
                AccuracyWarning,
            )
            break
        par = np.array(opt2.final)
        k = k_next
        nxt = make_glmm_objective(setup, nAGQ=k, control=control, max_points=None)
        nxt.u_anchor = objective.state(par).u
        nxt.eta_anchor = objective.eta_anchor
        _, opt2 = optimize_glmm(
            nxt, setup, control=replace(control, nAGQ0initStep=False), start={"theta": par[:nt], "fixef": par[nt:]}
        )
        objective = nxt
        qc = quadrature_check(objective, np.array(opt2.final), opt2.fmin)
        history.append((k, qc.error, opt2.fmin))
    return objective, opt1, opt2, history


def _nb_theta_ml(y: np.ndarray, mu: np.ndarray, w: np.ndarray) -> float:
    """ML estimate of the negative-binomial θ for fixed means (MASS's ``theta.ml``), on log θ."""
    from scipy.optimize import minimize_scalar
    from scipy.special import gammaln

    def nll(t: float) -> float:
        th = math.exp(t)
        ll = (
            gammaln(th + y)
            - gammaln(th)
            - gammaln(y + 1)
            + th * np.log(th / (th + mu))
            + y * np.log(np.where(y > 0, mu / (th + mu), 1.0))
        )
        return -float(np.sum(w * ll))

    # MASS's moment start: n / Σ (y/μ − 1)²
    mom = y.shape[0] / max(float(np.sum(w * (y / mu - 1.0) ** 2)), 1e-8)
    t0 = math.log(min(max(mom, 1e-3), 1e6))
    res = minimize_scalar(nll, bounds=(t0 - 10.0, t0 + 10.0), method="bounded", options={"xatol": 1e-8})
    return math.exp(float(res.x))


def fit_glmm_stages(
    setup: GlmmSetup,
    nAGQ: int | str = 1,
    control: GlmerControl | None = None,
    start: Any = None,
    max_points: int | None = 100,
) -> tuple[GlmmObjective, OptSummary | None, OptSummary | None, list[tuple[int, float, float]]]:
    """Stages 2 and 3 on a setup: the objective, both optimizer summaries and the ``nAGQ="auto"`` history.

    ``nAGQ="auto"`` runs :func:`fit_auto_agq`; otherwise the history is empty.
    ``max_points`` is passed to :func:`make_glmm_objective` (None when refitting a
    model whose rule ``nAGQ="auto"`` chose).
    """
    control = control or GlmerControl()
    with blas_threads(control.blas_threads):
        if isinstance(nAGQ, str) and nAGQ.lower() == "auto":
            return fit_auto_agq(setup, control, start=start)
        objective = make_glmm_objective(setup, nAGQ=nAGQ, control=control, max_points=max_points)
        opt1, opt2 = optimize_glmm(objective, setup, control=control, start=start)
    return objective, opt1, opt2, []
