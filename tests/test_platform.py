"""Where the jobs really run: consoles and log files in GBK or ASCII, Windows' process API, worker
processes started safely (coordxl/platform_support.py; its Windows branches run here with the Windows
behaviour injected)."""

import os
import subprocess
import sys
import threading

import pytest

from coordxl import platform_support
from coordxl.platform_support import pid_alive, process_context

TODAY = "2026-08-20"

# (arguments, exit code, what the output must say) — the same in every encoding
RUNS = [
    (["check", "{root}", "--today", TODAY, "--summary"], 1, "检查了 3 个工作簿"),
    (["daily", "{root}", "--today", TODAY, "--summary"], 0, "提醒邮件：发送 8"),
    (["weekly", "{root}", "--today", "2026-08-24"], 0, "周报：{root}"),
    (["status", "{root}"], 0, "日志：{root}"),
    (["demo", "--dir", "{demo}"], 0, "运行记录：{demo}"),
    (["--help"], 0, "用员工已在使用的 Excel 工作簿推进跨部门协作"),
]


def run_redirected(args: list[str], encoding: str, tmp_path) -> tuple[int, str, str]:
    """A command as Task Scheduler or `> daily.log` runs it: stdout and stderr are files in ``encoding``."""
    env = {**os.environ, "PYTHONIOENCODING": encoding, "COLUMNS": "200"}
    env.pop("COORDXL_LANG", None)
    with open(tmp_path / "out.txt", "wb") as out, open(tmp_path / "err.txt", "wb") as err:
        code = subprocess.run([sys.executable, "-m", "coordxl", *args], stdout=out, stderr=err, env=env,
                              timeout=300).returncode
    return code, (tmp_path / "out.txt").read_bytes().decode(encoding), (tmp_path / "err.txt").read_bytes().decode(encoding)


@pytest.mark.parametrize("encoding", ["gbk", "ascii", "utf-8"])
@pytest.mark.slow  # real coordxl processes, one per job or fault
def test_every_command_prints_in_the_console_s_encoding_and_exits_as_in_utf8(example_root, tmp_path, encoding):
    """GBK (a Chinese Windows redirecting output), ASCII (a C locale), UTF-8: the same exit codes, output
    that decodes in that encoding and says what it should — Chinese kept in GBK, backslash escapes in
    ASCII, a symbol GBK lacks as one it has (✘ → ×)."""
    demo = tmp_path / "demo"
    for args, expected_code, says in RUNS:
        args = [a.format(root=example_root, demo=demo) for a in args]
        code, out, err = run_redirected(args, encoding, tmp_path)
        assert code == expected_code, (args, err)
        assert "Traceback" not in err and "UnicodeEncodeError" not in err, err
        shown = out.encode("ascii").decode("unicode_escape") if encoding == "ascii" else out
        assert says.format(root=example_root, demo=demo) in shown, (args, out[-2000:])
        if encoding == "gbk" and args[0] == "check":
            assert "× 检查了 3 个工作簿" in out  # ✘ is not in GBK; × is
        if encoding == "ascii" and args[0] == "check":
            assert "x \\u68c0\\u67e5\\u4e86 3" in out


@pytest.mark.parametrize("encoding", ["gbk", "ascii"])
def test_json_output_is_exact_json_in_any_encoding(example_root, tmp_path, encoding):
    """Monitoring parses --json: never a stand-in symbol in it, whatever the encoding."""
    import json

    code, out, err = run_redirected(["check", str(example_root), "--today", TODAY, "--json"], encoding, tmp_path)
    assert code == 1, err
    doc = json.loads(out)
    assert doc["summary"]["errors"] == 4
    assert any(f["message"].startswith("纪要在会后") for f in doc["findings"])


def test_a_stand_in_is_the_first_the_encoding_has_else_an_escape():
    text = "✘ 完成 ✔ • ⚡"
    assert text.encode("gbk", platform_support.ERRORS).decode("gbk") == "× 完成 √ · \\u26a1"
    assert text.encode("ascii", platform_support.ERRORS).decode("ascii") == "x \\u5b8c\\u6210 v * \\u26a1"
    assert text.encode("utf-8", platform_support.ERRORS).decode("utf-8") == text


# --- is a process alive -------------------------------------------------------------------------


class FakeKernel32:
    """Windows' kernel32 as coordxl calls it: OpenProcess, GetExitCodeProcess, CloseHandle."""

    def __init__(self, processes: dict[int, int], denied: set[int] = frozenset()):
        self.processes = processes  # pid -> exit code (259: still running)
        self.denied = denied
        self.error = 0
        self.open_handles: set[int] = set()

    def OpenProcess(self, access, inherit, pid):  # noqa: N802 (the Windows API's names)
        assert access == platform_support.PROCESS_QUERY_LIMITED_INFORMATION
        if pid in self.denied:
            self.error = 5  # ERROR_ACCESS_DENIED
            return 0
        if pid not in self.processes:
            self.error = 87  # ERROR_INVALID_PARAMETER: no such process
            return 0
        handle = 1000 + pid
        self.open_handles.add(handle)
        return handle

    def GetExitCodeProcess(self, handle, code_ref):  # noqa: N802
        code_ref._obj.value = self.processes[handle - 1000]
        return 1

    def CloseHandle(self, handle):  # noqa: N802
        self.open_handles.remove(handle)
        return 1


def test_windows_liveness_asks_the_process_api_and_never_signals():
    """On Windows os.kill(pid, 0) sends Ctrl-C to a process group: the liveness check must never call it."""
    def no_kill(*args):
        raise AssertionError("os.kill called on the Windows path")

    k = FakeKernel32({100: 259, 200: 0, 300: 1}, denied={400})
    alive = {pid: pid_alive(pid, "win32", k, lambda: k.error, kill=no_kill) for pid in (100, 200, 300, 400, 500)}
    assert alive == {100: True, 200: False, 300: False, 400: True, 500: False}
    assert k.open_handles == set()  # every handle opened was closed


def test_posix_liveness_a_process_of_another_user_is_alive_a_gone_one_is_not():
    def kill_of(error):
        def kill(pid, sig):
            assert sig == 0
            if error:
                raise error
        return kill

    assert pid_alive(42, "linux", kill=kill_of(None)) is True
    assert pid_alive(42, "darwin", kill=kill_of(PermissionError())) is True
    assert pid_alive(42, "linux", kill=kill_of(ProcessLookupError())) is False
    assert pid_alive(2**80, "linux") is False
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert pid_alive(os.getpid()) and not pid_alive(child.pid)


def test_no_os_kill_with_signal_0_outside_the_platform_module():
    """One liveness test for every lock, claim and status line: the portable one."""
    import re
    from pathlib import Path

    package = Path(platform_support.__file__).parent
    offenders = [p.name for p in package.rglob("*.py") if p.name != "platform_support.py"
                 and re.search(r"os\.kill\(\s*[\w.\[\]\"']+\s*,\s*0\s*\)", p.read_text(encoding="utf-8"))]
    assert offenders == []


# --- worker processes -------------------------------------------------------------------------------


@pytest.mark.parametrize("platform, threads, methods, expected", [
    ("linux", 1, ["fork", "spawn", "forkserver"], "fork"),
    ("linux", 2, ["fork", "spawn", "forkserver"], "forkserver"),  # a thread runs: never fork
    ("darwin", 1, ["fork", "spawn", "forkserver"], "spawn"),  # macOS: fork is unsafe
    ("win32", 1, ["spawn"], "spawn"),
])
def test_workers_fork_only_where_it_is_safe(platform, threads, methods, expected):
    assert process_context(("coordxl.xlsx.writer",), platform, threads, methods).get_start_method() == expected


def test_a_running_thread_keeps_workers_from_forking():
    stop = threading.Event()
    beat = threading.Thread(target=stop.wait)
    beat.start()
    try:
        method = process_context().get_start_method()
    finally:
        stop.set()
        beat.join()
    assert method in ("forkserver", "spawn")


def test_the_lock_s_heartbeat_stops_while_workers_fork_and_resumes_after(example_root):
    from coordxl.state.layout import Layout
    from coordxl.state.lock import heartbeats_paused, job_lock

    def beating() -> bool:
        return any(t.name == "coordxl-lock-heartbeat" for t in threading.enumerate())

    layout = Layout.of(example_root)
    with job_lock(layout, "daily"):
        assert beating()
        lock_file = layout.state / "job.lock"
        os.utime(lock_file, (0, 0))
        with heartbeats_paused():
            assert not beating()
        assert beating() and lock_file.stat().st_mtime > 0  # renewed as the pause ended
    assert not beating() and not lock_file.exists()


# --- taking over a stale lock ---------------------------------------------------------------------


def _race_for_the_lock(state, barrier, held, results) -> None:
    from coordxl.state.lock import FolderLock

    barrier.wait()
    results.put(FolderLock(state, "job.lock").try_acquire("daily") is None)
    held.wait()  # keep it until both have tried: a winner that let go would let the other win fairly


def test_two_processes_taking_over_a_stale_lock_at_once_never_both_win(tmp_path):
    """A lock left by a killed run (its PID is gone): two runs that find it together, one takes it."""
    import json
    import multiprocessing

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
    lock_file = tmp_path / "job.lock"
    for round_ in range(40):  # the old unlink + re-create let both win within about 20 rounds here
        lock_file.write_text(json.dumps({"pid": dead.pid, "host": __import__("socket").gethostname(),
                                         "job": "daily", "since": "2026-08-20T09:00:00"}), encoding="utf-8")
        barrier, held, results = context.Barrier(2), context.Barrier(2), context.Queue()
        racers = [context.Process(target=_race_for_the_lock, args=(tmp_path, barrier, held, results))
                  for _ in range(2)]
        for p in racers:
            p.start()
        won = [results.get(timeout=60) for _ in racers]
        for p in racers:
            p.join(timeout=60)
        assert sorted(won) == [False, True], f"round {round_}: {won}"
        assert json.loads(lock_file.read_text(encoding="utf-8"))["pid"] in [p.pid for p in racers]
        assert sorted(x.name for x in tmp_path.iterdir()) == ["job.lock"]  # no token or temp left behind


# --- a lock held on another machine: judged by its owner's heartbeat record, never by comparing clocks ----

def _foreign_lock(path, beat: int, mtime_offset: float) -> None:
    """pc-b's run holds the lock; the file's mtime is pc-b's (or the file server's) clock, off by
    ``mtime_offset`` seconds from this machine's."""
    import json
    import time

    path.write_text(json.dumps({"pid": 4242, "host": "pc-b", "job": "daily", "since": "2026-08-20T09:00:00",
                                "beat": beat}), encoding="utf-8")
    os.utime(path, (time.time() + mtime_offset,) * 2)


def test_a_live_run_on_another_machine_is_never_taken_over_whatever_its_clock(tmp_path):
    """pc-b's clock is two hours behind, so its lock file looks two hours old: while its record keeps
    changing (its heartbeat), no run here takes the lock."""
    import datetime as dt
    import time

    from coordxl.state.lock import FolderLock

    path = tmp_path / "job.lock"
    _foreign_lock(path, beat=1, mtime_offset=-7200)
    mine = dict(stale_after=dt.timedelta(seconds=0.3), seen=tmp_path / "seen.json")
    assert FolderLock(tmp_path, **mine).try_acquire("daily")["host"] == "pc-b"
    for beat in (2, 3):
        time.sleep(0.4)
        _foreign_lock(path, beat=beat, mtime_offset=-7200)  # pc-b's heartbeat
        assert FolderLock(tmp_path, **mine).try_acquire("daily")["host"] == "pc-b"


def test_a_run_on_another_machine_that_stopped_beating_is_taken_over_by_this_machine_s_clock(tmp_path):
    """pc-b died mid-run and its clock is an hour ahead (its lock file looks fresh for an hour): a run here
    takes the lock once this machine has seen the same record for stale_after, counted on its own clock,
    across runs (the next run remembers what the last one saw)."""
    import datetime as dt
    import json
    import time

    from coordxl.state.lock import FolderLock

    path = tmp_path / "job.lock"
    _foreign_lock(path, beat=7, mtime_offset=3600)
    mine = dict(stale_after=dt.timedelta(seconds=0.3), seen=tmp_path / "seen.json")
    assert FolderLock(tmp_path, **mine).try_acquire("daily")["host"] == "pc-b"  # first seen: alive
    time.sleep(0.4)
    assert FolderLock(tmp_path, **mine).try_acquire("daily") is None  # the same record 0.4 s later: taken
    assert json.loads(path.read_text(encoding="utf-8"))["pid"] == os.getpid()


def test_the_holder_s_heartbeat_counts_up_and_never_writes_over_another_run_s_lock(tmp_path):
    import json

    from coordxl.state.lock import FolderLock

    lock = FolderLock(tmp_path)
    assert lock.try_acquire("daily") is None
    lock.heartbeat()
    lock.heartbeat()
    assert json.loads((tmp_path / "job.lock").read_text(encoding="utf-8"))["beat"] == 2
    _foreign_lock(tmp_path / "job.lock", beat=1, mtime_offset=0)  # taken over by pc-b meanwhile
    lock.heartbeat()
    assert json.loads((tmp_path / "job.lock").read_text(encoding="utf-8"))["host"] == "pc-b"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["job.lock"]
