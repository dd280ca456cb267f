"""`coordxl daily`: validate, assess, write the flags; dry runs write nothing; reruns write nothing new."""

import dataclasses
import datetime as dt
import email
import email.policy
import os
import shutil
import sqlite3
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner
from conftest import another_item, sha256, tree_hashes

from coordxl.cli import main
from coordxl.run.daily import run_daily

TODAY = dt.date(2026, 8, 20)
NOW = dt.datetime(2026, 8, 20, 9, 0)
# the state, its tier and its date, never a day counter: a cell changes only when its meaning does
EXPECTED = {"M5": "逾期·已升级（截止08-07）", "M8": "逾期·已升级（截止08-14）", "M9": "2个工作日内到期（截止08-21）",
            "M10": "待修正：负责人", "M11": "逾期（截止08-19）", "M12": "逾期·已升级（截止08-07）",
            "M13": "待修正：开始日期", "M14": "今日到期"}


def flags(root, name="Q3新品上市推广"):
    ws = openpyxl.load_workbook(root / "进行中" / f"{name}.xlsx")["执行进度"]
    return {f"M{r}": ws[f"M{r}"].value for r in range(3, 17) if ws[f"M{r}"].value}


# the real-life tracker: H1 (two owners, in the merged 设计部 range) is due Monday; its section rows
# (M3, M6) and 合计 row (M9) get nothing; H2 (完成90%) and H3 (进行中(50%)) are on track; H4 (已完成√) is done
STORES_EXPECTED = {"M4": "2个工作日内到期（截止08-24）"}


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_daily_writes_the_flags_and_logs_the_run(example_root):
    result = run("daily", example_root, "--today", "2026-08-20")
    assert result.exit_code == 0, result.output  # the job did its work: staff mistakes are reports, not failures
    assert flags(example_root) == EXPECTED
    assert flags(example_root, "华东门店焕新") == STORES_EXPECTED
    assert "已更新 9 个预警单元格" in result.output and "跳过3个分节/合计行" in "".join(result.output.split())
    [row] = sqlite3.connect(example_root / ".coordxl" / "state.db").execute(
        "SELECT job, today, outcome, finished_at FROM runs").fetchall()
    assert row[:3] == ("daily", "2026-08-20", "findings") and row[3]


def test_a_run_records_every_workbook_s_flags_in_one_transaction_made_durable_by_its_last_commit(example_root,
                                                                                                    monkeypatch):
    """What the job wrote into the 预警 cells is recorded once per run, not with an fsync per workbook; a
    record lost with the run (a power cut before its end) costs nothing: the next run knows its own texts."""
    from coordxl.state.store import Store

    statements: list[str] = []
    connect = Store._connect

    def traced(self):
        db = connect(self)
        db.set_trace_callback(statements.append)
        return db

    monkeypatch.setattr(Store, "_connect", traced)
    result = run_daily(example_root, TODAY, NOW)
    assert len(result.written) >= 2
    durable, writes = True, []
    for sql in statements:  # each transaction: durable or not, and whether it recorded flags
        if sql.startswith("PRAGMA synchronous"):
            durable = sql.endswith("FULL")
        elif sql == "BEGIN IMMEDIATE":
            writes.append([durable, False])
        elif sql.startswith("INSERT OR REPLACE INTO flags"):
            writes[-1][1] = True
    assert [d for d, f in writes if f] == [False]  # one transaction, no fsync of its own
    assert writes[-1][0] is True  # the run's last commit (finish_run) is durable, and the WAL with it
    db = sqlite3.connect(example_root / ".coordxl" / "state.db")
    assert db.execute("SELECT COUNT(DISTINCT workbook) FROM flags").fetchone()[0] == len(result.written)
    db.execute("DELETE FROM flags")  # the record lost
    db.commit()
    nxt = run_daily(example_root, TODAY + dt.timedelta(days=1), NOW + dt.timedelta(days=1))
    assert not [f for f in nxt.findings if f.code == "W-FLAG-EDITED"]


def test_second_run_with_nothing_new_writes_nothing(example_root):
    run_daily(example_root, TODAY, NOW)
    before = sha256(example_root / "进行中" / "Q3新品上市推广.xlsx")
    mtime = (example_root / "进行中" / "Q3新品上市推广.xlsx").stat().st_mtime_ns
    again = run_daily(example_root, TODAY, NOW)
    assert again.written == [] and again.planned == []
    assert sha256(example_root / "进行中" / "Q3新品上市推广.xlsx") == before
    assert (example_root / "进行中" / "Q3新品上市推广.xlsx").stat().st_mtime_ns == mtime


def test_the_next_day_rewrites_only_the_flags_whose_meaning_changed(example_root):
    run_daily(example_root, TODAY, NOW)
    path = example_root / "进行中" / "华东门店焕新.xlsx"
    untouched = sha256(path)  # H1 is still due within 2 working days (08-24): nothing to rewrite
    friday = run_daily(example_root, dt.date(2026, 8, 21), NOW)
    got = flags(example_root)
    assert {k: v for k, v in got.items() if EXPECTED.get(k) != v} == {"M9": "今日到期", "M14": "逾期（截止08-20）"}
    assert sorted(p.cell for p in friday.planned) == ["M14", "M9"]  # M5, M8, M11, M12 overdue as before: not rewritten
    assert sha256(path) == untouched
    # the counts still move every day where people read them: the mails
    outbox = example_root / ".coordxl" / "outbox" / "2026-08-21"
    said = "".join(email.message_from_bytes(p.read_bytes(), policy=email.policy.default).get_body(
        ("plain",)).get_content() for p in outbox.glob("*.eml"))
    assert "逾期10个工作日" in said and "逾期9个工作日" not in said


def test_a_folder_that_wants_day_counts_in_the_cell_gets_them_every_day(example_root):
    config = example_root / "coordxl.toml"
    config.write_text(config.read_text(encoding="utf-8").replace("count_days = false", "count_days = true"),
                      encoding="utf-8")
    run_daily(example_root, TODAY, NOW)
    assert flags(example_root)["M8"] == "逾期4个工作日" and flags(example_root)["M9"] == "1个工作日后到期"
    run_daily(example_root, dt.date(2026, 8, 21), NOW)
    assert flags(example_root)["M8"] == "逾期5个工作日" and flags(example_root)["M9"] == "今日到期"


def test_day_counters_written_by_an_older_version_are_replaced_as_coordxl_s_own(example_root):
    config = example_root / "coordxl.toml"
    plain = config.read_text(encoding="utf-8")
    config.write_text(plain.replace("count_days = false", "count_days = true"), encoding="utf-8")
    run_daily(example_root, TODAY, NOW)  # what an older coordxl wrote: 逾期4个工作日 …
    config.write_text(plain, encoding="utf-8")
    with sqlite3.connect(example_root / ".coordxl" / "state.db") as db:  # not even the record of what was
        db.execute("DELETE FROM flags")                                   # written is needed
    result = run_daily(example_root, TODAY, NOW)
    assert flags(example_root) == EXPECTED
    assert not [f for f in result.findings if f.code == "W-FLAG-EDITED"]


def test_dry_run_writes_nothing_and_says_what_it_would(example_root):
    before = tree_hashes(example_root)
    result = run("daily", example_root, "--today", "2026-08-20", "--dry-run")
    assert "逾期·已升级（截止08-07）" in result.output and "M5" in result.output
    assert tree_hashes(example_root) == before
    assert not (example_root / ".coordxl" / "state.db").exists()


def test_write_back_off(example_root):
    (example_root / "coordxl.toml").write_text("[writeback]\nenabled = false\n", encoding="utf-8")
    before = tree_hashes(example_root / "进行中")
    result = run_daily(example_root, TODAY, NOW)
    assert len(result.planned) == 9 and result.written == []
    assert ("进行中/Q3新品上市推广.xlsx", "writeback_off") in result.skipped
    assert tree_hashes(example_root / "进行中") == before


def test_open_workbook_is_skipped_and_retried_next_run(example_root):
    owner = example_root / "进行中" / "~$Q3新品上市推广.xlsx"
    owner.write_text("张伟")
    before = sha256(example_root / "进行中" / "Q3新品上市推广.xlsx")
    result = run_daily(example_root, TODAY, NOW)
    assert "W-LOCKED" in [f.code for f in result.findings]
    assert sha256(example_root / "进行中" / "Q3新品上市推广.xlsx") == before
    owner.unlink()
    assert run_daily(example_root, TODAY, NOW).written == ["进行中/Q3新品上市推广.xlsx"]


def test_a_legacy_xls_is_never_written(example_root, soffice):
    import shutil
    src = example_root / "进行中" / "Q3新品上市推广.xlsx"
    shutil.copy(soffice(src, "xls:MS Excel 97"), example_root / "进行中" / "旧表.xls")
    src.unlink()
    before = sha256(example_root / "进行中" / "旧表.xls")
    result = run_daily(example_root, TODAY, NOW)
    assert sha256(example_root / "进行中" / "旧表.xls") == before
    assert ("进行中/旧表.xls", "format") in result.skipped


def test_a_stale_temp_from_a_killed_run_is_cleaned(example_root):
    stale = example_root / "进行中" / ".~coordxl-999-Q3新品上市推广.xlsx.tmp"
    stale.write_bytes(b"half")
    run_daily(example_root, TODAY, NOW)
    assert not stale.exists()


def test_demo_flags_rows_writes_the_summary_and_the_mails(tmp_path):
    result = run("demo", "--dir", tmp_path / "demo")
    assert result.exit_code == 0, result.output
    demo = tmp_path / "demo"
    assert flags(demo) == EXPECTED and flags(demo, "华东门店焕新") == STORES_EXPECTED
    assert (demo / "报告" / "校验报告-2026-08-20.xlsx").is_file()
    summary = demo / "报告" / "周报-2026-W34.xlsx"
    assert openpyxl.load_workbook(summary)["总览"]._charts
    mails = sorted(p.name.split("-")[0] for p in (demo / ".coordxl" / "outbox" / "2026-08-20").glob("*.eml"))
    assert "fengxue@corp.example" in mails and len(mails) >= 5
    for shown in (str(summary), "outbox"):
        assert shown in result.output.replace("\n", "")


def test_a_rerun_the_same_day_records_a_workbook_changed_in_between(example_root):
    from coordxl.state.store import Store, workbook_id

    run_daily(example_root, TODAY, NOW)
    store = Store(example_root / ".coordxl" / "state.db")
    launch = "进行中/Q3新品上市推广.xlsx"
    ident = workbook_id(launch)  # how state.db knows it
    before = store.snapshot(TODAY)
    task = next(k for (wb, k), row in before.items() if wb == ident and row["state"] == "overdue")
    assert before[(ident, task)]["status"] != "done"

    run_daily(example_root, TODAY, NOW)  # nothing changed: the stored states stay as they were
    assert store.snapshot(TODAY) == before

    path = example_root / launch
    wb = openpyxl.load_workbook(path)  # a colleague marks the overdue task done at 10:00
    ws = wb["执行进度"]
    row = next(r for r in range(3, ws.max_row + 1) if f"id:{ws[f'A{r}'].value}" == task)
    ws[f"I{row}"], ws[f"J{row}"] = "已完成", dt.datetime(2026, 8, 20)
    wb.save(path)
    run_daily(example_root, TODAY, dt.datetime(2026, 8, 20, 11))
    after = store.snapshot(TODAY)
    assert after[(ident, task)]["status"] == "done" and after[(ident, task)]["state"] == "done"
    assert {k: v for k, v in after.items() if k != (ident, task)} == {
        k: v for k, v in before.items() if k != (ident, task)}


# --- the writer process: flags are written while the next workbooks are read ---------------------

def _copies(root, n=8):
    for k in range(n):
        another_item(root / "进行中" / "Q3新品上市推广.xlsx", root / "进行中" / f"副本{k}.xlsx")


def _cells(root):
    import python_calamine
    out = {}
    for path in sorted((root / "进行中").glob("*.xlsx")):
        book = python_calamine.CalamineWorkbook.from_path(str(path))
        out[path.name] = {name: book.get_sheet_by_name(name).to_python() for name in book.sheet_names}
    return out


def test_the_writer_process_writes_exactly_what_one_process_writes(example_root, tmp_path):
    import shutil
    _copies(example_root)
    alone = tmp_path / "alone"
    shutil.copytree(example_root, alone)
    config = alone / "coordxl.toml"
    config.write_text(config.read_text(encoding="utf-8").replace("workers = 0", "workers = 1"), encoding="utf-8")
    beside, one = run_daily(example_root, TODAY, NOW), run_daily(alone, TODAY, NOW)
    assert beside.cells_written == one.cells_written > 0 and beside.written == one.written
    assert [(f.code, f.workbook, f.cell) for f in beside.findings] == [(f.code, f.workbook, f.cell) for f in one.findings]
    assert _cells(example_root) == _cells(alone)
    assert flags(example_root) == EXPECTED


def test_a_writer_process_that_dies_loses_nothing_and_the_next_run_writes_the_rest(example_root, monkeypatch):
    """Killed (out of memory, an administrator): the workbooks it had not finished are told as skipped
    and left as they were, the rest are written in the job's own process, and the next run completes."""
    import multiprocessing
    import os
    from concurrent.futures import ProcessPoolExecutor

    from coordxl.run import daily

    _copies(example_root)
    before = _cells(example_root)

    def killed_writer(self):
        if self.pool is None:
            self.pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork"))
            self.pool.submit(os._exit, 9)  # the writer process dies before it writes anything
        return self.pool or None

    with monkeypatch.context() as m:
        m.setattr(daily.Flagger, "_writer", killed_writer)
        first = run_daily(example_root, TODAY, NOW)
    errors = [w for w, why in first.skipped if why.startswith("error")]
    assert errors and set(errors) | set(first.written) >= {f"进行中/副本{k}.xlsx" for k in range(8)}
    after = _cells(example_root)
    for name in errors:  # what the dead writer held is untouched
        assert after[name.split("/")[-1]] == before[name.split("/")[-1]]
    second = run_daily(example_root, TODAY, NOW)
    assert set(second.written) == set(errors)
    for k in range(8):
        assert flags(example_root, f"副本{k}") == EXPECTED


# --- check's worker processes: each does the whole per-workbook part of the run -----------------

def _workers(root, n: int) -> None:
    config = root / "coordxl.toml"
    text = config.read_text(encoding="utf-8")
    assert "workers = 0" in text
    config.write_text(text.replace("workers = 0", f"workers = {n}"), encoding="utf-8")


def _big_folder(root) -> None:
    """Enough workbooks for two workers; a colleague's note in one 预警 cell; an item whose action 8
    only a central ledger breaks down (its untracked actions are counted with the ledger's rows)."""
    from conftest import clean_launch, write_item
    from test_parallel import _ledger

    _copies(root, 17)
    path = root / "进行中" / "副本3.xlsx"
    wb = openpyxl.load_workbook(path)
    wb["执行进度"]["M8"] = "已和孙丽沟通，周五前交"
    wb.save(path)
    missing = clean_launch()
    del missing["tasks"][9]
    write_item(root, missing, name="缺任务")
    _ledger(root / "进行中" / "总台账.xlsx", "执行进度",
            [["缺任务", "L1", "定价", "会议纪要#8", "销售部", "孙丽", "2026-09-01", "文件", "进行中"]])


def _state(root) -> tuple:
    db = sqlite3.connect(root / ".coordxl" / "state.db")
    return (db.execute("SELECT * FROM snapshots ORDER BY workbook, task_key").fetchall(),
            db.execute("SELECT workbook, sheet, cell, text FROM flags ORDER BY workbook, cell").fetchall(),
            db.execute("SELECT recipient, subject, status FROM mails ORDER BY recipient, subject").fetchall())


def test_the_daily_work_done_in_check_s_workers_equals_one_process(example_root, tmp_path):
    import shutil
    _big_folder(example_root)
    alone = tmp_path / "alone"
    shutil.copytree(example_root, alone)
    _workers(example_root, 2)
    _workers(alone, 1)

    dry_two, dry_one = run_daily(example_root, TODAY, NOW, dry_run=True), run_daily(alone, TODAY, NOW, dry_run=True)
    assert (dry_two.report.workers, dry_one.report.workers) == (2, 1)
    assert dry_two.planned == dry_one.planned and len(dry_two.planned) > 100

    two, one = run_daily(example_root, TODAY, NOW), run_daily(alone, TODAY, NOW)
    assert two.report.workers == 2
    assert two.counts() == one.counts()
    assert two.untracked_actions == one.untracked_actions  # 缺任务's action 8 is the ledger's L1
    assert two.written == one.written and two.cells_written == one.cells_written > 100
    assert [dataclasses.astuple(f) for f in two.findings] == [dataclasses.astuple(f) for f in one.findings]
    assert any(f.code == "W-FLAG-EDITED" and f.workbook == "进行中/副本3.xlsx" for f in two.findings)
    def said(result, root):  # a mail's links name the folder's path: the two folders differ there
        return [(m.key, m.to.email, m.kind, m.subject, sorted(m.reasons),
                 [b.replace(str(root), "<root>") for b in m.bodies()]) for m in result.mails]
    assert said(two, example_root) == said(one, alone) and two.mails
    assert {m.kind for m in two.mails} >= {"digest", "escalation"}  # the workers sorted both kinds
    assert [(r.name, r.reason) for r in two.delivery.refused] == [(r.name, r.reason) for r in one.delivery.refused]
    assert _cells(example_root) == _cells(alone)
    assert _state(example_root) == _state(alone)
    assert flags(example_root, "副本3")["M8"] == "已和孙丽沟通，周五前交"  # the colleague's note stays
    assert flags(example_root, "副本4") == EXPECTED


@pytest.mark.slow  # real coordxl processes, one per job or fault
def test_a_check_worker_that_dies_mid_run_loses_nothing(example_root, monkeypatch):
    """A worker killed while it flags a workbook (out of memory): that workbook and the ones after it
    are done in the job's own process; nothing is written twice and the next run has nothing to do."""
    import os

    from coordxl.run import daily

    _big_folder(example_root)
    _workers(example_root, 2)
    parent = os.getpid()
    real = daily.ItemWork.__call__

    def dies_in_a_worker(self, item, layout, ctx):
        done = real(self, item, layout, ctx)  # written, not yet handed back
        if os.getpid() != parent and item.workbook == "进行中/副本5.xlsx":
            os._exit(9)
        return done

    monkeypatch.setattr(daily.ItemWork, "__call__", dies_in_a_worker)
    first = run_daily(example_root, TODAY, NOW)
    assert first.report.workers == 2 and not first.skipped
    for k in range(17):
        assert flags(example_root, f"副本{k}") == (EXPECTED if k != 3 else {**EXPECTED, "M8": "已和孙丽沟通，周五前交"})
    again = run_daily(example_root, TODAY, NOW)
    assert again.written == [] and again.planned == []


def test_daily_workers_started_without_fork_do_the_same(example_root, monkeypatch):
    """Windows and macOS spawn a fresh interpreter for each worker: the work travels there pickled."""
    import multiprocessing

    _big_folder(example_root)
    _workers(example_root, 2)
    monkeypatch.setattr(multiprocessing, "get_all_start_methods", lambda: ["spawn"])
    result = run_daily(example_root, TODAY, NOW)
    assert result.report.workers == 2 and not result.skipped
    assert flags(example_root, "副本9") == EXPECTED
    assert any(f.code == "W-FLAG-EDITED" and f.workbook == "进行中/副本3.xlsx" for f in result.findings)
    assert _state(example_root)[1]  # the workers recorded what they wrote


def _linked_to_department(example_root: Path, tmp_path: Path) -> tuple[Path, Path, Path]:
    """进行中/Q3….xlsx made a symlink to the same workbook in a department's own folder, as an
    administrator links a department's file into the share: (department, target, link)."""
    department = tmp_path / "市场部共享"
    department.mkdir()
    target = department / "Q3新品上市推广.xlsx"
    link = example_root / "进行中" / "Q3新品上市推广.xlsx"
    shutil.move(link, target)
    link.symlink_to(target)
    return department, target, link


def test_a_workbook_linked_into_the_folder_is_patched_where_it_lives_and_stays_a_link(example_root, tmp_path):
    """进行中/Q3….xlsx is a symlink to the department's own file: the flags go into that file, the link
    stays a link to it, and a broken link is named in the run's output."""
    department, target, link = _linked_to_department(example_root, tmp_path)
    (example_root / "进行中" / "已删除的事项.xlsx").symlink_to(department / "gone.xlsx")
    result = run("daily", example_root, "--today", "2026-08-20")
    assert result.exit_code in (0, 1), result.output
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert flags(example_root) == EXPECTED  # read through the link: the department's file holds the flags
    assert sorted(p.name for p in department.iterdir()) == ["Q3新品上市推广.xlsx"]  # no temp file left there
    assert "已删除的事项.xlsx" in result.output and "它指向的文件已被移走或删除" in result.output


@pytest.mark.skipif(os.name != "posix" or (os.geteuid() == 0 and not shutil.which("setpriv")),
                    reason="needs POSIX permissions, and setpriv where the tests run as root")
def test_a_linked_workbook_in_a_folder_coordxl_may_not_write_is_refused_with_a_finding(example_root, tmp_path):
    """The department's folder is read-only to the account that runs coordxl: the link's target cannot be
    replaced in its own folder, so nothing is written there, the link stays, and the run says why."""
    import subprocess
    import sys
    department, target, link = _linked_to_department(example_root, tmp_path)
    department.chmod(0o555)
    before = sha256(target)
    command = [sys.executable, "-m", "coordxl", "daily", str(example_root), "--today", "2026-08-20"]
    if os.geteuid() == 0:  # root ignores mode bits: run without the capabilities that override them
        command = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", *command]
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 1, done.stdout + done.stderr  # a workbook left unwritten: the administrator acts
    assert "W-PERMISSION" in done.stdout and "跳过 进行中/Q3新品上市推广.xlsx" in done.stdout
    assert "coordxl 无权在工作簿所在的文件夹中写入" in done.stdout  # what is wrong: the folder, not an owner
    assert link.is_symlink() and sha256(target) == before and sorted(os.listdir(department)) == [target.name]
