"""The ownership record: which labels, filters and send-as aliases gmaildesk created, and in
which form Gmail stored what it wrote.

gmaildesk never changes or deletes what it did not create (or adopt), so it has to
remember: one JSON file per account (endpoint + address) under the user data dir, written
atomically with mode 0600 in a 0700 folder, and only after the Gmail writes it records
succeeded. It holds ids, names and hashes, never tokens or passwords.

Gmail does not store every setting as it was sent: it sanitises vacation HTML and send-as
signatures and trims filter criteria (discovery text of VacationSettings.responseBodyHtml,
SendAs.signature, FilterCriteria.subject). So each write is recorded as a pair of hashes,
what desk.yaml asked and what Gmail returned; a setting whose desired form still hashes to
"asked" and whose current form still hashes to "returned" is unchanged, whatever the bytes.

Format history: version 1 kept ``labels`` as name -> id and filters as {id, hash};
version 2 keeps labels by id with the name Gmail returned (a recorded id whose label now has
another name is not ours: rehearsal records must not meet another mailbox's ``Label_N``),
the returned hash of each filter, ``written`` forms, and the ``disowned`` label ids (ours
once, renamed by someone since). Version 1 files are read and rewritten as version 2 on the
next save.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gmaildesk.errors import GmailDeskError
from gmaildesk.paths import Account, account_dir, private_dir

STATE_FILE = "desk-state.json"
VERSION = 2
READABLE_VERSIONS = (1, 2)
MOVE_AWAY_HINT = (
    "move the file away (gmaildesk then treats nothing as its own and adopts what matches "
    "desk.yaml), or restore it from a backup"
)


def state_path(account: Account, override: Path | None = None) -> Path:
    """The ownership file of *account* (one mailbox on one endpoint); ``override`` (--ownership) wins."""
    return override if override is not None else account_dir(account) / STATE_FILE


def form_hash(value: object) -> str:
    """A short, stable hash of a setting's value (None, strings, numbers, booleans, dicts)."""
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class OwnedFilter:
    id: str
    hash: str  # the filter as desk.yaml asked for it (FilterSpec.hash)
    returned: str = ""  # the same, of the filter Gmail returned; "" when it is the asked one

    @property
    def returned_hash(self) -> str:
        return self.returned or self.hash


@dataclass(frozen=True)
class OwnedLabel:
    id: str
    name: str  # as Gmail returned it: the label is ours only while it still has this name
    asked: str = ""  # as desk.yaml asked for it, when that differs

    @property
    def asked_name(self) -> str:
        return self.asked or self.name


@dataclass(frozen=True)
class Written:
    """One setting as desk.yaml asked for it and as Gmail returned it (form_hash of each)."""

    asked: str
    returned: str

    def unchanged(self, desired: object, current: object) -> bool:
        """desk.yaml still asks the same and Gmail still holds what it returned then."""
        return form_hash(desired) == self.asked and form_hash(current) == self.returned


def same_form(written: Mapping[str, Written], key: str, desired: object, current: object) -> bool:
    """*desired* and *current* are the same setting: equal, or Gmail's form of our last write of it."""
    if desired == current:
        return True
    record = written.get(key)
    return record is not None and record.unchanged(desired, current)


@dataclass
class Ownership:
    """What gmaildesk owns in one mailbox. Mutable: apply records each successful write."""

    path: Path
    mailbox: str
    labels: dict[str, OwnedLabel] = field(default_factory=dict)  # Gmail label id -> label
    filters: dict[str, OwnedFilter] = field(default_factory=dict)  # filter key -> id + hashes
    send_as: set[str] = field(default_factory=set)  # alias addresses gmaildesk created
    written: dict[str, Written] = field(default_factory=dict)  # "vacation.<field>", "send-as:<addr>.signature"
    # Label ids gmaildesk made that someone renamed: left alone for good, even under the desk's prefixes.
    disowned: dict[str, str] = field(default_factory=dict)  # id -> the name it had when disowned

    def owned_label_ids(self, names_by_id: Mapping[str, str]) -> set[str]:
        """Recorded label ids that exist with the name gmaildesk knows them by (Gmail ids are
        `Label_N` in every mailbox: an id alone does not say the label is ours)."""
        return {i for i, owned in self.labels.items() if names_by_id.get(i) == owned.name}

    def renamed_labels(self, names_by_id: Mapping[str, str]) -> list[tuple[OwnedLabel, str]]:
        """Recorded labels whose id now carries another name: (the record, the current name)."""
        return [
            (owned, names_by_id[i])
            for i, owned in sorted(self.labels.items())
            if i in names_by_id and names_by_id[i] != owned.name
        ]

    def record_label(self, label_id: str, returned_name: str, asked_name: str) -> None:
        self.labels[label_id] = OwnedLabel(label_id, returned_name, "" if asked_name == returned_name else asked_name)

    @classmethod
    def load(cls, path: Path, mailbox: str) -> Ownership:
        """The record at *path*; an empty one when the file does not exist yet."""
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return cls(path, mailbox)
        except IsADirectoryError:
            raise GmailDeskError(
                f"the ownership record {path} is a directory",
                ["pass --ownership FILE naming a file, or remove the directory"],
            ) from None
        except OSError as error:
            raise GmailDeskError(
                f"cannot read the ownership record {path}: {error.strerror or error}",
                [f"check the permissions of {path} and its folder"],
            ) from None
        except UnicodeDecodeError:
            raise GmailDeskError(f"the ownership record {path} is not text (damaged)", [MOVE_AWAY_HINT]) from None
        try:
            data = json.loads(text)
        except ValueError as error:
            raise GmailDeskError(
                f"the ownership record {path} is damaged: not valid JSON (line {getattr(error, 'lineno', '?')})",
                [MOVE_AWAY_HINT],
            ) from None
        version = data.get("version") if isinstance(data, dict) else None
        if isinstance(version, int) and not isinstance(version, bool) and version > VERSION:
            raise GmailDeskError(
                f"the ownership record {path} is version {version}, written by a newer gmaildesk "
                f"(this one reads up to version {VERSION})",
                ["upgrade gmaildesk; an older one must not rewrite a newer record"],
            )
        if version not in READABLE_VERSIONS:
            raise GmailDeskError(
                f'{path} is not a gmaildesk ownership record (no known "version")',
                ["pass --ownership FILE naming a gmaildesk ownership record, or " + MOVE_AWAY_HINT],
            )
        try:
            record = cls._from_json(path, mailbox, data)
        except (AttributeError, KeyError, TypeError, ValueError) as error:
            raise GmailDeskError(
                f"the ownership record {path} is damaged ({type(error).__name__}: {error})", [MOVE_AWAY_HINT]
            ) from None
        return record

    @classmethod
    def _from_json(cls, path: Path, mailbox: str, data: dict[str, Any]) -> Ownership:
        if data["version"] == 1:
            labels = {str(i): OwnedLabel(str(i), str(name)) for name, i in data.get("labels", {}).items()}
            filters = {str(k): OwnedFilter(str(v["id"]), str(v["hash"])) for k, v in data.get("filters", {}).items()}
            written: dict[str, Written] = {}
        else:
            labels = {
                str(i): OwnedLabel(str(i), str(v["name"]), str(v.get("asked", "")))
                for i, v in data.get("labels", {}).items()
            }
            filters = {
                str(k): OwnedFilter(str(v["id"]), str(v["hash"]), str(v.get("returned", "")))
                for k, v in data.get("filters", {}).items()
            }
            written = {str(k): Written(str(v["asked"]), str(v["returned"])) for k, v in data.get("written", {}).items()}
        disowned = {str(k): str(v) for k, v in data.get("disowned", {}).items()}
        return cls(
            path,
            str(data.get("mailbox") or mailbox),
            labels=labels,
            filters=filters,
            send_as={str(a).lower() for a in data.get("send_as", [])},
            written=written,
            disowned=disowned,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "version": VERSION,
            "mailbox": self.mailbox,
            "labels": {
                i: {"name": v.name, **({"asked": v.asked} if v.asked else {})} for i, v in sorted(self.labels.items())
            },
            "filters": {
                k: {"id": v.id, "hash": v.hash, **({"returned": v.returned} if v.returned else {})}
                for k, v in sorted(self.filters.items())
            },
            "send_as": sorted(self.send_as),
            "written": {k: {"asked": v.asked, "returned": v.returned} for k, v in sorted(self.written.items())},
            "disowned": dict(sorted(self.disowned.items())),
        }

    def save(self) -> None:
        """Write atomically (temp file + rename), the file 0600 in a 0700 folder.

        A failure raises RecordNotSaved: the Gmail write it was to record has happened, so
        apply must stop rather than make more writes it cannot remember.
        """
        text = json.dumps(self.to_json(), indent=2) + "\n"
        folder = self.path.parent
        temp = None
        try:
            if not folder.is_dir():  # a folder that exists (one given with --ownership) keeps its mode
                private_dir(folder)
            handle, temp = tempfile.mkstemp(prefix=".desk-state-", dir=folder)
            os.fchmod(handle, 0o600)
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(text)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, self.path)
        except OSError as error:
            if temp is not None:
                Path(temp).unlink(missing_ok=True)
            raise RecordNotSaved(self.path, error) from None


class RecordNotSaved(GmailDeskError):
    """The ownership record could not be written: disk full, read-only or forbidden folder."""

    def __init__(self, path: Path, error: OSError):
        reason = error.strerror or str(error)
        if error.errno == errno.ENOSPC:
            fix = f"free space on the disk holding {path.parent}, then run apply again"
        elif error.errno == errno.EROFS:
            fix = f"{path.parent} is on a read-only file system: pass --ownership FILE on a writable one"
        else:
            fix = f"make {path.parent} writable for this user (or pass --ownership FILE), then run apply again"
        super().__init__(
            f"cannot write the ownership record {path}: {reason}; apply stopped",
            [fix, "the next apply finds what this one already wrote and does not write it again"],
        )
