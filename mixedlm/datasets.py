"""Example datasets from R's lme4 package, as pandas DataFrames.

The data are CSV files exported from R, shipped inside the installed package
(``mixedlm._datasets``, the repository's top-level ``datasets/`` folder) together
with ``schema.json``, which records every column's R type and, for factors, R's
levels in R's order. The loaders apply that schema, so a frame here has the same
column names, values and factor levels as the data frame in R:

- R factors become ``pd.Categorical`` with R's levels in R's order (ordered
  factors get ``ordered=True``), so contrasts and the order of random effects
  match lme4's;
- numeric columns are ``float64`` and integer columns ``int64``.

Each call parses the CSV afresh and returns a new frame, so callers may modify it.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

import pandas as pd

__all__ = [
    "list_datasets",
    "load_dataset",
    "load_cbpp",
    "load_sleepstudy",
    "load_dyestuff",
    "load_dyestuff2",
    "load_penicillin",
    "load_pastes",
    "load_insteval",
    "load_grouseticks",
]

_DATA_PACKAGE = "mixedlm._datasets"
_FACTOR_TYPES = {"factor": False, "ordered factor": True}
_NUMERIC_DTYPES = {"numeric": "float64", "integer": "int64", "logical": "boolean"}


def _data_dir() -> Traversable:
    """The folder holding the CSVs, as installed with the package."""
    try:
        return resources.files(_DATA_PACKAGE)
    except ModuleNotFoundError as exc:  # pragma: no cover - broken installation
        raise RuntimeError(
            "mixedlm's data files (package 'mixedlm._datasets') are not installed. "
            "Install mixedlm with pip (`pip install .` or `pip install -e .` in the "
            "repository) rather than putting the source folder on sys.path."
        ) from exc


@functools.lru_cache(maxsize=1)
def _schema() -> dict[str, Any]:
    """Parsed ``schema.json`` (read once per process)."""
    return json.loads(_data_dir().joinpath("schema.json").read_text(encoding="utf-8"))


def list_datasets() -> list[str]:
    """Names accepted by :func:`load_dataset`, e.g. ``"sleepstudy"``."""
    return sorted(_schema())


def load_dataset(name: str) -> pd.DataFrame:
    """Load one of the bundled datasets by (case-insensitive) name.

    ``load_dataset("Dyestuff")`` is the same as :func:`load_dyestuff`; see
    :func:`list_datasets` for the names.
    """
    key = name.lower()
    schema = _schema()
    if key not in schema:
        raise ValueError(f"unknown dataset {name!r}; available: {', '.join(sorted(schema))}")
    spec = schema[key]
    columns: dict[str, dict[str, Any]] = spec["columns"]

    read_dtypes: dict[str, Any] = {}
    for col, info in columns.items():
        kind = info["type"]
        if kind in _FACTOR_TYPES or kind == "character":
            read_dtypes[col] = object  # keep labels as text; "01" must not become 1
        elif kind in _NUMERIC_DTYPES:
            read_dtypes[col] = _NUMERIC_DTYPES[kind]
        else:  # pragma: no cover - guards against a schema this module does not know
            raise ValueError(f"dataset {key!r}: column {col!r} has unknown type {kind!r}")

    with _data_dir().joinpath(f"{key}.csv").open("rb") as fh:
        frame = pd.read_csv(
            fh,
            dtype=read_dtypes,
            usecols=list(columns),
            # R's write.csv writes missing values as NA; nothing else means missing
            # (a factor level such as "NaN" or "null" stays a level).
            na_values=["NA"],
            keep_default_na=False,
        )
    frame = frame[list(columns)]  # R's column order, whatever the file's

    for col, info in columns.items():
        kind = info["type"]
        if kind not in _FACTOR_TYPES:
            continue
        raw = frame[col]
        levels = info["levels"]
        cat = pd.Categorical(raw, categories=levels, ordered=_FACTOR_TYPES[kind])
        unknown = (cat.codes == -1) & raw.notna().to_numpy()
        if unknown.any():  # pragma: no cover - data and schema out of step
            bad = sorted(set(raw[unknown]))[:5]
            raise ValueError(f"dataset {key!r}: column {col!r} has values not among its levels: {bad}")
        frame[col] = cat

    if len(frame) != spec["nrow"]:  # pragma: no cover - truncated file
        raise ValueError(f"dataset {key!r}: expected {spec['nrow']} rows, read {len(frame)}")
    return frame


def load_cbpp() -> pd.DataFrame:
    """Contagious bovine pleuropneumonia in zebu cattle (lme4's ``cbpp``).

    Fifteen commercial herds in the Boji district of Ethiopia were followed
    serologically over four periods (Lesnoff et al., 2004, *American Journal of
    Veterinary Research*); each row counts the new cases of the disease in one
    herd during one period. Not every herd was seen in every period: 56 rows.

    The classic binomial GLMM example: ``cbind(incidence, size - incidence) ~
    period + (1 | herd)``.

    Columns
    -------
    herd : categorical, 15 levels ``"1"``..``"15"``
        The herd.
    incidence : float64
        Number of new serological cases in the herd during the period.
    size : float64
        Size of the herd at the start of the period.
    period : categorical, 4 levels ``"1"``..``"4"``
        The period of observation.
    """
    return load_dataset("cbpp")


def load_sleepstudy() -> pd.DataFrame:
    """Reaction times under sleep deprivation (lme4's ``sleepstudy``).

    From Belenky et al. (2003), *Journal of Sleep Research*: 18 people whose
    sleep was restricted to three hours a night; each day each one took a
    series of reaction-time tests. The first days were adaptation and training
    and baseline, and deprivation started after baseline; lme4's version counts
    days from 0 to 9. 180 rows (18 subjects x 10 days).

    The standard random-slope example: ``Reaction ~ Days + (Days | Subject)``.

    Columns
    -------
    Reaction : float64
        Average reaction time on that day, in milliseconds.
    Days : float64
        Day of the study, 0 to 9.
    Subject : categorical, 18 levels (``"308"``, ``"309"``, ...)
        The person tested.
    """
    return load_dataset("sleepstudy")


def load_dyestuff() -> pd.DataFrame:
    """Yield of dyestuff by batch of an intermediate product (lme4's ``Dyestuff``).

    From Davies and Goldsmith (1972), *Statistical Methods in Research and
    Production*: six batches of an intermediate product, chosen at random, and
    five preparations of the dye from each batch; the response is the yield of
    each preparation. 30 rows. The one-way random-effects model
    ``Yield ~ 1 + (1 | Batch)`` has a clearly positive batch variance.

    Columns
    -------
    Batch : categorical, 6 levels ``"A"``..``"F"``
        Batch of the intermediate product.
    Yield : float64
        Yield of dyestuff, in grams of standard colour.
    """
    return load_dataset("dyestuff")


def load_dyestuff2() -> pd.DataFrame:
    """Simulated data with the layout of Dyestuff (lme4's ``Dyestuff2``).

    From Box and Tiao (1973), *Bayesian Inference in Statistical Analysis*:
    six batches with five observations each, generated so that the variation
    within batches swamps the variation between them. 30 rows. The model
    ``Yield ~ 1 + (1 | Batch)`` gives a batch variance of zero: the standard
    example of a singular (boundary) fit.

    Columns
    -------
    Batch : categorical, 6 levels ``"A"``..``"F"``
        Batch.
    Yield : float64
        Simulated response.
    """
    return load_dataset("dyestuff2")


def load_penicillin() -> pd.DataFrame:
    """Potency of penicillin samples in a plate assay (lme4's ``Penicillin``).

    From Davies and Goldsmith (1972): six samples of penicillin were each put
    on each of 24 agar plates inoculated with *B. subtilis*; the potency shows
    as the diameter of the zone where growth is inhibited. 144 rows (24 plates x
    6 samples), a fully crossed design: ``diameter ~ 1 + (1 | plate) + (1 | sample)``.

    Columns
    -------
    diameter : float64
        Diameter of the zone of inhibition, in millimetres.
    plate : categorical, 24 levels ``"a"``..``"x"``
        The assay plate.
    sample : categorical, 6 levels ``"A"``..``"F"``
        The penicillin sample.
    """
    return load_dataset("penicillin")


def load_pastes() -> pd.DataFrame:
    """Strength of a chemical paste by delivery batch and cask (lme4's ``Pastes``).

    From Davies and Goldsmith (1972): from each of ten delivery batches three
    casks were chosen at random, and two strength tests were made on the paste
    in each cask. 60 rows. Casks are nested in batches, so ``cask`` alone is not
    a grouping factor: write ``strength ~ 1 + (1 | batch/cask)``, or use ``sample``,
    as in ``strength ~ 1 + (1 | batch) + (1 | sample)``.

    Columns
    -------
    strength : float64
        Measured strength of the paste.
    batch : categorical, 10 levels ``"A"``..``"J"``
        Delivery batch.
    cask : categorical, 3 levels ``"a"``..``"c"``
        Cask within the batch (labels repeat across batches).
    sample : categorical, 30 levels ``"A:a"``..``"J:c"``
        Batch and cask combined: one level per cask.
    """
    return load_dataset("pastes")


def load_insteval() -> pd.DataFrame:
    """Lecture evaluations by students at ETH Zurich (lme4's ``InstEval``).

    Ratings that students gave to lectures and their lecturers, anonymised.
    73,421 rows: 2,972 students, 1,128 lecturers, 14 departments. With crossed
    student and lecturer effects, e.g. ``y ~ service + (1 | s) + (1 | d) +
    (1 | dept:service)``, it is the usual medium-sized benchmark for mixed-model
    software.

    Columns
    -------
    s : categorical, 2,972 levels
        Student (anonymised id).
    d : categorical, 1,128 levels
        Lecturer (instructor; anonymised id).
    studage : ordered categorical, levels ``"2" < "4" < "6" < "8"``
        The student's semester number (a proxy for how far along they are).
    lectage : ordered categorical, levels ``"1" < ... < "6"``
        How many semesters back the rated lecture took place.
    service : categorical, levels ``"0"``, ``"1"``
        ``"1"`` when the lecture was a service course, held for a department
        other than the lecturer's own.
    dept : categorical, 14 levels (in R's order, which is not numeric)
        Department of the lecture.
    y : int64
        The rating, from 1 (poor) to 5 (very good).
    """
    return load_dataset("insteval")


def load_grouseticks() -> pd.DataFrame:
    """Ticks on red grouse chicks (lme4's ``grouseticks``).

    From Elston et al. (2001), *Parasitology*: the number of sheep ticks found on
    the heads of red grouse chicks caught in the field, in three years, with the
    brood each chick came from and the altitude of the place. 403 rows. An
    overdispersed-count example: ``TICKS ~ YEAR + cHEIGHT + (1 | BROOD) +
    (1 | INDEX) + (1 | LOCATION)`` with a Poisson family.

    Columns
    -------
    INDEX : categorical, 403 levels
        The chick (one level per row; an observation-level random effect).
    TICKS : float64
        Number of ticks counted.
    BROOD : categorical, 118 levels
        The brood the chick belongs to.
    HEIGHT : float64
        Altitude of the location, in metres.
    YEAR : categorical, levels ``"95"``, ``"96"``, ``"97"``
        Year of sampling (1995-1997).
    LOCATION : categorical, 63 levels
        Where the chick was caught.
    cHEIGHT : float64
        ``HEIGHT`` centred at its mean.
    """
    return load_dataset("grouseticks")
