"""The sweep engine over an in-memory fake of gmail/api.py's GmailApi: its decisions, writes and
bookkeeping without HTTP. (The sandbox tests, test_sweep_*.py, cover the same engine over the
real client; this file pins what the engine asks of the Protocol and how it reads the answers.)"""

from __future__ import annotations

import inspect
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from gmaildesk.config import load_desk
from gmaildesk.config.desk import Desk
from gmaildesk.errors import GmailDeskError
from gmaildesk.gmail.api import GmailApi
from gmaildesk.gmail.errors import GmailApiError
from gmaildesk.gmail.types import History, HistoryRecord, Label, Message, MessageRef, Modify, Profile, Thread, Usage
from gmaildesk.sweep import engine
from gmaildesk.sweep.state import State
from gmaildesk.sweep.store import Store
from sweep_helpers import ALICE, DESK, SUPPORT

H_MS = 3_600_000
T0 = 1_790_000_000_000
STATUS_IDS = {
    "Status/New": "L_new",
    "Status/Waiting": "L_waiting",
    "Status/Handled": "L_handled",
    "Status/Forwarded": "L_forwarded",
    "Status/Closed": "L_closed",
    "Status/Overdue": "L_overdue",
    "Dept/Billing": "L_billing",
}


@dataclass
class FakeGmail:
    """GmailApi in memory: threads of Messages, a history that can be expired, every call recorded."""

    threads_by_id: dict[str, list[Message]] = field(default_factory=dict)
    history_id: int = 100
    records: list[HistoryRecord] = field(default_factory=list)
    expired: bool = False
    hidden: set[str] = field(default_factory=set)  # threads answered 404 (listed, not shown yet)
    modified: list[Modify] = field(default_factory=list)
    calls: Counter[str] = field(default_factory=Counter)

    def add(self, thread_id: str, message_id: str, at: int, *, sender: str = ALICE, sent: bool = False) -> None:
        labels = frozenset({"SENT"} if sent else {"INBOX", "UNREAD"})
        headers = (("From", sender), ("To", SUPPORT if not sent else ALICE), ("Subject", "Printer offline"))
        message = Message(message_id, thread_id, at, labels, headers)
        self.threads_by_id.setdefault(thread_id, []).append(message)
        self.history_id += 1
        self.records.append(HistoryRecord(self.history_id, messages_added=(MessageRef(message_id, thread_id, labels),)))

    def profile(self) -> Profile:
        self.calls["users.getProfile"] += 1
        return Profile(SUPPORT, str(self.history_id))

    def labels(self) -> list[Label]:
        self.calls["users.labels.list"] += 1
        return [Label(label_id, name) for name, label_id in STATUS_IDS.items()]

    def thread_ids(self, query: str) -> list[str]:
        self.calls["users.threads.list"] += 1
        return list(self.threads_by_id)

    def history(self, start_history_id: str) -> History:
        self.calls["users.history.list"] += 1
        if self.expired:
            raise GmailApiError(
                "reading the mailbox history: Requested entity was not found. (HTTP 404)", status=404, reason="notFound"
            )
        return History(tuple(r for r in self.records if r.id > int(start_history_id)), str(self.history_id))

    def threads(self, thread_ids: Sequence[str], headers: Sequence[str]) -> list[Thread | GmailApiError]:
        self.calls["users.threads.get"] += len(thread_ids)
        return [
            GmailApiError("not found (HTTP 404)", status=404, reason="notFound")
            if t in self.hidden
            else Thread(t, tuple(self._current(m) for m in self.threads_by_id[t]))
            for t in thread_ids
        ]

    def messages(self, message_ids: Sequence[str], headers: Sequence[str]) -> list[Message | GmailApiError]:
        self.calls["users.messages.get"] += len(message_ids)
        every = {m.id: m for messages in self.threads_by_id.values() for m in messages}
        return [
            GmailApiError("not found (HTTP 404)", status=404, reason="notFound")
            if every[m].thread_id in self.hidden
            else self._current(every[m])
            for m in message_ids
        ]

    def batch_modify(self, changes: Sequence[Modify]) -> list[GmailApiError | None]:
        self.calls["users.messages.batchModify"] += len(changes)
        self.modified.extend(changes)
        return [None] * len(changes)

    def message_refs(self, query: str, label_ids: Sequence[str] = ()) -> list[MessageRef]:
        self.calls["users.messages.list"] += 1
        every = [self._current(m) for messages in self.threads_by_id.values() for m in messages]
        every = [m for m in every if set(label_ids) <= m.label_ids]
        return [MessageRef(m.id, m.thread_id) for m in sorted(every, key=lambda m: m.internal_date, reverse=True)]

    def usage(self) -> Usage:
        return Usage(sum(self.calls.values()), dict(self.calls))

    def _current(self, message: Message) -> Message:
        """The message with every label change made so far (batchModify records no history here)."""
        labels = set(message.label_ids)
        for change in self.modified:
            if message.id in change.ids:
                labels = (labels | change.add) - change.remove
        return Message(message.id, message.thread_id, message.internal_date, frozenset(labels), message.headers)


@pytest.fixture
def desk(tmp_path: Path) -> Desk:
    path = tmp_path / "desk.yaml"
    path.write_text(DESK.replace("ARCHIVE", "true"))
    return load_desk(path)


def sweep(
    gmail: GmailApi, desk: Desk, path: Path, now_ms: int, *, full: bool = False, dry_run: bool = False
) -> engine.SweepResult:
    with Store(path) as store:
        return engine.run(gmail, desk, store, now_ms=now_ms, full=full, dry_run=dry_run)


def test_the_fake_has_every_call_of_the_protocol_with_its_parameters() -> None:
    members = [name for name in vars(GmailApi) if not name.startswith("_")]
    assert members, "GmailApi lists no calls"
    for name in members:
        wanted = inspect.signature(getattr(GmailApi, name))
        assert inspect.signature(getattr(FakeGmail, name)).parameters.keys() == wanted.parameters.keys(), name


def test_first_sweep_lists_reads_decides_and_writes_one_group_per_label_change(desk, tmp_path):
    gmail = FakeGmail()
    gmail.add("t1", "m1", T0)
    gmail.add("t2", "m2", T0)
    gmail.add("t2", "m3", T0 + H_MS, sender=SUPPORT, sent=True)
    result = sweep(gmail, desk, tmp_path / "s.sqlite", T0 + 2 * H_MS)
    assert result.full and not result.errors
    assert {(t.thread_id, t.to_state) for t in result.transitions} == {("t1", "new"), ("t2", "handled")}
    assert sorted((c.ids, sorted(c.add)) for c in gmail.modified) == [
        (("m1",), ["L_new"]),
        (("m2", "m3"), ["L_handled"]),
    ]
    assert result.calls_by_method == {  # lean: the scope and the mailbox listed, t1's one message read alone
        "users.getProfile": 1,
        "users.labels.list": 1,
        "users.messages.list": 2,
        "users.messages.get": 1,
        "users.threads.get": 1,
        "users.messages.batchModify": 2,
        "users.history.list": 1,
    }
    assert result.api_calls == 9 and result.messages_modified == 3
    with Store(tmp_path / "s.sqlite") as store:
        rows = store.threads()
    assert rows["t1"].state is State.NEW and rows["t2"].state is State.HANDLED


def test_an_incremental_run_reads_only_the_new_message_and_the_clock_makes_overdue(desk, tmp_path):
    gmail = FakeGmail()
    gmail.add("t1", "m1", T0)
    gmail.add("t2", "m2", T0)
    gmail.add("t2", "m3", T0 + H_MS, sender=SUPPORT, sent=True)
    sweep(gmail, desk, tmp_path / "s.sqlite", T0 + 2 * H_MS)
    gmail.calls.clear()
    gmail.add("t2", "m4", T0 + 3 * H_MS)  # the customer writes again
    result = sweep(gmail, desk, tmp_path / "s.sqlite", T0 + 5 * H_MS)
    assert not result.full
    assert [(t.thread_id, t.from_state, t.to_state) for t in result.transitions] == [
        ("t2", "handled", "waiting"),
        ("t1", "new", "new+overdue"),
    ]  # read first, then the clock's
    assert gmail.calls["users.messages.get"] == 1 and gmail.calls["users.threads.get"] == 0


def test_expired_history_resyncs_from_the_typed_status(desk, tmp_path):
    gmail = FakeGmail()
    gmail.add("t1", "m1", T0)
    sweep(gmail, desk, tmp_path / "s.sqlite", T0 + H_MS)
    gmail.expired = True
    result = sweep(gmail, desk, tmp_path / "s.sqlite", T0 + H_MS)
    assert result.resynced and result.full and result.resync_reason == "history expired"
    assert result.threads_read == 0  # lean: t1's message and status labels are as stored, not read again
    gmail.add("t1", "m2", T0 + H_MS)
    again = sweep(gmail, desk, tmp_path / "s.sqlite", T0 + 2 * H_MS)
    assert again.resynced and again.threads_read == 1


def test_a_thread_answered_404_is_retried_not_failed(desk, tmp_path):
    gmail = FakeGmail()
    gmail.add("t1", "m1", T0)
    gmail.add("t2", "m2", T0)
    gmail.hidden = {"t2"}
    result = sweep(gmail, desk, tmp_path / "s.sqlite", T0 + H_MS)
    assert result.retrying == ["t2"] and result.errors == [] and result.exit_code == 0
    with Store(tmp_path / "s.sqlite") as store:
        assert list(store.pending()) == ["t2"]
    gmail.hidden = set()
    again = sweep(gmail, desk, tmp_path / "s.sqlite", T0 + H_MS)
    assert again.retrying == [] and [t.thread_id for t in again.transitions] == ["t2"]


def test_dry_run_writes_nothing(desk, tmp_path):
    gmail = FakeGmail()
    gmail.add("t1", "m1", T0)
    result = sweep(gmail, desk, tmp_path / "s.sqlite", T0 + H_MS, dry_run=True)
    assert [t.to_state for t in result.transitions] == ["new"]
    assert gmail.modified == [] and result.messages_modified == 0
    with Store(tmp_path / "s.sqlite") as store:
        assert store.threads() == {} and store.checkpoint().history_id is None


def test_a_stored_state_the_sweep_does_not_know_is_a_damaged_store(desk, tmp_path):
    gmail = FakeGmail()
    gmail.add("t1", "m1", T0)
    sweep(gmail, desk, tmp_path / "s.sqlite", T0 + H_MS)
    with Store(tmp_path / "s.sqlite") as store:
        store.db.execute("UPDATE threads SET state = 'snoozed' WHERE thread_id = 't1'")
    with pytest.raises(GmailDeskError) as damaged, Store(tmp_path / "s.sqlite") as store:
        store.threads()
    assert "unknown state 'snoozed' in the row of thread t1" in damaged.value.message
    assert damaged.value.hints == ("move the file aside; the next sweep rebuilds it with a full scan",)
