"""Windows specifics, run here with Windows' behaviour injected through coordxl/platform_support.py:
a replace refused because another program holds the workbook, paths under MAX_PATH on deep shares,
names that differ only in case."""

import datetime as dt
import errno
import os
from pathlib import Path

import pytest

from coordxl import platform_support
from coordxl.cli import admin_reasons
from coordxl.run.daily import run_daily
from coordxl.state.layout import Layout

TODAY = dt.date(2026, 8, 20)
NOW = dt.datetime(2026, 8, 20, 9, 0)
LAUNCH = "Q3新品上市推广.xlsx"


def held_by_another_program(winerror: int) -> PermissionError:
    """What os.replace raises on Windows when Excel, Defender, the indexer or a sync client has the file."""
    exc = PermissionError(errno.EACCES, "The process cannot access the file because it is being used by another process")
    exc.winerror = winerror  # set by Python on Windows only
    return exc


class Refusing:
    """os.replace as Windows behaves while ``name`` is held: refused ``times`` times, then done."""

    def __init__(self, name: str, times: int, winerror: int = 32):
        self.name, self.times, self.winerror = name, times, winerror
        self.tries = 0

    def __call__(self, src, dst):
        if os.path.basename(dst) == self.name:
            self.tries += 1
            if self.tries <= self.times:
                raise held_by_another_program(self.winerror)
        os.replace(src, dst)


@pytest.fixture
def no_waiting(monkeypatch):
    monkeypatch.setattr(platform_support, "REPLACE_WAITS", (0.0, 0.0, 0.0))


def daily(root):
    # a hook keeps every write in this process, where the injected replace is
    return run_daily(root, TODAY, NOW, layout=Layout.of(root), hook=lambda stage, path: None)


@pytest.mark.parametrize("winerror", [5, 32, 33])
def test_a_workbook_another_program_holds_is_w_locked_and_written_next_run(example_root, monkeypatch, no_waiting,
                                                                           winerror):
    refusing = Refusing(LAUNCH, times=99, winerror=winerror)
    monkeypatch.setattr(platform_support, "_os_replace", refusing)
    path = example_root / "进行中" / LAUNCH
    before = path.read_bytes()
    result = daily(example_root)
    assert refusing.tries == 4  # three short waits for a scanner to let go, then this run gives up
    assert (LAUNCH, "locked") in [(os.path.basename(w), r) for w, r in result.skipped]
    [locked] = [f for f in result.findings if f.code == "W-LOCKED"]
    assert "其他程序占用" in locked.message("zh") and locked.workbook.endswith(LAUNCH)
    assert path.read_bytes() == before and not list(path.parent.glob(".~coordxl-*"))
    # someone's open file is not the administrator's problem: the run exits 0 for it
    assert "write_fault" not in admin_reasons(result.findings, result.skipped, None)

    monkeypatch.setattr(platform_support, "_os_replace", os.replace)  # they closed it
    again = daily(example_root)
    assert path.read_bytes() != before and not [f for f in again.findings if f.code == "W-LOCKED"]


def test_a_scanner_that_lets_go_within_the_waits_does_not_stop_the_write(example_root, monkeypatch, no_waiting):
    refusing = Refusing(LAUNCH, times=2)
    monkeypatch.setattr(platform_support, "_os_replace", refusing)
    before = (example_root / "进行中" / LAUNCH).read_bytes()
    result = daily(example_root)
    assert refusing.tries == 3 and (example_root / "进行中" / LAUNCH).read_bytes() != before
    assert not [f for f in result.findings if f.code == "W-LOCKED"]


def test_only_windows_sharing_refusals_are_retried(tmp_path, monkeypatch):
    """A POSIX permission error (no winerror) is what it was: an error, not someone's open file."""
    waits = []

    def posix_refusal(src, dst):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(platform_support, "_os_replace", posix_refusal)
    with pytest.raises(PermissionError):
        platform_support.replace_file(tmp_path / "a", tmp_path / "b", sleep=waits.append)
    assert waits == []
    monkeypatch.setattr(platform_support, "_os_replace", Refusing("b", times=9))
    assert platform_support.replace_file(tmp_path / "a", tmp_path / "b", sleep=waits.append) is False
    assert waits == list(platform_support.REPLACE_WAITS)


# --- paths under MAX_PATH on a deep share -------------------------------------------------------------

# \\fileserver\共享\… as a deep folder: 120 characters before .coordxl\backups
DEEP = Path("/srv") / "集团总部共享盘" / ("市场营销中心跨部门协调工作区" * 3) / ("二〇二六年度重点项目" * 3) / "协调"
STAMPED = "20260820-090000-123456.99-coordxl-"  # the longest that goes in front of a backup's name


def test_backup_paths_stay_under_max_path_on_a_deep_share():
    from coordxl.platform_support import MAX_PATH, path_units
    from coordxl.xlsx.writer import backup_names

    backups = DEEP / ".coordxl" / "backups"
    assert path_units(backups) > 100
    long_title = "Q3新品上市推广活动跨部门协调（市场部、销售部、运营中心、财务部、法务部、人力资源部联合推进）第二阶段执行跟踪"
    names = set()
    for title in (long_title, long_title + "（副本）", "短名"):
        workbook = DEEP / "进行中" / f"{title}.xlsx"
        folder, name = backup_names(backups, workbook, platform="win32")
        assert path_units(folder / f"{STAMPED}{name}") < MAX_PATH
        assert name.endswith(".xlsx") and folder.parent == backups
        names.add((folder.name, name))
    assert len(names) == 3  # two long titles with one beginning still get two folders
    # a short path keeps its names whole, as on any other system
    assert backup_names(backups, DEEP / "进行中" / "短名.xlsx", platform="win32")[1] == "短名.xlsx"


def test_backup_names_off_windows_are_the_ones_they_always_were(tmp_path):
    import hashlib

    from coordxl.state.layout import fit_bytes
    from coordxl.xlsx.writer import backup_names

    workbook = tmp_path / "进行中" / ("很长的标题" * 30 + ".xlsx")
    folder, name = backup_names(tmp_path / "backups", workbook, platform="linux")
    digest = hashlib.sha1(os.fsencode(workbook.resolve())).hexdigest()[:8]
    assert folder.name == f"{fit_bytes(workbook.stem, 150)}-{digest}" and name == fit_bytes(workbook.name, 200)


def test_archive_folders_stay_under_max_path_on_a_deep_share():
    from coordxl.platform_support import MAX_PATH, path_units
    from coordxl.run.archive import MANIFEST, archive_stem
    from coordxl.state.layout import safe_filename

    folder = DEEP / "归档" / "2026"
    files = [Path(f"{'年度重点项目跨部门协调执行跟踪' * 4}.xlsx"), Path("复盘草稿-年度重点项目.xlsx")]
    stem = archive_stem(folder, safe_filename(files[0].stem), files, platform="win32")
    for name in [MANIFEST] + [p.name for p in files]:
        assert path_units(folder / f"{stem}-2026-09-01" / name) < MAX_PATH
    assert archive_stem(folder, "短名", files, platform="win32") == "短名"
    assert archive_stem(folder, safe_filename(files[0].stem), files, platform="linux") == safe_filename(files[0].stem)


# --- names that differ only in case -----------------------------------------------------------------------


def test_new_refuses_a_title_that_differs_from_an_item_only_in_case(share_with_roster):
    from click.testing import CliRunner

    from coordxl.cli import main

    first = CliRunner().invoke(main, ["new", "Q3 Launch", "--root", str(share_with_roster), "--initiator", "李娜"])
    assert first.exit_code == 0, first.output
    again = CliRunner().invoke(main, ["new", "q3 launch", "--root", str(share_with_roster), "--initiator", "李娜"])
    assert again.exit_code == 2 and "Q3 Launch.xlsx 已存在" in again.output
    assert [p.name for p in (share_with_roster / "进行中").iterdir()] == ["Q3 Launch.xlsx"]


def test_an_archive_folder_that_differs_only_in_case_is_not_reused(example_root):
    from coordxl.run.archive import archive_item, verify

    recap = "618大促数据复盘对接"
    (example_root / "进行中" / f"{recap}.xlsx").rename(example_root / "进行中" / "Recap.xlsx")
    other = example_root / "归档" / "2026" / "recap"  # another item's, on a share Windows sees as one name
    other.mkdir(parents=True)
    (other / "note.txt").write_text("someone else's", encoding="utf-8")
    done = archive_item(example_root, "Recap", TODAY, NOW, "李娜")
    assert done.dest.name.casefold() != "recap" and done.dest.name.startswith("Recap-") and verify(done.dest)
    assert [p.name for p in other.iterdir()] == ["note.txt"]
