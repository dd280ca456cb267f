"""Promises kept under an operator's bad day: text never becomes a formula, mail per recipient, TLS verified,
one job at a time, a state.db that cannot brick a folder."""

import datetime as dt
import ipaddress
import os
import shutil as _shutil
import sqlite3
import ssl
import subprocess
import sys
import tempfile
from pathlib import Path

import openpyxl
import pytest
import python_calamine
from aiosmtpd.controller import Controller
from click.testing import CliRunner
from test_notify import Recorder, configure, free_port

from coordxl.cli import main
from coordxl.run.daily import run_daily
from coordxl.send.notify import SmtpTransport
from coordxl.state.layout import Layout
from coordxl.state.lock import FolderLock
from coordxl.state.store import SCHEMA, Store

TODAY = dt.date(2026, 8, 20)
NOW = dt.datetime(2026, 8, 20, 9, 0)


def test_new_writes_a_title_or_name_starting_with_equals_as_text(share_with_roster, soffice):
    wb = openpyxl.load_workbook(share_with_roster / "名册.xlsx")
    ws = wb["人员"]
    ws.append(["=HYPERLINK(\"http://x.example\",\"点我\")", "市场部", "x@corp.example", "李娜", "否", "是"])
    ws.cell(row=ws.max_row, column=1).data_type = "s"  # typed as text in the roster
    wb.save(share_with_roster / "名册.xlsx")
    result = CliRunner().invoke(main, ["new", "=1+2", "--root", str(share_with_roster), "--initiator", "张伟",
                                       "--today", "2026-08-20"])
    assert result.exit_code == 0, result.output
    [path] = (share_with_roster / "进行中").glob("*.xlsx")
    wb = openpyxl.load_workbook(path)
    formulas = [(ws.title, c.coordinate, c.value) for ws in wb.worksheets for row in ws.iter_rows() for c in row
                if c.data_type == "f"]
    assert formulas == []
    # a second reader sees the text itself, not a formula's result
    book = python_calamine.CalamineWorkbook.from_path(str(path))
    texts = {v for name in book.sheet_names for row in book.get_sheet_by_name(name).to_python() for v in row}
    assert "=1+2" in texts and "=HYPERLINK(\"http://x.example\",\"点我\")" in texts
    soffice(path)  # and LibreOffice opens it


# --- TLS: the certificate and host name are verified before the password is sent --------------





def _self_signed(tmp_path, name: str, ip: str | None):
    """A self-signed certificate for ``name`` (and ``ip``), as a company's own mail server might have."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    alt = [x509.DNSName(name)] + ([x509.IPAddress(ipaddress.ip_address(ip))] if ip else [])
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(dt.datetime(2020, 1, 1)).not_valid_after(dt.datetime(2040, 1, 1))
            .add_extension(x509.SubjectAlternativeName(alt), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.fixture
def tls_server(tmp_path):
    """An SMTP server on 127.0.0.1 speaking implicit TLS (port-465 style) with a certificate of our choosing."""
    started = []

    def start(name: str, ip: str | None):
        cert, key = _self_signed(tmp_path, name, ip)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        handler = Recorder()
        controller = Controller(handler, hostname="127.0.0.1", port=free_port(), ssl_context=context)
        controller.start()
        started.append(controller)
        return handler, controller.port, cert

    yield start
    for controller in started:
        controller.stop()


def _configure_tls(root, port, extra=""):
    (root / "coordxl.toml").write_text(
        f'[email]\ntransport = "smtp"\nhost = "127.0.0.1"\nport = {port}\nsecurity = "ssl"\n'
        f'user = "coordxl"\n{extra}', encoding="utf-8")
    return Layout.of(root)


def test_a_server_whose_certificate_names_another_host_never_gets_the_password(example_root, tls_server):
    handler, port, _ = tls_server("mail.other.example", None)
    layout = _configure_tls(example_root, port)
    result = run_daily(example_root, TODAY, NOW, layout=layout,
                       transport=SmtpTransport(layout.settings, "s3cret"))
    assert handler.messages == [] and not result.delivery.sent
    [error] = {e for _, e in result.delivery.failed}
    assert "certificate was refused" in error and "email.ca_file" in error


def test_a_company_ca_file_is_trusted(example_root, tls_server):
    handler, port, cert = tls_server("smtp.corp.example", "127.0.0.1")
    (example_root / "coordxl.toml").write_text(
        f'[email]\ntransport = "smtp"\nhost = "127.0.0.1"\nport = {port}\nsecurity = "ssl"\n'
        f'ca_file = "{cert}"\n', encoding="utf-8")
    layout = Layout.of(example_root)
    result = run_daily(example_root, TODAY, NOW, layout=layout,
                       transport=SmtpTransport(layout.settings, None))
    assert not result.delivery.failed and len(handler.messages) == len(result.delivery.sent) > 0


# --- one job at a time per folder -----------------------------------------------------------





def test_two_daily_runs_started_together_send_each_mail_once(example_root):
    handler = Recorder()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        configure(example_root, controller.port)
        cmd = [sys.executable, "-m", "coordxl", "daily", str(example_root), "--today", "2026-08-20"]
        procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(2)]
        outputs = [p.communicate(timeout=120)[0] for p in procs]
        assert [p.returncode for p in procs] == [0, 0], outputs  # both ran (findings: reports), one after the other
        keys = [(msg["X-Coordxl-Key"], r) for rcpts, msg in handler.messages for r in rcpts]
        assert len(keys) == len(set(keys)) and len({k for k, _ in keys}) == 8
    finally:
        controller.stop()


BYPASS_THE_LOCK = """
import contextlib, datetime as dt, sys
from coordxl.run import job
from coordxl.run.daily import run_daily
from coordxl.state.layout import Layout
from coordxl.send.notify import SmtpTransport
job.job_lock = lambda layout, name: contextlib.nullcontext()  # the job frame's lock, bypassed
layout = Layout.of(sys.argv[1])
run_daily(sys.argv[1], dt.date(2026, 8, 20), dt.datetime(2026, 8, 20, 9), layout=layout,
          transport=SmtpTransport(layout.settings, None))
"""


@pytest.mark.slow  # real coordxl processes, one per job or fault
def test_two_processes_that_bypass_the_lock_still_send_each_mail_once(example_root):
    """The ledger claims a mail (state 'sending') in a transaction before it goes out."""
    handler = Recorder()
    handler.delay = 0.3  # long sends: the two runs overlap for every mail
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        configure(example_root, controller.port)
        procs = [subprocess.Popen([sys.executable, "-c", BYPASS_THE_LOCK, str(example_root)], stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True) for _ in range(2)]
        outputs = [p.communicate(timeout=120)[0] for p in procs]
        assert [p.returncode for p in procs] == [0, 0], outputs
        keys = [msg["X-Coordxl-Key"].strip() for _, msg in handler.messages]
        assert len(keys) == len(set(keys)) == 8
    finally:
        controller.stop()


def test_a_run_that_cannot_get_the_lock_says_who_has_it(example_root):
    config = example_root / "coordxl.toml"
    config.write_text(config.read_text(encoding="utf-8").replace("lock_wait_seconds = 300", "lock_wait_seconds = 1"),
                      encoding="utf-8")
    held = FolderLock(example_root / ".coordxl", "job.lock")
    held.acquire("weekly")
    try:
        result = CliRunner().invoke(main, ["daily", str(example_root), "--today", "2026-08-20"])
    finally:
        held.release()
    assert result.exit_code == 2
    [line] = result.output.strip().splitlines()
    # in the folder's language (Chinese): who holds it, on which host, since when
    assert "另一个 coordxl 运行（weekly）正在处理此文件夹" in line and f"进程 {os.getpid()}" in line
    assert not (example_root / ".coordxl" / "outbox").exists()


# --- a state.db that cannot brick the folder ------------------------------------------------




def test_a_first_run_killed_between_creating_tables_and_recording_the_version_recovers(example_root):
    db_path = example_root / ".coordxl" / "state.db"
    db_path.parent.mkdir(parents=True)
    db = sqlite3.connect(db_path)
    db.executescript(SCHEMA[0] + SCHEMA[1])  # tables made, the version never written (as older versions could)
    db.close()
    result = CliRunner().invoke(main, ["daily", str(example_root), "--today", "2026-08-20"])
    assert result.exit_code == 0 and "Traceback" not in result.output, result.output  # ran (findings are reports)
    assert sqlite3.connect(db_path).execute("PRAGMA user_version").fetchone()[0] == len(SCHEMA)
    assert len([m for m in Store(db_path).mails(TODAY) if not m["kind"].startswith("post")]) == 8


def test_a_state_db_from_a_newer_version_is_refused_in_one_line(example_root):
    db_path = example_root / ".coordxl" / "state.db"
    Store(db_path)
    sqlite3.connect(db_path).execute(f"PRAGMA user_version = {len(SCHEMA) + 1}")
    for command in (["daily", str(example_root), "--today", "2026-08-20"], ["status", str(example_root)],
                    ["weekly", str(example_root), "--today", "2026-08-24"]):
        result = CliRunner().invoke(main, command)
        assert result.exit_code == 2, (command, result.output)
        [line] = result.output.strip().splitlines()
        assert "由更新版本的 coordxl 写入" in line and "请升级本机的 coordxl" in line  # in the folder's language
    assert not (example_root / ".coordxl" / "outbox").exists()  # nothing was sent on a ledger it cannot read


def test_a_damaged_state_db_is_moved_aside_and_a_fresh_one_started(example_root):
    db_path = example_root / ".coordxl" / "state.db"
    db_path.parent.mkdir(parents=True)
    db_path.write_bytes(b"\x00garbage, truncated by a full disk" * 100)
    result = CliRunner().invoke(main, ["daily", str(example_root), "--today", "2026-08-20"])
    assert result.exit_code == 0 and "Traceback" not in result.output, result.output
    [aside] = db_path.parent.glob("state.db.damaged-*")
    assert aside.read_bytes().startswith(b"\x00garbage")
    assert len([m for m in Store(db_path).mails(TODAY) if not m["kind"].startswith("post")]) == 8


def test_the_damaged_state_db_notice_is_in_the_folder_s_language_and_the_log_keeps_english(example_root):
    db_path = example_root / ".coordxl" / "state.db"
    db_path.parent.mkdir(parents=True)
    db_path.write_bytes(b"\x00garbage, truncated by a full disk" * 100)
    done = subprocess.run([sys.executable, "-m", "coordxl", "daily", str(example_root), "--today", "2026-08-20"],
                          capture_output=True, text=True, env={**os.environ, "COORDXL_LANG": ""})
    assert done.returncode == 0, done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("state.db 已损坏，已移到") and "今天的提醒可能重复" in line
    log = (example_root / ".coordxl" / "logs" / "coordxl.log").read_text(encoding="utf-8")
    assert "state.db was damaged (file is not a database)" in log


def test_a_lock_file_still_being_written_is_not_taken_over(tmp_path):
    (tmp_path / "job.lock").write_text("")  # another process created it and is about to write its pid
    lock = FolderLock(tmp_path, "job.lock")
    with pytest.raises(Exception, match="in progress"):
        lock.acquire("daily", wait=0)
    assert (tmp_path / "job.lock").read_text() == ""


# --- long CJK titles: every name made from them stays under 255 bytes --------------------------

def test_an_eighty_character_title_is_flagged_backed_up_and_reviewed(share_with_roster):
    from coordxl.run.review import run_review
    title = "关于二〇二六年第三季度华东华南华北三大区域新品上市推广与渠道铺货及门店陈列物料统一采购的跨部门协调事项" * 2
    result = CliRunner().invoke(main, ["new", title[:80], "--root", str(share_with_roster), "--initiator", "张伟",
                                       "--today", "2026-08-20"])
    assert result.exit_code == 0, result.output
    [path] = (share_with_roster / "进行中").glob("*.xlsx")
    assert len(path.name.encode()) <= 160
    wb = openpyxl.load_workbook(path)  # give it an overdue task so the job writes and backs it up
    ws = wb["执行进度"]
    ws["A3"], ws["B3"], ws["D3"], ws["E3"], ws["G3"], ws["H3"], ws["I3"] = (
        "T1", "报价", "市场部", "张伟", dt.datetime(2026, 8, 10), "报价单", "进行中")
    wb.save(path)
    result = CliRunner().invoke(main, ["daily", str(share_with_roster), "--today", "2026-08-20"])
    assert "Traceback" not in result.output and openpyxl.load_workbook(path)["执行进度"]["M3"].value
    backups = list((share_with_roster / ".coordxl" / "backups").rglob("*.xlsx"))
    assert backups and all(len(p.name.encode()) <= 255 for p in backups)
    draft = run_review(share_with_roster, path.stem, TODAY)
    assert draft.exists() and len(draft.name.encode()) <= 255


# --- permissions, as a colleague without write access to 进行中/ sees them -------------------



def _as_nobody() -> list[str] | None:
    """A command prefix that runs as the unprivileged 'nobody' (root can drop to it), or None."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or not _shutil.which("setpriv"):
        return None
    prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    probe = subprocess.run(prefix + [sys.executable, "-c", "import coordxl"], capture_output=True)
    return prefix if probe.returncode == 0 else None


@pytest.mark.skipif(_as_nobody() is None, reason="needs root to run a job as an unprivileged user")
def test_an_unwritable_active_folder_makes_no_backups_and_no_traceback_run_after_run(example_root):
    """The job runs as a user who may read 进行中/ but not write it (root writes nothing as root here)."""
    root = Path(tempfile.mkdtemp(prefix="coordxl-perm-", dir="/tmp"))
    try:
        _shutil.copytree(example_root, root, dirs_exist_ok=True)
        for path in [root, *root.rglob("*")]:
            os.chown(path, 65534, 65534)
        active = root / "进行中"
        for path in [active, *active.rglob("*")]:
            os.chown(path, 0, 0)  # the folder and the workbooks stay another user's
            path.chmod(0o755 if path.is_dir() else 0o644)
        before = {p.name: p.read_bytes() for p in active.glob("*.xlsx")}
        cmd = _as_nobody() + [sys.executable, "-m", "coordxl", "daily", str(root), "--today", "2026-08-20"]
        for _ in range(2):
            run = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
            assert run.returncode == 1 and "Traceback" not in run.stdout + run.stderr, run.stdout + run.stderr
        assert "W-PERMISSION" in run.stdout
        assert {p.name: p.read_bytes() for p in active.glob("*.xlsx")} == before
        backups = root / ".coordxl" / "backups"
        assert not backups.exists() or not any(p.is_file() for p in backups.rglob("*"))
        assert list((root / ".coordxl" / "outbox").rglob("*.eml"))  # the reminders still went out
    finally:
        _shutil.rmtree(root, ignore_errors=True)


@pytest.mark.slow  # real coordxl processes, one per job or fault
def test_runs_that_open_a_new_state_db_at_the_same_instant_all_get_it(tmp_path):
    """SQLite's deadlock guard answers 'database is locked' at once (no waiting) when two connections
    create and migrate a new file together; the later one tries again instead of stopping the run.
    (A race: before the retry, about one run in 100 here stopped with exit 2.)"""
    code = "import sys; from coordxl.state.store import Store; Store(sys.argv[1])"
    failed = []
    for n in range(15):
        db = tmp_path / f"{n}" / "state.db"
        procs = [subprocess.Popen([sys.executable, "-c", code, str(db)], stderr=subprocess.PIPE, text=True)
                 for _ in range(3)]
        failed += [p.communicate(timeout=60)[1] for p in procs if p.wait(timeout=60) != 0]
    assert failed == []
