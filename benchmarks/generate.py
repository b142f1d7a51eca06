"""Fixed-seed generators for the synthetic benchmark data sets.

Two data sets, each written once to a cache folder (``benchmarks/.cache/`` by default, not
committed) and reused by every later run:

* ``synth1m``: 1,000,000 rows for the linear mixed model ``y ~ x + (x | g1) + (1 | g2)`` with
  g1 at 20,000 levels (50 rows each) crossed with g2 at 1,000 levels (random assignment).
* ``glmm100k``: 100,000 rows for the binary GLMM ``y ~ x1 + x2 + (1 | g1) + (1 | g2)`` with
  g1 at 5,000 levels (20 rows each) crossed with g2 at 200 levels.

Each data set is a CSV (read by both Python and R) plus a JSON side file with the seed, the true
parameters, the column types and the factor levels in order, and the CSV's SHA-256. Level labels
are zero-padded strings, so their lexicographic order equals the generation order; the levels are
nevertheless passed explicitly to both sides, never inferred.

Usage::

    python benchmarks/generate.py                 # both data sets
    python benchmarks/generate.py --which synth1m --force
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
DEFAULT_CACHE = HERE / ".cache"

# Bump when the generating code changes in a way that changes the data.
GENERATOR_VERSION = 1

SYNTH1M = {
    "name": "synth1m",
    "seed": 20250101,
    "n": 1_000_000,
    "n_g1": 20_000,
    "n_g2": 1_000,
    "beta": {"(Intercept)": 2.0, "x": 0.5},
    "sd_g1": {"(Intercept)": 1.0, "x": 0.5},
    "corr_g1": 0.3,
    "sd_g2": 0.7,
    "sigma": 1.0,
}

GLMM100K = {
    "name": "glmm100k",
    "seed": 20250102,
    "n": 100_000,
    "n_g1": 5_000,
    "n_g2": 200,
    "beta": {"(Intercept)": -0.5, "x1": 0.8, "x2": -0.4},
    "sd_g1": 0.8,
    "sd_g2": 0.5,
}


def _labels(prefix: str, k: int) -> list[str]:
    width = len(str(k))
    return [f"{prefix}{i + 1:0{width}d}" for i in range(k)]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def make_synth1m(p: dict = SYNTH1M) -> tuple[pd.DataFrame, dict]:
    """Return (frame, meta) for the 1M-row LMM. Deterministic in ``p['seed']``."""
    rng = np.random.default_rng(p["seed"])
    n, k1, k2 = p["n"], p["n_g1"], p["n_g2"]
    if n % k1:
        raise ValueError("n must be a multiple of n_g1 (balanced g1)")
    # g1: every level exactly n/k1 times, in random row order; g2: independent, uniform.
    g1 = rng.permutation(np.repeat(np.arange(k1, dtype=np.int32), n // k1))
    g2 = rng.integers(0, k2, size=n, dtype=np.int32)
    if np.bincount(g2, minlength=k2).min() == 0:
        raise RuntimeError("a g2 level got no rows; change the seed")
    x = rng.standard_normal(n)

    s0, s1, r = p["sd_g1"]["(Intercept)"], p["sd_g1"]["x"], p["corr_g1"]
    cov = np.array([[s0 * s0, r * s0 * s1], [r * s0 * s1, s1 * s1]])
    b1 = rng.standard_normal((k1, 2)) @ np.linalg.cholesky(cov).T
    b2 = p["sd_g2"] * rng.standard_normal(k2)
    eps = p["sigma"] * rng.standard_normal(n)

    b0, bx = p["beta"]["(Intercept)"], p["beta"]["x"]
    y = b0 + bx * x + b1[g1, 0] + b1[g1, 1] * x + b2[g2] + eps

    lev1, lev2 = _labels("A", k1), _labels("B", k2)
    df = pd.DataFrame(
        {
            "y": y,
            "x": x,
            "g1": pd.Categorical.from_codes(g1, categories=lev1),
            "g2": pd.Categorical.from_codes(g2, categories=lev2),
        }
    )
    meta = {
        "formula": "y ~ x + (x | g1) + (1 | g2)",
        "true": {k: v for k, v in p.items() if k not in ("name", "seed", "n", "n_g1", "n_g2")},
        "columns": {
            "y": {"type": "numeric"},
            "x": {"type": "numeric"},
            "g1": {"type": "factor", "levels": lev1},
            "g2": {"type": "factor", "levels": lev2},
        },
    }
    return df, meta


def make_glmm100k(p: dict = GLMM100K) -> tuple[pd.DataFrame, dict]:
    """Return (frame, meta) for the 100k-row binary GLMM. Deterministic in ``p['seed']``."""
    rng = np.random.default_rng(p["seed"])
    n, k1, k2 = p["n"], p["n_g1"], p["n_g2"]
    if n % k1:
        raise ValueError("n must be a multiple of n_g1 (balanced g1)")
    g1 = rng.permutation(np.repeat(np.arange(k1, dtype=np.int32), n // k1))
    g2 = rng.integers(0, k2, size=n, dtype=np.int32)
    if np.bincount(g2, minlength=k2).min() == 0:
        raise RuntimeError("a g2 level got no rows; change the seed")
    x1 = rng.standard_normal(n)
    x2 = rng.binomial(1, 0.5, size=n).astype(np.float64)
    b1 = p["sd_g1"] * rng.standard_normal(k1)
    b2 = p["sd_g2"] * rng.standard_normal(k2)
    beta = p["beta"]
    eta = beta["(Intercept)"] + beta["x1"] * x1 + beta["x2"] * x2 + b1[g1] + b2[g2]
    prob = 1.0 / (1.0 + np.exp(-eta))
    y = (rng.random(n) < prob).astype(np.int64)

    lev1, lev2 = _labels("A", k1), _labels("B", k2)
    df = pd.DataFrame(
        {
            "y": y,
            "x1": x1,
            "x2": x2,
            "g1": pd.Categorical.from_codes(g1, categories=lev1),
            "g2": pd.Categorical.from_codes(g2, categories=lev2),
        }
    )
    meta = {
        "formula": "y ~ x1 + x2 + (1 | g1) + (1 | g2)",
        "family": "binomial",
        "true": {k: v for k, v in p.items() if k not in ("name", "seed", "n", "n_g1", "n_g2")},
        "columns": {
            "y": {"type": "integer"},
            "x1": {"type": "numeric"},
            "x2": {"type": "numeric"},
            "g1": {"type": "factor", "levels": lev1},
            "g2": {"type": "factor", "levels": lev2},
        },
    }
    return df, meta


GENERATORS = {"synth1m": (SYNTH1M, make_synth1m), "glmm100k": (GLMM100K, make_glmm100k)}


def paths(name: str, cache: Path = DEFAULT_CACHE) -> tuple[Path, Path]:
    """(csv, meta-json) paths of a synthetic data set in the cache."""
    p = GENERATORS[name][0]
    stem = f"{name}_v{GENERATOR_VERSION}_seed{p['seed']}"
    return cache / f"{stem}.csv", cache / f"{stem}.json"


def ensure(name: str, cache: Path = DEFAULT_CACHE, force: bool = False, quiet: bool = False) -> tuple[Path, dict]:
    """Generate ``name`` into the cache unless a complete copy is already there.

    Returns (csv path, meta dict)."""
    params, make = GENERATORS[name]
    csv, meta_path = paths(name, cache)
    if not force and csv.exists() and meta_path.exists():
        with open(meta_path) as fh:
            meta = json.load(fh)
        if meta.get("generator_version") == GENERATOR_VERSION and meta.get("csv_bytes") == csv.stat().st_size:
            return csv, meta
    cache.mkdir(parents=True, exist_ok=True)
    if not quiet:
        print(f"generating {name} (seed {params['seed']}) -> {csv}", flush=True)
    df, meta = make(params)
    tmp = csv.with_suffix(".csv.tmp")
    # float_format=None writes the shortest repr that round-trips exactly, so R and Python
    # read bit-identical doubles.
    df.to_csv(tmp, index=False)
    os.replace(tmp, csv)
    meta.update(
        {
            "name": name,
            "generator_version": GENERATOR_VERSION,
            "seed": params["seed"],
            "nrow": len(df),
            "csv": csv.name,
            "csv_bytes": csv.stat().st_size,
            "csv_sha256": _sha256(csv),
        }
    )
    with open(meta_path, "w") as fh:
        json.dump(meta, fh)
    return csv, meta


def load(name: str, cache: Path = DEFAULT_CACHE) -> pd.DataFrame:
    """Read a cached synthetic data set (generating it first if needed) with its factor levels."""
    csv, meta = ensure(name, cache)
    cols = meta["columns"]
    dtypes = {
        c: ("string" if s["type"] == "factor" else ("int64" if s["type"] == "integer" else "float64"))
        for c, s in cols.items()
    }
    df = pd.read_csv(csv, dtype=dtypes)
    for c, s in cols.items():
        if s["type"] == "factor":
            df[c] = pd.Categorical(df[c].to_numpy(dtype=object), categories=s["levels"])
            if df[c].isna().any():
                raise ValueError(f"{csv}: column {c} holds a value outside its declared levels")
    return df


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--which", default="synth1m,glmm100k", help="comma-separated: synth1m, glmm100k")
    ap.add_argument("--cache", default=str(DEFAULT_CACHE), help="cache folder (default benchmarks/.cache)")
    ap.add_argument("--force", action="store_true", help="regenerate even if cached")
    args = ap.parse_args(argv)
    for name in [w.strip() for w in args.which.split(",") if w.strip()]:
        if name not in GENERATORS:
            ap.error(f"unknown data set {name!r}; choose from {', '.join(GENERATORS)}")
        csv, meta = ensure(name, Path(args.cache), force=args.force)
        print(
            f"{name}: {meta['nrow']} rows, {csv} ({meta['csv_bytes'] / 1e6:.1f} MB, sha256 {meta['csv_sha256'][:12]}…)"
        )


if __name__ == "__main__":
    main()
