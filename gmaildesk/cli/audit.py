"""`gmaildesk status|threads|show|next|report`: audit the desk offline from the sweep store.

Thin commands over gmaildesk.audit: each loads desk.yaml (mailbox, SLAs), opens the sweep store
read-only, optionally runs an incremental sweep first (`--refresh`: gmaildesk.sweep.service, as
`gmaildesk sweep` does), and prints a table (cli/audit_view.py), `--json` (version 1, see audit/shapes.py)
or `--csv`. "Now" comes with the connection (gmaildesk.cli.options.now_ms).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from gmaildesk.audit.period import age_ms
from gmaildesk.cli import options, safe, team
from gmaildesk.cli.files import StoreFile, StoreFileOldName, output_folder, store_file
from gmaildesk.cli.options import ConfigFiles, Endpoint, ServiceAccount, User, connection_options
from gmaildesk.cli.table import FormatOption, Output, OutputOption, style
from gmaildesk.cli.team import AgentOption
from gmaildesk.errors import ExitCode, GmailDeskError

if TYPE_CHECKING:
    import sqlite3

    from gmaildesk.audit.db import Slas
    from gmaildesk.config.desk import Desk
    from gmaildesk.gmail.connection import ConnectionOptions

# `status --check` found a problem (overdue conversations, a stale or missing sweep): distinct from 1
# (the command itself failed) so monitoring can tell "desk needs attention" from "check broken".
CHECK_FAILED = ExitCode.NEEDS_ATTENTION

AsJson = Annotated[bool, typer.Option("--json", help="Print JSON (version 1).")]
AsCsv = Annotated[bool, typer.Option("--csv", help="Print CSV with a header row.")]
Refresh = Annotated[bool, typer.Option("--refresh", help="Run an incremental sweep first (talks to Gmail).")]
# Rows a `threads` table shows without --limit (rich renders ~1 ms per row; --json/--csv have them all).
_TABLE_ROWS = 50
Dept = Annotated[str | None, typer.Option("--dept", metavar="NAME", show_default=False, help="Only this department.")]


# The closed sets of choices, as typer wants them: it lists them in --help and exits 2 on any other.
# Their values are what gmaildesk.audit.queries takes (tests/test_cli_audit.py holds them to it).
class StateFilter(StrEnum):
    """`threads --state`: a state, or open (new or waiting), or overdue."""

    NEW = "new"
    WAITING = "waiting"
    HANDLED = "handled"
    FORWARDED = "forwarded"
    CLOSED = "closed"
    OPEN = "open"
    OVERDUE = "overdue"


class SortOrder(StrEnum):
    """`threads --sort`."""

    AGE = "age"
    SLA = "sla"


class GroupBy(StrEnum):
    """`report --by`."""

    DEPT = "dept"
    WEEK = "week"
    AGENT = "agent"


def register(app: typer.Typer) -> None:
    app.command(name="status")(status)
    app.command(name="threads")(threads)
    app.command(name="show")(show)
    app.command(name="next")(next_)
    app.command(name="report")(report)


# ---------------------------------------------------------------------------------------------- plumbing
@contextmanager
def _opened(
    config: Path,
    state: Path | None,
    refresh: bool,
    endpoint: str | None,
    service_account: Path | None,
    user: str | None,
) -> Iterator[tuple[sqlite3.Connection, Slas, int, str]]:
    from gmaildesk.audit.db import Slas, open_store
    from gmaildesk.audit.queries import UnreadableStore
    from gmaildesk.audit.zone import show_times_in
    from gmaildesk.config import load_desk
    from gmaildesk.paths import Account
    from gmaildesk.sweep.store import store_path

    desk = load_desk(config)
    show_times_in(desk.timezone)
    connection = connection_options(endpoint, service_account, user)
    if refresh:
        _refresh(desk, connection, state)
    # The sweep checked desk.mailbox against the account it reached before writing this store.
    path = store_path(Account(connection.endpoint, desk.mailbox), state)
    now_ms = options.now_ms(connection)
    db = open_store(path)
    try:
        yield db, Slas.from_desk(desk), now_ms, desk.mailbox
    except UnreadableStore as error:
        raise GmailDeskError(
            f"{path}: {error} (the store was edited or damaged)",
            ["move the file aside; the next sweep rebuilds it with a full scan"],
        ) from None
    finally:
        db.close()


def _refresh(desk: Desk, connection: ConnectionOptions, state: Path | None) -> None:
    """`--refresh`: the incremental sweep `gmaildesk sweep --quiet` runs; a partial one still shows the store."""
    from gmaildesk.cli.sweep import report_problems
    from gmaildesk.sweep.service import sweep_once

    result = sweep_once(desk, connection, state, full=False, dry_run=False, progress=None)
    report_problems(result)
    if result.exit_code == ExitCode.PARTIAL:
        typer.echo("Warning: the sweep was partial; showing what the store has.", err=True)
    elif result.exit_code != ExitCode.OK:
        raise typer.Exit(int(result.exit_code))


def _emit(
    as_json: bool,
    as_csv: bool,
    doc: Callable[[], object],
    table: Callable[[], tuple[Sequence[str], Iterable[Sequence[object]]]],
) -> bool:
    """Print JSON or CSV when asked; False when the caller should print its table."""
    if as_json and as_csv:
        raise GmailDeskError("--json and --csv exclude each other", [], ExitCode.USAGE)
    if as_json:
        typer.echo(json.dumps(doc(), indent=2))
    elif as_csv:
        header, rows = table()
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(safe.csv_row(row) for row in rows)
        typer.echo(out.getvalue(), nl=False)
    return as_json or as_csv


def _page_folder(path: Path) -> Path:
    """The folder *path* goes in (through a symlink, to its file's); never created for the user."""
    folder = Path(os.path.realpath(path)).parent
    if not folder.is_dir():
        raise GmailDeskError(
            f"cannot write {path}: there is no folder {folder}",
            ["create the folder first (gmaildesk never creates one for you), or pick another path"],
        )
    return folder


def _write_page(path: Path, page: str) -> None:
    """All of *page* or nothing: a file is replaced atomically (a temporary file in its folder, then a rename),
    so a full disk or a read-only folder leaves no partial page; a device or pipe (/dev/stdout) is written
    in place, and its failure (/dev/full: ENOSPC) reported the same way."""
    target = Path(os.path.realpath(path))
    data = page.encode("utf-8")
    try:
        if target.exists() and not target.is_file():
            with open(target, "wb") as out:
                out.write(data)
            return
        folder = _page_folder(path)
        mode = stat.S_IMODE(target.stat().st_mode) if target.exists() else 0o666 & ~_umask()
        fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(temporary, mode)
            os.replace(temporary, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
    except OSError as error:
        raise GmailDeskError(
            f"cannot write {path}: {error.strerror or error}", ["free some space or pick a folder you can write to"]
        ) from None


def _same_mailbox(thread: str, mailbox: str, desk: Path) -> None:
    from gmaildesk.audit.links import link_mailbox

    linked = link_mailbox(thread)
    if linked is not None and linked.lower() != mailbox.lower():
        # Thread ids are per mailbox: another mailbox's id would only be "not in the sweep store".
        raise GmailDeskError(
            f"this link opens {linked}'s Gmail; {desk} is the desk of {mailbox}",
            [f"pass -c with the desk.yaml whose mailbox is {linked}"],
            ExitCode.USAGE,
        )


def _drafts_text(desk: Path, connection: tuple[str | None, Path | None, str | None], thread_id: str) -> str:
    from gmaildesk.cli.reply import drafts_text

    return drafts_text(desk, connection_options(*connection), thread_id)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _several(config: list[Path] | None) -> list[Path]:
    """The desks when several -c were given (cli/audit_many.py merges their stores); [] for one."""
    assert config  # the option's callback fills in the default
    return config if len(config) > 1 else []


def _desk(config: list[Path] | None) -> Path:
    assert config  # the option's callback fills in the default
    return config[0]


# ---------------------------------------------------------------------------------------------- commands
def status(
    config: ConfigFiles = None,
    check: Annotated[
        bool,
        typer.Option(
            "--check", help=f"Exit {CHECK_FAILED} when anything is overdue or the last sweep is older than --max-age."
        ),
    ] = False,
    max_age: Annotated[
        str, typer.Option("--max-age", metavar="AGE", help="Oldest acceptable last sweep for --check (e.g. 15m, 1h).")
    ] = "15m",
    as_json: AsJson = False,
    as_csv: AsCsv = False,
    fmt: FormatOption = None,
    output: OutputOption = Output.NORMAL,
    refresh: Refresh = False,
    store: StoreFile = None,
    state: StoreFileOldName = None,
    endpoint: Endpoint = None,
    service_account: ServiceAccount = None,
    user: User = None,
) -> None:
    """Conversations by department and state, the oldest new and waiting ones, overdue count, last sweep.

    Offline from the sweep store. With --check (for monitoring) the problems go to stderr: anything
    overdue, no completed sweep, or a last sweep older than --max-age. When desk.yaml's team names agents,
    the open conversations each owns follow (and those nobody owns).

    Exit codes: 0 done (with --check: all is well), 1 error (no store, desk.yaml's problems), 2 bad usage,
    8 --check found a problem;
    with --refresh also 5 login needed, 6 quota exhausted, 7 a sweep is running (a partial sweep only
    warns).

    Example: gmaildesk status -c desk.yaml --check --max-age 15m
    """
    from gmaildesk.audit import queries, shapes
    from gmaildesk.cli import audit_view

    max_age_ms = age_ms(max_age, "--max-age")
    if several := _several(config):
        from gmaildesk.cli import audit_many

        shared = (refresh, endpoint, service_account, user, store_file(store, state))
        return audit_many.status(several, shared, check, max_age_ms, as_json, as_csv, style(fmt, output))
    with _opened(_desk(config), store_file(store, state), refresh, endpoint, service_account, user) as (
        db,
        slas,
        now_ms,
        mailbox,
    ):
        result = queries.status(db, slas, now_ms, mailbox=mailbox, agents=team.agent_names(_desk(config)))
    problems = result.problems(max_age_ms)
    if not _emit(as_json, as_csv, lambda: shapes.status_json(result, problems), lambda: shapes.status_csv(result)):
        audit_view.show_status(result, style(fmt, output))
    if check and problems:
        for problem in problems:
            typer.echo(f"Check failed: {problem}", err=True)
        raise typer.Exit(CHECK_FAILED)


def threads(
    config: ConfigFiles = None,
    status: Annotated[
        StateFilter | None,
        typer.Option(
            "--status",
            show_default=False,
            case_sensitive=False,
            help="Only this state; open: new or waiting; overdue: past its SLA.",
        ),
    ] = None,
    dept: Dept = None,
    agent: AgentOption = None,
    older_than: Annotated[
        str | None,
        typer.Option(
            "--older-than", metavar="AGE", show_default=False, help="Only conversations at least this old (e.g. 2h)."
        ),
    ] = None,
    sort: Annotated[
        SortOrder,
        typer.Option("--sort", case_sensitive=False, help="age: oldest first; sla: overdue, then nearest deadline."),
    ] = SortOrder.AGE,
    limit: Annotated[int, typer.Option("--limit", help="At most this many rows (0: all).")] = 0,
    as_json: AsJson = False,
    as_csv: AsCsv = False,
    fmt: FormatOption = None,
    output: OutputOption = Output.NORMAL,
    refresh: Refresh = False,
    store: StoreFile = None,
    # --status's name from issue 5 (`threads --state waiting`), kept: here --state never named a file.
    state: Annotated[StateFilter | None, typer.Option("--state", hidden=True, case_sensitive=False)] = None,
    endpoint: Endpoint = None,
    service_account: ServiceAccount = None,
    user: User = None,
) -> None:
    """One row per conversation: subject, customer, department, state, age, who acted last, SLA deadline,
    Gmail link.

    Offline from the sweep store. --status filters by state (--state, its first name, works too); --agent by
    owner (me: $GMAILDESK_AGENT); --store names the store file. Subject and customer show '?' only for
    conversations an older store has not re-read since (`sweep --full` fills them), and '(pending)' for
    conversations a first sweep decided from Gmail's listings until a later sweep reads them whole.

    Exit codes: 0 done, 1 error (no store, desk.yaml's problems), 2 bad usage;
    with --refresh also 5 login needed, 6 quota exhausted, 7 a sweep is running (a partial sweep only
    warns).

    Example: gmaildesk threads -c desk.yaml --status waiting --older-than 2h --sort sla
    """
    from gmaildesk.audit import queries, shapes
    from gmaildesk.cli import audit_view

    older_ms = None if older_than is None else age_ms(older_than, "--older-than")
    wanted = status or state
    if several := _several(config):
        from gmaildesk.cli import audit_many

        filters = {"state": wanted and wanted.value, "department": dept, "older_than_ms": older_ms}
        shared = (refresh, endpoint, service_account, user, store_file(store, None))
        filters.update(sort=sort.value, limit=limit or None, agent=agent)
        return audit_many.threads(several, shared, filters, as_json, as_csv, style(fmt, output))
    with _opened(_desk(config), store_file(store, None), refresh, endpoint, service_account, user) as (
        db,
        slas,
        now_ms,
        mailbox,
    ):
        rows = queries.threads(
            db,
            slas,
            now_ms,
            state=None if wanted is None else wanted.value,
            department=slas.department(dept),
            older_than_ms=older_ms,
            sort=sort.value,
            limit=limit or None,
            mailbox=mailbox,
            agent=team.agent_filter(_desk(config), agent),
        )
    if not _emit(as_json, as_csv, lambda: shapes.threads_json(rows, now_ms), lambda: shapes.threads_csv(rows, now_ms)):
        how = style(fmt, output)
        shown = rows if limit or how.fmt == "tsv" else rows[:_TABLE_ROWS]
        audit_view.show_threads(shown, now_ms, f"{len(rows)} conversations", how)
        if len(shown) < len(rows):
            typer.echo(f"... {len(rows) - len(shown)} more: use --limit 0, or --format tsv, --csv or --json for all.")


def show(
    thread: Annotated[str, typer.Argument(metavar="THREAD", help="Thread id, Gmail web link or ticket number.")],
    config: ConfigFiles = None,
    as_json: AsJson = False,
    as_csv: AsCsv = False,
    fmt: FormatOption = None,
    output: OutputOption = Output.NORMAL,
    refresh: Refresh = False,
    live_drafts: Annotated[
        bool, typer.Option("--drafts", help="Also list its drafts and whose they are, read live from Gmail.")
    ] = False,
    store: StoreFile = None,
    state: StoreFileOldName = None,
    endpoint: Endpoint = None,
    service_account: ServiceAccount = None,
    user: User = None,
) -> None:
    """One conversation: its state now, its messages (when, who, counted as) and its state history with
    reasons; with --drafts also the drafts in it and whose they are (the one part read from Gmail).

    THREAD is a thread id or a Gmail link gmaildesk printed (https://mail.google.com/mail/?authuser=<mailbox>#all/<id>;
    #inbox/<id>, #label/<name>/<id> and /u/N/ work too). A link copied from Gmail's address bar
    (#inbox/FMfcg…) holds no thread id: use `threads --json` to find it. --csv prints the history.

    Exit codes: 0 done, 1 error (not in the store, no store, desk.yaml's problems), 2 bad usage;
    with --refresh also 5 login needed, 6 quota exhausted, 7 a sweep is running (a partial sweep only
    warns).

    Example: gmaildesk show -c desk.yaml 18c2f0a1b2c3d4e5
    """
    from gmaildesk.audit import queries, shapes
    from gmaildesk.audit.links import thread_id_from, ticket_number
    from gmaildesk.cli import audit_view

    thread_id = thread_id_from(thread) if ticket_number(thread) is None else None  # a bad link: exit 2 at once
    if several := _several(config):
        from gmaildesk.cli import audit_many

        shared = (refresh, endpoint, service_account, user, store_file(store, state))
        return audit_many.show(several, shared, thread, as_json, as_csv, style(fmt, output))
    with _opened(_desk(config), store_file(store, state), refresh, endpoint, service_account, user) as (
        db,
        slas,
        now_ms,
        mailbox,
    ):
        thread_id = thread_id or queries.ticket_thread(db, thread)
        _same_mailbox(thread, mailbox, _desk(config))
        try:
            detail = queries.show(db, slas, now_ms, thread_id, mailbox=mailbox)
        except queries.NotFound:
            raise GmailDeskError(
                f"conversation {thread_id} is not in the sweep store",
                ["it may be outside sweep.scope, or not swept yet (try --refresh)"],
            ) from None
    if not _emit(as_json, as_csv, lambda: shapes.show_json(detail, now_ms), lambda: shapes.show_csv(detail)):
        audit_view.show_thread(detail, now_ms, style(fmt, output))
    if live_drafts:  # a collision check before replying: drafts live only in Gmail, never in the store
        typer.echo("\nDrafts (live):\n" + _drafts_text(_desk(config), (endpoint, service_account, user), thread_id))


def next_(
    config: ConfigFiles = None,
    dept: Dept = None,
    agent: AgentOption = None,
    as_json: AsJson = False,
    as_csv: AsCsv = False,
    fmt: FormatOption = None,
    output: OutputOption = Output.NORMAL,
    refresh: Refresh = False,
    store: StoreFile = None,
    state: StoreFileOldName = None,
    endpoint: Endpoint = None,
    service_account: ServiceAccount = None,
    user: User = None,
) -> None:
    """The conversation to handle now: overdue first, then the nearest SLA deadline, then the oldest; with its
    link.

    Only new and waiting conversations count; "Nothing to handle." when there are none. --agent: only
    the conversations that agent owns (me: $GMAILDESK_AGENT).

    Exit codes: 0 done (also with nothing to handle), 1 error (no store, desk.yaml's problems), 2 bad usage;
    with --refresh also 5 login needed, 6 quota exhausted, 7 a sweep is running (a partial sweep only
    warns).

    Example: gmaildesk next -c desk.yaml --dept Billing
    """
    from gmaildesk.audit import queries, shapes
    from gmaildesk.cli import audit_view

    if several := _several(config):
        from gmaildesk.cli import audit_many

        shared = (refresh, endpoint, service_account, user, store_file(store, state))
        return audit_many.next_(several, shared, (dept, agent), as_json, as_csv, style(fmt, output))
    with _opened(_desk(config), store_file(store, state), refresh, endpoint, service_account, user) as (
        db,
        slas,
        now_ms,
        mailbox,
    ):
        found = queries.next_thread(
            db, slas, now_ms, slas.department(dept), mailbox=mailbox, agent=team.agent_filter(_desk(config), agent)
        )
    if not _emit(
        as_json,
        as_csv,
        lambda: shapes.next_json(found, now_ms),
        lambda: shapes.threads_csv([found] if found else [], now_ms),
    ):
        if found is None:
            typer.echo("Nothing to handle.")
        else:
            how = style(fmt, output)
            audit_view.show_threads([found], now_ms, "Handle next", how)
            if how.fmt == "table":
                typer.echo(safe.text(found.link))


def report(
    config: ConfigFiles = None,
    since: Annotated[
        str,
        typer.Option(
            "--since",
            metavar="WHEN",
            help="From: a duration back from now (30d, 1w), a date (2026-11-01: from its start in the desk's "
            "timezone) or a date and time (2026-11-01T09:00).",
        ),
    ] = "30d",
    until: Annotated[
        str | None,
        typer.Option(
            "--until",
            metavar="WHEN",
            show_default=False,
            help="To, as --since; a date counts its whole day (default: now).",
        ),
    ] = None,
    by: Annotated[
        GroupBy, typer.Option("--by", case_sensitive=False, help="Group by department, week or agent.")
    ] = GroupBy.DEPT,
    html: Annotated[
        Path | None,
        typer.Option(
            "--html",
            metavar="FILE",
            show_default=False,
            dir_okay=False,
            help="Also write a self-contained HTML page with charts.",
        ),
    ] = None,
    as_json: AsJson = False,
    as_csv: AsCsv = False,
    fmt: FormatOption = None,
    output: OutputOption = Output.NORMAL,
    refresh: Refresh = False,
    store: StoreFile = None,
    state: StoreFileOldName = None,
    endpoint: Endpoint = None,
    service_account: ServiceAccount = None,
    user: User = None,
) -> None:
    """Volume, first response time (median, p90), resolution time, reopens, SLA attainment %, backlog aging.

    Counts the conversations whose first customer message is between --since and --until (dates and times
    without an offset are in desk.yaml's timezone); states, SLAs and backlog are as of now. Resolution: first
    customer message to our last reply, for handled and closed conversations. Reopens: moves out of closed. SLA
    missed: first reply later than the department's first_response SLA, or ever overdue. --by agent: the
    send-as address our last reply went out from ("(no reply)" when none yet). Conversations a first sweep
    decided from Gmail's listings count in no figure until a later sweep reads them whole; a note says how many.

    Exit codes: 0 done, 1 error (no store, desk.yaml's problems, --html not writable), 2 bad usage (a bad
    or empty period, a folder --store or --html names that does not exist);
    with --refresh also 5 login needed, 6 quota exhausted, 7 a sweep is running (a partial sweep only
    warns).

    Example: gmaildesk report -c desk.yaml --since 2026-11-01 --until 2026-11-30 --by week
    """
    from gmaildesk.audit import queries, shapes
    from gmaildesk.audit.period import parse_bound, period
    from gmaildesk.audit.zone import shown_zone, zone_name
    from gmaildesk.cli import audit_view

    start, end = parse_bound(since, "--since"), None if until is None else parse_bound(until, "--until")
    if html is not None:
        output_folder(html, "--html")  # before any work: a typo in the path should not cost a sweep
    if several := _several(config):
        from gmaildesk.cli import audit_many

        return audit_many.report(
            several,
            (refresh, endpoint, service_account, user, store_file(store, state)),
            (start, end),
            by.value,
            html,
            as_json,
            as_csv,
            style(fmt, output),
        )
    with _opened(_desk(config), store_file(store, state), refresh, endpoint, service_account, user) as (
        db,
        slas,
        now_ms,
        mailbox,
    ):
        zone = shown_zone()
        span = period(start, end, now_ms, zone)
        result = queries.report(
            db,
            slas,
            now_ms,
            since_ms=span.since_ms,
            until_ms=None if end is None else span.until_ms,
            by=by.value,
            zone=zone,
        )
    if html is not None:
        from gmaildesk.audit.html import render_html

        _write_page(html, render_html(result, mailbox, zone))
    if not _emit(as_json, as_csv, lambda: shapes.report_json(result), lambda: shapes.report_csv(result)):
        audit_view.show_report(
            result, f"Report {span.title(zone)} ({zone_name(zone)}) by {by.value}", style(fmt, output)
        )
        if html is not None:
            typer.echo(f"Wrote {safe.text(html)}")
