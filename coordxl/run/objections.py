"""Objections to the minutes, by reply (#32).

A minutes mail carries its reader's reply token (run/replies.py: arm_minutes); `coordxl replies` reads
a reply to it as an objection (:func:`objection`): recorded as a reply_changes row (verb 'objection'),
confirmed to the replier in one line (:func:`objection_line`), forwarded once to the item's initiator in
the thread of their own minutes, answering to the objector (:func:`forwards`, through the delivery
ledger), and listed in the initiator's next daily digests until the minutes go out again
(:func:`open_objections`, :func:`with_objections`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re

from ..messages import text
from ..process import reply_parse
from ..process.roster import Person, Roster
from ..send.audience import Audience
from ..settings import Settings
from ..state import meetings
from ..state.store import Store

OBJECTION = "objection"
OBJECTIONS_LISTED_DAYS = 7  # an objection the minutes were not updated for is listed in the digests this long
_OBJECTION_WORD = re.compile(r"^\s*(?:异议|有异议|objection)\s*[:：,，]?\s*", re.I)
_ACKNOWLEDGED = re.compile(r"^(?:收到|好的?|已阅|已收到|谢谢|感谢|无异议|没有异议|ok|okay|noted|got it|thanks?|thank you|"
                           r"no objections?)[\s,，。.!！~～]*(?:谢谢|thanks?)?[。.!！~～]*$", re.I)


def objection(reading, about: dict, full: str, store: Store, audience: Audience, today: dt.date,
              now: dt.datetime) -> None:
    """Record a reply to the minutes: the text above the quote (a leading 异议/objection dropped), or the
    lines starting 异议 anywhere unquoted; a bare acknowledgement (收到, OK) is no objection, nor is what
    the initiator writes to their own copy (there is nobody to forward it to)."""
    said = reply_parse.cut(full)
    if not said:
        said = "\n".join(x for x in full.splitlines() if _OBJECTION_WORD.match(x) and not x.lstrip().startswith(">"))
    said = _OBJECTION_WORD.sub("", said.strip(), count=1).strip()
    if not said:
        reading.why = "objection_empty"
        return
    initiator = audience.person(about.get("initiator") or "")
    if _ACKNOWLEDGED.match(reply_parse.normalized(said)) or (
            initiator is not None and reading.sender is not None and reading.sender.key == initiator.key):
        reading.outcome = "acknowledged"
        return
    reading.outcome = "accepted"
    value = {"text": said, "on": today.isoformat(), "late": today.isoformat() > about["by"],
             "routed": initiator is not None and audience.mailable(initiator)}  # an initiator without an address cannot be told: the answer says so
    with store._tx() as db:
        cur = db.execute(
            "INSERT INTO reply_changes (message_id, code, verb, workbook, path, sheet, row, shown, value, sender, "
            "status, detail, updated) VALUES (?, ?, ?, ?, '', ?, 0, ?, ?, ?, ?, ?, ?)",
            (reading.message_id, f"M{about['index']}", OBJECTION, about["workbook"], about["sheet"],
             json.dumps({**about, "thread": reading.digest}, ensure_ascii=False), json.dumps(value, ensure_ascii=False),
             reading.sender.label if reading.sender else "", OBJECTION,
             reading.sender.email.lower() if reading.sender else "", now.isoformat(timespec="seconds")))
    reading.lines.append((reply_parse.Command((f"M{about['index']}",), OBJECTION, text=said), [cur.lastrowid]))


def _initiator(roster: Roster, about: dict, settings: Settings | None = None) -> Person | None:
    """The item's initiator, when the audience lets coordxl mail them (an address, in the allowed domains, not gone)."""
    return Audience(roster, settings).recipient(about.get("initiator") or "")


def objection_line(reading, store: Store, lang: str) -> str:
    """The one line confirming an objection to its sender; '' when the mail was no objection."""
    ids = [i for cmd, ids in reading.lines if getattr(cmd, "verb", "") == OBJECTION for i in ids]
    if not ids:
        return ""
    row = store.db().execute("SELECT * FROM reply_changes WHERE id = ?", (ids[0],)).fetchone()
    about, value = json.loads(row["shown"]), json.loads(row["value"])
    key = ("objection.confirmed_unrouted" if not value.get("routed", True)
           else "objection.confirmed_late" if value["late"] else "objection.confirmed")
    return text(key, lang, topic=about["topic"], initiator=about.get("initiator") or "-", by=about["by"])


def forwards(store: Store, roster: Roster, settings: Settings) -> list:
    """One mail to the item's initiator for each objection not yet forwarded, in the minutes' thread
    (the initiator's own minutes mail), answering to the objector; keyed by the reply, so sent once."""
    from ..send import mail_render
    from ..send.notify import Mail

    lang = settings.lang
    t = lambda key, **kw: text(key, lang, **kw)  # noqa: E731
    out = []
    for row in store.db().execute("SELECT * FROM reply_changes WHERE verb = ? AND status = ? ORDER BY id",
                                  (OBJECTION, OBJECTION)).fetchall():
        about, value = json.loads(row["shown"]), json.loads(row["value"])
        initiator = _initiator(roster, about, settings)
        if initiator is None:
            continue  # no initiator to tell (the 需求单's 发起人 not in the roster): F-PERSON says so
        own = store.db().execute("SELECT message_id, tasks FROM reply_tokens WHERE person = ? AND tasks LIKE ? "
                                 "ORDER BY issued DESC", (initiator.key, f'%"{about["uid"]}"%')).fetchone()
        thread = [x for x in (own["message_id"] if own else "", row["message_id"]) if x]
        who = row["sender"]
        context = dict(t=t, lang=lang, person=initiator, who=who, about=about, said=value["text"], late=value["late"],
                       on=value["on"], estimate="")
        subject = t("objection.subject_late" if value["late"] else "objection.subject", who=who, topic=about["topic"])
        headers = [("In-Reply-To", thread[0]), ("References", " ".join(thread)), ("Auto-Submitted", "auto-generated")]
        mail = Mail(hashlib.sha256(f"minutes-objection|{row['message_id']}".encode()).hexdigest(), OBJECTION, initiator,
                    [], subject, "", "", [OBJECTION], (about["workbook"],), headers=tuple(headers),
                    renderer=lambda c=context: mail_render.render("objection", c, lang))
        mail.reply_to = row["detail"]  # the initiator's answer goes to the objector, not to coordxl
        mail.change_id = row["id"]
        out.append(mail)
    return out


def forwarded(store: Store, delivery, now: dt.datetime) -> None:
    """Objections whose forward went out (now or in an earlier run the ledger remembers) are done."""
    done = [m.change_id for m in list(delivery.sent) + list(delivery.skipped) if getattr(m, "change_id", None)]
    if done:
        with store._tx() as db:
            db.executemany("UPDATE reply_changes SET status = 'forwarded', updated = ? WHERE id = ?",
                           [(now.isoformat(timespec="seconds"), i) for i in done])


def open_objections(store: Store | None, settings: Settings, today: dt.date) -> list[dict]:
    """The objections of the last week for the initiators' digests, each until the minutes it objects to
    are sent again (updated) after it: (initiator, workbook, who, on, late, topic, text)."""
    if store is None or not settings["replies.enabled"]:
        return []
    since = (today - dt.timedelta(days=OBJECTIONS_LISTED_DAYS)).isoformat()
    out = []
    for row in store.db().execute("SELECT * FROM reply_changes WHERE verb = ? ORDER BY id", (OBJECTION,)).fetchall():
        about, value = json.loads(row["shown"]), json.loads(row["value"])
        if not since <= value["on"] < today.isoformat():
            continue  # older, or arrived today: the initiator has the forward; tomorrow's digest lists it
        # the days are the jobs' own (a run's --today), so compared as days: minutes sent the day after
        if not meetings.minutes_resent(store, about["uid"], value["on"]):
            out.append({"initiator": about.get("initiator") or "", "workbook": about["workbook"], "who": row["sender"],
                        "on": value["on"], "late": value["late"], "topic": about["topic"], "text": value["text"]})
    return out


def with_objections(digests: list, objections: list[dict], roster: Roster | None, settings: Settings,
                    today: dt.date) -> list:
    """The initiators' digests with their items' open objections (a digest of their own if they had none)."""
    if not objections or roster is None:
        return digests
    from ..send.notify import Digest

    mine = {d.person.key: d for d in digests if d.kind == "digest"}
    audience = Audience(roster, settings, today)
    for o in objections:
        person = audience.recipient(o["initiator"])
        if person is None:
            continue
        if person.key not in mine:
            mine[person.key] = Digest(person)
            digests = [*digests, mine[person.key]]
        said = re.sub(r"\s*\n\s*", "" if settings.lang == "zh" else " ", o["text"])  # one line; the forward has it all
        mine[person.key].objections.append({**o, "text": said if len(said) <= 120 else said[:119] + "…"})
        mine[person.key].reasons.add("initiator")
    return sorted(digests, key=lambda d: (d.person.key, d.kind))
