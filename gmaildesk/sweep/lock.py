"""One sweep per mailbox at a time: a non-blocking flock on a file next to the store."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from gmaildesk.errors import ExitCode, GmailDeskError

__all__ = ["SweepLock"]


class SweepLock:
    """`with SweepLock(store_path):` — raises GmailDeskError(LOCKED) at once if another sweep holds it."""

    def __init__(self, store_path: Path):
        self.path = Path(str(store_path) + ".lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise GmailDeskError(f"another sweep is running for this mailbox (lock {self.path} is held)",
                                 ["wait for it to finish; cron runs that overlap simply skip a turn"],
                                 exit_code=ExitCode.LOCKED) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "SweepLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
