"""Windows specifics, run here with Windows' behaviour injected through coordxl/platform_support.py:
a replace refused because another program holds the workbook, paths under MAX_PATH on deep shares,
names that differ only in case."""

import datetime as dt
import errno
import os

import pytest

from coordxl import platform_support
from coordxl.cli import admin_reasons
from coordxl.daily import run_daily
from coordxl.layout import Layout

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
