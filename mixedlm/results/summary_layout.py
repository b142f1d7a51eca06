"""lme4's ``print(summary(fit))`` for linear and generalized linear mixed models.

:func:`format_summary` turns a :class:`SummaryData` (plain numbers collected by
the result classes) into the text lme4 1.1-31 prints under R 4.2 with default
options (``digits = 7``, ``width = 80``, ``show.signif.stars = TRUE``, UTF-8
locale), block by block:

* title (``.prt.methTit``), family line (``.prt.family``), ``Formula:`` /
  ``Data:`` / ``Weights:`` / ``Offset:`` / ``Control:`` lines (``.prt.call``);
* ``REML criterion at convergence:`` or the AIC/BIC/logLik/deviance/df.resid
  table (``.prt.aictab``);
* ``Scaled residuals:`` quantiles (``.prt.resids``);
* ``Random effects:`` (``.prt.VC`` / ``formatVC``), ``Number of obs`` (``.prt.grps``);
* ``Fixed effects:`` (``printCoefmat``), ``Correlation of Fixed Effects:``;
* fit warnings and optimizer messages (``.prt.warn``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mixedlm.formula.deparse import deparse_formula, expand_double_verts
from mixedlm.results.varcorr import VarCorr
from mixedlm.rprint.coefmat import print_coefmat
from mixedlm.rprint.numbers import quantile7, r_format, r_round, zapsmall
from mixedlm.rprint.strings import abbreviate, cat, strwrap
from mixedlm.rprint.tables import format_char_matrix, format_named_vector

__all__ = ["SummaryData", "format_summary", "method_title", "convergence_messages", "nb_family_name"]

#: lme4's default ``getOption("lme4.summary.cor.max")``.
COR_MAX = 12


@dataclass
class SummaryData:
    """The numbers lme4's summary prints, as plain data.

    Attributes
    ----------
    kind : {"lmer", "glmer"}
    reml : bool
        REML fit (linear models only).
    method_title : str or None
        GLMMs: the approximation, e.g. ``"Laplace Approximation"`` or
        ``"Adaptive Gauss-Hermite Quadrature, nAGQ = 10"`` (with or without the
        surrounding parentheses).  ``None`` means Laplace.  Ignored for ``lmer``.
    family, link : str or None
        GLMMs: ``"binomial"``, ``"logit"``.
    formula : str
        The model formula as the user wrote it; it is printed as R deparses it
        (spacing normalised, long formulas broken after 60 characters) and with
        ``(x || g)`` expanded as lme4 stores it.  Use ``formula_lines`` to print
        pre-deparsed text instead.
    data_name : str or None
        Printed as ``"   Data: <name>"``.
    weights_name, offset_name : str or None
        Printed as ``"Weights: ..."`` / ``" Offset: ..."`` when given.
    control_line : str or None
        Printed as ``"Control: ..."`` (lme4 prints it only for a non-default control).
    REMLcrit : float or None
        REML criterion (REML fits).
    AIC, BIC, logLik, deviance, df_resid : float
        The ML table (ML fits and GLMMs); ``deviance`` is what lme4's ``llikAIC``
        shows (``-2 logLik``).
    scaled_residuals : numpy.ndarray
        Vector whose quantiles are printed (lme4: ``residuals(fit, "pearson",
        scaled = TRUE)``); NaN entries are dropped.
    varcorr : VarCorr
    nobs : int
    ngrps : dict of str to int
        Levels per grouping factor, in lme4's order.
    coef : pandas.DataFrame
        Index = fixed-effect names; columns ``Estimate``, ``Std. Error``,
        ``t value`` (``z value`` and ``Pr(>|z|)`` for GLMMs).
    vcov_corr : numpy.ndarray or None
        Correlation matrix of the fixed effects (``None`` skips the block).
    messages : list of str
        Closing optimizer lines (see :func:`convergence_messages`), printed one per
        line followed by an empty line, as lme4 does.
    nb_theta : float or None
        ``glmer.nb``: the family line becomes ``Negative Binomial(<theta>)``.
    obj_class : str or None
        Class shown in the title; default ``"lmerMod"`` / ``"glmerMod"``.
    formula_lines : list of str or None
        Already deparsed formula lines (overrides ``formula``).
    fit_msgs : list of str
        Model-matrix messages lme4 prints under ``fit warnings:`` (e.g. rank
        deficiency).
    correlation : bool or None
        Show the fixed-effects correlation; ``None`` = lme4's rule (only when
        ``p <= cor_max``).
    cor_max : int
        lme4's ``lme4.summary.cor.max`` option (12).
    subset_name : str or None
        Printed as ``" Subset: ..."``.
    accuracy : str or None
        mixedlm's accuracy line (not in lme4): the scaled gradient after the Newton
        polish and, for ``nAGQ > 1``, the quadrature error; printed last.
    """

    kind: str
    reml: bool
    method_title: str | None
    family: str | None
    link: str | None
    formula: str
    data_name: str | None
    weights_name: str | None
    offset_name: str | None
    control_line: str | None
    REMLcrit: float | None
    AIC: float
    BIC: float
    logLik: float
    deviance: float
    df_resid: float
    scaled_residuals: np.ndarray
    varcorr: VarCorr
    nobs: int
    ngrps: dict[str, int]
    coef: pd.DataFrame
    vcov_corr: np.ndarray | None
    messages: list[str]
    nb_theta: float | None = None
    obj_class: str | None = None
    formula_lines: list[str] | None = None
    fit_msgs: list[str] = field(default_factory=list)
    correlation: bool | None = None
    cor_max: int = COR_MAX
    subset_name: str | None = None
    accuracy: str | None = None


def method_title(kind: str, reml: bool = False, nAGQ: int = 1) -> str:
    """lme4's ``methTitle()``: the first words of the summary title.

    Parameters
    ----------
    kind : {"lmer", "glmer"}
    reml : bool, default False
    nAGQ : int, default 1
        GLMMs: 1 = Laplace, otherwise adaptive Gauss-Hermite with ``nAGQ`` nodes
        (lme4 prints ``nAGQ = 0`` for the nAGQ = 0 fit as well).

    Returns
    -------
    str
        E.g. ``"Linear mixed model fit by REML"``; note lme4's trailing space in
        ``"Linear mixed model fit by maximum likelihood "``.
    """
    glmm = kind == "glmer"
    head = ("Generalized linear" if glmm else "Linear") + " mixed model fit by"
    if reml and not glmm:
        return head + " REML"
    if not glmm:
        return head + " maximum likelihood "  # paste("maximum likelihood", NULL)
    if nAGQ == 1:
        return head + " maximum likelihood (Laplace Approximation)"
    return head + f" maximum likelihood (Adaptive Gauss-Hermite Quadrature, nAGQ = {int(nAGQ)})"


def convergence_messages(
    optimizer: str,
    conv_code: int = 0,
    conv_message: str | None = None,
    lme4_messages: Sequence[str] = (),
    warnings: Sequence[str] = (),
) -> list[str]:
    """The closing lines lme4's ``.prt.warn`` prints (empty when there is nothing to report).

    Parameters
    ----------
    optimizer : str
        E.g. ``"nloptwrap"``, ``"bobyqa"``, ``"Nelder_Mead"``.
    conv_code : int, default 0
        Optimizer return code (``optinfo$conv$opt``).
    conv_message : str, optional
        Optimizer message, shown in parentheses when ``conv_code != 0``.
    lme4_messages : sequence of str
        lme4's convergence checks, e.g. ``"boundary (singular) fit: see
        help('isSingular')"`` or ``"Model failed to converge with max|grad| = ..."``.
    warnings : sequence of str
        Optimizer warnings.

    Returns
    -------
    list of str
    """
    if conv_code == 0 and not lme4_messages and not warnings:
        return []
    if conv_code == 0:
        m = "(OK)"
    elif conv_message is not None:
        m = f"({conv_message})"
    else:
        m = ""
    return [f"optimizer ({optimizer}) convergence code: {int(conv_code)} {m}", *lme4_messages, *warnings]


def nb_family_name(theta: float) -> str:
    """MASS's negative-binomial family name, ``"Negative Binomial(<round(theta, 4)>)"``."""
    return "Negative Binomial(" + r_format([float(r_round(theta, 4))], digits=7, trim=True)[0] + ")"


def _title(d: SummaryData, width: int) -> str:
    glmm = d.kind == "glmer"
    if glmm:
        mt = (d.method_title or "Laplace Approximation").strip()
        if not mt.startswith("("):
            mt = "(" + mt + ")"
        mtit = "Generalized linear mixed model fit by maximum likelihood " + mt
    else:
        mtit = method_title("lmer", d.reml)
    cls = d.obj_class or ("glmerMod" if glmm else "lmerMod")
    if len(mtit) + 5 + len(cls) > width:
        lines = strwrap(mtit, width=width - 2, exdent=2)
        return cat(lines, " [", cls, "]", sep="", fill=True, width=width)
    return f"{mtit} ['{cls}']\n"


def _family_line(d: SummaryData, width: int) -> str:
    fam = d.family
    if d.nb_theta is not None:
        fam = nb_family_name(d.nb_theta)
    if fam is None:
        return ""
    if d.link is not None:
        return cat(" Family:", fam, " ( " + d.link + " )", fill=True, width=width)
    return cat(" Family:", fam, fill=True, width=width)


def _call_lines(d: SummaryData, width: int) -> str:
    out = []
    lines = d.formula_lines if d.formula_lines is not None else deparse_formula(expand_double_verts(d.formula))
    out.append(cat("Formula:", lines, fill=True, width=width))
    if d.data_name is not None:
        out.append(cat("   Data:", d.data_name, fill=True, width=width))
    if d.weights_name is not None:
        out.append(cat("Weights:", d.weights_name, fill=True, width=width))
    if d.offset_name is not None:
        out.append(cat(" Offset:", d.offset_name, fill=True, width=width))
    if d.control_line is not None:
        out.append(cat("Control:", d.control_line, fill=True, width=width))
    if d.subset_name is not None:
        out.append(cat(" Subset:", d.subset_name, fill=True, width=width))
    return "".join(out)


def _aictab(d: SummaryData, width: int) -> str:
    if d.kind == "lmer" and d.reml:
        val = float(r_round(float(d.REMLcrit if d.REMLcrit is not None else math.nan), 1))
        return cat("REML criterion at convergence:", r_format([val], digits=7, trim=True)[0], fill=True, width=width)
    vals = [float(r_round(float(v), 1)) for v in (d.AIC, d.BIC, d.logLik, d.deviance, d.df_resid)]
    strs = r_format(vals, digits=7)
    strs[-1] = r_format([vals[-1]], digits=7)[0]
    return format_named_vector(strs, ["AIC", "BIC", "logLik", "deviance", "df.resid"], width=width)


def _resids(d: SummaryData, digits: int, width: int) -> str:
    r = np.asarray(d.scaled_residuals, dtype=float)
    q = zapsmall(quantile7(r), digits + 1)
    vals = r_format(list(q), digits=digits)
    return "Scaled residuals: \n" + format_named_vector(vals, ["Min", "1Q", "Median", "3Q", "Max"], width=width) + "\n"


def _groups_line(d: SummaryData, width: int) -> str:
    # paste() turns lme4's (double) level counts into text with as.character(),
    # i.e. 15 significant digits, so 100000 levels print as "1e+05" in R too
    grp = "; ".join(f"{k}, {r_format([float(v)], digits=15, trim=True)[0]}" for k, v in d.ngrps.items())
    return cat(f"Number of obs: {int(d.nobs)}, groups: ", grp, fill=True, width=width)


def _fixef_corr(names: list[str], corr: np.ndarray, width: int) -> str:
    p = len(names)
    rns = abbreviate(names, minlength=11)
    cns = abbreviate(names, minlength=6)
    vals = np.asarray(r_round(np.asarray(corr, dtype=float), 3))
    strs = r_format(list(vals.T.ravel()), nsmall=3)  # corF@x is column-major
    cells = [[strs[j * p + i] if i > j else "" for j in range(p - 1)] for i in range(1, p)]
    return format_char_matrix(cells, rns[1:], cns[: p - 1], right=False, width=width)


def format_summary(d: SummaryData, digits: int | None = None, width: int = 80, signif_stars: bool = True) -> str:
    """Print a mixed-model summary exactly as lme4 1.1-31's ``print(summary(fit))``.

    Parameters
    ----------
    d : SummaryData
        The numbers to show.
    digits : int, optional
        Significant digits; lme4's default ``max(3, getOption("digits") - 3)`` = 4.
    width : int, default 80
        R's ``width`` option.
    signif_stars : bool, default True
        R's ``show.signif.stars`` option (GLMM p-values).

    Returns
    -------
    str
        The summary text (lines end with the same trailing spaces R prints).

    Notes
    -----
    When there are more than ``d.cor_max`` fixed effects lme4 omits the
    correlation block and emits a message on R's message stream; here the
    message is part of the text, at the place where it appears in an R console.
    """
    dig = max(3, 7 - 3) if digits is None else int(digits)
    out: list[str] = []
    out.append(_title(d, width))
    out.append(_family_line(d, width))
    out.append(_call_lines(d, width))
    out.append("\n")
    out.append(_aictab(d, width))
    out.append("\n")
    out.append(_resids(d, dig, width))
    out.append("Random effects:\n")
    out.append(d.varcorr.format(comp=("Variance", "Std.Dev."), digits=dig, width=width))
    out.append(_groups_line(d, width))
    coef = d.coef
    p = coef.shape[0]
    if p > 0:
        out.append("\nFixed effects:\n")
        out.append(
            print_coefmat(
                coef.to_numpy(dtype=float),
                [str(i) for i in coef.index],
                [str(c) for c in coef.columns],
                digits=dig,
                signif_stars_=signif_stars,
                width=width,
            )
        )
        show = d.correlation
        if show is None:
            show = d.vcov_corr is not None and p <= d.cor_max
            if not show and p > d.cor_max:
                out.append(
                    f"\nCorrelation matrix not shown by default, as p = {p} > {d.cor_max}.\n"
                    "Use vcov() if you need it\n\n"
                )
        if show and d.vcov_corr is not None and p > 1:
            out.append("\nCorrelation of Fixed Effects:\n")
            out.append(_fixef_corr([str(i) for i in coef.index], np.asarray(d.vcov_corr), width))
    if any(len(m) > 0 for m in d.fit_msgs):
        out.append("fit warnings:\n")
        out.append("".join(m + "\n" for m in d.fit_msgs))
    if d.messages:
        out.append("\n".join(d.messages) + "\n\n")
    if d.accuracy:
        out.append(("" if d.messages else "\n") + d.accuracy + "\n")
    return "".join(out)
