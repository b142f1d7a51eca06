"""lme4's boundary handling after optimization (``restart_edge`` and ``check.boundary`` in ``optimizeLmer``)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mixedlm.optim.optsummary import OptSummary

#: Step off the bound for the one-sided derivative of :func:`restart_edge` (lme4's ``btol``).
EDGE_STEP = 1e-5


def edge_slopes(fun: Callable[[np.ndarray], float], par: np.ndarray, lower: np.ndarray, f0: float) -> dict[int, float]:
    """One-sided slopes ``(f(θ + h e_i) − f(θ)) / h`` for the parameters exactly on a finite lower bound."""
    slopes: dict[int, float] = {}
    for i in np.flatnonzero(np.isfinite(lower) & (par == lower)):
        trial = par.copy()
        trial[i] = lower[i] + EDGE_STEP
        slopes[int(i)] = (fun(trial) - f0) / EDGE_STEP
    return slopes


def restart_edge(
    fun: Callable[[np.ndarray], float], opt: OptSummary, lower: np.ndarray, rerun: Callable[[np.ndarray], OptSummary]
) -> OptSummary:
    """Restart the optimizer when it stopped on a bound the objective decreases away from.

    A derivative-free optimizer can stop with a variance parameter exactly at 0 even
    though moving into the interior lowers the objective.  As lme4's ``restart_edge``
    (``lmerControl`` default), the one-sided slope ``(f(θ + h e_i) − f(θ))/h``,
    ``h = 1e-5``, is computed for every parameter on its bound; if any is negative the
    optimizer is run again from the returned point (``rerun(start)``).  The returned
    summary is the better of the two runs, with both runs' evaluations counted and the
    restart recorded in its message.
    """
    par = np.array(opt.final, dtype=np.float64)
    slopes = edge_slopes(fun, par, lower, opt.fmin)
    if not any(s < 0 for s in slopes.values()):
        return opt
    second = rerun(par)
    best = second if second.fmin <= opt.fmin else opt
    best.feval = opt.feval + second.feval + len(slopes)
    on_edge = ", ".join(str(i) for i, s in slopes.items() if s < 0)
    best.message = f"{best.message} (restarted: parameter(s) {on_edge} on the boundary with a negative slope)"
    return best


def check_boundary(fun: Callable[[np.ndarray], float], opt: OptSummary, lower: np.ndarray, tol: float) -> None:
    """Set parameters within ``tol`` above a finite lower bound to the bound when that is no worse.

    Derivative-free optimizers approach a zero variance only asymptotically; lme4
    tries each such parameter on the bound and keeps it there if the objective
    does not increase.  ``opt.final`` and ``opt.fmin`` are updated in place.
    """
    if tol <= 0:
        return
    par = np.array(opt.final)
    for i in np.flatnonzero(np.isfinite(lower)):
        if 0 < par[i] - lower[i] < tol:
            trial = par.copy()
            trial[i] = lower[i]
            f = fun(trial)
            if f <= opt.fmin:
                par, opt.fmin = trial, f
    opt.final = par.tolist()
