"""The processes a job starts besides its own: check's workers (run.pipeline: each validates whole
workbooks, and does a job's per-workbook work) and the flag writer (run.flags: it writes one workbook
while the job reads the next). Both start here, the same way, and both fall back to this process.

Reading is CPU-bound (calamine parses, Python validates), so a check of many workbooks uses the
machine's cores; below :data:`MIN_WORKBOOKS_PER_WORKER` workbooks a process costs more than it saves.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from typing import Callable, TypeVar

from ..platform_support import process_context
from ..state.lock import heartbeats_paused

log = logging.getLogger(__name__)

AUTO_WORKERS_MAX = 4
MIN_WORKBOOKS_PER_WORKER = 8  # below this, starting a process costs more than it saves

T = TypeVar("T")


def worker_count(setting: int, workbooks: int) -> int:
    """How many check workers for ``workbooks`` workbooks: the ``limits.workers`` setting (0: the machine's
    cores, at most :data:`AUTO_WORKERS_MAX`), no more than one per :data:`MIN_WORKBOOKS_PER_WORKER` workbooks."""
    wanted = setting if setting > 0 else min(os.cpu_count() or 1, AUTO_WORKERS_MAX)
    return max(1, min(wanted, workbooks // MIN_WORKBOOKS_PER_WORKER))


def start_pool(workers: int, preload: tuple[str, ...], first: Callable[[ProcessPoolExecutor], T], fallback: str,
               initializer: Callable | None = None, initargs: tuple = ()) -> tuple[ProcessPoolExecutor, T] | None:
    """A pool of ``workers`` processes, started by ``first(pool)`` (its first submit): forked where that is
    safe (they start at once with ``preload`` imported), else from a fork server or spawned. The first
    submit happens while the lock heartbeats are paused: a fork only from this thread alone. None when
    this machine cannot start processes (no semaphores in a sandbox, no fork server): ``fallback`` is
    logged with why, and the caller does the work itself."""
    pool = None
    try:
        with heartbeats_paused():
            pool = ProcessPoolExecutor(workers, mp_context=process_context(preload=preload), initializer=initializer,
                                       initargs=initargs)
            return pool, first(pool)
    except (OSError, ImportError, NotImplementedError) as exc:
        log.warning(fallback, exc)
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        return None


def add_up(into, part, names: tuple[str, ...]) -> None:
    """Add what a worker sent back (``part``) to this process's own (``into``), field by field: counts to
    counts, lists after lists, numbers to numbers."""
    for name in names:
        mine, theirs = getattr(into, name), getattr(part, name)
        if isinstance(mine, Counter):
            mine.update(theirs)
        elif isinstance(mine, list):
            mine.extend(theirs)
        else:
            setattr(into, name, mine + theirs)
