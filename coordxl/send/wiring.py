"""How a job's mails and posts go out: the mail transport and one robot poster per chat group, built once per
run from the settings and the environment (passwords and webhooks are read here, at the edge).

:func:`wire` is called by the CLI and the scheduler only; library callers (tests, benchmarks) give a
:class:`Senders` of their own, or none: then the outbox is used where the settings say so.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from ..settings import Settings
from . import channels, notify


@dataclass(frozen=True)
class Senders:
    """The mail transport and the chat posters (channel name → poster) of one run; None: the outbox, for
    library callers, where the settings send there (an smtp or robot setting without one is refused)."""

    transport: notify.Transport | None = None
    posters: dict | None = None

    def mail(self, settings: Settings, state_dir: Path, today: dt.date) -> notify.Transport:
        return notify.transport_or_outbox(self.transport, settings, state_dir, today)

    def chat(self, settings: Settings, state_dir: Path, today: dt.date) -> dict:
        return self.posters if self.posters is not None else channels.outbox_posters(settings, state_dir, today)


def wire(settings: Settings, state_dir: Path, today: dt.date, environ: dict, *, chat: bool = True) -> Senders:
    """The run's senders, from the settings and ``environ`` (SMTP password, webhooks and their secrets; else
    the OS keyring). A missing secret stops the run before anything is read or sent (exit 2).
    ``chat=False``: the mail transport only (the replies job posts nothing)."""
    transport = notify.make_transport(settings, state_dir, today, environ)
    return Senders(transport, channels.make_posters(settings, state_dir, today, environ) if chat else None)
