"""What `gmaildesk sweep` prints: a few transitions one by one, many as a summary.

A first full sweep of a real mailbox changes every conversation (1,500 lines for 1,500), which nobody
reads: above SUMMARY_OVER transitions the sweep prints the counts by transition ("- -> waiting 812") and
the URGENT_ROWS most urgent open conversations (overdue first, then the longest waiting) with their
department, age and subject; `--verbose` lists every transition. Subjects, departments and ages come from
the store the sweep has just written, read as the audit reads it. The tables fit the terminal's width
(COLUMNS, else the terminal's, else 80: cron mail); the sentences around them stay one line each, as logs
and scripts grep them (a conversation id is never split).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from gmaildesk.cli.table import Column, render_lines, terminal_width

if TYPE_CHECKING:
    from gmaildesk.audit.queries import ThreadInfo
    from gmaildesk.config.desk import Desk
    from gmaildesk.gmail.connection import ConnectionOptions
    from gmaildesk.sweep.result import SweepResult, Transition

__all__ = ["SUMMARY_OVER", "URGENT_ROWS", "render", "sweep_report"]

SUMMARY_OVER = 20
URGENT_ROWS = 20


def sweep_report(
    result: SweepResult, desk: Desk, connection: ConnectionOptions, store: Path | None, verbose: bool
) -> str:
    """The sweep's report for a terminal or cron mail, with what the store knows of each conversation."""
    threads, now_ms = _threads_in_store(desk, connection, store)
    return render(result, threads=threads, now_ms=now_ms, verbose=verbose, width=terminal_width())


def render(
    result: SweepResult,
    *,
    threads: Mapping[str, ThreadInfo] | None = None,
    now_ms: int = 0,
    verbose: bool = False,
    width: int = 80,
) -> str:
    """The report; *threads* (the store's conversations by id) adds subjects and the most urgent list."""
    threads = threads or {}
    changed = result.transitions
    summarised = len(changed) > SUMMARY_OVER and not verbose
    lines = [
        f"{'Would change' if result.dry_run else 'Changed'} {len(changed)} of "
        f"{result.threads_seen} conversations ({'full scan' if result.full else 'incremental'}"
        f"{f', {result.resync_reason}: full resync' if result.resynced else ''}; read {result.threads_read}).",
    ]
    if summarised or (verbose and len(changed) > SUMMARY_OVER):
        lines += _by_transition(changed)
    if summarised and not result.dry_run:  # a dry run wrote nothing: the store would show the state before it
        lines += _most_urgent(threads, now_ms, width)
    elif changed and not summarised:
        lines += _indented(render_lines(_transition_columns(threads), changed, width - 2))
    if result.retrying:
        lines.append(
            f"Retrying {len(result.retrying)} conversations Gmail named but did not show yet (404): "
            f"{', '.join(result.retrying)}"
        )
    if result.given_up:
        lines.append(
            f"Gave up on {len(result.given_up)} conversations Gmail never showed: {', '.join(result.given_up)}"
        )
    lines.append("Now: " + ", ".join(f"{n} {s}" for s, n in result.by_state.items()))
    lines += _listings(result)
    lines += _acknowledged(result)
    lines.append(f"{result.api_calls} API calls, ~{result.quota_units} quota units, {result.duration_s:.1f}s.")
    if summarised:
        lines.append(f"--verbose lists all {len(changed)} transitions; `gmaildesk threads` lists the conversations.")
    return "\n".join(lines)


def _listings(result: SweepResult) -> list[str]:
    """The lean first sweep's decisions from Gmail's listings, and the backfill that confirms them."""
    lines = []
    if result.provisional:
        lines.append(f"From listings: {result.provisional} conversations; their facts are read by the next sweeps.")
    if result.listing_check:
        lines.append(f"Check: {result.listing_check}.")
    if result.backfilled:
        lines.append(f"Read whole: {result.backfilled} decided from listings ({result.corrected} changed state).")
    return lines


def _acknowledged(result: SweepResult) -> list[str]:
    """auto_ack mode: sweep: what the acknowledgement pass did; nothing when it had nothing to do."""
    skipped = sum(result.acks_skipped.values())
    if not (result.acks_sent or skipped):
        return []
    reasons = ", ".join(f"{n} {reason}" for reason, n in sorted(result.acks_skipped.items()))
    return [
        f"Acknowledged {result.acks_sent} new conversations" + (f"; none for {skipped}: {reasons}." if skipped else ".")
    ]


def _by_transition(changed: Sequence[Transition]) -> list[str]:
    counts = Counter(f"{t.from_state or '-'} -> {t.to_state or '-'}" for t in changed)
    pad = max(len(name) for name in counts)
    return ["By transition:", *(f"  {name:<{pad}}  {n:>6}" for name, n in counts.most_common())]


def _most_urgent(threads: Mapping[str, ThreadInfo], now_ms: int, width: int) -> list[str]:
    from gmaildesk.audit.queries import OPEN_STATES
    from gmaildesk.cli.audit_view import thread_columns

    open_ = [t for t in threads.values() if t.state in OPEN_STATES]
    if not open_:
        return ["No open conversations."]
    urgent = sorted(open_, key=_urgency)[:URGENT_ROWS]
    wanted = ("thread", "dept", "state", "age", "due", "subject")
    columns = [c for c in thread_columns(now_ms) if c.name in wanted]
    return [
        f"Most urgent {len(urgent)} of {len(open_)} open (overdue first, then the longest waiting):",
        *_indented(render_lines(columns, urgent, width - 2)),
    ]


def _urgency(t: ThreadInfo) -> tuple[bool, int, int, str]:
    """Overdue first (the longest overdue first), then the longest waiting."""
    overdue_since = t.due_at if t.overdue and t.due_at is not None else 0
    return (not t.overdue, overdue_since, -(t.age_ms or 0), t.thread_id)


def _transition_columns(threads: Mapping[str, ThreadInfo]) -> list[Column[Transition]]:
    def subject(t: Transition) -> str:
        info = threads.get(t.thread_id)
        return "?" if info is None or info.subject is None else info.subject or "(no subject)"

    return [
        Column("thread", lambda t: t.thread_id, key=True),
        Column("change", lambda t: f"{t.from_state or '-'} -> {t.to_state or '-'}", key=True),
        Column("subject", subject, min_width=12),
        Column("why", lambda t: t.reason, min_width=24, wrap=True),
    ]


def _threads_in_store(
    desk: Desk, connection: ConnectionOptions, store: Path | None
) -> tuple[dict[str, ThreadInfo], int]:
    """The store's conversations as the audit reads them (none when there is no store yet: a dry run)."""
    from gmaildesk.audit import queries
    from gmaildesk.audit.db import Slas, open_store
    from gmaildesk.cli.options import now_ms
    from gmaildesk.errors import GmailDeskError
    from gmaildesk.paths import Account
    from gmaildesk.sweep.store import store_path

    now = now_ms(connection)
    try:
        db = open_store(store_path(Account(connection.endpoint, desk.mailbox), store))
    except GmailDeskError:
        return {}, now
    try:
        slas = Slas.from_desk(desk)
        return {t.thread_id: t for t in queries.threads(db, slas, now, mailbox=desk.mailbox)}, now
    except queries.UnreadableStore:
        return {}, now  # the sweep's own report should not fail on what only the audit reads
    finally:
        db.close()


def _indented(lines: list[str]) -> list[str]:
    return [f"  {line}" if line else line for line in lines]
