"""lme4 (R ``model.matrix``) names for formulaic's model-matrix columns.

formulaic names columns ``Intercept``, ``period[T.2]``, ``f[a]:x``, ``poly(x, 2)[1]``,
``studage[.L]``; R names the same columns ``(Intercept)``, ``period2``, ``fa:x``,
``poly(x, 2)1``, ``studage.L``.  The translation is guided by the model spec's
structure (which factors make each column), so level labels containing ``[``, ``]`` or
``:`` are handled.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["INTERCEPT", "lme4_column_name", "lme4_names"]

INTERCEPT = "(Intercept)"
_CONTRAST_PREFIXES = ("T.", "S.", "H.", "D.")


def lme4_names(model_spec: Any) -> list[str]:
    """lme4 names of all columns of a formulaic ``ModelSpec``.

    Parameters
    ----------
    model_spec : formulaic.ModelSpec
        A spec after materialization (its ``structure`` and ``encoder_state`` are
        filled in).

    Returns
    -------
    list of str
        One name per column, in column order.
    """
    names: list[str] = []
    for entry in model_spec.structure:
        factors = list(entry.term.factors)
        exprs = [factor.expr for factor in factors]
        python_parts = [_is_python(factor) for factor in factors]
        levels = [_levels_of(model_spec, expr) for expr in exprs]
        for column in entry.columns:
            names.append(lme4_column_name(column, exprs, python_parts, levels))
    return names


def lme4_column_name(
    column: str,
    exprs: Sequence[str],
    python_parts: Sequence[bool] | None = None,
    levels: Sequence[Sequence[str] | None] | None = None,
) -> str:
    """Translate one formulaic column name to R's naming.

    Parameters
    ----------
    column : str
        formulaic's column name, e.g. ``"x:f[T.b]"``.
    exprs : sequence of str
        The expressions of the factors making the column's term, in term order
        (``["x", "f"]``); ``["1"]`` for the intercept.
    python_parts : sequence of bool, optional
        Which factors are Python expressions (their ``**`` is shown as R's ``^``).
    levels : sequence of (sequence of str or None), optional
        Category labels of each factor when it is categorical; used to tell a
        contrast prefix (``T.b``) from a level that happens to start like one.

    Returns
    -------
    str
        The R name (``"x:fb"``).  If the column does not follow formulaic's pattern,
        it is returned unchanged (``Intercept`` still becomes ``(Intercept)``).
    """
    if list(exprs) == ["1"] and column == "Intercept":
        return INTERCEPT
    python_parts = python_parts or [False] * len(exprs)
    levels = levels or [None] * len(exprs)
    parts = _split_by_factors(column, exprs)
    if parts is None:
        return column
    out = []
    for (expr, field), is_python, lv in zip(parts, python_parts, levels):
        shown = expr.replace(" ** ", "^") if is_python else expr
        out.append(shown + ("" if field is None else _field_name(field, lv)))
    return ":".join(out)


def _split_by_factors(column: str, exprs: Sequence[str]) -> list[tuple[str, str | None]] | None:
    """Split ``column`` into ``(expr, field)`` pairs, one per factor; ``None`` if it does not fit."""
    parts: list[tuple[str, str | None]] = []
    pos = 0
    for i, expr in enumerate(exprs):
        if not column.startswith(expr, pos):
            return None
        pos += len(expr)
        field: str | None = None
        last = i == len(exprs) - 1
        if pos < len(column) and column[pos] == "[":
            if last:
                if not column.endswith("]"):
                    return None
                end = len(column) - 1
            else:
                end = column.find("]:" + exprs[i + 1], pos)
                if end < 0:
                    return None
            field = column[pos + 1 : end]
            pos = end + 1
        if not last:
            if not column.startswith(":", pos):
                return None
            pos += 1
        parts.append((expr, field))
    return parts if pos == len(column) else None


def _field_name(field: str, levels: Sequence[str] | None) -> str:
    """R's suffix for a factor's field: ``T.b`` -> ``b``, ``.L`` -> ``.L``, ``1`` -> ``1``."""
    if levels is not None and field in levels:
        return field
    if field[:2] in _CONTRAST_PREFIXES and len(field) > 2:
        rest = field[2:]
        if levels is None or rest in levels:
            return rest
    return field


def _is_python(factor: Any) -> bool:
    """True if a formulaic factor is evaluated as a Python expression."""
    method = getattr(factor, "eval_method", None)
    return getattr(method, "value", method) == "python"


def _levels_of(model_spec: Any, expr: str) -> list[str] | None:
    """Category labels formulaic recorded for a categorical factor, as strings."""
    state = model_spec.encoder_state.get(expr)
    if not state:
        return None
    categories = state[1].get("categories") if isinstance(state[1], dict) else None
    return None if categories is None else [str(c) for c in categories]
