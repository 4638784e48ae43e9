"""Ticket numbers: one per conversation, sequential per mailbox, kept in the store (v3 `tickets`).

A conversation gets its number in the first sweep that knows it. A first full sweep finds many
at once: they are numbered oldest first (the conversation's earliest message, then its thread
id), so the numbers follow the order customers wrote in, as if the desk had always numbered
them. A number is never reused or changed: a conversation that leaves the sweep's scope keeps
its row, and gets the same number if it comes back.
"""

from __future__ import annotations

from gmaildesk.sweep.store import Store

__all__ = ["FIRST_TICKET", "assign_tickets"]

FIRST_TICKET = 1

# The conversation's earliest known moment; a lean full sweep may not have read its messages yet.
_STARTED = (
    "COALESCE((SELECT MIN(m.at) FROM messages m WHERE m.thread_id = t.thread_id), "
    "t.first_customer_at, t.last_counted_at, t.updated_at, 0)"
)


def assign_tickets(store: Store, now_ms: int) -> int:
    """Number every conversation the store knows that has no number yet; how many were numbered."""
    with store.transaction("numbering conversations in") as db:
        new = [
            row[0]
            for row in db.execute(
                f"SELECT t.thread_id FROM threads t WHERE NOT EXISTS "
                f"(SELECT 1 FROM tickets k WHERE k.thread_id = t.thread_id) ORDER BY {_STARTED}, t.thread_id"
            )
        ]
        (last,) = db.execute("SELECT MAX(number) FROM tickets").fetchone()
        first = FIRST_TICKET if last is None else last + 1
        db.executemany(
            "INSERT INTO tickets (number, thread_id, at) VALUES (?, ?, ?)",
            [(first + offset, thread_id, now_ms) for offset, thread_id in enumerate(new)],
        )
    return len(new)
