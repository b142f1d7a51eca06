"""The log-likelihood of one observation as a function of η and its η-derivatives.

One implementation per family and link.

Every engine uses these: PIRLS (its IRLS working values and Newton steps), adaptive
quadrature (ℓ at the nodes), the Bayesian MAP and VB engines (ℓ, ℓ', ℓ'').  They are
reached through the family: :meth:`Family.loglik_eta <mixedlm.engines.families.Family.loglik_eta>`
and :meth:`Family.loglik_constant <mixedlm.engines.families.Family.loglik_constant>`.

Conventions.  ``y`` is the response on the family's scale (binomial: the proportion of
successes) and ``a`` the prior weights (binomial: the trials).  :func:`evaluate` returns
``(ℓ − c, ℓ', ℓ'')`` per observation at unit dispersion, where the η-free constant ``c``
is :func:`constant` (binomial ``log C(a, a y)``, Poisson ``−a log y!``; for the other
families ``ℓ − c = −d/2`` with ``d`` the unit deviance and ``c`` the saturated
log-likelihood).  At unit dispersion ``ℓ`` is the quasi-log-likelihood whose Newton steps
minimize the deviance, so the same derivatives serve families with a scale parameter.

Kernels (each careful in the tails; no clamping of μ):

* binomial–logit and Poisson–log: compiled (:func:`binomial_logit_kernel`,
  :func:`poisson_log_kernel`) from NumPy's vectorized ``exp``; with ``irls=True`` they
  fill PIRLS' IRLS working weights and residuals instead of ``ℓ'`` and ``ℓ''`` and apply
  R's clamps (``|η| > 30`` for the logit, ``μ ≥ ε`` for the log), so PIRLS reproduces R
  and lme4 exactly; the deviance they return uses the binomial form without logarithms of
  ``μ`` and Poisson's ``bd0`` series (no cancellation as ``y → μ``);
* binomial–probit (``log Φ`` on both tails), –cloglog (``log(1 − e^{−t})`` as
  ``log(−expm1(−t))``, a series for the derivatives near 0), –cauchit (``atan2``), –log
  (defined for ``η < 0``); Poisson–identity and –sqrt (defined for ``η > 0``);
* any other family/link: from ``μ(η)``, ``μ'``, ``μ''``, ``V(μ)`` and ``V'(μ)``:
  ``ℓ' = a (y − μ) μ'/V``, ``ℓ'' = a [(y − μ)(μ''V − μ'²V')/V² − μ'²/V]``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from numba import njit
from scipy import special

from mixedlm.engines.links import DOUBLE_EPS

#: ``|η|`` beyond which R treats the logistic as saturated (``THRESH`` in R's family.c).
LOGIT_THRESH = 30.0
#: Rows summed into one partial sum before it is added to the total (blocked summation
#: keeps the rounding error of the deviance close to NumPy's pairwise sum).
_BLOCK = 256
_EPS = DOUBLE_EPS
_EXP_MAX = 700.0
_LOG_2PI = math.log(2.0 * math.pi)

#: Links valid on part of the real line only: no Gaussian expectation of ℓ exists there.
HALF_LINE = {
    ("binomial", "log"): "μ = exp(η) is a probability only for η < 0",
    ("poisson", "identity"): "μ = η is a Poisson mean only for η > 0",
    ("poisson", "sqrt"): "the sqrt link requires η > 0 (R's valideta)",
}


# --------------------------------------------------------------------------------------
# compiled kernels: binomial-logit and Poisson-log
# --------------------------------------------------------------------------------------


@njit(cache=True, nogil=True)
def binomial_logit_kernel(eta, t, log1p_t, y, a, c_y, irls, mu, d1, d2, ll):  # pragma: no cover - compiled
    """Binomial–logit at ``η``; returns the deviance ``Σ d_i``.

    ``t = exp(η)`` and ``log1p(t)`` come from NumPy for ``|η| ≤ 30`` (``η`` clipped there).
    With ``μ = t/(1+t)``: ``ℓ − c = a (y η − log(1 + e^η))``, ``ℓ' = a (y − μ)``,
    ``ℓ'' = −a μ(1−μ)``, and the unit deviance ``2a (c_y + log(1+t) − y log t)`` with
    ``c_y = y log y + (1−y) log(1−y)`` — no logarithm of ``μ`` or ``1 − μ``, so no
    cancellation as ``μ → 0`` or ``1``.

    ``irls=False``: fills ``mu``, ``d1 = ℓ'``, ``d2 = ℓ''``, ``ll = ℓ − c``; rows beyond
    ``|η| > 30`` exactly (``e = e^{−|η|}``).  ``irls=True``: R's ``binomial()$linkinv`` /
    ``mu.eta`` clamps beyond 30 (``t ∈ {ε, 1/ε}``, ``μ' = ε``) and fills the IRLS weights
    ``d2 = a μ'²/V`` and working residuals ``d1 = (y − μ)/μ'`` (``ll`` untouched).
    """
    n = eta.shape[0]
    total = 0.0
    for i0 in range(0, n, _BLOCK):
        part = 0.0
        for i in range(i0, min(n, i0 + _BLOCK)):
            e = eta[i]
            if e < -LOGIT_THRESH or e > LOGIT_THRESH:
                if irls:
                    ti = _EPS if e < 0.0 else 1.0 / _EPS
                    logt = math.log(ti)
                    l1p = math.log1p(ti)
                    me = _EPS
                    m = ti / (1.0 + ti)
                else:
                    ex = math.exp(-abs(e))
                    logt = e
                    l1p = max(e, 0.0) + math.log1p(ex)
                    r = 1.0 / (1.0 + ex)
                    m = r if e >= 0.0 else ex * r
                    me = ex * r * r
            else:
                ti = t[i]
                logt = e
                l1p = log1p_t[i]
                m = ti / (1.0 + ti)
                me = ti / ((1.0 + ti) * (1.0 + ti))
            mu[i] = m
            if irls:
                d2[i] = a[i] * me * me / (m * (1.0 - m))
                d1[i] = (y[i] - m) / me
            else:
                d1[i] = a[i] * (y[i] - m)
                d2[i] = -a[i] * me
                ll[i] = a[i] * (y[i] * logt - l1p)
            part += 2.0 * a[i] * (c_y[i] + l1p - y[i] * logt)
        total += part
    return total


@njit(cache=True, nogil=True)
def poisson_log_kernel(eta, t, y, a, log_y, irls, mu, d1, d2, ll):  # pragma: no cover - compiled
    """Poisson–log at ``η``; returns the deviance ``Σ d_i``.

    ``t = exp(η)`` comes from NumPy.  ``ℓ − c = a (y η − μ)``, ``ℓ' = a (y − μ)``,
    ``ℓ'' = −a μ``; unit deviance ``2a bd0(y, μ)`` with Loader's
    ``bd0(y, μ) = y (log y − log μ) − (y − μ)``, summed as its series
    ``(y−μ)v + 2y Σ_j v^{2j+1}/(2j+1)``, ``v = (y−μ)/(y+μ)``, where ``|y−μ| < 0.1(y+μ)``
    (no cancellation; the rule of :func:`mixedlm.engines.families._bd0`); ``bd0(0, μ) = μ``.

    ``irls=False``: fills ``mu``, ``d1``, ``d2``, ``ll``.  ``irls=True``: R's clamp
    ``μ = max(t, ε)`` (``make.link("log")``) and the IRLS weights ``d2 = a μ`` and
    working residuals ``d1 = (y − μ)/μ``.
    """
    n = eta.shape[0]
    total = 0.0
    for i0 in range(0, n, _BLOCK):
        part = 0.0
        for i in range(i0, min(n, i0 + _BLOCK)):
            m = t[i]
            logm = eta[i]
            if irls and m < _EPS:
                m = _EPS
                logm = math.log(_EPS)
            mu[i] = m
            yi = y[i]
            if irls:
                d2[i] = a[i] * m
                d1[i] = (yi - m) / m
            else:
                d1[i] = a[i] * (yi - m)
                d2[i] = -a[i] * m
                ll[i] = a[i] * (yi * logm - m)
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


def binomial_c_y(y: np.ndarray) -> np.ndarray:
    """``c_y = y log y + (1−y) log(1−y)`` (0 for a 0/1 response): the saturated half-deviance term."""
    omy = 1.0 - y
    with np.errstate(divide="ignore", invalid="ignore"):
        return special.xlogy(y, y) + special.xlogy(omy, omy)


def poisson_log_y(y: np.ndarray) -> np.ndarray:
    """``log y`` where ``y > 0`` (0 elsewhere): the Poisson kernel's input."""
    with np.errstate(divide="ignore"):
        return np.where(y > 0.0, np.log(np.where(y > 0.0, y, 1.0)), 0.0)


def response_aux(kind: str, y: np.ndarray) -> np.ndarray:
    """The compiled kernel's response-only input: ``c_y`` (binomial-logit) or ``log y`` (Poisson-log)."""
    return binomial_c_y(y) if kind == "binomial_logit" else poisson_log_y(y)


def _compiled(
    kind: str,
    eta: np.ndarray,
    y: np.ndarray,
    a: np.ndarray,
    order: int,
    aux: np.ndarray | None = None,
) -> tuple:
    """``(ℓ − c, ℓ', ℓ'')`` from a compiled kernel for 1-D ``η``, or 2-D ``η`` with ``y``, ``a``
    and ``aux`` (:func:`response_aux`) already repeated to its size when ``aux`` is given."""
    shape = eta.shape
    e = np.ascontiguousarray(eta, dtype=np.float64).ravel()
    if eta.ndim == 2 and aux is None:  # one row per observation
        y = np.repeat(y, shape[1])
        a = np.repeat(a, shape[1])
    if aux is None:
        aux = response_aux(kind, y)
    m = e.shape[0]
    mu, d1, d2, ll = np.empty(m), np.empty(m), np.empty(m), np.empty(m)
    if kind == "binomial_logit":
        t = np.exp(np.clip(e, -LOGIT_THRESH, LOGIT_THRESH))
        binomial_logit_kernel(e, t, np.log1p(t), y, a, aux, False, mu, d1, d2, ll)
    else:
        with np.errstate(over="ignore"):
            t = np.exp(np.minimum(e, _EXP_MAX))
        poisson_log_kernel(e, t, y, a, aux, False, mu, d1, d2, ll)
    out = (ll.reshape(shape), d1.reshape(shape) if order > 0 else None, d2.reshape(shape) if order > 1 else None)
    return out


# --------------------------------------------------------------------------------------
# NumPy kernels: the other binomial and Poisson links (s successes, f failures)
# --------------------------------------------------------------------------------------


def _probit(eta: np.ndarray, s: np.ndarray, f: np.ndarray, order: int) -> tuple:
    """Binomial–probit: ``ℓ = s log Φ(η) + f log Φ(−η)``.

    ``d/dη log Φ(η) = r(η) = φ(η)/Φ(η)`` and ``d²/dη² log Φ(η) = −r(η)(η + r(η))``.
    """
    la = special.log_ndtr(eta)
    lb = special.log_ndtr(-eta)
    l = s * la + f * lb
    if order == 0:
        return l, None, None
    lphi = -0.5 * eta * eta - 0.5 * _LOG_2PI
    ra = np.exp(lphi - la)
    rb = np.exp(lphi - lb)
    d1 = s * ra - f * rb
    d2 = (-s * ra * (eta + ra) - f * rb * (rb - eta)) if order > 1 else None
    return l, d1, d2


def _cloglog_g(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``g(t) = t / (e^t − 1)`` and ``g'(t)``, stable for all ``t ≥ 0``.

    Series for ``t < 0.1`` (Bernoulli numbers); otherwise with ``e = e^{−t}``:
    ``g = t e / (1 − e)``, ``g' = e (1 − e − t) / (1 − e)²``.
    """
    g = np.empty_like(t)
    gp = np.empty_like(t)
    small = t < 0.1
    ts = t[small]
    t2 = ts * ts
    g[small] = 1.0 - ts / 2.0 + t2 / 12.0 - t2 * t2 / 720.0 + t2 * t2 * t2 / 30240.0
    gp[small] = -0.5 + ts / 6.0 - ts * t2 / 180.0 + ts * t2 * t2 / 5040.0 - ts * t2 * t2 * t2 / 151200.0
    tb = t[~small]
    e = np.exp(-tb)
    ome = -np.expm1(-tb)
    g[~small] = tb * e / ome
    gp[~small] = e * (ome - tb) / (ome * ome)
    return g, gp


def _cloglog(eta: np.ndarray, s: np.ndarray, f: np.ndarray, order: int) -> tuple:
    """Binomial–cloglog: ``μ = 1 − exp(−t)``, ``t = e^η``.

    ``log(1−μ) = −t`` (derivatives ``−t``); ``log μ = log(1 − e^{−t})`` with first derivative
    ``g(t) = t/(e^t − 1)`` and second ``t g'(t)``.
    """
    eta = np.minimum(eta, _EXP_MAX)
    t = np.exp(eta)
    with np.errstate(divide="ignore"):
        la = np.where(eta < -30.0, eta - 0.5 * t, np.log(-np.expm1(-t)))
    l = s * la - f * t
    if order == 0:
        return l, None, None
    shape = t.shape
    g, gp = _cloglog_g(t.ravel())
    g = g.reshape(shape)
    d1 = s * g - f * t
    d2 = (s * t * gp.reshape(shape) - f * t) if order > 1 else None
    return l, d1, d2


def _cauchit(eta: np.ndarray, s: np.ndarray, f: np.ndarray, order: int) -> tuple:
    """Binomial–cauchit: ``F(η) = ½ + atan(η)/π = atan2(1, −η)/π`` (no cancellation)."""
    Fa = np.arctan2(1.0, -eta) / math.pi
    Fb = np.arctan2(1.0, eta) / math.pi
    l = s * np.log(Fa) + f * np.log(Fb)
    if order == 0:
        return l, None, None
    one = 1.0 + eta * eta
    dens = 1.0 / (math.pi * one)
    ra = dens / Fa
    rb = dens / Fb
    d1 = s * ra - f * rb
    d2 = None
    if order > 1:
        dd = -2.0 * eta * dens / one
        d2 = s * (dd / Fa - ra * ra) + f * (-dd / Fb - rb * rb)
    return l, d1, d2


def _binom_log(eta: np.ndarray, s: np.ndarray, f: np.ndarray, order: int) -> tuple:
    """Binomial–log: ``μ = e^η`` valid for ``η < 0``; ``ℓ = sη + f log(1 − e^η)``."""
    bad = (eta >= 0.0) & (f > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        lb = np.log(-np.expm1(np.minimum(eta, -1e-300)))
        l = s * eta + np.where(f > 0, f * lb, 0.0)
        l = np.where(bad, -np.inf, l)
        if order == 0:
            return l, None, None
        mu = np.exp(np.minimum(eta, 0.0))
        omm = -np.expm1(np.minimum(eta, -1e-300))
        d1 = np.where(bad, np.nan, s - f * mu / omm)
        d2 = np.where(bad, np.nan, -f * mu / (omm * omm)) if order > 1 else None
    return l, d1, d2


def _pois_identity(eta: np.ndarray, y: np.ndarray, w: np.ndarray, order: int) -> tuple:
    """Poisson–identity: ``μ = η > 0``; ``ℓ = w(y log η − η)`` (``η = 0`` allowed only where ``y = 0``)."""
    bad = (eta < 0.0) | ((eta == 0.0) & (y > 0))
    with np.errstate(divide="ignore", invalid="ignore"):
        pos = np.where(eta > 0.0, eta, 1.0)
        l = np.where(bad, -np.inf, w * (np.where(y > 0, y * np.log(pos), 0.0) - eta))
        if order == 0:
            return l, None, None
        d1 = np.where(bad, np.nan, w * (y / pos - 1.0))
        d2 = np.where(bad, np.nan, -w * y / (pos * pos)) if order > 1 else None
    return l, d1, d2


def _pois_sqrt(eta: np.ndarray, y: np.ndarray, w: np.ndarray, order: int) -> tuple:
    """Poisson–sqrt: ``μ = η²`` with ``η > 0`` (R's ``valideta``); ``ℓ = w(2y log η − η²)``."""
    bad = eta <= 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        pos = np.where(bad, 1.0, eta)
        l = np.where(bad, -np.inf, w * (np.where(y > 0, 2.0 * y * np.log(pos), 0.0) - eta * eta))
        if order == 0:
            return l, None, None
        d1 = np.where(bad, np.nan, w * (2.0 * y / pos - 2.0 * eta))
        d2 = np.where(bad, np.nan, w * (-2.0 * y / (pos * pos) - 2.0)) if order > 1 else None
    return l, d1, d2


_BINOMIAL: dict[str, Callable] = {"probit": _probit, "cloglog": _cloglog, "cauchit": _cauchit, "log": _binom_log}
_POISSON: dict[str, Callable] = {"identity": _pois_identity, "sqrt": _pois_sqrt}


def _broadcast(eta: np.ndarray, *cols: np.ndarray) -> list[np.ndarray]:
    """Per-observation columns against a 2-D ``η`` with one row per observation."""
    return [c[:, None] if eta.ndim == 2 else c for c in cols]


def _generic(family: Any, eta: np.ndarray, y: np.ndarray, a: np.ndarray, order: int) -> tuple:
    """``ℓ − c = −d/2`` and its derivatives from the link and variance functions (any family)."""
    y, a = _broadcast(eta, y, a)
    link = family.link
    mu = link.linkinv(eta)
    l = -0.5 * family.dev_resids(y, mu, a)
    if order == 0:
        return l, None, None
    me = link.mu_eta(eta)
    V = family.variance(mu)
    r = a * (y - mu)
    d1 = r * me / V
    d2 = None
    if order > 1:
        d2 = r * (link.mu_eta_deriv(eta) * V - me * me * family.variance_deriv(mu)) / (V * V) - a * me * me / V
    return l, d1, d2


# --------------------------------------------------------------------------------------
# the entry points (used through Family.loglik_eta / Family.loglik_constant)
# --------------------------------------------------------------------------------------


def kind(family: Any) -> str | None:
    """``"binomial_logit"`` / ``"poisson_log"`` for the compiled pairs, else None."""
    link = family.link.name
    if type(family.link).__name__ == "FunctionLink":
        return None
    if family.name == "binomial" and link == "logit":
        return "binomial_logit"
    if family.name == "poisson" and link == "log":
        return "poisson_log"
    return None


def evaluate(family: Any, eta: Any, y: Any, a: Any, order: int = 2) -> tuple:
    """``(ℓ − c, ℓ', ℓ'')`` per observation at ``η`` (1-D, or 2-D with one row per observation).

    Orders not asked for are None.  See the module docstring for the conventions.
    """
    eta = np.asarray(eta, dtype=np.float64)
    if eta.ndim not in (1, 2):
        raise ValueError("eta must be 1-D, or 2-D with one row per observation")
    y = np.asarray(y, dtype=np.float64)
    a = np.ones_like(y) if a is None else np.asarray(a, dtype=np.float64)
    k = kind(family)
    if k is not None:
        return _compiled(k, eta, y, a, order)
    custom = type(family.link).__name__ == "FunctionLink"
    if family.name == "binomial" and not custom and family.link.name in _BINOMIAL:
        s = a * y
        s, f = _broadcast(eta, s, a - s)
        return _BINOMIAL[family.link.name](eta, s, f, order)
    if family.name == "poisson" and not custom and family.link.name in _POISSON:
        yy, aa = _broadcast(eta, y, a)
        return _POISSON[family.link.name](eta, yy, aa, order)
    return _generic(family, eta, y, a, order)


class FixedResponse:
    """:func:`evaluate` for one family and one response: what depends only on ``(y, a)`` is
    computed once (the compiled kernels' ``c_y`` / ``log y``, and their copies repeated for a
    2-D ``η`` of each width), so repeated evaluations — every Newton step of the Bayesian
    engines, every quadrature pass — cost the kernel only.  Same numbers as :func:`evaluate`.
    """

    def __init__(self, family: Any, y: Any, a: Any) -> None:
        self.family = family
        self.y = np.ascontiguousarray(y, dtype=np.float64)
        self.a = np.ones_like(self.y) if a is None else np.ascontiguousarray(a, dtype=np.float64)
        #: ``"binomial_logit"`` / ``"poisson_log"`` for the compiled kernels, else None
        self.kind = kind(family)
        #: the compiled kernel's response-only input (:func:`response_aux`), None without one
        self.aux = None if self.kind is None else response_aux(self.kind, self.y)
        self._wide: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def __call__(self, eta: Any, order: int = 2) -> tuple:
        """``(ℓ − c, ℓ', ℓ'')`` at ``η`` (``(n,)`` or ``(n, r)``); orders above ``order`` are None."""
        if self.kind is None:
            return evaluate(self.family, eta, self.y, self.a, order)
        eta = np.asarray(eta, dtype=np.float64)
        if eta.ndim == 1:
            return _compiled(self.kind, eta, self.y, self.a, order, self.aux)
        if eta.ndim != 2:
            raise ValueError("eta must be 1-D, or 2-D with one row per observation")
        r = eta.shape[1]
        wide = self._wide.get(r)
        if wide is None:
            wide = (np.repeat(self.y, r), np.repeat(self.a, r), np.repeat(self.aux, r))
            if len(self._wide) < 4:
                self._wide[r] = wide
        return _compiled(self.kind, eta, wide[0], wide[1], order, wide[2])


def constant(family: Any, y: Any, a: Any) -> np.ndarray:
    """The η-free part ``c`` of ``ℓ = (ℓ − c) + c`` per observation (unit dispersion).

    Binomial ``log C(a, a y)`` (``a`` not rounded: the Bayesian engine's convention),
    Poisson ``−a log y!``; the saturated log-likelihood for other families (their
    :func:`evaluate` value is ``−d/2``).  For the binomial and Poisson pairs that
    :func:`evaluate` handles through ``−d/2`` (a custom link), also the saturated value.
    """
    y = np.asarray(y, dtype=np.float64)
    a = np.ones_like(y) if a is None else np.asarray(a, dtype=np.float64)
    custom = type(family.link).__name__ == "FunctionLink"
    if family.name == "binomial" and not custom:
        s = a * y
        return special.gammaln(a + 1.0) - special.gammaln(s + 1.0) - special.gammaln(a - s + 1.0)
    if family.name == "poisson" and not custom and (family.link.name == "log" or family.link.name in _POISSON):
        return -a * special.gammaln(y + 1.0)
    return np.asarray(family.saturated_loglik(y, a), dtype=np.float64)
