"""refit / update and R's formula-update notation."""

from __future__ import annotations

import numpy as np
import pytest

import mixedlm as mlm
from mixedlm.formula.update import update_formula


@pytest.mark.parametrize(
    "old, new, expected",
    [
        ("y ~ x + z + (1 | g)", ". ~ . - z", "y ~ x + (1 | g)"),
        ("y ~ x + (1 | g)", "log(.) ~ . + w", "log(y) ~ x + (1 | g) + w"),
        (
            "Reaction ~ Days + (Days | Subject)",
            ". ~ . - (Days|Subject) + (1 | Subject)",
            "Reaction ~ Days + (1 | Subject)",
        ),
        ("y ~ x + (1 | g)", "~ . - 1", "y ~ x + (1 | g) - 1"),
        ("y ~ x + (1 | g)", ". ~ . + x", "y ~ x + (1 | g)"),
    ],
)
def test_update_formula(old, new, expected):
    assert update_formula(old, new) == expected


def test_refit_with_own_response_reproduces_fit():
    m = mlm.lmer("Reaction ~ Days + (Days | Subject)", mlm.load_sleepstudy())
    r = m.refit(mlm.load_sleepstudy()["Reaction"].to_numpy())
    # The refit restarts BOBYQA at the estimates (rhobeg 0.2), so it stops at another point of
    # the same flat optimum: the criterion must agree (and not be worse), θ only as far as the
    # criterion determines it (a θ₁ change of 1e-5 moves the REML criterion by ~1e-9 here;
    # lme4's own refit of this model moves θ₁ by 4.6e-3).
    assert r.REMLcrit() <= m.REMLcrit() + 1e-8
    np.testing.assert_allclose(r.REMLcrit(), m.REMLcrit(), atol=1e-6)
    np.testing.assert_allclose(r.theta, m.theta, atol=1e-4)


def test_refit_new_response_equals_fresh_fit():
    d = mlm.load_sleepstudy()
    y2 = d["Reaction"].to_numpy() + 30 * np.sin(np.arange(len(d)))
    m = mlm.lmer("Reaction ~ Days + (Days | Subject)", d)
    fresh = mlm.lmer("Reaction ~ Days + (Days | Subject)", d.assign(Reaction=y2))
    r = m.refit(y2)
    assert abs(r.REMLcrit() - fresh.REMLcrit()) < 1e-6
    np.testing.assert_allclose(r.fixef().to_numpy(), fresh.fixef().to_numpy(), rtol=1e-6)
    with pytest.raises(mlm.DataError, match="180 observations"):
        m.refit(y2[:10])


def test_glmer_refit_and_update():
    cb = mlm.load_cbpp()
    g = mlm.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", cb)
    r = g.refit(cb["incidence"].to_numpy() / cb["size"].to_numpy())
    assert abs(r.logLik() - g.logLik()) < 1e-6
    two = g.refit(np.column_stack([cb["incidence"], cb["size"] - cb["incidence"]]))
    assert abs(two.logLik() - g.logLik()) < 1e-6
    u = g.update(nAGQ=0)
    assert u.nAGQ == 0 and abs(u.logLik() - g.logLik()) < 0.1
    with pytest.raises(mlm.DataError, match="whole number of successes"):
        g.refit(np.full(len(cb), 0.3333))


def test_lmer_update_formula_and_args():
    m = mlm.lmer("Reaction ~ Days + (Days | Subject)", mlm.load_sleepstudy())
    m0 = m.update(". ~ . - Days", REML=False)
    assert m0.formula == "Reaction ~ (Days | Subject)" and not m0.REML
    assert list(m0.fixef().index) == ["(Intercept)"]
    with pytest.raises(mlm.MixedLMError, match="unknown argument"):
        m.update(famly="x")


def test_update_of_a_refit_model_is_refused_not_silently_wrong():
    m = mlm.lmer("Reaction ~ Days + (Days | Subject)", mlm.load_sleepstudy())
    r = m.refit(mlm.load_sleepstudy()["Reaction"].to_numpy() * 1.01)
    with pytest.raises(mlm.MixedLMError, match="refit"):
        r.update(REML=False)
