"""R-style number and table formatting, reproducing what R 4.2 prints.

lme4's ``print(summary(fit))`` is built from a handful of base-R primitives whose
output depends on small numerical details: ``format()`` chooses one number of
significant digits and one number of decimals for a whole vector, ``round()``
picks the nearer of two decimal candidates, ``printCoefmat()`` rounds estimates
and standard errors together, ``format.pval()`` switches to ``< 2e-16``,
``abbreviate()`` drops vowels from the right, ``cat(fill = TRUE)`` wraps lines,
``deparse()`` breaks long formulas.  This module re-implements each of them from
R's documented algorithms (``src/main/format.c``, ``src/nmath/fround.c``,
``src/main/printarray.c``, ``src/main/printvector.c``, ``src/main/character.c``,
``src/main/builtin.c``, ``src/main/deparse.c`` and the R functions
``printCoefmat``, ``format.pval``, ``zapsmall``, ``quantile``, ``strwrap``) so
that mixedlm prints exactly the characters R prints.

All functions work on plain Python / NumPy data; ``NaN`` plays the role of R's
``NaN`` and ``None`` the role of ``NA`` where both can occur.

Notes on fidelity
-----------------
* R decides the significant digits of a number with 80-bit ``long double``
  arithmetic (x86-64).  :func:`format_real_info` emulates that precision with
  exact rational arithmetic rounded to a 64-bit mantissa, so the result does not
  depend on the platform's ``long double``.
* Widths are counted in characters (Python ``len``), which equals R's display
  width for the ASCII text of model summaries.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Iterable, Sequence

import numpy as np

__all__ = [
    "R_DBL_EPSILON",
    "r_round",
    "r_signif",
    "zapsmall",
    "quantile7",
    "format_real_info",
    "encode_real",
    "r_format",
    "format_c",
    "format_pval",
    "signif_stars",
    "SIGNIF_LEGEND",
    "abbreviate",
    "make_unique",
    "make_names",
    "format_char_matrix",
    "format_named_vector",
    "format_named_numeric",
    "cat",
    "strwrap",
    "print_coefmat",
    "deparse_formula",
    "expand_double_verts",
]

#: ``.Machine$double.eps``.
R_DBL_EPSILON: float = 2.220446049250313e-16

_DBL_DIG = 15
_KP_MAX = 27  # long double table size in format.c
_LOG10_2 = math.log10(2.0)
_MAX10E = 308  # DBL_MAX_10_EXP


# ---------------------------------------------------------------------------
# Numeric primitives: R_pow_di, round(), signif(), zapsmall(), quantile()
# ---------------------------------------------------------------------------


def _r_pow_di(x: float, n: int) -> float:
    """``R_pow_di``: integer power by repeated squaring, as R computes it."""
    xn = 1.0
    if math.isnan(x):
        return x
    if n != 0:
        if not math.isfinite(x):
            return x**n
        neg = n < 0
        if neg:
            n = -n
        while True:
            if n & 1:
                xn *= x
            n >>= 1
            if n:
                x *= x
            else:
                break
        if neg:
            xn = 1.0 / xn
    return xn


def _logb(x: float) -> int:
    """C ``logb``: the unbiased binary exponent of a positive finite ``x``."""
    return math.frexp(x)[1] - 1


def _fround1(x: float, digits: float) -> float:
    """R 4.x ``fround()`` (``round(x, digits)``) for one double."""
    if math.isnan(x) or math.isnan(digits):
        return x + digits
    if not math.isfinite(x):
        return x
    if digits > _MAX10E + _DBL_DIG or x == 0.0:
        return x
    if digits < -_MAX10E:
        return 0.0
    if digits == 0.0:
        return math.copysign(float(round(x)), x)  # nearbyint: half to even, keeps the sign
    dig = int(math.floor(digits + 0.5))
    sgn = 1.0
    if x < 0.0:
        sgn = -1.0
        x = -x
    l10x = _LOG10_2 * (0.5 + _logb(x))
    if l10x + dig > _DBL_DIG:
        return sgn * x
    if dig <= _MAX10E:
        pow10 = _r_pow_di(10.0, dig)
        x10 = x * pow10
        i10 = math.floor(x10)
        xd = i10 / pow10
        xu = math.ceil(x10) / pow10
    else:
        e10 = dig - _MAX10E
        p10 = _r_pow_di(10.0, e10)
        pow10 = _r_pow_di(10.0, _MAX10E)
        x10 = (x * pow10) * p10
        i10 = math.floor(x10)
        xd = i10 / pow10 / p10
        xu = math.ceil(x10) / pow10 / p10
    du = xu - x
    dd = x - xd
    return sgn * (xu if (du < dd or (math.fmod(i10, 2.0) == 1.0 and du == dd)) else xd)


def r_round(x: float | Sequence[float] | np.ndarray, digits: float = 0) -> float | np.ndarray:
    """R's ``round(x, digits)`` (the R >= 4.0.0 algorithm).

    R rounds to the nearer of the two decimal candidates ``floor(x*10^d)/10^d``
    and ``ceiling(x*10^d)/10^d`` (measured in double precision), ties to the even
    candidate; ``digits`` need not be an integer (it is rounded half up, as R does).

    Parameters
    ----------
    x : float or array_like
        Number(s) to round; NaN passes through.
    digits : float, default 0
        Number of decimal places (negative values round to tens, hundreds, ...).

    Returns
    -------
    float or numpy.ndarray
        A float for scalar input, otherwise an array of the input's shape.
    """
    if np.ndim(x) == 0:
        return _fround1(float(x), float(digits))  # type: ignore[arg-type]
    arr = np.asarray(x, dtype=float)
    out = np.array([_fround1(float(v), float(digits)) for v in arr.ravel()], dtype=float)
    return out.reshape(arr.shape)


def _fprec1(x: float, digits: float) -> float:
    """R's ``fprec()`` (``signif(x, digits)``) for one double."""
    max_digits = 22
    if math.isnan(x) or math.isnan(digits):
        return x + digits
    if not math.isfinite(x):
        return x
    if not math.isfinite(digits):
        if digits > 0.0:
            return x
        digits = 1.0
    if x == 0.0:
        return x
    dig = int(math.copysign(math.floor(abs(digits) + 0.5), digits))  # C round(): half away from zero
    if dig > max_digits:
        return x
    if dig < 1:
        dig = 1
    sgn = 1.0
    if x < 0.0:
        sgn = -1.0
        x = -x
    l10 = math.log10(x)
    e10 = int(dig - 1 - math.floor(l10))
    if abs(l10) < _MAX10E - 2:
        p10 = 1.0
        if e10 > _MAX10E:
            p10 = _r_pow_di(10.0, e10 - _MAX10E)
            e10 = _MAX10E
        if e10 > 0:
            pow10 = _r_pow_di(10.0, e10)
            return sgn * (float(round((x * pow10) * p10)) / pow10) / p10
        pow10 = _r_pow_di(10.0, -e10)
        return sgn * (float(round(x / pow10)) * pow10)
    # very large or very small numbers: scale in two steps as R does
    do_round = _MAX10E - l10 >= _r_pow_di(10.0, -dig)
    e2 = dig + (1 if e10 > 0 else -1) * max_digits
    p10 = _r_pow_di(10.0, e2)
    x *= p10
    P10 = _r_pow_di(10.0, e10 - e2)
    x *= P10
    if do_round:
        x += 0.5
    x = math.floor(x) / p10
    return sgn * x / P10


def r_signif(x: float | Sequence[float] | np.ndarray, digits: int = 6) -> float | np.ndarray:
    """R's ``signif(x, digits)``: round to ``digits`` significant digits.

    Parameters
    ----------
    x : float or array_like
        Number(s) to round.
    digits : int, default 6
        Significant digits (values below 1 are treated as 1, as in R).

    Returns
    -------
    float or numpy.ndarray
    """
    if np.ndim(x) == 0:
        return _fprec1(float(x), float(digits))  # type: ignore[arg-type]
    arr = np.asarray(x, dtype=float)
    out = np.array([_fprec1(float(v), float(digits)) for v in arr.ravel()], dtype=float)
    return out.reshape(arr.shape)


def zapsmall(x: Sequence[float] | np.ndarray, digits: int = 7) -> np.ndarray:
    """R 4.2's ``zapsmall(x, digits)``: round so values tiny relative to ``max|x|`` become 0.

    R 4.2.2 computes ``round(x, max(0, digits - log10(max|x|)))`` -- a non-integer
    number of digits, which ``round`` rounds half up.

    Parameters
    ----------
    x : array_like
        Values (NaN ignored for the maximum).
    digits : int, default 7

    Returns
    -------
    numpy.ndarray
    """
    arr = np.asarray(x, dtype=float)
    ok = ~np.isnan(arr)
    if not ok.any():
        return arr.copy()
    mx = float(np.max(np.abs(arr[ok])))
    dig = max(0.0, digits - math.log10(mx)) if mx > 0 else float(digits)
    return np.asarray(r_round(arr, dig), dtype=float)


def quantile7(x: Sequence[float] | np.ndarray, probs: Sequence[float] = (0.0, 0.25, 0.5, 0.75, 1.0)) -> np.ndarray:
    """R's default ``quantile(x, probs, type = 7, na.rm = TRUE)``.

    Uses R's interpolation formula ``(1 - h) * x[lo] + h * x[hi]`` so the result
    matches R to the last bit.

    Parameters
    ----------
    x : array_like
        Data; NaN values are removed.
    probs : sequence of float
        Probabilities in [0, 1].

    Returns
    -------
    numpy.ndarray
        One quantile per probability (NaN when ``x`` is empty).
    """
    arr = np.asarray(x, dtype=float)
    arr = np.sort(arr[~np.isnan(arr)])
    n = arr.size
    out = np.empty(len(probs))
    for k, p in enumerate(probs):
        if n == 0:
            out[k] = np.nan
            continue
        p = min(1.0, max(0.0, float(p)))
        index = 1.0 + max(n - 1, 0) * p
        lo = math.floor(index)
        hi = math.ceil(index)
        q = float(arr[lo - 1])
        xhi = float(arr[hi - 1])
        if index > lo and xhi != q:
            h = index - lo
            q = (1.0 - h) * q + h * xhi
        out[k] = q
    return out


# ---------------------------------------------------------------------------
# formatReal / encodeReal: the heart of format() and print()
# ---------------------------------------------------------------------------

_LD_BITS = 64  # x87 extended precision mantissa


def _ld(q: Fraction) -> Fraction:
    """Round a positive rational to the nearest 64-bit-mantissa binary number (ties to even)."""
    if q == 0:
        return q
    num, den = q.numerator, q.denominator
    e = num.bit_length() - den.bit_length()
    if (num << max(0, -e)) < (den << max(0, e)):
        e -= 1
    shift = _LD_BITS - 1 - e  # scale so the mantissa has 64 bits before the point
    if shift >= 0:
        m_num, m_den = num << shift, den
    else:
        m_num, m_den = num, den << (-shift)
    m, rem = divmod(m_num, m_den)
    twice = 2 * rem
    if twice > m_den or (twice == m_den and m & 1):
        m += 1
    return Fraction(m, 1 << shift) if shift >= 0 else Fraction(m * (1 << (-shift)))


def _nearbyint_half_even(q: Fraction) -> int:
    fl = math.floor(q)
    rem = q - fl
    if rem > Fraction(1, 2) or (rem == Fraction(1, 2) and fl % 2 == 1):
        return fl + 1
    return fl


@dataclass(frozen=True)
class _Sci:
    neg: int
    kpower: int
    nsig: int
    roundingwidens: bool


def _scientific(x: float, digits: int) -> _Sci:
    """R's ``scientific()`` from format.c (long-double variant, as on x86-64 Linux)."""
    if x == 0.0:
        return _Sci(0, 0, 1, False)
    neg = 1 if x < 0.0 else 0
    r = -x if neg else x
    if digits >= _DBL_DIG + 1:
        s = "%#.*e" % (digits - 1, r)
        exp = s.partition("e")[2]
        kpower = int(exp)
        i = digits
        while i >= 2 and s[i] == "0":
            i -= 1
        return _Sci(neg, kpower, i, False)
    kp = int(math.floor(math.log10(r))) - digits + 1
    rf = Fraction(r)
    if abs(kp) <= _KP_MAX:
        if kp > 0:
            r_prec = _ld(rf / (10**kp))
        elif kp < 0:
            r_prec = _ld(rf * (10 ** (-kp)))
        else:
            r_prec = rf
    else:
        r_prec = _ld(rf / _ld(Fraction(10) ** kp))
    if r_prec < 10 ** (digits - 1):
        r_prec = _ld(r_prec * 10)
        kp -= 1
    alpha = _nearbyint_half_even(r_prec)
    nsig = digits
    for _ in range(digits):
        if alpha % 10 == 0:
            nsig -= 1
            alpha //= 10
        else:
            break
    if nsig == 0 and digits > 0:
        nsig = 1
        kp += 1
    kpower = kp + digits - 1
    rgt = digits - kpower
    rgt = 0 if rgt < 0 else (_KP_MAX if rgt > _KP_MAX else rgt)
    fuzz = 0.5 / float(10**rgt)
    widens = 0 < kpower <= _KP_MAX and rf < _ld(Fraction(10**kpower) - Fraction(fuzz))
    return _Sci(neg, kpower, nsig, bool(widens))


def format_real_info(
    x: Iterable[float], digits: int = 7, nsmall: int = 0, scipen: int = 0
) -> tuple[int, int, int]:
    """R's ``formatReal()``: common field width, decimals and exponent flag for a vector.

    This is what makes ``format(c(612.0975, 35.07, 654.94), digits = 4)`` give
    ``"612.10" " 35.07" "654.94"``: every number needs at most 4 significant
    digits, and the vector is printed with the largest number of decimals any
    element needs.  Fixed notation is used unless it is wider than scientific
    notation (plus ``scipen``).

    Parameters
    ----------
    x : iterable of float
        The values (NaN / inf allowed; ``None`` counts as NA).
    digits : int, default 7
        Significant digits (R's ``digits`` option).
    nsmall : int, default 0
        Minimum number of decimals in fixed notation (``format(nsmall=)``).
    scipen : int, default 0
        Penalty for scientific notation (R's ``scipen`` option).

    Returns
    -------
    (w, d, e) : tuple of int
        Field width, digits after the decimal point, and ``e`` = 0 for fixed
        notation or the number of exponent digits minus one.
    """
    naflag = nanflag = posinf = neginf = False
    neg = 0
    rgt = mxl = mxsl = mxns = None
    mnl: int | None = None
    for v in x:
        if v is None:
            naflag = True
            continue
        v = float(v)
        if not math.isfinite(v):
            if math.isnan(v):
                nanflag = True
            elif v > 0:
                posinf = True
            else:
                neginf = True
            continue
        s = _scientific(v, digits)
        left = s.kpower + 1
        if s.roundingwidens:
            left -= 1
        sleft = s.neg + (1 if left <= 0 else left)
        right = s.nsig - left
        if s.neg:
            neg = 1
        rgt = right if rgt is None or right > rgt else rgt
        mxl = left if mxl is None or left > mxl else mxl
        mnl = left if mnl is None or left < mnl else mnl
        mxsl = sleft if mxsl is None or sleft > mxsl else mxsl
        mxns = s.nsig if mxns is None or s.nsig > mxns else mxns
    if mxl is None:
        w = d = e = 0
    else:
        assert rgt is not None and mxsl is not None and mxns is not None and mnl is not None
        if digits == 0:
            rgt = 0
        if mxl < 0:
            mxsl = 1 + neg
        if rgt < 0:
            rgt = 0
        wF = mxsl + rgt + (rgt != 0)
        e = 2 if (mxl > 100 or mnl <= -99) else 1
        d = mxns - 1
        w = neg + (d > 0) + d + 4 + e
        if wF <= w + scipen:
            e = 0
            if nsmall > rgt:
                rgt = nsmall
                wF = mxsl + rgt + (rgt != 0)
            d = rgt
            w = wF
    if naflag and w < 2:
        w = 2
    if nanflag and w < 3:
        w = 3
    if posinf and w < 3:
        w = 3
    if neginf and w < 4:
        w = 4
    return w, d, e


def encode_real(x: float | None, w: int, d: int, e: int, na: str = "NA") -> str:
    """R's ``EncodeReal0``: one number in a field of width ``w`` (right-justified).

    Parameters
    ----------
    x : float or None
        The value; ``None`` is NA.
    w, d, e : int
        As returned by :func:`format_real_info`.
    na : str, default "NA"
        Text for NA.

    Returns
    -------
    str
    """
    if x is None:
        return na.rjust(w)
    x = float(x)
    if x == 0.0:
        x = 0.0  # R drops the sign of negative zero
    if not math.isfinite(x):
        txt = "NaN" if math.isnan(x) else ("Inf" if x > 0 else "-Inf")
        return txt.rjust(w)
    if e:
        return ("%#*.*e" % (w, d, x)) if d else ("%*.*e" % (w, d, x))
    return "%*.*f" % (w, d, x)


def r_format(
    x: Iterable[float | None] | float,
    digits: int | None = None,
    nsmall: int = 0,
    width: int | None = None,
    trim: bool = False,
    scipen: int = 0,
) -> list[str]:
    """R's ``format()`` for a numeric vector: common width, decimals and notation.

    Parameters
    ----------
    x : float or iterable of float
        Values (``None`` = NA, NaN = NaN).
    digits : int, optional
        Significant digits; R's default ``getOption("digits")`` = 7.
    nsmall : int, default 0
        Minimum decimals in fixed notation.
    width : int, optional
        Minimum field width.
    trim : bool, default False
        Do not pad to a common width.
    scipen : int, default 0
        Penalty against scientific notation.

    Returns
    -------
    list of str

    Examples
    --------
    >>> r_format([612.0975, 35.0716, 654.941], digits=4)
    ['612.10', ' 35.07', '654.94']
    """
    if isinstance(x, (int, float)) or x is None:
        vals: list[float | None] = [x]  # type: ignore[list-item]
    else:
        vals = [None if v is None else float(v) for v in x]
    dig = 7 if digits is None else int(digits)
    w, d, e = format_real_info(vals, dig, nsmall, scipen)
    if trim:
        w = 0
    if width is not None:
        w = max(w, width)
    return [encode_real(v, w, d, e) for v in vals]


def format_c(x: float, width: int = 0, digits: int | None = None, fmt: str = "g", flag: str = "") -> str:
    """A small ``formatC()``: C ``printf`` formatting of one number.

    Parameters
    ----------
    x : float
        Value.
    width : int, default 0
        Minimum width.
    digits : int, optional
        Precision (``%.<digits><fmt>``); ``None`` uses C's default.
    fmt : {"g", "f", "e", "d", "G", "E"}
        Conversion.
    flag : str
        printf flags such as ``"-"``, ``"0"``, ``" "``, ``"#"``.

    Returns
    -------
    str
    """
    if fmt == "d":
        return ("%" + flag + "*d") % (width, int(round(x)))
    spec = "%" + flag + "*" + ("" if digits is None else "." + str(int(digits))) + fmt
    return spec % (width, x)


# ---------------------------------------------------------------------------
# p-values and significance stars
# ---------------------------------------------------------------------------

#: The legend printed by ``printCoefmat`` in a UTF-8 locale (``sQuote`` fancy quotes).
SIGNIF_LEGEND = "0 \u2018***\u2019 0.001 \u2018**\u2019 0.01 \u2018*\u2019 0.05 \u2018.\u2019 0.1 \u2018 \u2019 1"
_SIGNIF_LEGEND_ASCII = "0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1"


def format_pval(pv: Sequence[float | None], digits: int = 5, eps: float = R_DBL_EPSILON, na_form: str = "NA") -> list[str]:
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
# Names: abbreviate(), make.unique(), make.names()
# ---------------------------------------------------------------------------

_C_SPACE = " \t\n\v\f\r"


def _stripchars(s: str, minlen: int, usecl: bool = True) -> str:
    """The C routine behind ``abbreviate()`` (character.c ``stripchars``)."""
    b = list(s)

    def at(i: int) -> str:
        return b[i] if i < len(b) else "\0"

    def isspace(c: str) -> bool:
        return c in _C_SPACE and c != ""

    def firstchar(i: int) -> bool:
        return isspace(at(i - 1))

    def lastchar(i: int) -> bool:
        nxt = at(i + 1)
        return (not isspace(at(i - 1))) and (nxt == "\0" or isspace(nxt))

    def lc_vowel(i: int) -> bool:
        return at(i) in "aeiou" and at(i) != "\0"

    def islower(i: int) -> bool:
        c = at(i)
        return "a" <= c <= "z"

    nspace = 0

    def done() -> bool:
        return len(b) - nspace <= minlen

    def delete(i: int) -> None:
        if i < len(b):
            del b[i]

    finished = len(b) < minlen
    if not finished:
        j = True
        for i in range(len(b) - 1, 0, -1):
            if i < len(b) and isspace(b[i]):
                if j:
                    del b[i:]  # trailing space terminates the string
                else:
                    nspace += 1
            else:
                j = False
            if done():
                finished = True
                break
    if not finished and usecl:
        for test in (
            lambda i: lc_vowel(i) and lastchar(i),
            lambda i: lc_vowel(i) and not firstchar(i),
            lambda i: islower(i) and lastchar(i),
            lambda i: islower(i) and not firstchar(i),
        ):
            for i in range(len(b) - 1, 0, -1):
                if test(i):
                    delete(i)
                if done():
                    finished = True
                    break
            if finished:
                break
    if not finished:
        for i in range(len(b) - 1, 0, -1):
            if not firstchar(i) and not isspace(at(i)):
                delete(i)
            if done():
                break
    if len(b) > minlen:
        for i in range(len(b) - 1, 0, -1):
            if isspace(b[i]):
                del b[i]
    return "".join(b)


def abbreviate(names: Sequence[str], minlength: int = 4, use_classes: bool = True, strict: bool = False) -> list[str]:
    """R's ``abbreviate(names, minlength)`` (method ``"left.kept"``).

    Drops lower-case vowels, then lower-case letters, then other characters, from
    the end towards the start (never the first character of a word) until a name
    has ``minlength`` characters; non-unique results get one more character.

    Parameters
    ----------
    names : sequence of str
    minlength : int, default 4
    use_classes : bool, default True
    strict : bool, default False
        Do not lengthen duplicated abbreviations.

    Returns
    -------
    list of str

    Examples
    --------
    >>> abbreviate(["(Intercept)", "Days"], 6)
    ['(Intr)', 'Days']
    """
    if minlength <= 0:
        return ["" for _ in names]
    trimmed = [re.sub(r" +$", "", re.sub(r"^ +", "", str(n))) for n in names]
    uniq: list[str] = []
    for n in trimmed:
        if n not in uniq:
            uniq.append(n)

    def c_abbrev(xs: list[str], ml: int) -> list[str]:
        return [_stripchars(s, ml, use_classes) if len(s) > ml else s for s in xs]

    x = list(uniq)
    if strict:
        x = c_abbrev(x, minlength)
    else:
        ml = minlength
        dup2 = [True] * len(uniq)
        these = list(uniq)
        while True:
            ans = c_abbrev(these, ml)
            k = 0
            for i, flag in enumerate(dup2):
                if flag:
                    x[i] = ans[k]
                    k += 1
            seen: set[str] = set()
            dup = []
            for v in x:
                dup.append(v in seen)
                seen.add(v)
            if not any(dup):
                break
            ml += 1
            dupvals = {v for v, f in zip(x, dup) if f}
            dup2 = [f or (v in dupvals) for v, f in zip(x, dup)]
            these = [n for n, f in zip(uniq, dup2) if f]
    lookup = dict(zip(uniq, x))
    return [lookup[n] for n in trimmed]


def make_unique(names: Sequence[str], sep: str = ".") -> list[str]:
    """R's ``make.unique()``: append ``.1``, ``.2``, ... to repeated names.

    Parameters
    ----------
    names : sequence of str
    sep : str, default "."

    Returns
    -------
    list of str

    Examples
    --------
    >>> make_unique(["Subject", "Subject", "Subject"])
    ['Subject', 'Subject.1', 'Subject.2']
    """
    out = list(names)
    used = set(out)
    counts: dict[str, int] = {}
    seen: set[str] = set()
    for i, n in enumerate(names):
        if n in seen:
            k = counts.get(n, 0)
            while True:
                k += 1
                cand = f"{n}{sep}{k}"
                if cand not in used:
                    break
            counts[n] = k
            out[i] = cand
            used.add(cand)
        else:
            seen.add(n)
    return out


_R_RESERVED = {
    "if", "else", "repeat", "while", "function", "for", "next", "break", "TRUE", "FALSE", "NULL",
    "Inf", "NaN", "NA", "NA_integer_", "NA_real_", "NA_character_", "NA_complex_", "in",
}


def make_names(names: Sequence[str], unique: bool = False) -> list[str]:
    """R's ``make.names()`` (ASCII rules): syntactic names, optionally unique.

    Parameters
    ----------
    names : sequence of str
    unique : bool, default False
        Apply :func:`make_unique` afterwards.

    Returns
    -------
    list of str
    """
    out = []
    for n in names:
        s = str(n)
        if not s or not (s[0].isalpha() or (s[0] == "." and not (len(s) > 1 and s[1].isdigit()))):
            s = "X" + s
        s = "".join(c if (c.isalnum() or c in "._") else "." for c in s)
        if s in _R_RESERVED:
            s += "."
        out.append(s)
    return make_unique(out) if unique else out


# ---------------------------------------------------------------------------
# Printing tables: print.default for character matrices and named vectors
# ---------------------------------------------------------------------------


def _index_width(n: int) -> int:
    return len(str(n))


def format_char_matrix(
    cells: Sequence[Sequence[str]],
    rownames: Sequence[str] | None = None,
    colnames: Sequence[str] | None = None,
    right: bool = False,
    width: int = 80,
    gap: int = 1,
) -> str:
    """R's ``print(<character matrix>, quote = FALSE)`` (``printMatrix``).

    Columns are padded to the widest of entry and label, separated by ``gap``
    spaces, left-justified unless ``right``; row labels are left-justified.  A
    matrix wider than ``width`` is printed in blocks of columns, as R does.

    Parameters
    ----------
    cells : sequence of rows of str
    rownames, colnames : sequence of str, optional
        Labels; R prints ``[1,]`` / ``[,1]`` when missing.
    right : bool, default False
        Right-justify the columns (and their labels).
    width : int, default 80
        R's ``width`` option.
    gap : int, default 1
        R's ``print.gap``.

    Returns
    -------
    str
        The printed text, ending with a newline.
    """
    r = len(cells)
    c = len(cells[0]) if r else (len(colnames) if colnames is not None else 0)
    if rownames is not None:
        rlabw = max((len(s) for s in rownames), default=0)
    else:
        rlabw = _index_width(r + 1) + 3
    w = []
    for j in range(c):
        wj = max((len(cells[i][j]) for i in range(r)), default=0)
        clabw = len(colnames[j]) if colnames is not None else _index_width(j + 1) + 3
        w.append(max(wj, clabw))

    def rowlab(i: int) -> str:
        if rownames is not None:
            return rownames[i].ljust(rlabw)
        lab = f"[{i + 1},]"
        return lab.rjust(rlabw)

    def collab(j: int) -> str:
        lab = colnames[j] if colnames is not None else f"[,{j + 1}]"
        if right:
            return " " * gap + lab.rjust(w[j])
        return " " * gap + lab.ljust(w[j])

    out: list[str] = []
    if c == 0:
        out.append(" " * rlabw)
        for i in range(r):
            out.append("\n" + rowlab(i))
        out.append("\n")
        return "".join(out)
    jmin = 0
    while jmin < c:
        tot = rlabw
        jmax = jmin
        while True:
            tot += w[jmax] + gap
            jmax += 1
            if not (jmax < c and tot + w[jmax] + gap < width):
                break
        out.append(" " * rlabw)
        for j in range(jmin, jmax):
            out.append(collab(j))
        for i in range(r):
            out.append("\n" + rowlab(i))
            for j in range(jmin, jmax):
                cell = cells[i][j]
                out.append(" " * gap + (cell.rjust(w[j]) if right else cell.ljust(w[j])))
        out.append("\n")
        jmin = jmax
    return "".join(out)


def format_named_vector(values: Sequence[str], names: Sequence[str], width: int = 80, gap: int = 1) -> str:
    """R's print of a named vector whose entries are already formatted strings.

    Names and values are right-justified to a common width; as many entries as fit
    in ``width`` go on one line, each followed by ``gap`` spaces (so lines end with
    a space, as in R).

    Parameters
    ----------
    values : sequence of str
    names : sequence of str
    width : int, default 80
    gap : int, default 1

    Returns
    -------
    str
        Text ending with a newline.
    """
    n = len(values)
    if n == 0:
        return "named character(0)\n"
    w = max(max(len(v) for v in values), max(len(s) for s in names))
    nperline = max(1, width // (w + gap))
    nlines = -(-n // nperline)
    out: list[str] = []
    for i in range(nlines):
        if i:
            out.append("\n")
        idx = range(i * nperline, min(n, (i + 1) * nperline))
        out.append("".join(names[k].rjust(w) + " " * gap for k in idx) + "\n")
        out.append("".join(values[k].rjust(w) + " " * gap for k in idx))
    out.append("\n")
    return "".join(out)


def format_named_numeric(x: Sequence[float], names: Sequence[str], digits: int = 7, width: int = 80) -> str:
    """R's ``print(<named numeric vector>, digits = digits)``.

    Parameters
    ----------
    x : sequence of float
    names : sequence of str
    digits : int, default 7
    width : int, default 80

    Returns
    -------
    str
    """
    return format_named_vector(r_format(list(x), digits=digits), names, width=width)


def cat(*objs: str | Sequence[str], sep: str = " ", fill: bool | int = False, width: int = 80) -> str:
    """R's ``cat(..., sep, fill)`` for character arguments, returned as a string.

    With ``fill`` a newline is started before an item that would pass the fill
    width (R prints the separator first, so such lines end with it), and the
    output ends with a newline.

    Parameters
    ----------
    *objs : str or sequence of str
        The arguments; a sequence is a character vector (its elements are
        separated by ``sep`` too).
    sep : str, default " "
    fill : bool or int, default False
        ``True`` wraps at ``width``; an int is the wrap width.
    width : int, default 80

    Returns
    -------
    str
    """
    if fill is True:
        pwidth: float = width
    elif fill is False or fill is None:
        pwidth = math.inf
    else:
        pwidth = int(fill)
    out: list[str] = []
    cur = 0
    sepw = len(sep)
    first_obj = True
    for obj in objs:
        items = [obj] if isinstance(obj, str) else list(obj)
        if not first_obj:
            out.append(sep)
        if items:
            p = items[0]
            if not first_obj and cur + len(p) + sepw > pwidth:
                out.append("\n")
                cur = 0
            for i, p in enumerate(items):
                out.append(p)
                cur += len(p) + sepw
                if i < len(items) - 1:
                    out.append(sep)
                    nxt = items[i + 1]
                    if cur + len(nxt) + sepw > pwidth:
                        out.append("\n")
                        cur = 0
        first_obj = False
    if pwidth != math.inf or "\n" in sep:
        out.append("\n")
    return "".join(out)


def strwrap(x: str, width: int = 72, indent: int = 0, exdent: int = 0, prefix: str = "", initial: str | None = None) -> list[str]:
    """R's ``strwrap()`` for one paragraph string.

    Words are separated by single whitespace characters; a line holds as many
    words as keep it *shorter* than ``width``.

    Parameters
    ----------
    x : str
    width : int, default 72
    indent, exdent : int, default 0
        Indentation of the first / following lines.
    prefix, initial : str
        As in R.

    Returns
    -------
    list of str
    """
    if initial is None:
        initial = prefix
    result: list[str] = []
    for para in re.split(r"\n[ \t\n]*\n", x):
        words = re.split(r"[ \t\n]", para)
        keep = []
        for k, wd in enumerate(words):
            if wd == "" and not (k > 0 and re.search(r"[.?!][)\"']{0,1}$", words[k - 1])):
                continue
            keep.append(wd)
        words = keep
        if not words:
            result.append(initial)
            initial = prefix
            continue
        nc = [len(wd) for wd in words]
        lines: list[list[str]] = []
        start = 0
        max_len = width - len(initial) - indent
        first = True
        while start < len(words):
            tot = 0
            k = 0
            for m in range(start, len(words)):
                tot += nc[m] + 1
                if tot <= max_len:
                    k += 1
                else:
                    break
            k = max(k, 1)
            if first:
                first = False
                max_len = width - len(prefix) - exdent
            block = words[start:start + k]
            if nc[start + k - 1] == 0:  # a kept empty word does not end a line
                block = block[:-1]
            lines.append(block)
            start += k
            if start < len(words) and nc[start] == 0:
                start += 1
        for i, ln in enumerate(lines):
            lead = (initial if i == 0 else prefix) + " " * (indent if i == 0 else exdent)
            result.append(lead + " ".join(ln))
        initial = prefix
    return result


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
    ncols_p = nc - 1 if has_p else nc
    # cells whose value is nonzero but printed as zero (or vice versa): re-format them
    fix: list[tuple[int, int]] = []
    for j in range(ncols_p):  # column-major, as R's Cf[okP]
        for i in range(nr):
            if not okc[i, j]:
                continue
            try:
                shown0 = float(cf[i][j]) == 0.0
            except ValueError:
                continue
            if (xm[i, j] == 0.0) != shown0:
                fix.append((i, j))
    if fix:
        strs = r_format([float(xm[i, j]) for i, j in fix], digits=max(1, digits - 1))
        for (i, j), s in zip(fix, strs):
            cf[i][j] = s
    for i in range(nr):
        for j in range(nc):
            if np.isnan(xm[i, j]):
                cf[i][j] = "NaN"
    return finish_coefmat(cf, xm, has_p, rownames, colnames, dig_tst, signif_stars_=signif_stars_,
                          signif_legend=signif_legend, ascii_quotes=ascii_quotes, width=width)


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


# ---------------------------------------------------------------------------
# deparse() of formulas
# ---------------------------------------------------------------------------

# precedence levels (R's gram.y / names.c)
_P_TILDE, _P_OR, _P_AND, _P_NOT, _P_COMPARE, _P_SUM, _P_PROD, _P_PERCENT, _P_COLON, _P_SIGN, _P_POWER, _P_DOLLAR, _P_NS = range(1, 14)

# binary operator -> (precedence, right-assoc, spaced)
_BINOPS: dict[str, tuple[int, bool, bool]] = {
    "~": (_P_TILDE, False, True),
    "||": (_P_OR, False, True),
    "|": (_P_OR, False, True),
    "&&": (_P_AND, False, True),
    "&": (_P_AND, False, True),
    "==": (_P_COMPARE, False, True),
    "!=": (_P_COMPARE, False, True),
    "<": (_P_COMPARE, False, True),
    ">": (_P_COMPARE, False, True),
    "<=": (_P_COMPARE, False, True),
    ">=": (_P_COMPARE, False, True),
    "+": (_P_SUM, False, True),
    "-": (_P_SUM, False, True),
    "*": (_P_PROD, False, True),
    "/": (_P_PROD, False, False),
    ":": (_P_COLON, False, False),
    "^": (_P_POWER, True, False),
    "$": (_P_DOLLAR, False, False),
    "@": (_P_DOLLAR, False, False),
    "::": (_P_NS, False, False),
    ":::": (_P_NS, False, False),
}

_TOKEN_RE = re.compile(
    r"""
    (?P<ws>[ \t\r\n]+)
  | (?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?L?)
  | (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<bq>`[^`]*`)
  | (?P<name>(?:[A-Za-z]|\.(?!\d))[A-Za-z0-9._]*|\.)
  | (?P<op>%[^%]*%|:::|::|\|\||&&|==|!=|<=|>=|\*\*|[-+*/^~|&!<>:$@(),=\[\]])
    """,
    re.VERBOSE,
)


class _Node:
    """A parsed R expression: ``kind`` is 'sym', 'num', 'str', 'call', 'paren', 'binop', 'unop'."""

    __slots__ = ("kind", "value", "args", "names")

    def __init__(self, kind: str, value: str, args: list[_Node] | None = None, names: list[str | None] | None = None) -> None:
        self.kind = kind
        self.value = value
        self.args = args or []
        self.names = names or []


class _Parser:
    def __init__(self, text: str) -> None:
        toks: list[tuple[str, str]] = []
        pos = 0
        while pos < len(text):
            m = _TOKEN_RE.match(text, pos)
            if m is None:
                raise ValueError(f"cannot tokenize {text[pos:]!r}")
            pos = m.end()
            kind = m.lastgroup
            if kind == "ws":
                continue
            val = m.group()
            if kind == "op" and val == "**":
                val = "^"
            toks.append((str(kind), val))
        self.toks = toks
        self.i = 0

    def peek(self) -> tuple[str, str] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> tuple[str, str]:
        t = self.toks[self.i]
        self.i += 1
        return t

    def expect(self, val: str) -> None:
        t = self.peek()
        if t is None or t[1] != val:
            raise ValueError(f"expected {val!r}")
        self.i += 1

    def parse(self) -> _Node:
        node = self.expr(0)
        if self.peek() is not None:
            raise ValueError("trailing input")
        return node

    def _binop_info(self, t: tuple[str, str] | None) -> tuple[int, bool] | None:
        if t is None or t[0] != "op":
            return None
        v = t[1]
        if v in _BINOPS:
            prec, rassoc, _ = _BINOPS[v]
            return prec, rassoc
        if v.startswith("%") and v.endswith("%") and len(v) >= 2:
            return _P_PERCENT, False
        return None

    def expr(self, min_prec: int) -> _Node:
        left = self.prefix()
        while True:
            t = self.peek()
            info = self._binop_info(t)
            if info is None:
                # postfix: calls and indexing bind tightest
                if t is not None and t[1] in ("(", "[") and t[0] == "op":
                    left = self.postfix(left)
                    continue
                break
            prec, rassoc = info
            if prec < min_prec:
                break
            assert t is not None
            self.take()
            nxt = prec if rassoc else prec + 1
            right = self.expr(nxt)
            left = _Node("binop", t[1], [left, right])
        return left

    def postfix(self, fn: _Node) -> _Node:
        t = self.take()
        if t[1] == "(":
            args, names = self.arglist(")")
            return _Node("call", "", [fn] + args, [None] + names)
        args, names = self.arglist("]")
        return _Node("index", "", [fn] + args, [None] + names)

    def arglist(self, close: str) -> tuple[list[_Node], list[str | None]]:
        args: list[_Node] = []
        names: list[str | None] = []
        t = self.peek()
        if t is not None and t[1] == close:
            self.take()
            return args, names
        while True:
            nm = None
            t = self.peek()
            if t is not None and t[0] in ("name", "str", "bq") and self.i + 1 < len(self.toks) and self.toks[self.i + 1][1] == "=":
                nm = t[1]
                self.i += 2
            args.append(self.expr(0))
            names.append(nm)
            t = self.take()
            if t[1] == close:
                return args, names
            if t[1] != ",":
                raise ValueError("bad argument list")

    def prefix(self) -> _Node:
        t = self.take()
        kind, v = t
        if kind == "num":
            return _Node("num", v)
        if kind == "str":
            return _Node("str", v)
        if kind in ("name", "bq"):
            return _Node("sym", v)
        if v == "(":
            inner = self.expr(0)
            self.expect(")")
            return _Node("paren", "(", [inner])
        if v in ("-", "+"):
            return _Node("unop", v, [self.expr(_P_SIGN)])
        if v == "!":
            return _Node("unop", v, [self.expr(_P_NOT)])
        if v == "~":
            return _Node("unop", v, [self.expr(_P_TILDE + 1)])
        raise ValueError(f"unexpected {v!r}")


class _Deparser:
    """R's ``deparse()`` line breaking (width.cutoff = 60) for a parsed expression."""

    def __init__(self, cutoff: int = 60) -> None:
        self.cutoff = cutoff
        self.lines: list[str] = []
        self.buf = ""
        self.len = 0
        self.indent = 0
        self.startline = True

    def writeline(self) -> None:
        self.lines.append(self.buf)
        self.buf = ""
        self.len = 0
        self.startline = True

    def put(self, s: str) -> None:
        if self.startline:
            self.startline = False
            for i in range(1, self.indent + 1):
                self.put("    " if i <= 4 else "  ")
        self.buf += s
        self.len += len(s)

    def linebreak(self, lbreak: list[bool]) -> None:
        if self.len > self.cutoff:
            if not lbreak[0]:
                lbreak[0] = True
                self.indent += 1
            self.writeline()

    def args(self, args: list[_Node], names: list[str | None]) -> None:
        lbreak = [False]
        for k, (a, nm) in enumerate(zip(args, names)):
            if nm is not None:
                self.put(nm)
                self.put(" = ")
            self.node(a)
            if k < len(args) - 1:
                self.put(", ")
                self.linebreak(lbreak)
        if lbreak[0]:
            self.indent -= 1

    def node(self, n: _Node) -> None:
        if n.kind in ("sym", "str"):
            self.put(n.value)
        elif n.kind == "num":
            self.put(_deparse_number(n.value))
        elif n.kind == "paren":
            self.put("(")
            self.node(n.args[0])
            self.put(")")
        elif n.kind == "unop":
            self.put(n.value)
            self.node(n.args[0])
        elif n.kind == "binop":
            op = n.value
            spaced = _BINOPS[op][2] if op in _BINOPS else True
            self.node(n.args[0])
            if spaced:
                self.put(" ")
                self.put(op)
                self.put(" ")
                lbreak = [False]
                self.linebreak(lbreak)
                self.node(n.args[1])
                if lbreak[0]:
                    self.indent -= 1
            else:
                self.put(op)
                self.node(n.args[1])
        elif n.kind in ("call", "index"):
            self.node(n.args[0])
            self.put("(" if n.kind == "call" else "[")
            self.args(n.args[1:], n.names[1:])
            self.put(")" if n.kind == "call" else "]")
        else:  # pragma: no cover
            raise ValueError(n.kind)


def _deparse_number(tok: str) -> str:
    if tok.endswith("L"):
        return tok
    v = float(tok)
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return r_format([v], digits=15, trim=True)[0]


def deparse_formula(formula: str, cutoff: int = 60) -> list[str]:
    """Deparse a formula the way R's ``deparse()`` prints it (spacing and line breaks).

    R normalises spacing (``a + b``, ``(1 | g)``, ``a/b``, ``a:b``, ``x^2``) and
    breaks lines after a binary operator or argument comma once a line exceeds
    ``cutoff`` characters, indenting continuation lines by four spaces.

    Parameters
    ----------
    formula : str
        Formula text in R syntax (``**`` is read as ``^``).
    cutoff : int, default 60
        ``width.cutoff``.

    Returns
    -------
    list of str
        The deparsed lines; the input unchanged (one line) if it cannot be parsed.
    """
    try:
        tree = _Parser(formula).parse()
    except (ValueError, IndexError):
        return [formula]
    dp = _Deparser(cutoff)
    dp.node(tree)
    dp.writeline()
    return dp.lines


def _term_labels(node: _Node) -> tuple[list[str], bool]:
    """Term labels and intercept flag of the right-hand side ``node`` (a subset of ``terms()``)."""
    terms: list[list[str]] = []  # each term: sorted list of factor labels
    intercept = True

    def text(n: _Node) -> str:
        dp = _Deparser(10**9)
        dp.node(n)
        dp.writeline()
        return dp.lines[0]

    def expand(n: _Node) -> list[list[str]]:
        if n.kind == "paren":
            return expand(n.args[0])
        if n.kind == "binop" and n.value == "+":
            return expand(n.args[0]) + expand(n.args[1])
        if n.kind == "binop" and n.value == "*":
            a, b = expand(n.args[0]), expand(n.args[1])
            return a + b + [x + [y for y in z if y not in x] for x in a for z in b]
        if n.kind == "binop" and n.value == ":":
            a, b = expand(n.args[0]), expand(n.args[1])
            return [x + [y for y in z if y not in x] for x in a for z in b]
        return [[text(n)]]

    def walk(n: _Node, sign: int) -> None:
        nonlocal intercept
        if n.kind == "binop" and n.value == "+":
            walk(n.args[0], sign)
            walk(n.args[1], sign)
            return
        if n.kind == "binop" and n.value == "-":
            walk(n.args[0], sign)
            walk(n.args[1], -sign)
            return
        if n.kind == "unop" and n.value == "-":
            walk(n.args[0], -sign)
            return
        if n.kind == "num" and n.value in ("0", "1"):
            intercept = (n.value == "1") == (sign > 0)
            return
        for t in expand(n):
            if sign > 0:
                if t not in terms:
                    terms.append(t)
            elif t in terms:
                terms.remove(t)

    walk(node, 1)
    terms.sort(key=len)  # R orders terms by their order (stable)
    return [":".join(t) for t in terms], intercept


def expand_double_verts(formula: str) -> str:
    """lme4's ``expandDoubleVerts``: ``(x || g)`` -> ``((1 | g) + (0 + x | g))``.

    This is how lme4 rewrites the formula stored in the fitted model's call, so it
    is what ``summary()`` prints for uncorrelated random effects.

    Parameters
    ----------
    formula : str

    Returns
    -------
    str
        The formula with every ``||`` term expanded (unchanged when there is none
        or the text cannot be parsed).
    """
    if "||" not in formula:
        return formula
    try:
        tree = _Parser(formula).parse()
    except (ValueError, IndexError):
        return formula

    def text(n: _Node) -> str:
        dp = _Deparser(10**9)
        dp.node(n)
        dp.writeline()
        return dp.lines[0]

    def rec(n: _Node) -> _Node:
        if n.kind == "binop" and n.value == "||":
            labels, icpt = _term_labels(n.args[0])
            grp = text(n.args[1])
            pieces = (["1"] if icpt else []) + ["0+" + lab for lab in labels]
            expr = "(" + ")+(".join(p + "|" + grp for p in pieces) + ")"
            return _Parser(expr).parse()
        n.args = [rec(a) for a in n.args]
        return n

    return text(rec(tree))
