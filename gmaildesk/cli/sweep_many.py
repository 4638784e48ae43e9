"""`gmaildesk sweep -c A -c B ...`: several mailboxes in parallel (gmaildesk.sweep.many), one section each."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from gmaildesk.cli import safe
from gmaildesk.cli.sweep import render
from gmaildesk.errors import ExitCode, GmailDeskError
from gmaildesk.sweep.many import ManyResult, connect_as, sweep_many

# The flags every desk of the run shares: --endpoint, --service-account, --user, --store.
Connection = tuple[str | None, Path | None, str | None, Path | None]


def sweep_all(
    configs: list[Path],
    connection: Connection,
    full: bool,
    dry_run: bool,
    as_json: bool,
    quiet: bool,
    backfill: int | None = None,
) -> None:
    """Sweep every desk; print one section per mailbox and a total (or one JSON document); exit with the
    worst exit code of them all."""
    from gmaildesk.sweep.service import sweep_once

    endpoint, service_account, user, state = connection
    if state is not None:
        raise GmailDeskError(
            "--store names one store; with several desks each mailbox keeps its own",
            ["drop --store: the stores are per account under the data dir ($GMAILDESK_DATA_DIR)"],
            ExitCode.USAGE,
        )
    if user is not None:
        raise GmailDeskError(
            "--user names one mailbox; with several desks the service account acts for each desk's mailbox:",
            ["drop --user (and unset GMAILDESK_USER)"],
            ExitCode.USAGE,
        )
    result = sweep_many(
        configs,
        connect_as(endpoint, service_account),
        lambda desk, options: sweep_once(desk, options, None, full=full, dry_run=dry_run, backfill=backfill),
    )
    if as_json:
        typer.echo(json.dumps(result.to_json(), indent=2))
    elif not quiet:
        typer.echo(safe.lines(render_many(result)))
    report_problems(result)
    if result.exit_code != ExitCode.OK:
        raise typer.Exit(int(result.exit_code))


def render_many(result: ManyResult) -> str:
    lines = []
    for run in result.runs:
        if run.result is None:
            lines.append(f"{run.name}: not swept (exit {int(run.exit_code)}; the error is below)")
        else:
            lines.extend(f"{run.name}: {line}" for line in render(run.result).splitlines())
    total = result.total()
    lines.append(
        f"Total: {total['mailboxes']} mailboxes, {total['swept']} swept, {total['failed']} with problems; "
        f"changed {total['transitions']} of {total['threads_seen']} conversations (read {total['threads_read']}); "
        f"{total['api_calls']} API calls, ~{total['quota_units']} quota units, {result.duration_s:.1f}s."
    )
    return "\n".join(lines)


def report_problems(result: ManyResult) -> None:
    """Each mailbox's errors on stderr, named by mailbox: shown even with --quiet."""
    for run in result.runs:
        if run.error is not None:
            typer.echo(f"Error: {safe.text(run.name)}: {safe.text(run.error.message)}", err=True)
            for hint in run.error.hints:
                typer.echo(f"Hint: {safe.text(hint)}", err=True)
        elif run.result is not None:
            for error in run.result.errors:
                typer.echo(f"Error: {safe.text(run.name)}: {safe.text(error)}", err=True)
            if run.result.given_up:
                typer.echo(
                    f"Warning: {safe.text(run.name)}: gave up on {len(run.result.given_up)} conversation(s) Gmail "
                    f"named but never showed: {safe.text(', '.join(run.result.given_up))}",
                    err=True,
                )
