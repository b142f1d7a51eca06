"""Convergence and accuracy checks at the optimum (lme4's ``checkConv``, and more).

For a GLMM the gradient and Hessian of the final stage's deviance (over (θ, β),
or θ for ``nAGQ = 0``) are Richardson-extrapolated central differences with an
error estimate (:func:`mixedlm.optim.derivatives.richardson_hessian`); for an LMM
they are central differences of the profiled criterion over θ.  Checks:

* scaled gradient ``H⁻¹ g`` (the Newton step still to take): its largest absolute
  component must be below ``tol_grad`` (lme4: 0.002); the message names the
  parameter.  For a parameter on its zero lower bound the gradient is the one-sided
  difference into the feasible region (the central one is exactly 0 there, the
  criterion being even in a scalar θ, so the one-sided value carries the sign of the
  curvature); when it is ``≥ −tol`` the optimality conditions hold and the parameter
  is left out, otherwise it stays in the Hessian test, which then reports the
  descent direction as a negative eigenvalue.
* Hessian eigenvalues (interior parameters): a negative one means a saddle or
  maximum; a huge ratio of largest to smallest means a nearly unidentifiable model.
* GLMMs: the estimated error of the standard errors implied by the Hessian's
  error (reported above ``tol_se`` relative, naming the coefficient), the scaled
  gradient left by the Newton polish (:mod:`mixedlm.optim.polish`), and for
  ``nAGQ > 1`` the quadrature error at the optimum (reported above the fit's
  ``GlmerControl(agq_warn)``).
* singular fit (a variance at zero).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mixedlm.results.interface import MixedFit


@dataclass
class ConvergenceCheck:
    """Result of :func:`checkConv`.

    Attributes
    ----------
    ok : bool
        No problem found (a singular fit alone is reported in ``messages`` but keeps ``ok``).
    messages : list of str
        What was found, with advice.
    gradient : numpy.ndarray
        Gradient of the objective at the optimum (parameters in ``names`` order).
    scaled_gradient : numpy.ndarray
        ``H⁻¹ g`` over the interior parameters (NaN where not computed).
    hessian_eigenvalues : numpy.ndarray
        Eigenvalues of the Hessian over the interior parameters.
    names : list of str
        Parameter names (θ in lme4's names, then fixed effects for GLMMs).
    singular : bool
        Whether the fit is singular.
    se_error : numpy.ndarray or None
        GLMMs with a Hessian: estimated relative error of each fixed effect's
        standard error, from the Hessian's error estimate.
    polish_scaled_gradient : float
        Scaled gradient ``max_i |(H⁻¹g)_i| / se_i`` after the Newton polish (NaN when
        no polish ran, e.g. for an LMM).
    quadrature_error : float or None
        ``nAGQ > 1``: ``|logLik − logLik_richer|`` at the optimum (log-likelihood units).
    quadrature_points : (int, int) or None
        The fit's rule and the richer rule (points per dimension).
    """

    ok: bool
    messages: list[str] = field(default_factory=list)
    gradient: np.ndarray = field(default_factory=lambda: np.zeros(0))
    scaled_gradient: np.ndarray = field(default_factory=lambda: np.zeros(0))
    hessian_eigenvalues: np.ndarray = field(default_factory=lambda: np.zeros(0))
    names: list[str] = field(default_factory=list)
    singular: bool = False
    se_error: np.ndarray | None = None
    polish_scaled_gradient: float = float("nan")
    quadrature_error: float | None = None
    quadrature_points: tuple[int, int] | None = None

    def __str__(self) -> str:
        if not self.messages:
            return "converged: no problems found"
        return "\n".join(self.messages)


def checkConv(
    fit: MixedFit, tol_grad: float = 2e-3, tol_eigen_ratio: float = 1e6, tol_se: float = 1e-3
) -> ConvergenceCheck:
    """Check the optimum of a fitted model (see module docstring for the tests made).

    Parameters
    ----------
    fit : MixedFit
        A fitted model.
    tol_grad : float
        Largest acceptable scaled-gradient component (lme4's ``check.conv.grad`` tol 0.002).
    tol_eigen_ratio : float
        Largest acceptable ratio of Hessian eigenvalues.
    tol_se : float
        GLMMs: largest acceptable estimated relative error of a standard error.

    Returns
    -------
    ConvergenceCheck
    """
    o = fit.optimum()
    est = fit.derivatives()
    names, x, lower, f = list(o.names), o.x, o.lower, o.fun
    g, H = est.gradient, est.hessian
    opt = fit.optinfo
    g = np.array(g, dtype=np.float64)
    # On a bound the central difference is uninformative (the criterion is even in a scalar θ):
    # use the one-sided derivative into the feasible region for the optimality (KKT) test.
    f0 = None
    for i in np.flatnonzero(np.isfinite(lower) & (x - lower < 1e-6)):
        f0 = f(x) if f0 is None else f0
        e = np.zeros_like(x)
        e[i] = 1e-4
        g[i] = (f(x + e) - f0) / 1e-4

    messages: list[str] = []
    singular = bool(fit.isSingular())
    on_bound = np.isfinite(lower) & (x - lower < 1e-6)
    interior = ~(on_bound & (g >= -tol_grad))
    gi, Hi = g[interior], H[np.ix_(interior, interior)]
    scaled = np.full(len(names), np.nan)
    eig = np.linalg.eigvalsh(Hi) if Hi.size else np.zeros(0)
    ok = True
    if not opt.converged:
        ok = False
        messages.append(
            f"the optimizer ({opt.optimizer}) did not report convergence: {opt.message}; "
            "increase maxfun or try another optimizer (allFit)"
        )
    if Hi.size:
        if np.any(eig <= 0):
            ok = False
            k = int(np.sum(eig <= 0))
            messages.append(
                f"Model failed to converge: degenerate Hessian with {k} negative eigenvalue(s); "
                "the optimum is a saddle point or the model is overparameterized — simplify the "
                "random effects or check for collinear fixed effects"
            )
        else:
            s = np.linalg.solve(Hi, gi)
            scaled[interior] = s
            worst = int(np.argmax(np.abs(s)))
            if abs(s[worst]) > tol_grad:
                ok = False
                name = [n for n, keep in zip(names, interior) if keep][worst]
                messages.append(
                    f"Model failed to converge with max|scaled grad| = {abs(s[worst]):.3g} "
                    f"(tol = {tol_grad}, component {name!r}); refit from the current estimates "
                    "(start=...), rescale covariates, or try other optimizers (allFit)"
                )
            ratio = eig.max() / eig.min()
            if ratio > tol_eigen_ratio:
                ok = False
                messages.append(
                    f"Model is nearly unidentifiable: large eigenvalue ratio {ratio:.3g}; "
                    "rescale covariates or simplify the model"
                )
    extra: dict[str, Any] = {}
    ok = _accuracy(fit, tol_se, messages, extra) and ok
    if singular:
        messages.append(
            "boundary (singular) fit: a variance is estimated as 0 (or a correlation as ±1); "
            "consider simplifying the random effects (see isSingular)"
        )
    return ConvergenceCheck(
        ok=ok,
        messages=messages,
        gradient=np.asarray(g),
        scaled_gradient=scaled,
        hessian_eigenvalues=eig,
        names=names,
        singular=singular,
        **extra,
    )


def _accuracy(fit: MixedFit, tol_se: float, messages: list[str], extra: dict[str, Any]) -> bool:
    """The accuracy checks (standard errors, polish, quadrature; GLMMs); True when all pass."""
    ok = True
    se_err = fit.se_error()
    est = fit.derivatives() if fit.isGLMM() and not (fit.nAGQ == 0) else None
    if se_err is None and est is not None and fit.control.calc_derivs:
        # no standard errors from this Hessian (not positive definite): report its own accuracy
        d = np.sqrt(np.abs(np.diag(est.hessian)))
        rel = est.hessian_error / np.maximum(np.outer(d, d), np.finfo(float).tiny)
        i, j = np.unravel_index(int(np.argmax(rel)), rel.shape)
        if rel[i, j] > tol_se:
            ok = False
            names = list(fit.setup.re.theta_names) + list(fit.setup.fe.names)
            messages.append(
                f"the Hessian of the deviance is inaccurate: estimated relative error {rel[i, j]:.2g} "
                f"in its ({names[i]}, {names[j]}) entry; the deviance is not smooth near the optimum — "
                "standard errors use vcov(use_hessian=False)"
            )
    if se_err is not None:
        extra["se_error"] = se_err.to_numpy()
        worst = se_err.idxmax() if len(se_err) else None
        if worst is not None and se_err[worst] > tol_se:
            ok = False
            messages.append(
                f"standard errors may be inaccurate: the Hessian's estimated error allows a "
                f"relative error of {se_err[worst]:.2g} in SE({worst}) (tol = {tol_se}); the "
                "deviance is not smooth enough near the optimum — check the fit (allFit) or use "
                "vcov(use_hessian=False) or a parametric bootstrap"
            )
    pol = fit.optinfo.polish or {}
    if pol:
        sg = float(pol.get("scaled_gradient", np.nan))
        extra["polish_scaled_gradient"] = sg
        if not pol.get("converged", False):
            messages.append(
                f"the Newton polish after the optimizer did not reach its target: {pol.get('message')}; "
                "the estimates are those of the optimizer — refit from them (start=...) or try "
                "other optimizers (allFit)"
            )
            ok = ok and not (np.isfinite(sg) and sg > 1e-3)
    qc = fit.quadrature
    if qc is not None:
        extra["quadrature_error"] = qc.error
        extra["quadrature_points"] = (qc.nAGQ, qc.nAGQ_check)
        if qc.error > fit.control.agq_warn:
            ok = False
            messages.append(
                f"quadrature error: the log-likelihood changes by {qc.error:.3g} when the rule is "
                f"refined from nAGQ={qc.nAGQ} to {qc.nAGQ_check} points; use more points or "
                "nAGQ='auto'"
            )
    return ok
