"""The bundled lme4 datasets: shape, dtypes, R's factor levels, known values, packaging.

Known values are R's (``head()``, ``nrow()``, ``levels()`` and ``mean()`` of lme4's data
frames); the means equal the intercepts lme4 reports for the balanced one-way designs.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mixedlm import datasets

# name -> (loader, R's columns in order with the dtype we promise, nrow)
EXPECTED = {
    "cbpp": (
        datasets.load_cbpp,
        [("herd", "category"), ("incidence", "float64"), ("size", "float64"), ("period", "category")],
        56,
    ),
    "sleepstudy": (
        datasets.load_sleepstudy,
        [("Reaction", "float64"), ("Days", "float64"), ("Subject", "category")],
        180,
    ),
    "dyestuff": (
        datasets.load_dyestuff,
        [("Batch", "category"), ("Yield", "float64")],
        30,
    ),
    "dyestuff2": (
        datasets.load_dyestuff2,
        [("Batch", "category"), ("Yield", "float64")],
        30,
    ),
    "penicillin": (
        datasets.load_penicillin,
        [("diameter", "float64"), ("plate", "category"), ("sample", "category")],
        144,
    ),
    "pastes": (
        datasets.load_pastes,
        [("strength", "float64"), ("batch", "category"), ("cask", "category"), ("sample", "category")],
        60,
    ),
    "insteval": (
        datasets.load_insteval,
        [
            ("s", "category"),
            ("d", "category"),
            ("studage", "category"),
            ("lectage", "category"),
            ("service", "category"),
            ("dept", "category"),
            ("y", "int64"),
        ],
        73421,
    ),
    "grouseticks": (
        datasets.load_grouseticks,
        [
            ("INDEX", "category"),
            ("TICKS", "float64"),
            ("BROOD", "category"),
            ("HEIGHT", "float64"),
            ("YEAR", "category"),
            ("LOCATION", "category"),
            ("cHEIGHT", "float64"),
        ],
        403,
    ),
}

ORDERED = {("insteval", "studage"), ("insteval", "lectage")}


def _schema() -> dict:
    text = resources.files("mixedlm._datasets").joinpath("schema.json").read_text("utf-8")
    return json.loads(text)


@pytest.fixture(scope="module")
def frames() -> dict[str, pd.DataFrame]:
    return {name: loader() for name, (loader, _, _) in EXPECTED.items()}


def test_list_datasets_names_every_loader():
    assert datasets.list_datasets() == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_shape_and_columns(frames, name):
    _, columns, nrow = EXPECTED[name]
    df = frames[name]
    assert df.shape == (nrow, len(columns))
    assert _schema()[name]["nrow"] == nrow
    assert list(df.columns) == [c for c, _ in columns]
    assert isinstance(df.index, pd.RangeIndex)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_dtypes(frames, name):
    _, columns, _ = EXPECTED[name]
    df = frames[name]
    for col, dtype in columns:
        assert str(df[col].dtype) == dtype, (name, col)
        if dtype == "category":
            assert df[col].cat.ordered == ((name, col) in ORDERED), (name, col)
        assert not df[col].isna().any(), (name, col)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_factor_levels_are_the_schemas(frames, name):
    df = frames[name]
    spec = _schema()[name]["columns"]
    for col, info in spec.items():
        if "factor" in info["type"]:
            assert list(df[col].cat.categories) == info["levels"], (name, col)
            # every level is a string, exactly as R prints it
            assert all(isinstance(level, str) for level in df[col].cat.categories)


def test_level_counts_and_r_order(frames):
    inst = frames["insteval"]
    assert len(inst["s"].cat.categories) == 2972
    assert len(inst["d"].cat.categories) == 1128
    assert list(inst["studage"].cat.categories) == ["2", "4", "6", "8"]
    assert list(inst["lectage"].cat.categories) == ["1", "2", "3", "4", "5", "6"]
    assert list(inst["service"].cat.categories) == ["0", "1"]
    # R's order of dept is not sorted (neither as text nor as numbers)
    assert list(inst["dept"].cat.categories[:5]) == ["15", "5", "10", "12", "6"]
    assert len(inst["dept"].cat.categories) == 14
    assert inst["studage"].min() == "2" and inst["lectage"].max() == "6"

    sleep = frames["sleepstudy"]
    assert list(sleep["Subject"].cat.categories[:4]) == ["308", "309", "310", "330"]
    assert len(sleep["Subject"].cat.categories) == 18
    # numeric-looking labels sort as numbers in R's factor(): "10" after "9"
    assert list(frames["cbpp"]["herd"].cat.categories[8:11]) == ["9", "10", "11"]
    assert list(frames["pastes"]["sample"].cat.categories[:4]) == ["A:a", "A:b", "A:c", "B:a"]
    assert len(frames["grouseticks"]["BROOD"].cat.categories) == 118
    assert list(frames["grouseticks"]["YEAR"].cat.categories) == ["95", "96", "97"]


def test_known_values(frames):
    sleep = frames["sleepstudy"]
    assert sleep["Reaction"].iloc[0] == pytest.approx(249.56)
    assert sleep["Reaction"].iloc[1] == pytest.approx(258.7047)
    assert sleep["Subject"].iloc[0] == "308" and sleep["Days"].iloc[0] == 0.0
    assert sleep["Reaction"].mean() == pytest.approx(298.5079, abs=1e-4)

    cbpp = frames["cbpp"]
    assert cbpp.iloc[0].tolist() == ["1", 2.0, 14.0, "1"]
    assert cbpp["incidence"].tolist()[:4] == [2.0, 3.0, 4.0, 0.0]

    assert frames["dyestuff"]["Yield"].iloc[0] == 1545.0
    assert frames["dyestuff"]["Yield"].mean() == pytest.approx(1527.5)
    assert frames["dyestuff2"]["Yield"].iloc[0] == pytest.approx(7.298)
    assert frames["dyestuff2"]["Yield"].mean() == pytest.approx(5.6656)
    assert frames["penicillin"]["diameter"].mean() == pytest.approx(22.97222, abs=1e-5)
    assert frames["penicillin"].iloc[0].tolist() == [27.0, "a", "A"]
    assert frames["pastes"]["strength"].mean() == pytest.approx(60.05333, abs=1e-5)
    assert frames["pastes"].iloc[0].tolist() == [62.8, "A", "a", "A:a"]

    inst = frames["insteval"]
    assert len(inst) == 73421
    assert inst.iloc[0].tolist() == ["1", "1002", "2", "2", "0", "2", 5]
    assert inst["y"].mean() == pytest.approx(3.205745, abs=1e-6)
    assert set(np.unique(inst["y"])) == {1, 2, 3, 4, 5}

    grouse = frames["grouseticks"]
    assert grouse["cHEIGHT"].iloc[0] == pytest.approx(2.75930521091811, rel=1e-12)
    assert grouse["HEIGHT"].iloc[0] == 465.0
    # cHEIGHT is HEIGHT centred at its mean
    np.testing.assert_allclose(grouse["cHEIGHT"], grouse["HEIGHT"] - grouse["HEIGHT"].mean(), atol=1e-9)


def test_each_call_returns_a_fresh_frame():
    a = datasets.load_dyestuff()
    a.loc[0, "Yield"] = -1.0
    assert datasets.load_dyestuff()["Yield"].iloc[0] == 1545.0


def test_load_dataset_by_name():
    pd.testing.assert_frame_equal(datasets.load_dataset("Dyestuff"), datasets.load_dyestuff())
    with pytest.raises(ValueError, match="unknown dataset 'nosuch'.*sleepstudy"):
        datasets.load_dataset("nosuch")


def test_files_come_from_the_installed_package(monkeypatch, tmp_path):
    root = resources.files("mixedlm._datasets")
    names = {entry.name for entry in root.iterdir()}
    assert {f"{n}.csv" for n in EXPECTED} | {"schema.json"} <= names
    # the loaders read through importlib.resources, not from a path next to the caller
    assert str(datasets._data_dir()) == str(root)
    path = Path(str(root))
    assert "shared" not in path.parts
    # wheel: <site-packages>/mixedlm/_datasets; editable install: <repo>/datasets
    assert path.parts[-2:] == ("mixedlm", "_datasets") or (
        path.name == "datasets" and (path.parent / "pyproject.toml").is_file()
    )
    # independent of the working directory
    monkeypatch.chdir(tmp_path)
    assert len(datasets.load_sleepstudy()) == 180


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_exported_from_the_top_level(name):
    import mixedlm as mlm

    loader = EXPECTED[name][0]
    assert getattr(mlm, loader.__name__) is loader
