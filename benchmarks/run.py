"""Side-by-side benchmark of mixedlm against lme4 (R) and the Python peers.

    python benchmarks/run.py [--models sleepstudy,insteval,synth1m] [--repeats 3]
                             [--skip-r] [--skip-peers] [--markdown]

For every model and engine a fresh child process loads the same data (one CSV per model, written
once by this script or by ``generate.py``; factor levels passed explicitly), fits the model once to
warm up, then times further fits of the whole call (formula processing included) and reports the
median. Peak memory is the child's peak resident set size (``ru_maxrss`` from ``wait4``), i.e. the
whole process: interpreter, data and fit. See ``benchmarks/README.md``.

Engines: ``mixedlm`` (``mlm.lmer``/``mlm.glmer``), ``lme4`` (through ``Rscript`` when R and lme4 are
installed), ``glmm`` (PyPI glmm, a Rust engine) and ``statsmodels`` (``MixedLM``), the last two
when installed. Results go to ``benchmarks/results/<UTC time>.json`` and ``results/latest.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import gc
import importlib
import io
import json
import math
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import time
import traceback
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

import generate  # noqa: E402  (benchmarks/generate.py)

SHARED_DATA = REPO.parent / "shared" / "data"
RESULTS = HERE / "results"
ENGINES = ("mixedlm", "lme4", "glmm", "statsmodels")
PEERS = ("glmm", "statsmodels")

# --------------------------------------------------------------------------------------------
# The models. ``formula`` is lme4's and mixedlm's; the peers get their own spelling of the same
# model. ``repeats`` is the default number of timed fits (after one warm-up fit).
# --------------------------------------------------------------------------------------------
MODELS: dict[str, dict] = {
    "sleepstudy": {
        "data": "sleepstudy",
        "kind": "lmer",
        "REML": True,
        "formula": "Reaction ~ Days + (Days | Subject)",
        "repeats": 20,
        "glmm": {"formula": "Reaction ~ Days + (Days | Subject)"},
        "statsmodels": {"formula": "Reaction ~ Days", "groups": "Subject", "re_formula": "~Days"},
    },
    "insteval": {
        "data": "insteval",
        "kind": "lmer",
        "REML": True,
        "formula": "y ~ service + (1 | s) + (1 | d) + (1 | dept:service)",
        "repeats": 3,
        "derive": {"dept_service": ("interaction", "dept", "service")},
        "glmm": {"formula": "y ~ service + (1 | s) + (1 | d) + (1 | dept:service)"},
        # Crossed factors in statsmodels need a single group and variance components built as
        # dense indicator columns (73421 x ~4100 doubles): expected to be very slow, so capped.
        "statsmodels": {
            "formula": "y ~ service",
            "groups": None,
            "vc_formula": {"s": "0 + C(s)", "d": "0 + C(d)", "dept:service": "0 + C(dept_service)"},
            "timeout": "sm_timeout",
        },
    },
    "synth1m": {
        "data": "synth1m",
        "kind": "lmer",
        "REML": True,
        "formula": "y ~ x + (x | g1) + (1 | g2)",
        "repeats": 3,
        # One lme4 fit takes about 1.5 minutes here: a warm-up buys nothing at that length.
        "lme4": {"warmup": 0, "repeats": 2},
        "glmm": {"formula": "y ~ x + (x | g1) + (1 | g2)"},
        "statsmodels": {
            "skip": "not run: crossed g2 needs one group with dense indicator columns "
            "(1,000,000 x 1,000 doubles = 8 GB) besides the correlated g1 term"
        },
    },
    # ---- GLMMs (issue 3); not in the default list until mlm.glmer exists --------------------
    "cbpp": {
        "data": "cbpp",
        "kind": "glmer",
        "family": "binomial",
        "nAGQ": 1,
        "formula": "cbind(incidence, size - incidence) ~ period + (1 | herd)",
        "repeats": 20,
        "derive": {"notinc": ("difference", "size", "incidence")},
        "glmm": {"formula": "cbind(incidence, notinc) ~ period + (1 | herd)"},
        "statsmodels": {"skip": "not run: statsmodels has no frequentist (Laplace) binomial GLMM"},
    },
    "glmm100k": {
        "data": "glmm100k",
        "kind": "glmer",
        "family": "binomial",
        "nAGQ": 1,
        "formula": "y ~ x1 + x2 + (1 | g1) + (1 | g2)",
        "repeats": 3,
        "glmm": {"formula": "y ~ x1 + x2 + (1 | g1) + (1 | g2)"},
        "statsmodels": {"skip": "not run: statsmodels has no frequentist (Laplace) binomial GLMM"},
    },
    "glmm100k_nagq0": {
        "data": "glmm100k",
        "kind": "glmer",
        "family": "binomial",
        "nAGQ": 0,
        "formula": "y ~ x1 + x2 + (1 | g1) + (1 | g2)",
        "repeats": 3,
        "glmm": {"skip": "not run: glmm has no nAGQ = 0 fit"},
        "statsmodels": {"skip": "not run: statsmodels has no frequentist (Laplace) binomial GLMM"},
    },
}
DEFAULT_MODELS = "sleepstudy,insteval,synth1m"

# Targets from issue 2 (lme4 time / mixedlm time, and mixedlm's peak RSS).
TARGETS = {
    "sleepstudy": {"speedup": 1.0},
    "insteval": {"speedup": 3.0},
    "synth1m": {"speedup": 10.0, "peak_rss_mb": 2048.0},
    "cbpp": {"speedup": 1.0},
    "glmm100k": {"speedup": 4.0},
    "glmm100k_nagq0": {"speedup": 3.0},
}


# ============================================================================================
# Data: one canonical CSV + column spec per data set, read by every engine
# ============================================================================================
def _schema_path() -> Path | None:
    for p in (REPO / "datasets" / "schema.json", SHARED_DATA / "schema.json"):
        if p.exists():
            return p
    return None


def _load_named_dataset(name: str):
    """(frame, source) for a packaged data set: mixedlm's loader, else a CSV with R's levels."""
    import pandas as pd

    try:
        mlm = importlib.import_module("mixedlm")
        loader = getattr(mlm, f"load_{name}")
        return loader(), f"mixedlm.load_{name}()"
    except Exception:
        pass
    schema_path = _schema_path()
    if schema_path is None:
        raise FileNotFoundError("no schema.json in datasets/ or ../shared/data/")
    with open(schema_path) as fh:
        spec = json.load(fh)[name]
    csv = None
    for folder in (REPO / "datasets", SHARED_DATA):
        if (folder / f"{name}.csv").exists():
            csv = folder / f"{name}.csv"
            break
    if csv is None:
        raise FileNotFoundError(f"{name}.csv not found in datasets/ or ../shared/data/")
    df = pd.read_csv(csv, dtype=str, keep_default_na=True)
    for col, cs in spec["columns"].items():
        if "levels" in cs:
            ordered = "ordered" in cs["type"]
            df[col] = pd.Categorical(df[col], categories=cs["levels"], ordered=ordered)
        elif cs["type"] == "integer":
            df[col] = pd.to_numeric(df[col]).astype("int64")
        else:
            df[col] = pd.to_numeric(df[col])
    return df, f"{csv} + {schema_path}"


def _column_spec(df) -> dict:
    import pandas as pd

    spec = {}
    for col in df.columns:
        s = df[col]
        if isinstance(s.dtype, pd.CategoricalDtype):
            spec[col] = {
                "type": "ordered" if s.cat.ordered else "factor",
                "levels": [str(v) for v in s.cat.categories],
            }
        elif pd.api.types.is_integer_dtype(s.dtype):
            spec[col] = {"type": "integer"}
        elif pd.api.types.is_bool_dtype(s.dtype):
            spec[col] = {"type": "integer"}
        elif pd.api.types.is_numeric_dtype(s.dtype):
            spec[col] = {"type": "numeric"}
        else:
            raise TypeError(f"column {col}: unsupported dtype {s.dtype}")
    return spec


def _derive(df, derive: dict):
    import pandas as pd

    for new, (how, a, b) in derive.items():
        if how == "interaction":
            lab = df[a].astype(str) + ":" + df[b].astype(str)
            df[new] = pd.Categorical(lab, categories=sorted(lab.unique()))
        elif how == "difference":
            df[new] = df[a] - df[b]
        else:
            raise ValueError(how)
    return df


def prepare_data(model: str, cache: Path) -> dict:
    """Write (once per run) the CSV and column spec every engine reads for ``model``."""
    cfg = MODELS[model]
    name = cfg["data"]
    if name in generate.GENERATORS:
        csv, meta = generate.ensure(name, cache)
        spec = meta["columns"]
        source = f"benchmarks/generate.py ({name}, seed {meta['seed']}, sha256 {meta['csv_sha256'][:16]})"
        nrow = meta["nrow"]
        if cfg.get("derive"):
            raise NotImplementedError("derived columns on generated data")
    else:
        df, source = _load_named_dataset(name)
        df = _derive(df.copy(), cfg.get("derive", {}))
        cache.mkdir(parents=True, exist_ok=True)
        csv = cache / f"{model}.csv"
        spec = _column_spec(df)
        out = df.copy()
        for col, cs in spec.items():
            if cs["type"] in ("factor", "ordered"):
                out[col] = out[col].astype(str).where(out[col].notna(), "")
        out.to_csv(csv, index=False)
        nrow = len(df)
    levels_files = {}
    for col, cs in spec.items():
        if cs["type"] in ("factor", "ordered"):
            lf = cache / f"{model}.{col}.levels"
            text = "\n".join(cs["levels"]) + "\n"
            if not lf.exists() or lf.read_text() != text:
                lf.write_text(text)
            levels_files[col] = str(lf)
    return {"csv": str(csv), "spec": spec, "levels_files": levels_files, "source": source, "nrow": nrow}


def read_data(data: dict):
    """The frame a child fits: the canonical CSV with the declared types and level order."""
    import numpy as np
    import pandas as pd

    spec = data["spec"]
    dtypes = {}
    for col, cs in spec.items():
        dtypes[col] = {"numeric": "float64", "integer": "int64"}.get(cs["type"], "string")
    df = pd.read_csv(data["csv"], dtype=dtypes, keep_default_na=True)
    for col, cs in spec.items():
        if cs["type"] in ("factor", "ordered"):
            vals = df[col].to_numpy(dtype=object)
            df[col] = pd.Categorical(
                np.where(pd.isna(vals), None, vals), categories=cs["levels"], ordered=cs["type"] == "ordered"
            )
    return df


# ============================================================================================
# Helpers shared by the children
# ============================================================================================
def _proc_status_mb(field: str) -> float | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def _f(x):
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _vc_rows_from_cov(group: str, terms: list[str], cov) -> list[dict]:
    """lme4's as.data.frame(VarCorr) rows for one grouping factor from its covariance matrix."""
    import numpy as np

    cov = np.asarray(cov, dtype=float)
    sd = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    rows = [
        {"grp": group, "var1": t, "var2": None, "vcov": _f(cov[i, i]), "sdcor": _f(sd[i])} for i, t in enumerate(terms)
    ]
    for j in range(len(terms)):
        for i in range(j + 1, len(terms)):
            den = sd[i] * sd[j]
            rows.append(
                {
                    "grp": group,
                    "var1": terms[j],
                    "var2": terms[i],
                    "vcov": _f(cov[i, j]),
                    "sdcor": _f(cov[i, j] / den) if den > 0 else None,
                }
            )
    return rows


def _theta_from_vc(vc: list[dict], sigma: float | None) -> dict:
    """lme4's θ (lower Cholesky factor of Σ/σ², column-major, names as getME(, 'theta'))."""
    import numpy as np

    if not sigma:
        sigma = 1.0
    out = {}
    groups: dict[str, dict] = {}
    for r in vc:
        if r["grp"] == "Residual":
            continue
        g = groups.setdefault(r["grp"], {"terms": [], "cov": {}})
        if r["var2"] is None:
            g["terms"].append(r["var1"])
            g["cov"][(r["var1"], r["var1"])] = r["vcov"]
        else:
            g["cov"][(r["var1"], r["var2"])] = g["cov"][(r["var2"], r["var1"])] = r["vcov"]
    for grp, g in groups.items():
        t = g["terms"]
        m = np.array([[g["cov"].get((a, b), 0.0) or 0.0 for b in t] for a in t]) / sigma**2
        try:
            L = np.linalg.cholesky(m)
        except np.linalg.LinAlgError:
            w, v = np.linalg.eigh(m)
            L = np.linalg.qr((v * np.sqrt(np.clip(w, 0, None))).T)[1].T
            L = L * np.sign(np.diag(L) + (np.diag(L) == 0))
        for j in range(len(t)):
            for i in range(j, len(t)):
                name = f"{grp}.{t[i]}" if i == j else f"{grp}.{t[i]}.{t[j]}"
                out[name] = _f(L[i, j])
    return out


def _try(fn, default=None):
    try:
        return fn()
    except Exception:
        return default


def _blas_info() -> list:
    try:
        from threadpoolctl import threadpool_info

        return [
            {k: d.get(k) for k in ("internal_api", "version", "num_threads", "filepath", "threading_layer")}
            for d in threadpool_info()
        ]
    except Exception as e:  # pragma: no cover
        return [f"threadpoolctl unavailable: {e}"]


# ---- per-engine fit functions and estimate extraction --------------------------------------
def _mixedlm_fitter(job, df):
    import mixedlm as mlm

    cfg = job["model_cfg"]
    if cfg["kind"] == "lmer":
        return lambda: mlm.lmer(cfg["formula"], df, REML=cfg["REML"])
    fam = {"binomial": "Binomial", "poisson": "Poisson"}[cfg["family"]]
    family = getattr(mlm.families, fam)()
    return lambda: mlm.glmer(cfg["formula"], df, family=family, nAGQ=cfg["nAGQ"])


def _mixedlm_estimates(job, m) -> dict:
    cfg = job["model_cfg"]
    est: dict = {}
    est["nobs"] = _try(lambda: int(m.nobs))
    est["sigma"] = _try(lambda: _f(m.sigma))
    est["logLik"] = _try(lambda: _f(m.logLik()))
    if cfg["kind"] == "lmer":
        if cfg["REML"]:
            est["crit"] = _try(lambda: _f(m.REMLcrit()))
        else:
            est["crit"] = _try(lambda: _f(m.deviance()))
    else:
        est["crit"] = _try(lambda: -2.0 * float(m.logLik()))
    est["fixef"] = _try(lambda: {str(k): _f(v) for k, v in m.fixef().items()})
    est["theta_raw"] = _try(lambda: [_f(v) for v in list(m.theta)])

    def vc():
        d = m.VarCorr().as_dataframe()
        rows = []
        for r in d.to_dict("records"):
            rows.append(
                {
                    "grp": str(r["grp"]),
                    "var1": None
                    if r["var1"] is None or (isinstance(r["var1"], float) and math.isnan(r["var1"]))
                    else str(r["var1"]),
                    "var2": None
                    if r["var2"] is None or (isinstance(r["var2"], float) and math.isnan(r["var2"]))
                    else str(r["var2"]),
                    "vcov": _f(r["vcov"]),
                    "sdcor": _f(r["sdcor"]),
                }
            )
        return rows

    est["varcorr"] = _try(vc)
    for attr in ("opt", "optsummary", "opt_summary", "optinfo"):
        os_ = getattr(m, attr, None)
        if os_ is not None:
            for key in ("feval", "fevals", "n_eval", "evaluations"):
                v = getattr(os_, key, None)
                if v is not None:
                    est["feval"] = _try(lambda: int(v))
                    break
            for key in ("optimizer",):
                v = getattr(os_, key, None)
                if v is not None:
                    est["optimizer"] = str(v)
            break
    return est


def _glmm_fitter(job, df):
    import glmm

    cfg = job["model_cfg"]
    formula = cfg["glmm"]["formula"]
    if cfg["kind"] == "lmer":
        return lambda: glmm.fit(df, formula, reml=cfg["REML"])
    return lambda: glmm.fit(df, formula, cfg["family"], nagq=cfg["nAGQ"])


def _glmm_estimates(job, f) -> dict:
    import numpy as np

    cfg = job["model_cfg"]
    est: dict = {"nobs": int(f.nobs), "converged": bool(f.converged), "feval": int(f.n_eval)}
    est["logLik"] = _f(f.loglik)
    est["crit"] = _f(-2.0 * f.loglik)
    est["fixef"] = {("(Intercept)" if n == "Intercept" else str(n)): _f(b) for n, b in zip(f.names, f.beta)}
    sigma = math.sqrt(f.dispersion) if cfg["kind"] == "lmer" else 1.0
    est["sigma"] = _f(sigma) if cfg["kind"] == "lmer" else None
    rows = []
    for (grp, terms), packed in zip(f.re_groups, f.varcorr):
        q = len(terms)
        cov = np.zeros((q, q))
        k = 0
        for j in range(q):  # vech, column-major lower triangle
            for i in range(j, q):
                cov[i, j] = cov[j, i] = packed[k]
                k += 1
        rows += _vc_rows_from_cov(str(grp), [str(t) for t in terms], cov)
    if cfg["kind"] == "lmer":
        rows.append({"grp": "Residual", "var1": None, "var2": None, "vcov": _f(f.dispersion), "sdcor": _f(sigma)})
    est["varcorr"] = rows
    est["warnings"] = [w.get("kind") for w in (f.warnings or [])]
    return est


def _statsmodels_fitter(job, df):
    import numpy as np
    import statsmodels.formula.api as smf

    cfg = job["model_cfg"]
    sm = cfg["statsmodels"]
    if sm.get("groups"):
        return lambda: smf.mixedlm(sm["formula"], df, groups=sm["groups"], re_formula=sm.get("re_formula")).fit(
            reml=cfg["REML"]
        )
    one = np.ones(len(df), dtype=np.int64)
    return lambda: smf.mixedlm(sm["formula"], df, groups=one, re_formula="0", vc_formula=sm["vc_formula"]).fit(
        reml=cfg["REML"]
    )


def _statsmodels_estimates(job, r) -> dict:
    cfg = job["model_cfg"]
    sm = cfg["statsmodels"]
    est: dict = {"nobs": int(r.nobs), "converged": bool(r.converged)}
    est["logLik"] = _f(r.llf)
    est["crit"] = _f(-2.0 * r.llf)
    est["fixef"] = {("(Intercept)" if n == "Intercept" else str(n)): _f(v) for n, v in r.fe_params.items()}
    sigma = math.sqrt(r.scale)
    est["sigma"] = _f(sigma)
    rows = []
    if sm.get("groups"):
        cov = r.cov_re
        terms = ["(Intercept)" if n in (sm["groups"], "Group", "Intercept") else str(n) for n in cov.columns]
        rows += _vc_rows_from_cov(sm["groups"], terms, cov.to_numpy())
    for name, v in zip(r.model.exog_vc.names, r.vcomp):
        rows.append(
            {"grp": str(name), "var1": "(Intercept)", "var2": None, "vcov": _f(v), "sdcor": _f(math.sqrt(max(v, 0.0)))}
        )
    rows.append({"grp": "Residual", "var1": None, "var2": None, "vcov": _f(r.scale), "sdcor": _f(sigma)})
    est["varcorr"] = rows
    return est


FITTERS = {
    "mixedlm": (_mixedlm_fitter, _mixedlm_estimates),
    "glmm": (_glmm_fitter, _glmm_estimates),
    "statsmodels": (_statsmodels_fitter, _statsmodels_estimates),
}


def _engine_version(engine: str) -> str | None:
    from importlib import metadata

    dist = {"mixedlm": "mixedlm", "glmm": "glmm", "statsmodels": "statsmodels"}[engine]
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        mod = _try(lambda: importlib.import_module(dist))
        return getattr(mod, "__version__", None) if mod else None


def child_main(engine: str, job_path: str) -> int:
    """Run inside the child process: load, warm up, time, extract, write JSON."""
    with open(job_path) as fh:
        job = json.load(fh)
    out_path = job["out"]
    res: dict = {"engine": engine, "status": "started", "pid": os.getpid()}

    def dump():
        tmp = out_path + ".tmp"
        with open(tmp, "w") as fh:
            json.dump(res, fh)
        os.replace(tmp, out_path)

    try:
        t0 = time.perf_counter()
        df = read_data(job["data"])
        res["read_s"] = time.perf_counter() - t0
        res["rss_after_data_mb"] = _proc_status_mb("VmRSS")
        t0 = time.perf_counter()
        make_fitter, extract = FITTERS[engine]
        fit_once = make_fitter(job, df)
        res["import_s"] = time.perf_counter() - t0
        res["version"] = _engine_version(engine)
        res["timings"] = {"warmup_s": [], "wall_s": [], "cpu_s": []}
        caught: list[str] = []
        obj = None
        for phase, count in (("warmup_s", job["warmup"]), ("wall_s", job["repeats"])):
            for _ in range(count):
                obj = None
                gc.collect()  # outside the clock, as R's system.time(gcFirst = TRUE)
                with warnings.catch_warnings(record=True) as wl, contextlib.redirect_stdout(io.StringIO()):
                    warnings.simplefilter("always")
                    c0, w0 = time.process_time(), time.perf_counter()
                    obj = fit_once()
                    w1, c1 = time.perf_counter(), time.process_time()
                for w in wl:
                    msg = f"{w.category.__name__}: {str(w.message).splitlines()[0] if str(w.message) else ''}"
                    if msg not in caught:
                        caught.append(msg)
                res["timings"][phase].append(w1 - w0)
                if phase == "wall_s":
                    res["timings"]["cpu_s"].append(c1 - c0)
                res["status"] = "partial"
                dump()
        wall = res["timings"]["wall_s"]
        res["timings"]["median_s"] = statistics.median(wall) if wall else None
        res["timings"]["min_s"] = min(wall) if wall else None
        res["warnings"] = caught[:20]
        res["estimates"] = extract(job, obj)
        vc = res["estimates"].get("varcorr")
        if vc:
            res["estimates"]["theta"] = _try(lambda: _theta_from_vc(vc, res["estimates"].get("sigma")))
        res["blas"] = _blas_info()
        res["vmhwm_mb"] = _proc_status_mb("VmHWM")
        res["status"] = "ok"
    except Exception as e:
        res["status"] = "error"
        res["error"] = f"{type(e).__name__}: {e}"
        res["traceback"] = traceback.format_exc()[-4000:]
    dump()
    return 0 if res["status"] == "ok" else 1


# ============================================================================================
# Parent: spawn children, collect, print
# ============================================================================================
def _spawn(cmd: list[str], env: dict, timeout: float, log_path: Path, nice: int) -> dict:
    """Run ``cmd``; return {'rc', 'wall_s', 'maxrss_mb', 'timed_out'} using wait4 for this child."""

    def pre():
        if nice:
            os.nice(nice)

    with open(log_path, "w") as log:
        t0 = time.perf_counter()
        p = subprocess.Popen(
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
            preexec_fn=pre,
            cwd=str(REPO),
        )
        timed_out = False
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid == p.pid:
                break
            if time.perf_counter() - t0 > timeout:
                timed_out = True
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGKILL)
                pid, status, ru = os.wait4(p.pid, 0)
                break
            time.sleep(0.05)
        p.returncode = os.waitstatus_to_exitcode(status)
    return {
        "rc": p.returncode,
        "wall_s": time.perf_counter() - t0,
        "maxrss_mb": ru.ru_maxrss / 1024.0,
        "timed_out": timed_out,
    }


def _child_env(threads: int) -> dict:
    env = dict(os.environ)
    if threads > 0:
        for var in (
            "OPENBLAS_NUM_THREADS",
            "OMP_NUM_THREADS",
            "MKL_NUM_THREADS",
            "BLIS_NUM_THREADS",
            "VECLIB_MAXIMUM_THREADS",
        ):
            env[var] = str(threads)
    pp = env.get("PYTHONPATH", "")
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + pp if pp else "")
    return env


def r_available() -> tuple[bool, str]:
    rs = shutil.which("Rscript")
    if not rs:
        return False, "Rscript not found"
    try:
        out = subprocess.run(
            [rs, "-e", "suppressPackageStartupMessages(library(lme4)); cat('ok')"],
            capture_output=True,
            text=True,
            timeout=120,
        )
    except Exception as e:  # pragma: no cover
        return False, f"Rscript failed: {e}"
    if out.returncode != 0 or "ok" not in out.stdout:
        return False, "R package lme4 not installed"
    return True, rs


def py_engine_available(engine: str) -> tuple[bool, str]:
    mod = {"mixedlm": "mixedlm", "glmm": "glmm", "statsmodels": "statsmodels"}[engine]
    code = f"import {mod}"
    if engine == "mixedlm":
        code += "; import mixedlm as m; m.lmer"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=_child_env(1), cwd=str(REPO), timeout=300
    )
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["?"])[-1]
        return False, last
    return True, ""


def run_engine(engine: str, model: str, data: dict, args, workdir: Path) -> dict:
    cfg = MODELS[model]
    ecfg = cfg.get(engine, {}) if engine in ("lme4", "glmm", "statsmodels") else {}
    if ecfg.get("skip"):
        return {"engine": engine, "status": "skipped", "reason": ecfg["skip"]}
    warmup = 1
    repeats = cfg["repeats"]
    if engine == "lme4":
        warmup = ecfg.get("warmup", warmup)
        repeats = ecfg.get("repeats", repeats)
    if args.repeats is not None:
        repeats, warmup = args.repeats, 1
    if engine == "lme4" and args.lme4_repeats is not None:
        repeats = args.lme4_repeats
    timeout = args.timeout
    if ecfg.get("timeout") == "sm_timeout":
        timeout = args.sm_timeout
    out = workdir / f"{model}.{engine}.json"
    log = workdir / f"{model}.{engine}.log"
    if out.exists():
        out.unlink()
    env = _child_env(args.threads)
    if engine == "lme4":
        job = workdir / f"{model}.lme4.job"
        lines = [
            f"csv\t{data['csv']}",
            f"formula\t{cfg['formula']}",
            f"kind\t{cfg['kind']}",
            f"REML\t{'TRUE' if cfg.get('REML', True) else 'FALSE'}",
            f"family\t{cfg.get('family', 'binomial')}",
            f"nAGQ\t{cfg.get('nAGQ', 1)}",
            f"warmup\t{warmup}",
            f"repeats\t{repeats}",
            f"out\t{out}",
        ]
        for col, cs in data["spec"].items():
            if cs["type"] in ("factor", "ordered"):
                lines.append(f"col\t{col}\t{cs['type']}\t{data['levels_files'][col]}")
            else:
                lines.append(f"col\t{col}\t{cs['type']}")
        job.write_text("\n".join(lines) + "\n")
        cmd = [args.rscript, str(HERE / "lme4_fit.R"), str(job)]
    else:
        job = workdir / f"{model}.{engine}.job.json"
        job.write_text(
            json.dumps({"out": str(out), "data": data, "model_cfg": cfg, "warmup": warmup, "repeats": repeats})
        )
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", engine, "--job", str(job)]
    load_before = os.getloadavg()[0]
    print(f"  {engine:<12} {warmup} warm-up + {repeats} timed fit(s) ...", end="", flush=True)
    sp = _spawn(cmd, env, timeout, log, args.nice)
    res: dict = {}
    if out.exists():
        with contextlib.suppress(json.JSONDecodeError):
            res = json.loads(out.read_text())
    res.setdefault("engine", engine)
    res["peak_rss_mb"] = sp["maxrss_mb"]
    res["process_wall_s"] = sp["wall_s"]
    res["loadavg_1m_before"] = load_before
    res["loadavg_1m_after"] = os.getloadavg()[0]
    res["warmup"] = warmup
    res["repeats"] = repeats
    if engine == "lme4" and "timings" in res:
        res["status"] = "ok"
        res["timings"]["min_s"] = min(res["timings"]["wall_s"]) if res["timings"]["wall_s"] else None
        res["rss_after_data_mb"] = res.get("memory", {}).get("rss_after_data_mb")
        res["version"] = res.get("versions", {}).get("lme4")
        est = res.get("estimates", {})
        vc = est.get("varcorr")
        if isinstance(vc, dict):  # columns -> rows
            est["varcorr"] = [dict(zip(vc, vals)) for vals in zip(*vc.values())]
    if sp["timed_out"]:
        done = len(res.get("timings", {}).get("wall_s", [])) + len(res.get("timings", {}).get("warmup_s", []))
        res["status"] = "timeout"
        res["reason"] = f"timed out after {timeout:.0f} s ({done} fit(s) completed)"
    elif sp["rc"] != 0 and res.get("status") != "error":
        res["status"] = "error"
        tail = log.read_text()[-1500:] if log.exists() else ""
        res["error"] = f"exit code {sp['rc']}: {tail.strip().splitlines()[-1] if tail.strip() else ''}"
        res["log_tail"] = tail
    if res.get("status") == "ok":
        print(f" median {res['timings']['median_s']:.4g} s, peak RSS {sp['maxrss_mb']:.0f} MB")
    else:
        print(f" {res.get('status')}: {res.get('reason') or res.get('error')}")
    return res


# ---- printing ------------------------------------------------------------------------------
def _fmt_s(x):
    if x is None:
        return "-"
    if x < 0.01:
        return f"{x * 1000:.3g} ms"
    return f"{x:.3g} s" if x < 100 else f"{x:.0f} s"


def _fmt_num(x, digits=6):
    if x is None:
        return "-"
    if abs(x) >= 1e5:
        return f"{x:.4f}"
    return f"{x:.{digits}g}"


def _quantities(est: dict) -> dict:
    """Flat, engine-independent view of the estimates for side-by-side printing."""
    q = {}
    if est.get("crit") is not None:
        q["criterion"] = est["crit"]
    for k, v in (est.get("fixef") or {}).items():
        q[f"beta {k}"] = v
    for r in est.get("varcorr") or []:
        if r["grp"] == "Residual":
            q["sigma (Residual sd)"] = r["sdcor"]
        elif r["var2"] is None:
            q[f"sd {r['grp']} {r['var1']}"] = r["sdcor"]
        else:
            q[f"corr {r['grp']} {r['var1']},{r['var2']}"] = r["sdcor"]
    for k, v in (est.get("theta") or {}).items():
        q[f"theta {k}"] = v
    return q


def print_model(model: str, mres: dict) -> None:
    cfg = MODELS[model]
    eng = mres["engines"]
    head = f"{model}: {cfg['formula']}  ({mres['data']['nrow']} rows, "
    head += ("REML" if cfg.get("REML") else "ML") if cfg["kind"] == "lmer" else f"{cfg['family']}, nAGQ={cfg['nAGQ']}"
    print("\n" + head + ")")
    base = {e: (r["timings"]["median_s"] if r.get("status") == "ok" else None) for e, r in eng.items()}
    ml, l4 = base.get("mixedlm"), base.get("lme4")
    print(
        f"  {'engine':<14}{'version':<10}{'median':>10}{'min':>10}{'n':>4}{'vs mixedlm':>12}{'vs lme4':>10}"
        f"{'cpu/wall':>9}{'peak RSS':>11}{'data RSS':>10}"
    )
    for e, r in eng.items():
        if r.get("status") != "ok":
            print(f"  {e:<14}{str(r.get('version') or ''):<10}  {r.get('status')}: {r.get('reason') or r.get('error')}")
            continue
        t = r["timings"]
        med = t["median_s"]
        cw = (statistics.median(t["cpu_s"]) / med) if t.get("cpu_s") and med else None
        print(
            f"  {(e + ('*' if r.get('reused_from') else '')):<14}{str(r.get('version') or ''):<10}"
            f"{_fmt_s(med):>10}{_fmt_s(t.get('min_s')):>10}"
            f"{len(t['wall_s']):>4}{(f'{med / ml:.2f}x' if ml else '-'):>12}{(f'{med / l4:.2f}x' if l4 else '-'):>10}"
            f"{(f'{cw:.2f}' if cw else '-'):>9}{r['peak_rss_mb']:>8.0f} MB"
            f"{(str(round(r['rss_after_data_mb'])) + ' MB') if r.get('rss_after_data_mb') else '-':>10}"
        )
    reused = sorted({r["reused_from"] for r in eng.values() if r.get("reused_from")})
    if reused:
        print("  * reused from " + ", ".join(reused))
    ok = [e for e in eng if eng[e].get("status") == "ok" and eng[e].get("estimates")]
    if ok:
        qs = {e: _quantities(eng[e]["estimates"]) for e in ok}
        keys: list[str] = []
        for e in ["lme4"] + ok:
            for k in qs.get(e, {}):
                if k not in keys:
                    keys.append(k)
        print(f"  {'estimate':<34}" + "".join(f"{e:>18}" for e in ok))
        for k in keys:
            print(f"  {k[:34]:<34}" + "".join(f"{_fmt_num(qs[e].get(k), 10):>18}" for e in ok))
        crit_note = {"statsmodels": "statsmodels' criterion is -2 llf as it reports it"}
        notes = [crit_note[e] for e in ok if e in crit_note]
        if notes:
            print("  (" + "; ".join(notes) + ")")
    tg = TARGETS.get(model)
    if tg and ml and l4:
        sp = l4 / ml
        verdict = "MET" if sp >= tg["speedup"] else "NOT MET"
        line = f"  target: lme4/mixedlm = {sp:.2f}x (want >= {tg['speedup']:g}x) -> {verdict}"
        if "peak_rss_mb" in tg:
            pk = eng["mixedlm"]["peak_rss_mb"]
            verdict = "MET" if pk <= tg["peak_rss_mb"] else "NOT MET"
            line += f"; mixedlm peak RSS {pk:.0f} MB (want <= {tg['peak_rss_mb']:.0f}) -> {verdict}"
        print(line)


def print_markdown(results: dict) -> None:
    print("\n| model | engine | median wall | median CPU | vs mixedlm | vs lme4 | peak RSS | criterion |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for model, mres in results["models"].items():
        eng = mres["engines"]
        ml = (
            eng.get("mixedlm", {}).get("timings", {}).get("median_s")
            if eng.get("mixedlm", {}).get("status") == "ok"
            else None
        )
        l4 = (
            eng.get("lme4", {}).get("timings", {}).get("median_s")
            if eng.get("lme4", {}).get("status") == "ok"
            else None
        )
        for e, r in eng.items():
            if r.get("status") != "ok":
                why = str(r.get("reason") or r.get("error") or r.get("status")).replace("|", "\\|")
                print(f"| {model} | {e} | {why} | | | | | |")
                continue
            med = r["timings"]["median_s"]
            crit = (r.get("estimates") or {}).get("crit")
            cpu = statistics.median(r["timings"]["cpu_s"]) if r["timings"].get("cpu_s") else None
            print(
                f"| {model} | {e} {r.get('version') or ''} | {_fmt_s(med)} | {_fmt_s(cpu)} | "
                f"{(f'{med / ml:.2f}x' if ml else '-')} | {(f'{med / l4:.2f}x' if l4 else '-')} | "
                f"{r['peak_rss_mb']:.0f} MB | {_fmt_num(crit, 10)} |"
            )


def machine_info() -> dict:
    from importlib import metadata

    info = {
        "time_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "cpu_count": os.cpu_count(),
    }
    with contextlib.suppress(OSError):
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    with contextlib.suppress(OSError):
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                info["mem_total_gb"] = round(int(line.split()[1]) / 1024**2, 1)
    with contextlib.suppress(OSError):
        for line in open("/etc/os-release"):
            if line.startswith("PRETTY_NAME="):
                info["os"] = line.split("=", 1)[1].strip().strip('"')
    pk = {}
    for d in (
        "numpy",
        "scipy",
        "pandas",
        "formulaic",
        "numba",
        "nlopt",
        "scikit-sparse",
        "threadpoolctl",
        "mixedlm",
        "glmm",
        "statsmodels",
    ):
        with contextlib.suppress(metadata.PackageNotFoundError):
            pk[d] = metadata.version(d)
    info["packages"] = pk
    git = shutil.which("git")
    if git:
        rev = subprocess.run([git, "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
        info["mixedlm_commit"] = rev.stdout.strip() if rev.returncode == 0 else "none"
        st = subprocess.run(
            [git, "-C", str(REPO), "status", "--porcelain", "--", "mixedlm"], capture_output=True, text=True
        )
        info["mixedlm_tree_dirty"] = bool(st.stdout.strip())
    return info


def _reusable(reuse: dict | None, model: str, engine: str, mres: dict) -> dict | None:
    """An earlier run's result for (model, engine), if the model and its data are the same."""
    if reuse is None or engine == "mixedlm":
        return None
    old = reuse.get("models", {}).get(model)
    if not old or old.get("formula") != mres["formula"] or old.get("config") != mres["config"]:
        return None
    if old.get("data", {}).get("nrow") != mres["data"]["nrow"] or old["data"].get("source") != mres["data"]["source"]:
        return None
    r = old.get("engines", {}).get(engine)
    if not r or r.get("status") != "ok":
        return None
    r = dict(r)
    r["reused_from"] = f"{reuse['_path']} ({reuse.get('meta', {}).get('time_utc', '?')})"
    return r


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="mixedlm vs lme4 and Python peers, side by side.")
    ap.add_argument(
        "--models",
        default=DEFAULT_MODELS,
        help=f"comma-separated, from: {', '.join(MODELS)} (default {DEFAULT_MODELS})",
    )
    ap.add_argument("--engines", default=",".join(ENGINES), help="comma-separated subset of " + ", ".join(ENGINES))
    ap.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="timed fits per engine after one warm-up (default per model: 20 sleepstudy/cbpp, 3 else)",
    )
    ap.add_argument(
        "--lme4-repeats",
        type=int,
        default=None,
        help="timed lme4 fits (default as --repeats; synth1m: 2 without warm-up)",
    )
    ap.add_argument("--skip-r", action="store_true", help="do not run lme4")
    ap.add_argument("--skip-peers", action="store_true", help="do not run glmm and statsmodels")
    ap.add_argument(
        "--threads",
        type=int,
        default=1,
        help="BLAS/OpenMP threads for every engine (OPENBLAS_NUM_THREADS etc.); 0 = leave the environment",
    )
    ap.add_argument("--timeout", type=float, default=3600.0, help="seconds per engine and model (default 3600)")
    ap.add_argument(
        "--sm-timeout", type=float, default=120.0, help="seconds for statsmodels on the crossed models (default 120)"
    )
    ap.add_argument("--nice", type=int, default=0, help="run the fits at this niceness (e.g. 10 on a shared machine)")
    ap.add_argument("--cache", default=str(generate.DEFAULT_CACHE), help="data cache folder")
    ap.add_argument("--rscript", default=None, help="path of Rscript (default: from PATH)")
    ap.add_argument(
        "--reuse",
        default=None,
        metavar="JSON",
        help="take lme4's and the peers' results from an earlier results JSON when model and data "
        "match (mixedlm is always fitted); marked as reused in the output",
    )
    ap.add_argument("--no-save", action="store_true", help="do not write benchmarks/results/*.json")
    ap.add_argument("--markdown", action="store_true", help="also print a Markdown results table")
    ap.add_argument("--child", choices=[e for e in ENGINES if e != "lme4"], help=argparse.SUPPRESS)
    ap.add_argument("--job", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.child:
        return child_main(args.child, args.job)

    models = [m.strip() for m in args.models.split(",") if m.strip()]
    for m in models:
        if m not in MODELS:
            ap.error(f"unknown model {m!r}; choose from {', '.join(MODELS)}")
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    for e in engines:
        if e not in ENGINES:
            ap.error(f"unknown engine {e!r}")
    if args.skip_r:
        engines = [e for e in engines if e != "lme4"]
    if args.skip_peers:
        engines = [e for e in engines if e not in PEERS]

    cache = Path(args.cache)
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    workdir = cache / "runs" / stamp
    workdir.mkdir(parents=True, exist_ok=True)

    reuse = None
    if args.reuse:
        with open(args.reuse) as fh:
            reuse = json.load(fh)
        reuse["_path"] = args.reuse

    avail: dict[str, tuple[bool, str]] = {}
    for e in engines:
        if e == "lme4":
            ok, msg = r_available() if args.rscript is None else (True, args.rscript)
            if ok:
                args.rscript = msg
                msg = ""
            avail[e] = (ok, msg)
        else:
            avail[e] = py_engine_available(e)

    info = machine_info()
    info["threads"] = args.threads
    info["nice"] = args.nice
    print(
        f"mixedlm benchmarks  {info['time_utc']}  {info.get('cpu', '?')} x{info['cpu_count']}, "
        f"{info.get('mem_total_gb', '?')} GB, Python {info['python']}, BLAS threads {args.threads or 'default'}"
    )
    for e in engines:
        if not avail[e][0]:
            print(f"  {e}: {avail[e][1]}")

    results: dict = {"meta": info, "models": {}}
    r_versions = None
    for model in models:
        cfg = MODELS[model]
        print(f"\n[{model}] preparing data ...", flush=True)
        data = prepare_data(model, cache)
        print(f"  {data['nrow']} rows from {data['source']}")
        mres = {
            "formula": cfg["formula"],
            "config": {k: v for k, v in cfg.items() if k not in ("glmm", "statsmodels", "lme4")},
            "data": {"source": data["source"], "nrow": data["nrow"], "csv": data["csv"]},
            "engines": {},
        }
        for e in engines:
            prev = _reusable(reuse, model, e, mres)
            if prev is not None:
                mres["engines"][e] = prev
                print(f"  {e:<12} reused from {prev['reused_from']}")
                continue
            if not avail[e][0]:
                mres["engines"][e] = {"engine": e, "status": "unavailable", "reason": avail[e][1]}
                continue
            mres["engines"][e] = run_engine(e, model, data, args, workdir)
        if mres["engines"].get("lme4", {}).get("versions"):
            r_versions = mres["engines"]["lme4"]["versions"]
        results["models"][model] = mres
        print_model(model, mres)
    if r_versions:
        results["meta"]["R"] = r_versions
        print(
            f"\nlme4 {r_versions.get('lme4')}, Matrix {r_versions.get('Matrix')}, {r_versions.get('R')}; "
            f"BLAS {r_versions.get('BLAS')}; LAPACK {r_versions.get('LAPACK')}; "
            f"OPENBLAS_NUM_THREADS={r_versions.get('OPENBLAS_NUM_THREADS') or 'unset'}"
        )
    blas = next(
        (r.get("blas") for m in results["models"].values() for r in m["engines"].values() if r.get("blas")), None
    )
    if blas:
        results["meta"]["python_blas"] = blas
        print(
            "Python BLAS: "
            + "; ".join(
                f"{b.get('internal_api')} {b.get('version')} ({b.get('num_threads')} thr)"
                for b in blas
                if isinstance(b, dict)
            )
        )
    if args.markdown:
        print_markdown(results)
    if not args.no_save:
        RESULTS.mkdir(exist_ok=True)
        path = RESULTS / f"{stamp}.json"
        text = json.dumps(results, indent=1, default=str)
        path.write_text(text)
        (RESULTS / "latest.json").write_text(text)
        print(f"\nresults: {path.relative_to(REPO)} (and results/latest.json)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
