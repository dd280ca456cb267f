"""A check spread over several processes finds exactly what one process finds."""

import dataclasses
import datetime as dt
import os

import xlsxwriter
from conftest import another_item, clean_launch, sha256, write_item

from coordxl.run import pipeline
from coordxl.run.check import run_check

TODAY = dt.date(2026, 8, 20)


def _ledger(path, sheet_name, rows):
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet(sheet_name)
    ws.write_row(0, 0, ["事项", "编号", "任务", "来源", "负责部门", "负责人", "截止日期", "交付标准", "状态"])
    for r, row in enumerate(rows, start=1):
        ws.write_row(r, 0, row)
    wb.close()


def test_several_processes_find_exactly_what_one_process_finds(example_root):
    active = example_root / "进行中"
    for n in range(18):  # enough workbooks for two workers
        another_item(active / "Q3新品上市推广.xlsx", active / f"副本{n:02d}.xlsx")
    (active / "坏的.xlsx").write_bytes(b"PK\x03\x04 not really a workbook")
    far = clean_launch()  # working days counted in a year without calendar data, inside a worker
    far["request"].update(sent_on=dt.date(2099, 3, 2), planned_meeting=dt.datetime(2099, 3, 3, 14))
    write_item(example_root, far, name="远期事项")
    missing = clean_launch()
    del missing["tasks"][9]  # action 8's task is in a ledger: the named one, or the one found by its labels
    write_item(example_root, missing, name="缺任务")
    write_item(example_root, missing, name="缺任务2")
    write_item(example_root, missing, name="漏拆解")  # no ledger holds its action 8
    _ledger(active / "总台账.xlsx", "执行进度",
            [["缺任务2", "L1", "定价", "会议纪要#8", "销售部", "孙丽", "2026-09-01", "文件", "进行中"]])
    _ledger(active / "zz台账.xlsx", "Sheet1",
            [["缺任务", "L2", "定价", "会议纪要#8", "销售部", "孙楠", "2026-09-01", "文件", "进行中"]])
    before = {p.name: sha256(p) for p in active.iterdir()}

    one = run_check(example_root, TODAY, workers=1)
    two = run_check(example_root, TODAY, workers=2)

    assert (one.workers, two.workers) == (1, 2)
    assert [dataclasses.astuple(f) for f in two.findings] == [dataclasses.astuple(f) for f in one.findings]
    assert two.summary() == one.summary()
    codes = {(f.code, f.workbook) for f in two.findings}
    assert ("W-UNREADABLE", "进行中/坏的.xlsx") in codes
    assert ("W-CALENDAR", "coordxl.toml") in codes                      # the year was guessed in a worker
    assert ("F-PERSON", "进行中/zz台账.xlsx") in codes                   # 孙楠 is not in the roster
    assert ("R-BREAKDOWN", "进行中/缺任务.xlsx") not in codes            # the late ledger covers action 8
    assert ("R-BREAKDOWN", "进行中/缺任务2.xlsx") not in codes           # so does the ledger read first
    assert ("R-BREAKDOWN", "进行中/漏拆解.xlsx") in codes
    assert two.workbooks == 28 and two.unreadable == 1
    assert {p.name: sha256(p) for p in active.iterdir()} == before


def test_a_small_folder_is_checked_in_one_process(example_root):
    assert run_check(example_root, TODAY, workers=4).workers == 1


def test_a_worker_that_dies_leaves_nothing_unchecked(example_root, monkeypatch):
    active = example_root / "进行中"
    for n in range(18):
        another_item(active / "Q3新品上市推广.xlsx", active / f"副本{n:02d}.xlsx")
    expected = run_check(example_root, TODAY, workers=1)
    parent = os.getpid()
    real = pipeline.read_item

    def dies_in_a_worker(path, *args):
        if os.getpid() != parent and path.name == "副本05.xlsx":
            os._exit(9)  # as if killed for memory: no exception, no result
        return real(path, *args)

    monkeypatch.setattr(pipeline, "read_item", dies_in_a_worker)  # the workers are forked with it
    report = run_check(example_root, TODAY, workers=2)
    assert report.workers == 2
    assert [dataclasses.astuple(f) for f in report.findings] == [dataclasses.astuple(f) for f in expected.findings]
    assert report.summary() == expected.summary()


def test_workers_started_without_fork_find_the_same(example_root, monkeypatch):
    """Windows and macOS start workers by spawning a fresh interpreter: nothing may rely on fork."""
    import multiprocessing

    active = example_root / "进行中"
    for n in range(16):
        another_item(active / "Q3新品上市推广.xlsx", active / f"副本{n:02d}.xlsx")
    expected = run_check(example_root, TODAY, workers=1)
    monkeypatch.setattr(multiprocessing, "get_all_start_methods", lambda: ["spawn"])
    report = run_check(example_root, TODAY, workers=2)
    assert report.workers == 2
    assert [dataclasses.astuple(f) for f in report.findings] == [dataclasses.astuple(f) for f in expected.findings]


def test_a_new_rule_that_reads_a_ledger_s_rows_finds_the_same_with_one_and_two_workers(example_root, monkeypatch):
    """The trap a hand-kept list of ledger rules set: a new rule reading item.tasks (ledger rows
    included) gave findings with one worker and none with two. The hand-over to the workers is now
    derived from what each rule declares, so declaring is all a new rule needs — and the declaration
    is what makes the difference (checked with it removed)."""
    from coordxl import findings, messages
    from coordxl.process import rules

    monkeypatch.setitem(findings.CODES, "R-TEST-LEDGER", "warning")
    monkeypatch.setitem(messages.MESSAGES, "finding.R-TEST-LEDGER", ("台账任务 {id}", "ledger task {id}"))
    monkeypatch.setitem(messages.MESSAGES, "fix.R-TEST-LEDGER", ("无", "none"))

    def ledger_tasks(item, ctx):  # one finding per task that came to an item from a central ledger
        if item.ledger:
            return
        own = set(item.own.column("id"))
        for task_id in item.tasks.column("id"):
            if task_id not in own:
                yield findings.finding("R-TEST-LEDGER", item.workbook, id=task_id)

    active = example_root / "进行中"
    for n in range(18):
        another_item(active / "Q3新品上市推广.xlsx", active / f"副本{n:02d}.xlsx")
    _ledger(active / "总台账.xlsx", "执行进度",
            [[f"副本{n:02d}", f"L{n}", "定价", "会议纪要#8", "销售部", "孙丽", "2026-09-01", "文件", "进行中"]
             for n in range(18)])

    base = rules.RULES

    def run(columns):
        monkeypatch.setattr(rules, "RULES", base + (rules.Rule("ledger_tasks", ("R-TEST-LEDGER",),
                                                                      ledger_tasks, ledger_columns=columns),))
        one, two = run_check(example_root, TODAY, workers=1), run_check(example_root, TODAY, workers=2)
        assert (one.workers, two.workers) == (1, 2)
        return ([(f.workbook, f.message_en) for f in one.findings if f.code == "R-TEST-LEDGER"],
                [(f.workbook, f.message_en) for f in two.findings if f.code == "R-TEST-LEDGER"])

    one, two = run(("id",))
    assert len(one) == 18 and two == one
    one, two = run(())  # undeclared: the workers never see the ledger's rows
    assert len(one) == 18 and two == []


def test_a_pass_yields_one_shape_item_and_what_a_worker_did_with_or_without_a_job_s_work(example_root):
    """FolderCheck always yields (item, done): done is None for an item validated in this process."""
    from coordxl.process.model import Item
    from coordxl.run.context import RunContext
    from coordxl.state.layout import Layout

    ctx = RunContext.of(Layout.of(example_root), TODAY)
    plain = list(pipeline.FolderCheck(ctx, workers=1))
    with_work = list(pipeline.FolderCheck(ctx, workers=1, work=len))
    assert plain and all(isinstance(item, Item) and done is None for item, done in plain)
    assert [item.workbook for item, _ in plain] == [item.workbook for item, _ in with_work]
