"""IRLS working quantities (μ, working weights and residuals, deviance) from the linear predictor.

At every PIRLS step the rows enter only through

    μ_i = g⁻¹(η_i),   w_i = a_i μ'(η_i)² / V(μ_i),   r_i = (y_i − μ_i) / μ'(η_i),
    dev = Σ_i d_i(y_i, μ_i)

(``a_i`` prior weights, ``V`` the variance function, ``d_i`` the family's unit
deviance times ``a_i``; ``r_i`` is the working residual, so the working response is
``η_i − o_i + r_i``).  For the two canonical pairs that dominate practice —
binomial/logit and Poisson/log — they come from the family's compiled likelihood
kernels (:mod:`mixedlm.engines.loglik`, with R's clamping of the inverse link), in one
pass after NumPy's vectorized ``exp``; every other family and link uses the family's
NumPy methods.  Newton steps with the observed information (non-canonical links) take
``ℓ'`` and ``ℓ''`` from :meth:`Family.loglik_eta <mixedlm.engines.families.Family.loglik_eta>`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mixedlm.engines import loglik


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
        #: ℓ(η) and its η-derivatives for this response (what depends on y alone computed once)
        self.loglik = loglik.FixedResponse(family, y, prior_weights)
        self.y, self.a, self.kind = self.loglik.y, self.loglik.a, self.loglik.kind
        self._c = self.loglik.aux
        self._unused = np.empty(0)

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
                t = np.exp(np.minimum(np.maximum(eta, -loglik.LOGIT_THRESH), loglik.LOGIT_THRESH))
                dev = loglik.binomial_logit_kernel(
                    eta, t, np.log1p(t), self.y, self.a, self._c, True, mu, wres, w, self._unused
                )
            else:
                with np.errstate(over="ignore"):
                    t = np.exp(eta)
                dev = loglik.poisson_log_kernel(eta, t, self.y, self.a, self._c, True, mu, wres, w, self._unused)
            return WorkingValues(mu=mu, weights=w, wres=wres, dev=float(dev))
        fam = self.family
        mu = fam.link.linkinv(eta)
        mu_eta = fam.link.mu_eta(eta)
        dev = float(np.sum(fam.dev_resids(self.y, mu, self.a)))
        w = self.a * mu_eta * mu_eta / fam.variance(mu)
        return WorkingValues(mu=mu, weights=w, wres=(self.y - mu) / mu_eta, dev=dev)

    def newton(self, eta: np.ndarray, wv: WorkingValues) -> tuple[np.ndarray, np.ndarray] | None:
        """Observed-information weights and working residuals at ``η``, or None.

        Newton's method on the penalized deviance uses the observed information
        ``w_obs = −ℓ''(η)`` and the working residual ``r = ℓ'(η) / w_obs`` (both equal the
        IRLS values for a canonical link, where observed and expected information
        agree), with ``ℓ`` the family's log-likelihood at unit dispersion
        (:meth:`Family.loglik_eta <mixedlm.engines.families.Family.loglik_eta>`).  Some
        ``w_obs`` may be negative (the log-likelihood is not concave in every ``η_i``);
        the penalized Hessian ``Λ'Z'W_obs ZΛ + I`` can still be positive definite, and
        the caller falls back to a Fisher-scoring step when its factorization fails.
        Returns None for a canonical link, or when some ``w_obs`` is (numerically) zero.
        """
        fam = self.family
        if self.kind is not None or fam.canonical:
            return None
        _, d1, d2 = self.loglik(eta, order=2)
        w_obs = -d2
        if not np.all(np.isfinite(w_obs)) or not np.all(np.abs(w_obs) > 1e-12 * wv.weights):
            return None
        return w_obs, d1 / w_obs
