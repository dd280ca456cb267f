"""Copies are never items, and every file under 进行中/ is read or named (issue #25, points 5 and 6).

The real workbook here is saved by LibreOffice; its copies are stale: the real one has T03 (包装设计定稿,
冯雪, nine working days overdue) marked done after they were made, the copies still have it open.

Where copy names come from (looked up, not guessed):
- Explorer "X - 副本.xlsx", "X - 副本 (2).xlsx", "X - Copy.xlsx"; browsers and Google Drive "X (1).xlsx".
- Dropbox: "the editor's username, 'conflicted copy', and the save date will be added to the filename",
  and "the last version saved will always appear as the conflicted copy"
  (https://help.dropbox.com/syncing-uploads/conflicted-copy): "X (张伟's conflicted copy 2026-12-21).xlsx".
- OneDrive keeps the local version as "文件名-计算机名" (https://blog.gitcode.com/0555391e24af5ead7990ca195873576d.html):
  "X-DESKTOP-AB12CD.xlsx" (Windows' default PC names are DESKTOP-/LAPTOP-xxxxxxx).
- 坚果云 (Nutstore) marks a conflict file "-conflict" on Windows and "-NSConflict" on Linux and macOS,
  with the nickname of the user who made it when the folder is shared
  (http://slackerblud.com/WeChatMiniProgram/xnvookggtd.html, a copy of Nutstore's help text).
- WPS 网盘 uploads a same-named file with other content "以副本形式": "1.doc 与 1-副本.doc"
  (https://www.xckfsq.com/news/show.html?id=14098).
- Nextcloud: "mydata (conflicted copy 2018-04-10 093612).txt" (nextcloud/desktop doc/conflicts.rst).
- 360 云盘: "文件名(冲突).txt".
The position of 坚果云's nickname in the name is not documented in what was found; every separator
before the conflict word is tried as the end of the original's name.

WPS .et: SheetJS's format table lists "WPS 电子表格 (ET)" as a format it reads but does not write; no
public text found here describes its inside. The issue saw Excel 97 inside, so the test file is an .xls
written by LibreOffice (MS Excel 97 filter) and renamed .et, as the brief says WPS writes it.
"""

import datetime as dt
import email
import json
import os
import re
import shutil
from email import policy
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner
from conftest import another_item, clean_launch, sha256, write_item

from coordxl.cli import main
from coordxl.run.check import run_check
from coordxl.run.daily import run_daily

TODAY = dt.date(2026, 8, 20)
NOW = dt.datetime(2026, 8, 20, 9, 0)
REAL = "进行中/Q3新品上市推广.xlsx"
COPIES = ("Q3新品上市推广 (1).xlsx", "Q3新品上市推广-张伟的冲突副本.xlsx", "Q3新品上市推广 - 副本.xlsx")
DONE_IN_REAL = "包装设计定稿"  # T03: open (overdue, escalated) in the stale copies, done in the real one
T03_ROW = 5  # the tracker's header is row 2


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def saved_by_libreoffice(soffice, path: Path) -> Path:
    shutil.copy(soffice(path, "xlsx:Calc MS Excel 2007 XML"), path)
    return path


def mark_t03_done(path: Path) -> None:
    wb = openpyxl.load_workbook(path)
    ws = wb["执行进度"]
    assert ws[f"B{T03_ROW}"].value == DONE_IN_REAL
    ws[f"I{T03_ROW}"] = "已完成"
    ws[f"J{T03_ROW}"] = dt.date(2026, 8, 19)
    wb.save(path)


@pytest.fixture(scope="module")
def folders(tmp_path_factory, soffice):
    """(the folder with the real workbook and its stale copies, the same folder without the copies)."""
    base = tmp_path_factory.mktemp("copies")
    alone = base / "alone"
    (alone / "进行中").mkdir(parents=True)
    from conftest import EXAMPLE
    shutil.copy(EXAMPLE / "coordxl.toml", alone / "coordxl.toml")
    shutil.copy(EXAMPLE / "名册.xlsx", alone / "名册.xlsx")
    config = alone / "coordxl.toml"
    config.write_text(config.read_text(encoding="utf-8").replace("admins = []", 'admins = ["admin@corp.example"]'),
                      encoding="utf-8")
    real = saved_by_libreoffice(soffice, write_item(alone, clean_launch()))
    with_copies = base / "with_copies"
    shutil.copytree(alone, with_copies)
    for name in COPIES:  # made before T03 was done: stale
        shutil.copy(real, with_copies / "进行中" / name)
    for root in (alone, with_copies):
        mark_t03_done(root / REAL)
        saved_by_libreoffice(soffice, root / REAL)
    # a sync client's conflict copy is the later save (Dropbox: "the last version saved"): still a copy
    later = (with_copies / REAL).stat().st_mtime + 3600
    os.utime(with_copies / "进行中" / COPIES[1], (later, later))
    return with_copies, alone


@pytest.fixture
def share(folders, tmp_path):
    root = tmp_path / "with_copies"
    shutil.copytree(folders[0], root)
    return root


@pytest.fixture
def alone(folders, tmp_path):
    root = tmp_path / "alone"
    shutil.copytree(folders[1], root)
    return root


def outbox(root: Path, day: dt.date = TODAY) -> list:
    return [email.message_from_bytes(p.read_bytes(), policy=policy.default)
            for p in sorted((root / ".coordxl" / "outbox" / day.isoformat()).glob("*.eml"))]


def body(msg) -> str:
    return msg.get_body(("plain",)).get_content()


def copy_hashes(root: Path) -> dict[str, str]:
    return {name: sha256(root / "进行中" / name) for name in COPIES}


# --- check ------------------------------------------------------------------------------------

@pytest.mark.libreoffice
def test_check_names_each_copy_beside_the_real_item_and_reads_none(share):
    result = cli("check", share, "--json", "--today", TODAY)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    duplicates = [f for f in doc["findings"] if f["code"] == "W-DUPLICATE-ITEM"]
    assert len(duplicates) == 3
    for f, name in zip(sorted(duplicates, key=lambda f: f["message"]), sorted(COPIES)):
        assert f["workbook"] == REAL and f["severity"] == "warning"  # told with the real item's findings
        assert f"进行中/{name}" in f["message"] and REAL in f["message"]  # both files named
        assert "合并到" in f["hint"] and "删除" in f["hint"]
    assert {f["workbook"] for f in doc["findings"]} == {REAL}  # nothing was read of a copy
    assert doc["summary"]["items"] == 1 and doc["summary"]["tasks"] == 14 and doc["summary"]["copies"] == 3

    human = cli("check", share, "--today", TODAY)
    assert "检查了 1 个工作簿、1 个事项、14 项任务" in human.output
    assert "未读取：3 个事项副本（W-DUPLICATE-ITEM）" in human.output.replace("\n", "")


# --- daily: never written, never reminded, never counted ---------------------------------------

def _said(root: Path) -> list[tuple[str, str, str]]:
    """Each mail's recipient, subject and text (the outbox's file names hold a key made of the folder's path)."""
    return sorted((m["To"].addresses[0].addr_spec, m["Subject"], body(m).replace(str(root), "<root>"))
                  for m in outbox(root))


def _assert_copies_are_no_items(share: Path, alone: Path, before: dict[str, str]) -> None:
    assert copy_hashes(share) == before  # never flagged: not a byte changed
    mails = outbox(share)
    assert mails
    for m in mails:
        text = body(m)
        assert DONE_IN_REAL not in text, m["Subject"]  # done in the real workbook: nobody is told again
        for task in ("重点渠道铺货清单", "新品定价方案", "电商详情页设计", "销售培训课件"):
            assert text.count(task) <= 1, (m["Subject"], task)  # once per mail, not once per copy
    # everyone but the initiator and the administrator gets exactly the mails of the folder without copies
    told_of_copies = ("zhangwei@", "admin@")
    assert [s for s in _said(share) if not s[0].startswith(told_of_copies)] == \
        [s for s in _said(alone) if not s[0].startswith(told_of_copies)]
    # the initiator: the real item's counts and overdue tasks, and each copy named once
    [initiator] = [body(m) for m in outbox(share) if m["To"].addresses[0].username == "zhangwei"
                   and m["X-Coordxl-Kind"] == "digest"]  # (an escalation mail of its own may go to them too)
    [initiator_alone] = [body(m) for m in outbox(alone) if m["To"].addresses[0].username == "zhangwei"
                         and m["X-Coordxl-Kind"] == "digest"]
    counts = lambda text: re.findall(r"共 \d+ 项任务逾期", text)  # noqa: E731
    assert counts(initiator) == counts(initiator_alone)
    escalated = lambda root: sorted(body(m).replace(str(root), "<root>") for m in outbox(root)  # noqa: E731
                                    if m["X-Coordxl-Kind"] == "escalation" and m["To"].addresses[0].username == "zhangwei")
    assert escalated(share) == escalated(alone) and escalated(share)  # the long-overdue tasks, once, as without copies
    overdue = lambda text: [line for line in text.splitlines() if line.startswith("- 逾期")]  # noqa: E731
    assert overdue(initiator) == overdue(initiator_alone)
    for name in COPIES:
        assert initiator.count(f"“进行中/{name}”是本事项工作簿“{REAL}”的副本") == 1
    admin = [m for m in mails if m["To"].addresses[0].username == "admin"]
    assert len(admin) == 1 and all(f"进行中/{name}" in body(admin[0]) for name in COPIES)


@pytest.mark.libreoffice
def test_daily_never_writes_reminds_or_counts_a_stale_copy(share, alone):
    before = copy_hashes(share)
    for root in (share, alone):
        result = cli("daily", root, "--today", TODAY)
        assert result.exit_code == 0, result.output
        if root == share:
            assert "未读取：3 个事项副本" in result.output.replace("\n", "")
    _assert_copies_are_no_items(share, alone, before)
    sent = len(outbox(share))
    again = cli("daily", share, "--today", TODAY)  # told once a day: a rerun sends nothing
    assert again.exit_code == 0 and len(outbox(share)) == sent


def _workers(root: Path, n: int, items: int = 16) -> None:
    config = root / "coordxl.toml"
    config.write_text(config.read_text(encoding="utf-8").replace("workers = 0", f"workers = {n}"), encoding="utf-8")
    d = clean_launch()
    d["tasks"][2].update(status="done", done_on=dt.date(2026, 8, 19))  # T03, as in the real workbook
    for k in range(items):  # enough workbooks for two workers: other items, each its own topic
        write_item(root, d, name=f"事项{k:02d}")


@pytest.mark.libreoffice
def test_daily_in_worker_processes_leaves_copies_alone_too(share, alone):
    before = copy_hashes(share)
    _workers(share, 2)
    _workers(alone, 2)
    with_copies, without = run_daily(share, TODAY, NOW), run_daily(alone, TODAY, NOW)
    assert with_copies.report.workers == 2
    assert with_copies.report.item_count == without.report.item_count == 17
    assert with_copies.states == without.states
    assert sorted(with_copies.written) == sorted(without.written) and all(
        not w.endswith(COPIES) for w in with_copies.written)
    assert copy_hashes(share) == before
    for m in outbox(share):
        assert DONE_IN_REAL not in body(m)
    assert sum(f.code == "W-DUPLICATE-ITEM" for f in with_copies.findings) == 3


# --- weekly -------------------------------------------------------------------------------------

@pytest.mark.libreoffice
def test_weekly_counts_the_real_item_only(share, alone):
    for root in (share, alone):
        assert cli("weekly", root, "--today", TODAY).exit_code == 0
    said = {root: [(to, subject, text) for to, subject, text in _said(root)] for root in (share, alone)}
    assert said[share] == said[alone] and said[share]  # the same figures as if the copies were not there


# --- which names are a copy's -------------------------------------------------------------------

ORIGINAL = "元旦年货节促销"


@pytest.fixture(scope="module")
def two_versions(tmp_path_factory):
    """The same item's workbook twice, with other 发出日期: only a file name can make one a copy."""
    base = tmp_path_factory.mktemp("versions")
    out = []
    for day in (dt.date(2026, 7, 6), dt.date(2026, 7, 7)):
        d = clean_launch()
        d["request"].update(topic=ORIGINAL, sent_on=day)
        d["topic"] = f"v{day.day}"
        out.append(write_item(base, d))
    return out


COPY_NAMES = [
    ("元旦年货节促销 (1)", True),
    ("元旦年货节促销 (2)", True),
    ("元旦年货节促销（1）", True),                                     # full-width brackets
    ("元旦年货节促销 - 副本", True),                                   # Explorer (Chinese Windows)
    ("元旦年货节促销 - 副本 (2)", True),
    ("元旦年货节促销 - Copy", True),                                   # Explorer (English Windows)
    ("元旦年货节促销 的副本", True),
    ("元旦年货节促销 副本 2", True),                                   # Finder (Chinese macOS)
    ("元旦年货节促销 copy 2", True),                                   # Finder
    ("复件 元旦年货节促销", True),                                      # Windows XP
    ("元旦年货节促销-张伟的冲突副本", True),
    ("元旦年货节促销 (张伟's conflicted copy)", True),                 # Dropbox
    ("元旦年货节促销 (张伟's conflicted copy 2026-12-21)", True),
    ("元旦年货节促销 (conflicted copy 2026-12-21 093612)", True),      # Nextcloud
    ("元旦年货节促销-DESKTOP-AB12CD", True),                           # OneDrive
    ("元旦年货节促销-LAPTOP-9F3K2QXA", True),
    ("元旦年货节促销-conflict", True),                                 # 坚果云 on Windows
    ("元旦年货节促销-张伟-NSConflict", True),                          # 坚果云 on macOS, shared folder
    ("元旦年货节促销-副本", True),                                     # WPS 网盘
    ("元旦年货节促销(冲突)", True),                                    # 360 云盘
    ("元旦年货节促销 (北区)", False),                                  # a real title's brackets
    ("元旦年货节促销(1)期", False),
    ("元旦年货节促销二期", False),
    ("元旦年货节促销-1", False),
    ("元旦年货节促销 2027", False),
    ("冲突处理-元旦年货节促销", False),
]


@pytest.mark.parametrize("name,is_copy", COPY_NAMES, ids=[n for n, _ in COPY_NAMES])
def test_which_file_names_are_a_copy_s(share_with_roster, two_versions, name, is_copy):
    active = share_with_roster / "进行中"
    shutil.copy(two_versions[0], active / f"{ORIGINAL}.xlsx")
    shutil.copy(two_versions[1], active / f"{name}.xlsx")
    report = run_check(share_with_roster, TODAY)
    duplicates = [f for f in report.findings if f.code == "W-DUPLICATE-ITEM"]
    assert report.item_count == (1 if is_copy else 2)
    assert [f.workbook for f in duplicates] == ([f"进行中/{ORIGINAL}.xlsx"] if is_copy else [])
    if is_copy:
        assert f"进行中/{name}.xlsx" in duplicates[0].message_zh


def test_a_lone_copy_name_is_an_item(share_with_roster, two_versions):
    shutil.copy(two_versions[0], share_with_roster / "进行中" / f"{ORIGINAL} (1).xlsx")
    report = run_check(share_with_roster, TODAY)
    assert report.item_count == 1 and report.copies == 0
    assert not [f for f in report.findings if f.code == "W-DUPLICATE-ITEM"]


def test_an_item_whose_title_ends_in_a_number_is_no_copy_when_its_request_differs(share_with_roster):
    """方案 (2) beside 方案: the name looks like a copy's, but its request form names its own topic."""
    first, second = clean_launch(), clean_launch()
    first["request"]["topic"], second["request"]["topic"] = "渠道方案", "渠道方案 (2)"
    first["topic"], second["topic"] = "渠道方案", "渠道方案 (2)"
    write_item(share_with_roster, first)
    write_item(share_with_roster, second)
    report = run_check(share_with_roster, TODAY)
    assert report.item_count == 2 and report.copies == 0


def test_look_alike_workbooks_are_one_item_the_one_named_as_its_topic(share_with_roster):
    """Two workbooks whose request forms name the same topic, initiator and date, under any names."""
    d = clean_launch()
    d["request"]["topic"] = ORIGINAL
    d["topic"] = ORIGINAL
    real = write_item(share_with_roster, d)
    (share_with_roster / "进行中" / "市场部").mkdir()
    later = shutil.copy(real, share_with_roster / "进行中" / "市场部" / "年货节-最终版.xlsx")
    os.utime(later, (real.stat().st_mtime + 60,) * 2)
    report = run_check(share_with_roster, TODAY)
    [f] = [f for f in report.findings if f.code == "W-DUPLICATE-ITEM"]
    assert f.workbook == f"进行中/{ORIGINAL}.xlsx" and "进行中/市场部/年货节-最终版.xlsx" in f.message_zh
    assert "沟通主题、发起人和发出日期相同" in f.message_zh
    assert report.item_count == 1


# --- every file under 进行中/ is read or named -------------------------------------------------------

@pytest.mark.libreoffice
def test_a_wps_et_file_that_is_excel_97_inside_is_read_never_written(share_with_roster, soffice):
    path = write_item(share_with_roster, clean_launch())
    et = share_with_roster / "进行中" / "Q3新品上市推广.et"
    shutil.copy(soffice(path, "xls:MS Excel 97"), et)
    path.unlink()
    before = sha256(et)
    doc = json.loads(cli("check", share_with_roster, "--json", "--today", TODAY).output)
    assert doc["summary"]["items"] == 1 and doc["summary"]["tasks"] == 14
    [legacy] = [f for f in doc["findings"] if f["code"] == "W-LEGACY"]
    assert legacy["workbook"] == "进行中/Q3新品上市推广.et" and "WPS 表格 .et" in legacy["message"]
    assert "另存为 .xlsx" in legacy["hint"]
    result = cli("daily", share_with_roster, "--today", TODAY)
    assert result.exit_code == 0, result.output
    assert sha256(et) == before
    assert any("包装设计定稿" in body(m) for m in outbox(share_with_roster))  # its tasks remind their owners


def test_an_et_file_that_is_no_excel_97_and_other_spreadsheets_are_named(share_with_roster):
    active = share_with_roster / "进行中"
    another_item(Path(__file__).parent.parent / "workbooks" / "example" / REAL, active / "另存的.et")  # xlsx inside
    (active / "任务导出.csv").write_text("编号,任务\nT01,写方案\n", encoding="utf-8")
    (active / "OA导出.xls").write_text("<html><table><tr><td>编号</td></tr></table></html>", encoding="utf-8")
    (active / "附件").mkdir()
    (active / "附件" / "报价.pdf").write_bytes(b"%PDF-1.4")
    result = cli("check", share_with_roster, "--json", "--today", TODAY)
    doc = json.loads(result.output)
    named = {f["workbook"]: f for f in doc["findings"] if f["code"] == "W-UNREADABLE"}
    assert "另存为 .xlsx" in named["进行中/另存的.et"]["hint"] and named["进行中/另存的.et"]["severity"] == "error"
    assert "不读取 .csv" in named["进行中/任务导出.csv"]["message"]
    assert named["进行中/任务导出.csv"]["severity"] == "warning"
    assert "网页文件，只是扩展名为 .xls" in named["进行中/OA导出.xls"]["message"]  # a system's "Excel export"
    assert "进行中/附件/报价.pdf" not in named  # an attachment is no spreadsheet: counted, not a finding
    assert doc["summary"]["unsupported"] == 1 and doc["summary"]["other_files"] == 1


def test_no_run_says_it_checked_nothing_while_it_left_files_out(share_with_roster):
    active = share_with_roster / "进行中"
    (active / "任务导出.csv").write_text("编号,任务\n", encoding="utf-8")
    (active / "说明.docx").write_bytes(b"PK\x03\x04")
    (active / "Thumbs.db").write_bytes(b"\x00")  # what Explorer leaves: not a file anyone put there
    result = cli("check", share_with_roster, "--today", TODAY)
    line = result.output.replace("\n", "")
    assert "检查了 0 个工作簿" in line
    assert "未读取：1 个其他格式的表格（W-UNREADABLE），1 个其他文件（不是表格）" in line


def test_a_title_ending_in_a_number_is_the_item_beside_a_look_alike(share_with_roster):
    """渠道方案 (2).xlsx, named as its topic, and a newer look-alike 渠道方案第二期.xlsx: the look-alike is the copy."""
    d = clean_launch()
    d["request"]["topic"] = d["topic"] = "渠道方案 (2)"
    real = write_item(share_with_roster, d)
    later = shutil.copy(real, share_with_roster / "进行中" / "渠道方案第二期.xlsx")
    os.utime(later, (real.stat().st_mtime + 60,) * 2)
    report = run_check(share_with_roster, TODAY)
    [f] = [f for f in report.findings if f.code == "W-DUPLICATE-ITEM"]
    assert f.workbook == "进行中/渠道方案 (2).xlsx" and "进行中/渠道方案第二期.xlsx" in f.message_zh


def test_a_copy_of_a_central_ledger_adds_no_tasks(share_with_roster):
    from test_parallel import _ledger

    write_item(share_with_roster, clean_launch())
    active = share_with_roster / "进行中"
    row = ["Q3新品上市推广", "L1", "定价", "会议纪要#8", "销售部", "孙丽", "2026-09-01", "文件", "进行中"]
    _ledger(active / "总台账.xlsx", "执行进度", [row])
    alone = run_check(share_with_roster, TODAY)
    shutil.copy(active / "总台账.xlsx", active / "总台账 (1).xlsx")
    report = run_check(share_with_roster, TODAY)
    assert report.task_count == alone.task_count and report.item_count == alone.item_count
    [f] = [f for f in report.findings if f.code == "W-DUPLICATE-ITEM"]
    assert f.workbook == "进行中/总台账.xlsx" and "进行中/总台账 (1).xlsx" in f.message_zh
