"""Read what a mailbox has today: labels, filters, the vacation responder and send-as, in one batch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gmaildesk.errors import GmailDeskError


@dataclass(frozen=True)
class Current:
    """The mailbox's settings as Gmail returns them (API dicts, read-only by convention)."""

    labels: tuple[dict, ...]
    filters: tuple[dict, ...]
    vacation: dict
    send_as: tuple[dict, ...]


def current(client: Any) -> Current:
    """labels.list, filters.list, getVacation and sendAs.list: four calls in one batch."""
    users = client.users()
    me = client.user_id
    requests = [
        users.labels().list(userId=me),
        users.settings().filters().list(userId=me),
        users.settings().getVacation(userId=me),
        users.settings().sendAs().list(userId=me),
    ]
    results = client.execute_batch(requests, "reading the mailbox settings")
    for result in results:
        if isinstance(result, GmailDeskError):
            raise result
    labels, filters, vacation, send_as = results
    return Current(labels=tuple(labels.get("labels", [])), filters=tuple((filters or {}).get("filter", [])),
                   vacation=dict(vacation or {}), send_as=tuple((send_as or {}).get("sendAs", [])))
