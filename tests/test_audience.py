"""Who gets what: every mail and post addresses people by their roster key, so two colleagues of one
name each get exactly their own items (the example folder with a second 张伟, in 销售部)."""

from __future__ import annotations

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
    assert f"[{STORES_TOPIC}] 共 2 项任务逾期" in second[0] and LAUNCH_TOPIC not in second[0]
    # nobody but the two of them is told about another's item by mistake: the second 张伟 never
    # appears on a mail about the first's item, To or Cc
    for m in mails:
        addresses = [a.username for a in m["To"].addresses + (m["Cc"].addresses if m["Cc"] else ())]
        if "zhangwei2" in addresses:
            assert LAUNCH_TOPIC not in body(m) and OTHER_TOPIC not in body(m)
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
