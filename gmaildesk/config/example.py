"""The example desk shipped inside the package (gmaildesk/data/), and writing it out for `gmaildesk init`.

The package copy is the single source: it is what an installed wheel has. The
repository's top-level config/ and templates/ are copies for browsing, kept
identical by tests/test_cli_init.py.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from gmaildesk.errors import GmailDeskError

DESK_FILE = "desk.yaml"
TEMPLATES_DIR = "templates"
REPLIES_DIR = "replies"  # canned replies for `gmaildesk reply` (team/reply_templates.py)


def example_files() -> list[tuple[str, bytes]]:
    """(path relative to the desk folder, content) for desk.yaml, every template and the reply templates."""
    data = resources.files("gmaildesk") / "data"
    files = [(DESK_FILE, (data / "config" / DESK_FILE).read_bytes())]
    templates = sorted(
        (entry for entry in (data / TEMPLATES_DIR).iterdir() if entry.name.endswith(".j2")),
        key=lambda entry: entry.name,
    )
    files += [(f"{TEMPLATES_DIR}/{entry.name}", entry.read_bytes()) for entry in templates]
    replies = sorted(
        (entry for entry in (data / TEMPLATES_DIR / REPLIES_DIR).iterdir() if entry.name.endswith(".j2")),
        key=lambda entry: entry.name,
    )
    files += [(f"{TEMPLATES_DIR}/{REPLIES_DIR}/{entry.name}", entry.read_bytes()) for entry in replies]
    return files


def write_example(directory: Path, *, overwrite: bool = False) -> list[Path]:
    """Write the example desk into *directory*; all-or-nothing when files already exist."""
    if directory.exists() and not directory.is_dir():
        raise GmailDeskError(f"{directory} is a file, not a folder", ("give a folder to write the desk into",))
    files = [(directory / relative, content) for relative, content in example_files()]
    folders = [path for path, _ in files if path.is_dir()]
    if folders:
        raise GmailDeskError(f"{folders[0]} is a folder; cannot write a file there")
    existing = [path for path, _ in files if path.exists()]
    if existing and not overwrite:
        others = f" and {len(existing) - 1} more file{'s' if len(existing) > 2 else ''}" if len(existing) > 1 else ""
        raise GmailDeskError(
            f"{existing[0]}{others} already exist{'s' if not others else ''}; nothing was written",
            ("add --force to overwrite them (other files are left alone), or choose another folder",),
        )
    for path, content in files:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return [path for path, _ in files]
