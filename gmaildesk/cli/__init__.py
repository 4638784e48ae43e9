"""The gmaildesk command: one typer app, one top-level error handler."""

from __future__ import annotations

import inspect
from typing import Annotated, Any

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

from gmaildesk import __version__
from gmaildesk.errors import ExitCode, GmailDeskError


def report_error(error: GmailDeskError) -> None:
    """Print a GmailDeskError the one way gmaildesk prints errors: stderr, one line, then hints.

    A message may quote mail data (a label name, a subject): control characters and escape sequences
    in it are shown escaped, never sent to the terminal (gmaildesk.cli.safe)."""
    from gmaildesk.cli import safe

    typer.echo(f"Error: {safe.text(error.message)}", err=True)
    for hint in error.hints:
        typer.echo(f"Hint: {safe.text(hint)}", err=True)


class _WordedArgument(TyperArgument):
    """An argument whose help shows only its name in words (FILE..., THREAD): typer would add its Python type
    (`<str>`, `<list[Path]>`) beside it."""

    def display_type_rich(self, ctx: Any) -> str | None:
        return None

    def _usage_display_name(self) -> str:
        # typer writes a required argument as `{THREAD}`; the usual convention is the bare name.
        name = self.display_name_raw
        many = "..." if self.nargs != 1 and not name.endswith("...") else ""
        return f"{name}{many}" if self.required else f"[{name}]{many}"


# The word a help screen shows for an option of this Python type that names no metavar of its own.
_TYPE_WORDS = {"int": "INTEGER", "float": "NUMBER", "str": "TEXT", "path": "PATH", "datetime": "TIME"}


def _params_in_words(params: list[Any], ctx: Any) -> list[Any]:
    """Help placeholders in words, never Python types (issue 11): a flag shows none (typer would show `<bool>`),
    an option without its own metavar a word for its type (TEXT, INTEGER, PATH), choices stay as typer lists
    them (`<age|sla>`), an argument only its name. typer builds its parameters itself
    (typer.main.get_click_param) with no hook for their class, so they are adjusted where every help screen
    reads them: get_params."""
    from gmaildesk.cli.choices import SuggestingChoiceOption

    for param in params:
        if isinstance(param, TyperOption) and param.type_descriptor.is_choice:
            param.__class__ = SuggestingChoiceOption  # a wrong value gets a did-you-mean
        if isinstance(param, TyperOption) and param.metavar is None:
            if param.is_flag or param.count:
                param.metavar = ""
            elif not param.type_descriptor.is_choice:
                shown = param.display_type(ctx).strip("<>")
                many = shown.startswith("list[")
                word = _TYPE_WORDS.get(shown.removeprefix("list[").removesuffix("]").lower(), "VALUE")
                param.metavar = word + ("..." if many else "")
        elif isinstance(param, TyperArgument) and not isinstance(param, _WordedArgument):
            if param.metavar is None and param.name:  # the usage line would show `{files}...`
                param.metavar = param.name.upper() + ("..." if param.nargs != 1 else "")
            param.__class__ = _WordedArgument
    return params


class _DeskCommand(TyperCommand):
    def get_params(self, ctx: Any) -> list[Any]:
        return _params_in_words(super().get_params(ctx), ctx)


class _SubGroup(TyperGroup):
    def get_params(self, ctx: Any) -> list[Any]:
        return _params_in_words(super().get_params(ctx), ctx)


class _DeskGroup(_SubGroup):
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
    help="Run a small support desk from a shared Gmail mailbox.\n\n"
    "Exit codes: 0 done, 1 error, 2 bad usage; each command's --help lists all of its own.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals may hold OAuth tokens
    context_settings={"help_option_names": ["-h", "--help"]},  # subcommands' contexts inherit it (click)
)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"gmaildesk {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", "-V", callback=_show_version, is_eager=True, help="Print gmaildesk's version and exit."
        ),
    ] = False,
) -> None:
    """Run a small support desk from a shared Gmail mailbox."""


def _register_commands() -> None:
    from gmaildesk.cli import audit, auth, demo, desk, init, reply, sandbox, sweep, team

    init.register(app)
    desk.register(app)
    app.add_typer(sandbox.app, name="sandbox", cls=_SubGroup)
    app.add_typer(auth.app, name="auth", cls=_SubGroup)
    demo.register(app)
    sweep.register(app)
    audit.register(app)
    team.register(app)
    reply.register(app)
    _help_from_docstrings(app)


def _help_from_docstrings(group: typer.Typer) -> None:
    """Each command's docstring is its --help, one line per paragraph: typer keeps the line breaks inside a
    paragraph, so a docstring wrapped for the source would show ragged at any other terminal width."""
    for command in group.registered_commands:
        if command.cls in (None, TyperCommand):
            command.cls = _DeskCommand
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
