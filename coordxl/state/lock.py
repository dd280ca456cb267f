"""One job at a time per folder: a lock file in the folder's .coordxl/ (on the share) holding the owner's PID, host and start time.

The scheduler holds ``scheduler.lock`` while it runs; every job that writes or sends (daily, weekly,
archive) holds ``job.lock`` while it works, whether the scheduler, cron or a person started it, so
two runs on one folder can never both send the same reminders.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import secrets
import threading
import time
from pathlib import Path
from typing import Iterator

from ..errors import CoordxlError, StateError
from ..platform_support import host_name, pid_alive

log = logging.getLogger(__name__)

WRITING_GRACE = 10.0  # seconds a lock file may stay empty while its owner writes it


class LockHeld(CoordxlError):
    """Another process holds the folder's lock."""

    exit_code = 2


class FolderLock:
    """.coordxl/<name> holding the owner's PID and host; a dead owner's lock is taken over.

    On this machine the owner's PID says whether it lives. An owner on another machine renews its record
    (``beat`` counts up, :meth:`heartbeat`); it is judged dead when this machine has seen the very same
    record for ``stale_after`` by its own clock. No two machines' clocks are ever compared (a file's mtime
    is the other PC's or the file server's time). ``seen``: a file on this machine that keeps what was seen
    across runs; without it, only for the life of this object.
    """

    what = "run"

    def __init__(self, state_dir: Path, name: str = "job.lock", stale_after: dt.timedelta = dt.timedelta(minutes=10),
                 what: str | None = None, seen: Path | None = None):
        self.path = Path(state_dir) / name
        self.stale_after = stale_after
        self.what = what or self.what
        self.mine = {"pid": os.getpid(), "host": host_name()}
        self.seen_file = seen
        self._seen: dict[str, list] = {}

    def holder(self) -> dict | None:
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def _stale(self, holder: dict | None) -> bool:
        if holder is None:
            # empty or half written: its owner may be writing it this very moment (create, then write)
            try:
                return time.time() - self.path.stat().st_mtime > WRITING_GRACE
            except FileNotFoundError:
                return True
        if holder.get("host") == self.mine["host"]:
            return not pid_alive(int(holder.get("pid", 0)))
        return self._unchanged_for(holder) >= self.stale_after.total_seconds()

    def _unchanged_for(self, holder: dict) -> float:
        """Seconds, by this machine's clock, for which this machine has seen exactly this record."""
        record, now = json.dumps(holder, sort_keys=True), time.time()
        seen = self._read_seen()
        first = seen.get(str(self.path))
        if first is None or first[0] != record or first[1] > now:  # a new record (or this clock went back)
            seen[str(self.path)] = [record, now]
            self._write_seen(seen)
            return 0.0
        return now - first[1]

    def _read_seen(self) -> dict:
        if self.seen_file is None:
            return self._seen
        try:
            found = json.loads(self.seen_file.read_text(encoding="utf-8"))
            return found if isinstance(found, dict) else {}
        except (OSError, ValueError):
            return {}

    def _write_seen(self, seen: dict) -> None:
        self._seen = seen
        if self.seen_file is not None:
            with contextlib.suppress(OSError):
                fresh = self.seen_file.with_name(f"{self.seen_file.name}.{os.getpid()}.tmp")
                fresh.write_text(json.dumps(seen), encoding="utf-8")
                os.replace(fresh, self.seen_file)

    def try_acquire(self, job: str = "") -> dict | None:
        """Take the lock; None when taken, else who holds it."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StateError(key="state.unusable", path=self.path.parent, error=exc) from None
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = self.holder()
                if not self._stale(holder):
                    return holder or {}
                taken = self._take_over(job, holder)
                if taken is not False:
                    return taken
                continue
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    json.dump(self._record(job), fh)
            except BaseException:  # a full disk: no empty lock left for the next run to judge
                with contextlib.suppress(OSError):
                    self.path.unlink()
                raise
            return None
        return self.holder() or {}

    def _record(self, job: str) -> dict:
        return {**self.mine, "job": job, "since": dt.datetime.now().isoformat(timespec="seconds")}

    def _take_over(self, job: str, judged: dict | None) -> dict | None | bool:
        """Replace a stale lock, atomically: only the process that creates the take-over token may, and it
        replaces the lock file in one rename after seeing it is still the stale one it judged. (Unlinking
        and re-creating let two takers both win: the second unlinked the first one's fresh lock.)

        None: taken. A dict: someone else is taking it over (or took it). False: the lock is gone, retry.
        """
        token = self.path.with_name(self.path.name + ".takeover")
        try:
            fd = os.open(token, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            with contextlib.suppress(FileNotFoundError):
                if time.time() - token.stat().st_mtime > WRITING_GRACE:  # its taker died halfway
                    token.unlink()
            return self.holder() or judged or {}
        os.close(fd)
        try:
            current = self.holder()
            if not self.path.exists():
                return False
            if current != judged or not self._stale(current):
                return current or {}  # taken over (or renewed) since it was judged: not ours to replace
            log.warning("taking over a stale lock %s from %s", self.path.name, judged)
            fresh = self.path.with_name(f"{self.path.name}.{os.getpid()}.{secrets.token_hex(4)}")
            fresh.write_text(json.dumps(self._record(job)), encoding="utf-8")
            os.replace(fresh, self.path)
            return None
        finally:
            with contextlib.suppress(FileNotFoundError):
                token.unlink()

    def acquire(self, job: str = "", wait: float = 0.0, poll: float = 0.5) -> None:
        """Take the lock, waiting up to ``wait`` seconds for its holder to finish."""
        deadline = time.monotonic() + wait
        while True:
            holder = self.try_acquire(job)
            if holder is None:
                return
            if time.monotonic() >= deadline:
                raise LockHeld(key="state.lock_held", what=holder.get("job") or self.what, pid=holder.get("pid"),
                               host=holder.get("host"), since=holder.get("since"), path=self.path)
            time.sleep(poll)

    def held(self) -> bool:
        """Does a live process hold this lock now?"""
        if not self.path.exists():
            return False
        return not self._stale(self.holder())

    def heartbeat(self) -> None:
        """Renew the record: ``beat`` counts up, so another machine sees its owner is alive without
        comparing clocks (the file is replaced whole, never seen half written)."""
        holder = self.holder()
        if not holder or holder.get("pid") != self.mine["pid"] or holder.get("host") != self.mine["host"]:
            return  # not ours (any more): never write over another run's lock
        holder["beat"] = int(holder.get("beat", 0)) + 1
        with contextlib.suppress(OSError):
            fresh = self.path.with_name(f"{self.path.name}.{os.getpid()}.{secrets.token_hex(4)}")
            fresh.write_text(json.dumps(holder), encoding="utf-8")
            os.replace(fresh, self.path)

    def release(self) -> None:
        holder = self.holder()
        if holder and holder.get("pid") == self.mine["pid"] and holder.get("host") == self.mine["host"]:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()


@contextlib.contextmanager
def job_lock(layout, job: str) -> Iterator[None]:
    """Hold the folder's job lock for one run of ``job`` (waits up to ``limits.lock_wait_seconds``)."""
    lock = FolderLock(layout.shared, "job.lock", seen=layout.state / "locks-seen.json")
    lock.acquire(job, wait=layout.settings["limits.lock_wait_seconds"])
    # a long run renews the file, so another machine never takes the lock over as stale
    beat = Heartbeat(lock)
    beat.start()
    try:
        yield
    finally:
        beat.stop()
        lock.release()


class Heartbeat:
    """A thread renewing a lock file every ``every`` seconds; :func:`heartbeats_paused` stops it for a moment."""

    running: list["Heartbeat"] = []  # this process's heartbeats

    def __init__(self, lock: FolderLock, every: float = 60.0):
        self.lock, self.every = lock, every
        self.thread: threading.Thread | None = None
        self.stopping = threading.Event()

    def start(self) -> None:
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._beat, args=(self.stopping,), name="coordxl-lock-heartbeat",
                                       daemon=True)
        self.thread.start()
        Heartbeat.running.append(self)

    def stop(self) -> None:
        self.stopping.set()
        if self.thread is not None:
            self.thread.join()
        self.thread = None
        with contextlib.suppress(ValueError):
            Heartbeat.running.remove(self)

    def _beat(self, stopping: threading.Event) -> None:
        while not stopping.wait(self.every):
            self.lock.heartbeat()


@contextlib.contextmanager
def heartbeats_paused() -> Iterator[None]:
    """No heartbeat thread runs inside this block: worker processes start here by fork, which is unsafe
    while another thread runs (Python 3.12+ warns). The lock is renewed as the block ends."""
    paused = list(Heartbeat.running)
    for beat in paused:
        beat.stop()
    try:
        yield
    finally:
        for beat in paused:
            beat.lock.heartbeat()
            beat.start()
