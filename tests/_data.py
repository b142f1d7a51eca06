"""Test data for the formula / model-frame tests, with R's factor levels.

Reads the CSV files and ``schema.json`` (R's column types and factor levels, in R's
order) from the repository's ``datasets/`` folder.  Kept independent of
``mixedlm.datasets`` so these tests check the formula and design layers alone.
"""

from __future__ import annotations

import json
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

_FOLDER = Path(__file__).resolve().parents[1] / "datasets"


def _folder() -> Path:
    if not (_FOLDER / "schema.json").is_file():
        raise FileNotFoundError(f"no datasets folder with schema.json at {_FOLDER}")
    return _FOLDER


@lru_cache(maxsize=1)
def _schema() -> dict[str, Any]:
    return json.loads((_folder() / "schema.json").read_text(encoding="utf-8"))


@cache
def _load(name: str) -> pd.DataFrame:
    spec = _schema()[name]["columns"]
    text_columns = {c: str for c, info in spec.items() if "levels" in info}
    frame = pd.read_csv(_folder() / f"{name}.csv", dtype=text_columns)
    for column, info in spec.items():
        if "levels" in info:
            frame[column] = pd.Categorical(
                frame[column],
                categories=info["levels"],
                ordered=info["type"] == "ordered factor",
            )
    return frame


def load(name: str) -> pd.DataFrame:
    """A fresh copy of dataset ``name`` (``"sleepstudy"``, ``"pastes"``, ...)."""
    return _load(name).copy()
