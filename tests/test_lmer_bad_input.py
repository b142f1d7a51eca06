"""Bad input to ``lmer``: each case gives a specific error (or documented warning) before any
numerical work, never a traceback from inside NumPy/SciPy (issue 2, "Done means" 3)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mixedlm as mlm

F = "Reaction ~ Days + (Days | Subject)"


@pytest.fixture(scope="module")
def sleep() -> pd.DataFrame:
    return mlm.load_sleepstudy()


def test_missing_column_names_it_and_suggests(sleep):
    with pytest.raises(mlm.FormulaError, match=r"unknown column 'Dayz'.*'Days'"):
        mlm.lmer("Reaction ~ Dayz + (Days | Subject)", sleep)
    with pytest.raises(mlm.FormulaError, match=r"unknown column 'Subj'"):
        mlm.lmer("Reaction ~ Days + (Days | Subj)", sleep)


@pytest.mark.parametrize("column", ["Reaction", "Days", "Subject"])
def test_nan_dropped_padded_or_refused(sleep, column):
    d = sleep.copy()
    d[column] = d[column].astype(object) if column == "Subject" else d[column]
    d.loc[[5, 17], column] = np.nan
    omit = mlm.lmer(F, d)
    assert omit.nobs == 178 and len(omit.fitted()) == 178
    excl = mlm.lmer(F, d, na_action="exclude")
    assert len(excl.fitted()) == 180 and excl.fitted().iloc[[5, 17]].isna().all()
    with pytest.raises(mlm.DataError, match=rf"missing values.*'{column}'.*2 row"):
        mlm.lmer(F, d, na_action="fail")


def test_grouping_factor_with_one_level(sleep):
    with pytest.raises(mlm.DataError, match=r"'g' has 1 sampled level.*> 1 sampled level"):
        mlm.lmer("Reaction ~ Days + (1 | g)", sleep.assign(g="a"))


def test_as_many_levels_as_observations(sleep):
    with pytest.raises(mlm.DataError, match=r"must be < number of observations \(180\).*'g' has 180 levels"):
        mlm.lmer("Reaction ~ Days + (1 | g)", sleep.assign(g=np.arange(180).astype(str)))


def test_more_random_effects_than_observations(sleep):
    g = np.repeat(np.arange(90), 2).astype(str)
    with pytest.raises(mlm.DataError, match=r"number of random effects \(=180\) for term \(Days \| g\)"):
        mlm.lmer("Reaction ~ Days + (Days | g)", sleep.assign(g=g))


def test_non_numeric_response(sleep):
    with pytest.raises(mlm.DataError, match=r"response 'Subject' is text.*must be numeric"):
        mlm.lmer("Subject ~ Days + (1 | Subject)", sleep.assign(Subject=sleep.Subject.astype(str)))


def test_empty_frame(sleep):
    with pytest.raises(mlm.DataError, match=r"empty"):
        mlm.lmer(F, sleep.iloc[:0])
    all_na = sleep.assign(Reaction=np.nan)
    with pytest.raises(mlm.DataError, match=r"no rows|0 rows|empty|every row"):
        mlm.lmer(F, all_na)


def test_formula_without_random_term_is_an_error(sleep):
    # Decision (documented in docs/lmer.md): lme4 refuses too; we point to a linear model.
    with pytest.raises(mlm.FormulaError, match=r"no random-effects terms.*linear model"):
        mlm.lmer("Reaction ~ Days", sleep)


def test_float_grouping_column(sleep):
    with pytest.raises(mlm.DataError, match=r"'Days' is continuous.*astype\('category'\)"):
        mlm.lmer("Reaction ~ Days + (1 | Days)", sleep)


@pytest.mark.parametrize(
    "formula, message",
    [
        ("Reaction ~ Days + (Days | Subject", r"unbalanced parentheses"),
        ("Reaction ~ Days + (Days | )", r"nothing on the right of '\|'"),
    ],
)
def test_malformed_formulas(sleep, formula, message):
    with pytest.raises(mlm.FormulaError, match=message):
        mlm.lmer(formula, sleep)


def test_bad_arguments(sleep):
    with pytest.raises(mlm.DataError, match=r"na_action must be one of"):
        mlm.lmer(F, sleep, na_action="drop")
    with pytest.raises(mlm.DataError, match=r"must be a pandas DataFrame"):
        mlm.lmer(F, sleep.to_numpy())
    with pytest.raises(mlm.DataError, match=r"weights must be >= 0"):
        mlm.lmer(F, sleep, weights=-np.ones(180))
    with pytest.raises(mlm.DataError, match=r"one value per row of the data \(180\)"):
        mlm.lmer(F, sleep, weights=np.ones(10))
    with pytest.raises(mlm.DataError, match=r"infinite values in the response"):
        mlm.lmer(F, sleep.assign(Reaction=np.r_[np.inf, sleep.Reaction.to_numpy()[1:]]))


def test_constant_response(sleep):
    with pytest.raises(mlm.DataError, match=r"reproduced exactly by the fixed effects"):
        mlm.lmer(F, sleep.assign(Reaction=1.0))


def test_binomial_response_sent_to_glmer():
    cbpp = mlm.load_cbpp()
    with pytest.raises(mlm.DataError, match=r"glmer"):
        mlm.lmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp)


class _OtherFrame:
    """Stands in for a polars DataFrame / pyarrow Table: offers to_pandas()."""

    def __init__(self, df):
        self._df = df

    def to_pandas(self):
        return self._df.copy()


class _BrokenFrame:
    def to_pandas(self):
        raise RuntimeError("no pandas for you")


def _dask_like():
    cls = type("DataFrame", (), {"__module__": "dask.dataframe.core", "compute": lambda self: None})
    return cls()


def test_frames_with_to_pandas_are_converted(sleep):
    ref = mlm.lmer(F, sleep)
    other = mlm.lmer(F, _OtherFrame(sleep))
    np.testing.assert_allclose(other.theta, ref.theta, rtol=1e-12)
    g_ref = mlm.glmer(
        "cbind(incidence, size - incidence) ~ period + (1 | herd)", mlm.load_cbpp(), family=mlm.families.Binomial()
    )
    g = mlm.glmer(
        "cbind(incidence, size - incidence) ~ period + (1 | herd)",
        _OtherFrame(mlm.load_cbpp()),
        family=mlm.families.Binomial(),
    )
    assert g.deviance() == pytest.approx(g_ref.deviance(), rel=1e-12)
    np.testing.assert_allclose(ref.predict(newdata=_OtherFrame(sleep.head(5))), ref.predict(newdata=sleep.head(5)))


def test_dask_and_unconvertible_frames_are_refused_clearly(sleep):
    with pytest.raises(mlm.DataError, match=r"Dask DataFrame: the scale-out path .* call data\.compute\(\)"):
        mlm.lmer(F, _dask_like())
    with pytest.raises(mlm.DataError, match=r"Dask DataFrame.*newdata\.compute\(\)"):
        mlm.lmer(F, sleep).predict(newdata=_dask_like())
    with pytest.raises(mlm.DataError, match=r"could not convert data \(_BrokenFrame\).*no pandas for you"):
        mlm.glmer(
            "cbind(incidence, size - incidence) ~ period + (1 | herd)", _BrokenFrame(), family=mlm.families.Binomial()
        )
    with pytest.raises(mlm.DataError, match=r"must be a pandas DataFrame \(or a frame with a to_pandas"):
        mlm.MixedLM.from_formula("Reaction ~ Days", [1, 2, 3], groups="Subject")
