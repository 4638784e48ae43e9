"""The audit's tables on a terminal: what `status`, `threads`, `show`, `next` and `report` print without
--json or --csv.

Every value from mail or Gmail goes into a table as safe.cell (shown literally, never read as Rich markup)
and into plain lines as safe.text.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import typer
from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text

from gmaildesk.audit.db import iso
from gmaildesk.audit.queries import AGING_BUCKETS, FLAG_NOTES, STATES
from gmaildesk.cli import safe
from gmaildesk.sweep.state import format_duration

if TYPE_CHECKING:
    from gmaildesk.audit.queries import Report, Status, ThreadDetail, ThreadInfo

__all__ = ["show_status", "show_threads", "show_thread", "show_report", "flag_notes"]


def show_status(result: Status) -> None:
    """Departments by state, with overdue counts and the oldest new and waiting conversations."""
    ago = "" if result.sweep_age_ms is None else f" ({age(result.sweep_age_ms)} ago)"
    table = Table(
        title=f"{result.total} conversations, {result.overdue} overdue; last sweep "
        f"{iso(result.last_sweep_at) or 'never'}{ago}"
    )
    for col in ("department", *STATES, "overdue", "oldest new", "oldest waiting"):
        table.add_column(col)
    for d in result.departments:
        table.add_row(
            *map(
                safe.cell,
                (
                    d.department or "(none)",
                    *(str(d.counts.get(s, 0)) for s in STATES),
                    str(d.overdue),
                    f"{age(d.oldest_new.age_ms)} {d.oldest_new.thread_id}" if d.oldest_new else "-",
                    f"{age(d.oldest_waiting.age_ms)} {d.oldest_waiting.thread_id}" if d.oldest_waiting else "-",
                ),
            )
        )
    _print(table)


def show_threads(rows: Iterable[ThreadInfo], now_ms: int, title: str) -> None:
    _print(threads_table(rows, now_ms, title))


def show_thread(detail: ThreadDetail, now_ms: int, thread_id: str) -> None:
    """One conversation: its row, its flags, its messages (when recorded) and its state history."""
    _print(threads_table([detail.info], now_ms, f"Conversation {thread_id}"))
    if detail.info.flags:
        typer.echo(f"Flags: {safe.text(flag_notes(detail.info.flags))}")
    history = Table(title="State history (journal)")
    for col in ("at", "from", "to", "reason"):
        history.add_column(col, overflow="fold")
    for h in detail.history:
        history.add_row(*map(safe.cell, (iso(h.at), h.from_state or "-", h.to_state or "-", h.reason)))
    if detail.messages is None:
        typer.echo(
            "Messages: not recorded yet (the store has not read this conversation since it started "
            "recording messages; `gmaildesk sweep --full` fills them)."
        )
    else:
        messages = Table(title="Messages")
        for col in ("at", "from", "counted as", "message"):
            messages.add_column(col, overflow="fold")
        for m in detail.messages:
            counted = m.counted_as + (f" ({flag_notes(m.flags)})" if m.flags else "")
            messages.add_row(*map(safe.cell, (iso(m.at), m.from_addr or "-", counted, m.message_id)))
        _print(messages)
    _print(history)


def show_report(result: Report, title: str) -> None:
    """One row per group and a total row; then what the numbers could not include."""
    table = Table(title=safe.cell(title))
    for col in (
        "",
        "volume",
        "1st response med",
        "p90",
        "resolution med",
        "p90",
        "reopens",
        "SLA met",
        *(f"backlog {b}" for b, _ in AGING_BUCKETS),
    ):
        table.add_column(col)
    for g in [*result.groups, result.total]:
        sla = "-" if g.sla_pct is None else f"{g.sla_pct}% ({g.sla_met}/{g.sla_measured})"
        table.add_row(
            *map(
                safe.cell,
                (
                    g.key,
                    str(g.volume),
                    age(g.first_response.median_ms),
                    age(g.first_response.p90_ms),
                    age(g.resolution.median_ms),
                    age(g.resolution.p90_ms),
                    str(g.reopens),
                    sla,
                    *(str(g.backlog[b]) for b, _ in AGING_BUCKETS),
                ),
            )
        )
    _print(table)
    for note in result.missing:
        typer.echo(f"Note: {safe.text(note)}")


def threads_table(rows: Iterable[ThreadInfo], now_ms: int, title: str) -> Table:
    table = Table(title=safe.cell(title))
    for col in ("thread", "subject", "customer", "department", "state", "age", "last", "SLA deadline", "link"):
        table.add_column(col, overflow="fold")
    for t in rows:
        due = "-" if t.due_at is None else f"{iso(t.due_at)} ({_due_in(t.due_at, now_ms)})"
        subject = "?" if t.subject is None else t.subject or "(no subject)"
        table.add_row(
            *map(safe.cell, (t.thread_id, subject, t.customer or "?", t.department or "-")),
            _state_cell(t),
            *map(safe.cell, (age(t.age_ms), t.last_actor or "-", due, t.link)),
        )
    return table


def age(ms: int | None) -> str:
    return "-" if ms is None else format_duration(ms)


def flag_notes(flags: Iterable[str]) -> str:
    return ", ".join(FLAG_NOTES.get(f, f) for f in flags)


def _state_cell(t: ThreadInfo) -> Text:
    """The state, then `overdue` and the classifier's doubts (e.g. "possibly automatic") when there are any."""
    cell = safe.cell(t.state or "-")
    if t.overdue:
        cell.append(" overdue", style="red")
    if t.flags:
        cell.append(f" ({safe.text(flag_notes(t.flags))})", style="yellow")
    return cell


def _due_in(due_at: int, now_ms: int) -> str:
    return f"overdue {age(now_ms - due_at)}" if now_ms > due_at else f"in {age(due_at - now_ms)}"


def _print(renderable: RenderableType) -> None:
    Console().print(renderable)
