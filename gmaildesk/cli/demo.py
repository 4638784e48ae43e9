"""`gmaildesk demo`: the whole story on an embedded sandbox (what `make demo` runs)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from gmaildesk.demo import DemoResult, FirstSweep


def register(app: typer.Typer) -> None:
    app.command(name="demo")(demo)


def demo(as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False) -> None:
    """Run gmaildesk's story on a throw-away local Gmail sandbox; touches no real mailbox.

    Exit codes: 0 done, 1 error.

    Example: gmaildesk demo
    """
    from gmaildesk.demo import run_demo

    if as_json:
        typer.echo(json.dumps({"version": 1, "kind": "demo", **asdict(run_demo())}, indent=2))
        return
    run_demo(finale=_show)


def _show(result: DemoResult, desk_path: Path, store_path: Path, url: str) -> None:
    """The story so far, then the operator's commands on the demo desk, exactly as a user runs them."""
    from gmaildesk.cli import audit

    _story(result)
    console = Console()
    section = len(result.sweeps) + 4 + bool(result.replies) + bool(result.acknowledgements) + bool(result.history)
    console.print(f"\n[bold]{section}. gmaildesk status[/] (offline, from the sweep's store)")
    audit.status(config=[desk_path], state=store_path, endpoint=url)
    console.print(f"\n[bold]{section + 1}. gmaildesk report --since 30d[/]")
    audit.report(config=[desk_path], state=store_path, endpoint=url)


def _story(result: DemoResult) -> None:
    console = Console()
    console.print(f"[bold]gmaildesk demo[/] on an embedded Gmail sandbox at {result.url}")
    if result.desk:
        console.print("\n[bold]1. Set up the desk[/]: gmaildesk init, then plan of the example desk.yaml:")
        console.print(result.desk.plan_text, markup=False, highlight=False, end="")
        console.print(
            f"apply: {result.desk.applied} changes ({result.desk.status}); "
            f"plan again: {result.desk.replan_text.strip()}"
        )
        console.print("\n[bold]2. A morning of support mail[/]:")
    for number, step in enumerate(result.steps, 1):
        console.print(f"  {number}. {step}")
    for number, run in enumerate(result.sweeps, 3):
        console.print(
            f"\n[bold]{number}. {run.title}[/] (gmaildesk sweep: {run.api_calls} API calls, "
            f"{run.threads_read} conversations read)"
        )
        for line in run.transitions:
            console.print(f"  {line}", markup=False, highlight=False)
        console.print("  now: " + ", ".join(f"{n} {state}" for state, n in run.by_state.items()))
    section = len(result.sweeps) + 3
    if result.replies:
        console.print(f"\n[bold]{section}. Replies from templates[/] (gmaildesk reply, as Gmail drafts):")
        for line in result.replies:
            console.print(f"  {line}", markup=False, highlight=False)
        section += 1
    if result.acknowledgements:
        console.print(f"\n[bold]{section}. Ticket numbers in the acknowledgement[/] (auto_ack mode: sweep):")
        for line in result.acknowledgements:
            console.print(f"  {line}", markup=False, highlight=False)
        section += 1
    console.print(
        f"\n[bold]{section}. Every conversation read back[/] "
        "(threads.list + one batch of threads.get, through google-api-python-client):"
    )
    table = Table(title="Conversations in support@example.com")
    for column in ("subject", "msgs", "last from", "labels"):
        table.add_column(column)
    for row in result.threads:
        table.add_row(row.subject, str(row.messages), _name(row.last_from), " ".join(row.labels))
    console.print(table)
    console.print(f"The dev team's inbox received: {', '.join(result.colleague_inbox) or 'nothing'}")
    console.print(
        "Left the mailbox (outbox): " + "; ".join(f"{o['kind']} to {', '.join(o['to'])}" for o in result.outbox)
    )
    console.print(f"Gmail API calls: {result.api_calls}, quota units: {result.quota_units}")
    if result.history:
        _first_sweep(console, section + 1, result.history)


def _first_sweep(console: Console, section: int, run: FirstSweep) -> None:
    """The lean first sweep of a mailbox with history, in lines that fit 80 columns."""
    console.print(
        f"\n[bold]{section}. A mailbox with weeks of mail, swept for the first time[/] "
        f"({run.conversations} conversations):"
    )
    differ = "; ".join(run.differ) or "none"
    lines = [
        f"reading all of it: {run.read_all_units:,} units; the first sweep: {run.listed_units:,} "
        f"({run.read_all_units / run.listed_units:.1f}x fewer)",
        f"decided from Gmail's listings: {run.provisional}, facts pending; the rest read",
        f"check: {run.check}",
        f"labels unlike reading all: {differ}",
        "  (a reply addressed to a vendor: no search tells whom it went to)",
        f"the next {run.backfill_sweeps} sweeps read those {run.provisional} whole ({run.backfill_units:,} units): "
        + (", ".join(run.corrected) or "nothing corrected"),
    ]
    for line in lines:
        console.print(f"  {line}", markup=False, highlight=False)


def _name(address: str) -> str:
    """'Ann Lee <ann@x>' -> 'Ann Lee'; a bare address stays as it is."""
    return address.split("<", 1)[0].strip().strip('"') or address
