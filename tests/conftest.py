"""Shared test set-up: helper modules importable from every test folder, BLAS pinned to one
thread, and session-wide fixtures.

The helpers in this folder (``_data`` — the bundled datasets with R's factor levels;
``_glmm_reference`` — independent dense GLMM likelihoods) are imported by tests in the
sub-folders, so this folder goes on ``sys.path``.  BLAS is limited to one thread for the
whole session, as the fits do by default, so that test timings do not depend on the
machine's core count.

Fixtures (session scope; fits are deterministic, so sharing one changes no result — tests
must not modify them):

* ``reference(name)`` — the JSON file ``tests/data/<name>.json`` (lme4 / glmmTMB numbers
  made by the R scripts next to it), read once;
* ``sleepstudy_reml`` — ``lmer(Reaction ~ Days + (Days | Subject), sleepstudy)`` (L01);
* ``cbpp_laplace`` — ``glmer(cbind(incidence, size - incidence) ~ period + (1 | herd),
  cbpp, binomial)`` (G01).
"""

from __future__ import annotations

import json
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))


@pytest.fixture(scope="session", autouse=True)
def _one_blas_thread():
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield


@cache
def _reference_file(name: str) -> dict[str, Any]:
    return json.loads((HERE / "data" / f"{name}.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def reference():
    """``reference("lme4_lmm_reference")`` -> the parsed ``tests/data/lme4_lmm_reference.json``."""
    return _reference_file


@pytest.fixture(scope="session")
def sleepstudy_reml():
    from _data import load

    import mixedlm as mlm

    return mlm.lmer("Reaction ~ Days + (Days | Subject)", load("sleepstudy"), data_name="sleepstudy")


@pytest.fixture(scope="session")
def cbpp_laplace():
    from _data import load

    import mixedlm as mlm

    return mlm.glmer(
        "cbind(incidence, size - incidence) ~ period + (1 | herd)",
        load("cbpp"),
        family=mlm.families.Binomial(),
        data_name="cbpp",
    )
