"""state.db stays bounded: daily snapshots for a few weeks, then one a week, none after two years; each
task's first deadline survives the thinning (plan against actual)."""

import datetime as dt
import sqlite3

from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from coordxl.cli import main
from coordxl.state.store import Store
from coordxl.state.store import workbook_id as store_id

START = dt.date(2026, 1, 1)


def snapshot_rows(tasks: int, day: dt.date) -> list[tuple]:
    return [(f"k{n}", f"T{n}", f"任务{n}的说明文字", "市场部", "张伟", (day + dt.timedelta(days=n % 30)).isoformat(),
             None, "进行中", "open", n % 7) for n in range(tasks)]


def test_a_year_of_daily_snapshots_keeps_eight_weeks_daily_then_one_a_week(tmp_path):
    """365 daily runs of 500 tasks: the snapshots kept are the last 8 weeks' days plus one day per older
    week (about 100 days, not 365), so the file stops growing; a task's first deadline is still known.
    Scaled to 10,000 tasks, the year's file stays under 200 MB."""
    store = Store(tmp_path / "state.db")
    day = START
    sizes = {}
    for _ in range(365):
        store.save_snapshot(day, "进行中/促销.xlsx", snapshot_rows(500, day))
        store.prune_snapshots(day, daily_weeks=8, keep_weeks=104)
        if day.day == 1:
            store.db().execute("PRAGMA wal_checkpoint(TRUNCATE)")
            sizes[day.month] = (tmp_path / "state.db").stat().st_size
        day += dt.timedelta(days=1)
    db = store.db()
    days = [dt.date.fromisoformat(r[0]) for r in db.execute("SELECT DISTINCT day FROM snapshots ORDER BY day")]
    last = day - dt.timedelta(days=1)
    recent = [d for d in days if d >= last - dt.timedelta(weeks=8)]
    older = [d for d in days if d < last - dt.timedelta(weeks=8)]
    assert len(recent) == 8 * 7 + 1  # every day of the last eight weeks
    assert len({d.isocalendar()[:2] for d in older}) == len(older)  # one a week before that
    assert len(days) <= 110
    a_year_unthinned = sizes[2] / 31 * 365  # January's 31 days, all kept, scaled to a year
    assert sizes[12] < a_year_unthinned / 3  # freed pages are reused: the file holds ~100 days, not 365
    # the size grows with the tasks and nothing else (benchmarks/bench_state.py --tasks 10000 measures
    # 180.8 MB after 365 days): a year of daily runs at 10,000 tasks stays under 200 MB
    assert sizes[12] * (10_000 / 500) < 200 * 2**20
    # the deadline T1 had on its first day, 2026-01-02, long thinned out, is still the plan
    assert store.first_due_dates("进行中/促销.xlsx")["k1"] == dt.date(2026, 1, 2)


def test_snapshots_older_than_keep_weeks_go_and_a_first_deadline_stays(tmp_path):
    store = Store(tmp_path / "state.db")
    store.save_snapshot(dt.date(2024, 3, 4), "进行中/旧.xlsx", [("k1", "T1", "旧任务", "", "", "2024-03-20", None,
                                                                "", "open", 0)])
    store.save_snapshot(dt.date(2024, 3, 11), "进行中/旧.xlsx", [("k1", "T1", "旧任务", "", "", "2024-04-30", None,
                                                                 "", "open", 0)])
    assert store.prune_snapshots(dt.date(2026, 12, 3), daily_weeks=8, keep_weeks=104) == 2
    assert not store.db().execute("SELECT COUNT(*) FROM snapshots").fetchone()[0]
    assert store.first_due_dates("进行中/旧.xlsx") == {"k1": dt.date(2024, 3, 20)}


def test_the_daily_job_thins_old_snapshots_and_status_shows_the_size(example_root):
    assert CliRunner().invoke(main, ["daily", str(example_root), "--today", "2026-06-01", "--dry-run"]).exit_code in (0, 1)
    store = Store(example_root / ".coordxl" / "state.db")
    for n in range(14):  # two weeks of daily snapshots, long ago
        store.save_snapshot(dt.date(2026, 5, 4) + dt.timedelta(days=n), "进行中/Q3新品上市推广.xlsx",
                            snapshot_rows(3, dt.date(2026, 5, 4)))
    store.close()
    CliRunner().invoke(main, ["daily", str(example_root), "--today", "2026-08-20"])
    db = sqlite3.connect(example_root / ".coordxl" / "state.db")
    old = [r[0] for r in db.execute("SELECT DISTINCT day FROM snapshots WHERE day < '2026-06-01' ORDER BY day")]
    assert old == ["2026-05-10", "2026-05-17"]  # each old week's last day
    status = CliRunner().invoke(main, ["status", str(example_root)])
    assert "state.db：" in status.output and " MB" in status.output


def test_a_lost_ledger_in_a_folder_that_has_run_sends_nothing_until_the_admin_confirms(example_root):
    """state.db deleted (or emptied) after a day's mails went out: a fresh ledger would send them all
    again, so the run stops in one line, status says so, and --new-ledger is the admin's confirmation."""
    def daily(*extra):
        return CliRunner().invoke(main, ["daily", str(example_root), "--today", "2026-08-20", *extra])

    assert daily().exit_code in (0, 1)
    outbox = example_root / ".coordxl" / "outbox" / "2026-08-20"
    sent = sorted(p.name for p in outbox.iterdir())
    for emptied in (False, True):
        db = example_root / ".coordxl" / "state.db"
        for extra in ("-wal", "-shm"):
            db.with_name(db.name + extra).unlink(missing_ok=True)
        db.unlink(missing_ok=True)
        if emptied:
            db.write_bytes(b"")
        stopped = daily()
        assert stopped.exit_code == 2 and "未发送任何邮件" in stopped.output and "--new-ledger" in stopped.output
        assert len(stopped.output.strip().splitlines()) == 1
        assert sorted(p.name for p in outbox.iterdir()) == sent  # nothing sent again
        status = CliRunner().invoke(main, ["status", str(example_root)])
        assert "state.db" in status.output and "不存在或为空" in status.output
    confirmed = daily("--new-ledger")
    assert confirmed.exit_code in (0, 1) and "已按 --new-ledger 开始新的记录" in confirmed.output.replace("\n", "")
    assert daily().exit_code in (0, 1)  # from then on, as always


def _changes_by_hand(before: dict, now: dict) -> list[tuple]:
    """What the group post's "今日变化" must list, worked out from the two days' rows in Python."""
    out = []
    for (workbook, key), row in sorted(now.items()):
        old = before.get((workbook, key))
        if old is None:
            continue
        if row["state"] == "done" and old["state"] != "done":
            out.append((workbook, "newly_done", row["task_id"], row["task"]))
        elif row["state"] == "overdue" and old["state"] != "overdue":
            out.append((workbook, "newly_overdue", row["task_id"], row["task"]))
        elif row["due"] and old["due"] and row["due"] > old["due"]:
            out.append((workbook, "moved", row["task_id"], row["task"]))
    return out


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["进行中/甲.xlsx", "进行中/乙.xlsx"]), st.integers(0, 30),
                          st.sampled_from(["open", "overdue", "done", "due_soon", "paused"]),
                          st.sampled_from(["open", "overdue", "done", "due_soon", "paused"]),
                          st.sampled_from([None, "", "2026-08-07", "2026-08-14", "2026-09-01"]),
                          st.sampled_from([None, "", "2026-08-07", "2026-08-14", "2026-09-01"]),
                          st.booleans()), max_size=40))
def test_the_day_s_changes_are_the_ones_the_two_snapshots_show(tmp_path_factory, tasks):
    """Done, newly overdue and moved deadlines come from comparing two days' snapshots in state.db: the same
    list, in the same order, as comparing them task by task, whatever the states, gaps and new tasks."""
    store = Store(tmp_path_factory.mktemp("db") / "state.db")
    yesterday, today = dt.date(2026, 8, 19), dt.date(2026, 8, 20)
    days = {yesterday: {}, today: {}}
    for workbook, n, old_state, new_state, old_due, new_due, existed in tasks:
        for day, state, due, present in ((yesterday, old_state, old_due, existed), (today, new_state, new_due, True)):
            if present:
                days[day].setdefault(workbook, {})[f"k{n}"] = (f"k{n}", f"T{n}", f"任务{n}", "市场部", "张伟", due,
                                                               None, "进行中", state, 0)
    rows = {}
    for day, books in days.items():
        rows[day] = {}
        for workbook, by_key in books.items():
            store.save_snapshot(day, workbook, list(by_key.values()))
            for key, r in by_key.items():
                rows[day][(workbook, key)] = {"task_id": r[1], "task": r[2], "due": r[5], "state": r[8]}
    want = _changes_by_hand(rows[yesterday], rows[today]) if rows[yesterday] else []
    assert store.changes(today) == want


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["进行中/甲.xlsx", "进行中/乙.xlsx"]), st.integers(0, 30),
                          st.sampled_from(["open", "overdue", "done", "cancelled", "invalid"]),
                          st.sampled_from(["open", "overdue", "done", "cancelled", "invalid"]),
                          st.sampled_from([None, "", "2026-08-07", "2026-08-14", "2026-08-19", "2026-09-01"]),
                          st.sampled_from([None, "", "2026-08-07", "2026-08-14", "2026-08-19", "2026-09-01"]),
                          st.booleans()), max_size=40))
def test_the_weekly_s_comparisons_in_state_db_are_the_ones_the_snapshots_show(tmp_path_factory, tasks):
    """The decision page's week-over-week figures (newly overdue, deadlines moved later, last week's
    overdue and invalid tasks, last week's plan for this week) come from state.db without loading a
    snapshot: the same tasks, in the same order, as comparing the two weeks' rows task by task."""
    store = Store(tmp_path_factory.mktemp("db") / "state.db")
    last, this = dt.date(2026, 8, 14), dt.date(2026, 8, 21)
    rows: dict = {last: {}, this: {}}
    for workbook, n, old_state, new_state, old_due, new_due, existed in tasks:
        for day, state, due, present in ((last, old_state, old_due, existed), (this, new_state, new_due, True)):
            if present:
                rows[day][(store_id(workbook), f"k{n}")] = (f"k{n}", f"T{n}", "任务", f"部门{n % 3}", "张伟", due, None,
                                                             "进行中", state, 0)
    for day, by_key in rows.items():
        for workbook in {w for w, _ in by_key}:
            store.save_snapshot(day, workbook, [r for (w, _), r in sorted(by_key.items()) if w == workbook])
    new, old = store.snapshot_day(this), store.snapshot_day(last)
    want = []
    for (workbook, key), row in sorted(rows[this].items()):
        before = rows[last].get((workbook, key))
        if before is not None:
            newly = row[8] == "overdue" and before[8] != "overdue"
            moved = bool(row[5] and before[5] and row[5] > before[5])
            if newly or moved:
                want.append((workbook, key, row[3], newly, moved))
    assert store.compared(new, old) == want
    for state in ("overdue", "invalid"):
        assert store.in_state(old, state) == [(w, k, r[3]) for (w, k), r in sorted(rows[last].items()) if r[8] == state]
    monday, sunday = dt.date(2026, 8, 17), dt.date(2026, 8, 23)
    assert store.planned(old, monday, sunday) == [
        (w, k, r[3], r[5]) for (w, k), r in sorted(rows[last].items())
        if r[5] and monday <= dt.date.fromisoformat(r[5]) <= sunday and r[8] not in ("done", "cancelled")]
    for workbook in ("进行中/甲.xlsx", "进行中/乙.xlsx"):
        assert store.task_states(old, workbook) == {k: (r[8], r[5]) for (w, k), r in rows[last].items()
                                                    if w == store_id(workbook)}
