"""Analysis-of-variance tables for fitted mixed models (lme4's ``anova.merMod``).

Two tables, as lme4:

**Several models** — ``anova(m1, m2, ...)``: likelihood-ratio tests of nested models.
Each model ``i`` contributes its maximized log-likelihood ``ℓ_i`` and its number of
parameters ``k_i`` (fixed effects + covariance parameters θ + the residual scale for
families that have one, + the negative-binomial θ for ``glmer_nb`` fits).  The
models are sorted by ``k`` (stably) and for each model after the first

    Chisq_i = 2 · max(0, ℓ_i − ℓ_{i−1}),   Df_i = k_i − k_{i−1},
    Pr(>Chisq)_i = P(χ²_{Df_i} > Chisq_i)   (NaN when Df_i = 0),

with ``AIC = −2ℓ + 2k`` and ``BIC = −2ℓ + k log n``.  Under the null hypothesis that
the smaller model is true (and away from the boundary of the parameter space) the
statistic is asymptotically χ² with ``Df`` degrees of freedom; for variance
parameters tested on their boundary the p-value is conservative.

REML fits are refitted by maximum likelihood first (REML criteria of models with
different fixed effects are not comparable).  lme4 says so with
``message("refitting model(s) with ML (instead of REML)")``; mixedlm emits the
same text as a :class:`REMLRefitMessage` warning (a ``UserWarning`` subclass), so it
shows once per call site by default and can be silenced with
``warnings.simplefilter("ignore", REMLRefitMessage)``.  The ML refit starts from the
REML estimates of θ and reuses the fit's design (lme4's ``refitML``).

The column lme4 1.1-31 calls ``deviance`` is called ``-2*log(L)`` here (as in later
lme4 versions): it is ``−2ℓ``, not the GLMM's conditional deviance.

Refused with a :class:`~mixedlm.errors.MixedLMError`: models fitted to different
numbers of observations, to different rows of the input, to different response
values or prior weights (lme4 compares the data *object*; mixedlm compares what
the likelihoods are computed from), mixtures of linear and generalized linear
mixed models, and — only when ``loglik="lme4"`` is asked for — GLMMs with
``nAGQ > 1`` mixed with ``nAGQ ≤ 1`` fits (lme4's adaptive-quadrature
log-likelihood omits the family's normalizing constant).  mixedlm's own
log-likelihoods (``loglik="marginal"``, the default) include that constant at
every ``nAGQ``, so they are commensurate and the mixture is allowed.  Warned
about (a :class:`NonNestedWarning`): models with equal numbers of parameters but
different log-likelihoods, a smaller model whose log-likelihood exceeds a larger
one's by more than ``nest_tol`` (not nested, or a fit that stopped short), and a
smaller model with a grouping factor the larger model lacks.  REML fits compared
with ``refit=False`` get a ``UserWarning`` when mixed with ML fits or when their
fixed effects differ.

**One model** — ``anova(m)``: lme4's sequential ("type I") F table of the fixed
effects.  With ``R_X`` the upper-triangular Cholesky factor of the fixed-effects
block of the mixed-model equations (``R_XᵀR_X = σ² Var(β̂)⁻¹``, lme4's
``object@pp$RX()``) and ``a(j)`` the term of column ``j`` (R's ``assign``), the sum
of squares of term ``t`` is

    SS_t = Σ_{j: a(j) = t} (R_X β̂)_j²,   npar_t = #{j: a(j) = t},
    Mean Sq_t = SS_t / npar_t,   F_t = Mean Sq_t / σ̂²,

the intercept's row is dropped and terms whose columns were all dropped by the
rank check do not appear.  Because ``R_X`` is triangular, ``SS_t`` measures the
contribution of term ``t`` after the terms before it.  No denominator degrees of
freedom and no p-values are given (lme4 gives none: they are not well defined for
mixed models).  For a GLMM lme4 builds the same table from the ``R_X`` of the final
penalized IRLS system, with ``σ̂ = 1`` for binomial and Poisson families, so ``F`` is
the term's Wald χ² divided by its ``npar``; mixedlm does the same.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from mixedlm.errors import MixedLMError, warn_at_caller
from mixedlm.formula.terms import fixed_terms, term_assign
from mixedlm.results.interface import MixedFit
from mixedlm.rprint.coefmat import _zero_mismatches, finish_coefmat
from mixedlm.rprint.numbers import r_format, r_round, zapsmall

__all__ = ["AnovaTable", "NonNestedWarning", "REMLRefitMessage", "anova", "format_anova", "model_npar", "refitML"]

REFIT_MESSAGE = "refitting model(s) with ML (instead of REML)"


class REMLRefitMessage(UserWarning):
    """lme4's message that REML fits were refitted by ML before a likelihood-ratio test."""


class NonNestedWarning(UserWarning):
    """The models given to :func:`anova` do not look nested; the LRT may be meaningless."""


# ----------------------------------------------------------------------------- table type
class AnovaTable(pd.DataFrame):
    """A ``pandas.DataFrame`` that prints like R's ``print.anova`` (heading, then the table).

    Attributes
    ----------
    heading : list of str
        Lines printed above the table (``"Data: sleepstudy"``, ``"Models:"``, …).

    Notes
    -----
    Operations that derive a new frame (slicing, arithmetic) return plain
    ``pandas.DataFrame`` objects; the numbers are the frame's values, the printing
    is only a view.
    """

    _metadata = ["heading"]

    def __init__(self, *args: Any, heading: Sequence[str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.heading = list(heading) if heading is not None else []

    @property
    def _constructor(self) -> type:
        return pd.DataFrame

    def __str__(self) -> str:
        try:
            return format_anova(self, self.heading)
        except Exception:  # pragma: no cover - printing must never fail
            return pd.DataFrame.__repr__(self)

    def __repr__(self) -> str:
        return self.__str__()


def format_anova(
    table: pd.DataFrame,
    heading: Sequence[str] = (),
    digits: int = 5,
    signif_stars: bool = True,
    ascii_quotes: bool = False,
) -> str:
    """R's ``print.anova``: heading lines, then ``printCoefmat`` with anova column roles.

    Columns named ``F value`` / ``Chisq`` / ``F`` are test statistics (rounded to
    ``max(1, min(5, digits − 1))`` decimals), a last column ``Pr(...)`` gets
    ``format.pval`` and significance stars, ``*Df`` columns are printed as they are,
    every other column is ``zapsmall``-ed and formatted with ``digits`` significant
    digits; missing values print as blanks.

    Parameters
    ----------
    table : pandas.DataFrame
        Numeric columns, row labels in the index.
    heading : sequence of str
        Lines printed first.
    digits : int, default 5
        R's ``max(getOption("digits") - 2, 3)``.
    signif_stars : bool, default True
    ascii_quotes : bool, default False
        Plain quotes in the significance legend.

    Returns
    -------
    str
    """

    cn = [str(c) for c in table.columns]
    nc = len(cn)
    xm = table.to_numpy(dtype=float, na_value=np.nan) if nc else np.zeros((len(table), 0))
    nr = xm.shape[0]
    has_p = nc > 0 and (cn[-1].startswith("P(") or cn[-1].startswith("Pr("))
    tst = [j for j, c in enumerate(cn) if c[1:7] == " value" or c in ("F", "Cp", "Chisq")]
    zap = [j for j in range(nc - 1 if has_p else nc) if j not in tst and not cn[j].endswith("Df")]
    dig_tst = max(1, min(5, digits - 1))
    xm = xm.copy()
    for j in zap:
        xm[:, j] = zapsmall(xm[:, j], digits)
    ina = np.isnan(xm)
    cf = [["" for _ in range(nc)] for _ in range(nr)]

    def fmt(vals: np.ndarray, dig: int) -> list[str]:
        return r_format([None if math.isnan(v) else float(v) for v in vals], digits=dig)

    for j in range(nc):
        if has_p and j == nc - 1:
            continue
        col = np.asarray(r_round(xm[:, j], dig_tst)) if j in tst else xm[:, j]
        for i, s in enumerate(fmt(np.asarray(col, dtype=float), digits)):
            cf[i][j] = s
    # a nonzero value printed as zero (or the reverse) is re-formatted with one digit less
    check = ~ina
    check[:, tst] = False
    for i, j in _zero_mismatches(cf, xm, check, nc - 1 if has_p else nc):
        cf[i][j] = r_format([float(xm[i, j])], digits=max(1, digits - 1))[0]
    for i in range(nr):
        for j in range(nc):
            if ina[i, j]:
                cf[i][j] = ""
    text = "".join(line + "\n" for line in heading)
    return text + finish_coefmat(
        cf, xm, has_p, [str(r) for r in table.index], cn, dig_tst, signif_stars_=signif_stars, ascii_quotes=ascii_quotes
    )


# ----------------------------------------------------------------------------- helpers
def _check_fit(fit: object, what: str = "anova") -> None:
    if not isinstance(fit, MixedFit):
        raise MixedLMError(
            f"{what}() needs models fitted by mixedlm.lmer() or mixedlm.glmer(), got {type(fit).__name__}"
        )


def model_npar(fit: MixedFit) -> int:
    """Number of estimated parameters, as lme4's ``npar.merMod`` (the ``df`` of ``logLik``).

    ``p`` fixed effects + the θ entries + 1 for a residual scale (linear models and
    GLMM families with a scale parameter) + 1 for the negative-binomial θ (lme4
    counts it for every negative-binomial family).
    """
    return int(fit.npar)


def refitML(fit: MixedFit) -> MixedFit:
    """The ML fit of a REML-fitted linear mixed model (lme4's ``refitML``; the fit's :meth:`refitML`).

    Reuses the fitted design (nothing is re-parsed), starts the optimizer from the
    REML estimate of θ and returns a new fit whose ``call`` has ``REML=False``.  ML fits
    and GLMMs are returned unchanged.  lme4's refit prints no singular-fit message;
    neither does this one.
    """
    _check_fit(fit, "refitML")
    return fit.refitML()


def _response_of(fit: MixedFit) -> tuple[np.ndarray, np.ndarray]:
    """The response and prior weights the likelihood is computed from."""
    y, w = fit.model_response()
    y = np.asarray(y, dtype=float)
    return y, (np.ones_like(y) if w is None else np.asarray(w, dtype=float))


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=1e-12, atol=0.0, equal_nan=True))


def _check_same_data(fits: Sequence[MixedFit], names: Sequence[str]) -> None:
    """Refuse models whose log-likelihoods are computed from different observations."""
    first, n0 = fits[0], names[0]
    kinds = {f.isGLMM() for f in fits}
    if len(kinds) > 1:
        lm = [nm for nm, f in zip(names, fits) if not f.isGLMM()]
        gl = [nm for nm, f in zip(names, fits) if f.isGLMM()]
        raise MixedLMError(
            f"cannot compare linear mixed models ({', '.join(lm)}) with generalized linear "
            f"mixed models ({', '.join(gl)}) in one likelihood-ratio table: fit them all "
            "with lmer() or all with glmer()"
        )
    nobs = [f.nobs for f in fits]
    if len(set(nobs)) > 1:
        detail = ", ".join(f"{nm}: {k}" for nm, k in zip(names, nobs))
        raise MixedLMError(
            f"models were not all fitted to the same size of dataset ({detail} observations); "
            "a likelihood-ratio test needs the same observations in every model — remove rows "
            "with missing values in any model's variables before fitting"
        )
    y0, w0 = _response_of(first)
    fr0 = first.setup.frame
    for f, nm in zip(fits[1:], names[1:]):
        fr = f.setup.frame
        if fr.n_input != fr0.n_input:
            raise MixedLMError(
                f"models {n0} and {nm} were fitted to different data ({fr0.n_input} and "
                f"{fr.n_input} input rows); all models must be fitted to the same data"
            )
        if not np.array_equal(fr.used_rows, fr0.used_rows):
            k = int(np.sum(fr.used_rows != fr0.used_rows))
            raise MixedLMError(
                f"models {n0} and {nm} use different rows of the data ({k} rows are used by "
                "only one of them, e.g. because of missing values in a variable only one model "
                "uses); remove those rows from the data first"
            )
        y, w = _response_of(f)
        if not _same(y, y0):
            raise MixedLMError(
                f"models {n0} and {nm} have different response values; a likelihood-ratio "
                "test compares models of the same response fitted to the same data"
            )
        if not _same(w, w0):
            what = "binomial trials or prior weights" if f.isGLMM() else "prior weights"
            raise MixedLMError(f"models {n0} and {nm} have different {what}; their likelihoods are not comparable")


def _model_names(models: Sequence[Any], named: dict[str, Any], model_names: Any) -> tuple[list[Any], list[str]]:
    fits = list(models) + list(named.values())
    if isinstance(model_names, str) and model_names == "formula":
        names = [str(f.formula) for f in fits]
    elif model_names is not None:
        if isinstance(model_names, str):
            raise MixedLMError("model_names must be a list of names (one per model) or 'formula'")
        names = [str(x) for x in model_names]
        if len(names) != len(fits):
            raise MixedLMError(f"model_names has {len(names)} names for {len(fits)} models")
    else:
        names = [f"m{i + 1}" for i in range(len(models))] + list(named)
    if len(set(names)) != len(names):
        raise MixedLMError(f"model names must be distinct, got {names}")
    return fits, names


def _data_label(fit: MixedFit) -> str | None:
    call = fit.call or {}
    return call.get("data_name") or fit.setup.data_name


# ----------------------------------------------------------------------------- anova
def anova(
    *models: MixedFit,
    model_names: Sequence[str] | str | None = None,
    refit: bool = True,
    loglik: str = "marginal",
    nest_tol: float = 1e-3,
    **named_models: MixedFit,
) -> AnovaTable:
    """Likelihood-ratio table of nested models, or the F table of one model (lme4's ``anova``).

    Parameters
    ----------
    *models : MixedFit
        Fitted models, in any order (they are sorted by number of parameters).
    model_names : list of str or "formula", optional
        Row names.  Default: keyword names for models passed as keywords
        (``anova(reduced=m0, full=m1)``), ``"m1"``, ``"m2"``, … (by position) for the others;
        ``"formula"`` uses each model's formula.
    refit : bool, default True
        Refit REML fits by ML first (with lme4's message, see :class:`REMLRefitMessage`).
        With False, REML log-likelihoods are used as they are (with a warning when
        REML and ML fits are mixed, or REML fits differ in their fixed effects).
    loglik : {"marginal", "lme4"}
        Which GLMM log-likelihood to compare.  ``"marginal"`` (default) is mixedlm's,
        commensurate across ``nAGQ``; ``"lme4"`` is lme4's value, which for ``nAGQ > 1``
        omits the family's normalizing constant — mixing such fits with ``nAGQ ≤ 1``
        ones is then refused.
    nest_tol : float, default 1e-3
        A smaller model whose log-likelihood exceeds a larger one's by more than this
        triggers a :class:`NonNestedWarning`.
    **named_models : MixedFit
        Models passed by keyword; the keyword is the row name.

    Returns
    -------
    AnovaTable
        Several models: columns ``npar, AIC, BIC, logLik, -2*log(L), Chisq, Df,
        Pr(>Chisq)``, one row per model (sorted by ``npar``).  One model: the
        sequential F table with columns ``npar, Sum Sq, Mean Sq, F value``, one row per
        fixed-effects term (intercept excluded).  See the module docstring for the
        formulas.

    Raises
    ------
    MixedLMError
        Models that cannot be compared (different observations, responses or
        weights; LMM with GLMM; incommensurate ``nAGQ`` log-likelihoods with
        ``loglik="lme4"``), or something that is not a fitted model.
    """
    if loglik not in ("marginal", "lme4"):
        raise MixedLMError(f"loglik must be 'marginal' or 'lme4', not {loglik!r}")
    fits, names = _model_names(models, named_models, model_names)
    if not fits:
        raise MixedLMError("anova() needs at least one fitted model")
    for f in fits:
        _check_fit(f)
    if len(fits) == 1:
        return _anova_single(fits[0])
    _check_same_data(fits, names)

    glmm = fits[0].isGLMM()
    if glmm and loglik == "lme4":
        agq = [f.nAGQ > 1 for f in fits]
        if any(agq) and not all(agq):
            hi = [nm for nm, a in zip(names, agq) if a]
            lo = [nm for nm, a in zip(names, agq) if not a]
            raise MixedLMError(
                f"lme4's log-likelihoods of GLMMs with nAGQ > 1 ({', '.join(hi)}) omit the family's "
                f"normalizing constant and are incommensurate with those of nAGQ <= 1 fits ({', '.join(lo)}); "
                "use loglik='marginal' (mixedlm's log-likelihood, comparable across nAGQ)"
            )

    if not glmm:
        reml = [bool(f.isREML()) for f in fits]
        if refit:
            if any(reml):
                warn_at_caller(REFIT_MESSAGE, REMLRefitMessage)
                fits = [refitML(f) if r else f for f, r in zip(fits, reml)]
        else:
            if any(reml) and not all(reml):
                warn_at_caller("some models fit with REML = TRUE, some not", UserWarning)
            elif all(reml) and len({tuple(f.setup.fe.names) for f in fits}) > 1:
                warn_at_caller(
                    "REML log-likelihoods of models with different fixed effects are not comparable; "
                    "use refit=True (the default) for a likelihood-ratio test",
                    UserWarning,
                )

    npar = np.array([model_npar(f) for f in fits], dtype=float)
    llk = np.array([float(f.logLik(kind=loglik)) for f in fits])
    order = np.argsort(npar, kind="stable")
    fits = [fits[i] for i in order]
    names = [names[i] for i in order]
    npar, llk = npar[order], llk[order]
    n = float(fits[0].nobs)

    _warn_not_nested(fits, names, npar, llk, nest_tol)

    dll = np.diff(llk)
    chisq = np.concatenate([[np.nan], 2.0 * np.maximum(0.0, dll)])
    df = np.concatenate([[np.nan], np.diff(npar)])
    with np.errstate(invalid="ignore"):
        p = np.where(df == 0, np.nan, stats.chi2.sf(chisq, np.where(df > 0, df, 1.0)))
    p[0] = np.nan
    table = pd.DataFrame(
        {
            "npar": npar.astype(int),
            "AIC": -2.0 * llk + 2.0 * npar,
            "BIC": -2.0 * llk + math.log(n) * npar,
            "logLik": llk,
            "-2*log(L)": -2.0 * llk,
            "Chisq": chisq,
            "Df": df,
            "Pr(>Chisq)": p,
        },
        index=pd.Index(names),
    )
    heading = []
    label = _data_label(fits[0])
    if label:
        heading.append(f"Data: {label}")
    heading.append("Models:")
    heading.extend(f"{nm}: {f.formula}" for nm, f in zip(names, fits))
    return AnovaTable(table, heading=heading)


def _warn_not_nested(
    fits: Sequence[MixedFit], names: Sequence[str], npar: np.ndarray, llk: np.ndarray, tol: float
) -> None:
    """Warnings for pairs of consecutive models that cannot be nested."""
    for i in range(1, len(fits)):
        a, b = names[i - 1], names[i]
        if npar[i] == npar[i - 1]:
            if abs(llk[i] - llk[i - 1]) > tol:
                warn_at_caller(
                    f"models {a} and {b} have the same number of parameters ({int(npar[i])}) but different "
                    "log-likelihoods, so they are not nested; the likelihood-ratio test (Df = 0) is undefined "
                    "— compare them by AIC/BIC instead",
                    NonNestedWarning,
                )
            continue
        if llk[i - 1] - llk[i] > tol:
            warn_at_caller(
                f"model {a} has fewer parameters than {b} but a larger log-likelihood "
                f"({llk[i - 1]:.4f} > {llk[i]:.4f}): the models are not nested, or the fit of {b} stopped "
                "short of its optimum (check convergence, try allFit); Chisq is set to 0",
                NonNestedWarning,
            )
        small = {blk.group for blk in fits[i - 1].setup.re.blocks}
        large = {blk.group for blk in fits[i].setup.re.blocks}
        extra = sorted(small - large)
        if extra:
            warn_at_caller(
                f"model {a} has random effects for grouping factor(s) {extra} that {b} lacks, so {a} is not "
                f"nested in {b}; the likelihood-ratio test assumes nested models",
                NonNestedWarning,
            )


# ----------------------------------------------------------------------------- one model
def _anova_single(fit: MixedFit) -> AnovaTable:
    """lme4's sequential F table of one model (see the module docstring)."""

    terms = fixed_terms(fit.setup.frame.spec.fixed)
    real = [t for t in terms if not t.is_intercept]
    assign = term_assign(terms, fit.setup.fe.kept)
    beta = fit.fixef().to_numpy(dtype=float)
    if assign.shape[0] != beta.shape[0]:  # pragma: no cover - design and fit disagree
        raise MixedLMError("cannot match the fixed-effects columns to the formula's terms")
    RX, sigma = fit.RX(), float(fit.sigma)
    effects = RX @ beta
    rows, npar, ss = [], [], []
    for k in np.unique(assign):
        if k == 0:
            continue
        sel = assign == k
        rows.append(real[k - 1].label)
        npar.append(int(sel.sum()))
        ss.append(float(np.sum(effects[sel] ** 2)))
    ss_arr = np.array(ss, dtype=float)
    npar_arr = np.array(npar, dtype=int)
    ms = ss_arr / np.maximum(npar_arr, 1)
    table = pd.DataFrame(
        {"npar": npar_arr, "Sum Sq": ss_arr, "Mean Sq": ms, "F value": ms / sigma**2},
        index=pd.Index(rows, dtype=object),
    )
    return AnovaTable(table, heading=["Analysis of Variance Table"])
