"""`status|threads|next|report|show` with several -c: every desk's store, merged (gmaildesk.audit.many).

Tables get a mailbox column, JSON rows a "mailbox" field, `status` and `report` one section per mailbox
plus totals over them all; `show` finds the mailbox whose store has the conversation.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, TypeVar

import typer

from gmaildesk.audit import many, shapes
from gmaildesk.audit.db import iso
from gmaildesk.audit.pending import report_line, status_line
from gmaildesk.audit.period import Bound
from gmaildesk.audit.queries import DepartmentStatus, Report, Status
from gmaildesk.cli import audit_view, safe
from gmaildesk.cli.table import Column, Style, emit, is_tsv, note
from gmaildesk.errors import ExitCode, GmailDeskError

R = TypeVar("R")
T = TypeVar("T")
# The flags every desk shares: --refresh, --endpoint, --service-account, --user, --state/--store.
Shared = tuple[bool, str | None, Path | None, str | None, Path | None]


@contextmanager
def opened(configs: Sequence[Path], shared: Shared) -> Iterator[tuple[list[many.Mailbox], int]]:
    """Every desk's store read-only (after one parallel sweep of them all with --refresh), and now."""
    from gmaildesk.audit.db import Slas, open_store
    from gmaildesk.audit.queries import UnreadableStore
    from gmaildesk.audit.zone import show_times_in
    from gmaildesk.cli.options import now_ms
    from gmaildesk.config import load_desk
    from gmaildesk.paths import Account
    from gmaildesk.sweep.many import connect_as
    from gmaildesk.sweep.store import store_path

    refresh, endpoint, service_account, user, state = shared
    if state is not None or user is not None:
        raise GmailDeskError(
            f"{'--store' if state is not None else '--user'} names one mailbox's "
            f"{'store' if state is not None else 'account'}; with several desks each has its own",
            ["drop it: each desk's store and account are found by its mailbox"],
            ExitCode.USAGE,
        )
    if refresh:
        _refresh(configs, endpoint, service_account)
    desks = [load_desk(config) for config in configs]
    show_times_in(desks[0].timezone)  # one zone for the screens: the first desk's
    options = [connect_as(endpoint, service_account)(desk) for desk in desks]
    with ExitStack() as stack:
        boxes = []
        for desk, connection in zip(desks, options, strict=True):
            db = open_store(store_path(Account(connection.endpoint, desk.mailbox), None))
            stack.callback(db.close)
            agents = tuple(agent.name for agent in desk.team.agents)
            boxes.append(many.Mailbox(desk.mailbox, db, Slas.from_desk(desk), agents))
        try:
            yield boxes, now_ms(options[0])
        except UnreadableStore as error:
            raise GmailDeskError(
                f"a sweep store: {error} (the store was edited or damaged)",
                ["move the file aside; the next sweep rebuilds it with a full scan"],
            ) from None


def _refresh(configs: Sequence[Path], endpoint: str | None, service_account: Path | None) -> None:
    """`--refresh`: the incremental sweep of every desk `sweep -c ... --quiet` runs; partial ones only warn."""
    from gmaildesk.cli.sweep_many import report_problems
    from gmaildesk.sweep.many import connect_as, sweep_many
    from gmaildesk.sweep.service import sweep_once

    result = sweep_many(configs, connect_as(endpoint, service_account), lambda desk, options: sweep_once(desk, options))
    report_problems(result)
    if result.exit_code == ExitCode.PARTIAL:
        typer.echo("Warning: a sweep was partial; showing what the stores have.", err=True)
    elif result.exit_code != ExitCode.OK:
        raise typer.Exit(int(result.exit_code))


# ---------------------------------------------------------------------------------------------- status
def status_json(per: list[tuple[str, Status]], problems: list[str], max_age_ms: int) -> dict[str, Any]:
    by_state = {k: sum(s.by_state.get(k, 0) for _, s in per) for k in per[0][1].by_state}
    doc: dict[str, Any] = {
        "version": 1,
        "kind": "status-many",
        "now": iso(per[0][1].now_ms),
        "total": sum(s.total for _, s in per),
        "overdue": sum(s.overdue for _, s in per),
        "by_state": by_state,
        "mailboxes": [
            {"mailbox": mailbox, "status": shapes.status_json(s, s.problems(max_age_ms))} for mailbox, s in per
        ],
        "problems": problems,
    }
    if pending := sum(s.pending for _, s in per):  # only then: as one mailbox's status
        doc["provisional"] = pending
    return doc


def status_problems(per: list[tuple[str, Status]], max_age_ms: int) -> list[str]:
    return [f"{mailbox}: {problem}" for mailbox, s in per for problem in s.problems(max_age_ms)]


def _lifted(columns: Sequence[Column[R]], part: Callable[[T], R]) -> list[Column[T]]:
    """One-mailbox columns over rows that carry their mailbox: each reads its part of the row."""
    lifted: list[Column[T]] = []
    for column in columns:
        read = column.value
        lifted.append(Column(**{**_fields(column), "value": lambda row, read=read: read(part(row))}))
    return lifted


def _fields(column: Column[R]) -> dict[str, Any]:
    return {f.name: getattr(column, f.name) for f in dataclasses.fields(column)}


def _mailbox_column(mailbox: Callable[[T], str]) -> Column[T]:
    return Column("mailbox", mailbox, key=True)


def show_status(per: list[tuple[str, Status]], how: Style) -> None:
    """One row per mailbox and department, with the mailbox's last sweep."""
    total, overdue = sum(s.total for _, s in per), sum(s.overdue for _, s in per)
    title = f"{total} conversations in {len(per)} mailboxes, {overdue} overdue"
    rows = [(mailbox, s, d) for mailbox, s in per for d in s.departments]
    columns: list[Column[tuple[str, Status, DepartmentStatus]]] = [
        _mailbox_column(lambda r: r[0]),
        *_lifted(audit_view.status_columns(), lambda r: r[2]),
        Column("last sweep", lambda r: audit_view.at(r[1].last_sweep_at, "never"), key=True),
    ]
    emit(how, columns, rows, title)
    if is_tsv(how):
        note(how, title)
    for mailbox, s in per:
        if s.pending:
            note(how, f"{mailbox}: {status_line(s.pending)}")


def status_csv(per: list[tuple[str, Status]]) -> tuple[list[str], list[list[Any]]]:
    rows = [[mailbox, *row] for mailbox, s in per for row in shapes.status_csv(s)[1]]
    return ["mailbox", *shapes.STATUS_FIELDS], rows


# ---------------------------------------------------------------------------------------------- threads, next
def row_json(row: many.Row, now_ms: int) -> dict[str, Any]:
    return {**shapes.thread_json(row.info, now_ms), "mailbox": row.mailbox}


def threads_json(rows: list[many.Row], now_ms: int) -> dict[str, Any]:
    return {
        "version": 1,
        "kind": "threads",
        "now": iso(now_ms),
        "count": len(rows),
        "threads": [row_json(r, now_ms) for r in rows],
    }


def next_json(row: many.Row | None, now_ms: int) -> dict[str, Any]:
    return {"version": 1, "kind": "next", "now": iso(now_ms), "thread": None if row is None else row_json(row, now_ms)}


def threads_csv(rows: list[many.Row], now_ms: int) -> tuple[list[str], list[list[Any]]]:
    return ["mailbox", *shapes.THREAD_FIELDS], [[r.mailbox, *shapes.threads_csv([r.info], now_ms)[1][0]] for r in rows]


def show_threads(rows: Sequence[many.Row], now_ms: int, title: str, how: Style) -> None:
    """audit_view's threads table with the mailbox first."""
    columns: list[Column[many.Row]] = [
        _mailbox_column(lambda r: r.mailbox),
        *_lifted(audit_view.thread_columns(now_ms), lambda r: r.info),
    ]
    emit(how, columns, rows, title)


# ---------------------------------------------------------------------------------------------- report
def report_json(result: many.ManyReport) -> dict[str, Any]:
    first = result.per_mailbox[0][1]
    doc: dict[str, Any] = {
        "version": 1,
        "kind": "report-many",
        "now": iso(first.now_ms),
        "since": iso(first.since_ms),
        "until": iso(first.now_ms if first.until_ms is None else first.until_ms),
        "by": first.by,
        "mailboxes": [{"mailbox": mailbox, "report": shapes.report_json(r)} for mailbox, r in result.per_mailbox],
        "total": shapes.group_json(result.total),
    }
    if result.pending.count:  # only then: as one mailbox's report
        doc["pending"], doc["pending_undated"] = result.pending.count, result.pending.undated
    return doc


def show_report(result: many.ManyReport, title: str, how: Style) -> None:
    """Each mailbox's groups and total, then the total over every mailbox ("(all)")."""
    rows = [(mailbox, g) for mailbox, r in result.per_mailbox for g in (*r.groups, r.total)]
    rows.append(("(all)", result.total))
    by = result.per_mailbox[0][1].by
    emit(how, [_mailbox_column(lambda r: r[0]), *_lifted(audit_view.report_columns(by), lambda r: r[1])], rows, title)
    for mailbox, r in result.per_mailbox:
        for missing in r.missing:
            note(how, f"Note: {mailbox}: {missing}")
        if r.pending.count:
            note(how, f"Note: {mailbox}: {report_line(r.pending)}")


def report_csv(result: many.ManyReport) -> tuple[list[str], list[list[Any]]]:
    """Each mailbox's rows (its total last), then the total over them all as mailbox "(all)"."""
    rows = [[mailbox, *row] for mailbox, r in result.per_mailbox for row in shapes.report_csv(r)[1]]
    first = result.per_mailbox[0][1]
    grand = shapes.report_csv(
        Report(first.now_ms, first.since_ms, first.by, [], result.total, [], until_ms=first.until_ms)
    )[1][-1]
    return ["mailbox", *shapes.REPORT_FIELDS], [*rows, ["(all)", *grand]]


# ---------------------------------------------------------------------------------------------- commands
# What `gmaildesk status|threads|next|report|show` do when given several desks; the one-desk commands in
# cli/audit.py hand over here, with their flags as they parsed them.
def status(
    configs: Sequence[Path], shared: Shared, check: bool, max_age_ms: int, as_json: bool, as_csv: bool, how: Style
) -> None:
    from gmaildesk.cli.audit import CHECK_FAILED, _emit

    with opened(configs, shared) as (boxes, now_ms):
        per = many.status(boxes, now_ms)
    problems = status_problems(per, max_age_ms)
    if not _emit(as_json, as_csv, lambda: status_json(per, problems, max_age_ms), lambda: status_csv(per)):
        show_status(per, how)
    if check and problems:
        for problem in problems:
            typer.echo(f"Check failed: {safe.text(problem)}", err=True)
        raise typer.Exit(CHECK_FAILED)


def threads(
    configs: Sequence[Path], shared: Shared, filters: dict[str, Any], as_json: bool, as_csv: bool, how: Style
) -> None:
    """*filters*: queries.threads's state, department, older_than_ms, sort, limit and agent (a name, or me)."""
    from gmaildesk.cli.audit import _TABLE_ROWS, _emit
    from gmaildesk.cli.team import agent_name

    if filters.get("agent"):
        filters = {**filters, "agent": agent_name(filters["agent"], "--agent")}

    with opened(configs, shared) as (boxes, now_ms):
        rows = many.threads(boxes, now_ms, **filters)
    if not _emit(as_json, as_csv, lambda: threads_json(rows, now_ms), lambda: threads_csv(rows, now_ms)):
        shown = rows if filters.get("limit") or is_tsv(how) else rows[:_TABLE_ROWS]
        show_threads(shown, now_ms, f"{len(rows)} conversations in {len(boxes)} mailboxes", how)
        if len(shown) < len(rows):
            typer.echo(f"... {len(rows) - len(shown)} more: use --limit 0, or --format tsv, --csv or --json for all.")


def next_(
    configs: Sequence[Path],
    shared: Shared,
    only: tuple[str | None, str | None],
    as_json: bool,
    as_csv: bool,
    how: Style,
) -> None:
    """*only*: --dept and --agent (a name, or me)."""
    from gmaildesk.cli.audit import _emit
    from gmaildesk.cli.team import agent_name

    dept, agent = only
    with opened(configs, shared) as (boxes, now_ms):
        found = many.next_thread(boxes, now_ms, dept, None if agent is None else agent_name(agent, "--agent"))
    if not _emit(
        as_json, as_csv, lambda: next_json(found, now_ms), lambda: threads_csv([found] if found else [], now_ms)
    ):
        if found is None:
            typer.echo("Nothing to handle.")
        else:
            show_threads([found], now_ms, "Handle next", how)
            if not is_tsv(how):  # tsv: the link is a column of the row already
                typer.echo(safe.text(found.info.link))


def report(
    configs: Sequence[Path],
    shared: Shared,
    bounds: tuple[Bound, Bound | None],
    by: str,
    html: Path | None,
    as_json: bool,
    as_csv: bool,
    how: Style,
) -> None:
    """*bounds*: --since and --until as parsed (audit.period); the period is read in the first desk's zone."""
    from gmaildesk.audit.period import period
    from gmaildesk.audit.zone import shown_zone, zone_name
    from gmaildesk.cli.audit import _emit

    if html is not None:
        raise GmailDeskError(
            "--html draws one mailbox's report; with several desks use --json or --csv",
            ["or run `gmaildesk report -c DESK --html FILE` once per desk"],
            ExitCode.USAGE,
        )
    with opened(configs, shared) as (boxes, now_ms):
        zone = shown_zone()
        span = period(*bounds, now_ms, zone)
        result = many.report(boxes, now_ms, since_ms=span.since_ms, until_ms=span.until_ms, by=by, zone=zone)
    if not _emit(as_json, as_csv, lambda: report_json(result), lambda: report_csv(result)):
        title = f"Report of {len(boxes)} mailboxes {span.title(zone)} ({zone_name(zone)}) by {by}"
        show_report(result, title, how)


def show(configs: Sequence[Path], shared: Shared, thread: str, as_json: bool, as_csv: bool, how: Style) -> None:
    """The conversation from the desk whose store has it (a link naming its mailbox: that desk only)."""
    from gmaildesk.audit import queries
    from gmaildesk.audit.links import link_mailbox, thread_id_from, ticket_number
    from gmaildesk.cli.audit import _emit

    number = ticket_number(thread)
    thread_id, linked = thread_id_from(thread) if number is None else "", link_mailbox(thread)
    with opened(configs, shared) as (boxes, now_ms):
        wanted = [box for box in boxes if linked is None or box.address.lower() == linked.lower()]
        if number is not None:
            box, thread_id = many.ticket(boxes, thread)
            wanted = [box]
        if not wanted:
            raise GmailDeskError(
                f"this link opens {linked}'s Gmail; none of the {len(boxes)} desks is for it",
                [f"add -c with the desk.yaml whose mailbox is {linked}"],
                ExitCode.USAGE,
            )
        try:
            _, detail = many.show(wanted, now_ms, thread_id)
        except queries.NotFound:
            raise GmailDeskError(
                f"conversation {thread_id} is in none of the {len(wanted)} sweep stores",
                ["it may be outside sweep.scope, or not swept yet (try --refresh)"],
            ) from None
    if not _emit(as_json, as_csv, lambda: shapes.show_json(detail, now_ms), lambda: shapes.show_csv(detail)):
        audit_view.show_thread(detail, now_ms, how)
