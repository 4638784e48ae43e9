"""The audit over several mailboxes: each store read as the one-mailbox audit reads it, then merged.

Rows (threads, next) carry their mailbox and are sorted across stores the way queries.threads sorts
one store; status is per mailbox plus totals; a report is per mailbox plus one total over every
conversation of every mailbox. Medians and p90s do not add up, so that total is computed, not summed:
the rows the report reads are copied into one in-memory database (thread ids and departments made
unique per mailbox, each keeping its own desk's SLAs) and queries.report runs over it.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, tzinfo

from gmaildesk.audit import queries
from gmaildesk.audit.db import Slas
from gmaildesk.audit.pending import Pending
from gmaildesk.audit.queries import Report, ReportGroup, Status, ThreadDetail, ThreadInfo
from gmaildesk.errors import ExitCode, GmailDeskError

__all__ = ["Mailbox", "Row", "threads", "next_thread", "status", "show", "ticket", "report", "ManyReport"]


@dataclass(frozen=True)
class Mailbox:
    """One desk's store, opened read-only (audit.db.open_store), with the desk's mailbox and SLAs."""

    address: str
    db: sqlite3.Connection
    slas: Slas
    agents: tuple[str, ...] = ()  # the named agents of the desk's team, as desk.yaml writes them


@dataclass(frozen=True)
class Row:
    mailbox: str
    info: ThreadInfo


_LAST = 1 << 62


def _by_age(row: Row) -> tuple[int, str, str]:
    i = row.info
    return (i.since_at if i.since_at is not None else _LAST, row.mailbox, i.thread_id)


def _by_sla(row: Row) -> tuple[bool, int, int, str, str]:
    i = row.info
    return (
        not i.overdue,
        i.due_at if i.due_at is not None else _LAST,
        i.since_at if i.since_at is not None else _LAST,
        row.mailbox,
        i.thread_id,
    )


def _departments(boxes: Sequence[Mailbox], name: str | None) -> list[tuple[Mailbox, str | None]]:
    """The mailboxes to read for --dept *name*, each with its desk's spelling of it; a name no desk has
    is the usage error the one-desk audit gives (with the departments of them all)."""
    if name is None:
        return [(box, None) for box in boxes]
    found = []
    for box in boxes:
        try:
            found.append((box, box.slas.department(name)))
        except GmailDeskError:
            continue
    if not found:
        every = sorted({d for box in boxes for d in box.slas.first})
        raise GmailDeskError(
            f"--dept {name}: no such department in any of the desks",
            [f"departments: {', '.join(every) or '(none)'}"],
            ExitCode.USAGE,
        )
    return found


def _spelling(agents: Sequence[str], name: str | None) -> str | None:
    if name is None:
        return None
    return next((a for a in agents if a.casefold() == name.casefold()), None)


def _with_agent(boxes: Sequence[Mailbox], agent: str | None) -> Sequence[Mailbox]:
    """The mailboxes whose team names *agent* (all of them without one); none: the one-desk usage error."""
    if agent is None:
        return boxes
    found = [box for box in boxes if _spelling(box.agents, agent) is not None]
    if not found:
        every = sorted({a for box in boxes for a in box.agents})
        raise GmailDeskError(
            f"no agent '{agent}' in any of the desks' teams",
            [f"agents: {', '.join(every)}" if every else "name your agents in desk.yaml's team"],
            ExitCode.USAGE,
        )
    return found


def threads(
    boxes: Sequence[Mailbox],
    now_ms: int,
    *,
    state: str | None = None,
    department: str | None = None,
    older_than_ms: int | None = None,
    sort: str = "age",
    limit: int | None = None,
    agent: str | None = None,
) -> list[Row]:
    """queries.threads over every mailbox, one list sorted as it sorts one (mailbox, then thread id on ties);
    *agent*: only the conversations that agent owns, in the mailboxes whose team names them."""
    rows = [
        Row(box.address, info)
        for box, spelled in _departments(_with_agent(boxes, agent), department)
        for info in queries.threads(
            box.db,
            box.slas,
            now_ms,
            state=state,
            department=spelled,
            older_than_ms=older_than_ms,
            sort=sort,
            limit=limit,
            mailbox=box.address,
            agent=_spelling(box.agents, agent),
        )
    ]
    rows.sort(key=_by_age if sort == "age" else _by_sla)
    return rows[:limit] if limit else rows


def next_thread(
    boxes: Sequence[Mailbox], now_ms: int, department: str | None = None, agent: str | None = None
) -> Row | None:
    """The conversation to handle now in any of the mailboxes: overdue first, then the nearest deadline."""
    found = threads(boxes, now_ms, state="open", department=department, sort="sla", limit=1, agent=agent)
    return found[0] if found else None


def status(boxes: Sequence[Mailbox], now_ms: int) -> list[tuple[str, Status]]:
    return [
        (box.address, queries.status(box.db, box.slas, now_ms, mailbox=box.address, agents=box.agents)) for box in boxes
    ]


def show(boxes: Sequence[Mailbox], now_ms: int, thread_id: str) -> tuple[str, ThreadDetail]:
    """The conversation from the first mailbox whose store has it; queries.NotFound when none has."""
    for box in boxes:
        try:
            return box.address, queries.show(box.db, box.slas, now_ms, thread_id, mailbox=box.address)
        except queries.NotFound:
            continue
    raise queries.NotFound(thread_id)


def ticket(boxes: Sequence[Mailbox], text: str) -> tuple[Mailbox, str]:
    """The mailbox and conversation a ticket number ('1042', '#1042') names. Each store numbers its own
    conversations, so the same number in two mailboxes is a usage error naming them."""
    hits = []
    for box in boxes:
        try:
            hits.append((box, queries.ticket_thread(box.db, text)))
        except GmailDeskError:
            continue
    if not hits:
        raise GmailDeskError(
            f"no conversation has ticket number {text.strip()} in any of the {len(boxes)} sweep stores",
            ["the sweep numbers conversations as it meets them; `gmaildesk threads` shows their numbers"],
        )
    if len(hits) > 1:
        raise GmailDeskError(
            f"ticket {text.strip()} is in {len(hits)} mailboxes: {', '.join(box.address for box, _ in hits)}",
            ["each mailbox numbers its own tickets: give the one -c of its desk, or the thread id or link"],
            ExitCode.USAGE,
        )
    return hits[0]


@dataclass(frozen=True)
class ManyReport:
    per_mailbox: list[tuple[str, Report]]
    total: ReportGroup  # every conversation of every mailbox: medians over them all

    @property
    def pending(self) -> Pending:
        """The period's provisional conversations of every mailbox (in no figure, the total's neither)."""
        reports = [report.pending for _, report in self.per_mailbox]
        return Pending(sum(p.count for p in reports), sum(p.undated for p in reports))

    def combined(self) -> Report:
        """One report to show: each mailbox's groups and total keyed `mailbox group`, then the grand total."""
        first = self.per_mailbox[0][1]
        groups = [
            dataclasses.replace(group, key=f"{mailbox} {group.key}")
            for mailbox, report in self.per_mailbox
            for group in (*report.groups, report.total)
        ]
        missing = [f"{mailbox}: {note}" for mailbox, report in self.per_mailbox for note in report.missing]
        return Report(
            first.now_ms,
            first.since_ms,
            first.by,
            groups,
            self.total,
            missing,
            until_ms=first.until_ms,
            pending=self.pending,
        )


# What queries.report reads of a store, copied for the total (journal: reopens and ever-overdue; owners:
# --by agent).
_REPORT_COLUMNS = (
    "thread_id, department, state, overdue, last_counted_side, last_counted_at, first_customer_at, "
    "first_response_at, due_at, waiting_since, agent, provisional"
)


def report(
    boxes: Sequence[Mailbox],
    now_ms: int,
    *,
    since_ms: int,
    until_ms: int | None = None,
    by: str = "dept",
    zone: tzinfo = UTC,
) -> ManyReport:
    """queries.report of each mailbox, and its total over the conversations of them all."""
    per = [
        (box.address, queries.report(box.db, box.slas, now_ms, since_ms=since_ms, until_ms=until_ms, by=by, zone=zone))
        for box in boxes
    ]
    merged = sqlite3.connect(":memory:")
    try:
        merged.execute(f"CREATE TABLE threads ({_REPORT_COLUMNS})")
        merged.execute("CREATE TABLE journal (thread_id, from_state, to_state)")
        merged.execute("CREATE TABLE owners (thread_id, agent)")
        first: dict[str, int | None] = {}
        following: dict[str, int | None] = {}
        for n, box in enumerate(boxes):
            _copy(box, f"{n}:", merged, first, following, since_ms)
        slas = Slas(first, following)
        total = queries.report(merged, slas, now_ms, since_ms=since_ms, until_ms=until_ms, zone=zone).total
    finally:
        merged.close()
    return ManyReport(per, total)


def _copy(
    box: Mailbox,
    prefix: str,
    merged: sqlite3.Connection,
    first: dict[str, int | None],
    following: dict[str, int | None],
    since_ms: int,
) -> None:
    """Copy one store's report rows into *merged*: ids and departments prefixed, each department's SLAs
    as this desk resolves them (a department it no longer has: its strictest, as queries does)."""
    rows = box.db.execute(f"SELECT {_REPORT_COLUMNS} FROM threads WHERE first_customer_at >= ?", (since_ms,))
    copied = []
    for thread_id, department, *rest in rows:
        key = f"{prefix}{department or ''}"
        if key not in first:
            first[key] = box.slas.first_response(department)
            following[key] = box.slas.next_response(department)
        copied.append((f"{prefix}{thread_id}", key, *rest))
    merged.executemany(f"INSERT INTO threads VALUES ({', '.join('?' * 12)})", copied)
    merged.executemany(
        "INSERT INTO journal VALUES (?, ?, ?)",
        ((f"{prefix}{t}", f, to) for t, f, to in box.db.execute("SELECT thread_id, from_state, to_state FROM journal")),
    )
    merged.executemany(
        "INSERT INTO owners VALUES (?, ?)",
        ((f"{prefix}{t}", agent) for t, agent in box.db.execute("SELECT thread_id, agent FROM owners")),
    )
