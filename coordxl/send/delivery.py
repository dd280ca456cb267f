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
    round_ = _Round(pick, store, today, now, repeat_unknown)
    for parcel, pending in round_.to_send(list(parcels), resend, cap):
        round_.send(parcel, pending)
    round_.finish()
    return round_.result


class _Round:
    """One call of :func:`deliver`: the couriers it opened, the reconnects, the parcels whose outcome is
    in the ledger, and what it did."""

    def __init__(self, pick: Callable[[Parcel], Courier], store: Store, today: dt.date, now: dt.datetime,
                 repeat_unknown: bool):
        self.pick, self.store, self.today, self.now, self.repeat_unknown = pick, store, today, now, repeat_unknown
        self.result = Delivery()
        self.again: set[str] = set()  # keys to send again on the administrator's word
        self.opened: dict[int, Courier] = {}
        self.reconnects: dict[int, int] = {}
        self.recorded: set[str] = set()  # keys whose outcome was recorded with its recipients

    def to_send(self, parcels: list[Parcel], resend: Resend, cap: int | None) -> list[tuple[Parcel, list[str]]]:
        """Each parcel still to go, with the recipients it has yet to reach; what went out is skipped,
        what is over the cap held for the next run."""
        store, result = self.store, self.result
        store.adopt(parcels, self.today)  # the upgrade day: what an older coordxl sent today counts
        self.again = to_resend(parcels, store, resend)
        result.resent = sorted(self.again)
        known = store.delivered_to_many([p.key for p in parcels if p.key not in self.again])
        todo = []
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
        return todo

    def send(self, parcel: Parcel, pending: list[str]) -> None:
        """One parcel: through its courier (opened once), claimed in the ledger, its outcome recorded."""
        courier = self._courier(parcel)
        if courier is None or not self._claimed(parcel):
            return
        try:
            refused = courier.carry(parcel, pending) or {}
        except Unknown as exc:
            self.result.unknown.append((parcel, str(exc)))
            self.store.record_mail(parcel, self.today, self.now, "unknown", courier.name, error=str(exc))
            self.recorded.add(parcel.key)
            _close(self.opened, courier)
            return
        except Failed as exc:
            self._failed(parcel, courier, exc)
            return
        self._record(parcel, courier, pending, refused)

    def _courier(self, parcel: Parcel) -> Courier | None:
        """The parcel's courier, open; None (the parcel failed) when nothing goes through it this run."""
        result = self.result
        courier = self.pick(parcel)
        if courier.name in result.broken:
            result.failed.append((parcel, result.broken[courier.name]))
            return None
        if id(courier) not in self.opened:
            try:
                courier.open()
            except Failed as exc:
                result.broken[courier.name] = exc.reason
                result.failed.append((parcel, exc.reason))
                return None
            self.opened[id(courier)] = courier
        return courier

    def _claimed(self, parcel: Parcel) -> bool:
        """Claim the parcel in the ledger; False when it went out meanwhile, is going out in another
        process, or its sending run was killed before the server answered (unknown)."""
        verdict = self.store.claim(parcel, self.today, self.now, resend=parcel.key in self.again)
        if verdict == "unknown" and self.repeat_unknown:
            verdict = self.store.claim(parcel, self.today, self.now, resend=True)
        if verdict == "claimed":
            return True
        if verdict == "unknown":
            self.result.unknown.append((parcel, "the run sending it was killed before the server answered"))
        else:  # sent meanwhile, or being sent by another process right now
            self.result.skipped.append(parcel)
        self.recorded.add(parcel.key)
        return False

    def _failed(self, parcel: Parcel, courier: Courier, exc: Failed) -> None:
        result = self.result
        result.failed.append((parcel, exc.reason))
        if exc.scope == "courier":
            result.broken[courier.name] = exc.reason
        elif exc.scope == "connection":
            _close(self.opened, courier)
            self.reconnects[id(courier)] = self.reconnects.get(id(courier), 0) + 1
            if self.reconnects[id(courier)] > MAX_RECONNECTS:
                result.broken[courier.name] = "not sent: the server keeps dropping the connection"

    def _record(self, parcel: Parcel, courier: Courier, pending: list[str], refused: dict[str, int]) -> None:
        """Delivery is per recipient: a refused address is retried next run (4xx) or given up (5xx)."""
        result = self.result
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
        self.store.record_mail(parcel, self.today, self.now, status, courier.name,
                               error=f"refused: {error}" if refused else "", accepted=accepted, rejected=for_good)
        self.recorded.add(parcel.key)

    def finish(self) -> None:
        """Close what is open; a failed parcel not yet in the ledger is recorded as failed (retried next run)."""
        for courier in list(self.opened.values()):
            _close(self.opened, courier)
        for parcel, error in self.result.failed:
            if parcel.key not in self.recorded:
                self.store.record_mail(parcel, self.today, self.now, "failed", self.pick(parcel).name,
                                       error=error[:300])
                self.recorded.add(parcel.key)


def _close(opened: dict[int, Courier], courier: Courier) -> None:
    if opened.pop(id(courier), None) is not None:
        courier.close()
