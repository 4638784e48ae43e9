"""`gmaildesk assign THREAD AGENT|--none`: who owns a conversation, set by a person (gmaildesk.team.owners)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from gmaildesk.cli import safe
from gmaildesk.cli.files import StoreFile
from gmaildesk.cli.options import ConfigFile, Endpoint, ServiceAccount, User, connection_options
from gmaildesk.errors import ExitCode, GmailDeskError

# `--agent me`, `assign THREAD me`: the agent at this terminal, by name as desk.yaml's team writes it.
AGENT_ENV = "GMAILDESK_AGENT"
ME = "me"


def _me_now(value: str | None) -> str | None:
    """`--agent me` is read as the option is parsed: an unset $GMAILDESK_AGENT is a usage error before any
    file or Gmail is touched."""
    return None if value is None else agent_name(value, "--agent")


AgentOption = Annotated[
    str | None,
    typer.Option(
        "--agent",
        metavar="NAME",
        show_default=False,
        callback=_me_now,
        help=f"Only the conversations this agent owns (a name from desk.yaml's team; me: ${AGENT_ENV}).",
    ),
]


def register(app: typer.Typer) -> None:
    app.command(name="assign")(assign)


def agent_name(value: str, flag: str) -> str:
    """*value*, or for `me` the name in $GMAILDESK_AGENT; unset: a usage error naming *flag*."""
    if value.strip().casefold() != ME:
        return value
    name = os.environ.get(AGENT_ENV, "").strip()
    if not name:
        raise GmailDeskError(
            f"{flag} me: ${AGENT_ENV} is not set",
            [f"export {AGENT_ENV}=YourName (your name as desk.yaml's team: writes it), or give the name"],
            ExitCode.USAGE,
        )
    return name


def agent_filter(config: Path, value: str | None) -> str | None:
    """`--agent NAME|me` as the agent's name desk.yaml writes; exit 2 with a did-you-mean for another."""
    if value is None:
        return None
    from gmaildesk.config import load_desk
    from gmaildesk.team.owners import find_agent

    return find_agent(load_desk(config), agent_name(value, "--agent")).name


def agent_names(config: Path) -> list[str]:
    """The named agents of desk.yaml's team, in its order."""
    from gmaildesk.config import load_desk

    return [a.name for a in load_desk(config).team.agents]


def assign(
    thread: Annotated[
        str, typer.Argument(metavar="THREAD", help="Thread id, a Gmail link gmaildesk printed, or a ticket number.")
    ],
    agent: Annotated[
        str | None, typer.Argument(metavar="AGENT", help="An agent's name in desk.yaml's team, or me.")
    ] = None,
    none: Annotated[bool, typer.Option("--none", help="Leave the conversation without an owner.")] = False,
    config: ConfigFile = Path("desk.yaml"),
    store: StoreFile = None,
    endpoint: Endpoint = None,
    service_account: ServiceAccount = None,
    user: User = None,
) -> None:
    """Give a conversation to an agent: their label Agent/<name> goes on it, any other agent's comes off.

    THREAD is what `show` takes: a thread id, a Gmail link gmaildesk printed, or a ticket number (1042,
    '#1042'). AGENT is a name from desk.yaml's team (ignoring case), or `me` for $GMAILDESK_AGENT; --none
    removes the owner. The sweep keeps the owner you set, until someone changes the Agent/ label in Gmail.

    Exit codes: 0 done, 1 error (not in the store, no label: run apply, desk.yaml's problems), 2 bad usage
    (unknown agent, AGENT and --none together or neither), 5 login needed, 6 quota exhausted, 7 a sweep
    or apply is running.

    Example: gmaildesk assign 18c2f0a1b2c3d4e5 Alice
    """
    from gmaildesk.audit.links import thread_id_from, ticket_number
    from gmaildesk.config import load_desk
    from gmaildesk.team.owners import assign_thread, find_agent

    if (agent is None) == (not none):
        raise GmailDeskError(
            "give an AGENT or --none (not both)", ["e.g. gmaildesk assign THREAD Alice"], ExitCode.USAGE
        )
    desk = load_desk(config)
    chosen = find_agent(desk, agent_name(agent, "AGENT")) if agent is not None else None
    target = ticket_number(thread) or thread_id_from(thread)
    done = assign_thread(desk, connection_options(endpoint, service_account, user), store, target, chosen)
    typer.echo(safe.text(done.describe()))
