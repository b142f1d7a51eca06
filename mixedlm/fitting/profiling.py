"""The deviance of a fitted model on the profiling scale, and its conditional optima.

:func:`mixedlm.profile` walks each parameter away from its estimate and needs, at every
point, the minimum of the deviance over the other parameters.  What that minimum is
depends on the model kind, so it lives here, below the results layer; the fitted
models hand out :class:`LmmProfileProblem` / :class:`GlmmProfileProblem`
(``fit.profile_problem()``), which implement
:class:`mixedlm.results.interface.ProfileProblem`.

Linear mixed models: the ML deviance over ``(sdcor, σ)`` with β profiled out exactly
(lme4's ``devfun2``; a REML fit is refitted by ML first),
``d(s, σ) = log|L_θ|² − Σ log w_i + r²(θ)/σ² + n log(2πσ²)``, ``θ = chol(Σ(s))/σ``.
Holding a fixed effect ``β_j`` moves ``x_j β_j`` into the offset and minimizes the ML
criterion of the reduced model over θ (σ and the other β are then exact).

GLMMs: the Laplace / AGQ deviance over ``(sdcor, β)``; holding any parameter minimizes
over all the others.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np

from mixedlm.design.sdcor import (
    sdcor_bounds,
    sdcor_to_theta,
    theta_to_sdcor,
    variance_parameter_names,
)
from mixedlm.engines.lmm import LmmObjective
from mixedlm.errors import MixedLMError
from mixedlm.optim.registry import minimize

#: Objective value returned where the model cannot be evaluated (as the fitting code does).
FAILED = 1e15


class LmmSdcorDeviance:
    """ML deviance of a linear mixed model over ``(sdcor, σ)`` with β profiled out.

    ``d(s, σ) = log|L_θ|² − Σ log w_i + r²(θ)/σ² + n log(2πσ²)``, ``θ = chol(Σ(s))/σ``
    (lme4's ``devfun2``).  Its minimum over σ is the profiled ML deviance at θ.
    """

    def __init__(self, objective: Any, re: Any) -> None:
        self.objective = objective
        self.re = re
        self.n = objective.n
        self.ldW = float(objective.A.sum_log_weights)

    def theta(self, par: np.ndarray) -> np.ndarray:
        """θ for a parameter vector ``(sdcor, σ)``."""
        return sdcor_to_theta(self.re, par[:-1], par[-1])

    def __call__(self, par: np.ndarray) -> float:
        par = np.asarray(par, dtype=np.float64)
        sigma = float(par[-1])
        if not (sigma > 0 and np.all(np.isfinite(par))):
            return FAILED
        pieces = self.objective._pieces(self.theta(par))
        if pieces is None:
            return FAILED
        ldL2, _, pwrss = pieces
        s2 = sigma * sigma
        return ldL2 - self.ldW + pwrss / s2 + self.n * math.log(2.0 * math.pi * s2)


class GlmmSdcorDeviance:
    """Laplace / AGQ deviance of a GLMM over ``(sdcor, β)``."""

    def __init__(self, objective: Any, re: Any) -> None:
        self.objective = objective
        self.re = re
        self.n_theta = re.n_theta

    def theta(self, par: np.ndarray) -> np.ndarray:
        """θ for a parameter vector ``(sdcor, β)``."""
        return sdcor_to_theta(self.re, par[: self.n_theta])

    def __call__(self, par: np.ndarray) -> float:
        par = np.asarray(par, dtype=np.float64)
        if not np.all(np.isfinite(par)):
            return FAILED
        return float(self.objective.deviance(np.concatenate([self.theta(par), par[self.n_theta :]])))


def _drop_fixed_column(A: Any, fw: float) -> Any:
    """Cross-products of ``[Z X₋ⱼ (y − x_j fw)]`` from those of ``[Z X₋ⱼ x_j y]``.

    ``A`` was built with ``x_j`` as the last column of ``X``; moving ``x_j fw`` into
    the offset is the linear map ``[X₋ⱼ x_j y] ↦ [X₋ⱼ, y − fw x_j]``, applied to the
    fixed rows and to ``[X y]'W[X y]`` without touching the data again.
    """
    p = A.p  # columns X₋ⱼ (p − 1) and x_j
    fixed = []
    for F in A.fixed:
        G = np.empty((p, F.shape[1]))
        G[: p - 1] = F[: p - 1]
        G[p - 1] = F[p] - fw * F[p - 1]
        fixed.append(G)
    T = np.zeros((p + 1, p))
    T[np.arange(p - 1), np.arange(p - 1)] = 1.0
    T[p, p - 1] = 1.0
    T[p - 1, p - 1] = -fw
    FF = np.asfortranarray(T.T @ A.fixed_fixed @ T)
    return replace(A, p=p - 1, fixed=fixed, fixed_fixed=FF)


def _held(w: int, value: float, x: np.ndarray, n: int) -> np.ndarray:
    """A full parameter vector of length ``n``: ``value`` at ``w``, ``x`` elsewhere."""
    par = np.empty(n)
    others = [i for i in range(n) if i != w]
    par[w] = value
    par[others] = x
    return par


class _ProblemBase:
    """Shared parts: names, optimum, bounds, and the constrained minimization over the others."""

    names: list[str]
    opt: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    base: float
    n_var: int
    optimizer: str
    settings: dict[str, Any]
    dev: Any

    def deviance_at(self, values: np.ndarray) -> float:
        return float(self.dev(np.asarray(values, dtype=np.float64)[: self.n_var]))

    def first_value(self, w: int, delta: float) -> float:
        """lme4's first step: ``1.01 p̂`` (``0.001`` at ``p̂ = 0``), kept within the bounds."""
        pw = float(self.opt[w])
        return min(float(self.upper[w]), max(float(self.lower[w]), 0.001 if pw == 0 else pw * 1.01))

    def _minimize_others(self, w: int, value: float, start: np.ndarray) -> tuple[np.ndarray, float]:
        """Minimize ``dev`` over the first ``n_var`` parameters except ``w``, which is held at ``value``."""
        nv = self.n_var
        others = [i for i in range(nv) if i != w]
        lo, up = self.lower[others], self.upper[others]
        # NLopt's default initial step is 0.75 |x_i|: a start a hair above a bound (an SD that
        # went to ~1e-5 at the previous point) makes BOBYQA's first steps so small that it
        # stops at once.  Such starts are moved onto the bound (initial step 1 there).
        near = 1e-3 * np.maximum(np.abs(self.opt[others]), 1e-2)
        x0 = np.clip(np.asarray(start, dtype=np.float64)[others], lo, up)
        x0 = np.where(np.isfinite(lo) & (x0 - lo < near), lo, x0)
        x0 = np.where(np.isfinite(up) & (up - x0 < near), up, x0)

        def f(x: np.ndarray) -> float:
            return float(self.dev(_held(w, value, x, nv)))

        try:
            res = minimize(f, x0, lo, up, optimizer=self.optimizer, keep_log=False, **self.settings)
            x, fval = np.asarray(res.final, dtype=np.float64), float(res.fmin)
        except (MixedLMError, np.linalg.LinAlgError, RuntimeError, ValueError):
            x, fval = np.full(len(others), np.nan), float("nan")
        if not np.isfinite(fval) or fval >= FAILED:
            fval = float("nan")
        return _held(w, value, x, nv), fval


class GlmmProfileProblem(_ProblemBase):
    """A GLMM's Laplace / AGQ deviance over ``(sdcor, β)`` (see the module docstring).

    Parameters
    ----------
    objective : GlmmObjective
        A fresh objective of the fitted model (not the fit's own: profiling evaluates it
        far from the optimum).
    re : ReStructure
    theta, beta : numpy.ndarray
        The estimates.
    fixef_names : list of str
    control : GlmerControl
    """

    def __init__(
        self, objective: Any, re: Any, theta: np.ndarray, beta: np.ndarray, fixef_names: list[str], control: Any
    ) -> None:
        slo, sup = sdcor_bounds(re)
        p = beta.shape[0]
        self.dev = GlmmSdcorDeviance(objective, re)
        self.names = variance_parameter_names(re, sigma=False) + list(fixef_names)
        self.opt = np.concatenate([theta_to_sdcor(re, theta), beta])
        self.lower = np.concatenate([slo, np.full(p, -np.inf)])
        self.upper = np.concatenate([sup, np.full(p, np.inf)])
        self.n_var = self.opt.shape[0]
        self.base = float(objective.deviance(np.concatenate([theta, beta])))
        self.optimizer = control.stage_optimizer(2)
        settings = control.settings_for(self.optimizer)
        if "ftol_abs" in settings:
            # the profile's constrained fits are not Newton-polished: use the tight tolerances that
            # the fit's own optimizer leaves to its polish
            settings.update(ftol_abs=min(settings["ftol_abs"], 1e-8), xtol_rel=min(settings["xtol_rel"], 1e-6))
        self.settings = settings

    def conditional_optimum(self, w: int, value: float, start: np.ndarray) -> tuple[np.ndarray, float]:
        return self._minimize_others(w, value, start)


class LmmProfileProblem(_ProblemBase):
    """A linear mixed model's ML deviance over ``(sdcor, σ)``, β profiled out (see the module docstring).

    Parameters
    ----------
    setup : LmmSetup
    objective : LmmObjective
        The ML objective (``reml=False``).
    theta_ml : numpy.ndarray
        Its minimizer.
    control : LmerControl
    """

    def __init__(self, setup: Any, objective: Any, theta_ml: np.ndarray, control: Any) -> None:
        re = setup.re
        sol = objective.solution(theta_ml)
        slo, sup = sdcor_bounds(re)
        p = sol.beta.shape[0]
        self.setup = setup
        self.objective = objective
        self.theta_ml = np.asarray(theta_ml, dtype=np.float64)
        self.engine = control.engine
        self.dev = LmmSdcorDeviance(objective, re)
        self.names = variance_parameter_names(re, sigma=True) + list(setup.fe.names)
        self.opt = np.concatenate([theta_to_sdcor(re, theta_ml, sol.sigma), [sol.sigma], sol.beta])
        self.lower = np.concatenate([slo, [0.0], np.full(p, -np.inf)])
        self.upper = np.concatenate([sup, [np.inf], np.full(p, np.inf)])
        self.n_var = re.n_theta + 1
        self.base = float(sol.objective)
        self.optimizer = control.optimizer
        self.settings = control.optimizer_settings()
        self.stderr = np.sqrt(np.diag(sol.vcov_beta))
        self._reduced: dict[int, Any] = {}

    def first_value(self, w: int, delta: float) -> float:
        """Fixed effects: ``β̂_j + δ SE_j`` (lme4); variance parameters as in the base class."""
        if w >= self.n_var:
            return float(self.opt[w]) + delta * float(self.stderr[w - self.n_var])
        return super().first_value(w, delta)

    def conditional_optimum(self, w: int, value: float, start: np.ndarray) -> tuple[np.ndarray, float]:
        if w >= self.n_var:
            return self._fixed_effect(w - self.n_var, value)
        par, fval = self._minimize_others(w, value, start)
        beta = np.full(self.opt.shape[0] - self.n_var, np.nan)
        if np.all(np.isfinite(par)):  # β̂(θ) at the conditional optimum
            try:
                beta = self.objective.solution(self.dev.theta(par)).beta
            except (np.linalg.LinAlgError, MixedLMError):
                pass
        return np.concatenate([par, beta]), fval

    def _fixed_effect(self, j: int, value: float) -> tuple[np.ndarray, float]:
        """Hold ``β_j = value``: minimize the reduced model's ML criterion over θ, from the ML estimate."""
        setup, re = self.setup, self.setup.re
        X = setup.fe.X
        p = X.shape[1]
        keep = [k for k in range(p) if k != j]
        if j not in self._reduced:
            Xr = np.asfortranarray(np.column_stack([X[:, keep], X[:, j]]))
            self._reduced[j] = setup.builder.build(Xr, setup.y, setup.frame.weights)
        A_full = self._reduced[j]
        row = np.full(self.opt.shape[0], np.nan)
        row[self.n_var + j] = value
        obj = LmmObjective(re, _drop_fixed_column(A_full, value), reml=False, engine=self.engine)
        try:
            res = minimize(obj, self.theta_ml, re.lower, optimizer=self.optimizer, keep_log=False, **self.settings)
            theta, fval = np.asarray(res.final, dtype=np.float64), float(res.fmin)
            sol = obj.solution(theta)
        except (np.linalg.LinAlgError, MixedLMError):
            return row, float("nan")
        if not np.isfinite(fval) or fval >= FAILED:
            return row, float("nan")
        sig = math.sqrt(sol.pwrss / A_full.n)
        beta = np.empty(p)
        beta[keep] = sol.beta
        beta[j] = value
        return np.concatenate([theta_to_sdcor(re, theta, sig), [sig], beta]), fval
