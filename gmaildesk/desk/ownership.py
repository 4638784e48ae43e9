"""The ownership record: which labels, filters and send-as aliases gmaildesk created.

gmaildesk never changes or deletes what it did not create (or adopt), so it has to
remember: one JSON file per mailbox under the user data dir, written atomically with
mode 0600 and only after the Gmail writes it records succeeded. It holds ids and
hashes, never tokens or passwords.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from gmaildesk.errors import GmailDeskError
from gmaildesk.paths import DATA_DIR_ENV, Account, account_dir, data_dir  # noqa: F401 (re-exported)

STATE_FILE = "desk-state.json"
VERSION = 1


def state_path(account: Account, override: Path | None = None) -> Path:
    """The ownership file of *account* (one mailbox on one endpoint); ``override`` (--state) wins."""
    return override if override is not None else account_dir(account) / STATE_FILE


@dataclass(frozen=True)
class OwnedFilter:
    id: str
    hash: str


@dataclass
class Ownership:
    """What gmaildesk owns in one mailbox. Mutable: apply records each successful write."""

    path: Path
    mailbox: str
    labels: dict[str, str] = field(default_factory=dict)  # label name -> Gmail label id
    filters: dict[str, OwnedFilter] = field(default_factory=dict)  # filter key -> id + hash
    send_as: set[str] = field(default_factory=set)  # alias addresses gmaildesk created

    @classmethod
    def load(cls, path: Path, mailbox: str) -> "Ownership":
        """The record at *path*; an empty one when the file does not exist yet."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls(path, mailbox)
        except (OSError, ValueError) as error:
            raise GmailDeskError(f"cannot read the ownership record {path}: {error}",
                                 ["Fix or remove the file; without it gmaildesk treats nothing as its own."]) from None
        if not isinstance(data, dict) or data.get("version") != VERSION:
            raise GmailDeskError(f"{path} is not a version {VERSION} gmaildesk ownership record")
        try:
            return cls(path, data.get("mailbox") or mailbox,
                       labels={str(k): str(v) for k, v in data.get("labels", {}).items()},
                       filters={str(k): OwnedFilter(str(v["id"]), str(v["hash"]))
                                for k, v in data.get("filters", {}).items()},
                       send_as={str(a).lower() for a in data.get("send_as", [])})
        except (AttributeError, KeyError, TypeError) as error:
            raise GmailDeskError(f"{path} is damaged ({error!r})",
                                 ["Fix or remove the file; without it gmaildesk treats nothing as its own."]) from None

    def to_json(self) -> dict:
        return {
            "version": VERSION,
            "mailbox": self.mailbox,
            "labels": dict(sorted(self.labels.items())),
            "filters": {k: {"id": v.id, "hash": v.hash} for k, v in sorted(self.filters.items())},
            "send_as": sorted(self.send_as),
        }

    def save(self) -> None:
        """Write atomically (temp file + rename) with mode 0600."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(self.to_json(), indent=2) + "\n"
        handle, temp = tempfile.mkstemp(prefix=".desk-state-", dir=self.path.parent)
        try:
            if hasattr(os, "fchmod"):  # mkstemp already creates 0600 files; be explicit where possible
                os.fchmod(handle, 0o600)
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(text)
            os.replace(temp, self.path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
