"""A conversation's state from its classified messages, the desk's SLAs and the time.

Pure: the clock comes in as `now_ms`, the last sweep's record as `previous`. Only counted
messages (customer mail, our replies and forwards) move a state; time alone moves
handled -> closed and makes new/waiting overdue.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from gmaildesk.sweep.classify import Classified, Kind

__all__ = ["State", "Policy", "Previous", "Verdict", "decide", "keep_hand_set", "with_deadline", "format_duration"]


class State(StrEnum):
    NEW = "new"  # only customer messages so far: a first response is owed
    WAITING = "waiting"  # the customer wrote last, after a reply or forward of ours
    HANDLED = "handled"  # we replied last, to the customer
    FORWARDED = "forwarded"  # we last handed it to someone else; the customer has not written since
    CLOSED = "closed"  # handled, and no counted message for close_after


@dataclass(frozen=True)
class Policy:
    first_response_s: int | None = None  # SLA while NEW (the department's); None: no SLA
    next_response_s: int | None = None  # SLA while WAITING
    close_after_s: int | None = None  # HANDLED this long with nothing counted -> CLOSED; None: never


@dataclass(frozen=True)
class Previous:
    """What the last sweep recorded for the conversation."""

    state: State | None
    last_counted_id: str | None  # the newest counted message when that state was recorded
    manual: bool = False  # the state was set by an agent (status label changed by hand)


@dataclass(frozen=True)
class Verdict:
    state: State | None  # None: nothing counted yet -> no status label
    overdue: bool
    due_at: int | None  # ms when the SLA runs out (NEW/WAITING with an SLA), else None
    last_counted: Classified | None
    first_response_at: int | None  # ms of our first reply after the first customer message
    reason: str
    manual: bool = False  # the state is an agent's, kept; record Previous(manual=True)


def decide(
    classified: Sequence[Classified],
    policy: Policy,
    now_ms: int,
    manual_state: State | None = None,
    previous: Previous | None = None,
) -> Verdict:
    """The conversation's state now.

    `manual_state`: the status an agent applied by hand, when the engine sees one that differs
    from what it last set. A hand-set state (given now, or recorded as `previous.manual`) is
    kept until a counted message newer than `previous.last_counted_id` arrives. Without a
    `previous` record every counted message is newer: a lost store must not freeze states,
    and we would rather reopen a thread than hide a customer's message.
    """
    ordered = sorted(classified, key=lambda c: c.message.internal_date)  # stable for equal dates
    counted = [c for c in ordered if c.counted]
    return keep_hand_set(
        _from_messages(counted, policy, now_ms), [c.message.id for c in counted], manual_state, previous
    )


def keep_hand_set(
    verdict: Verdict, counted_ids: Sequence[str], manual_state: State | None, previous: Previous | None
) -> Verdict:
    """*verdict*, or the state an agent set by hand when no counted message (ids oldest first) came since."""
    manual = manual_state
    if manual is None and previous is not None and previous.manual:
        manual = previous.state
    if manual is None or manual == verdict.state or not _nothing_counted_since(counted_ids, previous):
        return verdict
    return Verdict(
        state=manual,
        overdue=False,
        due_at=None,
        last_counted=verdict.last_counted,
        first_response_at=verdict.first_response_at,
        manual=True,
        reason=f"kept: set by hand to {manual.value}, no counted message since",
    )


def _nothing_counted_since(ids: Sequence[str], previous: Previous | None) -> bool:
    anchor = previous.last_counted_id if previous is not None else None
    if anchor is None:
        return not ids
    # An anchor no longer in the thread (message deleted) cannot be ordered: the messages decide.
    return anchor in ids and ids.index(anchor) == len(ids) - 1


def _first_response_at(counted: list[Classified]) -> int | None:
    seen_customer = False
    for c in counted:
        if c.kind is Kind.CUSTOMER:
            seen_customer = True
        elif seen_customer and c.kind is Kind.OURS_REPLY:
            return c.message.internal_date
    return None


def _from_messages(counted: list[Classified], policy: Policy, now_ms: int) -> Verdict:
    if not counted:
        return Verdict(
            None, False, None, None, None, "nothing counted yet (only automatic mail, bounces, lists, drafts or notes)"
        )
    first_response_at = _first_response_at(counted)
    last = counted[-1]
    last_at = last.message.internal_date

    def verdict(state: State, reason: str, due_at: int | None = None) -> Verdict:
        return with_deadline(state, reason, due_at, last, first_response_at, now_ms)

    if last.kind is Kind.CUSTOMER:
        ours = [i for i, c in enumerate(counted) if c.kind is not Kind.CUSTOMER]
        if not ours:
            start = counted[0].message.internal_date
            return verdict(
                State.NEW, f"customer wrote {_ago(now_ms, start)}, no reply yet", _due(start, policy.first_response_s)
            )
        after = "forward" if counted[ours[-1]].kind is Kind.OURS_FORWARD else "reply"
        start = counted[ours[-1] + 1].message.internal_date  # first customer message of this run
        return verdict(
            State.WAITING,
            f"customer wrote last ({_ago(now_ms, last_at)}) after our {after}",
            _due(start, policy.next_response_s),
        )
    if last.kind is Kind.OURS_FORWARD:
        return verdict(
            State.FORWARDED, f"we forwarded last ({_ago(now_ms, last_at)}), the customer has not written since"
        )
    if policy.close_after_s is not None and now_ms - last_at >= policy.close_after_s * 1000:
        return verdict(
            State.CLOSED,
            f"handled, nothing from the customer for {format_duration(now_ms - last_at)}"
            f" (closes after {format_duration(policy.close_after_s * 1000)})",
        )
    return verdict(State.HANDLED, f"we replied last ({_ago(now_ms, last_at)})")


def with_deadline(
    state: State, reason: str, due_at: int | None, last: Classified | None, first_response_at: int | None, now_ms: int
) -> Verdict:
    """A verdict that is overdue past `due_at` (None: no deadline), the reason saying by how much or when."""
    overdue = due_at is not None and now_ms > due_at
    if due_at is not None:
        late = f"; overdue by {format_duration(now_ms - due_at)}"
        reason += late if overdue else f"; due in {format_duration(due_at - now_ms)}"
    return Verdict(state, overdue, due_at, last, first_response_at, reason)


def _due(start_ms: int, sla_s: int | None) -> int | None:
    return None if sla_s is None else start_ms + sla_s * 1000


def _ago(now_ms: int, then_ms: int) -> str:
    return f"{format_duration(now_ms - then_ms)} ago"


def format_duration(ms: int) -> str:
    """Compact: 45s, 12m, 2h10m, 3d4h (never negative: clock skew reads as 0s)."""
    s = max(0, ms) // 1000
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86400:
        h, m = divmod(s // 60, 60)
        return f"{h}h{m}m" if m else f"{h}h"
    d, h = divmod(s // 3600, 24)
    return f"{d}d{h}h" if h else f"{d}d"
