"""The response of a mixed-model formula as numbers.

``y``, ``np.log(y)``, ``cbind(successes, failures)`` and ``successes / trials``
become a float64 response and, for the two binomial forms, the number of trials.
A logical response is 0/1; a categorical or text response is accepted only as a
binary indicator (R's rule for binomial GLMs: the first level is failure, every
other level success) and only when the caller allows it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mixedlm.design.grouping import column_codes
from mixedlm.errors import DataError
from mixedlm.formula.materialize import expression_design
from mixedlm.formula.parser import ParsedFormula

__all__ = ["response_values"]


def response_values(
    parsed: ParsedFormula, data: pd.DataFrame, *, binary_factor_ok: bool = False
) -> tuple[np.ndarray, np.ndarray | None]:
    """Response vector and binomial trials.

    Parameters
    ----------
    parsed : ParsedFormula
        A formula with a response.
    data : pandas.DataFrame
        Rows to evaluate on (no missing values in the response variables).
    binary_factor_ok : bool
        Accept a categorical or text response as a binary indicator.

    Returns
    -------
    y : numpy.ndarray
        float64; for ``cbind(s, f)`` the proportion ``s / (s + f)`` (0 where there
        are no trials); for ``s / n`` the ratio (NaN for 0 / 0).
    trials : numpy.ndarray or None
        ``s + f`` or ``n`` for the binomial forms, else None.

    Raises
    ------
    DataError
        For a response that is not numeric (naming the column and what is expected).
    """
    if parsed.response_kind == "plain":
        expr = parsed.response_parts[0].strip()
        if expr in data.columns:
            return _response_column(data[expr], expr, binary_factor_ok), None
        return _numeric_part(expr, data), None
    first = _numeric_part(parsed.response_parts[0], data)
    second = _numeric_part(parsed.response_parts[1], data)
    with np.errstate(divide="ignore", invalid="ignore"):
        if parsed.response_kind == "cbind":
            trials = first + second
            positive = trials > 0
            y = np.where(positive, first / np.where(positive, trials, 1.0), 0.0)
        else:
            trials = second
            y = first / second
    return y, trials


def _response_column(series: pd.Series, name: str, binary_factor_ok: bool) -> np.ndarray:
    """A response column as float64, with R's rules for logical and factor responses."""
    dtype = series.dtype
    categorical = isinstance(dtype, pd.CategoricalDtype)
    if pd.api.types.is_bool_dtype(dtype) and not categorical:
        return series.to_numpy(dtype=np.float64)
    if categorical or pd.api.types.is_string_dtype(dtype) or dtype == np.dtype(object):
        if binary_factor_ok and (categorical or _all_text(series)):
            codes, _ = column_codes(series, name, name)
            return (codes > 0).astype(np.float64)
        kind = "categorical" if categorical else "text"
        raise DataError(
            f"the response {name!r} is {kind} ({dtype}); it must be numeric: numbers, "
            "or 0/1 / True/False for a binary response"
        )
    if pd.api.types.is_complex_dtype(dtype):
        raise DataError(f"the response {name!r} is complex ({dtype}); it must be real numbers")
    if pd.api.types.is_numeric_dtype(dtype):
        if isinstance(dtype, np.dtype):
            return series.to_numpy(dtype=np.float64)
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    raise DataError(f"the response {name!r} has type {dtype}; it must be numeric")


def _all_text(series: pd.Series) -> bool:
    """True if every value of an object column is a string."""
    return all(isinstance(v, str) for v in series.tolist())


def _numeric_part(expr: str, data: pd.DataFrame) -> np.ndarray:
    """A numeric column or expression (plain response, cbind counts, ratio parts)."""
    expr = expr.strip()
    if expr in data.columns:
        series = data[expr]
        if isinstance(series.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(series.dtype):
            raise DataError(f"the response column {expr!r} is {series.dtype}; it must be numeric")
        return _response_column(series, expr, False)
    constant = _numeric_literal(expr)
    if constant is not None:  # R recycles a number, as in cbind(s, 2)
        return np.full(len(data), constant, dtype=np.float64)
    _design, values = expression_design(expr, data)
    return values


def _numeric_literal(expr: str) -> float | None:
    """The value of a plain number such as ``2`` or ``1e3``; None for anything else."""
    try:
        return float(expr)
    except ValueError:
        return None
