"""Missing values in the variables a model uses.

Row masks per column (NaN, None, pandas NA, a categorical's missing code) and the
error text that names the columns and counts, for the ``na_action`` handling of the
model frame.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

__all__ = ["missing_by_column", "missing_message"]


def missing_by_column(data: pd.DataFrame, columns: Sequence[str]) -> dict[str, np.ndarray]:
    """Missing-value masks of the columns that have any.

    Parameters
    ----------
    data : pandas.DataFrame
        The data.
    columns : sequence of str
        Columns to inspect.

    Returns
    -------
    dict
        Column name -> bool mask over the rows, only for columns with a missing value,
        in the order of ``columns``.
    """
    out: dict[str, np.ndarray] = {}
    for name in columns:
        series = data[name]
        dtype = series.dtype
        if isinstance(dtype, np.dtype) and dtype.kind in "iub":
            continue  # NumPy integers and booleans cannot be missing
        if isinstance(dtype, np.dtype) and dtype.kind in "fc":
            mask = np.isnan(series.to_numpy())
        elif isinstance(dtype, pd.CategoricalDtype):
            mask = series.array.codes < 0
        else:
            mask = np.asarray(series.isna(), dtype=bool)
        if mask.any():
            out[name] = mask
    return out


def missing_message(missing: Mapping[str, np.ndarray], context: str) -> str:
    """Error text naming the columns with missing values and their row counts.

    Parameters
    ----------
    missing : mapping
        Column (or argument) name -> bool mask, as from :func:`missing_by_column`.
    context : str
        Appended in parentheses, e.g. ``"na_action='fail'"``.

    Returns
    -------
    str
        ``"missing values (NaN/None) in 'x' (2 rows), 'g' (1 row); 3 row(s) affected
        (na_action='fail')"``.
    """
    parts = []
    for name, mask in missing.items():
        count = int(mask.sum())
        parts.append(f"{name!r} ({count} row{'' if count == 1 else 's'})")
    total = int(np.any(np.vstack(list(missing.values())), axis=0).sum()) if missing else 0
    return f"missing values (NaN/None) in {', '.join(parts)}; {total} row(s) affected ({context})"
