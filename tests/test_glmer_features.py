"""glmer features beyond the shared battery, against lme4 1.1-31 (and the docs tutorial).

Reference numbers: ``tests/data/lme4_glmm_extra.json`` from ``tests/data/make_lme4_glmm_extra.R``
(lme4 1.1-31, MASS, R 4.2 on Debian 12; the binary longitudinal data set was simulated
there with a fixed seed and saved as ``tests/data/binary_longitudinal.csv``).
Tolerances as the golden-master GLMM tests: −2 logLik within 1e-3 (one-sided where
ours is better), θ 1e-3, fixed effects 1e-3 relative, SEs 1e-2 relative.
"""

from __future__ import annotations

import json
import runpy
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mixedlm as mlm

HERE = Path(__file__).parent
EXTRA = json.loads((HERE / "data" / "lme4_glmm_extra.json").read_text())
CBPP = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
GR = "TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | LOCATION)"


def longitudinal() -> pd.DataFrame:
    d = pd.read_csv(HERE / "data" / "binary_longitudinal.csv")
    d["id"] = d["id"].astype("category")
    return d


def check(m, ref, se_rtol=1e-2, theta_atol=1e-3):
    ours = -2 * m.logLik(kind="lme4")
    theirs = -2 * ref["logLik"]
    assert ours <= theirs + 1e-3 and (abs(ours - theirs) < 1e-3 or ours < theirs), (ours, theirs)
    np.testing.assert_allclose(m.theta, np.atleast_1d(ref["theta"]), atol=theta_atol, rtol=0)
    assert m.theta_names == list(np.atleast_1d(ref["theta_names"]))
    np.testing.assert_allclose(m.fixef().to_numpy(), list(ref["fixef"].values()), rtol=1e-3, atol=1e-5)
    assert list(m.fixef().index) == list(ref["fixef"])
    np.testing.assert_allclose(np.sqrt(np.diag(m.vcov().to_numpy())), list(ref["fixef_se"].values()), rtol=se_rtol)
    np.testing.assert_allclose(m.fitted().to_numpy()[:10], ref["fitted_first10"], rtol=2e-3)
    assert m.family.link.name == ref["link"]


def test_cloglog_link():
    check(mlm.glmer(CBPP, mlm.load_cbpp(), family=mlm.families.Binomial(link="cloglog")), EXTRA["cbpp_cloglog"])


def test_ratio_response_with_weights_equals_cbind():
    cb = mlm.load_cbpp()
    ref = EXTRA["cbpp_ratio_weights"]  # lme4: glmer(incidence / size ~ ..., weights = size)
    ratio = mlm.glmer("incidence / size ~ period + (1 | herd)", cb)
    r_idiom = mlm.glmer("incidence / size ~ period + (1 | herd)", cb, weights="size")  # R's idiom: not doubled
    prop = mlm.glmer("p ~ period + (1 | herd)", cb.assign(p=cb["incidence"] / cb["size"]), weights="size")
    for fit in (ratio, r_idiom, prop):
        assert -2 * fit.logLik() <= -2 * ref["logLik"] + 1e-3
        assert abs(fit.logLik() - ref["logLik"]) < 1e-3
        np.testing.assert_allclose(fit.theta, np.atleast_1d(ref["theta"]), atol=1e-3)
    with pytest.raises(mlm.DataError, match=r"already gives the number of trials"):
        mlm.glmer("incidence / size ~ period + (1 | herd)", cb, weights=np.full(len(cb), 2.0))


def test_agq_uses_the_blocked_factor_whatever_the_engine_setting():
    cb = mlm.load_cbpp()
    a = mlm.glmer(CBPP, cb, nAGQ=5, control=mlm.GlmerControl(engine="cholmod"))
    b = mlm.glmer(CBPP, cb, nAGQ=5)
    assert abs(a.logLik() - b.logLik()) < 1e-8


def test_loglik_kind_is_validated():
    g = mlm.glmer(CBPP, mlm.load_cbpp())
    with pytest.raises(mlm.MixedLMError, match="kind"):
        g.logLik(kind="lme")


def test_gaussian_identity_is_lmer_as_in_lme4():
    with pytest.warns(UserWarning, match="shortcut to lmer"):
        m = mlm.glmer("Reaction ~ Days + (Days | Subject)", mlm.load_sleepstudy(), family=mlm.families.Gaussian())
    assert m.REML and abs(m.REMLcrit() - 1743.6282719599612) < 1e-3


def test_poisson_crossed():
    check(mlm.glmer(GR, mlm.load_grouseticks(), family=mlm.families.Poisson()), EXTRA["grouse_poisson"])


def test_negative_binomial_fixed_theta():
    check(mlm.glmer(GR, mlm.load_grouseticks(), family=mlm.families.NegativeBinomial(theta=2.0)), EXTRA["grouse_nb2"])


def test_glmer_nb_estimates_theta():
    ref = EXTRA["grouse_glmer_nb"]
    m = mlm.glmer_nb(GR, mlm.load_grouseticks())
    np.testing.assert_allclose(m.family.theta, ref["nb_theta"], rtol=5e-3)
    assert -2 * m.logLik() <= -2 * ref["logLik"] + 1e-3
    np.testing.assert_allclose(m.theta, ref["theta"], atol=2e-3)
    np.testing.assert_allclose(m.fixef().to_numpy(), list(ref["fixef"].values()), rtol=2e-3)
    assert "Negative Binomial(" in str(m.summary())


def test_correlated_slope_binary():
    check(mlm.glmer("y ~ t + (t | id)", longitudinal(), family=mlm.families.Binomial()), EXTRA["long_slope"])


def test_uncorrelated_slope_binary():
    check(mlm.glmer("y ~ t + (t || id)", longitudinal(), family=mlm.families.Binomial()), EXTRA["long_uncorr"])


def test_formula_offset_poisson():
    g = mlm.load_grouseticks().assign(logexp=lambda d: np.log1p(d.HEIGHT / 1000))
    m = mlm.glmer("TICKS ~ YEAR + (1 | BROOD) + offset(logexp)", g, family=mlm.families.Poisson())
    check(m, EXTRA["grouse_offset"])
    a = mlm.glmer("TICKS ~ YEAR + (1 | BROOD)", g, family=mlm.families.Poisson(), offset="logexp")
    np.testing.assert_allclose(a.logLik(), m.logLik(), atol=1e-8)
    nd = g.iloc[:5]
    np.testing.assert_allclose(m.predict(nd).to_numpy(), m.predict().to_numpy()[:5], rtol=1e-10)


def test_factor_response_first_level_is_failure():
    d = longitudinal()
    d["yf"] = pd.Categorical(np.where(d.y == 1, "yes", "no"), categories=["no", "yes"])
    a = mlm.glmer("yf ~ t + (t || id)", d, family=mlm.families.Binomial())
    np.testing.assert_allclose(a.logLik(), EXTRA["long_uncorr"]["logLik"], atol=1e-3)


def test_nagq0_and_laplace_and_agq_are_commensurate():
    cb = mlm.load_cbpp()
    lls = [mlm.glmer(CBPP, cb, nAGQ=k).logLik() for k in (0, 1, 9)]
    assert max(lls) - min(lls) < 0.1


def test_tutorial_runs_verbatim(capsys):
    runpy.run_path(str(HERE.parent / "examples" / "cbpp_tutorial.py"))
    out = capsys.readouterr().out
    assert "Adaptive" in out and "nAGQ = 10" in out and "period2" in out
    assert out.strip().endswith("True")


def test_wald_confint_matches_lme4_sleepstudy():
    # lme4: confint(fm, method = "Wald") for L01 (shared reference utilities.json)
    m = mlm.lmer("Reaction ~ Days + (Days | Subject)", mlm.load_sleepstudy())
    ci = m.confint(method="Wald")
    np.testing.assert_allclose(ci.loc["(Intercept)"].to_numpy(), [238.0292, 264.7810], atol=1e-3)
    np.testing.assert_allclose(ci.loc["Days"].to_numpy(), [7.437595, 13.496977], atol=1e-4)
    assert np.isnan(ci.loc["sd_(Intercept)|Subject"]).all()
    with pytest.raises(mlm.MixedLMError, match="unknown parameter"):
        m.confint(parm="Dayz")


def test_checkconv_catches_stopped_fit():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bad = mlm.glmer(CBPP, mlm.load_cbpp(), control=mlm.GlmerControl(maxfun=8))
    c = mlm.checkConv(bad)
    assert not c.ok and any("maxeval" in msg or "converge" in msg for msg in c.messages)
    good = mlm.checkConv(mlm.glmer(CBPP, mlm.load_cbpp()))
    assert good.ok and good.messages == []


@pytest.mark.parametrize(
    "family, data, message",
    [
        (mlm.families.Poisson(), pd.DataFrame({"y": [1, -2, 3, 0] * 5, "g": list("abcde") * 4}), r"negative"),
        (mlm.families.Poisson(), pd.DataFrame({"y": [1.5, 2, 3, 0] * 5, "g": list("abcde") * 4}), r"integer|whole"),
        (
            mlm.families.Binomial(),
            pd.DataFrame({"y": [0, 1, 2, 0] * 5, "g": list("abcde") * 4}),
            r"\[0, 1\]|between 0 and 1",
        ),
        (mlm.families.Binomial(), pd.DataFrame({"y": [0.0] * 20, "g": list("abcde") * 4}), r"0 for every observation"),
        (mlm.families.Binomial(), pd.DataFrame({"y": [1.0] * 20, "g": list("abcde") * 4}), r"1 \(success\) for every"),
    ],
)
def test_bad_responses(family, data, message):
    with pytest.raises(mlm.DataError, match=message):
        mlm.glmer("y ~ 1 + (1 | g)", data, family=family)


def test_successes_above_trials():
    d = pd.DataFrame({"s": [3, 5, 2, 1] * 5, "n": [4, 4, 4, 4] * 5, "g": list("abcde") * 4})
    with pytest.raises(mlm.DataError, match=r"trial|> 1|between 0 and 1|\[0, 1\]"):
        mlm.glmer("s / n ~ 1 + (1 | g)", d)


def test_unknown_link():
    with pytest.raises(mlm.MixedLMError, match=r"logit"):
        mlm.families.Binomial(link="logt")


def test_separation_warns_with_coefficient_name():
    rng = np.random.default_rng(1)
    d = pd.DataFrame({"g": np.repeat(list("abcdefghij"), 10), "x": np.tile(np.r_[np.zeros(5), np.ones(5)], 10)})
    d["y"] = np.where(d.x == 1, 1.0, (rng.random(100) < 0.3).astype(float))
    with pytest.warns(mlm.errors.ConvergenceWarning, match=r"'x'.*separated"):
        mlm.glmer("y ~ x + (1 | g)", d)


@pytest.mark.parametrize("nAGQ", [0, 1, 9])
def test_zero_variance_deviance_equals_plain_glm(nAGQ):
    # R 4.2.2: logLik(glm(cbind(incidence, size - incidence) ~ period, cbpp, family = binomial))
    glm_loglik = -99.0291994894
    glm_coef = [-1.26902348937, -1.17076272514, -1.30140533386, -1.78227863534]
    from mixedlm.glmer import build_glmm, make_glmm_objective

    setup = build_glmm(CBPP, mlm.load_cbpp(), mlm.families.Binomial())
    obj = make_glmm_objective(setup, nAGQ=nAGQ)
    np.testing.assert_allclose(obj.beta_start, glm_coef, rtol=1e-9)
    value = obj.deviance_theta(np.array([0.0])) if nAGQ == 0 else obj.deviance(np.r_[0.0, glm_coef])
    np.testing.assert_allclose(-0.5 * value, glm_loglik, atol=1e-8)


def gamma_data() -> pd.DataFrame:
    d = pd.read_csv(HERE / "data" / "gamma_groups.csv")
    d["g"] = d["g"].astype("category")
    return d


@pytest.mark.parametrize(
    "key, family",
    [
        ("gamma_log", mlm.families.Gamma(link="log")),
        ("inverse_gaussian_log", mlm.families.InverseGaussian(link="log")),
        ("gaussian_log", mlm.families.Gaussian(link="log")),
    ],
)
def test_families_with_scale(key, family):
    ref = EXTRA[key]
    m = mlm.glmer("y ~ x + (1 | g)", gamma_data(), family=family)
    check(m, ref)
    np.testing.assert_allclose(m.sigma, ref["sigma"], rtol=1e-3)
    vc = m.VarCorr().as_dataframe()
    assert list(vc.grp) == ["g", "Residual"]
    assert "t value" in str(m.summary()) and "Residual" in str(m.summary())


def test_agq_with_scale_family_refused():
    with pytest.raises(mlm.MixedLMError, match=r"nAGQ > 1 is not available for the Gamma family"):
        mlm.glmer("y ~ x + (1 | g)", gamma_data(), family=mlm.families.Gamma(link="log"), nAGQ=5)


def test_quasi_family_refused():
    with pytest.raises(mlm.MixedLMError, match=r"quasi families have no likelihood"):
        mlm.glmer("y ~ x + (1 | g)", gamma_data(), family=mlm.families.QuasiFamily("mu^2", link="log"))
