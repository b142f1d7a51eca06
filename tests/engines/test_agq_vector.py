"""Vector-valued adaptive Gauss–Hermite quadrature checked against an independent integral.

For a small binary data set with ``(1 + t | id)`` and 3–5 observations per id, the
marginal log-likelihood at fixed (β, θ) from our AGQ with increasing numbers of
points must converge to a brute-force, *non-adaptive* high-order tensor
Gauss–Hermite integral of the same integrand computed here with plain NumPy, and
``nAGQ = 1`` must equal the Laplace value exactly (issue 3, "Done means" 2).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from numpy.polynomial.hermite_e import hermegauss
from scipy.special import expit

import mixedlm as mlm
from mixedlm.engines.glmm import product_rule
from mixedlm.glmer import build_glmm, make_glmm_objective


def small_binary() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    rows = []
    for j in range(8):
        nj = 3 + j % 3  # 3, 4 or 5 observations
        b0, b1 = rng.normal(0, 1.0), rng.normal(0, 0.7)
        for t in np.linspace(0, 1.5, nj):
            rows.append({"id": f"g{j}", "t": t, "y": float(rng.random() < expit(-0.3 + 0.8 * t + b0 + b1 * t))})
    return pd.DataFrame(rows)


THETA = np.array([0.9, 0.3, 0.6])  # lower-triangular T = [[0.9, 0], [0.3, 0.6]] (lme4 order)
BETA = np.array([-0.2, 0.5])


def brute_force_neg2loglik(d: pd.DataFrame, n_points: int = 120) -> float:
    """−2 Σ_j log ∫ Π_i p(y_i | u) φ₂(u) du by non-adaptive tensor Gauss–Hermite on u."""
    z, w = hermegauss(n_points)
    w = w / np.sqrt(2 * np.pi)
    U1, U2 = np.meshgrid(z, z, indexing="ij")
    W = np.outer(w, w)
    T = np.array([[THETA[0], 0.0], [THETA[1], THETA[2]]])
    B0 = T[0, 0] * U1
    B1 = T[1, 0] * U1 + T[1, 1] * U2
    total = 0.0
    for _, g in d.groupby("id", sort=True):
        logp = np.zeros_like(U1)
        for t, y in zip(g["t"], g["y"]):
            eta = BETA[0] + BETA[1] * t + B0 + B1 * t
            logp += y * eta - np.logaddexp(0.0, eta)
        total += -2.0 * np.log(np.sum(W * np.exp(logp)))
    return float(total)


@pytest.fixture(scope="module")
def setup():
    return build_glmm("y ~ t + (1 + t | id)", small_binary(), mlm.families.Binomial())


def test_agq_converges_to_brute_force_integral(setup):
    par = np.concatenate([THETA, BETA])
    values = {k: make_glmm_objective(setup, nAGQ=k).deviance(par) for k in (3, 5, 9, 15, 25)}
    diffs = [abs(values[b] - values[a]) for a, b in ((3, 5), (5, 9), (9, 15), (15, 25))]
    assert diffs[-1] < 1e-6, values
    assert diffs[-1] <= diffs[0]
    reference = brute_force_neg2loglik(small_binary())
    assert abs(values[25] - reference) < 1e-6, (values[25], reference)


def test_laplace_is_far_from_exact_but_agq_is_not(setup):
    par = np.concatenate([THETA, BETA])
    laplace = make_glmm_objective(setup, nAGQ=1).deviance(par)
    exact = brute_force_neg2loglik(small_binary())
    assert abs(laplace - exact) > 1e-3  # the test data are not trivially Gaussian
    assert abs(make_glmm_objective(setup, nAGQ=15).deviance(par) - exact) < 1e-5


def test_one_point_rule_reproduces_laplace_exactly(setup):
    par = np.concatenate([THETA, BETA])
    obj = make_glmm_objective(setup, nAGQ=3)
    obj.nodes, obj.node_weights = product_rule(1, 2)
    st = obj.state(par)
    assert obj.agq_correction(THETA, st) == 0.0
    assert obj.value_at(par, st) == make_glmm_objective(setup, nAGQ=1).deviance(par)


def test_vector_agq_fit_runs_and_is_close_to_laplace():
    d = small_binary()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mlm.errors.SingularFitMessage)
        lap = mlm.glmer("y ~ t + (1 + t | id)", d, family=mlm.families.Binomial())
        agq = mlm.glmer("y ~ t + (1 + t | id)", d, family=mlm.families.Binomial(), nAGQ=7)
    assert abs(agq.logLik() - lap.logLik()) < 1.0
    assert "nAGQ = 7" in str(agq.summary())


def test_unsupported_agq_structures_are_refused():
    cbpp = mlm.load_cbpp()
    g = mlm.load_grouseticks()
    with pytest.raises(mlm.MixedLMError, match=r"single grouping factor"):
        mlm.glmer("TICKS ~ YEAR + (1 | BROOD) + (1 | LOCATION)", g, family=mlm.families.Poisson(), nAGQ=5)
    with pytest.raises(mlm.MixedLMError, match=r"between 0 and 100"):
        mlm.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp, nAGQ=101)
    with pytest.raises(mlm.MixedLMError, match=r"between 0 and 100"):
        mlm.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp, nAGQ=-1)
    rng = np.random.default_rng(3)
    big = pd.DataFrame({"id": np.repeat([f"g{i}" for i in range(40)], 12), "t": np.tile(np.linspace(0, 1, 12), 40)})
    big = big.assign(y=(rng.random(len(big)) < 0.4).astype(float), t2=big.t**2, t3=big.t**3, t4=big.t**0.5)
    with pytest.raises(mlm.MixedLMError, match=r"quadrature points per level"):
        mlm.glmer("y ~ t + (1 + t + t2 + t3 + t4 | id)", big, nAGQ=20)
