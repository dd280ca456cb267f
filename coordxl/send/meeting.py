"""The meeting stage done, not only checked: what the daily job sends about an item's meetings, and when.

- **The invitation.** When the 需求单 names a planned meeting time and participants and its fields are
  filled in, each participant gets an invitation with an iCalendar METHOD:REQUEST (the initiator is the
  organizer): at once (≥ rules.notice_workdays working days ahead, as R-NOTICE asks), and once more one
  working day before the meeting with the materials the 附件 field names (R-MATERIALS). A changed time
  goes out as an update (SEQUENCE + 1); an item set to 已关闭/已取消 before its meeting as METHOD:CANCEL.
- **The minutes.** When a held meeting's 会议纪要 has every action item complete (owner, deadline,
  delivery standard), everyone concerned gets the minutes, their own action items first, with the date
  by which to object; an edit after that goes out once as 纪要已更新, saying what changed.

Everything goes through the mail ledger (delivery.deliver) like every other mail: the keys are made
from what a mail says, so a rerun sends nothing twice; the invitation's sequence and the minutes last
sent are read back from state.db's meeting_mails (state/meetings.py), written as each mail is sent.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import json
import re
import zlib
from dataclasses import dataclass
from email import encoders
from email.message import Message
from email.mime.application import MIMEApplication
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.policy import compat32
from pathlib import Path, PurePosixPath

from markupsafe import Markup

from ..messages import text
from ..process.calendar import WorkCalendar
from ..process.model import Item
from ..process.roster import Person, Roster, people
from ..process.rules import MINUTES_WINDOW_DAYS, Context  # minutes of meetings longer ago: never sent
from ..settings import Settings
from ..state import meetings
from ..state.layout import workbook_link
from ..state.store import Store, workbook_id
from . import ics, mail_render, notify
from .audience import Audience

INVITATION, MINUTES, FOLLOWUP = "invitation", "minutes", "followup"
MAX_ATTACHED_BYTES = 10 * 2**20  # larger materials are linked, not attached
FORM_NEEDS = ("topic", "initiator", "participants", "background", "problems", "expected_outcome", "planned_meeting")
_LIST = re.compile(r"[；;、,，\n\r]+")


# --- what a daily run notes of each item (small, picklable: a worker sends it back) --------------

@dataclass(frozen=True)
class MinutesNote:
    index: int
    sheet: str
    topic: str
    start: dt.datetime | None
    end: dt.datetime | None
    place: str
    host: str
    recorder: str
    attendees: str
    discussion: str
    consensus: str
    actions: tuple[tuple, ...]  # (no, action, department, owner, due, standard)
    complete: bool


@dataclass(frozen=True)
class MeetingNote:
    workbook: str
    topic: str
    initiator: str
    department: str
    participants: str
    background: str
    problems: str
    outcome: str
    prior: str
    attachments: str
    planned: dt.datetime | None
    status: str
    complete: bool
    files: tuple[tuple[str, str], ...]  # the materials found: (path here, path in the shared folder)
    missing: tuple[str, ...]  # materials the 附件 field names that were not found
    minutes: tuple[MinutesNote, ...]
    followup_at: tuple[int, str] | None = None  # the latest 跟进会 row: (weekday, "HH:MM")


def _s(value) -> str:
    return "" if value is None else str(value).strip()


def materials(item: Item) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The files the 附件 field names, found beside the workbook or in a folder named after it."""
    listed = [n.strip() for n in _LIST.split(_s(item.request.get("attachments") if item.request else ""))
              if n.strip()]
    if not listed or not item.path:
        return (), tuple(listed)
    path = Path(item.path)
    places = [path.parent, path.parent / path.stem]
    found, missing = [], []
    for name in listed:
        hit = next((p / name for p in places if (p / name).is_file()), None)
        if hit is None and (path.parent / path.stem).is_dir():
            hit = next((p for p in (path.parent / path.stem).rglob(name) if p.is_file()), None)
        if hit is None:
            missing.append(name)
        else:  # (where it is here, where it is in the shared folder)
            found.append((str(hit), str(PurePosixPath(item.workbook).parent / hit.relative_to(path.parent).as_posix())))
    return tuple(found), tuple(missing)


def note_of(item: Item, ctx: Context) -> MeetingNote | None:
    """What the meeting mails need of one item, or None when it has no request form."""
    r = item.request
    if r is None or item.ledger:
        return None
    minutes = []
    for m in item.meetings:
        f = m.form
        actions = tuple((row.get("no"), _s(row.get("action")), _s(row.get("department")), _s(row.get("owner")),
                         row.get("due"), _s(row.get("standard"))) for row in m.actions if row.get("action"))
        complete = bool(actions) and all(
            all(row.raw.get(k) not in ("", None) for k in ("owner", "due", "standard"))
            for row in m.actions if row.get("action"))
        minutes.append(MinutesNote(m.index, m.sheet, _s(f.get("topic")), f.get("start"), f.get("end"),
                                   _s(f.get("place")), _s(f.get("host")), _s(f.get("recorder")),
                                   _s(f.get("attendees")), _s(f.get("discussion")), _s(f.get("consensus")),
                                   actions, complete))
    found, missing = materials(item)
    planned = r.get("planned_meeting")
    held = [(row.get("date"), row.get("start")) for row in item.followups
            if isinstance(row.get("date"), dt.date) and isinstance(row.get("start"), dt.time)]
    latest = max(held, default=None)
    return MeetingNote(item.workbook, item.topic, _s(r.get("initiator")), _s(r.get("initiating_department")),
                       _s(r.get("participants")), _s(r.get("background")), _s(r.get("problems")),
                       _s(r.get("expected_outcome")), _s(r.get("prior_alignment")), _s(r.get("attachments")),
                       planned if isinstance(planned, dt.datetime) else None, _s(r.get("item_status")),
                       all(r.get(k) not in (None, "") for k in FORM_NEEDS), found, missing, tuple(minutes),
                       (latest[0].weekday(), latest[1].strftime("%H:%M")) if latest else None)


# --- the ledger: what was sent before (state/meetings.py: the table meeting_mails) ---------------------

_history = meetings.history


def _key(*parts: object) -> str:
    return hashlib.sha256("|".join(str(p) for p in parts).encode("utf-8")).hexdigest()


# --- the mails ----------------------------------------------------------------------------------

@dataclass
class MeetingMail(notify.Mail):
    """A mail carrying calendar data (text/calendar beside the bodies, and as an .ics attachment) and files."""

    calendar: bytes = b""
    method: str = "REQUEST"
    files: tuple[str, ...] = ()
    extra: tuple[tuple[str, bytes], ...] = ()  # more .ics attachments (a digest's withdrawn deadlines)
    about: dict = dataclasses.field(default_factory=dict)  # the minutes a reply objects to (run/replies.py)
    said: dict = dataclasses.field(default_factory=dict)  # its row in meeting_mails (uid, seq, step, …)
    ledger: Store | None = None  # where that row is written as the mail is sent

    def ics_name(self) -> str:
        if self.kind in (INVITATION, FOLLOWUP):
            return "cancel.ics" if self.method == "CANCEL" else "invite.ics"
        return "deadlines-cancel.ics" if self.method == "CANCEL" else "deadlines.ics"

    def message(self, settings: Settings, today: dt.date) -> Message:
        self.bodies()  # first: a minutes mail's reply token is issued as it is rendered (its Message-ID)
        if self.said and self.ledger is not None:  # sent now (the ledger's claim is made): what it says
            meetings.record(self.ledger, self.key, recipient=self.to.email, **self.said)
        inner = dataclasses.replace(self, attachments=())
        alternative = notify.Mail.message(inner, settings, today)  # headers and the two bodies
        if not self.calendar and not self.files:
            return alternative
        msg = MIMEMultipart("mixed", policy=compat32)
        for name, value in alternative.items():
            if name.lower() not in ("content-type", "mime-version", "content-transfer-encoding"):
                msg[name] = value
        body = MIMEMultipart("alternative", policy=compat32)
        for part in alternative.get_payload():
            body.attach(part)
        if self.calendar:
            cal = MIMEBase("text", "calendar", method=self.method, charset="utf-8", policy=compat32)
            cal.set_payload(self.calendar)
            encoders.encode_base64(cal)
            body.attach(cal)
        msg.attach(body)
        if self.calendar:
            att = MIMEApplication(self.calendar, "ics", policy=compat32)
            att.add_header("Content-Disposition", "attachment", filename=self.ics_name())
            msg.attach(att)
        for name, data in self.extra:
            att = MIMEApplication(data, "ics", policy=compat32)
            att.add_header("Content-Disposition", "attachment", filename=name)
            msg.attach(att)
        for path in self.files:
            path = Path(path)
            part = MIMEApplication(path.read_bytes(), "octet-stream", policy=compat32)
            part.add_header("Content-Disposition", "attachment", filename=("utf-8", "", path.name))
            msg.attach(part)
        return msg


def meeting_uid(workbook: str, index: int = 1) -> str:
    return ics.uid(workbook_id(workbook), "meeting", index)


def _end(start: dt.datetime, settings: Settings) -> dt.datetime:
    return start + dt.timedelta(minutes=settings["rules.meeting_max_minutes"])


def _hm(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M")


def agenda(note: MeetingNote, lang: str) -> list[tuple[str, str]]:
    """The seed's agenda, in its order, each step with what the request form says for it."""
    return [(text("meeting.agenda.background", lang), "\n".join(x for x in (note.background, note.prior) if x)),
            (text("meeting.agenda.needs", lang), note.outcome),
            (text("meeting.agenda.issues", lang), note.problems),
            (text("meeting.agenda.consensus", lang), text("meeting.agenda.consensus_text", lang)),
            (text("meeting.agenda.actions", lang), text("meeting.agenda.actions_text", lang))]


def invitations(notes: list[MeetingNote], roster: Roster | None, settings: Settings, today: dt.date,
                now: dt.datetime, store: Store | None, calendar: WorkCalendar | None = None,
                audience: Audience | None = None) -> list[MeetingMail]:
    """Today's invitations, updates and cancels: one mail per participant and step, keyed so a rerun
    sends nothing twice."""
    if roster is None:
        return []
    calendar = calendar or WorkCalendar.from_settings(settings)
    audience = audience or Audience(roster, settings, today)
    history = _history(store, INVITATION)
    by_email = {p.email.lower(): p for p in roster.people_list}
    out: list[MeetingMail] = []
    for note in notes:
        if note.planned is None or note.planned.date() < today or any(m.actions for m in note.minutes):
            continue  # no meeting planned, or it was held (its minutes have action items)
        uid = meeting_uid(note.workbook)
        organizer = audience.person(note.initiator)
        invited = [p for p in people(note.participants, roster) if organizer is None or p.key != organizer.key]
        addressed = {p.email.lower() for p in invited}
        cancelled = note.status == "closed"
        if cancelled or not note.complete or organizer is None:
            targets = [] if not cancelled else list(invited)
        else:
            targets = invited
        # who was invited before and is no longer (or the item was cancelled): a cancel, once
        for (u, address), sent in history.items():
            if u != uid or sent[-1].get("step") == "cancel":
                continue
            if cancelled or (note.complete and address not in addressed):
                person = by_email.get(address)
                if person is not None and audience.mailable(person) and organizer is not None:
                    out.append(_invitation(note, person, organizer, invited, settings, today, now, calendar,
                                           "cancel", int(sent[-1].get("seq", 0)) + 1, sent[-1]))
        if cancelled:
            continue
        ahead = calendar.count(today, note.planned.date())
        step = "materials" if ahead <= 1 else "notice"
        for person in targets:
            if not audience.mailable(person):
                continue
            sent = history.get((uid, person.email.lower()), [])
            last = sent[-1] if sent else None
            if last is not None and last.get("step") == "cancel":
                seq, changed = int(last.get("seq", 0)) + 1, True
            elif last is not None and last.get("start") != note.planned.isoformat():
                seq, changed = int(last.get("seq", 0)) + 1, True
            else:
                seq, changed = (int(last.get("seq", 0)) if last else 0), False
            out.append(_invitation(note, person, organizer, invited, settings, today, now, calendar,
                                   "update" if changed else step, seq, last, materials_now=step == "materials"))
    return out


def _invitation(note: MeetingNote, person: Person, organizer: Person, invited: list[Person], settings: Settings,
                today: dt.date, now: dt.datetime, calendar: WorkCalendar, step: str, seq: int, last: dict | None,
                materials_now: bool = False) -> MeetingMail:
    lang = settings.lang
    uid = meeting_uid(note.workbook)
    start = note.planned
    if step == "cancel" and last is not None and last.get("start"):
        start = dt.datetime.fromisoformat(last["start"])
    end = _end(start, settings)
    share = settings["general.share_url"]
    attach, links = [], []
    size = 0
    for here, there in note.files:
        size += Path(here).stat().st_size if Path(here).exists() else 0
        if materials_now and size <= MAX_ATTACHED_BYTES:
            attach.append(Path(here))
        links.append((there, workbook_link(share, there)[0]))  # attached or not, where it is in the folder
    t = lambda key, **kw: text(key, lang, **kw)  # noqa: E731
    when = f"{_hm(start)}–{end.strftime('%H:%M')}"
    subject = t(f"meeting.subject.{step}", topic=note.topic, when=_hm(start))
    steps = agenda(note, lang)
    limit = settings["rules.meeting_max_minutes"]
    description = "\n".join([t("meeting.rule", minutes=limit)] + [f"{i}. {name}：{body}" if lang == "zh" else
                                                                     f"{i}. {name}: {body}"
                                                                     for i, (name, body) in enumerate(steps, 1)])
    method = "CANCEL" if step == "cancel" else "REQUEST"
    data = ics.meeting(method, uid, seq, start, end, settings["general.timezone"], note.topic, description,
                       ics.Who(organizer.name, organizer.email),
                       [ics.Who(p.name, p.email) for p in invited] or [ics.Who(person.name, person.email)],
                       now, links=tuple(h for _, h in links if h.startswith(("http://", "https://", "file:"))))
    context = dict(t=t, lang=lang, person=person, note=note, step=step, when=when, steps=steps, limit=limit,
                   organizer=organizer, invited=[p.label for p in invited], attached=[f.name for f in attach],
                   links=links, missing=list(note.missing), materials_now=materials_now,
                   estimate="", materials_day=calendar.add(start.date(), -1).isoformat(),
                   linked=lambda href, shown: mail_render.linked(href, shown) if href else Markup.escape(shown))
    said = dict(kind=INVITATION, uid=uid, workbook=workbook_id(note.workbook), meeting=1, seq=seq,
                step="cancel" if step == "cancel" else "request", start=start.isoformat())
    key = _key(person.email.lower(), INVITATION, uid, start.isoformat(), seq,
               "cancel" if step == "cancel" else ("materials" if materials_now else "notice"))
    return MeetingMail(key, INVITATION, person, [], subject, "", "", ["participant"], (note.workbook,), said=said,
                       renderer=lambda: mail_render.render("invitation", context, lang),
                       calendar=data, method=method, files=tuple(str(f) for f in attach))


# --- the minutes -----------------------------------------------------------------------------------

def _pack(value) -> str:
    raw = json.dumps(value, ensure_ascii=False, default=str, separators=(",", ":")).encode("utf-8")
    return base64.urlsafe_b64encode(zlib.compress(raw, 9)).decode("ascii")


def _unpack(token: str):
    try:
        return json.loads(zlib.decompress(base64.urlsafe_b64decode(token.encode("ascii"))).decode("utf-8"))
    except (ValueError, zlib.error):
        return None


def _content(m: MinutesNote) -> dict:
    return {"discussion": m.discussion, "consensus": m.consensus,
            "actions": [[str(no or ""), a, d, o, due.isoformat() if isinstance(due, dt.date) else str(due or ""), s]
                        for no, a, d, o, due, s in m.actions]}


def changes(before: dict, now: dict, lang: str) -> list[str]:
    """What changed in the minutes since they were sent, one line each."""
    out = []
    for field in ("discussion", "consensus"):
        if before.get(field) != now.get(field):
            out.append(text(f"minutes.changed.{field}", lang, value=now.get(field) or "-"))
    old = {row[0]: row for row in before.get("actions", [])}
    new = {row[0]: row for row in now.get("actions", [])}
    for no, row in new.items():
        if no not in old:
            out.append(text("minutes.changed.added", lang, no=no, action=row[1]))
        elif old[no] != row:
            out.append(text("minutes.changed.action", lang, no=no, action=row[1], owner=row[3], due=row[4],
                            standard=row[5]))
    for no, row in old.items():
        if no not in new:
            out.append(text("minutes.changed.removed", lang, no=no, action=row[1]))
    return out


def minutes_mails(notes: list[MeetingNote], roster: Roster | None, settings: Settings, today: dt.date,
                  store: Store | None, calendar: WorkCalendar | None = None,
                  audience: Audience | None = None) -> list[MeetingMail]:
    """The minutes of each held meeting whose action items are complete, to everyone concerned, each
    reader's own items first; once more as 纪要已更新 when they are edited after that."""
    if roster is None:
        return []
    calendar = calendar or WorkCalendar.from_settings(settings)
    audience = audience or Audience(roster, settings, today)
    history = _history(store, MINUTES)
    lang = settings.lang
    out = []
    for note in notes:
        for m in note.minutes:
            end = m.end or m.start
            if not m.complete or end is None or not (end.date() <= today <= end.date()
                                                     + dt.timedelta(days=MINUTES_WINDOW_DAYS)):
                continue
            uid = meeting_uid(note.workbook, m.index)
            readers: dict[str, Person] = {}
            owners = [o for a in m.actions for o in a[3].split("、") if o]
            for p in (people(m.attendees, roster) + people(note.participants, roster)
                      + [audience.person(k) for k in [note.initiator, m.recorder, *owners]]):
                if p is not None:
                    readers.setdefault(p.key, p)
            content = _content(m)
            digest = _key(json.dumps(content, ensure_ascii=False, sort_keys=True))[:16]
            reply_by = calendar.add(today, 1)
            for person in readers.values():
                if not audience.mailable(person):
                    continue
                sent = history.get((uid, person.email.lower()), [])
                last = sent[-1] if sent else None
                if last is not None and last.get("hash") == digest:
                    continue  # this reader has these minutes
                before = _unpack(last["c"]) if last is not None and "c" in last else None
                changed = changes(before, content, lang) if before is not None else []
                if last is not None and not changed:
                    continue
                mine = [a for a in m.actions if person.key in a[3].split("、")]
                others = [a for a in m.actions if person.key not in a[3].split("、")]
                t = lambda key, **kw: text(key, lang, **kw)  # noqa: E731
                subject = t("minutes.subject.updated" if changed else "minutes.subject", topic=m.topic or note.topic)
                context = dict(t=t, lang=lang, person=person, note=note, m=m, mine=mine, others=others,
                               changed=changed, reply_by=reply_by.isoformat(), estimate="",
                               start=_hm(m.start) if m.start else "", end=m.end.strftime("%H:%M") if m.end else "",
                               due=lambda d: d.isoformat() if isinstance(d, dt.date) else str(d or ""))
                key = _key(person.email.lower(), MINUTES, uid, digest)
                said = dict(kind=MINUTES, uid=uid, workbook=workbook_id(note.workbook), meeting=m.index,
                            hash_=digest, content=_pack(content))
                mail = MeetingMail(key, MINUTES, person, [], subject, "", "", ["attendee"], (note.workbook,),
                                   said=said,
                                   about={"workbook": note.workbook, "sheet": m.sheet, "index": m.index, "uid": uid,
                                          "topic": m.topic or note.topic, "start": context["start"],
                                          "by": reply_by.isoformat(), "initiator": note.initiator})
                mail.renderer = lambda c=context, mail=mail: _minutes_bodies(c, mail)
                out.append(mail)
    return out


def _minutes_bodies(context: dict, mail: MeetingMail) -> tuple[str, str]:
    """The minutes' two bodies; with replies on, the reader's reply code (issued now: mail.arm)."""
    c = {**context, "reply": mail.arm(mail) if mail.arm else None}
    return mail_render.render("minutes", c, c["lang"])


def mails(notes: list[MeetingNote], roster: Roster | None, settings: Settings, today: dt.date, now: dt.datetime,
          store: Store | None) -> tuple[list[MeetingMail], list]:
    """Everything the meeting stage sends today, and the people it could not mail (audience.Refusal:
    a bad address, outside email.allowed_domains) for the administrator's list."""
    calendar = WorkCalendar.from_settings(settings)
    audience = Audience(roster, settings, today)
    notes = sorted(notes, key=lambda n: n.workbook)
    out = (invitations(notes, roster, settings, today, now, store, calendar, audience)
           + minutes_mails(notes, roster, settings, today, store, calendar, audience)
           + followups(notes, roster, settings, today, now, store, calendar, audience))
    for mail in out:  # each writes what it says into meeting_mails as it is sent
        mail.ledger = store
    return out, audience.refused


# --- deadlines in people's calendars (reminders.calendar_items) --------------------------------------

def _published(store: Store | None) -> dict[str, dict]:
    """Recipient address → the deadlines their digests put in their calendar so far (the latest state)."""
    return {address: state for address, packed in meetings.published(store).items()
            if (state := _unpack(packed)) is not None}


def _closed_tasks(store: Store | None, today: dt.date) -> set[tuple[str, str]]:
    """(workbook id, task id or name) of the tasks done or cancelled in today's snapshot."""
    if store is None:
        return set()
    return {(w, str(row["task_id"] or row["task"])) for (w, _), row in store.snapshot(today).items()
            if row["status"] in ("done", "cancelled")}


def task_uid(workbook: str, task: str) -> str:
    return ics.uid(workbook_id(workbook), "task", task)


def with_deadlines(mails: list, digests: list, store: Store | None, settings: Settings, today: dt.date,
                   now: dt.datetime) -> list:
    """The digests, each listing a new or changed deadline carrying an .ics (one all-day item per task,
    a stable UID per task, METHOD:PUBLISH) and, for the tasks it put in the calendar that are now done or
    cancelled, a METHOD:CANCEL; nothing changes unless reminders.calendar_items is on."""
    if not settings["reminders.calendar_items"]:
        return mails
    lang, zone = settings.lang, settings["general.timezone"]
    history = _published(store)
    closed = _closed_tasks(store, today)
    out = []
    for mail, d in zip(mails, digests):
        if d.kind != "digest":
            out.append(mail)
            continue
        known = history.get(d.person.email.lower(), {})
        state = dict(known)
        new, gone = [], []
        for n in d.tasks:
            if not isinstance(n.due, dt.date):
                continue
            task = n.task_id or n.task
            uid = task_uid(n.workbook, task)
            before = known.get(uid)
            if before is not None and before["due"] == n.due.isoformat() and not before.get("x"):
                continue
            seq = before["seq"] + 1 if before is not None else 0
            summary = text("deadline.summary", lang, task=n.task, topic=n.topic)
            new.append(ics.Deadline(uid, n.due, summary, text("deadline.description", lang, id=n.task_id or "-",
                                                             topic=n.topic, sheet=n.sheet, cell=n.cell), seq))
            state[uid] = {"due": n.due.isoformat(), "seq": seq, "w": workbook_id(n.workbook), "t": task, "s": summary}
        for uid, before in known.items():
            if not before.get("x") and (before["w"], before["t"]) in closed:
                gone.append(ics.Deadline(uid, dt.date.fromisoformat(before["due"]), before["s"], "",
                                         before["seq"] + 1, cancelled=True))
                state[uid] = {**before, "seq": before["seq"] + 1, "x": 1}
        if not new and not gone:
            out.append(mail)
            continue
        mail.bodies()  # rendered first (a reply token issued then), so the copy has the same bodies and headers
        fields = {f.name: getattr(mail, f.name) for f in dataclasses.fields(notify.Mail)}
        published = ics.deadlines(new, now, zone) if new else b""
        withdrawn = ics.deadlines(gone, now, zone, "CANCEL") if gone else b""
        out.append(MeetingMail(**fields, calendar=published or withdrawn, method="PUBLISH" if new else "CANCEL",
                               extra=(("deadlines-cancel.ics", withdrawn),) if new and gone else (),
                               said=dict(kind=meetings.DEADLINES, uid="", content=_pack(state)), ledger=store))
    return out


# --- the weekly follow-up as a recurring meeting (reminders.followup_invite) ----------------------------

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
EXCLUDED_WEEKS = 26  # the non-working days among this many weekly occurrences are left out (EXDATE)


def followup_uid(workbook: str) -> str:
    return ics.uid(workbook_id(workbook), "followup")


def followups(notes: list[MeetingNote], roster: Roster | None, settings: Settings, today: dt.date, now: dt.datetime,
              store: Store | None, calendar: WorkCalendar | None = None,
              audience: Audience | None = None) -> list[MeetingMail]:
    """A recurring weekly invitation for each item in progress (状态 进行中), at the latest 跟进会 row's
    weekday and time (else the settings'), at most rules.followup_max_minutes; an update when the day or
    time changes, a cancel when the item closes; each once."""
    if roster is None or not settings["reminders.followup_invite"]:
        return []
    calendar = calendar or WorkCalendar.from_settings(settings)
    audience = audience or Audience(roster, settings, today)
    history = _history(store, FOLLOWUP)
    by_email = {p.email.lower(): p for p in roster.people_list}
    lang = settings.lang
    minutes = settings["rules.followup_max_minutes"]
    out = []
    for note in notes:
        uid = followup_uid(note.workbook)
        organizer = audience.person(note.initiator)
        if organizer is None:
            continue
        invited = [p for p in people(note.participants, roster) if p.key != organizer.key]
        weekday, at = note.followup_at or (WEEKDAYS.index(settings["reminders.followup_day"]),
                                           settings["reminders.followup_time"])
        closed = note.status == "closed"
        earlier = {address: sent for (u, address), sent in history.items() if u == uid}
        for address, sent in earlier.items():
            last = sent[-1]
            if last.get("step") == "cancel" or not (closed or address not in {p.email.lower() for p in invited}):
                continue
            person = by_email.get(address)
            if person is not None and audience.mailable(person):
                out.append(_followup(note, person, organizer, invited, settings, now, calendar, "cancel",
                                     int(last.get("seq", 0)) + 1, dt.datetime.fromisoformat(last["start"]), minutes,
                                     lang))
        if note.status != "active":
            continue
        for person in invited:
            if not audience.mailable(person):
                continue
            sent = earlier.get(person.email.lower(), [])
            last = sent[-1] if sent else None
            start = dt.datetime.fromisoformat(last["start"]) if last and last.get("step") != "cancel" else None
            if start is not None and (start.weekday(), start.strftime("%H:%M")) == (weekday, at):
                seq, step = int(last.get("seq", 0)), "followup"
            else:
                first = today + dt.timedelta(days=(weekday - today.weekday()) % 7 or 7)
                start = dt.datetime.combine(first, dt.time.fromisoformat(at))
                seq = int(last.get("seq", 0)) + 1 if last else 0
                step = "followup_update" if last else "followup"
            out.append(_followup(note, person, organizer, invited, settings, now, calendar, step, seq, start,
                                 minutes, lang))
    return out


def _followup(note: MeetingNote, person: Person, organizer: Person, invited: list[Person], settings: Settings,
              now: dt.datetime, calendar: WorkCalendar, step: str, seq: int, start: dt.datetime, minutes: int,
              lang: str) -> MeetingMail:
    uid = followup_uid(note.workbook)
    end = start + dt.timedelta(minutes=minutes)
    t = lambda key, **kw: text(key, lang, **kw)  # noqa: E731
    day = t(f"meeting.weekday.{start.weekday()}")
    method = "CANCEL" if step == "cancel" else "REQUEST"
    skipped = [start + dt.timedelta(weeks=w) for w in range(EXCLUDED_WEEKS)
               if not calendar.is_workday((start + dt.timedelta(weeks=w)).date())]
    data = ics.meeting(method, uid, seq, start, end, settings["general.timezone"],
                       t("meeting.followup_summary", topic=note.topic), t("meeting.followup_rule", minutes=minutes),
                       ics.Who(organizer.name, organizer.email),
                       [ics.Who(p.name, p.email) for p in invited] or [ics.Who(person.name, person.email)],
                       now, rrule={"freq": "weekly"}, exdates=tuple(skipped))
    context = dict(t=t, lang=lang, person=person, note=note, step=step, organizer=organizer, estimate="",
                   when=t("meeting.followup_when", day=day, start=start.strftime("%H:%M"), end=end.strftime("%H:%M"),
                          first=start.date().isoformat()),
                   invited=[p.label for p in invited], minutes=minutes, skipped=[s.date().isoformat() for s in skipped])
    said = dict(kind=FOLLOWUP, uid=uid, workbook=workbook_id(note.workbook), seq=seq,
                step="cancel" if step == "cancel" else "request", start=start.isoformat())
    key = _key(person.email.lower(), FOLLOWUP, uid, start.isoformat(), seq, step == "cancel")
    return MeetingMail(key, FOLLOWUP, person, [], t(f"meeting.subject.{step}", topic=note.topic, when=context["when"]),
                       "", "", ["participant"], (note.workbook,), said=said,
                       renderer=lambda: mail_render.render("followup", context, lang),
                       calendar=data, method=method)
