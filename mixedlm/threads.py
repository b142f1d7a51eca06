"""BLAS thread limits for the fits (threadpoolctl).

The dense blocks of the mixed-model factor are small, and oversubscribed OpenBLAS
threads were measured 7–50× slower on a loaded 2-core machine, so fits run with one
BLAS thread by default (``LmerControl(blas_threads=1)``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

_CONTROLLER: Any = None


@contextlib.contextmanager
def blas_threads(n: int | None) -> Iterator[None]:
    """Limit BLAS threads to ``n`` inside the block (no-op for None).

    The threadpool controller is created once (scanning the loaded libraries costs
    about half a millisecond; limiting through a cached controller ~10 µs).
    """
    global _CONTROLLER
    if n is None:
        yield
        return
    if _CONTROLLER is None:
        from threadpoolctl import ThreadpoolController

        _CONTROLLER = ThreadpoolController()
    with _CONTROLLER.limit(limits=int(n), user_api="blas"):
        yield
