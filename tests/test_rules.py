"""Every seed rule: a clean item has no findings; each planted breach gives its code at its cell."""

import datetime as dt

import pytest
from conftest import clean_launch, write_item

from coordxl.run.check import run_check
from coordxl.settings import Settings

TODAY = dt.date(2026, 8, 20)
D, T = dt.date, dt.datetime


def findings_for(root, d, today=TODAY):
    write_item(root, d)
    return [(f.code, f.sheet, f.cell) for f in run_check(root, today).findings]


def test_the_clean_item_has_no_findings(share_with_roster):
    assert findings_for(share_with_roster, clean_launch()) == []


def _set(path, value):
    def mutate(d):
        target = d
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return mutate


# (what staff did, mutation, expected code, sheet, cell). Tasks start at row 3; T01 is row 3.
CASES = [
    ("owner left empty", _set(("tasks", 0, "owner"), ""), "F-REQUIRED", "执行进度", "E3"),
    ("due typed as words", _set(("tasks", 2, "due"), "月底"), "F-DATE", "执行进度", "G5"),
    ("status mistyped", _set(("tasks", 2, "status"), "进行"), "F-ENUM", "执行进度", "I5"),
    ("owner mistyped", _set(("tasks", 1, "owner"), "郑双"), "F-PERSON", "执行进度", "E4"),
    ("department mistyped", _set(("tasks", 1, "department"), "设计组"), "F-DEPT", "执行进度", "D4"),
    ("start after due", _set(("tasks", 2, "start"), D(2026, 8, 10)), "F-DATE-ORDER", "执行进度", "G5"),
    ("done without done date", _set(("tasks", 0, "done_on"), None), "F-DONE-DATE", "执行进度", "J3"),
    ("done date but in progress", _set(("tasks", 2, "done_on"), D(2026, 8, 12)), "F-DONE-DATE", "执行进度", "I5"),
    ("repeated ID", _set(("tasks", 3, "id"), "T01"), "F-DUPLICATE-ID", "执行进度", "A6"),
    ("request sent the day before", _set(("request", "sent_on"), D(2026, 7, 7)), "R-NOTICE", "需求单", "B11"),
    ("materials sent that morning", _set(("minutes", "materials_sent"), T(2026, 7, 8, 9, 0)),
     "R-MATERIALS", "会议纪要", "B11"),
    ("meeting ran 2 hours", _set(("minutes", "end"), T(2026, 7, 8, 16, 0)), "R-MEETING-LENGTH", "会议纪要", "B4"),
    ("minutes 3 days later", _set(("minutes", "minutes_sent"), T(2026, 7, 11, 16, 0)),
     "R-MINUTES-24H", "会议纪要", "B14"),
    ("action without owner", _set(("actions", 2, "owner"), ""), "R-ACTION-INCOMPLETE", "会议纪要", "D20"),
    ("action without deadline", _set(("actions", 3, "due"), None), "R-ACTION-INCOMPLETE", "会议纪要", "E21"),
    ("action never broken down", _set(("tasks", 9, "source"), "跟进会"), "R-BREAKDOWN", "会议纪要", "B25"),
    ("follow-up ran 40 minutes", _set(("followups", 0, "end"), dt.time(16, 40)), "R-FOLLOWUP", "跟进会", "C3"),
    ("approved before review", _set(("resources", 0, "reviewed_on"), D(2026, 7, 15)),
     "R-RESOURCE-REVIEW", "资源申请", "M3"),
    ("amount typed as words", _set(("resources", 0, "amount"), "两万左右"), "F-NUMBER", "资源申请", "F3"),
]


@pytest.mark.parametrize("what,mutate,code,sheet,cell", CASES, ids=[c[0] for c in CASES])
def test_rule_table(share_with_roster, what, mutate, code, sheet, cell):
    d = clean_launch()
    mutate(d)
    assert findings_for(share_with_roster, d) == [(code, sheet, cell)]


def test_missing_follow_up_week(share_with_roster):
    d = clean_launch()
    del d["followups"][3]  # 2026-08-05
    assert findings_for(share_with_roster, d) == [("R-FOLLOWUP", "跟进会", "A1")]


def test_no_follow_up_needed_in_a_week_without_working_days():
    # Spring Festival 2026: Mon 02-16 .. Sun 02-22 has no working day, so no follow-up is due that week
    from coordxl.process.calendar import WorkCalendar
    from coordxl.process.model import Item, Meeting, Row
    from coordxl.process.rules import followup
    from coordxl.run.context import RunContext

    def meeting_row(day):
        return Row("跟进会", 3, {"date": day, "start": dt.time(10), "end": dt.time(10, 20)}, {})

    item = Item("x.xlsx", followups_sheet="跟进会")
    item.meetings = [Meeting("会议纪要", 1, Row("会议纪要", 0, {"start": T(2026, 2, 3, 10)}, {}), [])]
    item.followups = [meeting_row(D(2026, 2, 10)), meeting_row(D(2026, 2, 25)), meeting_row(D(2026, 3, 4))]
    ctx = RunContext(D(2026, 3, 9), WorkCalendar(), Settings.defaults())
    assert list(followup(item, ctx)) == []
    item.followups.pop(1)  # now the week of 02-23 has none
    [missing] = list(followup(item, ctx))
    assert "2026-02-23" in missing.message_zh


def test_notice_counts_working_days_not_calendar_days(share_with_roster):
    # sent Friday before the 2026 Spring Festival, meeting the Tuesday after: 11 calendar days, 2 working days
    d = clean_launch()
    d["request"].update(sent_on=D(2026, 2, 13), planned_meeting=T(2026, 2, 24, 10, 0))
    d["minutes"].update(start=T(2026, 2, 24, 10), end=T(2026, 2, 24, 11), materials_sent=T(2026, 2, 13, 9),
                        minutes_sent=T(2026, 2, 24, 15))
    codes = [c for c, *_ in findings_for(share_with_roster, d) if c == "R-NOTICE"]
    assert codes == []  # 2026-02-14 (Sat) and 02-24 are working days: exactly 2
    d["request"]["sent_on"] = D(2026, 2, 14)
    assert ("R-NOTICE", "需求单", "B11") in findings_for(share_with_roster, d)


def test_thresholds_come_from_settings(share_with_roster):
    (share_with_roster / "coordxl.toml").write_text("[rules]\nmeeting_max_minutes = 60\n", encoding="utf-8")
    assert findings_for(share_with_roster, clean_launch()) == [("R-MEETING-LENGTH", "会议纪要", "B4")]


def _closed(d):
    d["request"]["item_status"] = "closed"
    return d


def test_closing_with_open_tasks_and_no_acceptance(share_with_roster):
    found = findings_for(share_with_roster, _closed(clean_launch()))
    assert found.count(("R-CLOSE", "需求单", "B13")) == 2  # open tasks; no acceptance
    assert ("R-RETRO", "复盘", "B17") in found


def test_closed_item_with_retrospective_passes(example_root):
    report = run_check(example_root, TODAY)
    assert not [f for f in report.findings if "618" in f.workbook]


def test_rules_selectable_by_code(share_with_roster):
    from coordxl.process.rules import Selection
    d = clean_launch()
    d["minutes"]["end"] = T(2026, 7, 8, 16, 0)
    d["tasks"][0]["owner"] = ""
    write_item(share_with_roster, d)
    only = run_check(share_with_roster, TODAY, Selection.parse("R-", None)).findings
    skip = run_check(share_with_roster, TODAY, Selection.parse(None, "R-MEETING-LENGTH")).findings
    assert [f.code for f in only] == ["R-MEETING-LENGTH"]
    assert [f.code for f in skip] == ["F-REQUIRED"]


def test_every_rule_that_reads_the_ledger_s_rows_says_so_and_reads_only_what_it_declares():
    """A rule reading item.tasks (a central ledger's rows included) without declaring it would find
    nothing in a worker process and something with limits.workers = 1: the declaration is checked
    against the code of the rule and the module functions it calls."""
    import inspect
    import re as _re

    from coordxl.process import rules as mod
    from coordxl.process.rules import RULES, ledger_columns, ledger_rules

    def source_with_helpers(fn) -> str:
        code = inspect.getsource(fn)
        called = set(_re.findall(r"\b([a-z_]\w*)\(", code))
        helpers = [getattr(mod, name) for name in called if inspect.isfunction(getattr(mod, name, None))
                   and getattr(mod, name).__module__ == mod.__name__ and getattr(mod, name) is not fn]
        return code + "".join(inspect.getsource(h) for h in helpers)

    for rule in RULES:
        code = source_with_helpers(rule.check)
        reads_ledger = "item.tasks" in code
        assert reads_ledger == bool(rule.ledger_columns), f"{rule.name}: declare ledger_columns, or read item.own"
        for column in set(_re.findall(r'column\("(\w+)"\)', code)) if reads_ledger else ():
            assert column in rule.ledger_columns, f"{rule.name} reads the task column {column!r}: declare it"
    assert set(ledger_rules()) == {"R-BREAKDOWN", "R-CLOSE"} and set(ledger_columns()) == {"id", "status", "source"}


def test_every_finding_code_has_its_message_and_its_fix_in_both_languages():
    from coordxl.findings import CODES
    from coordxl.messages import MESSAGES
    for code in CODES:
        for key in (f"finding.{code}", f"fix.{code}"):
            assert key in MESSAGES and all(MESSAGES[key]), key


# Modules whose Chinese strings are not texts coordxl says, with the reason; every other module's
# user-facing text comes from coordxl/messages.py (a new module is held to that from its first line).
NOT_SAID = {
    "messages": "the table itself",
    "schema": "the labels coordxl recognises in staff's sheets (and writes into templates)",
    "recognize": "labels recognised in cells (事项, 进度, 说明, 合计 …)",
    "normalize": "patterns for what staff type (8月15日, 下午3点, 周五)",
    "roster": "the separators staff put between two names (、 和 ／)",
    "templates": "conditional-format formulas that match the flag texts' first words (逾期, 到期)",
    "settings": "time zone aliases (北京, 上海) and the commented coordxl.toml written at init",
    "folder": "the sample roster's people",
    "example": "the example folder's content",
    "demo": "the example folder's default folder names",
    "calendar": "borax's name of the solar term it is asked for (清明)",
    "holiday_notice": "the State Council notice's words it reads (元旦, 放假, 上班, 至)",
    "layout": "the names Explorer and sync clients give a copy of a workbook (副本, 冲突副本)",
    "replies": "the words people and mail systems write in replies (同意, 不同意, 自动回复, 退信)",
    "objections": "the words people write replying to minutes (异议, 收到, 好的, 无异议)",
    "reply_parse": "the commands and quote headers people's mail clients write (完成, 延期到, 原始邮件, 写道)",
}


def _modules():
    import importlib.util
    from pathlib import Path
    folder = Path(importlib.util.find_spec("coordxl").origin).parent
    return {p.stem: p for p in folder.rglob("*.py")}


def test_every_module_but_the_listed_ones_says_nothing_in_chinese_outside_the_message_table():
    import ast
    import re as _re
    cjk = _re.compile(r"[\u4e00-\u9fff]")
    checked = 0
    for name, path in sorted(_modules().items()):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                      if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))
                      and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
        inline = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
                  and cjk.search(n.value) and id(n) not in docstrings]
        if name in NOT_SAID:
            continue
        checked += 1
        assert inline == [], f"coordxl/{name}.py: put these in messages.py: {inline[:3]}"
    assert checked >= 25 and set(NOT_SAID) <= set(_modules())


