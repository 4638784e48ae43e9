"""The small values gmail/api.py answers with: what the engines read of Gmail, and nothing else.

Frozen, so an engine can keep them in sets and a fake can hand out the same value twice.
Built from Gmail's JSON in one place each (`from_json`), leniently as Gmail's own clients do:
a field Gmail leaves out (labelIds on a message without labels, headers of a message whose
metadata is empty) reads as empty, never as an error.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gmaildesk.gmail.costs import DEFAULT_TABLE, CostTable, units

__all__ = [
    "Profile",
    "Label",
    "MailboxSettings",
    "Message",
    "Thread",
    "MessageRef",
    "LabelEvent",
    "HistoryRecord",
    "History",
    "Modify",
    "Usage",
    "Json",
    "DraftRef",
]

Json = Mapping[str, Any]  # one resource as Gmail answers it (the settings the desk reads whole)


@dataclass(frozen=True)
class Profile:
    """users.getProfile: whose mailbox it is and where its history stands."""

    address: str  # lower case
    history_id: str
    messages_total: int | None = None  # "the total number of messages in the mailbox"; None: not given

    @classmethod
    def from_json(cls, profile: Json) -> Profile:
        total = profile.get("messagesTotal")
        return cls(
            str(profile["emailAddress"]).lower(),
            str(profile["historyId"]),
            total if isinstance(total, int) and not isinstance(total, bool) else None,
        )


@dataclass(frozen=True)
class Label:
    """One label of users.labels.list (id and name; the desk reads the rest from `resource`)."""

    id: str
    name: str
    resource: Json = field(default_factory=dict, compare=False, hash=False, repr=False)

    @classmethod
    def from_json(cls, label: Json) -> Label:
        return cls(str(label["id"]), str(label["name"]), label)


@dataclass(frozen=True)
class MailboxSettings:
    """What the desk manages, as Gmail answers it: labels, filters, the vacation responder, send-as."""

    labels: tuple[Json, ...]
    filters: tuple[Json, ...]
    vacation: Json
    send_as: tuple[Json, ...]


@dataclass(frozen=True)
class Message:
    """A message of threads.get / messages.get at format=metadata."""

    id: str
    thread_id: str
    internal_date: int  # ms since the epoch; 0 when Gmail's value is missing or not a number
    label_ids: frozenset[str] = frozenset()
    headers: tuple[tuple[str, str], ...] = ()  # (name, value) in the message's order, repeats kept

    @classmethod
    def from_json(cls, message: Json) -> Message:
        payload = message.get("payload") or {}
        try:
            internal_date = int(message.get("internalDate") or 0)
        except (TypeError, ValueError):
            internal_date = 0
        headers = tuple((str(h.get("name", "")), str(h.get("value", ""))) for h in payload.get("headers") or ())
        return cls(
            str(message.get("id", "")),
            str(message.get("threadId", "")),
            internal_date,
            frozenset(message.get("labelIds") or ()),
            headers,
        )


@dataclass(frozen=True)
class Thread:
    id: str
    messages: tuple[Message, ...]

    @classmethod
    def from_json(cls, thread: Json) -> Thread:
        return cls(str(thread["id"]), tuple(Message.from_json(m) for m in thread.get("messages", [])))


@dataclass(frozen=True)
class MessageRef:
    """A message as history names it: no headers, no date."""

    id: str
    thread_id: str
    label_ids: frozenset[str] = frozenset()

    @classmethod
    def from_json(cls, message: Json) -> MessageRef:
        return cls(str(message["id"]), str(message["threadId"]), frozenset(message.get("labelIds") or ()))


@dataclass(frozen=True)
class LabelEvent:
    message: MessageRef
    label_ids: frozenset[str]  # the labels added to (or removed from) it

    @classmethod
    def from_json(cls, entry: Json) -> LabelEvent:
        return cls(MessageRef.from_json(entry["message"]), frozenset(entry.get("labelIds") or ()))


@dataclass(frozen=True)
class HistoryRecord:
    """One record of users.history.list, in history order."""

    id: int
    messages_added: tuple[MessageRef, ...] = ()
    messages_deleted: tuple[MessageRef, ...] = ()
    labels_added: tuple[LabelEvent, ...] = ()
    labels_removed: tuple[LabelEvent, ...] = ()

    @classmethod
    def from_json(cls, record: Json) -> HistoryRecord:
        return cls(
            int(record["id"]),
            tuple(MessageRef.from_json(e["message"]) for e in record.get("messagesAdded", [])),
            tuple(MessageRef.from_json(e["message"]) for e in record.get("messagesDeleted", [])),
            tuple(LabelEvent.from_json(e) for e in record.get("labelsAdded", [])),
            tuple(LabelEvent.from_json(e) for e in record.get("labelsRemoved", [])),
        )


@dataclass(frozen=True)
class History:
    """Every page of users.history.list from a start id: the records and where the history ends."""

    records: tuple[HistoryRecord, ...]
    history_id: str


@dataclass(frozen=True)
class Modify:
    """One messages.batchModify: the same labels added and removed on up to 1,000 messages."""

    ids: tuple[str, ...]
    add: frozenset[str]
    remove: frozenset[str]


@dataclass(frozen=True)
class Usage:
    """Gmail calls made so far: `calls` counts every HTTP attempt (retries and batch parts
    included), `by_method` each logical call once, by discovery method id ("users.threads.get")."""

    calls: int = 0
    by_method: Mapping[str, int] = field(default_factory=dict)
    costs: CostTable = DEFAULT_TABLE  # the project's cost table: what the units are priced by
    rate_limited: int = 0  # answers refused for quota (429s), each batch part counted

    @property
    def units(self) -> int:
        """Quota units of the logical calls (gmaildesk.gmail.costs: an estimate, Gmail's count rules)."""
        return sum(units(method, self.costs) * count for method, count in self.by_method.items())

    def since(self, earlier: Usage) -> Usage:
        """The calls made after `earlier` was taken."""
        counts = Counter(self.by_method)
        counts.subtract(earlier.by_method)
        by_method = {m: n for m, n in sorted(counts.items()) if n}
        return Usage(self.calls - earlier.calls, by_method, self.costs, self.rate_limited - earlier.rate_limited)


@dataclass(frozen=True)
class DraftRef:
    """A draft as drafts.create/update/list name it: its stable id, and the message it holds now
    (the message id changes with every update; Gmail guide "Create and send draft emails")."""

    id: str
    message_id: str
    thread_id: str

    @classmethod
    def from_json(cls, draft: Json) -> DraftRef:
        message = draft.get("message") or {}
        return cls(str(draft["id"]), str(message.get("id", "")), str(message.get("threadId", "")))
