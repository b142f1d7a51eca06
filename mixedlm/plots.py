"""Diagnostic plots (optional: needs matplotlib, ``pip install "mixedlm[plots]"``).

* :func:`plot_ranef` — caterpillar plot of the conditional modes ``b̂_j`` with
  intervals ``b̂_j ± z_{(1+level)/2} sqrt(Var(b_j | y))`` (lme4's
  ``dotplot(ranef(fit, condVar = TRUE))``; the conditional variances are
  ``ranef(condVar=True)``'s), levels sorted by the first column;
* :func:`plot_profile` — ζ against each profiled parameter with the interpolating
  spline, and the profile confidence limits at several levels (lme4's
  ``xyplot(profile(fit))``); also ``Profile.plot()``;
* :func:`plot_resid` — residuals against fitted values (lme4's ``plot(fit)``:
  Pearson residuals for GLMMs, response residuals for linear models).

Every function returns the matplotlib ``Figure``; matplotlib is imported only when
a plot is drawn.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats

from mixedlm.errors import MixedLMError
from mixedlm.results.interface import MixedFit


def _pyplot() -> Any:
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError(
            "plots need matplotlib, an optional dependency of mixedlm: "
            "pip install 'mixedlm[plots]' (or pip install matplotlib)"
        ) from None
    return plt


def plot_ranef(
    fit: MixedFit,
    group: str | Sequence[str] | None = None,
    level: float = 0.95,
    sort: bool = True,
    figsize: tuple[float, float] | None = None,
) -> Any:
    """Caterpillar plot of the conditional modes with conditional-variance intervals.

    Parameters
    ----------
    fit : MixedFit
    group : str or sequence of str, optional
        Grouping factors to draw (default: all; one row of panels per factor).
    level : float
        Coverage of the intervals ``b̂ ± z sqrt(condVar)``.
    sort : bool
        Order levels by the first column's conditional mode (as lme4's dotplot).
    figsize : (float, float), optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _pyplot()
    if not 0 < level < 1:
        raise MixedLMError(f"level must be between 0 and 1, not {level!r}")
    re = fit.ranef(condVar=True)
    groups = list(re) if group is None else ([group] if isinstance(group, str) else list(group))
    unknown = [g for g in groups if g not in re]
    if unknown:
        raise MixedLMError(f"unknown grouping factor(s) {unknown}; the model has {list(re)}")
    z = stats.norm.ppf(0.5 + level / 2)
    ncol = max(re[g].shape[1] for g in groups)
    nlev = max(re[g].shape[0] for g in groups)
    if figsize is None:
        figsize = (3.2 * ncol + 1.0, max(2.5, min(0.18 * nlev + 1.2, 14.0)) * len(groups))
    fig, axes = plt.subplots(len(groups), ncol, figsize=figsize, squeeze=False)
    for r, g in enumerate(groups):
        df = re[g]
        cv = df.attrs.get("condVar")
        order = np.argsort(df.iloc[:, 0].to_numpy(), kind="stable") if sort else np.arange(df.shape[0])
        ypos = np.arange(df.shape[0])
        for c in range(ncol):
            ax = axes[r, c]
            if c >= df.shape[1]:
                ax.set_visible(False)
                continue
            vals = df.iloc[:, c].to_numpy()[order]
            err = z * np.sqrt(np.maximum(cv[:, c, c], 0.0))[order] if cv is not None else None
            ax.errorbar(vals, ypos, xerr=err, fmt="o", ms=3, color="C0", ecolor="0.4", elinewidth=1)
            ax.axvline(0.0, color="0.6", lw=0.8, ls="--")
            ax.set_title(f"{g}: {df.columns[c]}", fontsize=9)
            if c == 0:
                ax.set_yticks(ypos)
                ax.set_yticklabels(
                    [str(x) for x in df.index.to_numpy()[order]],
                    fontsize=max(4, min(8, int(400 / max(df.shape[0], 1)))),
                )
            else:
                ax.set_yticks([])
    fig.tight_layout()
    return fig


def plot_profile(
    profile: Any,
    parm: Sequence[str] | str | None = None,
    absVal: bool = False,
    levels: Sequence[float] = (0.5, 0.8, 0.9, 0.95, 0.99),
    ncols: int | None = None,
    figsize: tuple[float, float] | None = None,
) -> Any:
    """ζ (or |ζ|) against each profiled parameter, as lme4's ``xyplot(profile)``.

    Each panel shows the profile points, the interpolating spline ζ(p), and for every
    confidence level the interval from :meth:`Profile.confint` as vertical segments at
    ``ζ = ±z_{(1+level)/2}``.

    Parameters
    ----------
    profile : Profile
    parm : str or sequence of str, optional
        Parameters to draw (default all).
    absVal : bool
        Plot ``|ζ|`` (V-shaped panels) instead of ζ.
    levels : sequence of float
        Confidence levels marked in each panel.
    ncols : int, optional
        Panels per row (default: up to 3).

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _pyplot()
    from mixedlm.inference.profile import PolySpline, select_parameters

    names = select_parameters(parm, profile.parameters, profile.parameters)
    n = len(names)
    ncols = ncols or min(3, n)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=figsize or (3.4 * ncols, 2.9 * nrows), squeeze=False)
    cis = {lv: profile.confint(parm=names, level=lv) for lv in levels}
    for k, nm in enumerate(names):
        ax = axes[k // ncols, k % ncols]
        tab = profile.tables[nm]
        x = tab[nm].to_numpy()
        zeta = tab[".zeta"].to_numpy()
        ok = np.isfinite(zeta)
        ax.plot(x[ok], np.abs(zeta[ok]) if absVal else zeta[ok], "o", ms=2.5, color="C0")
        sp = profile.forward.get(nm)
        if isinstance(sp, PolySpline):
            grid = np.linspace(sp.knots[0], sp.knots[-1], 200)
            zz = sp(grid)
            ax.plot(grid, np.abs(zz) if absVal else zz, "-", color="C0", lw=1)
        for lv in levels:
            zq = stats.norm.ppf(0.5 + lv / 2)
            lo, hi = cis[lv].loc[nm].to_numpy()
            for bound, zsign in ((lo, -1.0), (hi, 1.0)):
                if np.isfinite(bound):
                    y = zq if absVal else zsign * zq
                    ax.plot([bound, bound], [0.0, y], color="0.55", lw=0.8, ls=":")
            ax.axhline(zq, color="0.85", lw=0.6)
            if not absVal:
                ax.axhline(-zq, color="0.85", lw=0.6)
        ax.set_xlabel(nm, fontsize=9)
        ax.set_ylabel("|ζ|" if absVal else "ζ")
    for k in range(n, nrows * ncols):
        axes[k // ncols, k % ncols].set_visible(False)
    fig.tight_layout()
    return fig


def plot_resid(fit: MixedFit, type: str | None = None, figsize: tuple[float, float] = (5.0, 4.0)) -> Any:
    """Residuals against fitted values (lme4's ``plot(fit)``).

    Parameters
    ----------
    fit : MixedFit
    type : str, optional
        Residual type passed to ``fit.residuals`` (default: ``"pearson"`` for GLMMs,
        ``"response"`` for linear models).

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _pyplot()
    if type is None:
        type = "pearson" if fit.isGLMM() else "response"
    f = fit.fitted().to_numpy()
    r = fit.residuals(type=type).to_numpy()
    ok = np.isfinite(f) & np.isfinite(r)
    fig, ax = plt.subplots(figsize=figsize)
    ax.scatter(f[ok], r[ok], s=10, color="C0", alpha=0.8)
    ax.axhline(0.0, color="0.5", lw=0.8, ls="--")
    ax.set_xlabel("fitted values")
    ax.set_ylabel(f"{type} residuals")
    fig.tight_layout()
    return fig
