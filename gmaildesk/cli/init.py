"""`gmaildesk init`: start a desk from the commented example."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    app.command(name="init")(init)


def init(
    directory: Annotated[
        Path, typer.Argument(metavar="DIR", help="Folder to write desk.yaml and templates/ into.")
    ] = Path("."),
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite desk.yaml and templates that already exist.")
    ] = False,
) -> None:
    """Write a commented desk.yaml and its templates/ to start a desk from; contacts nothing.

    Exit codes: 0 written, 1 error (a file already there without --force, a folder in the way), 2 bad usage.

    Example: gmaildesk init mydesk
    """
    from gmaildesk.config.example import DESK_FILE, write_example

    for path in write_example(directory, overwrite=force):
        typer.echo(f"wrote {path}")
    typer.echo(f"Next: edit {directory / DESK_FILE} for your desk.")
