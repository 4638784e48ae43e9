"""One user's mailbox: labels, messages, threads and the history log.

Gmail rules enforced here (not in the HTTP layer) so every path - API call,
batch part or control-API delivery - obeys them the same way.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field, replace
from typing import Any

from gmaildesk.gmail.labels import CONSUMER_DOMAINS, MAX_LABEL_NAME, RESERVED_NAMES
from gmaildesk.gmail.palette import is_gmail_colour
from gmaildesk.gmail.query import SearchDoc
from gmaildesk.sandbox import mime
from gmaildesk.sandbox.errors import ApiError, bad_request, not_found
from gmaildesk.sandbox.store import Store

# (id, messageListVisibility, labelListVisibility) as labels.list returns them.
SYSTEM_LABELS: tuple[tuple[str, str | None, str | None], ...] = (
    ("CHAT", "hide", "labelHide"),
    ("SENT", "hide", "labelHide"),
    ("INBOX", "hide", "labelShow"),
    ("IMPORTANT", "hide", "labelHide"),
    ("TRASH", "hide", "labelHide"),
    ("DRAFT", "hide", "labelHide"),
    ("SPAM", "hide", "labelHide"),
    ("CATEGORY_FORUMS", "hide", "labelHide"),
    ("CATEGORY_UPDATES", "hide", "labelHide"),
    ("CATEGORY_PERSONAL", "hide", "labelHide"),
    ("CATEGORY_PROMOTIONS", "hide", "labelHide"),
    ("CATEGORY_SOCIAL", "hide", "labelHide"),
    ("STARRED", None, None),
    ("UNREAD", None, None),
)
# Gmail only lets the owner's mail flow set these; modify calls may not touch them.
UNMODIFIABLE_LABELS = frozenset({"SENT", "DRAFT", "CHAT"})
MAX_USER_LABELS = 10_000
MAX_THREAD_MESSAGES = 100  # Gmail breaks a conversation after 100 messages
MAX_LABELS_PER_MODIFY = 100
_ID = re.compile(r"[0-9a-f]{16}")


@dataclass
class StoredMessage:
    id: str
    thread_id: str
    internal_date: int
    labels: set[str]
    raw: bytes
    history_id: int
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. {"trashedFromInbox": true}
    arrived_ms: int = 0  # sandbox time it was delivered or inserted (0: before this run; never fresh)
    _parsed: mime.ParsedMessage | None = None
    _doc: SearchDoc | None = None

    @property
    def parsed(self) -> mime.ParsedMessage:
        if self._parsed is None:
            self._parsed = mime.parse(self.raw)
        return self._parsed

    def base_doc(self) -> SearchDoc:
        if self._doc is None:
            p = self.parsed
            self._doc = SearchDoc(
                from_=p.header("From") or "",
                to=p.header("To") or "",
                cc=p.header("Cc") or "",
                bcc=p.header("Bcc") or "",
                delivered_to=", ".join(p.delivered_to),
                subject=p.subject,
                list_id=p.list_id,
                body=p.text,
                filenames=p.filenames,
                has_attachment=p.has_attachment,
                size=p.size,
                internal_date_ms=self.internal_date,
                message_id=p.message_id or "",
            )
        return self._doc


class Mailbox:
    """State and rules of one sandbox user. Callers hold the sandbox lock."""

    def __init__(self, email: str, store: Store, *, now_ms: int, delegated: bool | None = None) -> None:
        self.email = email.lower()
        self.domain = self.email.rsplit("@", 1)[-1]
        self.store = store
        # Consumer accounts cannot get domain-wide delegation; Workspace ones can.
        self.delegated = self.domain not in CONSUMER_DOMAINS if delegated is None else delegated
        self.labels: dict[str, dict[str, Any]] = {}
        self.messages: dict[str, StoredMessage] = {}
        self.threads: dict[str, list[str]] = {}
        self.rfc_ids: dict[str, str] = {}
        self.history: list[dict[str, Any]] = []
        self.history_id = 1000
        self.history_floor = self.history_id  # startHistoryId below this -> 404
        self.listing_cache: dict[tuple[Any, ...], list[Any]] = {}  # see api_messages._listing
        self.label_seq = 0
        self.filters: dict[str, dict[str, Any]] = {}
        self.vacation: dict[str, Any] = {"enableAutoReply": False}
        self.vacation_changed_at = now_ms
        self.vacation_replied: dict[str, int] = {}
        self.send_as: dict[str, dict[str, Any]] = {}
        self.forwarding: dict[str, dict[str, Any]] = {}
        self.auto_forwarding: dict[str, Any] = {"enabled": False}
        self.drafts: dict[str, str] = {}  # draft id -> the id of the message it holds now
        self.smtp_hosts: set[str] | None = None  # read from the store when first needed (api_settings)
        self._steps = itertools.cycle((1, 3, 2, 5, 1, 4))  # history ids have gaps, like Gmail's
        for label_id, mlv, llv in SYSTEM_LABELS:
            label = {"id": label_id, "name": label_id, "type": "system"}
            if mlv:
                label["messageListVisibility"] = mlv
            if llv:
                label["labelListVisibility"] = llv
            self.labels[label_id] = label
        self.send_as[self.email] = {
            "sendAsEmail": self.email,
            "displayName": "",
            "replyToAddress": "",
            "signature": "",
            "isPrimary": True,
            "isDefault": True,
        }

    # ---- persistence -------------------------------------------------------------------------
    def save_state(self) -> None:
        self.store.put(
            self.email,
            "user",
            self.email,
            {
                "history_id": self.history_id,
                "history_floor": self.history_floor,
                "label_seq": self.label_seq,
                "delegated": self.delegated,
                "vacation": self.vacation,
                "vacation_changed_at": self.vacation_changed_at,
                "vacation_replied": self.vacation_replied,
                "auto_forwarding": self.auto_forwarding,
            },
        )

    def save(self, kind: str, key: str, value: dict[str, Any] | None) -> None:
        if value is None:
            self.store.delete(self.email, kind, key)
        else:
            self.store.put(self.email, kind, key, value)

    def load(self) -> None:
        """Rebuild this mailbox from the store (a restarted `--db FILE` sandbox)."""
        state = self.store.load_objects(self.email, "user").get(self.email)
        if not state:
            return
        self.history_id = state["history_id"]
        self.history_floor = state["history_floor"]
        self.label_seq = state["label_seq"]
        self.delegated = state["delegated"]
        self.vacation = state["vacation"]
        self.vacation_changed_at = state["vacation_changed_at"]
        self.vacation_replied = state["vacation_replied"]
        self.auto_forwarding = state["auto_forwarding"]
        self.labels.update(self.store.load_objects(self.email, "label"))
        self.filters = self.store.load_objects(self.email, "filter")
        self.send_as.update(self.store.load_objects(self.email, "sendAs"))
        self.forwarding = self.store.load_objects(self.email, "forwarding")
        self.drafts = {key: value["message"] for key, value in self.store.load_objects(self.email, "draft").items()}
        for msg_id, thread_id, internal_date, history_id, labels, extra, raw in self.store.load_messages(self.email):
            msg = StoredMessage(msg_id, thread_id, internal_date, set(labels), raw, history_id, extra)
            self._index(msg)
        self.history = self.store.load_history(self.email)

    def _persist_message(self, msg: StoredMessage, *, with_raw: bool = False) -> None:
        self.store.put_message(
            self.email,
            msg.id,
            msg.thread_id,
            msg.internal_date,
            msg.history_id,
            sorted(msg.labels),
            msg.extra,
            msg.raw if with_raw else None,
        )

    # ---- history -----------------------------------------------------------------------------
    def _next_history_id(self) -> int:
        self.history_id += next(self._steps)
        return self.history_id

    def _record(self, msg: StoredMessage, now_ms: int, *changes: tuple[str, list[str] | None]) -> None:
        """One history record for one call's changes to one message (e.g. labels added and removed)."""
        record: dict[str, Any] = {
            "id": self._next_history_id(),
            "time": now_ms,
            "message": {"id": msg.id, "threadId": msg.thread_id, "labelIds": sorted(msg.labels)},
            "changes": [{"kind": kind, **({"labelIds": ids} if ids is not None else {})} for kind, ids in changes],
        }
        msg.history_id = record["id"]
        self.history.append(record)
        self.store.add_history(self.email, record)

    def prune_history(self, now_ms: int, retention_ms: int) -> None:
        """Forget history older than the retention window, as Gmail does after about a week."""
        cutoff = now_ms - retention_ms
        keep = 0
        while keep < len(self.history) and self.history[keep]["time"] < cutoff:
            keep += 1
        if keep:
            self.history_floor = self.history[keep - 1]["id"]
            del self.history[:keep]
            self.store.prune_history(self.email, self.history_floor + 1)
            self.save_state()

    # ---- labels ------------------------------------------------------------------------------
    def label(self, label_id: str) -> dict[str, Any]:
        label = self.labels.get(label_id)
        if label is None:
            raise not_found()
        return label

    def label_by_name(self, name: str) -> dict[str, Any] | None:
        folded = name.casefold()
        return next((lab for lab in self.labels.values() if lab["name"].casefold() == folded), None)

    def check_label_name(self, name: object, exclude_id: str | None = None) -> str:
        if not isinstance(name, str) or not name.strip():
            raise bad_request("Invalid label name")
        segments = name.split("/")
        if (
            len(name) > MAX_LABEL_NAME
            or any(not s.strip() for s in segments)
            or name.casefold() in RESERVED_NAMES
            or segments[0].casefold() == "inbox"
        ):
            raise bad_request("Invalid label name")
        existing = self.label_by_name(name)
        if existing is not None and existing["id"] != exclude_id:
            raise ApiError(409, "Label name exists or conflicts", "aborted")
        return name

    @staticmethod
    def check_label_color(color: object) -> dict[str, Any] | None:
        if color is None:
            return None
        if not isinstance(color, dict):
            raise bad_request("Invalid label color")
        for key in ("backgroundColor", "textColor"):
            value = color.get(key)
            if not isinstance(value, str) or not value:
                raise bad_request(f"Label color {key} is required")
            if not is_gmail_colour(value):
                raise bad_request(f"Label color {value} is not on the allowed color palette")
        return {"textColor": color["textColor"], "backgroundColor": color["backgroundColor"]}

    def create_label(self, body: dict[str, Any]) -> dict[str, Any]:
        name = self.check_label_name(body.get("name"))
        if sum(1 for lab in self.labels.values() if lab["type"] == "user") >= MAX_USER_LABELS:
            raise bad_request("Too many labels", "failedPrecondition")
        self.label_seq += 1
        label: dict[str, Any] = {
            "id": f"Label_{self.label_seq}",
            "name": name,
            "messageListVisibility": _visibility(body.get("messageListVisibility"), ("show", "hide"), "show"),
            "labelListVisibility": _visibility(
                body.get("labelListVisibility"), ("labelShow", "labelShowIfUnread", "labelHide"), "labelShow"
            ),
            "type": "user",
        }
        color = self.check_label_color(body.get("color"))
        if color:
            label["color"] = color
        self.labels[label["id"]] = label
        self.save("label", label["id"], label)
        self.save_state()
        return label

    def change_label(self, label_id: str, body: dict[str, Any], *, replace_all: bool) -> dict[str, Any]:
        label = self.label(label_id)
        if label["type"] == "system":
            raise bad_request("Invalid label name" if "name" in body else "Cannot modify system label")
        updated = dict(label)
        if replace_all:
            updated = {"id": label_id, "type": "user"}
            updated["name"] = self.check_label_name(body.get("name"), exclude_id=label_id)
            updated["messageListVisibility"] = _visibility(body.get("messageListVisibility"), ("show", "hide"), "show")
            updated["labelListVisibility"] = _visibility(
                body.get("labelListVisibility"), ("labelShow", "labelShowIfUnread", "labelHide"), "labelShow"
            )
        else:
            if "name" in body:
                updated["name"] = self.check_label_name(body["name"], exclude_id=label_id)
            if "messageListVisibility" in body:
                updated["messageListVisibility"] = _visibility(body["messageListVisibility"], ("show", "hide"), "show")
            if "labelListVisibility" in body:
                updated["labelListVisibility"] = _visibility(
                    body["labelListVisibility"], ("labelShow", "labelShowIfUnread", "labelHide"), "labelShow"
                )
        if "color" in body or replace_all:
            color = self.check_label_color(body.get("color"))
            updated.pop("color", None)
            if color:
                updated["color"] = color
        self.labels[label_id] = updated
        self.save("label", label_id, updated)
        self.listing_cache.clear()  # label: and in: queries match names, which may have changed
        return updated

    def delete_label(self, label_id: str, now_ms: int) -> None:
        label = self.label(label_id)
        if label["type"] == "system":
            raise bad_request("Invalid delete request")
        for msg in self.messages.values():
            if label_id in msg.labels:
                msg.labels.discard(label_id)
                self._record(msg, now_ms, ("labelRemoved", [label_id]))
                self._persist_message(msg)
        del self.labels[label_id]
        self.listing_cache.clear()
        self.save("label", label_id, None)
        self.save_state()

    def label_with_counts(self, label_id: str) -> dict[str, Any]:
        label = dict(self.label(label_id))
        messages = [m for m in self.messages.values() if label_id in m.labels]
        unread = [m for m in messages if "UNREAD" in m.labels]
        label.update(
            {
                "messagesTotal": len(messages),
                "messagesUnread": len(unread),
                "threadsTotal": len({m.thread_id for m in messages}),
                "threadsUnread": len({m.thread_id for m in unread}),
            }
        )
        return label

    def user_label_names(self, label_ids: set[str]) -> frozenset[str]:
        return frozenset(
            self.labels[i]["name"] for i in label_ids if i in self.labels and self.labels[i]["type"] == "user"
        )

    # ---- messages ----------------------------------------------------------------------------
    def message(self, msg_id: str) -> StoredMessage:
        msg = self.messages.get(_checked_id(msg_id))
        if msg is None:
            raise not_found()
        return msg

    def thread(self, thread_id: str) -> list[StoredMessage]:
        ids = self.threads.get(_checked_id(thread_id))
        if not ids:
            raise not_found()
        return [self.messages[i] for i in ids]

    def search_doc(self, msg: StoredMessage) -> SearchDoc:
        return replace(msg.base_doc(), label_ids=frozenset(msg.labels), label_names=self.user_label_names(msg.labels))

    def _index(self, msg: StoredMessage) -> None:
        self.messages[msg.id] = msg
        ids = self.threads.setdefault(msg.thread_id, [])
        ids.append(msg.id)
        ids.sort(key=lambda i: (self.messages[i].internal_date, i))
        if msg.parsed.message_id:
            self.rfc_ids.setdefault(msg.parsed.message_id, msg.id)

    def find_thread(self, parsed: mime.ParsedMessage, wanted_thread: str | None) -> str | None:
        """The thread a new message joins, the way Gmail threads: it must reference a message
        of the thread (In-Reply-To/References) and carry the same subject, prefixes aside."""
        subject = mime.normalize_subject(parsed.subject)
        for ref in (*reversed(parsed.in_reply_to), *reversed(parsed.references)):
            target_id = self.rfc_ids.get(ref)
            if target_id is None:
                continue
            target = self.messages[target_id]
            if wanted_thread and target.thread_id != wanted_thread:
                continue
            if mime.normalize_subject(target.parsed.subject) != subject:
                continue
            if len(self.threads[target.thread_id]) >= MAX_THREAD_MESSAGES:
                continue
            return target.thread_id
        return None

    def check_label_ids(self, label_ids: list[Any], *, allow_unmodifiable: bool = False) -> list[str]:
        if not isinstance(label_ids, list) or len(label_ids) > MAX_LABELS_PER_MODIFY:
            raise bad_request("Invalid label list")
        for label_id in label_ids:
            if not isinstance(label_id, str) or label_id not in self.labels:
                raise bad_request(f"Invalid label: {label_id}")
            if label_id in UNMODIFIABLE_LABELS and not allow_unmodifiable:
                raise bad_request(f"Invalid label: {label_id}")
        return label_ids

    def add_message(
        self,
        raw: bytes,
        *,
        internal_date: int,
        label_ids: list[str],
        now_ms: int,
        thread_id: str | None = None,
        msg_id: str,
        force_thread: bool = False,
        parsed: mime.ParsedMessage | None = None,
    ) -> StoredMessage:
        parsed = parsed or mime.parse(raw)
        joined = thread_id if force_thread and thread_id in self.threads else self.find_thread(parsed, thread_id)
        msg = StoredMessage(
            msg_id, joined or msg_id, internal_date, set(label_ids), raw, 0, arrived_ms=now_ms, _parsed=parsed
        )
        self._index(msg)
        self._record(msg, now_ms, ("messageAdded", None))
        self._persist_message(msg, with_raw=True)
        self.save_state()
        return msg

    def modify(self, msg: StoredMessage, add: list[str], remove: list[str], now_ms: int) -> None:
        added = [i for i in dict.fromkeys(add) if i not in msg.labels]
        removed = [i for i in dict.fromkeys(remove) if i in msg.labels and i not in add]
        if not added and not removed:
            return
        msg.labels.update(added)
        msg.labels.difference_update(removed)
        self._record(
            msg, now_ms, *([("labelAdded", added)] if added else []), *([("labelRemoved", removed)] if removed else [])
        )
        self._persist_message(msg)
        self.save_state()

    def trash(self, msg: StoredMessage, now_ms: int) -> None:
        if "TRASH" in msg.labels:
            return
        msg.extra["trashedFromInbox"] = "INBOX" in msg.labels
        self.modify(msg, ["TRASH"], ["INBOX", "SPAM"], now_ms)

    def untrash(self, msg: StoredMessage, now_ms: int) -> None:
        restore = ["INBOX"] if msg.extra.pop("trashedFromInbox", False) else []
        self.modify(msg, restore, ["TRASH"], now_ms)

    def delete_message(self, msg: StoredMessage, now_ms: int) -> None:
        self._record(msg, now_ms, ("messageDeleted", None))
        del self.messages[msg.id]
        ids = self.threads[msg.thread_id]
        ids.remove(msg.id)
        if not ids:
            del self.threads[msg.thread_id]
        if msg.parsed.message_id and self.rfc_ids.get(msg.parsed.message_id) == msg.id:
            del self.rfc_ids[msg.parsed.message_id]
        self.store.delete_message(self.email, msg.id)
        for draft_id in [d for d, m in self.drafts.items() if m == msg.id]:
            self.set_draft(draft_id, None)  # a draft whose message is gone is gone too
        self.save_state()

    # ---- drafts ------------------------------------------------------------------------------
    def draft_message(self, draft_id: str) -> StoredMessage:
        msg_id = self.drafts.get(draft_id)
        if msg_id is None:
            raise not_found()
        return self.messages[msg_id]

    def set_draft(self, draft_id: str, msg_id: str | None) -> None:
        if msg_id is None:
            self.drafts.pop(draft_id, None)
        else:
            self.drafts[draft_id] = msg_id
        self.save("draft", draft_id, None if msg_id is None else {"message": msg_id})

    # ---- identity ----------------------------------------------------------------------------
    def our_addresses(self) -> set[str]:
        """The account address plus every accepted send-as alias."""
        return {self.email} | {
            e for e, s in self.send_as.items() if s.get("isPrimary") or s.get("verificationStatus") == "accepted"
        }

    def is_workspace(self) -> bool:
        return self.domain not in CONSUMER_DOMAINS


def _checked_id(value: str) -> str:
    # Gmail tells a malformed id (400) from a well-formed one that does not exist (404).
    if not _ID.fullmatch(value):
        raise bad_request("Invalid id value")
    return value


def _visibility(value: object, allowed: tuple[str, ...], default: str) -> str:
    if value is None:
        return default
    if not isinstance(value, str) or value not in allowed:
        raise bad_request(f"Invalid value for visibility: {value}")
    return value
