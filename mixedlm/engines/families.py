"""Response distributions (families) of generalized linear mixed models.

A family describes the conditional distribution of ``y_i`` given the linear predictor
``η_i = x_iᵀβ + z_iᵀb + o_i`` through a :class:`~mixedlm.engines.links.Link`
``μ_i = g⁻¹(η_i)``, a variance function ``Var(y_i) = φ V(μ_i) / w_i`` (``φ`` the scale,
``w_i`` the prior weight), the unit deviance and the log-likelihood.  The numbers follow
R's ``stats`` families (and ``MASS::negative.binomial``), which lme4 uses:

==================  ==============  ===============  ======================================
family              ``V(μ)``         scale ``φ``      deviance residual ``d_i``
==================  ==============  ===============  ======================================
binomial            ``μ(1−μ)``      1                ``2w[y log(y/μ) + (1−y) log((1−y)/(1−μ))]``
poisson             ``μ``           1                ``2w[y log(y/μ) − (y−μ)]``
Negative Binomial   ``μ + μ²/θ``    1                ``2w[y log(y/μ) − (y+θ) log((y+θ)/(μ+θ))]``
Gamma               ``μ²``          estimated        ``−2w[log(y/μ) − (y−μ)/μ]``
inverse.gaussian    ``μ³``          estimated        ``w (y−μ)² / (y μ²)``
gaussian            ``1``           estimated        ``w (y−μ)²``
quasi               chosen          estimated        as R's ``quasi()``
==================  ==============  ===============  ======================================

(``0 log 0 = 0``.)  The binomial response is the proportion of successes ``y = s/n``
with the number of trials ``n`` as prior weight (R's convention).

Log-likelihood conventions
--------------------------
:meth:`Family.loglik` returns per-observation log-likelihoods *with* all normalising
constants, chosen so that ``−2 Σ loglik`` reproduces R's ``family$aic(y, n, mu, wt, dev)``
(minus the ``+2`` R adds for the estimated dispersion of the Gamma, inverse Gaussian and
Gaussian families, with R's dispersion estimate as ``scale``):

* binomial: ``log C(n, s) + s log μ + (n−s) log(1−μ)``, ``n = round(w)``, ``s = round(w y)``;
* poisson: ``w · log dpois(y; μ)``;
* negative binomial: ``w · log dnbinom(y; size = θ, mean = μ)``;
* Gamma: ``w · log dgamma(y; shape = 1/φ, scale = μφ)`` — R multiplies the log-density by the
  weight rather than dividing the dispersion by it;
* inverse Gaussian: ``w · [−½ log(2πφy³) − (y−μ)²/(2φμ²y)]`` (same weight convention);
* gaussian: ``log dnorm(y; μ, sd = √(φ/w))`` — the weight is a precision weight here, as in
  R's ``gaussian()$aic``.

Rows with weight 0 contribute 0.  :meth:`Family.aic` computes R's ``family$aic`` value; lme4's
glmer objective uses exactly that quantity (``glmResp$aic()``, with ``φ = dev/Σw`` re-estimated
from the conditional deviance), so for families with a scale lme4's Laplace deviance is
``aic + log|L|² + ‖u‖²`` rather than ``−2 Σ loglik`` at a fixed φ.
For binomial, Poisson and negative binomial, ``dev_resids == −2 (loglik − saturated_loglik)``;
for Gamma, inverse Gaussian and Gaussian the same holds after multiplying by ``φ``.

The module uses NumPy/SciPy only (no pandas) and never loops over observations in Python.
Probabilities are evaluated in the saddle-point form of Loader (2000) that R uses,
``log dpois(x; λ) = −stirlerr(x) − bd0(x, λ) − ½ log(2πx)``, which keeps full relative
accuracy for large counts and for ``y ≈ μ``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from decimal import Context, Decimal
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import special
from scipy.special import xlogy

from mixedlm.engines import loglik as loglik_kernels
from mixedlm.engines.links import Link, make_link
from mixedlm.errors import DataError, MixedLMError, warn_at_caller

__all__ = [
    "Family",
    "Binomial",
    "Poisson",
    "NegativeBinomial",
    "Gamma",
    "InverseGaussian",
    "Gaussian",
    "QuasiFamily",
    "CustomFamily",
    "r_format_number",
    "QUASI_VARIANCES",
]

_LOG_2PI = math.log(2.0 * math.pi)


# ---------------------------------------------------------------------------------------
# Numerical building blocks
# ---------------------------------------------------------------------------------------


def _f64(x: ArrayLike) -> np.ndarray:
    """``x`` as a float64 array (no copy if it already is one)."""
    return np.asarray(x, dtype=np.float64)


def _weights(wt: ArrayLike | None, like: np.ndarray) -> np.ndarray:
    """Prior weights broadcast to the shape of ``like`` (ones when ``wt`` is None)."""
    if wt is None:
        return np.ones_like(like)
    return np.broadcast_to(_f64(wt), like.shape)


def _bd0(x: ArrayLike, m: ArrayLike) -> np.ndarray:
    """Loader's deviance term ``bd0(x, m) = x log(x/m) + m − x ≥ 0`` (``0 log 0 = 0``).

    For ``|x − m| < 0.1 (x + m)`` it is summed as the series
    ``(x − m) v + 2x Σ_{j≥1} v^{2j+1}/(2j+1)``, ``v = (x − m)/(x + m)``, which follows from
    ``log(x/m) = log((1+v)/(1−v)) = 2 Σ_{j≥0} v^{2j+1}/(2j+1)``.  Relative to the leading
    term the j-th term is at most ``2|v|^{2j−1}/(2j+1)``; with ``|v| < 0.1`` the terms
    after ``j = 8`` are below 10⁻¹⁸.  This avoids the cancellation of the direct formula
    when ``x ≈ m``; the series is evaluated only on those entries.
    """
    x, m = np.broadcast_arrays(_f64(x), _f64(m))
    shape = x.shape
    x = x.ravel()
    m = m.ravel()
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        d = x - m
        out = x * np.log(x / m) - d
        z = np.flatnonzero(x == 0.0)
        if z.size:  # 0 log 0 = 0 (also for m = 0): bd0(0, m) = m
            out[z] = m[z]
        idx = np.flatnonzero(np.abs(d) < 0.1 * (x + m))
        if idx.size:
            xs, ds = x[idx], d[idx]
            v = ds / (xs + m[idx])
            v2 = v * v
            term = 2.0 * xs * v
            acc = ds * v
            for j in range(1, 9):
                term = term * v2
                acc = acc + term / (2 * j + 1)
            out[idx] = acc
    return out.reshape(shape)


#: Coefficients of Stirling's series for log Γ(n+1) − [(n+½) log n − n + ½ log 2π]:
#: 1/12, −1/360, 1/1260, −1/1680, 1/1188 (B_{2k} / (2k(2k−1))).
_STIRLING = (1.0 / 12.0, -1.0 / 360.0, 1.0 / 1260.0, -1.0 / 1680.0, 1.0 / 1188.0)


def _stirlerr_exact_table(nmax: int = 15) -> np.ndarray:
    """``stirlerr(0..nmax)`` at the integers, from 40-digit decimal arithmetic.

    ``stirlerr(0) = 0`` by convention (never used).  Direct double evaluation at small
    integers would carry an absolute error of ~10⁻¹⁵ from ``log n!``.
    """
    ctx = Context(prec=40)
    two_pi = ctx.multiply(Decimal(2), Decimal(_PI_40))
    half_log_2pi = ctx.multiply(Decimal("0.5"), ctx.ln(two_pi))
    out = [0.0]
    log_fact = Decimal(0)
    for n in range(1, nmax + 1):
        dn = Decimal(n)
        log_fact = ctx.add(log_fact, ctx.ln(dn))
        val = ctx.subtract(
            ctx.add(ctx.subtract(log_fact, ctx.multiply(dn + Decimal("0.5"), ctx.ln(dn))), dn), half_log_2pi
        )
        out.append(float(val))
    return np.array(out)


#: π to 40 significant digits.
_PI_40 = "3.141592653589793238462643383279502884197"

_STIRLERR_TABLE = _stirlerr_exact_table()


def _stirlerr(n: ArrayLike) -> np.ndarray:
    """Error of Stirling's formula, ``log Γ(n+1) − (n+½) log n + n − ½ log 2π`` (``n > 0``).

    For ``n > 15`` the asymptotic series ``Σ_k c_k / n^{2k−1}`` is used (next term below
    2·10⁻¹⁶ at n = 15), where direct evaluation would cancel; integers up to 15 come
    from a table computed in high precision, other ``n ≤ 15`` from ``gammaln`` directly.
    """
    n = _f64(n)
    shape = n.shape
    n = n.ravel()
    out = np.empty_like(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        ib = np.flatnonzero(n > 15.0)
        if ib.size:
            nb = n[ib]
            inv2 = 1.0 / (nb * nb)
            acc = np.zeros_like(nb)
            for c in reversed(_STIRLING):
                acc = c + acc * inv2
            out[ib] = acc / nb
        small = ~(n > 15.0)
        integer = small & (n == np.floor(n)) & (n >= 0.0)
        ii = np.flatnonzero(integer)
        if ii.size:
            out[ii] = _STIRLERR_TABLE[n[ii].astype(np.intp)]
        io = np.flatnonzero(small & ~integer)
        if io.size:
            ns = n[io]
            out[io] = special.gammaln(ns + 1.0) - (ns + 0.5) * np.log(ns) + ns - 0.5 * _LOG_2PI
    return out.reshape(shape)


def _log_dbinom_raw(k: ArrayLike, n: ArrayLike, p: ArrayLike, q: ArrayLike) -> np.ndarray:
    """``log[Γ(n+1)/(Γ(k+1)Γ(n−k+1)) pᵏ q^{n−k}]`` with ``q = 1 − p`` given separately.

    Works for non-integer ``k, n`` (needed by the negative binomial and Gamma
    densities).  Interior points use ``stirlerr(n) − stirlerr(k) − stirlerr(n−k)
    − bd0(k, np) − bd0(n−k, nq) + ½ log(n / (2π k (n−k)))``; the edges ``k = 0`` and
    ``k = n`` are ``n log q`` and ``n log p`` (via ``log1p`` of the smaller of ``p, q``);
    ``n = 0`` gives 0; ``k`` outside ``[0, n]`` gives −∞.  Each case is evaluated only on
    its own entries (Bernoulli data never reach the interior formula).
    """
    k, n, p, q = np.broadcast_arrays(_f64(k), _f64(n), _f64(p), _f64(q))
    shape = k.shape
    k, n, p, q = k.ravel(), n.ravel(), p.ravel(), q.ravel()
    out = np.full(k.shape, -np.inf)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        e0 = k == 0.0
        en = (k == n) & ~e0
        for mask, a, b in ((e0, p, q), (en, q, p)):  # n log b, with a = 1 − b
            if np.any(mask):
                nn, aa, bb = n[mask], a[mask], b[mask]
                val = nn * np.where(aa < 0.5, np.log1p(-aa), np.log(bb))
                out[mask] = np.where(nn == 0.0, 0.0, val)
        inner = np.flatnonzero((k > 0.0) & (k < n))
        if inner.size:
            ki, ni, pi, qi = k[inner], n[inner], p[inner], q[inner]
            nk = ni - ki
            val = (
                _stirlerr(ni)
                - _stirlerr(ki)
                - _stirlerr(nk)
                - _bd0(ki, ni * pi)
                - _bd0(nk, ni * qi)
                + 0.5 * (np.log(ni) - _LOG_2PI - np.log(ki) - np.log(nk))
            )
            out[inner] = np.where((pi <= 0.0) | (qi <= 0.0), -np.inf, val)
        nan = np.isnan(k) | np.isnan(n) | np.isnan(p) | np.isnan(q)
        if np.any(nan):
            out[nan] = np.nan
    return out.reshape(shape)


def _log_dpois(x: ArrayLike, lam: ArrayLike) -> np.ndarray:
    """``log(λˣ e^{−λ} / Γ(x+1)) = −stirlerr(x) − bd0(x, λ) − ½ log(2πx)``; ``−λ`` at ``x = 0``."""
    x, lam = np.broadcast_arrays(_f64(x), _f64(lam))
    shape = x.shape
    x, lam = x.ravel(), lam.ravel()
    out = -lam
    pos = np.flatnonzero(x != 0.0)
    if pos.size:
        xp = x[pos]
        with np.errstate(divide="ignore", invalid="ignore"):
            out[pos] = -_stirlerr(xp) - _bd0(xp, lam[pos]) - 0.5 * (_LOG_2PI + np.log(xp))
    return out.reshape(shape)


def _binomial_unit_deviance(y: ArrayLike, mu: ArrayLike) -> np.ndarray:
    """``y log(y/μ) + (1−y) log((1−y)/(1−μ))`` (half the binomial unit deviance).

    R's ``binomial_dev_resids`` formula — the one glm and lme4 use — evaluated with
    few array operations, since PIRLS calls it at every step (small data sets are
    overhead-bound).  Where that formula loses digits (μ within 1e-8 of 0 or 1 on
    the side away from y), the affected entries are recomputed without
    cancellation: ``−log1p(−μ)`` for ``y = 0`` and ``bd0(y, μ) + bd0(1−y, 1−μ)``
    otherwise.
    """
    y = _f64(y)
    mu = _f64(mu)
    if y.shape != mu.shape:
        y, mu = (np.array(a, dtype=np.float64) for a in np.broadcast_arrays(y, mu))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if ((y == 0.0) | (y == 1.0)).all():  # Bernoulli rows: one logarithm each
            val = -np.log(np.where(y == 1.0, mu, 1.0 - mu))
        else:
            omy, omm = 1.0 - y, 1.0 - mu
            val = xlogy(y, y / mu) + xlogy(omy, omy / omm)
        risky = (mu > 1.0 - 1e-8) | (mu < 1e-8)
        if risky.any():
            idx = np.flatnonzero(risky.ravel())
            yf, mf, vf = y.ravel(), mu.ravel(), val.reshape(-1)
            yr, mr = yf[idx], mf[idx]
            fixed = np.where(
                yr == 0.0, -np.log1p(-mr), np.where(yr == 1.0, -np.log(mr), _bd0(yr, mr) + _bd0(1.0 - yr, 1.0 - mr))
            )
            vf[idx] = fixed
            val = vf.reshape(y.shape)
    return val


def _draw_at_shape(
    mu: ArrayLike, wt: ArrayLike | None, scale: float, draw: Callable[[np.ndarray, np.ndarray], np.ndarray]
) -> np.ndarray:
    """One draw per observation with mean ``μ_i`` and shape ``λ_i = w_i/φ``; ``μ_i`` where ``w_i = 0``.

    The Gamma (shape ``w/φ``, scale ``μφ/w``) and inverse Gaussian (``IG(μ, λ = w/φ)``)
    simulators: a prior weight ``w`` multiplies the shape, i.e. divides the dispersion
    ``φ``.  Rows with ``w = 0`` carry no information; they are drawn at the placeholder
    shape 1 (so the generator advances as for every row) and then replaced by ``μ``.

    Parameters
    ----------
    mu : array_like
        Means ``μ``.
    wt : array_like or None
        Prior weights ``w`` (ones when None).
    scale : float
        Dispersion ``φ``.
    draw : callable
        ``(μ, λ) ↦`` draws, e.g. ``rng.wald``.

    Returns
    -------
    numpy.ndarray
        ``draw(μ, λ)`` where ``w > 0``, ``μ`` elsewhere.
    """
    mu = _f64(mu)
    w = np.array(_weights(wt, mu), dtype=np.float64)
    live = w > 0
    shape = np.where(live, w / float(scale), 1.0)
    return np.where(live, draw(mu, shape), mu)


def r_format_number(x: float, digits: int = 7) -> str:
    """Format one number as R's ``format(x)`` does with ``digits`` significant digits.

    R uses the fewest significant digits (at most ``digits``) that represent ``x`` to
    ``digits`` significant digits, and chooses fixed notation when its width does not
    exceed that of scientific notation (``scipen = 0``).  Used for MASS's family name
    ``Negative Binomial(<format(round(theta, 4))>)``.
    """
    x = float(x)
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Inf" if x > 0 else "-Inf"
    if x == 0.0:
        return "0"
    mant, exp = f"{x:.{digits - 1}e}".split("e")
    kp = int(exp)
    sig = mant.replace("-", "").replace(".", "").rstrip("0")
    nsig = max(1, len(sig))
    neg = 1 if x < 0 else 0
    left = kp + 1 if kp >= 0 else 1
    rgt = max(0, nsig - kp - 1)
    width_fixed = neg + left + (rgt + 1 if rgt > 0 else 0)
    width_sci = neg + (nsig + 1 if nsig > 1 else 1) + (5 if abs(kp) >= 100 else 4)
    if width_fixed <= width_sci:
        return f"{x:.{rgt}f}"
    return f"{x:.{nsig - 1}e}"


# ---------------------------------------------------------------------------------------
# Response validation helpers
# ---------------------------------------------------------------------------------------


def _row(i: int, row_labels: Sequence[Any] | None) -> str:
    """How to name row ``i`` in a message: its label if given, else its 0-based position."""
    if row_labels is not None:
        return f"row {row_labels[i]!r}"
    return f"row {i} (0-based position)"


def _fmt(v: float) -> str:
    """A value for an error message (10 significant digits: 3, not 3.0000000000000004)."""
    v = float(v)
    return f"{v:.10g}"


def _raise_first(bad: np.ndarray, y: np.ndarray, row_labels: Sequence[Any] | None, message: str) -> None:
    """Raise :class:`DataError` naming the first ``True`` entry of ``bad``.

    ``message`` is formatted with ``where`` (the row) and ``value`` (``y`` there), and
    the count of further offending rows is appended.
    """
    idx = np.flatnonzero(bad)
    if idx.size == 0:
        return
    i = int(idx[0])
    text = message.format(where=_row(i, row_labels), value=_fmt(y[i]))
    if idx.size > 1:
        text += f" ({idx.size - 1} more row{'s' if idx.size > 2 else ''} like this)"
    raise DataError(text)


def _nonint(x: np.ndarray, tol: float = 1e-7) -> np.ndarray:
    """R's ``R_nonint``: ``|x − round(x)| > tol · max(1, |x|)``."""
    return np.abs(x - np.round(x)) > tol * np.maximum(1.0, np.abs(x))


# ---------------------------------------------------------------------------------------
# Family base class
# ---------------------------------------------------------------------------------------


class Family:
    """Base class: a response distribution with a link.

    Attributes
    ----------
    name : str
        R's ``family$family`` (``"binomial"``, ``"poisson"``, ``"Gamma"``, ...), as printed
        by lme4's ``Family:`` line.
    link : Link
        The link; ``link.name`` is what lme4 prints in parentheses.
    has_scale : bool
        Whether the family has a free dispersion ``φ`` (``σ`` in lme4's output).
    canonical : bool
        Whether the link is the canonical link of the family (then ``V(μ) g'(μ)`` is
        constant and observed and expected information coincide).
    valid_links : tuple of str
        Link names accepted by name (R's ``okLinks``).
    """

    name: str = ""
    has_scale: bool = False
    valid_links: tuple[str, ...] = ()
    default_link: str = "identity"
    canonical_link: str | None = None

    def __init__(self, link: str | Link | None = None) -> None:
        self.link: Link = make_link(self.default_link if link is None else link, self.valid_links or None, self.name)

    # -- link shortcuts --------------------------------------------------------------------
    @property
    def canonical(self) -> bool:
        """Whether :attr:`link` is this family's canonical link."""
        return (
            self.canonical_link is not None
            and self.link.name == self.canonical_link
            and type(self.link).__name__ != "FunctionLink"
        )

    def linkfun(self, mu: ArrayLike) -> np.ndarray:
        """``η = g(μ)`` (the link's :meth:`~Link.linkfun`)."""
        return self.link.linkfun(mu)

    def linkinv(self, eta: ArrayLike) -> np.ndarray:
        """``μ = g⁻¹(η)`` (the link's :meth:`~Link.linkinv`)."""
        return self.link.linkinv(eta)

    def mu_eta(self, eta: ArrayLike) -> np.ndarray:
        """``dμ/dη`` (the link's :meth:`~Link.mu_eta`)."""
        return self.link.mu_eta(eta)

    def valideta(self, eta: ArrayLike) -> bool:
        """R's ``valideta``: ``η`` is in the domain of the inverse link."""
        return self.link.valideta(eta)

    def validmu(self, mu: ArrayLike) -> bool:
        """R's ``validmu``: ``μ`` is inside the family's mean space."""
        return True

    # -- distribution ------------------------------------------------------------------------
    def variance(self, mu: ArrayLike) -> np.ndarray:
        """The variance function ``V(μ)``, with ``Var(y) = φ V(μ) / w``."""
        raise NotImplementedError

    def loglik_eta(
        self, eta: ArrayLike, y: ArrayLike, wt: ArrayLike | None = None, order: int = 2
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """``(ℓ_i − c_i, ℓ_i', ℓ_i'')``: each observation's log-likelihood at unit dispersion as a
        function of the linear predictor ``η``, and its first two η-derivatives.

        The one implementation every engine uses (PIRLS' working values and Newton steps,
        adaptive quadrature, the Bayesian MAP and VB engines); careful in the tails, μ
        never clamped.  ``c_i`` is :meth:`loglik_constant`.  ``η`` may be 2-D with one row
        per observation (quadrature nodes in the columns).  Orders above ``order`` are
        None.  See :mod:`mixedlm.engines.loglik`.
        """
        return loglik_kernels.evaluate(self, eta, y, wt, order)

    def loglik_constant(self, y: ArrayLike, wt: ArrayLike | None = None) -> np.ndarray:
        """The η-free part ``c_i`` of each observation's log-likelihood (see :meth:`loglik_eta`)."""
        return loglik_kernels.constant(self, y, wt)

    def variance_deriv(self, mu: ArrayLike) -> np.ndarray:
        """``dV/dμ``, for Newton steps with the observed information.

        The base class differentiates :meth:`variance` numerically (central
        difference, step ``1e-6 (1 + |μ|)``); the built-in families override it.
        """
        mu = _f64(mu)
        h = 1e-6 * (1.0 + np.abs(mu))
        return (self.variance(mu + h) - self.variance(mu - h)) / (2.0 * h)

    def dev_resids(self, y: ArrayLike, mu: ArrayLike, wt: ArrayLike | None = None) -> np.ndarray:
        """Per-observation deviance contributions ``d_i`` (already squared, times ``w_i``).

        ``Σ d_i`` is the deviance, ``2 φ [ℓ(y; y) − ℓ(μ; y)]``, R's ``family$dev.resids``.
        """
        raise NotImplementedError

    def deviance(self, y: ArrayLike, mu: ArrayLike, wt: ArrayLike | None = None) -> float:
        """``Σ_i d_i`` (see :meth:`dev_resids`)."""
        return float(np.sum(self.dev_resids(y, mu, wt)))

    def loglik(self, y: ArrayLike, mu: ArrayLike, wt: ArrayLike | None = None, scale: float = 1.0) -> np.ndarray:
        """Per-observation log-likelihood ``ℓ_i`` including normalising constants.

        Parameters
        ----------
        y, mu : array_like
            Response (proportions for binomial) and mean.
        wt : array_like, optional
            Prior weights (number of trials for binomial); ones if omitted.
        scale : float
            Dispersion ``φ``; ignored by families without a scale.

        Notes
        -----
        ``−2 Σ ℓ_i`` equals R's ``family$aic(y, 1, mu, wt, dev)`` (without the ``+2`` for the
        dispersion) when ``scale`` is R's dispersion estimate; see the module docstring.
        """
        raise NotImplementedError

    def saturated_loglik(self, y: ArrayLike, wt: ArrayLike | None = None, scale: float = 1.0) -> np.ndarray:
        """:meth:`loglik` at ``μ = y``: the saturated model's per-observation log-likelihood.

        ``−2 Σ [ℓ_i(μ) − ℓ_i(y)] · φ = Σ d_i``; lme4 omits ``−2 Σ ℓ_i(y)`` from its nAGQ > 1
        deviance, so this converts between the two conventions.
        """
        y = _f64(y)
        return self.loglik(y, y, wt, scale)

    def aic(self, y: ArrayLike, mu: ArrayLike, wt: ArrayLike | None = None, dev: float | None = None) -> float:
        """R's ``family$aic(y, n, mu, wt, dev)``: ``−2 Σ ℓ_i`` (+2 when the scale is estimated).

        For families with a scale, ``φ`` is R's estimate: ``dev / Σ w`` (Gamma, inverse
        Gaussian) or ``dev / n`` (Gaussian), with ``dev = Σ d_i`` unless given.
        """
        y = _f64(y)
        mu = _f64(mu)
        w = _weights(wt, y)
        scale = 1.0
        if self.has_scale:
            d = self.deviance(y, mu, w) if dev is None else float(dev)
            scale = self._aic_scale(d, w)
        return -2.0 * float(np.sum(self.loglik(y, mu, w, scale))) + (2.0 if self.has_scale else 0.0)

    def _aic_scale(self, dev: float, wt: np.ndarray) -> float:
        """R's dispersion estimate inside ``family$aic`` (``dev / Σw`` by default)."""
        return dev / float(np.sum(wt))

    def mustart(self, y: ArrayLike, wt: ArrayLike | None = None) -> np.ndarray:
        """Starting means, R's ``family$initialize`` (``mustart``)."""
        return np.array(y, dtype=np.float64)

    def validate_response(
        self,
        y: ArrayLike,
        wt: ArrayLike | None = None,
        name: str = "response",
        *,
        row_labels: Sequence[Any] | None = None,
    ) -> None:
        """Check that the response lies in the family's support.

        Parameters
        ----------
        y : array_like
            Response (for binomial the proportion of successes).
        wt : array_like, optional
            Prior weights (binomial: number of trials).
        name : str
            Name of the response used in messages (e.g. the formula's left-hand side).
        row_labels : sequence, optional
            Labels of the rows (e.g. a DataFrame index) to name the offending row; by
            default its 0-based position is given.

        Raises
        ------
        DataError
            Non-finite values, negative or non-finite weights, or values outside the
            support, naming the first offending row and its value.
        """
        y, w = self._check_common(y, wt, name, row_labels)
        self._check_support(y, w, name, row_labels)

    def _check_common(
        self, y: ArrayLike, wt: ArrayLike | None, name: str, row_labels: Sequence[Any] | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Shape, finiteness and weight checks shared by all families."""
        try:
            y = _f64(y)
        except (TypeError, ValueError) as exc:
            raise DataError(f"{self.name} {name} must be numeric: {exc}") from None
        if y.ndim != 1:
            y = y.reshape(-1)
        if wt is None:
            w = np.ones_like(y)
        else:
            try:
                w = _f64(wt).reshape(-1)
            except (TypeError, ValueError) as exc:
                raise DataError(f"weights must be numeric: {exc}") from None
            if w.shape != y.shape:
                raise DataError(f"weights have length {w.size} but {name} has length {y.size}")
        _raise_first(~np.isfinite(y), y, row_labels, f"{self.name} {name} must be finite; {{where}} has {{value}}")
        _raise_first(~np.isfinite(w), w, row_labels, "weights must be finite; {where} has {value}")
        _raise_first(w < 0, w, row_labels, "weights must be non-negative; {where} has {value}")
        return y, w

    def _check_support(self, y: np.ndarray, w: np.ndarray, name: str, row_labels: Sequence[Any] | None) -> None:
        """Family-specific support checks (none by default)."""

    def simulate(self, mu: ArrayLike, wt: ArrayLike | None, rng: np.random.Generator, scale: float = 1.0) -> np.ndarray:
        """Draw one response per observation from the family at means ``mu``."""
        raise MixedLMError(f"simulation is not available for the {self.name} family")

    # -- object protocol ---------------------------------------------------------------------
    def _repr_args(self) -> str:
        return f"link={self.link.name!r}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._repr_args()})"

    def __str__(self) -> str:
        return f"family: {self.name}, link: {self.link.name}"

    def _key(self) -> tuple:
        return (type(self), self.link)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Family) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())


# ---------------------------------------------------------------------------------------
# Concrete families
# ---------------------------------------------------------------------------------------


class Binomial(Family):
    """Binomial: ``n y ~ Bin(n, μ)`` with ``y`` the proportion of successes, ``n = w`` trials.

    ``V(μ) = μ(1−μ)``, no scale; links ``logit`` (canonical), ``probit``, ``cloglog``,
    ``cauchit``, ``log``.  ``d_i = 2w[y log(y/μ) + (1−y) log((1−y)/(1−μ))]``;
    ``ℓ_i = log dbinom(round(w y), round(w), μ)``; ``mustart = (w y + ½)/(w + 1)``.
    """

    name = "binomial"
    valid_links = ("logit", "probit", "cloglog", "cauchit", "log")
    default_link = "logit"
    canonical_link = "logit"

    def __init__(self, link: str | Link = "logit") -> None:
        super().__init__(link)

    def validmu(self, mu: ArrayLike) -> bool:
        """All ``μ`` finite and in ``(0, 1)``."""
        mu = _f64(mu)
        return bool(np.all(np.isfinite(mu)) and np.all((mu > 0) & (mu < 1)))

    def variance(self, mu: ArrayLike) -> np.ndarray:
        """``μ(1 − μ)``."""
        mu = _f64(mu)
        return mu * (1.0 - mu)

    def variance_deriv(self, mu: ArrayLike) -> np.ndarray:
        """``1 − 2μ``."""
        return 1.0 - 2.0 * _f64(mu)

    def dev_resids(self, y: ArrayLike, mu: ArrayLike, wt: ArrayLike | None = None) -> np.ndarray:
        """``2w[bd0(y, μ) + bd0(1−y, 1−μ)]``, i.e. ``2w[y log(y/μ) + (1−y) log((1−y)/(1−μ))]``.

        The two forms are equal because the linear parts of ``bd0`` cancel; the ``bd0``
        form is exact at ``y = μ`` and finite at ``y ∈ {0, 1}`` (``−2w log μ`` at ``y = 1``,
        ``−2w log1p(−μ)`` at ``y = 0``).
        """
        y, mu = np.broadcast_arrays(_f64(y), _f64(mu))
        w = _weights(wt, y)
        return 2.0 * w * _binomial_unit_deviance(y, mu)

    def loglik(self, y: ArrayLike, mu: ArrayLike, wt: ArrayLike | None = None, scale: float = 1.0) -> np.ndarray:
        """``log dbinom(s, n, μ)``, ``n = round(w)``, ``s = round(w y)``; 0 for rows with ``w = 0``.

        Evaluated as ``log dbinom(s, n, s/n) − n[bd0(s/n, μ) + bd0(1−s/n, 1−μ)]`` (the
        saturated term is 0 unless ``0 < s < n``), which is exact algebra and costs one
        logarithm per Bernoulli row.
        """
        y, mu = np.broadcast_arrays(_f64(y), _f64(mu))
        w = _weights(wt, y)
        n = np.round(w)
        k = np.round(w * y)
        live = n > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            yy = np.where(live, k / np.where(live, n, 1.0), 0.0)
            ll = -n * _binomial_unit_deviance(yy, mu)
        inner = np.flatnonzero((k > 0) & (k < n))
        if inner.size:
            ki, ni = k.ravel()[inner], n.ravel()[inner]
            sat = _log_dbinom_raw(ki, ni, ki / ni, (ni - ki) / ni)
            ll = ll.ravel()
            ll[inner] += sat
            ll = ll.reshape(y.shape)
        ll = np.where((k < 0) | (k > n), -np.inf, ll)
        return np.where(w > 0, ll, 0.0)

    def mustart(self, y: ArrayLike, wt: ArrayLike | None = None) -> np.ndarray:
        """``(w y + ½) / (w + 1)`` (``y`` taken as 0 where ``w = 0``, as R)."""
        y = _f64(y)
        w = _weights(wt, y)
        y = np.where(w == 0, 0.0, y)
        return (w * y + 0.5) / (w + 1.0)

    def validate_response(
        self,
        y: ArrayLike,
        wt: ArrayLike | None = None,
        name: str = "response",
        *,
        row_labels: Sequence[Any] | None = None,
        weights_are_trials: bool = True,
    ) -> None:
        """Check ``0 ≤ y ≤ 1`` and, when the weights are numbers of trials, whole counts.

        Parameters
        ----------
        weights_are_trials : bool
            If True (default; ``cbind(s, f)`` and ``s / n`` responses), the weights must be
            whole numbers and ``w y`` a whole number of successes (within R's tolerance
            0.001).  Pass False for a 0/1 response with non-integer (e.g. survey) weights,
            where R only warns.

        Notes
        -----
        Rows with weight 0 are ignored, as in R's ``binomial()$initialize``.
        """
        y, w = self._check_common(y, wt, name, row_labels)
        live = w > 0
        trials = not np.all(w[live] == 1.0)
        low = live & (y < 0)
        _raise_first(low, y, row_labels, f"binomial {name} must be a proportion in [0, 1]; {{where}} has {{value}}")
        high = live & (y > 1)
        if np.any(high):
            i = int(np.flatnonzero(high)[0])
            extra = ""
            if trials:
                extra = f" (successes exceed trials: {_fmt(w[i] * y[i])} successes out of {_fmt(w[i])})"
            _raise_first(
                high, y, row_labels, f"binomial {name} must be a proportion in [0, 1]; {{where}} has {{value}}{extra}"
            )
        if weights_are_trials:
            bad_n = live & (np.abs(w - np.round(w)) > 1e-3)
            _raise_first(
                bad_n,
                w,
                row_labels,
                "binomial weights are numbers of trials and must be whole numbers; {where} has {value}",
            )
            s = w * y
            bad_s = live & (np.abs(s - np.round(s)) > 1e-3)
            if np.any(bad_s):
                i = int(np.flatnonzero(bad_s)[0])
                _raise_first(
                    bad_s,
                    y,
                    row_labels,
                    f"binomial {name} times the number of trials must be a whole number "
                    f"of successes; {{where}} has {name} = {{value}} with "
                    f"{_fmt(w[i])} trials ({_fmt(s[i])} successes)",
                )

    def simulate(self, mu: ArrayLike, wt: ArrayLike | None, rng: np.random.Generator, scale: float = 1.0) -> np.ndarray:
        """Proportions ``Bin(w, μ) / w`` (R's ``binomial()$simulate``); 0 where ``w = 0``.

        Raises
        ------
        DataError
            Non-integer weights ("cannot simulate from non-integer prior weights").
        """
        mu = _f64(mu)
        w = np.array(_weights(wt, mu), dtype=np.float64)
        if np.any(w != np.round(w)) or np.any(w < 0):
            raise DataError("cannot simulate from non-integer prior weights (numbers of trials)")
        n = w.astype(np.int64)
        draws = rng.binomial(n, np.clip(mu, 0.0, 1.0)).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(n > 0, draws / w, 0.0)


class Poisson(Family):
    """Poisson: ``y ~ Pois(μ)``; ``V(μ) = μ``, no scale.

    Links ``log`` (canonical), ``identity``, ``sqrt``.

    ``d_i = 2w[y log(y/μ) − (y−μ)]``, ``ℓ_i = w log dpois(y; μ)``, ``mustart = y + 0.1``.
    """

    name = "poisson"
    valid_links = ("log", "identity", "sqrt")
    default_link = "log"
    canonical_link = "log"

    def __init__(self, link: str | Link = "log") -> None:
        super().__init__(link)

    def validmu(self, mu: ArrayLike) -> bool:
        """All ``μ`` finite and positive."""
        mu = _f64(mu)
        return bool(np.all(np.isfinite(mu)) and np.all(mu > 0))

    def variance(self, mu: ArrayLike) -> np.ndarray:
        """``μ``."""
        return np.array(mu, dtype=np.float64)

    def variance_deriv(self, mu: ArrayLike) -> np.ndarray:
        """``1``."""
        return np.ones_like(_f64(mu))

    def dev_resids(self, y: ArrayLike, mu: ArrayLike, wt: ArrayLike | None = None) -> np.ndarray:
        """``2w bd0(y, μ) = 2w[y log(y/μ) − (y − μ)]`` (``2wμ`` at ``y = 0``)."""
        y, mu = np.broadcast_arrays(_f64(y), _f64(mu))
        return 2.0 * _weights(wt, y) * _bd0(y, mu)

    def loglik(self, y: ArrayLike, mu: ArrayLike, wt: ArrayLike | None = None, scale: float = 1.0) -> np.ndarray:
        """``w (y log μ − μ − log y!)``; 0 for rows with ``w = 0``."""
        y, mu = np.broadcast_arrays(_f64(y), _f64(mu))
        w = _weights(wt, y)
        return np.where(w > 0, w * _log_dpois(y, mu), 0.0)

    def mustart(self, y: ArrayLike, wt: ArrayLike | None = None) -> np.ndarray:
        """``y + 0.1``."""
        return _f64(y) + 0.1

    def _check_support(self, y: np.ndarray, w: np.ndarray, name: str, row_labels: Sequence[Any] | None) -> None:
        _raise_first(y < 0, y, row_labels, f"{self.name} {name} must be non-negative counts; {{where}} has {{value}}")
        _raise_first(
            _nonint(y), y, row_labels, f"{self.name} {name} must be whole-number counts; {{where}} has {{value}}"
        )

    def simulate(self, mu: ArrayLike, wt: ArrayLike | None, rng: np.random.Generator, scale: float = 1.0) -> np.ndarray:
        """``Pois(μ)`` draws; prior weights are ignored with a warning, as in R."""
        mu = _f64(mu)
        if wt is not None and np.any(_weights(wt, mu) != 1.0):
            warn_at_caller("poisson simulation ignores prior weights", UserWarning)
        return rng.poisson(mu).astype(np.float64)


class NegativeBinomial(Family):
    """Negative binomial with fixed shape θ (``MASS::negative.binomial(theta)``).

    ``y ~ NB(size = θ, mean = μ)``: ``P(y) = Γ(y+θ)/(Γ(θ) y!) (θ/(θ+μ))^θ (μ/(θ+μ))^y``,
    ``V(μ) = μ + μ²/θ``, no scale; links ``log`` (default), ``sqrt``, ``identity``
    (none is canonical).  ``d_i = 2w[y log(y/μ) − (y+θ) log((y+θ)/(μ+θ))]``,
    ``ℓ_i = w log P(y_i)``, ``mustart = y + [y = 0]/6``.  The name is MASS's
    ``"Negative Binomial(<format(round(θ, 4))>)"``, as lme4's ``glmer.nb`` prints it.

    Parameters
    ----------
    theta : float
        Shape (``size``) θ > 0; the Poisson is the limit θ → ∞.
    link : str or Link
        Link function.
    """

    valid_links = ("log", "sqrt", "identity")
    default_link = "log"

    def __init__(self, theta: float, link: str | Link = "log") -> None:
        try:
            th = float(theta)
        except (TypeError, ValueError):
            raise MixedLMError(f"negative binomial theta must be a number, got {theta!r}") from None
        if not (math.isfinite(th) and th > 0):
            raise MixedLMError(f"negative binomial theta must be positive and finite, got {theta!r}")
        self.theta: float = th
        self.name = "Negative Binomial(" + r_format_number(round(th, 4)) + ")"
        super().__init__(link)

    def with_theta(self, theta: float) -> NegativeBinomial:
        """The same family and link with another θ (for ``glmer_nb``'s outer optimization)."""
        return NegativeBinomial(theta, self.link)

    def validmu(self, mu: ArrayLike) -> bool:
        """All ``μ > 0``."""
        return bool(np.all(_f64(mu) > 0))

    def variance(self, mu: ArrayLike) -> np.ndarray:
        """``μ + μ²/θ``."""
        mu = _f64(mu)
        return mu + mu * mu / self.theta

    def variance_deriv(self, mu: ArrayLike) -> np.ndarray:
        """``1 + 2μ/θ``."""
        return 1.0 + 2.0 * _f64(mu) / self.theta

    def dev_resids(self, y: ArrayLike, mu: ArrayLike, wt: ArrayLike | None = None) -> np.ndarray:
        """``2w[bd0(y, μ) − bd0(y+θ, μ+θ)]`` = ``2w[y log(y/μ) − (y+θ) log((y+θ)/(μ+θ))]``."""
        y, mu = np.broadcast_arrays(_f64(y), _f64(mu))
        th = self.theta
        d = _bd0(y, mu) - _bd0(y + th, mu + th)
        return 2.0 * _weights(wt, y) * np.maximum(d, 0.0)

    def loglik(self, y: ArrayLike, mu: ArrayLike, wt: ArrayLike | None = None, scale: float = 1.0) -> np.ndarray:
        """``w log P(y)``; evaluated as ``log(θ/(θ+y)) + log dbinom_raw(θ; θ+y, θ/(θ+μ))``.

        That identity (R's ``dnbinom_mu``) keeps accuracy for large θ, where
        ``lgamma(y+θ) − lgamma(θ)`` would cancel.
        """
        y, mu = np.broadcast_arrays(_f64(y), _f64(mu))
        w = _weights(wt, y)
        th = self.theta
        with np.errstate(divide="ignore", invalid="ignore"):
            tot = th + mu
            p = th / tot
            q = mu / tot
            ll = np.log(th / (th + y)) + _log_dbinom_raw(np.full_like(y, th), th + y, p, q)
            ll = np.where(y == 0.0, -th * np.log1p(mu / th), ll)
        return np.where(w > 0, w * ll, 0.0)

    def mustart(self, y: ArrayLike, wt: ArrayLike | None = None) -> np.ndarray:
        """``y + [y = 0]/6``."""
        y = _f64(y)
        return y + (y == 0.0) / 6.0

    def _check_support(self, y: np.ndarray, w: np.ndarray, name: str, row_labels: Sequence[Any] | None) -> None:
        _raise_first(
            y < 0, y, row_labels, f"negative binomial {name} must be non-negative counts; {{where}} has {{value}}"
        )
        _raise_first(
            _nonint(y), y, row_labels, f"negative binomial {name} must be whole-number counts; {{where}} has {{value}}"
        )

    def simulate(self, mu: ArrayLike, wt: ArrayLike | None, rng: np.random.Generator, scale: float = 1.0) -> np.ndarray:
        """Gamma–Poisson mixture draws (``MASS::rnegbin(μ, θ)``); weights are ignored."""
        mu = _f64(mu)
        th = self.theta
        return rng.negative_binomial(th, th / (th + mu)).astype(np.float64)

    def _repr_args(self) -> str:
        return f"theta={self.theta!r}, link={self.link.name!r}"

    def _key(self) -> tuple:
        return (type(self), self.link, self.theta)


class Gamma(Family):
    """Gamma: ``y ~ Γ(shape = 1/φ, scale = μφ)``; ``V(μ) = μ²``, scale ``φ`` estimated.

    Links ``inverse`` (canonical), ``identity``, ``log``.
    ``d_i = −2w[log(y/μ) − (y−μ)/μ]``, ``ℓ_i = w log dgamma(y; 1/φ, μφ)``, ``mustart = y``.
    """

    name = "Gamma"
    has_scale = True
    valid_links = ("inverse", "identity", "log")
    default_link = "inverse"
    canonical_link = "inverse"

    def __init__(self, link: str | Link = "inverse") -> None:
        super().__init__(link)

    def validmu(self, mu: ArrayLike) -> bool:
        """All ``μ`` finite and positive."""
        mu = _f64(mu)
        return bool(np.all(np.isfinite(mu)) and np.all(mu > 0))

    def variance(self, mu: ArrayLike) -> np.ndarray:
        """``μ²``."""
        mu = _f64(mu)
        return mu * mu

    def variance_deriv(self, mu: ArrayLike) -> np.ndarray:
        """``2μ``."""
        return 2.0 * _f64(mu)

    def dev_resids(self, y: ArrayLike, mu: ArrayLike, wt: ArrayLike | None = None) -> np.ndarray:
        """``2w bd0(μ, y)/μ`` = ``−2w[log(y/μ) − (y−μ)/μ]``; ``−2w`` at ``y = 0`` as R."""
        y, mu = np.broadcast_arrays(_f64(y), _f64(mu))
        w = _weights(wt, y)
        with np.errstate(divide="ignore", invalid="ignore"):
            d = 2.0 * w * _bd0(mu, y) / mu
        return np.where(y == 0.0, -2.0 * w, d)

    def loglik(self, y: ArrayLike, mu: ArrayLike, wt: ArrayLike | None = None, scale: float = 1.0) -> np.ndarray:
        """``w log dgamma(y; a = 1/φ, scale = μφ)``.

        Evaluated as ``log dpois_raw(a; a y/μ) + log(a/y)`` (R's ``dgamma``), i.e.
        ``−stirlerr(a) − bd0(a, a y/μ) − ½ log(2πa) + log(a/y)``.
        """
        y, mu = np.broadcast_arrays(_f64(y), _f64(mu))
        w = _weights(wt, y)
        a = 1.0 / float(scale)
        with np.errstate(divide="ignore", invalid="ignore"):
            ll = _log_dpois(np.full_like(y, a), a * y / mu) + np.log(a / y)
        return np.where(w > 0, w * ll, 0.0)

    def _check_support(self, y: np.ndarray, w: np.ndarray, name: str, row_labels: Sequence[Any] | None) -> None:
        _raise_first(y <= 0, y, row_labels, f"Gamma {name} must be positive; {{where}} has {{value}}")

    def simulate(self, mu: ArrayLike, wt: ArrayLike | None, rng: np.random.Generator, scale: float = 1.0) -> np.ndarray:
        """Gamma draws with shape ``w/φ`` and mean ``μ`` (R's ``Gamma()$simulate``).

        Rows with ``w = 0`` return ``μ``.
        """
        return _draw_at_shape(mu, wt, scale, lambda m, shape: rng.gamma(shape, m / shape))


class InverseGaussian(Family):
    """Inverse Gaussian: ``y ~ IG(μ, λ = 1/φ)``; ``V(μ) = μ³``, scale ``φ`` estimated.

    Links ``1/mu^2`` (canonical), ``inverse``, ``identity``, ``log``.
    ``d_i = w(y−μ)²/(yμ²)``, ``ℓ_i = w[−½ log(2πφy³) − (y−μ)²/(2φμ²y)]``, ``mustart = y``.
    """

    name = "inverse.gaussian"
    has_scale = True
    valid_links = ("1/mu^2", "inverse", "identity", "log")
    default_link = "1/mu^2"
    canonical_link = "1/mu^2"

    def __init__(self, link: str | Link = "1/mu^2") -> None:
        super().__init__(link)

    def variance(self, mu: ArrayLike) -> np.ndarray:
        """``μ³``."""
        mu = _f64(mu)
        return mu * mu * mu

    def variance_deriv(self, mu: ArrayLike) -> np.ndarray:
        """``3μ²``."""
        mu = _f64(mu)
        return 3.0 * mu * mu

    def dev_resids(self, y: ArrayLike, mu: ArrayLike, wt: ArrayLike | None = None) -> np.ndarray:
        """``w (y − μ)² / (y μ²)``."""
        y, mu = np.broadcast_arrays(_f64(y), _f64(mu))
        r = y - mu
        with np.errstate(divide="ignore", invalid="ignore"):
            return _weights(wt, y) * r * r / (y * mu * mu)

    def loglik(self, y: ArrayLike, mu: ArrayLike, wt: ArrayLike | None = None, scale: float = 1.0) -> np.ndarray:
        """``w [−½ log(2π φ y³) − (y − μ)² / (2 φ μ² y)]``."""
        y, mu = np.broadcast_arrays(_f64(y), _f64(mu))
        w = _weights(wt, y)
        phi = float(scale)
        r = y - mu
        with np.errstate(divide="ignore", invalid="ignore"):
            ll = -0.5 * (_LOG_2PI + math.log(phi) + 3.0 * np.log(y)) - r * r / (2.0 * phi * mu * mu * y)
        return np.where(w > 0, w * ll, 0.0)

    def _check_support(self, y: np.ndarray, w: np.ndarray, name: str, row_labels: Sequence[Any] | None) -> None:
        _raise_first(y <= 0, y, row_labels, f"inverse Gaussian {name} must be positive; {{where}} has {{value}}")

    def simulate(self, mu: ArrayLike, wt: ArrayLike | None, rng: np.random.Generator, scale: float = 1.0) -> np.ndarray:
        """Inverse Gaussian draws with mean ``μ`` and shape ``λ = w/φ`` (as R via SuppDists).

        Rows with ``w = 0`` return ``μ``.
        """
        return _draw_at_shape(mu, wt, scale, rng.wald)


class Gaussian(Family):
    """Gaussian: ``y ~ N(μ, φ/w)``; ``V(μ) = 1``, scale ``φ = σ²`` estimated.

    Links ``identity`` (canonical), ``log``, ``inverse``.  ``d_i = w(y−μ)²``,
    ``ℓ_i = −½[log(2πφ/w) + w(y−μ)²/φ]``, ``mustart = y``.
    """

    name = "gaussian"
    has_scale = True
    valid_links = ("identity", "log", "inverse")
    default_link = "identity"
    canonical_link = "identity"

    def __init__(self, link: str | Link = "identity") -> None:
        super().__init__(link)

    def variance(self, mu: ArrayLike) -> np.ndarray:
        """``1``."""
        return np.ones_like(_f64(mu))

    def variance_deriv(self, mu: ArrayLike) -> np.ndarray:
        """``0``."""
        return np.zeros_like(_f64(mu))

    def dev_resids(self, y: ArrayLike, mu: ArrayLike, wt: ArrayLike | None = None) -> np.ndarray:
        """``w (y − μ)²``."""
        y, mu = np.broadcast_arrays(_f64(y), _f64(mu))
        r = y - mu
        return _weights(wt, y) * r * r

    def loglik(self, y: ArrayLike, mu: ArrayLike, wt: ArrayLike | None = None, scale: float = 1.0) -> np.ndarray:
        """``log dnorm(y; μ, √(φ/w))``; 0 for rows with ``w = 0``."""
        y, mu = np.broadcast_arrays(_f64(y), _f64(mu))
        w = _weights(wt, y)
        phi = float(scale)
        r = y - mu
        with np.errstate(divide="ignore", invalid="ignore"):
            ll = -0.5 * (_LOG_2PI + math.log(phi) - np.log(w) + w * r * r / phi)
        return np.where(w > 0, ll, 0.0)

    def _aic_scale(self, dev: float, wt: np.ndarray) -> float:
        """R's ``gaussian()$aic`` uses ``dev / n`` (n observations, not ``Σw``)."""
        return dev / wt.size

    def mustart(self, y: ArrayLike, wt: ArrayLike | None = None) -> np.ndarray:
        """``y``, moved inside the link's domain where needed.

        R stops ("cannot find valid starting values") for a log link with ``y ≤ 0`` or an
        inverse link with ``y = 0``; here those entries start at ``0.1·mean|y|`` (or 0.1
        if all ``y`` are 0) instead, a valid point from which PIRLS can proceed.
        """
        y = np.array(y, dtype=np.float64)
        fill = 0.1 * (float(np.mean(np.abs(y))) if y.size and np.any(y != 0) else 1.0)
        if self.link.name == "log":
            y = np.where(y > 0, y, fill)
        elif self.link.name == "inverse":
            y = np.where(y != 0, y, fill)
        return y

    def simulate(self, mu: ArrayLike, wt: ArrayLike | None, rng: np.random.Generator, scale: float = 1.0) -> np.ndarray:
        """``N(μ, φ/w)`` draws (R's ``simulate.lm``); rows with ``w = 0`` return ``μ``."""
        mu = _f64(mu)
        w = np.array(_weights(wt, mu), dtype=np.float64)
        live = w > 0
        sd = np.sqrt(float(scale) / np.where(live, w, 1.0))
        return np.where(live, rng.normal(mu, sd), mu)


# ---------------------------------------------------------------------------------------
# Quasi and user-defined families
# ---------------------------------------------------------------------------------------

#: R's ``quasi()`` variance names → the link that is canonical for that variance.
QUASI_VARIANCES: dict[str, str] = {
    "constant": "identity",
    "mu(1-mu)": "logit",
    "mu": "log",
    "mu^2": "inverse",
    "mu^3": "1/mu^2",
}

#: Links ``quasi()`` accepts by name (everything ``make.link`` knows).
_QUASI_LINKS = ("logit", "probit", "cloglog", "cauchit", "identity", "inverse", "log", "1/mu^2", "sqrt")

#: Gauss–Legendre nodes/weights on [0, 1] for the quasi-deviance of a callable variance.
_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(48)
_GL_NODES = 0.5 * (_GL_NODES + 1.0)
_GL_WEIGHTS = 0.5 * _GL_WEIGHTS


class QuasiFamily(Family):
    """Quasi-likelihood family (R's ``quasi(link, variance)``): only ``E y``, ``Var y`` specified.

    ``E y = μ = g⁻¹(η)``, ``Var y = φ V(μ)/w`` with a free scale ``φ``.  The deviance is the
    quasi-deviance ``d_i = 2w ∫_μ^y (y − t)/V(t) dt``:

    ============  ===========================================  ==========================
    variance      ``d_i``                                      ``mustart``
    ============  ===========================================  ==========================
    constant      ``w(y−μ)²``                                  ``y``
    mu(1-mu)      binomial deviance                            ``min(max(y, .001), .999)``
    mu            ``2w[y log(y/μ) − (y−μ)]``                   ``y + 0.1[y = 0]``
    mu^2          ``max(−2w[log(ỹ/μ) − (y−μ)/μ], 0)`` (*)        ``y + 0.1[y = 0]``
    mu^3          ``w(y−μ)²/(yμ²)``                            ``y + 0.1[y = 0]``
    ============  ===========================================  ==========================

    (*) ``ỹ = y``, except ``ỹ = 1`` where ``y = 0`` (R's special case).

    There is no likelihood: :meth:`loglik` raises, :meth:`aic` is NaN (R's ``NA``).

    Parameters
    ----------
    variance_func : str or callable
        One of the names above (spaces ignored), or a vectorized ``V(μ)``.  For a callable
        the quasi-deviance is integrated numerically (48-point Gauss–Legendre) unless
        ``dev_resids`` is given.
    link : str or Link
        Any of R's named links (``logit``, ``probit``, ``cloglog``, ``cauchit``, ``identity``,
        ``inverse``, ``log``, ``1/mu^2``, ``sqrt``) or a Link object.
    dev_resids, mustart : callable, optional
        Override the deviance residuals ``(y, μ, w) ↦ d`` and the start ``(y, w) ↦ μ₀``.
    """

    name = "quasi"
    has_scale = True
    valid_links = _QUASI_LINKS
    default_link = "identity"

    def __init__(
        self,
        variance_func: str | Callable[[np.ndarray], np.ndarray] = "constant",
        link: str | Link = "identity",
        *,
        dev_resids: Callable[..., np.ndarray] | None = None,
        mustart: Callable[..., np.ndarray] | None = None,
    ) -> None:
        if isinstance(variance_func, str):
            key = variance_func.replace(" ", "")
            if key not in QUASI_VARIANCES:
                raise MixedLMError(
                    f"quasi variance {variance_func!r} is invalid: possible values are "
                    + ", ".join(repr(k) for k in QUASI_VARIANCES)
                    + " or a callable V(mu)"
                )
            self.variance_name: str = key
            self._varfun: Callable[[np.ndarray], np.ndarray] | None = None
        elif callable(variance_func):
            self.variance_name = getattr(variance_func, "__name__", "custom")
            self._varfun = variance_func
        else:
            raise MixedLMError(f"quasi variance must be a name or a callable, got {type(variance_func).__name__}")
        self._dev_override = dev_resids
        self._mustart_override = mustart
        super().__init__(link)

    @property
    def canonical(self) -> bool:
        """True when ``V(μ) g'(μ)`` is constant (e.g. variance ``mu`` with the log link)."""
        if self._varfun is not None or type(self.link).__name__ == "FunctionLink":
            return False
        return QUASI_VARIANCES[self.variance_name] == self.link.name

    def variance(self, mu: ArrayLike) -> np.ndarray:
        """The chosen ``V(μ)``."""
        mu = _f64(mu)
        if self._varfun is not None:
            return np.broadcast_to(_f64(self._varfun(mu)), mu.shape).copy()
        v = self.variance_name
        if v == "constant":
            return np.ones_like(mu)
        if v == "mu(1-mu)":
            return mu * (1.0 - mu)
        if v == "mu":
            return mu.copy()
        if v == "mu^2":
            return mu * mu
        return mu * mu * mu

    def validmu(self, mu: ArrayLike) -> bool:
        """R's ``validmu``: ``0 < μ < 1`` for ``mu(1-mu)``, ``μ > 0`` for the powers of μ."""
        mu = _f64(mu)
        if self._varfun is not None or self.variance_name == "constant":
            return True
        if self.variance_name == "mu(1-mu)":
            return bool(np.all((mu > 0) & (mu < 1)))
        return bool(np.all(mu > 0))

    def dev_resids(self, y: ArrayLike, mu: ArrayLike, wt: ArrayLike | None = None) -> np.ndarray:
        """Quasi-deviance contributions (table in the class docstring)."""
        y, mu = np.broadcast_arrays(_f64(y), _f64(mu))
        w = _weights(wt, y)
        if self._dev_override is not None:
            return np.broadcast_to(_f64(self._dev_override(y, mu, w)), y.shape).copy()
        if self._varfun is not None:
            return self._integrated_deviance(y, mu, w)
        v = self.variance_name
        r = y - mu
        with np.errstate(divide="ignore", invalid="ignore"):
            if v == "constant":
                return w * r * r
            if v == "mu(1-mu)":
                return 2.0 * w * _binomial_unit_deviance(y, mu)
            if v == "mu":
                return 2.0 * w * _bd0(y, mu)
            if v == "mu^2":
                pos = 2.0 * w * _bd0(mu, y) / mu
                at0 = 2.0 * w * (np.log(mu) - 1.0)
                return np.maximum(np.where(y == 0.0, at0, pos), 0.0)
            return w * r * r / (y * mu * mu)

    def _integrated_deviance(self, y: np.ndarray, mu: np.ndarray, w: np.ndarray) -> np.ndarray:
        """``2w (y−μ)² ∫₀¹ (1−s) / V(μ + (y−μ)s) ds`` by Gauss–Legendre quadrature.

        The substitution ``t = μ + (y−μ)s`` turns ``∫_μ^y (y−t)/V(t) dt`` into that form.
        """
        r = y - mu
        t = mu[..., None] + r[..., None] * _GL_NODES
        vt = np.reshape(_f64(self._varfun(t.reshape(-1))), t.shape)
        with np.errstate(divide="ignore", invalid="ignore"):
            integral = np.sum(_GL_WEIGHTS * (1.0 - _GL_NODES) / vt, axis=-1)
        return 2.0 * w * r * r * integral

    def loglik(self, y: ArrayLike, mu: ArrayLike, wt: ArrayLike | None = None, scale: float = 1.0) -> np.ndarray:
        """Not available: raises :class:`MixedLMError`."""
        raise MixedLMError(
            "the quasi family has no likelihood (only the mean and variance are specified), so "
            "log-likelihood, AIC, BIC and likelihood-ratio tests are undefined; use a full family "
            "such as Binomial(), Poisson(), NegativeBinomial(theta) or Gamma()"
        )

    def saturated_loglik(self, y: ArrayLike, wt: ArrayLike | None = None, scale: float = 1.0) -> np.ndarray:
        """Not available: raises :class:`MixedLMError` (no likelihood)."""
        return self.loglik(y, y, wt, scale)

    def aic(self, y: ArrayLike, mu: ArrayLike, wt: ArrayLike | None = None, dev: float | None = None) -> float:
        """NaN, as R's ``quasi()$aic`` returns ``NA``."""
        return float("nan")

    def mustart(self, y: ArrayLike, wt: ArrayLike | None = None) -> np.ndarray:
        """R's ``quasi()$initialize`` for the variance (table in the class docstring)."""
        y = np.array(y, dtype=np.float64)
        if self._mustart_override is not None:
            return _f64(self._mustart_override(y, _weights(wt, y))).copy()
        v = self.variance_name if self._varfun is None else "constant"
        if v == "constant":
            return y
        if v == "mu(1-mu)":
            return np.clip(y, 0.001, 0.999)
        return y + 0.1 * (y == 0.0)

    def _check_support(self, y: np.ndarray, w: np.ndarray, name: str, row_labels: Sequence[Any] | None) -> None:
        if self._varfun is not None:
            return
        v = self.variance_name
        if v == "mu(1-mu)":
            _raise_first(
                (y < 0) | (y > 1),
                y,
                row_labels,
                f"quasi (variance mu(1-mu)) {name} must be in [0, 1]; {{where}} has {{value}}",
            )
        elif v in ("mu", "mu^2"):
            _raise_first(
                y < 0, y, row_labels, f"quasi (variance {v}) {name} must be non-negative; {{where}} has {{value}}"
            )
        elif v == "mu^3":
            _raise_first(
                y <= 0, y, row_labels, f"quasi (variance mu^3) {name} must be positive; {{where}} has {{value}}"
            )

    def simulate(self, mu: ArrayLike, wt: ArrayLike | None, rng: np.random.Generator, scale: float = 1.0) -> np.ndarray:
        """Not available: a quasi family specifies no distribution to draw from."""
        raise MixedLMError(
            "cannot simulate from a quasi family: it specifies only the mean and variance, not a distribution"
        )

    def __str__(self) -> str:
        return f"family: quasi, link: {self.link.name}, variance: {self.variance_name}"

    def _repr_args(self) -> str:
        v = self.variance_name if self._varfun is None else self._varfun
        return f"variance_func={v!r}, link={self.link.name!r}"

    def _key(self) -> tuple:
        return (type(self), self.link, self.variance_name if self._varfun is None else self._varfun)


class CustomFamily(Family):
    """A user-defined family from vectorized callables.

    Parameters
    ----------
    name : str
        Family name for printing.
    link : str or Link
        Any named link or a :class:`~mixedlm.engines.links.Link` (e.g. a ``FunctionLink``).
    variance : callable
        ``V(μ)``.
    dev_resids : callable
        ``(y, μ, w) ↦ d`` — per-observation deviance contributions, ``Σ d`` the deviance.
    loglik : callable, optional
        ``(y, μ, w, scale) ↦ ℓ`` per observation; without it likelihood-based quantities
        (logLik, AIC, Laplace/AGQ objectives) raise :class:`MixedLMError`.
    mustart : callable, optional
        ``(y, w) ↦ μ₀``; default ``y``.
    validate : callable, optional
        ``(y, w, name) ↦ None``, raising :class:`DataError` for bad responses; the common
        finiteness and weight checks always run first.
    has_scale : bool
        Whether a dispersion ``φ`` is estimated.
    simulate : callable, optional
        ``(μ, w, rng, scale) ↦ y``.
    canonical : bool
        Whether the link is canonical for this family.
    """

    def __init__(
        self,
        name: str,
        link: str | Link,
        variance: Callable[[np.ndarray], np.ndarray],
        dev_resids: Callable[..., np.ndarray],
        loglik: Callable[..., np.ndarray] | None = None,
        mustart: Callable[..., np.ndarray] | None = None,
        validate: Callable[..., None] | None = None,
        has_scale: bool = False,
        *,
        simulate: Callable[..., np.ndarray] | None = None,
        canonical: bool = False,
    ) -> None:
        for label, f in (("variance", variance), ("dev_resids", dev_resids)):
            if not callable(f):
                raise MixedLMError(f"CustomFamily: {label} must be callable, got {type(f).__name__}")
        for label, f in (("loglik", loglik), ("mustart", mustart), ("validate", validate), ("simulate", simulate)):
            if f is not None and not callable(f):
                raise MixedLMError(f"CustomFamily: {label} must be callable or None, got {type(f).__name__}")
        self.name = str(name)
        self.has_scale = bool(has_scale)
        self._variance, self._dev = variance, dev_resids
        self._loglik, self._mustart = loglik, mustart
        self._validate, self._simulate = validate, simulate
        self._canonical = bool(canonical)
        super().__init__(link)

    @property
    def canonical(self) -> bool:
        """As declared by the ``canonical`` argument."""
        return self._canonical

    def variance(self, mu: ArrayLike) -> np.ndarray:
        mu = _f64(mu)
        return np.broadcast_to(_f64(self._variance(mu)), mu.shape).copy()

    def dev_resids(self, y: ArrayLike, mu: ArrayLike, wt: ArrayLike | None = None) -> np.ndarray:
        y, mu = np.broadcast_arrays(_f64(y), _f64(mu))
        return _f64(self._dev(y, mu, _weights(wt, y)))

    def loglik(self, y: ArrayLike, mu: ArrayLike, wt: ArrayLike | None = None, scale: float = 1.0) -> np.ndarray:
        if self._loglik is None:
            raise MixedLMError(
                f"the custom family {self.name!r} defines no log-likelihood "
                "(pass loglik=... to CustomFamily) so likelihood-based quantities "
                "are unavailable"
            )
        y, mu = np.broadcast_arrays(_f64(y), _f64(mu))
        return _f64(self._loglik(y, mu, _weights(wt, y), scale))

    def aic(self, y: ArrayLike, mu: ArrayLike, wt: ArrayLike | None = None, dev: float | None = None) -> float:
        """``−2 Σ ℓ_i`` (+2 with a scale, estimated as ``dev / Σw``)."""
        return super().aic(y, mu, wt, dev)

    def mustart(self, y: ArrayLike, wt: ArrayLike | None = None) -> np.ndarray:
        y = _f64(y)
        if self._mustart is None:
            return y.copy()
        return _f64(self._mustart(y, _weights(wt, y))).copy()

    def _check_support(self, y: np.ndarray, w: np.ndarray, name: str, row_labels: Sequence[Any] | None) -> None:
        if self._validate is not None:
            self._validate(y, w, name)

    def simulate(self, mu: ArrayLike, wt: ArrayLike | None, rng: np.random.Generator, scale: float = 1.0) -> np.ndarray:
        if self._simulate is None:
            return super().simulate(mu, wt, rng, scale)
        mu = _f64(mu)
        return _f64(self._simulate(mu, _weights(wt, mu), rng, scale))

    def _repr_args(self) -> str:
        return f"name={self.name!r}, link={self.link.name!r}"

    def _key(self) -> tuple:
        return (id(self),)
