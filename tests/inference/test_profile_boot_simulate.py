"""Likelihood profiles, profile / Wald / bootstrap intervals, simulate, bootMer and the plots.

Reference numbers (no R at test time):

* ``data_profile/lme4_confint_reference.json`` — copied from the shared battery
  ``../shared/reference/lme4/utilities.json`` (lme4 1.1-31, R 4.2.2): ``confint`` by
  profile and Wald for L01, L06, G01, G04 and lme4's bootstrap interval for G01
  (nsim = 200, seed = 101, percentile); plus glmmTMB 1.1.5's standard errors of G01
  (``../shared/reference/glmmtmb/G01_cbpp_laplace.json``).
* ``data_profile/lme4_profile_extra.json`` — made by
  ``data_profile/make_profile_reference.R`` with the same R and lme4: R's
  ``interpSpline``/``backSpline`` on fixed points, lme4's profile tables of L01 and G01,
  profile intervals of a singular fit and of two sleepstudy subsets (one with a
  correlation interval reaching +1), and the 200 replicates of lme4's G01 bootstrap.

Where the numbers cannot agree exactly, and why:

* G01 / G04: lme4's Laplace deviance is itself ~5e-4 off (see
  ``test_anova_drop1_allfit.py``) and its Nelder–Mead profile steps stop short, so at
  lme4's own profile points mixedlm's conditional minimum of the deviance is lower by
  up to 1.7e-3 and never higher by more than 1e-4 (checked below, one-sided).  The
  intervals agree within 1e-3 relative, except G04's ``(Intercept)`` lower bound:
  −0.028301 vs lme4's −0.028223 — 7.8e-5 apart, 1e-4 of the interval's width, but
  2.8e-3 relative because the bound is close to 0; at lme4's profile points nearest
  to it mixedlm's conditional deviance is 1.3e-3 *lower* (three optimizers agree), so
  lme4's bound is the less accurate one.  That bound is checked to 1e-4 absolute.
* G01 Wald: lme4's standard errors come from a finite-difference Hessian of its
  slightly inaccurate deviance (up to 1.3 % off the exact Laplace curvature); ours
  agree with glmmTMB's exact ones to 1e-4, so the Wald half-widths are checked against
  glmmTMB at 1e-4 and against lme4 at 2e-2, the centres against lme4 at 1e-3.
* Bootstrap: NumPy's generator is not R's, so the G01 bootstrap is compared
  statistically (see ``test_bootstrap_G01_consistent_with_lme4``); the interval
  formulas themselves are checked exactly on lme4's replicates.
"""

from __future__ import annotations

import json
import math
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import mixedlm as mlm
from mixedlm.design.sdcor import sdcor_to_theta, theta_to_sdcor
from mixedlm.inference.bootstrap import BootResult, boot_ci, bootMer
from mixedlm.inference.confint import boot_statistic, confint, perc_labels
from mixedlm.inference.profile import back_spline, interp_spline, profile, profile_zeta
from mixedlm.inference.simulate import simulate

HERE = Path(__file__).parent
REF = json.loads((HERE / "data_profile" / "lme4_confint_reference.json").read_text())
EXTRA = json.loads((HERE / "data_profile" / "lme4_profile_extra.json").read_text())
CBPP = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
GROUSE = "TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)"

_fits: dict[str, object] = {}
_cache: dict[str, object] = {}


def fit(key: str):
    if key not in _fits:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", mlm.errors.SingularFitMessage)
            if key == "L01_sleep_slope_reml":
                m = mlm.lmer("Reaction ~ Days + (Days | Subject)", mlm.load_sleepstudy())
            elif key == "L04_dyestuff":
                m = mlm.lmer("Yield ~ 1 + (1 | Batch)", mlm.load_dyestuff())
            elif key == "L05_dyestuff2_singular":
                m = mlm.lmer("Yield ~ 1 + (1 | Batch)", mlm.load_dyestuff2())
            elif key == "L06_penicillin_crossed":
                m = mlm.lmer("diameter ~ 1 + (1 | plate) + (1 | sample)", mlm.load_penicillin())
            elif key == "G01_cbpp_laplace":
                m = mlm.glmer(CBPP, mlm.load_cbpp(), family=mlm.families.Binomial())
            elif key == "G04_grouseticks_pois":
                m = mlm.glmer(GROUSE, mlm.load_grouseticks(), family=mlm.families.Poisson())
            elif key.startswith("sleep_first"):
                k = int(key[len("sleep_first") :])
                ss = mlm.load_sleepstudy()
                sub = ss[ss["Subject"].isin(ss["Subject"].cat.categories[:k])].copy()
                sub["Subject"] = sub["Subject"].cat.remove_unused_categories()
                m = mlm.lmer("Reaction ~ Days + (Days | Subject)", sub)
            else:  # pragma: no cover
                raise KeyError(key)
        _fits[key] = m
    return _fits[key]


def cached_profile(key: str):
    if ("profile", key) not in _cache:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", mlm.errors.ConvergenceWarning)
            t0 = time.perf_counter()
            pr = profile(fit(key))
            pr.elapsed = time.perf_counter() - t0
        _cache[("profile", key)] = pr
    return _cache[("profile", key)]


def ref_bounds(key: str, method: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    r = REF[key][method]
    lo = np.array([np.nan if v is None else v for v in r["lower"]], dtype=float)
    hi = np.array([np.nan if v is None else v for v in r["upper"]], dtype=float)
    return r["parm"], lo, hi


# ------------------------------------------------------------------------------ splines
@pytest.mark.parametrize("case", sorted(EXTRA["splines"]))
def test_interp_and_back_spline_match_R(case):
    c = EXTRA["splines"][case]
    fwd = interp_spline(np.array(c["x"]), np.array(c["y"]))
    np.testing.assert_allclose(fwd(np.array(c["x_eval"])), c["forward"], rtol=0, atol=1e-12)
    bak = back_spline(fwd)
    expected = np.array([np.nan if v in (None, "NA") else v for v in c["backward"]], dtype=float)
    got = bak(np.array(c["zeta_eval"]))
    assert np.array_equal(np.isnan(got), np.isnan(expected))  # NA outside the range, as R
    np.testing.assert_allclose(got[~np.isnan(got)], expected[~np.isnan(expected)], rtol=0, atol=1e-12)


def test_back_spline_refuses_non_monotone():
    with pytest.raises(ValueError, match="monotone"):
        back_spline(interp_spline(np.arange(5.0), np.array([0.0, 1.0, 0.5, 2.0, 3.0])))


# ----------------------------------------------------------------- sdcor parametrization
def test_sdcor_matches_varcorr_and_round_trips():
    m = fit("L01_sleep_slope_reml")
    v = theta_to_sdcor(m.setup.re, m.theta, m.sigma)
    vc = m.VarCorr().as_dataframe()
    # lme4 order: sd_(Intercept), cor, sd_Days
    np.testing.assert_allclose(v, [vc.sdcor[0], vc.sdcor[2], vc.sdcor[1]], rtol=1e-12)
    np.testing.assert_allclose(sdcor_to_theta(m.setup.re, v, m.sigma), m.theta, rtol=1e-12, atol=1e-14)
    # a correlation of exactly +1 gives a semi-definite (rank 1) factor instead of failing
    th = sdcor_to_theta(m.setup.re, np.array([20.0, 1.0, 5.0]), 25.0)
    T = m.setup.re.terms[0].template(th)
    np.testing.assert_allclose(T @ T.T * 625.0, [[400.0, 100.0], [100.0, 25.0]], rtol=1e-12)
    assert list(m.sdcor().index) == REF["L01_sleep_slope_reml"]["profile"]["parm"][:4]


# ------------------------------------------------------------------ profile intervals
@pytest.mark.parametrize("key", ["L01_sleep_slope_reml", "L06_penicillin_crossed"])
def test_profile_confint_lmm_matches_lme4(key):
    parm, lo, hi = ref_bounds(key, "profile")
    ci = cached_profile(key).confint()
    assert list(ci.index) == parm
    assert list(ci.columns) == ["2.5 %", "97.5 %"]
    # the issue asks for 1e-3; the linear-model profiles agree to ~5e-6
    np.testing.assert_allclose(ci.iloc[:, 0], lo, rtol=1e-4)
    np.testing.assert_allclose(ci.iloc[:, 1], hi, rtol=1e-4)


def test_profile_confint_G01_matches_lme4():
    parm, lo, hi = ref_bounds("G01_cbpp_laplace", "profile")
    ci = cached_profile("G01_cbpp_laplace").confint()
    assert list(ci.index) == parm
    np.testing.assert_allclose(ci.iloc[:, 0], lo, rtol=1e-3)
    np.testing.assert_allclose(ci.iloc[:, 1], hi, rtol=1e-3)


@pytest.mark.slow
def test_profile_confint_G04_matches_lme4():
    parm, lo, hi = ref_bounds("G04_grouseticks_pois", "profile")
    ci = cached_profile("G04_grouseticks_pois").confint()
    assert list(ci.index) == parm
    # LOCATION's SD profile reaches 0 before zeta = -1.96: the bound is reported (lme4: 0)
    assert ci.loc["sd_(Intercept)|LOCATION"].iloc[0] == 0.0 and lo[2] == 0.0
    intercept_lower = parm.index("(Intercept)")
    for k in range(len(parm)):
        if k == intercept_lower:  # see the module docstring
            assert abs(ci.iloc[k, 0] - lo[k]) < 1e-4
        elif lo[k] != 0.0:
            assert abs(ci.iloc[k, 0] - lo[k]) <= 1e-3 * abs(lo[k]), (parm[k], ci.iloc[k, 0], lo[k])
        assert abs(ci.iloc[k, 1] - hi[k]) <= 1e-3 * abs(hi[k]), (parm[k], ci.iloc[k, 1], hi[k])


def test_profile_zeta_at_lme4_points_L01():
    """At lme4's own profile points (|ζ| < 3) our conditional minima give lme4's ζ."""
    r = EXTRA["profile_L01"]
    V, cols, par = np.array(r["values"]), r["columns"], np.array(r["par"])
    m = fit("L01_sleep_slope_reml")
    for name in dict.fromkeys(par):
        rows = V[par == name]
        rows = rows[np.abs(rows[:, 0]) < 3]
        z = profile_zeta(m, name, rows[:, cols.index(name)])
        np.testing.assert_allclose(z[".zeta"], rows[:, 0], atol=1e-4, rtol=0, err_msg=name)
    # the ML refit of the REML model is lme4's
    assert abs(cached_profile("L01_sleep_slope_reml").base_deviance - r["ML_deviance"]) < 1e-6


def test_profile_deviance_at_lme4_points_G01_one_sided():
    """G01: at lme4's profile points our conditional deviance is never above lme4's (tolerance 1e-4)."""
    r = EXTRA["profile_G01"]
    V, cols, par = np.array(r["values"]), r["columns"], np.array(r["par"])
    m = fit("G01_cbpp_laplace")
    base = cached_profile("G01_cbpp_laplace").base_deviance
    assert base <= r["deviance"] + 1e-6
    for name in dict.fromkeys(par):
        rows = V[par == name]
        rows = rows[np.abs(rows[:, 0]) < 3][::2]
        z = profile_zeta(m, name, rows[:, cols.index(name)])[".zeta"].to_numpy()
        ours = base + z**2
        theirs = r["deviance"] + rows[:, 0] ** 2
        assert np.all(ours <= theirs + 1e-4), (name, np.max(ours - theirs))
        assert np.all(ours >= theirs - 5e-3), (name, np.min(ours - theirs))
        far = np.abs(rows[:, 0]) > 1e-3
        assert np.all(np.sign(z[far]) == np.sign(rows[far, 0]))


def test_profile_boundary_singular_fit():
    """Dyestuff2: the SD estimate is 0, so only the upper side is profiled and the lower bound is 0."""
    ci = cached_profile("L05_dyestuff2_singular").confint()
    expected = np.array(EXTRA["confint_L05"])
    assert ci.iloc[0, 0] == 0.0
    np.testing.assert_allclose(ci.to_numpy(), expected, rtol=1e-4, atol=0)


def test_profile_correlation_boundary():
    """Sleepstudy, first 5 subjects: as lme4 (1e-3).  First 6: the correlation's upper bound is +1.

    With six subjects the correlation's profile turns flat on the lower side (the
    intercept SD reaches 0, where the correlation is not identified), and where the
    correlation reaches +1 the profiles of the other parameters have a kink; there
    spline interpolation (lme4's and ours) is accurate to a few 1e-3 only, so those
    bounds are checked by their defining property — ζ at our bound is ±1.96 — and
    loosely against lme4.
    """
    ci5 = cached_profile("sleep_first5").confint()
    np.testing.assert_allclose(ci5.to_numpy(), np.array(EXTRA["confint_sleep_first5"]), rtol=1e-3)
    m6 = fit("sleep_first6")
    ci6 = cached_profile("sleep_first6").confint()
    ref6 = np.array(EXTRA["confint_sleep_first6"])
    assert ci6.loc["cor_Days.(Intercept)|Subject"].iloc[1] == 1.0 == ref6[1, 1]
    for k in (3, 4, 5):  # sigma and the fixed effects: smooth profiles
        np.testing.assert_allclose(ci6.iloc[k], ref6[k], rtol=1e-3)
    # the correlation's lower bound lies where its profile turns flat: compared loosely
    assert abs(ci6.iloc[1, 0] - ref6[1, 0]) < 0.05
    rest = np.ones(ref6.shape, dtype=bool)
    rest[1, 0] = False
    np.testing.assert_allclose(ci6.to_numpy()[rest], ref6[rest], rtol=1e-2)
    for name, side in [("sd_(Intercept)|Subject", 0), ("sd_Days|Subject", 0), ("sd_Days|Subject", 1)]:
        z = profile_zeta(m6, name, [ci6.loc[name].iloc[side]])[".zeta"].iloc[0]
        assert abs(z - (-1.959964 if side == 0 else 1.959964)) < 0.01, (name, side, z)


@pytest.mark.parametrize(
    "key,formula,loader",
    [
        ("confint_L03", "Reaction ~ Days + (Days || Subject)", "load_sleepstudy"),
        ("confint_L07", "strength ~ 1 + (1 | batch/cask)", "load_pastes"),
    ],
)
def test_profile_uncorrelated_and_nested_terms(key, formula, loader):
    """(Days || Subject): two terms on one factor; (1 | batch/cask): nested, with the batch SD at 0."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mlm.lmer(formula, getattr(mlm, loader)())
        ci = confint(m)
    ref = EXTRA[key]
    assert list(ci.index) == ref["parm"]
    np.testing.assert_allclose(ci.to_numpy(), np.array(ref["ci"]), rtol=1e-4, atol=1e-12)


def test_profile_with_prior_weights_and_offset():
    """ML fit with prior weights and an offset.  The variance parameters agree with lme4; lme4's
    fixed-effect profiles are wrong with prior weights (it reports (249.91, 250.73) for the
    intercept, flagged non-monotonic), so ours are checked by ζ(bound) = ∓1.96 and against Wald."""
    ss = mlm.load_sleepstudy()
    w = 1.0 + (ss["Days"].to_numpy() % 3)
    o = ss["Days"].to_numpy() / 2
    m = mlm.lmer("Reaction ~ Days + (Days | Subject)", ss, weights=w, offset=o, REML=False)
    ci = confint(m)
    ref = EXTRA["confint_weighted_offset"]
    assert list(ci.index) == ref["parm"]
    np.testing.assert_allclose(ci.iloc[:4], np.array(ref["ci"])[:4], rtol=1e-5)
    wald = confint(m, method="Wald")
    for name in ("(Intercept)", "Days"):
        np.testing.assert_allclose(ci.loc[name], wald.loc[name], rtol=5e-2)  # close to Wald, as usual for β
        z = profile_zeta(m, name, ci.loc[name].to_numpy())[".zeta"].to_numpy()
        np.testing.assert_allclose(z, [-1.959964, 1.959964], atol=1e-3)


@pytest.mark.slow
def test_profile_glmm_correlated_term_where_lme4_fails():
    """Binary longitudinal data, y ~ t + (t | id): lme4 1.1-31 stops with "profiling detected new,
    lower deviance" (its fit, -2 log L = 1472.114, is not at the optimum; ours reaches 1472.092).
    Checked by the defining property: ζ at each finite bound is ∓1.96; the correlation reaches +1."""
    d = pd.read_csv(HERE.parent / "data" / "binary_longitudinal.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = mlm.glmer("y ~ t + (t | id)", d, family=mlm.families.Binomial())
        pr = profile(g)
    ci = pr.confint()
    assert ci.loc["cor_t.(Intercept)|id"].iloc[1] == 1.0
    est = pr.optimum
    for name in ci.index:
        lo, hi = ci.loc[name]
        assert lo < est[name] <= hi
        for side, bound in ((0, lo), (1, hi)):
            if name.startswith("cor_") and side == 1:
                continue
            z = profile_zeta(g, name, [bound])[".zeta"].iloc[0]
            assert abs(z - (-1.959964 if side == 0 else 1.959964)) < 0.01, (name, side, z)


def test_profile_in_parallel_gives_the_same_profile():
    m = fit("L06_penicillin_crossed")
    pd.testing.assert_frame_equal(profile(m, n_jobs=2).confint(), cached_profile("L06_penicillin_crossed").confint())


def test_profile_object():
    pr = cached_profile("L01_sleep_slope_reml")
    assert pr.parameters == REF["L01_sleep_slope_reml"]["profile"]["parm"]
    # lme4 profiled the same number of points per parameter (21, 19, 20, 19, 19, 19)
    lme4_counts = pd.Series(EXTRA["profile_L01"]["par"]).value_counts()
    assert {k: len(v) for k, v in pr.tables.items()} == lme4_counts.to_dict()
    df = pr.as_dataframe()
    assert list(df.columns) == [".zeta"] + pr.parameters + [".par", ".focal"]
    assert list(df[".par"].cat.categories) == pr.parameters
    for name, tab in pr.tables.items():
        assert np.all(np.diff(tab[name]) > 0)  # sorted by the parameter
        at_opt = tab[".zeta"].abs().idxmin()
        assert tab[".zeta"][at_opt] == 0.0 and tab[name][at_opt] == pytest.approx(pr.optimum[name])
        assert tab[".zeta"].abs().max() > pr.cutoff  # profiled beyond the cutoff
    # the ML estimates at the optimum (lme4 profiles the ML fit of a REML model)
    ml = mlm.lmer("Reaction ~ Days + (Days | Subject)", mlm.load_sleepstudy(), REML=False)
    assert pr.optimum["sigma"] == pytest.approx(ml.sigma, rel=1e-5)
    assert pr.base_deviance == pytest.approx(ml.deviance(), abs=1e-6)
    ci90 = pr.confint(parm=["Days", "sigma"], level=0.9)
    assert list(ci90.index) == ["sigma", "Days"] and list(ci90.columns) == ["5 %", "95 %"]
    assert (ci90.iloc[:, 0] > pr.confint().loc[["sigma", "Days"]].iloc[:, 0]).all()
    assert "Profile of 6 parameters" in repr(pr)


def test_profile_which_and_confint_parm():
    m = fit("L01_sleep_slope_reml")
    pr = profile(m, which="beta_")
    assert pr.parameters == ["(Intercept)", "Days"]
    full = cached_profile("L01_sleep_slope_reml").confint()
    np.testing.assert_allclose(pr.confint(), full.loc[["(Intercept)", "Days"]], rtol=1e-10)
    ci = confint(m, parm="theta_", method="profile")
    assert list(ci.index) == list(full.index[:4])
    np.testing.assert_allclose(ci, full.iloc[:4], rtol=1e-10)
    with pytest.raises(mlm.MixedLMError, match="unknown parameter"):
        profile(m, which=["Dayz"])
    with pytest.raises(mlm.MixedLMError, match="unknown parameter"):
        confint(m, parm="sd_Days", method="profile")


def test_confint_default_method_is_profile():
    m = fit("L04_dyestuff")
    np.testing.assert_allclose(confint(m), confint(m, method="profile"), rtol=1e-12)
    assert np.isfinite(confint(m).to_numpy()).all()


def test_profile_refuses_what_lme4_cannot_profile():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g0 = mlm.glmer(CBPP, mlm.load_cbpp(), family=mlm.families.Binomial(), nAGQ=0)
        gam = pd.read_csv(HERE.parent / "data" / "gamma_groups.csv")
        gg = mlm.glmer("y ~ x + (1 | g)", gam, family=mlm.families.Gamma(link="log"))
    with pytest.raises(mlm.MixedLMError, match="nAGQ=0"):
        profile(g0)
    with pytest.raises(mlm.MixedLMError, match="scale parameter"):
        confint(gg)
    # Wald still works for both
    assert np.isfinite(confint(g0, method="Wald").iloc[-1]).all()


# ------------------------------------------------------------------------------- Wald
@pytest.mark.parametrize("key", ["L01_sleep_slope_reml", "L06_penicillin_crossed"])
def test_wald_lmm_matches_lme4(key):
    parm, lo, hi = ref_bounds(key, "Wald")
    ci = confint(fit(key), method="Wald")
    assert list(ci.index) == parm
    assert ci.iloc[: len(parm) - np.isfinite(lo).sum()].isna().all().all()  # no Wald interval for variances
    np.testing.assert_allclose(ci.iloc[:, 0], lo, rtol=1e-4)
    np.testing.assert_allclose(ci.iloc[:, 1], hi, rtol=1e-4)


def _centre_halfwidth(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ok = np.isfinite(lo)
    return (lo[ok] + hi[ok]) / 2, (hi[ok] - lo[ok]) / 2


def test_wald_G04_matches_lme4():
    parm, lo, hi = ref_bounds("G04_grouseticks_pois", "Wald")
    ci = confint(fit("G04_grouseticks_pois"), method="Wald")
    assert list(ci.index) == parm
    c_ref, h_ref = _centre_halfwidth(lo, hi)
    c, h = _centre_halfwidth(ci.iloc[:, 0].to_numpy(), ci.iloc[:, 1].to_numpy())
    # The half-widths (z·SE) within 1e-4 relative.  The centres are the estimates, equal to
    # lme4's within the fit's own precision: G04's likelihood is flat along the intercept
    # (moving it by 1e-4 changes -2 log L by ~1e-6, below the optimizer's ftol_abs = 1e-8
    # per step), so the golden tests' 1e-3 applies; bounds within 2e-4 absolute.
    np.testing.assert_allclose(h, h_ref, rtol=1e-4)
    np.testing.assert_allclose(c, c_ref, rtol=1e-3)
    np.testing.assert_allclose(ci.iloc[3:], np.column_stack([lo, hi])[3:], rtol=0, atol=2e-4)
    # and the interval is exactly estimate ± z·SE
    m = fit("G04_grouseticks_pois")
    se = np.sqrt(np.diag(m.vcov().to_numpy()))
    np.testing.assert_allclose(h, stats.norm.ppf(0.975) * se, rtol=1e-12)
    np.testing.assert_allclose(c, m.fixef().to_numpy(), rtol=1e-12)


def test_wald_G01_against_lme4_and_glmmtmb():
    parm, lo, hi = ref_bounds("G01_cbpp_laplace", "Wald")
    m = fit("G01_cbpp_laplace")
    ci = confint(m, method="Wald")
    assert list(ci.index) == parm
    c_ref, h_ref = _centre_halfwidth(lo, hi)
    c, h = _centre_halfwidth(ci.iloc[:, 0].to_numpy(), ci.iloc[:, 1].to_numpy())
    z = stats.norm.ppf(0.975)
    tmb_se = np.array(list(REF["glmmTMB_G01_fixef_se"]["values"].values()))
    np.testing.assert_allclose(h / z, tmb_se, rtol=1e-4)
    np.testing.assert_allclose(c, c_ref, rtol=1e-3)
    np.testing.assert_allclose(h, h_ref, rtol=2e-2)


def test_confint_bad_input():
    m = fit("L04_dyestuff")
    with pytest.raises(mlm.MixedLMError, match="level"):
        confint(m, level=1.5)
    with pytest.raises(mlm.MixedLMError, match="method"):
        confint(m, method="bayes")
    with pytest.raises(mlm.MixedLMError, match="unknown parameter"):
        confint(m, parm=["sigma", "nope"], method="Wald")
    with pytest.raises(mlm.MixedLMError, match="boot_type"):
        confint(m, method="boot", boot_type="bca", nsim=2)
    with pytest.raises(mlm.MixedLMError, match="unexpected argument"):
        confint(m, method="Wald", maxpts=3)


def test_perc_labels_as_R():
    assert perc_labels(0.95) == ["2.5 %", "97.5 %"]
    assert perc_labels(0.9) == ["5 %", "95 %"]
    assert perc_labels(0.99) == ["0.5 %", "99.5 %"]
    assert perc_labels(0.999) == ["0.05 %", "99.95 %"]


# ------------------------------------------------------------------------- bootstrap
def test_boot_intervals_reproduce_boot_package_on_lme4_replicates():
    """boot::boot.ci (perc, basic, norm) as lme4's confint(<bootMer>) computes them, on lme4's replicates."""
    b = EXTRA["boot_G01"]
    T, t0 = np.array(b["t"]), np.array(b["t0"])
    for kind, level, key in [
        ("perc", 0.95, "perc"),
        ("basic", 0.95, "basic"),
        ("norm", 0.95, "norm"),
        ("percentile", 0.9, "perc_90"),
        ("normal", 0.95, "norm"),
    ]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            got = np.array([boot_ci(t0[j], T[:, j], level, kind) for j in range(T.shape[1])])
        np.testing.assert_allclose(got, np.array(b[key]), rtol=1e-12, atol=1e-14, err_msg=key)
    # and lme4's reported percentile interval (utilities.json) is the same computation
    parm, lo, hi = ref_bounds("G01_cbpp_laplace", "boot")
    np.testing.assert_allclose(np.array(b["perc"]), np.column_stack([lo, hi]), rtol=1e-12)


def g01_boot() -> BootResult:
    if "g01_boot" not in _cache:
        t0 = time.perf_counter()
        _cache["g01_boot"] = bootMer(fit("G01_cbpp_laplace"), boot_statistic, nsim=200, seed=101, progress=False)
        _cache["g01_boot"].wall = time.perf_counter() - t0
    return _cache["g01_boot"]


def test_bootstrap_G01_consistent_with_lme4():
    """Our 200 replicates and lme4's 200 (seed 101, R's generator) come from the same distribution.

    1. Per statistic, a two-sample Kolmogorov–Smirnov test of our replicates against
       lme4's: p > 0.001 (five tests).
    2. Per interval bound (percentile, 95 %): lme4's bound is the ``(R+1)·0.025``-th
       order statistic of its sample (interpolated).  If both samples are i.i.d. from one
       distribution, the number ``N`` of our replicates below it (above it, for upper
       bounds) follows the beta-binomial law of the rank of an order statistic of one
       sample within another: ``BetaBinomial(R, (R+1)·0.025, (R+1)·0.975)`` — mean 5,
       s.d. 3.1 for R = 200.  This is the Monte-Carlo error of both bounds, in rank
       form; each of the ten two-sided p-values must exceed 0.001.
    """
    bb = g01_boot()
    b = EXTRA["boot_G01"]
    T = np.array(b["t"])
    perc = np.array(b["perc"])
    t = bb.t.to_numpy()
    R, n = T.shape[0], t.shape[0]
    assert list(bb.t0.index) == REF["G01_cbpp_laplace"]["boot"]["parm"]
    for j in range(t.shape[1]):
        p = stats.ks_2samp(t[:, j], T[:, j]).pvalue
        assert p > 1e-3, (bb.t0.index[j], p)
    a = (R + 1) * 0.025
    law = stats.betabinom(n, a, R + 1 - a)
    for j in range(t.shape[1]):
        for side in (0, 1):
            below = np.sum(t[:, j] < perc[j, side]) + 0.5 * np.sum(t[:, j] == perc[j, side])
            N = below if side == 0 else n - below
            p = min(1.0, 2 * min(law.cdf(math.floor(N)), law.sf(math.ceil(N) - 1)))
            assert p > 1e-3, (bb.t0.index[j], side, N, p)
    # singular refits are reported (lme4: "boundary (singular) fit" messages) — one per zero SD
    singular = sum(c for msg, c in bb.warnings.items() if "singular" in msg)
    assert singular == int(np.sum(t[:, 0] < 1e-4))  # isSingular(tol=1e-4) on θ = SD
    assert bb.n_failed == 0 and not bb.t.isna().any().any()


def test_bootstrap_deterministic_and_independent_of_n_jobs():
    m = fit("L04_dyestuff")
    a = bootMer(m, lambda f: f.fixef(), nsim=12, seed=7, progress=False)
    b = bootMer(m, lambda f: f.fixef(), nsim=12, seed=7, n_jobs=2, progress=False)
    c = bootMer(m, lambda f: f.fixef(), nsim=12, seed=8, progress=False)
    pd.testing.assert_frame_equal(a.t, b.t)
    assert not np.allclose(a.t.to_numpy(), c.t.to_numpy())
    assert list(a.t.columns) == ["(Intercept)"] and a.t0.iloc[0] == m.fixef().iloc[0]
    assert a.seed == 7
    s = a.summary()
    assert list(s.columns) == ["original", "bias", "std. error"]
    np.testing.assert_allclose(s["std. error"], a.t.std(ddof=1), rtol=1e-12)


def test_confint_boot_equals_bootmer_intervals():
    m = fit("L04_dyestuff")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ci = confint(m, method="boot", nsim=40, seed=3, boot_type="basic", progress=False)
        bb = bootMer(m, boot_statistic, nsim=40, seed=3, progress=False)
        ref = bb.confint(type="basic")
    assert list(ci.index) == ["sd_(Intercept)|Batch", "sigma", "(Intercept)"]
    pd.testing.assert_frame_equal(ci, ref)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        only = confint(m, parm="sigma", method="boot", nsim=40, seed=3, boot_type="basic", progress=False)
    pd.testing.assert_frame_equal(only, ref.loc[["sigma"]])
    # the statistic is VarCorr's SD, sigma and the fixed effects
    st = boot_statistic(m)
    assert st["sd_(Intercept)|Batch"] == pytest.approx(m.VarCorr().as_dataframe().sdcor[0])
    assert st["sigma"] == pytest.approx(m.sigma)


def test_bootstrap_failures_and_warnings_are_recorded():
    m = fit("L04_dyestuff")
    calls = {"n": 0}

    def stat(f):
        calls["n"] += 1
        if calls["n"] == 3:  # the second replicate (the first call is on the fit itself)
            raise RuntimeError("boom")
        warnings.warn("a note", UserWarning, stacklevel=1)
        return {"b": f.fixef().iloc[0], "s": f.sigma}

    with pytest.warns(UserWarning, match="some bootstrap runs failed"):
        bb = bootMer(m, stat, nsim=5, seed=1, progress=False)
    assert bb.n_failed == 1 and bb.errors == {"RuntimeError: boom": 1}
    assert bb.t.iloc[1].isna().all() and not bb.t.drop(index=1).isna().any().any()
    assert bb.warnings.get("a note") == 4
    assert list(bb.t.columns) == ["b", "s"]


def test_bootstrap_bad_input():
    m = fit("L04_dyestuff")
    with pytest.raises(mlm.MixedLMError, match="nsim"):
        bootMer(m, lambda f: f.fixef(), nsim=0)
    with pytest.raises(mlm.MixedLMError, match="n_jobs"):
        bootMer(m, lambda f: f.fixef(), nsim=2, n_jobs=0)
    with pytest.raises(mlm.MixedLMError, match="use_u"):
        bootMer(m, lambda f: f.fixef(), nsim=2, type="semiparametric")
    with pytest.raises(mlm.MixedLMError, match="func"):
        bootMer(m, "fixef", nsim=2)


def test_semiparametric_bootstrap_resamples_residuals():
    m = fit("L04_dyestuff")
    bb = bootMer(m, lambda f: f.fixef(), nsim=30, seed=2, type="semiparametric", use_u=True, progress=False)
    # fitted values plus resampled residuals: the intercept varies around the estimate
    assert bb.t.std().iloc[0] > 0 and abs(bb.t.mean().iloc[0] - m.fixef().iloc[0]) < 3.0


# ------------------------------------------------------------------------------ simulate
def test_simulate_shape_seed_and_index():
    m = fit("L01_sleep_slope_reml")
    s = simulate(m, nsim=3, seed=42)
    assert s.shape == (180, 3) and list(s.columns) == ["sim_1", "sim_2", "sim_3"]
    assert s.index.equals(m.fitted().index)
    pd.testing.assert_frame_equal(s, simulate(m, nsim=3, seed=42))
    assert not np.allclose(s.to_numpy(), simulate(m, nsim=3, seed=43).to_numpy())
    # a Generator is used as given
    g = np.random.default_rng(42)
    pd.testing.assert_frame_equal(simulate(m, nsim=3, seed=g), s)


def _sleep_rows(m, day):
    return np.flatnonzero(np.asarray(m.setup.frame.X[:, 1]) == day)


def test_simulate_lmm_unconditional_moments():
    """re_form=None (lme4's default re.form = NA): y = Xβ + Zb* + ε with new b* ~ N(0, Σ̂)."""
    m = fit("L01_sleep_slope_reml")
    nsim = 4000
    Y = simulate(m, nsim=nsim, seed=1).to_numpy()
    X = np.asarray(m.setup.fe.X)
    mean = X @ m.fixef().to_numpy()
    sd = np.sqrt(np.var(Y, axis=1, ddof=1))
    assert np.all(np.abs(Y.mean(axis=1) - mean) < 4.5 * sd / math.sqrt(nsim))
    S = m.VarCorr().as_dataframe()
    s0, s1, cor, sig = S.sdcor[0], S.sdcor[1], S.sdcor[2], S.sdcor[3]
    C = np.array([[s0**2, cor * s0 * s1], [cor * s0 * s1, s1**2]])
    for day in (0, 9):
        rows = _sleep_rows(m, day)
        z = np.array([1.0, day])
        v_model = z @ C @ z + sig**2
        v = np.var(Y[rows], axis=1, ddof=1).mean()
        # variance estimate from 18 x 4000 draws: relative s.e. about sqrt(2/4000)
        assert abs(v / v_model - 1) < 0.05, (day, v, v_model)
    # covariance of day 0 and day 9 of the same subject: z0' C z9
    r0, r9 = _sleep_rows(m, 0), _sleep_rows(m, 9)
    cov = np.mean([np.cov(Y[a], Y[b])[0, 1] for a, b in zip(r0, r9)])
    z0, z9 = np.array([1.0, 0.0]), np.array([1.0, 9.0])
    cov_model = z0 @ C @ z9
    scale = math.sqrt((z0 @ C @ z0 + sig**2) * (z9 @ C @ z9 + sig**2))
    # as a correlation: 72 000 pairs give a standard error of about 0.004
    assert abs(cov - cov_model) / scale < 0.02


def test_simulate_conditional_on_modes():
    """use_u=True (lme4's use.u = TRUE / re.form = NULL): mean = fitted values, variance = σ²."""
    m = fit("L01_sleep_slope_reml")
    Y = simulate(m, nsim=3000, seed=5, use_u=True).to_numpy()
    np.testing.assert_allclose(Y.mean(axis=1), m.fitted().to_numpy(), atol=4.5 * m.sigma / math.sqrt(3000))
    assert abs(np.var(Y, axis=1, ddof=1).mean() / m.sigma**2 - 1) < 0.02
    # naming every grouping factor in re_form is the same as use_u=True
    pd.testing.assert_frame_equal(
        simulate(m, nsim=2, seed=9, re_form="~(1 | Subject)"), simulate(m, nsim=2, seed=9, use_u=True)
    )


def test_simulate_partial_re_form_crossed():
    """Penicillin: conditioning on plate draws new sample effects: Var(y) = σ²_sample + σ²."""
    m = fit("L06_penicillin_crossed")
    Y = simulate(m, nsim=3000, seed=11, re_form="~(1 | plate)").to_numpy()
    vc = m.VarCorr().as_dataframe()
    s_plate, s_sample, sig = vc.sdcor[0], vc.sdcor[1], vc.sdcor[2]
    assert m.VarCorr().as_dataframe().grp.tolist()[:2] == ["plate", "sample"]
    # means: Xβ + b̂_plate
    b_plate = m.ranef(condVar=False)["plate"].iloc[:, 0]
    codes = m.setup.re.terms[[t.group for t in m.setup.re.terms].index("plate")].codes
    expected_mean = m.fixef().iloc[0] + b_plate.to_numpy()[codes]
    se = math.sqrt((s_sample**2 + sig**2) / 3000)
    np.testing.assert_allclose(Y.mean(axis=1), expected_mean, atol=4.5 * se)
    v = np.var(Y, axis=1, ddof=1).mean()
    assert abs(v / (s_sample**2 + sig**2) - 1) < 0.03
    assert s_plate > 0


def test_simulate_weighted_lmm_uses_residual_variance_over_weights():
    ss = mlm.load_sleepstudy()
    w = 1.0 + (ss["Days"].to_numpy() % 3)
    m = mlm.lmer("Reaction ~ Days + (Days | Subject)", ss, weights=w)
    Y = simulate(m, nsim=3000, seed=3, use_u=True).to_numpy()
    v = np.var(Y, axis=1, ddof=1)
    for wk in (1.0, 2.0, 3.0):
        assert abs(v[w == wk].mean() / (m.sigma**2 / wk) - 1) < 0.03


def test_simulate_binomial_glmm_marginal_mean():
    """cbpp: simulated proportions; unconditional mean E[logit⁻¹(η + b)], b ~ N(0, σ_b²) (Gauss–Hermite)."""
    m = fit("G01_cbpp_laplace")
    nsim = 4000
    Y = simulate(m, nsim=nsim, seed=21).to_numpy()
    size = m.setup.prior_weights
    assert np.allclose(np.round(Y * size[:, None]), Y * size[:, None])  # whole numbers of cases
    assert Y.min() >= 0 and Y.max() <= 1
    eta = np.asarray(m.setup.fe.X) @ m.fixef().to_numpy()
    x, wq = np.polynomial.hermite_e.hermegauss(40)
    wq = wq / wq.sum()
    sd = m.theta[0]
    p = (1.0 / (1.0 + np.exp(-(eta[:, None] + sd * x[None, :])))) @ wq
    p2 = (1.0 / (1.0 + np.exp(-(eta[:, None] + sd * x[None, :])))) ** 2 @ wq
    var = p * (1 - p) / size + (p2 - p**2) * (1 - 1 / size)  # Var of a binomial proportion with random p
    assert np.all(np.abs(Y.mean(axis=1) - p) < 4.5 * np.sqrt(var / nsim))
    # conditional on the modes: mean = fitted probabilities
    Yc = simulate(m, nsim=nsim, seed=22, use_u=True).to_numpy()
    mu = m.fitted().to_numpy()
    assert np.all(np.abs(Yc.mean(axis=1) - mu) < 4.5 * np.sqrt(mu * (1 - mu) / size / nsim))


def test_simulate_poisson_glmm_refits():
    m = fit("G04_grouseticks_pois")
    s = simulate(m, nsim=2, seed=0)
    assert np.all(s.to_numpy() == np.round(s.to_numpy())) and s.to_numpy().min() >= 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = m.refit(s["sim_1"].to_numpy())
    assert np.all(np.isfinite(r.fixef()))


def test_simulate_na_exclude_pads_rows():
    ss = mlm.load_sleepstudy()
    ss.loc[[3, 50], "Reaction"] = np.nan
    m = mlm.lmer("Reaction ~ Days + (Days | Subject)", ss, na_action="exclude")
    s = simulate(m, nsim=2, seed=1)
    assert s.shape == (180, 2) and s.loc[[3, 50]].isna().all().all()
    assert not s.drop(index=[3, 50]).isna().any().any()


def test_simulate_bad_input():
    m = fit("L01_sleep_slope_reml")
    with pytest.raises(mlm.MixedLMError, match="nsim"):
        simulate(m, nsim=0)
    with pytest.raises(mlm.MixedLMError, match="only one of"):
        simulate(m, use_u=True, re_form="~0")
    with pytest.raises(mlm.MixedLMError, match="not in the model"):
        simulate(m, re_form="~(1 | plate)")


# ---------------------------------------------------------------------------------- plots
def test_plots_produce_figures():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    from mixedlm.plots import plot_profile, plot_ranef, plot_resid

    m = fit("L01_sleep_slope_reml")
    f1 = plot_ranef(m)
    assert isinstance(f1, Figure) and len([a for a in f1.axes if a.get_visible()]) == 2
    f2 = cached_profile("L01_sleep_slope_reml").plot()
    assert isinstance(f2, Figure) and len([a for a in f2.axes if a.get_visible()]) == 6
    f3 = plot_profile(cached_profile("L01_sleep_slope_reml"), parm="sigma", absVal=True)
    assert len([a for a in f3.axes if a.get_visible()]) == 1
    f4 = plot_resid(fit("G01_cbpp_laplace"))
    assert isinstance(f4, Figure) and f4.axes[0].get_ylabel() == "pearson residuals"
    with pytest.raises(mlm.MixedLMError, match="unknown grouping factor"):
        plot_ranef(m, group="herd")
    plt.close("all")


def test_timings_recorded():
    """Not a benchmark (see benchmarks/): records the profile and bootstrap times next to lme4's."""
    pl, pg = cached_profile("L01_sleep_slope_reml"), cached_profile("G01_cbpp_laplace")
    bb = g01_boot()
    print(
        f"\nprofile L01 {pl.elapsed:.2f}s (lme4 {REF['L01_sleep_slope_reml']['profile']['elapsed_s']}s), "
        f"G01 {pg.elapsed:.2f}s (lme4 {REF['G01_cbpp_laplace']['profile']['elapsed_s']}s), "
        f"bootstrap G01 nsim=200 {bb.wall:.2f}s (lme4 {REF['G01_cbpp_laplace']['boot']['elapsed_s']}s)"
    )
    assert pl.elapsed > 0 and bb.elapsed > 0
