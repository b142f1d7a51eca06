"""The Bayesian engines against independent formulas: kernels, log posterior, ELBO, derivatives.

Every check compares against something computed another way: the family's own
log-likelihood (``mixedlm.engines.families``) or ``scipy.stats``, finite differences, and
Monte Carlo integration with many draws (within its standard error).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
from _models import issue_example
from scipy import stats

import mixedlm.engines.bayes as B
from mixedlm import families as fams

KERNELS = [
    ("binomial", "logit"),
    ("binomial", "probit"),
    ("binomial", "cloglog"),
    ("binomial", "cauchit"),
    ("binomial", "log"),
    ("poisson", "log"),
    ("poisson", "identity"),
    ("poisson", "sqrt"),
]


def _family(name: str, link: str):
    return fams.Binomial(link=link) if name == "binomial" else fams.Poisson(link=link)


def _kernel_data(name: str, link: str, rng: np.random.Generator):
    n = 60
    if name == "binomial":
        w = rng.integers(1, 6, n).astype(float)
        w[:10] = 1.0
        s = np.array([rng.integers(0, int(k) + 1) for k in w], dtype=float)
        y = s / w
        # inside the range where R's families do not clamp μ (cloglog clamps at 1 − ε for η > 3.6)
        eta = {"log": rng.uniform(-3, -0.05, n), "cloglog": rng.uniform(-6, 3, n)}.get(link, rng.uniform(-6, 6, n))
    else:
        w = np.ones(n)
        y = rng.poisson(3.0, n).astype(float)
        eta = rng.uniform(0.2, 4.0, n) if link in ("identity", "sqrt") else rng.uniform(-3, 3, n)
    return y, w, eta


@pytest.mark.parametrize("name,link", KERNELS)
def test_kernel_matches_family_loglik_and_derivatives(name, link):
    rng = np.random.default_rng(7)
    y, w, eta = _kernel_data(name, link, rng)
    fam = _family(name, link)
    ker = B.LogLikKernel(fam, y, w)
    l, d1, d2 = ker(eta, order=2)
    # value: the family's own log-likelihood (with its normalising constants)
    mu = fam.link.linkinv(eta)
    # (rtol 1e-8: the family clamps μ as R does and loses digits in log(1 − μ) far in the tails)
    np.testing.assert_allclose(l + ker.const, fam.loglik(y, mu, w), rtol=1e-8, atol=1e-10)
    # derivatives: central differences
    h = 1e-5
    lp, d1p, _ = ker(eta + h, order=1)
    lm, d1m, _ = ker(eta - h, order=1)
    np.testing.assert_allclose(d1, (lp - lm) / (2 * h), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(d2, (d1p - d1m) / (2 * h), rtol=1e-5, atol=1e-6)


def test_cloglog_kernel_in_the_tails():
    """``g(t) = t/(e^t − 1)`` switches between a series and the closed form at t = 0.1."""
    ker = B.LogLikKernel(fams.Binomial(link="cloglog"), np.array([1.0, 1.0, 1.0, 0.0]), np.ones(4))
    eta = np.array([math.log(0.0999999), math.log(0.1000001), -40.0, 6.0])
    l, d1, d2 = ker(eta)
    assert np.all(np.isfinite(l)) and np.all(np.isfinite(d1)) and np.all(np.isfinite(d2))
    np.testing.assert_allclose(d1[0], d1[1], rtol=1e-5)
    np.testing.assert_allclose(d2[0], d2[1], rtol=1e-5)
    np.testing.assert_allclose(l[2], -40.0, rtol=1e-12)  # log μ ≈ η when e^η ≪ 1


def _problem(family=None, seed: int = 3, n: int = 150, dense_vc: bool = True) -> B.BayesProblem:
    rng = np.random.default_rng(seed)
    X = np.column_stack([np.ones(n), rng.standard_normal(n)])
    g1 = rng.integers(0, 8, n)
    g2 = rng.integers(0, 5, n)
    Z = sp.hstack(
        [
            sp.csc_matrix((np.ones(n), (np.arange(n), g1)), shape=(n, 8)),
            sp.csc_matrix((rng.standard_normal(n), (np.arange(n), g2)), shape=(n, 5)),
        ],
        format="csc",
    )
    ident = np.array([0] * 8 + [1] * 5)
    family = family or fams.Binomial()
    eta = 0.2 + 0.5 * X[:, 1] + Z @ rng.normal(0, 0.7, 13)
    if family.name == "binomial":
        y = rng.binomial(1, 1 / (1 + np.exp(-eta))).astype(float)
    else:
        y = rng.poisson(np.exp(eta)).astype(float)
    return B.BayesProblem(
        X=X, Z=Z, ident=ident, kernel=B.LogLikKernel(family, y, np.ones(n)), offset=np.zeros(n), vcp_p=1.0, fe_p=2.0
    )


def _log_posterior_scipy(pr: B.BayesProblem, beta, vcp, vc) -> float:
    """log p(y, β, v, c) from scipy.stats densities (an independent formula)."""
    eta = pr.X @ beta + pr.Z @ vc + pr.offset
    fam = pr.kernel.family
    mu = fam.link.linkinv(eta)
    if fam.name == "binomial":
        ll = stats.binom.logpmf(np.round(pr.kernel.y * pr.kernel.w), pr.kernel.w, mu).sum()
    else:
        ll = stats.poisson.logpmf(pr.kernel.y, mu).sum()
    return float(
        ll
        + stats.norm.logpdf(vc, 0, np.exp(vcp[pr.ident])).sum()
        + stats.norm.logpdf(vcp, 0, pr.vcp_p).sum()
        + stats.norm.logpdf(beta, 0, pr.fe_p).sum()
    )


@pytest.mark.parametrize("family", [fams.Binomial(), fams.Poisson()], ids=["binomial", "poisson"])
def test_log_posterior_equals_scipy_densities(family):
    pr = _problem(family)
    rng = np.random.default_rng(1)
    beta, vcp, vc = rng.normal(size=2), rng.normal(size=2) * 0.5, rng.normal(size=13) * 0.6
    assert B.log_posterior(pr, beta, vcp, vc) == pytest.approx(_log_posterior_scipy(pr, beta, vcp, vc), rel=1e-12)


def test_profile_gradient_and_hessian_match_finite_differences():
    pr = _problem()
    w0 = B._start_w(pr)
    v0 = np.array([-0.4, -0.9])
    inner = B._solve_inner(pr, v0, w0)
    g, H, *_ = B._profile_derivs(pr, inner)

    def prof(v):
        return B._profile_value(pr, B._solve_inner(pr, v, inner.w))

    h = 1e-4
    for i in range(2):
        e = np.zeros(2)
        e[i] = h
        assert g[i] == pytest.approx((prof(v0 + e) - prof(v0 - e)) / (2 * h), rel=1e-5, abs=1e-6)
        for j in range(2):
            f = np.zeros(2)
            f[j] = h
            fd = (prof(v0 + e + f) - prof(v0 + e - f) - prof(v0 - e + f) + prof(v0 - e - f)) / (4 * h * h)
            assert H[i, j] == pytest.approx(fd, rel=1e-4, abs=1e-4)


def _fd_hessian(f, x, h=1e-4):
    d = x.shape[0]
    H = np.empty((d, d))
    for i in range(d):
        for j in range(i, d):
            ei = np.zeros(d)
            ej = np.zeros(d)
            ei[i] = h
            ej[j] = h
            H[i, j] = H[j, i] = (f(x + ei + ej) - f(x + ei - ej) - f(x - ei + ej) + f(x - ei - ej)) / (4 * h * h)
    return H


def test_map_mode_is_stationary_and_covariance_is_inverse_hessian():
    """Independent check of the mode and of the exact Hessian: finite differences of the scipy formula."""
    endog, exog, exog_vc, ident = issue_example()
    pr = B.BayesProblem(
        X=exog,
        Z=sp.csc_matrix(exog_vc),
        ident=ident,
        kernel=B.LogLikKernel(fams.Binomial(), endog.astype(float), np.ones(200)),
        offset=np.zeros(200),
    )
    fit = B.fit_map(pr)
    x = fit.mean
    f = lambda z: _log_posterior_scipy(pr, z[:2], z[2:4], z[4:])  # noqa: E731
    grad = np.array([(f(x + h) - f(x - h)) / 2e-6 for h in np.eye(x.size) * 1e-6])
    assert np.max(np.abs(grad)) < 1e-5
    H = _fd_hessian(f, x)
    np.testing.assert_allclose(fit.cov, np.linalg.inv(-H), rtol=2e-4, atol=1e-7)
    assert fit.objective == pytest.approx(f(x), rel=1e-12)


def test_elbo_gradient_and_hessian_match_finite_differences():
    pr = _problem()
    f = B._Elbo(pr, 20)
    d = pr.p + pr.k + pr.q
    rng = np.random.default_rng(2)
    x = np.concatenate([rng.normal(0, 0.5, d), rng.normal(-1.2, 0.3, d)])
    val, g, Hb = f.value_grad_hess(x)
    h = 1e-6
    fd = np.array([(f(x + e, False)[0] - f(x - e, False)[0]) / (2 * h) for e in np.eye(2 * d) * h])
    np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-5)
    perm = B._to_internal(pr)
    Hww = Hb.Hww if Hb.dense else Hb.Hww.toarray()
    Hint = np.block([[Hww, Hb.Hwv], [Hb.Hwv.T, Hb.Hvv]])
    H = np.empty_like(Hint)
    H[np.ix_(perm, perm)] = Hint
    Hfd = np.array([(f(x + e)[1] - f(x - e)[1]) / (2 * 1e-5) for e in np.eye(2 * d) * 1e-5])
    np.testing.assert_allclose(H, Hfd, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    "family", [fams.Binomial(), fams.Binomial(link="probit"), fams.Poisson()], ids=["logit", "probit", "poisson"]
)
def test_elbo_matches_monte_carlo(family):
    """The quadrature ELBO equals E_q[log p(y, β, v, c)] + H(q) by Monte Carlo within 4 standard errors."""
    pr = _problem(family)
    fit = B.fit_vb(pr)
    m, s = fit.mean, fit.sd
    rng = np.random.default_rng(11)
    draws = 20000
    Zs = m + s * rng.standard_normal((draws, m.size))
    p, k = pr.p, pr.k
    vals = np.empty(draws)
    for i in range(draws):
        z = Zs[i]
        vals[i] = B.log_posterior(pr, z[:p], z[p : p + k], z[p + k :])
    entropy = float(np.sum(0.5 * np.log(2 * np.pi * np.e * s * s)))
    mc = vals.mean() + entropy
    se = vals.std(ddof=1) / math.sqrt(draws)
    assert abs(mc - fit.objective) < 4 * se + 1e-9, (mc, fit.objective, se)
    assert B.elbo(pr, m, s) == pytest.approx(fit.objective, rel=1e-12)


def _crossed_problem(n: int = 600, na: int = 70, nb: int = 12, seed: int = 4) -> B.BayesProblem:
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, na, n), rng.integers(0, nb, n)
    x = rng.standard_normal(n)
    X = np.column_stack([np.ones(n), x])
    Z = sp.hstack(
        [
            sp.csc_matrix((np.ones(n), (np.arange(n), a)), shape=(n, na)),
            sp.csc_matrix((np.ones(n), (np.arange(n), b)), shape=(n, nb)),
        ],
        format="csc",
    )
    eta = -0.2 + 0.6 * x + rng.normal(0, 0.9, na)[a] + rng.normal(0, 0.5, nb)[b]
    y = rng.binomial(1, 1 / (1 + np.exp(-eta))).astype(float)
    return B.BayesProblem(
        X=X,
        Z=Z,
        ident=np.repeat([0, 1], [na, nb]),
        kernel=B.LogLikKernel(fams.Binomial(), y, np.ones(n)),
        offset=np.zeros(n),
    )


@pytest.mark.parametrize("make", [_problem, _crossed_problem], ids=["small", "crossed"])
def test_dense_blocked_and_sparse_paths_agree(make):
    """Dense LAPACK, the eliminated diagonal leading block and CHOLMOD give the same fits."""
    fits = {}
    for path in ("dense", "blocked", "sparse"):
        pr = make()
        if path == "dense":
            pr.lead = None
        elif path == "blocked":
            if pr.lead is None:
                continue
        else:
            pr.use_dense, pr.lead = False, None
        fits[path] = (B.fit_map(pr, allow_collapse=False), B.fit_vb(pr))
    if make is _crossed_problem:
        assert "blocked" in fits  # a 70-level factor is eliminated as a diagonal block
    a_map, a_vb = fits["dense"]
    for path, (b_map, b_vb) in fits.items():
        np.testing.assert_allclose(a_map.mean, b_map.mean, rtol=1e-7, atol=1e-8, err_msg=path)
        np.testing.assert_allclose(a_map.sd, b_map.sd, rtol=1e-6, atol=1e-9, err_msg=path)
        np.testing.assert_allclose(a_vb.mean, b_vb.mean, rtol=1e-6, atol=1e-7, err_msg=path)
        np.testing.assert_allclose(a_vb.sd, b_vb.sd, rtol=1e-6, atol=1e-8, err_msg=path)
        assert a_vb.objective == pytest.approx(b_vb.objective, rel=1e-10)


def test_newton_and_lbfgs_reach_the_same_elbo():
    pr = _problem()
    a = B.fit_vb(pr)
    b = B.fit_vb(pr, optimizer="lbfgs", gtol=1e-9, maxiter=20000)
    assert a.objective >= b.objective - 1e-7
    np.testing.assert_allclose(a.mean, b.mean, atol=2e-4)


def test_vb_refuses_half_line_links():
    pr = _problem(fams.Binomial(link="log"))
    with pytest.raises(ValueError, match="ELBO does not exist"):
        B.fit_vb(pr)


def test_collapsed_mode_is_found_and_is_higher():
    """With many columns per component the funnel mode (v ≈ −q vcp_p²) beats the interior one."""
    pr = _problem(n=300)
    interior = B.fit_map(pr, allow_collapse=False)
    best = B.fit_map(pr)
    assert best.objective >= interior.objective - 1e-9
    if best.collapsed:
        c = best.collapsed[0]
        assert best.mean[pr.p + c] == pytest.approx(-pr.nk[c] * pr.vcp_p**2, rel=1e-6)
