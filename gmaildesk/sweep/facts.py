"""What the audit shows of a conversation, taken from the metadata the sweep read (no extra calls)."""

from __future__ import annotations

import dataclasses
from typing import Any

from gmaildesk.sweep.classify import Classified, Kind, MessageMeta, Us, author, recipients
from gmaildesk.sweep.headers import Headers
from gmaildesk.sweep.state import State
from gmaildesk.sweep.store import MessageFact

__all__ = ["conversation_facts", "with_flags"]


def conversation_facts(classified: list[Classified], us: Us, state: State | None) -> dict[str, Any]:
    """What the audit shows of a conversation, from the metadata already read (no extra calls):
    subject, customer, the send-as addresses of our first and last replies, the start of the
    current customer wait, and every message (no drafts) with its time, kind and sender."""
    shown = [c for c in classified if c.kind is not Kind.DRAFT]  # classify_thread returns date order
    subject = next((s for s in (_subject(c.message) for c in shown) if s), "")
    customer = next((author(c.message, us) for c in shown if c.kind is Kind.CUSTOMER and author(c.message, us)), None)
    replies = [c for c in shown if c.kind is Kind.OURS_REPLY]
    if customer is None and replies:  # we wrote first: whoever we wrote to
        customer = next((r for r in recipients(replies[0].message) if not us.includes(r)), None)
    agents = [a for a in (author(c.message, us) for c in replies) if a]
    waiting_since = None
    counted = [c for c in shown if c.counted]
    if state in (State.NEW, State.WAITING) and counted and counted[-1].kind is Kind.CUSTOMER:
        start = len(counted) - 1
        while start > 0 and counted[start - 1].kind is Kind.CUSTOMER:
            start -= 1
        waiting_since = counted[start].message.internal_date
    flags = [tuple(sorted(c.flags)) for c in shown]
    return {
        "subject": subject,
        "customer": customer,
        "agent": agents[-1] if agents else None,
        "first_agent": agents[0] if agents else None,
        "waiting_since": waiting_since,
        "flags": sorted(set().union(*flags)),
        "messages": [
            MessageFact(c.message.id, c.message.internal_date, c.kind.value, author(c.message, us) or None, f)
            for c, f in zip(shown, flags, strict=True)
        ],
    }


def _subject(message: MessageMeta) -> str:
    headers = message.headers  # a Headers: MessageMeta converts any mapping it is given
    return headers.value("Subject") if isinstance(headers, Headers) else headers.get("Subject", "")


def with_flags(classified: Classified, flags: tuple[str, ...]) -> Classified:
    """A stored message's flags back on its rebuilt verdict."""
    if not flags:
        return classified
    return dataclasses.replace(classified, flags=frozenset(flags))
