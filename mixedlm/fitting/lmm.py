"""Fitting stages of a linear mixed model (lme4's modular ``lFormula`` / ``mkLmerDevfun`` / ``optimizeLmer``).

1. :func:`build_lmm` — formula + data → :class:`LmmSetup` (model frame, rank-checked
   ``X``, random-effects structure, cross-product blocks ``A``); every input check
   happens here;
2. :func:`make_lmm_objective` — the profiled (RE)ML criterion as a function of θ;
3. :func:`optimize_lmm` — minimize it (NLopt BOBYQA by default) with lme4's starting
   values, ``restart_edge`` and boundary check.

Stage 4, wrapping the optimum into a fitted-model object, is
:func:`mixedlm.results.lmer_result.wrap_lmm`; :func:`mixedlm.lmer` runs all four.
Refits (new response, other controls, the ML problem of a REML fit) reuse stages 2–3
on the same setup: :func:`with_response` swaps the response without re-parsing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from mixedlm.design.crossprod import CrossProductBuilder, CrossProducts
from mixedlm.design.femat import FixedEffectsMatrix, build_fixed_effects
from mixedlm.design.frame import ModelFrame, as_pandas_frame, build_model_frame
from mixedlm.design.reterm import ReStructure, TermInput, build_re_structure
from mixedlm.engines.lmm import LmmObjective, moment_start
from mixedlm.errors import ConvergenceWarning, DataError, MixedLMError, warn_at_caller
from mixedlm.fitting.control import LmerControl
from mixedlm.optim.boundary import check_boundary, restart_edge
from mixedlm.optim.optsummary import OptSummary
from mixedlm.optim.registry import minimize
from mixedlm.threads import blas_threads


@dataclass
class LmmSetup:
    """Output of the design stage: everything that does not depend on θ.

    Attributes
    ----------
    frame : ModelFrame
        Materialized model frame (response, full ``X``, random-effects blocks, NA bookkeeping).
    fe : FixedEffectsMatrix
        Rank-checked fixed-effects matrix.
    re : ReStructure
        Random-effects terms and θ layout.
    A : CrossProducts
        Blocks of ``[Z X y]' W [Z X y]`` with ``y`` = response − offset.
    y : numpy.ndarray
        Response minus offset.
    builder : CrossProductBuilder
        Rebuilds ``A`` for a new response or weights without re-deriving the pattern.
    data_name : str or None
        Name printed as ``Data:`` in the summary.
    """

    frame: ModelFrame
    fe: FixedEffectsMatrix
    re: ReStructure
    A: CrossProducts
    y: np.ndarray
    builder: CrossProductBuilder
    data_name: str | None = None


def re_structure_from_frame(frame: ModelFrame) -> ReStructure:
    """Random-effects structure from the model frame's blocks."""
    return build_re_structure(
        [
            TermInput(
                group=b.group, codes=b.codes, levels=b.levels, Z=b.Z, colnames=b.colnames, correlated=b.correlated
            )
            for b in frame.re_blocks
        ]
    )


def build_lmm(
    formula: str,
    data: pd.DataFrame,
    *,
    weights: Any = None,
    offset: Any = None,
    na_action: str = "omit",
    data_name: str | None = None,
) -> LmmSetup:
    """Stage 1: formula and data → :class:`LmmSetup`.

    Raises
    ------
    FormulaError, DataError
        For malformed formulas and unusable data, before any numerical work.
    """
    if not isinstance(formula, str):
        raise MixedLMError(f"formula must be a string like 'y ~ x + (1 | g)', not {type(formula).__name__}")
    data = as_pandas_frame(data)
    frame = build_model_frame(formula, data, weights=weights, offset=offset, na_action=na_action)
    if frame.trials is not None:
        raise DataError(
            "lmer() fits a Gaussian response; a binomial response "
            f"({frame.parsed.response}) needs glmer(..., family=Binomial())"
        )
    fe = build_fixed_effects(frame.X, list(frame.X_names))
    re = re_structure_from_frame(frame)
    y = np.asarray(frame.y, dtype=np.float64) - frame.offset
    n = y.shape[0]
    if n <= fe.p:
        raise DataError(f"{n} observations are not enough for {fe.p} fixed-effect coefficients")
    builder = CrossProductBuilder(re.terms)
    A = builder.build(fe.X, y, frame.weights)
    _check_response_varies(A, frame.parsed.response)
    return LmmSetup(frame=frame, fe=fe, re=re, A=A, y=y, builder=builder, data_name=data_name)


def with_response(setup: LmmSetup, response: np.ndarray) -> LmmSetup:
    """The same design with a new response vector (rows as fitted); only ``A`` is recomputed.

    Used by ``refit``, simulation-based inference and the bootstrap: nothing is re-parsed.
    """
    y_new = np.asarray(response, dtype=np.float64).ravel()
    if y_new.shape[0] != setup.y.shape[0]:
        raise DataError(
            f"the new response has {y_new.shape[0]} values; the model was fitted to {setup.y.shape[0]} observations"
        )
    if not np.all(np.isfinite(y_new)):
        raise DataError("the new response contains NaN or infinite values")
    frame = replace(setup.frame, y=y_new)
    y = y_new - frame.offset
    A = setup.builder.build(setup.fe.X, y, frame.weights)
    _check_response_varies(A, frame.parsed.response)
    return replace(setup, frame=frame, y=y, A=A)


def _check_response_varies(A: CrossProducts, name: str | None) -> None:
    """Refuse a response the fixed effects reproduce exactly (e.g. a constant): σ̂ would be 0.

    The last diagonal element of the Cholesky factor of ``[X y]'W[X y]`` is the
    norm of the weighted least-squares residual of ``y`` on ``X``.
    """
    M = A.fixed_fixed
    scale = math.sqrt(max(M[-1, -1], 0.0))
    try:
        r = np.linalg.cholesky(M)[-1, -1] if scale > 0 else 0.0
    except np.linalg.LinAlgError:
        r = 0.0
    if not r > 1e-10 * max(scale, 1e-300):
        raise DataError(
            f"the response {name!r} is reproduced exactly by the fixed effects (for example it "
            "is constant), so the residual variance is zero and the model cannot be fitted; "
            "check the response column"
        )


def make_lmm_objective(setup: LmmSetup, REML: bool = True, control: LmerControl | None = None) -> LmmObjective:
    """Stage 2: the profiled deviance (``REML=False``) or REML criterion."""
    control = control or LmerControl()
    return LmmObjective(setup.re, setup.A, reml=REML, engine=control.engine)


def _start_theta(setup: LmmSetup, start: Any) -> np.ndarray:
    """θ start: the user's, lme4's moment-based start for ``(1 | g)`` models, or the default."""
    re = setup.re
    if start is not None:
        if isinstance(start, dict):
            if "theta" not in start:
                raise MixedLMError("start must be an array of θ values or a dict with key 'theta'")
            start = start["theta"]
        theta = np.asarray(start, dtype=np.float64).ravel()
        if theta.shape[0] != re.n_theta:
            raise MixedLMError(
                f"start has {theta.shape[0]} values but the model has {re.n_theta} θ parameters "
                f"({', '.join(re.theta_names)})"
            )
        if np.any(theta < re.lower):
            raise MixedLMError("start violates the lower bounds: diagonal θ entries must be >= 0")
        return theta
    ms = moment_start(re, np.asarray(setup.frame.y, dtype=np.float64))
    return ms if ms is not None else re.default_start()


def minimize_theta(
    objective: Any, theta0: np.ndarray, lower: np.ndarray, control: LmerControl, keep_log: bool = True
) -> OptSummary:
    """lme4's ``optimizeLmer``: the optimizer, then ``restart_edge`` and the boundary check."""

    def run(start: np.ndarray) -> OptSummary:
        return minimize(
            objective, start, lower, optimizer=control.optimizer, keep_log=keep_log, **control.optimizer_settings()
        )

    opt = run(theta0)
    if control.restart_edge:
        opt = restart_edge(objective, opt, lower, run)
    check_boundary(objective, opt, lower, control.boundary_tol)
    return opt


def optimize_lmm(
    objective: LmmObjective, setup: LmmSetup, control: LmerControl | None = None, start: Any = None
) -> OptSummary:
    """Stage 3: minimize the objective over θ; returns the run's :class:`OptSummary`."""
    control = control or LmerControl()
    theta0 = _start_theta(setup, start)
    with blas_threads(control.blas_threads):
        opt = minimize_theta(objective, theta0, setup.re.lower, control, keep_log=control.keep_log)
    if not opt.converged:
        warn_at_caller(
            f"optimizer {opt.optimizer} stopped without convergence ({opt.message}) after "
            f"{opt.feval} evaluations; try LmerControl(maxfun=...) with a larger limit, another "
            "optimizer (LmerControl(optimizer='neldermead')), or rescaling covariates",
            ConvergenceWarning,
        )
    return opt


def fit_lmm_stages(
    setup: LmmSetup, REML: bool = True, control: LmerControl | None = None, start: Any = None
) -> tuple[LmmObjective, OptSummary]:
    """Stages 2 and 3 on a setup: the objective and its optimum (BLAS limited as the control says)."""
    control = control or LmerControl()
    with blas_threads(control.blas_threads):
        objective = make_lmm_objective(setup, REML=REML, control=control)
        opt = optimize_lmm(objective, setup, control=control, start=start)
    return objective, opt
