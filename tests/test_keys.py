"""One folder under any name: the ledger knows a workbook by its place in the folder, never by the path
this host reaches the folder through. A cron job's absolute path, `cd share && coordxl daily .`, a
relative path, a symlink to the folder and another host's mount point are one folder: each mail and
post of a day goes once. A ledger written before keys were made this way sends nothing again on the
upgrade day."""

import json
import shutil
import sqlite3
import subprocess
import sys
import unicodedata
from pathlib import Path

from conftest import EXAMPLE, another_item

from coordxl.state.store import SCHEMA, workbook_id

DAY = "2026-08-20"
LAUNCH = "Q3新品上市推广.xlsx"


def folder(where: Path, port: int) -> Path:
    """A copy of the example folder whose mail goes to the test's SMTP server (its group posts to the outbox)."""
    shutil.copytree(EXAMPLE, where)
    config = where / "coordxl.toml"
    settings = config.read_text(encoding="utf-8")
    for old, new in (('transport = "outbox"', 'transport = "smtp"'),
                     ('host = "smtp.corp.example"', 'host = "127.0.0.1"'), ("port = 465", f"port = {port}"),
                     ('security = "ssl"', 'security = "none"')):
        assert old in settings
        settings = settings.replace(old, new, 1)  # the first: [email] (a group keeps its outbox)
    config.write_text(settings, encoding="utf-8")
    return where


def daily(path, cwd: Path, exit_code: int = 0) -> dict:
    """`coordxl daily PATH` as cron or an administrator types it, from ``cwd``: what it says in --json."""
    done = subprocess.run([sys.executable, "-m", "coordxl", "daily", str(path), "--today", DAY, "--json"], cwd=cwd,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == exit_code, done.stdout + done.stderr
    return json.loads(done.stdout)


def posts(root: Path) -> list[Path]:
    return sorted((root / ".coordxl" / "outbox").rglob("post-*.json"))


def test_the_same_folder_under_any_name_sends_each_mail_and_post_once(tmp_path, smtp):
    root = folder(tmp_path / "srv" / "share", smtp.port)
    # one workbook is a symlink into a department's own folder: it is known by its name under 进行中/
    own = tmp_path / "市场部"
    own.mkdir()
    shutil.move(root / "进行中" / LAUNCH, own / LAUNCH)
    (root / "进行中" / LAUNCH).symlink_to(own / LAUNCH)

    # and one item's name has a letter a Mac may list decomposed (NFD) and another host composed (NFC)
    cafe = unicodedata.normalize("NFC", "Café 推广.xlsx")
    another_item(own / LAUNCH, root / "进行中" / cafe)

    first = daily(root, cwd=tmp_path)  # cron: the absolute path
    mails, told = len(smtp.messages), len(posts(root))
    assert (mails, told) == (8, 2)  # one post per item in the group

    (tmp_path / "link").symlink_to(root)
    moved = tmp_path / "mnt" / "share"
    for path, cwd in ((".", root),                      # cd share && coordxl daily .
                      (Path("srv") / "share", tmp_path),  # a relative path
                      (tmp_path / "link", tmp_path),      # a symlink to the folder
                      (moved, tmp_path)):               # the folder as another host mounts it
        if path == moved:
            shutil.move(root.parent, moved.parent)
            root = moved
        daily(path, cwd=cwd)
        assert len(smtp.messages) == mails, f"mails sent again by `coordxl daily {path}`"
        assert len(posts(root)) == told, f"the group was told again by `coordxl daily {path}`"

    # another host may show a name in another case or Unicode form (a case-insensitive share, a Mac's NFD)
    (root / "进行中" / LAUNCH).rename(root / "进行中" / LAUNCH.lower())
    (root / "进行中" / cafe).rename(root / "进行中" / unicodedata.normalize("NFD", cafe))
    again = daily(root, cwd=tmp_path)
    assert (len(smtp.messages), len(posts(root))) == (mails, told)
    # the 预警 cells it wrote are still known as its own: nothing rewritten, no "not written by coordxl" warning
    assert again["flags"]["changed"] == 0 and again["findings"] == first["findings"]

    db = sqlite3.connect(root / ".coordxl" / "state.db")
    stored = {r[0] for t in ("snapshots", "flags") for r in db.execute(f"SELECT DISTINCT workbook FROM {t}")}
    assert {"进行中/q3新品上市推广.xlsx", workbook_id("进行中/" + cafe)} <= stored  # one row set each, in NFC
    assert not any(str(tmp_path) in w or "市场部" in w for w in stored)


def old_ledger(root: Path) -> None:
    """state.db as a coordxl before this change left it: schema 8, workbooks by their names as shown,
    and each reminder and post under a key made from this host's paths (any other key than today's)."""
    db = sqlite3.connect(root / ".coordxl" / "state.db")
    columns = {r[1] for r in db.execute("PRAGMA table_info(mails)")}
    if "legacy" in columns:
        db.execute("ALTER TABLE mails DROP COLUMN legacy")
    for table in ("snapshots", "snapshot_digests", "flags", "first_due"):
        db.execute(f"UPDATE {table} SET workbook = replace(workbook, 'q3新品', 'Q3新品')")
    db.execute("UPDATE mails SET workbooks = replace(workbooks, 'q3新品', 'Q3新品')")
    # its weekly and administrator mails were keyed by address and week or day only: those keys stay
    db.execute("UPDATE mails SET key = 'old' || key WHERE kind IN ('digest', 'escalation') OR kind LIKE 'post-%'")
    db.execute("PRAGMA user_version = 8")
    db.commit()
    db.close()


def test_a_ledger_from_before_the_upgrade_sends_nothing_again_that_day(tmp_path, smtp):
    root = folder(tmp_path / "share", smtp.port)
    first = daily(root, cwd=tmp_path)
    assert len(smtp.messages) == 8 and len(posts(root)) == 1
    old_ledger(root)

    again = daily(root, cwd=tmp_path)  # the upgrade, the same day
    assert len(smtp.messages) == 8 and len(posts(root)) == 1
    # the 预警 cells the older coordxl wrote are still known as its own
    assert again["flags"]["changed"] == 0 and again["findings"] == first["findings"]
    db = sqlite3.connect(root / ".coordxl" / "state.db")
    assert db.execute("PRAGMA user_version").fetchone()[0] == len(SCHEMA)
    assert workbook_id("进行中/" + LAUNCH) in {r[0] for r in db.execute("SELECT DISTINCT workbook FROM flags")}
    assert "进行中/" + LAUNCH not in {r[0] for r in db.execute("SELECT DISTINCT workbook FROM snapshots")}
    # the older rows now carry today's keys: a mail whose delivery was unknown is still resent by its key
    assert db.execute("SELECT COUNT(*) FROM mails WHERE key LIKE 'old%'").fetchone()[0] == 0


def test_the_upgrade_day_resends_what_the_older_run_did_not_deliver(tmp_path, smtp):
    """Adopting the older rows keeps their outcome: a mail that failed then is sent now, once."""
    root = folder(tmp_path / "share", smtp.port)
    smtp.refuse = {"lina@corp.example": "451 4.3.0 try again later"}
    daily(root, cwd=tmp_path, exit_code=1)  # a send failed: the administrator is told
    assert sorted(r[0] for r, _ in smtp.messages).count("lina@corp.example") == 0
    old_ledger(root)
    smtp.refuse = set()
    daily(root, cwd=tmp_path)
    assert [r[0] for r, _ in smtp.messages[7:]] == ["lina@corp.example"]
    daily(root, cwd=tmp_path)
    assert len(smtp.messages) == 8


def test_the_weekly_post_of_a_week_an_older_coordxl_posted_is_not_repeated(tmp_path, smtp):
    """A weekly post goes once per ISO week: after the upgrade, a rerun later that week repeats nothing."""
    root = folder(tmp_path / "share", smtp.port)
    daily(root, cwd=tmp_path)

    def weekly(today: str) -> None:
        done = subprocess.run([sys.executable, "-m", "coordxl", "weekly", str(root), "--today", today],
                              cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr

    weekly("2026-08-24")  # Monday, by the older coordxl
    sent, told = len(smtp.messages), len(posts(root))
    assert told == 2  # the daily post and the weekly one
    old_ledger(root)
    weekly("2026-08-26")  # Wednesday, upgraded
    assert (len(smtp.messages), len(posts(root))) == (sent, told)


def test_a_workbook_is_known_by_its_place_in_the_folder():
    assert workbook_id("进行中/华东/Q3 推广.XLSX") == "进行中/华东/q3 推广.xlsx"
    assert workbook_id("进行中/Cafe\u0301.xlsx") == workbook_id("进行中/Caf\u00e9.xlsx")
    assert workbook_id("进行中/\\xbb\\xaa.xlsx") == "进行中/\\xbb\\xaa.xlsx"  # a non-UTF-8 name, escaped as the scan shows it
