"""`gmaildesk sweep`: keep one status label on every support conversation (cron-friendly)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from gmaildesk.cli import safe
from gmaildesk.cli.options import Endpoint, ServiceAccount, User, connection_options
from gmaildesk.errors import ExitCode

ConfigFile = Annotated[Path, typer.Option("--config", "-c", metavar="FILE", help="The desk.yaml to use.")]
StoreFile = Annotated[Optional[Path], typer.Option(
    "--state", metavar="FILE", show_default=False, dir_okay=False,
    help="Sweep store to use (default: per mailbox under the user data dir, or $GMAILDESK_DATA_DIR).")]


def register(app: typer.Typer) -> None:
    app.command(name="sweep")(sweep)


def sweep(
    config: ConfigFile = Path("desk.yaml"),
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the transitions; write nothing.")] = False,
    full: Annotated[bool, typer.Option("--full", help="Rescan every conversation of the scope.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary (version 1).")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors (for cron).")] = False,
    state: StoreFile = None,
    endpoint: Endpoint = None,
    service_account: ServiceAccount = None,
    user: User = None,
) -> None:
    """Label every support conversation new, waiting, handled, forwarded or closed, plus overdue.

    The first run reads every conversation of sweep.scope; later runs read only what changed since (Gmail history), and move conversations to overdue or closed by the clock without reading them. A status label an agent sets by hand is kept until the customer writes again. A conversation Gmail lists but does not show yet (404) is retried on the next runs and reported; the store (one per account, private to you) refuses another account's file. A second sweep of the same mailbox while one runs exits at once. Exit codes: 0 done, 4 partial (some conversations failed; the next run retries them), 7 another sweep is running, 1 error.

    Example: gmaildesk sweep -c desk.yaml --quiet
    """
    from gmaildesk.config import load_desk
    from gmaildesk.gmail import connect, scopes
    from gmaildesk.sweep import engine
    from gmaildesk.lock import AccountLock
    from gmaildesk.paths import Account, check_mailbox
    from gmaildesk.sweep.store import Store, store_path

    desk = load_desk(config)
    options = connection_options(endpoint, service_account, user)
    client = connect(options, scopes.SWEEP)
    # The store belongs to the account the connection really reaches (getProfile), on its endpoint;
    # the same getProfile is the run's own (a full run starts its history cursor there).
    profile = engine.read_profile(client)
    account = Account(client.endpoint, profile.address)
    check_mailbox(desk.mailbox, account.address,
                  how="--user" if options.user else f"the account {account.describe()}")
    path = store_path(account, state)
    with AccountLock(account, "sweep"):
        with Store(path, account) as store, \
                _progress(enabled=not quiet and not as_json and sys.stdout.isatty()) as progress:
            result = engine.run(client, desk, store, full=full, dry_run=dry_run, now_ms=_now_ms(options.endpoint),
                                progress=progress, profile=profile)
    if as_json:
        typer.echo(json.dumps(result.to_json(), indent=2))
    elif not quiet:
        typer.echo(safe.lines(render(result)))  # thread ids and Gmail's error texts are Gmail's data
    for error in result.errors:
        typer.echo(f"Error: {safe.text(error)}", err=True)
    if result.given_up:  # even with --quiet: a conversation nobody will see labelled
        typer.echo(f"Warning: gave up on {len(result.given_up)} conversation{'s' if len(result.given_up) > 1 else ''}"
                   f" Gmail named but never showed: {', '.join(result.given_up)}", err=True)
    if result.exit_code != ExitCode.OK:
        raise typer.Exit(int(result.exit_code))


def render(result) -> str:
    lines = [f"{'Would change' if result.dry_run else 'Changed'} {len(result.transitions)} of "
             f"{result.threads_seen} conversations ({'full scan' if result.full else 'incremental'}"
             f"{f', {result.resync_reason}: full resync' if result.resynced else ''}; read {result.threads_read}).",
             *(f"  {t.thread_id}: {t.from_state or '-'} -> {t.to_state or '-'}  ({t.reason})" for t in result.transitions),
             *([f"Retrying {len(result.retrying)} conversations Gmail named but did not show yet (404): "
                f"{', '.join(result.retrying)}"] if result.retrying else []),
             *([f"Gave up on {len(result.given_up)} conversations Gmail never showed: {', '.join(result.given_up)}"]
               if result.given_up else []),
             "Now: " + ", ".join(f"{n} {s}" for s, n in result.by_state.items()),
             f"{result.api_calls} API calls, ~{result.quota_units} quota units, {result.duration_s:.1f}s."]
    return "\n".join(lines)


def _now_ms(endpoint: str | None) -> int:
    """The sandbox's clock for a loopback sandbox (tests move it), the system clock otherwise."""
    from gmaildesk.gmail.client import is_loopback_url

    if endpoint and is_loopback_url(endpoint):
        from gmaildesk.sandbox import SandboxControl

        try:
            return int(SandboxControl(endpoint, timeout=5).clock()["nowMs"])
        except Exception:  # not a sandbox (e.g. a local proxy to Gmail): the real clock
            pass
    return int(time.time() * 1000)


class _progress:
    """A rich progress bar on a terminal; a no-op callback otherwise."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self._bar = None
        self._tasks: dict[str, int] = {}

    def __enter__(self):
        if not self.enabled:
            return None
        from rich.progress import Progress

        self._bar = Progress(transient=True)
        self._bar.start()
        return self.update

    def update(self, phase: str, done: int, total: int) -> None:
        if phase not in self._tasks:
            self._tasks[phase] = self._bar.add_task("Reading conversations" if phase == "read" else "Relabelling",
                                                    total=total)
        self._bar.update(self._tasks[phase], completed=done, total=total)

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.stop()
