"""Variance-component designs (design/vcomp.py) and their one missing-value path.

The designs are compared with indicator matrices built by hand from the data; the
missing-value rule is checked by fitting on rows filtered by hand in the test.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from mixedlm.design.frame import build_model_frame
from mixedlm.design.reterm import TermInput, build_re_structure
from mixedlm.design.vcomp import (
    one_nonzero_per_row,
    stack_components,
    vc_columns,
    vc_from_formulas,
    vc_from_grouped_arrays,
    vc_from_re_structure,
)
from mixedlm.errors import DataError, FormulaError, MixedLMError
from mixedlm.formula import parse_formula
from mixedlm.statsmodels_style import BinomialBayesMixedGLM, MixedLM


@pytest.fixture
def toy() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    n = 90
    return pd.DataFrame(
        {
            "y": rng.normal(size=n),
            "b": rng.integers(0, 2, size=n).astype(float),
            "x": rng.normal(size=n),
            "t": rng.uniform(0.5, 2.0, size=n),
            "g": pd.Categorical(rng.choice(["p", "q", "r", "s"], size=n), categories=["s", "r", "q", "p", "z"]),
            "h": rng.choice(["u", "v", "w"], size=n),
            "k": np.repeat(np.arange(9), 10),
        }
    )


def _fixed(formula: str):
    return parse_formula(formula, require_random=False)


def _indicator(values: pd.Series, levels: list) -> np.ndarray:
    return (np.asarray(values)[:, None] == np.asarray(levels)[None, :]).astype(float)


def test_factor_indicator_in_level_order(toy):
    """``0 + C(g)`` is 1{g_i = level_j}, levels in categorical order, unused levels dropped."""
    Z, names = vc_columns("0 + C(g)", toy)
    assert sp.isspmatrix_csc(Z)
    levels = [lev for lev in toy["g"].cat.categories if (toy["g"] == lev).any()]
    np.testing.assert_array_equal(Z.toarray(), _indicator(toy["g"], levels))
    assert names == [f"C(g){lev}" for lev in levels]
    Zh, hnames = vc_columns("0 + h", toy)
    np.testing.assert_array_equal(Zh.toarray(), _indicator(toy["h"], ["u", "v", "w"]))
    assert hnames == ["hu", "hv", "hw"]


def test_general_formula_drops_zero_columns(toy):
    """``0 + C(h):x`` has column j = x·1{h = level_j}; a column zero everywhere is dropped."""
    Z, names = vc_columns("0 + C(h):x", toy)
    expect = _indicator(toy["h"], ["u", "v", "w"]) * toy["x"].to_numpy()[:, None]
    np.testing.assert_allclose(Z.toarray(), expect, rtol=0, atol=0)
    assert len(names) == 3
    sub = toy[toy["h"] != "v"]
    Zs, names_s = vc_columns("0 + C(h):x", sub.assign(h=pd.Categorical(sub["h"], categories=["u", "v", "w"])))
    assert Zs.shape[1] == 2 and not any("v" in nm for nm in names_s)


def test_stack_components_ident(toy):
    comps = vc_from_formulas({"g": "0 + C(g)", "h": "~ 0 + C(h)"}, toy)
    Z, ident, vcp, vcn = stack_components(comps)
    assert vcp == ["g", "h"]
    np.testing.assert_array_equal(ident, [0] * 4 + [1] * 3)
    expect = np.hstack([_indicator(toy["g"], ["s", "r", "q", "p"]), _indicator(toy["h"], ["u", "v", "w"])])
    np.testing.assert_array_equal(Z.toarray(), expect)
    assert len(vcn) == 7
    with pytest.raises(MixedLMError, match="at least one variance component"):
        stack_components([])


def test_grouped_arrays_layout():
    """statsmodels' {name: {group: matrix}}: row r of group g's matrix is data row rows_of(g)[r]."""
    codes = np.array([0, 1, 0, 1, 1, 0], dtype=np.int64)
    labels = ["a", "b"]
    Ma = np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 0.0]])
    Mb = np.array([[0.0], [5.0], [0.0]])
    (comp,) = vc_from_grouped_arrays({"v": {"a": Ma, "b": Mb}}, codes, labels)
    dense = np.zeros((6, 2))
    dense[[0, 2, 5]] = Ma
    dense[[1, 3, 4], :1] = Mb
    np.testing.assert_array_equal(comp.Z.toarray(), dense)
    assert comp.column_names == ["v_0", "v_1"]
    col, val = one_nonzero_per_row(comp.Z, "v")
    np.testing.assert_array_equal(col, [0, -1, 1, 0, -1, 0])
    np.testing.assert_array_equal(val, [1.0, 0.0, 2.0, 5.0, 0.0, 3.0])
    with pytest.raises(DataError, match=r"exog_vc\['v'\]\['a'\] has 2 rows but group 'a' has 3"):
        vc_from_grouped_arrays({"v": {"a": Ma[:2]}}, codes, labels)
    with pytest.raises(DataError, match="finite"):
        vc_from_grouped_arrays({"v": {"a": np.array([1.0, np.nan, 0.0])}}, codes, labels)
    with pytest.raises(MixedLMError, match="dict"):
        vc_from_grouped_arrays({"v": Ma}, codes, labels)


def test_one_nonzero_per_row_rejects_two():
    Z = sp.csc_matrix(np.array([[1.0, 0.0], [1.0, 1.0]]))
    with pytest.raises(MixedLMError, match="row 1 has 2 nonzero columns"):
        one_nonzero_per_row(Z, "v")


def test_from_re_structure_matches_indicators(toy):
    """(1 | g) + (0 + x || h): one component per column, Z = z_s 1{g = level}."""
    g_levels = ["s", "r", "q", "p"]
    g_codes = np.array([g_levels.index(v) for v in toy["g"]])
    h_levels = ["u", "v", "w"]
    h_codes = np.array([h_levels.index(v) for v in toy["h"]])
    n = len(toy)
    re = build_re_structure(
        [
            TermInput(
                group="g", codes=g_codes, levels=g_levels, Z=np.ones((n, 1)), colnames=["(Intercept)"], correlated=True
            ),
            TermInput(
                group="h",
                codes=h_codes,
                levels=h_levels,
                Z=np.column_stack([np.ones(n), toy["x"].to_numpy()]),
                colnames=["(Intercept)", "x"],
                correlated=False,
            ),
        ]
    )
    comps = vc_from_re_structure(re, n)
    by_name = {c.name: c for c in comps}
    assert set(by_name) == {"g", "h", "h.x"}
    np.testing.assert_array_equal(by_name["g"].Z.toarray(), _indicator(toy["g"], g_levels))
    np.testing.assert_allclose(
        by_name["h.x"].Z.toarray(), _indicator(toy["h"], h_levels) * toy["x"].to_numpy()[:, None]
    )
    assert by_name["h.x"].column_names == ["h[u].x", "h[v].x", "h[w].x"]
    corr = build_re_structure(
        [
            TermInput(
                group="h",
                codes=h_codes,
                levels=h_levels,
                Z=np.column_stack([np.ones(n), toy["x"].to_numpy()]),
                colnames=["(Intercept)", "x"],
                correlated=True,
            ),
        ]
    )
    with pytest.raises(MixedLMError, match=r"\(x \|\| h\)"):
        vc_from_re_structure(corr, n)


# ------------------------------------------------------------- the one missing-value path


def test_frame_drops_rows_missing_in_vc_and_row_vectors(toy):
    data = toy.copy()
    data.loc[3, "h"] = None  # used only by a variance component
    data.loc[7, "x"] = np.nan  # used only by the extra design
    labels = data["k"].to_numpy().astype(object)
    labels[11] = None  # a missing group label given as an array
    mf = build_model_frame(
        parse_formula("y ~ t", require_random=False),
        data,
        vc_formulas={"h": "0 + C(h)"},
        extra_rhs={"re": "x"},
        row_vectors={"groups": labels},
    )
    expect = np.ones(len(data), dtype=bool)
    expect[[3, 7, 11]] = False
    np.testing.assert_array_equal(mf.used_rows, expect)
    assert mf.vc[0].Z.shape == (87, 3)
    np.testing.assert_array_equal(mf.row_vectors["groups"], labels[expect])
    np.testing.assert_allclose(mf.extra["re"][1][:, 1], data["x"].to_numpy()[expect])


def test_frame_drops_nan_from_evaluating_vc(toy):
    """log of a non-positive value in a component's expression drops that row (was kept as NaN)."""
    data = toy.copy()
    data.loc[[4, 20], "t"] = -1.0
    mf = build_model_frame(_fixed("y ~ x"), data, vc_formulas={"h": "0 + C(h):np.log(t)"})
    assert not mf.used_rows[[4, 20]].any() and mf.n == len(data) - 2
    assert np.isfinite(mf.vc[0].Z.data).all()


def test_frame_vc_errors(toy):
    with pytest.raises(FormulaError, match="unknown column 'nope'"):
        build_model_frame(_fixed("y ~ x"), toy, vc_formulas={"v": "0 + C(nope)"})
    with pytest.raises(FormulaError, match="formula string"):
        build_model_frame(_fixed("y ~ x"), toy, vc_formulas={"v": 3})
    with pytest.raises(DataError, match="one value per row"):
        build_model_frame(_fixed("y ~ x"), toy, row_vectors={"groups": np.arange(5)})
    bad = toy.assign(t=np.where(np.arange(len(toy)) == 2, np.inf, toy["t"]))
    with pytest.raises(DataError, match="infinite values in the variance component 'v', column 't'"):
        build_model_frame(_fixed("y ~ x"), bad, vc_formulas={"v": "0 + t"})
    with pytest.raises(DataError, match="infinite values in column 't'"):  # 0 * Inf is not a missing value
        build_model_frame(_fixed("y ~ x"), bad, vc_formulas={"v": "0 + C(h):t"})
    with pytest.raises(DataError, match="infinite values in column 't'"):
        build_model_frame(_fixed("y ~ x + h:t"), bad)


def test_subset_mask_and_labels(toy):
    mask = np.asarray(toy.index % 3 != 0)
    a = build_model_frame("y ~ x + (1 | h)", toy, subset=mask)
    b = build_model_frame("y ~ x + (1 | h)", toy[mask].reset_index(drop=True))
    np.testing.assert_array_equal(a.X, b.X)
    assert a.n_input == int(mask.sum())
    c = build_model_frame("y ~ x + (1 | h)", toy, subset=toy.index[mask])
    np.testing.assert_array_equal(c.y, b.y)
    with pytest.raises(DataError, match="boolean mask with one entry per row"):
        build_model_frame("y ~ x + (1 | h)", toy, subset=mask[:-1])


def test_mixedlm_formula_duplicated_index_and_missing(toy):
    """Group labels are taken by position: a duplicated index no longer misaligns them."""
    data = toy.copy()
    data.loc[5, "x"] = np.nan
    data.loc[40, "h"] = None
    clean = data.drop(index=[5, 40]).reset_index(drop=True)
    groups = data["k"].to_numpy()
    dup = data.set_axis(np.repeat(np.arange(len(data) // 2), 2))
    fml = {"re_formula": "~x", "vc_formula": {"h": "0 + C(h)"}}
    ref = MixedLM.from_formula("y ~ t", clean, groups="k", **fml).fit()
    got = MixedLM.from_formula("y ~ t", dup, groups=groups, **fml).fit()
    np.testing.assert_allclose(got.fe_params.to_numpy(), ref.fe_params.to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(got.llf, ref.llf, rtol=1e-12)
    assert got.model.endog.shape[0] == len(clean)


def test_bayes_formula_drops_nan_from_vc(toy):
    data = toy.copy()
    data.loc[[2, 30], "t"] = 0.0  # log(0) = -inf: an error, not a silent drop
    with pytest.raises(DataError, match="infinite values in the variance component 'h'"):
        BinomialBayesMixedGLM.from_formula("b ~ x", {"h": "0 + np.log(t)"}, data)
    data.loc[[2, 30], "t"] = -2.0  # log(<0) = NaN: the rows are dropped
    model = BinomialBayesMixedGLM.from_formula("b ~ x", {"h": "0 + C(h):np.log(t)"}, data)
    ref = BinomialBayesMixedGLM.from_formula("b ~ x", {"h": "0 + C(h):np.log(t)"}, data.drop(index=[2, 30]))
    assert model.nobs == len(data) - 2
    np.testing.assert_array_equal(model.exog_vc.toarray(), ref.exog_vc.toarray())
    assert not model.used_rows[[2, 30]].any()
