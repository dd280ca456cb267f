"""`coordxl doctor ROOT`: is everything ready? One list of ✔ / ! / ✘ lines an administrator reads top down.

Each check is one small function taking the :class:`Context` and yielding :class:`Line` s; the list of
checks is data (:data:`CHECKS`), so adding one is a function and a line. Nothing is sent unless the
administrator names an address with ``--send-test``. ✘ means the administrator must act (exit 1); !
is worth a look but the jobs can run.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import smtplib
import ssl
import tempfile
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Callable, Iterable, Iterator

from . import install
from .errors import CoordxlError
from .messages import text
from .state.layout import Layout

OK, WARN, FAIL = "ok", "warn", "fail"
SHOWN_NAMES = 5  # names listed in one line; the rest are counted


@dataclass(frozen=True)
class Line:
    """One line of the list: ✔ (ok), ! (warn) or ✘ (fail), and its text (a message key and its values)."""

    status: str
    key: str
    params: tuple[tuple[str, object], ...] = ()

    def text(self, lang: str) -> str:
        return text(self.key, lang, **dict(self.params))

    def shown(self, lang: str) -> str:
        return text(f"doctor.mark.{self.status}", lang, text=self.text(lang))


def ok(key: str, **params) -> Line:
    return Line(OK, key, tuple(params.items()))


def warn(key: str, **params) -> Line:
    return Line(WARN, key, tuple(params.items()))


def fail(key: str, **params) -> Line:
    return Line(FAIL, key, tuple(params.items()))


@dataclass
class Context:
    """What the checks look at; the environment, the scheduler and the robots' HTTP client are injected."""

    layout: Layout
    today: dt.date
    environ: dict
    send_to: str | None = None
    kind: str = ""  # the scheduler to look in; "" = this system's (install.default_kind)
    installer: install.Installer | None = None
    robot_options: dict = field(default_factory=dict)  # RobotPoster's client, clock … (tests)
    keyring: Callable[[str], str] | None = None  # a channel's webhook from the OS keyring
    probe_wait: float = 60.0  # seconds a sub-address probe may take to arrive in the replies mailbox

    @property
    def settings(self):
        return self.layout.settings

    @property
    def lang(self) -> str:
        return self.layout.settings.lang


Check = Callable[[Context], Iterable[Line]]


# --- mail ---------------------------------------------------------------------------------------------


def check_mail(ctx: Context) -> Iterator[Line]:
    """The SMTP server: connection, TLS and its certificate, login; a test mail only with --send-test."""
    from .send import notify

    s = ctx.settings
    if s["email.transport"] == "outbox":
        outbox = ctx.layout.state / "outbox"
        yield warn("doctor.smtp.outbox", outbox=outbox)
        if ctx.send_to:
            transport = notify.OutboxTransport(outbox, ctx.today)
            transport.open()
            transport.send(test_mail(ctx), s["email.sender"], [ctx.send_to])
            yield ok("doctor.smtp.outbox_sent", path=transport.folder)
        return
    host, port, security, user = s["email.host"], s["email.port"], s["email.security"], s["email.user"]
    transport = notify.SmtpTransport(s, notify.smtp_password(s, ctx.environ))  # no password: ConfigError, one line
    try:
        transport.open()
    except smtplib.SMTPAuthenticationError as exc:
        yield ok("doctor.smtp.connected", host=host, port=port)
        yield from _encryption(security)
        yield fail("doctor.smtp.login_failed", user=user, error=_smtp_error(exc))
        return
    except ssl.SSLCertVerificationError as exc:
        yield ok("doctor.smtp.connected", host=host, port=port)
        yield fail("doctor.smtp.cert", error=exc.verify_message)
        return
    except (ssl.SSLError, smtplib.SMTPNotSupportedError) as exc:
        if "STARTTLS" in str(exc) or isinstance(exc, ssl.SSLError):
            yield ok("doctor.smtp.connected", host=host, port=port)
            yield fail("doctor.smtp.tls_failed", error=_smtp_error(exc))
        else:  # the server offers no AUTH at all
            yield ok("doctor.smtp.connected", host=host, port=port)
            yield from _encryption(security)
            yield fail("doctor.smtp.login_failed", user=user, error=_smtp_error(exc))
        return
    except OSError as exc:  # refused, unreachable, timed out, dropped (smtplib's errors are OSErrors too)
        yield fail("doctor.smtp.no_connect", host=host, port=port, error=_smtp_error(exc))
        return
    try:
        yield ok("doctor.smtp.connected", host=host, port=port)
        yield from _encryption(security)
        yield ok("doctor.smtp.login", user=user) if user else warn("doctor.smtp.no_login")
        if ctx.send_to:
            try:
                transport.send(test_mail(ctx), notify.header_safe(s["email.sender"]), [ctx.send_to])
            except (OSError, notify.DeliveryUnknown) as exc:
                yield fail("doctor.smtp.send_failed", error=_smtp_error(exc))
            else:
                yield ok("doctor.smtp.sent", address=ctx.send_to)
    finally:
        transport.close()


def check_replies(ctx: Context) -> Iterator[Line]:
    """The replies mailbox, when update by reply is on: login and its folder (nothing is read or marked)."""
    s = ctx.settings
    if not s["replies.enabled"]:
        return
    from .send.imap import Mailbox, imap_password

    box = Mailbox(s, imap_password(s, ctx.environ))  # no password: ConfigError, one line
    try:
        box.open()
    except Exception as exc:  # refused, unreachable, TLS, login or a missing folder: imapclient's and ssl's errors
        yield fail("doctor.replies.failed", host=s["replies.host"], port=s["replies.port"], user=s["replies.user"],
                   folder=s["replies.folder"], error=f"{type(exc).__name__}: {exc}")
        return
    try:
        yield ok("doctor.replies.ok", host=s["replies.host"], user=s["replies.user"], folder=s["replies.folder"])
        if s["replies.subaddress"]:
            yield check_subaddress(ctx, box)
    finally:
        box.close()


def check_subaddress(ctx: Context, box) -> Line:
    """``replies.subaddress = true``: a probe mailed through the configured SMTP server to
    ``<sender>+probe-…@domain`` must arrive in the replies folder (then it is deleted). Only real delivery
    shows that the server hands '+' addresses to the mailbox: otherwise every reply would bounce."""
    import secrets
    import time

    from .send import notify

    s = ctx.settings
    sender = notify.header_safe(s["email.sender"])
    local, _, domain = sender.rpartition("@")
    probe = secrets.token_hex(6)
    address = f"{local}+probe-{probe}@{domain}"
    if s["email.transport"] == "outbox":  # nothing is sent: nothing can be verified
        return warn("doctor.subaddress.outbox", address=address)
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = address
    msg["Subject"] = text("doctor.subaddress.subject", ctx.lang, probe=probe)
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid(domain=domain or None)
    msg["X-Coordxl-Key"] = hashlib.sha256(f"doctor-probe|{probe}".encode()).hexdigest()
    msg["X-Coordxl-Probe"] = probe
    msg["Auto-Submitted"] = "auto-generated"  # were it left behind, the replies job drops it silently
    msg.set_content(text("doctor.subaddress.body", ctx.lang))
    transport = notify.SmtpTransport(s, notify.smtp_password(s, ctx.environ))
    try:
        transport.open()
        transport.send(msg, sender, [address])
    except (OSError, smtplib.SMTPException, notify.DeliveryUnknown) as exc:
        return fail("doctor.subaddress.send_failed", address=address, error=_smtp_error(exc))
    finally:
        transport.close()
    deadline = time.monotonic() + ctx.probe_wait
    while True:
        found = box.client.search(["HEADER", "X-Coordxl-Probe", probe])
        if found:
            box.client.delete_messages(found)
            box.client.expunge()
            return ok("doctor.subaddress.ok", address=address, folder=s["replies.folder"])
        if time.monotonic() >= deadline:
            return fail("doctor.subaddress.missing", address=address, folder=s["replies.folder"],
                        seconds=round(ctx.probe_wait))
        time.sleep(1)


def _encryption(security: str) -> Iterator[Line]:
    yield warn("doctor.smtp.no_tls") if security == "none" else ok("doctor.smtp.tls", security=security)


def _smtp_error(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        detail = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        return f"{exc.smtp_code} {' '.join(detail.split())}"[:200]
    return f"{type(exc).__name__}: {exc}"[:200]


def test_mail(ctx: Context) -> EmailMessage:
    """The test mail: subject and text from the message table, in the folder's language."""
    msg = EmailMessage()
    msg["From"] = ctx.settings["email.sender"]
    msg["To"] = ctx.send_to
    msg["Subject"] = text("doctor.mail.subject", ctx.lang, root=ctx.layout.root.name)
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid(domain=ctx.settings["email.sender"].rpartition("@")[2] or None)
    # the key every coordxl mail carries (the outbox names its file by it); a test mail is in no ledger
    msg["X-Coordxl-Key"] = hashlib.sha256(f"doctor|{ctx.send_to}|{ctx.today}".encode()).hexdigest()
    msg.set_content(text("doctor.mail.body", ctx.lang, root=ctx.layout.root))
    return msg


test_mail.__test__ = False  # not a pytest test


# --- the chat robots ------------------------------------------------------------------------------------


def check_robots(ctx: Context) -> Iterator[Line]:
    """Each channel: its webhook is set (environment or keyring); a test post only with --send-test."""
    from .send import channels

    if not ctx.settings.channels:
        yield ok("doctor.robots.none")
        return
    keyring = ctx.keyring or channels._keyring
    for name, channel in ctx.settings.channels.items():
        if channel.transport == "outbox":
            yield warn("doctor.robot.outbox", channel=name, outbox=ctx.layout.state / "outbox")
            continue
        url = ctx.environ.get(channel.webhook_env)
        source = text("doctor.robot.source.env", ctx.lang, env=channel.webhook_env)
        if not url:
            url = keyring(name)
            source = text("doctor.robot.source.keyring", ctx.lang)
        if not url:
            yield fail("config.channel_env", channel=name, env=channel.webhook_env)
            continue
        yield ok("doctor.robot.ready", channel=name, kind=channel.kind, source=source)
        secret = ctx.environ.get(channel.secret_env, "") if channel.secret_env else ""
        if channel.secret_env and not secret:
            yield warn("doctor.robot.no_secret", channel=name, env=channel.secret_env)
        if ctx.send_to:
            yield _test_post(ctx, channel, url, secret)


def _test_post(ctx: Context, channel, url: str, secret: str) -> Line:
    from .send import channels

    lines = [channels.Line([text("doctor.robot.text", ctx.lang, root=ctx.layout.root.name)])]
    post = channels.Post(channel, text("doctor.robot.title", ctx.lang), lines, "post-test", ctx.today).seal()
    try:
        poster = channels.RobotPoster(channel, url, secret, **ctx.robot_options)
        for n, body in enumerate(channels.bodies(post), start=1):
            poster.post(post, body, n)
    except Exception as exc:  # refused, rate limited, unreachable: each is this one robot's line
        return fail("doctor.robot.post_failed", channel=channel.name, error=f"{type(exc).__name__}: {exc}"[:200])
    return ok("doctor.robot.posted", channel=channel.name)


# --- the folder ---------------------------------------------------------------------------------------


def check_writable(ctx: Context) -> Iterator[Line]:
    """The folders the jobs write: the folder itself, the items (flags), the reports, the state."""
    layout = ctx.layout
    folders = [layout.root, layout.active, layout.reports, layout.state]
    fine = []
    for folder in folders:
        shown = _shown(folder, layout.root)
        where = folder
        while not where.exists() and where != layout.root:  # the jobs make a missing folder where they need it
            where = where.parent
        try:
            with tempfile.NamedTemporaryFile(dir=where, prefix=".coordxl-doctor-", suffix=".tmp"):
                pass
        except OSError as exc:
            yield fail("doctor.not_writable", folder=shown, error=exc.strerror or type(exc).__name__)
            continue
        fine.append(shown)
    if fine:
        yield ok("doctor.writable", folders="、".join(fine) if ctx.lang == "zh" else ", ".join(fine))


def check_state_local(ctx: Context) -> Iterator[Line]:
    """The ledger (state.db, the outbox, the logs) is on this machine's disk, never on the network file
    system the folder is on: SQLite's locking and WAL are not safe there."""
    layout = ctx.layout
    if layout.state_is_local:
        key = "doctor.state.local_share" if layout.network else "doctor.state.local"
        yield ok(key, state=str(layout.state), fs=layout.network or "")
    else:
        yield fail("doctor.state.on_share", state=str(layout.state), fs=layout.network)


def _shown(folder: Path, root: Path) -> str:
    if folder == root:
        return str(root)
    try:
        return folder.relative_to(root).as_posix() + "/"
    except ValueError:
        return str(folder)


# --- the calendar ----------------------------------------------------------------------------------


def check_calendar(ctx: Context) -> Iterator[Line]:
    """This year and next have official holiday data (the library's or an imported notice); a missing
    next year is a ✘ from calendar.warn_from on, as the health list says it then."""
    from .process.calendar import WorkCalendar, year_span
    from .send.health import next_year_missing

    calendar = WorkCalendar.from_settings(ctx.settings)
    year = ctx.today.year
    root = ctx.layout.root
    if not calendar.has_data(year):
        yield fail("doctor.calendar.this_year", year=year, root=root)
    if not calendar.has_data(year + 1):
        # the health list raises it from calendar.warn_from on: from then it needs the administrator
        late = bool(next_year_missing(ctx.settings, ctx.today))
        yield (fail if late else warn)("doctor.calendar.next_year", year=year + 1, root=root)
    if calendar.has_data(year) and calendar.has_data(year + 1):
        yield ok("doctor.calendar.ok", years=year_span([year, year + 1]))


# --- the roster ------------------------------------------------------------------------------------------


def check_roster(ctx: Context) -> Iterator[Line]:
    """Everyone named in the workbooks is in the roster (F-PERSON from the folder's check), and every
    active person there has an address mail may go to (the audience's own rule)."""
    from .process.rules import Selection
    from .run.check import run_check
    from .send.audience import allowed

    layout = ctx.layout
    report = run_check(layout.root, ctx.today, Selection(), layout=layout)
    roster_name = ctx.settings["folders.roster"]
    problems = [f for f in report.findings if f.workbook == roster_name and f.is_error]
    for f in problems[:SHOWN_NAMES]:
        where = f"{f.sheet}!{f.cell}" if f.cell else (f.sheet or roster_name)
        yield fail("doctor.roster.problem", where=where, why=f.message(ctx.lang))
    unknown = [f for f in report.findings if f.code == "F-PERSON"]
    if unknown:
        first = unknown[0]
        where = "›".join(x for x in (first.workbook, first.sheet, first.cell) if x)
        yield fail("doctor.roster.unknown", n=len(unknown), first=first.message(ctx.lang), where=where,
                   root=layout.root)
    roster = report.roster
    people = [p for p in (roster.people_list if roster else []) if p.active]
    refused: dict[str, list[str]] = {}
    for person in people:
        why = allowed(person, ctx.settings)
        if why and why != "inactive":
            refused.setdefault(why, []).append(person.label)
    for why, names in refused.items():
        shown = "、".join(names[:SHOWN_NAMES]) + (f" …（{len(names)}）" if len(names) > SHOWN_NAMES else "")
        yield fail("doctor.roster.no_address", names=shown, why=text(f"health.refused.{why}", ctx.lang))
    if people and not (problems or unknown or refused):
        yield ok("doctor.roster.ok", n=len(people))


# --- the scheduled task -------------------------------------------------------------------------------


def check_schedule(ctx: Context) -> Iterator[Line]:
    """The entries `coordxl schedule --install` writes exist (or a `coordxl schedule` loop runs)."""
    from .scheduler import SchedulerLock

    kind = ctx.kind or install.default_kind()
    shown_kind = text(f"install.kind.{kind}", ctx.lang)
    plan = install.plan(ctx.layout.root, ctx.settings, kind)
    lock = SchedulerLock(ctx.layout.shared)
    holder = lock.holder()
    if holder and not lock._stale(holder):  # a `coordxl schedule` loop runs the jobs
        yield ok("doctor.task.scheduler", host=holder.get("host"), pid=holder.get("pid"))
        return
    try:
        present = (ctx.installer or install.installer(kind)).present(plan)
    except CoordxlError as exc:  # the system's command is missing or refused: cannot tell
        yield warn("doctor.task.unknown", kind=shown_kind, error=exc.say(ctx.lang))
        return
    if len(present) == len(plan.jobs):
        yield ok("doctor.task.installed", kind=shown_kind, entries=", ".join(present))
    elif present:
        yield fail("doctor.task.partial", kind=shown_kind, entries=", ".join(present), root=ctx.layout.root)
    else:
        yield fail("doctor.task.none", kind=shown_kind, root=ctx.layout.root)


# The list, in the order an administrator fixes things. Adding a check: a function above and a line here.
CHECKS: list[Check] = [check_mail, check_replies, check_robots, check_writable, check_state_local, check_calendar,
                       check_roster, check_schedule]


def run(ctx: Context, checks: Iterable[Check] | None = None) -> Iterator[Line]:
    """Every check's lines, as they come; a check stopped by something the administrator can fix (a
    CoordxlError: a missing password, an unreadable roster) is one ✘ line and the next check runs."""
    for check in CHECKS if checks is None else checks:
        try:
            yield from check(ctx)
        except CoordxlError as exc:
            yield fail("doctor.error", text=exc.say(ctx.lang))


def exit_code(lines: Iterable[Line]) -> int:
    """0 when nothing needs the administrator, 1 when a line is ✘."""
    return 1 if any(line.status == FAIL for line in lines) else 0
