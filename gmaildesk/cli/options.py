"""Options shared by the commands, the ConnectionOptions they make, and the clock that comes with them."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from gmaildesk.errors import ExitCode, GmailDeskError
from gmaildesk.gmail.envvars import ENDPOINT_ENV, SERVICE_ACCOUNT_ENV, USER_ENV
from gmaildesk.paths import CONFIG_ENV

if TYPE_CHECKING:
    from gmaildesk.gmail.connection import ConnectionOptions


def _desk_file(ctx: typer.Context, param: typer.CallbackParam, value: Path) -> Path:
    """-c, then $GMAILDESK_CONFIG, then desk.yaml in the current folder or the nearest one above it."""
    source = ctx.get_parameter_source(param.name) if param.name else None
    if source is not None and source.name == "DEFAULT":  # typer's click is private: its enum by name
        from gmaildesk.config.load import find_desk

        return find_desk()
    return value


ConfigFile = Annotated[
    Path,
    typer.Option(
        "--config",
        "-c",
        envvar=CONFIG_ENV,
        metavar="FILE",
        show_default=False,
        callback=_desk_file,
        help=f"The desk.yaml to use (default: ${CONFIG_ENV}, else desk.yaml here or in a folder above).",
    ),
]


def _desk_files(ctx: typer.Context, param: typer.CallbackParam, value: list[Path] | None) -> list[Path]:
    """Every -c given, a folder standing for its desk.yaml, else for the desk.yaml of each folder right
    below it (billing/desk.yaml, tech/desk.yaml); none given: as -c (GMAILDESK_CONFIG, then discovery)."""
    if not value:
        from gmaildesk.config.load import find_desk

        return [Path(os.environ[CONFIG_ENV])] if os.environ.get(CONFIG_ENV) else [find_desk()]
    found: dict[Path, Path] = {}
    for given in value:
        for path in _desks_of(given):
            found.setdefault(path.resolve(), path)
    return list(found.values())


def _desks_of(given: Path) -> list[Path]:
    if not given.is_dir() or (given / "desk.yaml").is_file():
        return [given / "desk.yaml" if given.is_dir() else given]
    below = sorted(p for p in given.glob("*/desk.yaml") if p.is_file())
    if not below:
        raise GmailDeskError(
            f"-c {given}: no desk.yaml in this folder or in a folder right below it",
            ["pass -c FILE, or a folder of desk folders (billing/desk.yaml, tech/desk.yaml)"],
            ExitCode.USAGE,
        )
    return below


# Several desks at once (sweep and the audit's status, threads, next, report, show); one -c is ConfigFile's.
ConfigFiles = Annotated[
    list[Path] | None,
    typer.Option(
        "--config",
        "-c",
        metavar="FILE|FOLDER",
        show_default=False,
        callback=_desk_files,
        help=f"A desk.yaml, or a folder of desk folders; repeat for several mailboxes (default: ${CONFIG_ENV}, "
        "else desk.yaml here or in a folder above).",
    ),
]
Endpoint = Annotated[
    str | None,
    typer.Option(
        "--endpoint",
        envvar=ENDPOINT_ENV,
        metavar="URL",
        show_default=False,
        help="Gmail API base URL of a sandbox, e.g. http://127.0.0.1:8765/ (default: Gmail itself).",
    ),
]
ServiceAccount = Annotated[
    Path | None,
    typer.Option(
        "--service-account",
        envvar=SERVICE_ACCOUNT_ENV,
        metavar="KEY",
        show_default=False,
        dir_okay=False,
        help="Service-account JSON key with domain-wide delegation (Google Workspace); needs --user.",
    ),
]
User = Annotated[
    str | None,
    typer.Option(
        "--user", envvar=USER_ENV, metavar="EMAIL", show_default=False, help="Mailbox the service account acts for."
    ),
]


def connection_options(endpoint: str | None, service_account: Path | None, user: str | None) -> ConnectionOptions:
    """ConnectionOptions from the shared flags; GmailDeskError (USAGE) for a bad combination."""
    # Imported here: the Google client library takes ~0.2 s to load, which every command
    # (and --help) would otherwise pay at start-up.
    from gmaildesk.gmail.connection import ConnectionOptions

    return ConnectionOptions(endpoint=endpoint or None, service_account=service_account, user=user or None)


def now_ms(options: ConnectionOptions) -> int:
    """Now, in ms, for the mailbox `options` reach, as its connection tells it (gmail.api's clock):
    the sandbox's own clock for a sandbox endpoint, which tests and the demo move; the system clock for
    Gmail, read without connecting, so the offline audit needs no login."""
    if options.endpoint is None:
        return int(time.time() * 1000)
    from gmaildesk.gmail import connect, scopes
    from gmaildesk.gmail.api import HttpGmailApi

    return HttpGmailApi(connect(options, scopes.READ)).clock()
