"""One gmaildesk writer per account at a time: `apply` and `sweep` take the same lock.

A non-blocking flock on ``<account dir>/gmaildesk.lock``. The file is opened with O_NOFOLLOW
(a symlink planted there must not make us truncate its target) and is keyed by the account,
not by a path string, so a store reached through a symlink or a different --store spelling
still meets the same lock.
"""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path

from gmaildesk.errors import ExitCode, GmailDeskError
from gmaildesk.paths import Account, account_dir, private_dir

__all__ = ["AccountLock", "LOCK_FILE", "lock_path"]

LOCK_FILE = "gmaildesk.lock"


def lock_path(account: Account) -> Path:
    return account_dir(account) / LOCK_FILE


class AccountLock:
    """`with AccountLock(account, "sweep"):` — raises GmailDeskError(LOCKED) at once when held."""

    def __init__(self, account: Account, what: str = "gmaildesk", *, path: Path | None = None) -> None:
        self.account = account
        self.what = what
        self.path = path if path is not None else lock_path(account)
        self._fd: int | None = None

    def acquire(self) -> None:
        try:
            private_dir(self.path.parent)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        except OSError as error:
            if error.errno == errno.ELOOP:
                raise GmailDeskError(
                    f"{self.path} is a symbolic link; refusing to use it as a lock file",
                    ["remove the link; gmaildesk creates the lock file itself"],
                ) from None
            raise GmailDeskError(
                f"cannot create the lock file {self.path}: {error.strerror}",
                [f"check that {self.path.parent} is writable (or set GMAILDESK_DATA_DIR)"],
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise GmailDeskError(
                f"another gmaildesk run is working on {self.account.describe()} (lock {self.path} is held)",
                ["wait for it to finish; cron runs that overlap simply skip a turn"],
                exit_code=ExitCode.LOCKED,
            ) from None
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()} {self.what}\n".encode())
        except OSError:
            pass  # the pid is informative only; a full disk must not stop a run that holds the lock
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> AccountLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
