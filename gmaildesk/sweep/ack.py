"""auto_ack mode: sweep — one acknowledgement per new customer conversation, sent by the sweep.

Runs after the sweep committed (the store knows every conversation, its first message and its
ticket). Only conversations whose first message arrived after sweep-mode acknowledgements were
first enabled for this store are new: the history a first full sweep finds is never answered.

Never twice for one conversation, even if the process dies between messages.send and the store:
the acknowledgement's row is written as an 'intent', with its deterministic Message-ID, BEFORE the
send; an intent found by the next run is looked up in the mailbox (rfc822msgid:, Gmail Help 7190)
and only sent if Gmail does not have it. Never to automatic mail, lists, bounces, robots or
ourselves, and at most max_per_sender_per_day to one address (RFC 3834 §2: an automatic
responder must not answer the same sender over and over).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.utils import parseaddr
from typing import Protocol

from gmaildesk.config.desk import Desk
from gmaildesk.errors import GmailDeskError
from gmaildesk.gmail.errors import GmailApiError
from gmaildesk.gmail.types import Message, MessageRef, Usage
from gmaildesk.sweep.ack_message import Ack, ack_message_id, build, is_ack_message_id
from gmaildesk.sweep.classify import POSSIBLY_AUTOMATIC, UNVERIFIED_SENDER, Kind
from gmaildesk.sweep.headers import Headers
from gmaildesk.sweep.result import SweepResult
from gmaildesk.sweep.store import Store
from gmaildesk.sweep.tickets import assign_tickets

__all__ = ["AckApi", "AckOutcome", "acknowledge", "after_sweep", "BEFORE", "DAY_MS"]

DAY_MS = 86_400_000
BEFORE = "before acknowledgements began"  # the history a first sweep finds, or mail before auto_ack start
# What the acknowledgement needs of the customer's first message: threading and where it was sent.
_HEADERS = ("From", "To", "Cc", "Delivered-To", "Subject", "Message-ID", "References", "In-Reply-To", "Return-Path")
# RFC 3834 §2: responders may refuse return addresses like owner-*, *-request and MAILER-DAEMON;
# no-reply addresses read nothing (the classifier's automatic.py treats them the same way).
_ROBOT = re.compile(
    r"^(?:(?:no|do[-_.]?not)[-_.]?reply(?:[-_.+].*)?|mailer[-_.]?daemon|postmaster|owner-.*|.*-request|bounces?(?:[-+].*)?)$"
)
# One plain address, nothing a header could be bent with (the store keeps the From as Gmail showed it).
_ADDRESS = re.compile(r"[^\s<>()\[\],;:\"@]{1,64}@[A-Za-z0-9.-]{1,253}")
_KIND_REASONS = {
    Kind.AUTO_REPLY: "automatic",
    Kind.BOUNCE: "bounce",
    Kind.LIST: "list",
    Kind.OUR_ACK: "ourselves",
    Kind.OURS_REPLY: "ourselves",
    Kind.OURS_FORWARD: "ourselves",
    Kind.OURS_NOTE: "ourselves",
}


class AckApi(Protocol):
    """The Gmail calls the acknowledgement pass makes (gmail/api.py HttpGmailApi has them)."""

    def messages(self, message_ids: Sequence[str], headers: Sequence[str]) -> list[Message | GmailApiError]: ...

    def message_refs(self, query: str) -> list[MessageRef]: ...

    def send(self, raw: bytes, thread_id: str) -> MessageRef: ...

    def usage(self) -> Usage: ...


@dataclass
class AckOutcome:
    sent: int = 0
    skipped: Counter[str] = field(default_factory=Counter)  # reason -> conversations
    found_sent: int = 0  # intents of a run that died after sending: found in Gmail, not sent again
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Candidate:
    thread_id: str
    ticket: int
    message_id: str  # Gmail id of the conversation's first message
    at: int
    kind: str
    sender: str
    flags: frozenset[str]
    subject: str
    department: str


def acknowledge(api: AckApi, desk: Desk, store: Store, now_ms: int) -> AckOutcome:
    """Send the acknowledgements this sweep owes; the outcome counts what was sent and skipped."""
    outcome = AckOutcome()
    ack = desk.auto_ack
    if ack is None or ack.mode != "sweep" or not ack.enabled or ack.templates is None:
        _stopped(store)
        return outcome
    since = _since(store, now_ms)
    _settle_intents(api, store, outcome)
    candidates = _candidates(store)
    # Recorded once, so that later sweeps never look at them again.
    began = max(since, _ms(ack.start))
    skips = [(c, c.sender, BEFORE) for c in candidates if c.at < began]
    candidates = [c for c in candidates if c.at >= began]
    if ack.end is not None:
        skips += [(c, c.sender, "after auto_ack end") for c in candidates if c.at > _ms(ack.end)]
        candidates = [c for c in candidates if c.at <= _ms(ack.end)]
    headers = _first_headers(api, candidates, outcome)
    to_send: list[tuple[_Candidate, Ack]] = []
    counts = _recent_counts(store, now_ms)
    for candidate in candidates:
        h = headers.get(candidate.message_id)
        if h is None:
            continue  # not readable now (an error is recorded): the next run tries again
        reason = _refusal(candidate, h, desk)
        if reason is None and counts[candidate.sender] >= ack.max_per_sender_per_day:
            reason = "per-sender limit"
        if reason is not None:
            skips.append((candidate, candidate.sender, reason))
            continue
        try:
            to_send.append((candidate, _compose(candidate, h, desk, now_ms)))
        except GmailDeskError as error:
            skips.append((candidate, candidate.sender, f"template: {error.message}"))
            continue
        counts[candidate.sender] += 1
    outcome.skipped.update(reason for _, _, reason in skips)
    _record_skips(store, skips, now_ms)
    _send_all(api, store, to_send, now_ms, outcome)
    return outcome


def _ms(moment: dt.datetime | None) -> int:
    return 0 if moment is None else int(moment.timestamp() * 1000)


def _since(store: Store, now_ms: int) -> int:
    """When sweep-mode acknowledgements were first enabled for this store (recorded on first use)."""
    with store.transaction("recording when acknowledgements started in") as db:
        db.execute("INSERT OR IGNORE INTO ack_start (id, at) VALUES (1, ?)", (now_ms,))
        (since,) = db.execute("SELECT at FROM ack_start WHERE id = 1").fetchone()
    return int(since)


def _stopped(store: Store) -> None:
    """Acknowledgements are off: forget when they began, so that turning them on again answers only
    what arrives after that, never the conversations of the weeks they were off."""
    if store.db.execute("SELECT 1 FROM ack_start").fetchone() is not None:
        with store.transaction("recording that acknowledgements stopped in") as db:
            db.execute("DELETE FROM ack_start")


def _settle_intents(api: AckApi, store: Store, outcome: AckOutcome) -> None:
    """Intents left by a run that died: sent if Gmail has the Message-ID, else forgotten (sent again below)."""
    intents = store.db.execute("SELECT thread_id, message_id FROM acks WHERE status = 'intent'").fetchall()
    for thread_id, message_id in intents:
        try:
            found = api.message_refs(f"rfc822msgid:{message_id.strip('<>')}")
        except GmailApiError as error:
            outcome.errors.append(f"checking acknowledgement {message_id}: {error}")
            continue
        with store.transaction("recording an acknowledgement in") as db:
            if found:
                db.execute(
                    "UPDATE acks SET status = 'sent', gmail_id = ? WHERE thread_id = ?", (found[0].id, thread_id)
                )
                outcome.found_sent += 1
            else:
                db.execute("DELETE FROM acks WHERE thread_id = ?", (thread_id,))


def _candidates(store: Store) -> list[_Candidate]:
    """Conversations without an acknowledgement row (sent or skipped), with their first message."""
    rows = store.db.execute(
        "WITH unanswered AS MATERIALIZED (SELECT thread_id, subject, department FROM threads t "
        "WHERE NOT EXISTS (SELECT 1 FROM acks a WHERE a.thread_id = t.thread_id)) "
        "SELECT u.thread_id, k.number, m.message_id, m.at, m.kind, COALESCE(m.from_addr, ''), m.flags, "
        "COALESCE(u.subject, ''), COALESCE(u.department, '') "
        "FROM unanswered u JOIN tickets k ON k.thread_id = u.thread_id "
        "JOIN messages m ON m.thread_id = u.thread_id "
        "WHERE m.at = (SELECT MIN(at) FROM messages f WHERE f.thread_id = u.thread_id) "
        "ORDER BY m.at, k.number, m.message_id"
    ).fetchall()
    seen: dict[str, _Candidate] = {}
    for r in rows:
        flags = frozenset(json.loads(r[6] or "[]"))
        seen.setdefault(r[0], _Candidate(r[0], r[1], r[2], r[3], r[4], r[5].lower(), flags, r[7], r[8]))
    return list(seen.values())


def _first_headers(api: AckApi, candidates: list[_Candidate], outcome: AckOutcome) -> dict[str, Headers]:
    wanted = [c.message_id for c in candidates if c.kind == Kind.CUSTOMER]
    found: dict[str, Headers] = {c.message_id: Headers() for c in candidates if c.kind != Kind.CUSTOMER}
    for message_id, answer in zip(wanted, api.messages(wanted, _HEADERS), strict=True):
        if isinstance(answer, GmailApiError):
            outcome.errors.append(f"reading message {message_id} to acknowledge it: {answer}")
        else:
            found[message_id] = Headers(answer.headers)
    return found


def _refusal(candidate: _Candidate, h: Headers, desk: Desk) -> str | None:
    """Why this conversation gets no acknowledgement, or None."""
    if candidate.kind != Kind.CUSTOMER:
        return _KIND_REASONS.get(Kind(candidate.kind), "not a customer's")
    if UNVERIFIED_SENDER in candidate.flags or desk.is_us(candidate.sender) or _is_us_plus(candidate.sender, desk):
        return "ourselves"
    if POSSIBLY_AUTOMATIC in candidate.flags:
        return "possibly automatic"
    if not _ADDRESS.fullmatch(candidate.sender):
        return "no usable address"
    if _ROBOT.match(candidate.sender.partition("@")[0]):
        return "no-reply"
    # RFC 3834 §2: a null return path (bounces, other responders) must never be answered.
    if any(value.strip() == "<>" for value in h.get_all("Return-Path")):
        return "null return path"
    # A new conversation that names one of our acknowledgements answers it: an auto-responder
    # whose subject changed ("Automatic reply: ..."), so Gmail put it in a conversation of its own.
    if any(is_ack_message_id(v) for v in (*h.get_all("In-Reply-To"), *h.get_all("References"))):
        return "answers our acknowledgement"
    return None


def _is_us_plus(address: str, desk: Desk) -> bool:
    local, _, domain = address.partition("@")
    return "+" in local and desk.is_us(f"{local.split('+', 1)[0]}@{domain}")


def _recent_counts(store: Store, now_ms: int) -> Counter[str]:
    rows = store.db.execute(
        "SELECT recipient, COUNT(*) FROM acks WHERE status IN ('intent', 'sent') AND at > ? GROUP BY recipient",
        (now_ms - DAY_MS,),
    ).fetchall()
    return Counter({recipient: count for recipient, count in rows})


def _compose(candidate: _Candidate, h: Headers, desk: Desk, now_ms: int) -> Ack:
    assert desk.auto_ack is not None and desk.auto_ack.templates is not None
    customer_name = _display_name(h.value("From"))
    text, html = desk.auto_ack.templates.render(
        {
            "ticket": candidate.ticket,
            "customer": {"name": customer_name, "email": candidate.sender},
            "subject": candidate.subject,
            "department": candidate.department,
        }
    )
    sender = _sender(candidate, h, desk)
    theirs = h.value("Message-ID").strip()
    references = tuple(re.findall(r"<[^<>\s]+>", " ".join(h.get_all("References"))))
    return Ack(
        sender=sender,
        sender_name=next((s.display_name or "" for s in desk.send_as if s.address.lower() == sender), ""),
        recipient=candidate.sender,
        subject=h.value("Subject") or candidate.subject,
        message_id=ack_message_id(candidate.ticket, candidate.thread_id, desk.mailbox),
        in_reply_to=theirs,
        references=(*references, theirs) if theirs else references,
        text=text,
        html=html,
        date_ms=now_ms,
    )


def _display_name(value: str) -> str:
    return parseaddr(value)[0].strip()


def _sender(candidate: _Candidate, h: Headers, desk: Desk) -> str:
    """The department's alias; else the address of ours the customer wrote to; else the mailbox."""
    department = next((d for d in desk.departments if d.name == candidate.department), None)
    if department is not None and department.alias:
        return department.alias.lower()
    ours = {desk.mailbox.lower(), *(s.address.lower() for s in desk.send_as)}
    return next((a for a in h.addresses("To", "Cc", "Delivered-To") if a in ours), desk.mailbox.lower())


def _record_skips(store: Store, skips: list[tuple[_Candidate, str, str]], now_ms: int) -> None:
    if not skips:
        return
    with store.transaction("recording skipped acknowledgements in") as db:
        db.executemany(
            "INSERT OR IGNORE INTO acks (thread_id, ticket, message_id, recipient, status, reason, at) "
            "VALUES (?, ?, ?, ?, 'skipped', ?, ?)",
            [
                (c.thread_id, c.ticket, f"<skipped-{c.ticket}-{c.thread_id}>", recipient, reason, now_ms)
                for c, recipient, reason in skips
            ],
        )


def _send_all(
    api: AckApi, store: Store, to_send: list[tuple[_Candidate, Ack]], now_ms: int, outcome: AckOutcome
) -> None:
    """Intents first (one transaction), then the sends, then 'sent' (one transaction)."""
    if not to_send:
        return
    with store.transaction("recording acknowledgements about to be sent in") as db:
        db.executemany(
            "INSERT INTO acks (thread_id, ticket, message_id, recipient, status, at) VALUES (?, ?, ?, ?, 'intent', ?)",
            [(c.thread_id, c.ticket, a.message_id, a.recipient, now_ms) for c, a in to_send],
        )
    sent: list[tuple[str, str]] = []
    try:
        for candidate, ack in to_send:
            try:
                sent.append((api.send(build(ack), candidate.thread_id).id, candidate.thread_id))
            except GmailApiError as error:
                outcome.errors.append(f"sending the acknowledgement of ticket {candidate.ticket}: {error}")
    finally:
        with store.transaction("recording sent acknowledgements in") as db:
            db.executemany("UPDATE acks SET status = 'sent', gmail_id = ? WHERE thread_id = ?", sent)
    outcome.sent += len(sent)


def after_sweep(api: AckApi, desk: Desk, store: Store, result: SweepResult, now_ms: int, before: Usage) -> None:
    """After a committed sweep: number new conversations, send the acknowledgements owed; the
    result counts them, and its call summary includes their Gmail calls."""
    result.tickets_assigned = assign_tickets(store, now_ms)
    outcome = acknowledge(api, desk, store, now_ms)
    result.acks_sent = outcome.sent + outcome.found_sent
    result.acks_skipped = dict(outcome.skipped)
    result.errors.extend(outcome.errors)
    used = api.usage().since(before)
    result.calls_by_method = dict(used.by_method)
    result.api_calls = used.calls
    result.quota_units = used.units
