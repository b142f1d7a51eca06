"""Independent GLMM likelihoods for the accuracy tests, written with dense NumPy from scratch.

Nothing here uses mixedlm: the design matrices are built from the data columns, the
families are written out with SciPy's special functions, the random-effects system is
solved densely, and the derivatives use their own stencils.  Two objectives:

* :class:`DenseLaplace` — lme4's Laplace deviance for scalar random intercepts (crossed
  allowed): ``−2 log p(y | û) + ‖û‖² + log det(ΛᵀZᵀWZΛ + I)`` with ``W`` the expected
  (IRLS) weights at the mode ``û`` (found by damped Newton iterations to 1e-14);
* :class:`ExactMarginal` — one scalar random intercept, each group's integral
  ``∫ Π_i p(y_i | η_i + σ b) φ(b) db`` by adaptive quadrature (``scipy.integrate.quad``).

:func:`richardson_hessian_4pt` differentiates either with lme4's four-point cross
stencil at steps ``h`` and ``h/2``, Richardson-combined.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import integrate, special


class Family:
    """``μ(η)``, ``dμ/dη``, variance and log-density (with constants) of one family/link."""

    def __init__(self, name: str, link: str) -> None:
        self.name, self.link = name, link

    def mu(self, eta):
        if self.link == "logit":
            return special.expit(eta)
        if self.link == "probit":
            return special.ndtr(eta)
        if self.link == "log":
            return np.exp(eta)
        raise ValueError(self.link)

    def dmu(self, eta):
        if self.link == "logit":
            p = special.expit(eta)
            return p * (1 - p)
        if self.link == "probit":
            return np.exp(-0.5 * eta * eta) / math.sqrt(2 * math.pi)
        if self.link == "log":
            return np.exp(eta)
        raise ValueError(self.link)

    def var(self, mu):
        return mu * (1 - mu) if self.name == "binomial" else mu

    def logpdf(self, y, n, mu):
        """Log density of counts ``y`` (binomial: successes out of ``n``)."""
        if self.name == "binomial":
            return (
                special.gammaln(n + 1)
                - special.gammaln(y + 1)
                - special.gammaln(n - y + 1)
                + special.xlogy(y, mu)
                + special.xlog1py(n - y, -mu)
            )
        return special.xlogy(y, mu) - mu - special.gammaln(y + 1)


def indicators(codes: list[np.ndarray]) -> tuple[np.ndarray, list[int]]:
    """Dense ``Z = [Z_1 … Z_K]`` of indicator columns from integer codes per factor."""
    blocks = []
    for c in codes:
        Zk = np.zeros((c.shape[0], int(c.max()) + 1))
        Zk[np.arange(c.shape[0]), c] = 1.0
        blocks.append(Zk)
    return np.hstack(blocks), [b.shape[1] for b in blocks]


def codes_of(column: pd.Series) -> np.ndarray:
    """Integer codes in sorted level order."""
    levels = sorted(column.astype(str).unique())
    lookup = {v: i for i, v in enumerate(levels)}
    return np.array([lookup[v] for v in column.astype(str)])


class DenseLaplace:
    """lme4's Laplace deviance of a GLMM with scalar random intercepts (see module docstring).

    Parameters are ``(θ_1 … θ_K, β)``: one relative SD per factor, in the order of ``Z``'s blocks.
    ``y`` are counts (binomial: successes out of ``n`` trials; Poisson: ``n = 1``).
    """

    def __init__(self, y, n, X, codes, family: Family) -> None:
        self.y = np.asarray(y, float)
        self.n = np.asarray(n, float)
        self.X = np.asarray(X, float)
        self.Z, self.sizes = indicators(codes)
        self.fam = family
        self.K = len(self.sizes)

    def _lambda(self, theta):
        return np.concatenate([np.full(s, t) for s, t in zip(self.sizes, theta)])

    def deviance(self, par) -> float:
        par = np.asarray(par, float)
        theta, beta = par[: self.K], par[self.K :]
        ZL = self.Z * self._lambda(theta)[None, :]
        off = self.X @ beta
        fam, y, n = self.fam, self.y, self.n
        q = ZL.shape[1]
        u = np.zeros(q)

        def pdev(u):
            mu = fam.mu(off + ZL @ u)
            return -2.0 * np.sum(fam.logpdf(y, n, mu)) + u @ u

        cur = pdev(u)
        for _ in range(200):
            eta = off + ZL @ u
            mu, d = fam.mu(eta), fam.dmu(eta)
            V = fam.var(mu)
            # score of −pdev/2 and its expected information (Fisher scoring): ∂ℓ/∂η = (y − nμ) μ'/V
            score = ZL.T @ ((y - n * mu) * d / V) - u
            M = ZL.T @ ((n * d * d / V)[:, None] * ZL) + np.eye(q)
            step = np.linalg.solve(M, score)
            if np.max(np.abs(step)) < 1e-14 * (1 + np.max(np.abs(u))):
                break
            t = 1.0
            while t > 1e-10:
                new = pdev(u + t * step)
                if new <= cur + 1e-12 * abs(cur):
                    break
                t *= 0.5
            u, cur = u + t * step, new
        eta = off + ZL @ u
        mu, d = fam.mu(eta), fam.dmu(eta)
        M = ZL.T @ ((n * d * d / fam.var(mu))[:, None] * ZL) + np.eye(q)
        return float(cur + np.linalg.slogdet(M)[1])


class ExactMarginal:
    """``−2 log L`` of a GLMM with one scalar random intercept, by adaptive quadrature per group."""

    def __init__(self, y, n, X, codes: np.ndarray, family: Family) -> None:
        self.y = np.asarray(y, float)
        self.n = np.asarray(n, float)
        self.X = np.asarray(X, float)
        self.groups = [np.flatnonzero(codes == g) for g in range(int(codes.max()) + 1)]
        self.fam = family

    def deviance(self, par) -> float:
        par = np.asarray(par, float)
        sigma, beta = abs(par[0]), par[1:]
        off = self.X @ beta
        total = 0.0
        for rows in self.groups:
            y, n, o = self.y[rows], self.n[rows], off[rows]

            def logf(b):
                return float(np.sum(self.fam.logpdf(y, n, self.fam.mu(o + sigma * b)))) - 0.5 * b * b

            # centre and scale the integrand at its mode (found here by a bracketing search)
            grid = np.linspace(-8, 8, 161)
            vals = np.array([logf(b) for b in grid])
            b0 = grid[int(np.argmax(vals))]
            top = logf(b0)
            value, _ = integrate.quad(
                lambda b: math.exp(logf(b) - top), b0 - 12, b0 + 12, epsabs=0, epsrel=1e-12, limit=200, points=[b0]
            )
            total += -2.0 * (top + math.log(value) - 0.5 * math.log(2 * math.pi))
        return total


def richardson_hessian_4pt(f, x, h) -> np.ndarray:
    """Hessian by the four-point central stencil at steps ``h`` and ``h/2``, Richardson-combined."""
    x = np.asarray(x, float)
    h = np.asarray(h, float)

    def at(step):
        P = x.shape[0]
        f0 = f(x)
        H = np.empty((P, P))
        for i in range(P):
            ei = np.zeros(P)
            ei[i] = step[i]
            H[i, i] = (f(x + ei) - 2 * f0 + f(x - ei)) / step[i] ** 2
            for j in range(i):
                ej = np.zeros(P)
                ej[j] = step[j]
                H[i, j] = H[j, i] = (f(x + ei + ej) - f(x + ei - ej) - f(x - ei + ej) + f(x - ei - ej)) / (
                    4 * step[i] * step[j]
                )
        return H

    return (4 * at(h / 2) - at(h)) / 3
