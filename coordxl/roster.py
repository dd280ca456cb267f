"""The roster (名册): who works where, their address, manager and whether they head a department.

>>> r = Roster([Person("陈静", "产品部", "chenjing@corp.example")], [])
>>> r.suggest("陈晶")
'陈静'
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field as dc_field
from pathlib import Path

from . import schema
from .findings import Finding
from .reader import WorkbookData, read_workbook

EMAIL_RE = re.compile(r"^[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


def clean_name(value: object) -> str:
    """A person's or department's name as typed, without stray spaces (full-width ones too)."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return "".join(str(value).replace("\u3000", " ").split())


@dataclass(frozen=True)
class Person:
    name: str
    department: str
    email: str
    manager: str = ""
    is_head: bool = False
    active: bool = True
    title: str = ""
    row: int = 0


@dataclass
class Roster:
    people_list: list[Person]
    departments_list: list[tuple[str, str]]  # (department, head)
    findings: list[Finding] = dc_field(default_factory=list)
    source: WorkbookData | None = None

    def __post_init__(self) -> None:
        self.people = {p.name: p for p in self.people_list}
        self.departments: dict[str, str] = {}
        for p in self.people_list:
            self.departments.setdefault(p.department, "")
        for dept, head in self.departments_list:
            self.departments[dept] = head or self.departments.get(dept, "")
        for p in self.people_list:
            if p.is_head and not self.departments.get(p.department):
                self.departments[p.department] = p.name

    def person(self, name: object) -> Person | None:
        return self.people.get(clean_name(name))

    def suggest(self, name: object, candidates=None) -> str | None:
        """The closest roster name to a mistyped one (陈晶 → 陈静), or None."""
        pool = list(candidates if candidates is not None else self.people)
        close = difflib.get_close_matches(clean_name(name), pool, n=1, cutoff=0.5)
        return close[0] if close else None

    def suggest_department(self, name: object) -> str | None:
        return self.suggest(name, self.departments)

    def head_of(self, department: str) -> Person | None:
        head = self.departments.get(department, "")
        return self.people.get(head) if head else None

    def active_names(self) -> list[str]:
        return [p.name for p in self.people_list if p.active]


def _yes(field: schema.Field, value: object, default: bool) -> bool:
    if value in ("", None):
        return default
    choice = field.choice_for(value)
    return choice.key == "yes" if choice else default


def roster_from_workbook(data: WorkbookData) -> Roster:
    people_table = data.first("people")
    people: list[Person] = []
    if people_table and "people" in people_table.tables:
        table = people_table.tables["people"]
        is_head = schema.PEOPLE_SHEET.field("is_head")
        active = schema.PEOPLE_SHEET.field("active")
        for rec in table.records:
            name = clean_name(rec.get("name"))
            if not name:
                continue
            people.append(Person(
                name=name,
                department=clean_name(rec.get("department")),
                email=str(rec.get("email") or "").strip(),
                manager=clean_name(rec.get("manager")),
                is_head=_yes(is_head, rec.get("is_head"), False),
                active=_yes(active, rec.get("active"), True),
                title=str(rec.get("title") or "").strip(),
                row=rec.row,
            ))
    departments: list[tuple[str, str]] = []
    dept_sheet = data.first("departments")
    if dept_sheet and "departments" in dept_sheet.tables:
        for rec in dept_sheet.tables["departments"].records:
            if name := clean_name(rec.get("department")):
                departments.append((name, clean_name(rec.get("head"))))
    return Roster(people, departments, list(data.findings), data)


def load_roster(path: Path, max_unzipped_bytes: int = 512 * 2**20) -> Roster:
    """Read 名册.xlsx; a missing or unreadable roster gives an empty roster with findings."""
    data = read_workbook(Path(path), schema.ROSTER_SHEETS, max_unzipped_bytes)
    return roster_from_workbook(data)
