"""`gmaildesk sweep`: keep one status label on every support conversation (cron-friendly)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Annotated

import typer

from gmaildesk.cli import safe
from gmaildesk.cli.files import StoreFile, StoreFileOldName, store_file
from gmaildesk.cli.options import ConfigFiles, Endpoint, ServiceAccount, User, connection_options
from gmaildesk.errors import ExitCode

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from gmaildesk.sweep.engine import SweepResult


def register(app: typer.Typer) -> None:
    app.command(name="sweep")(sweep)


def sweep(
    config: ConfigFiles = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the transitions; write nothing.")] = False,
    full: Annotated[bool, typer.Option("--full", help="Rescan every conversation of the scope.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary (version 1).")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors (for cron).")] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="List every transition (more than 20 are otherwise summarised).")
    ] = False,
    backfill: Annotated[
        int | None,
        typer.Option(
            "--backfill",
            min=0,
            metavar="N",
            help="Read up to N conversations a lean first sweep decided from Gmail's listings whole in this run"
            " (default: a minute of quota, 150 at 6,000 units/min; 0: none).",
        ),
    ] = None,
    store: StoreFile = None,
    state: StoreFileOldName = None,
    endpoint: Endpoint = None,
    service_account: ServiceAccount = None,
    user: User = None,
) -> None:
    """Label every support conversation new, waiting, handled, forwarded or closed, plus overdue.

    The first run labels every conversation of sweep.scope, deciding most from Gmail's listings and reading
    only the customer's message that decides (facts such as first response times stay pending); later runs
    read only what changed since (Gmail history) plus a minute's worth of those pending conversations
    (--backfill), and move conversations to overdue or closed by the clock without reading them. A status label
    an agent sets by hand is kept until the customer writes again. A conversation Gmail lists but does not
    show yet (404) is retried on the next runs and reported; the store (one per account, private to you)
    refuses another account's file. A second sweep of the same mailbox while one runs exits at once.

    Exit codes: 0 done, 1 error (desk.yaml's problems included), 2 bad usage or a desk for another mailbox,
    4 partial (some conversations failed; the next run retries them), 5 login needed, 6 quota exhausted,
    7 another sweep is running.

    Several -c (or -c FOLDER: the desk.yaml of each folder right below it) sweep those mailboxes in
    parallel, each with its own connection, quota pacing, lock and store, all within the Cloud project's
    quota; with --service-account each desk's mailbox: is the user it acts for, otherwise each mailbox
    uses its own login (`auth login --account MAILBOX` once per mailbox). One section per mailbox, then a
    total; the exit code is the worst of them all (1, then 2, 5, 6, 7, 4).

    Example: gmaildesk sweep -c desk.yaml --quiet
    """
    from gmaildesk.config import load_desk
    from gmaildesk.sweep.service import sweep_once

    assert config is not None  # the option's callback fills in the default
    store = store_file(store, state)
    if len(config) > 1:
        from gmaildesk.cli.sweep_many import sweep_all

        return sweep_all(config, (endpoint, service_account, user, store), full, dry_run, as_json, quiet, backfill)
    desk = load_desk(config[0])
    options = connection_options(endpoint, service_account, user)
    with _ProgressBar(enabled=not quiet and not as_json and sys.stdout.isatty()) as progress:
        result = sweep_once(desk, options, store, full=full, dry_run=dry_run, progress=progress, backfill=backfill)
    if as_json:
        typer.echo(json.dumps(result.to_json(), indent=2))
    elif not quiet:
        from gmaildesk.cli.sweep_view import sweep_report

        # Thread ids, subjects and Gmail's error texts are Gmail's data.
        typer.echo(safe.lines(sweep_report(result, desk, options, store, verbose)))
    report_problems(result)
    if result.exit_code != ExitCode.OK:
        raise typer.Exit(int(result.exit_code))


def report_problems(result: SweepResult) -> None:
    """What a sweep could not do, on stderr: shown even with --quiet (and after an audit's --refresh)."""
    for error in result.errors:
        typer.echo(f"Error: {safe.text(error)}", err=True)
    if result.given_up:  # a conversation nobody will see labelled
        typer.echo(
            f"Warning: gave up on {len(result.given_up)} conversation{'s' if len(result.given_up) > 1 else ''}"
            f" Gmail named but never showed: {safe.text(', '.join(result.given_up))}",
            err=True,
        )


def render(result: SweepResult) -> str:
    """The report without the store's subjects and ages (a section of a several-mailbox sweep)."""
    from gmaildesk.cli.sweep_view import render as report
    from gmaildesk.cli.table import terminal_width

    return report(result, width=terminal_width())


class _ProgressBar:
    """A rich progress bar on a terminal, as the engine's progress callback; no callback otherwise."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._bar: Progress | None = None
        self._tasks: dict[str, TaskID] = {}

    def __enter__(self) -> Callable[[str, int, int], None] | None:
        if not self.enabled:
            return None
        from rich.progress import Progress

        self._bar = Progress(transient=True)
        self._bar.start()
        return self.update

    def update(self, phase: str, done: int, total: int) -> None:
        assert self._bar is not None  # update is handed out only once the bar exists
        if phase not in self._tasks:
            self._tasks[phase] = self._bar.add_task(
                "Reading conversations" if phase == "read" else "Relabelling", total=total
            )
        self._bar.update(self._tasks[phase], completed=done, total=total)

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self._bar is not None:
            self._bar.stop()
