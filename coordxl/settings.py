"""Every setting of coordxl.toml as one table: name, default, help.

The generated config file carries each help line as a comment, and docs/settings.md
documents every name exactly once (tests check both).

>>> s = Settings.defaults()
>>> s["rules.meeting_max_minutes"]
90
"""

from __future__ import annotations

import datetime as dt
import difflib
import logging
import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any, Callable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from .errors import ConfigError, user_name
from .messages import text
from .platforms import PLATFORMS

log = logging.getLogger(__name__)

CONFIG_NAME = "coordxl.toml"


@dataclass(frozen=True)
class Setting:
    name: str  # "section.key"
    default: Any
    help_zh: str
    help_en: str
    choices: tuple[str, ...] = ()
    kind: str = ""  # what a text or list value must be: see CHECKS
    minimum: int | None = None  # for numbers
    maximum: int | None = None

    @property
    def section(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def key(self) -> str:
        return self.name.split(".", 1)[1]


SETTINGS: tuple[Setting, ...] = (
    Setting("general.language", "zh", "界面、邮件、报告与模板的语言：zh 或 en",
            "Language of templates, mails, findings and reports: zh or en", ("zh", "en")),
    Setting("general.timezone", "Asia/Shanghai", "计算“今天”和会议时间所用的时区",
            "Time zone used for 'today' and meeting times", kind="zone"),
    Setting("general.share_url", "", "共享文件夹的访问地址（如 \\\\fileserver\\share\\协调、file:// 或 https:// 网址），"
            "填写后邮件和报告中的工作簿可直接点击打开；留空只显示相对路径",
            "Where people open the shared folder (\\\\fileserver\\share\\协调, a file:// or an https:// address): "
            "mails and reports then link each workbook; empty shows relative paths", kind="share"),
    Setting("general.folder_id", "", "此共享文件夹的编号（coordxl init 生成）：本机的状态文件夹以它命名。请勿修改；"
            "复制出的新文件夹请删去此行（下次运行会生成新的）",
            "This shared folder's id (coordxl init makes it): the local state folder is named after it. Do not change "
            "it; in a copy of the folder, delete the line (the next run makes a new one)", kind="folder_id"),
    Setting("folders.active", "进行中", "进行中事项的文件夹", "Folder of active coordination items", kind="folder"),
    Setting("folders.archive", "归档", "已归档事项的文件夹", "Folder of archived items", kind="folder"),
    Setting("folders.reports", "报告", "任务生成的报告（周报、校验报告、复盘草稿）", "Folder the jobs write reports to", kind="folder"),
    Setting("folders.templates", "模板", "空白模板所在文件夹", "Folder holding the blank templates", kind="folder"),
    Setting("folders.roster", "名册.xlsx", "名册工作簿（人员与部门）", "Roster workbook (people and departments)", kind="folder"),
    Setting("folders.state", "", "本机的状态文件夹（state.db、outbox、logs），须是本机磁盘上的绝对路径；留空为自动："
            "本地文件夹用 .coordxl/，网络共享（UNC、映射驱动器、cifs/nfs）上的文件夹用本机的用户状态文件夹",
            "State folder on this machine (state.db, outbox, logs), an absolute path on a local disk; empty is "
            "automatic: .coordxl/ for a local folder, this user's state folder for one on a network share (UNC, "
            "mapped drive, cifs/nfs)", kind="local_path"),
    Setting("calendar.extra_holidays", [], "额外的休息日，如公司年假，格式 \"2026-12-31\"",
            "Extra non-working days, e.g. a company day off, as \"2026-12-31\"", kind="dates"),
    Setting("calendar.extra_workdays", [], "额外的工作日（公司调休），格式 \"2026-12-26\"",
            "Extra working days (company make-up days), as \"2026-12-26\"", kind="dates"),
    Setting("calendar.official_years", [], "这些年份的放假与调休已按国务院通知完整写在 extra_holidays / extra_workdays 中，"
            "不再估算（coordxl calendar --import 会自动填写）",
            "Years whose days off and make-up days are listed in full in extra_holidays / extra_workdays from the "
            "State Council's notice, so they are no longer estimated (coordxl calendar --import fills this in)",
            kind="years"),
    Setting("calendar.warn_from", "11-01", "从每年的这一天起，若下一年还没有官方节假日安排，提醒管理员（月-日）",
            "From this day of each year, tell the administrator when next year has no official holiday arrangement yet "
            "(month-day)", kind="monthday"),
    Setting("rules.notice_workdays", 2, "需求单至少提前几个工作日发出", "Working days a request form must precede the meeting", minimum=0),
    Setting("rules.materials_days", 1, "会议材料至少提前几天发出", "Days the materials must precede the meeting", minimum=0),
    Setting("rules.meeting_max_minutes", 90, "会议最长时长（分钟）", "Longest allowed meeting, in minutes", minimum=1),
    Setting("rules.minutes_max_hours", 24, "会后多少小时内须发出纪要", "Hours after the meeting within which minutes go out", minimum=1),
    Setting("rules.followup_max_minutes", 30, "跟进会最长时长（分钟）", "Longest allowed follow-up meeting, in minutes", minimum=1),
    Setting("rules.due_soon_workdays", 2, "截止前几个工作日内标记为“即将到期”",
            "Working days before the due date a task counts as due soon", minimum=0),
    Setting("rules.stale_workdays", 5, "进行中的任务多少个工作日未更新视为“未更新”",
            "Working days without an update before an in-progress task is stale", minimum=1),
    Setting("rules.resource_pending_workdays", 3, "资源申请等待审核/审批超过几个工作日提醒",
            "Working days a resource request may wait for review or approval", minimum=1),
    Setting("rules.max_date_distance_years", 3, "日期与事项需求单日期相差超过几年视为填错（不提醒、不升级）",
            "Years a date may be from the item's request date before it counts as a typing slip (never reminded)", minimum=1),
    Setting("reminders.lead_workdays", [3, 1], "截止前第几个工作日提醒负责人",
            "Working days before the due date on which owners are reminded", kind="counts"),
    Setting("reminders.escalate_manager_workdays", 3, "逾期达到几个工作日抄送上级或部门负责人",
            "Working days overdue before the owner's manager or head is copied", minimum=1),
    Setting("reminders.escalate_initiator_workdays", 5, "逾期达到几个工作日再抄送发起人和决策人",
            "Working days overdue before the initiator and decision maker are copied", minimum=1),
    Setting("reminders.send_on_non_workdays", False, "休息日是否也发送提醒", "Send reminders on non-working days too"),
    Setting("reminders.calendar_items", False, "提醒邮件是否附带日历文件（.ics）：所列任务的截止日期作为全天日程，截止日期变化时更新，任务完成或取消时撤销",
            "Digests carry a calendar file (.ics): each listed task's deadline as an all-day item, updated when the "
            "deadline changes, withdrawn when the task is done or cancelled"),
    Setting("reminders.followup_invite", False, "是否给执行中的事项发每周跟进会的循环会议邀请（不超过 rules.followup_max_minutes 分钟；"
            "时间取“跟进会”表最近一次的星期和开始时间，没有记录时取 followup_day / followup_time；事项关闭时取消）",
            "Send items in progress a recurring weekly follow-up invitation (at most rules.followup_max_minutes; on the "
            "weekday and start time of the latest row of the follow-up sheet, else followup_day / followup_time; "
            "cancelled when the item closes)"),
    Setting("reminders.followup_day", "thursday", "跟进会表还没有记录时，每周跟进会在星期几",
            "Weekday of the weekly follow-up while the follow-up sheet has no row yet",
            ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")),
    Setting("reminders.followup_time", "16:00", "跟进会表还没有记录时，每周跟进会的开始时间",
            "Start time of the weekly follow-up while the follow-up sheet has no row yet", kind="time"),
    Setting("reminders.max_mails_per_run", 300, "每次运行最多发送的邮件数", "Most mails one run may send", minimum=1),
    Setting("reminders.max_tasks_per_mail", 30, "每封提醒最多列出的任务数（最紧急的在前，其余只计数）",
            "Most tasks one reminder lists (most urgent first; the rest are counted)", minimum=1),
    Setting("reminders.management", [], "接收周报的管理层姓名（须在名册中）",
            "Names (from the roster) of managers who get the weekly summary", kind="names"),
    Setting("reminders.admins", [], "接收每日运行状况邮件的管理员（名册中的姓名或邮箱地址）",
            "Administrators (roster names or mail addresses) who get the daily health mail", kind="names"),
    Setting("weekly.on_time_targets", [90, 75], "周报按时完成率的绿/黄门槛（%）：不低于第一个为绿，不低于第二个为黄，否则为红",
            "On-time rate marks in the weekly page (%): green from the first, amber from the second, else red",
            kind="targets"),
    Setting("weekly.overdue_limits", [0, 5], "周报逾期类指标的绿/黄上限：不超过第一个为绿，不超过第二个为黄，否则为红",
            "Overdue counts in the weekly page: green up to the first, amber up to the second, else red",
            kind="targets"),
    Setting("email.transport", "outbox", "outbox：写入 .coordxl/outbox/ 的 .eml 文件；smtp：真正发送",
            "outbox writes .eml files to .coordxl/outbox/; smtp sends", ("outbox", "smtp")),
    Setting("email.sender", "coordxl@corp.example", "发件人地址（From）", "From address", kind="address"),
    Setting("email.host", "smtp.corp.example", "SMTP 服务器", "SMTP server", kind="host"),
    Setting("email.port", 465, "SMTP 端口", "SMTP port", minimum=1, maximum=65535),
    Setting("email.security", "ssl", "连接加密方式：ssl、starttls 或 none", "Connection security: ssl, starttls or none",
            ("ssl", "starttls", "none")),
    Setting("email.user", "", "SMTP 登录名；留空表示不登录", "SMTP login; empty means no login"),
    Setting("email.password_env", "COORDXL_SMTP_PASSWORD", "保存 SMTP 密码的环境变量名（不要把密码写在这里）",
            "Environment variable holding the SMTP password (never the password itself)", kind="env"),
    Setting("email.allowed_domains", [], "只允许发往这些域名；留空表示名册中的任何地址",
            "Only send to these domains; empty means any roster address", kind="domains"),
    Setting("email.ca_file", "", "公司自签证书的 CA 文件路径；留空使用系统信任的证书",
            "CA certificate file for a company-signed mail server; empty uses the system's trusted certificates", kind="file"),
    Setting("email.timeout_seconds", 30, "连接邮件服务器及每条 SMTP 命令的超时（秒）",
            "Seconds to wait for the mail server to connect and answer each command", minimum=1),
    Setting("email.data_timeout_seconds", 600, "邮件内容发出后等待服务器确认的时间（秒，RFC 5321 建议 10 分钟）；"
            "超时的邮件记为“未知”，不自动重发",
            "Seconds to wait for the server to confirm a message after its content was sent (RFC 5321: 10 minutes); "
            "a message without an answer is recorded 'unknown' and not resent automatically", minimum=1),
    Setting("replies.enabled", False, "是否允许回复提醒邮件来更新任务（需配置下面的专用收件箱）",
            "Let staff update tasks by replying to their reminder (needs the dedicated mailbox below)"),
    Setting("replies.host", "imap.corp.example", "接收回复的 IMAP 服务器", "IMAP server that receives the replies",
            kind="host"),
    Setting("replies.port", 993, "IMAP 端口", "IMAP port", minimum=1, maximum=65535),
    Setting("replies.security", "ssl", "IMAP 连接加密方式：ssl、starttls 或 none（证书按 email.ca_file 校验）",
            "IMAP connection security: ssl, starttls or none (certificates verified as for SMTP, email.ca_file)",
            ("ssl", "starttls", "none")),
    Setting("replies.user", "", "专用收件箱的登录名（如 coordxl@corp）", "Login of the dedicated mailbox (e.g. coordxl@corp)"),
    Setting("replies.password_env", "COORDXL_IMAP_PASSWORD", "保存 IMAP 密码的环境变量名（不要把密码写在这里；也可用系统密钥库）",
            "Environment variable holding the IMAP password (never the password itself; the OS keyring also works)",
            kind="env"),
    Setting("replies.folder", "INBOX", "读取回复的文件夹", "Folder the replies are read from"),
    Setting("replies.poll_minutes", 5, "工作时间内每隔几分钟读取一次回复", "Minutes between two reads of the mailbox in working hours",
            minimum=1),
    Setting("replies.subaddress", False, "提醒的回复地址是否带回复码（如 coordxl+r-码@corp）：仅在邮件服务器支持“+”子地址时开启（Exchange/O365 常不支持）",
            "Give each reminder a reply address carrying its code (coordxl+r-code@corp): only where the mail server supports '+' sub-addressing (Exchange/O365 often do not)"),
    Setting("replies.authserv_id", "", "收件服务器写在 Authentication-Results 中的名称；填写后 dmarc=fail 的回复被拒绝",
            "The authserv-id the receiving server stamps in Authentication-Results; when set, a dmarc=fail reply is refused"),
    Setting("schedule.daily_time", "09:00", "每日任务时间（工作日）", "Time of the daily job (working days)", kind="time"),
    Setting("schedule.weekly_day", "monday", "周报在星期几生成", "Weekday of the weekly job",
            ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")),
    Setting("schedule.weekly_time", "09:30", "周报生成时间", "Time of the weekly job", kind="time"),
    Setting("writeback.enabled", True, "是否把预警写回执行进度表；OneDrive/SharePoint 协同编辑的文件夹请关闭",
            "Write the alert column back into trackers; turn off for co-authored OneDrive/SharePoint folders"),
    Setting("writeback.backups_keep", 10, "每个工作簿保留的备份份数", "Backups kept per workbook", minimum=1),
    Setting("output.max_rows", 20, "终端上每个工作簿最多逐条列出几条问题（其余见校验报告或 --all）",
            "Findings listed one by one per workbook on the terminal (the rest: the report workbook or --all)",
            minimum=1),
    Setting("limits.max_unzipped_mb", 512, "单个工作簿解压后允许的最大体积（MB），防止压缩炸弹",
            "Largest uncompressed size of one workbook read, in MB (guards against zip bombs)", minimum=1),
    Setting("limits.lock_wait_seconds", 300, "另一个任务正在运行时最多等待几秒（之后退出并说明原因）",
            "Seconds a job waits for another run on the same folder to finish before it gives up with a message", minimum=0),
    Setting("limits.workers", 0, "校验、每日任务与周报并行处理工作簿的进程数：0 为自动（CPU 核数，最多 4），"
            "1 为不并行（每日任务写预警也不另开进程）",
            "Processes that work on workbooks in parallel in check, daily and weekly: 0 = automatic (CPU cores, "
            "at most 4), 1 = none (and the daily job writes its flags in its own process)", minimum=0),
    Setting("flags.count_days", False, "预警列是否写入天数（如“逾期5个工作日”，每天都会改写工作簿）；默认只写状态与日期（如“逾期（截止12-24）”），含义变化时才改写",
            "Write day counts in the alert column ('Overdue 5 wd': every workbook rewritten each day); by default "
            "only the state and date ('Overdue (due 12-24)'), rewritten only when that changes"),
    Setting("state.keep_daily_weeks", 8, "state.db 中每日任务快照保留几周；更早的每周只留一份",
            "Weeks of daily task snapshots state.db keeps; older weeks keep one snapshot each", minimum=3),
    Setting("state.keep_weeks", 104, "任务快照最多保留几周（更早的删除；邮件与群消息记录不删）",
            "Weeks of task snapshots kept at all (older ones are deleted; the mail and post ledgers are kept)",
            minimum=4),
)

_BY_NAME = {s.name: s for s in SETTINGS}


def _type_ok(setting: Setting, value: Any) -> bool:
    default = setting.default
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(default, list):
        return isinstance(value, list)
    return isinstance(value, str)


CHANNEL_KINDS = tuple(PLATFORMS)  # dingtalk, wecom, feishu: one entry each in platforms.py
CHANNEL_TRANSPORTS = ("outbox", "send")  # one entry each in channels.POSTERS


@dataclass(frozen=True)
class Channel:
    """A chat group's custom robot: [channels.<name>] in coordxl.toml (its webhook URL is never in the file)."""

    name: str
    kind: str  # dingtalk | wecom | feishu
    webhook_env: str  # the environment variable holding the webhook URL
    secret_env: str = ""  # the environment variable holding the signing secret (DingTalk, Feishu)
    keyword: str = ""  # the robot's required keyword, put in every message
    items: tuple[str, ...] = ()  # topics or file names it serves; "*" for all
    daily: bool = True
    weekly: bool = True
    transport: str = "outbox"  # outbox: .json files under .coordxl/outbox/; send: post to the robot
    management: bool = False  # the weekly post is the overall summary (a management group)
    admin: bool = False  # gets the administrator's daily health list (an IT or operations group)


CHANNEL_KEYS = {"kind": str, "webhook_env": str, "secret_env": str, "keyword": str, "items": list, "daily": bool,
                "weekly": bool, "transport": str, "management": bool, "admin": bool}


def _channel(name: str, table: Any, where: str, lang: str) -> Channel:
    def bad(key: str, allowed: str, value: Any) -> ConfigError:
        return ConfigError(_say("config.channel", lang, where=where, name=f"channels.{name}.{key}", value=_shown(value),
                                allowed=allowed))
    if not isinstance(table, dict):
        raise bad("", "[channels.名称] 表" if lang == "zh" else "a [channels.<name>] table", table)
    for key, value in table.items():
        if key not in CHANNEL_KEYS:
            close = difflib.get_close_matches(key, CHANNEL_KEYS, n=1)
            hint = _say("config.did_you_mean", lang, close=close[0]) if close else ""
            raise ConfigError(_say("config.unknown", lang, where=where, name=f"channels.{name}.{key}", hint=hint))
        if not isinstance(value, CHANNEL_KEYS[key]) or (CHANNEL_KEYS[key] is int and isinstance(value, bool)):
            raise bad(key, {bool: "true / false", str: '"…"', list: '["…"]'}[CHANNEL_KEYS[key]], value)
    if table.get("kind") not in CHANNEL_KINDS:
        raise bad("kind", ", ".join(CHANNEL_KINDS), table.get("kind", ""))
    if table.get("transport", "outbox") not in CHANNEL_TRANSPORTS:
        raise bad("transport", ", ".join(CHANNEL_TRANSPORTS), table["transport"])
    for key in ("webhook_env", "secret_env"):
        value = table.get(key, "" if key == "secret_env" else f"COORDXL_{name.upper().replace('-', '_')}_WEBHOOK")
        if value and not _ENV.match(value):
            raise bad(key, _say("config.env_allowed", lang), value)
    items = table.get("items", ["*"])
    if not all(isinstance(i, str) and i.strip() for i in items):
        raise bad("items", '["*"]', items)
    return Channel(name, table["kind"], table.get("webhook_env") or f"COORDXL_{re.sub(r'[^A-Za-z0-9]', '_', name).upper()}_WEBHOOK",
                   table.get("secret_env", ""), table.get("keyword", ""), tuple(items), table.get("daily", True),
                   table.get("weekly", True), table.get("transport", "outbox"), table.get("management", False),
                   table.get("admin", False))


class Settings:
    """Settings values, by dotted name, with every name known, typed and in its range."""

    def __init__(self, values: dict[str, Any], path: Path | None = None, channels: dict[str, Channel] | None = None):
        self._values = values
        self.path = path
        self.channels: dict[str, Channel] = dict(channels or {})

    @classmethod
    def defaults(cls) -> "Settings":
        return cls({s.name: _copy(s.default) for s in SETTINGS})

    @classmethod
    def from_toml(cls, text: str, path: Path | None = None) -> "Settings":
        where = str(path) if path else CONFIG_NAME
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(_say("config.toml", _lang_of(text), where=where, error=exc)) from None
        lang = _lang_of(data)
        settings = cls.defaults()
        settings.path = path
        for section, table in data.items():
            if not isinstance(table, dict):
                raise ConfigError(_say("config.section", lang, where=where, section=section))
            if section == "channels":
                for name, channel in table.items():
                    settings.channels[name] = _channel(name, channel, where, lang)
                continue
            for key, value in table.items():
                settings._set(f"{section}.{key}", value, where, lang)
        settings._check_together(where, lang)
        return settings

    @classmethod
    def load(cls, root: Path) -> "Settings":
        """Settings of a shared folder: its coordxl.toml, or the defaults when there is none.

        A file saved by Notepad as GBK/GB18030 is read too (and logged); one that is neither is refused.
        """
        path = Path(root) / CONFIG_NAME
        if not path.exists():
            return cls.defaults()
        try:
            raw = path.read_bytes()
        except OSError as exc:  # a file only its owner may read, a lock from another program
            raise ConfigError(key="config.unreadable", where=path, error=exc.strerror or exc, user=user_name()) from None
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            try:
                text = raw.decode("gb18030")
            except UnicodeDecodeError:
                raise ConfigError(_say("config.encoding", "zh", where=path)) from None
            log.warning("%s is saved as GBK/GB18030, not UTF-8: read anyway", path)
        return cls.from_toml(text, path)

    def _set(self, name: str, value: Any, where: str, lang: str = "zh") -> None:
        setting = _BY_NAME.get(name)
        if setting is None:
            close = difflib.get_close_matches(name, _BY_NAME, n=1)
            hint = _say("config.did_you_mean", lang, close=close[0]) if close else ""
            raise ConfigError(_say("config.unknown", lang, where=where, name=name, hint=hint))
        problem = check_value(setting, value, lang)
        if problem:
            key, params = problem
            raise ConfigError(_say(key, lang, where=where, name=name, value=_shown(params.pop("value", value)),
                                   **params))
        self._values[name] = value

    def _check_together(self, where: str, lang: str) -> None:
        manager, initiator = self["reminders.escalate_manager_workdays"], self["reminders.escalate_initiator_workdays"]
        if initiator < manager:
            raise ConfigError(_say("config.order", lang, where=where, manager=manager, initiator=initiator))

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def replace(self, **changes: Any) -> "Settings":
        """A copy with some values changed; keys use '__' for the dot: ``rules__stale_workdays=3``."""
        new = Settings(dict(self._values), self.path, self.channels)
        for key, value in changes.items():
            new._set(key.replace("__", "."), value, "override", self.lang)
        return new

    @property
    def lang(self) -> str:
        return self["general.language"]


# --- what each kind of value must be ----------------------------------------------------------

Problem = tuple[str, dict] | None  # (message key, parameters) or None when the value is fine

_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_ENV = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9\u0080-\uffff]([A-Za-z0-9\u0080-\uffff-]{0,61}[A-Za-z0-9\u0080-\uffff])?\.)+"
                     r"[A-Za-z\u0080-\uffff]{2,63}$")
_ADDRESS = re.compile(r"^[^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\"]+$")
# what people write for China's time zone
_ZONE_ALIASES = {"beijing": "Asia/Shanghai", "北京": "Asia/Shanghai", "shanghai": "Asia/Shanghai", "上海": "Asia/Shanghai",
                 "china": "Asia/Shanghai", "中国": "Asia/Shanghai", "cst": "Asia/Shanghai", "utc+8": "Asia/Shanghai",
                 "gmt+8": "Asia/Shanghai", "hongkong": "Asia/Hong_Kong", "香港": "Asia/Hong_Kong",
                 "taipei": "Asia/Taipei", "台北": "Asia/Taipei"}


def _zone(value: str, lang: str) -> Problem:
    try:
        if value and value == value.strip():
            ZoneInfo(value)
            return None
    except (ZoneInfoNotFoundError, ValueError, OSError):
        pass
    guess = _ZONE_ALIASES.get(value.strip().lower().replace(" ", ""))
    if guess is None:
        close = difflib.get_close_matches(value, sorted(available_timezones()), n=1)
        guess = close[0] if close else None
    return "config.zone", {"hint": _say("config.did_you_mean", lang, close=guess) if guess else ""}


def _time(value: str, lang: str) -> Problem:
    return None if _TIME.match(value) else ("config.time", {})


def _dates(value: list, lang: str) -> Problem:
    for item in value:
        try:
            if isinstance(item, dt.date) and not isinstance(item, dt.datetime):
                continue  # TOML's own date literal: 2026-12-31 without quotes
            if isinstance(item, str) and dt.date.fromisoformat(item).isoformat() == item:
                continue
        except ValueError:
            pass
        hint = ""
        parts = re.findall(r"\d+", str(item))
        if len(parts) == 3:
            try:
                hint = _say("config.did_you_mean", lang, close=dt.date(*map(int, parts)).isoformat())
            except ValueError:
                pass
        return "config.date", {"value": item, "hint": hint}
    return None


def _years(value: list, lang: str) -> Problem:
    bad = [item for item in value if not isinstance(item, int) or isinstance(item, bool) or not 1900 <= item <= 2100]
    return ("config.years", {"value": bad[0]}) if bad else None


def _monthday(value: str, lang: str) -> Problem:
    try:
        month, day = (int(x) for x in value.split("-"))
        dt.date(2024, month, day)  # a leap year: 02-29 is a day
        return None if re.fullmatch(r"\d{2}-\d{2}", value) else ("config.monthday", {})
    except ValueError:
        return "config.monthday", {}


def _share(value: str, lang: str) -> Problem:
    if not value or value.startswith("\\\\") or re.match(r"^((file|https?|smb)://\S.*|[A-Za-z]:[\\/].*)$", value):
        return None
    return "config.share", {}


def _folder(value: str, lang: str) -> Problem:
    path = PurePath(value.replace("\\", "/"))
    if not value.strip() or path.is_absolute() or ".." in path.parts or re.match(r"^[A-Za-z]:", value):
        return "config.folder", {}
    return None


_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _folder_id(value: str, lang: str) -> Problem:
    return None if not value or _UUID.match(value) else ("config.folder_id", {})


def _local_path(value: str, lang: str) -> Problem:
    from pathlib import PurePosixPath, PureWindowsPath

    if not value or value.startswith("~") or PurePosixPath(value).is_absolute() or PureWindowsPath(value).is_absolute():
        return None
    return "config.local_path", {}


def _address(value: str, lang: str) -> Problem:
    return None if _ADDRESS.match(value) else ("config.address", {})


def _host(value: str, lang: str) -> Problem:
    return None if value.strip() and not re.search(r"\s", value) else ("config.host", {})


def _env(value: str, lang: str) -> Problem:
    return None if _ENV.match(value) else ("config.env", {})


def _domains(value: list, lang: str) -> Problem:
    for item in value:
        if not isinstance(item, str) or not _DOMAIN.match(item.lstrip("@")):
            return "config.domains", {"value": item}
    return None


def _file(value: str, lang: str) -> Problem:
    return None if not value or os.access(value, os.R_OK) and Path(value).is_file() else ("config.file", {})


def _names(value: list, lang: str) -> Problem:
    bad = [item for item in value if not isinstance(item, str) or not item.strip()]
    return ("config.names", {"value": bad[0]}) if bad else None


def _targets(value: list, lang: str) -> Problem:
    ok = (len(value) == 2 and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value))
    return None if ok else ("config.targets", {})


def _counts(value: list, lang: str) -> Problem:
    bad = [item for item in value if not isinstance(item, int) or isinstance(item, bool) or item < 0]
    return ("config.counts", {"value": bad[0]}) if bad else None


CHECKS: dict[str, Callable[[Any, str], Problem]] = {
    "zone": _zone, "time": _time, "dates": _dates, "folder": _folder, "address": _address, "host": _host,
    "env": _env, "domains": _domains, "monthday": _monthday, "years": _years, "share": _share, "targets": _targets, "file": _file, "names": _names, "counts": _counts,
    "folder_id": _folder_id, "local_path": _local_path,
}


def check_value(setting: Setting, value: Any, lang: str = "zh") -> Problem:
    """What is wrong with ``value`` for ``setting`` (type, choices, range, kind), or None."""
    if not _type_ok(setting, value):
        return "config.type", {"example": _toml_value(setting.default) if setting.default != "" else '"…"'}
    if setting.choices and value not in setting.choices:
        return "config.choice", {"choices": ", ".join(setting.choices)}
    if setting.minimum is not None and value < setting.minimum:
        return "config.minimum", {"minimum": setting.minimum}
    if setting.maximum is not None and value > setting.maximum:
        return "config.maximum", {"maximum": setting.maximum}
    if setting.kind:
        return CHECKS[setting.kind](value, lang)
    return None


def _lang_of(data: Any) -> str:
    """The language the file asks for, to speak it in errors about the same file (zh by default)."""
    if isinstance(data, str):
        found = re.search(r'(?m)^\s*language\s*=\s*"(zh|en)"', data)
        return found.group(1) if found else "zh"
    general = data.get("general") if isinstance(data, dict) else None
    lang = general.get("language") if isinstance(general, dict) else data.get("language")
    return lang if lang in ("zh", "en") else "zh"


def _say(key: str, lang: str, **values: Any) -> str:
    return text(key, lang, **values)


def _shown(value: Any) -> str:
    """A value as it would be written in the file."""
    if isinstance(value, (bool, int, list, str)):
        return _toml_value(value)
    return repr(value)


def _copy(value: Any) -> Any:
    return list(value) if isinstance(value, list) else value


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    escaped = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def render_config(lang: str = "zh", values: dict[str, Any] | None = None) -> str:
    """The text of a coordxl.toml with every setting and its help as a comment."""
    values = values or {}
    head = ("# coordxl 设置。每项上方的注释说明其含义；删除某项即恢复默认值。\n"
            if lang == "zh" else
            "# coordxl settings. Each comment says what the setting does; delete a line to use the default.\n")
    lines = [head]
    section = None
    for s in SETTINGS:
        if s.section != section:
            section = s.section
            lines.append(f"\n[{section}]\n")
        lines.append(f"# {s.help_zh if lang == 'zh' else s.help_en}\n")
        lines.append(f"{s.key} = {_toml_value(values.get(s.name, s.default))}\n")
    lines.append(CHANNELS_HELP[lang])
    return "".join(lines)


CHANNELS_HELP = {
    "zh": """
# 跟进群（钉钉、企业微信、飞书的群机器人）：每个群一节 [channels.名称]，删去行首的 # 即可启用。
# webhook 地址和加签密钥放在环境变量里（或系统钥匙串：pip install "coordxl[keyring]" 后 keyring set coordxl-channel 名称），不要写在这里。
# [channels.q3-launch]
# kind = "dingtalk"              # dingtalk | wecom | feishu
# webhook_env = "COORDXL_Q3_LAUNCH_WEBHOOK"
# secret_env = "COORDXL_Q3_LAUNCH_SECRET"   # 钉钉/飞书“加签”时填写
# keyword = "协调"               # 机器人设置的自定义关键词
# items = ["Q3新品上市推广"]      # 服务的事项（主题或文件名），"*" 为全部；需求单的“跟进群”也可指定
# daily = true
# weekly = true
# transport = "outbox"           # outbox：写入 .coordxl/outbox/ 预览；send：真正发送
""",
    "en": """
# Chat groups (DingTalk, WeCom, Feishu custom robots): one [channels.<name>] per group; remove the # to use it.
# The webhook URL and signing secret go in environment variables (or the OS keyring: pip install "coordxl[keyring]", then keyring set coordxl-channel <name>), never here.
# [channels.q3-launch]
# kind = "dingtalk"              # dingtalk | wecom | feishu
# webhook_env = "COORDXL_Q3_LAUNCH_WEBHOOK"
# secret_env = "COORDXL_Q3_LAUNCH_SECRET"   # when the robot signs (DingTalk, Feishu)
# keyword = "协调"               # the robot's custom keyword
# items = ["Q3新品上市推广"]      # items it serves (topic or file name), "*" for all; 需求单's 跟进群 can name it too
# daily = true
# weekly = true
# transport = "outbox"           # outbox: preview files in .coordxl/outbox/; send: post for real
""",
}


# --- writing [calendar] into an administrator's coordxl.toml ------------------------------------
# The file is the administrator's: their comments, order and other settings stay as they are. Only
# the three lists are touched, each by adding values before its closing bracket.

CALENDAR_LISTS = ("extra_holidays", "extra_workdays", "official_years")


def add_calendar_values(config: str, additions: dict[str, list], note: str = "") -> str:
    """``config`` with values added to [calendar]'s lists (``additions``: key -> values, TOML-written);
    a list or the section that is missing is added. ``note`` becomes a comment beside the new values."""
    for key in CALENDAR_LISTS:
        values = additions.get(key) or []
        if values:
            config = _add_to_list(config, key, [_toml_value(v) for v in values], note)
    return config


def _section(config: str, name: str) -> tuple[int, int] | None:
    """Where the body of ``[name]`` starts and ends in the text, or None."""
    headers = list(re.finditer(r"(?m)^[ \t]*\[([^\[\]]+)\][ \t]*(#.*)?$", config))
    for i, m in enumerate(headers):
        if m.group(1).strip() == name:
            end = headers[i + 1].start() if i + 1 < len(headers) else len(config)
            return m.end() + 1 if m.end() < len(config) else m.end(), end
    return None


def _add_to_list(config: str, key: str, values: list[str], note: str) -> str:
    where = _section(config, "calendar")
    if where is None:
        block = f"\n[calendar]\n{_new_list(key, values, note)}"
        return config + ("" if config.endswith("\n") else "\n") + block
    start, end = where
    found = re.compile(rf"(?m)^[ \t]*{key}[ \t]*=[ \t]*\[").search(config, start, end)
    if found is None:  # the list is not in the section yet: after the section's last setting
        body = config[start:end].rstrip("\n")
        cut = start + len(body)
        return config[:cut] + ("\n" if body else "") + _new_list(key, values, note) + config[cut:]
    close, last = _closing_bracket(config, found.end())
    inner = config[found.end():close]
    if not inner.strip():  # "[]" as coordxl init writes it: a list of its own lines
        return config[:found.start()] + _new_list(key, values, note).rstrip("\n") + config[close + 1:]
    comma = "" if config[last] in "[," else ","
    line_start = config.rfind("\n", 0, close) + 1
    if config[line_start:close].strip() == "":  # the bracket on its own line: new lines above it
        lines = _new_list(key, values, note).split("\n", 1)[1].rsplit("]", 1)[0]
        return config[:last + 1] + comma + config[last + 1:line_start] + lines + config[line_start:]
    return config[:last + 1] + comma + " " + ", ".join(values) + config[last + 1:]


def _new_list(key: str, values: list[str], note: str) -> str:
    lines = [f"    {', '.join(values[i:i + 6])}," for i in range(0, len(values), 6)]
    return f"{key} = [\n" + (f"    # {note}\n" if note else "") + "\n".join(lines) + "\n]\n"


def _closing_bracket(config: str, i: int) -> tuple[int, int]:
    """The index of the ']' closing the list that starts before ``i``, and of its last character that is
    neither blank nor a comment (the '[' itself when the list is empty)."""
    last, depth, quote = i - 1, 0, ""
    while i < len(config):
        ch = config[i]
        if quote:
            if ch == "\\" and quote == '"':
                i += 1
            elif ch == quote:
                quote = ""
                last = i
        elif ch in "\"'":
            quote = ch
        elif ch == "#":
            i = config.find("\n", i)
            if i < 0:
                break
            continue
        elif ch == "[":
            depth += 1
            last = i
        elif ch == "]":
            if depth == 0:
                return i, last
            depth -= 1
            last = i
        elif not ch.isspace():
            last = i
        i += 1
    raise ConfigError(key="config.list_open", file=CONFIG_NAME, section="calendar")


def add_setting_line(config: str, name: str, value: Any, note: str = "") -> str:
    """``config`` with ``key = value`` (and ``# note`` above it) at the end of its section's settings; the
    section is added when missing. The administrator's comments and order stay as they are.

    >>> add_setting_line('[general]\\nlanguage = "zh"\\n\\n[rules]\\n', "general.folder_id", "x", "id")
    '[general]\\nlanguage = "zh"\\n# id\\nfolder_id = "x"\\n\\n[rules]\\n'
    """
    section, key = name.split(".", 1)
    line = (f"# {note}\n" if note else "") + f"{key} = {_toml_value(value)}\n"
    where = _section(config, section)
    if where is None:
        return config + ("" if config.endswith("\n") or not config else "\n") + f"\n[{section}]\n{line}"
    start, end = where
    present = re.compile(rf"(?m)^[ \t]*{re.escape(key)}[ \t]*=.*$").search(config, start, end)
    if present is not None:  # written empty (or otherwise): the value replaces it, on its line
        return config[:present.start()] + f"{key} = {_toml_value(value)}" + config[present.end():]
    body = config[start:end].rstrip()
    cut = start + len(body)
    return config[:cut] + ("\n" if body else "") + line + config[cut:].removeprefix("\n")
