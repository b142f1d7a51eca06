"""lme4's ``restart_edge``: rerun the optimizer when it stops on a bound the objective decreases away from."""

from __future__ import annotations

import numpy as np

from mixedlm.fitting.control import LmerControl
from mixedlm.lmer import minimize_theta
from mixedlm.optim.boundary import edge_slopes, restart_edge
from mixedlm.optim.optsummary import OptSummary
from mixedlm.optim.registry import minimize


def _stopped_at(par, f):
    """A summary as if an optimizer had stopped at ``par``."""
    return OptSummary(
        optimizer="bobyqa",
        initial=list(par),
        lower=[0.0] * len(par),
        upper=[np.inf] * len(par),
        final=list(par),
        fmin=f,
        feval=7,
        converged=True,
        message="NLOPT_XTOL_REACHED",
    )


def _f(theta):
    # minimum in the interior at (0.5, 0): the second parameter belongs on its bound
    return float((theta[0] - 0.5) ** 2 + theta[1] + 1.0)


def test_slopes_only_for_parameters_on_the_bound():
    par = np.array([0.0, 0.0, 0.3])
    lower = np.array([0.0, -np.inf, 0.0])
    slopes = edge_slopes(lambda t: float(np.sum((t - 0.5) ** 2)), par, lower, 0.75)
    assert list(slopes) == [0]  # index 1 has no finite bound, index 2 is interior
    assert slopes[0] < 0


def test_negative_slope_restarts_and_keeps_the_better_run():
    lower = np.zeros(2)
    stuck = _stopped_at([0.0, 0.0], _f(np.zeros(2)))
    runs = []

    def rerun(start):
        runs.append(np.array(start))
        return minimize(_f, start, lower, optimizer="bobyqa", ftol_abs=1e-12, xtol_abs=1e-10)

    out = restart_edge(_f, stuck, lower, rerun)
    assert len(runs) == 1 and np.array_equal(runs[0], [0.0, 0.0])
    np.testing.assert_allclose(out.final, [0.5, 0.0], atol=1e-6)
    assert out.fmin < stuck.fmin
    assert "restarted: parameter(s) 0 on the boundary" in out.message
    assert out.feval > 7 + 2  # both runs and the two slope evaluations are counted


def test_non_negative_slopes_leave_the_fit_alone():
    lower = np.zeros(2)
    done = _stopped_at([0.5, 0.0], _f(np.array([0.5, 0.0])))

    def rerun(start):  # pragma: no cover - must not be called
        raise AssertionError("restarted although no slope is negative")

    assert restart_edge(_f, done, lower, rerun) is done


def test_minimize_theta_restarts_unless_turned_off():
    calls = {"n": 0}

    def f(theta):
        calls["n"] += 1
        return _f(theta)

    lower = np.zeros(2)
    # one evaluation allowed: the optimizer stops at its start, on the bound
    ctrl = LmerControl(maxfun=1, boundary_tol=0.0)
    opt = minimize_theta(f, np.zeros(2), lower, ctrl, keep_log=False)
    assert "restarted" in opt.message
    n_with = calls["n"]
    calls["n"] = 0
    opt_off = minimize_theta(
        f, np.zeros(2), lower, LmerControl(maxfun=1, boundary_tol=0.0, restart_edge=False), keep_log=False
    )
    assert "restarted" not in opt_off.message
    assert calls["n"] == 1 < n_with
