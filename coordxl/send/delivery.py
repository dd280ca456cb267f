"""The one seam through which everything coordxl sends goes out, exactly once.

Three concerns, three places: *who gets what* (notify: digests and escalation; channels: one post
per group; health: the administrator's list), *how it reads* (the mail templates, each robot's
message format) and *how it goes out* — here. A parcel (a rendered mail or group post) meets a
:class:`Courier` (the outbox, SMTP, a DingTalk, WeCom or Feishu robot), and :func:`deliver` does
what every kind shares: skip what the ledger says went out, hold what is over the run's cap, claim
each parcel in the ledger before it goes, record the outcome after the other side answered, and
report failures the same way. A new platform is one courier (and its fake in the tests).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Callable, Iterable, Protocol

from ..errors import ConfigError
from ..state.store import Store


class Unknown(Exception):
    """The parcel went out and no answer came back: it may or may not have arrived."""


class Failed(Exception):
    """The courier could not deliver. ``scope``: 'parcel' (this one failed, go on), 'connection' (this
    one failed and the connection is gone: reconnect for the next) or 'courier' (nothing more can go
    through this courier this run: bad credentials, a robot that refuses our signature)."""

    def __init__(self, reason: str, scope: str = "parcel"):
        super().__init__(reason)
        self.reason, self.scope = reason, scope


class Parcel(Protocol):
    """What the ledger and the loop read of a mail or a post."""

    key: str
    kind: str
    subject: str

    def recipients(self) -> list[str]: ...


class Courier(Protocol):
    """How parcels go out: ``carry`` returns the recipients it refused ({address: reply code}) or
    raises :class:`Unknown` / :class:`Failed`."""

    name: str

    def open(self) -> None: ...
    def carry(self, parcel, pending: list[str]) -> dict[str, int]: ...
    def close(self) -> None: ...


@dataclass
class Delivery:
    """What one run's delivery did, for the run summary, the ledger of runs and the health list."""

    sent: list = dc_field(default_factory=list)
    skipped: list = dc_field(default_factory=list)  # went out earlier (or is going out in another process)
    failed: list[tuple[object, str]] = dc_field(default_factory=list)  # retried next run
    held: list = dc_field(default_factory=list)  # over the per-run cap: for the next run
    refused: list = dc_field(default_factory=list)  # people nothing is sent to (notify.Refusal), set by the caller
    refused_recipients: list[tuple[object, str]] = dc_field(default_factory=list)  # sent, but some addresses refused
    unknown: list[tuple[object, str]] = dc_field(default_factory=list)  # never repeated without --resend
    broken: dict[str, str] = dc_field(default_factory=dict)  # courier name -> why nothing went through it
    resent: list[str] = dc_field(default_factory=list)  # keys sent again on the administrator's word


MAX_RECONNECTS = 2


Resend = bool | str | Iterable[str] | None


def resend_command(kind: str) -> str:
    """The command that sends again a mail or post of this kind whose delivery is unknown."""
    return f"coordxl {'weekly' if 'weekly' in kind else 'daily'} --resend"


def to_resend(parcels: list[Parcel], store: Store, resend: Resend) -> set[str]:
    """The keys of the parcels the administrator asked to send again.

    ``resend``: False/None nothing; "unknown" those whose delivery is unknown (the server may or may not
    have them: the one case a person must decide); True or "all" every one; else names, each a key (or
    its first characters, as `status` shows them) or a recipient's address or roster key.
    """
    if not resend:
        return set()
    if resend is True or resend == "all":
        return {p.key for p in parcels}
    if resend == "unknown":
        states = store.statuses([p.key for p in parcels])
        return {p.key for p in parcels if states.get(p.key) == "unknown"}
    names = {str(n).strip().lower() for n in ([resend] if isinstance(resend, str) else resend) if str(n).strip()}
    return {p.key for p in parcels
            if any(p.key.startswith(n) for n in names) or {p.to.email.lower(), p.to.key.lower()} & names}


def deliver(parcels: Iterable[Parcel], courier_for: Courier | Callable[[Parcel], Courier], store: Store, today: dt.date,
            now: dt.datetime, resend: Resend = False, cap: int | None = None, repeat_unknown: bool = False
            ) -> Delivery:
    """Send each parcel once.

    ``courier_for``: one courier for all, or a function choosing each parcel's. ``resend``: which to send
    again whatever the ledger says (:func:`to_resend`). ``cap``: parcels beyond it wait for the next
    run. ``repeat_unknown``: a parcel whose sending run was killed is sent again (a group post:
    repeated is better than missing) instead of being reported unknown (a mail: the server may have
    queued it; only --resend repeats it).
    """
    pick = courier_for if callable(courier_for) and not hasattr(courier_for, "carry") else (lambda _: courier_for)
    result = Delivery()
    parcels = list(parcels)
    store.adopt(parcels, today)  # the upgrade day: what an older coordxl sent today counts
    again = to_resend(parcels, store, resend)
    result.resent = sorted(again)
    known = store.delivered_to_many([p.key for p in parcels if p.key not in again])
    todo = []  # (parcel, the recipients it still has to reach)
    for parcel in parcels:
        done = known.get(parcel.key, set())
        pending = [] if "*" in done else [r for r in parcel.recipients() if r.lower() not in done]
        if pending:
            todo.append((parcel, pending))
        else:
            result.skipped.append(parcel)
    if cap is not None and len(todo) > cap:
        result.held = [p for p, _ in todo[cap:]]
        todo = todo[:cap]
    opened: dict[int, Courier] = {}
    reconnects: dict[int, int] = {}
    recorded: set[str] = set()  # keys whose outcome was recorded with its recipients
    for parcel, pending in todo:
        courier = pick(parcel)
        if courier.name in result.broken:
            result.failed.append((parcel, result.broken[courier.name]))
            continue
        if id(courier) not in opened:
            try:
                courier.open()
            except Failed as exc:
                result.broken[courier.name] = exc.reason
                result.failed.append((parcel, exc.reason))
                continue
            opened[id(courier)] = courier
        verdict = store.claim(parcel, today, now, resend=parcel.key in again)
        if verdict == "unknown" and repeat_unknown:
            verdict = store.claim(parcel, today, now, resend=True)
        if verdict != "claimed":
            if verdict == "unknown":
                result.unknown.append((parcel, "the run sending it was killed before the server answered"))
            else:  # sent meanwhile, or being sent by another process right now
                result.skipped.append(parcel)
            recorded.add(parcel.key)
            continue
        try:
            refused = courier.carry(parcel, pending) or {}
        except Unknown as exc:
            result.unknown.append((parcel, str(exc)))
            store.record_mail(parcel, today, now, "unknown", courier.name, error=str(exc))
            recorded.add(parcel.key)
            _close(opened, courier)
            continue
        except Failed as exc:
            result.failed.append((parcel, exc.reason))
            if exc.scope == "courier":
                result.broken[courier.name] = exc.reason
            elif exc.scope == "connection":
                _close(opened, courier)
                reconnects[id(courier)] = reconnects.get(id(courier), 0) + 1
                if reconnects[id(courier)] > MAX_RECONNECTS:
                    result.broken[courier.name] = "not sent: the server keeps dropping the connection"
            continue
        except ConfigError:
            raise
        # delivery is per recipient: a refused address is retried next run (4xx) or given up (5xx)
        refused = {a.lower(): code for a, code in refused.items()}
        accepted = {r.lower() for r in pending} - set(refused)
        for_good = {a for a, code in refused.items() if code >= 500}
        error = ", ".join(f"{a} {c}" for a, c in refused.items())
        retry = set(refused) - for_good
        if parcel.recipients()[0].lower() in refused:  # the one it is for did not get it
            result.failed.append((parcel, f"refused: {error}"))
            status = "partial" if retry else "refused"  # refused for good: reported, never retried
        else:
            status = "partial" if retry else "sent"
            result.sent.append(parcel)
            result.refused_recipients += [(parcel, f"{a} {c}") for a, c in refused.items()]
        store.record_mail(parcel, today, now, status, courier.name, error=f"refused: {error}" if refused else "",
                          accepted=accepted, rejected=for_good)
        recorded.add(parcel.key)
    for courier in list(opened.values()):
        _close(opened, courier)
    for parcel, error in result.failed:
        if parcel.key not in recorded:
            store.record_mail(parcel, today, now, "failed", pick(parcel).name, error=error[:300])
            recorded.add(parcel.key)
    return result


def _close(opened: dict[int, Courier], courier: Courier) -> None:
    if opened.pop(id(courier), None) is not None:
        courier.close()
