"""checkConv on the reference battery: no false warnings where lme4's refits with all optimizers
agree (issue 5, "Done means" 4), and a deliberately stopped fit is caught with a clear message."""

from __future__ import annotations

import warnings

import pytest

import mixedlm as mlm

LMM = {
    "L01": ("Reaction ~ Days + (Days | Subject)", mlm.load_sleepstudy, True),
    "L02": ("Reaction ~ Days + (Days | Subject)", mlm.load_sleepstudy, False),
    "L03": ("Reaction ~ Days + (Days || Subject)", mlm.load_sleepstudy, True),
    "L04": ("Yield ~ 1 + (1 | Batch)", mlm.load_dyestuff, True),
    "L05": ("Yield ~ 1 + (1 | Batch)", mlm.load_dyestuff2, True),
    "L06": ("diameter ~ 1 + (1 | plate) + (1 | sample)", mlm.load_penicillin, True),
    "L07": ("strength ~ 1 + (1 | batch/cask)", mlm.load_pastes, True),
}
CBPP = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
GLMM = {
    "G01": (CBPP, mlm.load_cbpp, mlm.families.Binomial(), 1),
    "G02": (CBPP, mlm.load_cbpp, mlm.families.Binomial(), 25),
    "G03": (CBPP, mlm.load_cbpp, mlm.families.Binomial(link="probit"), 1),
    "G04": (
        "TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)",
        mlm.load_grouseticks,
        mlm.families.Poisson(),
        1,
    ),
}


@pytest.mark.parametrize("key", sorted(LMM))
def test_no_false_warning_lmm(key):
    formula, load, reml = LMM[key]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mlm.errors.SingularFitMessage)
        m = mlm.lmer(formula, load(), REML=reml)
    c = mlm.checkConv(m)
    assert c.ok, c.messages
    assert c.singular == (key == "L05")


@pytest.mark.parametrize("key", sorted(GLMM))
def test_no_false_warning_glmm(key):
    formula, load, family, nagq = GLMM[key]
    c = mlm.checkConv(mlm.glmer(formula, load(), family=family, nAGQ=nagq))
    assert c.ok, c.messages


def test_stopped_fit_is_caught_everywhere():
    d = mlm.load_sleepstudy()
    with pytest.warns(mlm.errors.ConvergenceWarning, match="scaled grad"):
        m = mlm.lmer("Reaction ~ Days + (Days | Subject)", d, control=mlm.LmerControl(maxfun=10, check_conv="fit"))
    assert not m.convergence.ok
    assert "Model failed to converge with max|scaled grad|" in str(m.summary())
    quiet = mlm.lmer("Reaction ~ Days + (Days | Subject)", d)
    assert "failed to converge" not in str(quiet.summary())
    with pytest.raises(mlm.MixedLMError, match="check_conv"):
        mlm.LmerControl(check_conv="always")


def test_stop_on_a_bound_with_descent_direction_is_flagged():
    # started at θ = 0 and stopped at once: the one-sided derivative into θ > 0 is negative
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mlm.lmer("Yield ~ 1 + (1 | Batch)", mlm.load_dyestuff(), start=[0.0], control=mlm.LmerControl(maxfun=1))
    assert m.theta[0] == 0.0
    c = mlm.checkConv(m)
    assert not c.ok and c.gradient[0] < 0.0
    assert any("negative eigenvalue" in msg for msg in c.messages)
    # a genuine boundary optimum (Dyestuff2) passes: the one-sided derivative is >= 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = mlm.lmer("Yield ~ 1 + (1 | Batch)", mlm.load_dyestuff2())
    cs = mlm.checkConv(s)
    assert cs.ok and cs.gradient[0] >= 0.0
