"""The 跟进群: one post per chat group per run to its DingTalk, WeCom or Feishu custom robot.

Three parts, each replaceable: *what to say* (:func:`daily_post`, :func:`weekly_post`: lines of text and
@-mentions, platform-neutral), *how it reads on a platform* (:func:`bodies`: the JSON request bodies,
split by bytes within the platform's limit, mentions in its syntax, its keyword added) and *how it goes
out* (:class:`OutboxPoster` writes the bodies as .json files; :class:`RobotPoster` signs and posts them
with httpx, within the platform's rate limits, reading its error codes). Every platform's particulars are
one entry of ``platforms.PLATFORMS``: nothing here branches on a platform's name. Posts share the mail ledger in
state.db (claimed before sending, recorded after the platform accepted), so a rerun repeats nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import time
from collections import deque
from dataclasses import dataclass
from dataclasses import field as dc_field
from pathlib import Path
from typing import Callable, Iterable

from ..errors import ConfigError
from ..messages import percent, text
from ..platforms import PLATFORMS, Line, one_line
from ..process import assess
from ..process.calendar import WorkCalendar, estimate_note
from ..process.roster import Person, Roster
from ..settings import Channel, Settings
from ..state.store import Store, workbook_id
from .audience import Audience
from .delivery import Delivery, Failed, deliver
from .notes import GROUP_STATES, Collector

log = logging.getLogger(__name__)

TIMEOUT = 10.0
SHOWN_PER_LIST = 15  # tasks listed per section of a post; the rest are counted


# --- what to say ----------------------------------------------------------------------------------

@dataclass
class Post:
    """One message to one group; ``key`` makes it exactly-once in the ledger."""

    channel: Channel
    title: str
    lines: list[Line]
    kind: str  # post-daily | post-weekly
    day: dt.date
    workbooks: tuple[str, ...] = ()
    key: str = ""

    # what the mail ledger reads of a message
    @property
    def to(self) -> Person:
        return Person(name=self.channel.name, department="", email=f"#{self.channel.name}", key=self.channel.name)

    cc: tuple = ()
    reasons: tuple = ("group",)

    def recipients(self) -> list[str]:
        return [self.to.email]

    @property
    def subject(self) -> str:
        return self.title

    def seal(self) -> "Post":
        digest = hashlib.sha256("\n".join(line.plain() for line in self.lines).encode("utf-8")).hexdigest()[:16]
        workbooks = ",".join(sorted(workbook_id(w) for w in self.workbooks))  # by identity: never a local path
        self.key = hashlib.sha256(f"#{self.channel.name}|{self.kind}|{workbooks}|{self.day}|{digest}".encode()).hexdigest()
        return self


def serves(channel: Channel, workbook: str, topic: str, named: str | None) -> bool:
    """Does ``channel`` take the posts of this item? The 需求单's 跟进群 names it, or its items list the
    item (by topic, file name or '*')."""
    if named == channel.name:
        return True
    stem = Path(workbook).stem
    return any(i in ("*", topic, stem, Path(workbook).name) for i in channel.items)


@dataclass
class Board:
    """An item's tasks as a group sees them, made from the daily run's notes (:func:`boards`)."""

    workbook: str
    topic: str
    group: str | None
    tasks: list[tuple] = dc_field(default_factory=list)  # (state, days, task_id, task, owners, due)


def _who(keys: Iterable[str], audience: Audience, lang: str) -> list:
    """The people a line names, by roster key: a Person to @-mention where the roster can reach them;
    someone on leave is named, and their stand-in mentioned ('孙丽（休假）→ 周强@…')."""
    out: list = []
    for key in keys:
        if out:
            out.append("、")
        person = audience.person(key)
        stand_in = audience.stand_in(person) if person is not None else None
        if stand_in is not None:
            out += [text("post.away", lang, name=person.label), audience.mentioned(stand_in.key) or stand_in.label]
        else:
            out.append(audience.mentioned(key) or key)
    return out


COUNTED = (assess.OVERDUE, assess.DUE_SOON)  # the states a post gives working days for
BOARD_STATES = GROUP_STATES  # the states a group's board lists (the daily collector notes these)


def daily_post(channel: Channel, board: Board, changes: dict, pending: list, errors: list, roster: Roster | None,
               settings: Settings, today: dt.date) -> Post | None:
    """Today's post for one item's group, or None when there is nothing to say."""
    lang = settings.lang
    t = lambda key, **kw: text(key, lang, **kw)  # noqa: E731
    lines: list[Line] = []
    audience = Audience(roster, settings, today)

    def section(title: str, rows: list[Line]) -> None:
        if rows:
            if lines:
                lines.append(Line([""]))  # a blank line: markdown keeps the sections apart
            lines.append(Line([title], "heading"))
            lines.extend(rows[:SHOWN_PER_LIST])
            if len(rows) > SHOWN_PER_LIST:
                lines.append(Line([t("post.more", n=len(rows) - SHOWN_PER_LIST)]))

    section(t("post.changes"), [Line([t('post.change.' + kind, task=f'{tid} {task}')], "item")
                                for kind, tid, task in changes.get(workbook_id(board.workbook), [])])
    for state in BOARD_STATES:
        rows = [Line([f"{assess.TaskState(state, days, ()).flag(lang)} · {tid} {task} · "] + _who(owners, audience, lang),
                     "item")
                for st, days, tid, task, owners, _ in sorted(board.tasks, key=lambda x: (-x[1], x[2])) if st == state]
        section(t(f"post.state.{state}", n=len(rows)), rows)
    section(t("post.pending", n=len(pending)),
            [Line([f"{p.request_id}（{p.purpose}）{t('post.waiting', step=t('mail.step.' + p.step), days=p.days)} · "]
                  + _who([p.waiting], audience, lang), "item") for p in pending])
    if errors:
        rows = [Line([f"{f.sheet} {f.cell}：{f.message(lang)}"], "item") for f in errors[:3]]
        section(t("post.errors", n=len(errors)), rows)
    if not lines:
        return None
    counted = [due or today for st, days, _, _, _, due in board.tasks if st in COUNTED] + [today] * len(pending)
    if estimate := estimate_note(WorkCalendar.from_settings(settings), lang, today, counted):
        lines += [Line([""]), Line([f"※ {estimate}"])]
    title = t("post.title", topic=board.topic, day=today.isoformat())
    return Post(channel, title, lines, "post-daily", today, (board.workbook,)).seal()


def health_post(channel: Channel, issues: list, settings: Settings, today: dt.date) -> Post | None:
    """The administrator's health list, for a group with admin = true."""
    if not issues:
        return None
    lines = [Line([i.text(settings.lang)], "item") for i in issues]
    return Post(channel, text("admin.subject", settings.lang, day=today.isoformat(), n=len(issues)), lines,
                "post-admin", today).seal()


def weekly_post(channel: Channel, items: list, label: str, settings: Settings, today: dt.date) -> Post | None:
    """The week's figures of the items a group serves (a management group: every item)."""
    lang = settings.lang
    t = lambda key, **kw: text(key, lang, **kw)  # noqa: E731
    lines = [Line([f"{i.topic}：{t('weekly.col.progress')} {percent(i.progress)} · {t('weekly.col.overdue')} {i.overdue}"],
                  "item") for i in items]
    if not lines:
        return None
    return Post(channel, t("post.weekly_title", week=label), lines, "post-weekly", today,
                tuple(sorted(i.workbook for i in items))).seal()


# --- how it reads on each platform ------------------------------------------------------------------

def _body(kind: str, title: str, lines: list[Line], keyword: str) -> dict:
    if keyword and keyword not in title:
        title = f"【{keyword}】{title}"
    return PLATFORMS[kind].body(one_line(title), lines)


def size(kind: str, body: dict) -> int:
    """The bytes a platform counts against its limit (WeCom: the content; others: the body)."""
    return PLATFORMS[kind].size(body)


def limit(kind: str, body: dict) -> int:
    """The platform's limit for this body (WeCom text messages take 2,048 bytes, markdown 4,096)."""
    return PLATFORMS[kind].limit(body)


def bodies(post: Post) -> list[dict]:
    """The request bodies of a post: one, or several numbered (1/3) when it is over the platform's limit,
    split at line boundaries and kept in order."""
    kind = post.channel.kind
    reserve = 16  # room for " (12/12)" in the title
    chunks: list[list[Line]] = [[]]
    for line in post.lines:
        trial = chunks[-1] + [line]
        body = _body(kind, post.title, trial, post.channel.keyword)
        if chunks[-1] and size(kind, body) + reserve > limit(kind, body):
            chunks.append([line])
        else:
            chunks[-1] = trial
    if len(chunks) == 1:
        return [_body(kind, post.title, chunks[0], post.channel.keyword)]
    return [_body(kind, f"{post.title} ({n}/{len(chunks)})", chunk, post.channel.keyword)
            for n, chunk in enumerate(chunks, start=1)]


# --- how it goes out --------------------------------------------------------------------------------

class RateLimited(Exception):
    """The platform says: too many messages; wait."""


class ChannelRefused(Exception):
    """The platform refuses the robot itself (signature, keyword, IP list): nothing more goes to it this run."""


class Limiter:
    """At most ``per_minute`` (and ``per_second``) posts in any window, waiting as needed; the clock and
    the sleep are injectable so tests can simulate minutes."""

    def __init__(self, per_minute: int, per_second: int | None = None,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep):
        self.per_minute, self.per_second = per_minute, per_second
        self.clock, self.sleep = clock, sleep
        self.sent: deque[float] = deque()

    def wait(self) -> None:
        while True:
            now = self.clock()
            while self.sent and now - self.sent[0] >= 60:
                self.sent.popleft()
            recent = sum(1 for s in self.sent if now - s < 1)
            if len(self.sent) < self.per_minute and (self.per_second is None or recent < self.per_second):
                self.sent.append(now)
                return
            oldest_in_second = next((s for s in self.sent if now - s < 1), now)
            pause = 60 - (now - self.sent[0]) if len(self.sent) >= self.per_minute else 1 - (now - oldest_in_second)
            self.sleep(max(pause, 0.01))


class OutboxPoster:
    """Writes each request body to .coordxl/outbox/<date>/post-<channel>-<key>-<n>.json, for a preview."""

    name = "outbox"

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def post(self, post: Post, body: dict, n: int) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"post-{post.channel.name}-{post.key[:12]}-{n}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(body, ensure_ascii=False, indent=1), encoding="utf-8")
        os.replace(tmp, path)


class RobotPoster:
    """Posts to one channel's robot: signed, rate-limited, its error codes read (HTTP 200 is not success)."""

    name = "robot"

    def __init__(self, channel: Channel, url: str, secret: str = "", client=None,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                 wall: Callable[[], float] = time.time):
        import httpx

        self.channel, self.url, self.secret = channel, url, secret
        self.client = client or httpx.Client(timeout=TIMEOUT)
        self.platform = PLATFORMS[channel.kind]
        self.limiter = Limiter(self.platform.per_minute, self.platform.per_second, clock, sleep)
        self.sleep, self.wall = sleep, wall

    def post(self, post: Post, body: dict, n: int) -> None:
        platform = self.platform
        for attempt in range(3):
            self.limiter.wait()
            url, payload = self.url, dict(body)
            if self.secret:
                url, payload = platform.sign(url, payload, self.secret, self.wall())
            data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
            if platform.quiet_seconds:  # Feishu asks robots not to post on the hour or half hour, when everyone does
                second_of_half_hour = int(self.wall()) % 1800
                if second_of_half_hour < platform.quiet_seconds:
                    self.sleep(platform.quiet_seconds - second_of_half_hour)
            response = self.client.post(url, content=data, headers={"Content-Type": "application/json; charset=utf-8"})
            try:
                answer = response.json()
            except ValueError:
                answer = {}
            code = answer.get("errcode", answer.get("code", answer.get("StatusCode", 0 if response.is_success else -1)))
            if response.is_success and code == 0:
                return
            message = answer.get("errmsg") or answer.get("msg") or answer.get("StatusMessage") or response.text[:120]
            if code in platform.rate_limited or response.status_code == 429:
                log.warning("%s: rate limited (%s), waiting a minute", self.channel.name, code)
                self.sleep(60)
                continue
            if code in platform.refused:
                raise ChannelRefused(f"{code} {message}")
            raise RuntimeError(f"{response.status_code} {code} {message}")
        raise RateLimited(f"still rate limited after {attempt + 1} tries")


def _outbox_poster(channel: Channel, settings: Settings, state_dir: Path, today: dt.date, environ: dict,
                   **robot_options) -> OutboxPoster:
    return OutboxPoster(Path(state_dir) / "outbox" / today.isoformat())


def _robot_poster(channel: Channel, settings: Settings, state_dir: Path, today: dt.date, environ: dict,
                  **robot_options) -> RobotPoster:
    """The channel's robot: webhook URL and secret from the environment or the OS keyring; a missing one
    stops the run with a clear message, exit 2."""
    url = environ.get(channel.webhook_env) or _keyring(channel.name)
    if not url:
        raise ConfigError(text("config.channel_env", settings.lang, channel=channel.name, env=channel.webhook_env))
    secret = environ.get(channel.secret_env, "") if channel.secret_env else ""
    return RobotPoster(channel, url, secret, **robot_options)


# a channel's transport (settings.py lists the same names) → how its poster is made, and whether that
# reads a secret (only the CLI and jobs/ do): a new way of posting is one entry here
POSTERS: dict[str, tuple[Callable[..., object], bool]] = {
    "outbox": (_outbox_poster, False),
    "send": (_robot_poster, True),
}


def make_posters(settings: Settings, state_dir: Path, today: dt.date, environ: dict, **robot_options) -> dict:
    """One poster per channel, as its transport says: the outbox, or its robot."""
    return {name: POSTERS[channel.transport][0](channel, settings, Path(state_dir), today, environ, **robot_options)
            for name, channel in settings.channels.items()}


def outbox_posters(settings: Settings, state_dir: Path, today: dt.date) -> dict:
    """Posters for library callers: the outbox channels; a channel that sends needs the CLI or jobs/ (they
    read its webhook from the environment)."""
    if any(POSTERS[c.transport][1] for c in settings.channels.values()):
        raise ConfigError(key="config.channel_library")
    return make_posters(settings, state_dir, today, {})


def _keyring(name: str) -> str:
    try:
        import keyring
        return keyring.get_password("coordxl-channel", name) or ""
    except Exception:  # no keyring backend on a server is normal
        return ""


class PostCourier:
    """Group posts as delivery.py carries them: a post split into its bodies, each to the poster (the
    outbox or the channel's robot), and what the platforms' errors mean."""

    def __init__(self, channel: str, poster):
        self.channel, self.poster = channel, poster
        self.name = f"{poster.name}:{channel}"  # the ledger's transport column; one refusing robot stops only its channel

    def open(self) -> None:
        pass

    def carry(self, post: Post, pending: list[str]) -> dict[str, int]:
        import httpx

        try:
            for n, body in enumerate(bodies(post), start=1):
                self.poster.post(post, body, n)
        except ChannelRefused as exc:
            raise Failed(f"{exc}: check channels.{self.channel}.secret_env / keyword / the robot's IP list",
                         "courier") from exc
        except (RateLimited, RuntimeError, httpx.HTTPError, OSError) as exc:
            raise Failed(f"{type(exc).__name__}: {exc}") from exc
        return {}

    def close(self) -> None:
        pass


def deliver_posts(posts: list[Post], posters: dict, store: Store, today: dt.date, now: dt.datetime,
                  resend: bool = False, cap: int | None = None) -> Delivery:
    """Each post once, through the same seam as mail (delivery.deliver): claimed in the ledger, sent
    part by part, recorded after the platform accepted it. ``cap``: the run's limit
    (reminders.max_mails_per_run), as for mail; the rest wait for the next run. A post whose run was
    killed mid-send is posted again: a repeated post in a group is better than a silently missing one."""
    couriers = {name: PostCourier(name, poster) for name, poster in posters.items()}
    return deliver(posts, lambda post: couriers[post.channel.name], store, today, now, resend=resend, cap=cap,
                   repeat_unknown=True)


def changes(store: Store, today: dt.date) -> dict[str, list[tuple[str, str, str]]]:
    """What changed since the last snapshot before today, per workbook (by its identity): (newly_done |
    newly_overdue | moved, task id, task), from the snapshots each daily run keeps (compared in state.db)."""
    out: dict[str, list[tuple[str, str, str]]] = {}
    for workbook, found, task_id, task in store.changes(today):
        out.setdefault(workbook, []).append((found, task_id, task))
    return out


def boards(collector: Collector) -> dict[str, Board]:
    """Each item's board, from the notes the daily run gathered: its topic and 跟进群, and its tasks in
    the states a group hears of."""
    return {workbook: Board(workbook, item.topic, item.group, collector.states.get(workbook, []))
            for workbook, item in collector.items.items()}


def group_posts(collector: Collector, findings: list, roster: Roster | None, settings: Settings,
                store: Store | None, today: dt.date) -> list[Post]:
    """The daily posts: one per item and group that serves it (channels with daily = true)."""
    if not settings.channels:
        return []
    moved = changes(store, today) if store is not None else {}
    errors: dict[str, list] = {}
    for f in findings:
        if f.is_error:
            errors.setdefault(f.workbook, []).append(f)
    posts = []
    for workbook, board in sorted(boards(collector).items()):
        pending = [p for p in collector.pending if p.workbook == workbook]
        for channel in settings.channels.values():
            if (channel.daily and not channel.management and not channel.admin
                    and serves(channel, workbook, board.topic, board.group)):
                post = daily_post(channel, board, moved, pending, errors.get(workbook, []), roster, settings, today)
                if post is not None:
                    posts.append(post)
    return posts
