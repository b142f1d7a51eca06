"""Golden tests: mixedlm's summary text and R-style formatting against R itself.

Golden text
-----------
* ``data/lme4_summaries.json``: for 30 fits (the reference battery L01-L08,
  G01-G04 and extra cases X01-X18: ML fits, ``||`` terms, singular fits, 3x3 and
  5x5 correlation blocks, p-values below 2e-16, up to 24 fixed effects, negative
  estimates, weights / offset / control lines, nAGQ = 0 and 25, Gamma and
  negative-binomial GLMMs, rank-deficient X, no fixed effects, wrapped formula and
  "Number of obs" lines) the output of ``print(summary(fit))`` **produced by
  R 4.2.2 / lme4 1.1-31** (Matrix 1.5-3, Debian 12, C.UTF-8 locale, default
  options), together with the numbers lme4 computed for the fit at full
  precision (``fixef``/``vcov``-based coefficient table, ``VarCorr``,
  ``residuals(fit, "pearson", scaled = TRUE)``, ``REMLcrit``/``AICtab``,
  ``ngrps``, the fixed-effects correlation, ``optinfo``).  Script:
  ``data/make_golden.R``.
* ``data/r_format_golden.json`` (inputs: ``data/format_inputs.json``): R 4.2.2's ``format()``, ``round()``,
  ``signif()``, ``zapsmall()``, ``abbreviate()``, ``format.pval()``,
  ``printCoefmat()``, ``quantile()``, ``strwrap()`` and lme4's
  ``deparse(expandDoubleVerts(formula))`` on random / tricky inputs.  Scripts:
  ``data/make_format_inputs.py`` + ``data/make_format_golden.R``.

The formatter is fed lme4's numbers and must reproduce R's text line for line,
including trailing spaces.  No R is needed at run time.

Known, documented difference: when there are more than 12 fixed effects lme4
writes "Correlation matrix not shown by default ..." to R's *message* stream
(stderr); mixedlm puts an equivalent note into the summary text, so that case is
compared after removing the note.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mixedlm.formula.deparse import deparse_formula, expand_double_verts
from mixedlm.results.summary_layout import (
    SummaryData,
    convergence_messages,
    format_summary,
    method_title,
    nb_family_name,
)
from mixedlm.results.varcorr import VarCorr, VarCorrGroup
from mixedlm.rprint.coefmat import format_pval, print_coefmat, signif_stars
from mixedlm.rprint.numbers import quantile7, r_format, r_round, r_signif, zapsmall
from mixedlm.rprint.strings import abbreviate, cat, make_unique, strwrap
from mixedlm.rprint.tables import format_char_matrix

DATA = Path(__file__).parent / "data"
CASES: dict[str, dict[str, Any]] = json.loads((DATA / "lme4_summaries.json").read_text())
FMT: dict[str, Any] = {
    "inputs": json.loads((DATA / "format_inputs.json").read_text()),
    "r": json.loads((DATA / "r_format_golden.json").read_text()),
}

# The formulas as a user writes them (the battery's text), where lme4 prints a
# rewritten one: the summary must deparse / expand them itself.
USER_FORMULAS = {
    "L03_sleep_uncorr": "Reaction ~ Days + (Days || Subject)",
    "X18_sleep_uncorr_3terms": "Reaction ~ Days + (Days + I(Days^2) || Subject)",
    "G01_cbpp_laplace": "cbind(incidence, size-incidence) ~ period + (1|herd)",
    "X10_sleep_corr_uncorr_mix": "Reaction ~ Days + (1|Subject) + (0+Days|Subject) + (Days|Subject)",
}


def _as_list(x: Any) -> list[Any]:
    """jsonlite unboxes length-1 vectors; undo that."""
    if x is None:
        return []
    return x if isinstance(x, list) else [x]


def _residuals(case: dict[str, Any]) -> np.ndarray:
    """The scaled residuals; long vectors were stored as the order statistics quantile() reads."""
    if case["scaled_residuals"] is not None:
        return np.array(_as_list(case["scaled_residuals"]), dtype=float)
    os_ = case["scaled_residuals_os"]
    n = int(os_["n"])
    idx = [int(i) for i in _as_list(os_["index"])]
    val = [float(v) for v in _as_list(os_["value"])]
    out = np.empty(n)
    # fill every position with the nearest stored order statistic at or below it:
    # the sorted vector then has exactly lme4's values at the ranks quantile() uses
    cur = val[0]
    k = 0
    for pos in range(1, n + 1):
        while k < len(idx) and idx[k] <= pos:
            cur = val[k]
            k += 1
        out[pos - 1] = cur
    return out[::-1].copy()  # unsorted on purpose


def build_summary(case: dict[str, Any], formula: str | None = None) -> SummaryData:
    """A :class:`SummaryData` holding lme4's numbers for one golden case."""
    groups = []
    for g in case["varcorr"]:
        names = _as_list(g["names"])
        groups.append(VarCorrGroup(g["group"], names, np.array(g["cov"], dtype=float).reshape(len(names), -1)))
    vc = VarCorr(groups, case["sigma"])
    cf = case["coef"]
    rn, cn = _as_list(cf["rownames"]), _as_list(cf["colnames"])
    vals = np.array(_as_list(cf["values"]), dtype=float).reshape(len(rn), len(cn))
    coef = pd.DataFrame(vals, index=rn, columns=cn)
    corr = case["vcov_corr"]
    oi = case["optinfo"]
    msgs = convergence_messages(
        oi["optimizer"], int(oi["conv"]), oi["message"], _as_list(oi["lme4_messages"]), _as_list(oi["warnings"])
    )
    mt = case["methTitle"]
    aic = case["AICtab"]
    glmm = case["kind"] == "glmer"
    return SummaryData(
        kind=case["kind"],
        reml=bool(case["reml"]),
        method_title=mt[mt.index("(") + 1 : mt.rindex(")")] if glmm else None,
        family=case["family"],
        link=case["link"],
        formula=formula if formula is not None else " ".join(_as_list(case["formula_deparse"])),
        data_name=case["data_name"],
        weights_name=case["weights_name"],
        offset_name=case["offset_name"],
        control_line=case.get("control_line"),
        REMLcrit=aic.get("REML"),
        AIC=aic.get("AIC", math.nan),
        BIC=aic.get("BIC", math.nan),
        logLik=aic.get("logLik", math.nan),
        deviance=aic.get("deviance", math.nan),
        df_resid=aic.get("df.resid", math.nan),
        scaled_residuals=_residuals(case),
        varcorr=vc,
        nobs=int(case["nobs"]),
        ngrps={n: int(case["ngrps"][n]) for n in _as_list(case["ngrps_names"])},
        coef=coef,
        vcov_corr=None if (corr is None or len(rn) == 0) else np.array(corr, dtype=float).reshape(len(rn), len(rn)),
        messages=msgs,
        nb_theta=case["nb_theta"],
        fit_msgs=_as_list(case["fitMsgs"]),
    )


COR_NOTE = "\nCorrelation matrix not shown by default, as p = 24 > 12.\nUse vcov() if you need it\n\n"


@pytest.mark.parametrize("case_id", sorted(CASES))
def test_summary_matches_lme4(case_id: str) -> None:
    case = CASES[case_id]
    text = format_summary(build_summary(case))
    if case_id == "X03_penicillin_p24":
        assert COR_NOTE in text  # lme4 sends this note to stderr (see module docstring)
        text = text.replace(COR_NOTE, "")
    expected = _as_list(case["printed"])
    got = text.split("\n")
    assert got[-1] == ""  # the text ends with a newline
    assert got[:-1] == expected


@pytest.mark.parametrize("case_id", sorted(USER_FORMULAS))
def test_summary_from_user_formula(case_id: str) -> None:
    """``(x || g)`` is expanded and spacing / line breaks follow R's deparse."""
    case = CASES[case_id]
    got = format_summary(build_summary(case, formula=USER_FORMULAS[case_id])).split("\n")[:-1]
    assert got == _as_list(case["printed"])


def test_issue2_sleepstudy_block() -> None:
    text = format_summary(build_summary(CASES["L01_sleep_slope_reml"]))
    block = """REML criterion at convergence: 1743.6

Scaled residuals: 
    Min      1Q  Median      3Q     Max 
-3.9536 -0.4634  0.0231  0.4634  5.1793 

Random effects:
 Groups   Name        Variance Std.Dev. Corr
 Subject  (Intercept) 612.10   24.741       
          Days         35.07    5.922   0.07
 Residual             654.94   25.592       
Number of obs: 180, groups:  Subject, 18

Fixed effects:
            Estimate Std. Error t value
(Intercept)  251.405      6.825  36.838
Days          10.467      1.546   6.771
"""
    assert block in text
    assert text.startswith("Linear mixed model fit by REML ['lmerMod']\n")


def test_glmer_layout_lines() -> None:
    text = format_summary(build_summary(CASES["G01_cbpp_laplace"]))
    assert text.startswith(
        "Generalized linear mixed model fit by maximum likelihood (Laplace\n"
        "  Approximation) [glmerMod]\n Family: binomial  ( logit )\n"
    )
    assert (
        "Signif. codes:  0 \u2018***\u2019 0.001 \u2018**\u2019 0.01 \u2018*\u2019 0.05 \u2018.\u2019 0.1 \u2018 \u2019 1\n"
        in text
    )
    x04 = format_summary(build_summary(CASES["X04_grouse_pois_small_p"]))
    assert "YEAR96       0.938737   0.083977  11.178  < 2e-16 ***" in x04


def test_method_titles_and_messages() -> None:
    assert method_title("lmer", reml=True) == "Linear mixed model fit by REML"
    assert method_title("lmer", reml=False) == "Linear mixed model fit by maximum likelihood "
    assert method_title("glmer", nAGQ=1).endswith("(Laplace Approximation)")
    assert method_title("glmer", nAGQ=10).endswith("(Adaptive Gauss-Hermite Quadrature, nAGQ = 10)")
    assert convergence_messages("nloptwrap") == []
    assert convergence_messages("nloptwrap", 0, None, ["boundary (singular) fit: see help('isSingular')"]) == [
        "optimizer (nloptwrap) convergence code: 0 (OK)",
        "boundary (singular) fit: see help('isSingular')",
    ]
    assert convergence_messages("bobyqa", 1, "maxfun exceeded") == [
        "optimizer (bobyqa) convergence code: 1 (maxfun exceeded)"
    ]
    assert convergence_messages("bobyqa", 2) == ["optimizer (bobyqa) convergence code: 2 "]
    assert nb_family_name(2.052213) == "Negative Binomial(2.0522)"
    assert nb_family_name(3.0) == "Negative Binomial(3)"


def test_correlation_switch_and_no_fixef() -> None:
    d = build_summary(CASES["X03_penicillin_p24"])
    d.correlation = False
    assert "Correlation" not in format_summary(d)
    d = build_summary(CASES["L01_sleep_slope_reml"])
    d.correlation = False
    assert "Correlation of Fixed Effects" not in format_summary(d)
    d = build_summary(CASES["X15_sleep_no_fixef"])
    assert "Fixed effects" not in format_summary(d)


# ---------------------------------------------------------------------------
# The formatting primitives against R
# ---------------------------------------------------------------------------


def test_brief_examples() -> None:
    assert r_format([612.0975, 35.0716, 654.941], digits=4) == ["612.10", " 35.07", "654.94"]
    assert r_format([24.74066, 5.922138, 25.5918], digits=4) == ["24.741", " 5.922", "25.592"]
    assert r_format([1e-20, 1], digits=4) == ["1e-20", "1e+00"]
    assert r_format([None, 1.5]) == [" NA", "1.5"]
    assert r_format([float("nan"), -float("inf"), 2.0]) == [" NaN", "-Inf", "   2"]
    assert r_round(0.125, 2) == 0.12 and r_round(2.5) == 2.0 and r_round(-0.5) == 0.0
    assert signif_stars([0.0001, 0.001, 0.005, 0.05, 0.07, 0.5, float("nan")]) == [
        "***",
        "***",
        "**",
        "*",
        ".",
        " ",
        "",
    ]
    assert make_unique(["a", "a", "a.1", "a"]) == ["a", "a.2", "a.1", "a.3"]


def test_r_format_round_signif_zapsmall() -> None:
    bad = []
    for c, r in zip(FMT["inputs"]["format"], FMT["r"]["format"]):
        x, digits = c["x"], c["digits"]
        if r_format(x, digits=digits, nsmall=c["nsmall"]) != r["fmt"]:
            bad.append(("format", c))
        if [f"{v:.17g}" for v in r_round(x, c["rd"])] != r["rnd"]:
            bad.append(("round", c))
        if [f"{v:.17g}" for v in r_signif(x, digits)] != r["sig"]:
            bad.append(("signif", c))
        if [f"{v:.17g}" for v in zapsmall(x, digits)] != r["zap"]:
            bad.append(("zapsmall", c))
    assert not bad, bad[:5]


def test_abbreviate() -> None:
    for c, r in zip(FMT["inputs"]["abbrev"], FMT["r"]["abbrev"]):
        assert abbreviate(c["x"], c["m"]) == r, c


def test_format_pval() -> None:
    for c, r in zip(FMT["inputs"]["pval"], FMT["r"]["pval"]):
        assert format_pval(c["x"], digits=c["digits"]) == r, c


def test_print_coefmat() -> None:
    for c, r in zip(FMT["inputs"]["coefmat"], FMT["r"]["coefmat"]):
        cols = ["Estimate", "Std. Error", "t value"]
        vals = [c["est"], c["se"], c["t"]]
        if c["p"] is not None:
            cols = ["Estimate", "Std. Error", "z value", "Pr(>|z|)"]
            vals.append(c["p"])
        got = print_coefmat(np.array(vals).T, c["names"], cols, digits=c["digits"]).split("\n")[:-1]
        assert got == r, c


def test_quantile_type7() -> None:
    for c, r in zip(FMT["inputs"]["quant"], FMT["r"]["quant"]):
        assert [f"{v:.17g}" for v in quantile7(c["x"])] == r


def test_deparse_formula() -> None:
    for s, r in zip(FMT["inputs"]["formulas"], FMT["r"]["formulas"]):
        assert deparse_formula(expand_double_verts(s)) == r, s
    assert deparse_formula("y ~ x +") == ["y ~ x +"]  # unparsable text is kept as is


def test_strwrap() -> None:
    for s, r in zip(FMT["inputs"]["strwrap"], FMT["r"]["strwrap"]):
        assert strwrap(s, width=78, exdent=2) == r["w78"], s
        assert strwrap(s, width=30, indent=1) == r["w30"], s


def test_cat_fill_and_matrix_wrap() -> None:
    # R: cat("Formula:", c(strrep("x", 65), "    y"), fill = TRUE)
    assert cat("Formula:", ["x" * 65, "    y"], fill=True) == "Formula: " + "x" * 65 + " \n    y\n"
    assert cat("Formula:", ["x" * 75], fill=True) == "Formula: \n" + "x" * 75 + "\n"
    assert cat("a", "b", sep="") == "ab"
    # R: print(matrix(c("a", "b"), 1, dimnames = list("r", c(strrep("u", 50), strrep("v", 50)))), quote = FALSE)
    txt = format_char_matrix([["a", "b"]], ["r"], ["u" * 50, "v" * 50])
    assert txt == "  " + "u" * 50 + "\nr a" + " " * 49 + "\n  " + "v" * 50 + "\nr b" + " " * 49 + "\n"
