"""The administrator's health list: what needs their hand after a daily run, and the mail that says it.

Two sources: what the run itself saw (workbooks skipped and unreadable, calendar gaps, colleagues who
left, roster problems, recipients refused) is stored with the run in state.db; what the ledgers say
(sends failed or unknown, runs failed, interrupted or missed) is read live. ``coordxl status`` shows the
same list as the mail, built by the same functions.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import Counter
from dataclasses import dataclass

import chinese_calendar

from .. import schema
from ..messages import MESSAGES, text
from ..process.calendar import WorkCalendar
from ..process.roster import Person, Roster
from ..settings import Settings
from ..state.store import Store, workbook_id
from .audience import Audience
from .delivery import resend_command
from .mail_render import render
from .notify import Mail

LOOK_BACK_DAYS = 7  # how far back failed sends and missed runs are reported
QUIET_SKIPS = frozenset({"writeback_off"})  # skipped on purpose: nothing to tell
FROM_LEDGERS = frozenset({"send_unknown", "send_failed", "run_failed", "run_missed", "runs_missed", "replies"})  # read live, never stored


@dataclass(frozen=True)
class Issue:
    """One line of the health list: a kind (a message key ``health.<kind>``) and its values."""

    kind: str
    params: tuple[tuple[str, object], ...]

    @classmethod
    def of(cls, kind: str, **params) -> "Issue":
        return cls(kind, tuple(sorted(params.items())))

    def text(self, lang: str) -> str:
        return text(f"health.{self.kind}", lang, **dict(self.params))

    def to_json(self, lang: str) -> dict:
        return {"kind": self.kind, **dict(self.params), "text": self.text(lang)}

    @classmethod
    def from_json(cls, data: dict) -> "Issue":
        return cls.of(data["kind"], **{k: v for k, v in data.items() if k not in ("kind", "text")})


PARTICIPANTS = (schema.REQUEST.field("participants").zh, schema.REQUEST.field("participants").en)
ORDER = ("state_moved", "run_failed", "run_missed", "runs_missed", "send_unknown", "send_failed", "replies", "refused", "unreadable", "duplicate", "skipped",
         "calendar", "calendar_next_year", "departed", "roster", "uninvited", "admin_unknown", "admin_ambiguous")


def from_run(result, store: Store | None, settings: Settings, today: dt.date) -> list[Issue]:
    """What one daily run saw that the administrator should know (stored with the run)."""
    out: list[Issue] = []
    if store is not None and store.moved_aside is not None:
        out.append(Issue.of("state_moved", path=str(store.moved_aside)))
    history = [r for r in (store.runs("daily") if store else []) if not r["dry_run"] and r["outcome"] != "running"]
    for workbook, reason in result.skipped:
        if reason in QUIET_SKIPS:
            continue
        runs = 1
        for run in reversed(history):
            if workbook_id(workbook) not in {workbook_id(w) for w in run["counts"].get("skipped_workbooks", {})}:
                break
            runs += 1
        out.append(Issue.of("skipped", workbook=workbook, reason=skip_reason(reason, settings.lang), runs=runs))
    for f in result.findings:
        if f.code == "W-UNREADABLE":
            out.append(Issue.of("unreadable", workbook=f.workbook, why=f.message(settings.lang)))
        elif f.code == "W-DUPLICATE-ITEM":
            out.append(Issue.of("duplicate", workbook=f.workbook, why=f.message(settings.lang)))
        elif f.code == "W-CALENDAR":
            out.append(Issue.of("calendar", why=f.message(settings.lang)))
        elif f.code == "F-PERSON" and dict(f.params).get("field") == PARTICIPANTS:  # no invitation, no minutes
            out.append(Issue.of("uninvited", workbook=f.workbook, sheet=f.sheet, cell=f.cell, why=f.message(settings.lang)))
    out += next_year_missing(settings, today)
    departed = Counter((n.workbook, n.owner) for n in getattr(result, "reassign", ()))
    for (workbook, owner), n in sorted(departed.items()):
        out.append(Issue.of("departed", workbook=workbook, person=owner, tasks=n))
    roster_name = settings["folders.roster"]
    for f in result.findings:
        if f.workbook == roster_name:
            out.append(Issue.of("roster", cell=f"{f.sheet}!{f.cell}" if f.cell else f.sheet or roster_name,
                                why=f.message(settings.lang)))
    d = result.delivery
    if d is not None:
        for r in d.refused:
            key = f"health.refused.{r.reason}"
            out.append(Issue.of("refused", name=r.name, address=r.address,
                                why=text(key, settings.lang) if key in MESSAGES else r.reason))
        for mail, why in d.refused_recipients:
            out.append(Issue.of("refused", name=mail.to.label, address=why.split(" ")[0], why=why))
    return out


def skip_reason(reason: str, lang: str) -> str:
    key = f"out.skip.{reason}"
    return text(key, lang) if key in MESSAGES else reason


def next_year_missing(settings: Settings, today: dt.date) -> list[Issue]:
    """From calendar.warn_from (11-01) on: the coming year has no official arrangement, neither in the
    installed China calendar data nor imported from the State Council's notice (calendar.official_years)."""
    month, day = (int(x) for x in settings["calendar.warn_from"].split("-"))
    if (today.month, today.day) < (month, day):
        return []
    year = today.year + 1
    if WorkCalendar.from_settings(settings).has_data(year):
        return []
    return [Issue.of("calendar_next_year", year=year)]


def has_calendar_data(year: int) -> bool:
    try:
        chinese_calendar.is_workday(dt.date(year, 1, 1))
        return True
    except NotImplementedError:
        return False


def from_ledgers(store: Store, settings: Settings, today: dt.date, run_id: int | None = None) -> list[Issue]:
    """What the mail and run logs say: sends failed or unknown, runs failed, interrupted or missed."""
    since = today - dt.timedelta(days=LOOK_BACK_DAYS)
    out: list[Issue] = []
    for m in store.unknown_mails():
        if m["day"] >= since.isoformat():
            out.append(Issue.of("send_unknown", day=m["day"], recipient=m["recipient"], subject=m["subject"],
                                command=resend_command(m["kind"])))
    for m in store.mails():
        if m["status"] in ("failed", "partial") and m["day"] >= since.isoformat() and m["kind"] != "admin":
            out.append(Issue.of("send_failed", day=m["day"], recipient=m["recipient"], subject=m["subject"],
                                error=m["error"][:120]))
    if settings["replies.enabled"]:
        counts = replies_counts(store, since)
        if counts["waiting"] or counts["conflict"] or counts["refused"] or counts["unreadable"]:
            out.append(Issue.of("replies", **counts))
    runs = [r for r in store.runs() if not r["dry_run"] and r["id"] != run_id]
    for r in runs:
        if r["outcome"] in ("failed", "interrupted") and r["today"] >= since.isoformat():
            out.append(Issue.of("run_failed", job=text(f"health.job.{r['job']}", settings.lang), day=r["today"],
                                outcome=text(f"health.outcome.{r['outcome']}", settings.lang)))
    daily_days = {r["today"] for r in runs if r["job"] == "daily"}
    if daily_days:
        calendar = WorkCalendar.from_settings(settings)
        first = min(daily_days)
        day = max(since, dt.date.fromisoformat(first))
        missed = []
        while day < today:
            if calendar.is_workday(day) and day.isoformat() not in daily_days:
                missed.append(day.isoformat())
            day += dt.timedelta(days=1)
        if len(missed) == 1:
            out.append(Issue.of("run_missed", day=missed[0]))
        elif missed:  # one line for a machine that was off for days
            out.append(Issue.of("runs_missed", first=missed[0], last=missed[-1], n=len(missed)))
    return out


def replies_counts(store: Store, since: dt.date) -> dict[str, int]:
    """Replies since ``since`` for the administrator's health list: changes written, waiting now, in
    conflict, mails refused (automatic mail not counted), changes that could not be written."""
    db = store.db()
    day = since.isoformat()
    by = dict(db.execute("SELECT status, COUNT(*) FROM reply_changes WHERE updated >= ? OR status = 'waiting' "
                         "GROUP BY status", (day,)).fetchall())
    unwritable = db.execute("SELECT COUNT(*) FROM reply_changes WHERE status = 'refused' AND updated >= ?",
                            (day,)).fetchone()[0]
    refused = db.execute("SELECT COUNT(*) FROM reply_mails WHERE outcome LIKE 'refused%' AND received >= ?",
                         (day,)).fetchone()[0]
    return {"applied": by.get("applied", 0), "waiting": by.get("waiting", 0), "conflict": by.get("conflict", 0),
            "refused": refused, "unreadable": unwritable}


def current(store: Store, settings: Settings, today: dt.date) -> list[Issue]:
    """The health list as `coordxl status` shows it: the last daily run's own list, and the ledgers now."""
    stored: list[Issue] = []
    for run in reversed(store.runs("daily")):
        if not run["dry_run"] and run["outcome"] not in ("running", "interrupted"):
            stored = [Issue.from_json(x) for x in run["counts"].get("health", [])]
            break
    stored += next_year_missing(settings, today)
    return ordered(stored + from_ledgers(store, settings, today))


def ordered(issues: list[Issue]) -> list[Issue]:
    seen, out = set(), []
    for issue in sorted(issues, key=lambda i: (ORDER.index(i.kind), i.params)):
        if issue not in seen:
            seen.add(issue)
            out.append(issue)
    return out


def admins(settings: Settings, roster: Roster | None) -> tuple[list[Person], list[Issue]]:
    """The people reminders.admins names (roster keys or addresses), and the names not found."""
    people, unknown = Audience(roster, settings).admins(settings["reminders.admins"])
    return people, [Issue.of("admin_ambiguous", name=name, choices=choices) if choices else
                    Issue.of("admin_unknown", name=name) for name, choices in unknown]


def admin_mails(issues: list[Issue], recipients: list[Person], settings: Settings, today: dt.date):
    """One mail per administrator, at most once a day (the key is the day and the address)."""

    lang = settings.lang
    t = lambda key, **kw: text(key, lang, **kw)  # noqa: E731
    lines = [i.text(lang) for i in issues]
    out = []
    for person in recipients:
        plain, html = render("admin", dict(person=person, today=today, lines=lines), lang)
        subject = t("admin.subject", day=today.isoformat(), n=len(lines))
        key = hashlib.sha256(f"{person.email.lower()}|admin|{today.isoformat()}".encode()).hexdigest()
        out.append(Mail(key, "admin", person, [], subject, plain, html, ["admin"]))
    return out
