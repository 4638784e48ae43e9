"""The gmaildesk command: one typer app, one top-level error handler."""

from __future__ import annotations

import inspect
from typing import Any

import typer
from typer.core import TyperGroup

from gmaildesk.errors import ExitCode, GmailDeskError


def report_error(error: GmailDeskError) -> None:
    """Print a GmailDeskError the one way gmaildesk prints errors: stderr, one line, then hints.

    A message may quote mail data (a label name, a subject): control characters and escape sequences
    in it are shown escaped, never sent to the terminal (gmaildesk.cli.safe)."""
    from gmaildesk.cli import safe

    typer.echo(f"Error: {safe.text(error.message)}", err=True)
    for hint in error.hints:
        typer.echo(f"Hint: {safe.text(hint)}", err=True)


class _DeskGroup(TyperGroup):
    """Root group whose invoke() is the single place GmailDeskError becomes an exit code.

    Handling it here (not in main()) means CliRunner tests see the same
    behaviour as the installed console script.
    """

    def invoke(self, ctx: Any) -> Any:  # typer's click Context is private (typer._click); Any matches it
        try:
            return super().invoke(ctx)
        except GmailDeskError as error:
            report_error(error)
            raise typer.Exit(int(error.exit_code)) from None
        except KeyboardInterrupt:
            typer.echo("Interrupted.", err=True)
            raise typer.Exit(int(ExitCode.INTERRUPTED)) from None


app = typer.Typer(
    name="gmaildesk",
    cls=_DeskGroup,
    help="Run a small support desk from a shared Gmail mailbox.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals may hold OAuth tokens
    add_completion=False,
)


def _register_commands() -> None:
    from gmaildesk.cli import audit, auth, demo, desk, init, sandbox, sweep

    init.register(app)
    desk.register(app)
    app.add_typer(sandbox.app, name="sandbox")
    app.add_typer(auth.app, name="auth")
    demo.register(app)
    sweep.register(app)
    audit.register(app)
    _help_from_docstrings(app)


def _help_from_docstrings(group: typer.Typer) -> None:
    """Each command's docstring is its --help, one line per paragraph: typer keeps the line breaks inside a
    paragraph, so a docstring wrapped for the source would show ragged at any other terminal width."""
    for command in group.registered_commands:
        if command.help is None and command.callback is not None and command.callback.__doc__:
            command.help = "\n\n".join(
                " ".join(paragraph.split()) for paragraph in inspect.cleandoc(command.callback.__doc__).split("\n\n")
            )
    for subgroup in group.registered_groups:
        if subgroup.typer_instance is not None:
            _help_from_docstrings(subgroup.typer_instance)


_register_commands()


def main() -> None:
    """Console-script entry point."""
    app()
