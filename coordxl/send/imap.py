"""The dedicated replies mailbox over IMAP (imapclient): new mail since the checkpoint, marked when read.

imapclient sends the IMAP ID command, which NetEase 163/126 and some Chinese servers require before
SELECT ("Unsafe Login"). The checkpoint is (UIDVALIDITY, last UID) in state.db; a changed
UIDVALIDITY reads the folder again from the start, and the Message-ID ledger keeps that harmless.
"""

from __future__ import annotations

import logging

from ..messages import text
from ..settings import Settings
from .notify import login_password

log = logging.getLogger(__name__)

SEEN_FLAG = b"$CoordxlRead"
IDLE_SLICE = 15.0  # seconds of IDLE between two looks for mail IDLE cannot announce


class Mailbox:
    """One IMAP session on ``replies.folder``."""

    def __init__(self, settings: Settings, password: str | None):
        self.settings, self.password = settings, password
        self.client = None
        self.uid_validity = 0
        self._folders: set[str] = set()

    def open(self) -> None:
        from imapclient import IMAPClient

        from .notify import tls_context

        s = self.settings
        security = s["replies.security"]
        tls = tls_context(s["email.ca_file"]) if security in ("ssl", "starttls") else None
        self.client = IMAPClient(s["replies.host"], port=s["replies.port"], ssl=security == "ssl",
                                 ssl_context=tls if security == "ssl" else None, timeout=s["email.timeout_seconds"])
        if security == "starttls":
            self.client.starttls(tls)
        try:
            self.client.id_({"name": "coordxl", "vendor": "coordxl"})
        except Exception:  # a server without the ID extension
            pass
        self.client.login(s["replies.user"], self.password or "")
        selected = self.client.select_folder(s["replies.folder"])
        self.uid_validity = int(selected.get(b"UIDVALIDITY", 0))

    def new_messages(self, last_uid: int) -> list[tuple[int, bytes]]:
        """(uid, raw message) of every mail after ``last_uid``, oldest first; read without marking it \\Seen."""
        uids = sorted(u for u in self.client.search(["UID", f"{last_uid + 1}:*"]) if u > last_uid)
        out = []
        for start in range(0, len(uids), 50):
            chunk = uids[start:start + 50]
            fetched = self.client.fetch(chunk, [b"BODY.PEEK[]"])
            out += [(u, fetched[u][b"BODY[]"]) for u in chunk if u in fetched]
        return out

    def mark(self, uid: int, handled: bool = True) -> None:
        """Processed: flagged (\\Seen and a keyword), then moved to the folder that says how it went
        (replies.handled / replies.unhandled: a refused or unread mail waits there for a person); where the
        server cannot move, it stays flagged in place."""
        try:
            self.client.add_flags([uid], [b"\\Seen", SEEN_FLAG])
        except Exception as exc:  # a server without keywords: \\Seen alone
            log.info("could not flag %s: %s", uid, exc)
        folder = text("replies.folder_handled" if handled else "replies.folder_unhandled", self.settings.lang)
        try:
            if folder not in self._folders:
                if not self.client.folder_exists(folder):
                    self.client.create_folder(folder)
                self._folders.add(folder)
            self.client.move([uid], folder)
        except Exception as exc:  # no MOVE (RFC 6851), no right to create folders: the flag says it
            log.info("could not move %s to %s: %s", uid, folder, exc)

    def wait_for_mail(self, seconds: float, stop, checkpoint: tuple[int, int] | None = None) -> bool:
        """IMAP IDLE (RFC 2177) on the folder: True as soon as the server announces new mail, False when
        ``seconds`` passed or ``stop`` (a threading.Event) was set; a server without IDLE: only the wait.

        Mail after ``checkpoint`` (UIDVALIDITY, last UID read) is True at once: one that landed after the last
        poll searched the folder and before IDLE began is never announced by IDLE, so IDLE runs in slices of
        IDLE_SLICE seconds with that look between them. Its own session (opened and closed here)."""
        import time

        self.open()
        try:
            deadline = time.monotonic() + min(seconds, 25 * 60)  # within the RFC's 29 minutes
            idle = b"IDLE" in self.client.capabilities()
            while not stop.is_set():
                if checkpoint is not None and self._after(checkpoint):
                    return True
                if time.monotonic() >= deadline:
                    return False
                if not idle:
                    stop.wait(max(0.0, deadline - time.monotonic()))
                    return False
                end = min(deadline, time.monotonic() + IDLE_SLICE)
                self.client.idle()
                try:
                    while not stop.is_set() and time.monotonic() < end:
                        left = max(0.1, min(2.0, end - time.monotonic()))  # short checks: a stop is seen soon
                        if any(len(r) > 1 and r[1] in (b"EXISTS", b"RECENT") for r in self.client.idle_check(left)):
                            return True
                finally:
                    self.client.idle_done()
            return False
        finally:
            self.close()

    def _after(self, checkpoint: tuple[int, int]) -> bool:
        """Is there mail the poll that reached ``checkpoint`` has not read (or did the folder change identity)?"""
        validity, last = checkpoint
        if validity and validity != self.uid_validity:
            return True
        return any(u > last for u in self.client.search(["UID", f"{last + 1}:*"]))

    def close(self) -> None:
        if self.client is not None:
            try:
                self.client.logout()
            except Exception:  # a dropped connection cannot be closed politely
                pass
            self.client = None


def imap_password(settings: Settings, environ: dict) -> str | None:
    """The mailbox password: from the environment variable named in settings, else the OS keyring."""
    return login_password(settings, environ, "replies", "coordxl-imap")
