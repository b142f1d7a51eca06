"""Link functions of generalized linear (mixed) models, numerically as R's ``make.link``.

A link ``g`` maps the mean ``μ = E[y]`` to the linear predictor ``η = g(μ)``.  Each
:class:`Link` provides

* ``linkfun(μ) = g(μ)``,
* ``linkinv(η) = g⁻¹(η)``,
* ``mu_eta(η) = dμ/dη = 1 / g'(g⁻¹(η))``,
* ``valideta(η)``: whether ``η`` lies in the domain of ``g⁻¹``.

The inverse links and derivatives are clamped exactly as R's ``stats`` package
does (``family.c`` for the logit, ``make.link`` for the others), so that fitted
values and IRLS weights agree with R and lme4 to rounding, including in the tails:

=========  ==============================================  ================================
link       ``linkinv(η)``                                  ``mu_eta(η)``
=========  ==============================================  ================================
logit      ``t/(1+t)``, ``t = exp(η)``; ``t = ε`` if       ``ε`` if ``|η| > 30``, else
           ``η < −30``, ``t = 1/ε`` if ``η > 30``          ``exp(η)/(1+exp(η))²``
probit     ``Φ(clamp(η, ±c))``, ``c = −Φ⁻¹(ε)``            ``max(φ(η), ε)``
cloglog    ``clamp(1 − exp(−exp(η)), ε, 1−ε)``             ``max(exp(η − eᶯ), ε)``, η ≤ 700
cauchit    ``F(clamp(η, ±c))``, ``c = −F⁻¹(ε)``, F Cauchy  ``max(f(η), ε)``
log        ``max(exp(η), ε)``                              ``max(exp(η), ε)``
identity   ``η``                                           ``1``
sqrt       ``η²``                                          ``2η``
inverse    ``1/η``                                         ``−1/η²``
1/mu^2     ``1/√η``                                        ``−1/(2 η^{3/2})``
=========  ==============================================  ================================

``ε`` is ``.Machine$double.eps = 2⁻⁵²``.  All functions are vectorized over float64
arrays and never loop over observations in Python.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike
from scipy import special

from mixedlm.errors import MixedLMError

__all__ = [
    "DOUBLE_EPS",
    "Link",
    "LogitLink",
    "ProbitLink",
    "CloglogLink",
    "CauchitLink",
    "LogLink",
    "IdentityLink",
    "SqrtLink",
    "InverseLink",
    "InverseSquareLink",
    "FunctionLink",
    "LINK_CLASSES",
    "make_link",
]

#: R's ``.Machine$double.eps`` (2⁻⁵²).
DOUBLE_EPS: float = float(np.finfo(np.float64).eps)

#: ``|η|`` beyond which R's C code treats the logistic as saturated (``THRESH`` in family.c).
_LOGIT_THRESH = 30.0

#: ``−Φ⁻¹(ε)``: R's probit clamps η to ``[−t, t]`` so that μ stays in ``[ε, 1 − ε]``.
_PROBIT_THRESH = float(-special.ndtri(DOUBLE_EPS))

#: ``−F⁻¹(ε)`` for the standard Cauchy cdf ``F``, i.e. ``1 / tan(π ε)``.
_CAUCHIT_THRESH = float(1.0 / math.tan(math.pi * DOUBLE_EPS))

#: R's cloglog ``mu.eta`` caps η at 700 before exponentiating.
_CLOGLOG_ETA_MAX = 700.0


def _as_float(x: ArrayLike) -> np.ndarray:
    """``x`` as a float64 ndarray (no copy when it already is one)."""
    return np.asarray(x, dtype=np.float64)


class Link:
    """Base class of a link function ``η = g(μ)``.

    Subclasses implement :meth:`linkfun`, :meth:`linkinv` and :meth:`mu_eta`;
    :meth:`valideta` defaults to "every finite or infinite η is acceptable", as
    R's ``valideta`` for links defined on the whole real line.

    Attributes
    ----------
    name : str
        R's name of the link (``binomial(link = "logit")$link``), also what lme4
        prints in ``Family: binomial  ( logit )``.
    """

    name: str = ""

    def linkfun(self, mu: ArrayLike) -> np.ndarray:
        """The link ``η = g(μ)``."""
        raise NotImplementedError

    def linkinv(self, eta: ArrayLike) -> np.ndarray:
        """The inverse link ``μ = g⁻¹(η)``."""
        raise NotImplementedError

    def mu_eta(self, eta: ArrayLike) -> np.ndarray:
        """The derivative ``dμ/dη`` of the inverse link, evaluated at ``η``."""
        raise NotImplementedError

    def mu_eta_deriv(self, eta: ArrayLike) -> np.ndarray:
        """The second derivative ``d²μ/dη²`` of the inverse link.

        Used for Newton steps with the observed information
        (:mod:`mixedlm.engines.working`).  The base class differentiates
        :meth:`mu_eta` numerically (central difference, step ``1e-6 (1 + |η|)``);
        R's links override it with the exact formula.
        """
        eta = _as_float(eta)
        h = 1e-6 * (1.0 + np.abs(eta))
        return (self.mu_eta(eta + h) - self.mu_eta(eta - h)) / (2.0 * h)

    def valideta(self, eta: ArrayLike) -> bool:
        """Whether every ``η`` is in the domain of :meth:`linkinv` (R's ``valideta``)."""
        return True

    # -- object protocol ---------------------------------------------------------------
    def __repr__(self) -> str:
        return f"Link({self.name!r})"

    def __str__(self) -> str:
        return self.name

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and getattr(other, "name", None) == self.name

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.name))


class LogitLink(Link):
    """Logit: ``g(μ) = log(μ/(1−μ))``, ``g⁻¹(η) = eᶯ/(1+eᶯ)``, ``dμ/dη = eᶯ/(1+eᶯ)²``.

    Clamped as R's C code: for ``η < −30`` the exponential is replaced by ``ε`` and
    for ``η > 30`` by ``1/ε``, so ``μ`` stays within ``[ε/(1+ε), 1/(1+ε)]``; outside
    ``|η| ≤ 30`` the derivative is ``ε``.
    """

    name = "logit"

    def linkfun(self, mu: ArrayLike) -> np.ndarray:
        """``log(μ/(1−μ))``; ``±∞`` at ``μ = 1, 0`` and NaN outside ``[0, 1]``."""
        mu = _as_float(mu)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(mu / (1.0 - mu))

    def linkinv(self, eta: ArrayLike) -> np.ndarray:
        """``t/(1+t)`` with ``t = exp(η)`` clamped to ``[ε, 1/ε]`` beyond ``|η| > 30``."""
        eta = _as_float(eta)
        t = np.exp(np.clip(eta, -_LOGIT_THRESH, _LOGIT_THRESH))
        t = np.where(eta < -_LOGIT_THRESH, DOUBLE_EPS, t)
        t = np.where(eta > _LOGIT_THRESH, 1.0 / DOUBLE_EPS, t)
        return t / (1.0 + t)

    def mu_eta(self, eta: ArrayLike) -> np.ndarray:
        """``exp(η)/(1+exp(η))²`` for ``|η| ≤ 30``, else ``ε``."""
        eta = _as_float(eta)
        e = np.exp(np.clip(eta, -_LOGIT_THRESH, _LOGIT_THRESH))
        d = e / ((1.0 + e) * (1.0 + e))
        return np.where(np.abs(eta) > _LOGIT_THRESH, DOUBLE_EPS, d)

    def mu_eta_deriv(self, eta: ArrayLike) -> np.ndarray:
        """``μ'(1 − 2μ)``; 0 beyond ``|η| > 30`` (where ``μ'`` is the constant ``ε``)."""
        eta = _as_float(eta)
        mu = self.linkinv(eta)
        return np.where(np.abs(eta) > _LOGIT_THRESH, 0.0, self.mu_eta(eta) * (1.0 - 2.0 * mu))


class ProbitLink(Link):
    """Probit: ``g(μ) = Φ⁻¹(μ)``, ``g⁻¹(η) = Φ(η)``, ``dμ/dη = φ(η)``.

    ``η`` is clamped to ``[−t, t]`` with ``t = −Φ⁻¹(ε) ≈ 8.1259`` before ``Φ`` and
    the derivative is bounded below by ``ε`` (R's ``make.link("probit")``).
    """

    name = "probit"

    def linkfun(self, mu: ArrayLike) -> np.ndarray:
        """``Φ⁻¹(μ)`` (``±∞`` at 1 and 0)."""
        return special.ndtri(_as_float(mu))

    def linkinv(self, eta: ArrayLike) -> np.ndarray:
        """``Φ(min(max(η, −t), t))``."""
        return special.ndtr(np.clip(_as_float(eta), -_PROBIT_THRESH, _PROBIT_THRESH))

    def mu_eta(self, eta: ArrayLike) -> np.ndarray:
        """``max(φ(η), ε)`` with ``φ`` the standard normal density."""
        eta = _as_float(eta)
        return np.maximum(np.exp(-0.5 * eta * eta) / math.sqrt(2.0 * math.pi), DOUBLE_EPS)

    def mu_eta_deriv(self, eta: ArrayLike) -> np.ndarray:
        """``−η φ(η)``; 0 where ``μ'`` is held at ``ε``."""
        eta = _as_float(eta)
        phi = np.exp(-0.5 * eta * eta) / math.sqrt(2.0 * math.pi)
        return np.where(phi > DOUBLE_EPS, -eta * phi, 0.0)


class CloglogLink(Link):
    """Complementary log-log: ``g(μ) = log(−log(1−μ))``, ``g⁻¹(η) = 1 − exp(−eᶯ)``.

    ``dμ/dη = exp(η − eᶯ)``.  The inverse is computed as ``−expm1(−eᶯ)`` and kept
    in ``[ε, 1−ε]``; the derivative uses ``min(η, 700)`` and is at least ``ε``.
    ``linkfun`` uses ``log(−log1p(−μ))``, which is accurate for small ``μ`` where R's
    ``log(−log(1 − μ))`` loses digits (relative error about ``ε/μ``).
    """

    name = "cloglog"

    def linkfun(self, mu: ArrayLike) -> np.ndarray:
        """``log(−log1p(−μ))``."""
        mu = _as_float(mu)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(-np.log1p(-mu))

    def linkinv(self, eta: ArrayLike) -> np.ndarray:
        """``min(max(−expm1(−exp(η)), ε), 1 − ε)``."""
        eta = _as_float(eta)
        with np.errstate(over="ignore"):
            mu = -np.expm1(-np.exp(eta))
        return np.clip(mu, DOUBLE_EPS, 1.0 - DOUBLE_EPS)

    def mu_eta(self, eta: ArrayLike) -> np.ndarray:
        """``max(exp(η − exp(η)), ε)`` with ``η`` capped at 700."""
        eta = np.minimum(_as_float(eta), _CLOGLOG_ETA_MAX)
        with np.errstate(over="ignore"):
            return np.maximum(np.exp(eta - np.exp(eta)), DOUBLE_EPS)

    def mu_eta_deriv(self, eta: ArrayLike) -> np.ndarray:
        """``μ'(1 − eᶯ)``; 0 where ``μ'`` is held at ``ε``."""
        eta = np.minimum(_as_float(eta), _CLOGLOG_ETA_MAX)
        with np.errstate(over="ignore", invalid="ignore"):
            e = np.exp(eta)
            d = np.exp(eta - e)
            out = d * (1.0 - e)
        return np.where(d > DOUBLE_EPS, out, 0.0)


class CauchitLink(Link):
    """Cauchit: ``g(μ) = F⁻¹(μ) = tan(π(μ − ½))``, ``g⁻¹(η) = F(η) = ½ + atan(η)/π``.

    ``dμ/dη = 1/(π(1+η²))``.  ``η`` is clamped to ``±t``, ``t = −F⁻¹(ε) = 1/tan(πε)``;
    the derivative is at least ``ε``.  The cdf and quantile are evaluated in the form
    that keeps relative accuracy in both tails (``F(η) = −atan(1/η)/π`` for
    ``η < −1``, and ``F⁻¹(p) = −1/tan(πp)`` for ``p < ¼``).
    """

    name = "cauchit"

    def linkfun(self, mu: ArrayLike) -> np.ndarray:
        """``tan(π(μ − ½))``; near the tails ``−1/tan(πμ)`` (``μ < ¼``) or ``1/tan(π(1−μ))``.

        The three forms are the same function; each is used where its argument is
        exact (``μ − ½`` and ``1 − μ`` are exact in floating point on their ranges).
        """
        mu = _as_float(mu)
        with np.errstate(divide="ignore", invalid="ignore"):
            centre = np.tan(np.pi * (mu - 0.5))
            low = -1.0 / np.tan(np.pi * mu)
            high = 1.0 / np.tan(np.pi * (1.0 - mu))
        q = np.where(np.abs(mu - 0.5) <= 0.25, centre, np.where(mu < 0.5, low, high))
        q = np.where(mu == 0.0, -np.inf, np.where(mu == 1.0, np.inf, q))
        return np.where((mu < 0.0) | (mu > 1.0), np.nan, q)

    def linkinv(self, eta: ArrayLike) -> np.ndarray:
        """The standard Cauchy cdf at ``η`` clamped to ``[−t, t]``."""
        eta = np.clip(_as_float(eta), -_CAUCHIT_THRESH, _CAUCHIT_THRESH)
        with np.errstate(divide="ignore"):
            tail = np.arctan(1.0 / eta) / np.pi
        return np.where(np.abs(eta) <= 1.0, 0.5 + np.arctan(eta) / np.pi, np.where(eta > 0.0, 1.0 - tail, -tail))

    def mu_eta(self, eta: ArrayLike) -> np.ndarray:
        """``max(1/(π(1+η²)), ε)``."""
        eta = _as_float(eta)
        with np.errstate(over="ignore"):
            return np.maximum(1.0 / (np.pi * (1.0 + eta * eta)), DOUBLE_EPS)

    def mu_eta_deriv(self, eta: ArrayLike) -> np.ndarray:
        """``−2η / (π(1+η²)²)``; 0 where ``μ'`` is held at ``ε``."""
        eta = _as_float(eta)
        with np.errstate(over="ignore"):
            s = 1.0 + eta * eta
            d = 1.0 / (np.pi * s)
            return np.where(d > DOUBLE_EPS, -2.0 * eta * d / s, 0.0)


class LogLink(Link):
    """Log: ``g(μ) = log μ``, ``g⁻¹(η) = max(eᶯ, ε)``, ``dμ/dη = max(eᶯ, ε)``."""

    name = "log"

    def linkfun(self, mu: ArrayLike) -> np.ndarray:
        """``log μ``."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(_as_float(mu))

    def linkinv(self, eta: ArrayLike) -> np.ndarray:
        """``max(exp(η), ε)``."""
        with np.errstate(over="ignore"):
            return np.maximum(np.exp(_as_float(eta)), DOUBLE_EPS)

    def mu_eta(self, eta: ArrayLike) -> np.ndarray:
        """``max(exp(η), ε)``."""
        with np.errstate(over="ignore"):
            return np.maximum(np.exp(_as_float(eta)), DOUBLE_EPS)

    def mu_eta_deriv(self, eta: ArrayLike) -> np.ndarray:
        """``eᶯ`` (0 where ``μ'`` is held at ``ε``)."""
        with np.errstate(over="ignore"):
            e = np.exp(_as_float(eta))
        return np.where(e > DOUBLE_EPS, e, 0.0)


class IdentityLink(Link):
    """Identity: ``g(μ) = μ``, ``g⁻¹(η) = η``, ``dμ/dη = 1``."""

    name = "identity"

    def linkfun(self, mu: ArrayLike) -> np.ndarray:
        """``μ`` (as a float64 copy)."""
        return np.array(mu, dtype=np.float64)

    def linkinv(self, eta: ArrayLike) -> np.ndarray:
        """``η`` (as a float64 copy)."""
        return np.array(eta, dtype=np.float64)

    def mu_eta(self, eta: ArrayLike) -> np.ndarray:
        """A vector of ones."""
        return np.ones_like(_as_float(eta))

    def mu_eta_deriv(self, eta: ArrayLike) -> np.ndarray:
        """A vector of zeros."""
        return np.zeros_like(_as_float(eta))


class SqrtLink(Link):
    """Square root: ``g(μ) = √μ``, ``g⁻¹(η) = η²``, ``dμ/dη = 2η``; valid for ``η > 0``."""

    name = "sqrt"

    def linkfun(self, mu: ArrayLike) -> np.ndarray:
        """``√μ``."""
        with np.errstate(invalid="ignore"):
            return np.sqrt(_as_float(mu))

    def linkinv(self, eta: ArrayLike) -> np.ndarray:
        """``η²``."""
        eta = _as_float(eta)
        return eta * eta

    def mu_eta(self, eta: ArrayLike) -> np.ndarray:
        """``2η``."""
        return 2.0 * _as_float(eta)

    def mu_eta_deriv(self, eta: ArrayLike) -> np.ndarray:
        """A vector of twos."""
        return np.full_like(_as_float(eta), 2.0)

    def valideta(self, eta: ArrayLike) -> bool:
        """All ``η`` finite and positive."""
        eta = _as_float(eta)
        return bool(np.all(np.isfinite(eta)) and np.all(eta > 0))


class InverseLink(Link):
    """Inverse: ``g(μ) = 1/μ``, ``g⁻¹(η) = 1/η``, ``dμ/dη = −1/η²``; valid for finite ``η ≠ 0``."""

    name = "inverse"

    def linkfun(self, mu: ArrayLike) -> np.ndarray:
        """``1/μ``."""
        with np.errstate(divide="ignore"):
            return 1.0 / _as_float(mu)

    def linkinv(self, eta: ArrayLike) -> np.ndarray:
        """``1/η``."""
        with np.errstate(divide="ignore"):
            return 1.0 / _as_float(eta)

    def mu_eta(self, eta: ArrayLike) -> np.ndarray:
        """``−1/η²``."""
        eta = _as_float(eta)
        with np.errstate(divide="ignore"):
            return -1.0 / (eta * eta)

    def mu_eta_deriv(self, eta: ArrayLike) -> np.ndarray:
        """``2/η³``."""
        eta = _as_float(eta)
        with np.errstate(divide="ignore"):
            return 2.0 / (eta * eta * eta)

    def valideta(self, eta: ArrayLike) -> bool:
        """All ``η`` finite and nonzero."""
        eta = _as_float(eta)
        return bool(np.all(np.isfinite(eta)) and np.all(eta != 0))


class InverseSquareLink(Link):
    """Inverse square ("1/mu^2"): ``g(μ) = μ⁻²``, ``g⁻¹(η) = η^{−1/2}``, ``dμ/dη = −½ η^{−3/2}``.

    The canonical link of the inverse Gaussian family; valid for finite ``η > 0``.
    """

    name = "1/mu^2"

    def linkfun(self, mu: ArrayLike) -> np.ndarray:
        """``1/μ²``."""
        mu = _as_float(mu)
        with np.errstate(divide="ignore", over="ignore"):
            return 1.0 / (mu * mu)

    def linkinv(self, eta: ArrayLike) -> np.ndarray:
        """``1/√η``."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return 1.0 / np.sqrt(_as_float(eta))

    def mu_eta(self, eta: ArrayLike) -> np.ndarray:
        """``−1/(2 η^{3/2})``."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return -1.0 / (2.0 * _as_float(eta) ** 1.5)

    def mu_eta_deriv(self, eta: ArrayLike) -> np.ndarray:
        """``3/(4 η^{5/2})``."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return 0.75 / _as_float(eta) ** 2.5

    def valideta(self, eta: ArrayLike) -> bool:
        """All ``η`` finite and positive."""
        eta = _as_float(eta)
        return bool(np.all(np.isfinite(eta)) and np.all(eta > 0))


class FunctionLink(Link):
    """A user-defined link from three vectorized callables.

    Parameters
    ----------
    name : str
        Name printed in summaries.
    linkfun, linkinv, mu_eta : callable
        ``g``, ``g⁻¹`` and ``dμ/dη`` as functions of a float64 array.
    valideta : callable, optional
        ``η ↦ bool``; defaults to always valid.
    """

    def __init__(
        self,
        name: str,
        linkfun: Callable[[np.ndarray], np.ndarray],
        linkinv: Callable[[np.ndarray], np.ndarray],
        mu_eta: Callable[[np.ndarray], np.ndarray],
        valideta: Callable[[np.ndarray], bool] | None = None,
    ) -> None:
        for label, f in (("linkfun", linkfun), ("linkinv", linkinv), ("mu_eta", mu_eta)):
            if not callable(f):
                raise MixedLMError(f"FunctionLink: {label} must be callable, got {type(f).__name__}")
        self.name = str(name)
        self._linkfun, self._linkinv, self._mu_eta = linkfun, linkinv, mu_eta
        self._valideta = valideta

    def linkfun(self, mu: ArrayLike) -> np.ndarray:
        return _as_float(self._linkfun(_as_float(mu)))

    def linkinv(self, eta: ArrayLike) -> np.ndarray:
        return _as_float(self._linkinv(_as_float(eta)))

    def mu_eta(self, eta: ArrayLike) -> np.ndarray:
        return _as_float(self._mu_eta(_as_float(eta)))

    def valideta(self, eta: ArrayLike) -> bool:
        return True if self._valideta is None else bool(self._valideta(_as_float(eta)))

    def __eq__(self, other: object) -> bool:
        return other is self

    def __hash__(self) -> int:
        return id(self)


#: R's link names → classes.
LINK_CLASSES: dict[str, type[Link]] = {
    cls.name: cls
    for cls in (
        LogitLink,
        ProbitLink,
        CloglogLink,
        CauchitLink,
        LogLink,
        IdentityLink,
        SqrtLink,
        InverseLink,
        InverseSquareLink,
    )
}


def make_link(link: str | Link, allowed: tuple[str, ...] | None = None, family: str | None = None) -> Link:
    """Resolve a link given by R's name (or pass a :class:`Link` instance through).

    Parameters
    ----------
    link : str or Link
        ``"logit"``, ``"probit"``, ``"cloglog"``, ``"cauchit"``, ``"log"``,
        ``"identity"``, ``"sqrt"``, ``"inverse"`` or ``"1/mu^2"``; or a link object,
        which is accepted for any family (as R accepts a ``link-glm`` object).
    allowed : tuple of str, optional
        The names valid for the calling family; a name outside it is an error.
    family : str, optional
        Family name used in the error message.

    Raises
    ------
    MixedLMError
        Unknown link name, listing the links available for the family.
    """
    if isinstance(link, Link):
        return link
    if not isinstance(link, str):
        raise MixedLMError(f"link must be a link name or a Link object, got {type(link).__name__}")
    names = allowed if allowed is not None else tuple(LINK_CLASSES)
    if link not in names or link not in LINK_CLASSES:
        where = f" for the {family} family" if family else ""
        listing = ", ".join(repr(n) for n in names)
        raise MixedLMError(f"link {link!r} is not available{where}; available links are {listing}")
    return LINK_CLASSES[link]()
