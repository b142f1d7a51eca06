"""Variance-component designs: the ``exog_vc`` / ``ident`` layout of statsmodels.

A *variance component* ``k`` is a set of random-effect realizations ``b_kj`` that share
one variance, ``b_kj ~ N(0, σ_k²)`` independently; its design ``Z_k`` (``n × q_k``,
sparse) has one column per realization, so the component adds ``Z_k b_k`` to the linear
predictor.  Stacking the components gives statsmodels' ``exog_vc = [Z_1 … Z_K]`` and
``ident`` (the component of every column).

One builder serves every front end that speaks this layout:

* :func:`vc_columns` / :func:`vc_from_formulas` -- one-sided formulas such as
  ``"0 + C(herd)"`` (``MixedGLM.from_formula``, ``MixedLM.from_formula``; reached from
  :func:`mixedlm.design.frame.build_model_frame` so that their rows and missing values are
  the model frame's);
* :func:`vc_from_re_structure` -- an lme4 random-effects structure whose terms are all
  scalar or ``||`` (``glmer(method="map" | "vb")``);
* :func:`vc_from_grouped_arrays` -- statsmodels' ``MixedLM`` dictionary
  ``{name: {group: matrix}}``;
* :func:`stack_components` -- the stacked ``exog_vc``, ``ident`` and names;
* :func:`one_nonzero_per_row` -- the map from a component whose rows touch at most one
  realization to a scalar lme4 term (level index and ``Z`` value per row), which is how
  ``MixedLM`` fits its components with the ``lmer`` engine.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from mixedlm.design.grouping import column_codes
from mixedlm.errors import DataError, MixedLMError
from mixedlm.formula.materialize import make_design

__all__ = [
    "VcComponent",
    "nan_rows_of",
    "one_nonzero_per_row",
    "stack_components",
    "vc_columns",
    "vc_from_formulas",
    "vc_from_grouped_arrays",
    "vc_from_re_structure",
    "vc_rhs",
]


@dataclass
class VcComponent:
    """One variance component: realizations sharing a variance.

    Attributes
    ----------
    name : str
        Name of the variance parameter (statsmodels' ``vcp_names`` entry).
    Z : scipy.sparse.csc_matrix
        float64 ``(n, q)`` design; column ``j`` multiplies realization ``j``.
    column_names : list of str
        ``q`` names of the realizations.
    """

    name: str
    Z: sp.csc_matrix
    column_names: list[str]

    @property
    def size(self) -> int:
        """Number of realizations ``q``."""
        return int(self.Z.shape[1])


_FACTOR_ONLY = re.compile(
    r"^\s*(?:0\s*\+\s*|-\s*1\s*\+\s*)"
    r"(?:C\(\s*([A-Za-z_][A-Za-z0-9_.]*)\s*\)|([A-Za-z_][A-Za-z0-9_.]*))\s*$"
)


def vc_rhs(formula: str) -> str:
    """The right side of a (possibly two-sided) variance-component formula."""
    return formula.split("~", 1)[1] if "~" in formula else formula


def vc_columns(rhs: str, data: pd.DataFrame) -> tuple[sp.csc_matrix, list[str]]:
    """Sparse design of one variance-component formula on the rows of ``data``.

    ``0 + C(g)`` (or ``0 + g`` with a discrete ``g``) is the indicator matrix
    ``Z[i, j] = 1{g_i = level_j}``, built from the level codes without a dense
    intermediate; any other formula is materialized by the formula layer and converted.
    Columns that are zero on every row are dropped (a realization no row touches).

    Parameters
    ----------
    rhs : str
        One-sided formula (right side only).
    data : pandas.DataFrame
        The rows of the fit.

    Returns
    -------
    Z : scipy.sparse.csc_matrix
        float64 ``(len(data), q)``; it may hold NaN where an expression evaluated to NaN.
    names : list of str
        Column names (``"C(g)a"`` for level ``a`` of ``C(g)``).
    """
    match = _FACTOR_ONLY.match(rhs)
    if match:
        var = match.group(1) or match.group(2)
        if var in data.columns:
            col = data[var]
            wrapped = match.group(1) is not None
            discrete = (
                isinstance(col.dtype, pd.CategoricalDtype)
                or col.dtype == object
                or pd.api.types.is_string_dtype(col.dtype)
                or wrapped
            )
            if discrete and not pd.api.types.is_float_dtype(col.dtype):
                codes, comp = column_codes(col, var, var)
                n = len(data)
                Z = sp.csc_matrix((np.ones(n), (np.arange(n), codes)), shape=(n, len(comp.labels)))
                prefix = f"C({var})" if wrapped else var
                return Z, [f"{prefix}{lab}" for lab in comp.labels]
    design, mat = make_design(rhs, data)
    keep = np.any(mat != 0.0, axis=0)
    names = [nm for nm, kk in zip(design.column_names, keep) if kk]
    return sp.csc_matrix(mat[:, keep]), names


def nan_rows_of(Z: sp.csc_matrix, n: int) -> np.ndarray:
    """bool ``(n,)``: rows where the sparse ``Z`` stores a NaN."""
    bad = np.zeros(n, dtype=bool)
    nan = np.isnan(Z.data)
    if nan.any():
        bad[Z.indices[nan]] = True
    return bad


def vc_from_formulas(formulas: Mapping[str, str], data: pd.DataFrame) -> list[VcComponent]:
    """One component per formula, in mapping order (see :func:`vc_columns`).

    Raises
    ------
    DataError
        When a formula has no non-zero column on the data.
    """
    components = []
    for name, formula in formulas.items():
        Z, names = vc_columns(vc_rhs(formula), data)
        if Z.shape[1] == 0:
            raise DataError(f"variance component {name!r} = {formula!r} gives no non-zero columns on the data")
        components.append(VcComponent(str(name), Z, names))
    return components


def stack_components(components: Sequence[VcComponent]) -> tuple[sp.csc_matrix, np.ndarray, list[str], list[str]]:
    """``exog_vc = [Z_1 … Z_K]``, ``ident`` (component of each column) and the names.

    Returns
    -------
    Z : scipy.sparse.csc_matrix
        ``(n, Σ q_k)``.
    ident : numpy.ndarray
        int64 ``(Σ q_k,)``, ``ident[j] = k`` for the columns of component ``k``.
    vcp_names : list of str
        ``K`` component names.
    vc_names : list of str
        ``Σ q_k`` realization names.
    """
    if not components:
        raise MixedLMError("the model needs at least one variance component")
    Z = sp.hstack([c.Z for c in components], format="csc")
    ident = np.concatenate([np.full(c.size, k, dtype=np.int64) for k, c in enumerate(components)])
    vc_names = [nm for c in components for nm in c.column_names]
    return Z, ident, [c.name for c in components], vc_names


def vc_from_re_structure(re: Any, n: int) -> list[VcComponent]:
    """Components from an lme4 random-effects structure with independent effects.

    Every term must be scalar (``(1 | g)``, ``(0 + x | g)``) or come from ``||``; column
    ``s`` of a term over factor ``g`` becomes the component ``Z[i, j] = z_is 1{g_i = j}``
    named ``g`` (intercept) or ``g.x``, with realizations ``g[level]`` / ``g[level].x``.

    Parameters
    ----------
    re : ReStructure
        From :func:`mixedlm.design.reterm.build_re_structure`.
    n : int
        Number of observations.

    Raises
    ------
    MixedLMError
        For a correlated vector-valued term such as ``(x | g)``.
    """
    components = []
    for blk in re.blocks:
        if blk.correlated and len(blk.names) > 1:
            rest = [nm for nm in blk.names if nm != "(Intercept)"]
            lhs = " + ".join(rest) if "(Intercept)" in blk.names else "0 + " + " + ".join(rest)
            raise MixedLMError(
                f"method='map'/'vb' model every random effect as independent (statsmodels' "
                f"BayesMixedGLM has one standard deviation per component and no correlations), but the "
                f"term ({lhs} | {blk.group}) has correlated effects; write it as ({lhs} || {blk.group}) "
                "for independent effects, or fit it by maximum likelihood (the default method)"
            )
        term = re.terms[blk.term_index]
        for col, nm in zip(blk.columns, blk.names):
            z = np.asarray(term.Z[:, col], dtype=np.float64)
            Zk = sp.csc_matrix((z, (np.arange(n), term.codes)), shape=(n, term.nlev))
            Zk.eliminate_zeros()
            label = blk.group if nm == "(Intercept)" else f"{blk.group}.{nm}"
            suffix = "" if nm == "(Intercept)" else f".{nm}"
            components.append(VcComponent(label, Zk, [f"{blk.group}[{lev}]{suffix}" for lev in term.levels]))
    return components


def vc_from_grouped_arrays(exog_vc: Mapping[Any, Any], codes: np.ndarray, labels: Sequence[Any]) -> list[VcComponent]:
    """Components from statsmodels' ``MixedLM`` layout ``{name: {group: matrix}}``.

    ``exog_vc[name][g]`` has the rows of group ``g`` (in data order) and one column per
    realization *within* that group; the component's design here has one column per
    within-group column index ``j`` (named ``name_j``), so it is nested in the groups by
    the caller (realization ``(g, j)``), as statsmodels does.

    Parameters
    ----------
    exog_vc : mapping
        ``{name: {group label: (n_g, q_g) array}}``; groups may be absent.
    codes : numpy.ndarray
        int64 ``(n,)`` group index of every row.
    labels : sequence
        The group labels, ``labels[codes[i]]`` = label of row ``i``.

    Raises
    ------
    MixedLMError, DataError
        For the wrong nesting or a matrix whose rows do not match its group.
    """
    if not isinstance(exog_vc, Mapping):
        raise MixedLMError("exog_vc must be a dict {name: {group: matrix}} (statsmodels' layout)")
    n = int(codes.shape[0])
    # the rows of each group in data order, from one stable sort (not a scan of all rows per group)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(labels) + 1))
    rows_of = [order[bounds[g] : bounds[g + 1]] for g in range(len(labels))]
    components = []
    for name, per_group in exog_vc.items():
        if not isinstance(per_group, Mapping):
            raise MixedLMError(f"exog_vc[{name!r}] must be a dict {{group: matrix}}")
        r_idx, c_idx, vals = [], [], []
        width = 0
        for g, lab in enumerate(labels):
            if lab not in per_group:
                continue
            M = np.asarray(per_group[lab], dtype=np.float64)
            if M.ndim == 1:
                M = M[:, None]
            if M.shape[0] != rows_of[g].shape[0]:
                raise DataError(
                    f"exog_vc[{name!r}][{lab!r}] has {M.shape[0]} rows but group {lab!r} "
                    f"has {rows_of[g].shape[0]} observations"
                )
            if not np.all(np.isfinite(M)):
                raise DataError(f"exog_vc[{name!r}][{lab!r}] must be finite (it has NaN or infinite values)")
            rr, cc = np.nonzero(M)
            r_idx.append(rows_of[g][rr])
            c_idx.append(cc)
            vals.append(M[rr, cc])
            width = max(width, M.shape[1])
        rows = np.concatenate(r_idx) if r_idx else np.zeros(0, dtype=np.int64)
        cols = np.concatenate(c_idx) if c_idx else np.zeros(0, dtype=np.int64)
        data = np.concatenate(vals) if vals else np.zeros(0)
        Z = sp.csc_matrix((data, (rows, cols)), shape=(n, width))
        components.append(VcComponent(str(name), Z, [f"{name}_{j}" for j in range(width)]))
    return components


def one_nonzero_per_row(Z: sp.spmatrix | np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Column index and value of the (at most one) nonzero of each row.

    A component whose every row touches at most one realization is the scalar lme4 term
    ``(0 + v | f)`` with ``f_i`` the column of row ``i``'s nonzero and ``v_i`` its value.

    Returns
    -------
    col : numpy.ndarray
        int64 ``(n,)``; ``-1`` for a row with no nonzero.
    val : numpy.ndarray
        float64 ``(n,)``; ``0`` for a row with no nonzero.

    Raises
    ------
    MixedLMError
        Naming the first row with two or more nonzeros.
    """
    Ms = sp.csr_matrix(Z)
    Ms.eliminate_zeros()
    cnt = np.diff(Ms.indptr)
    if np.any(cnt > 1):
        i = int(np.flatnonzero(cnt > 1)[0])
        raise MixedLMError(
            f"variance component {what!r}: row {i} has {int(cnt[i])} nonzero columns; a variance "
            "component maps to a scalar random-effects term, so each row may touch at most one of "
            "its random effects (as with '0 + C(f)' or '0 + C(f):x')"
        )
    col = np.full(Ms.shape[0], -1, dtype=np.int64)
    val = np.zeros(Ms.shape[0])
    rows = np.flatnonzero(cnt == 1)
    col[rows] = Ms.indices[Ms.indptr[rows]]
    val[rows] = Ms.data[Ms.indptr[rows]]
    return col, val
