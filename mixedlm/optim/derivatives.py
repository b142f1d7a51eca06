"""Finite-difference derivatives of an objective, with a measured accuracy.

Three schemes, all on a per-coordinate step vector ``h`` (natural choice: a small
multiple of each parameter's standard error, so that every direction changes the
objective by a comparable amount):

* :func:`deriv12` — lme4's ``deriv12``: central differences, four points per
  off-diagonal entry, one scalar step.  Kept for comparison with lme4.
* :func:`forward_pair_hessian` — central gradient and diagonal, one-sided
  off-diagonal entries (``1 + 2P + P(P−1)/2`` evaluations, off-diagonal error
  ``O(h)``): a cheap Hessian for Newton steps.
* :func:`richardson_hessian` — the symmetric scheme of :func:`central_hessian`
  (``1 + 2P + P(P−1)`` evaluations, error ``O(h²)``) at steps ``2h`` and ``h``,
  combined by Richardson extrapolation ``H = (4 H_h − H_2h) / 3``.  The size of the
  correction, ``|H − H_h|``, is reported as the error estimate: it bounds the
  truncation error of ``H_h`` and exposes rounding or solver noise in the
  objective (both make the two levels disagree), so it is a conservative estimate
  of the error of the extrapolated value.

With ``a = h_i e_i`` and ``b = h_j e_j`` the symmetric off-diagonal formula is

    H_ij ≈ [f(x+a+b) + f(x−a−b) − f(x+a) − f(x−a) − f(x+b) − f(x−b) + 2 f(x)] / (2 h_i h_j),

exact for quadratics and even in ``h``, so its error expands in ``h²`` as Richardson
extrapolation needs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

Objective = Callable[[np.ndarray], float]


def deriv12(fun: Objective, x: np.ndarray, delta: float = 1e-4) -> tuple[np.ndarray, np.ndarray]:
    """Central differences: gradient ``g_i = (f(x+δe_i) − f(x−δe_i)) / 2δ`` and Hessian

    ``H_ii = (f(x+δe_i) − 2f(x) + f(x−δe_i)) / δ²``,
    ``H_ij = (f(x+δe_i+δe_j) − f(x+δe_i−δe_j) − f(x−δe_i+δe_j) + f(x−δe_i−δe_j)) / 4δ²``
    — ``1 + 2P + 2P(P−1)`` evaluations for ``P`` parameters.
    """
    x = np.asarray(x, dtype=np.float64)
    P = x.shape[0]
    f0 = fun(x)
    g = np.empty(P)
    H = np.empty((P, P))
    for i in range(P):
        ei = np.zeros(P)
        ei[i] = delta
        fp, fm = fun(x + ei), fun(x - ei)
        g[i] = (fp - fm) / (2 * delta)
        H[i, i] = (fp - 2 * f0 + fm) / delta**2
        for j in range(i):
            ej = np.zeros(P)
            ej[j] = delta
            H[i, j] = H[j, i] = (fun(x + ei + ej) - fun(x + ei - ej) - fun(x - ei + ej) + fun(x - ei - ej)) / (
                4 * delta**2
            )
    return g, H


def _diagonal(
    fun: Objective, x: np.ndarray, h: np.ndarray, f0: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``f(x ± h_i e_i)``, the central gradient and the diagonal second differences."""
    P = x.shape[0]
    fp, fm = np.empty(P), np.empty(P)
    for i in range(P):
        e = np.zeros(P)
        e[i] = h[i]
        fp[i], fm[i] = fun(x + e), fun(x - e)
    g = (fp - fm) / (2.0 * h)
    d = (fp - 2.0 * f0 + fm) / (h * h)
    return fp, fm, g, d


def central_hessian(
    fun: Objective, x: np.ndarray, h: np.ndarray, f0: float | None = None
) -> tuple[np.ndarray, np.ndarray, int]:
    """Central gradient and symmetric-scheme Hessian at steps ``h`` (see module docstring).

    Returns
    -------
    g, H : numpy.ndarray
    evaluations : int
        Objective evaluations used (``1 + 2P + P(P−1)``, one fewer when ``f0`` is given).
    """
    x = np.asarray(x, dtype=np.float64)
    h = np.asarray(h, dtype=np.float64)
    P = x.shape[0]
    n = 0
    if f0 is None:
        f0, n = fun(x), 1
    fp, fm, g, d = _diagonal(fun, x, h, f0)
    n += 2 * P
    H = np.diag(d)
    for i in range(P):
        for j in range(i):
            e = np.zeros(P)
            e[i], e[j] = h[i], h[j]
            s = fun(x + e) + fun(x - e) - fp[i] - fm[i] - fp[j] - fm[j] + 2.0 * f0
            H[i, j] = H[j, i] = s / (2.0 * h[i] * h[j])
            n += 2
    return g, H, n


def forward_pair_hessian(fun: Objective, x: np.ndarray, h: np.ndarray, f0: float) -> tuple[np.ndarray, np.ndarray, int]:
    """Central gradient and diagonal; off-diagonal ``[f(x+a+b) − f(x+a) − f(x+b) + f(x)] / h_i h_j``.

    ``2P + P(P−1)/2`` evaluations (``f0 = f(x)`` given); the off-diagonal entries
    carry an ``O(h)`` error, which a Newton step tolerates.
    """
    x = np.asarray(x, dtype=np.float64)
    h = np.asarray(h, dtype=np.float64)
    P = x.shape[0]
    fp, _, g, d = _diagonal(fun, x, h, f0)
    H = np.diag(d)
    n = 2 * P
    for i in range(P):
        for j in range(i):
            e = np.zeros(P)
            e[i], e[j] = h[i], h[j]
            H[i, j] = H[j, i] = (fun(x + e) - fp[i] - fp[j] + f0) / (h[i] * h[j])
            n += 1
    return g, H, n


@dataclass
class HessianEstimate:
    """A finite-difference gradient and Hessian with their estimated errors.

    Attributes
    ----------
    gradient, hessian : numpy.ndarray
        Richardson-extrapolated values.
    gradient_error, hessian_error : numpy.ndarray
        Absolute size of the Richardson correction, entry by entry (a conservative
        error estimate of the extrapolated values).
    steps : numpy.ndarray
        The base step ``h`` per coordinate (the levels were ``2h`` and ``h``).
    evaluations : int
        Objective evaluations used.
    """

    gradient: np.ndarray
    hessian: np.ndarray
    gradient_error: np.ndarray
    hessian_error: np.ndarray
    steps: np.ndarray
    evaluations: int


def richardson_hessian(fun: Objective, x: np.ndarray, h: np.ndarray, f0: float | None = None) -> HessianEstimate:
    """Gradient and Hessian by Richardson extrapolation of :func:`central_hessian` at ``2h`` and ``h``.

    Both levels have errors ``c₂ h² + O(h⁴)``, so ``(4 D_h − D_2h) / 3`` removes the
    ``h²`` term.  ``2 (1 + 2P + P(P−1)) − 1`` evaluations.
    """
    x = np.asarray(x, dtype=np.float64)
    h = np.asarray(h, dtype=np.float64)
    n = 0
    if f0 is None:
        f0, n = fun(x), 1
    g2, H2, n2 = central_hessian(fun, x, 2.0 * h, f0)
    g1, H1, n1 = central_hessian(fun, x, h, f0)
    g = (4.0 * g1 - g2) / 3.0
    H = (4.0 * H1 - H2) / 3.0
    return HessianEstimate(
        gradient=g,
        hessian=H,
        gradient_error=np.abs(g - g1),
        hessian_error=np.abs(H - H1),
        steps=h,
        evaluations=n + n1 + n2,
    )
