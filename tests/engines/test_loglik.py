"""``Family.loglik_eta``: the one implementation of each family's log-likelihood in η and its derivatives.

Checked against independent computations: the value (plus ``loglik_constant``) against the
family's own ``loglik(y, μ)`` (R's density formulas, μ from the link) where R's clamps are
inactive, and both derivatives against central finite differences of that value; the
compiled pairs also against SciPy's distributions; 2-D η (quadrature nodes) against 1-D calls;
and the IRLS mode PIRLS uses against ``−ℓ''`` and ``ℓ'/(−ℓ'')``.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

import mixedlm as mlm
from mixedlm.engines import loglik
from mixedlm.engines.working import WorkingEvaluator

F = mlm.families

CASES = [
    (F.Binomial("logit"), (-6, 6)),
    (F.Binomial("probit"), (-4, 4)),
    (F.Binomial("cloglog"), (-4, 2)),
    (F.Binomial("cauchit"), (-8, 8)),
    (F.Binomial("log"), (-4, -0.05)),
    (F.Poisson("log"), (-2, 5)),
    (F.Poisson("identity"), (0.2, 20)),
    (F.Poisson("sqrt"), (0.3, 5)),
    (F.NegativeBinomial(2.5), (-1, 3)),
    (F.Gamma("log"), (-1, 2)),
    (F.Gamma("inverse"), (0.2, 2)),
    (F.InverseGaussian("log"), (-1, 1)),
    (F.Gaussian("log"), (-1, 2)),
]


def _data(fam, lo, hi, rng, n=60):
    eta = rng.uniform(lo, hi, n)
    mu = fam.link.linkinv(eta)
    if fam.name == "binomial":
        a = rng.integers(1, 9, n).astype(float)
        y = rng.binomial(a.astype(int), np.clip(mu, 0.02, 0.98)) / a
    elif fam.name == "poisson" or fam.name.startswith("Negative"):
        a = np.ones(n)
        y = rng.poisson(np.clip(mu, 0.1, 50)).astype(float)
    else:
        a = rng.uniform(0.5, 2.0, n)
        y = np.abs(mu * rng.gamma(4.0, 0.25, n)) + 0.01
    return eta, y, a


@pytest.mark.parametrize(
    "fam, rng_eta", CASES, ids=lambda c: str(c).replace(" ", "") if not isinstance(c, tuple) else ""
)
def test_value_and_derivatives(fam, rng_eta):
    rng = np.random.default_rng(3)
    eta, y, a = _data(fam, *rng_eta, rng)
    l, d1, d2 = fam.loglik_eta(eta, y, a, order=2)
    c = fam.loglik_constant(y, a)
    if not fam.has_scale and not fam.name.startswith("Negative"):
        # the full log-likelihood equals the family's density formula at μ = g⁻¹(η)
        np.testing.assert_allclose(l + c, fam.loglik(y, fam.link.linkinv(eta), a), rtol=1e-11, atol=1e-11)
    h = 1e-5 * (1 + np.abs(eta))

    def val(e):
        return fam.loglik_eta(e, y, a, order=0)[0]

    np.testing.assert_allclose(d1, (val(eta + h) - val(eta - h)) / (2 * h), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(
        d2, (fam.loglik_eta(eta + h, y, a, 1)[1] - fam.loglik_eta(eta - h, y, a, 1)[1]) / (2 * h), rtol=1e-5, atol=1e-6
    )
    # 2-D η, one row per observation: the same values column by column
    E = np.column_stack([eta, eta + 0.1, eta - 0.1])
    L2 = fam.loglik_eta(E, y, a, order=0)[0]
    for j in range(3):
        np.testing.assert_allclose(L2[:, j], val(E[:, j]), rtol=1e-14, atol=1e-14)


def test_compiled_pairs_against_scipy_and_in_the_tails():
    rng = np.random.default_rng(5)
    n = 200
    a = rng.integers(1, 20, n).astype(float)
    eta = np.concatenate([rng.normal(0, 3, n - 4), [-45.0, -31.0, 31.0, 45.0]])
    s = rng.binomial(a.astype(int), 0.4).astype(float)
    y = s / a
    fam = F.Binomial()
    l, d1, d2 = fam.loglik_eta(eta, y, a)
    p = 1.0 / (1.0 + np.exp(-eta))
    mid = np.abs(eta) < 30  # where scipy's pmf at a rounded p is accurate
    full = l + fam.loglik_constant(y, a)
    np.testing.assert_allclose(full[mid], stats.binom.logpmf(s, a.astype(int), p)[mid], rtol=1e-12, atol=1e-9)
    # everywhere (tails included): log C(a, s) + s η − a log(1 + e^η), with NumPy's logaddexp
    ref = stats.binom.logpmf(s, a.astype(int), 0.5) + a * np.log(2.0) + s * eta - a * np.logaddexp(0.0, eta)
    np.testing.assert_allclose(full, ref, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(d1, s - a * p, rtol=1e-12, atol=1e-12)
    e = np.exp(-np.abs(eta))
    np.testing.assert_allclose(d2, -a * e / (1 + e) ** 2, rtol=1e-12, atol=1e-300)  # exact in the tails too
    yp = rng.poisson(5.0, n).astype(float)
    etp = rng.normal(1.5, 1.0, n)
    fam = F.Poisson()
    l, d1, d2 = fam.loglik_eta(etp, yp, np.ones(n))
    np.testing.assert_allclose(
        l + fam.loglik_constant(yp, np.ones(n)), stats.poisson.logpmf(yp, np.exp(etp)), rtol=1e-12, atol=1e-12
    )
    np.testing.assert_allclose(d2, -np.exp(etp), rtol=1e-14)


@pytest.mark.parametrize("fam", [F.Binomial(), F.Poisson()], ids=["binomial-logit", "poisson-log"])
def test_irls_mode_is_the_derivatives_with_r_clamps(fam):
    """PIRLS' working weights and residuals are ``−ℓ''`` and ``ℓ'/(−ℓ'')`` where R does not clamp."""
    rng = np.random.default_rng(9)
    eta = rng.normal(0.5, 2.0, 500)
    a = rng.integers(1, 6, 500).astype(float) if fam.name == "binomial" else np.ones(500)
    y = (rng.binomial(a.astype(int), 0.5) / a) if fam.name == "binomial" else rng.poisson(2.0, 500).astype(float)
    wv = WorkingEvaluator(fam, y, a)(eta)
    _, d1, d2 = fam.loglik_eta(eta, y, a)
    np.testing.assert_allclose(wv.weights, -d2, rtol=1e-13)
    np.testing.assert_allclose(wv.wres, d1 / -d2, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(wv.dev, float(np.sum(fam.dev_resids(y, wv.mu, a))), rtol=1e-12)
    assert loglik.kind(fam) is not None
