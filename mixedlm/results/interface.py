"""The fit interface: what every fitted mixed model offers, and all inference is written against.

:class:`MixedFit` declares it; :class:`~mixedlm.results.lmer_result.LmerFit` and
:class:`~mixedlm.results.glmer_result.GlmerFit` implement it (shared parts once, in
:class:`~mixedlm.results.base.MixedModelFit`).  The inference layer (``anova``,
``drop1``, ``confint``, ``profile``, ``bootMer``, ``simulate``, ``allFit``,
``checkConv``) and the plots use nothing else of a fit: no ``isinstance`` on the
concrete classes, no private attributes, no front-end imports.  A new model kind
joins every inference routine by implementing this interface.

The groups, following lme4 and MixedModels.jl:

* **facts** — ``formula``, ``nobs``, ``call``, ``setup`` (the design: ``frame``, ``fe``,
  ``re``), ``control``, ``family`` (None for a linear model), ``nAGQ`` (None for a
  linear model), ``isREML()``, ``isGLMM()``, ``npar``;
* **estimates** — ``theta``, ``theta_names``, ``lower``, ``fixef()``, ``vcov()``,
  ``sigma``, ``variance_scale`` (the factor of ``ΛΛᵀ`` in ``Var(b)``), ``residual_sd``
  (None without a scale parameter), ``VarCorr()``, ``sdcor()``, ``ranef()``,
  ``isSingular()``, ``logLik(kind=...)``, ``deviance()``, ``optinfo`` (the final
  optimizer run);
* **per row** — ``fitted_values`` (fitted rows, link scale for a linear model and mean
  scale for a GLMM), ``linear_predictor(groups)``, ``re_form_groups(re_form)``,
  ``pad(values, name)`` (to the input rows), ``model_response()``;
* **refits** — ``refit(newresp, control=, start=)``, ``refitML()``,
  ``optimizer_control(name, stages=, maxfun=)``, ``update(formula, **changes)``;
* **simulation** — ``simulate_response(rng, groups)``;
* **the optimum** — ``optimum()`` (the criterion the final stage minimized, as an
  independent function, and its minimizer), ``derivatives()``, ``se_error()``,
  ``quadrature``, ``RX()``, ``profile_problem()``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd


@dataclass
class Optimum:
    """The criterion a fit minimized and its minimizer (lme4's ``devfun`` at ``opt$par``).

    Attributes
    ----------
    fun : callable
        ``fun(x) -> float``; a fresh function, independent of the fit's own objective
        state.
    x : numpy.ndarray
        The minimizer.
    value : float
        ``fun(x)``.
    names : list of str
        Parameter names (θ in lme4's names, then the fixed effects when they are
        optimized).
    lower : numpy.ndarray
        Lower bounds (``-inf`` where none).
    scale : numpy.ndarray
        Approximate standard errors: finite-difference step units.
    """

    fun: Callable[[np.ndarray], float]
    x: np.ndarray
    value: float
    names: list[str]
    lower: np.ndarray
    scale: np.ndarray


@runtime_checkable
class ProfileProblem(Protocol):
    """What :func:`mixedlm.profile` needs from a model: parameters, bounds and conditional optima.

    ``names`` lists every parameter on the profiling scale (SDs and correlations, then
    ``sigma`` for a linear model, then the fixed effects) with values ``opt`` and bounds
    ``lower`` / ``upper``; ``base`` is the deviance at the optimum.
    """

    names: list[str]
    opt: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    base: float

    def deviance_at(self, values: np.ndarray) -> float:
        """The deviance at a full parameter vector (the consistency check at ``opt``)."""

    def first_value(self, w: int, delta: float) -> float:
        """lme4's first profile point of parameter ``w`` (``delta``: the step in ζ)."""

    def conditional_optimum(self, w: int, value: float, start: np.ndarray) -> tuple[np.ndarray, float]:
        """All parameters at the minimum of the deviance with parameter ``w`` held at ``value``,
        starting the others from ``start`` (full layout); and that deviance (NaN entries
        and a NaN deviance when the optimization failed)."""


@runtime_checkable
class MixedFit(Protocol):
    """A fitted mixed model, as inference uses it (see the module docstring)."""

    setup: Any
    control: Any
    call: dict[str, Any] | None

    # facts
    @property
    def formula(self) -> str: ...
    @property
    def nobs(self) -> int: ...
    @property
    def family(self) -> Any: ...
    @property
    def nAGQ(self) -> int | None: ...
    def isREML(self) -> bool: ...
    def isGLMM(self) -> bool: ...
    @property
    def npar(self) -> int: ...

    # estimates
    @property
    def theta(self) -> np.ndarray: ...
    @property
    def theta_names(self) -> list[str]: ...
    @property
    def lower(self) -> np.ndarray: ...
    def fixef(self) -> pd.Series: ...
    def vcov(self, use_hessian: bool | None = None) -> pd.DataFrame: ...
    @property
    def sigma(self) -> float: ...
    @property
    def variance_scale(self) -> float: ...
    @property
    def residual_sd(self) -> float | None: ...
    def VarCorr(self) -> Any: ...
    def sdcor(self) -> pd.Series: ...
    def ranef(self, condVar: bool = True) -> dict[str, pd.DataFrame]: ...
    def isSingular(self, tol: float = 1e-4) -> bool: ...
    def logLik(self, kind: str = "marginal") -> float: ...
    @property
    def optinfo(self) -> Any: ...

    # per row
    @property
    def fitted_values(self) -> np.ndarray: ...
    def linear_predictor(self, groups: set[str] | None = None) -> np.ndarray: ...
    def re_form_groups(self, re_form: Any) -> set[str] | None: ...
    def pad(self, values: np.ndarray, name: str) -> pd.Series: ...
    def model_response(self) -> tuple[np.ndarray, np.ndarray | None]: ...

    # refits
    def refit(self, newresp: Any = None, *, control: Any = None, start: Any = "estimates") -> MixedFit: ...
    def refitML(self) -> MixedFit: ...
    def optimizer_control(self, name: str, stages: str = "second", maxfun: int | None = None) -> Any: ...
    def update(self, formula: str | None = None, **changes: Any) -> MixedFit: ...

    # simulation
    def simulate_response(self, rng: np.random.Generator, groups: set[str] | None) -> np.ndarray: ...

    # the optimum
    def optimum(self) -> Optimum: ...
    def derivatives(self) -> Any: ...
    def se_error(self) -> pd.Series | None: ...
    @property
    def quadrature(self) -> Any: ...
    def RX(self) -> np.ndarray: ...
    def profile_problem(self) -> ProfileProblem: ...
