"""R's ``update.formula`` for lme4 formulas: ``. ~ . - x``, ``. ~ . + (1 | g)``, ``log(.) ~ .``.

A ``.`` on the left stands for the old response; on the right for the old
right-hand side's terms.  ``+ term`` adds a term (if not present), ``- term``
removes every old term that spells the same (whitespace ignored, so
``(Days|Subject)`` matches ``(Days | Subject)``); a fixed-effects term that is not
written literally (``- a:b`` when the formula has ``a*b``) is kept as ``- a:b`` so that
the formula expansion removes it.  ``- 1`` / ``+ 0`` remove the intercept as usual.
"""

from __future__ import annotations

import re

from mixedlm.errors import FormulaError
from mixedlm.formula._text import signed_chunks, top_level_positions


def _norm(term: str) -> str:
    return re.sub(r"\s+", "", term)


def _split(formula: str) -> tuple[str, str]:
    pos = top_level_positions(formula, "~")
    if len(pos) != 1:
        raise FormulaError(f"a formula needs exactly one '~': {formula!r}")
    return formula[: pos[0]].strip(), formula[pos[0] + 1 :].strip()


def update_formula(old: str, new: str) -> str:
    """Combine ``old`` with an update ``new`` as R's ``update.formula`` does.

    Examples
    --------
    >>> update_formula("y ~ x + z + (1 | g)", ". ~ . - z")
    'y ~ x + (1 | g)'
    >>> update_formula("y ~ x + (1 | g)", "log(.) ~ . + w")
    'log(y) ~ x + (1 | g) + w'
    """
    old_lhs, old_rhs = _split(old)
    if "~" not in new:
        new = ". ~ " + new
    new_lhs, new_rhs = _split(new)
    lhs = re.sub(r"(?<![\w.])\.(?![\w.])", old_lhs, new_lhs) if new_lhs else old_lhs

    terms: list[tuple[str, str]] = []  # (sign, text) kept in order

    def add(sign: str, text: str) -> None:
        key = _norm(text)
        if sign == "-":
            if key not in ("1", "0"):
                before = len(terms)
                terms[:] = [t for t in terms if _norm(t[1]) != key or t[0] == "-"]
                if len(terms) == before:
                    if "|" in key:
                        raise FormulaError(f"cannot remove {text!r}: no such random-effects term in {old!r}")
                    # not written literally (e.g. `a:b` inside `a*b`): let the formula expansion drop it
                    terms.append(("-", text))
                return
            terms.append(("-", "1") if key == "1" else ("+", "0"))
            return
        if not any(_norm(t[1]) == key and t[0] == sign for t in terms):
            terms.append((sign, text))

    for sign, chunk, _ in signed_chunks(new_rhs):
        if chunk == ".":
            for s_old, c_old, _ in signed_chunks(old_rhs):
                add(s_old, c_old)
        else:
            add(sign, chunk)
    if not terms:
        raise FormulaError(f"updating {old!r} with {new!r} leaves no terms on the right-hand side")
    rhs = terms[0][1] if terms[0][0] == "+" else "-" + terms[0][1]
    for sign, text in terms[1:]:
        rhs += f" {sign} {text}"
    return f"{lhs} ~ {rhs}"
