"""Prediction standard errors and intervals, checked against a dense computation.

The dense reference builds ``Z`` and ``X`` explicitly, forms the joint mixed-model
matrix ``M = [[Λ'Z'WZΛ + I, Λ'Z'WX], [X'WZΛ, X'WX]]`` at the estimates, inverts it
with NumPy and evaluates ``σ² aᵀ M⁻¹ a`` for ``a = [Λᵀz; x]`` — independently of the
blocked/CHOLMOD factor used by ``predict``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import mixedlm as mlm


def dense_parts(fit, weights=None):
    terms = fit.setup.re.terms
    n = fit.nobs
    blocks, lams = [], []
    for t in terms:
        Zk = np.zeros((n, t.q))
        for s in range(t.S):
            Zk[np.arange(n), t.codes * t.S + s] = t.Z[:, s]
        blocks.append(Zk)
        lams.append(np.kron(np.eye(t.nlev), t.template(fit.theta)))
    Z = np.hstack(blocks)
    Lam = np.zeros((Z.shape[1], Z.shape[1]))
    o = 0
    for L in lams:
        Lam[o : o + L.shape[0], o : o + L.shape[0]] = L
        o += L.shape[0]
    X = fit.setup.fe.X
    w = np.ones(n) if weights is None else weights
    ZL = Z @ Lam
    M = np.block(
        [
            [ZL.T @ (w[:, None] * ZL) + np.eye(ZL.shape[1]), ZL.T @ (w[:, None] * X)],
            [X.T @ (w[:, None] * ZL), X.T @ (w[:, None] * X)],
        ]
    )
    return Z, Lam, X, np.linalg.inv(M)


@pytest.mark.parametrize("engine", ["blocked", "cholmod"])
def test_lmm_se_matches_dense_mixed_model_equations(engine):
    m = mlm.lmer(
        "diameter ~ 1 + (1 | plate) + (1 | sample)", mlm.load_penicillin(), control=mlm.LmerControl(engine=engine)
    )
    Z, Lam, X, Minv = dense_parts(m)
    A = np.hstack([Z @ Lam, X])  # rows a_iᵀ = [zᵀΛ, xᵀ]
    expected = m.sigma * np.sqrt(np.einsum("ij,jk,ik->i", A, Minv, A))
    got = m.predict(se_fit=True)
    np.testing.assert_allclose(got["se_fit"].to_numpy(), expected, rtol=1e-8)
    pi = m.predict(interval="prediction", level=0.9)
    z = stats.norm.ppf(0.95)
    np.testing.assert_allclose(pi["upr"] - pi["fit"], z * np.sqrt(expected**2 + m.sigma**2), rtol=1e-8)


def test_vector_term_and_population_level():
    m = mlm.lmer("Reaction ~ Days + (Days | Subject)", mlm.load_sleepstudy())
    Z, Lam, X, Minv = dense_parts(m)
    A = np.hstack([Z @ Lam, X])
    expected = m.sigma * np.sqrt(np.einsum("ij,jk,ik->i", A, Minv, A))
    np.testing.assert_allclose(m.predict(se_fit=True)["se_fit"].to_numpy(), expected, rtol=1e-8)
    # population level at Days = 0: the SE of the intercept
    nd = pd.DataFrame({"Days": [0.0, 3.0], "Subject": ["308", "308"]})
    p = m.predict(nd, re_form="~0", se_fit=True)
    V = m.vcov().to_numpy()
    np.testing.assert_allclose(
        p["se_fit"].to_numpy(), [np.sqrt(V[0, 0]), np.sqrt(V[0, 0] + 9 * V[1, 1] + 6 * V[0, 1])], rtol=1e-8
    )


def test_new_level_adds_prior_variance():
    m = mlm.lmer("Reaction ~ Days + (Days | Subject)", mlm.load_sleepstudy())
    nd = pd.DataFrame({"Days": [2.0], "Subject": ["999"]})
    p = m.predict(nd, se_fit=True, allow_new_levels=True)
    pop = m.predict(nd, re_form="~0", se_fit=True)
    vc = m.VarCorr().as_dataframe()
    sd0, sd1 = vc.sdcor.iloc[0], vc.sdcor.iloc[1]
    cov = vc.vcov.iloc[2]
    prior = sd0**2 + 4 * sd1**2 + 4 * cov
    np.testing.assert_allclose(p["se_fit"].iloc[0] ** 2, pop["se_fit"].iloc[0] ** 2 + prior, rtol=1e-8)


def test_glmm_se_on_link_and_response_scale():
    g = mlm.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", mlm.load_cbpp())
    st = g._state
    Z, Lam, X, Minv = dense_parts(g, weights=st.weights)
    A = np.hstack([Z @ Lam, X])
    se_link = np.sqrt(np.einsum("ij,jk,ik->i", A, Minv, A))
    p = g.predict(se_fit=True)
    np.testing.assert_allclose(p["se_fit"].to_numpy(), se_link, rtol=1e-8)
    r = g.predict(type="response", interval="confidence")
    eta = p["fit"].to_numpy()
    mu_eta = np.exp(eta) / (1 + np.exp(eta)) ** 2
    np.testing.assert_allclose(r["se_fit"].to_numpy(), se_link * mu_eta, rtol=1e-8)
    assert np.all((r["lwr"] < r["fit"]) & (r["fit"] < r["upr"]) & (r["lwr"] > 0) & (r["upr"] < 1))
    with pytest.raises(mlm.MixedLMError, match="prediction intervals"):
        g.predict(interval="prediction")
