"""Update by reply: a digest's token, a reply APPENDed to a real Dovecot, `coordxl replies`, the tracker
cell read back, the answer in the thread; automatic and spoofed mail; a conflict; an open workbook."""

import contextlib
import datetime as dt
import email
import grp
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from python_calamine import CalamineWorkbook

from coordxl.process.roster import load_roster
from coordxl.run import replies
from coordxl.state.layout import Layout

CORPUS = Path(__file__).parent / "data" / "replies"
PLACEHOLDER = "aaaaaaaaaaaaaaaa"
TODAY = "2026-08-20"
NOW = dt.datetime(2026, 8, 20, 10, 0)
PASSWORD = "s3cret-imap"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def dovecot():
    """Dovecot on 127.0.0.1 with its own config (passwd-file, maildir in tmp), stopped by its PID."""
    with running_dovecot() as (port, _):
        yield port


@contextlib.contextmanager
def running_dovecot(delimiter: str | None = None):
    """(IMAP port, LMTP port): with ``delimiter`` Dovecot also delivers mail itself, over LMTP, with that
    recipient_delimiter ('+': coordxl+x@… is coordxl's INBOX; '': it is a mailbox of its own)."""
    exe = shutil.which("dovecot") or ("/usr/sbin/dovecot" if os.path.exists("/usr/sbin/dovecot") else None)
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("Dovecot is required on CI (.ci/run installs dovecot-imapd)")
        pytest.skip("Dovecot not installed (apt-get install dovecot-imapd)")
    lmtp = delimiter is not None
    if lmtp and not os.path.exists("/usr/lib/dovecot/lmtp"):
        if os.environ.get("CI"):
            pytest.fail("Dovecot's LMTP server is required on CI (.ci/run installs dovecot-lmtpd)")
        pytest.skip("Dovecot's LMTP server not installed (apt-get install dovecot-lmtpd)")
    # its own folder under /tmp: pytest's tmp_path is private to this user, and Dovecot's auth and
    # mail processes run as dovenull when the tests run as root
    home = Path(tempfile.mkdtemp(prefix="coordxl-dovecot-"))
    home.chmod(0o755)
    mail = home / "mail"
    mail.mkdir(parents=True)
    root = os.geteuid() == 0
    user = pwd.getpwnam("dovenull") if root else pwd.getpwuid(os.geteuid())
    if root:  # the login process must not run as root, the mail is written as dovenull
        os.chown(mail, user.pw_uid, user.pw_gid)
    (home / "passwd").write_text(f"coordxl:{{PLAIN}}{PASSWORD}::::::\n")
    port, lmtp_port = _free_port(), _free_port()
    delivery = "" if not lmtp else f"""
recipient_delimiter = {delimiter}
auth_username_format = %Ln
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {lmtp_port}
  }}
}}
"""
    (home / "dovecot.conf").write_text(f"""
base_dir = {home}/run
state_dir = {home}/state
protocols = imap{" lmtp" if lmtp else ""}
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
log_path = {home}/dovecot.log
default_login_user = {"dovenull" if root else user.pw_name}
default_internal_user = {user.pw_name}
default_internal_group = {grp.getgrgid(user.pw_gid).gr_name}
first_valid_uid = {user.pw_uid}
first_valid_gid = {user.pw_gid}
passdb {{
  driver = passwd-file
  args = {home}/passwd
}}
userdb {{
  driver = static
  args = uid={user.pw_uid} gid={user.pw_gid} home={mail}/%u
}}
mail_location = maildir:{mail}/%u/Maildir
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
{delivery}""")
    subprocess.run([exe, "-c", str(home / "dovecot.conf")], check=True, stdin=subprocess.DEVNULL,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
    pidfile = home / "run" / "master.pid"
    for _ in range(200):
        if pidfile.exists() and pidfile.read_text().strip():
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                pass
        time.sleep(0.05)
    pid = int(pidfile.read_text())
    try:
        yield port, lmtp_port
    finally:
        _stop(pid, home)


def _stop(pid: int, home: Path) -> None:
    os.kill(pid, signal.SIGTERM)
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    shutil.rmtree(home, ignore_errors=True)


def append(port: int, raw: bytes) -> None:
    from imapclient import IMAPClient

    with IMAPClient("127.0.0.1", port=port, ssl=False) as c:
        c.login("coordxl", PASSWORD)
        c.append("INBOX", raw)


def configure(root: Path, **values: str) -> None:
    """Set keys of coordxl.toml's [replies] section (values as TOML)."""
    path = root / "coordxl.toml"
    head, rest = path.read_text(encoding="utf-8").split("[replies]", 1)
    for key, value in values.items():
        rest = re.sub(rf"(?m)^{key} = .*$", lambda _: f"{key} = {value}", rest, count=1)
    path.write_text(f"{head}[replies]{rest}", encoding="utf-8")


def folder_size(port: int, folder: str) -> int:
    from imapclient import IMAPClient

    with IMAPClient("127.0.0.1", port=port, ssl=False) as c:
        c.login("coordxl", PASSWORD)
        return c.select_folder(folder, readonly=True)[b"EXISTS"] if c.folder_exists(folder) else 0


def enable(root: Path, port: int) -> None:
    configure(root, enabled="true", host='"127.0.0.1"', port=str(port), security='"none"', user='"coordxl"')


def coordxl(*args) -> subprocess.CompletedProcess:
    env = {**os.environ, "COORDXL_IMAP_PASSWORD": PASSWORD}
    return subprocess.run([sys.executable, "-m", "coordxl", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=300)


def outbox(root: Path) -> dict[str, email.message.Message]:
    return {p.name: email.message_from_bytes(p.read_bytes()) for p in (root / ".coordxl" / "outbox").rglob("*.eml")}


def plain(msg) -> str:
    for part in msg.walk():
        if part.get_content_type() == "text/plain":
            return part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8")
    return ""


def digest_of(root: Path, address: str):
    [found] = [m for n, m in outbox(root).items() if n.startswith(address) and m["X-Coordxl-Kind"] == "digest"]
    return found


def reply(name: str, token: str, message_id: str = "") -> bytes:
    raw = (CORPUS / f"{name}.eml").read_bytes().replace(PLACEHOLDER.encode(), token.encode())
    raw = raw.replace(PLACEHOLDER.upper().encode(), token.upper().encode())
    if message_id:
        raw = raw.replace(f"<{name}@mail.client.example>".encode(), message_id.encode())
    return raw


def tracker(root: Path, row: int) -> dict:
    wb = CalamineWorkbook.from_path(str(root / "进行中" / "Q3新品上市推广.xlsx"))
    rows = wb.get_sheet_by_name("执行进度").to_python()
    header = rows[1]
    return dict(zip(header, rows[row - 1]))


@pytest.fixture
def digested(example_root, dovecot):
    """The example folder with replies on, after the daily run that sent 冯雪 her digest (T1 = T03, row 5)."""
    enable(example_root, dovecot)
    done = coordxl("daily", example_root, "--today", TODAY)
    assert done.returncode == 0, done.stderr
    digest = digest_of(example_root, "fengxue@")
    token = replies.TOKEN_RE.search(digest["Message-ID"])[1]
    return example_root, dovecot, digest, token


def test_the_digest_teaches_replying_and_carries_its_token(digested):
    root, _, digest, token = digested
    body = plain(digest)
    assert "【T1】" in body and "【T2】" in body
    assert "T1 完成" in body  # an example from this very digest
    assert body.index("请在此线以上回复") < body.index(f"R-{token.upper()}")  # the sentinel above the footer
    assert len(token) == 16  # 80 bits in base32


def test_a_reply_updates_the_tracker_and_is_answered_in_its_thread(digested):
    root, port, digest, token = digested
    assert tracker(root, 5)["状态"] == "进行中"
    append(port, reply("qq", token))
    done = coordxl("replies", root, "--today", TODAY)
    assert done.returncode == 0, done.stderr + done.stdout
    row = tracker(root, 5)
    assert row["状态"] == "已完成"
    assert row["完成日期"] in (dt.date(2026, 8, 20), dt.datetime(2026, 8, 20))
    assert (folder_size(port, "INBOX"), folder_size(port, "coordxl-已处理")) == (0, 1)  # read mail moved
    [answer] = [m for m in outbox(root).values() if m["X-Coordxl-Kind"] == "reply"]
    assert answer["In-Reply-To"] == "<qq@mail.client.example>"
    assert answer["Auto-Submitted"] == "auto-replied"
    assert "fengxue@corp.example" in answer["To"]
    text = plain(answer)
    assert "✅ T1 T03 包装设计定稿" in text and "进行中 → 已完成" in text

    daily = coordxl("daily", root, "--today", TODAY)  # the next daily run sees the task done
    assert daily.returncode == 0, daily.stderr
    assert tracker(root, 5)["状态"] == "已完成"

    before = (root / "进行中" / "Q3新品上市推广.xlsx").read_bytes()
    mails = len(outbox(root))
    again = coordxl("replies", root, "--today", TODAY)  # nothing new: nothing changes, nothing is sent
    assert again.returncode == 0
    assert (root / "进行中" / "Q3新品上市推广.xlsx").read_bytes() == before
    assert len(outbox(root)) == mails


def test_the_same_mail_twice_changes_nothing(digested):
    root, port, _, token = digested
    append(port, reply("foxmail", token))  # T2 50%: the tracker has no 进度 column, the status says it
    assert coordxl("replies", root, "--today", TODAY).returncode == 0
    assert tracker(root, 11)["状态"] == "进行中(50%)"
    before = (root / "进行中" / "Q3新品上市推广.xlsx").read_bytes()
    append(port, reply("foxmail", token))  # the same Message-ID delivered again
    assert coordxl("replies", root, "--today", TODAY).returncode == 0
    assert (root / "进行中" / "Q3新品上市推广.xlsx").read_bytes() == before
    assert len([m for m in outbox(root).values() if m["X-Coordxl-Kind"] == "reply"]) == 1
    status = coordxl("status", root, "--json")  # the last poll, and what it did
    import json

    replies_job = json.loads(status.stdout)["jobs"]["replies"]
    assert replies_job["last_outcome"] == "ok" and replies_job["last_counts"]["mails_duplicate"] == 1


def test_a_cell_edited_after_the_digest_is_a_conflict(digested):
    root, port, _, token = digested
    path = root / "进行中" / "Q3新品上市推广.xlsx"
    import openpyxl

    wb = openpyxl.load_workbook(path)  # a colleague marks the task blocked in Excel
    ws = wb["执行进度"]
    status_col = [c.value for c in ws[2]].index("状态") + 1
    ws.cell(5, status_col).value = "受阻"
    wb.save(path)
    append(port, reply("qq", token))
    assert coordxl("replies", root, "--today", TODAY).returncode == 0
    assert tracker(root, 5)["状态"] == "受阻"  # never overwritten
    assert folder_size(port, "coordxl-未处理") == 0  # a conflict was handled: answered, nothing for a person
    [answer] = [m for m in outbox(root).values() if m["X-Coordxl-Kind"] == "reply"]
    text = plain(answer)
    assert "⚠ T1" in text and "冲突" in text and "“进行中”" in text and "“受阻”" in text
    import json

    health = json.loads(coordxl("status", root, "--json").stdout)["health"]  # the administrator's list counts it
    [counts] = [h for h in health if h["kind"] == "replies"]
    assert (counts["applied"], counts["conflict"]) == (0, 1)


def test_an_open_workbook_waits_and_the_answer_says_who_has_it(digested):
    root, port, _, token = digested
    lock = root / "进行中" / ".~lock.Q3新品上市推广.xlsx#"
    lock.write_text("李四,lisi,PC-12,20.08.2026 10:00,file:///home/lisi/.config/libreoffice;\n", encoding="utf-8")
    append(port, reply("qq", token))
    assert coordxl("replies", root, "--today", TODAY).returncode == 0
    assert tracker(root, 5)["状态"] == "进行中"
    [answer] = [m for m in outbox(root).values() if m["X-Coordxl-Kind"] == "reply"]
    assert "表格正被 李四 打开，关闭后写入" in plain(answer)
    lock.unlink()
    assert coordxl("daily", root, "--today", TODAY).returncode == 0  # the daily run writes what waited
    assert tracker(root, 5)["状态"] == "已完成"


def test_a_deadline_change_waits_for_the_initiator_s_agreement(digested):
    root, port, _, token = digested
    append(port, reply("apple_zh", token))  # T2 (T09, row 11) 延期到 2026-08-27 原因：等供应商报价
    assert coordxl("replies", root, "--today", TODAY).returncode == 0
    assert tracker(root, 11)["截止日期"] == "2026/8/19"  # not written
    sent = [m for m in outbox(root).values() if m["X-Coordxl-Kind"] == "reply"]
    [answer] = [m for m in sent if "fengxue@" in m["To"]]
    assert "新的截止日期 2026-08-27 已记录，等待事项发起人同意" in plain(answer)
    [ask] = [m for m in sent if "zhangwei@" in m["To"]]  # 张伟 started the item
    assert "冯雪 申请把任务 T09 电商详情页设计 的截止日期从 2026-08-19 延到 2026-08-27，原因：等供应商报价" in plain(ask)

    agree = (f"From: =?utf-8?b?5byg5Lyf?= <zhangwei@corp.example>\r\nTo: coordxl@corp.example\r\n"
             f"Subject: Re: postponement\r\nMessage-ID: <agree-1@corp.example>\r\n"
             f"In-Reply-To: {ask['Message-ID']}\r\nReferences: {ask['Message-ID']}\r\n"
             f"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
             f"同意\r\n\r\n在 2026年8月20日，协调助手 <coordxl@corp.example> 写道：\r\n> 不同意\r\n").encode()
    append(port, agree)
    assert coordxl("replies", root, "--today", TODAY).returncode == 0
    row = tracker(root, 11)
    assert row["截止日期"] in (dt.date(2026, 8, 27), dt.datetime(2026, 8, 27))
    assert "截止日期延至 2026-08-27（发起人已同意），原因：等供应商报价" in row["进展说明"]
    sent = [m for m in outbox(root).values() if m["X-Coordxl-Kind"] == "reply"]
    [told] = [m for m in sent if "fengxue@" in m["To"] and m["In-Reply-To"] is None]  # the requester learns it
    assert "2026-08-19 → 2026-08-27" in plain(told) or "2026/8/19 → 2026-08-27" in plain(told)
    [answered] = [m for m in sent if m["In-Reply-To"] == "<agree-1@corp.example>"]
    assert "zhangwei@" in answered["To"] and "✅" in plain(answered)


# --- who may act: judged mail by mail against a real state.db -----------------------------------

@pytest.fixture
def judged(example_root):
    """read_mail on the example folder with a token issued to 冯雪 for T1 (T03, row 5)."""
    configure(example_root, enabled="true", authserv_id='"mx.corp.example"')
    layout = Layout.of(example_root)
    store = layout.open_store()
    tasks = {"T1": {"workbook": "进行中/Q3新品上市推广.xlsx", "path": str(example_root / "进行中" / "Q3新品上市推广.xlsx"),
                    "sheet": "执行进度", "row": 5, "id": "T03", "task": "包装设计定稿", "status": "in_progress"}}
    import json

    store.db().execute("INSERT INTO reply_tokens VALUES (?, ?, ?, ?, ?, ?, ?)",
                       ("bbbbbbbbbbbbbbbb", "冯雪", "fengxue@corp.example", "<x@corp.example>",
                        json.dumps(tasks, ensure_ascii=False), "2026-08-20T09:00:00", "2026-09-19"))
    roster = load_roster(layout.roster)

    def judge(name: str, today=dt.date(2026, 8, 20), message_id: str = ""):
        return replies.read_mail(reply(name, "bbbbbbbbbbbbbbbb", message_id), store, roster, layout.settings, today, NOW)

    judge.store = store
    yield judge, layout.settings
    store.close()


@pytest.mark.parametrize("name", ["out_of_office", "out_of_office_plain", "bounce"])
def test_automatic_mail_is_dropped_silently(judged, name):
    judge, settings = judged
    found = judge(name)
    assert found.outcome == "automatic"
    assert replies.answer_mail(found, None, settings, dt.date(2026, 8, 20)) is None


def test_a_spoofed_sender_with_a_valid_token_is_refused(judged):
    judge, settings = judged
    found = judge("spoofed")
    assert (found.outcome, found.why, found.lines) == ("refused", "sender", [])
    answer = replies.answer_mail(found, None, settings, dt.date(2026, 8, 20))
    assert answer.to.email == "zhouqiang@corp.example"  # the real 周强 learns of it, once a day
    assert "只有收件人本人或其代理人的回复有效" in answer.text


def test_dmarc_fail_is_refused_and_never_answered(judged):
    judge, settings = judged
    found = judge("dmarc_fail")
    assert (found.outcome, found.why) == ("refused", "dmarc")
    assert replies.answer_mail(found, None, settings, dt.date(2026, 8, 20)) is None


def test_no_token_and_expired_tokens_are_refused(judged):
    judge, _ = judged
    found = judge("no_token")
    assert (found.outcome, found.why) == ("refused", "no_token")
    assert judge("no_token").outcome == "duplicate"  # the same Message-ID again: dropped silently
    assert judge("gmail_zh", today=dt.date(2026, 9, 20)).why == "expired"


def test_a_token_found_only_in_the_quoted_footer_is_accepted(judged):
    judge, _ = judged
    found = judge("footer_only")
    assert found.outcome == "accepted" and found.lines[0][0].verb == "done"


def test_doctor_checks_the_replies_mailbox(example_root, dovecot):
    from coordxl import doctor

    enable(example_root, dovecot)
    ctx = doctor.Context(Layout.of(example_root), dt.date(2026, 8, 20), {"COORDXL_IMAP_PASSWORD": PASSWORD})
    [line] = doctor.check_replies(ctx)
    assert line.status == "ok" and "coordxl" in line.text("zh")
    ctx.environ["COORDXL_IMAP_PASSWORD"] = "wrong"
    [line] = doctor.check_replies(ctx)
    assert line.status == "fail" and "请检查 [replies] 的设置和密码" in line.text("zh")


def test_what_a_reply_wrote_reads_back_in_libreoffice(digested, soffice):
    import csv

    root, port, _, token = digested
    append(port, reply("gmail_en", token))  # T1 done; T2 note: sent to legal for review
    assert coordxl("replies", root, "--today", TODAY).returncode == 0
    path = root / "进行中" / "Q3新品上市推广.xlsx"
    # every sheet as UTF-8 CSV (LibreOffice 7.2+ writes <name>-<sheet>.csv for sheet number -1)
    first = soffice(path, "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false,false,false,-1")
    with open(first.parent / f"{path.stem}-执行进度.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    header = rows[1]
    assert rows[4][header.index("状态")] == "已完成"
    assert "sent to legal for review" in rows[10][header.index("进展说明")]


def test_a_change_made_by_reply_is_in_the_next_day_s_group_post(digested):
    import json

    root, port, _, token = digested
    append(port, reply("qq", token))  # T1 (T03) 完成, read the next morning
    assert coordxl("replies", root, "--today", "2026-08-21").returncode == 0
    assert coordxl("daily", root, "--today", "2026-08-21").returncode == 0
    [post] = [p for p in (root / ".coordxl" / "outbox" / "2026-08-21").glob("post-q3-launch-*.json")]
    said = json.dumps(json.loads(post.read_text(encoding="utf-8")), ensure_ascii=False)
    assert "今日变化" in said and "已完成：T03 包装设计定稿" in said


def test_a_change_is_undone_by_replying_to_its_answer(digested):
    root, port, _, token = digested
    append(port, reply("qq", token))
    assert coordxl("replies", root, "--today", TODAY).returncode == 0
    [answer] = [m for m in outbox(root).values() if m["X-Coordxl-Kind"] == "reply"]
    assert "回复“撤销 C1”可撤销" in plain(answer)
    undo = (f"From: =?utf-8?b?5Yav6Zuq?= <fengxue@corp.example>\r\nTo: coordxl@corp.example\r\n"
            f"Subject: Re: undo\r\nMessage-ID: <undo-1@corp.example>\r\nIn-Reply-To: {answer['Message-ID']}\r\n"
            f"References: {answer['References']} {answer['Message-ID']}\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
            f"撤销 C1\r\n\r\n在 2026年8月20日，协调助手 <coordxl@corp.example> 写道：\r\n> ✅ T1\r\n").encode()
    append(port, undo)
    assert coordxl("replies", root, "--today", TODAY).returncode == 0
    row = tracker(root, 5)
    assert (row["状态"], row["完成日期"], row["更新日期"]) == ("进行中", "", dt.date(2026, 8, 10))
    [undone] = [m for m in outbox(root).values() if m["In-Reply-To"] == "<undo-1@corp.example>"]
    assert "已完成 → 进行中" in plain(undone)


def test_two_lines_on_one_task_both_land(digested):
    root, port, _, token = digested
    two = (f"From: =?utf-8?b?5Yav6Zuq?= <fengxue@corp.example>\r\nTo: coordxl@corp.example\r\n"
           f"Subject: Re: x\r\nMessage-ID: <two-1@corp.example>\r\nIn-Reply-To: <coordxl-r-{token}.x@corp.example>\r\n"
           f"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
           f"T1 备注 打样已到\r\nT1 受阻 等法务意见\r\n").encode()
    append(port, two)
    assert coordxl("replies", root, "--today", TODAY).returncode == 0
    row = tracker(root, 5)
    assert row["状态"] == "受阻"
    assert row["进展说明"].startswith("等待供应商打样\n8/20 冯雪：打样已到\n8/20 冯雪：等法务意见")


def test_a_sender_refused_twice_in_a_day_gets_one_answer(judged, tmp_path):
    from coordxl.send import notify

    judge, settings = judged
    answers = [replies.answer_mail(judge("spoofed", message_id=f"<spoofed-{n}@x>"), None, settings, dt.date(2026, 8, 20))
               for n in (1, 2)]
    sent = notify.deliver(answers, notify.OutboxTransport(tmp_path, dt.date(2026, 8, 20)), judge.store, settings,
                          dt.date(2026, 8, 20), NOW)
    assert len(sent.sent) == 1


def test_a_sub_address_carries_the_token_where_the_server_supports_it(example_root):
    configure(example_root, enabled="true", subaddress="true")
    assert coordxl("daily", example_root, "--today", TODAY).returncode == 0
    digest = digest_of(example_root, "fengxue@")
    token = replies.TOKEN_RE.search(digest["Message-ID"])[1]
    assert digest["Reply-To"] == f"coordxl+r-{token}@corp.example"
    layout = Layout.of(example_root)
    store = layout.open_store()
    bare = (f"From: fengxue@corp.example\r\nTo: coordxl+r-{token}@corp.example\r\nSubject: x\r\n"
            f"Message-ID: <bare-1@corp.example>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nT1 done\r\n").encode()
    found = replies.read_mail(bare, store, load_roster(layout.roster), layout.settings, dt.date(2026, 8, 20), NOW)
    store.close()
    assert found.outcome == "accepted" and found.lines[0][0].verb == "done"


def test_a_reply_with_lines_not_understood_waits_in_the_unhandled_folder(digested):
    root, port, _, token = digested
    append(port, reply("two_verbs", token))  # T2 50% is done; two lines are refused with the fix
    assert coordxl("replies", root, "--today", TODAY).returncode == 0
    assert (folder_size(port, "coordxl-未处理"), folder_size(port, "coordxl-已处理")) == (1, 0)
    [answer] = [m for m in outbox(root).values() if m["X-Coordxl-Kind"] == "reply"]
    text = plain(answer)
    assert "❌ “T1 完成 延期到 8月27日”：一行只能写一条指令" in text and "请改为发送：T1 完成" in text
    assert "❌ “T2 延期到 8月1日”：日期已过或不明确（可能是 2026-08-01、2027-08-01）" in text


def test_who_has_the_workbook_open_is_read_from_excel_s_and_libreoffice_s_lock_files(tmp_path):
    book = tmp_path / "a.xlsx"
    book.write_bytes(b"")
    (tmp_path / ".~lock.a.xlsx#").write_text(",lisi,PC-12,20.08.2026 10:00,file:///home/lisi;", encoding="utf-8")
    assert replies.who_opened(book) == "lisi"  # LibreOffice without a name in its profile: the login
    (tmp_path / ".~lock.a.xlsx#").unlink()
    name = "张三".encode("gb18030")
    (tmp_path / "~$a.xlsx").write_bytes(bytes([len(name)]) + name + b" " * 40)
    assert replies.who_opened(book) == "张三"


def test_a_snoozed_task_leaves_its_owner_s_digest_until_the_snooze_ends(digested):
    root, port, _, token = digested
    snooze = (f"From: =?utf-8?b?5Yav6Zuq?= <fengxue@corp.example>\r\nTo: coordxl@corp.example\r\n"
              f"Subject: Re: x\r\nMessage-ID: <snooze-1@corp.example>\r\nIn-Reply-To: <coordxl-r-{token}.x@corp.example>\r\n"
              f"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nT1 暂缓提醒 3天\r\n").encode()
    append(port, snooze)
    assert coordxl("replies", root, "--today", TODAY).returncode == 0
    [answer] = [m for m in outbox(root).values() if m["X-Coordxl-Kind"] == "reply"]
    assert "2026-08-23 前不再提醒您（截止日期不变）" in plain(answer)
    for day, shown in (("2026-08-21", False), ("2026-08-24", True)):
        assert coordxl("daily", root, "--today", day).returncode == 0
        [digest] = [email.message_from_bytes(p.read_bytes())
                    for p in (root / ".coordxl" / "outbox" / day).glob("fengxue@*.eml")]
        assert ("包装设计定稿" in plain(digest)) is shown and "电商详情页设计" in plain(digest)
    assert tracker(root, 5)["截止日期"] == dt.date(2026, 8, 7)


def test_a_wrong_password_or_replies_off_is_one_line_and_exit_2(example_root, dovecot):
    off = coordxl("replies", example_root, "--today", TODAY)
    assert off.returncode == 2 and "回复更新未开启" in off.stderr and "Traceback" not in off.stderr
    enable(example_root, dovecot)
    env = {**os.environ, "COORDXL_IMAP_PASSWORD": "wrong"}
    wrong = subprocess.run([sys.executable, "-m", "coordxl", "replies", str(example_root), "--today", TODAY],
                           capture_output=True, text=True, env=env, timeout=120)
    assert wrong.returncode == 2 and "回复收件箱 127.0.0.1 无法使用" in wrong.stderr
    assert len(wrong.stderr.strip().splitlines()) == 1


def test_the_registered_deputy_may_reply_for_the_person(judged):
    from coordxl.process.roster import Person, Roster

    judge, settings = judged
    roster = Roster([Person("冯雪", "设计部", "fengxue@corp.example", deputy="周强"),
                     Person("周强", "销售部", "zhouqiang@corp.example")], [("设计部", ""), ("销售部", "")])
    found = replies.read_mail(reply("spoofed", "bbbbbbbbbbbbbbbb", "<deputy-1@x>"), judge.store, roster, settings,
                              dt.date(2026, 8, 20), NOW)  # From 周强, 冯雪's token: 周强 is her 代理人
    assert found.outcome == "accepted" and found.sender.key == "周强"


# --- what a reply never writes: formulas, an Excel table's total row ------------------------------------

def _mail(token: str, message_id: str, body: str) -> bytes:
    """A plain reply from 冯雪 to her digest (In-Reply-To carries the token)."""
    return (f"From: =?utf-8?b?5Yav6Zuq?= <fengxue@corp.example>\r\nTo: coordxl@corp.example\r\n"
            f"Subject: Re: x\r\nMessage-ID: {message_id}\r\nIn-Reply-To: <coordxl-r-{token}.x@corp.example>\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n").encode()


def _digest_token(root: Path) -> str:
    done = coordxl("daily", root, "--today", TODAY)
    assert done.returncode == 0, done.stderr
    return replies.TOKEN_RE.search(digest_of(root, "fengxue@")["Message-ID"])[1]


def _tracker_xml(path: Path) -> bytes:
    import zipfile

    from coordxl.xlsx.xlsxparts import sheet_part

    with zipfile.ZipFile(path) as zf:
        return zf.read(sheet_part(zf, "执行进度"))


def test_a_reply_never_writes_over_a_formula_and_the_answer_names_the_cell(example_root, dovecot):
    from conftest import rewrite_part

    path = example_root / "进行中" / "Q3新品上市推广.xlsx"
    # 冯雪's T03 (row 5): its 状态 is worked out from 完成日期, as some trackers do (Excel keeps the result)
    formula = '<c r="I5" s="9" t="str"><f>IF(J5="","进行中","已完成")</f><v>进行中</v></c>'.encode()
    rewrite_part(path, path, "xl/worksheets/sheet3.xml",
                 lambda xml: re.sub(rb'<c r="I5"[^>]*>.*?</c>', lambda _: formula, xml, count=1))
    enable(example_root, dovecot)
    token = _digest_token(example_root)
    before = tracker(example_root, 5)
    append(dovecot, _mail(token, "<formula-1@corp.example>", "T1 完成\r\nT2 备注 详情页初稿已交"))
    assert coordxl("replies", example_root, "--today", TODAY).returncode == 0
    after = tracker(example_root, 5)
    # nothing of the change is written: not the status (a formula), not its 完成日期 or 更新日期 either
    assert (after["状态"], after["完成日期"], after["更新日期"]) == (before["状态"], "", before["更新日期"])
    assert formula in _tracker_xml(path)
    assert "详情页初稿已交" in tracker(example_root, 11)["进展说明"]  # the other line of the mail is written
    [answer] = [m for m in outbox(example_root).values() if m["X-Coordxl-Kind"] == "reply"]
    said = plain(answer)
    assert "❌ “T1 T03 包装设计定稿”：表格中 I5 是公式，回复不会改写公式，未写入" in said
    assert "✅ T2 T09 电商详情页设计" in said


def test_a_row_that_became_a_table_s_total_row_is_never_written(example_root, dovecot):
    import openpyxl
    from openpyxl.worksheet.filters import AutoFilter
    from openpyxl.worksheet.table import Table

    path = example_root / "进行中" / "Q3新品上市推广.xlsx"
    wb = openpyxl.load_workbook(path)  # the tracker as an Excel table with a Total Row (row 17) below T14
    ws = wb["执行进度"]
    ws["A17"], ws["B17"] = "汇总", "=SUBTOTAL(103,Tasks[任务])"
    table = Table(displayName="Tasks", ref="A2:M17", totalsRowCount=1)
    table._initialise_columns()
    table.tableColumns[0].totalsRowLabel = "汇总"
    table.tableColumns[1].totalsRowFunction = "count"
    table.autoFilter = AutoFilter(ref="A2:M16")
    ws.add_table(table)
    wb.save(path)
    enable(example_root, dovecot)
    token = _digest_token(example_root)  # 冯雪's T2 is T09 on row 11
    assert tracker(example_root, 11)["编号"] == "T09"

    wb = openpyxl.load_workbook(path)  # a colleague tidies up: the six finished and cancelled rows are deleted
    ws = wb["执行进度"]
    for row in (16, 15, 7, 6, 4, 3):
        ws.delete_rows(row)
    table = ws.tables["Tasks"]
    table.ref, table.autoFilter.ref = "A2:M11", "A2:M10"  # as Excel shrinks the table: row 11 is its total row
    wb.save(path)
    append(dovecot, _mail(token, "<total-1@corp.example>", "T2 完成"))
    assert coordxl("replies", example_root, "--today", TODAY).returncode == 0
    row = tracker(example_root, 11)
    assert (row["编号"], row["状态"], row["完成日期"]) == ("汇总", "", "")
    [answer] = [m for m in outbox(example_root).values() if m["X-Coordxl-Kind"] == "reply"]
    assert "❌ “T2 T09 电商详情页设计”：这一行现在是表格的汇总行（表格在提醒发出后有改动），未写入" in plain(answer)


# --- an answer is never lost to a crash -------------------------------------------------------------------

KILLED_BEFORE_ANSWERING = """
import os, signal, sys
from coordxl.send import notify

def power_cut(*args, **kwargs):  # the mail is read, recorded and moved, the change written: then the power goes
    os.kill(os.getpid(), signal.SIGKILL)

notify.deliver = power_cut
from coordxl.cli import main
main(["replies", sys.argv[1], "--today", sys.argv[2]])
"""


def test_an_answer_lost_to_a_crash_is_sent_by_the_next_run_exactly_once(digested):
    root, port, _, token = digested
    append(port, reply("qq", token))  # T1 完成
    append(port, reply("apple_zh", token))  # T2 延期到 2026-08-27: the initiator is to be asked
    env = {**os.environ, "COORDXL_IMAP_PASSWORD": PASSWORD}
    killed = subprocess.run([sys.executable, "-c", KILLED_BEFORE_ANSWERING, str(root), TODAY], env=env,
                            capture_output=True, text=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert tracker(root, 5)["状态"] == "已完成"  # the change was written ...
    assert (folder_size(port, "INBOX"), folder_size(port, "coordxl-已处理")) == (0, 2)  # ... the mails will not come again
    assert not [m for m in outbox(root).values() if m["X-Coordxl-Kind"] == "reply"]  # ... and nobody was answered

    for _ in range(2):  # the next run answers; the one after sends nothing again
        assert coordxl("replies", root, "--today", TODAY).returncode == 0
        sent = [m for m in outbox(root).values() if m["X-Coordxl-Kind"] == "reply"]
        [done] = [m for m in sent if m["In-Reply-To"] == "<qq@mail.client.example>"]
        assert "进行中 → 已完成" in plain(done)
        [waits] = [m for m in sent if m["In-Reply-To"] == "<apple_zh@mail.client.example>"]
        assert "等待事项发起人同意" in plain(waits)
        [ask] = [m for m in sent if "zhangwei@" in m["To"]]  # the initiator's question was not lost either
        assert "冯雪 申请把任务 T09 电商详情页设计 的截止日期从 2026-08-19 延到 2026-08-27" in plain(ask)
        assert len(sent) == 3


# --- a workbook held by a live LibreOffice ---------------------------------------------------------------

HOLD = r"""
import sys, time, uno
from com.sun.star.beans import PropertyValue

port, path = sys.argv[1], sys.argv[2]
local = uno.getComponentContext()
resolver = local.ServiceManager.createInstanceWithContext("com.sun.star.bridge.UnoUrlResolver", local)
for _ in range(600):  # the office takes a while to listen on its first start with a new profile
    try:
        ctx = resolver.resolve(f"uno:socket,host=127.0.0.1,port={port};urp;StarOffice.ComponentContext")
        break
    except Exception:
        time.sleep(0.1)
desktop = ctx.ServiceManager.createInstanceWithContext("com.sun.star.frame.Desktop", ctx)
hidden = PropertyValue()
hidden.Name, hidden.Value = "Hidden", True
doc = desktop.loadComponentFromURL(uno.systemPathToFileUrl(path), "_blank", 0, (hidden,))
print("opened", flush=True)
sys.stdin.readline()  # until the test closes it
doc.close(True)
print("closed", flush=True)
try:
    desktop.terminate()
except Exception:  # the office is going away: the bridge may drop first
    pass
"""


def _uno_python() -> str | None:
    """A Python that imports LibreOffice's UNO bridge (Debian's python3-uno is for the system Python)."""
    for exe in ("/usr/bin/python3", sys.executable):
        if os.path.exists(exe) and subprocess.run([exe, "-c", "import uno"], capture_output=True).returncode == 0:
            return exe
    return None


@pytest.fixture
def live_libreoffice(tmp_path):
    """Open a workbook in a real, running LibreOffice (its own profile, driven over UNO), which writes its
    own lock file and holds the workbook until ``close()``; the office is stopped by its PID."""
    soffice, python = shutil.which("soffice") or shutil.which("libreoffice"), _uno_python()
    if soffice is None or python is None:
        if os.environ.get("CI"):
            pytest.fail("LibreOffice and python3-uno are required on CI (.ci/run installs them)")
        pytest.skip("LibreOffice or its Python bridge (python3-uno) is not installed")
    port = _free_port()
    office = subprocess.Popen([soffice, f"-env:UserInstallation=file://{tmp_path}/lo-profile", "--headless",
                               "--invisible", "--norestore", "--nologo",
                               f"--accept=socket,host=127.0.0.1,port={port};urp;"],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    holders = []

    class Holder:
        def open(self, path: Path) -> None:
            self.proc = subprocess.Popen([python, "-c", HOLD, str(port), str(path)], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, text=True)
            holders.append(self.proc)
            assert self.proc.stdout.readline().strip() == "opened"

        def close(self) -> None:
            self.proc.stdin.write("\n")
            self.proc.stdin.flush()
            assert self.proc.stdout.readline().strip() == "closed"
            self.proc.wait(timeout=60)

    yield Holder()
    for proc in holders:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    try:  # soffice and the soffice.bin it starts share the new session: stopped together, by that id
        os.killpg(office.pid, signal.SIGTERM)
        office.wait(timeout=30)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(office.pid, signal.SIGKILL)


@pytest.mark.libreoffice
def test_a_workbook_open_in_a_live_libreoffice_waits_and_is_written_once_it_is_closed(digested, live_libreoffice):
    root, port, _, token = digested
    path = root / "进行中" / "Q3新品上市推广.xlsx"
    live_libreoffice.open(path)
    lock = root / "进行中" / ".~lock.Q3新品上市推广.xlsx#"
    assert lock.exists()  # LibreOffice's own lock file: "name,login,host,date,profile"
    fields = lock.read_text(encoding="utf-8").split(",")
    who = fields[0] or fields[1]
    before = path.read_bytes()
    append(port, reply("qq", token))  # T1 完成
    assert coordxl("replies", root, "--today", TODAY).returncode == 0
    assert path.read_bytes() == before  # nothing is written into a workbook LibreOffice holds
    [answer] = [m for m in outbox(root).values() if m["X-Coordxl-Kind"] == "reply"]
    assert f"表格正被 {who} 打开，关闭后写入" in plain(answer)

    live_libreoffice.close()
    assert not lock.exists()
    assert coordxl("daily", root, "--today", TODAY).returncode == 0  # the next daily run writes what waited
    assert tracker(root, 5)["状态"] == "已完成"


# --- doctor: sub-addressed mail really arrives ------------------------------------------------------------

class ToLmtp:
    """The mail server's front (an aiosmtpd SMTP server) handing each message to Dovecot's LMTP, as Postfix
    hands mail to Dovecot: Dovecot's recipient_delimiter decides where coordxl+…@ goes."""

    def __init__(self, port: int):
        self.port, self.bounced = port, []

    async def handle_DATA(self, server, session, envelope):
        import smtplib

        try:
            with smtplib.LMTP("127.0.0.1", self.port) as lmtp:
                lmtp.sendmail(envelope.mail_from, envelope.rcpt_tos, envelope.original_content)
        except smtplib.SMTPRecipientsRefused:  # as Postfix does: accepted and queued, then bounced to the sender
            self.bounced.append(envelope.rcpt_tos)
        return "250 OK"


@contextlib.contextmanager
def mail_server(root: Path, delimiter: str):
    """Dovecot delivering over LMTP with ``delimiter``, an SMTP front to it, and the folder using both."""
    from aiosmtpd.controller import Controller

    with running_dovecot(delimiter) as (imap_port, lmtp_port):
        front = Controller(ToLmtp(lmtp_port), hostname="127.0.0.1", port=_free_port())
        front.start()
        try:
            enable(root, imap_port)
            configure(root, subaddress="true")
            toml = root / "coordxl.toml"
            head, rest = toml.read_text(encoding="utf-8").split("[email]", 1)
            for key, value in (("transport", '"smtp"'), ("host", '"127.0.0.1"'), ("port", str(front.port)),
                               ("security", '"none"')):
                rest = re.sub(rf"(?m)^{key} = .*$", lambda _: f"{key} = {value}", rest, count=1)
            toml.write_text(f"{head}[email]{rest}", encoding="utf-8")
            yield imap_port
        finally:
            front.stop()


@pytest.mark.slow
def test_doctor_sends_a_probe_to_the_sub_address_and_finds_it_in_the_mailbox(example_root):
    with mail_server(example_root, "+") as port:
        result = coordxl("doctor", example_root, "--today", TODAY)
        line = next((x for x in result.stdout.splitlines() if "子地址" in x), "")
        assert line.startswith("✔ 子地址可用：发往 coordxl+probe-") and "@corp.example 的测试邮件已到达 INBOX" in line, \
            result.stdout
        assert folder_size(port, "INBOX") == 0  # the probe was deleted


@pytest.mark.slow
def test_doctor_says_so_when_sub_addressed_mail_does_not_arrive(example_root):
    from coordxl import doctor

    with mail_server(example_root, "") as port:  # no recipient_delimiter: coordxl+x@ is another mailbox
        ctx = doctor.Context(Layout.of(example_root), dt.date(2026, 8, 20), {"COORDXL_IMAP_PASSWORD": PASSWORD},
                             probe_wait=3)
        login, probe = doctor.check_replies(ctx)
        assert login.status == "ok" and probe.status == "fail", probe.text("zh")
        assert "3 秒内未到达 INBOX" in probe.text("zh") and "请把 replies.subaddress 设为 false" in probe.text("zh")
        assert folder_size(port, "INBOX") == 0


KILLED_WHILE_READING = """
import os, signal, sys
from coordxl.run import replies

def power_cut(reading):  # the mail's lines are staged, the mail about to be recorded: then the power goes
    os.kill(os.getpid(), signal.SIGKILL)

replies.owed_answer = power_cut
from coordxl.cli import main
main(["replies", sys.argv[1], "--today", sys.argv[2]])
"""


def test_a_run_killed_while_reading_a_mail_stages_nothing_twice(digested):
    import sqlite3

    root, port, _, token = digested
    append(port, reply("qq", token))  # T1 完成
    env = {**os.environ, "COORDXL_IMAP_PASSWORD": PASSWORD}
    killed = subprocess.run([sys.executable, "-c", KILLED_WHILE_READING, str(root), TODAY], env=env,
                            capture_output=True, text=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert folder_size(port, "INBOX") == 1  # not marked: the next run reads it again
    assert coordxl("replies", root, "--today", TODAY).returncode == 0
    assert tracker(root, 5)["状态"] == "已完成"
    [answer] = [m for m in outbox(root).values() if m["X-Coordxl-Kind"] == "reply"]
    assert "✅ T1 T03 包装设计定稿" in plain(answer) and "冲突" not in plain(answer)  # written once, not a conflict
    db = sqlite3.connect(root / ".coordxl" / "state.db")
    assert db.execute("SELECT COUNT(*) FROM reply_changes").fetchone()[0] == 1


# --- IMAP IDLE: a long-lived watcher answers at once ----------------------------------------------------

def test_replies_watch_reads_a_reply_as_soon_as_it_arrives_and_stops_on_sigterm(digested):
    import select

    root, port, _, token = digested
    configure(root, poll_minutes="60")  # a poll would come in an hour: only IDLE can explain a quick answer
    env = {**os.environ, "COORDXL_IMAP_PASSWORD": PASSWORD, "PYTHONUNBUFFERED": "1"}
    watcher = subprocess.Popen([sys.executable, "-m", "coordxl", "replies", str(root), "--watch", "--today", TODAY],
                               env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        def said(seconds: float) -> str:
            ready, _, _ = select.select([watcher.stdout], [], [], seconds)
            return watcher.stdout.readline() if ready else ""

        assert "读取回复 0 封" in said(60)  # the first poll, then IDLE
        append(port, reply("qq", token))  # T1 完成
        started = time.monotonic()
        assert "读取回复 1 封，写入 1 项，答复 1 封" in said(45)
        assert time.monotonic() - started < 45
        assert tracker(root, 5)["状态"] == "已完成"
        [answer] = [m for m in outbox(root).values() if m["X-Coordxl-Kind"] == "reply"]
        assert answer["In-Reply-To"] == "<qq@mail.client.example>"
    finally:
        watcher.send_signal(signal.SIGTERM)
        try:
            code = watcher.wait(timeout=20)
        except subprocess.TimeoutExpired:
            watcher.kill()
            raise
    assert code == 0, watcher.stderr.read()


def test_a_reply_that_arrives_between_a_poll_and_idle_is_not_left_waiting(digested):
    """The mail lands after the poll searched the folder and before IDLE began: IDLE would never announce it."""
    import threading

    from coordxl.send.imap import Mailbox

    root, port, _, token = digested
    settings = Layout.of(root).settings
    assert coordxl("replies", root, "--today", TODAY).returncode == 0  # a poll: nothing yet, the checkpoint set
    append(port, reply("qq", token))  # ... then the reply arrives
    store = Layout.of(root).open_store()
    row = store.db().execute("SELECT * FROM reply_checkpoint").fetchone()
    store.close()
    checkpoint = (row["uid_validity"], row["last_uid"]) if row else (0, 0)
    started = time.monotonic()
    came = Mailbox(settings, PASSWORD).wait_for_mail(60, threading.Event(), checkpoint)
    assert came and time.monotonic() - started < 10


@pytest.mark.parametrize("encoding", ["utf-8", "gb18030"])
def test_a_subject_sent_unencoded_reads_as_written_and_an_unencoded_auto_reply_is_still_dropped(encoding):
    """Some clients and mail gateways send the Subject as raw 8-bit text instead of an encoded word: the
    answer's 回复：… subject must read as the person wrote it (not ����), and an out-of-office whose subject
    says 自动回复 that way must still be known as automatic, or coordxl would answer it."""
    said = email.message_from_bytes("From: sunli@corp.example\r\nSubject: 回复：【提醒】您有 2 项任务\r\n\r\n完成\r\n"
                                    .encode(encoding))
    assert replies.header(said, "Subject") == "回复：【提醒】您有 2 项任务"
    away = email.message_from_bytes("From: sunli@corp.example\r\nSubject: 自动回复：我正在休假\r\n\r\n我正在休假\r\n"
                                    .encode(encoding))
    assert replies.automatic(away, "coordxl@corp.example")


def test_a_note_carrying_control_characters_is_written_without_them(digested):
    """A reply pasted from a terminal or another program can carry an escape character: the note is written
    without it (a workbook cannot hold it), never refused for ever nor written unreadable."""
    root, port, _, token = digested
    mail = (f"From: =?utf-8?b?5Yav6Zuq?= <fengxue@corp.example>\r\nTo: coordxl@corp.example\r\n"
            f"Subject: Re: x\r\nMessage-ID: <ctrl-1@corp.example>\r\nIn-Reply-To: <coordxl-r-{token}.x@corp.example>\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
            f"T1 备注 打样\x1b[0m已到\r\n").encode()
    append(port, mail)
    assert coordxl("replies", root, "--today", TODAY).returncode == 0
    assert tracker(root, 5)["进展说明"].endswith("\n8/20 冯雪：打样[0m已到")
