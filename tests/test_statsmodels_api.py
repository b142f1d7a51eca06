"""``MixedLM`` (statsmodels' interface) on the ``lmer`` engine, against lme4 and ``lmer``.

Reference numbers: ``tests/data/lme4_lmm_reference.json`` (lme4 1.1-31; L01 sleepstudy
``(Days | Subject)`` REML, L02 the same by ML, L06 penicillin crossed), with the LMM
golden-master tolerances (objective 1e-3 absolute, β 1e-4 relative, SEs 1e-3 relative,
SDs 1e-3 absolute, σ 1e-4 relative, conditional modes 1e-3 relative).  statsmodels itself is
an optional test dependency: the comparisons with it are skipped when it is not installed.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mixedlm as mlm
from mixedlm.errors import DataError, MixedLMError
from mixedlm.statsmodels_style.mixed_lm import MixedLM, MixedLMResults

REF = json.loads((Path(__file__).parent / "data" / "lme4_lmm_reference.json").read_text())


@pytest.fixture(scope="module")
def sleep_fit() -> MixedLMResults:
    sl = mlm.load_sleepstudy()
    return MixedLM.from_formula("Reaction ~ Days", sl, groups="Subject", re_formula="~Days").fit(reml=True)


@pytest.fixture(scope="module")
def pen_fit() -> MixedLMResults:
    pen = mlm.load_penicillin().assign(one=1)
    return MixedLM.from_formula(
        "diameter ~ 1",
        pen,
        groups="one",
        re_formula="0",
        vc_formula={"plate": "0 + C(plate)", "sample": "0 + C(sample)"},
    ).fit()


def test_sleepstudy_reml_equals_lme4(sleep_fit):
    ref = REF["L01_sleep_slope_reml"]
    r = sleep_fit
    assert r.llf == pytest.approx(ref["logLik"], abs=1e-3 / 2)
    assert -2 * r.llf <= ref["REMLcrit"] + 1e-4
    np.testing.assert_allclose(r.fe_params.to_numpy(), list(ref["fixef"].values()), rtol=1e-4)
    np.testing.assert_allclose(r.bse_fe.to_numpy(), list(ref["fixef_se"].values()), rtol=1e-3)
    assert np.sqrt(r.scale) == pytest.approx(ref["sigma"], rel=1e-4)
    vc = ref["varcorr"][0]
    np.testing.assert_allclose(np.sqrt(np.diag(r.cov_re.to_numpy())), list(vc["sd"].values()), atol=1e-3)
    corr = r.cov_re.iloc[0, 1] / np.sqrt(r.cov_re.iloc[0, 0] * r.cov_re.iloc[1, 1])
    assert corr == pytest.approx(vc["corr"]["values"][0][1], abs=1e-3)
    re5 = ref["ranef_first5"]["Subject"]
    modes = np.array([r.random_effects[lev].to_numpy() for lev in re5["levels"]])
    np.testing.assert_allclose(modes, re5["modes"], rtol=1e-3, atol=1e-3)
    assert list(r.cov_re.index) == ["Subject", "Days"]
    assert r.method == "REML" and r.converged
    assert np.isnan(r.aic)


def test_sleepstudy_equals_lmer(sleep_fit, sleepstudy_reml):
    m = sleepstudy_reml
    r = sleep_fit
    assert r.llf == pytest.approx(m.logLik(), abs=1e-8)
    np.testing.assert_allclose(r.fe_params.to_numpy(), m.fixef().to_numpy(), rtol=1e-10)
    np.testing.assert_allclose(r.theta, m.theta, rtol=1e-10)
    assert r.scale == pytest.approx(m.sigma**2, rel=1e-10)
    np.testing.assert_allclose(r.fittedvalues, m.fitted().to_numpy(), rtol=1e-10)


def test_sleepstudy_ml_equals_lme4():
    ref = REF["L02_sleep_slope_ml"]
    r = MixedLM.from_formula("Reaction ~ Days", mlm.load_sleepstudy(), groups="Subject", re_formula="~Days").fit(
        reml=False
    )
    assert r.llf == pytest.approx(ref["logLik"], abs=5e-4)
    np.testing.assert_allclose(r.fe_params.to_numpy(), list(ref["fixef"].values()), rtol=1e-4)
    np.testing.assert_allclose(r.bse_fe.to_numpy(), list(ref["fixef_se"].values()), rtol=1e-3)
    assert np.sqrt(r.scale) == pytest.approx(ref["sigma"], rel=1e-4)
    assert r.aic == pytest.approx(ref["AIC"], abs=1e-3)
    assert r.bic == pytest.approx(ref["BIC"], abs=1e-3)


def test_crossed_vc_formula_equals_lme4(pen_fit):
    ref = REF["L06_penicillin_crossed"]
    r = pen_fit
    assert r.llf == pytest.approx(ref["logLik"], abs=5e-4)
    np.testing.assert_allclose(r.fe_params.to_numpy(), list(ref["fixef"].values()), rtol=1e-4)
    np.testing.assert_allclose(r.bse_fe.to_numpy(), list(ref["fixef_se"].values()), rtol=1e-3)
    assert np.sqrt(r.scale) == pytest.approx(ref["sigma"], rel=1e-4)
    sds = {g["group"]: g["sd"]["(Intercept)"] for g in ref["varcorr"]}
    np.testing.assert_allclose(np.sqrt(r.vcomp), [sds["plate"], sds["sample"]], atol=1e-3)
    assert r.k_re == 0 and r.k_vc == 2 and r.n_groups == 1
    re = r.random_effects[1]
    assert re.index[0] == "plate[C(plate)a]" and len(re) == 24 + 6
    m = mlm.lmer("diameter ~ 1 + (1 | plate) + (1 | sample)", mlm.load_penicillin())
    assert r.llf == pytest.approx(m.logLik(), abs=1e-8)
    b = m.ranef(condVar=False)["plate"].iloc[:, 0].to_numpy()
    np.testing.assert_allclose(re.to_numpy()[:24], b, rtol=1e-8, atol=1e-10)


def test_nested_vc_within_groups_equals_lme4():
    """statsmodels' classic nested layout: groups = batch, a variance component for casks within batch."""
    ref = REF["L07_pastes_nested"]
    r = MixedLM.from_formula(
        "strength ~ 1", mlm.load_pastes(), groups="batch", vc_formula={"cask": "0 + C(cask)"}
    ).fit()
    assert r.llf == pytest.approx(ref["logLik"], abs=5e-4)
    sds = {g["group"]: g["sd"]["(Intercept)"] for g in ref["varcorr"]}
    assert np.sqrt(r.cov_re.iloc[0, 0]) == pytest.approx(sds["batch"], abs=1e-3)
    assert np.sqrt(r.vcomp[0]) == pytest.approx(sds["cask:batch"], abs=1e-3)


def test_array_interface_equals_formula(sleep_fit):
    sl = mlm.load_sleepstudy()
    X = np.column_stack([np.ones(180), sl["Days"].to_numpy(float)])
    r = MixedLM(sl["Reaction"], X, sl["Subject"], exog_re=X).fit()
    assert r.llf == pytest.approx(sleep_fit.llf, abs=1e-9)
    np.testing.assert_allclose(r.cov_re.to_numpy(), sleep_fit.cov_re.to_numpy(), rtol=1e-8)
    # statsmodels' exog_vc layout {name: {group: matrix}} for the crossed model
    pen = mlm.load_penicillin()
    plates = pd.get_dummies(pen["plate"]).to_numpy(float)
    samples = pd.get_dummies(pen["sample"]).to_numpy(float)
    r2 = MixedLM(
        pen["diameter"],
        np.ones((144, 1)),
        np.ones(144),
        exog_re=0,
        exog_vc={"plate": {1.0: plates}, "sample": {1.0: samples}},
    ).fit()
    np.testing.assert_allclose(np.sqrt(r2.vcomp), [0.846702510257716, 1.93161379231791], atol=1e-3)


def test_summary_layout(sleep_fit):
    text = str(sleep_fit.summary())
    lines = text.splitlines()
    width = len(lines[1])
    assert lines[0].strip() == "Mixed Linear Model Regression Results"
    assert set(lines[1]) == {"="} and all(len(x) == width for x in lines[1:])
    assert lines[2].startswith("Model:               MixedLM    Dependent Variable:    Reaction")
    assert lines[9].split() == ["Coef.", "Std.Err.", "z", "P>|z|", "[0.025", "0.975]"]
    assert lines[11].startswith("Intercept          251.405    6.825 36.838 0.000 238.029 264.781")
    assert lines[13].startswith("Subject Var        612.100   11.88")
    assert lines[14].startswith("Subject x Days Cov   9.604    1.82")


def test_variance_standard_errors_follow_statsmodels(sleep_fit):
    """statsmodels' bse of the variance parameters: sqrt(diag((−H)⁻¹)) of the scale-profiled log-likelihood.

    Its numbers for L01 (shared reference run, statsmodels 0.15): Subject Var 11.881, the
    covariance 1.8205, Days Var 0.6095 (``bse_re``), at its own (slightly different) optimum.
    """
    np.testing.assert_allclose(sleep_fit.bse_re.to_numpy(), [11.880898, 1.820516, 0.609527], rtol=2e-3)
    np.testing.assert_allclose(sleep_fit.bse.to_numpy()[2:], sleep_fit.bse_re.to_numpy() / np.sqrt(sleep_fit.scale))


def test_against_statsmodels_live(sleep_fit, pen_fit):
    smf = pytest.importorskip("statsmodels.formula.api")
    sl = mlm.load_sleepstudy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = smf.mixedlm("Reaction ~ Days", sl, groups="Subject", re_formula="~Days").fit(reml=True)
    assert sleep_fit.llf >= s.llf - 1e-6
    np.testing.assert_allclose(sleep_fit.fe_params.to_numpy(), s.fe_params.to_numpy(), rtol=1e-5)
    np.testing.assert_allclose(sleep_fit.cov_re.to_numpy(), s.cov_re.to_numpy(), rtol=1e-3)
    np.testing.assert_allclose(sleep_fit.bse.to_numpy(), s.bse.to_numpy(), rtol=2e-3)
    ours, theirs = str(sleep_fit.summary()).splitlines(), str(s.summary()).splitlines()
    assert [len(x) for x in ours] == [len(x) for x in theirs]
    assert ours[:4] == theirs[:4] and ours[9:13] == theirs[9:13]
    pen = mlm.load_penicillin().assign(one=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p = smf.mixedlm(
            "diameter ~ 1",
            pen,
            groups="one",
            re_formula="~0",
            vc_formula={"plate": "0 + C(plate)", "sample": "0 + C(sample)"},
        ).fit(reml=True)
    assert pen_fit.llf >= p.llf - 1e-6
    np.testing.assert_allclose(pen_fit.vcomp, p.vcomp, rtol=1e-3)


def test_bad_input():
    sl = mlm.load_sleepstudy()
    with pytest.raises(MixedLMError, match="groups is required"):
        MixedLM.from_formula("Reaction ~ Days", sl)
    with pytest.raises(MixedLMError, match="not a column"):
        MixedLM.from_formula("Reaction ~ Days", sl, groups="nope")
    with pytest.raises(MixedLMError, match="no \\(x \\| g\\) terms"):
        MixedLM.from_formula("Reaction ~ Days + (1 | Subject)", sl, groups="Subject")
    with pytest.raises(MixedLMError, match="at most one of its random effects"):
        MixedLM.from_formula("Reaction ~ Days", sl, groups="Subject", vc_formula={"v": "0 + C(Subject) + Days"}).fit()
    with pytest.raises(DataError, match="groups has 179 labels"):
        MixedLM(sl["Reaction"], np.ones((180, 1)), sl["Subject"].iloc[:-1])
    with pytest.raises(MixedLMError, match="no random effects"):
        MixedLM(sl["Reaction"], np.ones((180, 1)), sl["Subject"], exog_re=0)


def test_non_numeric_array_input_is_a_data_error_naming_the_column():
    d = mlm.load_sleepstudy()
    exog = d[["Days"]].assign(label="x")
    with pytest.raises(mlm.DataError, match=r"exog must be numeric; non-numeric column\(s\): label"):
        mlm.MixedLM(d["Reaction"], exog, groups=d["Subject"])
    with pytest.raises(mlm.DataError, match=r"endog must be numeric"):
        mlm.MixedLM("s" + d["Subject"].astype(str), d[["Days"]], groups=d["Subject"])
