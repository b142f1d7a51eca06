"""statsmodels-style linear mixed model: ``MixedLM`` on the ``lmer`` engine.

``MixedLM(endog, exog, groups, exog_re=None, exog_vc=None)`` and
``MixedLM.from_formula(formula, data, groups=, re_formula=None, vc_formula=None)`` take
statsmodels' arguments and give its result layout (``fe_params``, ``cov_re``, ``vcomp``,
``scale``, ``random_effects``, ``llf``, ``bse``, ``summary()``), but the fit is lme4's:

* the ``groups`` / ``exog_re`` part is one correlated random-effects term
  ``(exog_re | groups)``;
* every variance component of ``exog_vc`` / ``vc_formula`` is a scalar term whose levels
  are the (group, column) pairs — each row must have at most one nonzero among a
  component's columns (``0 + C(f)``, ``0 + C(f):x`` and the like);
* the terms go through :func:`mixedlm.design.reterm.build_re_structure`,
  :class:`mixedlm.design.crossprod.CrossProductBuilder` and
  :class:`mixedlm.engines.lmm.LmmObjective` (profiled REML/ML on the blocked Cholesky
  factor), optimized by NLopt BOBYQA with lme4's settings and boundary check.

So crossed designs (a single group with ``vc_formula``) cost what ``lmer`` costs, not what
statsmodels' dense per-group algebra costs.

Quantities, with ``Ψ = cov_re/scale`` and ``V₀ = I + ZΨZᵀ`` (relative covariance):

* ``llf``: the REML (``reml=True``) or ML log-likelihood at the estimates — lme4's ``logLik``,
  equal to statsmodels' ``llf``;
* ``bse`` of the fixed effects: ``sqrt(diag(σ² (XᵀV₀⁻¹X)⁻¹))`` (lme4's ``vcov``);
* ``bse`` of the variance parameters follows statsmodels' definition: ``pcov = (−H)⁻¹``
  with ``H`` the Hessian of the log-likelihood profiled over the scale, in
  ``(fe_params, lower triangle of Ψ, vcomp/scale)``; ``bse = sqrt(diag(pcov))`` and
  ``bse_re = sqrt(scale · diag(pcov))`` (what the summary prints next to the variances —
  statsmodels' mix of scaled estimates and unscaled standard errors, kept for comparability).
  ``H`` is taken by central differences of the profiled
  log-likelihood ``ℓ(β, ψ) = −½[log|V₀| + (REML) log|XᵀV₀⁻¹X| + m(1 + log(2π rᵀV₀⁻¹r/m))]``,
  ``m = n − p`` (REML) or ``n``, evaluated from the factor pieces (``rᵀV₀⁻¹r`` = penalized
  RSS at β̂ plus ``‖R_Xᵀ(β − β̂)‖²``).

Names follow the package's formula layer (``(Intercept)`` → shown as ``Intercept``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from mixedlm.arrays import as_float_array, float_matrix
from mixedlm.design.vcomp import one_nonzero_per_row, vc_from_grouped_arrays, vc_rhs
from mixedlm.errors import ConvergenceWarning, DataError, MixedLMError, warn_at_caller
from mixedlm.statsmodels_style.summary2 import Summary2

__all__ = ["MixedLM", "MixedLMResults"]


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------


def _vector(a: Any, name: str, n: int | None = None) -> np.ndarray:
    arr = as_float_array(a, name)
    arr = arr.reshape(-1) if arr.ndim == 2 and 1 in arr.shape else arr
    if arr.ndim != 1:
        raise DataError(f"{name} must be a vector, not shape {arr.shape}")
    if n is not None and arr.shape[0] != n:
        raise DataError(f"{name} has {arr.shape[0]} values but endog has {n}")
    if not np.all(np.isfinite(arr)):
        raise DataError(f"{name} must be finite (it has NaN or infinite values)")
    return arr


def _group_codes(groups: Any, n: int) -> tuple[np.ndarray, list[Any], str | None]:
    """Integer codes (order of first appearance, as statsmodels) and labels of the groups."""
    name = groups.name if isinstance(groups, pd.Series) else None
    g = pd.Series(np.asarray(groups) if not isinstance(groups, pd.Series) else groups.to_numpy())
    if len(g) != n:
        raise DataError(f"groups has {len(g)} labels but endog has {n} observations")
    if g.isna().any():
        raise DataError("groups has missing values")
    codes, uniques = pd.factorize(g, sort=False)
    return codes.astype(np.int64), list(uniques), None if name is None else str(name)


# --------------------------------------------------------------------------------------
# the model
# --------------------------------------------------------------------------------------


class MixedLM:
    """Linear mixed model with statsmodels' interface, fitted by the ``lmer`` engine.

    Parameters
    ----------
    endog : array_like
        Response, ``(n,)``.
    exog : array_like
        Fixed-effects design ``(n, p)``.
    groups : array_like
        Group label of every observation.
    exog_re : array_like, optional
        Random-effects design within groups ``(n, k_re)``; a random intercept by default.
        Its effects are correlated (one ``k_re × k_re`` covariance ``cov_re``).
    exog_vc : dict, optional
        statsmodels' variance components: ``{name: {group: matrix}}`` where ``matrix`` has
        the rows of that group (in data order) and one column per random effect; every
        effect of a component has the variance ``vcomp[name]``.

    Notes
    -----
    See the module docstring for how the structure maps to lme4 terms.
    """

    def __init__(
        self,
        endog: Any,
        exog: Any,
        groups: Any,
        exog_re: Any = None,
        exog_vc: Any = None,
        *,
        _re_names: Sequence[str] | None = None,
        _vc_designs: Any = None,
    ) -> None:
        self.endog_names = endog.name if isinstance(endog, pd.Series) and endog.name is not None else "y"
        y = _vector(endog, "endog")
        n = y.shape[0]
        if n == 0:
            raise DataError("endog is empty")
        X, xnames = float_matrix(exog, "exog", n)
        codes, labels, gname = _group_codes(groups, n)
        self.endog = y
        self.exog = X
        self.exog_names = xnames or [f"x{i + 1}" if i else "const" for i in range(X.shape[1])]
        self.group_codes = codes
        self.group_labels = labels
        self.group_name = gname or "Group"
        if exog_re is None:
            Zre, rnames = np.ones((n, 1)), None
            rnames = [self.group_name]
        elif isinstance(exog_re, (int, float)) and exog_re == 0:
            Zre, rnames = np.zeros((n, 0)), []
        else:
            Zre, rnames = float_matrix(exog_re, "exog_re", n)
            if rnames is None:
                rnames = (
                    [self.group_name] + [f"Z{i + 1}" for i in range(1, Zre.shape[1])]
                    if Zre.shape[1] and np.all(Zre[:, 0] == 1.0)
                    else [f"Z{i + 1}" for i in range(Zre.shape[1])]
                )
        if _re_names is not None:
            rnames = list(_re_names)
        self.exog_re = Zre
        self.exog_re_names = list(rnames)
        # variance components -> (name, per-row column index, value, column names)
        if _vc_designs is not None:
            components = list(_vc_designs)
        elif exog_vc is not None:
            components = vc_from_grouped_arrays(exog_vc, codes, labels)
        else:
            components = []
        self._vc: list[tuple[str, np.ndarray, np.ndarray, list[str]]] = []
        for comp in components:
            col, val = one_nonzero_per_row(comp.Z, comp.name)
            self._vc.append((comp.name, col, val, list(comp.column_names)))
        self.k_fe = X.shape[1]
        self.k_re = Zre.shape[1]
        self.k_vc = len(self._vc)
        if self.k_re == 0 and self.k_vc == 0:
            raise MixedLMError(
                "the model has no random effects: give exog_re (or leave it None for a random "
                "intercept) or variance components"
            )
        self.formula: str | None = None

    # --------------------------------------------------------------- formulas
    @classmethod
    def from_formula(
        cls,
        formula: str,
        data: pd.DataFrame,
        groups: Any = None,
        re_formula: str | None = None,
        vc_formula: dict[str, str] | None = None,
        subset: Any = None,
        **kwargs: Any,
    ) -> MixedLM:
        """statsmodels' formula interface.

        Parameters
        ----------
        formula : str
            Fixed part, ``"Reaction ~ Days"``.
        data : pandas.DataFrame
        groups : str or array_like
            Column name (or labels) of the groups; for crossed models give a constant column.
        re_formula : str, optional
            Random-effects design within groups (``"~Days"`` = intercept and slope,
            ``"~0 + Days"``); ``None`` = random intercept; ``"0"`` / ``"~0"`` = none.
        vc_formula : dict, optional
            ``{name: "0 + C(f)"}`` variance components (within groups).
        subset : array_like of bool, optional
            Rows to use.

        Returns
        -------
        MixedLM
        """
        from mixedlm.design.frame import as_pandas_frame, build_model_frame
        from mixedlm.formula.parser import parse_formula

        if kwargs:
            raise MixedLMError(f"unsupported arguments: {sorted(kwargs)}")
        data = as_pandas_frame(data)
        if groups is None:
            raise MixedLMError(
                "groups is required: a column name or one label per row (use a constant "
                "column for crossed models with vc_formula)"
            )
        gname = None
        if isinstance(groups, str):
            if groups not in data.columns:
                raise MixedLMError(f"groups={groups!r} is not a column of data")
            gname = groups
            group_vector = data[groups]
        else:
            group_vector = groups
        parsed = parse_formula(formula, require_random=False)
        if parsed.random:
            raise MixedLMError(
                "MixedLM formulas have no (x | g) terms: give groups=, re_formula= and "
                "vc_formula=, or use mlm.lmer() with lme4's syntax"
            )
        re_rhs = None
        if re_formula is not None:
            re_rhs = vc_rhs(re_formula)
            if re_rhs.strip() in ("0", "-1", "0 + 0"):
                re_rhs = "0"
        extra = {} if re_rhs in (None, "0") else {"re_formula": re_rhs}
        frame = build_model_frame(
            parsed,
            data,
            allow_nlev_equal_nobs=True,
            subset=subset,
            vc_formulas=dict(vc_formula or {}),
            extra_rhs=extra,
            row_vectors={"groups": group_vector},
        )
        if np.any(frame.offset != 0):
            raise MixedLMError("offsets are not supported by MixedLM.from_formula")
        n = frame.n
        if re_rhs is None:
            Zre = np.ones((n, 1))
            rnames = [gname or "Group"]
        elif re_rhs == "0":
            Zre = np.zeros((n, 0))
            rnames = []
        else:
            design, Zre = frame.extra["re_formula"]
            rnames = [(gname or "Group") if c == "(Intercept)" else c for c in design.column_names]
        yname = parsed.response or "y"
        model = cls(
            pd.Series(np.asarray(frame.y, dtype=np.float64), name=yname),
            pd.DataFrame(np.asarray(frame.X), columns=list(frame.X_names)),
            pd.Series(frame.row_vectors["groups"], name=gname),
            exog_re=Zre if Zre.shape[1] else 0,
            _re_names=rnames,
            _vc_designs=frame.vc,
        )
        model.formula = formula
        model.data = data
        return model

    # --------------------------------------------------------------- design
    def _terms(self) -> list[Any]:
        """lme4 term inputs: ``(exog_re | groups)`` and one scalar term per variance component."""
        from mixedlm.design.reterm import TermInput

        inputs = []
        glev = [str(x) for x in self.group_labels]
        if self.k_re:
            inputs.append(
                TermInput(
                    group=self.group_name,
                    codes=self.group_codes,
                    levels=glev,
                    Z=np.ascontiguousarray(self.exog_re),
                    colnames=list(self.exog_re_names),
                    correlated=True,
                )
            )
        used = {self.group_name}
        self._vc_levels: list[list[tuple[int, int]]] = []
        for name, col, val, cnames in self._vc:
            width = max(len(cnames), int(col.max()) + 1 if col.size else 0, 1)
            key = np.where(col >= 0, self.group_codes * width + col, -1)
            uniq, codes = np.unique(key, return_inverse=True)
            levels = [(int(u // width), int(u % width)) if u >= 0 else (-1, -1) for u in uniq]
            self._vc_levels.append(levels)
            term_name = name if name not in used else f"{name}.vc"
            used.add(term_name)
            labels = [f"{glev[g]}:{cnames[c] if c < len(cnames) else c}" if g >= 0 else "(none)" for g, c in levels]
            inputs.append(
                TermInput(
                    group=term_name,
                    codes=codes.astype(np.int64).ravel(),
                    levels=labels,
                    Z=val[:, None].copy(),
                    colnames=["(Intercept)"],
                    correlated=True,
                )
            )
        return inputs

    def fit(self, reml: bool = True, control: Any = None, **kwargs: Any) -> MixedLMResults:
        """Fit by REML (default) or ML with the ``lmer`` engine.

        Parameters
        ----------
        reml : bool
        control : LmerControl, optional
            Optimizer and tolerances (lme4's defaults).
        **kwargs
            statsmodels' optimizer arguments (``method``, ``maxiter``, …) are accepted and
            ignored with a warning: the fit uses lme4's profiled criterion and optimizer.

        Returns
        -------
        MixedLMResults
        """
        from mixedlm.design.crossprod import CrossProductBuilder
        from mixedlm.design.reterm import build_re_structure
        from mixedlm.engines.lmm import LmmObjective, moment_start
        from mixedlm.fitting.control import LmerControl
        from mixedlm.fitting.lmm import minimize_theta
        from mixedlm.threads import blas_threads

        if kwargs:
            warn_at_caller(
                f"MixedLM.fit ignores {sorted(kwargs)}: it uses lme4's profiled criterion and "
                "optimizer (pass control=mlm.LmerControl(...) to change them)",
                UserWarning,
            )
        control = control or LmerControl()
        n, p = self.exog.shape
        if n <= p:
            raise DataError(f"{n} observations are not enough for {p} fixed-effect coefficients")
        re = build_re_structure(self._terms())
        builder = CrossProductBuilder(re.terms)
        A = builder.build(self.exog, self.endog, None)
        with blas_threads(control.blas_threads):
            obj = LmmObjective(re, A, reml=bool(reml), engine=control.engine)
            ms = moment_start(re, self.endog)
            theta0 = ms if ms is not None else re.default_start()
            opt = minimize_theta(obj, theta0, re.lower, control, keep_log=False)
            theta = np.array(opt.final, dtype=np.float64)
            sol = obj.solution(theta)
        if not opt.converged:
            warn_at_caller(
                f"MixedLM: optimizer {opt.optimizer} stopped without convergence ({opt.message})", ConvergenceWarning
            )
        return MixedLMResults(self, re, obj, theta, sol, bool(reml), opt)

    def __repr__(self) -> str:
        return (
            f"<MixedLM: n={self.endog.shape[0]}, {self.k_fe} fixed effects, {len(self.group_labels)} "
            f"groups, k_re={self.k_re}, k_vc={self.k_vc}>"
        )


# --------------------------------------------------------------------------------------
# results
# --------------------------------------------------------------------------------------


class MixedLMResults:
    """Fitted :class:`MixedLM` with statsmodels' attribute names.

    Attributes
    ----------
    fe_params : pandas.Series
        Fixed effects.
    cov_re : pandas.DataFrame
        Covariance of the ``exog_re`` random effects (in the response's units²).
    vcomp : numpy.ndarray
        Variance of each variance component.
    scale : float
        Residual variance σ².
    llf : float
        (REML) log-likelihood.
    bse, bse_fe, bse_re : pandas.Series
        Standard errors (see the module docstring for the variance parameters).
    random_effects : dict
        Group label → Series of predicted random effects (``exog_re`` names, then
        ``"<component>[<column>]"``).
    converged : bool
    method : str
        ``"REML"`` or ``"ML"``.
    """

    def __init__(
        self, model: MixedLM, re: Any, objective: Any, theta: np.ndarray, sol: Any, reml: bool, opt: Any
    ) -> None:
        self.model = model
        self._re = re
        self._obj = objective
        self.theta = theta
        self._sol = sol
        self.reml = reml
        self.method = "REML" if reml else "ML"
        self.converged = bool(opt.converged)
        self.opt = opt
        m = model
        s2 = float(sol.sigma) ** 2
        self.scale = s2
        fe_names = [("Intercept" if c == "(Intercept)" else c) for c in m.exog_names]
        self._fe_names = fe_names
        self.fe_params = pd.Series(sol.beta.copy(), index=fe_names)
        self.k_fe, self.k_re, self.k_vc = m.k_fe, m.k_re, m.k_vc
        self.k_re2 = m.k_re * (m.k_re + 1) // 2
        terms = {t.group: (i, t) for i, t in enumerate(re.terms)}
        if m.k_re:
            _, tg = terms[m.group_name]
            T = tg.template(theta)
            self._psi = T @ T.T
        else:
            self._psi = np.zeros((0, 0))
        self.cov_re = pd.DataFrame(s2 * self._psi, index=m.exog_re_names, columns=m.exog_re_names)
        self._vc_terms = []
        used = {m.group_name}
        rel = []
        for name, *_ in m._vc:
            tn = name if name not in used else f"{name}.vc"
            used.add(tn)
            self._vc_terms.append(tn)
            _, t = terms[tn]
            rel.append(float(t.template(theta)[0, 0] ** 2))
        self._vc_rel = np.array(rel)
        self.vcomp = s2 * self._vc_rel
        self.llf = -0.5 * float(sol.objective)
        self.nobs = int(m.endog.shape[0])
        self.n_groups = len(m.group_labels)
        self._vcov = sol.vcov_beta
        self.bse_fe = pd.Series(np.sqrt(np.diag(self._vcov)), index=fe_names)
        self._pcov: np.ndarray | None = None

    # ------------------------------------------------------------ names
    @property
    def _re_param_names(self) -> list[str]:
        names = []
        rn = self.model.exog_re_names
        for i in range(self.k_re):
            for j in range(i + 1):
                names.append(f"{rn[i]} Var" if i == j else f"{rn[j]} x {rn[i]} Cov")
        return names + [f"{nm} Var" for nm, *_ in self.model._vc]

    @property
    def params(self) -> pd.Series:
        """statsmodels' packed parameters: fixed effects, ``cov_re/scale`` (lower triangle), ``vcomp/scale``."""
        il = [(i, j) for i in range(self.k_re) for j in range(i + 1)]
        vals = np.concatenate([self.fe_params.to_numpy(), [self._psi[i, j] for i, j in il], self._vc_rel])
        return pd.Series(vals, index=self._fe_names + self._re_param_names)

    # ------------------------------------------------------------ standard errors
    def _profile_loglik_factory(self) -> tuple[Any, np.ndarray]:
        """``ℓ(β, ψ)`` profiled over the scale, and the point ``(β̂, ψ̂)`` (module docstring)."""
        from scipy.linalg import lapack

        obj, re = self._obj, self._re
        n, p = obj.n, obj.p
        k_re = self.k_re
        il = [(i, j) for i in range(k_re) for j in range(i + 1)]
        terms = {t.group: t for t in re.terms}
        gterm = terms.get(self.model.group_name) if k_re else None
        vterms = [terms[tn] for tn in self._vc_terms]
        reml = self.reml

        def theta_of(psi: np.ndarray) -> np.ndarray | None:
            th = np.zeros(re.n_theta)
            if k_re:
                P = np.zeros((k_re, k_re))
                for (i, j), v in zip(il, psi[: len(il)]):
                    P[i, j] = P[j, i] = v
                try:
                    T = np.linalg.cholesky(P)
                except np.linalg.LinAlgError:
                    return None
                th[gterm.theta_index] = T[gterm.tri_rows, gterm.tri_cols]
            for t, v in zip(vterms, psi[len(il) :]):
                if v < 0:
                    return None
                th[t.theta_index] = math.sqrt(v)
            return th

        def loglik(x: np.ndarray) -> float:
            beta, psi = x[:p], x[p:]
            th = theta_of(psi)
            if th is None:
                return math.nan
            pieces = obj._pieces(th)
            if pieces is None:
                return math.nan
            ldL2, ldRX2, pwrss = pieces
            LXX = obj.factor.fixed_factor()
            RX = np.tril(LXX[:p, :p])
            bhat = lapack.dtrtrs(np.asfortranarray(RX), LXX[p, :p].copy(), lower=1, trans=1)[0] if p else beta
            rss = pwrss + float(np.sum((RX.T @ (beta - bhat)) ** 2)) if p else pwrss
            m = n - p if reml else n
            val = ldL2 + m * (1.0 + math.log(2.0 * math.pi * rss / m))
            if reml:
                val += ldRX2
            return -0.5 * val

        x0 = np.concatenate([self.fe_params.to_numpy(), [self._psi[i, j] for i, j in il], self._vc_rel])
        return loglik, x0

    def _param_cov(self) -> np.ndarray:
        """``pcov = (−H)⁻¹`` of the profiled log-likelihood (statsmodels' ``cov_params``).

        ``H`` by central differences in two passes: steps ``10⁻³ × max(|x|, 0.05 max ψ_ii)``
        give rough standard errors, then steps of 1% of each standard error (well inside the
        curvature scale, well above rounding) give the reported Hessian.
        """
        if self._pcov is not None:
            return self._pcov
        f, x0 = self._profile_loglik_factory()
        d = x0.shape[0]
        p = self.k_fe
        scale_psi = max(float(np.max(np.abs(x0[p:]))) if d > p else 1.0, 1e-8)
        typical = np.concatenate(
            [np.maximum(np.abs(x0[:p]), self.bse_fe.to_numpy()), np.maximum(np.abs(x0[p:]), 0.05 * scale_psi)]
        )
        h = 1e-3 * typical
        pcov = self._fd_pcov(f, x0, h)
        se = np.sqrt(np.abs(np.diag(pcov)))
        h2 = np.where(np.isfinite(se) & (se > 0), 0.01 * se, h)
        pcov2 = self._fd_pcov(f, x0, h2)
        self._pcov = np.where(np.isfinite(pcov2), pcov2, pcov)
        return self._pcov

    @staticmethod
    def _fd_pcov(f: Any, x0: np.ndarray, h: np.ndarray) -> np.ndarray:
        d = x0.shape[0]
        f0 = f(x0)
        H = np.full((d, d), np.nan)
        for i in range(d):
            ei = np.zeros(d)
            ei[i] = h[i]
            H[i, i] = (f(x0 + ei) - 2 * f0 + f(x0 - ei)) / h[i] ** 2
            for j in range(i):
                ej = np.zeros(d)
                ej[j] = h[j]
                v = (f(x0 + ei + ej) - f(x0 + ei - ej) - f(x0 - ei + ej) + f(x0 - ei - ej)) / (4 * h[i] * h[j])
                H[i, j] = H[j, i] = v
        good = np.all(np.isfinite(H), axis=0)
        pcov = np.full((d, d), np.nan)
        if good.any():
            ii = np.flatnonzero(good)
            try:
                pcov[np.ix_(ii, ii)] = np.linalg.inv(-H[np.ix_(ii, ii)])
            except np.linalg.LinAlgError:
                pass
        return pcov

    @property
    def bse_re(self) -> pd.Series:
        """SEs of the variance parameters as statsmodels reports them: ``sqrt(scale · diag(pcov))``."""
        pc = self._param_cov()
        p = self.k_fe
        with np.errstate(invalid="ignore"):
            return pd.Series(np.sqrt(self.scale * np.diag(pc)[p:]), index=self._re_param_names)

    @property
    def bse(self) -> pd.Series:
        """Fixed-effect SEs (lme4's) followed by ``sqrt(diag(pcov))`` of the variance parameters."""
        pc = self._param_cov()
        p = self.k_fe
        with np.errstate(invalid="ignore"):
            vre = np.sqrt(np.diag(pc)[p:])
        return pd.Series(np.concatenate([self.bse_fe.to_numpy(), vre]), index=self._fe_names + self._re_param_names)

    def cov_params(self) -> pd.DataFrame:
        """Covariance of the fixed effects (lme4's ``vcov``)."""
        return pd.DataFrame(self._vcov, index=self._fe_names, columns=self._fe_names)

    @property
    def tvalues(self) -> pd.Series:
        """``fe_params / bse_fe``."""
        return self.fe_params / self.bse_fe

    @property
    def pvalues(self) -> pd.Series:
        """Two-sided normal p-values of the fixed effects."""
        from scipy.stats import norm

        return pd.Series(2 * norm.sf(np.abs(self.tvalues.to_numpy())), index=self._fe_names)

    def conf_int(self, alpha: float = 0.05) -> pd.DataFrame:
        """Wald intervals of the fixed effects."""
        from scipy.stats import norm

        q = -norm.ppf(alpha / 2)
        return pd.DataFrame({0: self.fe_params - q * self.bse_fe, 1: self.fe_params + q * self.bse_fe})

    @property
    def aic(self) -> float:
        """AIC (NaN for REML fits, as statsmodels)."""
        if self.reml:
            return math.nan
        return -2 * self.llf + 2 * (self.k_fe + self.k_re2 + self.k_vc + 1)

    @property
    def bic(self) -> float:
        """BIC (NaN for REML fits, as statsmodels)."""
        if self.reml:
            return math.nan
        return -2 * self.llf + math.log(self.nobs) * (self.k_fe + self.k_re2 + self.k_vc + 1)

    # ------------------------------------------------------------ random effects
    @property
    def random_effects(self) -> dict[Any, pd.Series]:
        """Predicted random effects per group (``exog_re`` effects, then variance components)."""
        m = self.model
        terms = {t.group: (i, t) for i, t in enumerate(self._re.terms)}
        out: dict[Any, pd.Series] = {}
        per_group: list[list[tuple[str, float]]] = [[] for _ in m.group_labels]
        if m.k_re:
            k, _ = terms[m.group_name]
            b = self._sol.b[k]
            for g in range(len(m.group_labels)):
                per_group[g].extend(zip(m.exog_re_names, b[g]))
        for (name, _col, _val, cnames), tn, levels in zip(m._vc, self._vc_terms, m._vc_levels):
            k, _ = terms[tn]
            b = self._sol.b[k][:, 0]
            for lev, (g, c) in enumerate(levels):
                if g < 0:
                    continue
                cn = cnames[c] if c < len(cnames) else str(c)
                per_group[g].append((f"{name}[{cn}]", float(b[lev])))
        for g, lab in enumerate(m.group_labels):
            names = [a for a, _ in per_group[g]]
            out[lab] = pd.Series([v for _, v in per_group[g]], index=names, dtype=np.float64)
        return out

    @property
    def fittedvalues(self) -> np.ndarray:
        """Fitted values ``Xβ̂ + Zb̂``."""
        m = self.model
        eta = m.exog @ self._sol.beta
        for k, t in enumerate(self._re.terms):
            eta = eta + np.einsum("ns,ns->n", t.Z, self._sol.b[k][t.codes])
        return eta

    @property
    def resid(self) -> np.ndarray:
        """Residuals ``y − fitted``."""
        return self.model.endog - self.fittedvalues

    # ------------------------------------------------------------ summary
    def summary(self, alpha: float = 0.05) -> Summary2:
        """statsmodels' "Mixed Linear Model Regression Results" table."""
        from scipy.stats import norm

        m = self.model
        sizes = np.bincount(m.group_codes)
        info = [
            ("Model:", "MixedLM"),
            ("No. Observations:", str(self.nobs)),
            ("No. Groups:", str(self.n_groups)),
            ("Min. group size:", f"{sizes.min():.0f}"),
            ("Max. group size:", f"{sizes.max():.0f}"),
            ("Mean group size:", f"{sizes.mean():.1f}"),
            ("Dependent Variable:", str(m.endog_names)),
            ("Method:", self.method),
            ("Scale:", f"{self.scale:.4f}"),
            ("Log-Likelihood:", f"{self.llf:.4f}"),
            ("Converged:", "Yes" if self.converged else "No"),
        ]
        q = -norm.ppf(alpha / 2)
        rows = []
        fe, se = self.fe_params.to_numpy(), self.bse_fe.to_numpy()
        for i, name in enumerate(self._fe_names):
            z = fe[i] / se[i]
            rows.append((name, [fe[i], se[i], z, 2 * norm.sf(abs(z)), fe[i] - q * se[i], fe[i] + q * se[i]]))
        bre = self.bse_re.to_numpy()
        jj = 0
        for i in range(self.k_re):
            for j in range(i + 1):
                rows.append((self._re_param_names[jj], [float(self.cov_re.iloc[i, j]), bre[jj]] + [math.nan] * 4))
                jj += 1
        for v in self.vcomp:
            rows.append((self._re_param_names[jj], [float(v), bre[jj]] + [math.nan] * 4))
            jj += 1
        cols = ["Coef.", "Std.Err.", "z", "P>|z|", f"[{alpha / 2}", f"{1 - alpha / 2}]"]
        table = pd.DataFrame(
            [[("" if not np.isfinite(x) else f"{x:.3f}") for x in vals] for _, vals in rows],
            index=[nm for nm, _ in rows],
            columns=cols,
        )
        return Summary2("Mixed Linear Model Regression Results", table, info=info)

    def __repr__(self) -> str:
        return f"<MixedLMResults {self.method}: llf = {self.llf:.4f}>"
