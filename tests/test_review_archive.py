"""`coordxl review` and `coordxl archive`."""

import datetime as dt
import io
import json

import openpyxl
import pytest
import python_calamine
from click.testing import CliRunner
from conftest import clean_launch, sha256, write_item

from coordxl.cli import main
from coordxl.run.archive import archive_item, verify
from coordxl.run.review import run_review

TODAY = dt.date(2026, 8, 20)
NOW = dt.datetime(2026, 8, 20, 18, 0)
RECAP = "618大促数据复盘对接"


def compliance_marks(path):
    rows = python_calamine.CalamineWorkbook.from_path(str(path)).get_sheet_by_name("复盘草稿").to_python()
    start = next(i for i, r in enumerate(rows) if r[0] == "六、流程合规") + 2
    marks = {}
    for r in rows[start:]:
        if not r[0] or r[0].startswith("七"):
            break
        marks[r[0]] = (r[1], r[2])
    return marks


def test_review_draft_marks_the_planted_breaches(example_root):
    path = run_review(example_root, "Q3新品上市推广", TODAY)
    assert path == example_root / "报告" / "复盘草稿-Q3新品上市推广.xlsx"
    marks = compliance_marks(path)
    assert {k: v[0] for k, v in marks.items()} == {
        "需求单提前2个工作日发出": "✔", "会议材料提前1天发出": "✔", "会议不超过90分钟": "✔",
        "会后24小时内发出纪要": "✘", "待办有负责人、截止日期、交付标准": "✘", "每个待办都拆解为任务": "✔",
        "每周召开不超过30分钟的跟进会": "✘", "资源申请先审核后审批": "✘"}
    assert marks["需求单提前2个工作日发出"][1] == "提前 2 个工作日发出"
    assert "42 小时" in marks["会后24小时内发出纪要"][1]
    rows = python_calamine.CalamineWorkbook.from_path(str(path)).get_sheet_by_name("复盘草稿").to_python()
    flat = [c for r in rows for c in r]
    for section in ("七、成功经验（请填写）", "八、不足（请填写）", "九、改进措施（请填写）"):
        assert section in flat
    # on-time rate: 5 done (T01 T02 T04 T05 T14), T02 late (08-04 vs 07-31), and T03 T06 T09 T10 open past
    # their deadline (late too): 4 of 9
    overall = next(r for r in rows if r[0] == "合计")
    assert overall[1:4] == [5, 4, pytest.approx(4 / 9)]


def test_review_finds_items_by_topic_and_suggests_names(example_root):
    assert run_review(example_root, "Q3新品上市推广协调", TODAY).exists()
    result = CliRunner().invoke(main, ["review", str(example_root), "Q3新品推广"])
    assert result.exit_code == 2 and "Q3新品上市推广" in result.output


def test_review_counts_reminders_sent(example_root):
    from coordxl.run.daily import run_daily
    run_daily(example_root, TODAY, dt.datetime(2026, 8, 20, 9))
    path = run_review(example_root, "Q3新品上市推广", TODAY)
    rows = python_calamine.CalamineWorkbook.from_path(str(path)).get_sheet_by_name("复盘草稿").to_python()
    i = next(i for i, r in enumerate(rows) if r[0] == "四、提醒与升级")
    assert rows[i + 2][:2] == [8, 3]  # 5 digests and 3 escalation mails about this item


def test_review_lists_deadlines_moved_later(share_with_roster):
    from conftest import clean_launch, write_item

    from coordxl.run.daily import run_daily
    d = clean_launch()
    write_item(share_with_roster, d)
    run_daily(share_with_roster, dt.date(2026, 8, 10), dt.datetime(2026, 8, 10, 9))
    d["tasks"][6]["due"] = dt.date(2026, 8, 26)  # T07: 08-21 -> 08-26
    write_item(share_with_roster, d)
    run_daily(share_with_roster, dt.date(2026, 8, 17), dt.datetime(2026, 8, 17, 9))
    d["tasks"][6]["due"] = dt.date(2026, 8, 28)  # and again: measured from the first due date
    write_item(share_with_roster, d)
    path = run_review(share_with_roster, "Q3新品上市推广", TODAY)
    rows = python_calamine.CalamineWorkbook.from_path(str(path)).get_sheet_by_name("复盘草稿").to_python()
    i = next(i for i, r in enumerate(rows) if r[0] == "三、截止日期调整记录")
    assert rows[i + 2][:5] == ["T07", "销售培训课件", dt.date(2026, 8, 21), dt.date(2026, 8, 28), 5]
    assert rows[i + 3][0] in ("", None) or rows[i + 3][0].startswith("四")


def test_archive_refuses_an_open_item(example_root):
    before = sha256(example_root / "进行中" / "Q3新品上市推广.xlsx")
    result = CliRunner().invoke(main, ["archive", str(example_root), "Q3新品上市推广"])
    assert result.exit_code == 1 and "状态不是“已关闭”" in result.output
    assert sha256(example_root / "进行中" / "Q3新品上市推广.xlsx") == before
    assert not list((example_root / "归档").rglob("*.xlsx"))


def test_force_needs_a_reason_and_records_it(example_root):
    assert CliRunner().invoke(main, ["archive", str(example_root), "Q3新品上市推广", "--force"]).exit_code == 2
    done = archive_item(example_root, "Q3新品上市推广", TODAY, NOW, "admin", force=True, reason="项目取消")
    manifest = json.loads((done.dest / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["forced"] and manifest["reason"] == "项目取消"


def test_archive_a_closed_item(example_root):
    original = sha256(example_root / "进行中" / f"{RECAP}.xlsx")
    run_review(example_root, RECAP, TODAY)
    done = archive_item(example_root, RECAP, TODAY, NOW, "李娜")
    assert done.dest == example_root / "归档" / "2026" / RECAP
    assert sorted(p.name for p in done.dest.iterdir()) == sorted(
        [f"{RECAP}.xlsx", f"复盘草稿-{RECAP}.xlsx", "manifest.json"])
    assert sha256(done.dest / f"{RECAP}.xlsx") == original and verify(done.dest)
    assert not (example_root / "进行中" / f"{RECAP}.xlsx").exists()
    assert not (example_root / "报告" / f"复盘草稿-{RECAP}.xlsx").exists()
    ws = openpyxl.load_workbook(example_root / "归档" / "归档索引.xlsx").active
    rows = list(ws.iter_rows(min_row=2, values_only=True))
    assert len(rows) == 1 and rows[0][0] == RECAP and rows[0][5] == "李娜" and rows[0][6] == f"2026/{RECAP}"


@pytest.mark.parametrize("stage", ["after_copy", "after_rename"])
def test_an_interrupted_archive_is_finished_by_running_it_again(example_root, stage):
    original = sha256(example_root / "进行中" / f"{RECAP}.xlsx")

    def crash(at):
        if at == stage:
            raise KeyboardInterrupt(at)

    with pytest.raises(KeyboardInterrupt):
        archive_item(example_root, RECAP, TODAY, NOW, "李娜", hook=crash)
    # nothing is lost: the original is still where staff expect it
    assert sha256(example_root / "进行中" / f"{RECAP}.xlsx") == original
    done = archive_item(example_root, RECAP, TODAY, NOW, "李娜")
    assert verify(done.dest) and sha256(done.dest / f"{RECAP}.xlsx") == original
    assert not (example_root / "进行中" / f"{RECAP}.xlsx").exists()
    assert not list((example_root / "归档" / "2026").glob(".*partial"))
    # and nothing is duplicated: one copy, one index row
    assert len(list((example_root / "归档").rglob(f"{RECAP}.xlsx"))) == 1
    ws = openpyxl.load_workbook(example_root / "归档" / "归档索引.xlsx").active
    assert ws.max_row == 2


def test_manifest_hashes_verify_and_detect_tampering(example_root):
    done = archive_item(example_root, RECAP, TODAY, NOW, "李娜")
    assert verify(done.dest)
    (done.dest / f"{RECAP}.xlsx").write_bytes(b"tampered")
    assert not verify(done.dest)


def test_the_draft_opens_with_a_one_page_summary(example_root):
    path = run_review(example_root, "Q3新品上市推广", TODAY)
    rows = python_calamine.CalamineWorkbook.from_path(str(path)).get_sheet_by_name("复盘草稿").to_python()
    start = next(i for i, r in enumerate(rows) if r[0] == "一页摘要")
    summary = {r[0]: r[1] for r in rows[start + 1:start + 7]}
    assert start < next(i for i, r in enumerate(rows) if str(r[0]).startswith("一、验收情况"))  # the summary first
    assert summary["验收结论"] == "尚未填写验收结论（复盘表）"
    assert summary["完成情况"].startswith("完成 5/") and summary["按时完成率"] == "44%（4/9 按时）"
    # the longest delays, open tasks among them: T03 and T10 are 9 working days late, T06 4
    assert summary["延期最多（工作日）"] == ("T03 包装设计定稿（9，仍未完成）；T10 新品定价方案（9，仍未完成）；"
                                      "T06 重点渠道铺货清单（4，仍未完成）")
    failed = summary["未遵守的流程规定"].split("；")
    assert set(failed) == {"会后24小时内发出纪要", "待办有负责人、截止日期、交付标准", "每周召开不超过30分钟的跟进会",
                           "资源申请先审核后审批"}


def test_a_recurring_topic_is_archived_beside_last_time_s_and_new_says_so(example_root):
    """A monthly review archived in March and again in June: two folders, two index rows, nothing
    changed in the first; `new` with that name warns that the archive already holds one."""
    workbook = example_root / "进行中" / f"{RECAP}.xlsx"
    kept = workbook.read_bytes()
    first = archive_item(example_root, RECAP, TODAY, NOW, "李娜")
    first_files = {p.name: sha256(p) for p in first.dest.iterdir()}
    wb = openpyxl.load_workbook(io.BytesIO(kept))  # the same topic again, another round with other content
    ws = wb["需求单"]
    [label] = [row[0] for row in ws.iter_rows() if row[0].value == "发出日期"]
    ws.cell(label.row, label.column + 1).value = dt.datetime(2026, 9, 1)
    wb.save(workbook)
    second = CliRunner().invoke(main, ["archive", str(example_root), RECAP, "--today", "2026-08-21"])
    assert second.exit_code == 0, second.output
    dest = example_root / "归档" / "2026" / f"{RECAP}-2026-09-01"  # named by its request date
    assert verify(dest) and not workbook.exists()
    assert {p.name: sha256(p) for p in first.dest.iterdir()} == first_files  # last time's archive untouched
    ws = openpyxl.load_workbook(example_root / "归档" / "归档索引.xlsx").active
    assert [r[6] for r in ws.iter_rows(min_row=2, values_only=True)] == [f"2026/{RECAP}", f"2026/{RECAP}-2026-09-01"]
    made = CliRunner().invoke(main, ["new", RECAP, "--root", str(example_root), "--initiator", "李娜"])
    assert made.exit_code == 0 and "归档中已有同名事项" in made.output and f"2026/{RECAP}-2026-09-01" in made.output


@pytest.mark.parametrize("title", ["~$周会", "~临时", ".~lock.周会#"])
def test_new_refuses_a_title_every_job_would_skip(example_root, title):
    result = CliRunner().invoke(main, ["new", title, "--root", str(example_root), "--initiator", "李娜"])
    assert result.exit_code == 2 and "临时文件" in result.output
    assert not list((example_root / "进行中").glob("~*"))


def _acceptance(path):
    """The acceptance table: task id -> (status, on time mark, working days late)."""
    rows = python_calamine.CalamineWorkbook.from_path(str(path)).get_sheet_by_name("复盘草稿").to_python()
    start = next(i for i, r in enumerate(rows) if str(r[0]).startswith("一、验收情况")) + 2
    out = {}
    for r in rows[start:]:
        if not r[0]:
            break
        out[r[0]] = (r[6], r[7], r[8])
    return out


def test_the_draft_judges_only_what_was_due_and_counts_delays_in_working_days(example_root):
    """Against the tracker read with openpyxl: a task done after its deadline or open past it is ✘ with
    its working days late (at least 1); a task not yet due is 未到期, never ✘; cancelled is -."""
    from coordxl.process.calendar import WorkCalendar

    cal = WorkCalendar()
    path = run_review(example_root, "Q3新品上市推广", TODAY)
    got = _acceptance(path)
    ws = openpyxl.load_workbook(example_root / "进行中" / "Q3新品上市推广.xlsx")["执行进度"]
    head = {c.value: c.column - 1 for c in ws[2]}
    seen = 0
    for row in ws.iter_rows(min_row=3, values_only=True):
        tid, due, status, done = (row[head[k]] for k in ("编号", "截止日期", "状态", "完成日期"))
        if not tid or tid in ("T08", "T11"):  # 待修正 (an owner, a start date): not judged until fixed
            continue
        due = dt.datetime(*map(int, due.split("/"))) if isinstance(due, str) else due
        due = due.date()
        if status == "已取消":
            expected = ("-", "")
        elif status == "已完成":
            late = done.date() > due
            expected = ("✘" if late else "✔", max(1, cal.count(due, done.date())) if late else 0)
        elif due < TODAY:
            expected = ("✘", max(1, cal.count(due, TODAY)))
        else:
            expected = ("未到期", "")
        assert got[tid][1:] == expected, tid
        seen += 1
    assert seen == 12 and got["T07"][1] == got["T12"][1] == "未到期"  # due 08-21, and today 08-20
    assert got["T10"][0] == "受阻" and got["T08"][1:] == ("-", "")


def test_a_rule_not_kept_names_its_cell_with_the_cell_s_text(example_root):
    path = run_review(example_root, "Q3新品上市推广", TODAY)
    marks = compliance_marks(path)
    ws = openpyxl.load_workbook(example_root / "进行中" / "Q3新品上市推广.xlsx")
    minutes_sent = ws["会议纪要"]["B14"].value.strftime("%Y-%m-%d %H:%M")
    assert marks["会后24小时内发出纪要"][1].startswith(f"会议纪要 B14「{minutes_sent}」：纪要在会后 42 小时")
    assert marks["待办有负责人、截止日期、交付标准"][1].startswith("会议纪要 F22（空白）：")
    assert ws["会议纪要"]["F22"].value is None
    end = ws["跟进会"]["C7"].value.strftime("%H:%M")
    assert marks["每周召开不超过30分钟的跟进会"][1].startswith(f"跟进会 C7「{end}」：")
    # a week without a follow-up meeting is the sheet's, not cell A1's
    later = run_review(example_root, "Q3新品上市推广", dt.date(2026, 9, 14))
    evidence = compliance_marks(later)["每周召开不超过30分钟的跟进会"][1]
    assert "这一周没有召开跟进会" in evidence and "A1" not in evidence and "跟进会：" in evidence


def test_delays_counted_in_a_year_without_holiday_data_are_marked_as_estimates(example_root):
    path = run_review(example_root, "Q3新品上市推广", dt.date(2027, 1, 11))
    rows = python_calamine.CalamineWorkbook.from_path(str(path)).get_sheet_by_name("复盘草稿").to_python()
    assert rows[2][0].startswith("※") and "估算" in rows[2][0] and "2027" in rows[2][0]
    assert not any(str(r[0]).startswith("※") for r in python_calamine.CalamineWorkbook.from_path(
        str(run_review(example_root, "Q3新品上市推广", TODAY))).get_sheet_by_name("复盘草稿").to_python())


def test_a_kept_rule_s_evidence_is_the_figure_the_rule_judged(share_with_roster):
    """No planned meeting time on the request form and no end time in the minutes: the rules measure from the
    meeting's start, and the draft shows those figures (it once said "无相关记录" for rules it had judged kept)."""
    launch = clean_launch()
    launch["request"].pop("planned_meeting")
    launch["minutes"].pop("end")
    write_item(share_with_roster, launch)
    marks = compliance_marks(run_review(share_with_roster, "Q3新品上市推广", TODAY))
    assert marks["需求单提前2个工作日发出"] == ("✔", "提前 2 个工作日发出")  # 07-06 → the meeting on 07-08
    assert marks["会后24小时内发出纪要"] == ("✔", "会后 20 小时发出")  # from its start, 07-08 14:00, to 07-09 10:00


def test_the_draft_s_figures_are_values_before_any_layout(example_root):
    """The same figures the draft lays out (test_review_draft_marks_the_planted_breaches reads them from the
    sheet): 5 done, 4 of 9 on time, the latest delay first, the rules not kept."""
    from coordxl.run.pipeline import find_item, load_item
    from coordxl.run.review import figures
    from coordxl.state.layout import Layout

    layout = Layout.of(example_root)
    item, findings, ctx = load_item(layout, find_item(layout, "Q3新品上市推广", TODAY), TODAY)
    fig = figures(item, findings, ctx, "zh")
    assert (fig.done, fig.on_time) == (5, (4, 9))
    assert [d for d, _, _ in fig.worst] == sorted((d for d, _, _ in fig.worst), reverse=True) and len(fig.worst) == 3
    assert [code for code, kept, _ in fig.checks if not kept] == [
        "R-MINUTES-24H", "R-ACTION-INCOMPLETE", "R-FOLLOWUP", "R-RESOURCE-REVIEW"]
    assert sum(n for n, _, _ in fig.per_department.values()) == 5 and fig.acceptance == ""
def test_a_third_round_with_the_same_request_date_goes_to_a_numbered_folder(example_root):
    """Three rounds of one topic in a year, the last two sent the same day: 归档/2026/<topic>, then
    <topic>-<request date>, then <topic>-2; each verifies, the index lists all three."""
    workbook = example_root / "进行中" / f"{RECAP}.xlsx"
    kept = workbook.read_bytes()
    dests = []
    for n, note in enumerate(("", "第二轮", "第三轮")):
        if n:
            wb = openpyxl.load_workbook(io.BytesIO(kept))
            wb["执行进度"]["L3"].value = note  # another round: other content, the same request form
            wb.save(workbook)
        result = CliRunner().invoke(main, ["archive", str(example_root), RECAP, "--today", f"2026-08-2{n}"])
        assert result.exit_code == 0, result.output
        dests.append(sorted(p.name for p in (example_root / "归档" / "2026").iterdir()))
    assert dests[-1] == [RECAP, f"{RECAP}-2", f"{RECAP}-2026-06-19"]
    assert all(verify(example_root / "归档" / "2026" / name) for name in dests[-1])
    ws = openpyxl.load_workbook(example_root / "归档" / "归档索引.xlsx").active
    assert len(list(ws.iter_rows(min_row=2, values_only=True))) == 3
