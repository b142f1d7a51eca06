"""R's ``printCoefmat``, ``format.pval`` and significance stars (the coefficient tables
of ``summary`` and ``anova``)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from mixedlm.rprint.numbers import R_DBL_EPSILON, r_format, r_round
from mixedlm.rprint.tables import format_char_matrix

# ---------------------------------------------------------------------------
# p-values and significance stars
# ---------------------------------------------------------------------------

#: The legend printed by ``printCoefmat`` in a UTF-8 locale (``sQuote`` fancy quotes).
SIGNIF_LEGEND = "0 \u2018***\u2019 0.001 \u2018**\u2019 0.01 \u2018*\u2019 0.05 \u2018.\u2019 0.1 \u2018 \u2019 1"
_SIGNIF_LEGEND_ASCII = "0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1"


def format_pval(
    pv: Sequence[float | None], digits: int = 5, eps: float = R_DBL_EPSILON, na_form: str = "NA"
) -> list[str]:
    """R's ``format.pval()``.

    Values below ``eps`` print as ``"< 2e-16"`` (``"<2e-16"`` when the other
    entries are at most 6 characters wide); values with exponent >= -3 (or -4)
    are formatted together in fixed notation, the others together in R's default
    (possibly scientific) notation.

    Parameters
    ----------
    pv : sequence of float
        p-values (``None``/NaN -> ``na_form``).
    digits : int, default 5
        Significant digits (``printCoefmat`` passes ``dig.tst``, 3 in summaries).
    eps : float, default ``.Machine$double.eps``
    na_form : str, default "NA"

    Returns
    -------
    list of str
    """
    vals = [None if (v is None or (isinstance(v, float) and math.isnan(v))) else float(v) for v in pv]
    ok = [v for v in vals if v is not None]
    res_ok: list[str] = [""] * len(ok)
    is0 = [v < eps for v in ok]
    nz_idx = [i for i, z in enumerate(is0) if not z]
    rr: list[str] = []
    if nz_idx:
        nz = [ok[i] for i in nz_idx]
        expo = [math.floor(math.log10(v if v > 0 else 1e-50)) for v in nz]
        fixp = [ex >= -3 or (ex == -4 and digits > 1) for ex in expo]
        rr = [""] * len(nz)
        fx = [i for i, f in enumerate(fixp) if f]
        sc = [i for i, f in enumerate(fixp) if not f]
        if fx:
            for i, s in zip(fx, r_format([nz[i] for i in fx], digits=digits)):
                rr[i] = s
        if sc:
            for i, s in zip(sc, r_format([nz[i] for i in sc], digits=digits)):
                rr[i] = s
        for i, s in zip(nz_idx, rr):
            res_ok[i] = s
    if any(is0):
        dig = max(1, digits - 2)
        if nz_idx:
            nc = max(len(s) for s in rr)
            if dig > 1 and dig + 6 > nc:
                dig = max(1, nc - 7)
            sep = "" if (dig == 1 and nc <= 6) else " "
        else:
            sep = "" if dig == 1 else " "
        txt = "<" + sep + r_format([eps], digits=dig)[0]
        for i, z in enumerate(is0):
            if z:
                res_ok[i] = txt
    out: list[str] = []
    it = iter(res_ok)
    for v in vals:
        out.append(na_form if v is None else next(it))
    return out


def signif_stars(pv: Sequence[float | None]) -> list[str]:
    """Significance codes of ``symnum(pv, cutpoints = c(0, .001, .01, .05, .1, 1))``.

    Intervals are closed on the right (``[0, .001]`` -> ``"***"``); NA gives ``""``.

    Parameters
    ----------
    pv : sequence of float

    Returns
    -------
    list of str
        Unpadded codes (``"***"``, ``"**"``, ``"*"``, ``"."``, ``" "`` or ``""``).
    """
    out = []
    for v in pv:
        if v is None or math.isnan(float(v)):
            out.append("")
            continue
        v = float(v)
        if v <= 0.001:
            out.append("***")
        elif v <= 0.01:
            out.append("**")
        elif v <= 0.05:
            out.append("*")
        elif v <= 0.1:
            out.append(".")
        else:
            out.append(" ")
    return out


# ---------------------------------------------------------------------------
# printCoefmat
# ---------------------------------------------------------------------------


def print_coefmat(
    values: Sequence[Sequence[float]] | np.ndarray,
    rownames: Sequence[str],
    colnames: Sequence[str],
    digits: int = 4,
    signif_stars_: bool = True,
    signif_legend: bool = True,
    ascii_quotes: bool = False,
    width: int = 80,
) -> str:
    """R's ``printCoefmat()`` with its default column roles.

    The first ``k`` columns (estimates and standard errors) are rounded together
    to ``max(1, digits - 1 - floor(log10(min |x|)))`` decimals and formatted
    together; the test-statistic column is rounded to ``dig.tst = max(1, min(5,
    digits - 1))`` decimals; a last column whose name starts with ``Pr(`` or
    ``p-v`` is formatted with :func:`format_pval` and gets significance stars.

    Parameters
    ----------
    values : 2-d array_like of float
        The coefficient matrix (NaN prints as ``NaN``).
    rownames, colnames : sequence of str
    digits : int, default 4
        lme4's summary uses ``max(3, getOption("digits") - 3)`` = 4.
    signif_stars_ : bool, default True
        R's ``show.signif.stars`` option.
    signif_legend : bool, default True
    ascii_quotes : bool, default False
        Use ``'***'`` instead of the UTF-8 quotes R uses in a UTF-8 locale.
    width : int, default 80

    Returns
    -------
    str
    """
    xm = np.array(values, dtype=float, copy=True)
    if xm.ndim != 2:
        raise ValueError("'values' must be a matrix")
    nr, nc = xm.shape
    has_p = nc >= 4 and len(colnames) == nc and colnames[-1][:3] in ("Pr(", "p-v")
    k = nc - int(has_p) - 1
    cs_ind = list(range(k))
    tst_ind = [k] if k < nc else []
    dig_tst = max(1, min(5, digits - 1))
    cf = [["" for _ in range(nc)] for _ in range(nr)]
    ok = ~np.isnan(xm)
    if cs_ind:
        coef_se = xm[:, cs_ind]
        acs = np.abs(coef_se)
        fin = np.isfinite(acs)
        if fin.any():
            nzv = acs[fin & (acs != 0)]
            if nzv.size:
                digmin = [1 + math.floor(math.log10(float(nzv.min()))), 1 + math.floor(math.log10(float(nzv.max())))]
            else:
                digmin = [1]
            ndec = max([1] + [digits - dm for dm in digmin])
            rounded = np.asarray(r_round(coef_se, ndec))
            # format() on the matrix: one format for both columns (column-major order)
            strs = r_format(list(rounded.T.ravel()), digits=digits)
            for jj, j in enumerate(cs_ind):
                for i in range(nr):
                    cf[i][j] = strs[jj * nr + i]
    for j in tst_ind:
        strs = r_format(list(np.asarray(r_round(xm[:, j], dig_tst))), digits=digits)
        for i in range(nr):
            cf[i][j] = strs[i]
    # columns with no role: plain format
    for j in range(nc):
        if j not in cs_ind and j not in tst_ind and not (has_p and j == nc - 1):
            strs = r_format(list(xm[:, j]), digits=digits)
            for i in range(nr):
                cf[i][j] = strs[i]
    okc = ok.copy()
    for j in tst_ind:
        okc[:, j] = False
    # cells whose value is nonzero but printed as zero (or vice versa): re-format them
    fix = _zero_mismatches(cf, xm, okc, nc - 1 if has_p else nc)
    if fix:
        strs = r_format([float(xm[i, j]) for i, j in fix], digits=max(1, digits - 1))
        for (i, j), s in zip(fix, strs):
            cf[i][j] = s
    for i in range(nr):
        for j in range(nc):
            if np.isnan(xm[i, j]):
                cf[i][j] = "NaN"
    return finish_coefmat(
        cf,
        xm,
        has_p,
        rownames,
        colnames,
        dig_tst,
        signif_stars_=signif_stars_,
        signif_legend=signif_legend,
        ascii_quotes=ascii_quotes,
        width=width,
    )


def _zero_mismatches(cf: list[list[str]], xm: np.ndarray, ok: np.ndarray, ncols: int) -> list[tuple[int, int]]:
    """The cells of ``printCoefmat``'s ``x0`` test: shown as zero iff the value is not zero.

    A cell ``(i, j)`` is listed when ``ok[i, j]``, its text ``cf[i][j]`` parses as a
    number ``c`` and ``(xm[i, j] = 0) ≠ (c = 0)`` — a nonzero value that rounding printed
    as ``0`` (or the reverse); R re-formats those with one significant digit less.
    Cells whose text is not a number (``"NA"``, ``""``) are skipped, as R's ``NA`` in ``x0``.

    Parameters
    ----------
    cf : list of list of str
        The formatted cells, row-major.
    xm : numpy.ndarray
        The values, ``(nr, nc)``.
    ok : numpy.ndarray of bool
        The cells to check (R's ``okP``: not missing, not a test-statistic column).
    ncols : int
        Only the first ``ncols`` columns are checked (the p-value column is not).

    Returns
    -------
    list of (int, int)
        ``(i, j)`` in column-major order, as R's ``Cf[okP]``.
    """
    fix: list[tuple[int, int]] = []
    for j in range(ncols):
        for i in range(xm.shape[0]):
            if not ok[i, j]:
                continue
            try:
                shown0 = float(cf[i][j]) == 0.0
            except ValueError:
                continue
            if (xm[i, j] == 0.0) != shown0:
                fix.append((i, j))
    return fix


def finish_coefmat(
    cf: list[list[str]],
    xm: np.ndarray,
    has_p: bool,
    rownames: Sequence[str],
    colnames: Sequence[str],
    dig_tst: int,
    signif_stars_: bool = True,
    signif_legend: bool = True,
    ascii_quotes: bool = False,
    width: int = 80,
) -> str:
    """The common end of R's ``printCoefmat``: p-values, stars, layout and legend.

    ``cf`` holds the already formatted cells of every column but the p-value one;
    when ``has_p`` the last column of ``xm`` is formatted with :func:`format_pval`
    (``dig_tst`` digits, missing values left as they are in ``cf``) and, if any
    p-value is below 0.1 and ``signif_stars_``, a column of :func:`signif_stars`
    and the ``Signif. codes`` legend are added.  Used by :func:`print_coefmat` and
    by ``print.anova`` (:func:`mixedlm.inference.anova.format_anova`).
    """
    nr, nc = xm.shape
    stars_col: list[str] | None = None
    show_stars = False
    if has_p:
        okp = [i for i in range(nr) if not np.isnan(xm[i, nc - 1])]
        if okp:
            pv = [float(xm[i, nc - 1]) for i in okp]
            for i, s in zip(okp, format_pval(pv, digits=dig_tst)):
                cf[i][nc - 1] = s
            show_stars = signif_stars_ and any(p < 0.1 for p in pv)
            if show_stars:
                codes = signif_stars([None if np.isnan(v) else float(v) for v in xm[:, nc - 1]])
                wmax = max(len(s) for s in codes)
                stars_col = [s.ljust(wmax) for s in codes]
    cells = cf
    cnames = list(colnames)
    if stars_col is not None:
        cells = [row + [stars_col[i]] for i, row in enumerate(cf)]
        cnames = cnames + [""]
    out = format_char_matrix(cells, list(rownames), cnames, right=True, width=width)
    if show_stars and signif_legend:
        leg = _SIGNIF_LEGEND_ASCII if ascii_quotes else SIGNIF_LEGEND
        out += "---\nSignif. codes:  " + leg + "\n"
    return out
