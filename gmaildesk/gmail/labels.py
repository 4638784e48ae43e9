"""Gmail's rules for label names, shared by the sandbox (which enforces them) and the desk config
(which checks them before any API call)."""

from __future__ import annotations

SYSTEM_LABEL_IDS = frozenset({
    "CHAT", "SENT", "INBOX", "IMPORTANT", "TRASH", "DRAFT", "SPAM", "CATEGORY_FORUMS", "CATEGORY_UPDATES",
    "CATEGORY_PERSONAL", "CATEGORY_PROMOTIONS", "CATEGORY_SOCIAL", "STARRED", "UNREAD",
})
# Names Gmail reserves beyond the system ids (400 "Invalid label name"); compared casefolded.
RESERVED_NAMES = frozenset(
    name.casefold()
    for name in (*SYSTEM_LABEL_IDS, "Inbox", "Sent Mail", "Sent", "Drafts", "All Mail", "Spam", "Trash",
                 "Starred", "Important", "Chats", "Scheduled", "Snoozed", "Outbox", "Muted", "Unread")
)
MAX_LABEL_NAME = 225
CONSUMER_DOMAINS = frozenset({"gmail.com", "googlemail.com"})  # no Workspace features, no delegation
