"""The model frame: formula + data -> response, X, random-effects blocks, NA bookkeeping.

:func:`build_model_frame` is R's ``model.frame`` + ``model.matrix`` + lme4's
``mkReTrms`` for one fit: it finds the rows usable for the fit (``na_action``),
materializes the fixed-effects matrix and each bar's left-side matrix (through
:mod:`mixedlm.formula`, the only place that talks to formulaic), codes the grouping
factors and runs lme4's sanity checks on them.  It keeps a :class:`FrameSpec` so that
:func:`newdata_frame` rebuilds the same columns for ``predict(newdata)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mixedlm.design.grouping import GroupingFactor, code_grouping_factor
from mixedlm.design.missing import missing_by_column, missing_message
from mixedlm.design.response import response_values
from mixedlm.design.vcomp import VcComponent, nan_rows_of, vc_columns, vc_rhs
from mixedlm.errors import DataError, FormulaError
from mixedlm.formula.materialize import (
    KNOWN_NAMES,
    Design,
    expression_design,
    make_design,
)
from mixedlm.formula.parser import ParsedFormula, RandomTermSpec, parse_formula
from mixedlm.formula.variables import (
    check_columns,
    expression_variables,
    formula_variables,
)

__all__ = [
    "FrameSpec",
    "ModelFrame",
    "NA_ACTIONS",
    "NewDataFrame",
    "ReBlock",
    "build_model_frame",
    "newdata_frame",
]

NA_ACTIONS = ("omit", "exclude", "fail")


@dataclass
class ReBlock:
    """One random-effects term materialized on the rows of a frame.

    Attributes
    ----------
    group : str
        lme4's name of the grouping factor.
    codes : numpy.ndarray
        int64 ``(n,)`` level index of each row (``-1`` only in new data: a level not
        seen in training, or an unusable row).
    levels : list of str
        Level labels in R's order (training levels for new data).
    Z : numpy.ndarray
        float64 ``(n, S)`` left-side model matrix, C-contiguous.
    colnames : list of str
        lme4 names of the columns of ``Z``.
    correlated : bool
        ``False`` for ``||`` terms.
    label : str
        lme4-style term label.
    """

    group: str
    codes: np.ndarray
    levels: list[str]
    Z: np.ndarray
    colnames: list[str]
    correlated: bool
    label: str


@dataclass
class TermSpec:
    """What re-materializing one random term needs."""

    term: RandomTermSpec
    design: Design
    factor: GroupingFactor


@dataclass
class FrameSpec:
    """Everything :func:`newdata_frame` needs to rebuild a model frame's columns.

    Attributes
    ----------
    parsed : ParsedFormula
        The parsed formula.
    fixed : Design
        Fixed-effects design (levels, contrasts, transform state).
    offsets : tuple of Design
        One design per ``offset()`` term.
    terms : tuple of TermSpec
        One per random term: left-side design and grouping factor with its levels.
    """

    parsed: ParsedFormula
    fixed: Design
    offsets: tuple[Design, ...]
    terms: tuple[TermSpec, ...]

    @property
    def X_names(self) -> list[str]:
        """lme4 names of the fixed-effects columns."""
        return list(self.fixed.column_names)

    @property
    def group_levels(self) -> dict[str, list[str]]:
        """Training levels of every grouping factor."""
        return {t.factor.name: t.factor.levels for t in self.terms}


@dataclass
class ModelFrame:
    """The materialized model: response, design matrices and row bookkeeping.

    Attributes
    ----------
    parsed : ParsedFormula
    y : numpy.ndarray
        float64 ``(n,)`` response (for cbind: successes / (successes + failures), 0
        where there are no trials; for a ratio: the ratio).
    X : numpy.ndarray
        float64 ``(n, p)`` full fixed-effects model matrix (rank not checked).
    X_names : list of str
        lme4 names of the columns of ``X``.
    offset : numpy.ndarray
        float64 ``(n,)``: formula offsets plus the ``offset`` argument (zeros if none).
    weights : numpy.ndarray or None
        Prior weights from the ``weights`` argument (finite, >= 0).
    trials : numpy.ndarray or None
        Binomial trials for cbind / ratio responses.
    re_blocks : list of ReBlock
        One per random term, in formula order.
    n_input : int
        Rows of the input frame.
    used_rows : numpy.ndarray
        bool ``(n_input,)``: rows used in the fit.
    index : pandas.Index
        The input frame's index.
    na_action : str
    spec : FrameSpec
    vc : list of VcComponent
        One per ``vc_formulas`` entry, on the used rows.
    extra : dict
        ``name -> (Design, matrix)`` for every ``extra_rhs`` entry, on the used rows.
    row_vectors : dict
        ``name -> values`` of every ``row_vectors`` entry on the used rows.
    """

    parsed: ParsedFormula
    y: np.ndarray
    X: np.ndarray
    X_names: list[str]
    offset: np.ndarray
    weights: np.ndarray | None
    trials: np.ndarray | None
    re_blocks: list[ReBlock]
    n_input: int
    used_rows: np.ndarray
    index: pd.Index
    na_action: str
    spec: FrameSpec
    vc: list[VcComponent] = field(default_factory=list)
    extra: dict[str, tuple[Design, np.ndarray]] = field(default_factory=dict)
    row_vectors: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def n(self) -> int:
        """Number of rows used."""
        return int(self.y.shape[0])


@dataclass
class NewDataFrame:
    """Model columns re-materialized on new data.

    Attributes
    ----------
    X : numpy.ndarray
        float64 ``(m, p)`` with the training columns; NaN rows where ``rows`` is False.
    X_names : list of str
    offset : numpy.ndarray
        float64 ``(m,)`` (NaN where ``rows`` is False).
    re_blocks : list of ReBlock
        Requested random terms; ``codes`` index the *training* levels, ``-1`` for a
        new level or an unusable row.
    rows : numpy.ndarray
        bool ``(m,)``: rows with every needed value present.
    index : pandas.Index
        ``newdata``'s index.
    """

    X: np.ndarray
    X_names: list[str]
    offset: np.ndarray
    re_blocks: list[ReBlock]
    rows: np.ndarray
    index: pd.Index

    @property
    def usable(self) -> np.ndarray:
        """Alias of :attr:`rows`."""
        return self.rows


@dataclass
class _Pieces:
    """Everything materialized on the candidate rows of one pass."""

    y: np.ndarray
    trials: np.ndarray | None
    offset_designs: list[Design]
    offsets: list[np.ndarray]
    fixed: Design
    X: np.ndarray
    lhs: dict[str, tuple[Design, np.ndarray]] = field(default_factory=dict)
    extra: dict[str, tuple[Design, np.ndarray]] = field(default_factory=dict)
    vc: list[VcComponent] = field(default_factory=list)


# --------------------------------------------------------------------- public API


def build_model_frame(
    formula: str | ParsedFormula,
    data: pd.DataFrame,
    *,
    weights: Any = None,
    offset: Any = None,
    na_action: str = "omit",
    allow_nlev_equal_nobs: bool = False,
    binary_factor_ok: bool = False,
    subset: Any = None,
    vc_formulas: Mapping[str, str] | None = None,
    extra_rhs: Mapping[str, str] | None = None,
    row_vectors: Mapping[str, Any] | None = None,
) -> ModelFrame:
    """Materialize a mixed-model formula on a data frame.

    Parameters
    ----------
    formula : str or ParsedFormula
        lme4 formula, e.g. ``"Reaction ~ Days + (Days | Subject)"``.
    data : pandas.DataFrame
        The data (a dict of columns is accepted too).
    weights : array-like or str, optional
        Prior weights, one per input row (or the name of a column).
    offset : array-like or str, optional
        Known part of the linear predictor, added to any ``offset()`` terms.
    na_action : {"omit", "exclude", "fail"}
        Rows with a missing value in any variable the model uses are dropped
        (``"omit"``, ``"exclude"``: the caller pads per-row output) or raise
        (``"fail"``).
    allow_nlev_equal_nobs : bool
        lme4's ``allow.n`` (glmer): allow as many levels, and random effects, as
        observations.
    binary_factor_ok : bool
        Accept a categorical or text response as a binary indicator (first level =
        failure, every other level = success), as binomial GLMMs do.
    subset : array-like, optional
        Rows of ``data`` to consider at all (R's ``subset``): a boolean mask with one
        entry per row, or index labels (``data.loc[subset]``).  Applied first; the frame's
        ``n_input``, ``used_rows`` and ``index`` refer to the subset.
    vc_formulas : mapping, optional
        ``name -> one-sided formula`` of variance components (``"0 + C(g)"``), built
        sparse by :func:`mixedlm.design.vcomp.vc_columns` on the used rows
        (:attr:`ModelFrame.vc`).
    extra_rhs : mapping, optional
        ``name -> one-sided formula`` of further dense model matrices on the same rows
        (:attr:`ModelFrame.extra`), e.g. statsmodels' ``re_formula``.
    row_vectors : mapping, optional
        ``name -> one value per row`` (e.g. group labels given as an array); a missing
        value drops the row; the used values are :attr:`ModelFrame.row_vectors`.

    Every variable of ``formula``, ``vc_formulas`` and ``extra_rhs`` and every row vector
    takes part in the one missing-value rule: a row is used only if none of them is
    missing there and no evaluated expression gives NaN.

    Returns
    -------
    ModelFrame

    Raises
    ------
    FormulaError
        Malformed formula, no response, unknown column.
    DataError
        Unusable data (empty, non-numeric response, missing values under
        ``"fail"``, continuous grouping column, too few/many levels, bad weights).
    """
    parsed = formula if isinstance(formula, ParsedFormula) else parse_formula(formula)
    _check_na_action(na_action)
    data = _as_frame(data)
    if subset is not None:
        data = _apply_subset(data, subset)
    vc_rhs_of = _one_sided(vc_formulas, "vc_formulas")
    extra_rhs_of = _one_sided(extra_rhs, "extra_rhs")
    if parsed.response is None:
        raise FormulaError(
            f"the formula {parsed.formula!r} has no response; write it as 'response ~ terms', e.g. 'y ~ x + (1 | g)'"
        )
    n_input = len(data)
    if n_input == 0:
        raise DataError("the data frame is empty (0 rows)")
    names, evaluated = _variables_used(parsed)
    check_columns(names, list(data.columns), where=parsed.formula, known=KNOWN_NAMES)
    for rhs in (*vc_rhs_of.values(), *extra_rhs_of.values()):
        extra_vars = formula_variables(rhs)
        check_columns(extra_vars, list(data.columns), where=rhs, known=KNOWN_NAMES)
        names = list(dict.fromkeys([*names, *extra_vars]))
        evaluated.update(extra_vars)
    columns = [name for name in names if name in data.columns]
    w_arg = _argument_vector(weights, data, "weights")
    off_arg = _argument_vector(offset, data, "offset")
    vectors = {str(k): _label_vector(v, data, str(k)) for k, v in (row_vectors or {}).items()}

    missing = missing_by_column(data, columns)
    for label, vec in (("weights", w_arg), ("offset", off_arg)):
        if vec is not None and np.isnan(vec).any():
            missing[f"{label} argument"] = np.isnan(vec)
    for label, vec in vectors.items():
        absent = np.asarray(pd.isna(vec), dtype=bool)
        if absent.any():
            missing[label] = absent
    used = np.ones(n_input, dtype=bool)
    for mask in missing.values():
        used &= ~mask
    if na_action == "fail" and not used.all():
        raise DataError(missing_message(missing, "na_action='fail'"))

    evaluated_columns = evaluated.intersection(columns)
    pieces = None
    evaluated_nan = np.zeros(n_input, dtype=bool)
    for _attempt in range(3):
        if not used.any():
            raise DataError(
                "no rows left after removing rows with missing values: "
                + missing_message(missing, f"na_action={na_action!r}")
            )
        sub = _subset(data, columns, used, drop_unused=evaluated_columns)
        pieces = _materialize(parsed, sub, binary_factor_ok, vc_rhs_of, extra_rhs_of)
        bad = _nan_rows(pieces)
        if not bad.any():
            break
        _reject_infinite_inputs(sub, columns, bad)
        if na_action == "fail":
            raise DataError(
                f"{int(bad.sum())} row(s) give NaN when the formula's expressions are "
                "evaluated (e.g. log of a negative number); na_action='fail'"
            )
        positions = np.flatnonzero(used)[bad]
        used[positions] = False
        evaluated_nan[positions] = True
        missing["NaN from evaluating expressions"] = evaluated_nan
    else:  # pragma: no cover - transforms that keep producing NaN
        raise DataError("evaluating the formula keeps producing missing values")
    assert pieces is not None
    n = int(used.sum())
    _check_finite(pieces)

    offset_total = np.zeros(n, dtype=np.float64)
    for values in pieces.offsets:
        offset_total += values
    if off_arg is not None:
        offset_total += off_arg[used]
    w = None
    if w_arg is not None:
        w = np.ascontiguousarray(w_arg[used])
        _check_weights(w)

    blocks, term_specs = _random_blocks(parsed, sub, pieces, n, allow_nlev_equal_nobs)
    spec = FrameSpec(
        parsed=parsed,
        fixed=pieces.fixed,
        offsets=tuple(pieces.offset_designs),
        terms=tuple(term_specs),
    )
    return ModelFrame(
        parsed=parsed,
        y=pieces.y,
        X=pieces.X,
        X_names=list(pieces.fixed.column_names),
        offset=offset_total,
        weights=w,
        trials=pieces.trials,
        re_blocks=blocks,
        n_input=n_input,
        used_rows=used,
        index=data.index,
        na_action=na_action,
        spec=spec,
        vc=pieces.vc,
        extra=pieces.extra,
        row_vectors={k: v[used] for k, v in vectors.items()},
    )


def newdata_frame(
    spec: FrameSpec,
    newdata: pd.DataFrame,
    *,
    include_random: Sequence[str] | None = None,
    allow_new_levels: bool = False,
) -> NewDataFrame:
    """Re-materialize a fitted model's columns on new data.

    Parameters
    ----------
    spec : FrameSpec
        ``ModelFrame.spec`` of the fit.
    newdata : pandas.DataFrame
        New rows (the response is not needed).
    include_random : sequence of str, optional
        Grouping factors whose terms to materialize (``None``: all; ``[]``: none).
    allow_new_levels : bool
        If False, a grouping level not seen in training raises; if True its rows get
        code ``-1``.

    Returns
    -------
    NewDataFrame

    Raises
    ------
    DataError
        A needed column is missing, a fixed-effects factor or grouping factor has a
        level not seen in training (unless ``allow_new_levels`` for the latter), or
        ``include_random`` names an unknown grouping factor.
    """
    newdata = _as_frame(newdata)
    terms = _select_terms(spec, include_random)
    needed: dict[str, None] = {}
    for design in (spec.fixed, *spec.offsets):
        needed.update(dict.fromkeys(design.variables))
    for t in terms:
        needed.update(dict.fromkeys(t.design.variables))
        needed.update(dict.fromkeys(t.factor.variables))
    absent = [name for name in needed if name not in newdata.columns]
    if absent:
        raise DataError("new data lacks column(s) " + ", ".join(repr(a) for a in absent) + " needed by the model")
    columns = list(needed)
    m = len(newdata)
    rows = np.ones(m, dtype=bool)
    for mask in missing_by_column(newdata, columns).values():
        rows &= ~mask
    sub = _subset(newdata, columns, rows, drop_unused=set())
    X = _scatter(_materialize_on(spec.fixed, sub), rows)
    offset = np.where(rows, 0.0, np.nan)
    for design in spec.offsets:
        offset[rows] += _materialize_on(design, sub)[:, 0]
    blocks = []
    for t in terms:
        codes_sub = t.factor.codes_for(sub)
        new = codes_sub < 0
        if new.any() and not allow_new_levels:
            raise DataError(_new_levels_message(t.factor, sub, new))
        codes = np.full(m, -1, dtype=np.int64)
        codes[rows] = codes_sub
        blocks.append(
            ReBlock(
                group=t.term.group,
                codes=codes,
                levels=t.factor.levels,
                Z=np.ascontiguousarray(_scatter(_materialize_on(t.design, sub), rows)),
                colnames=list(t.design.column_names),
                correlated=t.term.correlated,
                label=t.term.label,
            )
        )
    return NewDataFrame(
        X=X,
        X_names=spec.X_names,
        offset=offset,
        re_blocks=blocks,
        rows=rows,
        index=newdata.index,
    )


# --------------------------------------------------------------------- helpers


def _check_na_action(na_action: str) -> None:
    """Reject an unknown ``na_action``."""
    if na_action not in NA_ACTIONS:
        raise DataError(f"na_action must be one of {', '.join(repr(a) for a in NA_ACTIONS)}, not {na_action!r}")


def as_pandas_frame(data: Any, what: str = "data") -> pd.DataFrame:
    """The user's data as a pandas DataFrame, or a :class:`DataError` saying what to pass.

    pandas frames pass through; frames of other libraries that offer ``to_pandas()``
    (polars, pyarrow tables, narwhals) are converted.  A Dask DataFrame is refused with
    a pointer to ``.compute()``: fitting partition by partition (DESIGN.md §3) is not
    implemented yet, and silently collecting a large distributed frame would be wrong.
    """
    if isinstance(data, pd.DataFrame):
        return data
    root = (type(data).__module__ or "").split(".")[0]
    if root in ("dask", "dask_expr", "dask_cudf"):
        raise DataError(
            f"{what} is a Dask DataFrame: the scale-out path (fitting partition by partition) is "
            f"not implemented yet; call {what}.compute() to fit the data in memory as a pandas "
            "DataFrame"
        )
    to_pandas = getattr(data, "to_pandas", None)
    if callable(to_pandas):
        try:
            converted = to_pandas()
        except Exception as exc:  # the other library's own error, reported with context
            raise DataError(
                f"could not convert {what} ({type(data).__name__}) to a pandas DataFrame with its to_pandas(): {exc}"
            ) from None
        if isinstance(converted, pd.DataFrame):
            return converted
    raise DataError(
        f"{what} must be a pandas DataFrame (or a frame with a to_pandas() method, such as a "
        f"polars DataFrame or a pyarrow Table), not {type(data).__name__}"
    )


def _as_frame(data: Any) -> pd.DataFrame:
    """Accept a DataFrame, another library's frame (:func:`as_pandas_frame`) or a mapping of columns."""
    if isinstance(data, dict):
        try:
            return pd.DataFrame(data)
        except ValueError as exc:
            raise DataError(f"cannot make a data frame from the columns given: {exc}") from None
    return as_pandas_frame(data)


def _variables_used(parsed: ParsedFormula) -> tuple[list[str], set[str]]:
    """Names the formula reads.

    Returns
    -------
    names : list of str
        Every name, in order of appearance (response first).
    evaluated : set of str
        The names read by formula pieces that are evaluated as model matrices or
        expressions (everything except pure grouping columns); their unused
        categories are dropped, as R's model frame does.
    """
    evaluated: dict[str, None] = {}
    for part in parsed.response_parts:
        evaluated.update(dict.fromkeys(expression_variables(part)))
    evaluated.update(dict.fromkeys(formula_variables(parsed.fixed)))
    for expr in parsed.offsets:
        evaluated.update(dict.fromkeys(expression_variables(expr)))
    names = dict(evaluated)
    for term in parsed.random:
        lhs_vars = formula_variables(term.lhs)
        evaluated.update(dict.fromkeys(lhs_vars))
        names.update(dict.fromkeys(lhs_vars))
        names.update(dict.fromkeys(term.group_vars))
    return list(names), set(evaluated)


def _apply_subset(data: pd.DataFrame, subset: Any) -> pd.DataFrame:
    """R's ``subset``: a boolean mask over the rows, or index labels."""
    arr = np.asarray(subset)
    if arr.dtype == bool:
        if arr.ndim != 1 or arr.shape[0] != len(data):
            raise DataError(
                f"subset must be a boolean mask with one entry per row of the data ({len(data)}), "
                f"or index labels; got a boolean array of shape {arr.shape}"
            )
        return data.iloc[np.flatnonzero(arr)]
    try:
        return data.loc[arr]
    except KeyError as exc:
        raise DataError(f"subset names rows that are not in the data's index: {exc}") from None


def _one_sided(formulas: Mapping[str, str] | None, what: str) -> dict[str, str]:
    """``name -> right-hand side`` of the one-sided formulas of ``vc_formulas`` / ``extra_rhs``."""
    if formulas is None:
        return {}
    if not isinstance(formulas, Mapping):
        raise FormulaError(f"{what} must be a dict name -> one-sided formula such as '0 + C(g)'")
    out = {}
    for name, formula in formulas.items():
        if not isinstance(formula, str):
            raise FormulaError(
                f"{what}[{name!r}] must be a formula string such as '0 + C(g)', not {type(formula).__name__}"
            )
        out[str(name)] = vc_rhs(formula)
    return out


def _label_vector(value: Any, data: pd.DataFrame, what: str) -> np.ndarray:
    """One label per input row (a pandas Series is taken by position, not by index)."""
    arr = value.to_numpy() if isinstance(value, (pd.Series, pd.Index)) else np.asarray(value)
    if arr.ndim != 1 or arr.shape[0] != len(data):
        raise DataError(f"{what} must have one value per row of the data ({len(data)}), got shape {arr.shape}")
    return arr


def _argument_vector(value: Any, data: pd.DataFrame, what: str) -> np.ndarray | None:
    """The ``weights`` / ``offset`` argument as a float64 vector over the input rows."""
    if value is None:
        return None
    if isinstance(value, str):
        if value not in data.columns:
            check_columns([value], list(data.columns), where=f"{what}={value!r}")
        value = data[value]
    try:
        if isinstance(value, pd.Series) and pd.api.types.is_extension_array_dtype(value.dtype):
            vec = value.to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            vec = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(f"{what} must be numeric, one number per row of the data") from None
    if vec.ndim == 0:
        vec = np.full(len(data), float(vec))
    if vec.ndim != 1 or vec.shape[0] != len(data):
        raise DataError(f"{what} must have one value per row of the data ({len(data)}), got shape {vec.shape}")
    return vec


def _subset(data: pd.DataFrame, columns: Sequence[str], rows: np.ndarray, *, drop_unused: set[str]) -> pd.DataFrame:
    """The selected rows (all columns needed are kept); unused categories of ``drop_unused`` removed.

    When every row is kept and no category needs dropping, ``data`` itself is
    returned (no copy).
    """
    frame = data
    if not rows.all():
        frame = data.loc[:, list(columns)].iloc[np.flatnonzero(rows)]
    replaced: dict[str, pd.Series] = {}
    for name in drop_unused:
        series = frame[name]
        if isinstance(series.dtype, pd.CategoricalDtype):
            codes = series.array.codes
            present = np.zeros(len(series.dtype.categories), dtype=bool)
            present[codes[codes >= 0]] = True
            if not present.all():
                replaced[name] = series.cat.remove_unused_categories()
    return frame.assign(**replaced) if replaced else frame


def _materialize(
    parsed: ParsedFormula,
    sub: pd.DataFrame,
    binary_factor_ok: bool,
    vc_rhs_of: Mapping[str, str],
    extra_rhs_of: Mapping[str, str],
) -> _Pieces:
    """Response, offsets, X, the bars' left sides and any extra designs on the candidate rows."""
    y, trials = response_values(parsed, sub, binary_factor_ok=binary_factor_ok)
    offset_designs: list[Design] = []
    offsets: list[np.ndarray] = []
    for expr in parsed.offsets:
        design, values = expression_design(expr, sub)
        offset_designs.append(design)
        offsets.append(values)
    fixed, X = make_design(parsed.fixed, sub)
    pieces = _Pieces(y=y, trials=trials, offset_designs=offset_designs, offsets=offsets, fixed=fixed, X=X)
    for term in parsed.random:
        if term.lhs not in pieces.lhs:
            design, Z = make_design(term.lhs, sub)
            if Z.shape[1] == 0:
                raise FormulaError(
                    f"random-effects term ({term.label}) has no columns: its left side "
                    f"{term.lhs!r} removes the intercept and adds nothing"
                )
            pieces.lhs[term.lhs] = (design, np.ascontiguousarray(Z))
    for name, rhs in extra_rhs_of.items():
        design, M = make_design(rhs, sub)
        pieces.extra[name] = (design, np.ascontiguousarray(M))
    for name, rhs in vc_rhs_of.items():
        Z, column_names = vc_columns(rhs, sub)
        pieces.vc.append(VcComponent(name, Z, column_names))
    return pieces


def _nan_rows(pieces: _Pieces) -> np.ndarray:
    """Rows where evaluating an expression produced NaN."""
    bad = np.zeros(pieces.y.shape[0], dtype=bool)
    for matrix in _numeric_pieces(pieces):
        if _all_finite(matrix):
            continue
        nan = np.isnan(matrix)
        bad |= nan.any(axis=1) if matrix.ndim == 2 else nan
    for component in pieces.vc:
        bad |= nan_rows_of(component.Z, bad.shape[0])
    return bad


def _reject_infinite_inputs(sub: pd.DataFrame, columns: Sequence[str], bad: np.ndarray) -> None:
    """An infinite input value behind a NaN (``0·Inf`` in an interaction) is an error, not a missing value."""
    for name in columns:
        series = sub[name]
        if not (isinstance(series.dtype, np.dtype) and series.dtype.kind == "f"):
            continue
        inf = np.isinf(series.to_numpy()) & bad
        if inf.any():
            raise DataError(
                f"infinite values in column {name!r} ({int(inf.sum())} row(s), first at index "
                f"label {sub.index[int(np.flatnonzero(inf)[0])]!r}) make the formula's terms "
                "undefined (0 * Inf in an interaction); replace them, or set them to NaN to "
                "drop those rows"
            )


def _numeric_pieces(pieces: _Pieces) -> list[np.ndarray]:
    """Every materialized numeric array of a pass."""
    arrays = [
        pieces.y,
        pieces.X,
        *pieces.offsets,
        *(Z for _d, Z in pieces.lhs.values()),
        *(M for _d, M in pieces.extra.values()),
    ]
    if pieces.trials is not None:
        arrays.append(pieces.trials)
    return arrays


def _all_finite(matrix: np.ndarray) -> bool:
    """Fast test that an array holds no NaN or infinity (one pass, no temporaries)."""
    if matrix.size == 0:
        return True
    with np.errstate(over="ignore", invalid="ignore"):
        total = np.sum(matrix)
    return bool(np.isfinite(total)) or bool(np.isfinite(matrix).all())


def _check_finite(pieces: _Pieces) -> None:
    """Reject infinite values (lme4: 'NA/NaN/Inf in ...')."""
    checks: list[tuple[str, np.ndarray, list[str]]] = [
        ("response", pieces.y[:, None], ["response"]),
        ("fixed-effects model matrix", pieces.X, pieces.fixed.column_names),
    ]
    if pieces.trials is not None:
        checks.append(("binomial trials", pieces.trials[:, None], ["trials"]))
    for design, values in zip(pieces.offset_designs, pieces.offsets):
        checks.append(("offset", values[:, None], [design.formula]))
    for lhs, (design, Z) in pieces.lhs.items():
        checks.append((f"random-effects model matrix of ({lhs} | ...)", Z, design.column_names))
    for name, (design, M) in pieces.extra.items():
        checks.append((f"model matrix of {name} ({design.formula})", M, design.column_names))
    for component in pieces.vc:
        Z = component.Z
        if not np.isfinite(Z.data).all():
            col = int(np.searchsorted(Z.indptr, np.flatnonzero(~np.isfinite(Z.data))[0], side="right") - 1)
            raise DataError(
                f"infinite values in the variance component {component.name!r}, column {component.column_names[col]!r}"
            )
    for what, matrix, names in checks:
        if _all_finite(matrix):
            continue
        col = int(np.flatnonzero(~np.isfinite(matrix).all(axis=0))[0])
        count = int((~np.isfinite(matrix[:, col])).sum())
        raise DataError(f"infinite values in the {what}, column {names[col]!r} ({count} row(s))")


def _check_weights(w: np.ndarray) -> None:
    """Prior weights must be finite and non-negative."""
    if not np.isfinite(w).all():
        raise DataError("weights must be finite numbers")
    if (w < 0).any():
        raise DataError(f"weights must be >= 0; {int((w < 0).sum())} are negative")


def _random_blocks(
    parsed: ParsedFormula,
    sub: pd.DataFrame,
    pieces: _Pieces,
    n: int,
    allow_n: bool,
) -> tuple[list[ReBlock], list[TermSpec]]:
    """Code the grouping factors, run lme4's level checks and build the blocks."""
    factors: dict[str, tuple[GroupingFactor, np.ndarray]] = {}
    for term in parsed.random:
        if term.group not in factors:
            factors[term.group] = code_grouping_factor(sub, term.group_vars, term.group)
    _check_levels({g: f for g, (f, _c) in factors.items()}, n, allow_n)
    blocks: list[ReBlock] = []
    specs: list[TermSpec] = []
    for term in parsed.random:
        factor, codes = factors[term.group]
        design, Z = pieces.lhs[term.lhs]
        n_re = factor.n_levels * Z.shape[1]
        if (n_re > n) if allow_n else (n_re >= n):
            raise DataError(
                f"number of observations (={n}) {'<' if allow_n else '<='} number of "
                f"random effects (={n_re}) for term ({term.label}); the random-effects "
                "parameters"
                + ("" if allow_n else " and the residual variance (or scale parameter)")
                + " are probably unidentifiable"
            )
        blocks.append(
            ReBlock(
                group=term.group,
                codes=codes,
                levels=factor.levels,
                Z=Z,
                colnames=list(design.column_names),
                correlated=term.correlated,
                label=term.label,
            )
        )
        specs.append(TermSpec(term=term, design=design, factor=factor))
    return blocks, specs


def _check_levels(factors: dict[str, GroupingFactor], n: int, allow_n: bool) -> None:
    """lme4's checkNlevels: > 1 level, and fewer levels than observations."""
    for name, factor in factors.items():
        if factor.n_levels < 2:
            raise DataError(
                f"grouping factor {name!r} has {factor.n_levels} sampled level "
                f"({', '.join(repr(x) for x in factor.levels)}); grouping factors must "
                "have > 1 sampled level"
            )
    over = [(name, f.n_levels) for name, f in factors.items() if (f.n_levels > n if allow_n else f.n_levels >= n)]
    if over:
        problems = ", ".join(f"{name!r} has {k} levels" for name, k in over)
        raise DataError(
            f"number of levels of each grouping factor must be {'<=' if allow_n else '<'} "
            f"number of observations ({n}); problems: {problems}"
        )


def _select_terms(spec: FrameSpec, include: Sequence[str] | None) -> list[TermSpec]:
    """Terms of the requested grouping factors."""
    if include is None:
        return list(spec.terms)
    if isinstance(include, str):
        include = [include]
    known = {t.term.group for t in spec.terms}
    unknown = [g for g in include if g not in known]
    if unknown:
        raise DataError(f"unknown grouping factor(s) {unknown}; the model has {sorted(known)}")
    wanted = set(include)
    return [t for t in spec.terms if t.term.group in wanted]


def _materialize_on(design: Design, data: pd.DataFrame) -> np.ndarray:
    """``design.materialize(data)``, also for a frame without rows."""
    if len(data) == 0:
        return np.empty((0, len(design.column_names)), dtype=np.float64)
    return design.materialize(data)


def _scatter(matrix: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Place rows computed on ``rows`` into a NaN-filled full-height matrix."""
    if rows.all():
        return matrix
    out = np.full((rows.shape[0], matrix.shape[1]), np.nan)
    out[rows] = matrix
    return out


def _new_levels_message(factor: GroupingFactor, sub: pd.DataFrame, new: np.ndarray) -> str:
    """Error text naming a grouping factor's unseen levels."""
    frames = [sub[v].iloc[np.flatnonzero(new)].astype(str).to_numpy() for v in factor.variables]
    labels = [":".join(parts) for parts in zip(*frames)]
    unique = list(dict.fromkeys(labels))
    shown = ", ".join(repr(x) for x in unique[:10]) + (", ..." if len(unique) > 10 else "")
    return (
        f"new level(s) of grouping factor {factor.name!r} not seen when fitting: {shown}; "
        "pass allow_new_levels=True to predict them from the fixed effects only"
    )
