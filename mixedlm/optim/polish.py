"""Newton polish after a derivative-free optimizer: the optimum, not its neighbourhood.

BOBYQA stops when its trust region or the change of the objective falls below a
tolerance, typically with a remaining Newton step of ``1e-4``–``1e-3`` standard
errors.  For an objective ``f = −2 log L`` that is smooth to rounding (the GLMM
deviances, :mod:`mixedlm.engines.pirls`), a few Newton steps from there reach the
optimum to the accuracy the objective allows:

1. gradient ``g`` and Hessian ``H`` by finite differences at steps ``h`` (a small
   multiple of each parameter's scale; :func:`~mixedlm.optim.derivatives.forward_pair_hessian`);
2. the Newton step ``s = H⁻¹g`` over the free parameters (those not held on a
   bound — a parameter on its lower bound whose one-sided slope is not negative
   stays there);
3. the *scaled gradient* ``max_i |s_i| / se_i``, with ``se_i = √(2 (H⁻¹)_ii)`` the
   standard error implied by ``H`` (``f`` is −2 log L): the remaining distance to the
   optimum in standard errors.  Stop when it is below ``tol`` (default ``1e-6``);
4. otherwise take the step (halved while the objective does not fall; projected
   onto the bounds).  When a full step from a scaled gradient below
   :data:`PREDICT_BELOW` lowered the objective as the quadratic model predicted
   (within a factor 1.5), the scaled gradient left is at most
   ``HESSIAN_REL_ERROR · sg + sg²``; if that is below ``tol`` the polish stops
   (``measured=False``; :func:`mixedlm.checkConv` later measures it at the final
   point with an accurate Hessian).  Otherwise the gradient at the new point is
   recomputed by forward differences corrected with the known curvature,
   ``g_i ≈ (f(x + h_i e_i) − f(x)) / h_i − H_ii h_i / 2`` (``P`` evaluations), and the
   step repeated with the same ``H`` (a chord iteration: linear convergence at the
   rate of the Hessian's relative error, ~1e-3 here).

A step is accepted only when the objective falls, so the polish never makes the
optimum worse.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from mixedlm.optim.derivatives import forward_pair_hessian

Objective = Callable[[np.ndarray], float]

#: Relative rounding level of an objective value: a predicted decrease below
#: ``ROUNDING · |f|`` cannot be observed.
ROUNDING = 1e-14
#: Relative error assumed for the polish's Hessian (one-sided off-diagonal differences at
#: 1e-3 standard errors): after a full Newton step that decreased the objective as the
#: quadratic model predicted, the scaled gradient left is at most this times the previous
#: one plus its square.
HESSIAN_REL_ERROR = 1e-3
#: That prediction replaces a measured gradient only when the previous scaled gradient
#: was below this.
PREDICT_BELOW = 1e-3


@dataclass
class PolishResult:
    """Outcome of :func:`newton_polish`.

    Attributes
    ----------
    x : numpy.ndarray
        Polished parameters.
    fmin : float
        Objective at ``x``.
    scaled_gradient_start, scaled_gradient : float
        ``max_i |(H⁻¹g)_i| / se_i`` before and after the polish (NaN when not computed).
    iterations : int
        Newton steps taken.
    evaluations : int
        Objective evaluations used.
    converged : bool
        The scaled gradient reached ``tol`` (or the objective could not be lowered
        further at rounding level).
    message : str
        What happened.
    hessian : numpy.ndarray
        The Hessian used (full ``P×P``; rows of held parameters as computed).
    free : numpy.ndarray
        Boolean mask of the parameters the polish moved freely.
    measured : bool
        Whether ``scaled_gradient`` was measured at ``x`` (True) or predicted from the
        last Newton step (see step 4 of the module docstring).
    se : numpy.ndarray
        Standard errors implied by ``hessian`` over the free parameters (NaN elsewhere).
    """

    x: np.ndarray
    fmin: float
    scaled_gradient_start: float = float("nan")
    scaled_gradient: float = float("nan")
    iterations: int = 0
    evaluations: int = 0
    converged: bool = False
    message: str = ""
    hessian: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    free: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    se: np.ndarray = field(default_factory=lambda: np.zeros(0))
    measured: bool = True

    def as_dict(self) -> dict:
        """JSON-friendly summary (for :class:`~mixedlm.optim.optsummary.OptSummary`)."""
        return {
            "scaled_gradient_start": float(self.scaled_gradient_start),
            "scaled_gradient": float(self.scaled_gradient),
            "iterations": int(self.iterations),
            "evaluations": int(self.evaluations),
            "converged": bool(self.converged),
            "measured": bool(self.measured),
            "message": self.message,
        }


def _newton(H: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray, float] | None:
    """``(s = H⁻¹g, se, scaled gradient)``, or None when ``H`` is not positive definite."""
    try:
        C = np.linalg.cholesky(H)
    except np.linalg.LinAlgError:
        return None
    Ci = np.linalg.inv(C)
    Hinv = Ci.T @ Ci
    s = Hinv @ g
    se = np.sqrt(2.0 * np.diag(Hinv))
    return s, se, float(np.max(np.abs(s) / se)) if s.size else 0.0


def newton_polish(
    fun: Objective,
    x0: np.ndarray,
    f0: float,
    lower: np.ndarray,
    scale: np.ndarray,
    tol: float = 1e-6,
    rel_step: float = 1e-3,
    maxit: int = 5,
) -> PolishResult:
    """Polish a derivative-free optimum with Newton steps (see module docstring).

    Parameters
    ----------
    fun : callable
        Objective ``f(x)`` (−2 log-likelihood scale).
    x0 : numpy.ndarray
        The optimizer's point; ``f0 = fun(x0)``.
    lower : numpy.ndarray
        Lower bounds (``-inf`` where none).
    scale : numpy.ndarray
        A rough standard error per parameter; finite-difference steps are
        ``rel_step · scale``.
    tol : float
        Target scaled gradient.
    maxit : int
        Maximum Newton steps.
    """
    x = np.array(x0, dtype=np.float64)
    f = float(f0)
    P = x.shape[0]
    lower = np.asarray(lower, dtype=np.float64)
    h = rel_step * np.asarray(scale, dtype=np.float64)
    evals = 0
    # parameters on their bound stay there unless the objective falls into the interior
    free = np.ones(P, dtype=bool)
    for i in np.flatnonzero(np.isfinite(lower) & (x <= lower)):
        e = np.zeros(P)
        e[i] = h[i]
        evals += 1
        if fun(x + e) >= f:
            free[i] = False
    res = PolishResult(x=x, fmin=f, free=free, se=np.full(P, np.nan), hessian=np.full((P, P), np.nan))
    if not free.any():
        res.converged, res.message, res.evaluations, res.scaled_gradient = True, "all parameters on bounds", evals, 0.0
        return res
    idx = np.flatnonzero(free)

    def sub(v: np.ndarray) -> np.ndarray:
        full = x.copy()
        full[idx] = v
        return full

    g, H, n = forward_pair_hessian(lambda v: fun(sub(v)), x[idx], h[idx], f)
    evals += n
    res.hessian[np.ix_(idx, idx)] = H
    newton = _newton(H, g)
    if newton is None:
        res.message = "Hessian not positive definite at the optimizer's point: not polished"
        res.evaluations = evals
        return res
    s, se, sg = newton
    res.se[idx] = se
    res.scaled_gradient_start = sg
    it = 0
    message = "scaled gradient below tolerance"
    rounding_stop = False
    measured = True
    while sg > tol and it < maxit:
        step, accepted = 1.0, False
        for _ in range(6):
            trial = np.maximum(x[idx] - step * s, lower[idx])
            ft = fun(sub(trial))
            evals += 1
            if ft < f:
                accepted = True
                break
            step *= 0.5
        if not accepted:
            # the predicted decrease ½ gᵀH⁻¹g is below the objective's rounding level: nothing to gain
            rounding_stop = 0.5 * float(g @ s) <= ROUNDING * (abs(f) + 1.0)
            message = f"no further decrease along the Newton step (scaled gradient {sg:.2g}" + (
                ", at the objective's rounding level)" if rounding_stop else ")"
            )
            break
        it += 1
        predicted = 0.5 * float(g @ s)
        decrease = f - ft
        x = sub(trial)
        f = ft
        clipped = bool(np.any(trial <= lower[idx]))
        if (
            step == 1.0
            and not clipped
            and sg <= PREDICT_BELOW
            and (predicted <= 1e3 * ROUNDING * (abs(f) + 1.0) or 0.5 <= decrease / predicted <= 1.5)
        ):
            # a full step that behaved as the quadratic model said: the remaining scaled gradient is
            # the Hessian's relative error times the previous one (plus the quadratic term)
            sg_next = HESSIAN_REL_ERROR * sg + sg * sg
            if sg_next <= tol:
                sg, measured = sg_next, False
                message = "scaled gradient below tolerance (predicted after a full Newton step)"
                break
        gn = np.empty(idx.shape[0])
        for k, i in enumerate(idx):
            e = np.zeros(P)
            e[i] = h[i]
            gn[k] = (fun(x + e) - f) / h[i] - 0.5 * H[k, k] * h[i]
        evals += idx.shape[0]
        g = gn
        s = np.linalg.solve(H, g)
        sg = float(np.max(np.abs(s) / se))
    else:
        if sg > tol:
            message = f"stopped after {maxit} Newton steps with scaled gradient {sg:.2g}"
    res.x, res.fmin, res.iterations, res.evaluations = x, f, it, evals
    res.scaled_gradient = sg
    res.measured = measured
    res.converged = sg <= tol or rounding_stop
    res.message = message
    return res
