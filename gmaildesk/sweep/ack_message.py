"""The acknowledgement as a MIME message: a reply in the customer's conversation, marked automatic.

Gmail adds a sent message to a conversation only when (developers.google.com/gmail/api/guides/
threads, and Message.threadId in the discovery document) the threadId is set, In-Reply-To and
References name a message of it (RFC 2822), and "the Subject headers must match" — so the subject is
the customer's, with "Re: " before it, and the ticket number goes in the body, never the subject.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr

__all__ = ["Ack", "ack_message_id", "is_ack_message_id", "reply_subject", "build"]

_REPLY_PREFIX = re.compile(r"^\s*re\s*:", re.IGNORECASE)
_ACK_ID = re.compile(r"<?ack-\d+-[0-9a-z]+@gmaildesk\.[^>\s]+>?", re.IGNORECASE)
# References grows with each message of a conversation; the newest ids are at its end, and a
# header line this long is far beyond what threading needs (RFC 5322 §2.1.1: 998 characters a line).
_MAX_REFERENCES = 20


@dataclass(frozen=True)
class Ack:
    """What one acknowledgement says, to whom, from where, and which message it answers."""

    sender: str  # the department's alias or the mailbox
    sender_name: str  # its send-as display name; "" for none
    recipient: str
    subject: str  # the customer's subject
    message_id: str  # ours, deterministic: ack_message_id()
    in_reply_to: str  # the customer's Message-ID, <...>
    references: tuple[str, ...]  # the customer's References, then their Message-ID
    text: str
    html: str
    date_ms: int


def ack_message_id(ticket: int, thread_id: str, mailbox: str) -> str:
    """The same id for the same conversation in every run: the next run finds it with rfc822msgid:."""
    domain = mailbox.rpartition("@")[2].lower()
    return f"<ack-{ticket}-{thread_id.lower()}@gmaildesk.{domain}>"


def is_ack_message_id(value: str) -> bool:
    """True when *value* names one of the acknowledgements gmaildesk sends."""
    return bool(_ACK_ID.search(value))


def reply_subject(subject: str) -> str:
    """ "Re: <subject>": Gmail keeps a reply in the conversation when the subject matches, prefixes aside."""
    subject = " ".join(subject.split())
    return subject if _REPLY_PREFIX.match(subject) else f"Re: {subject}".rstrip()


def build(ack: Ack) -> bytes:
    message = EmailMessage(policy=SMTP)
    message["From"] = formataddr((ack.sender_name, ack.sender))
    message["To"] = ack.recipient  # only the one sender answered (RFC 3834 §3.1.3)
    message["Subject"] = reply_subject(ack.subject)
    message["Date"] = format_datetime(dt.datetime.fromtimestamp(ack.date_ms / 1000, tz=dt.UTC))
    message["Message-ID"] = ack.message_id
    if ack.in_reply_to:
        message["In-Reply-To"] = ack.in_reply_to
    if ack.references:
        message["References"] = " ".join(ack.references[-_MAX_REFERENCES:])
    # RFC 3834 §5: the mark that makes other responders, and our own sweep, leave it unanswered.
    message["Auto-Submitted"] = "auto-replied"
    # Exchange and Outlook send no out-of-office or other automatic answer to mail carrying it
    # ([MS-OXCMAIL] §2.2.3.2.14); FreeScout, Zammad and osTicket add it to their automatic mail.
    # No Precedence: RFC 3834 standardises only Auto-Submitted, and Precedence is not a standard field.
    message["X-Auto-Response-Suppress"] = "All"
    if ack.text:
        message.set_content(ack.text)
        if ack.html:
            message.add_alternative(ack.html, subtype="html")
    else:
        message.set_content(ack.html, subtype="html")
    return message.as_bytes()
