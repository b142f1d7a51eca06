"""build_model_frame / newdata_frame: materialization, NA handling, bad input.

Level orders and names are checked against lme4's output for the reference battery
(reference/lme4/*.json: ``fixef`` names, ``ngrps``, first five ``ranef`` levels).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _data import load

from mixedlm.design.frame import ModelFrame, build_model_frame, newdata_frame
from mixedlm.errors import DataError, FormulaError
from mixedlm.formula import parse_formula


@pytest.fixture
def sleep() -> pd.DataFrame:
    return load("sleepstudy")


@pytest.fixture
def toy() -> pd.DataFrame:
    rng = np.random.default_rng(11)
    n = 60
    return pd.DataFrame(
        {
            "y": rng.normal(size=n),
            "x": rng.normal(size=n),
            "t": rng.uniform(1, 3, size=n),
            "f": pd.Categorical(rng.choice(list("abc"), size=n)),
            "g": np.repeat(np.arange(12), 5),
            "h": rng.choice(["u", "v", "w"], size=n),
        }
    )


# ------------------------------------------------------------------ basics


def test_sleepstudy_frame(sleep: pd.DataFrame):
    mf = build_model_frame("Reaction ~ Days + (Days | Subject)", sleep)
    assert isinstance(mf, ModelFrame)
    assert mf.X_names == ["(Intercept)", "Days"]
    np.testing.assert_array_equal(mf.y, sleep["Reaction"].to_numpy(float))
    np.testing.assert_array_equal(mf.X[:, 1], sleep["Days"].to_numpy(float))
    assert mf.X.dtype == np.float64 and mf.X.shape == (180, 2)
    np.testing.assert_array_equal(mf.offset, np.zeros(180))
    assert mf.weights is None and mf.trials is None
    assert mf.n_input == 180 and mf.used_rows.all() and mf.na_action == "omit"
    assert mf.index.equals(sleep.index)
    (block,) = mf.re_blocks
    assert block.group == "Subject" and block.label == "Days | Subject" and block.correlated
    assert block.colnames == ["(Intercept)", "Days"]
    assert block.levels[:5] == ["308", "309", "310", "330", "331"]  # lme4 ranef order
    assert len(block.levels) == 18
    assert block.codes.dtype == np.int64
    assert [block.levels[c] for c in block.codes] == sleep["Subject"].astype(str).tolist()
    assert block.Z.flags.c_contiguous and block.Z.dtype == np.float64
    np.testing.assert_array_equal(block.Z, mf.X)


def test_parsed_formula_accepted(sleep: pd.DataFrame):
    parsed = parse_formula("Reaction ~ Days + (1 | Subject)")
    assert build_model_frame(parsed, sleep).parsed is parsed


def test_dict_data_accepted():
    data = {"y": [1.0, 2.0, 3.0, 4.0], "g": ["a", "a", "b", "b"]}
    assert build_model_frame("y ~ 1 + (1 | g)", data).re_blocks[0].levels == ["a", "b"]


def test_uncorrelated_term_one_block(sleep: pd.DataFrame):
    mf = build_model_frame("Reaction ~ Days + (Days || Subject)", sleep)
    (block,) = mf.re_blocks
    assert not block.correlated
    assert block.colnames == ["(Intercept)", "Days"]


def test_pastes_nested_blocks():
    mf = build_model_frame("strength ~ 1 + (1 | batch/cask)", load("pastes"))
    assert [b.group for b in mf.re_blocks] == ["batch", "cask:batch"]
    assert mf.re_blocks[1].levels[:5] == ["a:A", "a:B", "a:C", "a:D", "a:E"]
    assert [len(b.levels) for b in mf.re_blocks] == [10, 30]


def test_insteval_crossed_blocks():
    mf = build_model_frame("y ~ service + (1 | s) + (1 | d) + (1 | dept:service)", load("insteval"))
    assert mf.X_names == ["(Intercept)", "service1"]  # lme4 fixef names (L08)
    assert {b.group: len(b.levels) for b in mf.re_blocks} == {"s": 2972, "d": 1128, "dept:service": 28}
    assert mf.re_blocks[2].levels[:5] == ["15:0", "15:1", "5:0", "5:1", "10:0"]


def test_factor_slopes(toy: pd.DataFrame):
    mf = build_model_frame("y ~ x + (0 + f | h)", toy)
    block = mf.re_blocks[0]
    assert block.colnames == ["fa", "fb", "fc"]
    np.testing.assert_array_equal(block.Z.sum(axis=1), np.ones(len(toy)))


def test_formulaic_features_in_fixed_and_bar(toy: pd.DataFrame):
    mf = build_model_frame("y ~ poly(x, 2) + scale(t) + f*x + I(x^2) + np.log(t) + (1 + scale(t) | g)", toy)
    assert mf.X_names == [
        "(Intercept)",
        "poly(x, 2)1",
        "poly(x, 2)2",
        "scale(t)",
        "fb",
        "fc",
        "x",
        "I(x^2)",
        "np.log(t)",
        "fb:x",
        "fc:x",
    ]
    assert mf.re_blocks[0].colnames == ["(Intercept)", "scale(t)"]


def test_cbind_response():
    cbpp = load("cbpp")
    mf = build_model_frame("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp)
    np.testing.assert_allclose(mf.y, cbpp["incidence"] / cbpp["size"])
    np.testing.assert_array_equal(mf.trials, cbpp["size"].to_numpy(float))
    assert mf.X_names == ["(Intercept)", "period2", "period3", "period4"]  # lme4 G01
    assert mf.re_blocks[0].levels[:5] == ["1", "2", "3", "4", "5"]


def test_cbind_zero_trials_gives_zero():
    data = pd.DataFrame({"s": [0, 1, 2, 0], "f": [0, 1, 0, 3], "g": ["a", "a", "b", "b"]})
    mf = build_model_frame("cbind(s, f) ~ 1 + (1 | g)", data)
    np.testing.assert_allclose(mf.y, [0.0, 0.5, 1.0, 0.0])
    np.testing.assert_array_equal(mf.trials, [0, 2, 2, 3])


def test_ratio_response():
    cbpp = load("cbpp")
    mf = build_model_frame("incidence / size ~ period + (1 | herd)", cbpp)
    np.testing.assert_allclose(mf.y, cbpp["incidence"] / cbpp["size"])
    np.testing.assert_array_equal(mf.trials, cbpp["size"].to_numpy(float))


def test_expression_response(toy: pd.DataFrame):
    mf = build_model_frame("np.log(t) ~ x + (1 | g)", toy)
    np.testing.assert_allclose(mf.y, np.log(toy["t"]))


def test_bool_response(toy: pd.DataFrame):
    toy["b"] = toy["x"] > 0
    mf = build_model_frame("b ~ x + (1 | g)", toy)
    np.testing.assert_array_equal(mf.y, (toy["x"] > 0).to_numpy(float))


def test_factor_response_needs_flag(toy: pd.DataFrame):
    toy["r"] = pd.Categorical(np.where(toy["x"] > 0, "yes", "no"), categories=["no", "yes"])
    with pytest.raises(DataError, match="'r'.*numeric"):
        build_model_frame("r ~ x + (1 | g)", toy)
    mf = build_model_frame("r ~ x + (1 | g)", toy, binary_factor_ok=True)
    np.testing.assert_array_equal(mf.y, (toy["x"] > 0).to_numpy(float))  # first level = failure


def test_text_response_rejected(toy: pd.DataFrame):
    with pytest.raises(DataError) as info:
        build_model_frame("h ~ x + (1 | g)", toy)
    assert "'h'" in str(info.value) and "numeric" in str(info.value)


def test_offsets_and_weights(toy: pd.DataFrame):
    extra = np.linspace(0, 1, len(toy))
    w = np.linspace(1, 2, len(toy))
    mf = build_model_frame("y ~ x + offset(np.log(t)) + offset(x) + (1 | g)", toy, offset=extra, weights=w)
    np.testing.assert_allclose(mf.offset, np.log(toy["t"]) + toy["x"] + extra)
    np.testing.assert_array_equal(mf.weights, w)
    assert mf.X_names == ["(Intercept)", "x"]
    by_name = build_model_frame("y ~ x + (1 | g)", toy, weights="t", offset="x")
    np.testing.assert_array_equal(by_name.weights, toy["t"].to_numpy())
    np.testing.assert_array_equal(by_name.offset, toy["x"].to_numpy())


@pytest.mark.parametrize(
    ("weights", "fragment"),
    [
        (-np.ones(60), ">= 0"),
        (np.full(60, np.inf), "finite"),
        (np.ones(5), "one value per row"),
        (["a"] * 60, "numeric"),
    ],
)
def test_bad_weights(toy: pd.DataFrame, weights, fragment: str):
    with pytest.raises(DataError, match=fragment):
        build_model_frame("y ~ x + (1 | g)", toy, weights=weights)


# ------------------------------------------------------------------ missing values


@pytest.mark.parametrize("column", ["y", "x", "f", "g", "h"])
@pytest.mark.parametrize("na_action", ["omit", "exclude"])
def test_missing_values_dropped(toy: pd.DataFrame, column: str, na_action: str):
    toy[column] = toy[column].astype(object) if column in ("g",) else toy[column]
    toy.loc[[3, 17], column] = None
    mf = build_model_frame("y ~ x + f + (1 | g) + (1 | h)", toy, na_action=na_action)
    expected = np.ones(len(toy), dtype=bool)
    expected[[3, 17]] = False
    np.testing.assert_array_equal(mf.used_rows, expected)
    assert mf.n == 58 and mf.X.shape == (58, 4) and mf.na_action == na_action
    assert all(b.codes.shape == (58,) and b.Z.shape[0] == 58 for b in mf.re_blocks)
    np.testing.assert_array_equal(mf.y, toy["y"].to_numpy(float)[expected])


@pytest.mark.parametrize("column", ["y", "x", "g"])
def test_missing_values_fail(toy: pd.DataFrame, column: str):
    toy[column] = toy[column].astype(float)
    toy.loc[[3, 17], column] = np.nan
    with pytest.raises(DataError) as info:
        build_model_frame("y ~ x + (1 | g)", toy, na_action="fail")
    message = str(info.value)
    assert f"'{column}'" in message and "2 rows" in message and "fail" in message


def test_missing_weight_or_offset_drops_row(toy: pd.DataFrame):
    w = np.ones(len(toy))
    w[4] = np.nan
    off = np.zeros(len(toy))
    off[9] = np.nan
    mf = build_model_frame("y ~ x + (1 | g)", toy, weights=w, offset=off)
    assert not mf.used_rows[4] and not mf.used_rows[9] and mf.n == 58


@pytest.mark.filterwarnings("ignore:invalid value encountered in log:RuntimeWarning")
def test_nan_from_expression_dropped_or_fails(toy: pd.DataFrame):
    toy.loc[5, "t"] = -1.0
    mf = build_model_frame("y ~ np.log(t) + (1 | g)", toy)
    assert not mf.used_rows[5] and mf.n == 59
    with pytest.raises(DataError, match="NaN"):
        build_model_frame("y ~ np.log(t) + (1 | g)", toy, na_action="fail")


@pytest.mark.filterwarnings("ignore:divide by zero encountered in log:RuntimeWarning")
def test_infinite_value_named(toy: pd.DataFrame):
    toy.loc[5, "t"] = 0.0
    with pytest.raises(DataError, match="infinite.*np.log\\(t\\)"):
        build_model_frame("y ~ np.log(t) + (1 | g)", toy)


def test_unknown_na_action(toy: pd.DataFrame):
    with pytest.raises(DataError, match="na_action"):
        build_model_frame("y ~ x + (1 | g)", toy, na_action="drop")


def test_drop_unused_factor_levels_after_na(toy: pd.DataFrame):
    toy["f"] = pd.Categorical(["a"] * 59 + ["c"], categories=["a", "b", "c"])
    toy.loc[59, "y"] = np.nan
    mf = build_model_frame("y ~ f + x + (1 | g)", toy)
    assert mf.X_names == ["(Intercept)", "x"]  # f has one level left: no contrast column


# ------------------------------------------------------------------ bad input


def test_unknown_column_close_matches(sleep: pd.DataFrame):
    with pytest.raises(FormulaError) as info:
        build_model_frame("Reaction ~ Dayz + (Days | Subject)", sleep)
    message = str(info.value)
    assert "'Dayz'" in message and "'Days'" in message


@pytest.mark.parametrize(
    "formula",
    [
        "Reactio ~ Days + (1 | Subject)",
        "Reaction ~ Days + (Dys | Subject)",
        "Reaction ~ Days + (1 | Subjet)",
        "Reaction ~ Days + offset(np.log(Dys)) + (1 | Subject)",
    ],
)
def test_unknown_column_anywhere(sleep: pd.DataFrame, formula: str):
    with pytest.raises(FormulaError, match="unknown column"):
        build_model_frame(formula, sleep)


def test_no_response(sleep: pd.DataFrame):
    with pytest.raises(FormulaError, match="no response"):
        build_model_frame("~ Days + (1 | Subject)", sleep)


def test_no_random_term(sleep: pd.DataFrame):
    with pytest.raises(FormulaError, match="linear model"):
        build_model_frame("Reaction ~ Days", sleep)


def test_empty_frame(sleep: pd.DataFrame):
    with pytest.raises(DataError, match="empty"):
        build_model_frame("Reaction ~ Days + (1 | Subject)", sleep.iloc[:0])


def test_no_rows_left(toy: pd.DataFrame):
    toy["y"] = np.nan
    with pytest.raises(DataError, match="no rows left.*'y' \\(60 rows\\)"):
        build_model_frame("y ~ x + (1 | g)", toy)


def test_one_level_grouping_factor(toy: pd.DataFrame):
    toy["one"] = "k"
    with pytest.raises(DataError, match="> 1 sampled level"):
        build_model_frame("y ~ x + (1 | one)", toy)


def test_as_many_levels_as_observations(toy: pd.DataFrame):
    toy["obs"] = np.arange(len(toy))
    with pytest.raises(DataError) as info:
        build_model_frame("y ~ x + (1 | obs)", toy)
    assert "number of levels of each grouping factor must be < number of observations" in str(info.value)
    assert "'obs'" in str(info.value)
    mf = build_model_frame("y ~ x + (1 | obs)", toy, allow_nlev_equal_nobs=True)  # glmer allow.n
    assert len(mf.re_blocks[0].levels) == len(toy)


def test_grouseticks_index_allowed_only_with_allow_n():
    grouse = load("grouseticks")
    formula = "TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)"
    with pytest.raises(DataError, match="INDEX"):
        build_model_frame(formula, grouse)
    mf = build_model_frame(formula, grouse, allow_nlev_equal_nobs=True)
    assert mf.X_names == ["(Intercept)", "YEAR96", "YEAR97", "cHEIGHT"]  # lme4 G04
    assert {b.group: len(b.levels) for b in mf.re_blocks} == {"BROOD": 118, "INDEX": 403, "LOCATION": 63}


def test_more_random_effects_than_observations(toy: pd.DataFrame):
    toy["pair"] = np.arange(len(toy)) // 2  # 30 levels x 2 columns = 60 = n
    with pytest.raises(DataError) as info:
        build_model_frame("y ~ x + (x | pair)", toy)
    message = str(info.value)
    assert "number of random effects (=60)" in message and "(x | pair)" in message


def test_float_grouping_column(toy: pd.DataFrame):
    toy["gf"] = toy["g"].astype(float)
    with pytest.raises(DataError) as info:
        build_model_frame("y ~ x + (1 | gf)", toy)
    assert "'gf'" in str(info.value) and "continuous" in str(info.value)


def test_bar_without_columns(toy: pd.DataFrame):
    with pytest.raises(FormulaError, match="no columns"):
        build_model_frame("y ~ x + (0 | g)", toy)


def test_errors_are_not_numpy_tracebacks(toy: pd.DataFrame):
    toy["y"] = "text"
    with pytest.raises(DataError):
        build_model_frame("y ~ x + (1 | g)", toy)


# ------------------------------------------------------------------ new data


def _assert_same(mf: ModelFrame, data: pd.DataFrame) -> None:
    nd = newdata_frame(mf.spec, data)
    assert nd.rows.all()
    assert nd.X_names == mf.X_names
    np.testing.assert_array_equal(nd.X, mf.X)
    np.testing.assert_array_equal(nd.offset, mf.offset)
    for new, old in zip(nd.re_blocks, mf.re_blocks, strict=True):
        assert (new.group, new.colnames, new.levels) == (old.group, old.colnames, old.levels)
        np.testing.assert_array_equal(new.codes, old.codes)
        np.testing.assert_array_equal(new.Z, old.Z)


@pytest.mark.parametrize(
    ("dataset", "formula"),
    [
        ("sleepstudy", "Reaction ~ Days + (Days | Subject)"),
        ("sleepstudy", "Reaction ~ poly(Days, 2) + scale(Days) + (0 + scale(Days) || Subject)"),
        ("pastes", "strength ~ 1 + (1 | batch/cask)"),
        ("insteval", "y ~ studage + lectage + service + (1 | s) + (1 | d) + (1 | dept:service)"),
        ("cbpp", "cbind(incidence, size - incidence) ~ period + offset(np.log(size)) + (1 | herd)"),
    ],
)
def test_newdata_round_trip(dataset: str, formula: str):
    data = load(dataset)
    _assert_same(build_model_frame(formula, data), data)


def test_newdata_subset_maps_to_training_levels(sleep: pd.DataFrame):
    mf = build_model_frame("Reaction ~ Days + (Days | Subject)", sleep)
    part = sleep.iloc[[15, 100, 3]].drop(columns="Reaction")
    nd = newdata_frame(mf.spec, part)
    np.testing.assert_array_equal(nd.re_blocks[0].codes, mf.re_blocks[0].codes[[15, 100, 3]])
    np.testing.assert_array_equal(nd.X, mf.X[[15, 100, 3]])
    assert nd.index.equals(part.index)


def test_newdata_new_level(sleep: pd.DataFrame):
    mf = build_model_frame("Reaction ~ Days + (Days | Subject)", sleep)
    new = pd.DataFrame({"Days": [1.0, 2.0], "Subject": ["308", "999"]})
    with pytest.raises(DataError) as info:
        newdata_frame(mf.spec, new)
    assert "'Subject'" in str(info.value) and "'999'" in str(info.value)
    nd = newdata_frame(mf.spec, new, allow_new_levels=True)
    assert nd.re_blocks[0].codes.tolist() == [0, -1]


def test_newdata_include_random_and_missing_columns(sleep: pd.DataFrame):
    mf = build_model_frame("Reaction ~ Days + (Days | Subject)", sleep)
    nd = newdata_frame(mf.spec, pd.DataFrame({"Days": [0.0, 4.0]}), include_random=[])
    assert nd.re_blocks == [] and nd.X.tolist() == [[1.0, 0.0], [1.0, 4.0]]
    with pytest.raises(DataError, match="'Subject'"):
        newdata_frame(mf.spec, pd.DataFrame({"Days": [0.0]}))
    with pytest.raises(DataError, match="'Days'"):
        newdata_frame(mf.spec, pd.DataFrame({"Subject": ["308"]}))
    with pytest.raises(DataError, match="unknown grouping factor"):
        newdata_frame(mf.spec, sleep, include_random=["Nope"])


def test_newdata_missing_values_marked(sleep: pd.DataFrame):
    mf = build_model_frame("Reaction ~ Days + (Days | Subject)", sleep)
    new = pd.DataFrame({"Days": [1.0, np.nan, 3.0], "Subject": ["308", "309", None]})
    nd = newdata_frame(mf.spec, new)
    assert nd.rows.tolist() == [True, False, False]
    assert np.isnan(nd.X[1]).all() and nd.re_blocks[0].codes.tolist() == [0, -1, -1]


def test_newdata_unseen_fixed_level_named():
    cbpp = load("cbpp")
    mf = build_model_frame("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp)
    new = pd.DataFrame({"period": ["2", "7"], "herd": ["1", "1"]})
    with pytest.raises(DataError, match="'7'"):
        newdata_frame(mf.spec, new)
    ok = newdata_frame(mf.spec, pd.DataFrame({"period": [2, 4], "herd": [1, 1]}))
    np.testing.assert_array_equal(ok.X, [[1, 1, 0, 0], [1, 0, 0, 1]])


def test_newdata_without_rows(sleep: pd.DataFrame):
    mf = build_model_frame("Reaction ~ poly(Days, 2) + (Days | Subject)", sleep)
    nd = newdata_frame(mf.spec, sleep.iloc[:0])
    assert nd.X.shape == (0, 3) and nd.re_blocks[0].Z.shape == (0, 2)
    assert nd.re_blocks[0].codes.shape == (0,)


def test_interaction_group_in_frame(toy: pd.DataFrame):
    mf = build_model_frame("y ~ x + (1 | h:g)", toy)
    block = mf.re_blocks[0]
    assert block.group == "h:g"
    labels = [f"{h}:{g}" for h, g in zip(toy["h"], toy["g"])]
    assert [block.levels[c] for c in block.codes] == labels
    # R's h:g levels: h slowest, both in their own level order, unused combinations dropped
    assert block.levels == sorted(set(labels), key=lambda s: (s.split(":")[0], int(s.split(":")[1])))


def test_missing_weights_fail(toy: pd.DataFrame):
    w = np.ones(len(toy))
    w[2] = np.nan
    with pytest.raises(DataError, match="'weights argument' \\(1 row\\)"):
        build_model_frame("y ~ x + (1 | g)", toy, weights=w, na_action="fail")
