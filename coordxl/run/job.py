"""The frame every job runs in (daily, weekly, archive): the folder's job lock, the run record in
state.db, the heap frozen while the job makes its pages and mails, and the outcome the record keeps.

    with job("weekly", ctx) as run:        # ctx: the RunContext; run.ctx has the ledger open
        ...                                # the pass
        with run.frozen():                 # the folder's tasks stay put while the mails are made
            ...
        run.outcome = "ok"                 # else the record says "failed"

A dry run holds no lock and opens no ledger (it writes and sends nothing).
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
from dataclasses import dataclass
from typing import Callable, Iterator

from ..state.lock import job_lock
from .context import RunContext


@contextlib.contextmanager
def heap_frozen() -> Iterator[None]:
    """What is alive now is left out of cyclic garbage collection until the block ends.

    After a pass, a job holds the folder's tasks (hundreds of thousands of objects) while it makes
    pages and mails; every full collection would walk them all again (measured: the weekly's
    decision pages took twice as long). New garbage is still collected meanwhile.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@dataclass
class Job:
    """A running job: its context (with the ledger, None for a dry run), its run record, and what the record
    will say: ``outcome`` ("failed" unless the job sets it) and ``counts()``, read when the job ends, also
    after a failure."""

    ctx: RunContext
    run_id: int | None = None
    outcome: str = "failed"
    counts: Callable[[], dict] = dict

    def frozen(self) -> contextlib.AbstractContextManager:
        return heap_frozen()


@contextlib.contextmanager
def job(name: str, ctx: RunContext, *, record: bool = True) -> Iterator[Job]:
    """Run the job ``name`` on ``ctx.layout``: hold the folder's job lock (a second run waits or is refused,
    state.lock), open state.db and record the run (``record=False``: the lock only, as archive), and
    close the record with the job's outcome and counts however the job ends."""
    with contextlib.nullcontext() if ctx.dry_run else job_lock(ctx.layout, name):
        store = ctx.layout.open_store() if record and not ctx.dry_run else None
        frame = Job(dataclasses.replace(ctx, store=store))
        try:
            if store is not None:
                frame.run_id = store.start_run(name, ctx.today, ctx.now, ctx.dry_run)
            yield frame
        finally:
            if store is not None:
                try:
                    if frame.run_id is not None:
                        store.finish_run(frame.run_id, frame.outcome, frame.counts(), ctx.now)
                finally:
                    store.close()
