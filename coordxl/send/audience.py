"""Who gets what: the one place every sender asks which person a roster key names, whether they may
be mailed, who stands in for them while they are away, to whom their late tasks escalate, and which
items and tasks each reader may see.

Everyone is addressed by roster key (the roster's unique name: '张伟（市场部）' when two 张伟 work
here), never by the bare name, so two people of one name each get exactly their own.

>>> from coordxl.process.roster import Person, Roster
>>> roster = Roster([Person("张伟", "市场部", "a@corp.example"), Person("张伟", "销售部", "b@corp.example")], [])
>>> [p.email for p in (Audience(roster).person("张伟（销售部）"),)]
['b@corp.example']
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Iterable

from ..process.roster import EMAIL_RE, Person, Roster
from ..settings import Settings


@dataclass
class Refusal:
    """A roster person nothing is sent to, and why (bad_address | domain)."""

    name: str
    address: str
    reason: str


_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")


def header_safe(value: object) -> str:
    """Cell text fit for a mail header: control characters (CR, LF, …) become spaces."""
    return " ".join(_CONTROL.sub(" ", str(value)).split())


def allowed(person: Person, settings: Settings | None) -> str | None:
    """Why a roster person cannot be mailed, or None when they can."""
    address = header_safe(person.email)
    if not EMAIL_RE.match(address):
        return "bad_address"
    domains = [d.lower().lstrip("@") for d in (settings["email.allowed_domains"] if settings is not None else ())]
    if domains and address.rsplit("@", 1)[1].lower() not in domains:
        return "domain"
    if not person.active:
        return "inactive"
    return None


class Scope:
    """What a reader may see: everything, some items (an initiator), some departments (a head)."""

    def __init__(self, everything: bool = False, items: set[str] | frozenset = frozenset(),
                 departments: set[str] | frozenset = frozenset()):
        self.everything, self.items, self.departments = everything, set(items), set(departments)

    def __call__(self, task) -> bool:
        return self.everything or task.workbook in self.items or task.department in self.departments

    def item(self, line) -> bool:
        return self.everything or line.workbook in self.items

    def row(self, row: dict) -> bool:
        return self.everything or row["workbook"] in self.items or row["department"] in self.departments

    def pick(self, rows: list, groups: tuple[dict, dict]) -> list:
        """The rows in this scope, in their order, from their positions grouped by workbook and by
        department: a reader's few items among tens of thousands of tasks."""
        if self.everything:
            return rows
        at: set[int] = set()
        for workbook in self.items:
            at.update(groups[0].get(workbook, ()))
        for department in self.departments:
            at.update(groups[1].get(department, ()))
        return [rows[i] for i in sorted(at)]


@dataclass
class Reader:
    """One recipient of the weekly: the person, why they get it, and what they may see."""

    person: Person
    scope: Scope = dc_field(default_factory=Scope)
    reasons: set[str] = dc_field(default_factory=set)


class Audience:
    """The roster as the senders see it: roster keys to people, refusals gathered once per run."""

    def __init__(self, roster: Roster | None, settings: Settings | None = None, today: dt.date | None = None):
        self.roster, self.settings, self.today = roster, settings, today
        self.refused: list[Refusal] = []
        self._refused: set[str] = set()

    def person(self, key: object) -> Person | None:
        """The roster person a key (or a name that is unique, or told apart as '张伟（市场部）') names."""
        if self.roster is None or not key:
            return None
        return self.roster.person(key)

    def departed(self) -> frozenset[str]:
        """The roster keys of colleagues who have left (在职 = 否): their open tasks go to their manager
        to reassign; they are never mailed."""
        return frozenset(p.key for p in self.roster.people_list if not p.active) if self.roster is not None else frozenset()

    def mailable(self, person: Person) -> bool:
        """May ``person`` be mailed? A refusal (bad address, outside the allowed domains) is kept once;
        a colleague who has left is silently not mailed."""
        why = allowed(person, self.settings)
        if why and why != "inactive" and person.label not in self._refused:
            self._refused.add(person.label)
            self.refused.append(Refusal(person.label, person.email, why))
        return why is None

    def keep_refused(self, refused: Iterable[Refusal]) -> None:
        """Refusals found elsewhere this run (a worker sorting an item's reminders), each person once, in order."""
        for r in refused:
            if r.name not in self._refused:
                self._refused.add(r.name)
                self.refused.append(r)

    def recipient(self, key: object) -> Person | None:
        """The person a key names, when they may be mailed."""
        person = self.person(key)
        return person if person is not None and self.mailable(person) else None

    def stand_in(self, person: Person) -> Person | None:
        """Who receives ``person``'s reminders while they are on leave today: their 代理人, else their
        manager, never someone away or gone themselves; None when ``person`` is not away (or nobody can)."""
        if not person.away(self.today):
            return None
        deputy = self.roster.resolve(person.deputy)[0] if person.deputy else None
        for p in (deputy, self.manager(person)):
            if p is not None and p.key != person.key and p.active and not p.away(self.today):
                return p
        return None

    def addressee(self, key: object) -> tuple[Person | None, Person | None]:
        """(whom to mail, on whose behalf) for a roster key: the person, or while they are on leave
        their stand-in and the person; (None, …) when nobody may be mailed."""
        person = self.person(key)
        if person is None:
            return None, None
        stand_in = self.stand_in(person)
        to = stand_in or person
        return (to if self.mailable(to) else None), (person if stand_in is not None else None)

    def manager(self, person: Person) -> Person | None:
        """Whom ``person``'s late tasks escalate to: their 上级, else their department's head (not themselves)."""
        candidates = [self.roster.resolve(person.manager)[0] if person.manager else None,
                      self.roster.head_of(person.department)]
        for boss in candidates:
            if boss is not None and boss.key != person.key:
                return boss
        return None

    def weekly_readers(self, items: Iterable[tuple[str, str]], departments: Iterable[str],
                       management: Iterable[str]) -> list[Reader]:
        """The weekly's readers by roster key: each initiator (their items, given as (workbook,
        initiator key)), each department head (their department), the management list (everything)."""
        readers: dict[str, Reader] = {}

        def add(person: Person | None, reason: str) -> Reader | None:
            if person is None or not self.mailable(person):
                return None
            reader = readers.setdefault(person.key, Reader(person))
            reader.reasons.add(reason)
            return reader

        for workbook, initiator in items:
            if (r := add(self.person(initiator), "initiator")) is not None:
                r.scope.items.add(workbook)
        for department in departments:
            if self.roster is not None and (r := add(self.roster.head_of(department), "head")) is not None:
                r.scope.departments.add(department)
        for key in management:
            if (r := add(self.person(key), "management")) is not None:
                r.scope.everything = True
        return [readers[k] for k in sorted(readers)]

    def admins(self, entries: Iterable[str]) -> tuple[list[Person], list[tuple[str, str]]]:
        """The people reminders.admins names (roster keys or addresses), and the entries not found:
        (entry, the roster keys to choose from when the name is repeated, else '')."""
        people, unknown = [], []
        for entry in entries:
            if "@" in entry:
                people.append(Person(name=entry.split("@")[0], department="", email=entry, key=entry))
                continue
            person = self.person(entry)
            if person is None or not person.email:
                unknown.append((entry, self.roster.choices(entry) if self.roster is not None else ""))
            else:
                people.append(person)
        return people, unknown

    def mentioned(self, key: object) -> Person | None:
        """The person a chat post @-mentions for a roster key, when the roster has a way to reach them."""
        person = self.person(key)
        return person if person is not None and (person.mobile or person.im_id) else None
