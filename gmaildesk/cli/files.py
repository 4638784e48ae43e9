"""The files commands take by name: the sweep store (--store), the ownership record (--ownership), and the
checks that an output path can be written before any work is done.

`--state` once named both files (and a state filter in `threads`, issue 11): it is still accepted where it
named a file, hidden from --help, as the same option under its old name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gmaildesk.errors import ExitCode, GmailDeskError

StoreFile = Annotated[
    Path | None,
    typer.Option(
        "--store",
        metavar="FILE",
        show_default=False,
        dir_okay=False,
        help="The sweep store (default: one per mailbox under the user data dir, or $GMAILDESK_DATA_DIR).",
    ),
]
StoreFileOldName = Annotated[
    Path | None, typer.Option("--state", metavar="FILE", hidden=True, show_default=False, dir_okay=False)
]
OwnershipFile = Annotated[
    Path | None,
    typer.Option(
        "--ownership",
        metavar="FILE",
        show_default=False,
        dir_okay=False,
        help="The record of what gmaildesk created in the mailbox (default: one per mailbox under the user "
        "data dir, or $GMAILDESK_DATA_DIR).",
    ),
]
OwnershipFileOldName = Annotated[
    Path | None, typer.Option("--state", metavar="FILE", hidden=True, show_default=False, dir_okay=False)
]


def named_file(flag: str, given: Path | None, old_name: Path | None) -> Path | None:
    """The file given as *flag* or under its old name --state; both at once must agree."""
    if given is not None and old_name is not None and given != old_name:
        raise GmailDeskError(
            f"{flag} {given} and --state {old_name} name two files",
            [f"--state is {flag}'s old name: give {flag} alone"],
            ExitCode.USAGE,
        )
    return given if given is not None else old_name


def store_file(given: Path | None, old_name: Path | None) -> Path | None:
    """The sweep store given as --store (or --state), in a folder that exists; None: the data dir's."""
    path = named_file("--store", given, old_name)
    if path is not None:
        output_folder(path, "--store")
    return path


def ownership_file(given: Path | None, old_name: Path | None) -> Path | None:
    """The ownership record given as --ownership (or --state), in a folder that exists; None: the data dir's."""
    path = named_file("--ownership", given, old_name)
    if path is not None:
        output_folder(path, "--ownership")
    return path


def output_folder(path: Path, flag: str) -> Path:
    """The folder *path* goes in, which must exist: gmaildesk creates only its own data dir (issue 11)."""
    folder = path.absolute().parent
    if folder.exists() and not folder.is_dir():
        raise GmailDeskError(
            f"{flag} {path}: {folder} is a file, not a folder", [f"choose another {flag} FILE"], ExitCode.USAGE
        )
    if not folder.is_dir():
        raise GmailDeskError(
            f"{flag} {path}: the folder {folder} does not exist",
            [f"create it first (mkdir -p {folder}), or choose another {flag} FILE"],
            ExitCode.USAGE,
        )
    return folder
