"""Families and links for ``glmer`` and the Bayesian mixed GLMs.

``mlm.families.Binomial(link="logit")``, ``Poisson()``, ``NegativeBinomial(theta=2.0)``,
``Gamma()``, ``InverseGaussian()``, ``Gaussian(link="log")``,
``QuasiFamily(variance_func="mu", link="log")`` and ``CustomFamily(...)``; links by R's
names (``"logit"``, ``"probit"``, ``"cloglog"``, ``"cauchit"``, ``"log"``, ``"identity"``,
``"sqrt"``, ``"inverse"``, ``"1/mu^2"``) or as :class:`Link` objects.

The implementations live in :mod:`mixedlm.engines.families` and
:mod:`mixedlm.engines.links`; see their docstrings for the formulas and R conventions.
"""

from __future__ import annotations

from mixedlm.engines.families import (
    Binomial,
    CustomFamily,
    Family,
    Gamma,
    Gaussian,
    InverseGaussian,
    NegativeBinomial,
    Poisson,
    QuasiFamily,
)
from mixedlm.engines.links import (
    CauchitLink,
    CloglogLink,
    FunctionLink,
    IdentityLink,
    InverseLink,
    InverseSquareLink,
    Link,
    LogitLink,
    LogLink,
    ProbitLink,
    SqrtLink,
    make_link,
)

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
    "make_link",
]
