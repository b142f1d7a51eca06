"""IRLS working quantities (μ, working weights and residuals, deviance) from the linear predictor.

At every PIRLS step the rows enter only through

    μ_i = g⁻¹(η_i),   w_i = a_i μ'(η_i)² / V(μ_i),   r_i = (y_i − μ_i) / μ'(η_i),
    dev = Σ_i d_i(y_i, μ_i)

(``a_i`` prior weights, ``V`` the variance function, ``d_i`` the family's unit
deviance times ``a_i``; ``r_i`` is the working residual, so the working response is
``η_i − o_i + r_i``).  Evaluated with NumPy these are about a dozen passes over
``n``-vectors; for the two canonical pairs that dominate practice —
binomial/logit and Poisson/log — the exponential (and ``log1p``) is taken with
NumPy's vectorized functions and a compiled kernel computes all four in one more
pass, with R's clamping of the inverse link and R's unit deviances rearranged so
that no further logarithm is needed (see the kernels).  Both paths agree to
rounding wherever R's formula is accurate; with ``μ`` within ~1e-13 of 0 or 1 the
rearranged deviance is the more accurate one (R's evaluates ``log(1 − μ)`` from a
rounded ``μ``).  Every other family and link uses the NumPy path.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numba import njit
from scipy import special

from mixedlm.engines.links import DOUBLE_EPS

#: ``|η|`` beyond which R treats the logistic as saturated (``THRESH`` in R's family.c).
_LOGIT_THRESH = 30.0
#: Rows summed into one partial sum before it is added to the total (blocked summation
#: keeps the rounding error of the deviance close to NumPy's pairwise sum).
_BLOCK = 256
#: R's ``.Machine$double.eps`` (a compile-time constant of the kernels).
_EPS = DOUBLE_EPS


@dataclass
class WorkingValues:
    """IRLS quantities at one linear predictor.

    Attributes
    ----------
    mu : numpy.ndarray
        Means ``g⁻¹(η)``.
    weights : numpy.ndarray
        Working weights ``a μ'(η)² / V(μ)``.
    wres : numpy.ndarray
        Working residuals ``(y − μ) / μ'(η)``.
    dev : float
        Sum of the family's (prior-weighted) deviance residuals.
    """

    mu: np.ndarray
    weights: np.ndarray
    wres: np.ndarray
    dev: float


@njit(cache=True, nogil=True)
def binomial_logit_working(eta, t, log1p_t, y, a, c_y, mu, w, wres):  # pragma: no cover - compiled
    """Fill ``mu, w, wres`` for the binomial family with the logit link; return the deviance.

    Inputs ``t = exp(η)`` and ``log1p(t)`` come from NumPy's vectorized functions
    (``|η| ≤ 30``; rows beyond are recomputed here with R's clamp ``t ∈ {ε, 1/ε}``).
    With ``μ = t/(1+t)`` the half unit deviance is

        y log(y/μ) + (1−y) log((1−y)/(1−μ)) = c_y + log(1+t) − y log t,

    ``c_y = y log y + (1−y) log(1−y)`` (0 for a 0/1 response), which needs no
    logarithm of ``μ`` or ``1 − μ`` and has no cancellation as ``μ → 0`` or ``1``.
    ``μ'(η) = t/(1+t)²`` (``ε`` beyond ``|η| > 30``).
    """
    n = eta.shape[0]
    total = 0.0
    for i0 in range(0, n, _BLOCK):
        part = 0.0
        for i in range(i0, min(n, i0 + _BLOCK)):
            e = eta[i]
            if e < -_LOGIT_THRESH or e > _LOGIT_THRESH:
                ti = _EPS if e < 0.0 else 1.0 / _EPS
                logt = math.log(ti)
                l1p = math.log1p(ti)
                me = _EPS
            else:
                ti = t[i]
                logt = e
                l1p = log1p_t[i]
                me = ti / ((1.0 + ti) * (1.0 + ti))
            m = ti / (1.0 + ti)
            mu[i] = m
            w[i] = a[i] * me * me / (m * (1.0 - m))
            wres[i] = (y[i] - m) / me
            part += 2.0 * a[i] * (c_y[i] + l1p - y[i] * logt)
        total += part
    return total


@njit(cache=True, nogil=True)
def poisson_log_working(eta, t, y, a, log_y, mu, w, wres):  # pragma: no cover - compiled
    """Fill ``mu, w, wres`` for the Poisson family with the log link; return the deviance.

    ``t = exp(η)`` comes from NumPy; ``μ = μ'(η) = max(t, ε)`` (R's ``make.link("log")``),
    so ``log μ = η`` unless clamped.  Unit deviance ``2a bd0(y, μ)`` with Loader's
    ``bd0(y, μ) = y (log y − log μ) − (y − μ)``, summed as its series
    ``(y−μ)v + 2y Σ_j v^{2j+1}/(2j+1)``, ``v = (y−μ)/(y+μ)``, where ``|y−μ| < 0.1(y+μ)``
    (no cancellation; the same rule as :func:`families._bd0`); ``bd0(0, μ) = μ``.
    """
    n = eta.shape[0]
    total = 0.0
    for i0 in range(0, n, _BLOCK):
        part = 0.0
        for i in range(i0, min(n, i0 + _BLOCK)):
            m = t[i]
            logm = eta[i]
            if m < _EPS:
                m = _EPS
                logm = math.log(_EPS)
            mu[i] = m
            w[i] = a[i] * m * m / m
            yi = y[i]
            wres[i] = (yi - m) / m
            if yi == 0.0:
                b = m
            else:
                d = yi - m
                if abs(d) < 0.1 * (yi + m):
                    v = d / (yi + m)
                    v2 = v * v
                    term = 2.0 * yi * v
                    b = d * v
                    for j in range(1, 9):
                        term = term * v2
                        b = b + term / (2 * j + 1)
                else:
                    b = yi * (log_y[i] - logm) - d
            part += 2.0 * a[i] * b
        total += part
    return total


class WorkingEvaluator:
    """``η ↦`` :class:`WorkingValues` for one response, prior weights and family.

    Parameters
    ----------
    family : Family
        Response distribution and link.
    y : numpy.ndarray
        Response on the family's scale (binomial: proportion of successes).
    prior_weights : numpy.ndarray
        ``a_i``.

    Notes
    -----
    ``compiled`` tells whether a compiled kernel is used (binomial/logit,
    Poisson/log); otherwise the family's own NumPy methods are called.
    """

    def __init__(self, family: Any, y: np.ndarray, prior_weights: np.ndarray) -> None:
        self.family = family
        self.y = np.ascontiguousarray(y, dtype=np.float64)
        self.a = np.ascontiguousarray(prior_weights, dtype=np.float64)
        link = family.link.name
        self.kind = None
        if family.name == "binomial" and link == "logit":
            self.kind = "binomial_logit"
            omy = 1.0 - self.y
            with np.errstate(divide="ignore", invalid="ignore"):
                self._c = special.xlogy(self.y, self.y) + special.xlogy(omy, omy)
        elif family.name == "poisson" and link == "log":
            self.kind = "poisson_log"
            with np.errstate(divide="ignore"):
                self._c = np.where(self.y > 0.0, np.log(np.where(self.y > 0.0, self.y, 1.0)), 0.0)

    @property
    def compiled(self) -> bool:
        """Whether a compiled kernel serves this family and link."""
        return self.kind is not None

    def __call__(self, eta: np.ndarray) -> WorkingValues:
        """Working quantities at the linear predictor ``eta`` (offset included)."""
        eta = np.ascontiguousarray(eta, dtype=np.float64)
        n = eta.shape[0]
        if self.kind is not None:
            mu, w, wres = np.empty(n), np.empty(n), np.empty(n)
            if self.kind == "binomial_logit":  # exp of a clipped η cannot overflow
                t = np.exp(np.minimum(np.maximum(eta, -_LOGIT_THRESH), _LOGIT_THRESH))
                dev = binomial_logit_working(eta, t, np.log1p(t), self.y, self.a, self._c, mu, w, wres)
            else:
                with np.errstate(over="ignore"):
                    t = np.exp(eta)
                dev = poisson_log_working(eta, t, self.y, self.a, self._c, mu, w, wres)
            return WorkingValues(mu=mu, weights=w, wres=wres, dev=float(dev))
        fam = self.family
        mu = fam.link.linkinv(eta)
        mu_eta = fam.link.mu_eta(eta)
        dev = float(np.sum(fam.dev_resids(self.y, mu, self.a)))
        w = self.a * mu_eta * mu_eta / fam.variance(mu)
        return WorkingValues(mu=mu, weights=w, wres=(self.y - mu) / mu_eta, dev=dev)

    def newton(self, eta: np.ndarray, wv: WorkingValues) -> tuple[np.ndarray, np.ndarray] | None:
        """Observed-information weights and working residuals at ``η``, or None.

        Newton's method on the penalized deviance uses ``∂²d_i/∂η² = 2 w_obs,i``,

            w_obs = w − a (y − μ)(μ'' V − μ'² V') / V²,

        with the working residual ``r = a (y − μ) μ' / (V w_obs)`` (both reduce to the
        IRLS values for a canonical link, where observed and expected information
        agree).  Some ``w_obs`` may be negative (the log-likelihood is not concave in
        every ``η_i``); the penalized Hessian ``Λ'Z'W_obs ZΛ + I`` can still be positive
        definite, and the caller falls back to a Fisher-scoring step when its
        factorization fails.  Returns None for a canonical link, or when some
        ``w_obs`` is (numerically) zero.
        """
        fam = self.family
        if self.kind is not None or fam.canonical:
            return None
        mu = wv.mu
        mu_eta = fam.link.mu_eta(eta)
        V = fam.variance(mu)
        resid = self.a * (self.y - mu)
        w_obs = wv.weights - resid * (fam.link.mu_eta_deriv(eta) * V - mu_eta * mu_eta * fam.variance_deriv(mu)) / (V * V)
        if not np.all(np.isfinite(w_obs)) or not np.all(np.abs(w_obs) > 1e-12 * wv.weights):
            return None
        return w_obs, resid * mu_eta / (V * w_obs)

