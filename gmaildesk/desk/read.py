"""Read what a mailbox has today: labels, filters, the vacation responder and send-as, in one batch."""

from __future__ import annotations

from gmaildesk.gmail.api import DeskApi
from gmaildesk.gmail.types import MailboxSettings as Current

__all__ = ["Current", "current"]


def current(api: DeskApi) -> Current:
    """labels.list, filters.list, getVacation and sendAs.list: four calls in one batch (Gmail's
    resources as it answers them, read-only by convention)."""
    return api.settings()
