"""Parse lme4-style mixed-model formulas.

``parse_formula("Reaction ~ Days + (Days | Subject)")`` splits a formula into its
response, the fixed-effects part (handed to formulaic later), ``offset(...)`` terms and
the random-effects terms, with lme4's expansion of ``||`` and ``g1/g2``.  The parser
only looks at text; whether the names exist in the data is checked when the formula is
materialized.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from mixedlm.errors import FormulaError

from ._text import (
    call_parts,
    depth_map,
    is_identifier_char,
    signed_chunks,
    snippet,
    split_top,
    strip_outer_parens,
    top_level_positions,
)

__all__ = ["ParsedFormula", "RandomTermSpec", "parse_formula"]

_NAME = re.compile(r"^(?:[A-Za-z_.][A-Za-z0-9_.]*|`[^`]+`)$")
_NO_RANDOM_MESSAGE = (
    "no random-effects terms found in the formula {formula!r}; for a model without "
    "random effects use a linear model (statsmodels OLS / numpy lstsq) or add a term "
    "like (1 | group)"
)


@dataclass(frozen=True)
class RandomTermSpec:
    """One random-effects term ``(lhs | group)`` after expansion.

    Attributes
    ----------
    lhs : str
        Formula (formulaic syntax) for the term's model matrix, as written on the
        bar's left side: ``"1"``, ``"Days"``, ``"0 + Days"``, ``"0 + f"``.
    group : str
        lme4's name of the grouping factor: ``"Subject"``, ``"dept:service"``,
        ``"cask:batch"``.
    group_vars : tuple of str
        Data columns forming the grouping factor, in the order of ``group``.
    correlated : bool
        ``False`` for terms written with ``||`` (every column of the left-side
        model matrix gets its own independent variance).
    label : str
        lme4-style label, ``"Days | Subject"`` (``"Days || Subject"`` for an
        uncorrelated term).
    """

    lhs: str
    group: str
    group_vars: tuple[str, ...]
    correlated: bool
    label: str


@dataclass(frozen=True)
class ParsedFormula:
    """A mixed-model formula split into its parts.

    Attributes
    ----------
    formula : str
        The formula as given.
    response : str or None
        Response expression text (``"Reaction"``, ``"incidence / size"``,
        ``"cbind(s, f)"``); ``None`` for a one-sided formula.
    response_kind : str
        ``"plain"``, ``"cbind"`` (two columns: successes, failures) or ``"ratio"``
        (``successes / trials``).
    response_parts : tuple of str
        ``("s", "f")`` for cbind, ``("incidence", "size")`` for a ratio,
        ``(expr,)`` otherwise (empty for a one-sided formula).
    fixed : str
        Right-hand side for formulaic with the random-effects terms and
        ``offset()`` removed; ``"0 +"`` / ``"- 1"`` are kept.  ``"1"`` when nothing
        else is left.
    offsets : tuple of str
        Expressions inside ``offset(...)``, in formula order.
    random : tuple of RandomTermSpec
        Random-effects terms after expanding ``||`` and ``/``, in formula order.
    """

    formula: str
    response: str | None
    response_kind: str
    response_parts: tuple[str, ...]
    fixed: str
    offsets: tuple[str, ...]
    random: tuple[RandomTermSpec, ...]

    @property
    def group_names(self) -> tuple[str, ...]:
        """Names of the grouping factors, one per random term (may repeat)."""
        return tuple(term.group for term in self.random)


def parse_formula(formula: str, *, require_random: bool = True) -> ParsedFormula:
    """Parse an lme4-style formula.

    Parameters
    ----------
    formula : str
        E.g. ``"Reaction ~ Days + (Days | Subject)"``,
        ``"cbind(incidence, size - incidence) ~ period + (1 | herd)"``,
        ``"strength ~ 1 + (1 | batch/cask)"``, ``"y ~ x + offset(np.log(t)) + (x || g)"``.
        A one-sided formula (``"~ (1 | g)"``) has no response.
    require_random : bool, default True
        Raise if the formula has no random-effects term (as lme4 does).  Pass
        ``False`` for formulas that legitimately have none (``re_form="~0"``,
        fixed-only parts used by other tools).

    Returns
    -------
    ParsedFormula
        Cached per (formula, require_random): parsing the same text twice returns
        the same immutable object.

    Raises
    ------
    FormulaError
        For malformed input; the message quotes the offending piece.
    """
    if not isinstance(formula, str):
        raise FormulaError(f"a formula must be a string, got {type(formula).__name__}")
    return _parse_formula(formula, require_random)


@lru_cache(maxsize=256)
def _parse_formula(formula: str, require_random: bool) -> ParsedFormula:
    """Uncached :func:`parse_formula` (results are immutable, so caching is safe)."""
    depth_map(formula)  # balanced brackets and quotes, else FormulaError
    tildes = top_level_positions(formula, "~")
    if not tildes:
        raise FormulaError(
            f"the formula {formula!r} has no '~'; write it as 'response ~ terms', e.g. 'y ~ x + (1 | g)'"
        )
    if len(tildes) > 1:
        raise FormulaError(
            f"the formula {formula!r} has more than one '~' (second at position "
            f"{tildes[1]}: {snippet(formula, tildes[1])!r})"
        )
    lhs_text = formula[: tildes[0]].strip()
    rhs_text = formula[tildes[0] + 1 :].strip()
    if not rhs_text:
        raise FormulaError(f"the formula {formula!r} has nothing on the right of '~'")
    response, kind, parts = _parse_response(lhs_text)
    fixed, offsets, random = _parse_rhs(rhs_text)
    if require_random and not random:
        raise FormulaError(_NO_RANDOM_MESSAGE.format(formula=formula))
    return ParsedFormula(
        formula=formula,
        response=response,
        response_kind=kind,
        response_parts=parts,
        fixed=fixed,
        offsets=offsets,
        random=random,
    )


def _parse_response(text: str) -> tuple[str | None, str, tuple[str, ...]]:
    """Classify the left side of ``~``: plain expression, ``cbind(s, f)`` or ``s / n``."""
    if not text:
        return None, "plain", ()
    if "|" in text and top_level_positions(strip_outer_parens(text), "|"):
        raise FormulaError(f"a '|' cannot appear in the response {text!r}")
    args = call_parts(text, "cbind")
    if args is not None:
        if len(args) != 2 or not all(args):
            raise FormulaError(
                f"cbind() in the response {text!r} needs exactly two arguments, cbind(successes, failures)"
            )
        return text, "cbind", (args[0], args[1])
    pieces = split_top(text, "/")
    if len(pieces) == 2:
        if not all(pieces):
            raise FormulaError(f"the ratio response {text!r} is missing a side of '/'")
        return text, "ratio", (pieces[0], pieces[1])
    return text, "plain", (text,)


def _parse_rhs(text: str) -> tuple[str, tuple[str, ...], tuple[RandomTermSpec, ...]]:
    """Split the right side into fixed part, offsets and random terms."""
    if _top_level_bar(text):
        # R's precedence: "y ~ 1 | g" is "y ~ (1 | g)" with an implied intercept.
        return "1", (), tuple(_parse_bar(text, text))
    fixed_pieces: list[str] = []
    offsets: list[str] = []
    random: list[RandomTermSpec] = []
    for sign, chunk, _start in signed_chunks(text):
        inner = strip_outer_parens(chunk)
        if chunk.startswith("(") and inner != chunk and _top_level_bar(inner):
            if sign == "-":
                raise FormulaError(f"a random-effects term cannot be removed: '- {chunk}'")
            random.extend(_parse_bar(inner, chunk))
            continue
        offset_args = call_parts(chunk, "offset")
        if offset_args is not None:
            if sign == "-" or len(offset_args) != 1 or not offset_args[0]:
                raise FormulaError(
                    f"offset term {chunk!r} must be added with '+' and hold one "
                    "expression, e.g. '+ offset(np.log(exposure))'"
                )
            offsets.append(offset_args[0])
            continue
        _reject_embedded_bar(chunk)
        fixed_pieces.append(chunk if not fixed_pieces and sign == "+" else f"{sign} {chunk}")
    fixed = " ".join(fixed_pieces) if fixed_pieces else "1"
    if fixed.startswith("- "):
        fixed = "-" + fixed[2:]
    return fixed, tuple(offsets), tuple(random)


def _top_level_bar(text: str) -> bool:
    """True if ``text`` has a ``|`` outside brackets and quotes."""
    return bool(top_level_positions(text, "|"))


def _reject_embedded_bar(chunk: str) -> None:
    """Reject a bar term used inside an interaction or other expression.

    A ``|`` inside a function call (``I(a | b)``) is Python's "or" and is allowed;
    a bar inside bare parentheses (``x:(1 | g)``) is a misplaced random term.
    """
    depths = depth_map(chunk)
    stack: list[bool] = []  # True for a call's parentheses
    for i, ch in enumerate(chunk):
        if depths[i] < 0:
            continue
        if ch == "(":
            j = i - 1
            while j >= 0 and chunk[j] == " ":
                j -= 1
            stack.append(j >= 0 and is_identifier_char(chunk[j]))
        elif ch == ")":
            stack.pop()
        elif ch == "|" and stack and not any(stack):
            raise FormulaError(
                f"the random-effects term in {chunk!r} must be added on its own with '+', e.g. 'y ~ x + (1 | g)'"
            )


def _parse_bar(inner: str, original: str) -> list[RandomTermSpec]:
    """Parse the inside of ``(lhs | group)`` / ``(lhs || group)`` into terms."""
    bars = top_level_positions(inner, "|")
    correlated = True
    if len(bars) == 2 and bars[1] == bars[0] + 1:
        correlated = False
    elif len(bars) != 1:
        raise FormulaError(
            f"random-effects term {original!r} must have exactly one '|' or one '||' "
            "between the left side and the grouping factor"
        )
    lhs = inner[: bars[0]].strip()
    rhs = inner[bars[-1] + 1 :].strip()
    bar = "|" if correlated else "||"
    if not lhs:
        raise FormulaError(
            f"random-effects term {original!r} has an empty left side of '{bar}'; "
            f"write e.g. '(1 {bar} g)' for a random intercept"
        )
    if not rhs:
        raise FormulaError(
            f"random-effects term {original!r} has nothing on the right of '{bar}'; "
            "name the grouping factor, e.g. '(1 | g)'"
        )
    components = [_group_component(piece, original) for piece in split_top(rhs, "/")]
    terms: list[RandomTermSpec] = []
    nested: list[str] = []
    for component in components:
        # lme4's expandSlash: a/b/c -> a, b:a, c:b:a (innermost factor first)
        nested = [*component, *nested]
        group_vars = tuple(nested)
        group = ":".join(group_vars)
        terms.append(
            RandomTermSpec(
                lhs=lhs,
                group=group,
                group_vars=tuple(_unquote(v) for v in group_vars),
                correlated=correlated,
                label=f"{lhs} {bar} {group}",
            )
        )
    return terms


def _group_component(piece: str, original: str) -> list[str]:
    """Variables of one ``/``-separated component of a grouping expression."""
    piece = strip_outer_parens(piece)
    if not piece:
        raise FormulaError(f"grouping factor of {original!r} has an empty part around '/'")
    names = [strip_outer_parens(name) for name in split_top(piece, ":")]
    for name in names:
        if not _NAME.match(name):
            raise FormulaError(
                f"grouping factor {name!r} in {original!r} must be a column name or an "
                "interaction of column names ('g1:g2', nested 'g1/g2'); make a column "
                "for it in the data"
            )
    return names


def _unquote(name: str) -> str:
    """Strip backticks from a quoted column name."""
    return name[1:-1] if name.startswith("`") and name.endswith("`") else name
