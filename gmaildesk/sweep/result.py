"""What one sweep did: the transitions it made and the summary `sweep --json` prints (version 1)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from gmaildesk.errors import ExitCode

__all__ = ["SweepResult", "Transition", "state_label"]


@dataclass(frozen=True)
class Transition:
    thread_id: str
    from_state: str | None  # "new", "new+overdue", ... or None (no status yet)
    to_state: str | None
    reason: str

    def to_json(self) -> dict[str, str | None]:
        return {"thread": self.thread_id, "from": self.from_state, "to": self.to_state, "reason": self.reason}


@dataclass
class SweepResult:
    full: bool = False
    resynced: bool = False
    resync_reason: str | None = None  # "history expired" (404), "history cursor refused" (400)
    dry_run: bool = False
    threads_seen: int = 0  # conversations the store knows after this sweep
    threads_read: int = 0  # conversations read from Gmail in this sweep
    transitions: list[Transition] = field(default_factory=list)
    by_state: dict[str, int] = field(default_factory=dict)
    api_calls: int = 0
    calls_by_method: dict[str, int] = field(default_factory=dict)
    quota_units: int = 0
    messages_modified: int = 0
    duration_s: float = 0.0
    errors: list[str] = field(default_factory=list)
    retrying: list[str] = field(default_factory=list)  # Gmail named them but answered 404: read again next run
    given_up: list[str] = field(default_factory=list)  # ... still 404 after the retry bounds, never seen
    tickets_assigned: int = 0  # conversations numbered in this sweep (sweep/tickets.py)
    acks_sent: int = 0  # acknowledgements sent (auto_ack mode: sweep), a dead run's found in Gmail included
    acks_skipped: dict[str, int] = field(default_factory=dict)  # reason -> new conversations left unanswered
    quota_costs: str = "current"  # the cost table quota_units are priced by
    rate_limited: int = 0  # answers refused for quota (429s) and retried: the pacer's safety net at work
    provisional: int = 0  # conversations the store holds decided from Gmail's listings, not read whole yet
    listing_check: str | None = None  # what the sample read whole found of the listings' habits
    backfilled: int = 0  # provisional conversations read whole in this sweep
    backfilled_threads: list[str] = field(default_factory=list)  # ... which (the assignment pass reads their replies)
    corrected: int = 0  # ... whose state the whole read changed

    @property
    def status(self) -> str:
        return "partial" if self.errors else "ok"

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.PARTIAL if self.errors else ExitCode.OK

    def transitions_by_state(self) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for t in self.transitions:
            counts[t.to_state or "none"] += 1
        return dict(sorted(counts.items()))

    def to_json(self) -> dict[str, Any]:
        return {
            "version": 1,
            "kind": "sweep",
            "status": self.status,
            "full": self.full,
            "resynced": self.resynced,
            "resync_reason": self.resync_reason,
            "dry_run": self.dry_run,
            "threads_seen": self.threads_seen,
            "threads_read": self.threads_read,
            "transitions": [t.to_json() for t in self.transitions],
            "transitions_by_state": self.transitions_by_state(),
            "by_state": self.by_state,
            "api_calls": self.api_calls,
            "calls_by_method": self.calls_by_method,
            "quota_units": self.quota_units,
            "messages_modified": self.messages_modified,
            "duration_s": round(self.duration_s, 3),
            "errors": self.errors,
            "retrying": self.retrying,
            "given_up": self.given_up,
            "tickets_assigned": self.tickets_assigned,
            "acks_sent": self.acks_sent,
            "acks_skipped": dict(sorted(self.acks_skipped.items())),
            "quota_costs": self.quota_costs,
            "rate_limited": self.rate_limited,
            "provisional": self.provisional,
            "listing_check": self.listing_check,
            "backfilled": self.backfilled,
            "corrected": self.corrected,
        }


def state_label(state: str | None, overdue: bool) -> str | None:
    if state is None:
        return None
    return f"{state}+overdue" if overdue else state
