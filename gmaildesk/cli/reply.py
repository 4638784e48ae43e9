"""`gmaildesk reply`, `gmaildesk drafts` and `gmaildesk templates`: answers from the desk's canned replies."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from gmaildesk.cli import safe
from gmaildesk.cli.files import StoreFile
from gmaildesk.cli.options import ConfigFile, Endpoint, ServiceAccount, User, connection_options
from gmaildesk.cli.team import AGENT_ENV, agent_name
from gmaildesk.errors import ExitCode, GmailDeskError

if TYPE_CHECKING:
    from gmaildesk.config.desk import Agent, Desk
    from gmaildesk.gmail.connection import ConnectionOptions
    from gmaildesk.team.reply_service import ReplyOutcome


def register(app: typer.Typer) -> None:
    app.command(name="reply")(reply)
    app.command(name="drafts")(drafts)
    app.command(name="templates")(templates)


Thread = Annotated[
    str, typer.Argument(metavar="THREAD", help="A thread id, a Gmail link gmaildesk printed, or a ticket (#1042).")
]


def reply(
    thread: Thread,
    template: Annotated[
        str, typer.Option("--template", "-t", metavar="NAME", help="templates/replies/NAME.txt.j2 (and .html.j2).")
    ],
    var: Annotated[
        list[str] | None, typer.Option("--var", metavar="KEY=VALUE", help="A template variable; repeatable.")
    ] = None,
    send: Annotated[bool, typer.Option("--send", help="Send the reply at once instead of leaving a draft.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Reply even when another agent's draft is there.")] = False,
    agent: Annotated[
        str | None,
        typer.Option(
            "--agent", envvar=AGENT_ENV, metavar="NAME", help=f"Who replies: a team name, or me (${AGENT_ENV})."
        ),
    ] = None,
    config: ConfigFile = Path("desk.yaml"),
    store: StoreFile = None,
    endpoint: Endpoint = None,
    service_account: ServiceAccount = None,
    user: User = None,
) -> None:
    """Answer a conversation from a reply template, as a Gmail draft in that conversation.

    The draft answers the customer's last message (threadId, In-Reply-To, References, "Re: " subject), from
    the department's alias with its signature, marked with the agent's name (X-Gmaildesk-Agent) for the
    team to review in Gmail; --send sends it. The template gets customer.name, customer.email, subject,
    department, agent.name, agent.email, ticket (once the sweep numbered the conversation), the desk's vars
    and each --var; a variable it uses that none of these gives is an error naming it. A second reply by the
    same agent replaces their draft. The agent becomes the owner of a conversation nobody owns.

    Exit codes: 0 draft written (or sent), 1 error (a template's missing variable included), 2 bad usage
    (unknown template or agent, a bad --var), 4 another agent's draft is in the conversation (--force
    overrides), 5 login needed, 6 quota exhausted.

    Example: gmaildesk reply 18c2f0a9d1e4b6a7 --template refund-received --agent Alice --var amount=12.50
    """
    from gmaildesk.config import load_desk
    from gmaildesk.team.reply import ReplyRequest
    from gmaildesk.team.reply_service import reply_once
    from gmaildesk.team.reply_templates import parse_vars

    desk = load_desk(config)
    request = ReplyRequest(_conversation(thread), template, _agent(desk, agent), parse_vars(var or []), send, force)
    outcome = reply_once(desk, connection_options(endpoint, service_account, user), store, request)
    typer.echo(safe.lines(describe(outcome)))


def drafts(
    thread: Thread,
    config: ConfigFile = Path("desk.yaml"),
    endpoint: Endpoint = None,
    service_account: ServiceAccount = None,
    user: User = None,
) -> None:
    """List the drafts in a conversation and whose they are, read live from Gmail.

    A draft written by `gmaildesk reply` names its agent; one written in Gmail's own composer shows as
    "written in Gmail". The audit (`show`) stays offline; drafts change in Gmail at any moment.

    Exit codes: 0 listed (none is fine), 1 error (an unknown conversation included), 2 bad usage,
    5 login needed, 6 quota exhausted.

    Example: gmaildesk drafts 18c2f0a9d1e4b6a7
    """
    typer.echo(drafts_text(config, connection_options(endpoint, service_account, user), _conversation(thread)))


def drafts_text(config: Path, options: ConnectionOptions, thread_id: str) -> str:
    """The drafts in a conversation, one line each (id, whose, since when), read live from Gmail."""
    from gmaildesk.config import load_desk
    from gmaildesk.team.reply import describe_time
    from gmaildesk.team.reply_service import conversation_drafts

    desk = load_desk(config)
    found = conversation_drafts(desk, options, thread_id)
    rows = [
        f"{d.id or d.message_id}  {d.author or 'written in Gmail'}  since {describe_time(d.since_ms, desk.timezone)}"
        for d in found
    ]
    return safe.lines("\n".join(rows) if rows else f"No drafts in conversation {thread_id}.")


def templates(config: ConfigFile = Path("desk.yaml")) -> None:
    """List the desk's reply templates (templates/replies/ next to desk.yaml) and the variables each uses.

    Offline: reads only the template files.

    Exit codes: 0 listed, 1 error (a template that does not parse), 2 bad usage.

    Example: gmaildesk templates
    """
    from gmaildesk.team.reply_templates import replies_folder, reply_templates, variables_used

    folder = config.resolve().parent
    found = reply_templates(folder)
    rows = [
        f"{t.name}  ({', '.join(t.kinds)})  uses {', '.join(variables_used(folder, t)) or 'no variables'}"
        for t in found
    ]
    typer.echo(safe.lines("\n".join(rows) if rows else f"No reply templates in {replies_folder(folder)}."))


def _agent(desk: Desk, name: str | None) -> Agent:
    from gmaildesk.team.owners import find_agent

    if not name:
        raise GmailDeskError(
            "who is replying? name yourself with --agent NAME or $" + AGENT_ENV,
            [f"agents of this desk: {', '.join(a.name for a in desk.team.agents) or 'none (name them in team:)'}"],
            ExitCode.USAGE,
        )
    return find_agent(desk, agent_name(name, "--agent"))


def _conversation(text: str) -> str:
    """A thread id from THREAD; a ticket stays `#NUMBER` for the service to look up in the sweep store."""
    from gmaildesk.audit.links import thread_id_from, ticket_number

    number = ticket_number(text)
    return f"#{number}" if number is not None else thread_id_from(text)


def describe(outcome: ReplyOutcome) -> str:
    result = outcome.result
    done = "sent" if result.sent else ("replaced your draft" if result.replaced else "draft saved")
    what = f"message {result.message_id}" if result.sent else f"draft {result.draft_id}"
    lines = [f"{result.thread_id}: {done} ({what})", f"  from {result.sender} to {result.to}: {result.subject}"]
    lines += [f"  also in the conversation: a draft by {d.author or 'someone in Gmail'}" for d in result.overridden]
    if outcome.owner_now != outcome.owner_before:
        lines.append(f"  owner: {outcome.owner_now}")
    elif outcome.owner_locked_out:
        lines.append("  owner: not set (a sweep or apply was running; `gmaildesk assign` sets it)")
    elif not outcome.swept:
        lines.append("  owner: not set (the conversation is not in the sweep store yet; run `gmaildesk sweep`)")
    if not result.sent:
        lines.append("  review it in Gmail's Drafts, or send it with --send")
    return "\n".join(lines)
