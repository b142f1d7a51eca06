"""Data for the Bayesian mixed GLM tests (deterministic; shared with the reference generator)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def issue_example() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The example of issue 4, exactly as written (legacy global seed 4321)."""
    state = np.random.get_state()
    try:
        np.random.seed(4321)
        n = 200
        exog = np.random.normal(size=(n, 2))
        exog_vc = np.random.normal(size=(n, 5))
        ident = np.array([0] * 2 + [1] * 3)
        lin_pred = exog[:, 0] + exog[:, 1] + 0.5 * exog_vc[:, 0] - 0.3 * exog_vc[:, 3]
        endog = np.random.binomial(1, 1 / (1 + np.exp(-lin_pred)), n)
    finally:
        np.random.set_state(state)
    return endog, exog, exog_vc, ident


def crossed_binary(n: int = 1500, na: int = 40, nb: int = 25, seed: int = 20240611) -> pd.DataFrame:
    """Binary response with two crossed random intercepts (SDs 0.8 and 0.5) and one covariate."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, na, n)
    b = rng.integers(0, nb, n)
    x = rng.standard_normal(n)
    ua = rng.normal(0.0, 0.8, na)
    ub = rng.normal(0.0, 0.5, nb)
    eta = -0.3 + 0.7 * x + ua[a] + ub[b]
    y = rng.binomial(1, 1.0 / (1.0 + np.exp(-eta)))
    return pd.DataFrame(
        {"y": y, "x": x, "a": pd.Categorical([f"a{i:03d}" for i in a]), "b": pd.Categorical([f"b{i:03d}" for i in b])}
    )


def cbpp_binary(cbpp: pd.DataFrame) -> pd.DataFrame:
    """cbpp expanded to one 0/1 row per animal (842 rows), as the statsmodels reference fit."""
    rows = []
    for herd, period, inc, size in zip(cbpp["herd"], cbpp["period"], cbpp["incidence"], cbpp["size"]):
        rows += [(herd, period, 1)] * int(inc) + [(herd, period, 0)] * int(size - inc)
    d = pd.DataFrame(rows, columns=["herd", "period", "y"])
    d["herd"] = pd.Categorical(d["herd"].astype(str), categories=list(cbpp["herd"].cat.categories))
    d["period"] = pd.Categorical(d["period"].astype(str), categories=list(cbpp["period"].cat.categories))
    return d
