"""Gmail web links to a conversation, and the thread id back out of one."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, quote, urlsplit

from gmaildesk.errors import ExitCode, GmailDeskError

__all__ = ["gmail_link", "thread_id_from", "link_mailbox", "ticket_number"]

# `/mail/u/0/` is whichever account the reader signed in to first, rarely the shared mailbox.
# `?authuser=<address>` is Gmail's own account picker: it opens that account when the browser is
# signed in to it and falls through to sign-in when not (buttondown/sniper-link PR #6 switched to it
# after `/mail/u/<address>/` landed Workspace users on an error page; raycast/extensions PR #28002
# saw Gmail answer `/mail/u/<address>` with a 404; lesiki/google-meet-default-account issue #6: Gmail
# and Meet take an address as authuser). `#all/<id>` (All Mail) opens the conversation whatever its
# labels, where `#inbox/<id>` may stop opening once the conversation is archived or relabelled
# (https://bison.jp/cloud/791.html: #all/<id> is the permanent link).
_LINK = "https://mail.google.com/mail/?authuser={}#all/{}"

_URL_RE = re.compile(r"^https?://mail\.google\.com/mail/[^#]*#(?:[^/]+/)*([0-9A-Za-z_-]+)/?$")
# API thread ids are at most 16 hex digits (sandbox/core.py keeps that shape). Gmail's web UI puts
# a different, longer token in its address bar (#inbox/FMfcgz…, KtbxL…, QgrcJ…, WhctK…) that the
# API does not accept and that cannot be turned into a thread id offline.
_API_ID_MAX = 16
_HEX_RE = re.compile(r"[0-9a-f]+")
_TICKET_RE = re.compile(r"#?\s*([0-9]{1,15})")  # 15 digits at most: one fewer than a thread id
_UI_TOKEN_HINTS = [
    "find the conversation with `gmaildesk threads --json` (its `thread` and `link` fields), or use a link "
    "gmaildesk printed",
    "or in Gmail open the first message's ⋮ menu > Show original: its address ends in msg-f:<number>, and "
    "`printf '%x' <number>` is the message id, which is the thread id for a conversation's first message",
]


def gmail_link(thread_id: str, mailbox: str | None = None) -> str:
    """The conversation in *mailbox*'s Gmail (without one: the browser's first signed-in account)."""
    if mailbox is None:
        return f"https://mail.google.com/mail/#all/{thread_id}"
    # '+' would read as a space in a query string; '@' is allowed there as it is (RFC 3986 pchar).
    return _LINK.format(quote(mailbox, safe="@"), thread_id)


def link_mailbox(text: str) -> str | None:
    """The address a link's ?authuser= names; None for an id, a /u/N/ link or a numeric authuser."""
    text = text.strip()
    if not text.startswith(("http://", "https://")):
        return None
    users = parse_qs(urlsplit(text).query).get("authuser", [])
    return users[0] if users and "@" in users[0] else None


def ticket_number(text: str) -> int | None:
    """The ticket a THREAD argument names: '#1042', or a bare number shorter than a thread id (API
    thread ids are 16 hex digits); None for anything else."""
    found = _TICKET_RE.fullmatch(text.strip())
    return int(found.group(1)) if found else None


def thread_id_from(text: str) -> str:
    """A thread id, or the id at the end of a Gmail web URL (…#all/<id>, #inbox/<id>, #label/X/<id>,
    with or without /u/N/ and ?authuser=)."""
    text = text.strip()
    if text.startswith(("http://", "https://")):
        match = _URL_RE.match(text)
        if not match:
            raise GmailDeskError(
                f"'{text}' is not a Gmail conversation link",
                ["use a thread id or a link like https://mail.google.com/mail/?authuser=<mailbox>#all/<id>"],
                ExitCode.USAGE,
            )
        found = match.group(1)
    elif re.fullmatch(r"[0-9A-Za-z_-]+", text):
        found = text
    else:
        raise GmailDeskError(f"'{text}' is not a thread id", [], ExitCode.USAGE)
    if len(found) > _API_ID_MAX and not _HEX_RE.fullmatch(found.lower()):
        raise GmailDeskError(
            f"'{found}' is a Gmail web view token, not a thread id; it cannot be mapped to a conversation",
            _UI_TOKEN_HINTS,
            ExitCode.USAGE,
        )
    return found
