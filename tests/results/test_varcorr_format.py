"""Golden tests for mixedlm.results.varcorr against lme4's own printing.

The expected text in ``data/lme4_summaries.json`` was produced by R 4.2.2 /
lme4 1.1-31 (Matrix 1.5-3, Debian 12, C.UTF-8 locale, default options) with
``print(VarCorr(fit))``, ``print(VarCorr(fit), comp = ...)`` and
``as.data.frame(VarCorr(fit))`` (script: ``data/make_golden.R``); the covariance
matrices fed to :class:`VarCorr` are lme4's ``VarCorr(fit)[[i]]`` at full
precision, so the tests need no R at run time.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mixedlm.results.varcorr import VarCorr, VarCorrGroup

DATA = Path(__file__).parent / "data"
CASES: dict[str, dict[str, Any]] = json.loads((DATA / "lme4_summaries.json").read_text())


def _as_list(x: Any) -> list[Any]:
    """jsonlite unboxes length-1 vectors; undo that."""
    if x is None:
        return []
    return x if isinstance(x, list) else [x]


def build_varcorr(case: dict[str, Any]) -> VarCorr:
    """The :class:`VarCorr` of a golden case, from lme4's covariance matrices."""
    groups = []
    for g in case["varcorr"]:
        names = _as_list(g["names"])
        cov = np.array(g["cov"], dtype=float).reshape(len(names), len(names))
        groups.append(VarCorrGroup(g["group"], names, cov))
    return VarCorr(groups, case["sigma"])


def _printed_block(case: dict[str, Any]) -> list[str]:
    """The lines of summary()'s random-effects table."""
    lines = _as_list(case["printed"])
    start = lines.index("Random effects:") + 1
    stop = next(i for i in range(start, len(lines)) if lines[i].startswith("Number of obs:"))
    return lines[start:stop]


@pytest.mark.parametrize("case_id", sorted(CASES))
def test_print_varcorr_matches_lme4(case_id: str) -> None:
    case = CASES[case_id]
    vc = build_varcorr(case)
    assert str(vc).split("\n") == _as_list(case["varcorr_printed"])


@pytest.mark.parametrize("case_id", sorted(CASES))
def test_varcorr_other_components_match_lme4(case_id: str) -> None:
    case = CASES[case_id]
    vc = build_varcorr(case)
    both = vc.format(comp=("Variance", "Std.Dev."), digits=5).rstrip("\n").split("\n")
    assert both == _as_list(case["varcorr_printed_var"])
    var_only = vc.format(comp="Variance", digits=5).rstrip("\n").split("\n")
    assert var_only == _as_list(case["varcorr_printed_var_only"])


@pytest.mark.parametrize("case_id", sorted(CASES))
def test_summary_block_matches_lme4(case_id: str) -> None:
    case = CASES[case_id]
    vc = build_varcorr(case)
    assert vc.format().rstrip("\n").split("\n") == _printed_block(case)


@pytest.mark.parametrize("case_id", sorted(CASES))
def test_as_dataframe_matches_lme4(case_id: str) -> None:
    case = CASES[case_id]
    df = build_varcorr(case).as_dataframe()
    ref = case["varcorr_df"]
    assert list(df.columns) == ["grp", "var1", "var2", "vcov", "sdcor"]
    assert list(df["grp"]) == _as_list(ref["grp"])

    def norm(v: Any) -> Any:
        return None if (v is None or (isinstance(v, float) and math.isnan(v))) else v

    n = len(df)

    def col(v: Any) -> list[Any]:  # a one-row all-NA column comes back from jsonlite as null
        return [None] * n if v is None else _as_list(v)

    assert [norm(v) for v in df["var1"]] == [norm(v) for v in col(ref["var1"])]
    assert [norm(v) for v in df["var2"]] == [norm(v) for v in col(ref["var2"])]
    np.testing.assert_allclose(df["vcov"].to_numpy(), np.array(_as_list(ref["vcov"]), dtype=float), rtol=1e-12)
    np.testing.assert_allclose(df["sdcor"].to_numpy(), np.array(_as_list(ref["sdcor"]), dtype=float), rtol=1e-12)


def test_brief_example_sleepstudy() -> None:
    """The numbers issue 2 quotes for the sleepstudy REML fit."""
    vc = build_varcorr(CASES["L01_sleep_slope_reml"])
    assert vc.format().split("\n")[:4] == [
        " Groups   Name        Variance Std.Dev. Corr",
        " Subject  (Intercept) 612.10   24.741       ",
        "          Days         35.07    5.922   0.07",
        " Residual             654.94   25.592       ",
    ]


def test_repeated_factor_names_get_lme4_suffixes() -> None:
    cov = np.array([[2.0]])
    vc = VarCorr(
        [
            VarCorrGroup("Subject", ["(Intercept)"], cov),
            VarCorrGroup("Subject", ["Days"], cov),
            VarCorrGroup("Subject", ["x"], cov),
        ],
        1.0,
    )
    assert vc.names == ["Subject", "Subject.1", "Subject.2"]
    # with a repeat, lme4 applies make.names(unique = TRUE) to every name
    vc2 = VarCorr(
        [
            VarCorrGroup("cask:batch", ["(Intercept)"], cov),
            VarCorrGroup("g", ["(Intercept)"], cov),
            VarCorrGroup("g", ["x"], cov),
        ],
        1.0,
    )
    assert vc2.names == ["cask.batch", "g", "g.1"]
    # without repeats names are kept verbatim
    assert VarCorr([VarCorrGroup("cask:batch", ["(Intercept)"], cov)], None).names == ["cask:batch"]
    assert vc["Subject.1"].names == ["Days"]


def test_no_residual_row_without_scale() -> None:
    vc = VarCorr([VarCorrGroup("herd", ["(Intercept)"], np.array([[0.4123]]))], None)
    assert "Residual" not in str(vc)
    assert list(vc.as_dataframe()["grp"]) == ["herd"]


def test_lower_tri_order() -> None:
    cov = np.array([[4.0, 1.0, 0.5], [1.0, 9.0, -1.0], [0.5, -1.0, 1.0]])
    vc = VarCorr([VarCorrGroup("g", ["a", "b", "c"], cov)], 2.0)
    df = vc.as_dataframe(order="lower.tri")
    assert list(zip(df["var1"].iloc[:6], df["var2"].fillna("").iloc[:6])) == [
        ("a", ""),
        ("a", "b"),
        ("a", "c"),
        ("b", ""),
        ("b", "c"),
        ("c", ""),
    ]
    df2 = vc.as_dataframe()
    assert list(df2["var1"].iloc[3:6]) == ["a", "a", "b"]
    assert list(df2["var2"].iloc[3:6]) == ["b", "c", "c"]
    assert df2["sdcor"].iloc[3] == pytest.approx(1.0 / 6.0)
    assert pd.isna(df2["var1"].iloc[-1]) and df2["grp"].iloc[-1] == "Residual"


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="shape"):
        VarCorrGroup("g", ["a", "b"], np.eye(3))
    vc = VarCorr([VarCorrGroup("g", ["a"], np.eye(1))], 1.0)
    with pytest.raises(ValueError, match="Illegal 'comp'"):
        vc.format(comp="Corr")
    with pytest.raises(ValueError):
        vc.as_dataframe(order="upper")
