"""lme4's boundary check after optimization (``check.boundary`` in ``optimizeLmer``)."""

from __future__ import annotations

from typing import Callable

import numpy as np

from mixedlm.optim.optsummary import OptSummary


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
