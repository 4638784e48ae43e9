"""Rehearsal mail for `gmaildesk sandbox send` and `reply`: a sandbox user (a team member, the
support mailbox) sends through messages.send as its own Gmail would; anyone else is an outsider
whose mail arrives by the sandbox's SMTP-style delivery, as a customer's would."""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy as email_policy
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, make_msgid, parseaddr
from typing import Any

from gmaildesk.errors import ExitCode, GmailDeskError
from gmaildesk.gmail import scopes
from gmaildesk.gmail.client import GmailClient
from gmaildesk.gmail.connection import ConnectionOptions, connect

# (mailbox, raw message) -> the sandbox's delivery answer
Deliver = Callable[[str, bytes], dict[str, Any]]

_THREAD_HEADERS = ["From", "Reply-To", "To", "Subject", "Message-ID", "References"]


@dataclass(frozen=True)
class Draft:
    sender: str
    to: tuple[str, ...]
    subject: str | None  # None: "Re: " and the subject of the thread replied to
    body: str
    thread_id: str | None = None


@dataclass(frozen=True)
class Outcome:
    how: str  # "sent by" (messages.send) or "delivered to" (inbound)
    mailbox: str
    id: str
    thread_id: str
    labels: tuple[str, ...]


@dataclass(frozen=True)
class _Parent:
    """The last message of the thread replied to: what threading headers and replies need."""

    headers: dict[str, str]

    def subject(self) -> str:
        subject = self.headers.get("subject", "")
        return subject if subject[:3].lower() == "re:" else f"Re: {subject}"

    def references(self) -> str:
        return " ".join(filter(None, (self.headers.get("references"), self.headers.get("message-id"))))

    def sender(self) -> str:
        return parseaddr(self.headers.get("reply-to") or self.headers.get("from", ""))[1]


class Rehearsal:
    """Mail written by hand into a running sandbox whose users are `users`."""

    def __init__(self, endpoint: str, users: Sequence[str], default_user: str, deliver: Deliver, now_ms: int) -> None:
        self.gmail: GmailClient = connect(ConnectionOptions(endpoint=endpoint), scopes.LOGIN)
        self.users = {u.lower() for u in users}
        self.default_user = default_user
        self.deliver = deliver
        self.now_ms = now_ms

    def send(self, draft: Draft) -> list[Outcome]:
        sender = _address("--from", draft.sender)
        for address in draft.to:
            _address("--to", address)
        if sender in self.users:
            return [self._send_as_user(sender, draft)]
        return self._deliver_inbound(sender, draft)

    def reply(self, thread_id: str, sender: str, body: str, mailbox: str | None) -> list[Outcome]:
        """A team member answers the last other party of a thread in its own mailbox; an outsider
        writes to `mailbox` (default: the sandbox's first user), into that mailbox's thread."""
        sender = _address("--from", sender)
        if sender in self.users:
            parent = self._parent(sender, thread_id)
            to = parent.sender() if parent.sender() != sender else parseaddr(parent.headers.get("to", ""))[1]
            return [self._send_as_user(sender, Draft(sender, (to,), None, body, thread_id), parent)]
        return self._deliver_inbound(sender, Draft(sender, (mailbox or self.default_user,), None, body, thread_id))

    def _send_as_user(self, sender: str, draft: Draft, parent: _Parent | None = None) -> Outcome:
        if draft.thread_id and parent is None:
            parent = self._parent(sender, draft.thread_id)
        # No Date and no Message-ID: Gmail adds both to what messages.send accepts (sandbox delivery.send).
        raw = _compose(draft, parent, date_ms=None)
        body: dict[str, Any] = {"raw": base64.urlsafe_b64encode(raw).decode("ascii")}
        if draft.thread_id:
            body["threadId"] = draft.thread_id
        sent = self.gmail.execute(self.gmail.users().messages().send(userId=sender, body=body), "sending")
        return Outcome("sent by", sender, sent["id"], sent["threadId"], tuple(sent.get("labelIds", ())))

    def _deliver_inbound(self, sender: str, draft: Draft) -> list[Outcome]:
        mailboxes = self._mailboxes_for([a.lower() for a in draft.to])
        if not mailboxes:
            raise GmailDeskError(
                f"--to: none of {', '.join(draft.to)} is a sandbox mailbox or one of its send-as aliases, "
                f"and {sender} is not one either",
                hints=(f"The sandbox's mailboxes: {', '.join(sorted(self.users))}.",),
                exit_code=ExitCode.USAGE,
            )
        parent = self._parent(mailboxes[0], draft.thread_id) if draft.thread_id else None
        raw = _compose(draft, parent, date_ms=self.now_ms)
        outcomes = []
        for mailbox in mailboxes:
            answer = self.deliver(mailbox, raw)
            names: list[str] = answer["labelNames"]
            outcomes.append(Outcome("delivered to", mailbox, answer["id"], answer["threadId"], tuple(names)))
        return outcomes

    def _mailboxes_for(self, addresses: list[str]) -> list[str]:
        """The sandbox users receiving mail sent to `addresses`: their own, or one of their send-as
        aliases (mail to an alias such as billing@ lands in the mailbox that owns it)."""
        wanted = set(addresses)
        found = []
        for user in sorted(self.users):
            aliases = self.gmail.execute(self.gmail.users().settings().sendAs().list(userId=user), "listing send-as")
            if wanted & {user, *(str(a["sendAsEmail"]).lower() for a in aliases.get("sendAs", []))}:
                found.append(user)
        return found

    def _parent(self, mailbox: str, thread_id: str) -> _Parent:
        request = (
            self.gmail.users()
            .threads()
            .get(userId=mailbox, id=thread_id, format="metadata", metadataHeaders=_THREAD_HEADERS)
        )
        thread = self.gmail.execute(request, f"reading thread {thread_id} of {mailbox}")
        last = thread["messages"][-1]
        return _Parent({h["name"].lower(): h["value"] for h in last["payload"].get("headers", [])})


def _compose(draft: Draft, parent: _Parent | None, *, date_ms: int | None) -> bytes:
    message = EmailMessage(policy=email_policy.SMTP)
    message["From"] = draft.sender
    message["To"] = ", ".join(draft.to)
    message["Subject"] = draft.subject if draft.subject is not None else (parent.subject() if parent else "")
    if date_ms is not None:
        message["Date"] = format_datetime(datetime.fromtimestamp(date_ms / 1000, tz=UTC))
        message["Message-ID"] = make_msgid(domain=draft.sender.rpartition("@")[2])
    if parent is not None and parent.headers.get("message-id"):
        # Gmail threads a reply only when In-Reply-To/References follow RFC 2822 and the subject
        # matches (developers.google.com/gmail/api/guides/threads, "Adding drafts and messages to threads").
        message["In-Reply-To"] = parent.headers["message-id"]
        message["References"] = parent.references()
    message.set_content(draft.body)
    return message.as_bytes()


def _address(flag: str, text: str) -> str:
    found = getaddresses([text])
    address = found[0][1] if len(found) == 1 else ""
    if "@" not in address or address != text.strip():
        raise GmailDeskError(
            f"{flag}: {text!r} is not an email address", hints=("e.g. ann@customer.example",), exit_code=ExitCode.USAGE
        )
    return address.lower()


def check_rfc822(name: str, raw: bytes) -> None:
    """Refuse what no mail server would take for a message: no header block, or no From.

    Gmail rejects mail without a From header at SMTP time ("550-5.7.1 ... is not RFC 5322
    compliant ... 'From' header is missing"; Google's Email sender guidelines, support answer 81126)."""
    head = raw.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0]
    first = head.split(b"\n", 1)[0]
    name_part, colon, _ = first.partition(b":")
    if not colon or not name_part or any(byte < 33 or byte > 126 for byte in name_part):
        raise GmailDeskError(
            f"{name}: not an RFC 822 message (it does not start with a header such as 'From: ...')",
            hints=("deliver takes .eml files: headers (From, To, Subject, Date), a blank line, then the body.",),
            exit_code=ExitCode.USAGE,
        )
    fields = {line.partition(b":")[0].strip().lower() for line in head.split(b"\n") if line[:1] not in (b" ", b"\t")}
    if b"from" not in fields:
        raise GmailDeskError(
            f"{name}: not an RFC 822 message (no From header; Gmail refuses such mail)",
            hints=("deliver takes .eml files: headers (From, To, Subject, Date), a blank line, then the body.",),
            exit_code=ExitCode.USAGE,
        )
