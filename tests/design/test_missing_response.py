"""missing_by_column / missing_message and response_values, called directly.

The model-frame tests (test_model_frame.py) cover these through build_model_frame for
the common cases; here the dtype-by-dtype rules and the exact message texts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mixedlm.design.missing import missing_by_column, missing_message
from mixedlm.design.response import response_values
from mixedlm.errors import DataError, FormulaError, MixedLMError
from mixedlm.formula import parse_formula

# ------------------------------------------------------------------ missing


@pytest.fixture
def mixed_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "i": np.array([1, 2, 3, 4], dtype=np.int64),
            "b": np.array([True, False, True, True]),
            "f": [1.0, np.nan, 3.0, np.inf],  # inf is not missing
            "c": pd.Categorical(["x", None, "y", None]),
            "o": pd.Series(["a", None, "b", np.nan], dtype=object),
            "s": pd.array(["a", "b", pd.NA, "d"], dtype="string"),
            "I": pd.array([1, pd.NA, 3, 4], dtype="Int64"),
            "B": pd.array([True, False, pd.NA, True], dtype="boolean"),
            "F": pd.array([np.nan, 1.5, 2.0, 3.0], dtype="Float64"),
            "t": pd.to_datetime(["2020-01-01", None, "2020-01-03", "2020-01-04"]),
            "k": ["p", "q", "r", "s"],
        }
    )


def test_missing_by_column_dtypes(mixed_frame):
    cols = list(mixed_frame.columns)
    out = missing_by_column(mixed_frame, cols)
    assert list(out) == ["f", "c", "o", "s", "I", "B", "F", "t"]  # order of `columns`, only those with NA
    expected = {
        "f": [False, True, False, False],
        "c": [False, True, False, True],
        "o": [False, True, False, True],
        "s": [False, False, True, False],
        "I": [False, True, False, False],
        "B": [False, False, True, False],
        "F": [True, False, False, False],
        "t": [False, True, False, False],
    }
    for name, mask in out.items():
        assert mask.dtype == bool and mask.shape == (4,)
        assert mask.tolist() == expected[name], name


def test_missing_by_column_respects_requested_columns(mixed_frame):
    out = missing_by_column(mixed_frame, ["I", "k", "f"])
    assert list(out) == ["I", "f"]
    assert missing_by_column(mixed_frame, ["i", "b", "k"]) == {}


def test_missing_message_text():
    missing = {
        "x": np.array([True, False, True, False]),
        "g": np.array([True, False, False, False]),
    }
    assert missing_message(missing, "na_action='fail'") == (
        "missing values (NaN/None) in 'x' (2 rows), 'g' (1 row); 2 row(s) affected (na_action='fail')"
    )
    disjoint = {"a": np.array([True, False, False]), "b": np.array([False, True, True])}
    assert missing_message(disjoint, "ctx").endswith("; 3 row(s) affected (ctx)")


def test_missing_message_from_frame(mixed_frame):
    msg = missing_message(missing_by_column(mixed_frame, ["c", "f"]), "na_action='fail'")
    assert msg == "missing values (NaN/None) in 'c' (2 rows), 'f' (1 row); 2 row(s) affected (na_action='fail')"


# ------------------------------------------------------------------ response


def _resp(formula: str, data: pd.DataFrame, **kw):
    return response_values(parse_formula(formula + " ~ 1 + (1 | g)"), data, **kw)


@pytest.fixture
def resp_data() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "g": [1, 1, 2, 2, 3],
            "y": [1.5, -2.0, 0.0, 4.0, 8.0],
            "k": np.array([3, 0, 1, 2, 5], dtype=np.int32),
            "s": [0, 1, 2, 0, 3],
            "f": [0, 1, 0, 4, 1],
            "n": [0, 2, 2, 4, 4],
            "b": [True, False, True, False, False],
            "yes": pd.Categorical(["lo", "mid", "hi", "lo", "mid"], categories=["mid", "lo", "hi"]),
            "word": ["b", "a", "c", "a", "B"],
            "nullable": pd.array([1, 2, 3, 4, 5], dtype="Int64"),
            "obj_num": pd.Series([1, 0, 1, 0, 1], dtype=object),
            "when": pd.to_datetime([f"2020-01-0{d}" for d in range(1, 6)]),
        }
    )


def test_plain_numeric_and_logical(resp_data):
    y, trials = _resp("y", resp_data)
    assert trials is None and y.dtype == np.float64
    np.testing.assert_array_equal(y, [1.5, -2.0, 0.0, 4.0, 8.0])
    np.testing.assert_array_equal(_resp("k", resp_data)[0], [3, 0, 1, 2, 5])
    np.testing.assert_array_equal(_resp("b", resp_data)[0], [1, 0, 1, 0, 0])
    y, _ = _resp("nullable", resp_data)
    assert y.dtype == np.float64
    np.testing.assert_array_equal(y, [1, 2, 3, 4, 5])


def test_expression_response(resp_data):
    y, trials = _resp("np.exp(y) - 1", resp_data)
    assert trials is None
    np.testing.assert_allclose(y, np.expm1(resp_data["y"].to_numpy()))


def test_cbind_and_ratio(resp_data):
    s, f, n = (resp_data[c].to_numpy(float) for c in ("s", "f", "n"))
    y, trials = _resp("cbind(s, f)", resp_data)
    np.testing.assert_array_equal(trials, s + f)
    np.testing.assert_allclose(y, [0.0, 0.5, 1.0, 0.0, 0.75])  # 0 where s + f = 0
    y, trials = _resp("cbind(s, n - s)", resp_data)
    np.testing.assert_array_equal(trials, n)
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = np.where(n > 0, s / np.where(n > 0, n, 1), 0.0)
    np.testing.assert_allclose(y, expected)
    y, trials = _resp("s / n", resp_data)
    np.testing.assert_array_equal(trials, n)
    assert np.isnan(y[0])  # 0 / 0
    np.testing.assert_allclose(y[1:], [0.5, 1.0, 0.0, 0.75])


def test_binary_factor_first_level_is_failure(resp_data):
    # categories (mid, lo, hi): "mid" is the first level -> 0, every other level -> 1
    y, _ = _resp("yes", resp_data, binary_factor_ok=True)
    np.testing.assert_array_equal(y, [1, 0, 1, 1, 0])
    # text: R's factor() levels in C-locale order "B" < "a" < "b" < "c"; "B" is the failure
    y, _ = _resp("word", resp_data, binary_factor_ok=True)
    np.testing.assert_array_equal(y, [1, 1, 1, 1, 0])


@pytest.mark.parametrize(
    "column, fragment",
    [
        ("yes", "'yes' is categorical"),
        ("word", "'word' is text"),
        ("when", "'when' has type datetime64"),
        ("obj_num", "'obj_num' is text (object)"),  # object dtype is refused even when the values are numbers
    ],
)
def test_non_numeric_response_names_column(resp_data, column, fragment):
    with pytest.raises(DataError) as info:
        _resp(column, resp_data)
    assert fragment in str(info.value) and "must be numeric" in str(info.value)
    assert isinstance(info.value, MixedLMError) and isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    "formula, column",
    [("cbind(s, yes)", "yes"), ("cbind(word, f)", "word"), ("word / n", "word"), ("s / obj_num", "obj_num")],
)
def test_non_numeric_binomial_part_names_column(resp_data, formula, column):
    with pytest.raises(DataError, match=f"response column '{column}' is .*; it must be numeric"):
        _resp(formula, resp_data, binary_factor_ok=True)  # the flag does not apply to counts


def test_unknown_response_column_is_formula_error(resp_data):
    with pytest.raises(FormulaError, match="nope"):
        _resp("nope", resp_data)


def test_complex_response_rejected(resp_data):
    resp_data["cz"] = resp_data["y"] + 1j
    with pytest.raises(DataError, match="'cz'"):
        _resp("cz", resp_data)


def test_constant_cbind_part_recycled_like_r(resp_data):
    y, trials = _resp("cbind(s, 2)", resp_data)
    s = resp_data["s"].to_numpy(float)
    np.testing.assert_array_equal(trials, s + 2)
    np.testing.assert_allclose(y, s / (s + 2))
