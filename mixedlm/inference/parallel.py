"""Independent fits in parallel, with an optional progress bar (no joblib, no scheduler of our own).

:func:`parallel_map` runs ``fn(shared, item)`` over items in worker processes (``fork`` on
Linux, so the fitted model is shared without pickling) or threads, results in input
order; :class:`ProgressBar` shows tqdm when asked or when the loop looks long.  Used by
the bootstrap and by parallel profiles.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import (
    Executor,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    as_completed,
)
from typing import Any

import numpy as np

from mixedlm.errors import MixedLMError, warn_at_caller

#: With ``progress=None`` a progress bar appears when the loop is predicted to take longer (s).
PROGRESS_AFTER_SECONDS = 5.0


# ---------------------------------------------------------------------------------------
# parallel map (no joblib): processes (fork where available) or threads
# ---------------------------------------------------------------------------------------

_SHARED: Any = None


def _init_worker(shared: Any) -> None:
    global _SHARED
    _SHARED = shared
    try:  # one BLAS thread per worker: the work is split over processes already
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except Exception:  # pragma: no cover - threadpoolctl is a dependency, but never fail here
        pass


def _call_shared(fn: Callable[[Any, Any], Any], item: Any) -> Any:
    return fn(_SHARED, item)


def _n_workers(n_jobs: int, n_items: int) -> int:
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)) or n_jobs == 0 or n_jobs < -1:
        raise MixedLMError(f"n_jobs must be a positive integer or -1 (all cores), not {n_jobs!r}")
    n = (os.cpu_count() or 1) if n_jobs == -1 else int(n_jobs)
    return max(1, min(n, n_items))


def _executor(n: int, shared: Any, backend: str) -> Executor:
    if backend == "threads":
        return ThreadPoolExecutor(max_workers=n)
    if backend != "processes":
        raise MixedLMError(f"backend must be 'processes' or 'threads', not {backend!r}")
    # fork shares the fitted model (and any function, lambdas included) without pickling
    ctx = mp.get_context("fork") if sys.platform.startswith("linux") else mp.get_context()
    return ProcessPoolExecutor(max_workers=n, mp_context=ctx, initializer=_init_worker, initargs=(shared,))


def parallel_map(
    fn: Callable[[Any, Any], Any],
    items: Sequence[Any],
    n_jobs: int = 1,
    shared: Any = None,
    backend: str = "processes",
    on_result: Callable[[int, Any], None] | None = None,
) -> list[Any]:
    """``[fn(shared, item) for item in items]``, optionally in parallel; results in input order.

    Parameters
    ----------
    fn : callable
        A module-level function ``fn(shared, item)`` (worker processes look it up by name).
    items : sequence
        Work items.
    n_jobs : int
        Workers (``-1``: one per core); 1 runs in this process.
    shared : object
        Passed to every call; sent once per worker process (inherited through ``fork``
        on Linux, pickled elsewhere).
    backend : {"processes", "threads"}
        Worker processes (default: the numerical work holds the GIL between short
        BLAS calls, so threads do not scale on small models) or threads.
    on_result : callable, optional
        Called as ``on_result(index, result)`` when each item finishes (progress bars).
    """
    items = list(items)
    n = _n_workers(n_jobs, len(items))
    out: list[Any] = [None] * len(items)
    if n == 1:
        for i, it in enumerate(items):
            out[i] = fn(shared, it)
            if on_result is not None:
                on_result(i, out[i])
        return out
    with warnings.catch_warnings():
        # Python >= 3.12 warns that fork() in a threaded process may deadlock; the workers only
        # run NumPy/SciPy code and set their BLAS pools to one thread on start.
        warnings.filterwarnings("ignore", category=DeprecationWarning, message=".*fork.*")
        with _executor(n, shared, backend) as ex:
            if backend == "threads":
                futs = {ex.submit(fn, shared, it): i for i, it in enumerate(items)}
            else:
                futs = {ex.submit(_call_shared, fn, it): i for i, it in enumerate(items)}
            for fut in as_completed(futs):
                i = futs[fut]
                out[i] = fut.result()
                if on_result is not None:
                    on_result(i, out[i])
    return out


class ProgressBar:
    """tqdm bar shown when asked, or (``progress=None``) when the loop looks long and tqdm is installed."""

    def __init__(self, total: int, progress: bool | None, desc: str = "", unit: str = "it") -> None:
        self.total = total
        self.desc, self.unit = desc, unit
        self.progress = progress
        self.done = 0
        self.bar: Any = None
        self.t0 = time.perf_counter()
        self.decided = progress is not None
        if progress:
            self._open()

    def _open(self) -> None:
        try:
            from tqdm.auto import tqdm
        except ImportError:
            if self.progress:
                warn_at_caller(
                    "progress=True needs tqdm (pip install tqdm); continuing without a progress bar", UserWarning
                )
            return
        self.bar = tqdm(total=self.total, initial=self.done, desc=self.desc, unit=self.unit)

    def update(self) -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.update(1)
            return
        if not self.decided:
            elapsed = time.perf_counter() - self.t0
            if elapsed * self.total / self.done > PROGRESS_AFTER_SECONDS and self.done < self.total:
                self.decided = True
                self._open()
            elif elapsed > 1.0:
                self.decided = True

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
