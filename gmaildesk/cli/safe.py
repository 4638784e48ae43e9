"""Mail data on a terminal or in a spreadsheet: shown as text, never obeyed.

Subjects, addresses, label names and the like come from strangers. A terminal obeys escape
sequences (ESC[2J clears the screen, OSC 8 makes a live hyperlink), Rich obeys its own
`[link=...]` markup, bidi overrides reorder what the reader sees, and a spreadsheet runs a cell
that starts like a formula. So every such value goes through `text` (terminal and CSV), a Rich
table gets it as `cell` (a Text: never parsed as markup), and a CSV field through `csv_field`.
JSON needs none of this: json.dumps escapes every control and non-ASCII character, and it stays
the exact data.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.text import Text

__all__ = ["text", "lines", "cell", "csv_field", "csv_row"]

# C0 controls, DEL and C1 controls (ESC and CSI among them), Unicode line and paragraph separators,
# and the bidi embeddings, overrides, isolates and marks (the "Trojan Source" characters, CVE-2021-42574).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def text(value: object) -> str:
    """*value* as printable text: each unsafe character shown as its escape (`\\x1b`, `\\u202e`)."""
    shown = str(value)
    return _UNSAFE.sub(_visible, shown) if _UNSAFE.search(shown) else shown


def lines(value: str) -> str:
    """Multi-line output (a plan, a sweep summary) with each line as `text`: its line breaks kept."""
    return "\n".join(text(line) for line in value.split("\n"))


def cell(value: object) -> Text:
    """A Rich table cell that shows *value* literally: no markup, no emoji codes, no escape sequences."""
    from rich.text import Text

    return Text(text(value))


# OWASP "CSV Injection": a field starting with = + - @ tab or CR is read as a formula; ASVS 5.0
# requirement 1.2.10 adds NUL. Prefixing a single quote makes spreadsheets take it as text.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\0")
_FORMULA_FIRST = frozenset(_FORMULA_START)


def csv_field(value: object) -> object:
    """A CSV field safe to open in a spreadsheet; numbers and booleans stay as they are."""
    if not isinstance(value, str):
        return value
    if value.startswith(_FORMULA_START):
        value = "'" + value
    return text(value)


def csv_row(values: Iterable[object]) -> list[object]:
    """csv_field of each value; the checks inline, as `threads --csv` may write 100,000 rows."""
    return [
        csv_field(v) if isinstance(v, str) and (v[:1] in _FORMULA_FIRST or _UNSAFE.search(v)) else v for v in values
    ]
