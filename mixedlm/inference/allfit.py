"""Refit a model with every available optimizer (lme4's ``allFit``).

A fit is only as good as its optimizer's stopping point.  ``allFit`` re-runs the
optimization stage of a fitted model once per optimizer of
:func:`mixedlm.optim.registry.available_optimizers` — from the usual starting values
(lme4's start for θ; for GLMMs the stage-1 ``nAGQ = 0`` fit then ``(θ, β)``), not from
the fit's estimates — reusing the fit's design (nothing is re-parsed).  If the
optimizers agree on the objective (−2 log-likelihood or the REML criterion) the
optimum is trustworthy even when a convergence check complained; if they disagree,
the model or the data need attention.

GLMM stages.  ``GlmerControl.optimizer`` may be a pair (stage 1, stage 2).  By default
(``stages="second"``) the optimizer under test replaces the *second* stage — the
Laplace / AGQ optimization over ``(θ, β)`` that gives the reported estimates — and
stage 1 keeps the fit's own stage-1 optimizer, so that every refit starts stage 2
from the same point.  ``stages="both"`` uses it for both stages, as lme4's
``allFit`` does (it sets ``glmerControl(optimizer = <one name>)``).  For ``nAGQ = 0``
there is only the first stage, and it is the one replaced.  A ``glmer_nb`` fit is
refitted at its estimated negative-binomial θ (as lme4, whose ``update`` of a
``glmer.nb`` fit keeps θ fixed).

Failures are caught per optimizer: :attr:`AllFit.fits` maps the name to the fitted
model or to the exception raised.  Warnings raised during a refit (convergence,
singular fit) are recorded, not re-emitted, and appear in the summary's messages
together with the messages of :func:`mixedlm.checkConv` on the refit.

The summary (:meth:`AllFit.summary`) is lme4's ``summary(allFit(...))``: which refits
succeeded, their messages, log-likelihoods and their spread
``max ℓ − min ℓ``, and tables (rows = optimizers) of fixed effects, standard
deviations / correlations (in θ's order, plus ``sigma`` for models with a
residual scale), θ, elapsed seconds and objective evaluations.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mixedlm.errors import MixedLMError
from mixedlm.inference.anova import _check_fit
from mixedlm.results.interface import MixedFit

__all__ = ["AllFit", "AllFitSummary", "allFit"]


@dataclass
class AllFitSummary:
    """lme4's ``summary(allFit(fit))``.

    Attributes
    ----------
    which_OK : pandas.Series of bool
        Per optimizer: the refit ran without an error.
    msgs : dict of str to list of str
        Per successful optimizer: recorded warnings and ``checkConv`` messages
        (empty list = clean).
    converged : pandas.Series of bool
        Per successful optimizer: the optimizer itself reported convergence.
    fixef : pandas.DataFrame
        Fixed effects (rows = optimizers).
    llik : pandas.Series
        Log-likelihood (the REML log-likelihood for REML fits).
    llik_spread : float
        ``max(llik) − min(llik)`` over the successful refits.
    sdcor : pandas.DataFrame
        Standard deviations and correlations in θ's order, then ``sigma`` (rows =
        optimizers).
    theta : pandas.DataFrame
        θ in lme4's order and names.
    times : pandas.Series
        Elapsed seconds of each refit.
    feval : pandas.Series
        Objective evaluations of the final optimization stage (lme4's ``optinfo$feval``).
    errors : dict of str to str
        Per failed optimizer: the error message.
    """

    which_OK: pd.Series
    msgs: dict[str, list[str]]
    converged: pd.Series
    fixef: pd.DataFrame
    llik: pd.Series
    llik_spread: float
    sdcor: pd.DataFrame
    theta: pd.DataFrame
    times: pd.Series
    feval: pd.Series
    errors: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        with pd.option_context("display.width", 100, "display.max_columns", 20):
            ok = self.which_OK
            lines = [f"optimizers ({len(ok)}): {', '.join(ok.index)}"]
            if self.errors:
                lines.append(f"{len(self.errors)} optimizer(s) failed:")
                lines.extend(f"  {k}: {v}" for k, v in self.errors.items())
            lines.append("messages:")
            for k, m in self.msgs.items():
                lines.append(f"  {k}: " + ("(none)" if not m else " | ".join(m)))
            lines.append("")
            lines.append("log-likelihoods (max - min = " + f"{self.llik_spread:.3g}):")
            lines.append(self.llik.to_string(float_format=lambda v: f"{v:.6f}"))
            for title, tab in (("fixed effects:", self.fixef), ("sd / cor:", self.sdcor), ("theta:", self.theta)):
                lines += ["", title, tab.to_string(float_format=lambda v: f"{v:.6g}")]
            lines += [
                "",
                "elapsed seconds and evaluations:",
                pd.DataFrame({"elapsed": self.times, "feval": self.feval}).to_string(float_format=lambda v: f"{v:.3f}"),
            ]
        return "\n".join(lines)


@dataclass
class AllFit:
    """The refits of :func:`allFit` (a read-only mapping optimizer name → fit or exception).

    Attributes
    ----------
    fit : MixedFit
        The original model.
    fits : dict
        Optimizer name → refitted model, or the exception its refit raised.
    times : dict
        Optimizer name → elapsed seconds.
    warnings : dict
        Optimizer name → texts of the warnings raised during its refit.
    stages : str
        ``"second"`` or ``"both"`` (GLMMs; see the module docstring).
    """

    fit: MixedFit
    fits: dict[str, Any]
    times: dict[str, float]
    warnings: dict[str, list[str]]
    stages: str = "second"
    check_conv: bool = True

    def __getitem__(self, name: str) -> Any:
        return self.fits[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.fits)

    def __len__(self) -> int:
        return len(self.fits)

    @property
    def ok(self) -> dict[str, Any]:
        """The successful refits."""
        return {k: v for k, v in self.fits.items() if not isinstance(v, BaseException)}

    def _messages(self, name: str, fit: MixedFit) -> list[str]:
        msgs = list(dict.fromkeys(self.warnings.get(name, [])))
        if self.check_conv:
            from mixedlm.inference.checkconv import checkConv

            try:
                found = checkConv(fit).messages
            except Exception as exc:  # pragma: no cover - a check that cannot run is itself a message
                found = [f"checkConv failed: {exc}"]
            singular = any(m.startswith("boundary (singular) fit") for m in msgs)
            for m in found:
                if singular and m.startswith("boundary (singular) fit"):
                    continue
                if m not in msgs:
                    msgs.append(m)
        return msgs

    def summary(self) -> AllFitSummary:
        """lme4's ``summary(allFit(...))`` (see :class:`AllFitSummary`)."""
        names = list(self.fits)
        ok = {k: v for k, v in self.fits.items() if not isinstance(v, BaseException)}
        which_ok = pd.Series([k in ok for k in names], index=names, dtype=bool, name="which_OK")
        errors = {k: f"{type(v).__name__}: {v}" for k, v in self.fits.items() if k not in ok}
        okn = list(ok)
        fixef = (
            pd.DataFrame([ok[k].fixef().to_numpy() for k in okn], index=okn, columns=list(self.fit.setup.fe.names))
            if okn
            else pd.DataFrame()
        )
        llik = pd.Series([float(ok[k].logLik()) for k in okn], index=okn, dtype=float, name="logLik")
        sdcor = pd.DataFrame([ok[k].sdcor() for k in okn], index=okn) if okn else pd.DataFrame()
        theta = (
            pd.DataFrame([ok[k].theta for k in okn], index=okn, columns=list(self.fit.theta_names))
            if okn
            else pd.DataFrame()
        )
        times = pd.Series([self.times[k] for k in okn], index=okn, dtype=float, name="elapsed")
        feval = pd.Series([int(ok[k].optinfo.feval) for k in okn], index=okn, dtype=int, name="feval")
        conv = pd.Series([bool(ok[k].optinfo.converged) for k in okn], index=okn, dtype=bool, name="converged")
        spread = float(llik.max() - llik.min()) if okn else float("nan")
        msgs = {k: self._messages(k, ok[k]) for k in okn}
        return AllFitSummary(
            which_OK=which_ok,
            msgs=msgs,
            converged=conv,
            fixef=fixef,
            llik=llik,
            llik_spread=spread,
            sdcor=sdcor,
            theta=theta,
            times=times,
            feval=feval,
            errors=errors,
        )

    def __str__(self) -> str:
        """lme4's ``print(allFit(...))``: the model, the optimizers and the spread of −logLik."""
        ok = self.ok
        lines = ["original model:", str(self.fit.formula)]
        call = self.fit.call or {}
        label = call.get("data_name") or self.fit.setup.data_name
        if label:
            lines.append(f"data:  {label}")
        lines.append(f"optimizers ({len(self.fits)}): {', '.join(self.fits)}")
        bad = len(self.fits) - len(ok)
        if bad:
            lines.append(f"{bad} optimizer(s) failed")
        nll = np.array([-float(f.logLik()) for f in ok.values()])
        lines.append("differences in negative log-likelihoods:")
        if nll.size:
            sd = float(np.std(nll, ddof=1)) if nll.size > 1 else float("nan")
            lines.append(f"max= {float(np.max(nll - nll.min())):.3g} ; std dev= {sd:.3g}")
        return "\n".join(lines)

    __repr__ = __str__


def allFit(
    fit: MixedFit,
    optimizers: Sequence[str] | None = None,
    *,
    data: Any = None,
    stages: str = "second",
    maxfun: int | None = None,
    check_conv: bool = True,
    catch_errors: bool = True,
    verbose: bool = False,
) -> AllFit:
    """Refit a model with every optimizer and collect the results (lme4's ``allFit``).

    Parameters
    ----------
    fit : MixedFit
        A fitted model.
    optimizers : sequence of str, optional
        Names from :func:`mixedlm.optim.registry.available_optimizers` (default: all).
    data : pandas.DataFrame, optional
        Accepted for lme4 compatibility (its ``allFit(data=)``).  The refits reuse the
        fitted design, so the data are not needed; if given, they must have the number
        of rows the model was fitted to.
    stages : {"second", "both"}
        GLMMs: replace the second-stage optimizer only (default) or both stages (as lme4).
    maxfun : int, optional
        Evaluation limit for every refit (default: the fit's ``control.maxfun``).
    check_conv : bool, default True
        Run :func:`mixedlm.checkConv` on every refit and add its messages to the summary.
    catch_errors : bool, default True
        Record an optimizer's exception instead of raising it (lme4's ``catch.errs``).
    verbose : bool, default False
        Print ``name : [OK]`` / ``[failed]`` as lme4 does.

    Returns
    -------
    AllFit
        ``.fits`` (name → fit or exception), ``.summary()``, printable.

    Raises
    ------
    MixedLMError
        Unknown optimizer names or ``stages``, or ``data`` of the wrong size.
    """
    _check_fit(fit, "allFit")
    from mixedlm.optim.registry import available_optimizers

    known = available_optimizers()
    names = list(known) if optimizers is None else [str(o) for o in optimizers]
    if isinstance(optimizers, str):
        names = [optimizers]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise MixedLMError(f"unknown optimizer(s) {unknown}; available: {known}")
    if not names:
        raise MixedLMError("allFit() needs at least one optimizer")
    if stages not in ("second", "both"):
        raise MixedLMError(f"stages must be 'second' or 'both', not {stages!r}")
    if data is not None and len(data) != fit.setup.frame.n_input:
        raise MixedLMError(
            f"data has {len(data)} rows but the model was fitted to a frame of "
            f"{fit.setup.frame.n_input} rows; allFit refits the fitted design and needs no data"
        )
    fits: dict[str, Any] = {}
    times: dict[str, float] = {}
    caught: dict[str, list[str]] = {}
    for name in names:
        if verbose:
            print(f"{name} : ", end="", flush=True)
        t0 = time.perf_counter()
        with warnings.catch_warnings(record=True) as rec:
            warnings.simplefilter("always")
            try:
                control = fit.optimizer_control(name, stages=stages, maxfun=maxfun)
                result: Any = fit.refit(control=control, start="call")
            except Exception as exc:
                if not catch_errors:
                    raise
                result = exc
        times[name] = time.perf_counter() - t0
        caught[name] = [str(w.message) for w in rec]
        fits[name] = result
        if verbose:
            print("[failed]" if isinstance(result, BaseException) else "[OK]", flush=True)
    return AllFit(fit=fit, fits=fits, times=times, warnings=caught, stages=stages, check_conv=check_conv)
