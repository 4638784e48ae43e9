"""Talking to Gmail: connection, retries, batching, errors, search syntax."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gmaildesk.gmail.client import GmailClient
    from gmaildesk.gmail.connection import ConnectionOptions, connect

__all__ = ["ConnectionOptions", "GmailClient", "connect"]


def __getattr__(name: str) -> Any:
    # Lazy, so that the search parser or the palette can be imported without loading the
    # Google client library (about half a second).
    if name == "GmailClient":
        from gmaildesk.gmail.client import GmailClient

        return GmailClient
    if name in ("ConnectionOptions", "connect"):
        from gmaildesk.gmail import connection

        return getattr(connection, name)
    raise AttributeError(name)
