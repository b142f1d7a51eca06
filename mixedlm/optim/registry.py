"""Optimizer registry: one calling convention for NLopt and SciPy minimizers.

Every optimizer minimizes ``f(x)`` subject to ``lower <= x <= upper`` (infinite
bounds allowed) and returns an :class:`~mixedlm.optim.optsummary.OptSummary`.

Defaults follow lme4's ``nloptwrap``: NLopt BOBYQA with ``ftol_abs = xtol_abs =
1e-8``, ``xtol_rel = 1e-4`` (nloptr's default, which lme4 inherits) and at most
100 000 evaluations.  Off-diagonal θ entries get a lower bound of ``-inf`` — a
large finite bound makes BOBYQA take a huge first step.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from mixedlm.optim.optsummary import OptSummary

Objective = Callable[[np.ndarray], float]

NLOPT_DEFAULTS: dict[str, Any] = {
    "ftol_abs": 1e-8,
    "xtol_abs": 1e-8,
    "xtol_rel": 1e-4,
    "ftol_rel": 0.0,
    "maxfun": 100_000,
    "initial_step": None,
}

_NLOPT_ALGORITHMS = {
    "bobyqa": "LN_BOBYQA",
    "neldermead": "LN_NELDERMEAD",
    "newuoa": "LN_NEWUOA_BOUND",
    "sbplx": "LN_SBPLX",
    "cobyla": "LN_COBYLA",
}

_SCIPY_METHODS = {
    "L-BFGS-B": "L-BFGS-B",
    "Powell": "Powell",
    "Nelder-Mead": "Nelder-Mead",
    "COBYQA": "COBYQA",
}

_NLOPT_MESSAGES = {
    1: "NLOPT_SUCCESS",
    2: "NLOPT_STOPVAL_REACHED",
    3: "NLOPT_FTOL_REACHED: optimization stopped because ftol_rel or ftol_abs was reached",
    4: "NLOPT_XTOL_REACHED: optimization stopped because xtol_rel or xtol_abs was reached",
    5: "NLOPT_MAXEVAL_REACHED: optimization stopped because maxeval was reached",
    6: "NLOPT_MAXTIME_REACHED",
    -1: "NLOPT_FAILURE",
    -2: "NLOPT_INVALID_ARGS",
    -3: "NLOPT_OUT_OF_MEMORY",
    -4: "NLOPT_ROUNDOFF_LIMITED: roundoff errors limited progress",
    -5: "NLOPT_FORCED_STOP",
}


def is_nlopt(name: str) -> bool:
    """Whether the registered optimizer ``name`` is one of NLopt's (it takes NLopt's tolerances)."""
    return name in _NLOPT_ALGORITHMS


def available_optimizers() -> list[str]:
    """Names accepted by :func:`minimize` (NLopt ones first; lme4's default first of all)."""
    return list(_NLOPT_ALGORITHMS) + list(_SCIPY_METHODS)


class _Logged:
    """Wrap an objective to record every evaluation and keep the best point."""

    def __init__(self, fun: Objective, keep_log: bool) -> None:
        self.fun = fun
        self.keep_log = keep_log
        self.log: list[tuple[list[float], float]] = []
        self.count = 0
        self.best_x: np.ndarray | None = None
        self.best_f = np.inf

    def __call__(self, x: np.ndarray) -> float:
        x = np.array(x, dtype=np.float64)
        f = float(self.fun(x))
        self.count += 1
        if self.keep_log:
            self.log.append((x.tolist(), f))
        if f < self.best_f:
            self.best_f, self.best_x = f, x
        return f


def minimize(
    fun: Objective,
    x0: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray | None = None,
    optimizer: str = "bobyqa",
    keep_log: bool = True,
    **settings: Any,
) -> OptSummary:
    """Minimize ``fun`` from ``x0`` within bounds.

    Parameters
    ----------
    fun : callable
        Objective ``f(x) -> float``.
    x0, lower, upper : numpy.ndarray
        Start and bounds (``upper`` defaults to ``+inf``).
    optimizer : str
        One of :func:`available_optimizers`.
    keep_log : bool
        Record every evaluation in ``OptSummary.log``.
    **settings
        ``maxfun``, ``ftol_abs``, ``xtol_abs``, ``xtol_rel``, ``ftol_rel``, ``initial_step`` (NLopt);
        ``maxfun`` and ``options`` (SciPy).

    Returns
    -------
    OptSummary
    """
    x0 = np.asarray(x0, dtype=np.float64)
    lower = np.asarray(lower, dtype=np.float64)
    upper = np.full_like(x0, np.inf) if upper is None else np.asarray(upper, dtype=np.float64)
    x0 = np.clip(x0, lower, upper)
    if optimizer in _NLOPT_ALGORITHMS:
        return _minimize_nlopt(fun, x0, lower, upper, optimizer, keep_log, settings)
    if optimizer in _SCIPY_METHODS:
        return _minimize_scipy(fun, x0, lower, upper, optimizer, keep_log, settings)
    raise ValueError(f"unknown optimizer {optimizer!r}; choose one of {available_optimizers()}")


def _minimize_nlopt(
    fun: Objective,
    x0: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    name: str,
    keep_log: bool,
    settings: dict[str, Any],
) -> OptSummary:
    import nlopt

    cfg = dict(NLOPT_DEFAULTS)
    unknown = set(settings) - set(cfg)
    if unknown:
        raise ValueError(f"unknown settings for {name}: {sorted(unknown)}; known: {sorted(cfg)}")
    cfg.update(settings)
    if cfg["initial_step"] is not None:
        cfg["initial_step"] = [float(v) for v in np.asarray(cfg["initial_step"], dtype=np.float64).ravel()]
    n = x0.shape[0]
    logged = _Logged(fun, keep_log)
    summary = OptSummary(optimizer=name, initial=x0.tolist(), lower=lower.tolist(), upper=upper.tolist(), settings=cfg)
    t0 = time.perf_counter()
    if n == 0:
        f = logged(x0)
        summary.final, summary.fmin, summary.feval = [], f, 1
        summary.return_code, summary.message, summary.converged = 1, "no parameters", True
        return summary
    if name == "newuoa" and n < 2:
        raise ValueError(
            "NLopt's NEWUOA needs at least two parameters; this model has one (use 'bobyqa' or 'neldermead')"
        )
    algorithm = getattr(nlopt, _NLOPT_ALGORITHMS[name])
    opt = nlopt.opt(algorithm, n)
    opt.set_lower_bounds(lower)
    opt.set_upper_bounds(upper)
    opt.set_min_objective(lambda x, grad: logged(x))
    opt.set_ftol_abs(cfg["ftol_abs"])
    opt.set_xtol_abs(cfg["xtol_abs"])
    opt.set_xtol_rel(cfg["xtol_rel"])
    opt.set_ftol_rel(cfg["ftol_rel"])
    opt.set_maxeval(int(cfg["maxfun"]))
    if cfg["initial_step"] is not None:
        # NLopt sizes the first trust region (BOBYQA's rhobeg) from it and rescales the
        # variables by it, so a step of ~one standard error per parameter makes the problem
        # well scaled
        opt.set_initial_step(np.asarray(cfg["initial_step"], dtype=np.float64))
    try:
        x = opt.optimize(x0)
        code = int(opt.last_optimize_result())
        fmin = float(opt.last_optimum_value())
    except nlopt.RoundoffLimited:
        code, x, fmin = -4, logged.best_x, logged.best_f
    except (RuntimeError, ValueError) as exc:  # NLopt failures: keep the best point seen
        if logged.best_x is None:
            raise
        code, x, fmin = -1, logged.best_x, logged.best_f
        summary.message = f"NLOPT_FAILURE: {exc}"
    summary.elapsed = time.perf_counter() - t0
    summary.final = np.asarray(x, dtype=np.float64).tolist()
    summary.fmin = fmin
    summary.feval = logged.count
    summary.return_code = code
    summary.message = summary.message or _NLOPT_MESSAGES.get(code, f"NLopt code {code}")
    summary.converged = code > 0 and code != 5
    summary.log = logged.log
    return summary


def _minimize_scipy(
    fun: Objective,
    x0: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    name: str,
    keep_log: bool,
    settings: dict[str, Any],
) -> OptSummary:
    from scipy.optimize import Bounds
    from scipy.optimize import minimize as sp_minimize

    maxfun = int(settings.pop("maxfun", 100_000))
    options = dict(settings.pop("options", {}))
    if settings:
        raise ValueError(f"unknown settings for {name}: {sorted(settings)}; known: maxfun, options")
    method = _SCIPY_METHODS[name]
    if method == "L-BFGS-B":
        options.setdefault("maxfun", maxfun)
    elif method == "Powell":
        options.setdefault("maxfev", maxfun)
        options.setdefault("xtol", 1e-8)
        options.setdefault("ftol", 1e-12)
    elif method == "Nelder-Mead":
        options.setdefault("maxfev", maxfun)
        options.setdefault("xatol", 1e-8)
        options.setdefault("fatol", 1e-10)
    elif method == "COBYQA":
        options.setdefault("maxfev", maxfun)
    logged = _Logged(fun, keep_log)
    summary = OptSummary(
        optimizer=name,
        initial=x0.tolist(),
        lower=lower.tolist(),
        upper=upper.tolist(),
        settings={"maxfun": maxfun, "options": options},
    )
    t0 = time.perf_counter()
    res = sp_minimize(logged, x0, method=method, bounds=Bounds(lower, upper), options=options)
    summary.elapsed = time.perf_counter() - t0
    x = np.asarray(res.x, dtype=np.float64)
    fmin = float(res.fun)
    if logged.best_x is not None and logged.best_f < fmin:
        x, fmin = logged.best_x, logged.best_f
    summary.final = x.tolist()
    summary.fmin = fmin
    summary.feval = logged.count
    summary.return_code = int(getattr(res, "status", 0) or 0)
    summary.message = str(res.message)
    summary.converged = bool(res.success)
    summary.log = logged.log
    return summary
