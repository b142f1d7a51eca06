"""Which data columns a formula piece uses, and the check that they exist.

formulaic splits a right-hand side into factors; Python-expression factors
(``np.log(x)``, ``poly(z, 2)``, ``C(f, contr.sum)``) are read with :mod:`ast`.  A name
counts as a data column unless it is called (``poly``), the root of an attribute
(``np`` in ``np.log``) or a keyword argument name.
"""

from __future__ import annotations

import ast
import difflib
import re
from collections.abc import Collection, Iterable
from functools import lru_cache

from formulaic import Formula

from mixedlm.errors import FormulaError

from .rsyntax import translate_r_syntax

__all__ = [
    "check_columns",
    "expression_variables",
    "formula_variables",
    "is_plain_name",
]

_PLAIN_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_BACKTICK = re.compile(r"`([^`]*)`")


def is_plain_name(text: str) -> bool:
    """True if ``text`` is a bare Python identifier (``Days``, ``cHEIGHT``)."""
    return bool(_PLAIN_NAME.match(text.strip()))


@lru_cache(maxsize=512)
def formula_variables(rhs: str) -> tuple[str, ...]:
    """Data columns used by a formulaic right-hand side.

    Parameters
    ----------
    rhs : str
        E.g. ``"0 + np.log(x) + f:z + poly(w, 2)"``.

    Returns
    -------
    tuple of str
        Column names in order of first appearance.

    Raises
    ------
    FormulaError
        If formulaic cannot parse the text.
    """
    try:
        parsed = Formula(translate_r_syntax(rhs))
    except Exception as exc:  # formulaic raises several exception types
        raise FormulaError(f"cannot parse {rhs!r}: {exc}") from None
    found: list[str] = []
    for term in parsed:
        for factor in term.factors:
            method = getattr(factor.eval_method, "value", factor.eval_method)
            if method == "lookup":
                found.append(factor.expr)
            elif method == "python":
                found.extend(expression_variables(factor.expr))
    return tuple(dict.fromkeys(found))


@lru_cache(maxsize=512)
def expression_variables(expr: str) -> tuple[str, ...]:
    """Data columns used by one Python expression.

    Parameters
    ----------
    expr : str
        E.g. ``"size - incidence"``, ``"np.log(t)"``, ```"`my col` * 2"```.

    Returns
    -------
    tuple of str
        Names in order of first appearance (backtick-quoted names unquoted).

    Raises
    ------
    FormulaError
        If the expression is not valid Python.
    """
    quoted: dict[str, str] = {}

    def _placeholder(match: re.Match[str]) -> str:
        """Replace a backtick-quoted name by a valid identifier, remembering it."""
        key = f"__mixedlm_q{len(quoted)}__"
        quoted[key] = match.group(1)
        return key

    source = _BACKTICK.sub(_placeholder, translate_r_syntax(expr))
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as exc:
        raise FormulaError(f"cannot read the expression {expr!r}: {exc.msg}") from None
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            skip.add(id(node.func))
        elif isinstance(node, ast.Attribute):
            root = node.value
            while isinstance(root, ast.Attribute):
                root = root.value
            if isinstance(root, ast.Name):
                skip.add(id(root))
    names = [
        quoted.get(node.id, node.id) for node in ast.walk(tree) if isinstance(node, ast.Name) and id(node) not in skip
    ]
    return tuple(dict.fromkeys(names))


def check_columns(
    names: Iterable[str],
    columns: Collection[str],
    *,
    where: str,
    known: Collection[str] = (),
) -> None:
    """Raise if a name is neither a data column nor a known helper.

    Parameters
    ----------
    names : iterable of str
        Names the formula uses.
    columns : collection of str
        The data's columns.
    where : str
        The formula (or piece) for the message.
    known : collection of str
        Other names that may legitimately appear (evaluation context).

    Raises
    ------
    FormulaError
        Naming the first unknown column and listing close matches among the data's
        columns.
    """
    for name in names:
        if name in columns or name in known:
            continue
        matches = difflib.get_close_matches(name, [str(c) for c in columns], n=3, cutoff=0.6)
        hint = (
            f"; close matches: {', '.join(repr(m) for m in matches)}"
            if matches
            else f"; the data has columns {_preview(columns)}"
        )
        raise FormulaError(f"unknown column {name!r} in {where!r}{hint}")


def _preview(columns: Collection[str], limit: int = 12) -> str:
    """Short list of column names for an error message."""
    shown = [repr(str(c)) for c in list(columns)[:limit]]
    more = ", ..." if len(columns) > limit else ""
    return "[" + ", ".join(shown) + more + "]"
