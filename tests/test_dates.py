"""Across the new year, the way staff type dates and changes: a tracker made by `coordxl new`, typed into as
people do, saved by LibreOffice, checked and run through December 2026 into January 2027."""

import datetime as dt
import email
import json
import shutil
from email import policy
from pathlib import Path

import openpyxl
import pytest
import python_calamine
from click.testing import CliRunner

from coordxl.cli import main

ITEM = "元旦年货节促销"
SENT = "2026-12-15"
START = dt.date(2026, 12, 20)
# one row per case; the tracker's columns: 编号 任务 来源 负责部门 负责人 开始日期 截止日期 交付标准 状态 完成日期 进展说明 更新日期
TASKS = {
    "T01": ("礼盒设计", "设计部", "冯雪", START, "1月8日", "进行中"),
    "T02": ("年货节海报", "市场部", "刘洋", START, "1/8", "进行中"),
    # LibreOffice completes "1/8" typed in December with the current year: the cell holds 2026-01-08
    "T03": ("渠道铺货", "销售部", "吴敏", START, dt.date(2026, 1, 8), "进行中"),
    "T04": ("直播排期", "市场部", "刘洋", START, "1月8日 18:00", "进行中"),
    "T05": ("门店陈列", "销售部", "吴敏", dt.date(2026, 12, 14), "12-24", "进行中"),
    "T06": ("价格核对", "销售部", "赵磊→周强", dt.date(2026, 12, 7), dt.date(2026, 12, 11), "进行中"),
    "T07": ("包装打样", "设计部", "冯雪", dt.date(2026, 12, 1), dt.date(2026, 12, 10), "暂停"),
    "T08": ("物流对接", "销售部", "周强", dt.date(2026, 12, 1), dt.date(2026, 12, 10), "受阻"),
    "T09": ("赠品采购", "销售部", "吴敏", dt.date(2026, 12, 22), dt.date(2026, 12, 18), "进行中"),
}
ROW = {tid: 3 + i for i, tid in enumerate(TASKS)}  # header in row 2


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def _fill(path: Path, change=None) -> None:
    wb = openpyxl.load_workbook(path)
    form = wb["需求单"]
    for (label,) in form.iter_rows(min_col=1, max_col=1):
        if label.value == "跟进群":
            form.cell(row=label.row, column=2, value="q3-launch")
    ws = wb["执行进度"]
    for tid, (task, dept, owner, start, due, status) in TASKS.items():
        r = ROW[tid]
        for col, value in enumerate((tid, task, "", dept, owner, start, due, "交付物", status, None, "",
                                     dt.date(2026, 12, 18)), start=1):
            ws.cell(row=r, column=col, value=value)
    if change:
        change(ws)
    wb.save(path)


def _through_libreoffice(soffice, path: Path) -> None:
    shutil.copy(soffice(path, "xlsx:Calc MS Excel 2007 XML"), path)


@pytest.fixture
def year_end(share_with_roster, soffice) -> Path:
    """`coordxl new` on 12-15, the tracker filled in and saved by LibreOffice."""
    root = share_with_roster
    assert run("new", ITEM, "--root", root, "--initiator", "张伟", "--today", SENT).exit_code == 0
    path = root / "进行中" / f"{ITEM}.xlsx"
    _fill(path)
    _through_libreoffice(soffice, path)
    return root


def check(root: Path, today: str) -> dict:
    result = run("check", root, "--json", "--today", today)
    return json.loads(result.output)


def at(report: dict, code: str) -> dict[str, dict]:
    return {f["cell"]: f for f in report["findings"] if f["code"] == code and f["workbook"].endswith(f"{ITEM}.xlsx")}


def flags(root: Path) -> dict[str, str]:
    ws = openpyxl.load_workbook(root / "进行中" / f"{ITEM}.xlsx")["执行进度"]
    return {tid: ws.cell(row=r, column=13).value for tid, r in ROW.items()}


def mails(root: Path, day: str) -> list:
    out = []
    for p in sorted((root / ".coordxl" / "outbox" / day).glob("*.eml")):
        msg = email.message_from_bytes(p.read_bytes(), policy=policy.default)
        out.append((msg["X-Coordxl-Kind"], msg["To"].addresses[0].username,
                    [a.username for a in msg["Cc"].addresses] if msg["Cc"] else [],
                    msg.get_body(("plain",)).get_content()))
    return out


@pytest.mark.libreoffice
def test_dates_without_a_year_typed_in_december_are_next_january(year_end):
    report = check(year_end, "2026-12-21")
    guessed = at(report, "F-YEAR-GUESSED")
    for tid in ("T01", "T02", "T04"):
        assert "按 2027-01-08 处理" in guessed[f"G{ROW[tid]}"]["message"], tid
    assert f"G{ROW['T05']}" in guessed and "2026-12-24" in guessed[f"G{ROW['T05']}"]["message"]
    # the year LibreOffice filled in is an error at its cell, with the likely reading
    [wrong_year] = [f for f in report["findings"] if f["cell"] == f"G{ROW['T03']}"]
    assert wrong_year["code"] == "F-DATE" and wrong_year["severity"] == "error"
    assert "2026-01-08" in wrong_year["message"] and "是否为 2027-01-08？" in wrong_year["hint"]
    # a deadline before the start is still reported where it is
    assert f"G{ROW['T09']}" in at(report, "F-DATE-ORDER")


@pytest.mark.libreoffice
def test_on_the_first_working_day_of_2027_nothing_misread_is_overdue_or_escalated(year_end):
    run("daily", year_end, "--today", "2026-12-21")
    result = run("daily", year_end, "--today", "2027-01-04")
    assert result.exit_code in (0, 1), result.output
    got = flags(year_end)
    # due 2027-01-08 (not 逾期241个工作日); last updated 12-18: stale, and the cell says since when
    for tid in ("T01", "T02", "T04"):
        assert got[tid] == "5个工作日以上未更新（最近12-18）", tid
    assert got["T03"] == "待修正：截止日期"
    assert got["T09"] == "待修正：开始日期、截止日期"  # F-DATE-ORDER: never overdue
    assert got["T07"] == "暂停"
    assert got["T06"].startswith("逾期") and got["T08"].startswith("逾期")
    sent = mails(year_end, "2027-01-04")
    everything = "\n".join(body for *_, body in sent)
    # ten working days since 12-18 in the mails: 元旦 (estimated for 2027) is not one
    assert "10个工作日未更新" in everything and "11个工作日未更新" not in everything
    for tid in ("T03", "T07", "T09"):  # 待修正 and 暂停: nobody is reminded or escalated about them
        assert f"{tid} " not in everything, tid
    escalated = "\n".join(body for kind, *_, body in sent if kind == "escalation")
    assert "T08 物流对接" in escalated  # 受阻 and overdue keeps escalating
    # the new owner of T06 (赵磊→周强) is the one reminded, never the old one
    told = {to for kind, to, _, body in sent if kind == "digest" and "T06 价格核对" in body}
    assert "zhouqiang" in told  # the owner
    # the initiator hears of it once: in their digest's overview, or in the escalation mail when it went that far
    assert sum("T06 价格核对" in body for _, to, _, body in sent if to == "zhangwei") == 1
    assert not any(to == "zhaolei" or "zhaolei" in cc for _, to, cc, _ in sent)


@pytest.mark.libreoffice
def test_an_owner_change_written_in_the_cell_names_the_new_owner(year_end):
    report = check(year_end, "2026-12-21")
    [change] = [f for f in report["findings"] if f["cell"] == f"E{ROW['T06']}"]
    assert (change["code"], change["severity"]) == ("F-PERSON", "warning")
    assert "由 赵磊 改为 周强" in change["message"] and "提醒发给 周强" in change["hint"]


@pytest.mark.libreoffice
def test_a_deadline_rewritten_as_a_change_is_a_move_in_the_post_and_the_weekly(year_end, soffice):
    path = year_end / "进行中" / f"{ITEM}.xlsx"
    run("daily", year_end, "--today", "2026-12-18")
    wb = openpyxl.load_workbook(path)
    wb["执行进度"].cell(row=ROW["T05"], column=7, value="12-24→1-8")  # the owner records the new deadline
    wb.save(path)
    _through_libreoffice(soffice, path)
    moved = at(check(year_end, "2026-12-25"), "F-DATE-MOVED")[f"G{ROW['T05']}"]
    assert "由 2026-12-24 改为 2027-01-08" in moved["message"]
    run("daily", year_end, "--today", "2026-12-25")
    [post] = (year_end / ".coordxl" / "outbox" / "2026-12-25").glob("post-q3-launch-*.json")
    assert "截止日期推迟：T05 门店陈列" in post.read_text(encoding="utf-8")
    assert run("weekly", year_end, "--today", "2026-12-28").exit_code in (0, 1)
    [mail] = [body for kind, to, _, body in mails(year_end, "2026-12-28") if to == "zhangwei"]
    # the initiator's plan against actual: planned for 12-24 this week, not done; one deadline moved later
    assert "- 元旦年货节促销 · T05 门店陈列 · 吴敏 · 2026-12-24" in mail and "本周推迟截止日期: 1" in mail
    [report] = (year_end / "报告").glob("周报-*.xlsx")
    slipped = python_calamine.CalamineWorkbook.from_path(str(report)).get_sheet_by_name("延期记录").to_python()
    assert [row[1] for row in slipped[1:]] == ["T05"] and slipped[1][5:7] == [dt.date(2026, 12, 24), dt.date(2027, 1, 8)]


@pytest.mark.libreoffice
def test_unreadable_dates_hint_at_a_date_near_today(year_end, soffice):
    path = year_end / "进行中" / f"{ITEM}.xlsx"
    wb = openpyxl.load_workbook(path)
    wb["执行进度"].cell(row=ROW["T01"], column=7, value="下周一")
    wb.save(path)
    [unreadable] = at(check(year_end, "2026-12-21"), "F-DATE").get(f"G{ROW['T01']}"),
    assert unreadable["hint"] == "请填写如 2027-01-15 的日期。"


@pytest.mark.libreoffice
def test_paused_tasks_are_listed_to_the_initiator_weekly_with_how_long(year_end, soffice):
    path = year_end / "进行中" / f"{ITEM}.xlsx"

    def status(value: str) -> None:
        wb = openpyxl.load_workbook(path)
        wb["执行进度"].cell(row=ROW["T07"], column=9, value=value)
        wb.save(path)
        _through_libreoffice(soffice, path)

    status("进行中")
    run("daily", year_end, "--today", "2026-12-18")
    status("搁置")  # paused on 12-21; its 更新日期 still says 12-18
    for day in ("2026-12-21", "2026-12-24"):
        run("daily", year_end, "--today", day)
    assert flags(year_end)["T07"] == "暂停"
    assert run("weekly", year_end, "--today", "2026-12-28").exit_code in (0, 1)
    [mail] = [body for kind, to, _, body in mails(year_end, "2026-12-28") if to == "zhangwei"]
    # how long: from state.db's daily snapshots (paused since the run of 12-21), not from 更新日期
    assert "T07 包装打样 已暂停 7 天（自 2026-12-21）" in mail


@pytest.mark.libreoffice
def test_a_date_without_its_year_follows_the_rows_start_before_the_request_date(share_with_roster, soffice):
    root = share_with_roster
    assert run("new", ITEM, "--root", root, "--initiator", "张伟", "--today", "2026-06-01").exit_code == 0
    path = root / "进行中" / f"{ITEM}.xlsx"
    _fill(path)
    _through_libreoffice(soffice, path)
    guessed = at(check(root, "2026-12-21"), "F-YEAR-GUESSED")
    # sent in June: '1/8' alone would be 2026-01-08; the row starts 2026-12-20, so it is 2027-01-08
    assert "按 2027-01-08 处理" in guessed[f"G{ROW['T02']}"]["message"]
    assert "按 2026-12-24 处理" in guessed[f"G{ROW['T05']}"]["message"]


@pytest.mark.parametrize("typed,value,code,says", [
    ("1/8", dt.date(2027, 1, 8), "F-YEAR-GUESSED", "按 2027-01-08 处理"),
    ("延期至1月8日", dt.date(2027, 1, 8), "F-DATE-MOVED", "按新日期 2027-01-08 处理"),
    ("2027-01-08（原12-24）", dt.date(2027, 1, 8), "F-DATE-MOVED", "由 2026-12-24 改为 2027-01-08"),
    ("1月8日前", dt.date(2027, 1, 8), "F-YEAR-GUESSED", "按 2027-01-08 处理"),
    (dt.datetime(2026, 1, 8), None, "F-DATE", "是否为 2027-01-08？"),  # a year before the request date
    (1.08, None, "F-DATE", "请输入 2027-01-08"),  # 1.08 typed as a number in December
    ("下周五", None, "F-DATE", "请填写如 2027-01-15 的日期"),  # an example near today
    (dt.datetime(2027, 1, 8), dt.date(2027, 1, 8), None, ""),
])
def test_a_deadline_as_typed_in_december(typed, value, code, says):
    from coordxl import schema
    from coordxl.process.normalizer import Normalizer
    n = Normalizer(ITEM, None, dt.date(2026, 12, 15), reference=dt.date(2026, 12, 15), today=dt.date(2026, 12, 21))
    assert n.value(schema.TASKS.field("due"), typed, "执行进度", "G3") == value
    assert [f.code for f in n.findings] == ([code] if code else [])
    assert all(says in f.message_zh + f.hint_zh for f in n.findings)


@pytest.mark.libreoffice
def test_without_daily_history_a_pause_counts_from_its_update_date(year_end):
    assert run("weekly", year_end, "--today", "2026-12-28").exit_code in (0, 1)  # no daily run: no snapshots
    [mail] = [body for kind, to, _, body in mails(year_end, "2026-12-28") if to == "zhangwei"]
    assert "T07 包装打样 已暂停 10 天（自 2026-12-18）" in mail  # its 更新日期
