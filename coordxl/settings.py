"""Every setting of coordxl.toml as one table: name, default, help.

The generated config file carries each help line as a comment, and the README
documents every name (a test checks both).

>>> s = Settings.defaults()
>>> s["rules.meeting_max_minutes"]
90
"""

from __future__ import annotations

import difflib
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError

CONFIG_NAME = "coordxl.toml"


@dataclass(frozen=True)
class Setting:
    name: str  # "section.key"
    default: Any
    help_zh: str
    help_en: str
    choices: tuple[str, ...] = ()

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
            "Time zone used for 'today' and meeting times"),
    Setting("folders.active", "进行中", "进行中事项的文件夹", "Folder of active coordination items"),
    Setting("folders.archive", "归档", "已归档事项的文件夹", "Folder of archived items"),
    Setting("folders.reports", "报告", "任务生成的报告（周报、校验报告、复盘草稿）", "Folder the jobs write reports to"),
    Setting("folders.templates", "模板", "空白模板所在文件夹", "Folder holding the blank templates"),
    Setting("folders.roster", "名册.xlsx", "名册工作簿（人员与部门）", "Roster workbook (people and departments)"),
    Setting("calendar.extra_holidays", [], "额外的休息日，如公司年假，格式 \"2026-12-31\"",
            "Extra non-working days, e.g. a company day off, as \"2026-12-31\""),
    Setting("calendar.extra_workdays", [], "额外的工作日（公司调休），格式 \"2026-12-26\"",
            "Extra working days (company make-up days), as \"2026-12-26\""),
    Setting("rules.notice_workdays", 2, "需求单至少提前几个工作日发出", "Working days a request form must precede the meeting"),
    Setting("rules.materials_days", 1, "会议材料至少提前几天发出", "Days the materials must precede the meeting"),
    Setting("rules.meeting_max_minutes", 90, "会议最长时长（分钟）", "Longest allowed meeting, in minutes"),
    Setting("rules.minutes_max_hours", 24, "会后多少小时内须发出纪要", "Hours after the meeting within which minutes go out"),
    Setting("rules.followup_max_minutes", 30, "跟进会最长时长（分钟）", "Longest allowed follow-up meeting, in minutes"),
    Setting("rules.due_soon_workdays", 2, "截止前几个工作日内标记为“即将到期”",
            "Working days before the due date a task counts as due soon"),
    Setting("rules.stale_workdays", 5, "进行中的任务多少个工作日未更新视为“未更新”",
            "Working days without an update before an in-progress task is stale"),
    Setting("rules.resource_pending_workdays", 3, "资源申请等待审核/审批超过几个工作日提醒",
            "Working days a resource request may wait for review or approval"),
    Setting("rules.max_date_distance_years", 3, "日期与事项需求单日期相差超过几年视为填错（不提醒、不升级）",
            "Years a date may be from the item's request date before it counts as a typing slip (never reminded)"),
    Setting("reminders.lead_workdays", [3, 1], "截止前第几个工作日提醒负责人",
            "Working days before the due date on which owners are reminded"),
    Setting("reminders.escalate_manager_workdays", 3, "逾期达到几个工作日抄送上级或部门负责人",
            "Working days overdue before the owner's manager or head is copied"),
    Setting("reminders.escalate_initiator_workdays", 5, "逾期达到几个工作日再抄送发起人和决策人",
            "Working days overdue before the initiator and decision maker are copied"),
    Setting("reminders.send_on_non_workdays", False, "休息日是否也发送提醒", "Send reminders on non-working days too"),
    Setting("reminders.max_mails_per_run", 300, "每次运行最多发送的邮件数", "Most mails one run may send"),
    Setting("reminders.max_tasks_per_mail", 30, "每封提醒最多列出的任务数（最紧急的在前，其余只计数）",
            "Most tasks one reminder lists (most urgent first; the rest are counted)"),
    Setting("reminders.management", [], "接收周报的管理层姓名（须在名册中）",
            "Names (from the roster) of managers who get the weekly summary"),
    Setting("email.transport", "outbox", "outbox：写入 .coordxl/outbox/ 的 .eml 文件；smtp：真正发送",
            "outbox writes .eml files to .coordxl/outbox/; smtp sends", ("outbox", "smtp")),
    Setting("email.sender", "coordxl@corp.example", "发件人地址（From）", "From address"),
    Setting("email.host", "smtp.corp.example", "SMTP 服务器", "SMTP server"),
    Setting("email.port", 465, "SMTP 端口", "SMTP port"),
    Setting("email.security", "ssl", "连接加密方式：ssl、starttls 或 none", "Connection security: ssl, starttls or none",
            ("ssl", "starttls", "none")),
    Setting("email.user", "", "SMTP 登录名；留空表示不登录", "SMTP login; empty means no login"),
    Setting("email.password_env", "COORDXL_SMTP_PASSWORD", "保存 SMTP 密码的环境变量名（不要把密码写在这里）",
            "Environment variable holding the SMTP password (never the password itself)"),
    Setting("email.allowed_domains", [], "只允许发往这些域名；留空表示名册中的任何地址",
            "Only send to these domains; empty means any roster address"),
    Setting("email.ca_file", "", "公司自签证书的 CA 文件路径；留空使用系统信任的证书",
            "CA certificate file for a company-signed mail server; empty uses the system's trusted certificates"),
    Setting("email.timeout_seconds", 30, "连接邮件服务器及每条 SMTP 命令的超时（秒）",
            "Seconds to wait for the mail server to connect and answer each command"),
    Setting("email.data_timeout_seconds", 600, "邮件内容发出后等待服务器确认的时间（秒，RFC 5321 建议 10 分钟）；"
            "超时的邮件记为“未知”，不自动重发",
            "Seconds to wait for the server to confirm a message after its content was sent (RFC 5321: 10 minutes); "
            "a message without an answer is recorded 'unknown' and not resent automatically"),
    Setting("schedule.daily_time", "09:00", "每日任务时间（工作日）", "Time of the daily job (working days)"),
    Setting("schedule.weekly_day", "monday", "周报在星期几生成", "Weekday of the weekly job",
            ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")),
    Setting("schedule.weekly_time", "09:30", "周报生成时间", "Time of the weekly job"),
    Setting("writeback.enabled", True, "是否把预警写回执行进度表；OneDrive/SharePoint 协同编辑的文件夹请关闭",
            "Write the alert column back into trackers; turn off for co-authored OneDrive/SharePoint folders"),
    Setting("writeback.backups_keep", 10, "每个工作簿保留的备份份数", "Backups kept per workbook"),
    Setting("limits.max_unzipped_mb", 512, "单个工作簿解压后允许的最大体积（MB），防止压缩炸弹",
            "Largest uncompressed size of one workbook read, in MB (guards against zip bombs)"),
    Setting("limits.lock_wait_seconds", 300, "另一个任务正在运行时最多等待几秒（之后退出并说明原因）",
            "Seconds a job waits for another run on the same folder to finish before it gives up with a message"),
    Setting("limits.workers", 0, "校验时并行读取工作簿的进程数：0 为自动（CPU 核数，最多 4），1 为不并行",
            "Processes that read workbooks in parallel during a check: 0 = automatic (CPU cores, at most 4), "
            "1 = none"),
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


class Settings:
    """Settings values, by dotted name, with every name known and typed."""

    def __init__(self, values: dict[str, Any], path: Path | None = None):
        self._values = values
        self.path = path

    @classmethod
    def defaults(cls) -> "Settings":
        return cls({s.name: _copy(s.default) for s in SETTINGS})

    @classmethod
    def from_toml(cls, text: str, path: Path | None = None) -> "Settings":
        where = str(path) if path else CONFIG_NAME
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{where}: not valid TOML: {exc}") from exc
        settings = cls.defaults()
        settings.path = path
        for section, table in data.items():
            if not isinstance(table, dict):
                raise ConfigError(f"{where}: '{section}' must be a [section]; see the README's settings table")
            for key, value in table.items():
                settings._set(f"{section}.{key}", value, where)
        return settings

    @classmethod
    def load(cls, root: Path) -> "Settings":
        """Settings of a shared folder: its coordxl.toml, or the defaults when there is none."""
        path = Path(root) / CONFIG_NAME
        if not path.exists():
            return cls.defaults()
        return cls.from_toml(path.read_text(encoding="utf-8-sig"), path)

    def _set(self, name: str, value: Any, where: str) -> None:
        setting = _BY_NAME.get(name)
        if setting is None:
            close = difflib.get_close_matches(name, _BY_NAME, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise ConfigError(f"{where}: unknown setting '{name}'{hint}")
        if not _type_ok(setting, value):
            raise ConfigError(f"{where}: '{name}' should look like {_toml_value(setting.default)}, got {value!r}")
        if setting.choices and value not in setting.choices:
            raise ConfigError(f"{where}: '{name}' must be one of {', '.join(setting.choices)}, got {value!r}")
        self._values[name] = value

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def replace(self, **changes: Any) -> "Settings":
        """A copy with some values changed; keys use '__' for the dot: ``rules__stale_workdays=3``."""
        new = Settings(dict(self._values), self.path)
        for key, value in changes.items():
            new._set(key.replace("__", "."), value, "override")
        return new

    @property
    def lang(self) -> str:
        return self["general.language"]


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
    return "".join(lines)
