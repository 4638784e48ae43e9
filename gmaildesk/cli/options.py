"""Options shared by every command that talks to Gmail, and the ConnectionOptions they make."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from gmaildesk.gmail.envvars import ENDPOINT_ENV, SERVICE_ACCOUNT_ENV, USER_ENV

Endpoint = Annotated[Optional[str], typer.Option(
    "--endpoint", envvar=ENDPOINT_ENV, metavar="URL", show_default=False,
    help="Gmail API base URL of a sandbox, e.g. http://127.0.0.1:8765/ (default: Gmail itself).")]
ServiceAccount = Annotated[Optional[Path], typer.Option(
    "--service-account", envvar=SERVICE_ACCOUNT_ENV, metavar="KEY", show_default=False, dir_okay=False,
    help="Service-account JSON key with domain-wide delegation (Google Workspace); needs --user.")]
User = Annotated[Optional[str], typer.Option(
    "--user", envvar=USER_ENV, metavar="EMAIL", show_default=False,
    help="Mailbox the service account acts for.")]


def connection_options(endpoint: str | None, service_account: Path | None, user: str | None):
    """ConnectionOptions from the shared flags; GmailDeskError (USAGE) for a bad combination."""
    # Imported here: the Google client library takes ~0.2 s to load, which every command
    # (and --help) would otherwise pay at start-up.
    from gmaildesk.gmail.connection import ConnectionOptions

    return ConnectionOptions(endpoint=endpoint or None, service_account=service_account, user=user or None)
