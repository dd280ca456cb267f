"""The roster (名册): who works where, their address, manager and whether they head a department.

>>> r = Roster([Person("陈静", "产品部", "chenjing@corp.example")], [])
>>> r.suggest("陈晶")
'陈静'
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import re
from collections import defaultdict
from dataclasses import dataclass
from dataclasses import field as dc_field
from pathlib import Path

from .. import schema
from ..findings import Finding
from ..normalize import parse_date
from ..xlsx.reader import WorkbookData, read_workbook

EMAIL_RE = re.compile(r"^[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
_EMAIL_IN = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_SEPARATORS = re.compile(r"[、/,，;；＋+&]|\s和\s")
_DASHED = re.compile(r"^(.+?)[-－—–·•](.+)$")
_QUALIFIED = re.compile(r"^(.+?)[(（\[【<《](.*?)[)）\]】>》]?$")  # 张伟（市场部） / 张伟(1023) / 张伟<a@b>


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
    staff_id: str = ""
    mobile: str = ""  # for @-mentions in DingTalk / WeCom groups
    im_id: str = ""  # DingTalk userId / WeCom userid / Feishu open_id
    key: str = ""  # unique in the roster: the name, or with the department or address when names repeat
    on_leave: bool = False  # 在职 = 休假/请假
    leave_until: dt.date | None = None  # 休假至: the last day of leave (back the day after); None: open-ended
    deputy: str = ""  # 代理人 as the roster writes it: who gets this person's reminders during leave

    @property
    def label(self) -> str:
        return self.key or self.name

    def away(self, today: dt.date | None) -> bool:
        """On leave on ``today``: 在职 says 休假 and 休假至 (when given) is not yet past; nobody is away
        when no day is given."""
        return today is not None and self.on_leave and (self.leave_until is None or today <= self.leave_until)


@dataclass
class Roster:
    people_list: list[Person]
    departments_list: list[tuple[str, str]]  # (department, head)
    findings: list[Finding] = dc_field(default_factory=list)
    source: WorkbookData | None = None

    def __post_init__(self) -> None:
        named: dict[str, list[Person]] = defaultdict(list)
        for p in self.people_list:
            named[p.name].append(p)
        self.people_list = [dataclasses.replace(p, key=_key(p, named[p.name])) for p in self.people_list]
        self.by_name: dict[str, list[Person]] = defaultdict(list)
        for p in self.people_list:
            self.by_name[p.name].append(p)
        self.repeated = {name for name, same in self.by_name.items() if len(same) > 1}
        self.people = {p.key: p for p in self.people_list}
        self.departments: dict[str, str] = {}
        for p in self.people_list:
            self.departments.setdefault(p.department, "")
        for dept, head in self.departments_list:
            self.departments[dept] = head or self.departments.get(dept, "")
        for p in self.people_list:
            if p.is_head and not self.departments.get(p.department):
                self.departments[p.department] = p.key

    def person(self, name: object, department: str = "") -> Person | None:
        """The one roster person a cell names, or None (unknown, or several people of that name)."""
        return self.resolve(name, department)[0]

    def resolve(self, text: object, department: str = "") -> tuple[Person | None, str]:
        """(person, '' | 'dept') or (None, 'unknown' | 'ambiguous') for what a cell says about one person.

        A repeated name is told apart by the row's ``department`` or by what is written with it:
        a department, an e-mail address or a 工号 ('张伟（市场部）', '张伟 zhangwei2@corp.example',
        '张伟(1023)'). 'dept': the person is found, but the department written with the name
        ('高洁（财务部）') is not theirs.
        """
        name = clean_name(text)
        if name in self.people:
            return self.people[name], ""
        base, hints = _split_hints(str(text) if text is not None else "")
        if base not in self.by_name and (m := _DASHED.match(base)):  # 设计部-高洁 / 高洁-设计部
            for who, where in ((m.group(2), m.group(1)), (m.group(1), m.group(2))):
                if who in self.by_name:
                    base, hints = who, hints + [where]
                    break
        same = self.by_name.get(base, [])
        if not same:
            return None, "unknown"
        if len(same) > 1:
            for hint in hints + ([department] if department else []):
                narrowed = [p for p in same if hint in (p.department, p.staff_id) or hint.lower() == p.email.lower()]
                if narrowed:
                    same = narrowed
                if len(same) == 1:
                    break
        if len(same) > 1:
            return None, "ambiguous"
        # a department written with the name must be theirs
        wrong = [h for h in hints if h in self.departments and h != same[0].department]
        return same[0], ("dept" if wrong else "")

    def suggest(self, name: object, candidates=None) -> str | None:
        """The closest roster name to a mistyped one (陈晶 → 陈静), or None."""
        pool = list(candidates if candidates is not None else self.people)
        close = difflib.get_close_matches(clean_name(name), pool, n=1, cutoff=0.5)
        return close[0] if close else None

    def suggest_department(self, name: object) -> str | None:
        return self.suggest(name, self.departments)

    def head_of(self, department: str) -> Person | None:
        """The head of a department: by roster key, or a name the 部门 sheet wrote, told apart by the department."""
        head = self.departments.get(department, "")
        return self.resolve(head, department)[0] if head else None

    def split(self, text: object) -> list[str]:
        """The people one cell names: '周杰、赵敏', '高洁/罗婷', '杨帆,何军', '周杰 赵敏' (spaces only when
        every part is a roster name) → one text per person; a single person gives one text."""
        raw = "" if text is None else str(text).strip()
        parts = [p.strip() for p in _SEPARATORS.split(raw) if p.strip()]
        if len(parts) == 1:
            words = raw.split()
            if len(words) > 1 and all(self.resolve(w)[0] is not None for w in words):
                parts = words
        return parts or [raw]

    def choices(self, name: str) -> str:
        """The unique ways to write a repeated name: '张伟（市场部）、张伟（技术部）'."""
        return "、".join(p.key for p in self.by_name.get(name, ()))

    def active_names(self) -> list[str]:
        return [p.key for p in self.people_list if p.active]


def _key(person: Person, same_name: list[Person]) -> str:
    """The name; with the department when the name repeats; with the address when that repeats too."""
    if len(same_name) == 1:
        return person.name
    if sum(p.department == person.department for p in same_name) == 1 and person.department:
        return f"{person.name}（{person.department}）"
    return f"{person.name}<{person.email}>"


def _split_hints(text: str) -> tuple[str, list[str]]:
    """'张伟（市场部）' → ('张伟', ['市场部']); '张伟 a@b.example' → ('张伟', ['a@b.example'])."""
    hints = _EMAIL_IN.findall(text)
    rest = clean_name(_EMAIL_IN.sub(" ", text))
    m = _QUALIFIED.match(rest)
    if m:
        rest, extra = m.group(1), m.group(2)
        if extra:
            hints.append(extra)
    digits = re.search(r"(\d{2,})$", rest)
    if digits:
        hints.append(digits.group(1))
        rest = rest[:digits.start()]
    return rest, hints


def _yes(field: schema.Field, value: object, default: bool) -> bool:
    if value in ("", None):
        return default
    choice = field.choice_for(value)
    return choice.key == "yes" if choice else default


def _presence(value: object) -> str:
    """在职 as one of yes | no | leave; empty or unreadable counts as yes (check reports the latter)."""
    choice = schema.PEOPLE_SHEET.field("active").choice_for(value) if value not in ("", None) else None
    return choice.key if choice else "yes"


def roster_from_workbook(data: WorkbookData) -> Roster:
    people_table = data.first("people")
    people: list[Person] = []
    if people_table and "people" in people_table.tables:
        table = people_table.tables["people"]
        is_head = schema.PEOPLE_SHEET.field("is_head")
        for rec in table.records:
            name = clean_name(rec.get("name"))
            if not name:
                continue
            presence = _presence(rec.get("active"))
            people.append(Person(
                name=name,
                department=clean_name(rec.get("department")),
                email=str(rec.get("email") or "").strip(),
                manager=clean_name(rec.get("manager")),
                is_head=_yes(is_head, rec.get("is_head"), False),
                active=presence != "no",
                title=str(rec.get("title") or "").strip(),
                row=rec.row,
                staff_id=clean_name(rec.get("staff_id")),
                mobile=_mobile(rec.get("mobile")),
                im_id=str(rec.get("im_id") or "").strip(),
                on_leave=presence == "leave",
                leave_until=parse_date(rec.get("leave_until")).value,
                deputy=str(rec.get("deputy") or "").strip(),
            ))
    departments: list[tuple[str, str]] = []
    dept_sheet = data.first("departments")
    if dept_sheet and "departments" in dept_sheet.tables:
        for rec in dept_sheet.tables["departments"].records:
            if name := clean_name(rec.get("department")):
                departments.append((name, clean_name(rec.get("head"))))
    return Roster(people, departments, list(data.findings), data)


def _mobile(value) -> str:
    """A mobile number as DingTalk and WeCom want it: digits only (13800138000 typed as a number, '+86 138-0013-8000')."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return re.sub(r"[^0-9]", "", str(value or "").strip().removeprefix("+86"))


def load_roster(path: Path, max_unzipped_bytes: int = 512 * 2**20) -> Roster:
    """Read 名册.xlsx; a missing or unreadable roster gives an empty roster with findings."""
    data = read_workbook(Path(path), schema.ROSTER_SHEETS, max_unzipped_bytes)
    return roster_from_workbook(data)


# --- who a cell names: 参与部门/人, 参会人员 (the meeting mails, the rule on participants) ---------------

_LIST = re.compile(r"[；;、,，\n\r]+")
_GROUP = re.compile(r"([^、，,;；\s（(]+)\s*[（(]([^）)]*)[）)]")


def people(text_: str, roster: Roster | None, unknown: list[str] | None = None) -> list[Person]:
    """The people a 参与部门/人 or 参会人员 cell names: '产品部（陈静、赵磊）' the people named in the
    brackets, a department alone its head, a name the person; in the order written, each once. The
    names the roster does not know are appended to ``unknown``, as written."""
    if roster is None or not text_:
        return []
    out: dict[str, Person] = {}

    def add(p: Person | None, written: str = "") -> None:
        if p is not None:
            out.setdefault(p.key, p)
        elif unknown is not None and written and written not in unknown:
            unknown.append(written)

    def one(token: str, department: str = "") -> None:
        token = clean_name(token)
        if not token:
            return
        if token in roster.departments and not department:
            add(roster.head_of(token))
        else:
            add(roster.person(token, department), token)

    rest = text_
    for m in _GROUP.finditer(text_):
        head, inner = clean_name(m.group(1)), m.group(2)
        if head in roster.departments:
            names = [n for n in _LIST.split(inner) if n.strip()]
            for n in names:
                one(n, head)
            if not names:
                one(head)
        else:
            add(roster.person(m.group(0)), clean_name(m.group(0)))
        rest = rest.replace(m.group(0), "、")
    for token in _LIST.split(rest):
        one(token)
    return list(out.values())
