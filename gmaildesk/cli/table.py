"""The one table renderer of the CLI: a table sized to the terminal, or tab-separated lines when piped.

A table is a list of Column (a name, how to get the cell from a row, and how the column may give way
when the terminal is narrow) and the rows. Adding a column to a command's table is one Column in its list.

On a terminal (or with `--format table`) the table fits the width (COLUMNS, else the terminal's, else 80):
key columns (ids, states, ages, departments, counts) are never shortened; the others are shortened with
an ellipsis down to their min_width, then hidden (lowest priority first) and named in a caption.
`wide` columns (the Gmail link, absolute deadlines) are shown only with `-o wide`.

Anywhere else (`| cat`, `| cut -f2`, cron mail) or with `--format tsv`: one header line and one line per
row, every column (wide ones too), cells separated by tabs, no box characters, no colour, no title. Every
cell goes through safe.text, so a tab or newline in a subject is shown as \\x09 / \\x0a and never breaks
a row.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Generic, TypeVar

import typer

from gmaildesk.cli import safe

if TYPE_CHECKING:
    from rich.table import Table
    from rich.text import Text

__all__ = [
    "Column",
    "Format",
    "FormatOption",
    "Output",
    "OutputOption",
    "Style",
    "emit",
    "fit",
    "is_tsv",
    "note",
    "render_lines",
    "style",
    "terminal_width",
]

R = TypeVar("R")


class Format(StrEnum):
    """`--format`: a table sized to the terminal, or tab-separated lines."""

    TABLE = "table"
    TSV = "tsv"


class Output(StrEnum):
    """`-o/--output`: wide adds the long columns (the Gmail link, absolute times) to a table."""

    NORMAL = "normal"
    WIDE = "wide"


FormatOption = Annotated[
    Format | None,
    typer.Option(
        "--format",
        case_sensitive=False,
        show_default=False,
        help="table: sized to the terminal; tsv: a header line, then tab-separated rows "
        "(default: table on a terminal, tsv when piped).",
    ),
]
OutputOption = Annotated[
    Output,
    typer.Option(
        "--output",
        "-o",
        case_sensitive=False,
        help="wide: also the long columns (Gmail link, absolute times) in a table; tsv always has them.",
    ),
]


@dataclass(frozen=True)
class Column(Generic[R]):
    """One column: its header, its cell for a row, and how it gives way on a narrow terminal."""

    name: str
    # A cell is plain text, or a rich Text when part of it is styled (a red "overdue"); shown literally.
    value: Callable[[R], str | Text]
    key: bool = False  # never shortened nor hidden (its header may wrap at spaces)
    min_width: int | None = 10  # shortened with an ellipsis down to this; None: shown whole or hidden
    wide: bool = False  # only with -o wide (and in tsv)
    wrap: bool = False  # a long cell wraps onto more lines instead of being shortened (show's reasons)
    # Of the columns that give way, those of lower priority are hidden first (at equal priority the last one).
    priority: int = 0
    right: bool = False  # numbers: aligned right


@dataclass(frozen=True)
class Style:
    """How a command prints its tables: resolved once from --format and -o."""

    fmt: Format
    wide: bool


def style(fmt: Format | None, output: Output = Output.NORMAL) -> Style:
    """The style of a command's output: --format given, else a table on a terminal and tsv when piped."""
    if fmt is None:
        fmt = Format.TABLE if sys.stdout.isatty() else Format.TSV
    return Style(fmt, output == Output.WIDE)


def is_tsv(how: Style) -> bool:
    return how.fmt == Format.TSV


def emit(how: Style, columns: Sequence[Column[R]], rows: Iterable[R], title: str = "") -> None:
    """Print *rows* as a table that fits the terminal, or as tsv (see the module docstring)."""
    if how.fmt == Format.TSV:
        typer.echo("\n".join(_tsv(columns, rows)))
        return
    from rich.console import Console

    console = Console()
    table = _rich_table(columns, list(rows), title, how.wide, console.width)
    if how.wide:  # as wide as the whole columns take: the terminal wraps what it must
        widths = [c.width or 0 for c in table.columns]
        console = Console(width=max(console.width, sum(widths) + 2 * (len(widths) - 1)))
    console.print(table)


def terminal_width() -> int:
    """COLUMNS, else the terminal's width, else 80 (rich's rule)."""
    from rich.console import Console

    return Console().width


def note(how: Style, message: str) -> None:
    """A line beside a table (a total, a hint): stdout with a table, stderr with tsv so the rows stay pure."""
    typer.echo(safe.text(message), err=how.fmt == Format.TSV)


def render_lines(columns: Sequence[Column[R]], rows: Iterable[R], width: int, wide: bool = False) -> list[str]:
    """The table as plain lines of at most *width* characters (for text built line by line)."""
    import io

    from rich.console import Console

    console = Console(file=io.StringIO(), width=width, color_system=None, legacy_windows=False)
    console.print(_rich_table(columns, list(rows), "", wide, width, boxed=False))
    return [line.rstrip() for line in console.file.getvalue().splitlines()]  # type: ignore[attr-defined]


def _tsv(columns: Sequence[Column[R]], rows: Iterable[R]) -> Iterable[str]:
    yield "\t".join(safe.text(c.name) for c in columns)
    for row in rows:
        yield "\t".join(safe.text(_plain(c.value(row))) for c in columns)


def _plain(value: str | Text) -> str:
    return value if isinstance(value, str) else value.plain


def _rich_table(
    columns: Sequence[Column[R]], rows: list[R], title: str, wide: bool, width: int, boxed: bool = True
) -> Table:
    from rich import box
    from rich.table import Table

    shown = [c for c in columns if wide or not c.wide]
    cells = [[_cell(c.value(row)) for row in rows] for c in shown]
    # A column with nothing to say (no flags on any row) is left out rather than shown as a row of dashes.
    said = [i for i, (c, col) in enumerate(zip(shown, cells, strict=True)) if c.key or any(_says(x) for x in col)]
    shown, cells = [shown[i] for i in said], [cells[i] for i in said]
    # -o wide: every column whole, as wide as that takes (the terminal wraps what it must, as with kubectl -o wide).
    widths = fit(shown, cells, 1_000_000 if wide else width)
    hidden = [c.name for c, w in zip(shown, widths, strict=True) if w is None]
    table = Table(
        title=safe.cell(title) if title else None,
        caption=f"not shown at this width: {', '.join(hidden)} (-o wide or --format tsv shows them)"
        if hidden
        else None,
        box=box.SIMPLE_HEAD if boxed else None,
        show_edge=False,
        pad_edge=False,
        collapse_padding=boxed,  # two spaces between columns either way (fit counts them)
    )
    kept = [(c, w, col) for c, w, col in zip(shown, widths, cells, strict=True) if w is not None]
    for column, w, _ in kept:
        table.add_column(column.name, width=w, justify="right" if column.right else "left", overflow="fold")
    for i in range(len(rows)):
        table.add_row(*(col[i] if c.wrap else _shortened(col[i], w) for c, w, col in kept))
    return table


def _says(cell: Text) -> bool:
    return cell.plain not in ("", "-")


def _cell(value: str | Text) -> Text:
    return safe.cell(value) if isinstance(value, str) else value


def _shortened(cell: Text, width: int) -> Text:
    if cell.cell_len <= width:
        return cell
    short = cell.copy()
    short.truncate(width, overflow="ellipsis")
    return short


def fit(columns: Sequence[Column[R]], cells: Sequence[Sequence[Text]], width: int) -> list[int | None]:
    """Each column's width (None: hidden) so that the table is at most *width* wide.

    A column's full width holds its header and every cell; its floor is what it needs at least (key
    columns and min_width=None ones: every cell whole, the header wrapped at spaces; others: min_width).
    While the floors and the gaps (two spaces) do not fit, a non-key column is hidden (the lowest priority,
    then the last declared); the room left
    then goes to the narrowest columns still short of their full width, one character at a time, so a
    column of small numbers never takes more than it needs and a long subject takes the rest.
    """
    full = [max([_header_len(c.name), *(cell.cell_len for cell in col)]) for c, col in zip(columns, cells, strict=True)]
    floor = [_floor(c, f, col) for c, f, col in zip(columns, full, cells, strict=True)]
    visible = list(range(len(columns)))

    def needed() -> int:
        return sum(floor[i] for i in visible) + 2 * max(0, len(visible) - 1)

    while needed() > width:
        droppable = [i for i in visible if not columns[i].key]
        if not droppable:
            break  # key columns alone are wider than the terminal: rich wraps them rather than lose them
        visible.remove(min(reversed(droppable), key=lambda i: columns[i].priority))
    widths = {i: floor[i] for i in visible}
    spare = width - needed()
    while spare > 0:
        short = [i for i in visible if widths[i] < full[i]]
        if not short:
            break
        narrowest = min(short, key=lambda i: widths[i])
        widths[narrowest] += 1
        spare -= 1
    return [widths.get(i) for i in range(len(columns))]


def _floor(column: Column[R], full: int, cells: Sequence[Text]) -> int:
    if column.key or column.min_width is None and not column.wrap:
        return max([_longest_word(column.name), *(cell.cell_len for cell in cells)])
    return full if column.min_width is None else min(full, column.min_width)


def _header_len(name: str) -> int:
    from rich.cells import cell_len

    return cell_len(name)


def _longest_word(name: str) -> int:
    from rich.cells import cell_len

    return max((cell_len(word) for word in name.split()), default=0)
