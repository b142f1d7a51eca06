"""Model matrices for formula pieces, with the state to rebuild them on new data.

:func:`make_design` turns a right-hand side (``"Days"``, ``"0 + f"``,
``"service + poly(x, 2)"``) into a :class:`Design`: an object that remembers
everything needed to materialize the same columns again (levels, contrasts,
``scale()``/``poly()`` state) and knows its lme4 column names.

Two implementations share that interface:

* :class:`ColumnsDesign` -- an intercept and/or plain numeric columns.  This is the
  common case (``1``, ``Days``, ``1 + x``) and needs no formulaic at all, which keeps
  tiny models fast and large frames cheap.
* :class:`FormulaicDesign` -- everything else, through formulaic with R's default
  contrasts (:mod:`mixedlm.formula.contrasts`).

Both produce identical matrices and names where both apply (tested).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd
from formulaic import model_matrix
from formulaic.errors import DataMismatchWarning

from mixedlm.errors import DataError, FormulaError

from ._text import signed_chunks
from .contrasts import MATERIALIZER_NAME
from .naming import INTERCEPT, lme4_names
from .rsyntax import R_FUNCTIONS, translate_r_syntax
from .variables import formula_variables, is_plain_name

__all__ = [
    "ColumnsDesign",
    "Design",
    "FormulaicDesign",
    "KNOWN_NAMES",
    "expression_design",
    "make_design",
]


def _known_names() -> frozenset[str]:
    """Names available to expressions besides data columns."""
    from formulaic.transforms import TRANSFORMS

    return frozenset(TRANSFORMS) | frozenset(R_FUNCTIONS) | {"np", "numpy"}


KNOWN_NAMES: frozenset[str] = _known_names()


class Design(Protocol):
    """A formula piece that can be materialized on (new) data.

    Attributes
    ----------
    formula : str
        The right-hand side it was built from.
    column_names : list of str
        lme4 names of the columns.
    variables : tuple of str
        Data columns it reads.
    """

    formula: str
    column_names: list[str]
    variables: tuple[str, ...]

    def materialize(self, data: pd.DataFrame) -> np.ndarray:
        """Model matrix (float64, one row per row of ``data``)."""
        ...


@dataclass
class ColumnsDesign:
    """An optional intercept followed by plain numeric data columns."""

    formula: str
    intercept: bool
    columns: tuple[str, ...]

    @property
    def column_names(self) -> list[str]:
        """lme4 names: ``(Intercept)`` then the column names."""
        return ([INTERCEPT] if self.intercept else []) + list(self.columns)

    @property
    def variables(self) -> tuple[str, ...]:
        """The data columns read."""
        return self.columns

    def materialize(self, data: pd.DataFrame) -> np.ndarray:
        """Stack the intercept and columns into a C-ordered float64 matrix.

        Parameters
        ----------
        data : pandas.DataFrame
            Must hold ``columns`` (numeric or bool).

        Returns
        -------
        numpy.ndarray
            Shape ``(len(data), len(column_names))``.
        """
        n = len(data)
        out = np.empty((n, int(self.intercept) + len(self.columns)), dtype=np.float64)
        k = 0
        if self.intercept:
            out[:, 0] = 1.0
            k = 1
        for name in self.columns:
            out[:, k] = _numeric_column(data, name)
            k += 1
        return out


@dataclass
class FormulaicDesign:
    """A formula piece materialized by formulaic (factors, transforms, interactions)."""

    formula: str
    model_spec: Any
    column_names: list[str]
    variables: tuple[str, ...]

    def materialize(self, data: pd.DataFrame) -> np.ndarray:
        """Re-materialize on ``data`` with the training levels, contrasts and state.

        Parameters
        ----------
        data : pandas.DataFrame
            New data holding ``variables``.

        Returns
        -------
        numpy.ndarray
            float64 matrix with the training columns.

        Raises
        ------
        DataError
            If a factor has a level that was not present when the design was built.
        """
        spec = self.model_spec
        aligned = _align_categoricals(data, spec)
        return _run_formulaic(lambda: spec.get_model_matrix(aligned, context=R_FUNCTIONS), self.formula)


def make_design(rhs: str, data: pd.DataFrame) -> tuple[Design, np.ndarray]:
    """Build a design for a right-hand side and materialize it on ``data``.

    Parameters
    ----------
    rhs : str
        formulaic right-hand side; ``"1"`` / ``"0"`` / ``"-1"`` handle the intercept
        as in R.
    data : pandas.DataFrame
        Training rows (no missing values in the variables used).

    Returns
    -------
    design : Design
        The reusable design.
    matrix : numpy.ndarray
        Its model matrix on ``data`` (float64).

    Raises
    ------
    FormulaError
        If formulaic cannot build the matrix (the message names the piece).
    """
    simple = _columns_design(rhs, data)
    if simple is not None:
        return simple, simple.materialize(data)
    translated = translate_r_syntax(rhs)

    def build() -> Any:
        """formulaic's model matrix with R contrasts, keeping rows with NaN."""
        return model_matrix(
            translated,
            data,
            output="numpy",
            na_action="ignore",
            materializer=MATERIALIZER_NAME,
            context=R_FUNCTIONS,
        )

    matrix, spec = _run_formulaic(build, rhs, return_spec=True)
    design = FormulaicDesign(
        formula=rhs,
        model_spec=spec,
        column_names=lme4_names(spec),
        variables=formula_variables(rhs),
    )
    return design, matrix


def expression_design(expr: str, data: pd.DataFrame) -> tuple[Design, np.ndarray]:
    """Design for a single numeric expression (a response part or an offset).

    Parameters
    ----------
    expr : str
        A column name or a Python expression (``"size - incidence"``,
        ``"np.log(t)"``).
    data : pandas.DataFrame
        Training rows.

    Returns
    -------
    design : Design
        Reusable design with one column.
    values : numpy.ndarray
        float64 vector of length ``len(data)``.

    Raises
    ------
    DataError
        If the expression does not give one numeric value per row.
    """
    text = expr.strip()
    rhs = f"0 + {text}" if is_plain_name(text) else f"0 + I({text})"
    design, matrix = make_design(rhs, data)
    if matrix.shape[1] != 1:
        raise DataError(
            f"the expression {expr!r} must give one number per row, but it gives "
            f"{matrix.shape[1]} columns (is it a factor or text?)"
        )
    return design, matrix[:, 0]


def _columns_design(rhs: str, data: pd.DataFrame) -> ColumnsDesign | None:
    """A :class:`ColumnsDesign` if ``rhs`` is only an intercept and numeric columns."""
    intercept = True
    columns: list[str] = []
    try:
        chunks = signed_chunks(rhs)
    except FormulaError:
        return None
    for sign, chunk, _ in chunks:
        if chunk == "1":
            intercept = sign == "+"
            continue
        if chunk == "0":
            if sign == "-":
                return None  # R's "- 0" re-adds the intercept; leave it to formulaic
            intercept = False
            continue
        if sign == "-" or not is_plain_name(chunk) or chunk in columns:
            return None
        if chunk not in data.columns or not _is_numeric(data.dtypes[chunk]):
            return None
        columns.append(chunk)
    return ColumnsDesign(formula=rhs, intercept=intercept, columns=tuple(columns))


def _is_numeric(dtype: Any) -> bool:
    """True for int, float or bool dtypes (not categorical, not text)."""
    if isinstance(dtype, np.dtype):
        return dtype.kind in "iufb"
    if isinstance(dtype, pd.CategoricalDtype):
        return False
    return bool(
        pd.api.types.is_float_dtype(dtype) or pd.api.types.is_integer_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)
    )


def _numeric_column(data: pd.DataFrame, name: str) -> np.ndarray:
    """A data column as float64 (NaN for missing values of nullable dtypes)."""
    series = data[name]
    try:
        if isinstance(series.dtype, np.dtype):
            return series.to_numpy(dtype=np.float64)
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError):
        raise DataError(
            f"column {name!r} must be numeric (it was numeric when the model was fitted), got {series.dtype}"
        ) from None


def _align_categoricals(data: pd.DataFrame, spec: Any) -> pd.DataFrame:
    """Give new data's factor columns the training categories.

    A factor column may arrive as another type than in training (``period`` as
    integers where training had text levels ``"1".."4"``); formulaic would then
    treat it as numeric.  Columns that feed a categorical factor directly are
    recoded onto the training categories, matching values first as they are and
    then by their text.

    Raises
    ------
    DataError
        Naming the column and the levels not seen in training.
    """
    replaced: dict[str, pd.Categorical] = {}
    for expr, (kind, state) in spec.encoder_state.items():
        if getattr(kind, "value", kind) != "categorical" or expr not in data.columns:
            continue
        categories = state.get("categories") if isinstance(state, dict) else None
        if categories is None:
            continue
        series = data[expr]
        levels = pd.Index(categories)
        codes = np.asarray(levels.get_indexer(series), dtype=np.int64)
        if (codes < 0).any():
            texts = [str(v) for v in series.tolist()]
            by_text = pd.Index([str(c) for c in categories], dtype=object).get_indexer(texts)
            codes = np.where(codes < 0, by_text, codes)
        if (codes < 0).any():
            unseen = list(dict.fromkeys(str(v) for v in series[codes < 0].tolist()))
            shown = ", ".join(repr(v) for v in unseen[:10]) + (", ..." if len(unseen) > 10 else "")
            raise DataError(
                f"factor {expr!r} has level(s) {shown} that were not in the data the "
                f"model was fitted to (levels: {', '.join(repr(str(c)) for c in categories)})"
            )
        replaced[expr] = pd.Categorical.from_codes(codes, categories=levels)
    return data.assign(**replaced) if replaced else data


def _run_formulaic(build: Any, piece: str, return_spec: bool = False) -> Any:
    """Call formulaic, turning its errors into FormulaError / DataError."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataMismatchWarning)
        try:
            result = build()
        except DataMismatchWarning as exc:
            raise DataError(f"in {piece!r}: {_mismatch_message(exc)}") from None
        except (DataError, FormulaError):
            raise
        except Exception as exc:  # formulaic wraps evaluation errors in its own types
            raise FormulaError(f"cannot build the model matrix for {piece!r}: {exc}") from None
    matrix = np.asarray(result, dtype=np.float64)
    if matrix.ndim == 1:
        matrix = matrix[:, None]
    if return_spec:
        return matrix, result.model_spec
    return matrix


def _mismatch_message(exc: Warning) -> str:
    """Reword formulaic's unseen-level warning."""
    text = str(exc)
    start, end = text.find("{"), text.find("}")
    levels = text[start : end + 1] if 0 <= start < end else "some values"
    return f"a factor has level(s) {levels} that were not in the data the model was fitted to"
