"""Accessors shared by every fitted mixed model (linear and generalized).

A fit is a converged θ and β plus the design they belong to; β̂, the conditional
modes ``b`` and the covariance of β̂ are supplied by the subclass.  Everything
here is lme4's vocabulary: ``fixef``, ``ranef``, ``coef``, ``VarCorr``,
``ngrps``, ``isSingular``, ``predict``.  Nothing in here optimizes.
"""

from __future__ import annotations

import math
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from mixedlm.errors import MixedLMError, warn_at_caller

#: Finite-difference step of the Richardson derivatives at the optimum, in standard errors per parameter.
HESSIAN_STEP = 5e-3


def _settings_ok(name: str, opt_ctrl: dict[str, Any]) -> dict[str, Any]:
    """Keep only the entries of ``opt_ctrl`` that optimizer ``name`` accepts (lme4's allFit sanitizes too)."""
    from mixedlm.optim.registry import NLOPT_DEFAULTS, is_nlopt

    ok = set(NLOPT_DEFAULTS) if is_nlopt(name) else {"maxfun", "options"}
    return {k: v for k, v in opt_ctrl.items() if k in ok}


class MixedModelFit:
    """Base of :class:`~mixedlm.results.lmer_result.LmerFit` and :class:`~mixedlm.results.glmer_result.GlmerFit`.

    Subclasses set ``setup`` (with ``frame``, ``fe``, ``re``), ``control``, ``_theta``,
    ``_beta``, ``_b`` (conditional modes per term, factorization order, ``(ℓ_k, S_k)``)
    and implement the rest of :class:`~mixedlm.results.interface.MixedFit`
    (``_vcov_beta()``, ``_cond_var_terms()``, ``variance_scale``, ``npar``, ``refit``,
    ``optimum``, ``profile_problem``, ``_draw_response``, …).
    """

    setup: Any
    control: Any
    call: dict[str, Any] | None = None
    _theta: np.ndarray
    _beta: np.ndarray
    _b: list[np.ndarray]

    # ------------------------------------------------------------ basic facts
    @property
    def theta(self) -> np.ndarray:
        """Relative covariance parameters in lme4's order (``getME(fit, "theta")``)."""
        return self._theta.copy()

    @property
    def theta_names(self) -> list[str]:
        """lme4's names of the θ entries."""
        return list(self.setup.re.theta_names)

    @property
    def lower(self) -> np.ndarray:
        """Lower bounds of θ (0 for diagonal entries, −∞ below the diagonal; MixedModels.jl's ``lowerbd``)."""
        return self.setup.re.lower.copy()

    def sdcor(self) -> pd.Series:
        """The variance parameters on lme4's sdcor scale, then ``sigma`` when the model has a scale.

        Per random-effects block with covariance ``Σ = s² T Tᵀ`` (``T`` the block's relative
        Cholesky template at θ̂, ``s`` = :attr:`variance_scale`), the lower triangle column
        by column: ``sd_i = sqrt(Σ_ii)`` on the diagonal, ``cor_ij = Σ_ij / (sd_i sd_j)``
        below it; named as lme4's ``confint(oldNames = FALSE)`` (``sd_Days|Subject``,
        ``cor_Days.(Intercept)|Subject``; :mod:`mixedlm.design.sdcor`).
        """
        from mixedlm.design.sdcor import theta_to_sdcor, variance_parameter_names

        vals = list(theta_to_sdcor(self.setup.re, self._theta, float(self.variance_scale)))
        if self.residual_sd is not None:
            vals.append(float(self.residual_sd))
        return pd.Series(vals, index=variance_parameter_names(self.setup.re, self.residual_sd is not None), dtype=float)

    @property
    def nobs(self) -> int:
        """Number of observations used in the fit."""
        return int(self.setup.frame.y.shape[0])

    @property
    def formula(self) -> str:
        """The model formula."""
        return self.setup.frame.parsed.formula

    def ngrps(self) -> dict[str, int]:
        """Number of levels of each grouping factor (lme4's order)."""
        out: dict[str, int] = {}
        for blk in self.setup.re.blocks:
            out.setdefault(blk.group, self.setup.re.terms[blk.term_index].nlev)
        return out

    def fixef(self) -> pd.Series:
        """Fixed-effects estimates named as lme4 names them."""
        return pd.Series(self._beta, index=self.setup.fe.names, name="Estimate")

    def vcov(self, use_hessian: bool | None = None) -> pd.DataFrame:
        """Covariance matrix of the fixed-effects estimates.

        Parameters
        ----------
        use_hessian : bool, optional
            GLMMs only (lme4's ``vcov(fit, use.hessian = )``): True — from the Hessian
            of the deviance over ``(θ, β)``, ``[2 H⁻¹]_ββ`` (the default whenever it is
            available, i.e. ``nAGQ ≥ 1``); False — ``(R_XᵀR_X)⁻¹`` from the penalized
            system at the estimates, which treats θ as known and is usually slightly
            smaller.  For a linear mixed model both are ``σ² (R_XᵀR_X)⁻¹``.
        """
        names = self.setup.fe.names
        return pd.DataFrame(self._vcov_beta(use_hessian), index=names, columns=names)

    def AIC(self) -> float:
        """Akaike information criterion ``−2 logLik + 2 npar`` (REML log-likelihood for REML fits)."""
        return -2.0 * self.logLik() + 2.0 * self.npar

    def BIC(self) -> float:
        """Bayesian information criterion ``−2 logLik + log(n) npar``."""
        return -2.0 * self.logLik() + math.log(self.nobs) * self.npar

    @property
    def df_residual(self) -> int:
        """Residual degrees of freedom, ``n − npar``, as lme4."""
        return self.nobs - self.npar

    @property
    def npar(self) -> int:  # pragma: no cover - abstract
        """Number of estimated parameters (β, θ, the scale, a negative-binomial θ): lme4's ``df`` of ``logLik``."""
        raise NotImplementedError

    def _vcov_beta(self, use_hessian: bool | None = None) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _cond_var_terms(self) -> list[np.ndarray]:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def variance_scale(self) -> float:  # pragma: no cover - abstract
        """The factor ``s`` of ``Var(b) = s² ΛΛᵀ``: σ̂ for models with a scale parameter, else 1."""
        raise NotImplementedError

    @property
    def residual_sd(self) -> float | None:
        """Residual SD shown in ``VarCorr`` (None for families without a scale parameter)."""
        return self.variance_scale

    def _linkinv(self, eta: np.ndarray) -> np.ndarray:
        """Inverse link (identity for linear models)."""
        return eta

    # ------------------------------------------------------- random effects
    def _groups_in_order(self) -> list[int]:
        """Term indices (factorization order) in lme4's order of grouping factors."""
        seen: list[int] = []
        for blk in self.setup.re.blocks:
            if blk.term_index not in seen:
                seen.append(blk.term_index)
        return seen

    @cached_property
    def _cond_var(self) -> list[np.ndarray]:
        return self._cond_var_terms()

    def ranef(self, condVar: bool = True) -> dict[str, pd.DataFrame]:
        """Conditional modes of the random effects per grouping factor.

        Returns
        -------
        dict
            Grouping factor → DataFrame (levels × terms).  With ``condVar=True`` the
            conditional covariance blocks ``Var(b_j | y, β̂, θ̂)`` — shape
            ``(levels, S, S)``, σ² included, as lme4's ``attr(, "postVar")`` — are
            attached as ``df.attrs["condVar"]``.
        """
        out: dict[str, pd.DataFrame] = {}
        for k in self._groups_in_order():
            t = self.setup.re.terms[k]
            df = pd.DataFrame(self._b[k], index=pd.Index(t.levels, name=t.group), columns=list(t.colnames))
            if condVar:
                # lme4 reports conditional covariances per term: between separate terms on
                # the same factor (e.g. from `||`) the entries are 0 in its postVar.
                same_term = np.zeros((t.S, t.S), dtype=bool)
                for blk in t.blocks:
                    same_term[np.ix_(blk.columns, blk.columns)] = True
                df.attrs["condVar"] = self._cond_var[k] * same_term
            out[t.group] = df
        return out

    def coef(self) -> dict[str, pd.DataFrame]:
        """Fixed plus random effects per level (lme4's ``coef``)."""
        fe = self.fixef()
        out: dict[str, pd.DataFrame] = {}
        for g, re_df in self.ranef(condVar=False).items():
            cols = list(fe.index) + [c for c in re_df.columns if c not in fe.index]
            df = pd.DataFrame({c: np.full(len(re_df), fe.get(c, 0.0)) for c in cols}, index=re_df.index)
            for c in re_df.columns:
                df[c] = df[c] + re_df[c].to_numpy()
            out[g] = df
        return out

    def VarCorr(self) -> Any:
        """Estimated variances, standard deviations and correlations of the random effects."""
        from mixedlm.results.varcorr import VarCorr, VarCorrGroup

        groups = []
        s2 = self.variance_scale**2
        for blk in self.setup.re.blocks:
            T = self.setup.re.terms[blk.term_index].template(self._theta)
            cov = s2 * (T @ T.T)[np.ix_(blk.columns, blk.columns)]
            groups.append(VarCorrGroup(group=blk.group, names=list(blk.names), cov=cov))
        return VarCorr(groups, sigma=self.residual_sd)

    def confint(self, parm: Any = None, level: float = 0.95, method: str = "profile", **kwargs: Any) -> pd.DataFrame:
        """Confidence intervals: ``"profile"`` (default, as lme4), ``"Wald"`` or ``"boot"``.

        See :func:`mixedlm.inference.confint.confint` (``nsim``, ``seed``, ``boot_type``, …).
        """
        from mixedlm.inference.confint import confint

        return confint(self, parm=parm, level=level, method=method, **kwargs)

    def profile(self, which: Any = None, **kwargs: Any) -> Any:
        """Likelihood profile (lme4's ``profile``); see :func:`mixedlm.inference.profile.profile`."""
        from mixedlm.inference.profile import profile

        return profile(self, which=which, **kwargs)

    def simulate(self, nsim: int = 1, seed: Any = None, re_form: Any = None, use_u: bool = False) -> pd.DataFrame:
        """Simulated responses (lme4's ``simulate``); see :func:`mixedlm.inference.simulate.simulate`."""
        from mixedlm.inference.simulate import simulate

        return simulate(self, nsim=nsim, seed=seed, re_form=re_form, use_u=use_u)

    def anova(self, *others: Any, **kwargs: Any) -> Any:
        """LRT table against ``others`` or, alone, the sequential F table; see :func:`mixedlm.anova`."""
        from mixedlm.inference.anova import anova

        return anova(self, *others, **kwargs)

    def drop1(self, scope: Any = None, test: str = "Chisq", k: float = 2.0, data: Any = None) -> Any:
        """Single-term deletions refitted by ML; see :func:`mixedlm.inference.drop1.drop1`."""
        from mixedlm.inference.drop1 import drop1

        return drop1(self, scope=scope, test=test, k=k, data=data)

    def allFit(self, optimizers: Any = None, data: Any = None, **kwargs: Any) -> Any:
        """Refit with every optimizer; see :func:`mixedlm.inference.allfit.allFit`."""
        from mixedlm.inference.allfit import allFit

        return allFit(self, optimizers=optimizers, data=data, **kwargs)

    def update(self, formula: str | None = None, **changes: Any) -> MixedModelFit:
        """Re-run the model's recorded call with changed arguments (R's ``update``).

        Parameters
        ----------
        formula : str, optional
            A new formula, or an update in R's notation (``". ~ . - Days"``).
        **changes
            Any argument of the front end that made the fit (``lmer`` / ``glmer`` /
            ``glmer_nb``: ``data``, ``REML``, ``weights``, ``family``, ``nAGQ``,
            ``control``, ...).
        """
        from mixedlm.formula.update import update_formula
        from mixedlm.results.calls import front_end

        call = self.call
        if not call:
            raise MixedLMError(
                "this model has no recorded call (it was built with the staged API or by "
                "refit(), whose response is not in the original data); call lmer()/glmer() "
                "again instead"
            )
        args = {k: v for k, v in call.items() if k != "function"}
        unknown = set(changes) - set(args)
        if unknown:
            raise MixedLMError(
                f"update() got unknown argument(s) {sorted(unknown)}; {call['function']}() takes {sorted(args)}"
            )
        args.update(changes)
        if formula is not None:
            args["formula"] = update_formula(call["formula"], formula)
        return front_end(call["function"])(**args)

    def _start_for(self, start: Any) -> Any:
        """A refit's start: ``"estimates"`` (this fit's), ``"call"`` (the recorded call's) or the values given."""
        if isinstance(start, str):
            if start == "estimates":
                return self._estimates_start()
            if start == "call":
                return (self.call or {}).get("start")
            raise MixedLMError(f"start must be 'estimates', 'call' or values, not {start!r}")
        return start

    def _estimates_start(self) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def simulate_response(self, rng: np.random.Generator, groups: set[str] | None) -> np.ndarray:
        """One simulated response on the fitted rows (binomial: proportions of successes).

        The random effects of the grouping factors in ``groups`` are kept at their
        conditional modes; every other term gets new ones, ``b* = s Λ_k(θ̂) u*``,
        ``u* ~ N(0, I)`` (``s`` = :attr:`variance_scale`); the response is then drawn
        given the linear predictor by :meth:`_draw_response`.
        """
        groups = set() if groups is None else set(groups)
        eta = self.linear_predictor(groups)
        scale = float(self.variance_scale)
        for t in self.setup.re.terms:
            if t.group in groups:
                continue
            u = rng.standard_normal((t.nlev, t.S))
            b = scale * (u @ t.template(self._theta).T)
            eta = eta + np.einsum("ns,ns->n", t.Z, b[t.codes])
        return self._draw_response(eta, rng)

    def _draw_response(self, eta: np.ndarray, rng: np.random.Generator) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    @cached_property
    def convergence(self) -> Any:
        """The :class:`~mixedlm.inference.checkconv.ConvergenceCheck` of this fit (computed once)."""
        from mixedlm.inference.checkconv import checkConv

        return checkConv(self)

    def announce(self, control: Any) -> None:
        """After a fit: lme4's singular-fit message (``check_conv_singular``) and, with
        ``check_conv="fit"``, the convergence checks as warnings."""

        from mixedlm.errors import SingularFitMessage

        if self.isSingular() and control.check_conv_singular != "ignore":
            msg = "boundary (singular) fit: see help('isSingular')"
            if control.check_conv_singular == "stop":
                raise MixedLMError(msg)
            warn_at_caller(msg, SingularFitMessage)
        if control.check_conv == "fit":
            self._warn_convergence()

    def _warn_convergence(self) -> None:
        """Issue the derivative-based convergence problems as warnings (``check_conv="fit"``)."""

        from mixedlm.errors import ConvergenceWarning

        for msg in self.convergence.messages:
            # singular fits and optimizer status are reported by the fit itself already
            if not msg.startswith(("boundary (singular)", "the optimizer")):
                warn_at_caller(msg, ConvergenceWarning)

    def isSingular(self, tol: float = 1e-4) -> bool:
        """True when a diagonal θ entry is below ``tol`` (a variance at or near zero), as lme4."""
        lower = self.setup.re.lower
        diag = np.isfinite(lower)
        return bool(np.any(self._theta[diag] < tol))

    # ----------------------------------------------------- per-row outputs
    def pad(self, values: np.ndarray, name: str) -> pd.Series:
        """Per-row values as a Series: used rows only ("omit"/"fail"), or padded with NaN ("exclude")."""
        frame = self.setup.frame
        if frame.na_action == "exclude":
            full = np.full(frame.n_input, np.nan)
            full[frame.used_rows] = values
            return pd.Series(full, index=frame.index, name=name)
        return pd.Series(values, index=frame.index[frame.used_rows], name=name)

    def linear_predictor(self, groups: set[str] | None = None) -> np.ndarray:
        """``Xβ + offset + Σ_k Z_k b_k`` on the fitted rows, over the grouping factors ``groups`` (None = all)."""
        eta = self.setup.fe.X @ self._beta + self.setup.frame.offset
        for k, t in enumerate(self.setup.re.terms):
            if groups is not None and t.group not in groups:
                continue
            eta = eta + np.einsum("ns,ns->n", t.Z, self._b[k][t.codes])
        return eta

    # ------------------------------------------------------------- predict
    def re_form_groups(self, re_form: Any) -> set[str] | None:
        """Groups to include for ``re_form``: None → all, ``"~0"``/NA → none, a formula → its bars."""
        if re_form is None:
            return None
        if isinstance(re_form, float) and math.isnan(re_form):
            return set()
        if not isinstance(re_form, str):
            raise MixedLMError(
                "re_form must be None, '~0' (or NA) or a formula of random-effects terms such as '~(1 | Subject)'"
            )
        text = re_form.strip()
        if text.replace(" ", "") in ("~0", "NA", "~1", "0"):
            return set()
        from mixedlm.formula.parser import parse_formula

        rhs = text[1:] if text.startswith("~") else text
        parsed = parse_formula("y_ ~ " + rhs)
        groups = {spec.group for spec in parsed.random}
        known = {t.group for t in self.setup.re.terms}
        unknown = groups - known
        if unknown:
            raise MixedLMError(
                f"re_form names grouping factors not in the model: {sorted(unknown)}; the model has {sorted(known)}"
            )
        return groups

    def _prediction_rows(
        self, newdata: pd.DataFrame | None, include: set[str] | None, allow_new_levels: bool
    ) -> tuple[np.ndarray, np.ndarray, list[tuple[int, np.ndarray, np.ndarray]], np.ndarray | None]:
        """Design rows for prediction: ``X``, offset, per included term ``(k, codes, Z)`` and usable rows.

        ``codes`` is −1 for a grouping level not seen in the fit; ``Z`` has the
        amalgamated term's ``S`` columns.  ``usable`` is None for the fitted rows.
        """
        terms = self.setup.re.terms
        if newdata is None:
            X, off = self.setup.fe.X, self.setup.frame.offset
            parts = [(k, t.codes, t.Z) for k, t in enumerate(terms) if include is None or t.group in include]
            return X, off, parts, None
        from mixedlm.design.frame import newdata_frame

        groups = [t.group for t in terms] if include is None else sorted(include)
        nd = newdata_frame(self.setup.frame.spec, newdata, include_random=groups, allow_new_levels=allow_new_levels)
        X = np.asarray(nd.X, dtype=np.float64)[:, self.setup.fe.kept]
        off = np.asarray(nd.offset, dtype=np.float64)
        m = X.shape[0]
        term_of = {t.group: k for k, t in enumerate(terms)}
        Zs: dict[int, np.ndarray] = {}
        codes_of: dict[int, np.ndarray] = {}
        col_used: dict[str, int] = {}
        for blk in nd.re_blocks:
            if blk.group not in term_of or (include is not None and blk.group not in include):
                continue
            k = term_of[blk.group]
            start = col_used.get(blk.group, 0)
            S = blk.Z.shape[1]
            col_used[blk.group] = start + S
            Zk = Zs.setdefault(k, np.zeros((m, terms[k].S)))
            Zk[:, start : start + S] = np.asarray(blk.Z, dtype=np.float64)
            codes_of[k] = np.asarray(blk.codes, dtype=np.int64)
        parts = [(k, codes_of[k], np.nan_to_num(Zs[k])) for k in sorted(Zs)]
        return X, off, parts, np.asarray(nd.rows, dtype=bool)

    @property
    def _prediction_scale2(self) -> float:
        """σ² multiplying ``M⁻¹`` in prediction variances (1 for families without a scale)."""
        return self.variance_scale**2

    def _joint_factor(self) -> Any:  # pragma: no cover - abstract
        """A Cholesky engine factored at the estimates for the joint (random, fixed) system."""
        raise NotImplementedError

    def predict(
        self,
        newdata: pd.DataFrame | None = None,
        type: str = "link",
        re_form: Any = None,
        allow_new_levels: bool = False,
        se_fit: bool = False,
        interval: str | None = None,
        level: float = 0.95,
    ) -> pd.Series | pd.DataFrame:
        """Predictions on the fitted rows or on ``newdata``, optionally with standard errors and intervals.

        Parameters
        ----------
        newdata : pandas.DataFrame, optional
            New rows; re-materialized with the training levels, contrasts and
            transform state.
        type : {"link", "response"}
            Linear predictor, or the mean ``g⁻¹(η)`` (identical for a linear mixed model).
        re_form : None, "~0" or str
            Random effects to include: all (None), none (``"~0"`` or NaN), or those
            in a formula such as ``"~(1 | Subject)"``.
        allow_new_levels : bool
            Allow grouping levels absent from the fit; their random effects are 0
            (population-level prediction for that term).
        se_fit : bool
            Also return standard errors (column ``se_fit``).
        interval : {None, "confidence", "prediction"}
            Add ``lwr`` / ``upr`` columns at ``level``.
        level : float
            Interval coverage.

        Returns
        -------
        pandas.Series or pandas.DataFrame
            The predictions (Series), or a DataFrame with ``fit``, ``se_fit`` and, with
            ``interval``, ``lwr`` / ``upr`` — indexed like ``newdata`` (NaN where a row
            has missing predictors).

        Notes
        -----
        What the standard error includes, for the target ``η = xᵀβ + zᵀb`` (terms in
        ``re_form`` only): with ``a = [Λᵀz; x]`` and the joint mixed-model matrix
        ``M = [[Λ'Z'WZΛ + I, Λ'Z'WX], [X'WZΛ, X'WX]]`` at the estimates,
        ``Var(η̂ − η) = σ² aᵀ M⁻¹ a`` — the uncertainty of β̂ and of the conditional
        modes *and their covariance*, given θ̂ (and σ̂); uncertainty in θ is not
        included.  For a grouping level not in the fit (``allow_new_levels``) the
        random effect is unknown: its prior variance ``σ² zᵀ T Tᵀ z`` is added.
        ``interval="prediction"`` adds the residual variance σ² (linear models; for a
        GLMM a prediction interval for a new observation is not defined on the link
        scale and is refused).  For ``type="response"`` in a GLMM the standard error is
        transformed by the delta method (``× dμ/dη``) and interval ends by ``g⁻¹``.
        """
        if type not in ("link", "response"):
            raise MixedLMError(f"type must be 'link' or 'response', not {type!r}")
        if interval not in (None, "confidence", "prediction"):
            raise MixedLMError(f"interval must be None, 'confidence' or 'prediction', not {interval!r}")
        if not 0 < level < 1:
            raise MixedLMError(f"level must be between 0 and 1, not {level!r}")
        include = self.re_form_groups(re_form)
        if newdata is not None:
            from mixedlm.design.frame import as_pandas_frame

            newdata = as_pandas_frame(newdata, "newdata")
        X, off, parts, usable = self._prediction_rows(newdata, include, allow_new_levels)
        eta = X @ self._beta + off
        for k, codes, Z in parts:
            known = codes >= 0
            contrib = np.zeros(codes.shape[0])
            contrib[known] = np.einsum("ns,ns->n", Z[known], self._b[k][codes[known]])
            eta = eta + contrib
        want_se = se_fit or interval is not None
        se = self._prediction_se(X, parts) if want_se else None
        glmm = self.isGLMM()
        if interval == "prediction":
            if glmm and self.family.name != "gaussian":
                raise MixedLMError(
                    "prediction intervals are defined for linear mixed models; for a GLMM use "
                    "interval='confidence' (for the mean) or simulate() for new observations"
                )
            se_int = np.sqrt(se**2 + self._prediction_scale2)
        else:
            se_int = se
        from scipy import stats

        z = stats.norm.ppf(0.5 + level / 2) if glmm else None
        if not glmm and want_se:
            # linear model: normal quantile as well (lme4 offers no df for predictions)
            z = stats.norm.ppf(0.5 + level / 2)
        out: dict[str, np.ndarray] = {}
        if type == "response" and glmm:
            mu = self._linkinv(eta)
            out["fit"] = mu
            if want_se:
                out["se_fit"] = se * self.family.link.mu_eta(eta)
            if interval is not None:
                lo, hi = self._linkinv(eta - z * se_int), self._linkinv(eta + z * se_int)
                out["lwr"], out["upr"] = np.minimum(lo, hi), np.maximum(lo, hi)
        else:
            out["fit"] = eta
            if want_se:
                out["se_fit"] = se
            if interval is not None:
                out["lwr"], out["upr"] = eta - z * se_int, eta + z * se_int
        if newdata is None:
            if not want_se:
                return self.pad(out["fit"], "predict")
            cols = {k: self.pad(v, k) for k, v in out.items()}
            return pd.DataFrame(cols)
        if usable is not None and not usable.all():
            for key in out:
                out[key] = np.where(usable, out[key], np.nan)
        if not want_se:
            return pd.Series(out["fit"], index=newdata.index, name="predict")
        return pd.DataFrame(out, index=newdata.index)

    def _prediction_se(
        self, X: np.ndarray, parts: list[tuple[int, np.ndarray, np.ndarray]], chunk: int = 256
    ) -> np.ndarray:
        """Standard errors ``sqrt(σ² aᵀ M⁻¹ a + new-level prior variance)`` (see :meth:`predict`)."""
        terms = self.setup.re.terms
        offs = self.setup.re.offsets()
        fac = self._joint_factor()
        s2 = self._prediction_scale2
        m = X.shape[0]
        q = int(offs[-1])
        var = np.zeros(m)
        finite = np.all(np.isfinite(X), axis=1)
        Xc = np.where(finite[:, None], X, 0.0)
        for r0 in range(0, m, chunk):
            r1 = min(m, r0 + chunk)
            aZ = np.zeros((q, r1 - r0))
            extra = np.zeros(r1 - r0)
            for k, codes, Z in parts:
                T = terms[k].template(self._theta)
                S = terms[k].S
                c = codes[r0:r1]
                w = Z[r0:r1] @ T  # rows of Λᵀz: (Tᵀ z)ᵀ
                known = c >= 0
                cols = np.flatnonzero(known)
                for sidx in range(S):
                    aZ[offs[k] + c[known] * S + sidx, cols] = w[known, sidx]
                if np.any(~known):
                    extra[~known] += np.einsum("ns,ns->n", w[~known], w[~known])
            var[r0:r1] = fac.joint_quad_form(aZ, Xc[r0:r1].T) + extra
        se = np.sqrt(s2 * var)
        se[~finite] = np.nan
        return se
