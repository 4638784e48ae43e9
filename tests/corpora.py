"""The real-mail corpora beside the project (../shared/corpora): read, never copied in."""

from __future__ import annotations

from pathlib import Path

CORPORA = Path(__file__).resolve().parents[1].parent / "shared" / "corpora"

_NOT_MAIL_PREFIXES = ("COPYING", "LICENSE", "LICENCE", "PROVENANCE", "README", "MIT-LICENSE")
_NOT_MAIL_SUFFIXES = {".json", ".yml", ".yaml", ".md"}


def mail_samples() -> list[Path]:
    """Every mail file under the corpora (licences, READMEs, data files and files over 5 MB left out)."""
    found = []
    for path in sorted(CORPORA.rglob("*")):
        if not path.is_file() or path.stat().st_size > 5 * 1024 * 1024:
            continue
        if path.name.upper().startswith(_NOT_MAIL_PREFIXES) or path.suffix.lower() in _NOT_MAIL_SUFFIXES:
            continue
        if any(part.upper() == "LICENSES" for part in path.parts):
            continue
        found.append(path)
    return found
