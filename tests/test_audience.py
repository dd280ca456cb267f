"""Who gets what: every mail and post addresses people by their roster key, so two colleagues of one
name each get exactly their own items (the example folder with a second 张伟, in 销售部)."""

from __future__ import annotations

import datetime as dt
import email
import json
import shutil
from email import policy
from pathlib import Path

import openpyxl
from click.testing import CliRunner

from coordxl.cli import main

LAUNCH_TOPIC = "Q3新品上市推广协调"  # initiated by 张伟 of 市场部
STORES_TOPIC = "华东门店焕新"  # re-assigned below to 张伟 of 销售部
OTHER_TOPIC = "618大促数据复盘对接"  # 李娜's


def resaved(soffice_optional, path: Path) -> Path:
    """The workbook as LibreOffice saves it, in place (left as it is where LibreOffice is missing)."""
    out = soffice_optional(path, "xlsx:Calc MS Excel 2007 XML")
    if out is not None:
        shutil.copy(out, path)
    return path


def with_two_zhang_wei(root: Path, soffice_optional) -> Path:
    """A second 张伟 (销售部, zhangwei2@) in the roster, the initiator of 华东门店焕新."""
    roster = root / "名册.xlsx"
    wb = openpyxl.load_workbook(roster)
    ws = wb["人员"]
    ws.insert_rows(6)
    for column, value in zip("ABCDEFGHIJ", ["张伟", "销售部", "zhangwei2@corp.example", "孙丽", "否", "是",
                                             "销售专员", None, "13800138099", "zhangwei2"]):
        ws[f"{column}6"] = value
    wb.save(roster)
    resaved(soffice_optional, roster)
    stores = root / "进行中" / f"{STORES_TOPIC}.xlsx"
    wb = openpyxl.load_workbook(stores)
    for label, value in wb["需求单"].iter_rows(min_col=1, max_col=2):
        if label.value == "发起人":
            value.value = "张伟（销售部）"
        elif label.value == "发起部门":
            value.value = "销售部"
    wb.save(stores)
    return root


def run(*args: str) -> None:
    """A CLI run; the example's planted mistakes make daily exit 1 (errors found), never more."""
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code in (0, 1) and "Traceback" not in result.output, result.output


def outbox(root: Path, day: str) -> list[email.message.EmailMessage]:
    return [email.message_from_bytes(p.read_bytes(), policy=policy.default)
            for p in sorted((root / ".coordxl" / "outbox" / day).glob("*.eml"))]


def to(msg) -> str:
    return msg["To"].addresses[0].username


def body(msg) -> str:
    return msg.get_body(("plain",)).get_content()


def test_each_zhang_wei_reads_only_their_own_item_in_the_weekly(example_root, soffice_optional):
    root = with_two_zhang_wei(example_root, soffice_optional)
    run("weekly", str(root), "--today", "2026-08-24")
    mails = outbox(root, "2026-08-24")
    [first] = [m for m in mails if to(m) == "zhangwei"]
    [second] = [m for m in mails if to(m) == "zhangwei2"]
    assert LAUNCH_TOPIC in body(first) and STORES_TOPIC not in body(first)
    assert STORES_TOPIC in body(second) and LAUNCH_TOPIC not in body(second)
    assert OTHER_TOPIC not in body(first) + body(second)
    # the second 张伟's figures are his item's: no overdue task, while the first's item has six
    assert "本周完成 0 项，当前逾期 0 项" in body(second)
    assert "当前逾期 6 项" in body(first)


def test_each_zhang_wei_is_reminded_of_only_their_own_item_daily(example_root, soffice_optional):
    root = with_two_zhang_wei(example_root, soffice_optional)
    run("daily", str(root), "--today", "2026-08-27")
    mails = outbox(root, "2026-08-27")
    first = [body(m) for m in mails if to(m) == "zhangwei" and m["X-Coordxl-Kind"] == "digest"]
    second = [body(m) for m in mails if to(m) == "zhangwei2" and m["X-Coordxl-Kind"] == "digest"]
    assert len(first) == len(second) == 1
    assert f"[{LAUNCH_TOPIC}]" in first[0] and STORES_TOPIC not in first[0]
    # H1 (郑爽、冯雪: two owners, one task) is the item's one overdue task on 08-27
    assert f"[{STORES_TOPIC}] 共 1 项任务逾期" in second[0] and LAUNCH_TOPIC not in second[0]
    # the second 张伟 is never told about the first's item, in a digest or an escalation
    for m in mails:
        if to(m) == "zhangwei2":
            assert m["Cc"] is None and LAUNCH_TOPIC not in body(m) and OTHER_TOPIC not in body(m)
    # the escalation of the first's item goes to the first 张伟 (its initiator)
    [escalated] = [body(m) for m in mails if to(m) == "zhangwei" and m["X-Coordxl-Kind"] == "escalation"]
    assert LAUNCH_TOPIC in escalated and STORES_TOPIC not in escalated
    # the group post @-mentions the first 张伟 by his own chat id, never the second's
    [post] = [json.loads(p.read_text(encoding="utf-8"))
              for p in (root / ".coordxl" / "outbox" / "2026-08-27").glob("post-*.json")]
    assert "zhangwei" in post["at"]["atUserIds"] and "zhangwei2" not in post["at"]["atUserIds"]
    assert "13800138099" not in post["at"]["atMobiles"]
    assert "张伟（市场部）@zhangwei" in post["markdown"]["text"]


def test_the_admin_named_by_roster_key_gets_the_health_list(example_root, soffice_optional):
    root = with_two_zhang_wei(example_root, soffice_optional)
    toml = root / "coordxl.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace("admins = []", 'admins = ["张伟（销售部）"]'),
                    encoding="utf-8")
    run("daily", str(root), "--today", "2026-08-27")
    admin = [m for m in outbox(root, "2026-08-27") if m["X-Coordxl-Kind"] == "admin"]
    assert [to(m) for m in admin] == ["zhangwei2"]
    assert "名册" in body(admin[0])  # the roster's repeated name is on the list


def test_a_bare_repeated_name_as_admin_is_reported_not_guessed(example_root, soffice_optional):
    root = with_two_zhang_wei(example_root, soffice_optional)
    toml = root / "coordxl.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace("admins = []", 'admins = ["张伟", "ops@corp.example"]'),
                    encoding="utf-8")
    run("daily", str(root), "--today", "2026-08-27")
    admin = [m for m in outbox(root, "2026-08-27") if m["X-Coordxl-Kind"] == "admin"]
    assert [to(m) for m in admin] == ["ops"]
    assert "reminders.admins 中的“张伟”在名册中有多位，请写明是哪一位：张伟（市场部）、张伟（销售部）" in body(admin[0])


# --- leave and deputies ----------------------------------------------------------------------------

def roster_says(root: Path, soffice_optional, **people: dict) -> None:
    """Set roster cells by column header ({'孙丽': {'在职': '休假', '代理人': '周强'}}), saved by LibreOffice."""
    path = root / "名册.xlsx"
    wb = openpyxl.load_workbook(path)
    ws = wb["人员"]
    column = {c.value: c.column for c in ws[2] if c.value}
    for row in ws.iter_rows(min_row=3):
        for header, value in people.get(row[0].value, {}).items():
            ws.cell(row=row[0].row, column=column[header], value=value)
    wb.save(path)
    resaved(soffice_optional, path)


def lines_with(text: str, task: str) -> list[str]:
    return [line for line in text.splitlines() if task in line]


def test_a_colleague_on_leave_has_their_reminders_go_to_the_deputy_until_the_leave_ends(example_root,
                                                                                      soffice_optional):
    # 孙丽 is away until Friday 08-21 and 周强 stands in; her T10 (9 days late) and T06 (4 days) escalate
    # when she is here
    roster_says(example_root, soffice_optional, 孙丽={"在职": "休假", "休假至": dt.date(2026, 8, 21), "代理人": "周强"})
    run("daily", str(example_root), "--today", "2026-08-20")
    mails = outbox(example_root, "2026-08-20")
    assert not [m for m in mails if to(m) == "sunli"]
    [zhou] = [body(m) for m in mails if to(m) == "zhouqiang"]
    assert "孙丽正在休假，其提醒由您代收" in zhou
    [t10] = lines_with(zhou, "T10 新品定价方案")
    [t06] = lines_with(zhou, "T06 重点渠道铺货清单")
    assert "代 孙丽" in t10 and "代 孙丽" in t06 and "已升级" not in t10 + t06
    [t07] = lines_with(zhou, "T07 销售培训课件")
    assert "代 " not in t07  # his own task
    assert "您是休假同事的代理人（或上级）" in zhou
    # escalation pauses: nobody is told of her tasks as an escalation
    escalated = "\n".join(body(m) for m in mails if m["X-Coordxl-Kind"] == "escalation")
    assert "T03 包装设计定稿" in escalated and "T10 " not in escalated and "T06 " not in escalated
    # the item's group is told who stands in: 周强 is @-mentioned for her tasks, she is not
    [post] = [json.loads(p.read_text(encoding="utf-8"))
              for p in (example_root / ".coordxl" / "outbox" / "2026-08-20").glob("post-*.json")]
    assert "T10 新品定价方案 · 孙丽（休假）→ 周强@zhouqiang" in post["markdown"]["text"]
    assert "sunli" not in post["at"]["atUserIds"] and "zhouqiang" in post["at"]["atUserIds"]

    # Monday 08-24, the first working day after 休假至: she is back, her tasks escalate again
    run("daily", str(example_root), "--today", "2026-08-24")
    mails = outbox(example_root, "2026-08-24")
    [sun] = [body(m) for m in mails if to(m) == "sunli" and m["X-Coordxl-Kind"] == "digest"]
    assert "已升级告知 王海、张伟" in lines_with(sun, "T10 新品定价方案")[0]
    assert all("代 孙丽" not in body(m) for m in mails)
    [wang] = [body(m) for m in mails if to(m) == "wanghai" and m["X-Coordxl-Kind"] == "escalation"]
    assert "T10 新品定价方案 | 负责人 孙丽" in wang and "T06 重点渠道铺货清单 | 负责人 孙丽" in wang


def test_without_a_deputy_the_manager_stands_in(example_root, soffice_optional):
    roster_says(example_root, soffice_optional, 冯雪={"在职": "请假"})  # open-ended, nobody named
    run("daily", str(example_root), "--today", "2026-08-20")
    mails = outbox(example_root, "2026-08-20")
    assert not [m for m in mails if to(m) == "fengxue"]
    [zheng] = [m for m in mails if to(m) == "zhengshuang"]  # her manager: one mail, her digest
    assert zheng["X-Coordxl-Kind"] == "digest"
    assert "代 冯雪" in lines_with(body(zheng), "T03 包装设计定稿")[0]
    assert "代 冯雪" in lines_with(body(zheng), "T09 电商详情页设计")[0]
    assert all("T03 " not in body(m) for m in mails if m["X-Coordxl-Kind"] == "escalation")


def test_check_explains_a_wrong_leave_entry_with_its_cell(example_root, soffice_optional):
    roster_says(example_root, soffice_optional,
                孙丽={"在职": "休假", "休假至": "下周五", "代理人": "周强强"},   # a date nobody can read; no such person
                冯雪={"在职": "休假", "代理人": "郑爽"},
                郑爽={"在职": "休假", "代理人": "冯雪"},                        # each other's deputy, both away
                吴敏={"在职": "请假", "代理人": "吴敏"})
    result = CliRunner().invoke(main, ["check", str(example_root), "--today", "2026-08-20", "--json", "--no-report"])
    found = {(f["code"], f["cell"]): f for f in json.loads(result.output)["findings"] if f["workbook"] == "名册.xlsx"}
    header = {c.value: c.column_letter for c in openpyxl.load_workbook(example_root / "名册.xlsx")["人员"][2] if c.value}
    row = {name: r for r, name in enumerate(
        [c.value for c in openpyxl.load_workbook(example_root / "名册.xlsx")["人员"]["A"]], start=1)}
    until, deputy = header["休假至"], header["代理人"]
    assert "下周五" in found[("F-DATE", f"{until}{row['孙丽']}")]["message"]
    assert found[("F-PERSON", f"{deputy}{row['孙丽']}")]["message"] == "“周强强”不在名册中（代理人）"
    away = found[("F-PERSON", f"{deputy}{row['冯雪']}")]
    assert away["severity"] == "warning" and "代理人“郑爽”自己也在休假" in away["message"]
    assert "代理人“冯雪”自己也在休假" in found[("F-PERSON", f"{deputy}{row['郑爽']}")]["message"]
    assert "吴敏的代理人写的是本人" in found[("F-PERSON", f"{deputy}{row['吴敏']}")]["message"]
    assert not any(code == "F-ENUM" for code, _ in found)  # 休假 and 请假 are values 在职 takes
