"""Each chat platform coordxl posts to, as one entry of :data:`PLATFORMS`: its limits and rates, the error
codes that mean "wait" or "this robot is refused", how a request is signed, and how a post's lines become
its request body (mentions in its syntax).

A new platform is one :class:`Platform` entry here (plus its fake robot in ``tests/robot_fakes.py``);
``channels.py`` reads only this table, and ``settings.py`` accepts ``kind = "<name>"`` for every entry.
What a post *says* (:class:`Line`) is platform-neutral; everything below it is per platform.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import urllib.parse
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Callable

# line breaks and the other characters a chat client starts a new line at
_BREAKS = re.compile(r"[\r\n\v\f\x1c-\x1e\x85\u2028\u2029]+")
# markdown's active characters (emphasis, code, strike-through, HTML tags, quotes, escapes), as their
# full-width forms: they read the same and do nothing
_INERT = str.maketrans({"*": "＊", "_": "＿", "~": "～", "`": "｀", "<": "＜", ">": "＞", "\\": "＼"})


def one_line(value: str) -> str:
    r"""Cell text as a chat client shows it as text: on one line (a line break in a cell must not start a
    line of its own in a post), and no bare address the client would turn into a link.

    >>> one_line("开会\n以下任务已取消 http://x.example")
    '开会 以下任务已取消 http：//x.example'
    """
    return _BREAKS.sub(" ", value).replace("://", "：//")


def markdown_text(value: str) -> str:
    r"""Text shown as itself in DingTalk's and WeCom's markdown: no emphasis, tag, link, image or mention.

    >>> markdown_text("[点此](http://x.example/a_b) **急**\n# 已取消")
    '[点此]（http：//x.example/a＿b) ＊＊急＊＊ # 已取消'
    """
    return one_line(value).translate(_INERT).replace("](", "]（")


@dataclass
class Line:
    """One line of a post: text with @-mentions in it. Every text part is shown as text, never read as
    markup (cell text reaches it); the line's ``style`` is the only markup, added per platform."""

    parts: list = dc_field(default_factory=list)  # str, or a person (roster.Person: label, im_id, mobile)
    style: str = "text"  # text | item (a list bullet) | heading (bold)

    def words(self) -> str:
        return "".join(p if isinstance(p, str) else f"@{p.label}" for p in self.parts)

    def plain(self) -> str:
        return {"item": "- {}", "heading": "**{}**"}.get(self.style, "{}").format(self.words())

    def people(self) -> list:
        return [p for p in self.parts if not isinstance(p, str)]


def _userid(person) -> str:
    return re.sub(r"[^\w.@-]", "", person.im_id)  # a roster cell must not close the mention and add markup


def _markdown(lines: list[Line], mention: Callable) -> tuple[list[str], dict[str, list[str]]]:
    """Markdown lines: the line's style as markup, every text part inert, each person by ``mention``
    (person -> (text in the line, {request list: value}))."""
    out, at = [], {"atMobiles": [], "atUserIds": []}
    for line in lines:
        chunk = []
        for part in line.parts:
            if isinstance(part, str):
                chunk.append(markdown_text(part))
                continue
            shown, listed = mention(part)
            chunk.append(shown)
            for k, v in listed.items():
                if v not in at[k]:
                    at[k].append(v)
        out.append({"item": "- {}", "heading": "**{}**"}.get(line.style, "{}").format("".join(chunk)))
    return out, at


def _text_line(line: Line) -> str:
    """A line of a plain-text message: no markup at all, one line."""
    return ("- " if line.style == "item" else "") + one_line(line.words())


# --- DingTalk ----------------------------------------------------------------------------------------

def _dingtalk_mention(person) -> tuple[str, dict]:
    """The name, then @userid (or @mobile), listed in the request's at lists."""
    userid = _userid(person)
    if userid:
        return f"{markdown_text(person.label)}@{userid}", {"atUserIds": userid}
    return f"{markdown_text(person.label)}@{person.mobile}", {"atMobiles": person.mobile}


def _dingtalk_body(title: str, lines: list[Line]) -> dict:
    rendered, at = _markdown(lines, _dingtalk_mention)
    body_text = "\n".join([f"#### {markdown_text(title)}", ""] + rendered)
    return {"msgtype": "markdown", "markdown": {"title": title, "text": body_text},
            "at": {"atMobiles": at["atMobiles"], "atUserIds": at["atUserIds"], "isAtAll": False}}


def _dingtalk_sign(url: str, payload: dict, secret: str, wall: float) -> tuple[str, dict]:
    """DingTalk: timestamp (ms) and sign = base64(HMAC-SHA256(secret, f"{timestamp}\\n{secret}")), URL-encoded,
    in the query."""
    now_ms = int(wall * 1000)
    digest = hmac.new(secret.encode(), f"{now_ms}\n{secret}".encode(), hashlib.sha256).digest()
    sign = urllib.parse.quote_plus(base64.b64encode(digest))
    return f"{url}{'&' if '?' in url else '?'}timestamp={now_ms}&sign={sign}", payload


# --- WeCom -------------------------------------------------------------------------------------------

def _wecom_mention(person) -> tuple[str, dict]:
    """Markdown mentions by userid only; without one, the name as text."""
    userid = _userid(person)
    return (f"<@{userid}>", {}) if userid else (markdown_text(person.label), {})


def _wecom_body(title: str, lines: list[Line]) -> dict:
    people = [p for line in lines for p in line.people()]
    if any(p.mobile and not p.im_id for p in people):
        # WeCom markdown mentions by userid only: someone known by mobile needs a text message
        content = "\n".join([title, ""] + [_text_line(line) for line in lines])
        return {"msgtype": "text", "text": {
            "content": content,
            "mentioned_list": list(dict.fromkeys(p.im_id for p in people if p.im_id)),
            "mentioned_mobile_list": list(dict.fromkeys(p.mobile for p in people if p.mobile and not p.im_id))}}
    rendered, _ = _markdown(lines, _wecom_mention)
    return {"msgtype": "markdown", "markdown": {"content": "\n".join([f"#### {markdown_text(title)}", ""] + rendered)}}


# --- Feishu ------------------------------------------------------------------------------------------

def _feishu_paragraph(line: Line) -> list[dict]:
    """A Feishu post paragraph: text and at elements (Feishu reads no markup in a text element)."""
    out = [{"tag": "text", "text": "- "}] if line.style == "item" else []
    for part in line.parts:
        if isinstance(part, str):
            out.append({"tag": "text", "text": one_line(part)})
        elif part.im_id:
            out.append({"tag": "at", "user_id": part.im_id})
        else:
            out.append({"tag": "text", "text": one_line(part.label)})
    return out


def _feishu_body(title: str, lines: list[Line]) -> dict:
    content = [_feishu_paragraph(line) for line in lines]
    return {"msg_type": "post", "content": {"post": {"zh_cn": {"title": title, "content": content}}}}


def _feishu_sign(url: str, payload: dict, secret: str, wall: float) -> tuple[str, dict]:
    """Feishu: timestamp (s) and sign = base64(HMAC-SHA256(key=f"{timestamp}\\n{secret}", msg="")) in the body."""
    now_s = int(wall)
    digest = hmac.new(f"{now_s}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return url, {**payload, "timestamp": str(now_s), "sign": base64.b64encode(digest).decode()}


# --- the table ---------------------------------------------------------------------------------------

def _unsigned(url: str, payload: dict, secret: str, wall: float) -> tuple[str, dict]:
    return url, payload


@dataclass(frozen=True)
class Platform:
    """One chat platform's group robot, as its documentation describes it."""

    name: str  # the kind = "…" of a [channels.<name>] table
    max_bytes: int  # the largest request: bytes of the JSON body, or of the content (counts_content)
    per_minute: int  # posts a robot may send in any minute
    rate_limited: frozenset[int]  # the error codes meaning "too many messages, wait"
    refused: frozenset[int]  # the error codes refusing the robot itself (signature, keyword, IP list)
    body: Callable[[str, list[Line]], dict]  # (title, lines) -> the request body
    per_second: int | None = None
    sign: Callable[[str, dict, str, float], tuple[str, dict]] = _unsigned  # (url, body, secret, wall s) -> both signed
    counts_content: bool = False  # the limit counts the message's content, not the whole body
    max_bytes_by_type: dict = dc_field(default_factory=dict)  # a smaller limit for some msgtypes
    quiet_seconds: int = 0  # seconds after each hour and half hour the platform asks robots to wait out

    def size(self, body: dict) -> int:
        """The bytes this platform counts against its limit."""
        if self.counts_content:
            return len(body[body["msgtype"]]["content"].encode("utf-8"))
        return len(json.dumps(body, ensure_ascii=False).encode("utf-8"))

    def limit(self, body: dict) -> int:
        """The limit for this body."""
        return self.max_bytes_by_type.get(body.get("msgtype"), self.max_bytes)


PLATFORMS: dict[str, Platform] = {p.name: p for p in (
    Platform("dingtalk", max_bytes=20000, per_minute=20, rate_limited=frozenset({130101}),
             refused=frozenset({310000, 300001, 400101}), body=_dingtalk_body, sign=_dingtalk_sign),
    Platform("wecom", max_bytes=4096, per_minute=20, rate_limited=frozenset({45009}),
             refused=frozenset({93000, 93004}), body=_wecom_body, counts_content=True,
             max_bytes_by_type={"text": 2048}),
    Platform("feishu", max_bytes=20 * 1024, per_minute=100, per_second=5, rate_limited=frozenset({11232, 9499}),
             refused=frozenset({19021, 19022, 19024}), body=_feishu_body, sign=_feishu_sign, quiet_seconds=3),
)}
