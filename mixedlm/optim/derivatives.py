"""Finite-difference gradient and Hessian (lme4's ``deriv12``)."""

from __future__ import annotations

from typing import Callable

import numpy as np


def deriv12(fun: Callable[[np.ndarray], float], x: np.ndarray, delta: float = 1e-4) -> tuple[np.ndarray, np.ndarray]:
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
        H[i, i] = (fp - 2 * f0 + fm) / delta ** 2
        for j in range(i):
            ej = np.zeros(P)
            ej[j] = delta
            H[i, j] = H[j, i] = (fun(x + ei + ej) - fun(x + ei - ej) - fun(x - ei + ej)
                                 + fun(x - ei - ej)) / (4 * delta ** 2)
    return g, H
