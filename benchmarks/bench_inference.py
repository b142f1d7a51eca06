"""Timing of confidence intervals (issue 5): mixedlm's ``confint`` against lme4's, side by side.

    python benchmarks/bench_inference.py [--repeats 5] [--boot-repeats 3] [--skip-r] [--nice 10]

Cases (the issue's "Done means" 3: no slower than lme4 on each):

* ``L01_profile`` — ``m.confint(method="profile")`` of ``lmer("Reaction ~ Days + (Days | Subject)",
  sleepstudy)`` (REML), against lme4's ``confint(fit, method="profile")``;
* ``G01_profile`` — the same for ``glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
  cbpp, binomial)`` (Laplace);
* ``G01_boot`` — ``m.confint(method="boot", nsim=200, seed=101, n_jobs=1)`` of that GLMM, against
  ``confint(fit, method="boot", nsim=200, seed=101)`` (lme4's ``bootMer``, ``parallel="no"``,
  ``.progress="none"``).

Conventions of ``run.py``: the same CSV and factor levels for both engines (written by
``run.prepare_data``), one child process per case and engine at ``--nice``, BLAS and OpenMP at one
thread, warm-up first, then the median of the timed rounds. A round is a fresh fit (timed on its
own) followed by ``confint`` on that fitted model (timed on its own; this is the number the target
is about); their sum is reported as "fit+confint". ``gc`` runs before the fit and before
``confint``, outside the clocks. The warm-up rounds of the bootstrap use ``--boot-warmup-nsim``
replicates (default 20: enough to compile and cache everything; the full 200 would only double
the run time). CPU time of the child process is recorded beside the wall time (the machine may be
shared; CPU/wall ≈ 1 says the run had the core to itself and used one thread).

The intervals of both engines are printed side by side. Profile intervals should agree to about
1e-4 relative; bootstrap intervals use different random streams and agree only statistically.
Results: ``benchmarks/results/inference_latest.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import gc
import io
import json
import os
import statistics
import sys
import time
import traceback
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

import run as bench  # noqa: E402  (benchmarks/run.py: data preparation, spawning, machine info)

RESULTS = HERE / "results"
OUT_JSON = RESULTS / "inference_latest.json"

# model: a key of run.py's MODELS (formula, kind, family, nAGQ and the data set come from there).
CASES: dict[str, dict] = {
    "L01_profile": {"model": "sleepstudy", "label": "L01", "method": "profile"},
    "G01_profile": {"model": "cbpp", "label": "G01", "method": "profile"},
    "G01_boot": {"model": "cbpp", "label": "G01", "method": "boot", "nsim": 200, "seed": 101},
}
ENGINES = ("mixedlm", "lme4")
#: Issue 5, "Done means" 3: lme4 time / mixedlm time of the confint call, at least this.
TARGET_RATIO = 1.0


# ============================================================================================
# Child (mixedlm)
# ============================================================================================
def _interval_table(ci) -> dict:
    return {
        "rows": [str(r) for r in ci.index],
        "columns": [str(c) for c in ci.columns],
        "lower": [bench._f(v) for v in ci.iloc[:, 0]],
        "upper": [bench._f(v) for v in ci.iloc[:, 1]],
    }


def child_main(job_path: str) -> int:
    with open(job_path) as fh:
        job = json.load(fh)
    res: dict = {"engine": "mixedlm", "status": "started", "pid": os.getpid()}

    def dump() -> None:
        tmp = job["out"] + ".tmp"
        with open(tmp, "w") as fh:
            json.dump(res, fh)
        os.replace(tmp, job["out"])

    try:
        df = bench.read_data(job["data"])
        import mixedlm as mlm

        cfg = job["model_cfg"]
        case = job["case"]
        if cfg["kind"] == "lmer":

            def fit_model():
                return mlm.lmer(cfg["formula"], df, REML=cfg["REML"])
        else:
            family = {"binomial": mlm.families.Binomial, "poisson": mlm.families.Poisson}[cfg["family"]]

            def fit_model():
                return mlm.glmer(cfg["formula"], df, family=family(), nAGQ=cfg["nAGQ"])

        def run_confint(m, nsim):
            if case["method"] == "profile":
                return m.confint(method="profile")
            return m.confint(method="boot", nsim=nsim, seed=case["seed"], n_jobs=1, progress=False)

        res["version"] = bench._engine_version("mixedlm")
        t = {"warmup_confint_s": [], "fit_wall_s": [], "fit_cpu_s": [], "confint_wall_s": [], "confint_cpu_s": []}
        res["timings"] = t
        caught: list[str] = []
        m = ci = None
        rounds = [(True, job["warmup_nsim"])] * job["warmup"] + [(False, job["nsim"])] * job["repeats"]
        for warm, nsim in rounds:
            m = ci = None
            with warnings.catch_warnings(record=True) as wl, contextlib.redirect_stdout(io.StringIO()):
                warnings.simplefilter("always")
                gc.collect()
                c0, w0 = time.process_time(), time.perf_counter()
                m = fit_model()
                w1, c1 = time.perf_counter(), time.process_time()
                gc.collect()
                c2, w2 = time.process_time(), time.perf_counter()
                ci = run_confint(m, nsim)
                w3, c3 = time.perf_counter(), time.process_time()
            for w in wl if not warm else []:  # the timed rounds' warnings (the warm-up's nsim differs)
                text = f"{w.category.__name__}: {(str(w.message).splitlines() or [''])[0]}"
                if text not in caught:
                    caught.append(text)
            if warm:
                t["warmup_confint_s"].append(w3 - w2)
            else:
                t["fit_wall_s"].append(w1 - w0)
                t["fit_cpu_s"].append(c1 - c0)
                t["confint_wall_s"].append(w3 - w2)
                t["confint_cpu_s"].append(c3 - c2)
            res["status"] = "partial"
            dump()
        t["total_wall_s"] = [a + b for a, b in zip(t["fit_wall_s"], t["confint_wall_s"])]
        t["total_cpu_s"] = [a + b for a, b in zip(t["fit_cpu_s"], t["confint_cpu_s"])]
        _summarise(t)
        if case["method"] == "boot":
            res["nsim"], res["warmup_nsim"] = job["nsim"], job["warmup_nsim"]
        res["intervals"] = _interval_table(ci)
        res["criterion"] = bench._f(m.REMLcrit() if cfg["kind"] == "lmer" and cfg["REML"] else -2.0 * float(m.logLik()))
        res["warnings"] = caught[:20]
        res["blas"] = bench._blas_info()
        res["vmhwm_mb"] = bench._proc_status_mb("VmHWM")
        res["status"] = "ok"
    except Exception as e:
        res["status"] = "error"
        res["error"] = f"{type(e).__name__}: {e}"
        res["traceback"] = traceback.format_exc()[-4000:]
    dump()
    return 0 if res["status"] == "ok" else 1


def _summarise(t: dict) -> None:
    """Medians (and the minimum of the confint times) from the per-round lists, in place."""
    t["confint_median_s"] = statistics.median(t["confint_wall_s"])
    t["confint_min_s"] = min(t["confint_wall_s"])
    t["confint_cpu_median_s"] = statistics.median(t["confint_cpu_s"])
    t["fit_median_s"] = statistics.median(t["fit_wall_s"])
    t["total_median_s"] = statistics.median(t["total_wall_s"])
    t["total_cpu_median_s"] = statistics.median(t["total_cpu_s"])


# ============================================================================================
# Parent
# ============================================================================================
def run_case(name: str, engine: str, data: dict, args, workdir: Path) -> dict:
    case = CASES[name]
    cfg = bench.MODELS[case["model"]]
    boot = case["method"] == "boot"
    repeats = args.boot_repeats if boot else args.repeats
    nsim = case.get("nsim", 0)
    warmup_nsim = args.boot_warmup_nsim if boot else 0
    out = workdir / f"{name}.{engine}.json"
    log = workdir / f"{name}.{engine}.log"
    if out.exists():
        out.unlink()
    if engine == "lme4":
        job = workdir / f"{name}.lme4.job"
        lines = [
            f"csv\t{data['csv']}",
            f"formula\t{cfg['formula']}",
            f"kind\t{cfg['kind']}",
            f"REML\t{'TRUE' if cfg.get('REML', True) else 'FALSE'}",
            f"family\t{cfg.get('family', 'binomial')}",
            f"nAGQ\t{cfg.get('nAGQ', 1)}",
            f"method\t{case['method']}",
            f"nsim\t{nsim or 1}",
            f"warmup_nsim\t{warmup_nsim or 1}",
            f"seed\t{case.get('seed', 0)}",
            f"warmup\t{args.warmup}",
            f"repeats\t{repeats}",
            f"out\t{out}",
        ]
        for col, cs in data["spec"].items():
            extra = f"\t{data['levels_files'][col]}" if cs["type"] in ("factor", "ordered") else ""
            lines.append(f"col\t{col}\t{cs['type']}{extra}")
        job.write_text("\n".join(lines) + "\n")
        cmd = [args.rscript, str(HERE / "lme4_inference.R"), str(job)]
    else:
        job = workdir / f"{name}.mixedlm.job.json"
        job.write_text(
            json.dumps(
                {
                    "out": str(out),
                    "data": data,
                    "model_cfg": cfg,
                    "case": case,
                    "warmup": args.warmup,
                    "repeats": repeats,
                    "nsim": nsim,
                    "warmup_nsim": warmup_nsim,
                }
            )
        )
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "--job", str(job)]
    what = f"{args.warmup} warm-up + {repeats} timed round(s)"
    if boot:
        what += f" (nsim {warmup_nsim} warm-up, {nsim} timed)"
    print(f"  {engine:<8} {what} ...", end="", flush=True)
    load_before = os.getloadavg()[0]
    sp = bench._spawn(cmd, bench._child_env(args.threads), args.timeout, log, args.nice)
    res: dict = {}
    if out.exists():
        with contextlib.suppress(json.JSONDecodeError):
            res = json.loads(out.read_text())
    res.setdefault("engine", engine)
    res.update(
        {
            "peak_rss_mb": sp["maxrss_mb"],
            "process_wall_s": sp["wall_s"],
            "warmup": args.warmup,
            "repeats": repeats,
            "loadavg_1m_before": load_before,
            "loadavg_1m_after": os.getloadavg()[0],
        }
    )
    if sp["timed_out"]:
        res["status"] = "timeout"
        res["error"] = f"timed out after {args.timeout:.0f} s"
    elif sp["rc"] != 0 or res.get("status") != "ok":
        tail = log.read_text()[-1500:] if log.exists() else ""
        if res.get("status") != "error":
            res["status"] = "error"
            res["error"] = f"exit code {sp['rc']}: " + (tail.strip().splitlines() or [""])[-1]
        res["log_tail"] = tail
    if res["status"] == "ok":
        t = res["timings"]
        print(
            f" confint median {_fmt_s(t['confint_median_s'])} (CPU {_fmt_s(t['confint_cpu_median_s'])}), "
            f"fit+confint {_fmt_s(t['total_median_s'])}"
        )
    else:
        print(f" {res['status']}: {res.get('error')}")
    return res


def _fmt_s(x) -> str:
    if x is None:
        return "-"
    if x < 1:
        return f"{x * 1000:.0f} ms" if x >= 0.01 else f"{x * 1000:.3g} ms"
    return f"{x:.3g} s" if x < 100 else f"{x:.0f} s"


def _ok(r: dict | None) -> bool:
    return bool(r) and r.get("status") == "ok"


def _ratio(case_res: dict, key: str) -> float | None:
    ml, l4 = case_res["engines"].get("mixedlm"), case_res["engines"].get("lme4")
    if not (_ok(ml) and _ok(l4)):
        return None
    return l4["timings"][key] / ml["timings"][key]


def compare_intervals(case_res: dict) -> list[dict]:
    """Rows matched by name (positionally when the names differ), with the two engines' bounds."""
    ml, l4 = case_res["engines"].get("mixedlm"), case_res["engines"].get("lme4")
    if not _ok(ml):
        return []
    a = ml["intervals"]
    b = l4["intervals"] if _ok(l4) else None
    rows = []
    for i, name in enumerate(a["rows"]):
        row = {"parameter": name, "mixedlm": [a["lower"][i], a["upper"][i]]}
        if b is not None:
            j = b["rows"].index(name) if name in b["rows"] else (i if i < len(b["rows"]) else None)
            if j is not None:
                lo, hi = b["lower"][j], b["upper"][j]
                row["lme4"] = [lo, hi]
                diffs = [
                    abs(x - y) / max(abs(y), 1e-8)
                    for x, y in zip(row["mixedlm"], row["lme4"])
                    if x is not None and y is not None
                ]
                row["max_rel_diff"] = max(diffs) if diffs else None
                width = (hi - lo) if hi is not None and lo is not None else None
                if width:
                    row["max_diff_over_lme4_width"] = max(
                        abs(x - y) / width
                        for x, y in zip(row["mixedlm"], row["lme4"])
                        if x is not None and y is not None
                    )
        rows.append(row)
    return rows


def print_case(name: str, case_res: dict) -> None:
    case = CASES[name]
    eng = case_res["engines"]
    print(f"\n{name}: {case_res['label']} {case_res['formula']}  -- {case_res['call']}")
    print(
        f"  {'engine':<9}{'version':<12}{'confint':>10}{'min':>10}{'n':>3}{'CPU':>10}{'cpu/wall':>9}"
        f"{'fit':>10}{'fit+confint':>13}{'peak RSS':>10}{'load':>11}"
    )
    for e, r in eng.items():
        if not _ok(r):
            print(f"  {e:<9}{str(r.get('version') or ''):<12}{r.get('status')}: {r.get('reason') or r.get('error')}")
            continue
        t = r["timings"]
        cw = t["confint_cpu_median_s"] / t["confint_median_s"] if t["confint_median_s"] else None
        load = f"{r['loadavg_1m_before']:.1f}->{r['loadavg_1m_after']:.1f}"
        print(
            f"  {e:<9}{str(r.get('version') or ''):<12}"
            f"{_fmt_s(t['confint_median_s']):>10}{_fmt_s(t['confint_min_s']):>10}"
            f"{len(t['confint_wall_s']):>3}{_fmt_s(t['confint_cpu_median_s']):>10}{(f'{cw:.2f}' if cw else '-'):>9}"
            f"{_fmt_s(t['fit_median_s']):>10}{_fmt_s(t['total_median_s']):>13}{r['peak_rss_mb']:>7.0f} MB{load:>11}"
        )
    rw, rc, rt = (_ratio(case_res, k) for k in ("confint_median_s", "confint_cpu_median_s", "total_median_s"))
    if rw is not None:
        print(
            f"  lme4 / mixedlm: confint {rw:.2f}x (CPU {rc:.2f}x), fit+confint {rt:.2f}x"
            f"  -> target (confint no slower than lme4): {'MET' if rw >= TARGET_RATIO else 'NOT MET'}"
        )
    cmp_rows = case_res.get("intervals", [])
    if cmp_rows:
        cols = next((r["intervals"]["columns"] for r in eng.values() if _ok(r)), ["lower", "upper"])
        boot = case["method"] == "boot"
        last = "max|diff|/width" if boot else "max rel diff"
        print(
            f"  {'parameter':<30}{'mixedlm ' + cols[0]:>16}{'mixedlm ' + cols[1]:>16}"
            f"{'lme4 ' + cols[0]:>16}{'lme4 ' + cols[1]:>16}{last:>16}"
        )
        for row in cmp_rows:
            l4 = row.get("lme4", [None, None])
            d = row.get("max_diff_over_lme4_width" if boot else "max_rel_diff")
            print(
                f"  {row['parameter'][:30]:<30}"
                + "".join(f"{bench._fmt_num(v, 7):>16}" for v in row["mixedlm"] + l4)
                + f"{(f'{d:.2g}' if d is not None else '-'):>16}"
            )
        if boot:
            print("  (bootstrap: different random streams, so the bounds agree only statistically)")
    for e, r in eng.items():
        if _ok(r) and r.get("warnings"):
            print(f"  {e} warnings: " + "; ".join(r["warnings"][:3]))


def print_markdown(results: dict) -> None:
    print(
        "\n| case | engine | confint (median wall) | confint (median CPU) | fit+confint | lme4 / mixedlm (confint) |"
        " lme4 / mixedlm (fit+confint) | n |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for name, cr in results["cases"].items():
        rw, rt = _ratio(cr, "confint_median_s"), _ratio(cr, "total_median_s")
        for e, r in cr["engines"].items():
            if not _ok(r):
                print(f"| {name} | {e} | {r.get('status')} | | | | | |")
                continue
            t = r["timings"]
            mine = e == "mixedlm"
            print(
                f"| {name} | {e} {r.get('version') or ''} | {_fmt_s(t['confint_median_s'])} | "
                f"{_fmt_s(t['confint_cpu_median_s'])} | {_fmt_s(t['total_median_s'])} | "
                f"{(f'{rw:.2f}×' if mine and rw else '')} | {(f'{rt:.2f}×' if mine and rt else '')} | "
                f"{len(t['confint_wall_s'])} |"
            )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="confint (profile, bootstrap) timing: mixedlm vs lme4.")
    ap.add_argument("--cases", default=",".join(CASES), help=f"comma-separated, from: {', '.join(CASES)}")
    ap.add_argument("--repeats", type=int, default=5, help="timed rounds of the profile cases (default 5)")
    ap.add_argument("--boot-repeats", type=int, default=3, help="timed rounds of the bootstrap case (default 3)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed rounds first (default 1)")
    ap.add_argument(
        "--boot-warmup-nsim", type=int, default=20, help="bootstrap replicates in the warm-up rounds (default 20)"
    )
    ap.add_argument("--skip-r", action="store_true", help="do not run lme4")
    ap.add_argument(
        "--threads",
        type=int,
        default=1,
        help="BLAS/OpenMP threads (OPENBLAS_NUM_THREADS etc.; default 1; 0 = leave the environment)",
    )
    ap.add_argument("--nice", type=int, default=0, help="run the children at this niceness (e.g. 10 on a shared box)")
    ap.add_argument("--timeout", type=float, default=3600.0, help="seconds per case and engine (default 3600)")
    ap.add_argument("--cache", default=str(bench.generate.DEFAULT_CACHE), help="data and scratch folder")
    ap.add_argument("--rscript", default=None, help="path of Rscript (default: from PATH)")
    ap.add_argument("--no-save", action="store_true", help=f"do not write {OUT_JSON.relative_to(REPO)}")
    ap.add_argument("--markdown", action="store_true", help="also print a Markdown table")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--job", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        return child_main(args.job)

    names = [c.strip() for c in args.cases.split(",") if c.strip()]
    for c in names:
        if c not in CASES:
            ap.error(f"unknown case {c!r}; choose from {', '.join(CASES)}")
    if min(args.repeats, args.boot_repeats) < 1 or args.warmup < 0:
        ap.error("--repeats and --boot-repeats must be >= 1, --warmup >= 0")

    engines = ["mixedlm"] + ([] if args.skip_r else ["lme4"])
    avail = {"mixedlm": bench.py_engine_available("mixedlm")}
    if "lme4" in engines:
        ok, msg = bench.r_available() if args.rscript is None else (True, args.rscript)
        if ok:
            args.rscript, msg = msg, ""
        avail["lme4"] = (ok, msg)

    cache = Path(args.cache)
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    workdir = cache / "runs" / f"{stamp}-inference"
    workdir.mkdir(parents=True, exist_ok=True)
    info = bench.machine_info()
    info.update(
        {
            "threads": args.threads,
            "nice": args.nice,
            "warmup": args.warmup,
            "boot_warmup_nsim": args.boot_warmup_nsim,
            "scratch": str(workdir),
        }
    )
    print(
        f"mixedlm confint benchmark  {info['time_utc']}  {info.get('cpu', '?')} x{info['cpu_count']}, "
        f"Python {info['python']}, BLAS threads {args.threads or 'default'}, nice {args.nice}"
    )
    for e in engines:
        if not avail[e][0]:
            print(f"  {e}: unavailable ({avail[e][1]})")

    results: dict = {
        "meta": info,
        "target": "lme4 / mixedlm >= 1 on the median wall time of the confint call",
        "cases": {},
    }
    prepared: dict[str, dict] = {}
    for name in names:
        case = CASES[name]
        cfg = bench.MODELS[case["model"]]
        if case["model"] not in prepared:
            prepared[case["model"]] = bench.prepare_data(case["model"], cache)
        data = prepared[case["model"]]
        if case["method"] == "profile":
            call = 'confint(method="profile")'
        else:
            call = f'confint(method="boot", nsim={case["nsim"]}, seed={case["seed"]}), one core'
        print(f"\n[{name}] {cfg['formula']} ({data['nrow']} rows from {data['source']}): {call}", flush=True)
        cr = {
            "label": case["label"],
            "formula": cfg["formula"],
            "call": call,
            "case": case,
            "data": {"source": data["source"], "nrow": data["nrow"], "csv": data["csv"]},
            "engines": {},
        }
        for e in engines:
            if not avail[e][0]:
                cr["engines"][e] = {"engine": e, "status": "unavailable", "reason": avail[e][1]}
                continue
            cr["engines"][e] = run_case(name, e, data, args, workdir)
        cr["intervals"] = compare_intervals(cr)
        rw = _ratio(cr, "confint_median_s")
        cr["ratio_lme4_over_mixedlm"] = {
            "confint_wall": rw,
            "confint_cpu": _ratio(cr, "confint_cpu_median_s"),
            "fit_plus_confint_wall": _ratio(cr, "total_median_s"),
        }
        cr["target_met"] = None if rw is None else bool(rw >= TARGET_RATIO)
        results["cases"][name] = cr

    print("\n" + "=" * 100)
    for name, cr in results["cases"].items():
        print_case(name, cr)
    r_ver = next(
        (
            r["versions"]
            for cr in results["cases"].values()
            for r in cr["engines"].values()
            if _ok(r) and r.get("versions")
        ),
        None,
    )
    if r_ver:
        results["meta"]["R"] = r_ver
        print(
            f"\nlme4 {r_ver.get('lme4')}, Matrix {r_ver.get('Matrix')}, {r_ver.get('R')}; BLAS {r_ver.get('BLAS')}; "
            f"OPENBLAS_NUM_THREADS={r_ver.get('OPENBLAS_NUM_THREADS') or 'unset'}"
        )
    if args.markdown:
        print_markdown(results)
    if not args.no_save:
        RESULTS.mkdir(exist_ok=True)
        OUT_JSON.write_text(json.dumps(results, indent=1, default=str))
        print(f"\nresults: {OUT_JSON.relative_to(REPO)} (scratch: {workdir})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
