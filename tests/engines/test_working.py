"""The compiled IRLS working-quantity kernels against the families' NumPy formulas.

The reference is the NumPy path of :class:`WorkingEvaluator` (R's ``linkinv``,
``mu.eta``, ``variance`` and ``dev.resids``, themselves tested against R in
``test_families.py``); the kernels rearrange the deviance, so agreement is to rounding — except where R's
formula itself loses digits (``y = 0`` with ``μ`` within ~1e-13 of 1 evaluates
``log(1 − μ)`` from a rounded ``μ``).  The deviance is therefore checked against a
50-digit evaluation of R's formula (:mod:`decimal`) on every row.
"""

from __future__ import annotations

from decimal import Decimal, getcontext

import numpy as np
import pytest

from mixedlm import families
from mixedlm.engines.working import WorkingEvaluator


def _numpy_path(family, y, a, eta):
    ev = WorkingEvaluator(family, y, a)
    ev.kind = None  # force the generic NumPy formulas
    return ev(eta)


def _exact_deviance(unit, y, a, eta):
    """``Σ 2a · unit(y, η)`` in 50-digit decimal arithmetic."""
    getcontext().prec = 50
    total = Decimal(0)
    for yi, ai, ei in zip(y, a, eta):
        total += 2 * Decimal(float(ai)) * unit(Decimal(float(yi)), float(ei))
    return float(total)


_EPS = Decimal(np.finfo(float).eps)


def _binomial_unit(yd, ei):
    """R's ``y log(y/μ) + (1−y) log((1−y)/(1−μ))`` with R's clamped ``t = exp(η)``, ``μ = t/(1+t)``."""
    t = _EPS if ei < -30 else (1 / _EPS if ei > 30 else Decimal(ei).exp())
    mu = t / (1 + t)
    half = Decimal(0)
    if yd != 0:
        half += yd * (yd / mu).ln()
    if yd != 1:
        half += (1 - yd) * ((1 - yd) / (1 - mu)).ln()
    return half


def _poisson_unit(yd, ei):
    """``y log(y/μ) − (y − μ)`` with ``μ = max(exp η, ε)`` (``μ`` at ``y = 0``)."""
    mu = max(Decimal(ei).exp(), _EPS)
    return mu if yd == 0 else yd * (yd / mu).ln() - (yd - mu)


def _check_against_numpy_and_exact(fam, y, a, eta, unit):
    """Kernel vs the NumPy path (μ, weights, residuals) and vs the 50-digit deviance; returns both results."""
    ev = WorkingEvaluator(fam, y, a)
    assert ev.compiled
    got, ref = ev(eta), _numpy_path(fam, y, a, eta)
    np.testing.assert_allclose(got.mu, ref.mu, rtol=1e-15, atol=0)
    np.testing.assert_allclose(got.weights, ref.weights, rtol=1e-14, atol=0)
    np.testing.assert_allclose(got.wres, ref.wres, rtol=1e-14, atol=0)
    assert got.dev == pytest.approx(_exact_deviance(unit, y, a, eta), rel=1e-13)
    return got, ref


def _eta(rng, n):
    eta = rng.normal(0.0, 3.0, n)
    # saturated and clamped rows: R's thresholds at |η| = 30 and exp(η) < ε
    eta[:8] = [-40.0, -30.0, -29.999, 30.0, 30.5, 45.0, -18.0, 18.0]
    return eta


@pytest.mark.parametrize("response", ["bernoulli", "proportion"])
def test_binomial_logit_kernel_matches_numpy(response):
    rng = np.random.default_rng(11)
    n = 2000
    eta = _eta(rng, n)
    if response == "bernoulli":
        y = (rng.random(n) < 0.4).astype(float)
        a = np.ones(n)
    else:
        a = rng.integers(1, 12, n).astype(float)
        y = rng.binomial(a.astype(int), 0.3) / a
        a[5] = 0.0  # a zero prior weight contributes nothing
    fam = families.Binomial()
    _check_against_numpy_and_exact(fam, y, a, eta, _binomial_unit)
    # away from μ ≈ 0 or 1 R's formula is accurate and the two paths agree to rounding
    ok = np.abs(eta) < 15
    kernel = WorkingEvaluator(fam, y[ok], a[ok])(eta[ok]).dev
    assert kernel == pytest.approx(_numpy_path(fam, y[ok], a[ok], eta[ok]).dev, rel=1e-13)


def test_poisson_log_kernel_matches_numpy():
    rng = np.random.default_rng(12)
    n = 2000
    eta = rng.normal(1.0, 2.0, n)
    eta[:4] = [-40.0, -36.05, 5.0, 12.0]  # exp(η) below ε is clamped to ε
    y = rng.poisson(np.exp(np.clip(eta, -5, 6))).astype(float)
    y[4:8] = np.round(np.exp(eta[4:8]))  # y ≈ μ: the bd0 series branch
    a = rng.uniform(0.5, 2.0, n)
    got, ref = _check_against_numpy_and_exact(families.Poisson(), y, a, eta, _poisson_unit)
    assert got.dev == pytest.approx(ref.dev, rel=1e-13)


@pytest.mark.parametrize("family", [families.Binomial(link="probit"), families.Poisson(link="sqrt"), families.Gamma()])
def test_other_families_use_numpy_path(family):
    y = np.array([0.2, 0.5, 0.9]) if family.name == "binomial" else np.array([1.0, 2.0, 3.0])
    ev = WorkingEvaluator(family, y, np.ones(3))
    assert not ev.compiled
    eta = family.link.linkfun(np.array([0.3, 0.6, 0.8]) if family.name == "binomial" else y + 0.5)
    wv = ev(eta)
    np.testing.assert_allclose(wv.mu, family.link.linkinv(eta))
    assert wv.dev == pytest.approx(float(np.sum(family.dev_resids(y, wv.mu, np.ones(3)))))
