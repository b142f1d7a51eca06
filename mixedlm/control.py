"""Fitting controls (lme4's ``lmerControl`` / ``glmerControl``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mixedlm.errors import MixedLMError

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
    check_conv_singular : {"ignore", "message", "warning", "stop"}
        Action on a singular fit (lme4 default: message).
    check_nobs_vs_nlev, check_nlev_gtr_1, check_nobs_vs_nRE : {"ignore", "warning", "stop"}
        lme4's data checks; ``"stop"`` raises a :class:`~mixedlm.errors.DataError`.
    keep_log : bool
        Record every objective evaluation in the ``OptSummary``.
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
    check_conv_singular: str = "message"
    check_nobs_vs_nlev: str = "stop"
    check_nlev_gtr_1: str = "stop"
    check_nobs_vs_nRE: str = "stop"
    keep_log: bool = True

    def __post_init__(self) -> None:
        if self.engine not in ("auto", "blocked", "cholmod"):
            raise MixedLMError(f"engine must be 'auto', 'blocked' or 'cholmod', not {self.engine!r}")
        for name in ("check_conv_singular",):
            if getattr(self, name) not in _ACTIONS:
                raise MixedLMError(f"{name} must be one of {_ACTIONS}, not {getattr(self, name)!r}")
        for name in ("check_nobs_vs_nlev", "check_nlev_gtr_1", "check_nobs_vs_nRE"):
            if getattr(self, name) not in ("ignore", "warning", "stop"):
                raise MixedLMError(f"{name} must be 'ignore', 'warning' or 'stop', not {getattr(self, name)!r}")
        if int(self.maxfun) < 1:
            raise MixedLMError(f"maxfun must be a positive integer, not {self.maxfun!r}")

    def optimizer_settings(self) -> dict[str, Any]:
        """Settings for :func:`mixedlm.optim.registry.minimize` for the chosen optimizer."""
        from mixedlm.optim.registry import _NLOPT_ALGORITHMS

        if self.optimizer in _NLOPT_ALGORITHMS:
            settings: dict[str, Any] = {"maxfun": int(self.maxfun), "ftol_abs": self.ftol_abs,
                                        "xtol_abs": self.xtol_abs, "xtol_rel": self.xtol_rel}
        else:
            settings = {"maxfun": int(self.maxfun)}
        settings.update(self.opt_ctrl)
        return settings
