"""Where gmaildesk keeps state, and whose state it is.

State (the ownership record of `apply`, the sweep store) belongs to ONE account on ONE
endpoint: a rehearsal on a sandbox must never be read as the record of a real mailbox that
has the same address (Gmail's label ids are `Label_N` on both, so a leaked record would make
`apply --allow-delete` delete the user's own labels). Every per-account file therefore lives
under ``data_dir()/<endpoint key>/<address>/``, where the endpoint key is ``gmail`` for Google
and ``sandbox-<host>-<port>`` for a sandbox, and the address is the one the connection really
reaches (users.getProfile), checked against desk.mailbox before any write.

Neutral ground: desk/ and sweep/ both use it and neither imports the other.
"""

from __future__ import annotations

import os
import re
import stat
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from gmaildesk.errors import ExitCode, GmailDeskError

__all__ = [
    "DATA_DIR_ENV",
    "Account",
    "data_dir",
    "endpoint_key",
    "account_dir",
    "private_dir",
    "safe_component",
    "check_mailbox",
]

DATA_DIR_ENV = "GMAILDESK_DATA_DIR"
CONFIG_ENV = "GMAILDESK_CONFIG"  # the desk.yaml to use when -c is not given
GMAIL = "gmail"

_UNSAFE = re.compile(r"[^a-z0-9@._+-]")


def data_dir() -> Path:
    """$GMAILDESK_DATA_DIR or the platform's user data dir (not created here)."""
    override = os.environ.get(DATA_DIR_ENV)
    if override:
        return Path(override)
    from platformdirs import user_data_dir

    return Path(user_data_dir("gmaildesk"))


def safe_component(text: str) -> str:
    """One path component from mailbox data: lowercase, no separators, no `..`, never empty.

    An address is user input (desk.yaml, --user): `../../x@example.com` must not walk out of
    the data dir, so anything but letters, digits and `@._+-` becomes `_`, and leading dots go.
    """
    cleaned = _UNSAFE.sub("_", text.strip().lower()).lstrip(".")
    return cleaned[:200] or "_"


def endpoint_key(endpoint: str | None) -> str:
    """`gmail` for Google itself; `sandbox-HOST-PORT` for a sandbox (each one its own world)."""
    if not endpoint:
        return GMAIL
    parts = urllib.parse.urlsplit(endpoint)
    host = (parts.hostname or "unknown").lower()
    port = parts.port or (443 if parts.scheme == "https" else 80)
    path = parts.path.strip("/")
    return safe_component(f"sandbox-{host}-{port}" + (f"-{path}" if path else ""))


@dataclass(frozen=True)
class Account:
    """One mailbox on one endpoint: whose state a file holds."""

    endpoint: str | None  # None: Gmail; else the sandbox's base URL
    address: str  # as the connection reaches it (getProfile), or desk.mailbox once checked

    @property
    def key(self) -> str:
        return f"{endpoint_key(self.endpoint)}/{safe_component(self.address)}"

    def describe(self) -> str:
        return self.address if self.endpoint is None else f"{self.address} on the sandbox at {self.endpoint}"


def account_dir(account: Account, *, create: bool = False) -> Path:
    """``data_dir()/<endpoint key>/<address>``; created 0700 (with its parents) when asked."""
    path = data_dir() / endpoint_key(account.endpoint) / safe_component(account.address)
    return private_dir(path) if create else path


def private_dir(path: Path) -> Path:
    """Create *path* (and missing parents) with mode 0700; tighten an existing one we own.

    State files hold customer addresses and subjects: nobody else on the machine reads them.
    """
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        info = path.stat()
        if info.st_uid == os.getuid() and stat.S_IMODE(info.st_mode) & 0o077:
            path.chmod(0o700)
    except OSError:
        pass  # not ours to change (a shared dir given with --store or --ownership): the files themselves are 0600
    return path


def check_mailbox(desk_mailbox: str, connected: str, *, how: str) -> None:
    """desk.mailbox must be the account the connection reaches; refuse before any write.

    `how` says how the account was chosen ("--user", "the `auth login` token", "the sandbox's
    default user") so the hint can name the thing to change.
    """
    if desk_mailbox.strip().lower() != connected.strip().lower():
        raise GmailDeskError(
            f"desk.yaml is for {desk_mailbox} but the connection reaches {connected} ({how})",
            [f"point the connection at {desk_mailbox}, or set mailbox: {connected} in desk.yaml"],
            ExitCode.USAGE,
        )
