"""Calendar data (RFC 5545) for what coordxl sends: meeting invitations, their updates and cancels, the
weekly follow-up as a recurring meeting, and deadlines as all-day items.

Built with the icalendar library, the times in ``general.timezone`` with its VTIMEZONE included
(Outlook needs it to place a TZID time). Every UID is stable, made from the item's identity in the
folder (never a local path), so a calendar updates an entry instead of adding a second one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import icalendar

PRODID = "-//coordxl//coordination//ZH"
DOMAIN = "coordxl"


def uid(*parts: object) -> str:
    """A stable UID from the parts that name one entry (the item's id, the meeting, the task)."""
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode("utf-8")).hexdigest()[:32]
    return f"{digest}@{DOMAIN}"


@dataclass(frozen=True)
class Who:
    name: str
    email: str


def _address(who: Who, role: str = "") -> icalendar.vCalAddress:
    a = icalendar.vCalAddress(f"mailto:{who.email}")
    a.params["cn"] = who.name
    if role:
        a.params["role"] = role
        a.params["partstat"] = "NEEDS-ACTION"
        a.params["rsvp"] = "TRUE"
    return a


def _calendar(method: str) -> icalendar.Calendar:
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("method", method)
    cal.add("calscale", "GREGORIAN")
    return cal


def _stamp(now: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    return (now if now.tzinfo else now.replace(tzinfo=zone)).astimezone(dt.timezone.utc)


def meeting(method: str, uid_: str, sequence: int, start: dt.datetime, end: dt.datetime, zone: str, summary: str,
            description: str, organizer: Who, attendees: list[Who], now: dt.datetime, location: str = "",
            links: tuple[str, ...] = (), rrule: dict | None = None, exdates: tuple[dt.datetime, ...] = ()) -> bytes:
    """One meeting as a calendar: METHOD REQUEST (an invitation or its update, ``sequence`` counting the
    changes) or CANCEL; ``rrule`` makes it recurring ({'freq': 'weekly', 'until': …})."""
    tz = ZoneInfo(zone)
    cal = _calendar(method)
    ev = icalendar.Event()
    ev.add("uid", uid_)
    ev.add("sequence", sequence)
    ev.add("dtstamp", _stamp(now, tz))
    ev.add("dtstart", start.replace(tzinfo=tz))
    ev.add("dtend", end.replace(tzinfo=tz))
    ev.add("summary", summary)
    ev.add("description", description)
    if location:
        ev.add("location", location)
    ev.add("organizer", _address(organizer))
    for who in attendees:
        ev.add("attendee", _address(who, "REQ-PARTICIPANT"))
    for link in links:
        ev.add("attach", link)
    if rrule:
        ev.add("rrule", rrule)
    if exdates:
        ev.add("exdate", [d.replace(tzinfo=tz) for d in exdates])
    ev.add("status", "CANCELLED" if method == "CANCEL" else "CONFIRMED")
    ev.add("transp", "OPAQUE")
    cal.add_component(ev)
    cal.add_missing_timezones()
    return cal.to_ical()


@dataclass(frozen=True)
class Deadline:
    """One task's deadline as an all-day item; ``cancelled`` when the task is done or cancelled."""

    uid: str
    day: dt.date
    summary: str
    description: str
    sequence: int = 0
    cancelled: bool = False


def deadlines(items: list[Deadline], now: dt.datetime, zone: str, method: str = "PUBLISH") -> bytes:
    """All-day items, METHOD PUBLISH: a calendar that imports it again updates each by its UID; METHOD
    CANCEL withdraws them (done or cancelled tasks)."""
    cal = _calendar(method)
    stamp = _stamp(now, ZoneInfo(zone))
    for d in items:
        ev = icalendar.Event()
        ev.add("uid", d.uid)
        ev.add("sequence", d.sequence)
        ev.add("dtstamp", stamp)
        ev.add("dtstart", d.day)
        ev.add("dtend", d.day + dt.timedelta(days=1))
        ev.add("summary", d.summary)
        ev.add("description", d.description)
        ev.add("transp", "TRANSPARENT")
        ev.add("status", "CANCELLED" if d.cancelled else "CONFIRMED")
        cal.add_component(ev)
    return cal.to_ical()
