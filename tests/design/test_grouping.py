"""Grouping factors: integer codes and R's level order.

Expected levels come from lme4 (reference/lme4/L07_pastes_nested.json,
L08_insteval_crossed.json, G04_grouseticks_pois.json: ``ngrps`` and the first five
levels of ``ranef()``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _data import load

from mixedlm.design.grouping import code_grouping_factor
from mixedlm.errors import DataError


def _labels_of_rows(frame: pd.DataFrame, variables: tuple[str, ...]) -> list[str]:
    parts = [frame[v].astype(str).tolist() for v in variables]
    return [":".join(p) for p in zip(*parts)]


def test_pastes_nested_levels_match_lme4():
    pastes = load("pastes")
    batch, batch_codes = code_grouping_factor(pastes, ("batch",), "batch")
    cask_batch, codes = code_grouping_factor(pastes, ("cask", "batch"), "cask:batch")
    assert batch.levels[:5] == ["A", "B", "C", "D", "E"]
    assert batch.n_levels == 10
    assert cask_batch.levels[:5] == ["a:A", "a:B", "a:C", "a:D", "a:E"]
    assert cask_batch.n_levels == 30
    assert codes.dtype == np.int64
    assert [cask_batch.levels[c] for c in codes] == _labels_of_rows(pastes, ("cask", "batch"))
    assert [batch.levels[c] for c in batch_codes] == pastes["batch"].astype(str).tolist()


def test_insteval_levels_match_lme4():
    insteval = load("insteval")
    ds, codes = code_grouping_factor(insteval, ("dept", "service"), "dept:service")
    assert ds.levels[:5] == ["15:0", "15:1", "5:0", "5:1", "10:0"]
    assert ds.n_levels == 28
    assert [ds.levels[c] for c in codes[:50]] == _labels_of_rows(insteval.iloc[:50], ("dept", "service"))
    s, _ = code_grouping_factor(insteval, ("s",), "s")
    d, _ = code_grouping_factor(insteval, ("d",), "d")
    assert (s.n_levels, d.n_levels) == (2972, 1128)
    assert s.levels[:5] == ["1", "2", "3", "4", "5"]
    assert d.levels[:5] == ["1", "6", "7", "8", "12"]


def test_grouseticks_counts_match_lme4():
    grouse = load("grouseticks")
    counts = {name: code_grouping_factor(grouse, (name,), name)[0].n_levels for name in ("INDEX", "BROOD", "LOCATION")}
    assert counts == {"INDEX": 403, "BROOD": 118, "LOCATION": 63}


def test_text_column_sorted_like_r_c_locale():
    frame = pd.DataFrame({"g": ["9", "10", "b", "B", "a", "10"]})
    factor, codes = code_grouping_factor(frame, ("g",), "g")
    assert factor.levels == ["10", "9", "B", "a", "b"]
    assert codes.tolist() == [1, 0, 4, 2, 3, 0]


def test_integer_column_sorted_numerically():
    frame = pd.DataFrame({"g": [10, 9, 100, 9]})
    factor, codes = code_grouping_factor(frame, ("g",), "g")
    assert factor.levels == ["9", "10", "100"]
    assert codes.tolist() == [1, 0, 2, 0]


def test_bool_column():
    factor, codes = code_grouping_factor(pd.DataFrame({"g": [True, False, True]}), ("g",), "g")
    assert factor.levels == ["False", "True"]
    assert codes.tolist() == [1, 0, 1]


def test_categorical_keeps_category_order_and_drops_unused():
    frame = pd.DataFrame({"g": pd.Categorical(["z", "x", "z"], categories=["z", "y", "x"])})
    factor, codes = code_grouping_factor(frame, ("g",), "g")
    assert factor.levels == ["z", "x"]
    assert codes.tolist() == [0, 1, 0]


def test_interaction_first_factor_slowest_unused_dropped():
    frame = pd.DataFrame(
        {
            "a": pd.Categorical(["p", "q", "p", "q"], categories=["q", "p"]),
            "b": pd.Categorical(["B", "A", "A", "A"], categories=["A", "B"]),
        }
    )
    factor, codes = code_grouping_factor(frame, ("a", "b"), "a:b")
    assert factor.levels == ["q:A", "p:A", "p:B"]
    assert codes.tolist() == [2, 0, 1, 0]


def test_float_column_rejected_as_continuous():
    frame = pd.DataFrame({"g": [1.0, 2.0, 1.0]})
    with pytest.raises(DataError) as info:
        code_grouping_factor(frame, ("g",), "g")
    message = str(info.value)
    assert "'g'" in message and "continuous" in message and "astype('category')" in message


def test_codes_for_new_data():
    train = pd.DataFrame({"a": ["x", "y", "x"], "b": [1, 2, 2]})
    factor, codes = code_grouping_factor(train, ("a", "b"), "a:b")
    assert factor.levels == ["x:1", "x:2", "y:2"]
    new = pd.DataFrame({"a": ["y", "x", "z", "y"], "b": [2, 1, 1, 1]})
    assert factor.codes_for(new).tolist() == [2, 0, -1, -1]
    np.testing.assert_array_equal(factor.codes_for(train), codes)


def test_codes_for_new_data_text_against_int_levels():
    train = pd.DataFrame({"g": pd.Categorical(["308", "309", "308"])})
    factor, _ = code_grouping_factor(train, ("g",), "g")
    assert factor.codes_for(pd.DataFrame({"g": [309, 308, 400]})).tolist() == [1, 0, -1]


def test_large_factor_is_fast_and_exact():
    rng = np.random.default_rng(3)
    g = rng.integers(0, 20_000, 200_000)
    frame = pd.DataFrame({"g": g, "h": pd.Categorical(g % 7)})
    factor, codes = code_grouping_factor(frame, ("g", "h"), "g:h")
    uniq = np.unique(g)
    assert factor.n_levels == len(uniq)
    np.testing.assert_array_equal(uniq[codes], g)
