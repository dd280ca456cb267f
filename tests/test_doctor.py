"""`coordxl doctor ROOT`: one list an administrator reads before the first run, through the command line.

A real SMTP server (aiosmtpd on 127.0.0.1, with login and with implicit TLS), a real HTTP robot
(robot_fakes), fake system schedulers on PATH (test_install's fake_system); nothing is sent unless
--send-test names an address.
"""

import datetime as dt

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from click.testing import CliRunner
from conftest import clean_launch, write_item
from robot_fakes import Robot
from test_faults import _self_signed
from test_install import fake_system  # noqa: F401  (the fixture)
from test_notify import Recorder, free_port

from coordxl import doctor, install
from coordxl.cli import main
from coordxl.state.layout import Layout

PASSWORD = "right-password"


def _toml(port: int, security: str = "none", user: str = "coordxl", extra: str = "", calendar: str = "") -> str:
    return (f'[email]\ntransport = "smtp"\nhost = "127.0.0.1"\nport = {port}\nsecurity = "{security}"\n'
            f'user = "{user}"\nsender = "coordxl@corp.example"\n{extra}\n[calendar]\n{calendar}\n')


class Server:
    """aiosmtpd on 127.0.0.1 that asks for a login and remembers the ones it was given."""

    def __init__(self, tls=None):
        self.handler = Recorder()
        self.logins: list[tuple[str, str]] = []
        # auth_require_tls=False: aiosmtpd counts only STARTTLS as TLS, not a port-465 style connection
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=free_port(), ssl_context=tls,
                                     authenticator=self.check, auth_required=True, auth_require_tls=False)

    def check(self, server, session, envelope, mechanism, auth_data):
        login, password = auth_data.login.decode(), auth_data.password.decode()
        self.logins.append((login, password))
        ok = login == "coordxl" and password == PASSWORD
        return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535 itself

    @property
    def port(self) -> int:
        return self.controller.port


@pytest.fixture
def smtp_login():
    server = Server()
    server.controller.start()
    yield server
    server.controller.stop()


@pytest.fixture
def ready(share_with_roster, fake_system):  # noqa: F811
    """A clean folder (one item, no mistakes) whose jobs are in the (fake) crontab."""
    write_item(share_with_roster, clean_launch())
    done = fake_system.run("schedule", str(share_with_roster), "--install", "--kind", "cron", "--yes")
    assert done.returncode == 0, done.stderr
    return share_with_roster


def doctor_run(system, root, *args, password: str | None = PASSWORD, today: str = "2026-08-20", **env):
    system.env = {k: v for k, v in system.env.items() if k != "COORDXL_SMTP_PASSWORD"} | env
    if password is not None:
        system.env["COORDXL_SMTP_PASSWORD"] = password
    return system.run("doctor", str(root), "--kind", "cron", "--today", today, *args)


# --- the mail server ----------------------------------------------------------------------------------


def test_connection_and_login_are_checked_and_nothing_is_sent(ready, fake_system, smtp_login):  # noqa: F811
    (ready / "coordxl.toml").write_text(_toml(smtp_login.port, calendar="official_years = [2027]"), encoding="utf-8")
    result = doctor_run(fake_system, ready)
    out = result.stdout
    assert f"✔ 邮件服务器 127.0.0.1:{smtp_login.port} 可以连接" in out
    assert "! 连接未加密" in out and "✔ 以 coordxl 登录成功" in out
    assert smtp_login.logins == [("coordxl", PASSWORD)] and smtp_login.handler.messages == []
    # the rest of a ready folder: every other line ✔, so the administrator has nothing to do
    assert "✔ 群机器人：未设置" in out and "✔ 文件夹可写" in out and "✔ 节假日安排：2026–2027" in out
    assert "✔ 名册" in out and "✔ 计划任务（cron）" in out and "✘" not in out
    assert result.returncode == 0 and "可以运行" in out


def test_a_wrong_password_is_a_refused_login(ready, fake_system, smtp_login):  # noqa: F811
    (ready / "coordxl.toml").write_text(_toml(smtp_login.port), encoding="utf-8")
    result = doctor_run(fake_system, ready, password="wrong")
    assert "✔ 邮件服务器" in result.stdout and "✘ 以 coordxl 登录被拒绝（535" in result.stdout
    assert result.returncode == 1 and "1 项需要管理员处理" in result.stdout


def test_a_server_that_is_down_is_said_and_the_other_checks_still_run(ready, fake_system):  # noqa: F811
    port = free_port()  # nothing listens there
    (ready / "coordxl.toml").write_text(_toml(port), encoding="utf-8")
    result = doctor_run(fake_system, ready)
    assert f"✘ 连不上邮件服务器 127.0.0.1:{port}" in result.stdout and "ConnectionRefusedError" in result.stdout
    assert "✔ 计划任务（cron）" in result.stdout and result.returncode == 1


def test_a_missing_password_is_one_line_of_the_list(ready, fake_system, smtp_login):  # noqa: F811
    (ready / "coordxl.toml").write_text(_toml(smtp_login.port), encoding="utf-8")
    result = doctor_run(fake_system, ready, password=None)
    assert "✘ 已设置 email.user，但没有密码：请设置环境变量 COORDXL_SMTP_PASSWORD" in result.stdout
    assert smtp_login.logins == [] and "✔ 计划任务" in result.stdout and result.returncode == 1


def test_send_test_mails_the_address_named(ready, fake_system, smtp_login):  # noqa: F811
    (ready / "coordxl.toml").write_text(_toml(smtp_login.port), encoding="utf-8")
    result = doctor_run(fake_system, ready, "--send-test", "admin@corp.example")
    assert "✔ 测试邮件已发给 admin@corp.example" in result.stdout
    [(to, msg)] = smtp_login.handler.messages
    assert to == ["admin@corp.example"] and msg["Subject"] == "coordxl 测试邮件 — share"
    assert "coordxl doctor" in msg.get_content()


def test_a_certificate_for_another_host_is_refused_before_the_password_goes(ready, fake_system, tmp_path):  # noqa: F811
    import ssl

    cert, key = _self_signed(tmp_path, "mail.other.example", None)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server = Server(tls=context)
    server.controller.start()
    try:
        (ready / "coordxl.toml").write_text(_toml(server.port, security="ssl", extra=f'ca_file = "{cert}"'),
                                            encoding="utf-8")
        result = doctor_run(fake_system, ready)
    finally:
        server.controller.stop()
    assert "✘ 服务器证书未通过验证" in result.stdout and "email.ca_file" in result.stdout
    assert server.logins == [] and result.returncode == 1


def test_a_company_ca_over_implicit_tls_is_all_green(ready, fake_system, tmp_path):  # noqa: F811
    import ssl

    cert, key = _self_signed(tmp_path, "smtp.corp.example", "127.0.0.1")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server = Server(tls=context)
    server.controller.start()
    try:
        (ready / "coordxl.toml").write_text(_toml(server.port, security="ssl", extra=f'ca_file = "{cert}"',
                                                  calendar="official_years = [2027]"), encoding="utf-8")
        result = doctor_run(fake_system, ready)
    finally:
        server.controller.stop()
    assert "✔ 加密连接（ssl）：服务器证书已验证" in result.stdout and "✔ 以 coordxl 登录成功" in result.stdout
    assert result.returncode == 0 and "全部正常" in result.stdout, result.stdout


# --- the robots ----------------------------------------------------------------------------------------


def _with_robot(root, port_toml: str) -> None:
    (root / "coordxl.toml").write_text(
        port_toml + '\n[channels.q3-launch]\nkind = "dingtalk"\nwebhook_env = "COORDXL_TEST_ROBOT"\nkeyword = "coordxl"\ntransport = "send"\n',
        encoding="utf-8")


def test_a_robot_is_only_looked_at_unless_send_test(ready, fake_system, smtp_login):  # noqa: F811
    robot = Robot("dingtalk", keyword="coordxl").start()
    try:
        _with_robot(ready, _toml(smtp_login.port))
        missing = doctor_run(fake_system, ready)
        assert "✘ 跟进群 q3-launch 的 webhook 地址未设置：请设置环境变量 COORDXL_TEST_ROBOT" in missing.stdout
        looked = doctor_run(fake_system, ready, COORDXL_TEST_ROBOT=robot.url)
        assert "✔ 群机器人 q3-launch（dingtalk）：webhook 地址已设置（环境变量 COORDXL_TEST_ROBOT）" in looked.stdout
        assert robot.accepted == []
        posted = doctor_run(fake_system, ready, "--send-test", "admin@corp.example", COORDXL_TEST_ROBOT=robot.url)
        assert "✔ 群机器人 q3-launch：测试消息已发出" in posted.stdout
        [body] = robot.accepted
        assert "coordxl doctor" in body["markdown"]["text"]
    finally:
        robot.stop()


# --- folder, calendar, roster, schedule -----------------------------------------------------------------


def test_a_folder_the_jobs_cannot_write_into_is_named(ready, fake_system, smtp_login):  # noqa: F811
    (ready / "coordxl.toml").write_text(_toml(smtp_login.port), encoding="utf-8")
    (ready / "报告").write_text("not a folder", encoding="utf-8")  # where the reports would go
    result = doctor_run(fake_system, ready)
    assert "✘ 报告/ 不可写" in result.stdout and result.returncode == 1


def test_the_coming_year_without_holiday_data_needs_the_administrator_from_november(ready, fake_system, smtp_login):  # noqa: F811
    from coordxl.process.calendar import has_library_data
    if has_library_data(2027):
        pytest.skip("the installed chinesecalendar knows 2027 already")
    (ready / "coordxl.toml").write_text(_toml(smtp_login.port), encoding="utf-8")
    august = doctor_run(fake_system, ready, today="2026-08-20")
    assert "! 节假日安排：2027 年还没有官方数据" in august.stdout
    november = doctor_run(fake_system, ready, today="2026-11-20")
    assert "✘ 节假日安排：2027 年还没有官方数据" in november.stdout and "--import" in november.stdout
    assert november.returncode == 1


def test_names_missing_from_the_roster_and_unusable_addresses_are_listed(example_root, fake_system):  # noqa: F811
    import openpyxl

    wb = openpyxl.load_workbook(example_root / "名册.xlsx")
    ws = wb["人员"]
    headers = [c.value for c in ws[2]]  # row 1 is the sheet's title
    ws.cell(row=4, column=headers.index("邮箱") + 1).value = "not-an-address"
    name = ws.cell(row=4, column=headers.index("姓名") + 1).value
    wb.save(example_root / "名册.xlsx")
    result = fake_system.run("doctor", str(example_root), "--kind", "cron", "--today", "2026-08-20")
    assert "✘ 名册：工作簿中有 1 处写到的人不在名册中" in result.stdout and "刘阳" in result.stdout
    assert f"✘ 名册：{name} 收不到邮件：名册中的邮箱地址无效" in result.stdout, result.stdout
    assert result.returncode == 1


def test_a_running_scheduler_loop_counts_as_scheduled(example_root):
    from coordxl.scheduler import SchedulerLock

    layout = Layout.of(example_root)
    ctx = doctor.Context(layout, dt.date(2026, 8, 20), {}, kind="cron",
                         installer=install.CronLines(lambda argv, input=None: _no_crontab(argv)))
    assert [line.key for line in doctor.check_schedule(ctx)] == ["doctor.task.none"]
    lock = SchedulerLock(layout.state)
    lock.acquire()
    try:
        assert [line.key for line in doctor.check_schedule(ctx)] == ["doctor.task.scheduler"]
    finally:
        lock.release()


def _no_crontab(argv):
    import subprocess
    return subprocess.CompletedProcess(argv, 1, "", "no crontab for coordxl\n")


def test_a_check_is_one_function_in_the_list(example_root):
    """What the lead adds after merging (the state folder is local) is a function appended to CHECKS."""
    def state_is_local(ctx):
        yield doctor.warn("doctor.error", text="state")

    ctx = doctor.Context(Layout.of(example_root), dt.date(2026, 8, 20), {})
    lines = list(doctor.run(ctx, [doctor.check_calendar, state_is_local]))
    assert lines[-1].shown("zh") == "! state" and doctor.exit_code(lines) == 0


def test_the_ledger_on_the_network_share_needs_the_administrator(example_root):
    """A folder on a share whose state.db is still on the share (before its first job moved it): ✘ with
    what to do; once the ledger is on this machine's disk, ✔ naming where."""
    layout = Layout.of(example_root)
    layout.__dict__["network"] = "cifs"  # what platform_support.network_filesystem says of a cifs mount
    ctx = doctor.Context(layout, dt.date(2026, 8, 20), {})
    [line] = doctor.check_state_local(ctx)
    assert doctor.exit_code([line]) == 1
    assert line.shown("zh").startswith("✘ 发送记录（state.db）在网络共享上（cifs）") and "folders.state" in line.shown("zh")
    config = example_root / "coordxl.toml"
    local = example_root.parent / "local-state"
    config.write_text(config.read_text(encoding="utf-8").replace('\nstate = ""\n', f'\nstate = "{local}"\n', 1),
                      encoding="utf-8")
    layout = Layout.of(example_root)
    layout.__dict__["network"] = "cifs"
    [line] = doctor.check_state_local(doctor.Context(layout, dt.date(2026, 8, 20), {}))
    assert line.shown("zh") == f"✔ 文件夹在网络共享上（cifs），发送记录在本机磁盘上：{local}"


def test_a_local_folder_s_ledger_is_said_to_be_on_this_disk(ready, fake_system, smtp_login):  # noqa: F811
    (ready / "coordxl.toml").write_text(_toml(smtp_login.port), encoding="utf-8")
    result = doctor_run(fake_system, ready)
    assert f"✔ 发送记录在本机磁盘上：{ready / '.coordxl'}" in result.stdout


def test_send_test_needs_an_address():
    result = CliRunner().invoke(main, ["doctor", ".", "--send-test", "admin"])
    assert result.exit_code == 2


# --- init says what comes next ----------------------------------------------------------------------------


def test_init_ends_with_the_next_three_steps(tmp_path):
    root = tmp_path / "协调"
    result = CliRunner().invoke(main, ["init", str(root)])
    assert result.exit_code == 0, result.output
    tail = result.output.splitlines()[-4:]
    assert tail[0] == "下一步："
    assert "名册.xlsx" in tail[1] and "coordxl.toml" in tail[1] and "[email]" in tail[1]
    assert tail[2].endswith(f"coordxl doctor {root}") and tail[3].endswith(f"coordxl schedule {root} --install")
    english = CliRunner().invoke(main, ["init", str(tmp_path / "en"), "--lang", "en"])
    assert english.output.splitlines()[-4] == "Next steps:"


def test_send_test_with_the_outbox_writes_the_test_mail_there(ready, fake_system):  # noqa: F811
    import email
    from email import policy

    result = doctor_run(fake_system, ready, "--send-test", "admin@corp.example")
    assert "! 邮件：email.transport 为 outbox" in result.stdout and "✔ 测试邮件已写入" in result.stdout
    [eml] = (ready / ".coordxl" / "outbox" / "2026-08-20").glob("admin@corp.example-*.eml")
    msg = email.message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert msg["Subject"] == "coordxl 测试邮件 — share" and msg["To"] == "admin@corp.example"


def test_starttls_asked_of_a_server_without_it_is_an_encryption_failure(ready, fake_system):  # noqa: F811
    handler = Recorder()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())  # offers no STARTTLS
    controller.start()
    try:
        (ready / "coordxl.toml").write_text(_toml(controller.port, security="starttls"), encoding="utf-8")
        result = doctor_run(fake_system, ready)
    finally:
        controller.stop()
    assert "✘ 加密连接失败" in result.stdout and "587 端口用 starttls" in result.stdout
    assert "登录成功" not in result.stdout and result.returncode == 1
