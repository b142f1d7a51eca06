"""Benchmark: mixedlm's Bayesian mixed GLMs and ``MixedLM`` against statsmodels, same data, same run.

    python benchmarks/bench_bayes.py [--repeats N] [--threads 1] [--only crossed10k,...] [--save out.json]

For every case both packages fit the same data (built once, in memory) through their formula
interfaces; the timed call is the whole ``from_formula(...).fit_*()`` (formula processing
included), one warm-up and then ``repeats`` timed calls, median wall time (``perf_counter``).
BLAS is limited to ``--threads`` threads for both (default 1; statsmodels gets the same limit).
statsmodels draws random starting values: it gets ``rng=0``.

Cases (the issue's targets: ≥ 5× faster on the 10,000-row crossed binary model, no slower on
sleepstudy-size data):

* ``crossed10k`` — 10,000 binary rows, ``y ~ x`` with crossed random intercepts ``a`` (200
  levels) and ``b`` (50 levels): ``fit_map`` and ``fit_vb``;
* ``crossed10k_lmm`` — the same design with a Gaussian response: ``MixedLM`` with a single
  group and ``vc_formula`` (statsmodels' way to fit crossed effects);
* ``example200`` — the issue's example (200 rows, dense 5-column ``exog_vc``, array interface);
* ``sleep_binary`` — sleepstudy (180 rows), ``Reaction > 300`` with subject intercepts;
* ``cbpp842`` — cbpp expanded to 842 Bernoulli rows (the statsmodels reference model);
* ``sleepstudy`` — ``MixedLM`` ``Reaction ~ Days``, ``re_formula="~Days"``, REML;
* ``penicillin`` — ``MixedLM`` crossed ``plate`` × ``sample`` through ``vc_formula``.

Printed: medians, ratio statsmodels/mixedlm (above 1: mixedlm faster) and the objective each
package reached, evaluated by mixedlm's formula (log posterior / ELBO with all constants;
REML log-likelihood), so a fast wrong answer is visible.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import mixedlm as mlm  # noqa: E402
from mixedlm.statsmodels_style.bayes_mixed_glm import BinomialBayesMixedGLM, MixedGLM  # noqa: E402
from mixedlm.statsmodels_style.mixed_lm import MixedLM  # noqa: E402


# ------------------------------------------------------------------------------ data
def crossed(n: int = 10_000, na: int = 200, nb: int = 50, seed: int = 1, gaussian: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a = rng.integers(0, na, n)
    b = rng.integers(0, nb, n)
    x = rng.standard_normal(n)
    ua = rng.normal(0, 0.8, na)
    ub = rng.normal(0, 0.5, nb)
    eta = -0.3 + 0.7 * x + ua[a] + ub[b]
    y = eta + rng.normal(0, 1.0, n) if gaussian else rng.binomial(1, 1 / (1 + np.exp(-eta))).astype(float)
    return pd.DataFrame(
        {
            "y": y,
            "x": x,
            "one": 1,
            "a": pd.Categorical([f"a{i:03d}" for i in a]),
            "b": pd.Categorical([f"b{i:03d}" for i in b]),
        }
    )


def example() -> tuple:
    state = np.random.get_state()
    np.random.seed(4321)
    n = 200
    exog = np.random.normal(size=(n, 2))
    exog_vc = np.random.normal(size=(n, 5))
    ident = np.array([0] * 2 + [1] * 3)
    lin_pred = exog[:, 0] + exog[:, 1] + 0.5 * exog_vc[:, 0] - 0.3 * exog_vc[:, 3]
    endog = np.random.binomial(1, 1 / (1 + np.exp(-lin_pred)), n)
    np.random.set_state(state)
    return endog, exog, exog_vc, ident


def cbpp_binary() -> pd.DataFrame:
    cbpp = mlm.load_cbpp()
    rows = []
    for herd, period, inc, size in zip(cbpp["herd"], cbpp["period"], cbpp["incidence"], cbpp["size"]):
        rows += [(herd, period, 1)] * int(inc) + [(herd, period, 0)] * int(size - inc)
    d = pd.DataFrame(rows, columns=["herd", "period", "y"])
    d["herd"] = pd.Categorical(d["herd"].astype(str), categories=list(cbpp["herd"].cat.categories))
    d["period"] = pd.Categorical(d["period"].astype(str), categories=list(cbpp["period"].cat.categories))
    return d


# ------------------------------------------------------------------------------ timing
def timed(fn: Callable[[], Any], repeats: int) -> tuple[float, float, Any]:
    """Warm-up, then the median and minimum of ``repeats`` timed calls, and the last result."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = fn()
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            out = fn()
            times.append(time.perf_counter() - t0)
    return statistics.median(times), min(times), out


def bayes_case(
    name: str, build_ours: Callable[[], Any], build_sm: Callable[[], Any] | None, repeats: int, rows: list[dict]
) -> None:
    model = build_ours()
    for method in ("fit_map", "fit_vb"):
        t_ours, tmin, r = timed(lambda: getattr(build_ours(), method)(), repeats)
        row = {
            "case": name,
            "what": method,
            "mixedlm_s": t_ours,
            "mixedlm_min_s": tmin,
            "mixedlm_objective": r.objective,
        }
        if build_sm is not None:
            kw = {"rng": 0}
            t_sm, smin, s = timed(lambda: getattr(build_sm(), method)(**kw), repeats)
            row.update(statsmodels_s=t_sm, statsmodels_min_s=smin, ratio=t_sm / t_ours)
            if method == "fit_map":
                row["statsmodels_objective"] = model.logposterior(np.asarray(s.params))
            else:
                row["statsmodels_objective"] = model.vb_elbo(np.asarray(s.params), np.sqrt(np.asarray(s.cov_params())))
        rows.append(row)
        _print_row(row)


def lmm_case(
    name: str, fit_ours: Callable[[], Any], fit_sm: Callable[[], Any] | None, repeats: int, rows: list[dict]
) -> None:
    t_ours, tmin, r = timed(fit_ours, repeats)
    row = {"case": name, "what": "MixedLM.fit", "mixedlm_s": t_ours, "mixedlm_min_s": tmin, "mixedlm_objective": r.llf}
    if fit_sm is not None:
        t_sm, smin, s = timed(fit_sm, repeats)
        row.update(statsmodels_s=t_sm, statsmodels_min_s=smin, ratio=t_sm / t_ours, statsmodels_objective=s.llf)
    rows.append(row)
    _print_row(row)


def _print_row(row: dict) -> None:
    sm = f"{row['statsmodels_s'] * 1e3:10.1f} ms" if "statsmodels_s" in row else "         n/a"
    ratio = f"{row['ratio']:7.1f}x" if "ratio" in row else "     n/a"
    obj = f"{row['mixedlm_objective']:.4f}"
    sobj = f"{row['statsmodels_objective']:.4f}" if "statsmodels_objective" in row else "n/a"
    print(
        f"{row['case']:15s} {row['what']:12s} {row['mixedlm_s'] * 1e3:10.1f} ms {sm} {ratio}   "
        f"objective mixedlm {obj}, statsmodels {sobj}",
        flush=True,
    )


# ------------------------------------------------------------------------------ main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=0, help="timed calls per case (default 7 small, 3 large)")
    ap.add_argument("--threads", type=int, default=1, help="BLAS threads for both packages (0: leave alone)")
    ap.add_argument("--only", default="", help="comma-separated subset of the cases")
    ap.add_argument("--save", default="", help="write the results as JSON to this path")
    args = ap.parse_args()
    try:
        import statsmodels
        import statsmodels.formula.api as smf
        from statsmodels.genmod.bayes_mixed_glm import BinomialBayesMixedGLM as SmBinomial

        sm_version = statsmodels.__version__
    except ImportError:
        smf = SmBinomial = None
        sm_version = None
        print("statsmodels is not installed: mixedlm timings only")
    limiter = None
    if args.threads:
        from threadpoolctl import threadpool_limits

        limiter = threadpool_limits(limits=args.threads)
    only = set(filter(None, args.only.split(",")))
    small = args.repeats or 7
    large = args.repeats or 3
    rows: list[dict] = []
    print(
        f"mixedlm {mlm.__version__}, statsmodels {sm_version}, numpy {np.__version__}, "
        f"python {platform.python_version()}, BLAS threads {args.threads or 'default'}"
    )
    print(f"{'case':15s} {'what':12s} {'mixedlm':>13s} {'statsmodels':>13s} {'sm/ours':>8s}")

    def want(name: str) -> bool:
        return not only or name in only

    if want("crossed10k"):
        d = crossed()
        vc = {"a": "0 + C(a)", "b": "0 + C(b)"}
        bayes_case(
            "crossed10k",
            lambda: BinomialBayesMixedGLM.from_formula("y ~ x", vc, d),
            (lambda: SmBinomial.from_formula("y ~ x", vc, d)) if SmBinomial else None,
            large,
            rows,
        )
    if want("crossed10k_lmm"):
        d = crossed(gaussian=True)
        vc = {"a": "0 + C(a)", "b": "0 + C(b)"}
        lmm_case(
            "crossed10k_lmm",
            lambda: MixedLM.from_formula("y ~ x", d, groups="one", re_formula="0", vc_formula=vc).fit(),
            (lambda: smf.mixedlm("y ~ x", d, groups="one", re_formula="~0", vc_formula=vc).fit()) if smf else None,
            large,
            rows,
        )
    if want("example200"):
        endog, exog, exog_vc, ident = example()
        bayes_case(
            "example200",
            lambda: MixedGLM(endog, exog, exog_vc, ident),
            (lambda: SmBinomial(endog, exog, exog_vc, ident)) if SmBinomial else None,
            small,
            rows,
        )
    if want("sleep_binary"):
        sl = mlm.load_sleepstudy()
        sl = sl.assign(y=(sl["Reaction"] > 300).astype(int))
        vc = {"Subject": "0 + C(Subject)"}
        bayes_case(
            "sleep_binary",
            lambda: BinomialBayesMixedGLM.from_formula("y ~ Days", vc, sl),
            (lambda: SmBinomial.from_formula("y ~ Days", vc, sl)) if SmBinomial else None,
            small,
            rows,
        )
    if want("cbpp842"):
        cb = cbpp_binary()
        vc = {"herd": "0 + C(herd)"}
        bayes_case(
            "cbpp842",
            lambda: BinomialBayesMixedGLM.from_formula("y ~ period", vc, cb),
            (lambda: SmBinomial.from_formula("y ~ period", vc, cb)) if SmBinomial else None,
            small,
            rows,
        )
    if want("sleepstudy"):
        sl = mlm.load_sleepstudy()
        lmm_case(
            "sleepstudy",
            lambda: MixedLM.from_formula("Reaction ~ Days", sl, groups="Subject", re_formula="~Days").fit(),
            (lambda: smf.mixedlm("Reaction ~ Days", sl, groups="Subject", re_formula="~Days").fit()) if smf else None,
            small,
            rows,
        )
    if want("penicillin"):
        pen = mlm.load_penicillin().assign(one=1)
        vc = {"plate": "0 + C(plate)", "sample": "0 + C(sample)"}
        lmm_case(
            "penicillin",
            lambda: MixedLM.from_formula("diameter ~ 1", pen, groups="one", re_formula="0", vc_formula=vc).fit(),
            (lambda: smf.mixedlm("diameter ~ 1", pen, groups="one", re_formula="~0", vc_formula=vc).fit())
            if smf
            else None,
            small,
            rows,
        )
    if limiter is not None:
        limiter.restore_original_limits()
    targets = [
        ("crossed10k", "fit_map", 5.0),
        ("crossed10k", "fit_vb", 5.0),
        ("crossed10k_lmm", "MixedLM.fit", 5.0),
        ("example200", "fit_map", 1.0),
        ("example200", "fit_vb", 1.0),
        ("sleep_binary", "fit_map", 1.0),
        ("sleep_binary", "fit_vb", 1.0),
        ("cbpp842", "fit_map", 1.0),
        ("cbpp842", "fit_vb", 1.0),
        ("sleepstudy", "MixedLM.fit", 1.0),
        ("penicillin", "MixedLM.fit", 1.0),
    ]
    print("\ntargets (statsmodels time / mixedlm time):")
    for case, what, target in targets:
        for row in rows:
            if row["case"] == case and row["what"] == what and "ratio" in row:
                ok = "met" if row["ratio"] >= target else "NOT met"
                print(f"  {case:15s} {what:12s} {row['ratio']:7.1f}x  (target >= {target:g}x: {ok})")
    if args.save:
        Path(args.save).write_text(
            json.dumps(
                {
                    "statsmodels": sm_version,
                    "mixedlm": mlm.__version__,
                    "numpy": np.__version__,
                    "threads": args.threads,
                    "rows": rows,
                },
                indent=1,
            )
        )


if __name__ == "__main__":
    main()
