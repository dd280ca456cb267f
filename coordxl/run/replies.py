"""Update by reply: a person answers their digest ("T3 完成") and the tracker row changes.

Three steps, each restart-safe:

- :class:`Arming` gives each digest, as it is rendered, a random token (80 bits, base32) stored
  with its person and the rows it showed under the codes 【T1】…; the token rides in the digest's
  Message-ID (so every reply's In-Reply-To/References carries it) and in its footer line.
- :func:`read_mail` judges one incoming mail: automatic mail and a Message-ID seen before are
  dropped silently; a mail without a live token, or from anyone but the token's person or their
  registered 代理人, is refused; otherwise its lines (above the quote) become staged changes.
- :func:`apply_staged` writes what is staged through the lossless writer (one SheetPatch per
  workbook and sheet), never over a cell that changed since the digest showed it, never into a
  workbook open in Excel (the change waits). Deadline changes stay staged for the initiator.

The replies job runs these under the folder's job lock, so it writes immediately when no other
job runs; the daily job applies what is still waiting before it reads the folder.
"""

from __future__ import annotations

import base64
import datetime as dt
import email
import hashlib
import json
import logging
import re
import secrets
from dataclasses import dataclass
from dataclasses import field as dc_field
from email.header import decode_header, make_header
from email.message import Message
from email.utils import parseaddr
from pathlib import Path

from .. import schema
from ..messages import text
from ..normalize import parse_date
from ..process import reply_parse
from ..process.roster import Person, Roster
from ..send.audience import Audience, header_safe
from ..settings import Settings
from ..state.store import Store
from ..xlsx.reader import label_key, read_workbook
from . import objections

log = logging.getLogger(__name__)

TOKEN_RE = re.compile(r"coordxl-r-([a-z2-7]{16})", re.I)
SUBADDRESS_RE = re.compile(r"\+r-([a-z2-7]{16})@", re.I)
FOOTER_RE = re.compile(r"\bR-([A-Z2-7]{16})\b")
EXPIRY_DAYS = 30


def new_token() -> str:
    """80 random bits, base32 (16 characters, no padding), lower case as it rides in a Message-ID."""
    return base64.b32encode(secrets.token_bytes(10)).decode("ascii").lower()


# --- tokens: issued as each digest is rendered ------------------------------------------------

class Arming:
    """Issues each digest's token when the digest is really sent (rendered), with its task codes."""

    def __init__(self, store: Store, settings: Settings, today: dt.date, now: dt.datetime, items: dict | None = None):
        self.store, self.settings, self.today, self.now = store, settings, today, now
        self.items = items or {}  # workbook -> notify.ItemNote: whom a postponement asks
        self._snapshot: dict | None = None

    def shown(self, workbook: str, note) -> dict:
        """What the digest knew of the row: its status (today's snapshot) and progress."""
        from ..process.model import key_of
        from ..state.store import workbook_id

        if self._snapshot is None:
            self._snapshot = self.store.snapshot(self.today)
        row = int(re.sub(r"[^0-9]", "", note.cell) or 0)
        snap = self._snapshot.get((workbook_id(workbook), key_of(note.task_id or None, note.task, row))) or {}
        return {"status": snap.get("status"), "percent": note.percent}

    def __call__(self, digest) -> callable:
        def arm(mail) -> dict:
            token = new_token()
            limit = self.settings["reminders.max_tasks_per_mail"]
            tasks, codes = {}, {}
            for i, n in enumerate(digest.tasks[:limit], start=1):
                code = f"T{i}"
                codes[(n.workbook, n.sheet, n.cell)] = code
                tasks[code] = {"workbook": n.workbook, "path": n.path, "sheet": n.sheet,
                               "row": int(re.sub(r"[^0-9]", "", n.cell) or 0), "id": n.task_id, "task": n.task,
                               "due": n.due.isoformat() if n.due else None, **self.shown(n.workbook, n),
                               "initiator": getattr(self.items.get(n.workbook), "initiator", "")}
            domain = header_safe(self.settings["email.sender"]).rsplit("@", 1)[-1] or "coordxl.invalid"
            mail.token = token
            mail.message_id = f"<coordxl-r-{token}.{mail.key[:12]}@{domain}>"
            if self.settings["replies.subaddress"]:
                local = header_safe(self.settings["email.sender"]).rsplit("@", 1)[0]
                mail.reply_to = f"{local}+r-{token}@{domain}"
            expires = self.today + dt.timedelta(days=EXPIRY_DAYS)
            with self.store._tx() as db:
                db.execute("INSERT INTO reply_tokens VALUES (?, ?, ?, ?, ?, ?, ?)",
                           (token, digest.person.key, digest.person.email.lower(), mail.message_id,
                            json.dumps(tasks, ensure_ascii=False), self.now.isoformat(timespec="seconds"),
                            expires.isoformat()))
            lang = self.settings.lang
            first = next(iter(tasks), "T1")
            second = list(tasks)[1] if len(tasks) > 1 else first
            later = self.today + dt.timedelta(days=7)
            examples = [text("reply.example_done", lang, code=first),
                        text("reply.example_postpone", lang, code=second, date=f"{later.month}月{later.day}日"
                             if lang == "zh" else later.isoformat())]
            return {"codes": codes, "examples": examples, "sentinel": reply_parse.SENTINEL,
                    "code": f"R-{token.upper()}"}
        return arm


def arm_digests(mails: list, digests: list, store: Store | None, settings: Settings, today: dt.date,
                now: dt.datetime, items: dict | None = None) -> None:
    """Give each owner's digest (not escalation mails) a token as it is rendered, when replies are on."""
    if store is None or not settings["replies.enabled"]:
        return
    arming = Arming(store, settings, today, now, items)
    for mail, d in zip(mails, digests):
        if d.kind == "digest" and d.tasks:
            mail.arm = arming(d)


# --- reading one mail --------------------------------------------------------------------------

AUTO_SUBJECT = re.compile(r"自动回复|自动答复|Auto(?:matic)?[ -]?Reply|Out of (?:the )?Office|休假|Undeliver|退信|"
                          r"Delivery Status Notification|Mail Delivery|系统退信", re.I)


def header(msg: Message, name: str) -> str:
    """A header's text: encoded words decoded; raw 8-bit text (some clients and gateways send the subject
    unencoded) read as UTF-8, else GB18030, never as replacement characters."""
    value = next((v for k, v in msg.raw_items() if k.lower() == name.lower()), None)
    if value is None:
        return ""
    if isinstance(value, str) and any("\udc80" <= ch <= "\udcff" for ch in value):  # bytes kept as surrogates
        data = value.encode("ascii", "surrogateescape")
        for encoding in ("utf-8", "gb18030"):
            try:
                value = data.decode(encoding)
                break
            except UnicodeDecodeError:
                continue
        else:
            value = data.decode("utf-8", "replace")
    try:
        return str(make_header(decode_header(str(value))))
    except Exception:  # a broken encoded word: the raw header
        return str(value)


def automatic(msg: Message, own: str) -> bool:
    """Mail no person wrote: auto-replies, out-of-office, bounces, lists, our own (RFC 3834 and practice)."""
    auto = msg.get("Auto-Submitted", "no").strip().lower()
    if auto and auto != "no":
        return True
    if msg.get("X-Autoreply") or msg.get("X-Autorespond") or msg.get("List-Id") or msg.get("List-Unsubscribe"):
        return True
    if msg.get("Precedence", "").strip().lower() in ("bulk", "junk", "list", "auto_reply"):
        return True
    if msg.get("X-Auto-Response-Suppress") and "coordxl" in msg.get("X-Coordxl-Kind", ""):
        return True
    if msg.get_content_type() == "multipart/report":
        return True
    if msg.get("Return-Path") is not None and msg.get("Return-Path").strip() in ("<>", ""):
        return True
    sender = parseaddr(header(msg, "From"))[1].lower()
    if not sender or sender == own.lower() or sender.split("@")[0] in ("mailer-daemon", "postmaster"):
        return True
    return bool(AUTO_SUBJECT.search(header(msg, "Subject")))


def dmarc_failed(msg: Message, authserv_id: str) -> bool:
    """The receiving server, under the configured authserv-id, stamped dmarc=fail."""
    if not authserv_id:
        return False
    for value in msg.get_all("Authentication-Results") or ():
        value = str(value)
        if value.split(";", 1)[0].strip().lower() == authserv_id.lower() and re.search(r"\bdmarc=fail\b", value, re.I):
            return True
    return False


def token_of(msg: Message, body: str) -> str:
    """The digest token a reply carries: in In-Reply-To/References (first), else in the quoted footer."""
    for name in ("In-Reply-To", "References"):
        if m := TOKEN_RE.search(str(msg.get(name, ""))):
            return m[1].lower()
    for name in ("Delivered-To", "X-Original-To", "To", "Cc"):  # the sub-address the reply went to
        for value in msg.get_all(name) or ():
            if m := SUBADDRESS_RE.search(str(value)):
                return m[1].lower()
    if m := FOOTER_RE.search(body):
        return m[1].lower()
    return ""


@dataclass
class Reading:
    """What one incoming mail came to."""

    message_id: str
    outcome: str  # duplicate | automatic | refused | accepted
    why: str = ""
    sender: Person | None = None
    subject: str = ""
    lines: list = dc_field(default_factory=list)  # (Command | Unread, [change ids]) in the mail's order
    token: str = ""
    requester: int = 0  # an initiator's decision: the change whose requester is told
    digest: str = ""  # the Message-ID of the digest (or request) the token came with


def read_mail(raw: bytes, store: Store, roster: Roster, settings: Settings, today: dt.date,
              now: dt.datetime) -> Reading:
    """Judge one mail and stage what it asks (nothing is written to a workbook here)."""
    msg = email.message_from_bytes(raw)
    message_id = str(msg.get("Message-ID", "")).strip() or "<sha256-" + hashlib.sha256(raw).hexdigest()[:32] + ">"
    db = store.db()
    if db.execute("SELECT 1 FROM reply_mails WHERE message_id = ?", (message_id,)).fetchone():
        return Reading(message_id, "duplicate")
    reading = Reading(message_id, "automatic", subject=header(msg, "Subject"))
    sender = parseaddr(header(msg, "From"))[1].lower()
    if not automatic(msg, settings["email.sender"]):
        _judge(reading, msg, sender, store, roster, settings, today, now)
    with store._tx() as tx:  # (an accepted mail was recorded already, with what it staged)
        _record(tx, reading, sender, now)
    return reading


def _record(db, reading: Reading, sender: str, now: dt.datetime) -> None:
    """The mail as read, and its answer owed — in the transaction that stages its changes, so that a run
    killed in between leaves neither (the mail is read again) rather than changes without their mail."""
    db.execute("INSERT OR IGNORE INTO reply_mails (message_id, sender, token, outcome, received, answer) "
               "VALUES (?, ?, ?, ?, ?, ?)",
               (reading.message_id, sender, reading.token, reading.outcome + (f":{reading.why}" if reading.why else ""),
                now.isoformat(timespec="seconds"), owed_answer(reading)))


def _person_by_email(roster: Roster, address: str) -> Person | None:
    return next((p for p in roster.people_list if p.email and p.email.lower() == address), None)


def _judge(reading: Reading, msg: Message, sender: str, store: Store, roster: Roster, settings: Settings,
           today: dt.date, now: dt.datetime) -> None:
    reading.outcome = "refused"
    reading.sender = _person_by_email(roster, sender)
    full = reply_parse.body_text(msg)
    if dmarc_failed(msg, settings["replies.authserv_id"]):
        reading.why, reading.sender = "dmarc", None  # a forged sender is never answered
        return
    token = token_of(msg, full)
    row = store.db().execute("SELECT * FROM reply_tokens WHERE token = ?", (token,)).fetchone() if token else None
    if row is None:
        reading.why = "no_token"
        return
    reading.token, reading.digest = token, row["message_id"]
    owner = roster.people.get(row["person"])
    allowed = {row["email"]}
    if owner is not None and owner.deputy:
        deputy = roster.person(owner.deputy)
        if deputy is not None and deputy.email:
            allowed.add(deputy.email.lower())
    if sender not in allowed:
        reading.why = "sender"
        return
    if dt.date.fromisoformat(row["expires"]) < today:
        reading.why = "expired"
        return
    tasks = json.loads(row["tasks"])
    if objections.OBJECTION in tasks:  # a reply to the minutes (#32): an objection for the initiator
        objections.objection(reading, tasks[objections.OBJECTION], full, store, Audience(roster, settings), today, now)
        return
    if "approval" in tasks:
        _decide(reading, tasks["approval"], reply_parse.cut(full), store, now, sender)
        return
    from ..process.calendar import WorkCalendar

    commands, unread = reply_parse.parse(reply_parse.cut(full), today, WorkCalendar.from_settings(settings).is_workday)
    if not commands and not unread:
        reading.why = "nothing"
        return
    reading.outcome = "accepted"
    stamp = now.isoformat(timespec="seconds")
    with store._tx() as db:
        for u in unread:
            reading.lines.append((u, []))
        for c in commands:
            if c.verb == reply_parse.UNDO:
                undo = _undo(db, c, token, now)
                reading.lines.append((undo, []) if isinstance(undo, reply_parse.Unread) else (c, [undo]))
                continue
            if c.codes == (reply_parse.ALL,):
                codes = list(tasks)
            else:
                meant = {code: reply_parse.resolve(code, tasks) for code in c.codes}
                if unknown := [code for code, found in meant.items() if not found]:
                    reading.lines.append((reply_parse.Unread(c.line, "code", tuple(unknown)), []))
                    continue
                if twice := [code for code, found in meant.items() if len(found) > 1]:
                    readings = tuple(f"【{f}】" for f in meant[twice[0]])
                    reading.lines.append((reply_parse.Unread(c.line, "ambiguous", readings), []))
                    continue
                codes = list(dict.fromkeys(found[0] for found in meant.values()))
            ids = []
            for code in codes:
                t = tasks[code]
                status = {reply_parse.POSTPONE: "staged", reply_parse.SNOOZE: "snoozed"}.get(c.verb, "pending")
                value = {"value": c.value.isoformat() if isinstance(c.value, dt.date) else c.value, "text": c.text}
                if c.verb == reply_parse.SNOOZE:  # the token's person's reminders about it pause; nothing is written
                    value |= {"until": (today + dt.timedelta(days=c.value)).isoformat(), "person": row["person"]}
                cur = db.execute(
                    "INSERT INTO reply_changes (message_id, code, verb, workbook, path, sheet, row, shown, value, "
                    "sender, status, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (reading.message_id, code, c.verb, t["workbook"], t["path"], t["sheet"], t["row"],
                     json.dumps(t, ensure_ascii=False), json.dumps(value, ensure_ascii=False),
                     reading.sender.label if reading.sender else sender, status, stamp))
                ids.append(cur.lastrowid)
            reading.lines.append((c, ids))
        _record(db, reading, sender, now)


_AGREE = re.compile(r"^(?:同意|批准|可以|agreed?|approved?|ok)[。.!！]?$", re.I)
_DECLINE = re.compile(r"^(?:不同意|驳回|不批准|disagree|declined?|rejected?|no)\b[。.!！,，]?\s*(?:原因|理由|reason)?\s*[:：]?\s*(.*)$",
                      re.I)


def _decide(reading: Reading, change_id: int, body: str, store: Store, now: dt.datetime, sender: str = "") -> None:
    """The initiator's answer to a postponement: 同意 makes it a pending change (the daily or this run
    writes the new deadline), 不同意 declines it with the reason."""
    lines = [reply_parse.normalized(x) for x in body.splitlines() if x.strip()]
    first = lines[0] if lines else ""
    stamp = now.isoformat(timespec="seconds")
    change = store.db().execute("SELECT * FROM reply_changes WHERE id = ?", (change_id,)).fetchone()
    if change is None or change["status"] != "staged":
        reading.why = "decided"
        return
    if _AGREE.match(first):
        status, detail = "pending", ""
    elif m := _DECLINE.match(first):
        status, detail = "declined", m[1].strip()
    else:
        reading.why = "decision"
        return
    reading.outcome = "accepted"
    reading.lines.append((reply_parse.Command(("A",), "decision", status, detail, first), [change_id]))
    reading.requester = change["id"]
    with store._tx() as db:
        db.execute("UPDATE reply_changes SET status = ?, detail = ?, updated = ? WHERE id = ?",
                   (status, detail, stamp, change_id))
        _record(db, reading, sender, now)


def ask_initiators(store: Store, roster: Roster, settings: Settings, today: dt.date, now: dt.datetime) -> list:
    """One mail to the item's initiator for each postponement, with a token of its own: issued once, and
    the mail made again on every run until the ledger says it went out (a killed run loses no question)."""
    from ..state.store import FINAL

    domain = header_safe(settings["email.sender"]).rsplit("@", 1)[-1] or "coordxl.invalid"
    for ch in store.db().execute("SELECT * FROM reply_changes WHERE status = 'staged' AND detail = ''").fetchall():
        shown = json.loads(ch["shown"])
        initiator = roster.person(shown.get("initiator") or "")
        if initiator is None or not initiator.email:
            _settle(store, [ch], "staged", "no_initiator", now)
            continue
        token = new_token()
        message_id = f"<coordxl-r-{token}.ask{ch['id']}@{domain}>"
        with store._tx() as db:
            db.execute("INSERT INTO reply_tokens VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (token, initiator.key, initiator.email.lower(), message_id, json.dumps({"approval": ch["id"]}),
                        now.isoformat(timespec="seconds"), (today + dt.timedelta(days=EXPIRY_DAYS)).isoformat()))
            db.execute("UPDATE reply_changes SET detail = ? WHERE id = ?", (f"asked:{initiator.label}", ch["id"]))
    asked = store.db().execute("SELECT * FROM reply_changes WHERE status = 'staged' AND detail LIKE 'asked:%'").fetchall()
    keys = {ch["id"]: hashlib.sha256(f"reply-ask|{ch['id']}".encode()).hexdigest() for ch in asked}
    sent = store.statuses(list(keys.values()))
    out = []
    for ch in asked:
        if sent.get(keys[ch["id"]]) in FINAL:
            continue
        found = store.db().execute("SELECT * FROM reply_tokens WHERE tasks = ?",
                                   (json.dumps({"approval": ch["id"]}),)).fetchone()
        initiator = roster.people.get(found["person"]) if found else None
        if initiator is not None:
            out.append(_ask_mail(ch, found, initiator, keys[ch["id"]], settings))
    return out


def _ask_mail(ch, token_row, initiator: Person, key: str, settings: Settings):
    """The initiator's question about one postponement, in the thread of its own token."""
    from markupsafe import escape

    from ..send.notify import Mail

    t = lambda k, **kw: text(k, settings.lang, **kw)  # noqa: E731
    shown, value = json.loads(ch["shown"]), json.loads(ch["value"])
    task = f"{shown.get('id', '')} {shown.get('task', '')}".strip()
    body = [t("mail.greeting", name=initiator.name),
            t("reply.ask", who=ch["sender"], task=task, due=shown.get("due") or "-", date=value["value"],
              reason=value.get("text") or "-"),
            "", t("reply.ask_how"), "", reply_parse.SENTINEL, "--",
            t("reply.ask_footer", code=f"R-{token_row['token'].upper()}")]
    mail = Mail(key, "reply", initiator, [], t("reply.ask_subject", who=ch["sender"], task=task, date=value["value"]),
                "\n".join(body), "<html><body>" + "<br>".join(str(escape(x)) for x in body) + "</body></html>", ["reply"])
    mail.message_id = token_row["message_id"]
    return mail


# --- writing: the staged changes through the lossless writer ------------------------------------

UNDO_HOURS = 24


def _undo(db, c: reply_parse.Command, token: str, now: dt.datetime):
    """Stage the undoing of change ``c.value``: applied within UNDO_HOURS from a mail with this token."""
    orig = db.execute("SELECT c.* FROM reply_changes c JOIN reply_mails m ON m.message_id = c.message_id "
                      "WHERE c.id = ? AND m.token = ?", (c.value, token)).fetchone()
    if orig is None or orig["status"] != "applied" or orig["verb"] == reply_parse.UNDO:
        return reply_parse.Unread(c.line, "undo", (f"C{c.value}",))
    if now - dt.datetime.fromisoformat(orig["updated"]) > dt.timedelta(hours=UNDO_HOURS):
        return reply_parse.Unread(c.line, "undo_late", (f"C{c.value}",))
    cur = db.execute(
        "INSERT INTO reply_changes (message_id, code, verb, workbook, path, sheet, row, shown, value, sender, status, "
        "updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?)",
        ("", orig["code"], reply_parse.UNDO, orig["workbook"], orig["path"], orig["sheet"], orig["row"], orig["shown"],
         json.dumps({"of": orig["id"]}), orig["sender"], now.isoformat(timespec="seconds")))
    return cur.lastrowid


def _typed(value):
    """A cell value as JSON keeps it (a date as {"date": iso})."""
    if isinstance(value, (dt.date, dt.datetime)):
        return {"date": (value.date() if isinstance(value, dt.datetime) else value).isoformat()}
    return value


def _untyped(value):
    if isinstance(value, dict) and "date" in value:
        return dt.date.fromisoformat(value["date"])
    return "" if value is None else value


_STATUS_OF = {reply_parse.DONE: "done", reply_parse.STARTED: "in_progress", reply_parse.BLOCKED: "blocked"}


def _status_choice(raw) -> str | None:
    choice = schema.TASKS.field("status").choice_for(raw) if raw not in (None, "") else None
    return choice.key if choice is not None else None


def _progress_column(header: list) -> int | None:
    from ..xlsx.reader import _progress_labels

    labels = _progress_labels()
    for j, value in enumerate(header, start=1):
        if value not in (None, "") and label_key(value) in labels:
            return j
    return None


def apply_staged(store: Store, layout, today: dt.date, now: dt.datetime) -> int:
    """Write every pending change, one patch per workbook sheet; returns how many were written."""
    rows = store.db().execute("SELECT * FROM reply_changes WHERE status IN ('pending', 'waiting') ORDER BY id").fetchall()
    by_sheet: dict[tuple[str, str], list] = {}
    for r in rows:
        by_sheet.setdefault((r["path"], r["sheet"]), []).append(r)
    written = 0
    for (path, sheet), changes in by_sheet.items():
        data = read_workbook(Path(path), (schema.TASKS,), layout.settings["limits.max_unzipped_mb"] * 1024 * 1024)
        found = [s for s in data.sheets.get("tasks", []) if s.name == sheet]
        table = found[0].tables.get("tasks") if found else None
        if table is None:
            _settle(store, changes, "refused", "unreadable", now)
            continue
        target = _Target(table, found[0].rows, Unwritable.of(Path(path), sheet), today, layout.settings.lang)
        outcome = {ch["id"]: target.judge(ch, store) for ch in changes}
        for k, v in outcome.items():
            if v[0] != "applied":
                _settle(store, [x for x in changes if x["id"] == k], v[0], v[1], now)
        if target.cells:
            written += _write_sheet(store, layout, data, path, sheet, target.cells,
                                    [(x, outcome[x["id"]][1]) for x in changes if outcome[x["id"]][0] == "applied"], now)
    return written


class _Target:
    """One tracker sheet as it is now, and the cells the changes staged for it would write."""

    def __init__(self, table, rows: list | None, guard: "Unwritable", today: dt.date, lang: str):
        self.table, self.rows, self.guard, self.today, self.lang = table, rows, guard, today, lang
        self.at = {r: i for i, r in enumerate(table.rownums)}
        self.progress = _progress_column(rows[table.header_row - 1]) if rows else None
        self.cells: dict[tuple[int, int], object] = {}

    def judge(self, ch, store: Store) -> tuple[str, str]:
        """(applied | conflict | refused, detail) for one staged change; an applied one's cells join ``cells``."""
        table, lang = self.table, self.lang
        shown, value = json.loads(ch["shown"]), json.loads(ch["value"])
        if ch["row"] in self.guard.total_rows:  # an Excel table's total row (the table moved since the digest)
            return "refused", "total_row"
        if ch["verb"] == reply_parse.UNDO:
            return _undo_cells(store, ch, value, self.rows, self.cells)
        i = self.at.get(ch["row"])
        if i is None or (shown.get("id") and str(table.raw["id"][i] or "") != shown["id"]):
            return "conflict", json.dumps({"field": "id", "now": ""}, ensure_ascii=False)
        now_status = _status_choice(table.raw["status"][i]) if "status" in table.raw else None
        if shown.get("status") and now_status != shown["status"]:
            return "conflict", json.dumps(
                {"field": "status", "shown": _label(shown["status"], lang), "now": str(table.raw["status"][i] or "")},
                ensure_ascii=False)
        if ch["verb"] == reply_parse.POSTPONE and "due" in table.raw:
            now_due = parse_date(table.raw["due"][i], near=self.today).value
            if (now_due.isoformat() if now_due else None) != shown.get("due"):
                return "conflict", json.dumps(
                    {"field": "due", "shown": shown.get("due") or "", "now": _shown(table.raw["due"][i])},
                    ensure_ascii=False)
        writes = _cells_for(ch, value, table, i, table.columns, self.progress, self.today, lang, self.cells)
        if writes is None:
            return "refused", "no_column"
        if blocked := self.guard.formulas_among((ch["row"], c) for (c, _), _ in writes):  # nothing of it is written
            return "refused", "formula:" + ",".join(_letters(c) + str(ch["row"]) for c in blocked)
        changed = []
        for (c, new), old in writes:
            self.cells[(ch["row"], c)] = new
            changed.append([c, _shown(old), _shown(new), _typed(old), _typed(new)])
        return "applied", json.dumps(changed, ensure_ascii=False)


def _write_sheet(store: Store, layout, data, path: str, sheet: str, cells: dict, mine: list, now: dt.datetime) -> int:
    """Write the applied changes' cells in one lossless patch and settle each change by what happened;
    ``mine``: (change, its detail). Returns how many were written."""
    from ..xlsx.writer import SheetPatch, write_patch

    result = write_patch(SheetPatch(Path(path), Path(path).name, sheet, cells, data.fingerprint),
                         layout.backups, layout.settings["writeback.backups_keep"], now)
    changes = [x for x, _ in mine]
    if result.reason == "locked":
        _settle(store, changes, "waiting", who_opened(Path(path)), now)
        return 0
    if result.reason == "formula" or result.written:
        blocked = {r for r, _ in result.formula_cells} if result.written else None
        written = 0
        for x, detail in mine:
            if blocked is None or x["row"] in blocked:
                _settle(store, [x], "refused", _formula_detail(result.formula_cells, x["row"]), now)
                continue
            _settle(store, [x], "applied", detail, now)
            if x["verb"] == reply_parse.UNDO:
                _settle(store, [{"id": json.loads(x["value"])["of"]}], "undone", f"C{x['id']}", now)
            written += 1
        return written
    _settle(store, changes, "waiting", "", now)  # changed while read, read-only, …: tried again on the next run
    return 0


def _undo_cells(store: Store, ch, value: dict, rows: list | None, cells: dict) -> tuple[str, str]:
    """Put back what change ``value['of']`` replaced, when each cell still holds what it wrote."""
    orig = store.db().execute("SELECT * FROM reply_changes WHERE id = ?", (value["of"],)).fetchone()
    back = []
    for col, old_shown, new_shown, old, new in json.loads(orig["detail"]):
        now_value = rows[ch["row"] - 1][col - 1] if rows and ch["row"] <= len(rows) and col <= len(rows[ch["row"] - 1]) else None
        if _shown(now_value) != _shown(_untyped(new)):
            return "conflict", json.dumps({"field": "status", "shown": new_shown, "now": _shown(now_value)},
                                          ensure_ascii=False)
        back.append((col, old, new, new_shown, old_shown))
    changed = []
    for col, old, new, new_shown, old_shown in back:
        cells[(ch["row"], col)] = _untyped(old)
        changed.append([col, new_shown, old_shown, new, old])
    return "applied", json.dumps(changed, ensure_ascii=False)


@dataclass
class Unwritable:
    """What a reply never writes in one sheet: formula cells (an array formula's whole range too) and the
    rows that are an Excel table's total row — read from the sheet's XML and its table parts."""

    formulas: set = dc_field(default_factory=set)  # (row, col)
    arrays: list = dc_field(default_factory=list)  # (top, left, bottom, right)
    total_rows: set = dc_field(default_factory=set)  # 1-based rows

    @classmethod
    def of(cls, path: Path, sheet: str) -> Unwritable:
        import zipfile

        from ..xlsx.xlsxparts import col_number, sheet_part

        out = cls()
        try:
            with zipfile.ZipFile(path) as zf:
                part = sheet_part(zf, sheet)
                xml = zf.read(part)
                for f in re.finditer(rb"<f[\s>/]", xml):  # each formula's cell: the <c> it sits in
                    start = xml.rfind(b"<c ", 0, f.start())
                    ref = re.match(rb'<c\b[^>]*?\br="([A-Z]+)(\d+)"', xml[start:f.start()])
                    if ref:
                        out.formulas.add((int(ref[2]), col_number(ref[1].decode())))
                for m in re.finditer(rb'<f\b[^>]*\bt="array"[^>]*\bref="([A-Z]+)(\d+)(?::([A-Z]+)(\d+))?"', xml):
                    top, left = int(m[2]), col_number(m[1].decode())
                    out.arrays.append((top, left, int(m[4] or m[2]), col_number((m[3] or m[1]).decode())))
                out.total_rows = _total_rows(zf, part)
        except Exception as exc:  # unreadable here: the writer's own checks still guard every cell
            log.info("could not look into %s for formulas and total rows: %s", path, exc)
        return out

    def formulas_among(self, cells) -> list[int]:
        """The columns of ``cells`` ((row, col)) that hold a formula."""
        return sorted({c for r, c in cells if (r, c) in self.formulas
                       or any(t <= r <= b and left <= c <= right for t, left, b, right in self.arrays)})


def _formula_detail(cells, row: int) -> str:
    """'formula:I5,J5': the refusal and the cells it names (the answer shows them)."""
    return "formula:" + ",".join(f"{_letters(c)}{r}" for r, c in cells if r == row)


def _total_rows(zf, part: str) -> set[int]:
    """Rows that the sheet's Excel tables (their parts, through the sheet's relationships) use as total rows."""
    import html
    from posixpath import dirname, join, normpath

    folder, name = part.rsplit("/", 1)
    try:
        rels = zf.read(f"{folder}/_rels/{name}.rels").decode("utf-8")
    except KeyError:
        return set()
    rows: set[int] = set()
    for m in re.finditer(r"<Relationship\b([^>]*)/?>", rels):
        attrs = m[1]
        if not re.search(r'\bType="[^"]*/table"', attrs):
            continue
        target = html.unescape(re.search(r'\bTarget="([^"]*)"', attrs)[1])
        table = zf.read(target.lstrip("/") if target.startswith("/") else normpath(join(dirname(part), target)))
        head = re.search(rb"<(?:\w+:)?table\b([^>]*)>", table)
        ref = re.search(rb'\bref="[A-Z]+\d+:[A-Z]+(\d+)"', head[1]) if head else None
        totals = re.search(rb'\btotalsRowCount="(\d+)"', head[1]) if head else None
        if ref and totals:
            bottom = int(ref[1])
            rows |= set(range(bottom - int(totals[1]) + 1, bottom + 1))
    return rows


def who_opened(path: Path) -> str:
    """The person an Excel owner file (~$name.xlsx) or a LibreOffice lock (.~lock.name.xlsx#) names."""
    from ..xlsx.xlsxparts import owner_files

    for found in owner_files(path):
        try:
            data = found.read_bytes()[:512]
        except OSError:
            continue
        if found.name.startswith(".~lock."):  # LibreOffice: "name,user,host,date,profile" (name may be empty)
            parts = data.decode("utf-8", "replace").split(",")
            name = next((p.strip() for p in parts[:2] if p.strip()), "")
        else:  # Excel: a length byte, then the user name in the system's code page
            name = data[1:1 + data[0]].decode("gb18030", "replace").strip() if data else ""
        if name:
            return name
    return "?"


def _label(key: str, lang: str) -> str:
    try:
        return schema.TASKS.field("status").choice(key).label(lang)
    except Exception:
        return str(key or "")


def _shown(value) -> str:
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value <= 1:
        return f"{value * 100:g}%"
    return "" if value is None else str(value)


_NOT_IN_A_CELL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _cell_text(value: str) -> str:
    """Text fit for a cell: line breaks as Excel keeps them (LF), characters a workbook cannot hold left out
    (a mail may carry them; written, they would make the sheet unreadable, so the writer refuses them)."""
    return _NOT_IN_A_CELL.sub("", value.replace("\r\n", "\n").replace("\r", "\n"))


def _cells_for(ch, value: dict, table, i: int, col: dict, progress: int | None, today: dt.date, lang: str,
               pending: dict | None = None):
    """((column, new value), old value) pairs one change writes; None when the tracker lacks the column."""
    raw = lambda key: table.raw[key][i] if key in table.raw else None  # noqa: E731
    out = []
    verb = ch["verb"]
    if verb in _STATUS_OF:
        if "status" not in col:
            return None
        out.append(((col["status"], _label(_STATUS_OF[verb], lang)), raw("status")))
        if verb == reply_parse.DONE and "done_on" in col:
            out.append(((col["done_on"], today), raw("done_on")))
    if verb == reply_parse.PERCENT:
        pct = value["value"]
        if progress is None:  # no 进度 column: the status says it, as staff write it ('进行中(50%)')
            if "status" not in col:
                return None
            out.append(((col["status"], f"{_label('in_progress', lang)}({pct}%)"), raw("status")))
        else:
            old = table.progress[i] if table.progress else None
            number = isinstance(old, (int, float)) and not isinstance(old, bool) and old <= 1
            out.append(((progress, pct / 100 if number else f"{pct}%"), old))
    if verb == reply_parse.POSTPONE:  # agreed by the initiator
        if "due" not in col:
            return None
        out.append(((col["due"], dt.date.fromisoformat(value["value"])), raw("due")))
    if value.get("text") and verb in (reply_parse.NOTE, reply_parse.BLOCKED, reply_parse.POSTPONE):
        if "note" not in col:
            return None
        old = raw("note")
        before = (pending or {}).get((ch["row"], col["note"]), old)  # two notes on one row in one mail: both kept
        said = value["text"] if verb != reply_parse.POSTPONE else text("reply.postponed_note", lang, date=value["value"],
                                                                         reason=value["text"])
        line = f"{today.month}/{today.day} {ch['sender']}：{said}"
        out.append(((col["note"], _cell_text(f"{before}\n{line}" if before not in (None, "") else line)), old))
    if out and "updated_on" in col:
        out.append(((col["updated_on"], today), raw("updated_on")))
    return out


def _settle(store: Store, changes: list, status: str, detail: str, now: dt.datetime) -> None:
    with store._tx() as db:
        db.executemany("UPDATE reply_changes SET status = ?, detail = ?, updated = ? WHERE id = ?",
                       [(status, detail, now.isoformat(timespec="seconds"), c["id"]) for c in changes])


# --- the answer in the thread ---------------------------------------------------------------------

def without_snoozed(digests: list, store: Store | None, today: dt.date) -> list:
    """Owners' digests without the tasks they snoozed by reply (until the day it ends, inclusive); a digest
    left empty is not sent. Escalations and the initiators' lists are not affected."""
    if store is None:
        return digests
    paused = set()
    for ch in store.db().execute("SELECT * FROM reply_changes WHERE status = 'snoozed'").fetchall():
        value = json.loads(ch["value"])
        if value["until"] >= today.isoformat():
            paused.add((value["person"], ch["workbook"], ch["sheet"], ch["row"]))
    if not paused:
        return digests
    out = []
    for d in digests:
        if d.kind == "digest":
            d.tasks = [n for n in d.tasks if (d.person.key, n.workbook, n.sheet,
                                              int(re.sub(r"[^0-9]", "", n.cell) or 0)) not in paused]
            if d.empty():
                continue
        out.append(d)
    return out


def answer_lines(reading: Reading, store: Store, lang: str) -> list[str]:
    """One line per command (per task it names), in the mail's order."""
    t = lambda key, **kw: text(key, lang, **kw)  # noqa: E731
    db = store.db()
    out = []
    for cmd, ids in reading.lines:
        if isinstance(cmd, reply_parse.Unread):
            readings = "、".join(cmd.readings) if lang == "zh" else ", ".join(cmd.readings)
            out.append(t("reply.refused", line=cmd.line, why=t(f"reply.why.{cmd.why}", readings=readings)))
            if cmd.why in ("no_code", "unknown", "two_verbs", "percent_full"):
                out.append("  " + t("reply.try", example=t("reply.example_done", code="T1")))
            continue
        for i in ids:
            ch = db.execute("SELECT * FROM reply_changes WHERE id = ?", (i,)).fetchone()
            shown = json.loads(ch["shown"])
            task = f"{shown.get('id', '')} {shown.get('task', '')}".strip()
            base = {"code": ch["code"], "task": task}
            status, detail = ch["status"], ch["detail"]
            if status == "applied":
                for col, old, new, *_ in json.loads(detail):
                    out.append(t("reply.applied", sheet=ch["sheet"], row=ch["row"], column=_letters(col),
                                 old=old or "（空）" if lang == "zh" else old or "(empty)", new=new, **base))
                if ch["verb"] != reply_parse.UNDO:
                    out.append("  " + t("reply.undo_hint", change=f"C{ch['id']}"))
            elif status == "waiting":
                out.append(t("reply.waiting", owner=detail, **base) if detail else t("reply.retry", **base))
            elif status == "staged":
                value = json.loads(ch["value"])
                out.append(t("reply.staged", date=value["value"], **base))
            elif status == "snoozed":
                out.append(t("reply.snoozed", until=json.loads(ch["value"])["until"], **base))
            elif status == "undone":
                out.append(t("reply.undone", change=f"C{ch['id']}", **base))
            elif status == "declined":
                out.append(t("reply.declined", reason=detail or "-", **base))
            elif status == "conflict":
                d = json.loads(detail)
                column = {"status": t("mail.col_state"), "due": t("mail.col_due")}.get(d.get("field"), t("reply.col_id"))
                out.append(t("reply.conflict", column=column, shown=d.get("shown", ""), now=d.get("now", ""), **base))
            elif status == "refused":  # 'formula:I5' names the cells
                why, _, where = detail.partition(":")
                out.append(t("reply.refused", line=f"{ch['code']} {task}", why=t(f"reply.why.{why}", readings=where)))
            else:
                out.append(t("reply.retry", **base))
    return out


def _letters(col: int) -> str:
    from ..xlsx.xlsxparts import col_letters

    return col_letters(col)


def answer_mail(reading: Reading, store: Store, settings: Settings, today: dt.date):
    """The one answer to an incoming mail, in its thread; None when nobody is to be answered."""
    from ..send.notify import Mail

    if reading.sender is None or reading.outcome in ("duplicate", "automatic", "acknowledged"):
        return None
    lang = settings.lang
    if reading.outcome == "refused":
        body = [text(f"reply.refusal.{reading.why}", lang, example=text("reply.example_done", lang, code="T1"))]
        # at most one refusal a sender a day
        key = hashlib.sha256(f"reply-refusal|{reading.sender.email.lower()}|{today.isoformat()}".encode()).hexdigest()
    elif objected := objections.objection_line(reading, store, lang):  # #32: one line, the objection went to the initiator
        body = [objected]
        key = hashlib.sha256(f"reply|{reading.message_id}".encode()).hexdigest()
    else:
        body = [text("reply.intro", lang), *answer_lines(reading, store, lang)]
        key = hashlib.sha256(f"reply|{reading.message_id}".encode()).hexdigest()
    body += ["", "--", text("reply.footer_answer", lang)]
    plain = "\n".join(body)
    from markupsafe import escape

    html = "<html><body>" + "<br>".join(str(escape(line)) for line in body) + "</body></html>"
    subject = reading.subject or ""
    if not re.match(r"^(re|回复|答复)\s*[:：]", subject, re.I):
        subject = text("reply.subject", lang, subject=subject)
    thread = f"{reading.digest} {reading.message_id}".strip()  # a reply to the answer still carries the token
    headers = (("In-Reply-To", reading.message_id), ("References", thread),
               ("Auto-Submitted", "auto-replied"), ("X-Auto-Response-Suppress", "All"))
    return Mail(key, "reply", reading.sender, [], subject, plain, html, ["reply"], headers=headers)


def told_requester(change_id: int, store: Store, roster: Roster, settings: Settings):
    """The person who asked for a postponement learns the initiator's decision (and what was written)."""
    from markupsafe import escape

    from ..send.notify import Mail

    ch = store.db().execute("SELECT * FROM reply_changes WHERE id = ?", (change_id,)).fetchone()
    person = roster.person(ch["sender"]) if ch else None
    if person is None or not person.email:
        return None
    lines = answer_lines(Reading("", "accepted", lines=[(reply_parse.Command((ch["code"],), ch["verb"]), [change_id])]),
                         store, settings.lang)
    shown = json.loads(ch["shown"])
    subject = text("reply.decided_subject", settings.lang, task=f"{shown.get('id', '')} {shown.get('task', '')}".strip())
    body = [*lines, "", "--", text("reply.footer_answer", settings.lang)]
    return Mail(hashlib.sha256(f"reply-decided|{change_id}".encode()).hexdigest(), "reply", person, [], subject,
                "\n".join(body), "<html><body>" + "<br>".join(str(escape(x)) for x in body) + "</body></html>", ["reply"],
                headers=(("Auto-Submitted", "auto-generated"),))


# --- objections to the minutes (#32): the minutes' tokens; the rest is run/objections.py ------------

def arm_minutes(mails: list, store: Store | None, settings: Settings, today: dt.date, now: dt.datetime) -> None:
    """Give each minutes mail its reader's token as it is rendered, when replies are on."""
    if store is None or not settings["replies.enabled"]:
        return
    domain = header_safe(settings["email.sender"]).rsplit("@", 1)[-1] or "coordxl.invalid"

    def arm(mail) -> dict:
        token = new_token()
        mail.token = token
        mail.message_id = f"<coordxl-r-{token}.{mail.key[:12]}@{domain}>"
        if settings["replies.subaddress"]:
            mail.reply_to = f"{header_safe(settings['email.sender']).rsplit('@', 1)[0]}+r-{token}@{domain}"
        with store._tx() as db:
            db.execute("INSERT INTO reply_tokens VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (token, mail.to.key, mail.to.email.lower(), mail.message_id,
                        json.dumps({objections.OBJECTION: mail.about}, ensure_ascii=False), now.isoformat(timespec="seconds"),
                        (today + dt.timedelta(days=EXPIRY_DAYS)).isoformat()))
        return {"sentinel": reply_parse.SENTINEL, "code": f"R-{token.upper()}"}

    for mail in mails:
        if mail.kind == "minutes" and getattr(mail, "about", None):
            mail.arm = arm


# --- answers owed: recorded with the mail, cleared once sent -------------------------------------------

def owed_answer(reading: Reading) -> str:
    """What the answer to this mail is to say, as state.db keeps it until the answer went out ('' when
    nobody is answered): a run killed after reading the mail and before answering it leaves it owed."""
    if reading.sender is None or reading.outcome in ("duplicate", "automatic"):
        return ""
    lines = [{"unread": [cmd.line, cmd.why, list(cmd.readings)]} if isinstance(cmd, reply_parse.Unread)
             else {"ids": ids, "codes": list(cmd.codes), "verb": cmd.verb} for cmd, ids in reading.lines]
    return json.dumps({"outcome": reading.outcome, "why": reading.why, "sender": reading.sender.key,
                       "subject": reading.subject, "lines": lines, "token": reading.token,
                       "requester": reading.requester, "digest": reading.digest}, ensure_ascii=False)


def owed_answers(store: Store, roster: Roster, settings: Settings) -> list[tuple[str, list]]:
    """(message_id, its mails) for every mail whose answer has not gone out yet: the answer (and, for an
    initiator's decision, the requester's news), rendered with the changes as they stand now."""
    out = []
    for row in store.db().execute("SELECT message_id, received, answer FROM reply_mails WHERE answer != '' "
                                  "ORDER BY received, rowid").fetchall():
        kept = json.loads(row["answer"])
        sender = roster.people.get(kept["sender"])
        if sender is None:  # no longer in the roster: nobody to answer
            mails = []
        else:
            lines = [(reply_parse.Unread(x["unread"][0], x["unread"][1], tuple(x["unread"][2])), []) if "unread" in x
                     else (reply_parse.Command(tuple(x["codes"]), x["verb"]), x["ids"]) for x in kept["lines"]]
            reading = Reading(row["message_id"], kept["outcome"], kept["why"], sender, kept["subject"], lines,
                              kept["token"], kept["requester"], kept["digest"])
            received = dt.date.fromisoformat(row["received"][:10])  # one refusal a sender a day: the day it came
            mails = [m for m in (answer_mail(reading, store, settings, received),
                                 told_requester(reading.requester, store, roster, settings) if reading.requester else None)
                     if m]
        out.append((row["message_id"], mails))
    return out


def settle_owed(store: Store, owed: list[tuple[str, list]]) -> None:
    """Clear the answers that went out (or whose fate the ledger knows: sent, refused for good, unknown);
    a failed send stays owed for the next run."""
    from ..state.store import FINAL

    statuses = store.statuses([m.key for _, mails in owed for m in mails])
    done = [(mid,) for mid, mails in owed if all(statuses.get(m.key) in FINAL for m in mails)]
    if done:
        with store._tx() as db:
            db.executemany("UPDATE reply_mails SET answer = '' WHERE message_id = ?", done)


# --- the job ------------------------------------------------------------------------------------------

@dataclass
class RepliesResult:
    read: int = 0
    counts: dict = dc_field(default_factory=dict)  # outcome -> mails
    written: int = 0
    answers: list = dc_field(default_factory=list)
    delivery: object = None

    def summary(self) -> dict:
        """What the run log keeps (coordxl status shows the last poll)."""
        return {"read": self.read, **{f"mails_{k}": v for k, v in self.counts.items()}, "written": self.written,
                "answers": len(self.answers), "answers_sent": len(self.delivery.sent) if self.delivery else 0,
                "answers_failed": len(self.delivery.failed) if self.delivery else 0}


def run_replies(root, today: dt.date, now: dt.datetime, mailbox, transport=None) -> RepliesResult:
    """One poll: read the new mail, stage and apply what it asks, answer each mail once in its thread."""
    from ..process.roster import load_roster
    from ..send.notify import deliver, transport_or_outbox
    from ..state.layout import Layout
    from ..state.lock import job_lock

    layout = Layout.of(root)
    result = RepliesResult()
    with job_lock(layout, "replies"):
        store = layout.open_store()
        run_id = store.start_run("replies", today, now)
        outcome = "failed"
        try:
            roster = load_roster(layout.roster)
            folder = layout.settings["replies.folder"]
            mailbox.open()
            try:
                row = store.db().execute("SELECT * FROM reply_checkpoint WHERE folder = ?", (folder,)).fetchone()
                last = row["last_uid"] if row and row["uid_validity"] == mailbox.uid_validity else 0
                readings = []
                for uid, raw in mailbox.new_messages(last):
                    reading = read_mail(raw, store, roster, layout.settings, today, now)
                    readings.append(reading)
                    result.counts[reading.outcome] = result.counts.get(reading.outcome, 0) + 1
                    mailbox.mark(uid, reading.outcome != "refused" and not any(
                        isinstance(cmd, reply_parse.Unread) for cmd, _ in reading.lines))
                    with store._tx() as db:
                        db.execute("INSERT OR REPLACE INTO reply_checkpoint VALUES (?, ?, ?)",
                                   (folder, mailbox.uid_validity, uid))
                    result.read += 1
            finally:
                mailbox.close()
            result.written = apply_staged(store, layout, today, now)
            # this poll's mails and any a killed or failed run left unanswered, each answered once
            owed = owed_answers(store, roster, layout.settings)
            result.answers = [m for _, mails in owed for m in mails]
            result.answers += ask_initiators(store, roster, layout.settings, today, now)
            result.answers += objections.forwards(store, roster, layout.settings)
            if result.answers:
                sender = transport_or_outbox(transport, layout.settings, layout.state, today)
                result.delivery = deliver(result.answers, sender, store, layout.settings, today, now)
                objections.forwarded(store, result.delivery, now)
            settle_owed(store, owed)
            outcome = "findings" if result.delivery and result.delivery.failed else "ok"
        finally:
            store.finish_run(run_id, outcome, result.summary(), now)
            store.close()
    return result


# --- watching: IMAP IDLE in a long-lived process -------------------------------------------------------------

def watch_replies(root, mailbox, transport_for, stop, clock, polled=None) -> None:
    """`coordxl replies ROOT --watch`: a poll now, then wait in IMAP IDLE and poll again as soon as the
    server announces new mail (at the latest after ``replies.poll_minutes``), until ``stop`` is set. A
    failing poll after the first (the server restarting, the folder locked by the daily job) is logged and
    tried again after ``poll_minutes``; the first one's error is the caller's (a wrong password says so at once).

    ``transport_for(day)``: the answers' transport for that day; ``clock()``: the folder's local time;
    ``polled(result)``: told after each poll."""
    from ..state.layout import Layout

    first = True
    while not stop.is_set():
        settings = Layout.of(root).settings
        now = clock()
        try:
            result = run_replies(root, now.date(), now, mailbox, transport_for(now.date()))
        except Exception as exc:
            if first:
                raise
            log.error("replies: the poll failed (%s: %s); tried again in %s minutes", type(exc).__name__, exc,
                      settings["replies.poll_minutes"])
            stop.wait(settings["replies.poll_minutes"] * 60)
            continue
        first = False
        if polled:
            polled(result)
        try:
            mailbox.wait_for_mail(settings["replies.poll_minutes"] * 60, stop, _checkpoint(root, settings))
        except Exception as exc:  # the connection dropped while waiting: poll again (which says if it persists)
            log.info("replies: IDLE ended (%s: %s)", type(exc).__name__, exc)
            stop.wait(5)


def _checkpoint(root, settings: Settings) -> tuple[int, int]:
    """(UIDVALIDITY, last UID) the last poll of the replies folder got to."""
    from ..state.layout import Layout

    store = Layout.of(root).open_store()
    try:
        row = store.db().execute("SELECT * FROM reply_checkpoint WHERE folder = ?",
                                 (settings["replies.folder"],)).fetchone()
    finally:
        store.close()
    return (row["uid_validity"], row["last_uid"]) if row else (0, 0)
