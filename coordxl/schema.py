"""Every sheet coordxl knows, as data.

One table drives template generation, reading and validation: adding a field
is one edit here. Labels are matched after :func:`fold` (full-width → half-width,
spaces removed, case folded), so ``执行 进度`` and ``ＤＵＥ`` still match.

>>> TASKS.field("status").choice_for("完成").key
'done'
"""

from __future__ import annotations

import functools
import unicodedata
from dataclasses import dataclass
from typing import Iterable

TEXT = "text"
LONG_TEXT = "long_text"
PERSON = "person"
PEOPLE = "people"  # free text naming several people or departments
DEPARTMENT = "department"
DATE = "date"
DATETIME = "datetime"
TIME = "time"
NUMBER = "number"
ENUM = "enum"
EMAIL = "email"

TYPES = (TEXT, LONG_TEXT, PERSON, PEOPLE, DEPARTMENT, DATE, DATETIME, TIME, NUMBER, ENUM, EMAIL)


@functools.lru_cache(maxsize=65536)
def _fold(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text).split()).casefold()


def fold(text: object) -> str:
    """Normalise a label or enum value for matching: NFKC, no whitespace, casefolded."""
    return _fold(text if isinstance(text, str) else str(text))


@functools.lru_cache(maxsize=None)
def _choice_index(choices: tuple) -> dict:
    index = {}
    for choice in choices:
        for spelling in choice.spellings():
            index.setdefault(fold(spelling), choice)
    return index


@dataclass(frozen=True)
class Choice:
    """One value of an enum field: canonical key, the labels staff see, aliases."""

    key: str
    zh: str
    en: str
    aliases: tuple[str, ...] = ()

    def label(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en

    def spellings(self) -> tuple[str, ...]:
        return (self.zh, self.en, self.key, *self.aliases)


@dataclass(frozen=True)
class Field:
    """One column of a table or one row of a form."""

    key: str
    zh: str
    en: str
    type: str = TEXT
    required: bool = False
    aliases: tuple[str, ...] = ()
    choices: tuple[Choice, ...] = ()
    prompt_zh: str = ""
    prompt_en: str = ""
    width: int | None = None
    written_by_jobs: bool = False

    def __post_init__(self) -> None:
        if self.type not in TYPES:
            raise ValueError(f"unknown field type {self.type!r} for {self.key}")
        if (self.type == ENUM) != bool(self.choices):
            raise ValueError(f"field {self.key}: choices go with type enum, and only with it")

    def label(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en

    def prompt(self, lang: str) -> str:
        return self.prompt_zh if lang == "zh" else self.prompt_en

    def spellings(self) -> tuple[str, ...]:
        return (self.zh, self.en, self.key, *self.aliases)

    def choice_for(self, text: object) -> Choice | None:
        """The choice a cell's text means, by any of its spellings, or None."""
        return _choice_index(self.choices).get(fold(text))

    def choice(self, key: str) -> Choice:
        for choice in self.choices:
            if choice.key == key:
                return choice
        raise KeyError(key)

    @property
    def column_width(self) -> int:
        if self.width:
            return self.width
        return {LONG_TEXT: 40, TEXT: 22, PEOPLE: 24, DATE: 12, DATETIME: 17, TIME: 9,
                PERSON: 10, DEPARTMENT: 10, ENUM: 10, NUMBER: 12, EMAIL: 26}[self.type]


@dataclass(frozen=True)
class Form:
    """Label/value rows: the label in one cell, the value in the next cell to its right."""

    fields: tuple[Field, ...]


@dataclass(frozen=True)
class Table:
    """A header row followed by one record per row."""

    key: str
    zh: str
    en: str
    fields: tuple[Field, ...]
    example_rows: int = 30  # blank formatted rows a template offers

    def label(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en

    def field(self, key: str) -> Field:
        return next(f for f in self.fields if f.key == key)


Part = Form | Table


@dataclass(frozen=True)
class Sheet:
    """A document: its sheet name, and the forms and tables it holds, top to bottom."""

    key: str
    zh: str
    en: str
    parts: tuple[Part, ...]
    aliases: tuple[str, ...] = ()
    required: bool = True

    def label(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en

    def spellings(self) -> tuple[str, ...]:
        return (self.zh, self.en, self.key, *self.aliases)

    @property
    def form(self) -> Form | None:
        forms = [p for p in self.parts if isinstance(p, Form)]
        return Form(tuple(f for form in forms for f in form.fields)) if forms else None

    @property
    def tables(self) -> tuple[Table, ...]:
        return tuple(p for p in self.parts if isinstance(p, Table))

    def table(self, key: str) -> Table:
        for t in self.tables:
            if t.key == key:
                return t
        raise KeyError(key)

    def fields(self) -> Iterable[Field]:
        for part in self.parts:
            yield from part.fields

    def field(self, key: str) -> Field:
        for f in self.fields():
            if f.key == key:
                return f
        raise KeyError(f"{self.key} has no field {key!r}")


YES_NO = (
    Choice("yes", "是", "Yes", ("y", "true", "1", "√", "✔", "在职", "Y")),
    Choice("no", "否", "No", ("n", "false", "0", "×", "✘", "离职", "N")),
)

# the roster's 在职: here, gone, or away for now (reminders go to the deputy, escalation pauses)
ACTIVE = YES_NO + (Choice("leave", "休假", "On leave", ("请假", "休假中", "请假中", "leave", "away")),)

ITEM_STATUS = (
    Choice("preparing", "筹备中", "Preparing", ("准备中", "筹备")),
    Choice("active", "进行中", "In progress", ("执行中", "active")),
    Choice("accepting", "验收中", "Accepting", ("验收", "acceptance")),
    Choice("closed", "已关闭", "Closed", ("关闭", "已结束", "结束", "完结", "已取消", "取消")),
)

# the lower row of a two-level header (时间节点 over 开始 / 截止; 责任 over 部门 / 负责人)
SUB_DEPARTMENT = ("部门", "责任部门", "承办部门")
SUB_OWNER = ("责任人", "执行人", "负责人员", "人")
SUB_DUE = ("截止", "截止日", "计划完成", "计划完成日期")

TASK_STATUS = (
    Choice("not_started", "未开始", "Not started", ("待开始", "todo", "to do")),
    Choice("in_progress", "进行中", "In progress", ("执行中", "处理中", "doing", "wip")),
    Choice("done", "已完成", "Done", ("完成", "已办结", "已完结", "办结", "completed", "complete", "finished")),
    Choice("blocked", "受阻", "Blocked", ("阻塞", "卡住")),
    # stopped on purpose (not blocked): never reminded, escalated or overdue
    Choice("paused", "暂停", "Paused", ("搁置", "暂缓", "已暂停", "暂停中", "挂起", "on hold", "paused")),
    Choice("cancelled", "已取消", "Cancelled", ("取消", "作废", "canceled")),
)

RESOURCE_KIND = (
    Choice("people", "人力", "People", ("人员", "人手", "staff")),
    Choice("money", "资金", "Money", ("经费", "预算", "费用", "budget")),
    Choice("equipment", "设备", "Equipment", ("物资", "硬件")),
    Choice("other", "其他", "Other", ("其它",)),
)

REVIEW_RESULT = (
    Choice("pending", "待审核", "Pending", ("审核中", "未审核")),
    Choice("passed", "通过", "Passed", ("同意", "已通过", "审核通过", "approved")),
    Choice("returned", "退回", "Returned", ("不通过", "已退回", "驳回", "rejected")),
)

APPROVAL_RESULT = (
    Choice("pending", "待审批", "Pending", ("审批中", "未审批")),
    Choice("approved", "批准", "Approved", ("同意", "已批准", "通过", "审批通过")),
    Choice("rejected", "驳回", "Rejected", ("不批准", "不同意", "已驳回", "退回")),
)

ACCEPTANCE = (
    Choice("accepted", "通过", "Accepted", ("验收通过", "合格", "passed")),
    Choice("partial", "部分通过", "Partly accepted", ("有条件通过", "partial")),
    Choice("failed", "不通过", "Not accepted", ("不合格", "未通过", "failed")),
)

PEOPLE_SHEET = Sheet("people", "人员", "People", (
    Table("people", "人员", "People", (
        Field("name", "姓名", "Name", PERSON, required=True, aliases=("人员", "员工")),
        Field("department", "部门", "Department", DEPARTMENT, required=True, aliases=("所属部门",)),
        Field("email", "邮箱", "Email", EMAIL, required=True, aliases=("电子邮箱", "邮件", "e-mail", "mail")),
        Field("manager", "上级", "Manager", PERSON, aliases=("直属上级", "主管")),
        Field("is_head", "部门负责人", "Head of department", ENUM, choices=YES_NO, aliases=("负责人", "head")),
        Field("active", "在职", "Active", ENUM, choices=ACTIVE, aliases=("是否在职", "状态")),
        Field("title", "职务", "Job title", TEXT, aliases=("岗位", "职位"), width=14),
        Field("staff_id", "工号", "Staff ID", TEXT, aliases=("员工编号", "员工号", "employee id"), width=10),
        Field("mobile", "手机", "Mobile", TEXT, aliases=("手机号", "手机号码", "电话", "mobile phone"), width=14,
              prompt_zh="用于在钉钉/企业微信群里 @ 此人", prompt_en="Used to @-mention this person in DingTalk/WeCom groups"),
        Field("im_id", "即时通讯ID", "Chat user ID", TEXT, aliases=("钉钉ID", "企业微信ID", "飞书ID", "userid", "open_id"),
              width=16, prompt_zh="钉钉 userId / 企业微信 userid / 飞书 open_id", prompt_en="DingTalk userId / WeCom userid / Feishu open_id"),
        Field("leave_until", "休假至", "On leave until", DATE, aliases=("请假至", "休假截止", "leave until"),
              prompt_zh="在职填“休假”时：休假的最后一天；次日起恢复（留空表示直到改回“是”）",
              prompt_en="With active = on leave: the last day of leave; back the day after (empty: until set back to yes)"),
        Field("deputy", "代理人", "Deputy", PERSON, aliases=("代理", "职务代理人", "deputy"),
              prompt_zh="休假期间代收提醒的同事（名册中的姓名）；留空则由上级代收",
              prompt_en="Who receives this person's reminders during leave (a roster name); empty: their manager"),
    ), example_rows=50),
), aliases=("名册", "roster", "人员名单", "通讯录"))

DEPARTMENTS_SHEET = Sheet("departments", "部门", "Departments", (
    Table("departments", "部门", "Departments", (
        Field("department", "部门", "Department", DEPARTMENT, required=True, aliases=("部门名称",)),
        Field("head", "负责人", "Head", PERSON, aliases=("部门负责人",)),
    ), example_rows=20),
), aliases=("部门表", "部门列表"))

REQUEST = Sheet("request", "需求单", "Request", (
    Form((
        Field("topic", "沟通主题", "Topic", TEXT, required=True, aliases=("主题", "事项", "项目"), width=40),
        Field("initiating_department", "发起部门", "Initiating department", DEPARTMENT, required=True),
        Field("initiator", "发起人", "Initiator", PERSON, required=True),
        Field("participants", "参与部门/人", "Participants", PEOPLE, required=True,
              aliases=("参与部门", "参与人", "参与部门/人员", "参与方")),
        Field("background", "沟通背景与目的", "Background and purpose", LONG_TEXT, required=True,
              aliases=("背景与目的", "沟通背景", "背景")),
        Field("problems", "需解决的核心问题", "Problems to solve", LONG_TEXT, required=True,
              aliases=("核心问题", "需解决问题")),
        Field("expected_outcome", "期望成果与时间", "Expected outcome and timing", LONG_TEXT, required=True,
              aliases=("期望成果", "预期成果")),
        Field("prior_alignment", "前期沟通情况", "Prior alignment", LONG_TEXT, aliases=("前期沟通",)),
        Field("attachments", "附件", "Attachments", TEXT, aliases=("附件清单", "相关材料")),
        Field("sent_on", "发出日期", "Sent on", DATE, required=True, aliases=("发送日期", "提交日期"),
              prompt_zh="需求单须在会议前至少2个工作日发出", prompt_en="Send at least 2 working days before the meeting"),
        Field("planned_meeting", "计划会议时间", "Planned meeting", DATETIME, required=True,
              aliases=("会议时间", "拟开会时间")),
        Field("item_status", "状态", "Status", ENUM, required=True, choices=ITEM_STATUS,
              aliases=("事项状态",)),
        Field("group", "跟进群", "Follow-up group", TEXT, aliases=("沟通协调跟进群", "协调群", "群"),
              prompt_zh="coordxl.toml 中 [channels.名称] 的名称；留空则按设置的 items 匹配",
              prompt_en="A channel name from [channels.<name>] in coordxl.toml; empty: matched by the channels' items"),
    )),
), aliases=("需求", "需求表", "沟通需求单"))

MINUTES = Sheet("minutes", "会议纪要", "Minutes", (
    Form((
        Field("topic", "会议主题", "Meeting topic", TEXT, required=True, aliases=("主题",), width=40),
        Field("start", "会议时间", "Start", DATETIME, required=True, aliases=("开始时间", "会议开始")),
        Field("end", "结束时间", "End", DATETIME, required=True, aliases=("会议结束",)),
        Field("place", "地点", "Place", TEXT, aliases=("会议地点",)),
        Field("host", "主持人", "Host", PERSON, required=True),
        Field("recorder", "记录人", "Recorder", PERSON, required=True),
        Field("attendees", "参会人员", "Attendees", PEOPLE, required=True, aliases=("参会人", "与会人员")),
        Field("decision_maker", "决策人", "Decision maker", PERSON, aliases=("拍板人",)),
        Field("agenda", "议程", "Agenda", LONG_TEXT, required=True, aliases=("会议议程",),
              prompt_zh="背景→需求→议题→共识→待办", prompt_en="Background → needs → issues → consensus → actions"),
        Field("materials_sent", "材料发出时间", "Materials sent", DATETIME, aliases=("材料发送时间",),
              prompt_zh="会议材料须提前1天发出", prompt_en="Send materials at least 1 day ahead"),
        Field("discussion", "讨论要点", "Discussion", LONG_TEXT, aliases=("讨论内容",)),
        Field("consensus", "共识事项", "Consensus", LONG_TEXT, aliases=("会议共识", "决议")),
        Field("minutes_sent", "纪要发出时间", "Minutes sent", DATETIME, required=True, aliases=("纪要发送时间",),
              prompt_zh="会后24小时内发出", prompt_en="Within 24 hours of the meeting"),
    )),
    Table("actions", "待办事项", "Action items", (
        Field("no", "序号", "No.", NUMBER, required=True, aliases=("编号", "#"), width=6),
        Field("action", "事项", "Action", TEXT, required=True, aliases=("待办", "任务"), width=36),
        Field("department", "负责部门", "Department", DEPARTMENT, required=True, aliases=SUB_DEPARTMENT),
        Field("owner", "负责人", "Owner", PERSON, required=True, aliases=SUB_OWNER),
        Field("due", "截止日期", "Due", DATE, required=True, aliases=("截止时间", "完成时限", "期限") + SUB_DUE),
        Field("standard", "交付标准", "Delivery standard", TEXT, required=True,
              aliases=("交付物", "验收标准"), width=36),
    ), example_rows=15),
), aliases=("纪要", "会议记录"))

TASKS = Sheet("tasks", "执行进度", "Tracker", (
    Table("tasks", "执行进度", "Tracker", (
        Field("id", "编号", "ID", TEXT, required=True, aliases=("任务编号", "序号"), width=8),
        Field("task", "任务", "Task", TEXT, required=True, aliases=("任务名称", "工作任务"), width=32),
        Field("source", "来源", "Source", TEXT, aliases=("任务来源",), width=14,
              prompt_zh="如：会议纪要#3（对应待办事项序号）", prompt_en="e.g. 会议纪要#3 (the action item's number)"),
        Field("department", "负责部门", "Department", DEPARTMENT, required=True, aliases=SUB_DEPARTMENT),
        Field("owner", "负责人", "Owner", PERSON, required=True, aliases=SUB_OWNER,
              prompt_zh="从名册中选择", prompt_en="Choose from the roster"),
        Field("start", "开始日期", "Start", DATE, aliases=("开始时间", "开始", "开始日", "计划开始")),
        Field("due", "截止日期", "Due", DATE, required=True, aliases=("截止时间", "完成时限") + SUB_DUE),
        Field("standard", "交付标准", "Delivery standard", TEXT, required=True, aliases=("交付物",), width=28),
        Field("status", "状态", "Status", ENUM, required=True, choices=TASK_STATUS, aliases=("进度状态",),
              prompt_zh="每日更新", prompt_en="Update daily"),
        Field("done_on", "完成日期", "Done on", DATE, aliases=("完成时间", "实际完成日期")),
        Field("note", "进展说明", "Progress note", LONG_TEXT, aliases=("进展", "备注", "说明")),
        Field("updated_on", "更新日期", "Updated on", DATE, aliases=("最近更新", "更新时间")),
        Field("flag", "预警", "Alert", TEXT, aliases=("预警提示", "flag"), written_by_jobs=True, width=16,
              prompt_zh="由系统自动填写，请勿编辑", prompt_en="Written by coordxl; do not edit"),
    ), example_rows=60),
), aliases=("执行进度表", "任务跟踪", "进度跟踪", "任务清单"))

FOLLOWUPS = Sheet("followups", "跟进会", "Follow-ups", (
    Table("followups", "跟进会", "Follow-up meetings", (
        Field("date", "日期", "Date", DATE, required=True, aliases=("会议日期",)),
        Field("start", "开始时间", "Start", TIME, required=True),
        Field("end", "结束时间", "End", TIME, required=True),
        Field("attendees", "参会人员", "Attendees", PEOPLE, aliases=("参会人",)),
        Field("conclusion", "检查结论", "Conclusion", LONG_TEXT, aliases=("结论",)),
        Field("open_issues", "待协调问题", "Open issues", LONG_TEXT, aliases=("待协调事项", "问题")),
    ), example_rows=20),
), aliases=("跟进会议", "周例会", "跟进会记录"))

RESOURCES = Sheet("resources", "资源申请", "Resources", (
    Table("resources", "资源申请", "Resource requests", (
        Field("id", "申请编号", "Request ID", TEXT, required=True, aliases=("编号",), width=9),
        Field("department", "申请部门", "Department", DEPARTMENT, required=True),
        Field("requester", "申请人", "Requester", PERSON, required=True),
        Field("requested_on", "申请日期", "Requested on", DATE, required=True, aliases=("提交日期", "申请时间")),
        Field("kind", "资源类型", "Kind", ENUM, required=True, choices=RESOURCE_KIND, aliases=("类型",)),
        Field("amount", "数量或金额", "Amount", NUMBER, required=True, aliases=("数量", "金额")),
        Field("purpose", "用途说明", "Purpose", LONG_TEXT, required=True, aliases=("用途",), width=30),
        Field("needed_by", "需要日期", "Needed by", DATE, required=True, aliases=("需求日期",)),
        Field("reviewer", "审核人", "Reviewer", PERSON,
              prompt_zh="发起部门审核", prompt_en="Reviewed by the initiating department"),
        Field("review", "审核结果", "Review", ENUM, choices=REVIEW_RESULT),
        Field("reviewed_on", "审核日期", "Reviewed on", DATE),
        Field("approver", "审批人", "Approver", PERSON),
        Field("approval", "审批结果", "Approval", ENUM, choices=APPROVAL_RESULT),
        Field("approved_on", "审批日期", "Approved on", DATE),
    ), example_rows=20),
), aliases=("资源申请表", "资源需求"))

RETRO = Sheet("retro", "复盘", "Retrospective", (
    Form((
        Field("acceptance", "验收结论", "Acceptance", ENUM, choices=ACCEPTANCE, aliases=("验收结果",)),
        Field("accepted_on", "验收日期", "Accepted on", DATE),
        Field("accepted_by", "验收人", "Accepted by", PERSON),
    )),
    Table("metrics", "目标指标", "Target metrics", (
        Field("metric", "指标", "Metric", TEXT, required=True, width=24),
        Field("target", "目标值", "Target", TEXT, required=True),
        Field("actual", "实际值", "Actual", TEXT),
        Field("met", "是否达标", "Met", ENUM, choices=YES_NO, aliases=("达标",)),
    ), example_rows=8),
    Form((
        Field("went_well", "成功经验", "What went well", LONG_TEXT, aliases=("经验",)),
        Field("went_wrong", "不足", "What went wrong", LONG_TEXT, aliases=("不足之处", "问题与不足")),
    )),
    Table("measures", "改进措施", "Improvement measures", (
        Field("measure", "措施", "Measure", TEXT, required=True, aliases=("改进措施",), width=36),
        Field("owner", "负责人", "Owner", PERSON, required=True),
        Field("due", "完成期限", "Due", DATE, required=True, aliases=("截止日期",)),
    ), example_rows=8),
), aliases=("复盘报告", "验收复盘", "验收与复盘"), required=False)

# the 填写说明 sheet each template ends with (templates.add_guide): it names every column, so a reader
# would take it for a tracker by its labels; no sheet of these names is ever read as data
GUIDE_SHEET = {"zh": "填写说明", "en": "How to fill in"}
GUIDE_NAMES = frozenset(fold(n) for n in (*GUIDE_SHEET.values(), "填表说明", "使用说明"))

ROSTER_SHEETS = (PEOPLE_SHEET, DEPARTMENTS_SHEET)
ITEM_SHEETS = (REQUEST, MINUTES, TASKS, FOLLOWUPS, RESOURCES, RETRO)
ALL_SHEETS = ROSTER_SHEETS + ITEM_SHEETS
