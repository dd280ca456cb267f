"""Reading a reply to a digest: its body as text, cut above the quoted digest, and its command lines.

Pure functions, no I/O. :func:`body_text` picks the part a person wrote (text/plain first; HTML
only when there is no plain part, after its quoted blocks are cut away), :func:`cut` keeps what
is above the sentinel line or the first quote header of the common Chinese and English clients,
and :func:`parse` reads one command a line::

    T3 完成
    【T5】延期到 1月15日 原因：等供应商
    T2、T4 50%
"""

from __future__ import annotations

import datetime as dt
import html
import re
import unicodedata
from dataclasses import dataclass
from email.message import Message
from html.parser import HTMLParser

from ..normalize import parse_date

SENTINEL = "—— 请在此线以上回复 / Reply above this line ——"

# --- the body ----------------------------------------------------------------------------------

# mail labelled GB2312 (or GBK) is often written by a client that used GB18030 characters
_CHARSETS = {"gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "cp936": "gb18030", "euc-cn": "gb18030"}


def _decoded(part: Message) -> str:
    raw = part.get_payload(decode=True) or b""
    charset = (part.get_content_charset() or "utf-8").lower()
    charset = _CHARSETS.get(charset, charset)
    try:
        return raw.decode(charset, errors="replace")
    except LookupError:
        return raw.decode("utf-8", errors="replace")


def body_text(msg: Message) -> str:
    """What the sender wrote, as text: the first text/plain part that is not an attachment, else the
    first HTML part turned to text after its quoted blocks are cut. Attachments are never read."""
    plain = html_part = None
    for part in msg.walk():
        if part.is_multipart():
            continue
        if part.get_content_disposition() == "attachment":
            continue
        kind = part.get_content_type()
        if kind == "text/plain" and plain is None:
            plain = part
        elif kind == "text/html" and html_part is None:
            html_part = part
    if plain is not None:
        return _decoded(plain)
    if html_part is not None:
        return html_to_text(_decoded(html_part))
    return ""


# the quoted original in HTML replies: a blockquote, Outlook's divRplyFwdMsg (and its separator
# above it), QQ/Foxmail's 原始邮件 block and Gmail's gmail_quote
_HTML_QUOTE = re.compile(
    r"<blockquote\b|<div[^>]*id=[\"']?divRplyFwdMsg|<div[^>]*class=[\"'][^\"']*gmail_quote|"
    r"<div[^>]*(?:id|class)=[\"']?(?:appendonsend|mail-quote|ntes-mailmaster-quote|QQMailQuote)|"
    r"<hr[^>]*(?:id=[\"']?stopSpelling|tabindex)|-{3,}\s*原始邮件\s*-{3,}|-{3,}\s*Original Message\s*-{3,}",
    re.IGNORECASE)


class _Text(HTMLParser):
    BLOCK = {"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "table", "hr"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("style", "script", "head", "title"):
            self.skip += 1
        elif tag in self.BLOCK:
            self.out.append("\n")

    def handle_endtag(self, tag):
        if tag in ("style", "script", "head", "title"):
            self.skip = max(0, self.skip - 1)
        elif tag in self.BLOCK:
            self.out.append("\n")

    def handle_data(self, data):
        if not self.skip:
            self.out.append(data)


def html_to_text(markup: str) -> str:
    """An HTML reply's own words: cut at its first quoted block, then its text, one block a line."""
    m = _HTML_QUOTE.search(markup)
    if m:
        markup = markup[:m.start()]
    parser = _Text()
    parser.feed(markup)
    parser.close()
    text = html.unescape("".join(parser.out)).replace("\xa0", " ")
    return "\n".join(line.strip() for line in text.splitlines())


# --- the cutter --------------------------------------------------------------------------------

_SEPARATOR = re.compile(r"^\s*-{2,}\s*(原始邮件|Original Message|转发邮件|Forwarded message)\s*-{2,}\s*$", re.I)
_SENTINEL = re.compile(r"请在此线以上回复|Reply above this line", re.I)
_WROTE_ZH = re.compile(r"写道\s*[:：]\s*$")
_WROTE_EN = re.compile(r"\bwrote\s*:\s*$", re.I)
_FROM = re.compile(r"^\s*\*?\s*(发件人|From)\s*\*?\s*[:：]", re.I)
_SENT = re.compile(r"^\s*\*?\s*(发送时间|时间|日期|Sent|Date)\s*\*?\s*[:：]", re.I)


def cut(text: str) -> str:
    """The lines above the sentinel or the first quote header, '>' lines left out.

    >>> cut("T3 完成\\n\\n在 2026年12月7日，09:05，协调助手 <a@b> 写道：\\n> T3 ...")
    'T3 完成'
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    kept: list[str] = []
    for i, line in enumerate(lines):
        if line.lstrip().startswith(">"):  # quoted: left out (a bottom-posted answer below it is read)
            continue
        if _SENTINEL.search(line) or _SEPARATOR.match(line):
            break
        if _FROM.match(line) and any(_SENT.match(nxt) for nxt in lines[i + 1:i + 5]):
            break
        if _WROTE_ZH.search(line) or _WROTE_EN.search(line):
            if len(line.strip()) < 12 and kept and kept[-1].strip():  # a header wrapped over two lines
                kept.pop()
            break
        if (re.match(r"^\s*(在|于|On)\b|^\s*(在|于)", line, re.I)
                and i + 1 < len(lines) and (_WROTE_ZH.search(lines[i + 1]) or _WROTE_EN.search(lines[i + 1]))):
            break
        kept.append(line)
    return "\n".join(kept).strip()


# --- the grammar -------------------------------------------------------------------------------

DONE, STARTED, PERCENT, POSTPONE, SNOOZE, BLOCKED, NOTE, UNDO = (
    "done", "started", "percent", "postpone", "snooze", "blocked", "note", "undo")
ALL = "*"


@dataclass(frozen=True)
class Command:
    """One understood line: the task codes it names (``('*',)`` for all), the verb and its value."""

    codes: tuple[str, ...]
    verb: str
    value: object = None  # the percent, the new date, the snooze days
    text: str = ""  # the reason, the note, what blocks it
    line: str = ""


@dataclass(frozen=True)
class Unread:
    """A line that looked like a command and was not understood; ``why`` is a message key's tail."""

    line: str
    why: str
    readings: tuple = ()


_CODE = r"(?:【\s*[Tt]\s*\d+\s*】|\[\s*[Tt]\s*\d+\s*\]|[Tt]\d+|#\d+)"
_CODES = re.compile(rf"^\s*({_CODE}(?:\s*[、,/;和&\s]\s*{_CODE})*|全部|所有|all)(?:(?<=[】\]])|(?![0-9A-Za-z]))\s*[:：,，]?\s*(.*)$", re.I)
_DONE = re.compile(r"^(?:已经?完成|完成了?|做完了?|搞定|done|finished|completed?)$", re.I)
_STARTED = re.compile(r"^(?:进行中|在做|正在做|收到|已收到|开始做|on it|in progress|started|ack)$", re.I)
_PERCENT = re.compile(r"^(?:进度|完成度|progress)?\s*[:：]?\s*(\d{1,3}(?:\.\d+)?)\s*%$", re.I)
_POSTPONE = re.compile(r"^(?:延期到|延期至|延到|改到|推迟到|推迟至|postpone(?:d)? to|move(?:d)? to|delay(?:ed)? to)\s*[:：]?\s*"
                       r"(.+?)\s*(?:[,;；。]?\s*(?:原因|理由|because|reason)\s*[:：]?\s*(.*))?$", re.I)
_SNOOZE = re.compile(r"^(?:暂缓提醒|暂停提醒|snooze)\s*[:：]?\s*(\d{1,3})\s*(?:个工作日|个?天|日|d|days?)?$", re.I)
_BLOCKED = re.compile(r"^(?:受阻|卡住了?|blocked)\s*[:：,]?\s*(.*)$", re.I)
_NOTE = re.compile(r"^(?:备注|说明|note)\s*[:：,]?\s*(.+)$", re.I)
_UNDO = re.compile(r"^(?:撤销|撤回|undo)\s*[:：]?\s*C\s*(\d+)$", re.I)
_VERB_WORDS = re.compile(r"完成|进行中|收到|延期|改到|推迟|暂缓提醒|受阻|备注|\d\s*%|\b(?:done|on it|postpone|snooze|"
                         r"blocked|note)\b", re.I)


def normalized(line: str) -> str:
    """Full-width letters, digits and punctuation as half-width (NFKC), 【】 kept, spaces squeezed."""
    s = unicodedata.normalize("NFKC", line).replace("\u3000", " ")
    return re.sub(r"\s+", " ", s).strip()


def _codes(found: str) -> tuple[str, ...]:
    """The codes as written: 【T3】 (the digest's own code, bracketed), #3 as T3, T03 kept as is (it may
    be the tracker's own 编号 rather than the digest's code; :func:`resolve` tells them apart)."""
    if found.lower() in ("全部", "所有", "all"):
        return (ALL,)
    out = []
    for token in re.findall(_CODE, found):
        digits = re.sub(r"\D", "", token)
        if token.startswith(("【", "[")):
            out.append(f"【T{int(digits)}】")
        elif token.startswith("#"):
            out.append(f"T{int(digits)}")
        else:
            out.append(f"T{digits}")
    return tuple(dict.fromkeys(out))


def resolve(code: str, tasks: dict[str, dict]) -> tuple[str, ...]:
    """The digest codes a written code can mean: 【T3】 is the digest's T3 only; T3 is the digest's T3
    or the task whose 编号 is T3 (two different tasks: ambiguous, both returned); () when none.

    >>> resolve("T03", {"T1": {"id": "T03"}, "T3": {"id": "T07"}}), resolve("【T3】", {"T3": {"id": "T07"}})
    (('T1',), ('T3',))
    """
    if code.startswith("【"):
        plain = code.strip("【】")
        return (plain,) if plain in tasks else ()
    by_id = [c for c, t in tasks.items() if str(t.get("id") or "").strip().upper() == code.upper()]
    own = [code] if code in tasks else []
    return tuple(dict.fromkeys(own + by_id))


def parse_line(line: str, today: dt.date, is_workday=None) -> Command | Unread | None:
    """One line: a command, an unread line (it names a task or a verb but is not understood), or None
    (a greeting, a signature: no task code and no verb). ``is_workday``: the company calendar; a
    postponement to a day off is refused with the working days either side."""
    s = normalized(line)
    if not s:
        return None
    if u := _UNDO.match(s):  # 撤销 C12: a change the answer named, within 24 hours
        return Command((f"C{int(u[1])}",), UNDO, int(u[1]), line=s)
    m = _CODES.match(s)
    if not m:
        return Unread(s, "no_code") if _VERB_WORDS.match(s) else None
    codes, rest = _codes(m[1]), m[2].strip().rstrip("。.!！ ")
    if _DONE.match(rest):
        return Command(codes, DONE, line=s)
    if _STARTED.match(rest):
        return Command(codes, STARTED, line=s)
    if pm := _PERCENT.match(rest):
        value = float(pm[1])
        if value > 100:
            return Unread(s, "percent")
        if value == 100:
            return Unread(s, "percent_full")
        return Command(codes, PERCENT, int(value) if value.is_integer() else value, line=s)
    if sm := _SNOOZE.match(rest):
        return Command(codes, SNOOZE, int(sm[1]), line=s) if 0 < int(sm[1]) <= 30 else Unread(s, "snooze")
    if pm := _POSTPONE.match(rest):
        return _postpone(codes, pm[1], (pm[2] or "").strip(), s, today, is_workday)
    if bm := _BLOCKED.match(rest):
        if _VERB_WORDS.search(bm[1]) and _two_verbs(bm[1]):
            return Unread(s, "two_verbs")
        return Command(codes, BLOCKED, text=bm[1].strip(), line=s)
    if nm := _NOTE.match(rest):
        return Command(codes, NOTE, text=nm[1].strip(), line=s)
    if len(_VERB_WORDS.findall(rest)) >= 2:
        return Unread(s, "two_verbs")
    return Unread(s, "unknown")


def _two_verbs(rest: str) -> bool:
    return any(p.match(rest.strip()) for p in (_DONE, _STARTED, _PERCENT, _POSTPONE, _SNOOZE))


def _postpone(codes: tuple, when: str, reason: str, line: str, today: dt.date, is_workday=None) -> Command | Unread:
    parsed = parse_date(when.strip(), near=today)
    date = parsed.value
    if date is None:
        return Unread(line, "date")
    if parsed.year_guessed and date < today:
        # '1月5日' read nearest today fell in the past: the person may mean next year's
        later = date.replace(year=date.year + 1)
        return Unread(line, "date_past", (date.isoformat(), later.isoformat()))
    if date <= today:
        return Unread(line, "date_past", (date.isoformat(),))
    if _two_verbs(reason):
        return Unread(line, "two_verbs")
    if is_workday is not None and not is_workday(date):
        before, after = date - dt.timedelta(days=1), date + dt.timedelta(days=1)
        while not is_workday(before) and before > today:
            before -= dt.timedelta(days=1)
        while not is_workday(after):
            after += dt.timedelta(days=1)
        readings = tuple(d.isoformat() for d in ((before,) if before > today else ()) + (after,))
        return Unread(line, "holiday", readings)
    return Command(codes, POSTPONE, date, reason, line=line)


def parse(text: str, today: dt.date, is_workday=None) -> tuple[list[Command], list[Unread]]:
    """Every line of an already cut body: the commands understood and the lines not understood."""
    commands, unread = [], []
    for line in text.splitlines():
        found = parse_line(line, today, is_workday)
        if isinstance(found, Command):
            commands.append(found)
        elif isinstance(found, Unread):
            unread.append(found)
    return commands, unread
