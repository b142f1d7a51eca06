"""Designs (model matrices) for formula pieces: lme4 names, R contrasts, re-materialization."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _data import load

from mixedlm.errors import DataError, FormulaError
from mixedlm.formula.materialize import (
    ColumnsDesign,
    FormulaicDesign,
    expression_design,
    make_design,
)
from mixedlm.formula.naming import lme4_column_name
from mixedlm.formula.rsyntax import translate_r_syntax
from mixedlm.formula.variables import expression_variables, formula_variables


@pytest.fixture
def toy() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    n = 24
    return pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "x1": rng.normal(size=n),
            "x2": rng.normal(size=n),
            "z": np.arange(n, dtype=float) + 1.0,
            "k": np.arange(n) % 5,
            "f": pd.Categorical(list("abc") * 8),
            "o": pd.Categorical(list("lmhv") * 6, categories=list("lmhv"), ordered=True),
            "s": ["p", "q", "r", "s"] * 6,
            "flag": [True, False] * 12,
        }
    )


# ------------------------------------------------------------------ names


@pytest.mark.parametrize(
    ("rhs", "names"),
    [
        ("1", ["(Intercept)"]),
        ("0", []),
        ("x", ["(Intercept)", "x"]),
        ("0 + x", ["x"]),
        ("x - 1", ["x"]),
        ("f", ["(Intercept)", "fb", "fc"]),
        ("0 + f", ["fa", "fb", "fc"]),
        ("C(k)", ["(Intercept)", "C(k)1", "C(k)2", "C(k)3", "C(k)4"]),
        ("s", ["(Intercept)", "sq", "sr", "ss"]),
        ("x1:x2", ["(Intercept)", "x1:x2"]),
        ("x1*x2", ["(Intercept)", "x1", "x2", "x1:x2"]),
        ("f*x", ["(Intercept)", "fb", "fc", "x", "fb:x", "fc:x"]),
        ("x:f", ["(Intercept)", "x:fa", "x:fb", "x:fc"]),
        ("poly(x, 2)", ["(Intercept)", "poly(x, 2)1", "poly(x, 2)2"]),
        ("I(x^2)", ["(Intercept)", "I(x^2)"]),
        ("I(x**2)", ["(Intercept)", "I(x^2)"]),
        ("np.log(z)", ["(Intercept)", "np.log(z)"]),
        ("log(z)", ["(Intercept)", "log(z)"]),
        ("scale(x)", ["(Intercept)", "scale(x)"]),
        ("center(x)", ["(Intercept)", "center(x)"]),
        ("o", ["(Intercept)", "o.L", "o.Q", "o.C"]),
        ("0 + o", ["ol", "om", "oh", "ov"]),
        ("flag", ["(Intercept)", "flag"]),
    ],
)
def test_lme4_column_names(toy: pd.DataFrame, rhs: str, names: list[str]):
    design, matrix = make_design(rhs, toy)
    assert design.column_names == names
    assert matrix.shape == (len(toy), len(names))
    assert matrix.dtype == np.float64


def test_insteval_ordered_factor_names():
    # R: model.matrix(~ studage + lectage + service, InstEval)
    design, _ = make_design("studage + lectage + service", load("insteval"))
    assert design.column_names == [
        "(Intercept)",
        "studage.L",
        "studage.Q",
        "studage.C",
        "lectage.L",
        "lectage.Q",
        "lectage.C",
        "lectage^4",
        "lectage^5",
        "service1",
    ]


def test_cbpp_period_names():
    # lme4 fixef names of G01 (reference/lme4/G01_cbpp_laplace.json)
    design, matrix = make_design("period", load("cbpp"))
    assert design.column_names == ["(Intercept)", "period2", "period3", "period4"]
    assert matrix[:, 1:].sum() == 56 - 15  # rows not in period 1


def test_column_name_with_brackets_in_level():
    name = lme4_column_name("g[T.a]b]", ["g"], [False], [["a]b", "c"]])
    assert name == "ga]b"
    assert lme4_column_name("x:g[T.u:v]", ["x", "g"], [False, False], [None, ["u:v", "w"]]) == "x:gu:v"


# ------------------------------------------------------------------ values


def test_treatment_values(toy: pd.DataFrame):
    _, matrix = make_design("f", toy)
    expected_b = (toy["f"] == "b").to_numpy(float)
    np.testing.assert_array_equal(matrix[:, 1], expected_b)


def test_contr_poly_matches_r_documented_values():
    # R: contr.poly(4)
    frame = pd.DataFrame({"o": pd.Categorical(list("abcd"), ordered=True)})
    _, matrix = make_design("0 + o + 1", frame)
    expected = np.array(
        [
            [-0.6708204, 0.5, -0.2236068],
            [-0.2236068, -0.5, 0.6708204],
            [0.2236068, -0.5, -0.6708204],
            [0.6708204, 0.5, 0.2236068],
        ]
    )
    np.testing.assert_allclose(matrix[:, 1:], expected, atol=5e-8)


@pytest.mark.parametrize("k", [2, 3, 5, 6, 7])
def test_contr_poly_is_normalized_monic_orthogonal_polynomial(k: int):
    # Independent construction of R's contr.poly(k): QR of the Vandermonde matrix of
    # the scores 1..k, columns 1..k-1, signed so that the leading coefficient is > 0.
    scores = np.arange(1, k + 1, dtype=float)
    vander = np.vander(scores - scores.mean(), k, increasing=True)
    q, r = np.linalg.qr(vander)
    expected = (q * np.sign(np.diag(r)))[:, 1:]
    frame = pd.DataFrame({"o": pd.Categorical([f"l{i}" for i in range(k)], ordered=True)})
    design, matrix = make_design("o", frame)
    np.testing.assert_allclose(matrix[:, 1:], expected, atol=1e-12)
    suffixes = [".L", ".Q", ".C"] + [f"^{d}" for d in range(4, k)]
    assert design.column_names[1:] == ["o" + s for s in suffixes[: k - 1]]


def test_poly_matches_orthonormal_qr_basis(toy: pd.DataFrame):
    x = toy["x"].to_numpy()
    q, r = np.linalg.qr(np.vander(x, 4, increasing=True))
    expected = (q * np.sign(np.diag(r)))[:, 1:]
    _, matrix = make_design("0 + poly(x, 3)", toy)
    np.testing.assert_allclose(matrix, expected, atol=1e-10)


def test_r_power_and_log(toy: pd.DataFrame):
    _, matrix = make_design("0 + I(x^2) + log(z)", toy)
    np.testing.assert_allclose(matrix[:, 0], toy["x"] ** 2)
    np.testing.assert_allclose(matrix[:, 1], np.log(toy["z"]))


def test_formula_level_power_is_interaction_power(toy: pd.DataFrame):
    design, _ = make_design("(x1 + x2)^2", toy)
    assert design.column_names == ["(Intercept)", "x1", "x2", "x1:x2"]


def test_translate_r_syntax():
    assert translate_r_syntax("I(x^2) + (a + b)^2") == "I(x**2) + (a + b)^2"
    assert translate_r_syntax("x + z") == "x + z"


# ------------------------------------------------------------------ fast path


@pytest.mark.parametrize("rhs", ["x", "0 + x", "x - 1", "1 + x + z", "-1 + x + k", "flag"])
def test_plain_columns_skip_formulaic_and_agree_with_it(toy: pd.DataFrame, rhs: str):
    fast, fast_matrix = make_design(rhs, toy)
    assert isinstance(fast, ColumnsDesign)
    # backticks force the formulaic path for the same columns
    quoted = " ".join(f"`{tok}`" if tok.isidentifier() else tok for tok in rhs.split())
    slow, slow_matrix = make_design(quoted, toy)
    assert isinstance(slow, FormulaicDesign)
    assert fast.column_names == slow.column_names
    np.testing.assert_array_equal(fast_matrix, slow_matrix)
    assert fast_matrix.flags.c_contiguous


def test_factor_and_text_columns_use_formulaic(toy: pd.DataFrame):
    assert isinstance(make_design("f", toy)[0], FormulaicDesign)
    assert isinstance(make_design("s", toy)[0], FormulaicDesign)


# ------------------------------------------------------------------ new data


def test_rematerialize_keeps_scale_and_poly_state(toy: pd.DataFrame):
    design, matrix = make_design("scale(x) + poly(z, 2) + center(x1)", toy)
    part = toy.iloc[3:9]
    np.testing.assert_allclose(design.materialize(part), matrix[3:9], atol=1e-12)


def test_rematerialize_keeps_levels_and_contrasts(toy: pd.DataFrame):
    design, matrix = make_design("f + o", toy)
    part = toy.iloc[[1, 2]].copy()  # levels b, c only / m, h only
    np.testing.assert_allclose(design.materialize(part), matrix[[1, 2]])
    as_text = part.astype({"f": str, "o": str})  # plain text: contrasts still from training
    np.testing.assert_allclose(design.materialize(as_text), matrix[[1, 2]])


def test_rematerialize_unseen_level_names_level(toy: pd.DataFrame):
    design, _ = make_design("f", toy)
    new = toy.iloc[:3].copy()
    new["f"] = ["a", "zz", "b"]
    with pytest.raises(DataError, match="zz"):
        design.materialize(new)


def test_unknown_function_is_formula_error(toy: pd.DataFrame):
    with pytest.raises(FormulaError, match="nosuchfn"):
        make_design("nosuchfn(x)", toy)


def test_expression_design(toy: pd.DataFrame):
    design, values = expression_design("z - x", toy)
    np.testing.assert_allclose(values, toy["z"] - toy["x"])
    np.testing.assert_allclose(design.materialize(toy.iloc[:2])[:, 0], values[:2])
    with pytest.raises(DataError, match="one number per row"):
        expression_design("f", toy)


# ------------------------------------------------------------------ variables


def test_formula_variables():
    rhs = "np.log(x) + poly(z, 2) + C(f, contr.sum) + scale(w) + I(a - b) + u:v + `my col`"
    assert set(formula_variables(rhs)) == {"x", "z", "f", "w", "a", "b", "u", "v", "my col"}
    assert formula_variables("1") == ()
    assert expression_variables("size - incidence") == ("size", "incidence")
    assert expression_variables("np.log(t, out=None)") == ("t",)
