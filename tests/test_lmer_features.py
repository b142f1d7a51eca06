"""lmer features beyond the shared battery, checked against lme4 1.1-31.

Reference numbers: ``tests/data/lme4_lmm_extra.json``, produced by
``tests/data/make_lme4_extra.R`` (lme4 1.1-31, R 4.2 on Debian 12).  Same
per-quantity tolerances as the golden-master battery.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mixedlm as mlm

EXTRA = json.loads((Path(__file__).parent / "data" / "lme4_lmm_extra.json").read_text())


def sleep_extra() -> pd.DataFrame:
    d = mlm.load_sleepstudy()
    d["w"] = 1.0 + (d["Days"] % 3)
    d["Days2"] = 2.0 * d["Days"]
    d["phase"] = pd.Categorical(np.where(d["Days"] < 5, "early", "late"))
    return d


def check_against(m, ref, pred_rtol=1e-4):
    ours = m.REMLcrit() if ref["REML"] else m.deviance()
    assert abs(ours - ref["objective"]) < 1e-3 and ours <= ref["objective"] + 1e-4
    np.testing.assert_allclose(m.theta, np.atleast_1d(ref["theta"]), atol=1e-3, rtol=0)
    assert m.theta_names == list(np.atleast_1d(ref["theta_names"]))
    fe = m.fixef()
    assert list(fe.index) == list(ref["fixef"])
    np.testing.assert_allclose(fe.to_numpy(), list(ref["fixef"].values()), rtol=1e-4)
    np.testing.assert_allclose(np.sqrt(np.diag(m.vcov().to_numpy())), list(ref["fixef_se"].values()), rtol=1e-3)
    np.testing.assert_allclose(m.sigma, ref["sigma"], rtol=1e-4)
    np.testing.assert_allclose(m.logLik(), ref["logLik"], atol=1e-3, rtol=0)
    np.testing.assert_allclose(m.fitted().to_numpy()[:10], ref["fitted_first10"], rtol=pred_rtol)
    np.testing.assert_allclose(m.residuals().to_numpy()[:10], ref["resid_first10"], rtol=1e-3, atol=1e-6)
    np.testing.assert_allclose(
        m.residuals(type="pearson").to_numpy()[:10], ref["pearson_first10"], rtol=1e-3, atol=1e-6
    )


def check_newdata(m, ref):
    nd = pd.DataFrame(ref["newdata"])
    np.testing.assert_allclose(m.predict(nd, allow_new_levels=True).to_numpy(), ref["predict_newdata"], rtol=1e-4)
    np.testing.assert_allclose(m.predict(nd, re_form="~0").to_numpy(), ref["predict_newdata_fixed"], rtol=1e-4)


def test_prior_weights():
    m = mlm.lmer("Reaction ~ Days + (Days | Subject)", sleep_extra(), weights="w")
    check_against(m, EXTRA["weights"])
    check_newdata(m, EXTRA["weights"])


def test_prior_weights_as_array():
    d = sleep_extra()
    m = mlm.lmer("Reaction ~ Days + (Days | Subject)", d, weights=d["w"].to_numpy())
    check_against(m, EXTRA["weights"])


def test_formula_offset():
    m = mlm.lmer("Reaction ~ Days + offset(5 * Days) + (1 | Subject)", sleep_extra())
    check_against(m, EXTRA["offset"])
    check_newdata(m, EXTRA["offset"])


def test_offset_argument_equals_formula_offset():
    d = sleep_extra()
    a = mlm.lmer("Reaction ~ Days + (1 | Subject)", d, offset=5 * d["Days"].to_numpy())
    check_against(a, EXTRA["offset"])


def test_factor_slopes():
    m = mlm.lmer("Reaction ~ phase + (0 + phase | Subject)", sleep_extra())
    check_against(m, EXTRA["factor_slopes"])
    assert list(m.ranef()["Subject"].columns) == ["phaseearly", "phaselate"]


def test_rank_deficient_fixed_effects_dropped_with_message():
    with pytest.warns(UserWarning, match=r"rank deficient so dropping 1 column / coefficient: Days2"):
        m = mlm.lmer("Reaction ~ Days + Days2 + (1 | Subject)", sleep_extra())
    check_against(m, EXTRA["rank_deficient"])


def test_transforms_and_newdata_rematerialization():
    ref = EXTRA["transforms"]
    for formula in (
        "Reaction ~ I(Days^2) + scale(Days) + (1 | Subject)",
        "Reaction ~ I(Days**2) + scale(Days) + (1 | Subject)",
    ):
        m = mlm.lmer(formula, sleep_extra())
        check_against(m, ref)  # R's names: I(Days^2), scale(Days)
        check_newdata(m, ref)  # scale() must reuse the training mean and SD


def test_ordered_factors_get_polynomial_contrasts():
    ref = EXTRA["ordered_factors"]
    m = mlm.lmer("y ~ studage + lectage + (1 | d)", mlm.load_insteval())
    check_against(m, ref)


def test_crossed_ml():
    m = mlm.lmer("diameter ~ 1 + (1 | plate) + (1 | sample)", mlm.load_penicillin(), REML=False)
    check_against(m, EXTRA["penicillin_ml"])


def test_uncorrelated_ml():
    m = mlm.lmer("Reaction ~ Days + (Days || Subject)", mlm.load_sleepstudy(), REML=False)
    check_against(m, EXTRA["uncorr_ml"])
    vc = m.VarCorr().as_dataframe()
    assert list(vc.grp) == ["Subject", "Subject.1", "Residual"]


def test_na_actions_pad_or_drop():
    d = sleep_extra()
    d.loc[[3, 50], "Reaction"] = np.nan
    d.loc[[7], "Days"] = np.nan
    full = mlm.lmer("Reaction ~ Days + (Days | Subject)", d.drop(index=[3, 7, 50]))
    omit = mlm.lmer("Reaction ~ Days + (Days | Subject)", d, na_action="omit")
    excl = mlm.lmer("Reaction ~ Days + (Days | Subject)", d, na_action="exclude")
    assert omit.nobs == excl.nobs == 177
    np.testing.assert_allclose(omit.theta, full.theta)
    assert len(omit.fitted()) == 177
    f = excl.fitted()
    assert len(f) == 180 and f.index.equals(d.index)
    assert np.isnan(f.loc[[3, 7, 50]]).all() and np.isfinite(f.drop(index=[3, 7, 50])).all()
    r = excl.residuals()
    assert np.isnan(r.loc[[3, 7, 50]]).all()
    with pytest.raises(mlm.DataError, match="Reaction"):
        mlm.lmer("Reaction ~ Days + (Days | Subject)", d, na_action="fail")


def test_predict_re_form_subsets():
    m = mlm.lmer("diameter ~ 1 + (1 | plate) + (1 | sample)", mlm.load_penicillin())
    b = m.ranef(condVar=False)
    d = mlm.load_penicillin()
    p_plate = m.predict(re_form="~(1 | plate)").to_numpy()
    expected = m.fixef().iloc[0] + b["plate"].loc[d["plate"].astype(str), "(Intercept)"].to_numpy()
    np.testing.assert_allclose(p_plate, expected, rtol=1e-12)
    p_new = m.predict(d.iloc[:5], re_form="~(1 | sample)").to_numpy()
    exp_new = m.fixef().iloc[0] + b["sample"].loc[d["sample"].astype(str).iloc[:5], "(Intercept)"].to_numpy()
    np.testing.assert_allclose(p_new, exp_new, rtol=1e-12)


def test_predict_new_levels_need_permission(sleepstudy_reml):
    m = sleepstudy_reml
    nd = pd.DataFrame({"Days": [1.0], "Subject": ["999"]})
    with pytest.raises(mlm.DataError, match="999"):
        m.predict(nd)
    p = m.predict(nd, allow_new_levels=True).to_numpy()
    np.testing.assert_allclose(p, m.fixef().iloc[0] + m.fixef().iloc[1], rtol=1e-12)


def test_coef_adds_fixed_to_random(sleepstudy_reml):
    m = sleepstudy_reml
    c = m.coef()["Subject"]
    r = m.ranef(condVar=False)["Subject"]
    np.testing.assert_allclose(c["Days"].to_numpy(), m.fixef()["Days"] + r["Days"].to_numpy())


def test_start_and_control_validation():
    d = mlm.load_sleepstudy()
    m = mlm.lmer("Reaction ~ Days + (Days | Subject)", d, start=[0.9, 0.0, 0.2])
    assert abs(m.REMLcrit() - 1743.6282719599612) < 1e-3
    with pytest.raises(mlm.MixedLMError, match="3 θ parameters"):
        mlm.lmer("Reaction ~ Days + (Days | Subject)", d, start=[1.0])
    with pytest.raises(mlm.MixedLMError, match="engine"):
        mlm.LmerControl(engine="dense")
    with pytest.raises(ValueError, match="unknown optimizer"):
        mlm.lmer("Reaction ~ Days + (Days | Subject)", d, control=mlm.LmerControl(optimizer="nope"))


@pytest.mark.parametrize("optimizer", ["bobyqa", "neldermead", "L-BFGS-B", "Powell", "COBYQA"])
def test_other_optimizers_reach_the_same_optimum(optimizer):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mlm.lmer(
            "Reaction ~ Days + (Days | Subject)", mlm.load_sleepstudy(), control=mlm.LmerControl(optimizer=optimizer)
        )
    assert abs(m.REMLcrit() - 1743.6282719599612) < 1e-3


def test_stopped_optimizer_warns():
    with pytest.warns(mlm.errors.ConvergenceWarning, match="maxfun"):
        mlm.lmer("Reaction ~ Days + (Days | Subject)", mlm.load_sleepstudy(), control=mlm.LmerControl(maxfun=5))


def test_optsummary_roundtrip(sleepstudy_reml):
    m = sleepstudy_reml
    from mixedlm.optim.optsummary import OptSummary

    s = OptSummary.from_json(m.opt.to_json())
    assert s.final == m.opt.final and s.feval == m.opt.feval == 43
    assert s.lower[1] == -np.inf and len(s.log) == s.feval
