"""The 跟进群: posts to DingTalk, WeCom and Feishu robots (local fakes, real HTTP) — formats, mentions,
signatures, byte limits, rates, exactly once, and the outbox preview."""

import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from robot_fakes import FakeClock, Robot

from coordxl.cli import main
from coordxl.run.daily import run_daily
from coordxl.send import channels
from coordxl.send.channels import Line, Post, bodies, deliver_posts, make_posters, size
from coordxl.settings import Channel
from coordxl.state.layout import Layout
from coordxl.state.store import Store

TODAY = dt.date(2026, 8, 20)
NOW = dt.datetime(2026, 8, 20, 9, 0)


def use_channels(root: Path, blocks: str) -> None:
    config = root / "coordxl.toml"
    text = config.read_text(encoding="utf-8")
    text = text[:text.index("[channels.q3-launch]")] if "[channels.q3-launch]" in text else text
    config.write_text(text + blocks, encoding="utf-8")


def block(name: str, kind: str, secret: bool = False, keyword: str = "", items: str = '["Q3新品上市推广"]') -> str:
    env = name.upper().replace("-", "_")
    return (f'\n[channels.{name}]\nkind = "{kind}"\nwebhook_env = "HOOK_{env}"\n'
            + (f'secret_env = "SECRET_{env}"\n' if secret else "")
            + (f'keyword = "{keyword}"\n' if keyword else "") + f"items = {items}\ntransport = \"send\"\n")


def posters_for(root: Path, robots: dict, clock: FakeClock, secrets: dict | None = None) -> dict:
    environ = {f"HOOK_{name.upper().replace('-', '_')}": robot.url for name, robot in robots.items()}
    environ.update({f"SECRET_{name.upper().replace('-', '_')}": s for name, s in (secrets or {}).items()})
    return make_posters(Layout.of(root).settings, root / ".coordxl", TODAY, environ, clock=clock, sleep=clock.sleep,
                        wall=clock.wall)


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def robots(clock):
    started = []

    def make(kind, **kw):
        robot = Robot(kind, clock=clock, **kw).start()
        started.append(robot)
        return robot
    yield make
    for robot in started:
        robot.stop()


def test_each_platform_gets_its_own_format_with_mentions_and_signature(example_root, robots, clock):
    ding = robots("dingtalk", secret="SECdd", keyword="协调")
    wecom = robots("wecom")
    feishu = robots("feishu", secret="fs-secret", keyword="协调")
    use_channels(example_root, block("ding", "dingtalk", True, "协调") + block("wecom", "wecom")
                 + block("fei", "feishu", True, "协调"))
    posters = posters_for(example_root, {"ding": ding, "wecom": wecom, "fei": feishu}, clock,
                          {"ding": "SECdd", "fei": "fs-secret"})
    result = run_daily(example_root, TODAY, NOW, posters=posters)
    assert len(result.post_delivery.sent) == 3 and not result.post_delivery.failed
    [d], [w], [f] = ding.accepted, wecom.accepted, feishu.accepted
    # DingTalk markdown: @mobile / @userId in the text and in "at" (冯雪 has a mobile only, 孙丽 a userId)
    assert d["msgtype"] == "markdown" and "T03 包装设计定稿 · 冯雪@13800138011" in d["markdown"]["text"]
    assert "13800138011" in d["at"]["atMobiles"] and "sunli" in d["at"]["atUserIds"] and d["at"]["isAtAll"] is False
    # WeCom: markdown mentions by <@userid> only, so with 冯雪 known by mobile alone the post is a text
    # message listing userids and mobiles (2,048 bytes)
    assert w["msgtype"] == "text" and "冯雪" in w["text"]["content"]
    assert "13800138011" in w["text"]["mentioned_mobile_list"] and "sunli" in w["text"]["mentioned_list"]
    # Feishu post: <at> elements, the keyword in the title, signed in the body
    paragraphs = f["content"]["post"]["zh_cn"]["content"]
    assert {"tag": "at", "user_id": "sunli"} in [e for p in paragraphs for e in p] and "sign" in f
    assert "协调" in f["content"]["post"]["zh_cn"]["title"]
    # a rerun the same day posts nothing again
    again = run_daily(example_root, TODAY, NOW.replace(hour=15), posters=posters)
    assert not again.post_delivery.sent and len(ding.accepted) == len(wecom.accepted) == len(feishu.accepted) == 1


def test_a_long_post_is_split_in_order_within_each_platform_s_limit(example_root, robots, clock):
    lines = [Line([f"- 第{n}项任务 " + "说明文字" * 12]) for n in range(400)]
    for kind in ("wecom", "dingtalk", "feishu"):
        robot = robots(kind, keyword="协调")
        channel = Channel(kind, kind, f"HOOK_{kind.upper()}", keyword="协调", transport="send")
        post = Post(channel, "长列表", lines, "post-daily", TODAY, ("进行中/x.xlsx",)).seal()
        parts = bodies(post)
        assert len(parts) > 1 and all(size(kind, b) <= channels.limit(kind, b) for b in parts)
        poster = channels.RobotPoster(channel, robot.url, clock=clock, sleep=clock.sleep, wall=clock.wall)
        store = Store(example_root / ".coordxl" / f"{kind}.db")
        result = deliver_posts([post], {kind: poster}, store, TODAY, NOW)
        assert result.sent == [post] and not robot.refusals
        got = "\n".join(json.dumps(b, ensure_ascii=False) for b in robot.accepted)
        positions = [got.index(f"第{n}项任务") for n in range(400)]
        assert positions == sorted(positions)  # every line, once, in order
        assert f"(1/{len(parts)})" in got and f"({len(parts)}/{len(parts)})" in got


def test_twenty_five_posts_to_one_dingtalk_robot_wait_for_the_rate_instead_of_being_refused(example_root, robots,
                                                                                            clock):
    robot = robots("dingtalk")
    channel = Channel("ding", "dingtalk", "HOOK", transport="send")
    posts = [Post(channel, f"事项{n}", [Line([f"- 进展 {n}"])], "post-daily", TODAY, (f"进行中/{n}.xlsx",)).seal()
             for n in range(25)]
    poster = channels.RobotPoster(channel, robot.url, clock=clock, sleep=clock.sleep, wall=clock.wall)
    start = clock()
    result = deliver_posts(posts, {"ding": poster}, Store(example_root / ".coordxl" / "s.db"), TODAY, NOW)
    assert len(result.sent) == 25 and robot.refusals == [] and len(robot.accepted) == 25
    assert clock() - start >= 60  # the 21st waited for the minute to pass


def test_a_bad_signature_fails_that_channel_in_one_line_and_the_others_still_post(example_root, robots, clock):
    ding = robots("dingtalk", secret="the-real-one")
    wecom = robots("wecom")
    use_channels(example_root, block("ding", "dingtalk", True, items='["*"]') + block("wecom", "wecom", items='["*"]'))
    posters = posters_for(example_root, {"ding": ding, "wecom": wecom}, clock, {"ding": "a-wrong-one"})
    result = run_daily(example_root, TODAY, NOW, posters=posters)
    failed = {p.channel.name for p, _ in result.post_delivery.failed}
    assert failed == {"ding"} and ding.accepted == [] and len(ding.refusals) == 1  # not tried again and again
    why = result.post_delivery.broken["robot:ding"]
    assert "310000" in why and "channels.ding.secret_env" in why
    assert len(wecom.accepted) == 2  # one post per item with something to say (the closed one has nothing)


def test_a_robot_that_is_down_gets_its_post_on_the_next_run_once(example_root, robots, clock):
    robot = robots("wecom")
    url = robot.url
    robot.stop()
    use_channels(example_root, block("wecom", "wecom"))
    posters = posters_for(example_root, {"wecom": robot}, clock)
    first = run_daily(example_root, TODAY, NOW, posters=posters)
    assert len(first.post_delivery.failed) == 1 and not first.post_delivery.sent
    port = int(url.split(":")[2].split("/")[0])
    back = Robot("wecom", clock=clock)
    back.server.server_close()
    from http.server import ThreadingHTTPServer
    back.server = ThreadingHTTPServer(("127.0.0.1", port), back._handler())
    import threading
    back.thread = threading.Thread(target=back.server.serve_forever, daemon=True)
    back.start()
    try:
        second = run_daily(example_root, TODAY, NOW.replace(hour=10), posters=posters)
        assert len(second.post_delivery.sent) == 1 and len(back.accepted) == 1
        third = run_daily(example_root, TODAY, NOW.replace(hour=11), posters=posters)
        assert not third.post_delivery.sent and len(back.accepted) == 1
    finally:
        back.stop()


KILL = """
import datetime as dt, os, sys
from coordxl.run.daily import run_daily
from coordxl.send.channels import make_posters
from coordxl.state.layout import Layout
root = sys.argv[1]
layout = Layout.of(root)
posters = make_posters(layout.settings, layout.state, dt.date(2026, 8, 20), dict(os.environ))
run_daily(root, dt.date(2026, 8, 20), dt.datetime(2026, 8, 20, 9), layout=layout, posters=posters)
"""


def test_killed_while_posting_repeats_at_most_one_post_and_loses_none(example_root, robots, clock):
    robot = robots("dingtalk")
    robot.delay = 0.5  # each post takes half a second: the kill lands mid-batch
    use_channels(example_root, block("ding", "dingtalk", items='["*"]'))
    env = dict(os.environ, HOOK_DING=robot.url)
    proc = subprocess.Popen([sys.executable, "-c", KILL, str(example_root)], env=env)
    deadline = time.time() + 60
    while len(robot.accepted) < 1 and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 1 <= len(robot.accepted) <= 2  # the one in flight may still land
    robot.delay = 0
    posters = posters_for(example_root, {"ding": robot}, clock)
    run_daily(example_root, TODAY, NOW.replace(hour=10), posters=posters)
    titles = [b["markdown"]["title"] for b in robot.accepted]
    assert len(set(titles)) == 2 and len(titles) - len(set(titles)) <= 1  # both items' posts, at most one twice


def test_the_outbox_previews_the_exact_request_and_demo_says_where(example_root):
    run_daily(example_root, TODAY, NOW)
    [post] = (example_root / ".coordxl" / "outbox" / TODAY.isoformat()).glob("post-q3-launch-*.json")
    body = json.loads(post.read_text(encoding="utf-8"))
    assert body["msgtype"] == "markdown" and "Q3新品上市推广协调 · 进展同步 2026-08-20" in body["markdown"]["title"]
    assert "HOOK" not in post.read_text(encoding="utf-8") and "access_token" not in post.read_text(encoding="utf-8")


def test_an_item_naming_an_unknown_group_is_a_finding_and_a_send_channel_without_its_webhook_is_exit_2(example_root):
    use_channels(example_root, "")  # no channels: the launch item's 跟进群 q3-launch is unknown
    result = CliRunner().invoke(main, ["check", str(example_root), "--today", "2026-08-20", "--json", "--no-report"])
    found = [f for f in json.loads(result.output)["findings"] if f["code"] == "W-CHANNEL"]
    assert [(f["sheet"], f["message"]) for f in found] == [("需求单", "跟进群“q3-launch”未在 coordxl.toml 中设置，不会向它发送")]
    use_channels(example_root, block("q3-launch", "dingtalk"))
    daily = CliRunner().invoke(main, ["daily", str(example_root), "--today", "2026-08-20"], env={"HOOK_Q3_LAUNCH": ""})
    assert daily.exit_code == 2 and "HOOK_Q3_LAUNCH" in daily.output and len(daily.output.strip().splitlines()) == 1


def test_each_channel_transport_is_one_poster_entry():
    """A new way of posting is one entry of channels.POSTERS: each transport a channel may name has its entry."""
    from coordxl.send.channels import POSTERS
    from coordxl.settings import CHANNEL_TRANSPORTS

    assert set(POSTERS) == set(CHANNEL_TRANSPORTS)


def test_an_admin_group_gets_the_health_list_and_no_item_posts(example_root, robots, clock):
    ops = robots("feishu", keyword="运行状况")
    use_channels(example_root, '\n[channels.ops]\nkind = "feishu"\nwebhook_env = "HOOK_OPS"\nkeyword = "运行状况"\n'
                 'admin = true\ntransport = "send"\n')
    shutil.copy(Path(__file__).parent / "corpus" / "password_2002_40_xor.xls", example_root / "进行中" / "旧台账.xls")
    posters = posters_for(example_root, {"ops": ops}, clock)
    run_daily(example_root, TODAY, NOW, posters=posters)
    [post] = ops.accepted
    body = json.dumps(post, ensure_ascii=False)
    assert "【coordxl 运行状况】2026-08-20" in body and "旧台账.xls：无法读取工作簿：文件设置了打开密码" in body
    assert "Q3新品上市推广协调 · 进展同步" not in body  # item posts go to the items' groups, not here


def test_posts_keep_the_per_run_cap_like_mail_and_the_rest_go_next_run(example_root, robots, clock):
    robot = robots("wecom")
    channel = Channel("w", "wecom", "HOOK", transport="send")
    posts = [Post(channel, f"事项{n}", [Line([f"- 进展 {n}"])], "post-daily", TODAY, (f"进行中/{n}.xlsx",)).seal()
             for n in range(5)]
    poster = channels.RobotPoster(channel, robot.url, clock=clock, sleep=clock.sleep, wall=clock.wall)
    store = Store(example_root / ".coordxl" / "cap.db")
    first = deliver_posts(posts, {"w": poster}, store, TODAY, NOW, cap=3)
    assert len(first.sent) == 3 and len(first.held) == 2
    second = deliver_posts(posts, {"w": poster}, store, TODAY, NOW.replace(hour=10), cap=3)
    assert len(second.sent) == 2 and len(second.skipped) == 3 and len(robot.accepted) == 5


HOSTILE = ("包装设计定稿\n**以下任务已取消** ![x](http://evil.example/p.png) [点此](http://evil.example/a) "
           "<font color=red>急</font> <@all> `code` ~~删~~")


def test_a_hostile_cell_is_shown_as_text_on_every_platform_never_as_markup(example_root, robots, clock):
    """Whoever can edit a workbook must not make the robot post a link, an image, a heading, a mention of
    everyone or a forged line of its own: cell text is text on DingTalk, WeCom and Feishu alike."""
    import openpyxl
    path = example_root / "进行中" / "Q3新品上市推广.xlsx"
    wb = openpyxl.load_workbook(path)
    ws = wb["执行进度"]
    [cell] = [row[1] for row in ws.iter_rows(min_row=2) if row[0].value == "T03"]
    cell.value = HOSTILE
    wb.save(path)
    ding, wecom, feishu = robots("dingtalk"), robots("wecom"), robots("feishu")
    use_channels(example_root, block("ding", "dingtalk") + block("wecom", "wecom") + block("fei", "feishu"))
    run_daily(example_root, TODAY, NOW, posters=posters_for(example_root, {"ding": ding, "wecom": wecom,
                                                                           "fei": feishu}, clock))
    [d], [w], [f] = ding.accepted, wecom.accepted, feishu.accepted
    assert w["msgtype"] == "text"  # 冯雪 is known by mobile only: WeCom gets a text message, markup is moot
    for shown in (d["markdown"]["text"], w["text"]["content"]):
        lines = shown.splitlines()
        assert not any(line.lstrip("- ").startswith(("**以下", "以下")) for line in lines)  # no forged line
        assert "http://" not in shown  # no address the client makes a link of
        t03 = next(line for line in lines if "T03" in line)
        assert t03.startswith("- ") and "以下任务已取消" in t03 and "点此" in t03  # the text itself is all there
    markdown = d["markdown"]["text"]
    assert "](" not in markdown and "**以下" not in markdown  # no link, no image, no emphasis from the cell
    assert "<font" not in markdown and "<@all>" not in markdown and "`" not in markdown and "~~" not in markdown
    # WeCom markdown (everyone mentioned has a userid): the same cell text, inert there too
    person = channels.Person(name="冯雪", department="设计部", email="fx@corp.example", im_id="fengxue")
    post = Post(Channel("w", "wecom", "HOOK"), "Q3", [Line([f"T03 {HOSTILE} · ", person], "item")], "post-daily",
                TODAY).seal()
    [body] = bodies(post)
    content = body["markdown"]["content"]
    assert body["msgtype"] == "markdown" and "<@fengxue>" in content and "<@all>" not in content
    assert "](" not in content and "**以下" not in content and "<font" not in content and "http://" not in content
    assert len(content.splitlines()) == 3  # title, blank, the one task line
    texts = [e["text"] for p in f["content"]["post"]["zh_cn"]["content"] for e in p if e["tag"] == "text"]
    assert {e["tag"] for p in f["content"]["post"]["zh_cn"]["content"] for e in p} <= {"text", "at"}
    assert not any("\n" in t for t in texts)
    assert any("以下任务已取消" in t and "[点此](http：//evil.example/a)" in t for t in texts)  # no markup in Feishu
    assert not any("http://" in t for t in texts)


def test_a_hostile_cell_posted_by_the_daily_command_is_text_on_every_platform(example_root, robots):
    """The same hostile cell through `coordxl daily` itself, the robots' addresses from the environment as
    an administrator sets them: no link, image, emphasis, forged line or address reaches any group."""
    import openpyxl
    path = example_root / "进行中" / "Q3新品上市推广.xlsx"
    wb = openpyxl.load_workbook(path)
    [cell] = [row[1] for row in wb["执行进度"].iter_rows(min_row=2) if row[0].value == "T03"]
    cell.value = HOSTILE
    wb.save(path)
    made = {"ding": robots("dingtalk"), "wecom": robots("wecom"), "fei": robots("feishu")}
    use_channels(example_root, block("ding", "dingtalk") + block("wecom", "wecom") + block("fei", "feishu"))
    env = {f"HOOK_{name.upper()}": robot.url for name, robot in made.items()}
    result = CliRunner(env=env).invoke(main, ["daily", str(example_root), "--today", TODAY.isoformat()])
    assert "群消息：发送 3" in result.output, result.output
    [ding], [wecom], [fei] = (robot.accepted for robot in made.values())
    for posted in (ding, wecom, fei):
        shown = json.dumps(posted, ensure_ascii=False)
        assert "以下任务已取消" in shown and "http://" not in shown, shown  # the text is there, no live address
    markdown = ding["markdown"]["text"]  # DingTalk renders markdown: nothing of the cell is markup there
    assert "](" not in markdown and "**以下" not in markdown and "<font" not in markdown and "~~" not in markdown
    assert wecom["msgtype"] == "text"  # WeCom gets a text message (one owner is known by mobile only): inert
    assert not any(line.lstrip("- ").startswith(("以下", "**以下")) for line in wecom["text"]["content"].splitlines())
    assert {e["tag"] for p in fei["content"]["post"]["zh_cn"]["content"] for e in p} <= {"text", "at"}
