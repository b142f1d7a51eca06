"""Links and families against R 4.2 / MASS (values in data/family_reference.json).

The reference file is produced by ``data/make_family_reference.R``; R is not needed here.
Where R's own formula loses digits (``y log(y/μ)`` with ``y ≈ μ``, ``log(1 − μ)`` for small
``μ``) our values are the accurate ones; those comparisons use an absolute tolerance of a
few ulps of the terms R subtracts, and the accurate value is checked separately with
50-digit decimal arithmetic.
"""

from __future__ import annotations

import ast
import json
import re
import warnings
from decimal import Decimal, getcontext
from pathlib import Path

import numpy as np
import pytest

import mixedlm.families as F
from mixedlm.engines import families as engine_families
from mixedlm.engines import links as engine_links
from mixedlm.engines.links import DOUBLE_EPS, make_link
from mixedlm.errors import DataError, MixedLMError

REF_PATH = Path(__file__).parent / "data" / "family_reference.json"
REF = json.loads(REF_PATH.read_text(encoding="utf-8"))


def num(v) -> np.ndarray:
    """R's "%.17g" strings (a list or a single string) as a float64 array."""
    return np.array([float(s) for s in (v if isinstance(v, list) else [v])], dtype=np.float64)


def make_family(case: dict) -> F.Family:
    fam, link = case["family"], case["link"]
    if fam == "binomial":
        return F.Binomial(link)
    if fam == "poisson":
        return F.Poisson(link)
    if fam.startswith("Negative Binomial"):
        return F.NegativeBinomial(float(num(case["theta"])[0]), link)
    if fam == "Gamma":
        return F.Gamma(link)
    if fam == "inverse.gaussian":
        return F.InverseGaussian(link)
    if fam == "gaussian":
        return F.Gaussian(link)
    raise AssertionError(fam)


def case_id(case: dict) -> str:
    return f"{case['family']}-{case['link']}"


# ---------------------------------------------------------------------------------------
# Reference file
# ---------------------------------------------------------------------------------------


def test_reference_records_versions():
    assert REF["R_version"].startswith("R version 4.2")
    assert REF["MASS_version"]
    assert "MASS" in REF["_source"] and "make_family_reference.R" in REF["_source"]
    assert num(REF["double_eps"])[0] == DOUBLE_EPS


# ---------------------------------------------------------------------------------------
# Links
# ---------------------------------------------------------------------------------------

LINK_NAMES = list(REF["links"])


def test_all_r_links_covered():
    assert set(LINK_NAMES) == set(engine_links.LINK_CLASSES)


@pytest.mark.parametrize("name", LINK_NAMES)
def test_linkinv_matches_r(name):
    ref = REF["links"][name]
    link = make_link(name)
    assert link.name == ref["name"] == name
    eta = num(ref["eta"])
    # probit tails: SciPy's ndtr and R's pnorm differ by a few ulps near Φ(−8.13) ≈ ε
    np.testing.assert_allclose(link.linkinv(eta), num(ref["linkinv"]), rtol=5e-14, atol=0)


@pytest.mark.parametrize("name", LINK_NAMES)
def test_mu_eta_matches_r(name):
    ref = REF["links"][name]
    link = make_link(name)
    np.testing.assert_allclose(link.mu_eta(num(ref["eta"])), num(ref["mu_eta"]), rtol=1e-14, atol=0)


@pytest.mark.parametrize("name", LINK_NAMES)
def test_linkfun_matches_r(name):
    ref = REF["links"][name]
    link = make_link(name)
    mu = num(ref["mu"])
    got = link.linkfun(mu)
    if name == "cloglog":
        # we use log(-log1p(-mu)); R's log(-log(1 - mu)) has relative error ~ eps/mu
        np.testing.assert_allclose(got, num(ref["linkfun_log1p"]), rtol=1e-14, atol=0)
        ok = mu > 1e-6
        np.testing.assert_allclose(got[ok], num(ref["linkfun"])[ok], rtol=1e-10, atol=0)
    else:
        np.testing.assert_allclose(got, num(ref["linkfun"]), rtol=1e-14, atol=0)


@pytest.mark.parametrize("name", LINK_NAMES)
def test_valideta_matches_r(name):
    link = make_link(name)
    for item in REF["links"][name]["valideta"]:
        assert link.valideta(num(item["eta"])) is bool(item["ok"]), item


@pytest.mark.parametrize("name", ["logit", "probit", "cloglog", "cauchit"])
def test_round_trip_unit_interval(name):
    link = make_link(name)
    mu = np.concatenate([np.geomspace(1e-12, 0.5, 60), 1.0 - np.geomspace(1e-12, 0.5, 60)])
    if name == "probit":  # Φ is clamped at η = ±8.13, i.e. μ ∈ [ε, 1−ε]; fine below that
        mu = mu[(mu > 1e-15) & (mu < 1 - 1e-15)]
    back = link.linkinv(link.linkfun(mu))
    # μ to full relative accuracy; 1 − μ only as well as the stored μ near 1 determines it
    # (μ = 1 − 10⁻¹² carries a relative error of ~10⁻⁴ in 1 − μ)
    np.testing.assert_allclose(back, mu, rtol=1e-12)
    np.testing.assert_allclose(1.0 - back, 1.0 - mu, rtol=5e-4)


@pytest.mark.parametrize("name", ["log", "identity", "sqrt", "inverse", "1/mu^2"])
def test_round_trip_positive(name):
    link = make_link(name)
    mu = np.geomspace(1e-8, 1e8, 101)
    np.testing.assert_allclose(link.linkinv(link.linkfun(mu)), mu, rtol=1e-14)


@pytest.mark.parametrize("name", LINK_NAMES)
def test_mu_eta_is_derivative_of_linkinv(name):
    link = make_link(name)
    eta = {
        "log": np.linspace(-5, 5, 21),
        "sqrt": np.linspace(0.1, 5, 21),
        "inverse": np.linspace(0.2, 5, 21),
        "1/mu^2": np.linspace(0.2, 5, 21),
        "identity": np.linspace(-5, 5, 21),
    }.get(name, np.linspace(-6, 6, 25))
    h = 1e-6
    fd = (link.linkinv(eta + h) - link.linkinv(eta - h)) / (2 * h)
    np.testing.assert_allclose(link.mu_eta(eta), fd, rtol=1e-7, atol=1e-9)  # fd noise ~ ε/h


def test_logit_extremes_are_clamped_like_r():
    link = make_link("logit")
    eta = np.array([-1e308, -31.0, 31.0, 1e308, np.inf, -np.inf])
    mu = link.linkinv(eta)
    assert np.all(np.isfinite(mu)) and np.all((mu > 0) & (mu < 1))
    assert mu[0] == DOUBLE_EPS / (1 + DOUBLE_EPS)
    np.testing.assert_array_equal(link.mu_eta(eta), DOUBLE_EPS)


def test_links_are_vectorized_and_keep_shape():
    eta = np.linspace(-3, 3, 12).reshape(3, 4)
    for name in ("logit", "probit", "cloglog", "cauchit", "log", "identity"):
        link = make_link(name)
        assert link.linkinv(eta).shape == (3, 4)
        assert link.mu_eta(eta).shape == (3, 4)
        assert link.linkinv(eta).dtype == np.float64


# ---------------------------------------------------------------------------------------
# Families against R
# ---------------------------------------------------------------------------------------

FAMILY_CASES = REF["families"]


@pytest.mark.parametrize("case", FAMILY_CASES, ids=case_id)
def test_family_name_and_link(case):
    fam = make_family(case)
    assert fam.name == case["family"]
    assert fam.link.name == case["link"]


@pytest.mark.parametrize("case", FAMILY_CASES, ids=case_id)
def test_variance_matches_r(case):
    fam = make_family(case)
    np.testing.assert_allclose(fam.variance(num(case["mu"])), num(case["variance"]), rtol=1e-15)


@pytest.mark.parametrize("case", FAMILY_CASES, ids=case_id)
def test_dev_resids_match_r(case):
    fam = make_family(case)
    y, mu, wt = num(case["y"]), num(case["mu"]), num(case["wt"])
    got = fam.dev_resids(y, mu, wt)
    assert np.all(np.isfinite(got)) and np.all(got >= 0)
    # R subtracts terms of size ~ |y log y| (+ θ log θ for the negative binomial); allow a
    # few ulps of those, since our bd0 form is the more accurate one (checked below)
    th = float(num(case["theta"])[0]) if "theta" in case else 0.0
    size = np.abs(y) + np.abs(mu) + th + 1.0
    scale = wt * size * (1.0 + np.abs(np.log(np.maximum(y + th, 1.0))))
    ref = num(case["dev_resids"])
    np.testing.assert_array_less(np.abs(got - ref), 1e-13 * np.abs(ref) + 8 * DOUBLE_EPS * scale)


@pytest.mark.parametrize("case", FAMILY_CASES, ids=case_id)
def test_aic_matches_r(case):
    fam = make_family(case)
    y, mu, wt = num(case["y"]), num(case["mu"]), num(case["wt"])
    r_aic = num(case["aic"])[0]
    assert fam.aic(y, mu, wt) == pytest.approx(r_aic, rel=1e-12, abs=1e-9)
    # the documented identity: −2 Σ loglik = R's aic (− 2 for the estimated dispersion)
    if fam.has_scale:
        dev = float(np.sum(fam.dev_resids(y, mu, wt)))
        scale = dev / (y.size if fam.name == "gaussian" else float(np.sum(wt)))
        assert -2 * np.sum(fam.loglik(y, mu, wt, scale)) == pytest.approx(r_aic - 2, rel=1e-12)
    else:
        assert -2 * np.sum(fam.loglik(y, mu, wt)) == pytest.approx(r_aic, rel=1e-12, abs=1e-9)


@pytest.mark.parametrize("case", FAMILY_CASES, ids=case_id)
def test_loglik_per_observation_matches_r(case):
    fam = make_family(case)
    y, mu, wt = num(case["y"]), num(case["mu"]), num(case["wt"])
    for item in case["loglik"]:
        scale = float(num(item["scale"])[0])
        ref = num(item["loglik"])
        got = fam.loglik(y, mu, wt, scale)
        # R's dbinom evaluates log(1 − μ) via q = 1 − μ, which has absolute error ε:
        # compare with an absolute tolerance of a few ε per trial
        np.testing.assert_array_less(np.abs(got - ref), 1e-13 * np.abs(ref) + 4 * DOUBLE_EPS * wt)


# (R's gaussian()$initialize stops for log/inverse links with y <= 0 / y == 0: no reference)
MUSTART_CASES = [c for c in FAMILY_CASES if c.get("mustart") is not None]


@pytest.mark.parametrize("case", MUSTART_CASES, ids=case_id)
def test_mustart_matches_r(case):
    fam = make_family(case)
    np.testing.assert_allclose(fam.mustart(num(case["y"]), num(case["wt"])), num(case["mustart"]), rtol=1e-15)


@pytest.mark.parametrize("case", FAMILY_CASES, ids=case_id)
def test_deviance_is_twice_loglik_drop_from_saturated(case):
    fam = make_family(case)
    y, mu, wt = num(case["y"]), num(case["mu"]), num(case["wt"])
    phi = 0.7 if fam.has_scale else 1.0
    drop = -2.0 * phi * (fam.loglik(y, mu, wt, phi) - fam.saturated_loglik(y, wt, phi))
    np.testing.assert_allclose(drop, fam.dev_resids(y, mu, wt), rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("variance", list(REF["quasi"]))
def test_quasi_matches_r(variance):
    ref = REF["quasi"][variance]
    fam = F.QuasiFamily(variance)
    assert fam.variance_name == ref["variance_name"]
    y, mu, wt = num(ref["y"]), num(ref["mu"]), num(ref["wt"])
    np.testing.assert_allclose(fam.variance(mu), num(ref["variance"]), rtol=1e-15)
    got, exp = fam.dev_resids(y, mu, wt), num(ref["dev_resids"])
    tol = 1e-13 * np.abs(exp) + 8 * DOUBLE_EPS * wt * (np.abs(y) + np.abs(mu) + 1)
    np.testing.assert_array_less(np.abs(got - exp), tol)
    np.testing.assert_allclose(fam.mustart(y, wt), num(ref["mustart"]), rtol=1e-15)


# ---------------------------------------------------------------------------------------
# Accuracy beyond R's direct formulas (50-digit decimal references)
# ---------------------------------------------------------------------------------------


def _bd0_exact(x: float, m: float) -> Decimal:
    getcontext().prec = 50
    X, M = Decimal(x), Decimal(m)
    return (X * (X / M).ln() if X != 0 else Decimal(0)) + M - X


@pytest.mark.parametrize(
    "x,m",
    [(1000.0, 1000.5), (5.0, 5.0 + 1e-9), (0.0, 1e-8), (1e6, 1e6 + 3.0), (2.5, 0.001), (7.0, 900.0), (1e-3, 2e-3)],
)
def test_bd0_is_accurate(x, m):
    got = engine_families._bd0(np.array([x]), np.array([m]))[0]
    exact = float(_bd0_exact(x, m))
    assert got == pytest.approx(exact, rel=1e-14, abs=1e-300)


def test_binomial_deviance_near_one_is_accurate():
    mu = 1 - 1e-12
    got = F.Binomial().dev_resids([1.0, 0.0], [mu, 1e-12], [40.0, 3.0])
    exact = [
        float(2 * 40 * (_bd0_exact(1.0, mu) + Decimal(1 - mu))),
        float(2 * 3 * (Decimal(1e-12) + _bd0_exact(1.0, 1 - 1e-12))),
    ]
    np.testing.assert_allclose(got, exact, rtol=1e-13)


def test_negative_binomial_tends_to_poisson():
    y = np.array([0.0, 1.0, 3.0, 10.0, 250.0])
    mu = np.array([0.5, 1.2, 2.0, 12.0, 240.0])
    nb, po = F.NegativeBinomial(1e12), F.Poisson()
    np.testing.assert_allclose(nb.dev_resids(y, mu), po.dev_resids(y, mu), rtol=1e-9)
    np.testing.assert_allclose(nb.loglik(y, mu), po.loglik(y, mu), rtol=1e-9)


def test_no_nan_at_support_edges():
    b = F.Binomial()
    y = np.array([0.0, 1.0, 0.0, 1.0, 0.0, 1.0])
    mu = np.array([0.0 + DOUBLE_EPS, 1 - DOUBLE_EPS, 1e-300, 1 - 1e-16, 0.5, 0.5])
    for f in (b.dev_resids(y, mu), b.loglik(y, mu), b.saturated_loglik(y)):
        assert np.all(np.isfinite(f))
    assert np.all(b.saturated_loglik(y) == 0.0)
    mu_lin = make_link("logit").linkinv(np.array([-50.0, 50.0, -30.0, 30.0]))
    assert np.all(np.isfinite(b.dev_resids([0.0, 1.0, 1.0, 0.0], mu_lin)))
    p = F.Poisson()
    assert p.dev_resids([0.0], [3.0])[0] == 6.0
    assert p.loglik([0.0], [3.0])[0] == -3.0
    assert p.saturated_loglik([0.0, 4.0])[0] == 0.0
    assert np.isfinite(p.loglik([0.0], [DOUBLE_EPS])[0])
    nb = F.NegativeBinomial(2.0)
    assert np.all(np.isfinite(nb.dev_resids([0.0, 0.0], [1e-300, 1e10])))


def test_zero_weight_rows_contribute_nothing():
    for fam, y, mu in (
        (F.Binomial(), 0.3, 0.4),
        (F.Poisson(), 2.0, 3.0),
        (F.Gamma(), 2.0, 3.0),
        (F.Gaussian(), 2.0, 3.0),
        (F.InverseGaussian(), 2.0, 3.0),
        (F.NegativeBinomial(2.0), 2.0, 3.0),
    ):
        assert fam.loglik([y], [mu], [0.0], 1.0)[0] == 0.0
        assert fam.dev_resids([y], [mu], [0.0])[0] == 0.0


# ---------------------------------------------------------------------------------------
# Links per family, names, printing
# ---------------------------------------------------------------------------------------

R_FAMILY_CLASSES = {
    "binomial": F.Binomial,
    "poisson": F.Poisson,
    "Gamma": F.Gamma,
    "inverse.gaussian": F.InverseGaussian,
    "gaussian": F.Gaussian,
}


@pytest.mark.parametrize("family", list(REF["ok_links_messages"]))
def test_valid_links_are_rs_oklinks(family):
    r_links = set(re.findall("‘([^’]+)’", REF["ok_links_messages"][family]))
    assert r_links and set(R_FAMILY_CLASSES[family].valid_links) == r_links
    for name in r_links:
        assert R_FAMILY_CLASSES[family](link=name).link.name == name


@pytest.mark.parametrize(
    "cls,valid",
    [
        (F.Binomial, ("logit", "probit", "cloglog", "cauchit", "log")),
        (F.Poisson, ("log", "identity", "sqrt")),
        (F.Gamma, ("inverse", "identity", "log")),
        (F.InverseGaussian, ("1/mu^2", "inverse", "identity", "log")),
        (F.Gaussian, ("identity", "log", "inverse")),
    ],
)
def test_unknown_link_lists_valid_links(cls, valid):
    with pytest.raises(MixedLMError) as info:
        cls(link="logt")
    msg = str(info.value)
    assert "'logt'" in msg and cls.name in msg
    for name in valid:
        assert repr(name) in msg


def test_negative_binomial_links():
    with pytest.raises(MixedLMError, match="available links are 'log', 'sqrt', 'identity'"):
        F.NegativeBinomial(2.0, link="logit")
    assert F.NegativeBinomial(2.0, link="sqrt").link.name == "sqrt"


def test_link_instances_are_accepted():
    fam = F.Binomial(link=F.ProbitLink())
    assert fam.link.name == "probit" and fam == F.Binomial("probit")
    custom = F.FunctionLink("logexp", linkfun=lambda m: np.log(m), linkinv=np.exp, mu_eta=np.exp)
    assert F.Poisson(link=custom).link is custom
    assert not F.Poisson(link=custom).canonical


@pytest.mark.parametrize("bad", [3, 1.5, ["logit"], {"name": "logit"}])
def test_link_must_be_name_or_link(bad):
    with pytest.raises(MixedLMError):
        F.Binomial(link=bad)


def test_repr_and_str():
    assert repr(F.Binomial()) == "Binomial(link='logit')"
    assert str(F.Binomial()) == "family: binomial, link: logit"
    assert repr(F.Gamma("log")) == "Gamma(link='log')"
    assert str(F.InverseGaussian()) == "family: inverse.gaussian, link: 1/mu^2"
    assert repr(F.NegativeBinomial(2)) == "NegativeBinomial(theta=2.0, link='log')"
    assert str(F.NegativeBinomial(2)) == "family: Negative Binomial(2), link: log"
    assert repr(F.QuasiFamily("mu", "log")) == "QuasiFamily(variance_func='mu', link='log')"
    assert repr(make_link("1/mu^2")) == "Link('1/mu^2')"


def test_has_scale_and_canonical():
    assert not F.Binomial().has_scale and not F.Poisson().has_scale
    assert not F.NegativeBinomial(1.0).has_scale
    assert F.Gamma().has_scale and F.InverseGaussian().has_scale and F.Gaussian().has_scale
    assert F.QuasiFamily("mu").has_scale
    assert F.Binomial().canonical and not F.Binomial("probit").canonical
    assert F.Poisson().canonical and F.Gamma().canonical and F.InverseGaussian().canonical
    assert F.Gaussian().canonical and not F.Gaussian("log").canonical
    assert not F.NegativeBinomial(2.0).canonical
    assert F.QuasiFamily("mu", "log").canonical and not F.QuasiFamily("mu", "identity").canonical


@pytest.mark.parametrize("item", REF["nb_names"], ids=lambda it: it["name"])
def test_negative_binomial_name_as_mass(item):
    assert F.NegativeBinomial(float(num(item["theta"])[0])).name == item["name"]


def test_negative_binomial_family_line_as_glmer_nb_summary():
    ref = REF["glmer_nb"]
    fam = F.NegativeBinomial(float(num(ref["theta"])[0]))
    assert fam.name == ref["family"]
    assert f" Family: {fam.name}  ( {fam.link.name} )" == ref["summary_family_line"]


@pytest.mark.parametrize("theta", [0, -1, np.inf, np.nan, "a"])
def test_negative_binomial_bad_theta(theta):
    with pytest.raises(MixedLMError, match="theta"):
        F.NegativeBinomial(theta)


def test_negative_binomial_with_theta():
    nb = F.NegativeBinomial(2.0, "sqrt").with_theta(5.0)
    assert nb.theta == 5.0 and nb.link.name == "sqrt" and nb.name == "Negative Binomial(5)"


def test_r_format_number():
    fmt = engine_families.r_format_number
    assert [fmt(x) for x in (2.0, 0.5, 3.2726, 1e6, 1e-4, 12345.6789, 0.0, -2.5, 1e-120)] == [
        "2",
        "0.5",
        "3.2726",
        "1e+06",
        "1e-04",
        "12345.68",
        "0",
        "-2.5",
        "1e-120",
    ]


def test_equality_and_hash():
    assert F.Binomial() == F.Binomial("logit")
    assert F.Binomial() != F.Binomial("probit")
    assert F.NegativeBinomial(2.0) != F.NegativeBinomial(3.0)
    assert len({F.Poisson(), F.Poisson()}) == 1


# ---------------------------------------------------------------------------------------
# Response validation
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("fam", [F.Poisson(), F.NegativeBinomial(2.0)], ids=["poisson", "nb"])
def test_counts_must_be_non_negative(fam):
    with pytest.raises(DataError, match=r"non-negative counts; row 2 \(0-based position\) has -2"):
        fam.validate_response([0, 1, -2, 3, -1], name="y")


@pytest.mark.parametrize("fam", [F.Poisson(), F.NegativeBinomial(2.0)], ids=["poisson", "nb"])
def test_counts_must_be_integers(fam):
    with pytest.raises(DataError, match=r"'?y'? must be whole-number counts; row 1 .* has 1\.5"):
        fam.validate_response(np.array([0.0, 1.5, 2.0]), name="y")
    fam.validate_response(np.array([0.0, 1.0 + 1e-12, 2.0]))  # rounding noise is fine


def test_binomial_proportion_outside_unit_interval():
    b = F.Binomial()
    with pytest.raises(
        DataError,
        match=r"binomial incidence must be a proportion in \[0, 1\]; "
        r"row 1 .* has 1\.5$",
    ):
        b.validate_response([0.0, 1.5, 1.0], name="incidence")
    with pytest.raises(DataError, match=r"proportion in \[0, 1\]; row 0 .* has -0\.25"):
        b.validate_response([-0.25, 0.5])


def test_binomial_successes_exceed_trials():
    with pytest.raises(DataError, match=r"has 1\.5 \(successes exceed trials: 3 successes out of 2\)"):
        F.Binomial().validate_response([0.5, 1.5], [2.0, 2.0])


def test_binomial_non_integer_successes():
    with pytest.raises(
        DataError,
        match=r"whole number of successes; row 1 .* has y = 0\.3 with "
        r"2 trials \(0\.6 successes\)",
    ):
        F.Binomial().validate_response([0.5, 0.3], [2.0, 2.0], name="y")
    # 0/1 response with non-integer (e.g. survey) weights: allowed when asked
    F.Binomial().validate_response([0.0, 1.0], [0.3, 2.7], weights_are_trials=False)


def test_binomial_non_integer_trials():
    with pytest.raises(DataError, match=r"numbers of trials and must be whole numbers; row 0 .* has 2\.5"):
        F.Binomial().validate_response([0.4], [2.5])


def test_binomial_zero_weight_rows_are_ignored():
    F.Binomial().validate_response([0.5, 7.0, -1.0], [2.0, 0.0, 0.0])


def test_binomial_valid_inputs_pass():
    F.Binomial().validate_response(np.array([0, 1, 1, 0], dtype=bool))
    F.Binomial().validate_response([0.0, 1 / 3, 2 / 3, 1.0], [3, 3, 3, 3])


@pytest.mark.parametrize("fam,label", [(F.Gamma(), "Gamma"), (F.InverseGaussian(), "inverse Gaussian")])
def test_positive_families_reject_non_positive(fam, label):
    with pytest.raises(DataError, match=rf"{label} y must be positive; row 1 .* has 0"):
        fam.validate_response([1.0, 0.0, 2.0], name="y")
    with pytest.raises(DataError, match=r"must be positive; row 0 .* has -3"):
        fam.validate_response([-3.0, 1.0])


@pytest.mark.parametrize(
    "fam",
    [F.Binomial(), F.Poisson(), F.Gamma(), F.Gaussian(), F.NegativeBinomial(1.0), F.InverseGaussian(), F.QuasiFamily()],
    ids=repr,
)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_response(fam, bad):
    with pytest.raises(DataError, match=r"must be finite; row 1 .* has (nan|inf|-inf)"):
        fam.validate_response([1.0, bad, 1.0])


def test_bad_weights():
    with pytest.raises(DataError, match=r"weights must be non-negative; row 1 .* has -1"):
        F.Poisson().validate_response([1.0, 2.0], [1.0, -1.0])
    with pytest.raises(DataError, match=r"weights must be finite"):
        F.Poisson().validate_response([1.0, 2.0], [np.nan, 1.0])
    with pytest.raises(DataError, match=r"weights have length 3 but response has length 2"):
        F.Poisson().validate_response([1.0, 2.0], [1.0, 1.0, 1.0])


def test_row_labels_and_counts_in_message():
    with pytest.raises(DataError, match=r"row 'c' has -1 \(2 more rows like this\)"):
        F.Poisson().validate_response([1, 2, -1, -4, -5], row_labels=["a", "b", "c", "d", "e"])
    with pytest.raises(DataError, match=r"row 12 has -1 \(1 more row like this\)$"):
        F.Poisson().validate_response([1, -1, -2], row_labels=[10, 12, 14])


def test_gaussian_accepts_any_finite_response():
    F.Gaussian().validate_response([-3.0, 0.0, 2.5])


def test_quasi_support_checks():
    F.QuasiFamily("constant").validate_response([-1.0, 2.0])
    with pytest.raises(DataError, match=r"must be in \[0, 1\]"):
        F.QuasiFamily("mu(1-mu)").validate_response([0.5, 1.2])
    with pytest.raises(DataError, match="must be non-negative"):
        F.QuasiFamily("mu").validate_response([-0.5, 1.2])
    with pytest.raises(DataError, match="must be positive"):
        F.QuasiFamily("mu^3").validate_response([0.0, 1.2])


# ---------------------------------------------------------------------------------------
# Quasi and custom families
# ---------------------------------------------------------------------------------------


def test_quasi_has_no_likelihood():
    q = F.QuasiFamily("mu", "log")
    with pytest.raises(MixedLMError, match="quasi family has no likelihood"):
        q.loglik([1.0], [1.0], [1.0])
    with pytest.raises(MixedLMError, match="no likelihood"):
        q.saturated_loglik([1.0], [1.0])
    assert np.isnan(q.aic([1.0], [1.0], [1.0]))
    with pytest.raises(MixedLMError, match="cannot simulate"):
        q.simulate([1.0], [1.0], np.random.default_rng(1))


def test_quasi_variance_names():
    assert F.QuasiFamily("mu (1 - mu)", "logit").variance_name == "mu(1-mu)"
    with pytest.raises(MixedLMError, match=r"quasi variance 'mu\^4' is invalid"):
        F.QuasiFamily("mu^4")
    assert F.QuasiFamily("mu", link="cauchit").link.name == "cauchit"
    with pytest.raises(MixedLMError, match="available links"):
        F.QuasiFamily("mu", link="logt")


@pytest.mark.parametrize(
    "named,func", [("mu", lambda m: m), ("mu^2", lambda m: m * m), ("mu^3", lambda m: m**3), ("constant", np.ones_like)]
)
def test_quasi_callable_variance_integrates_deviance(named, func):
    y = np.array([0.5, 1.0, 2.0, 3.5, 7.0])
    mu = np.array([0.6, 1.4, 1.9, 5.0, 6.5])
    wt = np.array([1.0, 2.0, 1.0, 0.5, 1.0])
    q = F.QuasiFamily(func, "log")
    np.testing.assert_allclose(q.variance(mu), F.QuasiFamily(named).variance(mu))
    np.testing.assert_allclose(q.dev_resids(y, mu, wt), F.QuasiFamily(named).dev_resids(y, mu, wt), rtol=1e-10)


def test_custom_family():
    po = F.Poisson()
    fam = F.CustomFamily(
        "my poisson",
        "log",
        variance=lambda m: m,
        dev_resids=po.dev_resids,
        loglik=po.loglik,
        mustart=lambda y, w: y + 0.5,
        validate=lambda y, w, name: po._check_support(y, w, name, None),
    )
    y, mu = np.array([0.0, 2.0, 5.0]), np.array([0.5, 2.5, 4.0])
    assert fam.name == "my poisson" and fam.link.name == "log" and not fam.has_scale
    np.testing.assert_allclose(fam.dev_resids(y, mu), po.dev_resids(y, mu))
    np.testing.assert_allclose(fam.saturated_loglik(y), po.saturated_loglik(y))
    assert fam.aic(y, mu) == pytest.approx(po.aic(y, mu))
    np.testing.assert_allclose(fam.mustart(y), y + 0.5)
    with pytest.raises(DataError, match="non-negative counts"):
        fam.validate_response([1.0, -1.0])
    with pytest.raises(DataError, match="must be finite"):
        fam.validate_response([1.0, np.nan])
    assert repr(fam) == "CustomFamily(name='my poisson', link='log')"
    bare = F.CustomFamily("bare", "identity", variance=np.ones_like, dev_resids=lambda y, m, w: w * (y - m) ** 2)
    with pytest.raises(MixedLMError, match="defines no log-likelihood"):
        bare.loglik([1.0], [1.0])
    with pytest.raises(MixedLMError, match="simulation is not available"):
        bare.simulate([1.0], None, np.random.default_rng(0))
    with pytest.raises(MixedLMError, match="variance must be callable"):
        F.CustomFamily("x", "log", variance=1.0, dev_resids=po.dev_resids)


# ---------------------------------------------------------------------------------------
# Simulation (moment checks with a fixed seed)
# ---------------------------------------------------------------------------------------

N_SIM = 200_000


def _check_moments(draws: np.ndarray, mean: float, var: float) -> None:
    n = draws.size
    assert abs(draws.mean() - mean) < 5 * np.sqrt(var / n)
    assert draws.var() == pytest.approx(var, rel=0.03)


@pytest.mark.parametrize(
    "fam,mu,wt,scale,var",
    [
        (F.Binomial(), 0.3, 5.0, 1.0, 0.3 * 0.7 / 5),
        (F.Binomial("probit"), 0.9, 1.0, 1.0, 0.09),
        (F.Poisson(), 4.0, 1.0, 1.0, 4.0),
        (F.NegativeBinomial(2.0), 3.0, 1.0, 1.0, 3.0 + 9.0 / 2.0),
        (F.NegativeBinomial(0.5), 3.0, 1.0, 1.0, 3.0 + 9.0 / 0.5),
        (F.Gamma(), 2.0, 1.0, 0.5, 0.5 * 4.0),
        (F.Gamma("log"), 2.0, 2.0, 0.5, 0.5 * 4.0 / 2.0),
        (F.InverseGaussian(), 2.0, 1.0, 0.1, 0.1 * 8.0),
        (F.Gaussian(), -1.0, 4.0, 2.0, 2.0 / 4.0),
    ],
    ids=lambda v: repr(v) if isinstance(v, F.Family) else None,
)
def test_simulate_moments(fam, mu, wt, scale, var):
    rng = np.random.default_rng(20240501)
    draws = fam.simulate(np.full(N_SIM, mu), np.full(N_SIM, wt), rng, scale)
    assert draws.dtype == np.float64 and draws.shape == (N_SIM,)
    _check_moments(draws, mu, var)
    if isinstance(fam, F.Binomial):
        assert np.allclose(draws * wt, np.round(draws * wt))


def test_simulate_is_reproducible_and_vectorized():
    mu = np.linspace(0.1, 0.9, 9)
    a = F.Binomial().simulate(mu, np.full(9, 10.0), np.random.default_rng(7))
    b = F.Binomial().simulate(mu, np.full(9, 10.0), np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)


def test_simulate_binomial_needs_integer_trials():
    with pytest.raises(DataError, match="non-integer prior weights"):
        F.Binomial().simulate([0.5], [2.5], np.random.default_rng(0))
    assert F.Binomial().simulate([0.5], [0.0], np.random.default_rng(0))[0] == 0.0


def test_simulate_poisson_warns_about_weights():
    with pytest.warns(UserWarning, match="ignores prior weights"):
        F.Poisson().simulate([1.0, 2.0], [1.0, 2.0], np.random.default_rng(0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        F.Poisson().simulate([1.0, 2.0], None, np.random.default_rng(0))


# ---------------------------------------------------------------------------------------
# Misc
# ---------------------------------------------------------------------------------------


def test_gaussian_mustart_stays_in_link_domain():
    y = np.array([-2.0, 0.0, 3.0])
    assert np.all(F.Gaussian("log").mustart(y) > 0)
    assert np.all(F.Gaussian("inverse").mustart(y) != 0)
    np.testing.assert_array_equal(F.Gaussian().mustart(y), y)


def test_family_link_shortcuts():
    fam = F.Binomial("cloglog")
    eta = np.array([-2.0, 0.0, 1.0])
    np.testing.assert_array_equal(fam.linkinv(eta), fam.link.linkinv(eta))
    np.testing.assert_array_equal(fam.mu_eta(eta), fam.link.mu_eta(eta))
    np.testing.assert_array_equal(fam.linkfun([0.2]), fam.link.linkfun([0.2]))
    assert fam.validmu([0.2, 0.5]) and not fam.validmu([0.0, 0.5])


def test_engine_modules_do_not_import_pandas():
    for mod in (engine_families, engine_links):
        tree = ast.parse(Path(mod.__file__).read_text(encoding="utf-8"))
        names = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module.split(".")[0])
        assert "pandas" not in names, mod.__name__


def test_public_module_exports():
    for name in (
        "Binomial",
        "Poisson",
        "NegativeBinomial",
        "Gamma",
        "InverseGaussian",
        "Gaussian",
        "QuasiFamily",
        "CustomFamily",
        "Family",
        "Link",
        "make_link",
    ):
        assert hasattr(F, name)


def test_stirlerr_table_and_series():
    st = engine_families._stirlerr
    # stirlerr(1) = log 1! − 1.5 log 1 + 1 − ½ log 2π
    assert st(np.array([1.0]))[0] == pytest.approx(1.0 - 0.5 * np.log(2 * np.pi), rel=1e-15)
    # the series (n > 15) and the direct formula agree where both are accurate
    n = np.array([15.5, 20.0, 40.0])
    from scipy.special import gammaln

    direct = gammaln(n + 1) - (n + 0.5) * np.log(n) + n - 0.5 * np.log(2 * np.pi)
    np.testing.assert_allclose(st(n), direct, rtol=1e-11)


def test_binomial_loglik_rounds_like_r():
    # R: dbinom(round(w y), round(w), mu) for non-integer weights
    from scipy.stats import binom

    got = F.Binomial().loglik([0.5, 0.25], [0.3, 0.6], [2.4, 4.0])
    np.testing.assert_allclose(got, binom.logpmf([1, 1], [2, 4], [0.3, 0.6]), rtol=1e-13)
