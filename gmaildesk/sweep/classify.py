"""Who wrote each message of a conversation, and whether it may change the conversation's state.

A pure function over message metadata (Gmail's `threads.get(format="metadata")`): no I/O,
no clock. Only CUSTOMER, OURS_REPLY and OURS_FORWARD are *counted*; everything else —
auto-replies, bounces, list mail, our own acknowledgements, drafts and internal notes —
never changes a state.

Order of the rules, and why:
1. DRAFT (Gmail label): not sent yet.
2. BOUNCE before auto-replies: Postfix, Exim and Exchange bounces carry Auto-Submitted too.
3. Strong auto-reply headers (Auto-Submitted, X-Autoreply, X-Auto-Response-Suppress...);
   from us that is OUR_ACK (Gmail files our vacation reply under SENT), else AUTO_REPLY.
4. LIST (List-Id, List-Unsubscribe, Precedence: list) — unless the list is one of our own
   Google Groups relaying to the mailbox.
5. Weak auto-reply signals (Precedence bulk/junk, out-of-office subjects, no-reply senders).
6. From us: NOTE / REPLY / FORWARD by recipients and subject. 7. Anyone else: CUSTOMER.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Iterable, Mapping, Sequence

from gmaildesk.sweep.automatic import (auto_reply_reason, bounce_reason, forward_prefix, is_own_list,
                                       list_reason, weak_auto_reply_reason)
from gmaildesk.sweep.headers import Headers, addresses, first_address

__all__ = ["CLASSIFIER_HEADERS", "Us", "MessageMeta", "Kind", "Classified", "COUNTED",
           "classify_message", "classify_thread", "customer_addresses", "author", "recipients"]

# What the engine asks threads.get(format="metadata", metadataHeaders=...) for. Absent headers
# cost nothing; Date, Message-ID and References are not needed (internalDate orders messages).
CLASSIFIER_HEADERS: tuple[str, ...] = (
    "From", "To", "Cc", "Bcc", "Reply-To", "Subject", "Return-Path", "Content-Type",
    "Auto-Submitted", "X-Autoreply", "X-Autorespond", "X-Autoresponder", "X-Auto-Response-Suppress",
    "Precedence", "List-Id", "List-Unsubscribe", "X-Failed-Recipients",
)


@dataclass(frozen=True)
class Us:
    """The desk: the mailbox, every send-as alias, team addresses, and team domains.

    Matching is case-insensitive; "support+billing@x" is "support@x" (Gmail subaddressing);
    a domain covers exactly that domain, not its subdomains.
    """

    addresses: frozenset[str] = frozenset()
    domains: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        object.__setattr__(self, "addresses", frozenset(a.strip().lower() for a in self.addresses))
        object.__setattr__(self, "domains", frozenset(d.strip().lower().lstrip("@") for d in self.domains))

    def includes(self, address: str) -> bool:
        address = (address or "").strip().lower()
        local, at, domain = address.rpartition("@")
        if not (at and local and domain):
            return False
        return (address in self.addresses or domain in self.domains
                or f"{local.split('+', 1)[0]}@{domain}" in self.addresses)


@dataclass(frozen=True)
class MessageMeta:
    """One message as the classifier sees it. `headers` is case-insensitive (a Headers)."""

    id: str
    internal_date: int  # ms since the epoch, Gmail's internalDate
    label_ids: frozenset[str] = frozenset()
    headers: Mapping[str, str] = field(default_factory=Headers)

    def __post_init__(self) -> None:
        if not isinstance(self.headers, Headers):
            object.__setattr__(self, "headers", Headers(self.headers))
        object.__setattr__(self, "label_ids", frozenset(self.label_ids))

    @classmethod
    def from_gmail(cls, message: Mapping) -> MessageMeta:
        """From a message resource of threads.get / messages.get (format metadata or full)."""
        payload = message.get("payload") or {}
        try:
            internal_date = int(message.get("internalDate") or 0)
        except (TypeError, ValueError):
            internal_date = 0
        return cls(id=str(message.get("id", "")), internal_date=internal_date,
                   label_ids=frozenset(message.get("labelIds") or ()),
                   headers=Headers.from_gmail(payload.get("headers")))


class Kind(str, Enum):
    CUSTOMER = "customer"
    OURS_REPLY = "ours_reply"
    OURS_FORWARD = "ours_forward"
    OURS_NOTE = "ours_note"
    OUR_ACK = "our_ack"
    AUTO_REPLY = "auto_reply"
    BOUNCE = "bounce"
    LIST = "list"
    DRAFT = "draft"


COUNTED = frozenset({Kind.CUSTOMER, Kind.OURS_REPLY, Kind.OURS_FORWARD})


@dataclass(frozen=True)
class Classified:
    message: MessageMeta
    kind: Kind
    reason: str  # short and human: "Auto-Submitted: auto-replied", "sent to the customer"
    counted: bool = field(init=False)  # follows from kind: only counted messages change a state

    def __post_init__(self) -> None:
        object.__setattr__(self, "counted", self.kind in COUNTED)


def _headers(msg: MessageMeta) -> Headers:
    return msg.headers if isinstance(msg.headers, Headers) else Headers(msg.headers)


def _author(h: Headers, us: Us) -> str:
    """The sender; for a Google Group of ours that rewrote From (DMARC), the Reply-To person."""
    sender = first_address(h.get_all("From"), bare=True)
    if us.includes(sender) and is_own_list(h, us.includes):
        reply_to = addresses(h.get_all("Reply-To"))
        if len(reply_to) == 1 and not us.includes(reply_to[0]):
            return reply_to[0]
    return sender


def author(msg: MessageMeta, us: Us) -> str:
    """Who wrote *msg* (lowercase address; "" when unknown), as the classifier sees it."""
    return _author(_headers(msg), us)


def recipients(msg: MessageMeta) -> tuple[str, ...]:
    """To, Cc and Bcc addresses of *msg*, lowercase, in order."""
    return _recipients(_headers(msg))


def _recipients(h: Headers) -> tuple[str, ...]:
    return addresses(h.get_all("To") + h.get_all("Cc") + h.get_all("Bcc"))


def _ours(msg: MessageMeta, h: Headers, us: Us, customers: frozenset[str]) -> Classified:
    recipients = _recipients(h)
    external = [r for r in recipients if not us.includes(r)]
    to_customer = [r for r in external if r in customers]
    prefix = forward_prefix(h.value("Subject"))
    if to_customer:  # colleagues or a vendor in Cc do not make it less of a reply
        return Classified(msg, Kind.OURS_REPLY, f"sent to the customer {to_customer[0]}")
    if not external:
        if prefix and customers:  # handed to a colleague or another department
            return Classified(msg, Kind.OURS_FORWARD, f"{prefix}: to {_first(recipients)}, "
                                                      "customer not among recipients")
        return Classified(msg, Kind.OURS_NOTE, "sent only to us" if recipients else "no recipients")
    if prefix:
        return Classified(msg, Kind.OURS_FORWARD, f"{prefix}: subject, customer not among recipients")
    if customers:
        return Classified(msg, Kind.OURS_FORWARD, f"sent to {external[0]}, customer not among recipients")
    # We wrote first (outbound): whoever we wrote to is the customer of this conversation.
    return Classified(msg, Kind.OURS_REPLY, f"we wrote first, to {external[0]}")


def _first(items: Sequence[str]) -> str:
    return items[0] if items else "nobody"


def classify_message(msg: MessageMeta, us: Us, customers: Iterable[str] = frozenset()) -> Classified:
    """Classify one message; `customers` are the conversation's customer addresses known so far."""
    h = _headers(msg)
    if "DRAFT" in msg.label_ids:
        return Classified(msg, Kind.DRAFT, "draft")
    if reason := bounce_reason(h):
        return Classified(msg, Kind.BOUNCE, reason)
    author = _author(h, us)
    # SENT: Gmail marks what this mailbox sent, whatever alias it used — even one Us lacks.
    ours = "SENT" in msg.label_ids or us.includes(author)
    listed = None
    reason = auto_reply_reason(h)
    if reason is None:
        listed = list_reason(h, us.includes)
        reason = None if listed else weak_auto_reply_reason(h, author, is_own_list(h, us.includes))
    if reason:
        return Classified(msg, Kind.OUR_ACK if ours else Kind.AUTO_REPLY,
                          f"our automatic reply: {reason}" if ours else reason)
    if listed:
        return Classified(msg, Kind.LIST, listed)
    if ours:
        return _ours(msg, h, us, frozenset(c.lower() for c in customers))
    return Classified(msg, Kind.CUSTOMER, f"from {author}" if author else "from an unknown sender")


def customer_addresses(msg: MessageMeta, us: Us) -> frozenset[str]:
    """Where a customer message says answers go: its author and its Reply-To, minus us."""
    h = _headers(msg)
    found = {_author(h, us), *addresses(h.get_all("Reply-To"))}
    return frozenset(a for a in found if a and not us.includes(a))


def classify_thread(messages: Sequence[MessageMeta], us: Us) -> list[Classified]:
    """Classify a conversation in internalDate order, learning its customers as it goes.

    Customers are the authors (and Reply-To) of customer mail seen *before* each message, so
    a later reply from a vendor does not turn our earlier forward to that vendor into a reply.
    When we wrote first, the external recipients of that first message are the customers.
    """
    customers: set[str] = set()
    result: list[Classified] = []
    for msg in sorted(messages, key=lambda m: m.internal_date):
        classified = classify_message(msg, us, frozenset(customers))
        if classified.kind is Kind.CUSTOMER:
            customers |= customer_addresses(msg, us)
        elif classified.kind is Kind.OURS_REPLY and not customers:
            customers |= {r for r in _recipients(_headers(msg)) if not us.includes(r)}
        result.append(classified)
    return result
