"""Reminder mails: one digest per person per run, escalation, exactly-once delivery.

The daily job collects what needs saying while it reads each workbook
(notes.py's ``Collector``), then digests.py's ``build_digests`` turns that into at most one
mail per recipient, :func:`render` makes each a :class:`Mail`, and :func:`deliver` sends them
through a transport, recording each in state.db only after the server accepted it.

Messages are composed with the standard library's ``email`` package (policy
SMTP: encoded headers, and it refuses a header holding a line break); yagmail
provides the SMTP connection (SSL / STARTTLS / login) once per batch.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import io
import itertools
import logging
import os
import re
import secrets
import smtplib
import socket
import ssl
from collections import defaultdict
from dataclasses import dataclass
from email import encoders
from email.generator import BytesGenerator
from email.header import Header
from email.message import Message
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import compat32
from email.utils import formataddr, formatdate, make_msgid
from pathlib import Path
from typing import Callable, Iterable, Iterator, Protocol

from markupsafe import Markup

from ..errors import ConfigError
from ..messages import text
from ..process import assess
from ..process.calendar import WorkCalendar, estimate_note
from ..process.roster import Person
from ..settings import Settings
from ..state.layout import workbook_link
from ..state.store import Store, workbook_id
from . import delivery
from .audience import header_safe
from .delivery import Delivery, Failed
from .delivery import Unknown as DeliveryUnknown
from .digests import Digest
from .digests import build_digests as build_digests  # the daily job's names for them
from .mail_render import linked
from .mail_render import render as render_mail
from .notes import Collector as Collector
from .notes import ItemNote, TaskNote
from .notes import PendingNote as PendingNote

log = logging.getLogger(__name__)

# --- rendering -----------------------------------------------------------------------------

@dataclass
class Mail:
    key: str
    kind: str
    to: Person
    cc: list[Person]
    subject: str
    text: str
    html: str
    reasons: list[str]
    workbooks: tuple[str, ...] = ()
    attachments: tuple = ()  # paths or Attachments attached to the message (the weekly summary workbook)
    renderer: Callable[[], tuple[str, str]] | None = None  # (text, html) made when first needed
    # update by reply (replies.py): arm(mail) issues the digest's token when it is rendered and returns
    # what the templates show (task codes, how to reply); a confirmation's thread headers
    arm: Callable[["Mail"], dict] | None = None
    token: str = ""
    message_id: str = ""
    reply_to: str = ""
    headers: tuple[tuple[str, str], ...] = ()

    def bodies(self) -> tuple[str, str]:
        """The plain-text and HTML parts; a digest is rendered only when it is really sent (a rerun
        skips what went out, and a run's cap holds the rest: thousands of digests need no rendering)."""
        if self.renderer is not None:
            self.text, self.html = self.renderer()
            self.renderer = None
        return self.text, self.html

    def recipients(self) -> list[str]:
        return [header_safe(self.to.email)] + [header_safe(p.email) for p in self.cc]

    def message(self, settings: Settings, today: dt.date) -> Message:
        """The MIME message: plain text and HTML alternatives (and the attachments), non-ASCII names
        and subject as RFC 2047 words. Built with the email package's compat32 classes: the
        header-parsing API builds each one 3-4x slower, which a first run with hundreds of digests
        feels (measured 2.4 ms vs 0.7 ms a message)."""
        sender = header_safe(settings["email.sender"])
        plain, html = self.bodies()  # first: a digest's reply token is issued as it is rendered
        msg = MIMEMultipart("mixed" if self.attachments else "alternative", policy=compat32)
        msg["From"] = formataddr(("coordxl", sender))
        msg["Reply-To"] = self.reply_to or sender
        msg["To"] = formataddr((header_safe(self.to.name), header_safe(self.to.email)), charset="utf-8")
        if self.cc:
            msg["Cc"] = ", ".join(formataddr((header_safe(p.name), header_safe(p.email)), charset="utf-8")
                                  for p in self.cc)
        subject = header_safe(self.subject)
        msg["Subject"] = subject if subject.isascii() else Header(subject, "utf-8")
        msg["Date"] = formatdate(localtime=True)
        msg["Message-ID"] = self.message_id or make_msgid(idstring=self.key[:16],
                                                          domain=sender.rsplit("@", 1)[-1] or None)
        msg["X-Coordxl-Key"] = self.key
        msg["X-Coordxl-Kind"] = self.kind  # digest | escalation | weekly: for mail rules
        for name, value in self.headers:
            msg[name] = value
        body = msg if not self.attachments else MIMEMultipart("alternative", policy=compat32)
        body.attach(_text_part(plain, "plain"))
        body.attach(_text_part(html, "html"))
        if self.attachments:
            msg.attach(body)
        for attached in self.attachments:
            msg.attach((attached if isinstance(attached, Attachment) else Attachment(attached)).part())
        return msg


XLSX = "vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class Attachment:
    """A workbook attached to mails, read and base64-encoded once however many mails carry it: the weekly's
    goes to every reader, and the email package's encoding of it cost ~65 ms and 8x its size in memory a
    mail (3.4 MB at 300 items). Each message gets a part of its own holding the same encoded text, byte for
    byte what the email package makes."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self._encoded: str | None = None

    def part(self) -> MIMEApplication:
        if self._encoded is None:  # the first mail sent
            self._encoded = base64_lines(self.path.read_bytes())
        part = AttachedPart(b"", XLSX, _encoder=encoders.encode_noop, policy=compat32)
        part.set_payload(self._encoded)
        part["Content-Transfer-Encoding"] = "base64"  # where encode_base64 puts it: after the type
        part.add_header("Content-Disposition", "attachment", filename=("utf-8", "", self.path.name))
        return part


class AttachedPart(MIMEApplication):
    """An attachment whose payload is an Attachment's encoded text, the one every mail shares: wire_pieces() writes it
    straight from that text."""


def wire_pieces(msg: Message) -> Iterator[bytes]:
    """The message as it goes over SMTP, in pieces: byte for byte msg.as_bytes() with CRLF line ends. The email
    package's generator holds three or four copies of an attached workbook at once (each part flattened to a
    buffer of its own, then copied into its parent's); here the message is flattened with a short stand-in for
    each shared attachment text, which is then written from that text a block at a time."""
    held = [part for part in msg.walk() if isinstance(part, AttachedPart)]
    texts = [part.get_payload() for part in held]
    tokens = [f"coordxl-attachment-{secrets.token_hex(12)}" for _ in held]
    out = io.BytesIO()
    try:
        for part, token in zip(held, tokens):
            part.set_payload(token)
        BytesGenerator(out, mangle_from_=False, policy=msg.policy.clone(linesep="\r\n")).flatten(msg)
    finally:
        for part, text_ in zip(held, texts):
            part.set_payload(text_)
    flat = out.getvalue()
    for token, text_ in zip(tokens, texts):
        before, flat = flat.split(token.encode("ascii"), 1)
        yield before
        block = 77 * 1024  # the generator writes each line of the text (no CR in base64) with CRLF
        for start in range(0, len(text_), block):
            yield text_[start:start + block].replace("\n", "\r\n").encode("ascii")
    yield flat


def base64_lines(data: bytes) -> str:
    """``data`` in base64 lines, exactly as the email package's encode_base64 writes them (base64.encodebytes:
    76 characters a line), a block at a time: the email package first turns the bytes into a str of
    surrogates and keeps every line as an object of its own before joining them, 29 MB at its peak for a
    3.4 MB workbook where this takes 12 MB (and 13 ms instead of 53)."""
    out = io.StringIO()
    block = 57 * 1024  # whole 57-byte lines: the line breaks fall where encoding the whole would put them
    for start in range(0, len(data), block):
        out.write(base64.encodebytes(data[start:start + block]).decode("ascii"))
    return out.getvalue()


def _text_part(content: str, subtype: str) -> MIMEText:
    """A text part in UTF-8, base64-encoded (no line is ever too long for a mail server), its lines
    ending in CRLF as RFC 2046 has text in canonical form."""
    content = content.replace("\r\n", "\n")
    content = (content if content.endswith("\n") else content + "\n").replace("\n", "\r\n")
    return MIMEText(content, subtype, "utf-8", policy=compat32)


def subject_for(d: Digest, lang: str, items: dict[str, ItemNote] | None = None) -> str:
    if d.kind == "escalation":
        workbooks = list(dict.fromkeys(n.workbook for n in d.tasks))
        topics = [items[w].topic if items and w in items else w for w in workbooks]
        shown = ("、" if lang == "zh" else ", ").join(topics[:2])
        if len(topics) > 2:
            shown = text("mail.and_more_items", lang, items=shown, n=len(topics))
        return text("mail.escalation_subject", lang, topics=shown, n=len(d.tasks))
    counts = defaultdict(int)
    for note in d.tasks:
        counts[note.state] += 1
    parts = []
    for state in sorted(counts, key=assess.URGENCY.__getitem__):  # overdue, due today, due soon, stale
        parts.append(text(f"mail.n_{state}", lang, n=counts[state]))
    if d.errors:
        parts.append(text("mail.n_errors", lang, n=sum(len(v) for v in d.errors.values())))
    if d.pending:
        parts.append(text("mail.n_pending", lang, n=len(d.pending)))
    if d.overdue_summary and not counts[assess.OVERDUE]:
        parts.append(text("mail.n_item_overdue", lang, n=sum(d.overdue_summary.values())))
    if d.reassign:
        parts.append(text("mail.n_reassign", lang, n=len(d.reassign)))
    if d.objections:
        parts.append(text("objection.n", lang, n=len(d.objections)))
    sep = "、" if lang == "zh" else ", "
    return text("mail.subject", lang, summary=sep.join(parts))


def render(d: Digest, today: dt.date, settings: Settings, items: dict[str, ItemNote]) -> Mail:
    """The digest as a mail: its subject and key now, its text and HTML when it is sent (a rerun or
    a run's cap leaves thousands of digests that never need them)."""
    lang = settings.lang
    limit = settings["reminders.max_tasks_per_mail"]
    share = settings["general.share_url"]
    subject = subject_for(d, lang, items)
    # the key: who, what kind, which day, and a digest of everything the mail says (its data, so it is
    # known without rendering): a rerun with the same content sends nothing, a change sends anew
    # — each workbook by its identity in the folder, never its local path (the same folder under another
    # name, a symlink or another host's mount point sends nothing again)
    named = _workbooks(d)
    said = repr(([_said(n) for n in d.tasks[:limit]], len(d.tasks),
                 sorted(((workbook_id(k), [(f.code, f.sheet, f.cell, f.message_zh) for f in v])
                        for k, v in d.errors.items()), key=_first),
                 sorted(((workbook_id(k), n) for k, n in d.overdue_summary.items()), key=_first),
                 sorted(((workbook_id(k), [_said(n) for n in v[:limit]]) for k, v in d.item_overdue.items()),
                        key=_first),
                 [_said(p) for p in d.pending], [_said(n) for n in sorted(d.reassign, key=_reassign_order)],
                 sorted(d.reasons), sorted(d.behalf), lang, share,
                 sorted(_said(items[k]) for k in named if k in items)))
    if d.objections:  # objections to minutes (run/replies.py); without any, the key is as it always was
        said += repr([sorted(o.items()) for o in d.objections])
    digest = hashlib.sha256(said.encode("utf-8")).hexdigest()[:16]
    key = hashlib.sha256(f"{d.person.email.lower()}|{d.kind}|{today.isoformat()}|{digest}".encode()).hexdigest()
    mail = Mail(key, d.kind, d.person, [], subject, "", "", sorted(d.reasons), tuple(sorted(named)))
    mail.renderer = lambda: _digest_bodies(d, today, lang, limit, share, items, _estimate(d, today, settings),
                                           mail.arm(mail) if mail.arm else None)
    return mail


def _said(note) -> tuple:
    """A task, item or resource note as a mail's key reads it: its workbook by identity, its local path left out."""
    names = _NOTE_FIELDS.get(type(note))
    if names is None:
        names = _NOTE_FIELDS[type(note)] = tuple(f.name for f in dataclasses.fields(note) if f.name not in _UNSAID)
    return (workbook_id(note.workbook), *(getattr(note, name) for name in names))


_NOTE_FIELDS: dict[type, tuple[str, ...]] = {}
_UNSAID = ("workbook", "path", "group")  # not what a mail says: its local path, the chat group an item posts to


def _first(pair: tuple):
    return pair[0]


def _estimate(d: Digest, today: dt.date, settings: Settings) -> str:
    """The estimate phrase when a count the digest shows touched a year without official holiday data."""
    # a count runs from today to a due date (overdue, due soon), or back to an update or a request
    # each far end once: thousands of tasks share a few due dates
    counted = {n.due if n.state in COUNTED_TO_DUE and n.due else today
               for n in itertools.chain(d.tasks, *d.item_overdue.values())}
    if d.pending:
        counted.add(today)
    return estimate_note(WorkCalendar.from_settings(settings), settings.lang, today, counted)


COUNTED_TO_DUE = (assess.OVERDUE, assess.DUE_SOON)


def _reassign_order(note: TaskNote) -> tuple:
    return note.workbook, note.task_id, note.cell


def _digest_bodies(d: Digest, today: dt.date, lang: str, limit: int, share: str, items: dict[str, ItemNote],
                   estimate: str = "", reply: dict | None = None) -> tuple[str, str]:
    """A digest's plain-text and HTML bodies; ``reply``: the task codes and how to reply (replies.py)."""
    t = lambda key, **kw: text(key, lang, **kw)  # noqa: E731
    groups: dict[str, list[TaskNote]] = defaultdict(list)
    for note in d.tasks[:limit]:  # most urgent first; a phone screen is not a spreadsheet
        groups[note.workbook].append(note)
    more = max(0, len(d.tasks) - limit)
    room = limit  # the initiator's list of their items' overdue tasks shares the cap, most overdue first
    item_overdue = {}
    for workbook, notes in d.item_overdue.items():
        if room > 0:
            item_overdue[workbook] = notes[:room]
            room -= len(item_overdue[workbook])
    where = lambda workbook: workbook_link(share, workbook)[1]  # noqa: E731

    def topic_link(workbook: str) -> Markup:
        return linked(workbook_link(share, workbook)[0], items[workbook].topic if workbook in items else workbook)

    def cell_link(n: TaskNote) -> Markup:
        href, full = workbook_link(share, n.workbook, n.sheet, n.cell)
        return linked(href, f"{full} › {n.sheet} › {n.cell}")

    context = dict(
        where=where, topic_link=topic_link, cell_link=cell_link, item_overdue=item_overdue,
        person=d.person, today=today, groups=groups, items=items, errors=d.errors,
        overdue_summary=d.overdue_summary, pending=d.pending, reasons=sorted(d.reasons),
        state_label=lambda s: t(f"mail.state.{s}"), days_text=_days_text(lang),
        why=("；" if lang == "zh" else "; ").join(t(f"mail.why.{r}") for r in sorted(d.reasons)),
        more=more, kind=d.kind, reassign=sorted(d.reassign, key=_reassign_order),
        escalated_days=min((n.days for n in d.tasks), default=0), behalf=sorted(d.behalf), estimate=estimate,
        reply=reply, objections=d.objections,
    )
    return render_mail("digest", context, lang)


def _workbooks(d: Digest) -> set[str]:
    return ({n.workbook for n in d.tasks} | set(d.errors) | set(d.overdue_summary) | {p.workbook for p in d.pending}
            | {n.workbook for n in d.reassign})


def _days_text(lang: str):
    return lambda note: note.flag(lang)


# --- transports ----------------------------------------------------------------------------

class Transport(Protocol):
    name: str

    def open(self) -> None: ...
    def send(self, msg: Message, sender: str, recipients: list[str]) -> dict: ...
    def close(self) -> None: ...


class OutboxTransport:
    """Writes each message as an RFC 5322 .eml file under .coordxl/outbox/<date>/ instead of sending."""

    name = "outbox"

    def __init__(self, folder: Path, today: dt.date):
        self.folder = Path(folder) / today.isoformat()

    def open(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)

    def send(self, msg: Message, sender: str, recipients: list[str]) -> dict:
        key = msg["X-Coordxl-Key"][:12]
        name = re.sub(r"[^A-Za-z0-9@._-]", "_", recipients[0])
        path = self.folder / f"{name}-{key}.eml"
        tmp = path.with_suffix(".tmp")
        with open(tmp, "wb") as fh:  # as it goes over SMTP, written as it is made: a weekly mail with its
            # workbook is never held whole as bytes
            fh.writelines(wire_pieces(msg))
        os.replace(tmp, path)
        return {}

    def close(self) -> None:
        pass


class SmtpTransport:
    """SMTP through yagmail's connection handling: one login per batch, sendmail per message."""

    name = "smtp"

    def __init__(self, settings: Settings, password: str | None):
        self.settings = settings
        self.password = password
        self.timeout = settings["email.timeout_seconds"]
        self.data_timeout = settings["email.data_timeout_seconds"]
        self.client = None

    def open(self) -> None:
        import yagmail

        s = self.settings
        security = s["email.security"]
        skip_login = not s["email.user"]
        # the certificate and the host name are verified (system trust store, or email.ca_file) before
        # the password is sent; smtplib alone would accept any certificate
        tls = tls_context(s["email.ca_file"]) if security in ("ssl", "starttls") else None
        extra = {"context": tls} if security == "ssl" else {}
        self.client = yagmail.SMTP(
            user=s["email.user"] or s["email.sender"], password=self.password or "", host=s["email.host"],
            port=s["email.port"], smtp_ssl=security == "ssl",
            smtp_starttls={"context": tls} if security == "starttls" else False,
            smtp_skip_login=skip_login, timeout=self.timeout, soft_email_validation=False, **extra)
        # yagmail turns a login without "@" into <login>@gmail.com: the server gets the login as written
        # (a bare user name, DOMAIN\user)
        self.client.user = s["email.user"] or s["email.sender"]
        self.client.login()

    def send(self, msg: Message, sender: str, recipients: list[str]) -> dict:
        """smtplib's sendmail, step by step, so that the one ambiguous moment is told apart: once the
        message's content went out, a missing answer (waited for up to email.data_timeout_seconds, as
        RFC 5321 §4.5.3.2 asks) raises DeliveryUnknown rather than an error that would be retried."""
        smtp = self.client.smtp
        smtp.sock.settimeout(self.timeout)
        smtp.ehlo_or_helo_if_needed()
        payload = b"".join(wire_pieces(msg))
        options = [f"size={len(payload)}"] if smtp.does_esmtp and smtp.has_extn("size") else []
        code, reply = smtp.mail(sender, options)
        if code != 250:
            smtp.rset()
            raise smtplib.SMTPSenderRefused(code, reply, sender)
        refused = {}
        for address in recipients:
            code, reply = smtp.rcpt(address)
            if code not in (250, 251):
                refused[address] = (code, reply)
        if len(refused) == len(recipients):
            smtp.rset()
            raise smtplib.SMTPRecipientsRefused(refused)
        code, reply = smtp.docmd("data")
        if code != 354:
            smtp.rset()
            raise smtplib.SMTPDataError(code, reply)
        body = re.sub(rb"(?m)^\.", b"..", payload)
        if not body.endswith(b"\r\n"):
            body += b"\r\n"
        smtp.send(body + b".\r\n")
        smtp.sock.settimeout(self.data_timeout)
        try:
            code, reply = smtp.getreply()
        except (smtplib.SMTPServerDisconnected, OSError) as exc:  # smtplib turns a timeout into a disconnect
            raise DeliveryUnknown(f"no answer from the server within {self.data_timeout} s after the message "
                                  f"was sent ({exc}); it may have been delivered") from exc
        if code != 250:
            smtp.rset()
            raise smtplib.SMTPDataError(code, reply)
        return refused

    def close(self) -> None:
        if self.client is not None:
            try:
                self.client.close()
            except Exception:  # a dropped connection cannot be closed politely
                pass
            self.client = None


def tls_context(ca_file: str = "") -> ssl.SSLContext:
    """A client context that verifies the server's certificate and host name."""
    try:
        return ssl.create_default_context(cafile=ca_file or None)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(key="config.ca_file", path=ca_file, error=exc) from None


def smtp_password(settings: Settings, environ: dict) -> str | None:
    """The SMTP password: from the environment variable named in settings, else the OS keyring; never prompted."""
    return login_password(settings, environ, "email", "coordxl")


def login_password(settings: Settings, environ: dict, section: str, service: str) -> str | None:
    """A login's password (``section``: "email" or "replies"): from the environment variable its
    ``password_env`` names, else the OS keyring under ``service``; never prompted. None without a user."""
    user = settings[f"{section}.user"]
    if not user:
        return None
    name = settings[f"{section}.password_env"]
    if environ.get(name):
        return environ[name]
    try:
        import keyring
        secret = keyring.get_password(service, user)
    except Exception:  # no keyring backend on a server is normal
        secret = None
    if secret:
        return secret
    raise ConfigError(text("config.no_password", settings.lang, env=name, user=user))


@dataclass(frozen=True)
class TransportKind:
    """One value of email.transport: how its transport is made, and whether that reads a secret (a
    password from the environment or the keyring), which only the CLI and jobs/ may do."""

    make: Callable[[Settings, Path, dt.date, dict], Transport]
    reads_secrets: bool = False


# email.transport's values (settings.py lists the same names): a new transport is one entry here
TRANSPORTS: dict[str, TransportKind] = {
    "outbox": TransportKind(lambda settings, state_dir, today, environ: OutboxTransport(Path(state_dir) / "outbox", today)),
    "smtp": TransportKind(lambda settings, state_dir, today, environ: SmtpTransport(settings, smtp_password(settings, environ)),
                          reads_secrets=True),
}


def transport_or_outbox(transport: Transport | None, settings: Settings, state_dir: Path, today: dt.date) -> Transport:
    """The transport a job was given, or, for library callers, the one the settings name when it needs
    no secret (the outbox); smtp without a transport is refused (only the CLI and jobs/ read the
    password). One rule for the daily, weekly and admin mails alike."""
    if transport is not None:
        return transport
    kind = TRANSPORTS[settings["email.transport"]]
    if kind.reads_secrets:
        raise ConfigError(key="config.smtp_library")
    return kind.make(settings, Path(state_dir), today, {})


def make_transport(settings: Settings, state_dir: Path, today: dt.date, environ: dict) -> Transport:
    """The mail transport email.transport names, its secrets read from ``environ`` (or the keyring)."""
    return TRANSPORTS[settings["email.transport"]].make(settings, Path(state_dir), today, environ)


# --- delivery: mail through the one seam (delivery.py) ----------------------------------------

CONNECTION_ERRORS = (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError, ConnectionError, socket.timeout,
                     TimeoutError, OSError)


class MailCourier:
    """Mail as delivery.py carries it: a transport (the outbox or SMTP) and what its errors mean."""

    def __init__(self, transport: Transport, settings: Settings, today: dt.date):
        self.transport, self.settings, self.today = transport, settings, today
        self.name = transport.name
        self.sender = header_safe(settings["email.sender"])

    def open(self) -> None:
        try:
            self.transport.open()
        except smtplib.SMTPAuthenticationError as exc:
            raise Failed(f"authentication failed: {exc.smtp_code}", "courier") from exc
        except ssl.SSLCertVerificationError as exc:
            raise Failed(f"the mail server's certificate was refused ({exc.verify_message}); nothing was sent. "
                         f"If it is signed by your company's CA, set email.ca_file", "courier") from exc
        except ConfigError:
            raise
        except Exception as exc:
            raise Failed(f"cannot connect: {type(exc).__name__}: {exc}", "courier") from exc

    def carry(self, mail: Mail, pending: list[str]) -> dict[str, int]:
        try:
            refused = self.transport.send(mail.message(self.settings, self.today), self.sender, pending) or {}
        except DeliveryUnknown:
            raise
        except smtplib.SMTPRecipientsRefused as exc:
            refused = exc.recipients  # nobody took it
        except (smtplib.SMTPDataError, smtplib.SMTPSenderRefused) as exc:
            raise Failed(f"{type(exc).__name__}: {exc.smtp_code}") from exc
        except CONNECTION_ERRORS as exc:
            raise Failed(f"{type(exc).__name__}: {exc}", "connection") from exc
        except smtplib.SMTPException as exc:  # any other refusal: this mail failed, its claim is released
            raise Failed(f"{type(exc).__name__}: {exc}") from exc
        return {address: code for address, (code, _) in refused.items()}

    def close(self) -> None:
        self.transport.close()


def deliver(mails: Iterable[Mail], transport: Transport, store: Store, settings: Settings, today: dt.date,
            now: dt.datetime, resend: bool = False) -> Delivery:
    """Send each mail once (delivery.deliver): skip what was sent, record after the server accepted,
    keep failures for the next run, at most reminders.max_mails_per_run a run."""
    return delivery.deliver(mails, MailCourier(transport, settings, today), store, today, now, resend=resend,
                            cap=settings["reminders.max_mails_per_run"])
