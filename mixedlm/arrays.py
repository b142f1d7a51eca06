"""Validation of array arguments shared by the array-interface front ends (``MixedLM``, ``MixedGLM``)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mixedlm.errors import DataError


def as_float_array(a: Any, name: str) -> np.ndarray:
    """``a`` as a float64 array: pandas objects through ``to_numpy``, anything else through
    ``np.asarray``; a failure is a :class:`~mixedlm.errors.DataError` naming ``name`` (and, for
    a DataFrame, its non-numeric columns)."""
    if isinstance(a, (pd.Series, pd.DataFrame)):
        try:
            return a.to_numpy(dtype=np.float64)
        except (TypeError, ValueError) as exc:
            if isinstance(a, pd.DataFrame):
                bad = [str(c) for c in a.columns if not pd.api.types.is_numeric_dtype(a[c])]
                raise DataError(
                    f"{name} must be numeric; non-numeric column(s): {', '.join(bad)} ({exc}). "
                    "Encode factors as indicator columns first (e.g. pd.get_dummies)"
                ) from None
            raise DataError(f"{name} must be numeric: {exc}") from None
    try:
        return np.asarray(a, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{name} must be numeric: {exc}") from None


def float_matrix(a: Any, name: str, n: int | None) -> tuple[np.ndarray, list[str] | None]:
    """A dense, finite float matrix (1-D becomes one column) and its column names if it has any.

    Raises :class:`~mixedlm.errors.DataError` naming the argument when the input is not
    numeric, not 1-D/2-D, has the wrong number of rows (``n``, when given), or holds
    NaN/infinite values (with the first offending position).
    """
    names = None
    if isinstance(a, pd.DataFrame):
        names = [str(c) for c in a.columns]
    elif isinstance(a, pd.Series) and a.name is not None:
        names = [str(a.name)]
    arr = as_float_array(a, name)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise DataError(f"{name} must be a vector or a matrix, not an array with {arr.ndim} dimensions")
    if n is not None and arr.shape[0] != n:
        raise DataError(
            f"{name} has {arr.shape[0]} rows but endog has {n} observations; they must have one row per observation"
        )
    if not np.all(np.isfinite(arr)):
        i, j = np.argwhere(~np.isfinite(arr))[0]
        raise DataError(f"{name} must be finite; row {i} (0-based), column {j} has {arr[i, j]}")
    return np.ascontiguousarray(arr), names
