"""The mailbox history since a cursor, read against the sweep's own label writes.

A label event that is one of our recorded writes is ours to ignore; any other change of a
status label (or a move to spam or trash) needs the whole thread read, and the last status
an agent added by hand is kept. New and deleted messages are the thread's delta: an
incremental run may read just the new ones.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from gmaildesk.gmail.types import HistoryRecord
from gmaildesk.sweep.state import State
from gmaildesk.sweep.store import OwnWrite, ThreadRow

__all__ = ["Delta", "Scan", "StatusLabels", "scan", "HIDDEN"]

HIDDEN = frozenset({"SPAM", "TRASH"})


@dataclass(frozen=True)
class StatusLabels:
    """The label ids the sweep manages in this mailbox, and the departments' labels."""

    status: Mapping[State, str]  # state -> label id
    overdue: str
    departments: tuple[tuple[str, str], ...]  # (department name, label id) in desk order

    @property
    def managed(self) -> frozenset[str]:
        return frozenset(self.status.values()) | {self.overdue}

    def desired(self, state: State | None, overdue: bool) -> frozenset[str]:
        if state is None:
            return frozenset()
        return frozenset({self.status[state]} | ({self.overdue} if overdue else set()))

    def state_of(self, label_id: str) -> State | None:
        for state, lid in self.status.items():
            if lid == label_id:
                return state
        return None


@dataclass
class Delta:
    """One thread's message history since the checkpoint (incremental runs only)."""

    added: list[str] = field(default_factory=list)  # new message ids, drafts left out
    deleted: set[str] = field(default_factory=set)
    full: bool = False  # a label change (or anything else) that needs the whole thread read


@dataclass(frozen=True)
class Scan:
    """History records read against our own writes: the threads to read and what changed in them."""

    threads: list[str]
    deltas: dict[str, Delta]
    hand_set: dict[str, State]


def scan(
    records: Iterable[HistoryRecord],
    rows: dict[str, ThreadRow],
    own: Mapping[str, list[OwnWrite]],
    labels: StatusLabels,
    seen_until: int = 0,
) -> Scan:
    """The threads history records name as changed, with their deltas and the statuses set by hand."""
    threads: dict[str, None] = {}
    deltas: dict[str, Delta] = defaultdict(Delta)
    hand_set: dict[str, State] = {}
    managed = labels.managed
    for record in records:  # in history order
        for message in record.messages_added:
            if "DRAFT" not in message.label_ids:
                threads[message.thread_id] = None
                deltas[message.thread_id].added.append(message.id)
        for message in record.messages_deleted:
            if message.thread_id in rows:
                threads[message.thread_id] = None
                deltas[message.thread_id].deleted.add(message.id)
        for added, events in ((True, record.labels_added), (False, record.labels_removed)):
            for event in events if record.id > seen_until else ():
                thread_id = event.message.thread_id
                touched = set(event.label_ids)
                if touched & HIDDEN:
                    threads[thread_id] = None
                    deltas[thread_id].full = True
                elif touched & managed:
                    mine = _own_write(own, event.message.id, touched & managed, added=added)
                    if mine is None or not mine.committed:
                        # Not ours, or ours from a run that died before its commit (the store does
                        # not know the state it wrote): read the thread.
                        threads[thread_id] = None
                        deltas[thread_id].full = True
                    if mine is None:
                        _note_hand_set(hand_set, thread_id, touched, labels, added=added)
    return Scan(list(threads), dict(deltas), hand_set)


def _note_hand_set(
    hand_set: dict[str, State], thread_id: str, touched: set[str], labels: StatusLabels, *, added: bool
) -> None:
    """Someone else's status label change, in history order: the last status added by hand
    wins, one removed by hand is withdrawn."""
    states = [s for s in (labels.state_of(lid) for lid in touched) if s is not None]
    if added and len(states) == 1:
        hand_set[thread_id] = states[0]
    elif not added and hand_set.get(thread_id) in states:
        del hand_set[thread_id]


def _own_write(own: Mapping[str, list[OwnWrite]], message_id: str, labels: set[str], *, added: bool) -> OwnWrite | None:
    """The recorded write of ours that explains the history event (labels added to / removed from
    the message), a committed one first; None: someone else's change."""
    matches = [w for w in own.get(message_id, ()) if labels <= (w.added if added else w.removed)]
    return max(matches, key=lambda w: w.committed) if matches else None
