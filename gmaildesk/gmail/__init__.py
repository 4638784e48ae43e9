"""Talking to Gmail: connection, retries, batching, errors, search syntax."""

from gmaildesk.gmail.client import GmailClient
from gmaildesk.gmail.connection import ConnectionOptions, connect

__all__ = ["ConnectionOptions", "GmailClient", "connect"]
