"""θ ↔ SD/correlation scale and lme4's variance-parameter names.

SDs and correlations are recomputed here from ``σ² T Tᵀ`` of each lme4 term, with
the template filled from θ column by column (lme4's layout); names are lme4's
``confint(oldNames = FALSE)`` row names (reference/lme4/utilities.json ``confint``
``parm`` for L01, L06, G04).
"""

from __future__ import annotations

import numpy as np
import pytest
from _data import load

from mixedlm.design.frame import build_model_frame
from mixedlm.design.reterm import TermInput, build_re_structure
from mixedlm.design.sdcor import (
    sdcor_bounds,
    sdcor_to_theta,
    theta_to_sdcor,
    variance_parameter_names,
)


def _bar(group, nlev, colnames, correlated=True, n=24, seed=0):
    rng = np.random.default_rng(seed)
    codes = np.arange(n) % nlev
    Z = np.column_stack([np.ones(n)] + [rng.normal(size=n) for _ in colnames[1:]])
    return TermInput(
        group=group,
        codes=codes.astype(np.int64),
        levels=[str(k) for k in range(nlev)],
        Z=Z,
        colnames=list(colnames),
        correlated=correlated,
    )


def _structure():
    """(a, b, c | g) + (1 | h) + (0 + x | g): an amalgamated g term and lme4 reordering."""
    return build_re_structure(
        [
            _bar("g", 4, ["(Intercept)", "a", "b"], seed=1),
            _bar("h", 6, ["(Intercept)"], seed=2),
            _bar("g", 4, ["(Intercept)", "x"], seed=3),
        ]
    )


def _lower_tri(S):
    return [(i, j) for j in range(S) for i in range(j, S)]


def _hand_sdcor(theta: np.ndarray, block_sizes: list[int], scale: float) -> np.ndarray:
    """SD/cor per lme4 term from consecutive θ entries (terms in lme4 order)."""
    out, pos = [], 0
    for S in block_sizes:
        T = np.zeros((S, S))
        for i, j in _lower_tri(S):
            T[i, j] = theta[pos]
            pos += 1
        C = scale**2 * T @ T.T
        sd = np.sqrt(np.diag(C))
        for i, j in _lower_tri(S):
            out.append(sd[i] if i == j else C[i, j] / (sd[i] * sd[j]))
    return np.array(out)


def _random_theta(re, rng):
    th = rng.normal(size=re.n_theta)
    diag = np.isfinite(re.lower)
    th[diag] = rng.uniform(0.2, 2.0, diag.sum())
    return th


def test_theta_to_sdcor_matches_hand_computation():
    re = _structure()
    # lme4 order: nl = (4, 6, 4) increases -> rev(order(nl)) = (2, 3, 1): h, g[x], g[a, b]
    assert [(b.group, b.names) for b in re.blocks] == [
        ("h", ["(Intercept)"]),
        ("g", ["(Intercept)", "x"]),
        ("g", ["(Intercept)", "a", "b"]),
    ]
    rng = np.random.default_rng(42)
    for scale in (1.0, 2.5):
        theta = _random_theta(re, rng)
        got = theta_to_sdcor(re, theta, scale)
        np.testing.assert_allclose(got, _hand_sdcor(theta, [1, 2, 3], scale), rtol=1e-13)
        cor = got[~np.isfinite(re.lower)]
        assert np.all(np.abs(cor) <= 1.0)


def test_sleepstudy_reml_estimates_give_lme4_varcorr():
    # reference/lme4/L01_sleep_slope_reml: theta, sigma -> VarCorr sd and corr
    sleep = load("sleepstudy")
    mf = build_model_frame("Reaction ~ Days + (Days | Subject)", sleep)
    re = build_re_structure(
        [TermInput(b.group, b.codes, b.levels, b.Z, b.colnames, b.correlated) for b in mf.re_blocks]
    )
    theta = np.array([0.966741773967412, 0.0151690588960361, 0.230909953207795])
    sigma = 25.5917957216753
    got = theta_to_sdcor(re, theta, sigma)
    np.testing.assert_allclose(got, [24.7406579949841, 0.0655512382381282, 5.92213765889808], rtol=1e-10)
    np.testing.assert_allclose(sdcor_to_theta(re, got, sigma), theta, rtol=1e-10)
    assert variance_parameter_names(re, sigma=True) == [
        "sd_(Intercept)|Subject",
        "cor_Days.(Intercept)|Subject",
        "sd_Days|Subject",
        "sigma",
    ]


@pytest.mark.parametrize("scale", [1.0, 0.3, 17.0])
def test_round_trip_both_ways(scale):
    re = _structure()
    rng = np.random.default_rng(int(scale * 10))
    for _ in range(5):
        theta = _random_theta(re, rng)
        v = theta_to_sdcor(re, theta, scale)
        np.testing.assert_allclose(sdcor_to_theta(re, v, scale), theta, rtol=1e-10, atol=1e-12)
        # and from the sdcor side: random SDs and a valid correlation matrix per term
        v2 = v.copy()
        for blk in re.blocks:
            S = len(blk.names)
            A = rng.normal(size=(S, S + 2))
            Sig = A @ A.T
            sd = np.sqrt(np.diag(Sig))
            R = Sig / np.outer(sd, sd)
            for k, (i, j) in enumerate(_lower_tri(S)):
                v2[blk.theta_index[k]] = sd[i] if i == j else R[i, j]
        th2 = sdcor_to_theta(re, v2, scale)
        assert np.all(th2[np.isfinite(re.lower)] >= 0)
        np.testing.assert_allclose(theta_to_sdcor(re, th2, scale), v2, rtol=1e-10, atol=1e-12)


def test_boundary_correlation_and_zero_sd():
    re = build_re_structure([_bar("g", 4, ["(Intercept)", "a", "b"])])
    # SD of "a" = 0: its correlations are 0, and the others survive the round trip
    theta = np.array([1.5, 0.0, 0.6, 0.0, 0.0, 0.8])  # column 1 of T is zero
    v = theta_to_sdcor(re, theta)
    np.testing.assert_allclose(v, [1.5, 0.0, 0.6, 0.0, 0.0, 1.0], atol=1e-15)
    back = sdcor_to_theta(re, v)
    np.testing.assert_allclose(theta_to_sdcor(re, back), v, atol=1e-12)
    # correlation +1 between (Intercept) and a: Σ singular, still a valid template
    v1 = np.array([2.0, 1.0, 0.0, 3.0, 0.0, 0.5])
    th1 = sdcor_to_theta(re, v1)
    assert np.all(np.isfinite(th1))
    T = re.terms[0].template(th1)
    Sig = T @ T.T
    np.testing.assert_allclose(Sig, [[4.0, 6.0, 0.0], [6.0, 9.0, 0.0], [0.0, 0.0, 0.25]], atol=1e-12)
    np.testing.assert_allclose(theta_to_sdcor(re, th1), v1, atol=1e-12)
    # a negative SD on a scalar term is clipped to 0
    re1 = build_re_structure([_bar("g", 3, ["(Intercept)"])])
    np.testing.assert_array_equal(sdcor_to_theta(re1, np.array([-0.5])), [0.0])
    np.testing.assert_array_equal(sdcor_to_theta(re1, np.array([3.0]), 2.0), [1.5])


def test_bounds():
    re = _structure()
    lo, hi = sdcor_bounds(re)
    diag = np.isfinite(re.lower)
    np.testing.assert_array_equal(lo, np.where(diag, 0.0, -1.0))
    np.testing.assert_array_equal(hi, np.where(diag, np.inf, 1.0))
    assert diag.sum() == 6 and (~diag).sum() == 4


def test_names_follow_theta_order():
    re = _structure()
    names = variance_parameter_names(re, sigma=False)
    assert names == [
        "sd_(Intercept)|h",
        "sd_(Intercept)|g",
        "cor_x.(Intercept)|g",
        "sd_x|g",
        "sd_(Intercept)|g.1",
        "cor_a.(Intercept)|g",
        "cor_b.(Intercept)|g",
        "sd_a|g",
        "cor_b.a|g",
        "sd_b|g",
    ]
    assert len(names) == re.n_theta
    # name k and θ_k describe the same entry: SD names sit exactly where θ has bound 0
    assert [n.startswith("sd_") for n in names] == np.isfinite(re.lower).tolist()
    assert variance_parameter_names(re, sigma=True)[-1] == "sigma"


@pytest.mark.parametrize(
    "dataset, formula, expected",
    [
        (
            "penicillin",
            "diameter ~ 1 + (1 | plate) + (1 | sample)",
            ["sd_(Intercept)|plate", "sd_(Intercept)|sample", "sigma"],
        ),
        ("sleepstudy", "Reaction ~ Days + (Days || Subject)", ["sd_(Intercept)|Subject", "sd_Days|Subject", "sigma"]),
        ("pastes", "strength ~ 1 + (1 | batch/cask)", ["sd_(Intercept)|cask:batch", "sd_(Intercept)|batch", "sigma"]),
    ],
)
def test_reference_names(dataset, formula, expected):
    mf = build_model_frame(formula, load(dataset))
    re = build_re_structure(
        [TermInput(b.group, b.codes, b.levels, b.Z, b.colnames, b.correlated) for b in mf.re_blocks]
    )
    assert variance_parameter_names(re, sigma=True) == expected


def test_grouseticks_names_without_sigma():
    # reference/lme4/utilities.json confint G04 (Poisson: no sigma row)
    grouse = load("grouseticks")
    mf = build_model_frame(
        "TICKS ~ YEAR + cHEIGHT + (1 | INDEX) + (1 | BROOD) + (1 | LOCATION)", grouse, allow_nlev_equal_nobs=True
    )
    re = build_re_structure(
        [TermInput(b.group, b.codes, b.levels, b.Z, b.colnames, b.correlated) for b in mf.re_blocks]
    )
    assert variance_parameter_names(re, sigma=False) == [
        "sd_(Intercept)|INDEX",
        "sd_(Intercept)|BROOD",
        "sd_(Intercept)|LOCATION",
    ]
