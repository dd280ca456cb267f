"""Benchmark composing and sending reminder digests: 5,000 tasks, 500 recipients, one SMTP connection.

    python benchmarks/bench_mail.py [--tasks 5000] [--people 500]

Builds the reminders in memory (no workbooks), renders one digest per person (Jinja2, HTML + text),
and sends them to a local aiosmtpd server on 127.0.0.1 through the SMTP transport, recording each in
a fresh state.db as the daily job does. Prints compose time, send time and mails per second.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import socket
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def main() -> None:
    import subprocess

    from coordxl.process.roster import Person, Roster
    from coordxl.send import notify
    from coordxl.settings import Settings
    from coordxl.state.store import Store

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=5000)
    ap.add_argument("--people", type=int, default=500)
    args = ap.parse_args()

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # the server in its own process, as a real one would be (in-process it competes for the GIL)
    server = subprocess.Popen([sys.executable, "-m", "aiosmtpd", "-n", "-c", "aiosmtpd.handlers.Sink",
                               "-l", f"127.0.0.1:{port}"])
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    rng = random.Random(3)
    today = dt.date(2026, 8, 20)
    people = [Person(f"员工{i:03d}", f"部门{i % 20}", f"user{i}@corp.example", manager=f"员工{i % 20:03d}")
              for i in range(args.people)]
    roster = Roster(people, [(f"部门{d}", f"员工{d:03d}") for d in range(20)])
    settings = Settings.defaults().replace(email__transport="smtp", email__host="127.0.0.1", email__port=port,
                                           email__security="none", reminders__max_mails_per_run=100_000)
    collector = notify.Collector(settings)
    for w in range(50):
        name = f"事项{w:02d}.xlsx"
        collector.items[name] = notify.ItemNote(name, name, f"事项{w:02d}", people[w].name, people[0].name)
    states = ["overdue", "due_today", "due_soon", "stale"]
    for i in range(args.tasks):
        state = rng.choice(states)
        collector.tasks.append(notify.TaskNote(
            f"事项{i % 50:02d}.xlsx", "", f"事项{i % 50:02d}", "执行进度", f"B{i + 3}", f"T{i:05d}", f"任务{i}",
            people[i % args.people].name, today, state, rng.randint(1, 9) if state != "due_today" else 0))
    t0 = time.perf_counter()
    digests, _ = notify.build_digests(collector, [], roster, settings)
    mails = [notify.render(d, today, settings, collector.items) for d in digests]
    compose = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "state.db")
        t1 = time.perf_counter()
        result = notify.deliver(mails, notify.SmtpTransport(settings, None), store, settings, today,
                                dt.datetime(2026, 8, 20, 9))
        send = time.perf_counter() - t1
    server.terminate()
    server.wait()
    print(f"{args.tasks} tasks, {len(mails)} digests: compose {compose:.2f} s; send over one connection and "
          f"record each in state.db {send:.2f} s ({len(result.sent) / send:.0f} mails/s); "
          f"sent {len(result.sent)}, failed {len(result.failed)}")


if __name__ == "__main__":
    main()
