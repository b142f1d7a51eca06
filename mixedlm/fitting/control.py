"""Fitting controls (lme4's ``lmerControl`` / ``glmerControl``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mixedlm.errors import MixedLMError
from mixedlm.optim.registry import is_nlopt

_ACTIONS = ("ignore", "message", "warning", "stop")


@dataclass
class LmerControl:
    """Settings for :func:`mixedlm.lmer`.

    Parameters
    ----------
    optimizer : str
        Optimizer name from :func:`mixedlm.optim.registry.available_optimizers`
        (default ``"bobyqa"``, NLopt's BOBYQA as lme4's ``nloptwrap``).
    maxfun : int
        Maximum number of objective evaluations.
    ftol_abs, xtol_abs, xtol_rel : float
        NLopt stopping tolerances (lme4: 1e-8, 1e-8 and nloptr's default 1e-4).
    opt_ctrl : dict
        Extra optimizer settings passed through unchanged.
    engine : {"auto", "blocked", "cholmod"}
        Cholesky engine; ``"auto"`` chooses from the predicted fill.
    blas_threads : int or None
        BLAS threads during fitting (1 by default: the dense blocks are small and
        oversubscribed OpenBLAS threads are much slower); None leaves BLAS alone.
    boundary_tol : float
        Tolerance of the singular-fit check (lme4's ``boundary.tol``).
    restart_edge : bool
        Restart the optimizer when it stops with a θ component exactly on its bound
        while the one-sided slope into the interior is negative (lme4's ``restart_edge``,
        default True; :func:`mixedlm.optim.boundary.restart_edge`).
    check_conv_singular : {"ignore", "message", "warning", "stop"}
        Action on a singular fit (lme4 default: message).
    check_conv : {"summary", "fit", "ignore"}
        When the derivative-based convergence checks (:func:`mixedlm.checkConv`:
        scaled gradient, Hessian eigenvalues) run: ``"summary"`` (default) when a
        summary is built — their messages appear at its foot; ``"fit"`` also at the end
        of every fit, with a :class:`~mixedlm.errors.ConvergenceWarning` per problem;
        ``"ignore"``: only when ``checkConv`` is called.  They cost ``1 + 2P²``
        objective evaluations for ``P`` parameters, which is why they are not run inside
        every fit by default (lme4 runs them inside the fit, and skips them above 10⁴ rows).
    keep_log : bool
        Record every objective evaluation in the ``OptSummary``.
    calc_derivs : bool
        Compute derivatives at the optimum where the fit needs them (lme4's
        ``calc.derivs``): for GLMMs the Hessian of the deviance behind ``vcov()``;
        ``False`` makes a GLMM's ``vcov()`` the conditional ``(R_XᵀR_X)⁻¹``.  Linear
        models need no derivatives for their standard errors.
    """

    optimizer: str = "bobyqa"
    maxfun: int = 100_000
    ftol_abs: float = 1e-8
    xtol_abs: float = 1e-8
    xtol_rel: float = 1e-4
    opt_ctrl: dict[str, Any] = field(default_factory=dict)
    engine: str = "auto"
    blas_threads: int | None = 1
    boundary_tol: float = 1e-5
    restart_edge: bool = True
    check_conv_singular: str = "message"
    check_conv: str = "summary"
    keep_log: bool = True
    calc_derivs: bool = True

    def __post_init__(self) -> None:
        if self.engine not in ("auto", "blocked", "cholmod"):
            raise MixedLMError(f"engine must be 'auto', 'blocked' or 'cholmod', not {self.engine!r}")
        for name in ("check_conv_singular",):
            if getattr(self, name) not in _ACTIONS:
                raise MixedLMError(f"{name} must be one of {_ACTIONS}, not {getattr(self, name)!r}")
        if self.check_conv not in ("summary", "fit", "ignore"):
            raise MixedLMError(f"check_conv must be 'summary', 'fit' or 'ignore', not {self.check_conv!r}")
        if int(self.maxfun) < 1:
            raise MixedLMError(f"maxfun must be a positive integer, not {self.maxfun!r}")

    def optimizer_settings(self) -> dict[str, Any]:
        """Settings for :func:`mixedlm.optim.registry.minimize` for the chosen optimizer."""
        return self.settings_for(self.optimizer)

    def settings_for(self, name: str) -> dict[str, Any]:
        """Settings for the named optimizer: NLopt tolerances, or ``maxfun`` for SciPy."""
        if is_nlopt(name):
            settings: dict[str, Any] = {
                "maxfun": int(self.maxfun),
                "ftol_abs": self.ftol_abs,
                "xtol_abs": self.xtol_abs,
                "xtol_rel": self.xtol_rel,
                "initial_step": None,
            }
        else:
            settings = {"maxfun": int(self.maxfun)}
        settings.update(self.opt_ctrl)
        return settings


@dataclass
class GlmerControl(LmerControl):
    """Settings for :func:`mixedlm.glmer` (lme4's ``glmerControl``).

    In addition to :class:`LmerControl`:

    Parameters
    ----------
    optimizer : str or (str, str)
        One name for both stages, or a pair ``(stage 1, stage 2)``: stage 1 optimizes θ
        with β inside PIRLS (the ``nAGQ = 0`` objective), stage 2 optimizes ``(θ, β)``
        on the Laplace / AGQ deviance.  Default BOBYQA for both (lme4 uses
        Nelder–Mead in stage 2; BOBYQA reaches the same optimum in far fewer
        evaluations).
    nAGQ0initStep : bool
        Run stage 1 to get starting values for stage 2 (lme4's default True).
    ftol_abs, xtol_rel : float
        NLopt tolerances of the optimizer (stage 2, and ``ftol_abs`` for stage 1):
        looser than lme4's (1e-5 and 1e-3) because the Newton polish (``polish_tol``)
        takes the optimizer's point to the optimum — BOBYQA's last iterations, which
        only shrink its trust region, are left out.  With ``polish_tol=None`` use
        ``ftol_abs=1e-8, xtol_rel=1e-6``.
    xtol_rel_stage1 : float
        The same for stage 1 (θ only, β inside PIRLS; 1e-3): its optimum is only the
        start of stage 2, and the polished optimum of ``nAGQ = 0`` fits.
    pirls_tol : float
        PIRLS convergence: the Newton step from the current iterate is below
        ``pirls_tol`` relative to the iterate (default 1e-13, i.e. near rounding level,
        so the deviance is a smooth function of the parameters and finite-difference
        derivatives of it are accurate; see :mod:`mixedlm.engines.pirls`).
    pirls_maxit : int
        Maximum PIRLS iterations per evaluation.
    pirls_warm_start : bool
        Start PIRLS from the modes of the nearest previous evaluation (default True:
        fewer iterations).  Because PIRLS converges fully, the deviance does not
        depend on the start beyond rounding (tested to 1e-10 relative); False starts
        every solve from one fixed point (lme4's ``lp0`` at ``nAGQ = 0``, the stage-1
        modes in the Laplace/AGQ stage).
    agq_warn : float
        After an ``nAGQ > 1`` fit the log-likelihood at the optimum is recomputed with
        a richer rule (``2 nAGQ + 1`` points); an :class:`~mixedlm.errors.AccuracyWarning`
        is issued when the two differ by more than ``agq_warn`` log-likelihood units
        (default 0.01).
    agq_tol : float
        ``nAGQ="auto"``: the target quadrature error in log-likelihood units (default
        1e-3).
    agq_max_row_nodes : float
        ``nAGQ="auto"``: the largest rule allowed, as rows × nodes per deviance
        evaluation (default 1e8).
    laplace : {"expected", "observed"}
        The information matrix in the Laplace term ``log|L|²`` (and the AGQ node
        scaling): ``"expected"`` (default) the IRLS weights, lme4's definition;
        ``"observed"`` the observed information at the mode — the exact Laplace
        approximation of glmmTMB.  They agree for canonical links (binomial/logit,
        Poisson/log) and differ slightly otherwise (probit, cloglog, negative binomial).
    polish_tol : float or None
        After the optimizer stops, Newton steps (finite-difference gradient and
        Hessian) are taken until the remaining step is below ``polish_tol`` standard
        errors in every parameter (default 1e-6; :mod:`mixedlm.optim.polish`).  None
        skips the polish and keeps the optimizer's point, as lme4 does.
    """

    optimizer: Any = "bobyqa"
    nAGQ0initStep: bool = True
    ftol_abs: float = 1e-5
    xtol_rel: float = 1e-3
    xtol_rel_stage1: float = 1e-3
    pirls_tol: float = 1e-13
    pirls_maxit: int = 100
    pirls_warm_start: bool = True
    polish_tol: float | None = 1e-6
    laplace: str = "expected"
    agq_warn: float = 0.01
    agq_tol: float = 1e-3
    agq_max_row_nodes: float = 1e8

    def __post_init__(self) -> None:
        opt = self.optimizer
        names = list(opt) if isinstance(opt, (tuple, list)) else [opt]
        if not names or len(names) > 2 or not all(isinstance(n, str) for n in names):
            raise MixedLMError(f"optimizer must be a name or a pair of names (stage 1, stage 2), not {opt!r}")
        if self.laplace not in ("expected", "observed"):
            raise MixedLMError(
                f"laplace must be 'expected' (lme4's Laplace approximation) or 'observed' (the "
                f"exact Laplace approximation, glmmTMB's), not {self.laplace!r}"
            )
        super().__post_init__()

    def stage_optimizer(self, stage: int) -> str:
        """Optimizer for stage 1 or 2."""
        opt = self.optimizer
        if isinstance(opt, (tuple, list)):
            return opt[0] if stage == 1 or len(opt) == 1 else opt[1]
        return opt
