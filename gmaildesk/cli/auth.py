"""`gmaildesk auth ...`: log in to Gmail with OAuth, show the stored login, log out."""

from __future__ import annotations

import json
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
        bool, typer.Option("--no-browser", help="Print the URL instead of opening a browser.")
    ] = False,
    port: Annotated[int, typer.Option(metavar="PORT", help="Loopback port for the redirect; 0 picks a free one.")] = 0,
    endpoint: Endpoint = None,
) -> None:
    """Authorize gmaildesk in the browser and store the token privately (mode 0600).

    Exit codes: 0 logged in, 1 error, 2 bad usage (an unknown --scope), 5 login refused, cancelled or timed out.

    Example: gmaildesk auth login --client-secret client_secret.json --scope sweep
    """
    try:
        wanted = scopes.parse(scope or ["all"])
    except ValueError as error:
        raise GmailDeskError(str(error), exit_code=ExitCode.USAGE) from None
    from gmaildesk.gmail import auth
    from gmaildesk.gmail.connection import normalize_endpoint

    result = auth.login(
        client_secret,
        wanted,
        open_browser=not no_browser,
        port=port,
        endpoint=normalize_endpoint(endpoint) if endpoint else None,
    )
    typer.echo(f"Logged in as {result.account or '(account unknown: no read scope)'}.")
    _echo_human(result)


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
