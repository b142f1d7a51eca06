"""Golden-master tests: ``mlm.glmer`` against lme4 1.1-31 on G01–G04 (and glmmTMB 1.1.5 where noted).

Reference numbers: ``tests/data/lme4_glmm_reference.json`` (copied from the shared
reference fits).  Against lme4 (issue 3): −2 logLik within 1e-3 and never above lme4's
by more than 1e-3; fixed effects 1e-3 relative; θ 1e-3; SEs 1e-2 relative.

lme4 is not the arbiter of the last digits: its second stage (Nelder–Mead) stops short
(cbpp: −92.02657 where glmmTMB and we reach −92.02628), and its standard errors come
from a finite-difference Hessian of a deviance that is only accurate to ~5e-4 (its
PIRLS stops at tolPwrss = 1e-7 and keeps the factor of the previous iterate), which
moves them by up to 1.3 %.  So the objective is compared one-sided, and the tight
checks (issue 9) are against glmmTMB (exact Laplace, automatic differentiation) —
β 1e-4 relative, SDs 1e-4, SEs 1e-4 relative, here for G01 and in
``tests/test_glmm_accuracy.py`` for G01, G04 and two synthetic models — and against
dense reference implementations written in the tests for G02 (exact marginal
likelihood) and G03 (probit, where glmmTMB's Laplace is a different approximation).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

import mixedlm as mlm

REF = json.loads((Path(__file__).parent / "data" / "lme4_glmm_reference.json").read_text())
CBPP = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
GROUSE = "TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)"

_cache: dict[str, object] = {}


def fit(key: str):
    if key not in _cache:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", mlm.errors.SingularFitMessage)
            if key == "G01_cbpp_laplace":
                m = mlm.glmer(CBPP, mlm.load_cbpp(), family=mlm.families.Binomial())
            elif key == "G02_cbpp_agq25":
                m = mlm.glmer(CBPP, mlm.load_cbpp(), family=mlm.families.Binomial(), nAGQ=25)
            elif key == "G03_cbpp_probit":
                m = mlm.glmer(CBPP, mlm.load_cbpp(), family=mlm.families.Binomial(link="probit"))
            elif key == "G04_grouseticks_pois":
                m = mlm.glmer(GROUSE, mlm.load_grouseticks(), family=mlm.families.Poisson())
            elif key == "G01_nAGQ0":
                m = mlm.glmer(CBPP, mlm.load_cbpp(), family=mlm.families.Binomial(), nAGQ=0)
            else:  # pragma: no cover
                raise KeyError(key)
        _cache[key] = m
    return _cache[key]


ALL = ["G01_cbpp_laplace", "G02_cbpp_agq25", "G03_cbpp_probit", "G04_grouseticks_pois"]


@pytest.mark.parametrize("key", ALL)
def test_objective_theta_fixef(key):
    ref = REF[key]
    m = fit(key)
    ours = -2.0 * m.logLik(kind="lme4")
    assert ours <= ref["minus2logLik"] + 1e-3, (ours, ref["minus2logLik"])
    assert abs(ours - ref["minus2logLik"]) < 1e-3 or ours < ref["minus2logLik"]
    np.testing.assert_allclose(m.theta, list(ref["theta"].values()), atol=1e-3, rtol=0)
    assert m.theta_names == list(ref["theta"].keys())
    fe = m.fixef()
    assert list(fe.index) == list(ref["fixef"].keys())
    np.testing.assert_allclose(fe.to_numpy(), list(ref["fixef"].values()), rtol=1e-3)
    assert m.ngrps() == ref["ngrps"]
    assert m.nobs == ref["nobs"]
    assert m.df_residual == ref["df.residual"]


@pytest.mark.parametrize("key", ["G02_cbpp_agq25", "G03_cbpp_probit", "G04_grouseticks_pois"])
def test_standard_errors_vs_lme4(key):
    ref = REF[key]
    se = np.sqrt(np.diag(fit(key).vcov().to_numpy()))
    np.testing.assert_allclose(se, list(ref["fixef_se"].values()), rtol=1e-2)


def test_laplace_cbpp_standard_errors_vs_glmmtmb():
    tmb = REF["G01_cbpp_laplace"]["glmmTMB"]
    se = np.sqrt(np.diag(fit("G01_cbpp_laplace").vcov().to_numpy()))
    np.testing.assert_allclose(se, list(tmb["fixef_se"].values()), rtol=1e-4)
    # and our optimum is glmmTMB's (better than lme4's on lme4's own objective)
    assert abs(fit("G01_cbpp_laplace").logLik() - tmb["logLik"]) < 1e-8
    np.testing.assert_allclose(fit("G01_cbpp_laplace").fixef().to_numpy(), list(tmb["fixef"].values()), rtol=1e-4)


def test_nagq0_matches_lme4():
    ref = REF["G01_nAGQ0"]
    m = fit("G01_nAGQ0")
    np.testing.assert_allclose(m.logLik(), ref["logLik"], atol=1e-3, rtol=0)
    np.testing.assert_allclose(m.theta, list(ref["theta"].values()), atol=1e-3, rtol=0)
    np.testing.assert_allclose(m.fixef().to_numpy(), list(ref["fixef"].values()), rtol=1e-3)
    np.testing.assert_allclose(np.sqrt(np.diag(m.vcov().to_numpy())), list(ref["fixef_se"].values()), rtol=1e-2)
    np.testing.assert_allclose(m.AIC(), ref["AIC"], atol=2e-3, rtol=0)


def test_agq_loglik_commensurate_and_lme4_convention():
    agq, lap = fit("G02_cbpp_agq25"), fit("G01_cbpp_laplace")
    ref = REF["G02_cbpp_agq25"]
    # lme4's convention (no binomial normalizing constant): equal to lme4's value
    assert abs(-2 * agq.logLik(kind="lme4") - ref["minus2logLik"]) < 1e-3
    np.testing.assert_allclose(agq.deviance(kind="lme4"), ref["minus2logLik"], atol=1e-3, rtol=0)
    # ours is commensurate with the Laplace fit (within 1 log-likelihood unit)
    assert abs(agq.logLik() - lap.logLik()) < 1.0
    # lme4's deviance(fit) for a GLMM is the conditional deviance
    np.testing.assert_allclose(agq.deviance(kind="conditional"), ref["deviance"], atol=5e-3, rtol=0)


@pytest.mark.parametrize("key", ALL)
def test_ranef_and_predictions(key):
    ref = REF[key]
    m = fit(key)
    re = m.ranef(condVar=True)
    for group, r in ref["ranef_first5"].items():
        df = re[group]
        assert [str(x) for x in df.index[:5]] == r["levels"]
        np.testing.assert_allclose(df.to_numpy()[:5], np.array(r["modes"]), rtol=1e-2, atol=2e-3)
        np.testing.assert_allclose(
            np.diagonal(df.attrs["condVar"][:5], axis1=1, axis2=2), np.array(r["cond_var"]), rtol=1e-2
        )
    p = ref["predict_first10"]
    np.testing.assert_allclose(m.predict().to_numpy()[:10], p["link_re"], rtol=2e-3, atol=1e-3)
    np.testing.assert_allclose(m.predict(type="response").to_numpy()[:10], p["response_re"], rtol=2e-3)
    np.testing.assert_allclose(m.predict(re_form="~0").to_numpy()[:10], p["link_fixed"], rtol=2e-3)
    np.testing.assert_allclose(m.predict(re_form="~0", type="response").to_numpy()[:10], p["response_fixed"], rtol=2e-3)
    np.testing.assert_allclose(m.fitted().to_numpy()[:10], p["response_re"], rtol=2e-3)


def test_glmer_summary_layout():
    s = str(fit("G01_cbpp_laplace").summary())
    assert "Generalized linear mixed model fit by maximum likelihood (Laplace" in s
    assert " Family: binomial  ( logit )" in s
    assert "Pr(>|z|)" in s and "Signif. codes" in s
    assert "Number of obs: 56, groups:  herd, 15" in s
    s25 = str(fit("G02_cbpp_agq25").summary())
    assert "(Adaptive\n  Gauss-Hermite Quadrature, nAGQ = 25) [glmerMod]" in s25  # wrapped as R wraps it
