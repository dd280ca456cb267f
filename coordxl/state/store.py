"""Job state in .coordxl/state.db (SQLite): `Store`, the one object callers use.

It joins the run log (:mod:`.runs`), the delivery ledger and flag texts (:mod:`.ledger`), the daily snapshots
(:mod:`.snapshots`) over one connection with its schema and migrations (:mod:`.db`). ``workbook_id``,
``SCHEMA`` and ``FINAL`` are imported from here as well.
"""

from __future__ import annotations

from .db import SCHEMA, Database, workbook_id, workbooks_id
from .ledger import FINAL, Flags, Ledger
from .runs import Runs
from .snapshots import Snapshots

__all__ = ["FINAL", "SCHEMA", "Database", "Store", "workbook_id", "workbooks_id"]


class Store(Runs, Ledger, Flags, Snapshots):
    """The state database of one shared folder: the run log (:mod:`.runs`), the delivery ledger and the
    flag texts written (:mod:`.ledger`), the daily snapshots (:mod:`.snapshots`), over one connection
    (:mod:`.db`)."""
