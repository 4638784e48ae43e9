"""`gmaildesk auth ...`: log in to Gmail with OAuth, show the stored login, log out."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from gmaildesk.cli.options import Endpoint
from gmaildesk.errors import ExitCode, GmailDeskError
from gmaildesk.gmail import scopes

if TYPE_CHECKING:
    from gmaildesk.gmail.auth import AuthStatus

app = typer.Typer(
    help="Log in to Gmail with OAuth (installed app), show the stored login, log out.", no_args_is_help=True
)


@app.command()
def login(
    client_secret: Annotated[
        Path,
        typer.Option(
            "--client-secret",
            envvar="GMAILDESK_CLIENT_SECRET",
            metavar="FILE",
            dir_okay=False,
            help="OAuth client JSON of type 'Desktop app' from the Cloud console.",
        ),
    ],
    scope: Annotated[
        list[str] | None,
        typer.Option(
            "--scope",
            metavar="SCOPE",
            help="Scope to ask for (repeatable): read, sweep, desk, all, or a name like gmail.modify. Default: all.",
        ),
    ] = None,
    no_browser: Annotated[
        bool,
        typer.Option(
            "--no-browser",
            help="Print the URL to open on any machine, then read back the address the browser ended on "
            "(or the code). Chosen by itself where no browser can run (no DISPLAY or WAYLAND_DISPLAY on Linux).",
        ),
    ] = False,
    port: Annotated[
        int,
        typer.Option(
            metavar="PORT",
            help="Loopback port for the redirect; 0 picks a free one (8085 with --no-browser).",
        ),
    ] = 0,
    endpoint: Endpoint = None,
    account: Annotated[
        str | None,
        typer.Option(
            "--account",
            metavar="EMAIL",
            show_default=False,
            help="The mailbox to sign in as (Google pre-selects it); each account's login is kept, for "
            "`sweep -c A -c B` over several mailboxes.",
        ),
    ] = None,
) -> None:
    """Authorize gmaildesk in a browser and store the token privately (mode 0600).

    On a machine without a browser (a server over SSH) it prints the URL to open anywhere else and
    reads back the address the browser ended on, or just its code.

    Exit codes: 0 logged in, 1 error, 2 bad usage (an unknown --scope), 5 login refused, cancelled or timed out.

    Example: gmaildesk auth login --client-secret client_secret.json --scope sweep
    """
    try:
        wanted = scopes.parse(scope or ["all"])
    except ValueError as error:
        raise GmailDeskError(str(error), exit_code=ExitCode.USAGE) from None
    from gmaildesk.gmail import auth
    from gmaildesk.gmail.connection import normalize_endpoint

    issuer = normalize_endpoint(endpoint) if endpoint else None
    detected = not no_browser and _no_browser_here()
    if no_browser or detected:
        why = "No browser can run on this machine: log in from a browser anywhere else.\n" if detected else ""
        result = auth.login_paste_back(
            client_secret,
            wanted,
            show=lambda text: typer.echo(why + text, err=True),  # stdout keeps only the result
            read_reply=_read_pasted,
            port=port,
            endpoint=issuer,
            login_hint=account,
        )
    else:
        result = auth.login(client_secret, wanted, port=port, endpoint=issuer, login_hint=account)
    typer.echo(f"Logged in as {result.account or '(account unknown: no read scope)'}.")
    if account and (result.account or "").lower() != account.lower():
        typer.echo(f"Warning: you signed in as {result.account or 'an unknown account'}, not {account}.", err=True)
    _echo_human(result)


def _no_browser_here() -> bool:
    """A headless machine: Linux without an X11 or Wayland display, or no browser webbrowser can run
    (where it would fail with "could not locate runnable browser")."""
    import webbrowser

    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return True
    try:
        webbrowser.get()
    except webbrowser.Error:
        return True
    return False


def _read_pasted() -> str:
    typer.echo("Address or code: ", nl=False, err=True)
    return sys.stdin.readline()


@app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
) -> None:
    """Show the stored login: account, scopes, expiry and token file (never the token).

    Exit codes: 0 shown, 1 error, 5 not logged in (or the token file is unreadable or damaged).

    Example: gmaildesk auth status --json
    """
    from gmaildesk.gmail import auth

    result = auth.status()
    if as_json:
        typer.echo(json.dumps({"version": 1, "kind": "auth-status", **result.as_dict()}, indent=2))
    else:
        _echo_human(result)


@app.command()
def logout(
    keep_grant: Annotated[
        bool,
        typer.Option("--keep-grant", help="Only delete the local token; do not revoke it at Google (or the sandbox)."),
    ] = False,
) -> None:
    """Revoke the stored login at the server that issued it and delete it from this machine.

    Not logged in is not an error; a grant the server would not revoke is a warning (the local token goes
    anyway). Exit codes: 0 logged out (or was not logged in), 1 error.

    Example: gmaildesk auth logout
    """
    from gmaildesk.gmail import auth

    path = auth.token_path()
    result = auth.logout(revoke=not keep_grant)
    if not result.removed:
        typer.echo(f"Not logged in (no token at {path}).")
        return
    revoked = " revoked the grant and" if result.revoked else ""
    typer.echo(f"Logged out;{revoked} removed {path}.")
    if result.problem:
        typer.echo(f"Warning: could not revoke the grant: {result.problem}", err=True)
        typer.echo("Hint: revoke gmaildesk's access at https://myaccount.google.com/permissions.", err=True)


def _echo_human(result: AuthStatus) -> None:
    typer.echo(f"Account:    {result.account or 'unknown'}")
    typer.echo(f"Scopes:     {', '.join(scopes.short_name(s) for s in result.scopes) or 'none'}")
    expiry = f"{result.expiry.isoformat(timespec='seconds')}Z" if result.expiry else "unknown"
    refresh = "refreshable" if result.refreshable else "NOT refreshable: log in again when it expires"
    typer.echo(f"Expires:    {expiry} ({refresh})")
    typer.echo(f"Token file: {result.path}")
    if len(result.accounts) > 1 or (result.accounts and result.accounts[0] != result.account):
        typer.echo(f"Logins:     {', '.join(result.accounts)} (each account's own, for `sweep -c A -c B`)")
