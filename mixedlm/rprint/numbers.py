"""R's number formatting and rounding, reproducing what R 4.2 prints.

``round()`` (the nearer of two decimal candidates, ``src/nmath/fround.c``), ``signif()``,
``zapsmall()``, ``quantile(type = 7)``, and ``format()`` of a numeric vector: one number of
significant digits and one number of decimals for the whole vector, decided with 80-bit
``long double`` arithmetic on x86-64 (``src/main/format.c``).  :func:`format_real_info`
emulates that precision with exact rational arithmetic rounded to a 64-bit mantissa, so
the result does not depend on the platform's ``long double``.  ``NaN`` plays the role of
R's ``NaN`` and ``None`` of ``NA``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

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


def format_real_info(x: Iterable[float], digits: int = 7, nsmall: int = 0, scipen: int = 0) -> tuple[int, int, int]:
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
