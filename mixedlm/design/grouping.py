"""Grouping factors as integer codes, with R's level order.

Grouping factors never go through formulaic (a 20,000-level factor must not become
dummy columns): a column becomes ``int64`` codes plus level labels, and an
interaction ``g1:g2`` combines the codes arithmetically.

Level order follows R's ``factor()`` with unused levels dropped:

* pandas Categorical -> its categories, in order;
* text -> sorted (code-point order, i.e. R's C locale: ``"10" < "9"``);
* integer / bool -> numeric order;
* ``g1:g2`` -> the combinations present, ``g1`` varying slowest, labels ``"a:A"``
  (what R's ``:`` on two factors gives).

Floating-point columns are rejected: a continuous variable is not a grouping factor.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mixedlm.errors import DataError

__all__ = ["GroupingFactor", "code_grouping_factor", "column_codes"]

_DENSE_LIMIT = 1 << 20  # product code space up to which presence is tracked densely


@dataclass
class _Component:
    """One column of a grouping factor: its level values and labels."""

    name: str
    values: pd.Index  # level values in level order (original dtype)
    labels: list[str]  # the same levels as text


@dataclass
class GroupingFactor:
    """A grouping factor fitted on training data.

    Attributes
    ----------
    name : str
        lme4's name (``"Subject"``, ``"cask:batch"``).
    variables : tuple of str
        Data columns, in the order of ``name``.
    levels : list of str
        Level labels in R's order (unused combinations dropped).
    """

    name: str
    variables: tuple[str, ...]
    levels: list[str]
    _components: list[_Component] = field(repr=False)
    _keys: list[np.ndarray] = field(repr=False)  # per combination step: sorted used product codes

    @property
    def n_levels(self) -> int:
        """Number of levels."""
        return len(self.levels)

    def codes_for(self, data: pd.DataFrame) -> np.ndarray:
        """Map the rows of new data onto the training levels.

        Parameters
        ----------
        data : pandas.DataFrame
            Holds ``variables`` (no missing values).

        Returns
        -------
        numpy.ndarray
            int64 codes into ``levels``; ``-1`` where a row's level (or combination)
            was not seen in training.
        """
        codes = _lookup(self._components[0], data[self.variables[0]])
        for step, comp in enumerate(self._components[1:]):
            nxt = _lookup(comp, data[comp.name])
            known = (codes >= 0) & (nxt >= 0)
            product = codes * len(comp.values) + nxt
            keys = self._keys[step]
            pos = np.searchsorted(keys, product)
            pos = np.minimum(pos, len(keys) - 1)
            found = known & (keys[pos] == product)
            codes = np.where(found, pos, -1).astype(np.int64)
        return codes


def code_grouping_factor(data: pd.DataFrame, variables: Sequence[str], name: str) -> tuple[GroupingFactor, np.ndarray]:
    """Code a (possibly interacted) grouping factor.

    Parameters
    ----------
    data : pandas.DataFrame
        Training rows, no missing values in ``variables``.
    variables : sequence of str
        Columns forming the factor (``("cask", "batch")`` for ``cask:batch``).
    name : str
        lme4's name of the factor, for messages.

    Returns
    -------
    factor : GroupingFactor
        Levels and the state to code new data.
    codes : numpy.ndarray
        int64 codes of the rows, ``0 .. n_levels - 1``.

    Raises
    ------
    DataError
        If a column is floating point (continuous) or its values cannot be ordered.
    """
    components: list[_Component] = []
    keys: list[np.ndarray] = []
    codes, comp = column_codes(data[variables[0]], variables[0], name)
    components.append(comp)
    labels = comp.labels
    for var in variables[1:]:
        nxt, comp = column_codes(data[var], var, name)
        components.append(comp)
        width = len(comp.values)
        used, codes = _compress(codes * width + nxt, len(labels) * width)
        keys.append(used)
        labels = _join_labels(labels, comp.labels, used, width)
    factor = GroupingFactor(
        name=name,
        variables=tuple(variables),
        levels=labels,
        _components=components,
        _keys=keys,
    )
    return factor, codes


def column_codes(series: pd.Series, var: str, group: str) -> tuple[np.ndarray, _Component]:
    """Codes and levels of one column, in R's level order, unused levels dropped.

    Parameters
    ----------
    series : pandas.Series
        The column (no missing values).
    var : str
        Its name.
    group : str
        The grouping factor it belongs to (for messages).

    Returns
    -------
    codes : numpy.ndarray
        int64 codes.
    component : _Component
        Level values and labels.

    Raises
    ------
    DataError
        For a floating-point column or values that cannot be ordered.
    """
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        raw = np.asarray(series.cat.codes, dtype=np.int64)
        categories = dtype.categories
        present = np.zeros(len(categories), dtype=bool)
        present[raw] = True
        if present.all():
            values = categories
            codes = raw
        else:
            remap = np.cumsum(present) - 1
            codes = remap[raw]
            values = categories[present]
    else:
        if pd.api.types.is_float_dtype(dtype) or pd.api.types.is_complex_dtype(dtype):
            raise DataError(
                f"grouping factor {group!r}: column {var!r} is continuous ({dtype}); a "
                "grouping factor needs discrete levels -- convert it with "
                f"data[{var!r}].astype('category') (or .astype(int) if the values are "
                "whole numbers)"
            )
        try:
            codes, uniques = pd.factorize(series, sort=True)
        except TypeError as exc:
            raise DataError(
                f"grouping factor {group!r}: the values of column {var!r} cannot be "
                f"ordered ({exc}); convert the column to one type, e.g. "
                f"data[{var!r}].astype(str)"
            ) from None
        codes = np.asarray(codes, dtype=np.int64)
        values = pd.Index(uniques)
    return codes, _Component(name=var, values=pd.Index(values), labels=_labels(values))


def _join_labels(left: list[str], right: list[str], used: np.ndarray, width: int) -> list[str]:
    """Labels ``"a:A"`` of the used combinations (product code ``i * width + j``)."""
    lhs = np.asarray(left, dtype=object)[used // width]
    rhs = np.asarray(right, dtype=object)[used % width]
    return (lhs + ":" + rhs).tolist()


def _labels(values: pd.Index) -> list[str]:
    """Level values as text labels (``str`` of each value)."""
    if pd.api.types.is_string_dtype(values.dtype) and values.dtype != object:
        return values.tolist()
    items = values.tolist()
    if values.dtype == object and all(type(v) is str for v in items):
        return items
    return [str(v) for v in items]


def _compress(product: np.ndarray, space: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct values of ``product`` and each element's rank among them."""
    if space <= max(_DENSE_LIMIT, 4 * len(product)):
        present = np.zeros(space, dtype=bool)
        present[product] = True
        used = np.flatnonzero(present)
        rank = np.cumsum(present, dtype=np.int64) - 1
        return used.astype(np.int64), rank[product]
    used, inverse = np.unique(product, return_inverse=True)
    return used.astype(np.int64), inverse.astype(np.int64).ravel()


def _lookup(comp: _Component, series: pd.Series) -> np.ndarray:
    """Positions of new values among a component's training levels (-1 if unseen)."""
    idx = np.asarray(comp.values.get_indexer(series), dtype=np.int64)
    if (idx < 0).any():
        as_text = [str(v) for v in series.tolist()]
        alt = np.asarray(pd.Index(comp.labels, dtype=object).get_indexer(as_text), dtype=np.int64)
        idx = np.where(idx < 0, alt, idx)
    return idx
