"""One conversation as a reply needs it: the customer message to answer, its department, and its drafts.

Read live from Gmail (threads.get format=metadata, one call): a draft can be written, edited, sent or
discarded in Gmail's UI at any moment, so only Gmail knows which drafts a conversation has now.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from email.header import decode_header, make_header
from email.utils import getaddresses, parseaddr

from gmaildesk.config.desk import Desk
from gmaildesk.errors import GmailDeskError
from gmaildesk.gmail.errors import GmailApiError
from gmaildesk.gmail.types import DraftRef, Label, Message, Thread

# Marks the drafts `gmaildesk reply` writes with their agent. Gmail stores a draft made through the API as
# the MIME it was given (openclaw/gogcli#1126 reads a raw draft back byte for byte with drafts.get
# format=raw). A draft edited in Gmail's web UI is a new message Gmail composes itself, which may not
# carry it: such a draft counts as written in Gmail, someone else's.
AGENT_HEADER = "X-Gmaildesk-Agent"
HEADERS = (
    "From",
    "Reply-To",
    "To",
    "Cc",
    "Delivered-To",
    "Subject",
    "Message-ID",
    "References",
    "In-Reply-To",
    AGENT_HEADER,
)


@dataclass(frozen=True)
class Draft:
    id: str  # "" when drafts.list does not name it (it was sent or discarded meanwhile)
    message_id: str
    author: str | None  # the agent's name from AGENT_HEADER; None: written in Gmail
    since_ms: int  # Gmail's internalDate of the draft's message: when it was last saved


@dataclass(frozen=True)
class Conversation:
    thread_id: str
    answering: Message  # the customer's last message
    customer_name: str
    customer_email: str  # Reply-To when the customer set one, else From
    subject: str  # the customer's subject as written
    department: str | None  # the department whose label the conversation carries
    written_to: tuple[str, ...]  # To, Cc and Delivered-To of the customer's message, lowercase
    drafts: tuple[Draft, ...]


def header(message: Message, name: str) -> str:
    """The first header *name* (any case), RFC 2047 words decoded; "" when absent."""
    wanted = name.lower()
    for key, value in message.headers:
        if key.lower() == wanted:
            try:
                return str(make_header(decode_header(value)))
            except (ValueError, LookupError):  # a malformed encoded word: keep the text as sent
                return value
    return ""


def read_conversation(
    desk: Desk, thread_id: str, thread: Thread | GmailApiError, labels: Sequence[Label], drafts: Sequence[DraftRef]
) -> Conversation:
    """The conversation as threads.get answered it (or failed: 404 unknown id, 400 malformed id)."""
    if isinstance(thread, GmailApiError):
        if thread.status in (400, 404):
            raise GmailDeskError(
                f"no conversation {thread_id} in {desk.mailbox}",
                ["take the id from `gmaildesk threads` (or the address bar of the conversation in Gmail)"],
            )
        raise GmailDeskError(f"reading the conversation: {thread.message}", thread.hints, thread.exit_code)
    received = [m for m in thread.messages if "DRAFT" not in m.label_ids]
    theirs = [m for m in received if not desk.is_us(parseaddr(header(m, "From"))[1])]
    if not theirs:
        raise GmailDeskError(
            f"conversation {thread.id} has no message from a customer to answer",
            ["reply answers the customer's last message; this conversation holds only the desk's own mail"],
        )
    answering = theirs[-1]
    name, address = parseaddr(header(answering, "From"))
    reply_to = parseaddr(header(answering, "Reply-To"))[1]
    written_to = tuple(
        a.lower() for _, a in getaddresses([header(answering, h) for h in ("To", "Cc", "Delivered-To")]) if "@" in a
    )
    return Conversation(
        thread_id=thread.id,
        answering=answering,
        customer_name=name or address.split("@")[0],
        customer_email=(reply_to or address).lower(),
        subject=header(answering, "Subject"),
        department=_department(desk, thread, labels),
        written_to=written_to,
        drafts=_drafts(thread, drafts),
    )


def _department(desk: Desk, thread: Thread, labels: Sequence[Label]) -> str | None:
    names = {label.id: label.name.casefold() for label in labels}
    carried = {names[i] for m in thread.messages for i in m.label_ids if i in names}
    return next((d.name for d in desk.departments if d.label.casefold() in carried), None)


def _drafts(thread: Thread, drafts: Sequence[DraftRef]) -> tuple[Draft, ...]:
    draft_ids = {d.message_id: d.id for d in drafts}
    return tuple(
        Draft(draft_ids.get(m.id, ""), m.id, header(m, AGENT_HEADER).strip() or None, m.internal_date)
        for m in thread.messages
        if "DRAFT" in m.label_ids
    )
