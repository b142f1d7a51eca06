"""Terms of the fixed-effects part: R's ``term.labels``, ``assign`` and ``drop.scope``.

A fixed-effects design (:class:`~mixedlm.formula.materialize.ColumnsDesign` or
:class:`~mixedlm.formula.materialize.FormulaicDesign`) knows its columns; this module
groups them by the model term that generated them, as R's ``model.matrix`` records in
``attr(X, "assign")``:

* the intercept is term 0 (label ``"(Intercept)"``, no variables);
* every other term ``k = 1, 2, …`` is a product of *factors* (variables or expressions
  such as ``YEAR``, ``cHEIGHT``, ``poly(x, 2)``) and owns the columns its coding made —
  ``YEAR:cHEIGHT`` owns ``YEAR96:cHEIGHT`` and ``YEAR97:cHEIGHT``.

Labels follow R's ``attr(terms(fit), "term.labels")`` spelling (``a:b``, ``I(x^2)``).
The single-model ``anova`` uses the map to pool sums of squares by term, and ``drop1``
uses the factor sets for R's marginality rule (:func:`drop_scope`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._text import depth_map, signed_chunks, split_top, strip_outer_parens
from .naming import INTERCEPT

__all__ = ["FixedTerm", "drop_scope", "fixed_terms", "term_assign", "term_labels"]


@dataclass(frozen=True)
class FixedTerm:
    """One term of the fixed-effects part.

    Attributes
    ----------
    label : str
        R's term label: ``"(Intercept)"``, ``"Days"``, ``"YEAR:cHEIGHT"``, ``"I(x^2)"``.
    factors : tuple of str
        The term's factors (variables or expressions) in term order; empty for the
        intercept.
    columns : tuple of int
        Positions of the term's columns in the *full* fixed-effects matrix (before the
        rank check drops any).
    formula_text : str
        The term as formulaic reads it (Python spelling of expressions, ``**`` for
        ``^``): usable in ``"... - <term>"`` to remove the term from a formula.
    """

    label: str
    factors: tuple[str, ...]
    columns: tuple[int, ...]
    formula_text: str

    @property
    def is_intercept(self) -> bool:
        """True for the intercept term."""
        return not self.factors


def fixed_terms(design: Any) -> list[FixedTerm]:
    """The terms of a fixed-effects design, in column order.

    Parameters
    ----------
    design : ColumnsDesign or FormulaicDesign
        ``ModelFrame.spec.fixed`` of a fit.

    Returns
    -------
    list of FixedTerm
        The intercept first (when present), then the terms in the order of the model
        matrix (R's and formulaic's order: by degree, then as written).
    """
    if hasattr(design, "model_spec"):
        return _formulaic_terms(design.model_spec)
    terms: list[FixedTerm] = []
    pos = 0
    if getattr(design, "intercept", False):
        terms.append(FixedTerm(INTERCEPT, (), (0,), "1"))
        pos = 1
    for name in getattr(design, "columns", ()):
        terms.append(FixedTerm(name, (name,), (pos,), name))
        pos += 1
    return terms


def _formulaic_terms(model_spec: Any) -> list[FixedTerm]:
    """Terms from a formulaic ``ModelSpec``'s structure (one entry per term)."""
    terms: list[FixedTerm] = []
    pos = 0
    for entry in model_spec.structure:
        factors = list(entry.term.factors)
        exprs = [str(f.expr) for f in factors]
        ncol = len(entry.columns)
        cols = tuple(range(pos, pos + ncol))
        pos += ncol
        if exprs == ["1"]:
            terms.append(FixedTerm(INTERCEPT, (), cols, "1"))
            continue
        shown = [e.replace(" ** ", "^") if _is_python(f) else e for f, e in zip(factors, exprs)]
        terms.append(FixedTerm(":".join(shown), tuple(shown), cols, ":".join(exprs)))
    return terms


def _is_python(factor: Any) -> bool:
    """True if a formulaic factor is evaluated as a Python expression."""
    method = getattr(factor, "eval_method", None)
    return getattr(method, "value", method) == "python"


def term_assign(terms: Sequence[FixedTerm], kept: Sequence[int] | None = None) -> np.ndarray:
    """R's ``attr(X, "assign")``: for every (kept) column the index of its term.

    Parameters
    ----------
    terms : sequence of FixedTerm
        From :func:`fixed_terms`.
    kept : sequence of int, optional
        Positions of the columns kept by the rank check (``FixedEffectsMatrix.kept``);
        all columns when None.

    Returns
    -------
    numpy.ndarray
        int64, one entry per kept column: 0 for the intercept, ``k`` for the k-th
        non-intercept term (1-based, as R).
    """
    full: list[int] = []
    k = 0
    for t in terms:
        if t.is_intercept:
            full.extend([0] * len(t.columns))
        else:
            k += 1
            full.extend([k] * len(t.columns))
    arr = np.asarray(full, dtype=np.int64)
    if kept is None:
        return arr
    return arr[np.asarray(kept, dtype=np.int64)]


def drop_scope(terms: Sequence[FixedTerm]) -> list[str]:
    """Labels of the terms that may be dropped without breaking marginality (R's ``drop.scope``).

    A term ``t`` may be dropped unless another term contains every factor of ``t``
    (so ``a`` and ``b`` stay while ``a:b`` is in the model; ``a:b`` itself may go).
    The intercept is never in the scope.

    Parameters
    ----------
    terms : sequence of FixedTerm

    Returns
    -------
    list of str
        Labels in model order.
    """
    real = [t for t in terms if not t.is_intercept]
    out: list[str] = []
    for t in real:
        mine = set(t.factors)
        if not any(o is not t and mine <= set(o.factors) for o in real):
            out.append(t.label)
    return out


def term_labels(rhs: str) -> tuple[list[str], bool]:
    """R's ``attr(terms(~ rhs), "term.labels")`` and ``"intercept"`` from the formula text.

    The subset of R's ``terms()`` that lme4's ``expandDoubleVerts`` relies on: ``+`` adds
    terms, ``-`` removes them, ``0`` / ``-1`` / ``+1`` set the intercept, ``a*b`` is
    ``a + b + a:b``, ``a:b`` multiplies term sets, parentheses group; any other piece
    (``log(x)``, ``I(x^2)``) is one factor, spelled as written.  As in R, a term is a set
    of factors (``b:a`` is ``a:b``), its factors are written in the order the variables
    first appear in the formula, and terms are ordered by their number of factors, then
    as they first appear.

    Parameters
    ----------
    rhs : str
        One-sided formula text, e.g. ``"Days + f*x"`` (R spelling: ``^`` for powers).

    Returns
    -------
    labels : list of str
        ``"a:b"``-style labels, without the intercept.
    intercept : bool
    """
    order: dict[str, int] = {}
    terms, intercept = _sum_terms(rhs, order)
    terms.sort(key=len)  # stable: by order, then first appearance
    return [":".join(sorted(t, key=order.__getitem__)) for t in terms], intercept


def _sum_terms(text: str, order: dict[str, int]) -> tuple[list[frozenset[str]], bool]:
    """Terms (factor sets, in order of first appearance) and intercept of a ``+`` / ``-`` sum."""
    terms: list[frozenset[str]] = []
    intercept = True
    for sign, chunk, _start in signed_chunks(text):
        piece = strip_outer_parens(chunk)
        if piece in ("0", "1"):
            intercept = (piece == "1") == (sign == "+")
            continue
        for term in _product_terms(piece, order):
            if sign == "+":
                if term not in terms:
                    terms.append(term)
            elif term in terms:
                terms.remove(term)
    return terms, intercept


def _product_terms(text: str, order: dict[str, int]) -> list[frozenset[str]]:
    """The terms of one ``+``-free piece: ``a*b`` -> a, b, a:b; ``a:b`` -> a:b; ``(a + b)`` -> a, b.

    Factors are recorded in ``order`` as they are met, left to right.
    """
    text = strip_outer_parens(text)
    stars = _split_star(text)
    if len(stars) > 1:
        out = _product_terms(stars[0], order)
        for piece in stars[1:]:
            right = _product_terms(piece, order)
            out = _unique(out + right + _cross(out, right))
        return out
    colons = split_top(text, ":")
    if len(colons) > 1:
        out = _product_terms(colons[0], order)
        for piece in colons[1:]:
            out = _unique(_cross(out, _product_terms(piece, order)))
        return out
    chunks = signed_chunks(text)
    if len(chunks) > 1 or (chunks and chunks[0][1] != text):  # a parenthesized sum
        return _sum_terms(text, order)[0]
    order.setdefault(text, len(order))
    return [frozenset([text])]


def _cross(left: list[frozenset[str]], right: list[frozenset[str]]) -> list[frozenset[str]]:
    return [a | b for a in left for b in right]


def _unique(terms: list[frozenset[str]]) -> list[frozenset[str]]:
    out: list[frozenset[str]] = []
    for t in terms:
        if t not in out:
            out.append(t)
    return out


def _split_star(text: str) -> list[str]:
    """Split at top-level ``*`` that is not part of ``**``."""
    depths = depth_map(text)
    cuts = [
        i
        for i, ch in enumerate(text)
        if ch == "*" and depths[i] == 0 and text[i - 1 : i] != "*" and text[i + 1 : i + 2] != "*"
    ]
    bounds = [-1, *cuts, len(text)]
    return [text[bounds[k] + 1 : bounds[k + 1]].strip() for k in range(len(bounds) - 1)]
