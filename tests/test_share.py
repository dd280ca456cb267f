"""A folder on a network share: state.db, the outbox and the logs on the local disk of the machine that runs
the jobs, the job lock and an owner record on the share, a second machine refused unless it takes over,
coordxl's folders private (coordxl/state/statefolder.py; detection in coordxl/platform_support.py, each
platform's branch run here with its behaviour injected; a real Samba share where this machine may mount)."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from coordxl import platform_support
from coordxl.errors import StateError
from coordxl.platform_support import network_filesystem, private_dir
from coordxl.settings import add_setting_line
from coordxl.state import runlog
from coordxl.state.layout import Layout
from coordxl.state.lock import FolderLock
from coordxl.state.statefolder import NotOwner, migrate, settle

TODAY = "2026-08-20"


def run(args, tmp_path, host: str = "pc-a", state_home: Path | None = None, umask: int | None = None):
    """`python -m coordxl …` as the machine ``host`` would run it, its per-user state folder in tmp."""
    env = {**os.environ, "COORDXL_HOSTNAME": host, "XDG_STATE_HOME": str(state_home or tmp_path / "xdg"),
           "COLUMNS": "200"}
    env.pop("COORDXL_LANG", None)
    proc = subprocess.run([sys.executable, "-m", "coordxl", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=300, preexec_fn=(lambda: os.umask(umask)) if umask is not None else None)
    return proc.returncode, proc.stdout, proc.stderr


def set_setting(root: Path, name: str, value) -> None:
    config = root / "coordxl.toml"
    config.write_text(add_setting_line(config.read_text(encoding="utf-8"), name, value), encoding="utf-8")


def ledger_mails(db: Path) -> int:
    with sqlite3.connect(db) as con:
        return con.execute("SELECT count(*) FROM mails WHERE status = 'sent'").fetchone()[0]


# --- telling a network file system ----------------------------------------------------------------------

MOUNTINFO = r"""22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
40 27 0:35 / /mnt/share rw,relatime - cifs //fileserver/共享 rw,vers=3.1.1
41 40 0:36 / /mnt/share/scratch rw - tmpfs tmpfs rw
42 27 0:37 / /srv/nfs rw - nfs4 fs:/export rw
43 27 0:38 / /home/zhang/remote rw - fuse.sshfs zhang@nas: rw
44 27 0:39 / /mnt/my\040share rw - smb3 //nas/x rw
45 27 0:40 / /mnt/wsl/c rw - 9p drvfs rw
"""


@pytest.mark.parametrize("path,expected", [
    ("/mnt/share", "cifs"),                      # the mount point itself
    ("/mnt/share/协调/进行中", "cifs"),
    ("/mnt/share/scratch/x", None),               # a local mount inside the share: the longest mount point wins
    ("/mnt/shared/x", None),                      # a name that only starts like the mount point
    ("/srv/nfs/协调", "nfs4"),
    ("/home/zhang/remote/协调", "fuse.sshfs"),
    ("/mnt/my share/协调", "smb3"),                # mountinfo writes the space as \040
    ("/mnt/wsl/c/协调", "9p"),
    ("/home/zhang/协调", None),
])
def test_linux_tells_a_network_mount_from_the_mount_table(path, expected):
    assert network_filesystem(path, "linux", MOUNTINFO) == expected


def test_linux_reads_this_machine_s_own_mount_table(tmp_path):
    assert network_filesystem(tmp_path) is None  # tmp is a local disk here


@pytest.mark.parametrize("path", [r"\\fileserver\共享\协调", r"\\?\UNC\fileserver\共享\协调", r"\\10.0.0.5\d$\协调"])
def test_a_unc_path_is_a_network_share_on_any_platform(path):
    assert network_filesystem(path, "win32", kernel32=None) == "UNC"
    assert network_filesystem(path, "linux", "") == "UNC"


class FakeDrives:
    """kernel32's GetDriveTypeW for a PC with C: on its disk and S: mapped to \\\\fileserver\\共享."""

    def __init__(self):
        self.asked: list[str] = []

    def GetDriveTypeW(self, root):  # noqa: N802 (the Windows API's name)
        self.asked.append(root)
        return {"C:\\": 3, "S:\\": platform_support.DRIVE_REMOTE}.get(root, 1)


def test_a_mapped_drive_is_a_network_share_and_a_local_drive_is_not():
    drives = FakeDrives()
    assert network_filesystem(r"S:\协调", "win32", kernel32=drives) == "mapped drive"
    assert network_filesystem(r"s:/协调", "win32", kernel32=drives) == "mapped drive"
    assert network_filesystem(r"C:\Users\zhang\协调", "win32", kernel32=drives) is None
    assert network_filesystem(r"\\?\C:\协调", "win32", kernel32=drives) is None
    assert network_filesystem("//fileserver/共享/协调", "win32", kernel32=drives) == "UNC"
    assert drives.asked == ["S:\\", "S:\\", "C:\\", "C:\\"]


MAC_MOUNT = """/dev/disk3s1s1 on / (apfs, sealed, local, read-only, journaled)
devfs on /dev (devfs, local, nobrowse)
//zhang@fileserver/%E5%85%B1%E4%BA%AB on /Volumes/共享 (smbfs, nodev, nosuid, mounted by zhang)
nas:/export on /Volumes/nfs (nfs, nodev, nosuid, mounted by zhang)
/dev/disk5s1 on /Volumes/U盘 (exfat, local, nodev, nosuid, noowners)
"""


@pytest.mark.parametrize("path,expected", [
    ("/Volumes/共享/协调", "smbfs"), ("/Volumes/nfs/协调", "nfs"), ("/Volumes/U盘/协调", None), ("/Users/zhang/协调", None),
])
def test_macos_tells_a_network_mount_from_mount_s_list(path, expected):
    assert network_filesystem(path, "darwin", mount_output=MAC_MOUNT) == expected


# --- private folders ---------------------------------------------------------------------------------------


class FakeAttributes:
    """kernel32's GetFileAttributesW / SetFileAttributesW."""

    def __init__(self):
        self.attributes: dict[str, int] = {}

    def GetFileAttributesW(self, path):  # noqa: N802
        return self.attributes.setdefault(path, 0x10)  # FILE_ATTRIBUTE_DIRECTORY

    def SetFileAttributesW(self, path, value):  # noqa: N802
        self.attributes[path] = value
        return 1


def test_on_windows_the_state_folder_is_hidden(tmp_path):
    kernel32 = FakeAttributes()
    private_dir(tmp_path / ".coordxl", hidden=True, platform="win32", kernel32=kernel32)
    assert kernel32.attributes[str(tmp_path / ".coordxl")] == 0x10 | platform_support.FILE_ATTRIBUTE_HIDDEN


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX modes")
@pytest.mark.parametrize("umask", [0o000, 0o022])
def test_state_folders_are_0700_and_backups_0600_whatever_the_umask(example_root, tmp_path, umask):
    """Staff browsing the share cannot open the backups (full copies of every workbook) or the outbox."""
    set_setting(example_root, "folders.state", str(tmp_path / "local"))
    code, out, err = run(["daily", example_root, "--today", TODAY], tmp_path, umask=umask)
    assert code == 0, err
    for folder in (example_root / ".coordxl", example_root / ".coordxl" / "backups", tmp_path / "local"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    backups = [p for p in (example_root / ".coordxl" / "backups").rglob("*") if p.is_file()]
    assert backups, "the daily run wrote flags, so it kept backups"
    assert {stat.S_IMODE(p.stat().st_mode) for p in backups} == {0o600}


# --- the folder id, the owner record and a second machine -----------------------------------------------


def test_init_writes_the_folder_s_id_into_coordxl_toml(tmp_path):
    code, out, err = run(["init", tmp_path / "协调"], tmp_path)
    assert code == 0, err
    folder_id = Layout.of(tmp_path / "协调").settings["general.folder_id"]
    assert str(uuid.UUID(folder_id)) == folder_id
    assert f'folder_id = "{folder_id}"' in (tmp_path / "协调" / "coordxl.toml").read_text(encoding="utf-8")


@pytest.mark.slow  # real coordxl processes, one per job or fault
def test_a_second_machine_is_refused_until_it_takes_over(example_root, tmp_path):
    code, out, err = run(["daily", example_root, "--today", TODAY], tmp_path, host="pc-a")
    assert code == 0, err
    owner = json.loads((example_root / ".coordxl" / "owner.json").read_text(encoding="utf-8"))
    assert owner["host"] == "pc-a" and owner["state"] == str((example_root / ".coordxl").absolute())

    for job in (["daily", example_root, "--today", TODAY], ["weekly", example_root, "--today", "2026-08-24"]):
        code, out, err = run(job, tmp_path, host="pc-b")
        assert code == 2, (job, out, err)
        assert len(err.strip().splitlines()) == 1 and "pc-a" in err and "--take-over" in err, err
    code, out, err = run(["status", example_root], tmp_path, host="pc-b")  # read-only commands are not refused
    assert code == 0 and "运行任务的电脑：pc-a" in out and "不是本机" in out, out
    code, out, err = run(["check", example_root, "--today", TODAY], tmp_path, host="pc-b")
    assert code == 1 and "pc-a" not in err

    code, out, err = run(["daily", example_root, "--today", TODAY, "--take-over"], tmp_path, host="pc-b")
    assert code == 0, err
    assert "已接管此文件夹的任务（之前由 pc-a 上的" in err
    assert "提醒邮件：发送 0，已发过跳过 8" in out  # the same ledger: nothing is sent twice
    assert json.loads((example_root / ".coordxl" / "owner.json").read_text(encoding="utf-8"))["host"] == "pc-b"
    code, out, err = run(["daily", example_root, "--today", TODAY], tmp_path, host="pc-a")
    assert code == 2 and "pc-b" in err


def test_the_scheduler_is_refused_on_a_second_machine_too(example_root, tmp_path):
    assert run(["daily", example_root, "--today", TODAY], tmp_path, host="pc-a")[0] == 0
    code, out, err = run(["schedule", example_root, "--poll", "0.1"], tmp_path, host="pc-b")
    assert code == 2 and "pc-a" in err, err


# --- moving the state, once ------------------------------------------------------------------------------


def test_an_existing_folder_moves_its_state_once_to_folders_state(example_root, tmp_path):
    """The ledger moves with every mail it recorded: a rerun the same day sends nothing again."""
    code, out, err = run(["daily", example_root, "--today", TODAY], tmp_path)
    assert code == 0 and "提醒邮件：发送 8" in out, err
    shared = example_root / ".coordxl"
    sent = ledger_mails(shared / "state.db")
    outbox = sorted(p.relative_to(shared / "outbox") for p in (shared / "outbox").rglob("*"))
    local = tmp_path / "local"
    set_setting(example_root, "folders.state", str(local))

    code, out, err = run(["daily", example_root, "--today", TODAY], tmp_path)
    assert code == 0, err
    assert err.count("已按 folders.state 把 state.db、outbox 和日志从") == 1, err
    assert "提醒邮件：发送 0，已发过跳过 8" in out
    assert ledger_mails(local / "state.db") == sent
    assert sorted(p.relative_to(local / "outbox") for p in (local / "outbox").rglob("*")) == outbox
    assert not any((shared / name).exists() for name in ("state.db", "state.db-wal", "outbox", "logs"))
    assert (shared / "backups").is_dir() and (shared / "owner.json").is_file()
    log = (local / "logs" / "coordxl.log").read_text(encoding="utf-8")
    assert "daily: started" in log and "daily: ended, exit 0" in log.split("daily: started")[-1]

    code, out, err = run(["daily", example_root, "--today", TODAY], tmp_path)
    assert code == 0 and "移到" not in err  # once
    code, out, err = run(["status", example_root], tmp_path)
    assert f"状态文件夹：{local}" in out and "共享文件夹在本地磁盘上" in out and f"日志：{local}" in out


def network_layout(root: Path) -> Layout:
    """The layout of ``root`` as it would be on a cifs mount (the detection is tested above)."""
    layout = Layout.of(root)
    layout.__dict__["network"] = "cifs"
    return layout


def test_a_folder_on_a_network_share_gets_an_id_and_keeps_its_ledger_locally(example_root, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert run(["daily", example_root, "--today", TODAY], tmp_path)[0] == 0
    sent = ledger_mails(example_root / ".coordxl" / "state.db")

    handler = runlog.attach(example_root / ".coordxl")  # this run logs where the folder's log was
    try:
        layout, notes = settle(network_layout(example_root), environ={"COORDXL_HOSTNAME": "pc-a"})
        logging.getLogger("coordxl.test").info("a line after the move")
    finally:
        runlog.detach(handler)
    log = (layout.state / "logs" / "coordxl.log").read_text(encoding="utf-8")
    assert "daily: started" in log and "a line after the move" in log  # the old log moved; this run's goes on there
    assert not (example_root / ".coordxl" / "logs").exists()
    folder_id = layout.settings["general.folder_id"]
    assert layout.state == tmp_path / "xdg" / "coordxl" / folder_id
    assert len(notes) == 2
    assert notes[0].startswith(f"此文件夹在网络文件系统（cifs）上：已在 {layout.config} 中写入文件夹编号 folder_id = \"{folder_id}\"")
    assert notes[1].startswith(f"已把 state.db、outbox 和日志从 {layout.shared} 移到本机的 {layout.state}（SQLite 在网络文件系统上不可靠）")
    assert ledger_mails(layout.db) == sent and not (layout.shared / "state.db").exists()
    assert json.loads(layout.owner.read_text(encoding="utf-8"))["state"] == str(layout.state)
    assert Layout.of(example_root).settings["general.folder_id"] == folder_id  # in coordxl.toml for good

    # another machine: refused, and nothing of the folder changes
    before = (example_root / "coordxl.toml").read_bytes()
    with pytest.raises(NotOwner) as refused:
        settle(network_layout(example_root), environ={"COORDXL_HOSTNAME": "pc-b"})
    assert "pc-a" in refused.value.say("zh") and (example_root / "coordxl.toml").read_bytes() == before

    # taking over from a machine whose ledger is on its own disk: not before that ledger is here
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "pc-b"))
    local_b = tmp_path / "pc-b" / "coordxl" / folder_id
    with pytest.raises(StateError) as refused:
        settle(network_layout(example_root), take_over=True, environ={"COORDXL_HOSTNAME": "pc-b"})
    assert f"发送记录在 pc-a 的 {layout.state}" in refused.value.say("zh") and str(local_b / "state.db") in refused.value.say("zh")
    assert json.loads(layout.owner.read_text(encoding="utf-8"))["host"] == "pc-a"
    shutil.copy2(layout.db, local_b / "state.db")
    layout_b, notes = settle(network_layout(example_root), take_over=True, environ={"COORDXL_HOSTNAME": "pc-b"})
    assert layout_b.state == local_b and ledger_mails(layout_b.db) == sent
    assert len(notes) == 1 and notes[0].startswith("已接管此文件夹的任务（之前由 pc-a 上的")
    assert json.loads(layout.owner.read_text(encoding="utf-8"))["host"] == "pc-b"


def test_an_interrupted_move_is_finished_by_the_next_run_and_two_ledgers_are_never_merged(example_root, tmp_path):
    assert run(["daily", example_root, "--today", TODAY], tmp_path)[0] == 0
    shared = example_root / ".coordxl"
    sent = ledger_mails(shared / "state.db")
    set_setting(example_root, "folders.state", str(tmp_path / "local"))
    layout = Layout.of(example_root)

    # the copy was put in place, then the run died before the old ledger was removed
    (tmp_path / "local").mkdir()
    shutil.copy2(shared / "state.db", tmp_path / "local" / "state.db")
    (tmp_path / "local" / "migrated-from.json").write_text(json.dumps({"from": str(shared / "state.db")}))
    assert migrate(layout)
    assert not (shared / "state.db").exists() and ledger_mails(layout.db) == sent

    # a ledger on the share and another one here that is no copy of it: the administrator decides
    (shared / "state.db").write_bytes(layout.db.read_bytes())
    (tmp_path / "local" / "migrated-from.json").unlink()
    code, out, err = run(["daily", example_root, "--today", TODAY], tmp_path)
    assert code == 2 and "有两份发送记录" in err, err
    assert (shared / "state.db").exists() and layout.db.exists()


# --- a real SMB share ------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smb_mount(tmp_path):
    """A folder in tmp shared by Samba's smbd on 127.0.0.1 and mounted with mount.cifs; skipped, saying why,
    where this machine cannot (no samba or cifs-utils, not root, a kernel or container without cifs)."""
    smbd, mount_cifs = shutil.which("smbd") or "/usr/sbin/smbd", shutil.which("mount.cifs") or "/sbin/mount.cifs"
    if not (os.path.exists(smbd) and os.path.exists(mount_cifs) and shutil.which("smbpasswd")):
        pytest.skip("no real SMB share: samba (smbd) or cifs-utils (mount.cifs) not installed "
                    "(apt-get install samba cifs-utils)")
    if os.geteuid() != 0:
        pytest.skip("no real SMB share: mounting with mount.cifs needs root (CAP_SYS_ADMIN)")
    base = tmp_path / "samba"
    dirs = {name: base / name for name in ("share", "private", "lock", "state", "cache", "pid", "mnt")}
    for d in dirs.values():
        d.mkdir(parents=True)
    port = _free_port()
    conf = base / "smb.conf"
    conf.write_text(f"""[global]
  smb ports = {port}
  interfaces = 127.0.0.1
  bind interfaces only = yes
  private dir = {dirs['private']}
  lock directory = {dirs['lock']}
  state directory = {dirs['state']}
  cache directory = {dirs['cache']}
  pid directory = {dirs['pid']}
  ncalrpc dir = {dirs['lock']}/ncalrpc
  log file = {base}/smbd.log
  passdb backend = tdbsam:{dirs['private']}/passdb.tdb
  server role = standalone server
  load printers = no
  printcap name = /dev/null
  disable spoolss = yes
[share]
  path = {dirs['share']}
  read only = no
  force user = root
""", encoding="utf-8")
    subprocess.run(["smbpasswd", "-c", str(conf), "-s", "-a", "root"], input="coordxl\ncoordxl\n", text=True,
                   capture_output=True, check=True)
    # its own process group: smbd signals its whole group as it stops, which must not reach pytest
    server = subprocess.Popen([smbd, "-F", "--no-process-group", "-s", str(conf)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    mounted = False
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    log = (base / "smbd.log").read_text(errors="replace")[-500:] if (base / "smbd.log").exists() else ""
                    pytest.fail(f"smbd did not start on port {port}: {log}")
                time.sleep(0.2)
        proc = subprocess.run(["mount", "-t", "cifs", "//127.0.0.1/share", str(dirs["mnt"]), "-o",
                               f"port={port},username=root,password=coordxl,vers=3.0,noserverino"],
                              capture_output=True, text=True, timeout=60)
        if proc.returncode != 0:
            reason = " ".join((proc.stderr or proc.stdout).split())
            print(f"SMB share not mounted: {reason}")
            pytest.skip(f"no real SMB share: this machine may not mount cifs ({reason})")
        mounted = True
        yield dirs["share"], dirs["mnt"]
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(dirs["mnt"])], capture_output=True, timeout=60)
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def test_on_a_real_samba_share_the_ledger_stays_on_the_local_disk(smb_mount, example_root, tmp_path):
    served, mounted = smb_mount
    assert network_filesystem(mounted) in ("cifs", "smb3")

    # a new folder: init writes its id, the jobs keep their state in this user's state folder
    code, out, err = run(["init", mounted / "新建"], tmp_path)
    assert code == 0, err
    new_id = Layout.of(mounted / "新建").settings["general.folder_id"]
    code, out, err = run(["daily", mounted / "新建", "--today", TODAY], tmp_path)
    assert code == 0, err
    assert (tmp_path / "xdg" / "coordxl" / new_id / "state.db").is_file()
    assert not (served / "新建" / ".coordxl" / "state.db").exists()

    # an existing folder whose jobs kept their ledger on the share (as before 0.2): an id, the move, once
    shutil.copytree(example_root, served / "协调")
    root = mounted / "协调"
    config = (served / "协调" / "coordxl.toml").read_text(encoding="utf-8")
    set_setting(served / "协调", "folders.state", str(root / ".coordxl"))
    code, out, err = run(["daily", root, "--today", TODAY], tmp_path)
    assert code == 0 and "提醒邮件：发送 8" in out and (served / "协调" / ".coordxl" / "state.db").is_file(), err
    (served / "协调" / "coordxl.toml").write_text(config, encoding="utf-8")
    code, out, err = run(["daily", root, "--today", TODAY], tmp_path)
    assert code == 0, err
    folder_id = Layout.of(root).settings["general.folder_id"]
    local = tmp_path / "xdg" / "coordxl" / folder_id
    assert f'folder_id = "{folder_id}"' in (served / "协调" / "coordxl.toml").read_text(encoding="utf-8")
    assert "此文件夹在网络文件系统（" in err and "（SQLite 在网络文件系统上不可靠）" in err
    assert "提醒邮件：发送 0，已发过跳过 8" in out  # the ledger moved with what it recorded
    assert (local / "state.db").is_file() and (local / "outbox").is_dir()
    log = (local / "logs" / "coordxl.log").read_text(encoding="utf-8")
    assert "daily: ended, exit 0" in log.split("daily: started")[-1]  # the run that moved the log kept logging there
    assert not any((served / "协调" / ".coordxl" / n).exists() for n in ("state.db", "state.db-wal", "outbox", "logs"))
    owner = json.loads((served / "协调" / ".coordxl" / "owner.json").read_text(encoding="utf-8"))
    assert owner["host"] == "pc-a" and owner["state"] == str(local)
    assert (served / "协调" / ".coordxl" / "backups").is_dir()

    # the job lock is on the share: a run holding it there keeps another run out
    set_setting(served / "协调", "limits.lock_wait_seconds", 0)
    held = FolderLock(served / "协调" / ".coordxl", "job.lock")
    held.acquire("daily")
    try:
        code, out, err = run(["daily", root, "--today", TODAY], tmp_path)
        assert code == 2 and "另一个 coordxl 运行" in err and re.search(r"\.coordxl[/\\]job\.lock", err), err
    finally:
        held.release()

    code, out, err = run(["status", root], tmp_path)
    assert f"状态文件夹：{local}" in out and "共享文件夹在网络文件系统（" in out and "state.db 在本机" in out

    # a second machine is refused, naming the owner
    code, out, err = run(["daily", root, "--today", TODAY], tmp_path, host="pc-b", state_home=tmp_path / "pc-b")
    assert code == 2 and "pc-a" in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "pc-b" / "coordxl" / folder_id / "state.db").exists()  # its log says it was refused
    assert json.loads((served / "协调" / ".coordxl" / "owner.json").read_text(encoding="utf-8"))["host"] == "pc-a"

    # taking over: first the old ledger, which the refusal names; with it copied nothing is sent twice
    code, out, err = run(["daily", root, "--today", TODAY, "--take-over"], tmp_path, host="pc-b",
                         state_home=tmp_path / "pc-b")
    assert code == 2 and f"发送记录在 pc-a 的 {local}" in err, err
    shutil.copy2(local / "state.db", tmp_path / "pc-b" / "coordxl" / folder_id / "state.db")
    code, out, err = run(["daily", root, "--today", TODAY, "--take-over"], tmp_path, host="pc-b",
                         state_home=tmp_path / "pc-b")
    assert code == 0 and "已接管" in err and "提醒邮件：发送 0，已发过跳过 8" in out, err


def test_a_running_scheduler_stops_sending_once_another_machine_took_over(example_root, tmp_path):
    """The scheduler asks before each job: after a take-over elsewhere its run fails (status shows it), no mail."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    from coordxl.scheduler import Scheduler

    at = dt.datetime(2026, 8, 20, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    scheduler = Scheduler(example_root, clock=lambda: at)
    (example_root / ".coordxl").mkdir(exist_ok=True)
    (example_root / ".coordxl" / "owner.json").write_text(json.dumps(
        {"host": "pc-elsewhere", "user": "ops", "state": "C:\\state", "since": "2026-08-19T18:00:00"}))
    scheduler.run_job("daily")
    assert [r["outcome"] for r in scheduler.store.runs("daily")] == ["failed"]
    assert not (example_root / ".coordxl" / "outbox").exists()


def test_a_coordxl_toml_saved_as_gbk_gets_its_id_and_stays_gbk(example_root, tmp_path, monkeypatch):
    """Notepad on a Chinese Windows saves ANSI (GBK): the id is added without changing the rest of the file."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    config = example_root / "coordxl.toml"
    text = config.read_text(encoding="utf-8").replace('folder_id = ""\n', "")
    config.write_bytes(text.encode("gb18030"))
    layout, notes = settle(network_layout(example_root), environ={"COORDXL_HOSTNAME": "pc-a"})
    written = config.read_bytes().decode("gb18030")
    folder_id = layout.settings["general.folder_id"]
    assert written.count(f'folder_id = "{folder_id}"') == 1 and "folder_id" in notes[0]
    assert written.replace(f'# 此共享文件夹的编号（coordxl init 生成）：本机的状态文件夹以它命名。请勿修改；'
                           f'复制出的新文件夹请删去此行（下次运行会生成新的）\nfolder_id = "{folder_id}"\n', "") == text
