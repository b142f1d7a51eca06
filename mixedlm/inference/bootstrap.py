"""Parametric bootstrap of a fitted mixed model (lme4's ``bootMer``) and bootstrap intervals.

Replicate ``r = 1..R``: simulate a response from the fitted model
(:func:`mixedlm.inference.simulate.simulate_response`; by default every random effect
is drawn anew, lme4's ``use.u = FALSE``), refit the same design to it with
``fit.refit`` (nothing is re-parsed; the optimizer starts from the original
estimates) and record ``t*_r = func(refit)``.  ``t0 = func(fit)``.

Reproducibility: the seed is turned into a :class:`numpy.random.SeedSequence` and
replicate ``r`` draws from its own child ``SeedSequence.spawn(R)[r]``, so the
replicates do not depend on ``n_jobs`` or on the order in which they finish.

Intervals (``BootResult.confint``, as ``boot::boot.ci`` which lme4's
``confint(<bootMer>)`` calls), on the finite replicates ``t*`` of each statistic:

* ``"perc"``: ``[q(α/2), q(1−α/2)]`` where ``q(a)`` is the ``(R+1)a``-th order
  statistic, interpolated on the normal-quantile scale between neighbours when
  ``(R+1)a`` is not an integer (``boot``'s ``norm.inter``);
* ``"basic"``: ``[2 t0 − q(1−α/2), 2 t0 − q(α/2)]``;
* ``"norm"``: ``t0 − b ∓ z_{1−α/2} s`` with bias ``b = mean(t*) − t0`` and ``s`` the
  standard deviation of ``t*``.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from mixedlm.errors import MixedLMError, warn_at_caller
from mixedlm.inference.intervals import perc_labels
from mixedlm.inference.parallel import ProgressBar, parallel_map
from mixedlm.results.interface import MixedFit

# ---------------------------------------------------------------------------------------
# bootstrap intervals (boot::boot.ci)
# ---------------------------------------------------------------------------------------


def _norm_inter(t: np.ndarray, alpha: np.ndarray) -> tuple[np.ndarray, bool]:
    """``boot``'s ``norm.inter``: quantiles of ``t`` at ``alpha`` interpolated on the normal scale.

    Returns the quantiles and whether extreme order statistics were used as endpoints.
    """
    t = np.sort(t[np.isfinite(t)])
    R = t.shape[0]
    alpha = np.asarray(alpha, dtype=np.float64)
    if R == 0:
        return np.full(alpha.shape, np.nan), False
    rk = (R + 1) * alpha
    extreme = not bool(np.all((rk > 1) & (rk < R)))
    k = np.trunc(rk).astype(np.int64)
    out = np.empty(alpha.shape)
    for m in range(alpha.shape[0]):
        km = int(k[m])
        if km == 0:
            out[m] = t[0]
        elif km >= R:
            out[m] = t[R - 1]
        elif km == rk[m]:
            out[m] = t[km - 1]
        else:
            z1 = stats.norm.ppf(alpha[m])
            z2 = stats.norm.ppf(km / (R + 1))
            z3 = stats.norm.ppf((km + 1) / (R + 1))
            out[m] = t[km - 1] + (z1 - z2) / (z3 - z2) * (t[km] - t[km - 1])
    return out, extreme


def boot_ci(t0: float, t: np.ndarray, level: float = 0.95, type: str = "perc") -> tuple[float, float]:
    """One bootstrap interval, as ``boot::boot.ci(type = "perc" | "basic" | "norm")``; see the module docstring."""
    kind = check_boot_type(type)
    t = np.asarray(t, dtype=np.float64)
    t = t[np.isfinite(t)]
    if kind == "norm":
        if t.shape[0] < 2:
            return float("nan"), float("nan")
        bias = float(np.mean(t)) - t0
        merr = float(np.std(t, ddof=1)) * stats.norm.ppf((1 + level) / 2)
        return t0 - bias - merr, t0 - bias + merr
    alpha = np.array([(1 - level) / 2, (1 + level) / 2])
    q, extreme = _norm_inter(t, alpha)
    if extreme:
        warn_at_caller("extreme order statistics used as endpoints", UserWarning)
    if kind == "perc":
        return float(q[0]), float(q[1])
    return float(2 * t0 - q[1]), float(2 * t0 - q[0])


def check_boot_type(type: str) -> str:
    table = {"perc": "perc", "percentile": "perc", "basic": "basic", "norm": "norm", "normal": "norm"}
    if type not in table:
        raise MixedLMError(f"boot_type must be 'perc' (percentile), 'basic' or 'norm' (normal), not {type!r}")
    return table[type]


# ---------------------------------------------------------------------------------------
# the bootstrap
# ---------------------------------------------------------------------------------------


@dataclass
class BootResult:
    """Result of :func:`bootMer` (lme4's ``bootMer`` / ``boot`` object).

    Attributes
    ----------
    t0 : pandas.Series
        The statistic on the fitted model.
    t : pandas.DataFrame
        One row per replicate (NaN rows for replicates whose refit failed).
    nsim : int
    seed : int or None
        Entropy of the :class:`numpy.random.SeedSequence` the replicates derive from
        (pass it back as ``seed`` to reproduce them).
    type : str
        ``"parametric"`` or ``"semiparametric"``.
    warnings : dict of str to int
        Warnings and messages raised by the refits (singular fits, convergence), with counts.
    errors : dict of str to int
        Errors of failed refits, with counts.
    elapsed : float
        Wall seconds.
    """

    t0: pd.Series
    t: pd.DataFrame
    nsim: int
    seed: Any
    type: str = "parametric"
    warnings: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    elapsed: float = 0.0

    @property
    def n_failed(self) -> int:
        """Number of replicates whose refit failed."""
        return int(sum(self.errors.values()))

    def confint(self, parm: Sequence[str] | str | None = None, level: float = 0.95, type: str = "perc") -> pd.DataFrame:
        """Bootstrap confidence intervals (``"perc"``, ``"basic"`` or ``"norm"``); see the module docstring."""
        if not 0 < level < 1:
            raise MixedLMError(f"level must be between 0 and 1, not {level!r}")
        names = list(self.t0.index)
        if parm is not None:
            wanted = [parm] if isinstance(parm, str) else list(parm)
            unknown = [p for p in wanted if p not in names]
            if unknown:
                raise MixedLMError(f"unknown parameter(s) {unknown}; valid names: {names}")
            names = [n for n in names if n in set(wanted)]

        rows = [boot_ci(float(self.t0[n]), self.t[n].to_numpy(), level, type) for n in names]
        return pd.DataFrame(rows, index=names, columns=perc_labels(level))

    def summary(self) -> pd.DataFrame:
        """``original``, ``bias`` (mean(t*) − t0) and ``std. error`` per statistic (as ``print(<boot>)``)."""
        t = self.t.to_numpy()
        mean = np.nanmean(t, axis=0) if t.size else np.full(len(self.t0), np.nan)
        sd = np.nanstd(t, axis=0, ddof=1) if t.shape[0] > 1 else np.full(len(self.t0), np.nan)
        return pd.DataFrame(
            {"original": self.t0.to_numpy(), "bias": mean - self.t0.to_numpy(), "std. error": sd}, index=self.t0.index
        )

    def __repr__(self) -> str:
        fails = f", {self.n_failed} failed" if self.n_failed else ""
        return f"<BootResult: {self.type} bootstrap, {self.nsim} replicates{fails}, statistics {list(self.t0.index)}>"


def _as_vector(value: Any, names: list[str] | None = None) -> tuple[np.ndarray, list[str]]:
    """A 1-D float array and names from a scalar, array, Series or dict."""
    if isinstance(value, dict):
        value = pd.Series(value)
    if isinstance(value, pd.Series):
        return value.to_numpy(dtype=np.float64), [str(i) for i in value.index]
    arr = np.atleast_1d(np.asarray(value, dtype=np.float64)).ravel()
    return arr, names if names is not None else [f"t{i + 1}" for i in range(arr.shape[0])]


def _replicate(shared: dict[str, Any], r: int) -> tuple[np.ndarray | None, list[str], str | None]:
    """Simulate, refit and evaluate ``func`` for replicate ``r``; returns (values, warnings, error)."""
    fit = shared["fit"]
    rng = np.random.default_rng(shared["children"][r])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            if shared["type"] == "parametric":
                y = fit.simulate_response(rng, shared["conditioned"])
            else:
                fitted, resid = shared["fitted"], shared["resid"]
                y = fitted + rng.choice(resid, size=resid.shape[0], replace=True)
            new = fit.refit(y, control=shared["control"])
            vals, _ = _as_vector(shared["func"](new))
            err = None
        except Exception as exc:  # a failed replicate is recorded, as lme4's bootMer does
            vals, err = None, f"{type(exc).__name__}: {exc}"
    msgs = [str(w.message).splitlines()[0] for w in caught]
    return vals, msgs, err


def bootMer(
    fit: MixedFit,
    func: Callable[[MixedFit], Any],
    nsim: int = 1,
    seed: Any = None,
    use_u: bool = False,
    re_form: Any = None,
    type: str = "parametric",
    n_jobs: int = 1,
    progress: bool | None = None,
    calc_derivs: bool = False,
    backend: str = "processes",
) -> BootResult:
    """Model-based bootstrap of a fitted mixed model (lme4's ``bootMer``); see the module docstring.

    Parameters
    ----------
    fit : MixedFit
        A fitted model.
    func : callable
        ``func(fitted_model)`` → number, array, Series or dict (e.g. ``lambda m: m.fixef()``).
    nsim : int
        Number of replicates.
    seed : int or numpy.random.SeedSequence, optional
        Makes the replicates reproducible (independently of ``n_jobs``).
    use_u, re_form :
        Which random effects are kept at their conditional modes when simulating
        (see :func:`mixedlm.inference.simulate.simulate`); default: none (new draws).
    type : {"parametric", "semiparametric"}
        Parametric: responses simulated from the model.  Semiparametric (lme4; needs
        ``use_u=True``): fitted values plus residuals resampled with replacement.
    n_jobs : int
        Parallel replicates (``-1``: one per core).  Results do not depend on it.
    progress : bool, optional
        Show a tqdm progress bar (needs tqdm); None: only when the loop is predicted
        to take more than a few seconds and tqdm is installed.
    calc_derivs : bool
        Let GLMM refits use the finite-difference Hessian of the deviance (lme4's
        ``calc.derivs``) when ``func`` asks for ``vcov()`` / standard errors — about 50
        extra deviance evaluations per replicate.  False (default): a replicate's
        ``vcov()`` is the conditional ``(R_XᵀR_X)⁻¹`` covariance; estimates are unaffected.
        (Linear mixed models' standard errors never need it.)
    backend : {"processes", "threads"}
        How ``n_jobs > 1`` runs (see :func:`parallel_map`).

    Returns
    -------
    BootResult
    """
    from mixedlm.inference.simulate import conditioned_groups

    if isinstance(nsim, bool) or not isinstance(nsim, (int, np.integer)) or nsim < 1:
        raise MixedLMError(f"nsim must be a positive integer, not {nsim!r}")
    if not callable(func):
        raise MixedLMError("func must be a function of a fitted model, e.g. lambda m: m.fixef()")
    if type not in ("parametric", "semiparametric"):
        raise MixedLMError(f"type must be 'parametric' or 'semiparametric', not {type!r}")
    t_start = time.perf_counter()
    t0_vals, t0_names = _as_vector(func(fit))
    if isinstance(seed, np.random.SeedSequence):
        ss = seed
    elif seed is None or isinstance(seed, (int, np.integer)):
        ss = np.random.SeedSequence(None if seed is None else int(seed))
    else:
        raise MixedLMError(f"seed must be None, an integer or a numpy SeedSequence, not {seed!r}")
    children = ss.spawn(int(nsim))
    shared: dict[str, Any] = {"fit": fit, "func": func, "children": children, "type": type}
    shared["control"] = fit.control if calc_derivs else replace(fit.control, calc_derivs=False)
    if type == "parametric":
        shared["conditioned"] = conditioned_groups(fit, re_form, use_u)
    else:
        if re_form is not None:
            raise MixedLMError("re_form cannot be used with semiparametric bootstrapping")
        if not use_u:
            raise MixedLMError("semiparametric bootstrapping needs use_u=True (as lme4)")
        if fit.isGLMM():
            warn_at_caller("semiparametric bootstrapping is questionable for GLMMs", UserWarning)
        y, _ = fit.model_response()
        shared["fitted"] = np.asarray(fit.fitted_values, dtype=np.float64)
        shared["resid"] = np.asarray(y, dtype=np.float64) - shared["fitted"]

    bar = ProgressBar(int(nsim), progress, desc="bootstrap", unit="fit")
    results = parallel_map(
        _replicate,
        range(int(nsim)),
        n_jobs=n_jobs,
        shared=shared,
        backend=backend,
        on_result=lambda i, res: bar.update(),
    )
    bar.close()

    k = t0_vals.shape[0]
    T = np.full((int(nsim), k), np.nan)
    warn_counts: dict[str, int] = {}
    err_counts: dict[str, int] = {}
    for r, (vals, msgs, err) in enumerate(results):
        for m in msgs:
            warn_counts[m] = warn_counts.get(m, 0) + 1
        if err is not None:
            err_counts[err] = err_counts.get(err, 0) + 1
            continue
        if vals is None or vals.shape[0] != k:
            msg = f"func returned {0 if vals is None else vals.shape[0]} values on a replicate, {k} on the fit"
            err_counts[msg] = err_counts.get(msg, 0) + 1
            continue
        T[r] = vals
    n_fail = sum(err_counts.values())
    if n_fail:
        warn_at_caller(f"some bootstrap runs failed ({n_fail}/{nsim})", UserWarning)
    return BootResult(
        t0=pd.Series(t0_vals, index=t0_names),
        t=pd.DataFrame(T, columns=t0_names),
        nsim=int(nsim),
        seed=ss.entropy,
        type=type,
        warnings=warn_counts,
        errors=err_counts,
        elapsed=time.perf_counter() - t_start,
    )
