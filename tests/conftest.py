"""Shared test set-up: helper modules importable from every test folder, BLAS pinned to one thread.

The helpers in this folder (``_data`` — the bundled datasets with R's factor levels;
``_glmm_reference`` — independent dense GLMM likelihoods) are imported by tests in the
sub-folders, so this folder goes on ``sys.path``.  BLAS is limited to one thread for the
whole session, as the fits do by default, so that test timings do not depend on the
machine's core count.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))


@pytest.fixture(scope="session", autouse=True)
def _one_blas_thread():
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield
