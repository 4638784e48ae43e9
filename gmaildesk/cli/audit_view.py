"""What `status`, `threads`, `show`, `next` and `report` print without --json or --csv.

Each table is a list of cli.table.Column (adding a column is one line in its list) rendered by cli/table.py:
sized to the terminal, or tab-separated when piped. `show` is key: value lines, then the messages and the
state history. Every value from mail or Gmail is shown literally (safe.text / safe.cell), never obeyed.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import typer
from rich.text import Text

from gmaildesk.audit.pending import PENDING_TEXT, report_line, status_line
from gmaildesk.audit.queries import AGING_BUCKETS, FLAG_NOTES, OPEN_STATES, STATES
from gmaildesk.audit.zone import local_time
from gmaildesk.cli import safe
from gmaildesk.cli.table import Column, Style, emit, is_tsv, note, terminal_width
from gmaildesk.sweep.state import format_duration

if TYPE_CHECKING:
    from gmaildesk.audit.owners import AgentLoad
    from gmaildesk.audit.queries import (
        DepartmentStatus,
        HistoryEntry,
        MessageEntry,
        Report,
        ReportGroup,
        Status,
        ThreadDetail,
        ThreadInfo,
    )

__all__ = [
    "show_status",
    "show_threads",
    "show_thread",
    "show_report",
    "thread_columns",
    "flag_notes",
    "age",
    "at",
]


# ---------------------------------------------------------------------------------------------- columns
def thread_columns(now_ms: int) -> list[Column[ThreadInfo]]:
    """`threads` and `next`: one row per conversation."""
    return [
        Column("thread", lambda t: t.thread_id, key=True),
        # What customers quote and `show 1042` takes: hidden after the customer's address, before the subject.
        Column(
            "ticket", lambda t: f"#{t.ticket}" if t.ticket is not None else "-", min_width=None, priority=1, right=True
        ),
        Column("subject", _subject, min_width=12, priority=2),
        Column("customer", _customer, min_width=10, priority=1),
        Column("dept", lambda t: t.department or "-", key=True),
        Column("state", lambda t: t.state or "-", key=True),
        Column("age", lambda t: age(t.age_ms), key=True, right=True),
        Column("due", lambda t: _due(t, now_ms), key=True),
        # Who handles it matters more to a team than the customer's address: hidden after it, before the subject.
        Column("owner", lambda t: t.owner or "-", min_width=6, priority=2),
        Column("flags", lambda t: flag_notes(t.flags) or "-", min_width=10),
        Column("last", lambda t: t.last_actor or "-", wide=True),
        Column("SLA deadline", lambda t: at(t.due_at), wide=True),
        Column("link", lambda t: t.link, wide=True),
    ]


def status_columns() -> list[Column[DepartmentStatus]]:
    """`status`: one row per department; the oldest conversations' ids only with -o wide (and in tsv)."""
    return [
        Column("dept", lambda d: d.department or "(none)", key=True),
        # The open states stay; handled, forwarded and closed give way on a narrow terminal (closed first).
        *(Column(s, _state_count(s), key=s in OPEN_STATES, min_width=None, right=True) for s in STATES),
        Column("overdue", lambda d: str(d.overdue), key=True, right=True),
        Column("oldest new", lambda d: age(d.oldest_new.age_ms) if d.oldest_new else "-", key=True, right=True),
        Column(
            "oldest waiting", lambda d: age(d.oldest_waiting.age_ms) if d.oldest_waiting else "-", key=True, right=True
        ),
        Column("oldest new thread", lambda d: d.oldest_new.thread_id if d.oldest_new else "-", wide=True),
        Column("oldest waiting thread", lambda d: d.oldest_waiting.thread_id if d.oldest_waiting else "-", wide=True),
    ]


def report_columns(by: str) -> list[Column[ReportGroup]]:
    """`report`: one row per group. The group, volume, SLA and the open backlog stay; the response and
    resolution times give way first on a narrow terminal (min_width=None: whole numbers or hidden)."""
    return [
        Column(by, lambda g: g.key, key=True),
        Column("volume", lambda g: str(g.volume), key=True, right=True),
        Column("SLA met", _sla, key=True, right=True),
        *(Column(f"open {b}", _backlog(b), key=True, right=True) for b, _ in AGING_BUCKETS),
        Column("1st reply med", lambda g: age(g.first_response.median_ms), min_width=None, right=True),
        Column("resolve med", lambda g: age(g.resolution.median_ms), min_width=None, right=True),
        Column("1st reply p90", lambda g: age(g.first_response.p90_ms), min_width=None, right=True),
        Column("resolve p90", lambda g: age(g.resolution.p90_ms), min_width=None, right=True),
        Column("reopens", lambda g: str(g.reopens), min_width=None, right=True),
    ]


def message_columns() -> list[Column[MessageEntry]]:
    return [
        Column("at", lambda m: at(m.at), key=True),
        Column("counted as", _counted, key=True),
        Column("from", lambda m: m.from_addr or "-", min_width=12),
        Column("message", lambda m: m.message_id, wide=True),
    ]


def history_columns() -> list[Column[HistoryEntry]]:
    return [
        Column("at", lambda h: at(h.at), key=True),
        Column("from", lambda h: h.from_state or "-", key=True),
        Column("to", lambda h: h.to_state or "-", key=True),
        # The sweep wrote the reason then: its "ago" and "due in" are as of that moment, the `at` beside it.
        Column("reason (as of then)", lambda h: h.reason, min_width=16, wrap=True),
    ]


# ---------------------------------------------------------------------------------------------- screens
def agent_columns() -> list[Column[AgentLoad]]:
    """`status`: open conversations per agent (the team's named agents), then nobody's."""
    return [
        Column("agent", lambda a: a.agent or "(nobody)", key=True),
        Column("open", lambda a: str(a.open), key=True, right=True),
        Column("overdue", lambda a: str(a.overdue), key=True, right=True),
    ]


def show_status(result: Status, how: Style) -> None:
    """Departments by state, with overdue counts and the ages of the oldest new and waiting conversations;
    then open conversations per agent when the team names agents."""
    ago = "" if result.sweep_age_ms is None else f" ({age(result.sweep_age_ms)} ago)"
    title = (
        f"{result.total} conversations, {result.overdue} overdue; last sweep {at(result.last_sweep_at, 'never')}{ago}"
    )
    emit(how, status_columns(), result.departments, title)
    if is_tsv(how):
        note(how, title)
    if result.pending:
        note(how, status_line(result.pending))
    if result.agents:
        emit(how, agent_columns(), result.agents, "Open conversations per agent")


def show_threads(rows: Iterable[ThreadInfo], now_ms: int, title: str, how: Style) -> None:
    emit(how, thread_columns(now_ms), rows, title)


def show_thread(detail: ThreadDetail, now_ms: int, how: Style) -> None:
    """One conversation as key: value lines (times absolute, ages as of now), then its messages and history."""
    width = None if is_tsv(how) else terminal_width()
    for name, value in _facts(detail, now_ms):
        typer.echo(_fact_line(name, safe.text(value), width))
    typer.echo("")
    if detail.info.provisional:  # read so far (maybe nothing), and how many are left
        read = detail.messages or []
        typer.echo(f"Messages ({len(read)} read, {detail.not_read} not read yet):")
        if read:
            emit(how, message_columns(), read)
    elif detail.messages is None:
        typer.echo(
            "Messages: not recorded yet (the store has not read this conversation since it started "
            "recording messages; `gmaildesk sweep --full` fills them)."
        )
    else:
        typer.echo(f"Messages ({len(detail.messages)}):")
        emit(how, message_columns(), detail.messages)
    typer.echo("")
    typer.echo("State history (journal):")
    emit(how, history_columns(), detail.history)


def show_report(result: Report, title: str, how: Style) -> None:
    """One row per group and a total row; then what the numbers could not include."""
    emit(how, report_columns(result.by), [*result.groups, result.total], title)
    for missing in result.missing:
        note(how, f"Note: {missing}")
    if result.pending.count:
        note(how, f"Note: {report_line(result.pending)}")


# ---------------------------------------------------------------------------------------------- cells
def age(ms: int | None) -> str:
    return "-" if ms is None else format_duration(ms)


def at(ms: int | None, none: str = "-") -> str:
    """An absolute time as every table shows it: in the desk's timezone, with the zone's abbreviation."""
    return none if ms is None else local_time(ms)


def flag_notes(flags: Iterable[str]) -> str:
    return ", ".join(FLAG_NOTES.get(f, f) for f in flags)


def _facts(detail: ThreadDetail, now_ms: int) -> list[tuple[str, str]]:
    t = detail.info
    state = (t.state or "-") + (" (set by hand)" if t.manual else "")
    facts = [
        ("thread", t.thread_id),
        *([("ticket", f"#{t.ticket}")] if t.ticket is not None else []),
        ("link", t.link),
        ("subject", _subject(t)),
        ("customer", _customer(t)),
        ("department", t.department or "-"),
        ("state", state),
        *([("owner", t.owner)] if t.owner else []),
        *(_pending_facts(detail) if t.provisional else []),
    ]
    if t.since_at is not None:
        facts.append((f"{t.state or 'state'} since", f"{at(t.since_at)} ({age(now_ms - t.since_at)} ago)"))
    if t.due_at is not None or t.overdue:
        facts.append(("SLA deadline", f"{at(t.due_at)} ({_due(t, now_ms)})"))
    if t.last_at is not None:
        facts.append(("last", f"{t.last_actor or '-'}, {at(t.last_at)} ({age(now_ms - t.last_at)} ago)"))
    if t.flags:
        facts.append(("flags", flag_notes(t.flags)))
    return facts


def _fact_line(name: str, value: str, width: int | None) -> str:
    """`name:   value`, the value wrapped under itself on a terminal; a link never (broken, it opens nothing)."""
    label = f"{name + ':':<15}"
    if width is None or name == "link" or len(label) + len(value) <= width:
        return label + value
    return textwrap.fill(value, max(20, width), initial_indent=label, subsequent_indent=" " * len(label))


def _pending_facts(detail: ThreadDetail) -> list[tuple[str, str]]:
    """`show` of a provisional conversation: its state stands, its message facts are not read yet."""
    facts = [
        (
            "facts",
            "pending — decided from Gmail's listings; the next sweeps read it whole "
            "(gmaildesk sweep --backfill N reads them now)",
        )
    ]
    if detail.first_response_at is None:  # not "no reply yet": not read yet
        facts.append(("1st response", "pending"))
    return facts


def _subject(t: ThreadInfo) -> str:
    if t.subject is None:
        return PENDING_TEXT if t.provisional else "?"
    return t.subject or "(no subject)"


def _customer(t: ThreadInfo) -> str:
    if not t.customer:
        return PENDING_TEXT if t.provisional else "?"
    return t.customer


def _due(t: ThreadInfo, now_ms: int) -> Text:
    """ "overdue 2h55m" in red, "in 3h", or "-"."""
    if t.due_at is not None and now_ms > t.due_at:
        return Text(f"overdue {age(now_ms - t.due_at)}", style="red")
    if t.overdue:
        return Text("overdue", style="red")
    return Text("-" if t.due_at is None else f"in {age(t.due_at - now_ms)}")


def _state_count(state: str) -> Callable[[DepartmentStatus], str]:
    return lambda d: str(d.counts.get(state, 0))


def _backlog(bucket: str) -> Callable[[ReportGroup], str]:
    return lambda g: str(g.backlog[bucket])


def _sla(g: ReportGroup) -> str:
    return "-" if g.sla_pct is None else f"{g.sla_pct}% ({g.sla_met}/{g.sla_measured})"


def _counted(m: MessageEntry) -> str:
    return m.counted_as + (f" ({flag_notes(m.flags)})" if m.flags else "")
