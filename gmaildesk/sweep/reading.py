"""What reading conversations gives the engine: one decision per conversation, and a run's worth of them."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from gmaildesk.gmail.types import Message
from gmaildesk.sweep.classify import MessageMeta
from gmaildesk.sweep.headers import Headers
from gmaildesk.sweep.relabel import Writes
from gmaildesk.sweep.result import Transition
from gmaildesk.sweep.store import ThreadRow

__all__ = ["Decision", "Reading", "message_meta"]


def message_meta(message: Message) -> MessageMeta:
    """A message read from Gmail as the classifier sees it."""
    return MessageMeta(
        id=message.id,
        internal_date=message.internal_date,
        label_ids=message.label_ids,
        headers=Headers(message.headers),
    )


@dataclass(frozen=True)
class Decision:
    """One conversation decided: its new row, the transition (None: same state) and its label writes."""

    row: ThreadRow
    transition: Transition | None
    writes: Writes


@dataclass
class Reading:
    """What reading and deciding conversations gave: rows, transitions and writes, and what went wrong."""

    rows: dict[str, ThreadRow] = field(default_factory=dict)
    transitions: list[Transition] = field(default_factory=list)
    writes: Writes = field(default_factory=lambda: defaultdict(list))
    attempted: set[str] = field(default_factory=set)  # read, or tried (404 or an error: old row kept)
    missing: dict[str, tuple[str, ...]] = field(default_factory=dict)  # new messages not shown; (): 404
    failed: set[str] = field(default_factory=set)  # read failed (not a 404): the next run retries them
    errors: list[str] = field(default_factory=list)
    threads_read: int = 0
    listing_check: str | None = None  # listed.py's undocumented habits, as the sample read found them

    def take(self, decision: Decision) -> None:
        self.rows[decision.row.thread_id] = decision.row
        if decision.transition is not None:
            self.transitions.append(decision.transition)
        for change, entries in decision.writes.items():
            self.writes[change].extend(entries)
