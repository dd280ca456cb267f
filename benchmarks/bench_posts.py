"""Group posts: how fast 200 items' daily posts are composed, and how long sending them takes.

    python benchmarks/bench_posts.py [--items 200] [--tasks 30]

Composes one daily post per item (30 tasks each, a third overdue, @-mentions) for DingTalk, WeCom and
Feishu (the request bodies, split within each platform's limit), then sends all 200 DingTalk posts to
local fake robots (real HTTP on 127.0.0.1, the fakes from tests/robot_fakes.py): once to 200 robots (one
group per item: no waiting) and once to a single robot, where the 20-a-minute rule makes it wait; that
wait is simulated on the fake clock and reported as the real time it would take.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from robot_fakes import FakeClock, Robot  # noqa: E402

from coordxl.process.roster import Person, Roster  # noqa: E402
from coordxl.send import channels  # noqa: E402
from coordxl.settings import Channel, Settings  # noqa: E402
from coordxl.state.store import Store  # noqa: E402

TODAY = dt.date(2026, 8, 20)


def boards(items: int, tasks: int) -> list:
    out = []
    for i in range(items):
        board = channels.Board(f"进行中/事项{i:03d}.xlsx", f"事项{i:03d}", None)
        for t in range(tasks):
            state = ("overdue", "due_today", "due_soon", "blocked")[t % 4] if t % 3 else "overdue"
            board.tasks.append((state, t % 9 + 1, f"T{t:02d}", f"任务{t}：准备材料与对接", (f"员工{t % 8}",), TODAY))
        out.append(board)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--tasks", type=int, default=30)
    args = parser.parse_args()
    people = [Person(f"员工{n}", "市场部", f"e{n}@corp.example", mobile=f"1380013800{n}", im_id=f"u{n}")
              for n in range(8)]
    roster = Roster(people, [("市场部", "")])
    settings = Settings.defaults()
    items = boards(args.items, args.tasks)
    for kind in ("dingtalk", "wecom", "feishu"):
        channel = Channel(kind, kind, "HOOK", keyword="协调")
        start = time.perf_counter()
        posts = [channels.daily_post(channel, b, {}, [], [], roster, settings, TODAY) for b in items]
        parts = sum(len(channels.bodies(p)) for p in posts)
        took = time.perf_counter() - start
        print(f"compose {kind:8}: {len(posts)} posts ({parts} requests) in {took:.3f} s = {len(posts) / took:,.0f} posts/s")
    folder = Path(tempfile.mkdtemp())
    for label, robots in (("200 groups, one post each", args.items), ("one group, 200 posts", 1)):
        clock = FakeClock()
        fakes = [Robot("dingtalk", clock=clock).start() for _ in range(robots)]
        try:
            chans = [Channel(f"g{n}", "dingtalk", "HOOK", transport="send") for n in range(robots)]
            posts = [channels.daily_post(chans[n % robots], b, {}, [], [], roster, settings, TODAY)
                     for n, b in enumerate(items)]
            posters = {c.name: channels.RobotPoster(c, fakes[n].url, clock=clock, sleep=clock.sleep, wall=clock.wall)
                       for n, c in enumerate(chans)}
            store = Store(folder / f"{robots}.db")
            start, simulated = time.perf_counter(), clock()
            result = channels.deliver_posts(posts, posters, store, TODAY, dt.datetime(2026, 8, 20, 9))
            real = time.perf_counter() - start
            waited = clock() - simulated
            accepted = sum(len(f.accepted) for f in fakes)
            refused = sum(len(f.refusals) for f in fakes)
            print(f"send {label:26}: {len(result.sent)} posts ({accepted} requests, {refused} refused) "
                  f"in {real:.2f} s of work + {waited / 60:.1f} min of waiting for the rate limit")
        finally:
            for f in fakes:
                f.stop()


if __name__ == "__main__":
    main()
