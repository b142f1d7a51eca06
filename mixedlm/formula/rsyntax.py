"""R spellings accepted inside formula expressions.

lme4 users write ``I(x^2)`` and ``log(size)``.  Inside function calls formulaic
evaluates Python, where ``^`` is bitwise xor and ``log`` is undefined, so expressions
are translated before they reach formulaic: ``^`` inside a call becomes ``**``
(a formula-level ``(a + b)^2`` is left alone, it is formulaic's interaction power),
and the common R math functions are provided as NumPy functions in the evaluation
context.  Column names keep R's spelling (see :mod:`mixedlm.formula.naming`).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from ._text import depth_map, is_identifier_char

__all__ = ["R_FUNCTIONS", "translate_r_syntax"]

R_FUNCTIONS: dict[str, Any] = {
    "log": np.log,
    "log2": np.log2,
    "log10": np.log10,
    "log1p": np.log1p,
    "exp": np.exp,
    "expm1": np.expm1,
    "sqrt": np.sqrt,
    "abs": np.abs,
    "sin": np.sin,
    "cos": np.cos,
    "tan": np.tan,
}


@lru_cache(maxsize=1024)
def translate_r_syntax(text: str) -> str:
    """Replace R's power operator ``^`` by ``**`` inside function calls.

    Parameters
    ----------
    text : str
        Formula or expression text, e.g. ``"x + I(x^2)"``.

    Returns
    -------
    str
        ``"x + I(x**2)"``; text without ``^`` is returned unchanged.
    """
    if "^" not in text:
        return text
    depths = depth_map(text)
    out: list[str] = []
    calls: list[bool] = []  # one entry per open bracket: is it a call's "("?
    for i, ch in enumerate(text):
        if depths[i] >= 0:
            if ch in "([{":
                j = i - 1
                while j >= 0 and text[j] == " ":
                    j -= 1
                calls.append(ch == "(" and j >= 0 and is_identifier_char(text[j]))
            elif ch in ")]}":
                calls.pop()
            elif ch == "^" and any(calls):
                out.append("**")
                continue
        out.append(ch)
    return "".join(out)
