"""Pure functions over the sweep store: status, threads, show, next, report.

Every function takes a read-only connection (`db.open_store`), the desk's SLAs and `now_ms`;
nothing reads a clock. Times are epoch milliseconds.

What the store knows per conversation (threads table) is message-precise: first customer
message, our first reply, the newest counted message and who wrote it, the SLA deadline, the
start of the current customer wait, subject, customer address and the send-as address of our
first and last reply; the messages table has every message's time, kind and sender. The journal
adds every state transition with its reason, stamped with the *sweep's* time. So:
- first response = first_response_at - first_customer_at (exact, message times);
- resolution = our last reply - first customer message (message times), for conversations now
  handled or closed;
- reopens = journal transitions out of closed (each rests on the customer message that reopened it);
- SLA missed = the first response came later than the department's first_response SLA, or the
  journal ever recorded the conversation overdue (which also covers next-response breaches);
  conversations still inside their first SLA window are not counted either way;
- ages: new and waiting conversations age from the first customer message of the current wait.
A store written by an older version lacks those facts for conversations not read since (None,
'?' under `--by agent`) until the sweep reads them again (`gmaildesk sweep --full` reads all).
A provisional conversation (decided from Gmail's listings, audit/pending.py) lacks them too until a later
sweep reads it whole: the audit shows its state and says its facts are pending.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sqlite3
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from functools import lru_cache
from typing import Any

from gmaildesk.audit.db import Slas
from gmaildesk.audit.links import gmail_link, ticket_number
from gmaildesk.audit.owners import OWNED_BY, OWNER_COLUMN, AgentLoad, open_by_agent
from gmaildesk.audit.pending import NOT_PROVISIONAL, Pending, by_department, in_period
from gmaildesk.audit.zone import week_of
from gmaildesk.errors import GmailDeskError

__all__ = [
    "ThreadInfo",
    "Oldest",
    "DepartmentStatus",
    "Status",
    "HistoryEntry",
    "MessageEntry",
    "ThreadDetail",
    "Stats",
    "ReportGroup",
    "Report",
    "status",
    "threads",
    "show",
    "next_thread",
    "report",
    "STATES",
    "AGING_BUCKETS",
    "NotFound",
    "UnreadableStore",
    "FLAG_NOTES",
]

STATES = ("new", "waiting", "handled", "forwarded", "closed")
OPEN_STATES = ("new", "waiting")
# (label, upper bound in ms; None = no bound)
AGING_BUCKETS: tuple[tuple[str, int | None], ...] = (
    ("<1h", 3_600_000),
    ("1-4h", 4 * 3_600_000),
    ("4-24h", 24 * 3_600_000),
    ("1-3d", 72 * 3_600_000),
    (">3d", None),
)
_ACTOR = {"customer": "customer", "ours_reply": "us", "ours_forward": "us (forward)"}
_COLS = (
    "thread_id, state, overdue, department, last_counted_side, last_counted_at, first_customer_at, "
    "first_response_at, due_at, manual, message_ids, updated_at, subject, customer, waiting_since, agent, flags, "
    "(SELECT number FROM tickets WHERE tickets.thread_id = threads.thread_id), "
    f"{OWNER_COLUMN}, provisional"
)
_NO_ROW = (None, 0, None, None, None, None, None, None, 0, "[]", None, None, None, None, None, None, None, None, 0)
# What `show` says a message counted as.
COUNTED_AS = {
    "customer": "customer",
    "ours_reply": "us",
    "ours_forward": "us (forward)",
    "ours_note": "note",
    "our_ack": "our auto-reply",
    "auto_reply": "auto-reply",
    "bounce": "bounce",
    "list": "list",
    "draft": "draft",
}
# What the classifier's flags mean to the reader (`threads` marks such a row, `show` lists them).
FLAG_NOTES = {"possibly_automatic": "possibly automatic", "unverified_sender": "unverified sender"}


class NotFound(LookupError):
    pass


class UnreadableStore(ValueError):
    """A value in the store is not what the sweep writes (the message names the thread and column)."""


def _flags(raw: str | None, thread_id: str, where: str) -> tuple[str, ...]:
    """A JSON list of flag names (NULL in a store older than flags: none)."""
    if raw is None or raw == "[]":  # the common case, without a JSON parse per row
        return ()
    try:
        value = json.loads(raw)
    except (TypeError, ValueError):
        value = None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UnreadableStore(f"conversation {thread_id}: {where} are not a JSON list of names")
    return tuple(value)


# ---------------------------------------------------------------------------------------------- rows
@dataclass(frozen=True)
class ThreadInfo:
    thread_id: str
    link: str
    subject: str | None  # None: the store has not read it since it started recording subjects
    customer: str | None
    department: str | None
    state: str | None
    overdue: bool  # as of now (the store's flag, or the deadline has passed since the sweep)
    manual: bool
    since_at: int | None  # new: first customer message; waiting: start of the wait; else newest counted
    age_ms: int | None  # now - since_at
    last_actor: str | None  # "customer" | "us" | "us (forward)"
    last_at: int | None
    due_at: int | None
    messages: int
    agent: str | None = None  # send-as address of our last reply
    flags: tuple[str, ...] = ()  # the classifier's doubts, e.g. "possibly_automatic", "unverified_sender"
    ticket: int | None = None  # the conversation's number (sweep/tickets.py); None until a sweep numbers it
    owner: str | None = None  # the agent who owns it (their Agent/ label); None: nobody
    # Decided from Gmail's listings, not read whole yet (audit/pending.py): subject, customer, first
    # response and agent may be None because they are pending, not because an older store lacks them.
    provisional: bool = False


def _since(
    state: str,
    department: str | None,
    last_at: int | None,
    first_customer_at: int | None,
    due_at: int | None,
    slas: Slas,
    waiting_since: int | None = None,
) -> int | None:
    if state in OPEN_STATES and waiting_since is not None:
        return waiting_since
    if state == "new":
        return first_customer_at if first_customer_at is not None else last_at
    if state == "waiting":  # older rows without waiting_since
        nr = slas.next_response(department)
        if due_at is not None and nr is not None:
            return due_at - nr * 1000  # the deadline was set from the first unanswered message
    return last_at


def _info(r: tuple[Any, ...], now_ms: int, slas: Slas, mailbox: str | None) -> ThreadInfo:
    (
        thread_id,
        state,
        overdue,
        department,
        side,
        last_at,
        first_customer_at,
        _first_response_at,
        due_at,
        manual,
        message_ids,
        _updated,
        subject,
        customer,
        waiting_since,
        agent,
        flags,
        ticket,
        owner,
        provisional,
    ) = r
    since = _since(state, department, last_at, first_customer_at, due_at, slas, waiting_since)
    live_overdue = bool(overdue) or (state in OPEN_STATES and due_at is not None and now_ms > due_at)
    return ThreadInfo(
        thread_id,
        gmail_link(thread_id, mailbox),
        subject,
        customer,
        department,
        state,
        live_overdue,
        bool(manual),
        since,
        None if since is None else now_ms - since,
        _ACTOR.get(side or ""),
        last_at,
        due_at,
        message_ids.count('"') // 2 if message_ids else 0,
        agent,
        _flags(flags, thread_id, "its flags"),
        ticket,
        owner,
        bool(provisional),
    )


# ---------------------------------------------------------------------------------------------- status
@dataclass(frozen=True)
class Oldest:
    thread_id: str
    link: str
    since_at: int
    age_ms: int
    ticket: int | None = None


@dataclass
class DepartmentStatus:
    department: str | None
    counts: dict[str, int] = field(default_factory=lambda: {s: 0 for s in STATES})
    overdue: int = 0
    oldest_new: Oldest | None = None
    oldest_waiting: Oldest | None = None
    pending: int = 0  # conversations whose facts are pending (audit/pending.py)


@dataclass
class Status:
    now_ms: int
    last_sweep_at: int | None
    total: int
    overdue: int
    by_state: dict[str, int]
    departments: list[DepartmentStatus]
    agents: list[AgentLoad] = field(default_factory=list)  # open per agent; [] when the team names none
    pending: int = 0  # conversations whose facts are pending (audit/pending.py)

    @property
    def sweep_age_ms(self) -> int | None:
        return None if self.last_sweep_at is None else self.now_ms - self.last_sweep_at

    def problems(self, max_age_ms: int | None) -> list[str]:
        """Why `status --check` fails: overdue conversations, a stale or missing sweep."""
        out = []
        if self.overdue:
            out.append(f"{self.overdue} conversation{'s' if self.overdue != 1 else ''} overdue")
        age_ms = self.sweep_age_ms
        if age_ms is None:
            out.append("no sweep has completed yet")
        elif max_age_ms is not None and age_ms > max_age_ms:
            out.append(f"the last sweep is {age_ms // 1000}s old (max {max_age_ms // 1000}s)")
        return out


def _last_sweep(db: sqlite3.Connection) -> int | None:
    row = db.execute("SELECT last_sweep_at FROM checkpoint WHERE id = 1").fetchone()
    return row[0] if row else None


def status(
    db: sqlite3.Connection, slas: Slas, now_ms: int, *, mailbox: str | None = None, agents: Sequence[str] = ()
) -> Status:
    """Counts per department and state, open conversations per agent of *agents* (desk.yaml's named team);
    links open in *mailbox* (desk.yaml's)."""
    depts: dict[str | None, DepartmentStatus] = {}

    def dept(name: str | None) -> DepartmentStatus:
        return depts.setdefault(name, DepartmentStatus(name))

    overdue_total = 0
    rows = db.execute(
        "SELECT department, state, count(*), "
        "sum(overdue OR (state IN ('new', 'waiting') AND due_at IS NOT NULL AND due_at < ?)) "
        "FROM threads WHERE state IS NOT NULL GROUP BY department, state",
        (now_ms,),
    )
    for department, state, n, overdue in rows:
        d = dept(department)
        d.counts[state] = d.counts.get(state, 0) + n
        d.overdue += overdue or 0
        overdue_total += overdue or 0
    # Oldest new: the earliest first customer message (SQLite returns the row the MIN came from).
    for department, thread_id, since in db.execute(
        "SELECT department, thread_id, MIN(COALESCE(waiting_since, first_customer_at, last_counted_at)) "
        "FROM threads "
        "WHERE state = 'new' GROUP BY department"
    ):
        if since is not None:
            dept(department).oldest_new = Oldest(thread_id, gmail_link(thread_id, mailbox), since, now_ms - since)
    # Oldest waiting: the first customer message of the current wait.
    for department, thread_id, since in db.execute(
        "SELECT department, thread_id, MIN(waiting_since) FROM threads "
        "WHERE state = 'waiting' AND waiting_since IS NOT NULL GROUP BY department"
    ):
        dept(department).oldest_waiting = Oldest(thread_id, gmail_link(thread_id, mailbox), since, now_ms - since)
    # Rows from an older store: the wait starts at due_at - next_response (same SLA within a department) ...
    for department, thread_id, due_at, last_at in db.execute(
        "SELECT department, thread_id, MIN(due_at), last_counted_at FROM threads "
        "WHERE state = 'waiting' AND waiting_since IS NULL AND due_at IS NOT NULL GROUP BY department"
    ):
        since = _since("waiting", department, last_at, None, due_at, slas)
        current = dept(department).oldest_waiting
        if since is not None and (current is None or since < current.since_at):
            dept(department).oldest_waiting = Oldest(thread_id, gmail_link(thread_id, mailbox), since, now_ms - since)
    # ... or, without an SLA, the newest counted message.
    for department, thread_id, last_at in db.execute(
        "SELECT department, thread_id, MIN(last_counted_at) FROM threads WHERE state = 'waiting' "
        "AND waiting_since IS NULL AND due_at IS NULL AND last_counted_at IS NOT NULL GROUP BY department"
    ):
        current = dept(department).oldest_waiting
        if current is None or last_at < current.since_at:
            dept(department).oldest_waiting = Oldest(
                thread_id, gmail_link(thread_id, mailbox), last_at, now_ms - last_at
            )
    _number_oldest(db, depts.values())
    for department, n in by_department(db).items():
        dept(department).pending = n
    by_state = {s: sum(d.counts.get(s, 0) for d in depts.values()) for s in STATES}
    ordered = sorted(depts.values(), key=lambda d: (d.department is None, d.department or ""))
    loads = open_by_agent(db, now_ms, agents) if agents else []
    pending = sum(d.pending for d in ordered)
    return Status(now_ms, _last_sweep(db), sum(by_state.values()), overdue_total, by_state, ordered, loads, pending)


def _number_oldest(db: sqlite3.Connection, departments: Iterable[DepartmentStatus]) -> None:
    """The oldest conversations' ticket numbers: the handle a team says out loud."""
    for d in departments:
        for name in ("oldest_new", "oldest_waiting"):
            oldest: Oldest | None = getattr(d, name)
            if oldest is not None:
                row = db.execute("SELECT number FROM tickets WHERE thread_id = ?", (oldest.thread_id,)).fetchone()
                setattr(d, name, dataclasses.replace(oldest, ticket=row[0] if row else None))


# ---------------------------------------------------------------------------------------------- threads / next
def threads(
    db: sqlite3.Connection,
    slas: Slas,
    now_ms: int,
    *,
    state: str | None = None,
    department: str | None = None,
    older_than_ms: int | None = None,
    sort: str = "age",
    limit: int | None = None,
    mailbox: str | None = None,
    agent: str | None = None,
) -> list[ThreadInfo]:
    """Conversations with a status, filtered; sort "age" (oldest first) or "sla" (overdue, then deadline)."""
    if sort not in ("age", "sla"):
        raise ValueError(f"unknown sort {sort!r}")
    where: list[str] = ["state IS NOT NULL"]
    args: list[int | str] = []
    if state == "overdue":
        where.append("(overdue OR (state IN ('new', 'waiting') AND due_at IS NOT NULL AND due_at < ?))")
        args.append(now_ms)
    elif state == "open":
        where.append("state IN ('new', 'waiting')")
    elif state is not None:
        where.append("state = ?")
        args.append(state)
    if department is not None:
        where.append("lower(department) = lower(?)")
        args.append(department)
    if agent is not None:
        where.append(OWNED_BY)
        args.append(agent)
    rows = db.execute(f"SELECT {_COLS} FROM threads WHERE {' AND '.join(where)}", args).fetchall()
    infos = [_info(r, now_ms, slas, mailbox) for r in rows]
    if older_than_ms is not None:
        infos = [i for i in infos if i.age_ms is not None and i.age_ms >= older_than_ms]
    big = 1 << 62
    if sort == "age":
        infos.sort(key=lambda i: (i.since_at if i.since_at is not None else big, i.thread_id))
    else:
        infos.sort(
            key=lambda i: (
                not i.overdue,
                i.due_at if i.due_at is not None else big,
                i.since_at if i.since_at is not None else big,
                i.thread_id,
            )
        )
    return infos[:limit] if limit else infos


def next_thread(
    db: sqlite3.Connection,
    slas: Slas,
    now_ms: int,
    department: str | None = None,
    *,
    mailbox: str | None = None,
    agent: str | None = None,
) -> ThreadInfo | None:
    """The conversation to handle now: overdue first, then the nearest SLA deadline, then the oldest
    (with *agent*: of the conversations that agent owns)."""
    found = threads(
        db, slas, now_ms, state="open", department=department, sort="sla", limit=1, mailbox=mailbox, agent=agent
    )
    return found[0] if found else None


# ---------------------------------------------------------------------------------------------- show
def ticket_thread(db: sqlite3.Connection, text: str) -> str:
    """The conversation a ticket argument ('1042', '#1042') names, from the store's ticket numbers."""
    number = ticket_number(text)
    row = None if number is None else db.execute("SELECT thread_id FROM tickets WHERE number = ?", (number,)).fetchone()
    if row is None:
        raise GmailDeskError(
            f"no conversation has ticket number {text.strip()} in the sweep store",
            ["the sweep numbers conversations as it meets them; `gmaildesk threads` shows their numbers"],
        )
    return str(row[0])


@dataclass(frozen=True)
class HistoryEntry:
    at: int
    from_state: str | None
    to_state: str | None
    reason: str


@dataclass(frozen=True)
class MessageEntry:
    message_id: str
    at: int
    from_addr: str | None
    kind: str  # the classifier's kind: customer, ours_reply, auto_reply, bounce, list, ...
    flags: tuple[str, ...] = ()

    @property
    def counted_as(self) -> str:
        return COUNTED_AS.get(self.kind, self.kind)


@dataclass(frozen=True)
class ThreadDetail:
    info: ThreadInfo
    first_customer_at: int | None
    first_response_at: int | None
    history: list[HistoryEntry]
    messages: list[MessageEntry] | None  # None: not read since the store started recording messages
    not_read: int = 0  # provisional: of the conversation's messages, those the sweep has not read yet


def show(
    db: sqlite3.Connection, slas: Slas, now_ms: int, thread_id: str, *, mailbox: str | None = None
) -> ThreadDetail:
    row = db.execute(f"SELECT {_COLS} FROM threads WHERE thread_id = ?", (thread_id,)).fetchone()
    history = [
        HistoryEntry(at, f or None, t or None, reason)
        for at, f, t, reason in db.execute(
            "SELECT at, from_state, to_state, reason FROM journal WHERE thread_id = ? ORDER BY at, id", (thread_id,)
        )
    ]
    messages = [
        MessageEntry(mid, at, from_addr, kind, _flags(flags, thread_id, f"the flags of message {mid}"))
        for mid, at, from_addr, kind, flags in db.execute(
            "SELECT message_id, at, from_addr, kind, flags FROM messages WHERE thread_id = ? ORDER BY at, message_id",
            (thread_id,),
        )
    ]
    if row is None:
        if not history:
            raise NotFound(thread_id)
        row = (thread_id, *_NO_ROW)
    info = _info(row, now_ms, slas, mailbox)
    if info.provisional:  # what was read so far, possibly nothing
        not_read = set(_ids(row[10], thread_id)) - {m.message_id for m in messages}
        return ThreadDetail(info, row[6], row[7], history, messages, len(not_read))
    return ThreadDetail(info, row[6], row[7], history, messages or None)


def _ids(raw: str, thread_id: str) -> list[str]:
    """The conversation's message ids (a JSON list)."""
    try:
        value = json.loads(raw)
    except (TypeError, ValueError):
        value = None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UnreadableStore(f"conversation {thread_id}: its message ids are not a JSON list of ids")
    return value


# ---------------------------------------------------------------------------------------------- report
@dataclass(frozen=True)
class Stats:
    n: int
    median_ms: int | None
    p90_ms: int | None

    @classmethod
    def of(cls, values: list[int]) -> Stats:
        if not values:
            return cls(0, None, None)
        values = sorted(values)
        return cls(len(values), int(statistics.median(values)), values[max(0, math.ceil(0.9 * len(values)) - 1)])


@dataclass
class ReportGroup:
    key: str
    volume: int = 0
    first_response: Stats = Stats(0, None, None)
    resolution: Stats = Stats(0, None, None)
    reopens: int = 0
    sla_met: int = 0
    sla_measured: int = 0
    backlog: dict[str, int] = field(default_factory=lambda: {b: 0 for b, _ in AGING_BUCKETS})

    @property
    def sla_pct(self) -> float | None:
        return round(100.0 * self.sla_met / self.sla_measured, 1) if self.sla_measured else None


@dataclass
class Report:
    now_ms: int
    since_ms: int
    by: str
    groups: list[ReportGroup]
    total: ReportGroup
    missing: list[str]
    # Whatever `by` is, the HTML report's charts: SLA attainment per department, the trend per ISO week
    # (weeks without a conversation between the first and the last one included, as zeroes).
    departments: list[ReportGroup] = field(default_factory=list)
    weeks: list[ReportGroup] = field(default_factory=list)
    until_ms: int | None = None  # the period's end (excluded); None: now
    pending: Pending = Pending()  # the period's provisional conversations, left out of every figure above


@lru_cache(maxsize=4096)
def _week_of_day(day: int) -> str:
    year, week, _ = (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(days=day)).isocalendar()
    return f"{year}-W{week:02d}"


_SQLITE_MAX = 2**63 - 1  # "no upper bound" for an INTEGER column (a forged Date may be just that)


def _bucket(age_ms: int) -> str:
    for label, bound in AGING_BUCKETS:
        if bound is None or age_ms < bound:
            return label
    return AGING_BUCKETS[-1][0]


@dataclass
class _Tally:
    """A report group while rows are counted, with the durations its Stats come from."""

    group: ReportGroup
    first_responses: list[int] = field(default_factory=list)
    resolutions: list[int] = field(default_factory=list)


def report(
    db: sqlite3.Connection,
    slas: Slas,
    now_ms: int,
    *,
    since_ms: int,
    by: str = "dept",
    until_ms: int | None = None,
    zone: tzinfo = UTC,
) -> Report:
    """Conversations whose first customer message is at or after since_ms (and before until_ms), grouped by
    dept|week|agent; weeks are ISO weeks in *zone* (the desk's timezone).

    Backlog aging counts every open (new/waiting) conversation of the window by its current wait.
    Provisional conversations (facts pending, audit/pending.py) count in no figure: Report.pending says how many.
    """
    if by not in ("dept", "week", "agent"):
        raise ValueError(f"unknown grouping {by!r}")
    reopens = dict(
        db.execute(
            "SELECT thread_id, count(*) FROM journal WHERE from_state IN ('closed', 'closed+overdue') "
            "AND to_state NOT IN ('', 'closed', 'closed+overdue') GROUP BY thread_id"
        )
    )
    ever_overdue = {
        t
        for (t,) in db.execute(
            "SELECT DISTINCT thread_id FROM journal WHERE to_state IN ('new+overdue', 'waiting+overdue', "
            "'handled+overdue', 'forwarded+overdue', 'closed+overdue')"
        )
    }
    # The first_customer_at index pays for a narrow window; for a wide one a plain scan is ~2x faster.
    lo, hi = db.execute("SELECT MIN(first_customer_at), MAX(first_customer_at) FROM threads").fetchone()
    end = now_ms if until_ms is None else until_ms
    wide = lo is not None and hi > lo and (min(hi, end) - since_ms) / (hi - lo) > 0.2
    rows = db.execute(
        "SELECT thread_id, department, state, overdue, last_counted_side, last_counted_at, first_customer_at, "
        f"first_response_at, due_at, waiting_since, agent, {OWNER_COLUMN} FROM threads "
        f"{'NOT INDEXED' if wide else ''} "
        f"WHERE first_customer_at BETWEEN ? AND ? AND state IS NOT NULL AND {NOT_PROVISIONAL}",
        (since_ms, _SQLITE_MAX if until_ms is None else until_ms - 1),
    )
    acc: dict[str, _Tally] = {}
    # The grouping asked for is one of the two the charts need: counted once, shared.
    by_dept: dict[str, _Tally] = acc if by == "dept" else {}
    by_week: dict[str, _Tally] = acc if by == "week" else {}
    total = _Tally(ReportGroup("total"))
    unknown_agent = 0
    for (
        thread_id,
        department,
        state,
        overdue,
        side,
        last_at,
        first_at,
        response_at,
        due_at,
        waiting,
        agent,
        owner,
    ) in rows:
        dept_key, week_key = department or "(none)", week_of(first_at, zone)
        if by == "dept":
            key = dept_key
        elif by == "week":
            key = week_key
        elif owner:  # by agent: the owner; without one, the send-as address of our last reply
            key = owner
        elif agent:
            key = agent
        elif response_at is None and side != "ours_reply":
            key = "(no reply)"
        else:  # we replied, but the row predates the store recording send-as addresses
            key = "?"
            unknown_agent += 1
        bucket = acc.get(key)
        if bucket is None:
            bucket = acc[key] = _Tally(ReportGroup(key))
        # Per conversation once, then into its group and the total.
        reopened = reopens.get(thread_id, 0)
        response = None if response_at is None else response_at - first_at
        resolution = (
            last_at - first_at
            if state in ("handled", "closed") and side == "ours_reply" and last_at is not None
            else None
        )
        verdict = _sla(thread_id, department, state, overdue, first_at, response_at, due_at, now_ms, slas, ever_overdue)
        age_bucket = None
        if state in OPEN_STATES:
            since = _since(state, department, last_at, first_at, due_at, slas, waiting)
            if since is not None:
                age_bucket = _bucket(now_ms - since)
        targets = [bucket, total]
        if by != "dept":
            targets.append(_tally(by_dept, dept_key))
        if by != "week":
            targets.append(_tally(by_week, week_key))
        for b in targets:
            g = b.group
            g.volume += 1
            g.reopens += reopened
            if response is not None:
                b.first_responses.append(response)
            if resolution is not None:
                b.resolutions.append(resolution)
            if verdict is not None:
                g.sla_measured += 1
                g.sla_met += verdict
            if age_bucket is not None:
                g.backlog[age_bucket] += 1
    groups = [_finished(acc[k]) for k in sorted(acc)] + [_finished(total)]
    departments = [_finished(by_dept[k]) for k in sorted(by_dept)]
    weeks = [_finished(by_week.get(w) or _Tally(ReportGroup(w))) for w in _weeks_between(sorted(by_week))]
    missing = (
        [
            f"agent: unknown for {unknown_agent} conversation{'s' if unknown_agent != 1 else ''} not read since "
            "the store started recording send-as addresses ('?'); `gmaildesk sweep --full` fills them"
        ]
        if unknown_agent
        else []
    )
    pending = in_period(db, since_ms, until_ms)
    return Report(now_ms, since_ms, by, groups[:-1], groups[-1], missing, departments, weeks, end, pending)


def _tally(tallies: dict[str, _Tally], key: str) -> _Tally:
    found = tallies.get(key)
    if found is None:
        found = tallies[key] = _Tally(ReportGroup(key))
    return found


def _finished(tally: _Tally) -> ReportGroup:
    tally.group.first_response, tally.group.resolution = Stats.of(tally.first_responses), Stats.of(tally.resolutions)
    return tally.group


def _weeks_between(weeks: list[str]) -> list[str]:
    """Every ISO week from the first of *weeks* to the last (sorted "YYYY-Www" labels)."""
    if not weeks:
        return []
    first = datetime.strptime(weeks[0] + "-1", "%G-W%V-%u").replace(tzinfo=UTC)
    day, last, out = (first - datetime(1970, 1, 1, tzinfo=UTC)).days, weeks[-1], []
    while True:
        label = _week_of_day(day)
        out.append(label)
        if label >= last:
            return out
        day += 7


def _sla(
    thread_id: str,
    department: str | None,
    state: str,
    overdue: int,
    first_at: int,
    response_at: int | None,
    due_at: int | None,
    now_ms: int,
    slas: Slas,
    ever_overdue: set[str],
) -> bool | None:
    """True met, False missed, None not measurable yet (or no SLA)."""
    first_sla = slas.first_response(department)
    missed = overdue or thread_id in ever_overdue or (state in OPEN_STATES and due_at is not None and now_ms > due_at)
    if first_sla is not None:
        limit = first_at + first_sla * 1000
        if response_at is not None:
            missed = missed or response_at > limit
        elif state not in OPEN_STATES:
            pass  # forwarded or set by hand without a reply: only the journal's overdue record counts
        elif now_ms > limit:
            missed = True
        elif not missed:
            return None  # still within its first-response window
    elif slas.next_response(department) is None and not missed:
        return None
    return not missed
