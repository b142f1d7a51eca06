"""The fitted generalized linear mixed model (lme4's ``glmerMod``)."""

from __future__ import annotations

import math
import warnings
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
from scipy.linalg import lapack

from mixedlm.engines.glmm import lme4_agq_constant
from mixedlm.errors import ConvergenceWarning, MixedLMError
from mixedlm.results.base import MixedModelFit


class GlmerFit(MixedModelFit):
    """A generalized linear mixed model fitted by :func:`mixedlm.glmer`.

    Attributes
    ----------
    setup : GlmmSetup
        Design stage output (frame, fixed and random structures, family).
    objective : GlmmObjective
        Deviance functions (reusable for profiling and refits).
    opt_stage1, opt : OptSummary or None
        The ``nAGQ = 0`` stage and the Laplace/AGQ stage.
    control : GlmerControl
    """

    def __init__(self, setup: Any, objective: Any, opt_stage1: Any, opt: Any, control: Any) -> None:
        self.setup = setup
        self.objective = objective
        self.opt_stage1 = opt_stage1
        self.opt = opt
        self.control = control
        self.nAGQ = objective.nAGQ
        if opt is None:  # nAGQ = 0
            self._theta = np.array(opt_stage1.final, dtype=np.float64)
            self._state = objective.state_theta(self._theta)
            self._beta = self._state.beta
            self._objective_value = self._state.laplace
            self._par = np.concatenate([self._theta, self._beta])
        else:
            self._par = np.array(opt.final, dtype=np.float64)
            self._theta, self._beta = objective.split(self._par)
            self._state = objective.state(self._par)
            self._objective_value = objective.value_at(self._par, self._state)
        self._b = []
        off = 0
        for t in setup.re.terms:
            uk = self._state.u[off:off + t.q].reshape(t.nlev, t.S)
            self._b.append(uk @ t.template(self._theta).T)
            off += t.q

    @cached_property
    def derivs(self) -> dict[str, np.ndarray] | None:
        """Finite-difference gradient and Hessian of the deviance over (θ, β) at the optimum.

        lme4's ``optinfo$derivs`` (its ``deriv12``). Computed on first use — by
        :meth:`vcov`, :meth:`summary` or :func:`mixedlm.checkConv` — rather than in
        every fit; None for ``nAGQ = 0`` fits or with ``GlmerControl(calc_derivs=False)``.
        """
        if self.opt is None or not self.control.calc_derivs:
            return None
        grad, H = self.objective.hessian(self._par)
        return {"gradient": grad, "Hessian": H}

    # ------------------------------------------------------------ facts
    @property
    def family(self) -> Any:
        """The response family."""
        return self.setup.family

    @property
    def sigma(self) -> float:
        """Residual scale: 1.0 for binomial, Poisson and negative binomial; otherwise lme4's
        ``sqrt(pwrss / n)`` with ``pwrss`` = Pearson statistic + ``‖û‖²``."""
        if not self.family.has_scale:
            return 1.0
        return math.sqrt((self._state.wrss + self._state.sqrL) / self.nobs)

    @property
    def _varcorr_scale(self) -> float:
        # lme4 scales the random-effects covariance by σ² for families with a scale parameter
        return self.sigma

    @property
    def _residual_sd(self) -> float | None:
        return self.sigma if self.family.has_scale else None

    def _linkinv(self, eta: np.ndarray) -> np.ndarray:
        return self.family.link.linkinv(eta)

    # ------------------------------------------------------ covariances
    @cached_property
    def _joint(self) -> Any:
        """Factor of the joint (random, fixed) penalized system at the final IRLS weights."""
        st = self._state
        pirls = self.objective.pirls
        mu_eta = self.family.link.mu_eta(st.eta)
        z = st.eta - pirls.offset + (pirls.y - st.mu) / mu_eta
        A = self.setup.builder.build(pirls.X, z, st.weights)
        from mixedlm.engines.lmm import make_factor

        fac = make_factor(A, self.control.engine)
        if not fac.factor(pirls.templates(self._theta)):
            raise MixedLMError("the fixed-effects cross-product is not positive definite at the estimates")
        return fac

    def _joint_factor(self) -> Any:
        return self._joint

    @cached_property
    def _vcov_rx(self) -> np.ndarray:
        """``(R_XᵀR_X)⁻¹`` from the penalized weighted system at the final IRLS weights."""
        fac = self._joint
        p = self.setup.fe.p
        RX = np.asfortranarray(np.tril(fac.fixed_factor()[:p, :p]))
        RXinv = lapack.dtrtri(RX, lower=1)[0]
        return RXinv.T @ RXinv

    def _vcov_beta(self) -> np.ndarray:
        """Covariance of β̂ (computed once; see :attr:`_vcov_hessian_or_rx`)."""
        return self._vcov_hessian_or_rx

    @cached_property
    def _vcov_hessian_or_rx(self) -> np.ndarray:
        """Covariance of β̂, as lme4's ``vcov``.

        With ``nAGQ ≥ 1`` and derivatives computed, lme4 (``use.hessian = TRUE``) uses
        the finite-difference Hessian ``H`` of the deviance over ``(θ, β)``:
        ``Var(β̂) = [2 H⁻¹]_ββ``.  Otherwise (``nAGQ = 0``, or a Hessian that is not
        positive definite — with a warning) ``(R_XᵀR_X)⁻¹`` from the final PIRLS system.
        """
        if self.derivs is not None:
            H = self.derivs["Hessian"]
            ev = np.linalg.eigvalsh(H)
            if np.all(np.isfinite(ev)) and ev.min() > 0:
                V = 2.0 * np.linalg.inv(H)
                nt = self.setup.re.n_theta
                return V[nt:, nt:]
            warnings.warn("the Hessian of the deviance is not positive definite at the estimates; standard "
                          "errors use the conditional (R_X) covariance instead — check convergence",
                          ConvergenceWarning, stacklevel=3)
        return self._vcov_rx

    def _cond_var_terms(self) -> list[np.ndarray]:
        fac = self._state.factor
        out = []
        for k, t in enumerate(self.setup.re.terms):
            C = fac.cond_cov_blocks(k)
            T = t.template(self._theta)
            out.append(np.matmul(np.matmul(T, C), T.T))
        return out

    # ------------------------------------------------------ likelihoods
    def _df(self) -> int:
        # lme4 counts the scale parameter, and the θ of a negative-binomial family
        extra = 1 if self.family.has_scale or self.family.name.startswith("Negative Binomial") else 0
        return self.setup.fe.p + self.setup.re.n_theta + extra

    def logLik(self, kind: str = "marginal") -> float:
        """Log-likelihood (Laplace / AGQ approximation) at the estimates.

        ``kind="marginal"`` (default) includes the family's normalizing constants at
        every ``nAGQ``, so values compare across ``nAGQ`` and with a GLM.
        ``kind="lme4"`` reproduces lme4's value, which omits them for ``nAGQ > 1``.
        """
        if kind not in ("marginal", "lme4"):
            raise MixedLMError(f"kind must be 'marginal' or 'lme4', not {kind!r}")
        return -0.5 * self.deviance(kind=kind)

    def deviance(self, kind: str = "marginal") -> float:
        """Deviance of the fit.

        Parameters
        ----------
        kind : {"marginal", "lme4", "conditional"}
            ``"marginal"``: −2 × the approximate marginal log-likelihood (what
            :meth:`logLik` uses; commensurate across ``nAGQ``).  ``"lme4"``: the
            −2 log-likelihood lme4 reports (equal to ``"marginal"`` for ``nAGQ ≤ 1``;
            without the normalizing constant for ``nAGQ > 1``).  ``"conditional"``:
            the sum of squared deviance residuals at the conditional modes — what
            lme4's ``deviance(fit)`` returns for a GLMM.
        """
        if kind == "marginal":
            return float(self._objective_value)
        if kind == "lme4":
            if self.nAGQ <= 1:
                return float(self._objective_value)
            pirls = self.objective.pirls
            return float(self._objective_value) + lme4_agq_constant(self.family, pirls.y, pirls.a)
        if kind == "conditional":
            return float(self._state.dev)
        raise MixedLMError(f"kind must be 'marginal', 'lme4' or 'conditional', not {kind!r}")

    # ------------------------------------------------------ per-row outputs
    def fitted(self) -> pd.Series:
        """Fitted means ``μ̂ = g⁻¹(η̂)`` (lme4's ``fitted``)."""
        return self._pad(self._state.mu, "fitted")

    def residuals(self, type: str = "deviance", scaled: bool = False) -> pd.Series:
        """Residuals: ``"deviance"`` (default, as lme4), ``"pearson"``, ``"response"`` or ``"working"``."""
        st, pirls = self._state, self.objective.pirls
        y, mu, a = pirls.y, st.mu, pirls.a
        if type == "deviance":
            d = self.family.dev_resids(y, mu, a)
            r = np.sign(y - mu) * np.sqrt(np.maximum(d, 0.0))
        elif type == "pearson":
            r = (y - mu) * np.sqrt(a / self.family.variance(mu))
        elif type == "response":
            r = y - mu
        elif type == "working":
            r = (y - mu) / self.family.link.mu_eta(st.eta)
        else:
            raise MixedLMError(f"residual type must be 'deviance', 'pearson', 'response' or 'working', "
                               f"not {type!r}")
        return self._pad(r, "residuals")

    # ------------------------------------------------------------- checks
    def warn_separation(self) -> None:
        """Warn about fixed effects that look completely separated (huge estimate, huge SE)."""
        if self.family.name not in ("binomial", "poisson") and not self.family.name.startswith("Negative"):
            return
        try:
            se = np.sqrt(np.diag(self._vcov_rx))  # cheap; the Hessian is not needed to spot separation
        except (MixedLMError, np.linalg.LinAlgError):
            return
        bad = [n for n, b, s in zip(self.setup.fe.names, self._beta, se)
               if abs(b) > 10 and (not np.isfinite(s) or s > 5 * abs(b))]
        if bad:
            warnings.warn(
                f"fixed effect(s) {', '.join(repr(b) for b in bad)} have very large estimates and standard "
                "errors: the response is probably completely separated by them (a level or range with "
                "only 0s or only 1s); their estimates are not meaningful — remove or merge the offending "
                "levels", ConvergenceWarning, stacklevel=4)

    # ------------------------------------------------------------- summary
    def summary(self) -> Any:
        """lme4-style summary (glmer layout); ``str()`` prints it."""
        from mixedlm.results.fit_summary import glmer_summary

        return glmer_summary(self)

    def __repr__(self) -> str:
        return (f"<GlmerFit {self.formula!r} {self.family.name}({self.family.link.name}), nAGQ={self.nAGQ}: "
                f"n={self.nobs}, logLik={self.logLik():.4f}>")
