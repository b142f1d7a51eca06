"""Likelihood profiles of fitted mixed models, as lme4's ``profile.merMod``.

For a parameter ``p`` (a random-effects standard deviation or correlation, the
residual standard deviation ``σ`` of a linear model, or a fixed effect ``β_j``) the
*profiled deviance* is ``d̃(p) = min over the other parameters of d(p, ·)`` and the
profile is the signed square root

    ζ(p) = sign(p − p̂) · sqrt(d̃(p) − d(θ̂, β̂)),

which is ``N(0, 1)`` under the usual asymptotics, so ``{p : |ζ(p)| ≤ z_{1−α/2}}`` is a
likelihood-ratio confidence interval.  The variance parameters are profiled on
lme4's "sdcor" scale: per random-effects term the standard deviations and
correlations of ``Var(b) = σ² Λ Λᵀ``.

Linear mixed models (the deviance is always the ML deviance; a REML fit is first
refitted by ML, as lme4's ``devfun2`` does)::

    d(s, σ) = log|L_θ|² − Σ log w_i + r²(θ) / σ² + n log(2π σ²),   θ = chol(Σ(s)) / σ

with ``s`` the sdcor vector, ``Σ(s)`` the covariance it describes and ``r²(θ)``
the penalized residual sum of squares at ``β̂(θ)``, ``û(θ)`` (β is profiled out
exactly).  Profiling an SD or correlation minimizes over the remaining sdcor
entries and ``σ``.  Profiling ``β_j`` fixes it: the column ``x_j`` is dropped from
``X``, ``x_j β_j`` moves into the offset, and the ML criterion of the reduced model
is minimized over θ (``σ`` and the other β are then exact).

Generalized linear mixed models: ``d(s, β)`` is the fit's Laplace / AGQ deviance
over ``(θ(s), β)`` (stage 2 of ``glmer``); profiling any parameter minimizes it
over all the others.

The grid follows lme4: from the estimate, a first point at ``1.01 p̂`` (``0.001``
when ``p̂ = 0``; ``β̂_j + δ·SE_j`` for linear-model fixed effects), then steps
that aim at increments of ``δ = cutoff / 8`` in ζ (``cutoff = sqrt(χ²_{P, 1−alphamax})``,
``P`` the number of parameters), estimated from the last two points and capped at
ten times the last step, until ``|ζ| > cutoff``, a bound (SD 0, correlation ±1) is
reached or ``maxpts`` points were used.  Intervals invert a natural interpolating
cubic spline of ζ against the parameter (R's ``interpSpline`` / ``backSpline``,
which lme4's ``confint.thpr`` uses); when the requested ζ lies outside the
profiled range the bound of the parameter (0 for an SD, ±1 for a correlation) is
reported.

Where this departs from lme4 (only where lme4 misbehaves): a direction stops when
ζ stops moving away from 0 (lme4 continues with 1e-6 steps up to ``maxpts``); points
whose |ζ| exceeds that of a point further out — a conditional optimization that
stopped in a local minimum — are re-optimized from their outer neighbour; the
spline is fitted to the strictly monotone stretch of ζ through the estimate (a
profile that turns flat, e.g. a correlation once its SD partner is 0, does not make
the interval NaN); and a starting value a hair above a bound is moved onto it,
because NLopt's default first step (0.75 |x|) would otherwise stall BOBYQA.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from scipy.interpolate import CubicSpline

from mixedlm.errors import ConvergenceWarning, MixedLMError, warn_at_caller
from mixedlm.inference.intervals import perc_labels
from mixedlm.inference.parallel import parallel_map
from mixedlm.results.interface import MixedFit

#: Objective value returned where the model cannot be evaluated (as the fitting code does).
FAILED = 1e15

#: A profile point whose deviance is lower than the fit's by more than this is an error
#: (the fit is not at its optimum); smaller decreases are optimizer noise and count as 0.
LOWER_DEVIANCE_ERROR = 1e-3


# ---------------------------------------------------------------------------------------
# R's interpSpline / backSpline (package splines)
# ---------------------------------------------------------------------------------------


@dataclass
class PolySpline:
    """A piecewise cubic in R's ``polySpline`` form.

    On ``(k_i, k_{i+1}]`` the value is ``c_i0 + c_i1 d + c_i2 d² + c_i3 d³`` with
    ``d = x − k_i``; outside ``[k_0, k_last]`` it is NaN (R's ``predict.polySpline``).
    """

    knots: np.ndarray
    coef: np.ndarray

    def __call__(self, x: Any) -> np.ndarray:
        x = np.atleast_1d(np.asarray(x, dtype=np.float64))
        k = self.knots
        out = np.full(x.shape, np.nan)
        ok = (x >= k[0]) & (x <= k[-1])
        if not np.any(ok):
            return out
        xi = x[ok]
        i = np.searchsorted(k, xi, side="left") - 1
        i[xi == k[0]] = 0
        i = np.clip(i, 0, len(k) - 2)
        d = xi - k[i]
        c = self.coef[i]
        out[ok] = c[:, 0] + d * (c[:, 1] + d * (c[:, 2] + d * c[:, 3]))
        return out


def interp_spline(x: np.ndarray, y: np.ndarray) -> PolySpline:
    """Natural interpolating cubic spline through ``(x_i, y_i)`` (R's ``interpSpline``).

    The second derivative is 0 at both end knots.  Coefficients per knot are
    ``(y, y', y''/2, y'''/6)``.  Needs at least four distinct ``x`` (as R).
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    if x.shape[0] < 4:
        raise ValueError("an interpolating spline needs at least 4 points")
    if np.any(np.diff(x) <= 0):
        raise ValueError("values of x must be distinct")
    cs = CubicSpline(x, y, bc_type="natural")
    coef = np.empty((x.shape[0], 4))
    coef[:-1, 0] = y[:-1]
    coef[:-1, 1] = cs.c[2]
    coef[:-1, 2] = cs.c[1]
    coef[:-1, 3] = cs.c[0]
    coef[-1, 0] = y[-1]
    coef[-1, 1] = float(cs(x[-1], 1))
    coef[-1, 2] = 0.0
    coef[-1, 3] = float(cs(x[-1], 3))
    coef[0, 2] = 0.0
    return PolySpline(knots=x, coef=coef)


def back_spline(sp: PolySpline) -> PolySpline:
    """Inverse of a monotone increasing cubic spline (R's ``backSpline``).

    Knots become the spline's values ``y_i``; on each interior interval the inverse
    is the cubic Hermite interpolant of ``(y_i, x_i)`` with slopes ``1/y'_i``; on the
    two end intervals it is a quadratic matching the slope at the inner knot
    (linear if that quadratic would bend the wrong way).

    Raises
    ------
    ValueError
        If the values are not strictly increasing.
    """
    knots, coef = sp.knots, sp.coef
    nk = knots.shape[0]
    kdiff = np.diff(knots)
    bknots = coef[:, 0].copy()
    adiff = np.diff(bknots)
    if not np.all(adiff > 0):
        raise ValueError("spline must be monotone increasing")
    b = np.zeros((nk, 4))
    b[:, 0] = knots
    with np.errstate(divide="ignore"):
        b[:, 1] = 1.0 / coef[:, 1]
    for i in range(nk - 1):
        a = adiff[i]
        M = np.array([[a * a, a**3], [2.0 * a, 3.0 * a * a]])
        rhs = np.array([kdiff[i] - a * b[i, 1], b[i + 1, 1] - b[i, 1]])
        b[i, 2:4] = np.linalg.solve(M, rhs)
    b[nk - 1, 1:] = np.nan
    if nk > 2:
        b[0, 3] = 0.0
        b[nk - 2, 3] = 0.0
        a0 = adiff[0]
        b[0, 1:3] = np.linalg.solve(np.array([[a0, a0 * a0], [1.0, 2.0 * a0]]), np.array([kdiff[0], 1.0 / coef[1, 1]]))
        a1 = adiff[-1]
        b[nk - 2, 2] = (kdiff[-1] - a1 * b[nk - 2, 1]) / (a1 * a1)
    if b[0, 2] > 0:
        b[0, 2] = 0.0
        b[0, 1] = kdiff[0] / adiff[0]
    if b[nk - 2, 2] < 0:
        b[nk - 2, 2] = 0.0
        b[nk - 2, 1] = kdiff[-1] / adiff[-1]
    return PolySpline(knots=bknots, coef=b)


# ---------------------------------------------------------------------------------------
# the profile object
# ---------------------------------------------------------------------------------------


@dataclass
class Profile:
    """Likelihood profile of a fitted model (lme4's ``thpr`` object).

    Attributes
    ----------
    tables : dict of str to pandas.DataFrame
        Per profiled parameter, the points visited: column ``.zeta`` then every
        parameter (sdcor scale, ``sigma``, fixed effects) at the conditional optimum,
        sorted by the profiled parameter.
    forward, backward : dict
        Per parameter, the interpolating spline ζ(p) and its inverse p(ζ)
        (:class:`PolySpline`), or the exception raised when building it.
    lower, upper : dict of str to float
        Bounds of each parameter (0 / ∞ for SDs and σ, ±1 for correlations, ±∞ for β).
    optimum : pandas.Series
        The estimates on the profiling scale (ML estimates for a REML fit).
    base_deviance : float
        The deviance at the optimum (ML deviance for linear models).
    cutoff : float
        ``sqrt(χ²_{P, 1 − alphamax})``: profiles extend to ``|ζ|`` beyond this.
    """

    tables: dict[str, pd.DataFrame]
    forward: dict[str, Any]
    backward: dict[str, Any]
    lower: dict[str, float]
    upper: dict[str, float]
    optimum: pd.Series
    base_deviance: float
    cutoff: float
    fit: MixedFit | None = field(default=None, repr=False)
    warnings: list[str] = field(default_factory=list)
    used: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def parameters(self) -> list[str]:
        """Names of the profiled parameters, in lme4's order."""
        return list(self.tables)

    def as_dataframe(self) -> pd.DataFrame:
        """All points in one frame, as lme4's ``as.data.frame(profile)``.

        Columns ``.zeta``, every parameter, ``.par`` (the profiled parameter, a
        categorical in profiling order) and ``.focal`` (its value).
        """
        frames = []
        for name, tab in self.tables.items():
            df = tab.copy()
            df[".par"] = name
            df[".focal"] = tab[name].to_numpy()
            frames.append(df)
        out = pd.concat(frames, ignore_index=True)
        out[".par"] = pd.Categorical(out[".par"], categories=list(self.tables))
        return out

    def confint(self, parm: Sequence[str] | str | None = None, level: float = 0.95) -> pd.DataFrame:
        """Profile-likelihood confidence intervals (lme4's ``confint.thpr``).

        The bounds solve ``ζ(p) = z_{(1∓level)/2}`` through the inverse spline, fitted
        to the points where ζ increases strictly through the estimate.  Where the
        requested ζ lies outside that range, the parameter's bound is reported (0 for
        an SD whose profile reaches 0 before ``−z``, ±1 for a correlation, ∓∞ for a
        fixed effect).  With fewer than four usable points ζ is interpolated linearly,
        with a warning; without any, the interval is NaN.

        Parameters
        ----------
        parm : str or sequence of str, optional
            Parameters (default: all profiled ones); ``"theta_"`` / ``"beta_"`` select
            the variance parameters / the fixed effects.
        level : float
            Confidence level.
        """

        if not 0 < level < 1:
            raise MixedLMError(f"level must be between 0 and 1, not {level!r}")
        names = select_parameters(parm, self.parameters, self.parameters)
        a = (1.0 - level) / 2.0
        zeta = stats.norm.ppf([a, 1.0 - a])
        out = np.full((len(names), 2), np.nan)
        for r, nm in enumerate(names):
            bak = self.backward[nm]
            if isinstance(bak, PolySpline):
                p = bak(zeta)
            else:
                tab = self.tables[nm]
                mask = self.used.get(nm, np.isfinite(tab[".zeta"].to_numpy()))
                z = tab[".zeta"].to_numpy()[mask]
                v = tab[nm].to_numpy()[mask]
                if z.size < 2:
                    warn_at_caller(f"bad profile for {nm}", ConvergenceWarning)
                    out[r] = np.nan
                    continue
                warn_at_caller(f"bad spline fit for {nm}: falling back to linear interpolation", ConvergenceWarning)
                p = np.interp(zeta, z, v, left=np.nan, right=np.nan)
            if np.isnan(p[0]):
                p[0] = self.lower[nm]
            if np.isnan(p[1]):
                p[1] = self.upper[nm]
            out[r] = p
        return pd.DataFrame(out, index=names, columns=perc_labels(level))

    def plot(self, **kwargs: Any) -> Any:
        """Profile plot (ζ against each parameter), as lme4's ``xyplot(profile)``.

        See :func:`mixedlm.plots.plot_profile` for the options; needs matplotlib.
        """
        from mixedlm.plots import plot_profile

        return plot_profile(self, **kwargs)

    def __repr__(self) -> str:
        return f"<Profile of {len(self.tables)} parameters: {', '.join(self.tables)}>"


def select_parameters(which: Any, names: Sequence[str], valid: Sequence[str]) -> list[str]:
    """Parameter names from ``which``: None (all), names, ``"theta_"``/``"beta_"``, or 0-based positions."""
    if which is None:
        return list(names)
    items = [which] if isinstance(which, (str, int, np.integer)) else list(which)
    is_var = [n.startswith(("sd_", "cor_")) or n == "sigma" for n in names]
    out: list[str] = []
    unknown: list[Any] = []
    for it in items:
        if isinstance(it, (int, np.integer)) and not isinstance(it, bool):
            if not 0 <= int(it) < len(names):
                unknown.append(it)
                continue
            out.append(names[int(it)])
        elif it == "theta_":
            out.extend(n for n, v in zip(names, is_var) if v)
        elif it == "beta_":
            out.extend(n for n, v in zip(names, is_var) if not v)
        elif it in names:
            out.append(str(it))
        else:
            unknown.append(it)
    if unknown:
        raise MixedLMError(f"unknown parameter(s) {unknown}; valid names: {list(valid)} (or 'theta_' / 'beta_')")
    seen = set(out)
    return [n for n in names if n in seen]


# ---------------------------------------------------------------------------------------
# profiling
# ---------------------------------------------------------------------------------------


class _Walker:
    """lme4's stepping rule (``nextpar``/``fillmat``) along one parameter.

    From the last two points ``(p_{i−1}, ζ_{i−1})``, ``(p_i, ζ_i)`` the next value is
    ``p_i + δ (p_i − p_{i−1}) / (ζ_i − ζ_{i−1})`` (a step of about ``δ`` in ζ), at most
    ``maxmult`` times the last step, clipped to the parameter's bounds.  Where lme4
    then falls back to tiny steps (ζ not moving away from 0: the profile is flat or
    turns back, e.g. a correlation whose SD partner reached 0), the direction stops:
    |ζ| cannot reach the cutoff there.
    """

    def __init__(
        self, col: int, lowcut: float, upcut: float, delta: float, cutoff: float, maxpts: int, maxmult: float = 10.0
    ) -> None:
        self.col, self.lowcut, self.upcut = col, lowcut, upcut
        self.delta, self.cutoff, self.maxpts = delta, cutoff, maxpts
        self.maxmult = maxmult
        self.messages: list[str] = []

    def nextpar(self, prev: np.ndarray, cur: np.ndarray) -> float | None:
        """Next parameter value from the last two rows ``[ζ, parameters…]`` (None: stop)."""
        c = self.col
        num = cur[c] - prev[c]
        denom = cur[0] - prev[0]
        if num == 0:
            return None
        if not np.isfinite(denom) or denom == 0:
            self.messages.append("the profile is flat (identical or NA zeta values at consecutive points)")
            return None
        step = self.delta * num / denom
        if step < 0:
            self.messages.append("unexpected decrease in profile")
            return None
        step = min(step, self.maxmult * abs(num))
        return min(self.upcut, max(self.lowcut, cur[c] + math.copysign(step, num)))

    def fill(self, rows: list[np.ndarray], zetafun: Callable[[float, np.ndarray], np.ndarray]) -> list[np.ndarray]:
        """Extend ``rows`` (two starting points) until |ζ| > cutoff, a bound, a flat stretch or ``maxpts``."""
        c = self.col
        while len(rows) < self.maxpts:
            cur = rows[-1]
            if not (self.lowcut < cur[c] < self.upcut):
                break
            z = abs(cur[0])
            if np.isfinite(z) and z > self.cutoff:
                break
            nxt = self.nextpar(rows[-2], cur)
            if nxt is None:
                break
            # lme4's startmethod "prev": start from the last point's conditional optimum
            rows.append(zetafun(nxt, cur))
        return rows


def _repair(out: list[np.ndarray], zetafun: Callable[[float, np.ndarray], np.ndarray], col: int) -> list[np.ndarray]:
    """Re-optimize points of one direction whose |ζ| exceeds that of a point further out.

    The profiled deviance is a minimum over the other parameters, so a point whose
    |ζ| is larger than at a point further from the estimate has usually stopped in a
    local minimum.  Such points are re-optimized starting from their outer
    neighbour's conditional optimum (a backward sweep) and keep the lower deviance.
    """
    z = np.array([abs(r[0]) for r in out])
    if out and not np.any(np.isfinite(z[:-1]) & (z[:-1] > np.minimum.accumulate(z[::-1])[::-1][1:] + 1e-10)):
        return out
    for i in range(len(out) - 2, -1, -1):
        if not np.all(np.isfinite(out[i + 1])):
            continue
        cand = zetafun(float(out[i][col]), out[i + 1])
        if np.isfinite(cand[0]) and (not np.isfinite(out[i][0]) or cand[0] ** 2 < out[i][0] ** 2 - 1e-10):
            out[i] = cand
    return out


def profile(
    fit: MixedFit,
    which: Any = None,
    alphamax: float = 0.01,
    maxpts: int = 100,
    delta: float | None = None,
    delta_cutoff: float = 1.0 / 8.0,
    devtol: float = 1e-6,
    maxmult: float = 10.0,
    n_jobs: int = 1,
) -> Profile:
    """Likelihood profile of a fitted model (lme4's ``profile.merMod``); see the module docstring.

    Parameters
    ----------
    fit : MixedFit
        The fitted model (GLMMs: Laplace or AGQ, families without a scale parameter).
    which : str, int or sequence, optional
        Parameters to profile: names as in ``confint`` (``"sd_(Intercept)|Subject"``,
        ``"sigma"``, ``"Days"``), ``"theta_"`` (all variance parameters), ``"beta_"``
        (all fixed effects) or 0-based positions.  Default: all.
    alphamax : float
        Profiles extend to ``|ζ| > sqrt(χ²_{P, 1−alphamax})`` (``P`` = number of parameters).
    maxpts : int
        Maximum number of points per direction.
    delta : float, optional
        Target step in ζ (default ``cutoff · delta_cutoff``).
    delta_cutoff : float
        See ``delta``.
    devtol : float
        A profile point whose deviance is below the fit's by at most this much is
        optimizer noise (ζ = 0 there); larger decreases, up to 1e-3, are reported with a
        warning; beyond that an error is raised (the fit is not at its optimum).
        (lme4 stops with an error beyond 1e-9.)
    maxmult : float
        Largest growth factor of consecutive steps.
    n_jobs : int
        Profile parameters in parallel with this many worker processes (1: serially).

    Returns
    -------
    Profile
    """
    prob = fit.profile_problem()
    P = len(prob.names)
    selected = select_parameters(which, prob.names, prob.names)
    cutoff = math.sqrt(stats.chi2.ppf(1.0 - alphamax, P))
    if delta is None:
        delta = cutoff * delta_cutoff
    # lme4's consistency check: the sdcor-scale deviance at the optimum equals the fit's
    d_opt = prob.deviance_at(prob.opt)
    if not abs(d_opt - prob.base) <= 1e-5 * max(1.0, abs(prob.base)):
        raise MixedLMError(
            f"internal error: the deviance on the profiling scale ({d_opt}) differs from the fit's ({prob.base})"
        )
    settings = {"delta": delta, "cutoff": cutoff, "maxpts": maxpts, "devtol": devtol, "maxmult": maxmult}
    tasks = [prob.names.index(n) for n in selected]
    if n_jobs != 1 and len(tasks) > 1:
        results = parallel_map(_profile_task, tasks, n_jobs=n_jobs, shared=(prob, settings))
    else:
        results = [_profile_one(prob, settings, w) for w in tasks]
    tables: dict[str, pd.DataFrame] = {}
    fwd: dict[str, Any] = {}
    bak: dict[str, Any] = {}
    used: dict[str, np.ndarray] = {}
    msgs: list[str] = []
    for w, (rows, m) in zip(tasks, results):
        name = prob.names[w]
        msgs.extend(f"{name}: {x}" for x in m)
        tab = pd.DataFrame(np.vstack(rows), columns=[".zeta"] + prob.names)
        tab = tab.drop_duplicates().sort_values(name, kind="stable").reset_index(drop=True)
        tables[name] = tab
        used[name] = _monotone_stretch(tab[".zeta"].to_numpy(), tab[name].to_numpy(), float(prob.opt[w]))
        if not np.all(used[name] | tab[".zeta"].isna().to_numpy()):
            msgs.append(f"{name}: non-monotonic profile; the intervals use the monotone stretch around the estimate")
        x = tab[name].to_numpy()[used[name]]
        z = tab[".zeta"].to_numpy()[used[name]]
        try:
            fwd[name] = interp_spline(x, z)
            bak[name] = back_spline(fwd[name])
        except (ValueError, np.linalg.LinAlgError) as exc:
            bak[name] = exc
            fwd.setdefault(name, exc)
    for m in dict.fromkeys(msgs):
        warn_at_caller(m, ConvergenceWarning)
    lower = {n: float(prob.lower[i]) for i, n in enumerate(prob.names) if n in tables}
    upper = {n: float(prob.upper[i]) for i, n in enumerate(prob.names) if n in tables}
    return Profile(
        tables=tables,
        forward=fwd,
        backward=bak,
        lower=lower,
        upper=upper,
        optimum=pd.Series(prob.opt, index=prob.names),
        base_deviance=prob.base,
        cutoff=cutoff,
        fit=fit,
        warnings=msgs,
        used=used,
    )


def _monotone_stretch(zeta: np.ndarray, x: np.ndarray, x_hat: float) -> np.ndarray:
    """Rows (sorted by the parameter) of the longest strictly increasing run of ζ through the estimate.

    NaN rows are skipped.  Outside this run the profile is flat or turns back (an
    unidentified direction, or an optimization that stopped in a local minimum), so
    those points are kept in the table but not used to invert ζ.
    """
    ok = np.flatnonzero(np.isfinite(zeta))
    mask = np.zeros(zeta.shape[0], dtype=bool)
    if ok.size == 0:
        return mask
    centre = int(ok[np.argmin(np.abs(x[ok] - x_hat))])
    k = int(np.flatnonzero(ok == centre)[0])
    lo = hi = k
    while hi + 1 < ok.size and zeta[ok[hi + 1]] > zeta[ok[hi]]:
        hi += 1
    while lo - 1 >= 0 and zeta[ok[lo - 1]] < zeta[ok[lo]]:
        lo -= 1
    mask[ok[lo : hi + 1]] = True
    return mask


def _profile_task(shared: tuple[Any, dict[str, Any]], w: int) -> tuple[list[np.ndarray], list[str]]:
    prob, settings = shared
    return _profile_one(prob, settings, w)


def _devdiff(prob: Any, fval: float, settings: dict[str, Any], messages: list[str], where: str) -> float:
    """``d̃(p) − d̂`` with lme4's checks; NaN when the optimization failed."""
    if not np.isfinite(fval) or fval >= FAILED:
        messages.append("NAs detected in profiling")
        return float("nan")
    dd = fval - prob.base
    if dd < -settings["devtol"]:  # smaller decreases are the optimizers' noise
        if dd < -LOWER_DEVIANCE_ERROR:
            raise MixedLMError(
                f"profiling detected a deviance lower than at the estimates by {-dd:.4g} (at {where}): the "
                "fit has not converged to the optimum; refit (e.g. with tighter tolerances or another "
                "optimizer) before profiling"
            )
        messages.append(f"slightly lower deviances (diff={dd:.3g}) detected")
    return max(0.0, dd)


def _signed_root(dd: float, x: float, x_hat: float) -> float:
    if not np.isfinite(dd):
        return float("nan")
    return math.copysign(math.sqrt(dd), x - x_hat) if x != x_hat else 0.0


def _zeta_function(
    prob: Any, settings: dict[str, Any], w: int, messages: list[str]
) -> Callable[[float, np.ndarray], np.ndarray]:
    """``zeta(value, start_row)`` for parameter ``w``: the row ``[ζ, all parameters at the conditional optimum]``.

    ``start_row`` (a row of the same layout) gives the starting values of the other
    parameters (:meth:`ProfileProblem.conditional_optimum`).
    """
    name = prob.names[w]
    pw = float(prob.opt[w])

    def zeta(value: float, start_row: np.ndarray) -> np.ndarray:
        par, fval = prob.conditional_optimum(w, float(value), start_row[1:])
        dd = _devdiff(prob, fval, settings, messages, f"{name} = {value:.6g}")
        return np.concatenate([[_signed_root(dd, value, pw)], par])

    return zeta


def _profile_one(prob: Any, settings: dict[str, Any], w: int) -> tuple[list[np.ndarray], list[str]]:
    """All points of the profile of parameter ``w`` (both directions) and any messages."""
    messages: list[str] = []
    zeta = _zeta_function(prob, settings, w, messages)
    pw = float(prob.opt[w])
    lowcut, upcut = float(prob.lower[w]), float(prob.upper[w])
    walker = _Walker(
        1 + w, lowcut, upcut, settings["delta"], settings["cutoff"], settings["maxpts"], settings["maxmult"]
    )
    opt_row = np.concatenate([[0.0], prob.opt])
    first = zeta(prob.first_value(w, settings["delta"]), opt_row)
    up = walker.fill([opt_row, first], zeta)[1:]
    rows = [opt_row] + _repair(up, zeta, 1 + w)
    if pw > lowcut:
        down = walker.fill([first, opt_row], zeta)[2:]
        rows.extend(_repair(down, zeta, 1 + w))
    return rows, messages + walker.messages


def profile_zeta(fit: MixedFit, parm: str, values: Sequence[float], devtol: float = 1e-6) -> pd.DataFrame:
    """ζ of one parameter at given values, each re-optimized from the estimates.

    Parameters
    ----------
    fit : MixedFit
    parm : str
        Parameter name as in ``confint`` (``"sd_(Intercept)|Subject"``, ``"sigma"``, ``"Days"``).
    values : sequence of float
        Values at which to hold the parameter.

    Returns
    -------
    pandas.DataFrame
        Columns ``.zeta`` and every parameter at the conditional optimum, one row per value.
    """
    prob = fit.profile_problem()
    w = prob.names.index(select_parameters(parm, prob.names, prob.names)[0])
    messages: list[str] = []
    settings = {"devtol": devtol}
    zeta = _zeta_function(prob, settings, w, messages)
    opt_row = np.concatenate([[0.0], prob.opt])
    rows = [zeta(float(v), opt_row) for v in values]
    for m in dict.fromkeys(messages):
        warn_at_caller(m, ConvergenceWarning)
    return pd.DataFrame(np.vstack(rows), columns=[".zeta"] + prob.names)
