"""statsmodels-style Bayesian mixed GLMs: ``MixedGLM``, ``BinomialBayesMixedGLM``, ``PoissonBayesMixedGLM``.

The model (statsmodels' ``BayesMixedGLM``, see :mod:`mixedlm.engines.bayes` for the
mathematics)::

    y_i | η_i  ~ binomial or Poisson,    η = Xβ + Z c (+ offset)
    β_j        ~ N(0, fe_p²)                       fixed effects (``fep``)
    v_k        ~ N(0, vcp_p²)                      log standard deviations (``vcp``)
    c_j | v    ~ N(0, exp(v_{ident_j})²)           random-effect realizations (``vc``)

``exog_vc`` (``Z``) has one column per random-effect realization; ``ident[j]`` says which
standard deviation column ``j`` shares.  Two fits:

* :meth:`MixedGLM.fit_map` — the posterior mode with SDs from the inverse Hessian (Laplace
  approximation to the posterior); reports the log posterior ``log p(y, β, v, c)``;
* :meth:`MixedGLM.fit_vb` — mean-field Gaussian variational Bayes; reports the ELBO.

Both are deterministic (no random starting values) and never densify a sparse ``exog_vc``.

Differences from statsmodels, on purpose:

* Binomial responses with trials: ``endog`` as an ``(n, 2)`` array of (successes, failures),
  or successes with ``trials=``; in formulas ``cbind(s, f) ~ ...`` or ``s / n ~ ...``.
* ``ident`` labels need not be ``0..k−1``: any integers are accepted and remapped to
  ``0..k−1`` in increasing order of the label (``model.ident_labels`` keeps the originals;
  ``vcp_names`` are matched to the sorted labels).  Non-integer ``ident`` is refused.
* Reported objectives include every normalising constant (statsmodels' ``logposterior``
  and ``vb_elbo`` drop them), so the log posterior and the ELBO are comparable across models.
* Names follow lme4 in formulas: ``(Intercept)``, ``period2``; ``C(herd)1`` for columns of
  ``exog_vc`` (all-zero columns, e.g. from unused factor levels, are dropped).
* ``fit_map`` returns the highest mode it finds, which may be a *collapsed* one (a variance
  component at ``log SD ≈ −q_k vcp_p²`` with its random effects ≈ 0; the joint density of
  ``(c, v)`` has such modes for every component).  A warning names such components;
  ``fit_map(allow_collapse=False)`` keeps the mode reached from the start, and ``fit_vb``
  (which has no such degenerate optima) is usually the better summary.

The lme4 front end reaches the same engines through :func:`fit_glmer_bayes`
(``glmer(..., method="map" | "vb")``) for models whose random terms are all independent.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from mixedlm.arrays import as_float_array, float_matrix
from mixedlm.design.vcomp import stack_components, vc_from_re_structure
from mixedlm.engines import bayes as engine
from mixedlm.errors import ConvergenceWarning, DataError, MixedLMError, warn_at_caller
from mixedlm.statsmodels_style.summary2 import Summary2

__all__ = [
    "MixedGLM",
    "BinomialBayesMixedGLM",
    "PoissonBayesMixedGLM",
    "BayesMixedGLMResults",
    "fit_glmer_bayes",
]


# --------------------------------------------------------------------------------------
# Input checking
# --------------------------------------------------------------------------------------


def _prior_sd(value: Any, name: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise MixedLMError(f"{name} must be a positive number (a prior standard deviation), not {value!r}") from None
    if not math.isfinite(v) or v <= 0:
        raise MixedLMError(
            f"{name} is the prior standard deviation of "
            f"{'the log standard deviations (vcp)' if name == 'vcp_p' else 'the fixed effects'}"
            f" and must be a positive finite number; got {v!r}"
        )
    return v


def _as_sparse(a: Any, n: int) -> tuple[sp.csc_matrix, list[str] | None]:
    """``exog_vc`` as CSC (dense input converted, sparse input never densified)."""
    if sp.issparse(a):
        Z = sp.csc_matrix(a, dtype=np.float64)
        if Z.shape[0] != n:
            raise DataError(
                f"exog_vc has {Z.shape[0]} rows but endog has {n} observations; they must have one row per observation"
            )
        if not np.all(np.isfinite(Z.data)):
            raise DataError("exog_vc must be finite; it has NaN or infinite entries")
        return Z, None
    dense, names = float_matrix(a, "exog_vc", n)
    return sp.csc_matrix(dense), names


def _check_ident(ident: Any, q: int) -> tuple[np.ndarray, np.ndarray]:
    """Validated labels remapped to ``0..k−1`` (sorted) and the original distinct labels."""
    if ident is None:
        raise MixedLMError(
            "ident is required: one integer label per column of exog_vc (equal labels share a standard deviation)"
        )
    arr = np.asarray(ident)
    if arr.ndim != 1:
        arr = arr.reshape(-1) if arr.ndim == 0 else arr
        if arr.ndim != 1:
            raise MixedLMError(f"ident must be a one-dimensional array of integers, not shape {arr.shape}")
    if arr.shape[0] != q:
        raise MixedLMError(
            f"ident has {arr.shape[0]} labels but exog_vc has {q} columns; give one integer label per column of exog_vc"
        )
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise MixedLMError(
            f"ident must have an integer dtype (one label per column of exog_vc), not "
            f"{arr.dtype}; e.g. np.array([0, 0, 1, 1, 1])"
        )
    labels, codes = np.unique(arr, return_inverse=True)
    return codes.astype(np.int64).ravel(), labels


def _family(family: Any) -> Any:
    from mixedlm import families as fams

    if family is None:
        return fams.Binomial()
    if isinstance(family, type):
        family = family()
    if isinstance(family, str):
        table = {"binomial": fams.Binomial, "poisson": fams.Poisson}
        if family.lower() not in table:
            raise MixedLMError(f"family must be binomial or Poisson, not {family!r}")
        family = table[family.lower()]()
    name = getattr(family, "name", None)
    if name not in ("binomial", "poisson"):
        raise MixedLMError(
            f"Bayesian mixed GLMs support families without a scale parameter: "
            f"mlm.families.Binomial(link=...) or Poisson(link=...), not {family!r}"
        )
    return family


def _response(
    endog: Any, family: Any, trials: Any, n_hint: int | None = None
) -> tuple[np.ndarray, np.ndarray, str | None]:
    """Response on the family's scale (binomial: proportion) and weights (binomial: trials)."""
    name = endog.name if isinstance(endog, pd.Series) else None
    y = as_float_array(endog, "endog")
    label = "endog" if name is None else repr(str(name))
    if y.ndim == 2 and y.shape[1] == 2:
        if family.name != "binomial":
            raise DataError("a two-column endog (successes, failures) is a binomial response; use the binomial family")
        if trials is not None:
            raise DataError("give either a two-column endog (successes, failures) or trials=, not both")
        if not np.all(np.isfinite(y)):
            raise DataError("endog must be finite")
        if np.any(y < 0):
            raise DataError("binomial endog (successes, failures) must be non-negative counts")
        n_tr = y.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            prop = np.where(n_tr > 0, y[:, 0] / np.where(n_tr > 0, n_tr, 1.0), 0.0)
        family.validate_response(prop, n_tr, "endog")
        return prop, n_tr, name
    if y.ndim != 1:
        y = y.reshape(-1) if (y.ndim == 2 and y.shape[1] == 1) else y
        if y.ndim != 1:
            raise DataError(
                f"endog must be a vector (or, for the binomial family, an (n, 2) array of "
                f"successes and failures), not shape {y.shape}"
            )
    if not np.all(np.isfinite(y)):
        i = int(np.flatnonzero(~np.isfinite(y))[0])
        raise DataError(f"endog must be finite; row {i} (0-based) has {y[i]}")
    if family.name == "binomial":
        if trials is not None:
            n_tr = np.asarray(trials, dtype=np.float64).reshape(-1)
            if n_tr.shape != y.shape:
                raise DataError(f"trials has {n_tr.size} values but endog has {y.size}")
            if np.any(~np.isfinite(n_tr)) or np.any(n_tr < 0):
                raise DataError("trials must be finite non-negative whole numbers")
            if np.any(y < 0) or np.any(y > n_tr):
                i = int(np.flatnonzero((y < 0) | (y > n_tr))[0])
                raise DataError(
                    f"binomial endog with trials= is the number of successes, between 0 "
                    f"and the trials; row {i} (0-based) has {y[i]:g} successes out of "
                    f"{n_tr[i]:g}"
                )
            with np.errstate(invalid="ignore", divide="ignore"):
                prop = np.where(n_tr > 0, y / np.where(n_tr > 0, n_tr, 1.0), 0.0)
            family.validate_response(prop, n_tr, label)
            return prop, n_tr, name
        bad = (y != 0.0) & (y != 1.0)
        if np.any(bad):
            i = int(np.flatnonzero(bad)[0])
            raise DataError(
                f"binomial {label} must be 0 or 1 (use an (n, 2) array of successes and "
                f"failures, or trials=, for counts out of several trials); row {i} "
                f"(0-based) has {y[i]:g}"
            )
        return y, np.ones_like(y), name
    if trials is not None:
        raise DataError("trials= is for the binomial family only")
    family.validate_response(y, None, label)
    return y, np.ones_like(y), name


# --------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------


class MixedGLM:
    """Generalized linear mixed model with Bayesian estimation (statsmodels' ``BayesMixedGLM``).

    Parameters
    ----------
    endog : array_like
        Response.  Binomial: 0/1, or an ``(n, 2)`` array of (successes, failures), or counts of
        successes with ``trials=``.  Poisson: non-negative counts.
    exog : array_like or None
        ``(n, p)`` fixed-effects design (a DataFrame's columns name the effects).
    exog_vc : array_like or scipy.sparse matrix
        ``(n, q)`` design of the random-effect realizations (one column each); dense input is
        converted to sparse, sparse input is never densified.
    ident : array_like of int
        ``(q,)`` labels: columns with equal labels share a standard deviation.  Labels other
        than ``0..k−1`` are remapped in increasing order (see :attr:`ident_labels`).
    family : Family
        ``mlm.families.Binomial(link=...)`` (default) or ``mlm.families.Poisson(link=...)``.
    vcp_p : float
        Prior SD of the log standard deviations ``vcp`` (``vcp_k ~ N(0, vcp_p²)``).
    fe_p : float
        Prior SD of the fixed effects (``β_j ~ N(0, fe_p²)``).
    fep_names, vcp_names, vc_names : list of str, optional
        Names of the fixed effects, of the ``k`` variance parameters (in order of the sorted
        labels) and of the ``q`` realizations.
    trials : array_like, optional
        Binomial trials; ``endog`` is then the number of successes.
    offset : array_like, optional
        Known part of the linear predictor.

    Notes
    -----
    ``params`` are packed ``(fep, vcp, vc)``.  See :mod:`mixedlm.engines.bayes` for the log
    posterior, the ELBO and their derivatives.
    """

    _fixed_family: str | None = None

    def __init__(
        self,
        endog: Any,
        exog: Any,
        exog_vc: Any,
        ident: Any,
        family: Any = None,
        vcp_p: float = 1,
        fe_p: float = 2,
        fep_names: Sequence[str] | None = None,
        vcp_names: Sequence[str] | None = None,
        vc_names: Sequence[str] | None = None,
        *,
        trials: Any = None,
        offset: Any = None,
        _prepared: tuple | None = None,
    ) -> None:
        self.family = _family(family)
        self.vcp_p = _prior_sd(vcp_p, "vcp_p")
        self.fe_p = _prior_sd(fe_p, "fe_p")
        if _prepared is not None:  # response and weights already validated (glmer's design)
            y, w = (np.asarray(a, dtype=np.float64) for a in _prepared)
            yname = None
        else:
            y, w, yname = _response(endog, self.family, trials)
        n = y.shape[0]
        if n == 0:
            raise DataError("endog is empty")
        self.endog = y
        self.weights = w
        self.endog_name = yname
        if exog is None:
            X, xnames = np.zeros((n, 0)), []
        else:
            X, xnames = float_matrix(exog, "exog", n)
        if exog_vc is None:
            raise MixedLMError(
                "exog_vc is required: the design of the random effects (one column per "
                "realization); for a model without random effects use a GLM"
            )
        Z, znames = _as_sparse(exog_vc, n)
        if Z.shape[1] == 0:
            raise MixedLMError("exog_vc has no columns: the model needs at least one random effect")
        codes, labels = _check_ident(ident, Z.shape[1])
        self.exog = X
        self.exog_vc = Z
        self.ident = codes
        self.ident_labels = labels
        self.k_fep = X.shape[1]
        self.k_vc = Z.shape[1]
        self.k_vcp = int(labels.shape[0])
        if offset is None:
            self.offset = np.zeros(n)
        else:
            self.offset = np.asarray(offset, dtype=np.float64).reshape(-1)
            if self.offset.shape[0] != n or not np.all(np.isfinite(self.offset)):
                raise DataError(f"offset must be {n} finite numbers, one per observation")
        self.fep_names = self._names(fep_names, xnames or None, self.k_fep, "fep_names", lambda i: f"FE_{i + 1}")
        if vcp_names is None:
            vcp_default = [f"VC_{i + 1}" for i in range(self.k_vcp)]
            if not np.array_equal(labels, np.arange(self.k_vcp)):
                vcp_default = [f"VC_{int(lab)}" for lab in labels]
            self.vcp_names = vcp_default
        else:
            self.vcp_names = self._names(vcp_names, None, self.k_vcp, "vcp_names", None)
        counter = np.zeros(self.k_vcp, dtype=np.int64)
        default_vc = []
        for j in range(self.k_vc):
            c = codes[j]
            default_vc.append(f"{self.vcp_names[c]}[{counter[c]}]")
            counter[c] += 1
        self.vc_names = self._names(vc_names, znames, self.k_vc, "vc_names", lambda j: default_vc[j])
        self._problem: engine.BayesProblem | None = None
        self.formula: str | None = None
        self.data: Any = None

    @staticmethod
    def _names(given: Sequence[str] | None, found: list[str] | None, size: int, what: str, default: Any) -> list[str]:
        if given is not None:
            names = [str(x) for x in given]
            if len(names) != size:
                raise MixedLMError(
                    f"{what} has {len(names)} names but the model has {size} "
                    f"{'variance parameters (distinct ident labels)' if what == 'vcp_names' else 'of them'}"
                )
            return names
        if found is not None and len(found) == size:
            return list(found)
        return [default(i) for i in range(size)]

    # ------------------------------------------------------------------ engine glue
    @property
    def problem(self) -> engine.BayesProblem:
        """The engine's view of the model (built once)."""
        if self._problem is None:
            self._problem = engine.BayesProblem(
                X=self.exog,
                Z=self.exog_vc,
                ident=self.ident,
                kernel=engine.LogLikKernel(self.family, self.endog, self.weights),
                offset=self.offset,
                vcp_p=self.vcp_p,
                fe_p=self.fe_p,
            )
        return self._problem

    @property
    def nobs(self) -> int:
        """Number of observations."""
        return int(self.endog.shape[0])

    def _unpack(self, vec: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        p, k = self.k_fep, self.k_vcp
        return vec[:p], vec[p : p + k], vec[p + k :]

    def logposterior(self, params: Any) -> float:
        """``log p(y, fep, vcp, vc)`` with all normalising constants at packed ``params``."""
        par = np.asarray(params, dtype=np.float64)
        self._check_len(par, "params")
        b, v, c = self._unpack(par)
        return engine.log_posterior(self.problem, b, v, c)

    def vb_elbo(self, vb_mean: Any, vb_sd: Any, n_quad: int = 20) -> float:
        """The ELBO (with all constants) of a mean-field Gaussian with these means and SDs."""
        m = np.asarray(vb_mean, dtype=np.float64)
        s = np.asarray(vb_sd, dtype=np.float64)
        self._check_len(m, "vb_mean")
        self._check_len(s, "vb_sd")
        self._vb_allowed()
        return engine.elbo(self.problem, m, s, n_quad=n_quad)

    def _check_len(self, a: np.ndarray, what: str) -> None:
        d = self.k_fep + self.k_vcp + self.k_vc
        if a.shape != (d,):
            raise MixedLMError(f"{what} must have {d} values (fep, vcp, vc), not shape {a.shape}")

    def _vb_allowed(self) -> None:
        ker = self.problem.kernel
        if ker.vb_problem is not None:
            raise MixedLMError(
                f"variational Bayes is not available for the {ker.family_name} family with the "
                f"{ker.link_name} link: {ker.vb_problem}, so the expected log-likelihood under any "
                "Gaussian approximation is -inf and the ELBO does not exist; use fit_map(), or a "
                "link defined on the whole line (binomial: logit, probit, cloglog, cauchit; Poisson: log)"
            )

    # ------------------------------------------------------------------ fitting
    def fit_map(self, allow_collapse: bool = True, blas_threads: int | None = 1) -> BayesMixedGLMResults:
        """Posterior mode and Laplace approximation to the posterior.

        Newton's method on the profile ``max_{fep, vc}`` of the log posterior over ``vcp``, with
        analytic gradients and exact Hessians; the posterior covariance is the inverse of the
        negative Hessian at the mode.  Deterministic start from a penalized fit.

        Parameters
        ----------
        allow_collapse : bool
            Also search the collapsed modes (a component's log SD at ``≈ −q_k vcp_p²``, its
            random effects ≈ 0) and return the highest mode found.  False: the mode reached
            from the start.
        blas_threads : int or None
            BLAS threads during the fit (1 by default; None leaves the setting alone).

        Returns
        -------
        BayesMixedGLMResults
            ``objective`` / ``log_posterior`` is ``log p(y, fep, vcp, vc)`` at the mode.
        """
        from mixedlm.threads import blas_threads as _limit

        with _limit(blas_threads):
            try:
                fit = engine.fit_map(self.problem, allow_collapse=allow_collapse)
            except FloatingPointError as exc:
                raise MixedLMError(
                    f"fit_map failed: {exc}. With the {self.family.link.name} link the linear "
                    "predictor must stay inside the link's domain; a mode on its boundary (e.g. "
                    "Poisson identity link with means pushed to 0) has no Laplace approximation"
                ) from None
        res = BayesMixedGLMResults(self, fit)
        if not fit.converged:
            warn_at_caller(f"fit_map: {fit.message}", ConvergenceWarning)
        if fit.collapsed:
            names = ", ".join(repr(self.vcp_names[c]) for c in fit.collapsed)
            warn_at_caller(
                f"fit_map: the posterior mode puts variance component(s) {names} at a collapsed mode "
                f"(log SD = {', '.join(f'{fit.mean[self.k_fep + c]:.4g}' for c in fit.collapsed)}, random "
                "effects ≈ 0): the joint density of the random effects and their log SD has such a "
                "mode for every component, and here it is the highest one (statsmodels finds the same "
                "kind).  Its standard deviations say little about the variance; use fit_vb(), glmer(), "
                "or fit_map(allow_collapse=False) for the interior mode if there is one",
                UserWarning,
            )
        return res

    fit = fit_map

    def fit_vb(
        self,
        mean: Any = None,
        sd: Any = None,
        n_quad: int = 20,
        optimizer: str = "newton",
        blas_threads: int | None = 1,
    ) -> BayesMixedGLMResults:
        """Mean-field Gaussian variational Bayes.

        Maximizes the ELBO over the means and log SDs of independent Gaussians for every
        ``fep``, ``vcp`` and ``vc``, with analytic gradient and exact Hessian (damped Newton);
        ``E[log p(y_i | η_i)]`` by Gauss–Hermite quadrature (exact for the Poisson log link).

        Parameters
        ----------
        mean, sd : array_like, optional
            Starting means and SDs (packed ``fep, vcp, vc``); default a deterministic start
            from a penalized fit.
        n_quad : int
            Gauss–Hermite points.
        optimizer : {"newton", "lbfgs"}
        blas_threads : int or None
            BLAS threads during the fit (1 by default).

        Returns
        -------
        BayesMixedGLMResults
            ``objective`` / ``elbo`` is the evidence lower bound (with all constants).
        """
        from mixedlm.threads import blas_threads as _limit

        self._vb_allowed()
        start = None
        if mean is not None or sd is not None:
            if mean is None or sd is None:
                raise MixedLMError("give both mean and sd to start fit_vb, or neither")
            m0 = np.asarray(mean, dtype=np.float64)
            s0 = np.asarray(sd, dtype=np.float64)
            self._check_len(m0, "mean")
            self._check_len(s0, "sd")
            if np.any(s0 <= 0):
                raise MixedLMError("sd must be positive")
            start = (m0, s0)
        if int(n_quad) < 1:
            raise MixedLMError("n_quad must be a positive number of quadrature points")
        with _limit(blas_threads):
            try:
                fit = engine.fit_vb(self.problem, n_quad=int(n_quad), start=start, optimizer=optimizer)
            except FloatingPointError as exc:
                raise MixedLMError(f"fit_vb failed: {exc}") from None
        if not fit.converged:
            warn_at_caller(
                f"fit_vb: {fit.message} (largest gradient component {fit.info['gradient_max']:.3g})", ConvergenceWarning
            )
        return BayesMixedGLMResults(self, fit)

    def predict(
        self, params: Any, exog: Any = None, linear: bool = False, exog_vc: Any = None, offset: Any = None
    ) -> np.ndarray:
        """Mean (or linear predictor) at packed ``params``; see :meth:`BayesMixedGLMResults.predict`."""
        par = np.asarray(params, dtype=np.float64)
        b = par[: self.k_fep]
        if exog is None:
            X = self.exog
            off = self.offset if offset is None else np.asarray(offset, dtype=np.float64)
        else:
            X, _ = float_matrix(exog, "exog", None)
            if X.shape[1] != self.k_fep:
                raise DataError(f"exog has {X.shape[1]} columns; the model has {self.k_fep} fixed effects")
            off = 0.0 if offset is None else np.asarray(offset, dtype=np.float64)
        eta = X @ b + off
        if exog_vc is not None:
            if sp.issparse(exog_vc):
                Zn = sp.csr_matrix(exog_vc, dtype=np.float64)
            else:
                Zn, _ = float_matrix(exog_vc, "exog_vc", None)
            if Zn.shape != (X.shape[0], self.k_vc):
                raise DataError(
                    f"exog_vc must have {X.shape[0]} rows and {self.k_vc} columns (one per "
                    f"random effect), not {Zn.shape}"
                )
            if par.shape[0] == self.k_fep + self.k_vcp + self.k_vc:
                eta = eta + Zn @ par[self.k_fep + self.k_vcp :]
            else:
                raise MixedLMError("conditional predictions need the full params vector (fep, vcp, vc)")
        eta = np.asarray(eta, dtype=np.float64)
        if linear:
            return eta
        return np.asarray(self.family.link.linkinv(eta), dtype=np.float64)

    # ------------------------------------------------------------------ formulas
    @classmethod
    def from_formula(
        cls,
        formula: str,
        vc_formulas: dict[str, str],
        data: pd.DataFrame,
        vcp_p: float = 1,
        fe_p: float = 2,
        family: Any = None,
        vcp_names: Sequence[str] | None = None,
        vc_names: Sequence[str] | None = None,
    ) -> MixedGLM:
        """Build the model from a fixed-effects formula and one formula per variance component.

        Parameters
        ----------
        formula : str
            ``"y ~ x1 + x2"``; binomial responses may be ``cbind(s, f)`` or ``s / n``.
        vc_formulas : dict
            Name → one-sided formula (``{"herd": "0 + C(herd)"}``); each entry is one variance
            parameter, in dict order, and its columns are realizations sharing it.
        data : pandas.DataFrame
            Rows with a missing value in any variable used are dropped.
        vcp_p, fe_p : float
            Prior SDs.
        family : Family, optional
            Binomial (default for :class:`MixedGLM`) or Poisson.

        Returns
        -------
        MixedGLM (or the subclass it is called on)
        """
        fam = cls._formula_family(family)
        X, xnames, y, trials, offset, Z, ident, vnames, znames, used = _formula_design(formula, vc_formulas, data, fam)
        kwargs: dict[str, Any] = {}
        if cls._fixed_family is None:
            kwargs["family"] = fam
        if trials is not None:
            kwargs["trials"] = trials
        model = cls(
            y,
            X,
            Z,
            ident,
            vcp_p=vcp_p,
            fe_p=fe_p,
            fep_names=xnames,
            vcp_names=list(vcp_names) if vcp_names is not None else vnames,
            vc_names=list(vc_names) if vc_names is not None else znames,
            offset=offset if np.any(offset != 0) else None,
            **kwargs,
        )
        model.formula = formula
        model.vc_formulas = dict(vc_formulas)
        model.data = data
        model.used_rows = used
        return model

    @classmethod
    def _formula_family(cls, family: Any) -> Any:
        """The family of ``from_formula``: given (``MixedGLM``) or fixed by the subclass."""
        if cls._fixed_family is None:
            return _family(family)
        if family is not None:
            raise MixedLMError(f"{cls.__name__}.from_formula takes no family (use MixedGLM.from_formula)")
        return _family(cls._fixed_family)

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__}: {self.family.name}({self.family.link.name}), n={self.nobs}, "
            f"{self.k_fep} fixed effects, {self.k_vcp} variance parameters, {self.k_vc} random effects>"
        )


class BinomialBayesMixedGLM(MixedGLM):
    """:class:`MixedGLM` with the binomial family (logit link unless ``link=`` is given)."""

    _fixed_family = "binomial"

    def __init__(
        self,
        endog: Any,
        exog: Any,
        exog_vc: Any,
        ident: Any,
        vcp_p: float = 1,
        fe_p: float = 2,
        fep_names: Sequence[str] | None = None,
        vcp_names: Sequence[str] | None = None,
        vc_names: Sequence[str] | None = None,
        *,
        link: str = "logit",
        trials: Any = None,
        offset: Any = None,
    ) -> None:
        from mixedlm import families as fams

        super().__init__(
            endog,
            exog,
            exog_vc,
            ident,
            family=fams.Binomial(link=link),
            vcp_p=vcp_p,
            fe_p=fe_p,
            fep_names=fep_names,
            vcp_names=vcp_names,
            vc_names=vc_names,
            trials=trials,
            offset=offset,
        )


class PoissonBayesMixedGLM(MixedGLM):
    """:class:`MixedGLM` with the Poisson family (log link unless ``link=`` is given)."""

    _fixed_family = "poisson"

    def __init__(
        self,
        endog: Any,
        exog: Any,
        exog_vc: Any,
        ident: Any,
        vcp_p: float = 1,
        fe_p: float = 2,
        fep_names: Sequence[str] | None = None,
        vcp_names: Sequence[str] | None = None,
        vc_names: Sequence[str] | None = None,
        *,
        link: str = "log",
        offset: Any = None,
    ) -> None:
        from mixedlm import families as fams

        super().__init__(
            endog,
            exog,
            exog_vc,
            ident,
            family=fams.Poisson(link=link),
            vcp_p=vcp_p,
            fe_p=fe_p,
            fep_names=fep_names,
            vcp_names=vcp_names,
            vc_names=vc_names,
            offset=offset,
        )


# --------------------------------------------------------------------------------------
# Formula design
# --------------------------------------------------------------------------------------


def _formula_design(formula: str, vc_formulas: dict[str, str], data: pd.DataFrame, family: Any) -> tuple:
    """Fixed design, response and the stacked variance-component columns from formulas.

    One model frame (:func:`mixedlm.design.frame.build_model_frame` with ``vc_formulas``)
    decides the rows: a row is used only when no variable of the formula or of any
    variance component is missing there and no expression evaluates to NaN.
    """
    from mixedlm.design.frame import as_pandas_frame, build_model_frame
    from mixedlm.formula.parser import parse_formula

    if not isinstance(formula, str):
        raise MixedLMError(f"formula must be a string like 'y ~ x', not {type(formula).__name__}")
    if not isinstance(vc_formulas, dict) or not vc_formulas:
        raise MixedLMError(
            "vc_formulas must be a non-empty dict: name -> one-sided formula, e.g. {'herd': '0 + C(herd)'}"
        )
    data = as_pandas_frame(data)
    parsed = parse_formula(formula, require_random=False)
    if parsed.random:
        raise MixedLMError(
            "the fixed-effects formula of a Bayesian mixed GLM has no (x | g) terms; give "
            "random effects through vc_formulas, or use glmer(..., method='vb')"
        )
    frame = build_model_frame(
        parsed, data, binary_factor_ok=family.name == "binomial", allow_nlev_equal_nobs=True, vc_formulas=vc_formulas
    )
    used = frame.used_rows
    y = np.asarray(frame.y, dtype=np.float64)
    trials = None if frame.trials is None else np.asarray(frame.trials, dtype=np.float64)
    if trials is not None:
        if family.name != "binomial":
            raise DataError(
                f"the response {parsed.response!r} is a binomial (successes, trials) response "
                f"but the family is {family.name}"
            )
        y = y * trials  # successes, with trials=
    for comp in frame.vc:
        if comp.size == 0:
            raise DataError(f"vc_formulas[{comp.name!r}] gives no non-zero columns on the data")
    Z, ident, vcp_names, vc_names = stack_components(frame.vc)
    return (
        np.asarray(frame.X, dtype=np.float64),
        list(frame.X_names),
        y,
        trials,
        np.asarray(frame.offset, dtype=np.float64),
        Z,
        ident,
        vcp_names,
        vc_names,
        used,
    )


# --------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------


class BayesMixedGLMResults:
    """Posterior summaries from :meth:`MixedGLM.fit_map` or :meth:`MixedGLM.fit_vb`.

    Attributes
    ----------
    model : MixedGLM
    method : str
        ``"map"`` or ``"vb"``.
    params : numpy.ndarray
        Posterior mode (MAP) or variational means, packed ``(fep, vcp, vc)``.
    fe_mean, fe_sd : numpy.ndarray
        Fixed effects: posterior mean/mode and SD.
    vcp_mean, vcp_sd : numpy.ndarray
        Log standard deviations of the random effects: posterior mean/mode and SD.
    vc_mean, vc_sd : numpy.ndarray
        Random-effect realizations: posterior mean/mode and SD.
    objective : float
        Log posterior ``log p(y, fep, vcp, vc)`` at the mode (MAP) or the ELBO (VB), both with
        all normalising constants; also available as :attr:`log_posterior` / :attr:`elbo`.
    converged : bool
    n_iter : int
    message : str
    collapsed : list of str
        Variance components at a collapsed mode (MAP).
    optim_info : dict
        Engine diagnostics.
    """

    def __init__(self, model: MixedGLM, fit: engine.BayesFit) -> None:
        self.model = model
        self.method = fit.method
        self.params = fit.mean.copy()
        self.fe_mean, self.vcp_mean, self.vc_mean = (a.copy() for a in model._unpack(fit.mean))
        self.fe_sd, self.vcp_sd, self.vc_sd = (a.copy() for a in model._unpack(fit.sd))
        self._cov = fit.cov
        self._sd = fit.sd.copy()
        self.objective = float(fit.objective)
        self.converged = bool(fit.converged)
        self.n_iter = int(fit.iterations)
        self.message = fit.message
        self.collapsed = [model.vcp_names[c] for c in fit.collapsed]
        self.optim_info = dict(fit.info)

    @property
    def log_posterior(self) -> float:
        """``log p(y, fep, vcp, vc)`` at the mode (MAP fits)."""
        if self.method != "map":
            raise AttributeError("log_posterior is reported by fit_map(); a VB fit reports elbo")
        return self.objective

    @property
    def elbo(self) -> float:
        """The evidence lower bound (VB fits)."""
        if self.method != "vb":
            raise AttributeError("elbo is reported by fit_vb(); a MAP fit reports log_posterior")
        return self.objective

    @property
    def names(self) -> list[str]:
        """Names of the packed parameters ``(fep, vcp, vc)``."""
        return list(self.model.fep_names) + list(self.model.vcp_names) + list(self.model.vc_names)

    def cov_params(self) -> pd.DataFrame | pd.Series:
        """Posterior covariance.

        MAP: the full inverse negative Hessian as a DataFrame (for very large models only its
        diagonal, as a Series).  VB: the (diagonal) variances as a Series, as statsmodels.
        """
        names = self.names
        if self._cov is not None:
            return pd.DataFrame(self._cov, index=names, columns=names)
        return pd.Series(self._sd**2, index=names)

    def random_effects(self, term: str | int | None = None) -> pd.DataFrame:
        """Posterior means and SDs of the random-effect realizations.

        Parameters
        ----------
        term : str or int, optional
            A variance parameter (a name in ``vcp_names`` or its position) to select its
            realizations; all by default.

        Returns
        -------
        pandas.DataFrame
            Columns ``Mean`` and ``SD`` indexed by ``vc_names``.
        """
        idx = np.arange(self.model.k_vc)
        if term is not None:
            names = list(self.model.vcp_names)
            if isinstance(term, (int, np.integer)) and not isinstance(term, bool):
                if not 0 <= int(term) < len(names):
                    raise MixedLMError(
                        f"term {term} is out of range: the model has {len(names)} variance "
                        f"parameters ({', '.join(names)})"
                    )
                k = int(term)
            elif term in names:
                k = names.index(term)
            else:
                raise MixedLMError(f"unknown term {term!r}; the variance parameters are {names}")
            idx = np.flatnonzero(self.model.ident == k)
        return pd.DataFrame(
            {"Mean": self.vc_mean[idx], "SD": self.vc_sd[idx]}, index=[self.model.vc_names[i] for i in idx]
        )

    def predict(self, exog: Any = None, linear: bool = False, exog_vc: Any = None, offset: Any = None) -> np.ndarray:
        """Predicted means (or linear predictors) at the posterior mean/mode.

        Parameters
        ----------
        exog : array_like, optional
            Fixed-effects rows; the model's by default.
        linear : bool
            Return the linear predictor ``η`` instead of the mean ``g⁻¹(η)``.
        exog_vc : array_like or sparse, optional
            Random-effects rows (``q`` columns) for *conditional* predictions
            ``η = x'fe_mean + z'vc_mean``; without it the prediction uses the fixed effects only
            (statsmodels' behaviour).  Pass ``model.exog_vc`` for the fitted rows.
        offset : array_like, optional
            Offset; the model's by default when ``exog`` is None.

        Returns
        -------
        numpy.ndarray
        """
        return self.model.predict(self.params, exog=exog, linear=linear, exog_vc=exog_vc, offset=offset)

    def summary(self) -> Summary2:
        """statsmodels' table (Type M/V, Post. Mean, Post. SD, SD, SD (LB), SD (UB)) with the objective."""
        m = self.model
        k_fe, k_v = m.k_fep, m.k_vcp
        mean = np.concatenate([self.fe_mean, self.vcp_mean])
        sd = np.concatenate([self.fe_sd, self.vcp_sd])
        sdcol = [""] * k_fe + [f"{math.exp(x):.3f}" for x in self.vcp_mean]
        lb = [""] * k_fe + [f"{math.exp(a - 2 * b):.3f}" for a, b in zip(self.vcp_mean, self.vcp_sd)]
        ub = [""] * k_fe + [f"{math.exp(a + 2 * b):.3f}" for a, b in zip(self.vcp_mean, self.vcp_sd)]
        table = pd.DataFrame(
            {
                "Type": ["M"] * k_fe + ["V"] * k_v,
                "Post. Mean": mean,
                "Post. SD": sd,
                "SD": sdcol,
                "SD (LB)": lb,
                "SD (UB)": ub,
            },
            index=list(m.fep_names) + list(m.vcp_names),
        )
        title = f"{type(m.family).__name__} Mixed GLM Results"
        extra = [
            "Parameter types are mean structure (M) and variance structure (V)",
            "Variance parameters are modeled as log standard deviations",
        ]
        link = m.family.link.name
        if (m.family.name, link) not in (("binomial", "logit"), ("poisson", "log")):
            extra.append(f"Link: {link}")
        if self.method == "map":
            extra.append(f"Posterior mode (Laplace approximation); log posterior = {self.objective:.4f}")
        else:
            extra.append(f"Mean-field variational Bayes; ELBO = {self.objective:.4f}")
        if self.collapsed:
            extra.append("Collapsed mode for " + ", ".join(self.collapsed) + " (random effects ≈ 0; see the warning)")
        if not self.converged:
            extra.append(f"Warning: not converged ({self.message})")
        return Summary2(title, table, extra_txt=extra, formats={"Post. Mean": "{:.4f}", "Post. SD": "{:.4f}"})

    def __repr__(self) -> str:
        what = "log posterior" if self.method == "map" else "ELBO"
        return f"<BayesMixedGLMResults {self.method}: {what} = {self.objective:.4f}>"


# --------------------------------------------------------------------------------------
# The glmer front end
# --------------------------------------------------------------------------------------


def fit_glmer_bayes(
    setup: Any, method: str, vcp_p: float = 1, fe_p: float = 2, **fit_args: Any
) -> BayesMixedGLMResults:
    """Fit a ``glmer`` design by the Bayesian engines (``method="map"`` or ``"vb"``).

    Parameters
    ----------
    setup : GlmmSetup
        Output of :func:`mixedlm.glmer.build_glmm` (response, trials/weights, offset, ``X``
        and the random-effects structure).
    method : {"map", "vb"}
    vcp_p, fe_p : float
        Prior SDs (statsmodels' defaults).
    **fit_args
        Passed to :meth:`MixedGLM.fit_map` / :meth:`MixedGLM.fit_vb`.

    Returns
    -------
    BayesMixedGLMResults
        Its ``model`` is the :class:`MixedGLM` built from the design (``model.formula`` set).
    """
    method = str(method).lower()
    if method not in ("map", "vb"):
        raise MixedLMError(f"method must be 'map' or 'vb' for the Bayesian fits, not {method!r}")
    Z, ident, vcp_names, vc_names = stack_components(vc_from_re_structure(setup.re, int(setup.y.shape[0])))
    fam = setup.family
    if fam.name not in ("binomial", "poisson"):
        raise MixedLMError(f"method={method!r} supports the binomial and Poisson families, not {fam.name}")
    X = np.asarray(setup.fe.X, dtype=np.float64)
    y = np.asarray(setup.y, dtype=np.float64)
    w = np.asarray(setup.prior_weights, dtype=np.float64)
    offset = np.asarray(setup.frame.offset, dtype=np.float64)
    model = MixedGLM(
        None,
        X,
        Z,
        ident,
        family=fam,
        vcp_p=vcp_p,
        fe_p=fe_p,
        fep_names=list(setup.fe.names),
        vcp_names=vcp_names,
        vc_names=vc_names,
        offset=offset if np.any(offset != 0) else None,
        _prepared=(y, w),
    )
    model.formula = setup.frame.parsed.formula
    if method == "map":
        return model.fit_map(**fit_args)
    return model.fit_vb(**fit_args)
