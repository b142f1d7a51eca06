"""Confidence intervals for fitted mixed models (lme4's ``confint.merMod``).

Rows are named as lme4's ``confint(fit, oldNames = FALSE)``, in lme4's order: per
random-effects term its standard deviations and correlations (lower triangle,
column by column: ``sd_(Intercept)|Subject``, ``cor_Days.(Intercept)|Subject``,
``sd_Days|Subject``), then ``sigma`` (models with a scale), then the fixed effects.

``method="profile"`` (default, as lme4): likelihood-ratio intervals
``{p : |ζ(p)| ≤ z_{1−α/2}}`` from :func:`mixedlm.inference.profile.profile` (for a
linear model the ML profile, also for REML fits — as lme4).

``method="Wald"``: ``β̂ ± z_{1−α/2} SE(β̂)`` for the fixed effects, with SEs from
``vcov(fit)`` (for Laplace/AGQ GLMMs the inverse finite-difference Hessian of the
deviance, as lme4's ``use.hessian``); the variance parameters get no Wald interval
(NaN, as lme4).

``method="boot"``: parametric bootstrap (:func:`mixedlm.inference.bootstrap.bootMer`)
of the SDs/correlations, ``sigma`` and fixed effects (or of ``func(fit)``), with
percentile, basic or normal intervals (``boot_type``; lme4's ``boot.type``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from mixedlm.errors import MixedLMError
from mixedlm.inference.intervals import perc_labels  # noqa: F401  (re-exported)
from mixedlm.results.interface import MixedFit


def _all_names(fit: MixedFit) -> list[str]:
    return list(fit.sdcor().index) + list(fit.fixef().index)


def _select_parm(fit: MixedFit, parm: Any) -> list[str] | None:
    """Validate ``parm`` (names, ``"theta_"``/``"beta_"``, 0-based positions) against the fit's parameters."""
    if parm is None:
        return None
    from mixedlm.inference.profile import select_parameters

    names = _all_names(fit)
    return select_parameters(parm, names, names)


def confint(
    fit: MixedFit,
    parm: Sequence[str] | str | None = None,
    level: float = 0.95,
    method: str = "profile",
    nsim: int = 500,
    boot_type: str = "perc",
    seed: Any = None,
    func: Callable[[MixedFit], Any] | None = None,
    n_jobs: int = 1,
    progress: bool | None = None,
    **kwargs: Any,
) -> pd.DataFrame:
    """Confidence intervals; see the module docstring.

    Parameters
    ----------
    fit : MixedFit
        A fitted model.
    parm : str or sequence of str, optional
        Parameters to report (default all): names as in the result, ``"theta_"`` (the
        variance parameters), ``"beta_"`` (the fixed effects), or 0-based positions.
        Unknown names raise an error listing the valid ones.
    level : float
        Confidence level in (0, 1).
    method : {"profile", "Wald", "boot"}
        Likelihood profile (default, as lme4), Wald, or parametric bootstrap.
    nsim : int
        Bootstrap replicates (``method="boot"``; lme4's default 500).
    boot_type : {"perc", "basic", "norm"}
        Bootstrap interval type (also ``"percentile"``, ``"normal"``).
    seed : int, optional
        Seed of the bootstrap.
    func : callable, optional
        Statistic for ``method="boot"`` (default: SDs/correlations, ``sigma``, fixed effects).
    n_jobs : int
        Parallel workers for the profile (one parameter each) or the bootstrap replicates.
    progress : bool, optional
        Bootstrap progress bar (see :func:`~mixedlm.inference.bootstrap.bootMer`).
    **kwargs
        Passed on to :func:`~mixedlm.inference.profile.profile` (``alphamax``,
        ``maxpts``, ``delta``, …) or :func:`~mixedlm.inference.bootstrap.bootMer`
        (``use_u``, ``re_form``, ``type``, ``backend``, ``calc_derivs``).

    Returns
    -------
    pandas.DataFrame
        Rows = parameters, columns = the two percentage bounds (``"2.5 %"``, ``"97.5 %"``).
    """
    if not 0 < level < 1:
        raise MixedLMError(f"level must be between 0 and 1, not {level!r}")
    m = {"profile": "profile", "wald": "Wald", "boot": "boot"}.get(str(method).lower())
    if m is None:
        raise MixedLMError(f"method must be 'profile', 'Wald' or 'boot', not {method!r}")
    if m == "boot":
        return _confint_boot(fit, parm, level, nsim, boot_type, seed, func, n_jobs, progress, kwargs)
    if func is not None:
        raise MixedLMError("func is only used with method='boot'")
    wanted = _select_parm(fit, parm)
    if m == "profile":
        from mixedlm.inference.profile import profile

        pr = profile(fit, which=wanted, n_jobs=n_jobs, **kwargs)
        return pr.confint(level=level)
    if kwargs:
        raise MixedLMError(f"unexpected argument(s) for method='Wald': {sorted(kwargs)}")
    return _confint_wald(fit, wanted, level)


def _confint_wald(fit: MixedFit, wanted: list[str] | None, level: float) -> pd.DataFrame:
    fe = fit.fixef()
    se = np.sqrt(np.diag(fit.vcov().to_numpy()))
    z = stats.norm.ppf(0.5 + level / 2)
    vnames = list(fit.sdcor().index)
    rows = vnames + list(fe.index)
    lo = np.concatenate([np.full(len(vnames), np.nan), fe.to_numpy() - z * se])
    hi = np.concatenate([np.full(len(vnames), np.nan), fe.to_numpy() + z * se])
    out = pd.DataFrame(np.column_stack([lo, hi]), index=rows, columns=perc_labels(level))
    if wanted is not None:
        out = out.loc[wanted]
    return out


def boot_statistic(fit: MixedFit) -> pd.Series:
    """SDs/correlations (scaled as ``VarCorr``), ``sigma`` where the model has one, and fixed effects.

    The statistic ``confint(method="boot")`` bootstraps (lme4's default ``FUN``).
    """
    return pd.concat([fit.sdcor(), fit.fixef().astype(float)])


def _confint_boot(
    fit: MixedFit,
    parm: Any,
    level: float,
    nsim: int,
    boot_type: str,
    seed: Any,
    func: Callable[[MixedFit], Any] | None,
    n_jobs: int,
    progress: bool | None,
    kwargs: dict[str, Any],
) -> pd.DataFrame:
    from mixedlm.inference.bootstrap import bootMer, check_boot_type

    check_boot_type(boot_type)
    allowed = {"use_u", "re_form", "type", "backend", "calc_derivs"}
    unknown = set(kwargs) - allowed
    if unknown:
        raise MixedLMError(
            f"unexpected argument(s) for method='boot': {sorted(unknown)}; bootMer takes {sorted(allowed)}"
        )
    if func is None:
        wanted = _select_parm(fit, parm)
        bb = bootMer(fit, boot_statistic, nsim=nsim, seed=seed, n_jobs=n_jobs, progress=progress, **kwargs)
    else:
        wanted = None if parm is None else ([parm] if isinstance(parm, str) else list(parm))
        bb = bootMer(fit, func, nsim=nsim, seed=seed, n_jobs=n_jobs, progress=progress, **kwargs)
    if bb.t.isna().all().all():
        raise MixedLMError("all bootstrap runs failed: " + "; ".join(bb.errors))
    return bb.confint(parm=wanted, level=level, type=boot_type)
