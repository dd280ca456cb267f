"""One run's context: what a job knows before it reads the folder and carries through every step.

A :class:`RunContext` is frozen: a step that learns something the next steps need (the job frame opens
the ledger, the pass reads the roster) hands on a new one (``dataclasses.replace``). The rules and the
mail collector see it through ``process.rules.Context``: today, the calendar, the settings, the roster.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Mapping

from ..process.calendar import WorkCalendar
from ..process.roster import Roster
from ..send.wiring import Senders
from ..settings import Settings
from ..state.layout import Layout
from ..state.store import Store


@dataclass(frozen=True)
class RunContext:
    """``today`` and ``now`` are the run's clock (``now`` stamps the run record, backups and the mail log);
    ``store`` is None for a dry run (it writes and sends nothing) and outside a job; ``resend`` is what
    --resend asked for; ``senders`` how mails and posts go out (None: the outbox, where the settings say so)."""

    today: dt.date
    calendar: WorkCalendar
    settings: Settings
    roster: Roster | None = None
    layout: Layout | None = None
    now: dt.datetime | None = None
    store: Store | None = None
    dry_run: bool = False
    resend: bool | str | list[str] | None = False
    senders: Senders | None = None
    # (workbook id, meeting number) → when coordxl sent the minutes (state.meetings.minutes_mailed; R-MINUTES-24H)
    minutes_mailed: Mapping[tuple[str, int], dt.datetime] = field(default_factory=dict)

    @classmethod
    def of(cls, layout: Layout, today: dt.date, now: dt.datetime | None = None, *, dry_run: bool = False,
           resend: bool | str | list[str] | None = False, senders: Senders | None = None) -> "RunContext":
        settings = layout.settings
        return cls(today, WorkCalendar.from_settings(settings), settings, layout=layout, now=now, dry_run=dry_run,
                   resend=resend, senders=senders if senders is not None else Senders())

    @property
    def quiet_day(self) -> bool:
        """A non-working day on which nobody is reminded, posted to or told (reminders.send_on_non_workdays off)."""
        return not self.settings["reminders.send_on_non_workdays"] and not self.calendar.is_workday(self.today)
