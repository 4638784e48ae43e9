"""Conversations whose facts are pending: decided from Gmail's listings, not read whole yet.

The lean first sweep (sweep/listed.py) sets a conversation's state from messages.list searches and
marks its row `provisional`: the state, deadline, department and labels stand, but the message facts
(first response, agents, often the subject, customer and first customer message) are not read until a
later sweep reads the conversation whole. The audit counts such rows rather than quoting numbers made
from facts it does not have: `status` says how many there are, `report` leaves them out of its figures
and says how many of its period's conversations it left out. A store older than version 4 has none
(audit/db.py supplies NULL for the column).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

__all__ = ["Pending", "by_department", "in_period", "status_line", "report_line", "NOT_PROVISIONAL", "PENDING_TEXT"]

# A WHERE condition over threads: the row's facts were read (NULL: a store from before provisional rows).
NOT_PROVISIONAL = "IFNULL(provisional, 0) = 0"
# What `threads` and `show` print for a fact the sweep has not read yet.
PENDING_TEXT = "(pending)"

_SQLITE_MAX = 2**63 - 1


@dataclass(frozen=True)
class Pending:
    """Provisional conversations of a report's period; *undated*: of those, the ones whose first customer
    message is not read yet, counted in every period (they may belong to it)."""

    count: int = 0
    undated: int = 0


def by_department(db: sqlite3.Connection) -> dict[str | None, int]:
    """Provisional conversations with a status, per department (the threads_provisional index)."""
    return dict(
        db.execute(
            "SELECT department, count(*) FROM threads WHERE provisional = 1 AND state IS NOT NULL GROUP BY department"
        ).fetchall()
    )


def in_period(db: sqlite3.Connection, since_ms: int, until_ms: int | None) -> Pending:
    """Provisional conversations whose first customer message is in [since_ms, until_ms), plus every one
    whose first customer message is not known yet."""
    count, undated = db.execute(
        "SELECT count(*), sum(first_customer_at IS NULL) FROM threads WHERE provisional = 1 AND state IS NOT NULL "
        "AND (first_customer_at IS NULL OR first_customer_at BETWEEN ? AND ?)",
        (since_ms, _SQLITE_MAX if until_ms is None else until_ms - 1),
    ).fetchone()
    return Pending(count, undated or 0)


def _conversations(n: int) -> str:
    return f"{n} conversation{'s' if n != 1 else ''}"


def status_line(n: int) -> str:
    """`status`: how many conversations' facts are pending (the caller prints nothing for 0)."""
    them = "them" if n != 1 else "it"
    return f"facts pending for {_conversations(n)} (decided from Gmail's listings; the next sweeps read {them})"


def report_line(pending: Pending) -> str:
    """`report` (text and HTML): the period's conversations left out of its figures (nothing for 0)."""
    undated = f", {pending.undated} of them not yet dated" if pending.undated else ""
    them = "them" if pending.count != 1 else "it"
    return (
        f"facts pending for {_conversations(pending.count)} of this period{undated} (decided from Gmail's "
        f"listings): not counted in these figures until the next sweeps read {them}"
    )
