"""Gmail's rules for label names, shared by the sandbox (which enforces them) and the desk config
(which checks them before any API call)."""

from __future__ import annotations

import re

SYSTEM_LABEL_IDS = frozenset(
    {
        "CHAT",
        "SENT",
        "INBOX",
        "IMPORTANT",
        "TRASH",
        "DRAFT",
        "SPAM",
        "CATEGORY_FORUMS",
        "CATEGORY_UPDATES",
        "CATEGORY_PERSONAL",
        "CATEGORY_PROMOTIONS",
        "CATEGORY_SOCIAL",
        "STARRED",
        "UNREAD",
    }
)
# Names Gmail reserves beyond the system ids (400 "Invalid label name"); compared casefolded.
RESERVED_NAMES = frozenset(
    name.casefold()
    for name in (
        *SYSTEM_LABEL_IDS,
        "Inbox",
        "Sent Mail",
        "Sent",
        "Drafts",
        "All Mail",
        "Spam",
        "Trash",
        "Starred",
        "Important",
        "Chats",
        "Scheduled",
        "Snoozed",
        "Outbox",
        "Muted",
        "Unread",
    )
)
MAX_LABEL_NAME = 225
CONSUMER_DOMAINS = frozenset({"gmail.com", "googlemail.com"})  # no Workspace features, no delegation


_ASCII_WHITESPACE = re.compile(r"[ \t\r\n\f\v]+")


def gmail_label_name(name: str) -> str:
    """The name Gmail stores for `name`: ends trimmed, every run of whitespace (line breaks
    included) one space. Gmail compares names in this form: "Mailing\\n Lists/LEDE/Devel" conflicted
    (409) with the existing "Mailing Lists/LEDE/Devel" (GAM-team/got-your-back#173). Only ASCII
    whitespace: what Gmail does with other space characters is not known."""
    return _ASCII_WHITESPACE.sub(" ", name).strip(" ")
